//! The units a caller may list: a subtree of this node's hierarchy, at one level or all.

use super::Node;
use crate::{
    auth::Caller,
    domain::{Level, Unit},
    error::Result,
};

impl Node {
    /// The units of the subtree under `under` (this node's own unit when empty), at `level`
    /// only when one is given, in the hierarchy's order.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `under` is outside what `who` may read here;
    /// [`Error::NotFound`] naming `under` if it is not a known unit.
    pub fn units_under(
        &self,
        who: &Caller,
        under: &str,
        level: Option<Level>,
    ) -> Result<Vec<&Unit>> {
        let root = self.scope(who, under)?;
        Ok(self
            .hierarchy
            .subtree(&root)
            .into_iter()
            .filter(|u| level.is_none_or(|l| l == u.level))
            .collect())
    }
}
