//! Reference data (the position catalogue, the terms and the rule parameters), versioned at
//! the province and pulled down by every node, which reports the version it holds.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{reorganise::StructureChoice, Event, Node};
use crate::{
    auth::Caller,
    domain::{Catalog, Level},
    error::{Error, Result},
    rules::RulesFile,
    store::Change,
};

pub(super) const DOCUMENT: &str = "reference";

/// How far ahead of the version held a parent's reference data may jump: the province's
/// version grows by one per change, so a larger jump is a forgery or a fault.
pub const MAX_REFERENCE_STEP: u64 = 1_000;

/// One version of the reference data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Increases by one each time the province's data changes; 0 means "built in, not yet
    /// received from the province".
    pub version: u64,
    /// The position catalogue and the terms.
    pub catalog: Catalog,
    /// The rule parameters.
    pub rules: RulesFile,
    /// The structure of units the province has moved to by a reorganisation
    /// ([`Node::reorganize`]); none while it is in the one its nodes were started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<StructureChoice>,
}

impl Reference {
    /// Returns true if and only if both carry the same catalogue and rules, whatever their
    /// versions and structures.
    pub fn same_content(&self, other: &Reference) -> bool {
        self.catalog == other.catalog && self.rules == other.rules
    }
}

impl Node {
    /// Picks the reference data in force at start (see [`Node::open`]).
    pub(super) async fn load_reference(&self, configured: Reference) -> Result<()> {
        let stored: Option<Reference> = match self.store.document(DOCUMENT)? {
            Some(v) => Some(serde_json::from_value(v).map_err(|e| {
                Error::Store(crate::store::StoreError::Corrupt {
                    key: DOCUMENT.into(),
                    reason: e.to_string(),
                })
            })?),
            None => None,
        };
        let chosen = if self.unit.level == Level::Province {
            match stored {
                Some(s) if s.same_content(&configured) => s,
                other => {
                    // The files give the catalogue and the rules; a reorganisation applied
                    // here is kept.
                    let next = Reference {
                        version: other.as_ref().map_or(1, |s| s.version + 1),
                        structure: other.and_then(|s| s.structure),
                        ..configured
                    };
                    self.put_reference(next.clone()).await?;
                    tracing::info!(version = next.version, "reference data has a new version");
                    next
                }
            }
        } else {
            stored.unwrap_or(configured)
        };
        self.follow_structure(chosen.structure.as_ref());
        self.swap_reference(chosen);
        Ok(())
    }

    /// Takes a newer version received from the parent; an older or equal one is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the version jumps more than [`MAX_REFERENCE_STEP`] ahead of the
    /// one held or the rule parameters are out of their sane ranges: a parent is checked like
    /// a local rules file, and nothing is stored.
    pub async fn receive_reference(&self, reference: Reference) -> Result<bool> {
        let held = self.reference().version;
        if reference.version <= held {
            return Ok(false);
        }
        if reference.version - held > MAX_REFERENCE_STEP {
            return Err(Error::invalid(
                "reference.version",
                format!(
                    "{} is more than {MAX_REFERENCE_STEP} versions ahead of the {held} held",
                    reference.version
                ),
            ));
        }
        reference
            .rules
            .validate()
            .map_err(|e| Error::invalid("reference.rules", e))?;
        for code in reference
            .catalog
            .positions
            .keys()
            .chain(reference.catalog.terms.keys())
        {
            crate::domain::validate::code("reference.catalog", code).map_err(Error::Invalid)?;
        }
        self.check_structure(reference.structure.as_ref())?;
        self.put_reference(reference.clone()).await?;
        tracing::info!(
            version = reference.version,
            "reference data received from the parent"
        );
        self.follow_structure(reference.structure.as_ref());
        self.swap_reference(reference);
        Ok(true)
    }

    /// The reference data to hand a child that holds `have`, if this node's is newer.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is the node of `child`; [`Error::NotFound`] if `child`
    /// is an unknown unit; [`Error::Denied`] if it is not a child of this node.
    pub fn reference_for(
        &self,
        who: &Caller,
        child: &str,
        have: u64,
    ) -> Result<Option<Arc<Reference>>> {
        self.require_child_node(who, child)?;
        let mine = self.reference();
        Ok((mine.version > have).then_some(mine))
    }

    async fn put_reference(&self, reference: Reference) -> Result<()> {
        let value = serde_json::to_value(&reference).expect("reference data serializes");
        let guard = self.lock().await;
        let event =
            Event::new("reference_data", None).detail(format!("version {}", reference.version));
        self.commit(
            guard,
            event,
            vec![Change::SetDocument(DOCUMENT.into(), value)],
        )
        .await
    }

    pub(super) fn swap_reference(&self, reference: Reference) {
        match self.reference.write() {
            Ok(mut r) => *r = Arc::new(reference),
            Err(e) => *e.into_inner() = Arc::new(reference),
        }
    }
}
