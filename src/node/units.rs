//! The units a caller may list: a subtree of this node's hierarchy, at one level or all.

use super::Node;
use crate::{
    domain::{Level, Unit},
    error::{Error, Result},
};

impl Node {
    /// The units of the subtree under `under` (this node's own unit when empty), at `level`
    /// only when one is given, in the hierarchy's order.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] naming `under` if it is not a known unit.
    pub fn units_under(&self, under: &str, level: Option<Level>) -> Result<Vec<&Unit>> {
        let root = match under.trim() {
            "" => self.unit.code.as_str(),
            code => code,
        };
        if self.hierarchy.get(root).is_none() {
            return Err(Error::not_found(
                "under",
                format!("unknown unit code {root:?}"),
            ));
        }
        Ok(self
            .hierarchy
            .subtree(root)
            .into_iter()
            .filter(|u| level.is_none_or(|l| l == u.level))
            .collect())
    }
}
