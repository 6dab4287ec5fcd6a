//! Reference data (the position catalogue, the terms and the rule parameters), versioned at
//! the province and pulled down by every node, which reports the version it holds.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::sync::MutexGuard;

use super::{Event, Node};
use crate::{
    auth::Caller,
    domain::{Catalog, LaterReorganisation, Level, UnitHistory},
    error::{Error, Result},
    rules::RulesFile,
    store::Change,
};

pub(super) const DOCUMENT: &str = "reference";

/// How far ahead of the version held a parent's reference data may jump: the province's
/// version grows by one per change, so a larger jump is a forgery or a fault.
pub const MAX_REFERENCE_STEP: u64 = 1_000;

/// The structure a province has moved its nodes to, carried in the reference data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureChoice {
    /// The label of the structure in the units' history (`2025`).
    pub label: String,
    /// The day it took effect, as the history has it (`2025-07-01`).
    pub on: NaiveDate,
}

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
    /// The later reorganisations the province's deployment adds after the built-in history
    /// (its `--reorganisation` files' contents, oldest first), so that a node below started
    /// without the files learns the structures: it checks them as the files are checked at
    /// start (`UnitHistory::with_later`) and joins them to its history. Empty when there are
    /// none (and then absent from the JSON, as before they travelled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reorganisations: Vec<LaterReorganisation>,
}

impl Reference {
    /// Reads the JSON document a parent sends its reference data as, over either link (a
    /// `NodeSync.GetReference` answer's `document`, a reference bundle's): the one reader of
    /// both, so a document is taken the same way whichever way it came. Nothing in it is
    /// trusted yet: [`Node::receive_reference`] checks it.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `reference` when the document does not decode.
    pub fn from_document(document: &str) -> Result<Reference> {
        serde_json::from_str(document).map_err(|e| {
            Error::invalid(
                "reference",
                format!("the parent's reference data does not decode: {e}"),
            )
        })
    }

    /// Returns true if and only if both carry the same catalogue, rules and later
    /// reorganisations, whatever their versions and structure choices.
    pub fn same_content(&self, other: &Reference) -> bool {
        self.catalog == other.catalog
            && self.rules == other.rules
            && self.reorganisations == other.reorganisations
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
                    self.put_reference(self.lock().await, &next).await?;
                    tracing::info!(version = next.version, "reference data has a new version");
                    next
                }
            }
        } else {
            stored.unwrap_or(configured)
        };
        // The later structures learnt from the parent before a restart (the units files of
        // this node give the earlier ones).
        match self.joined_history(&chosen.reorganisations) {
            Ok(Some(longer)) => self.learn_history(longer),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the stored later reorganisations do not join this node's units; it keeps its own")
            }
        }
        self.follow_structure(chosen.structure.as_ref());
        self.swap_reference(chosen);
        Ok(())
    }

    /// Takes a newer version received from the parent, over either link (a gRPC
    /// `GetReference` answer, a reference bundle in a folder link's `down/` or imported by
    /// hand); an older or equal one is ignored. Checked by [`Node::check_reference`] first.
    ///
    /// # Errors
    ///
    /// As [`Node::check_reference`]; nothing is stored then.
    pub async fn receive_reference(&self, reference: Reference) -> Result<bool> {
        let held = self.reference().version;
        if reference.version <= held {
            return Ok(false);
        }
        let longer = self.checked(&reference)?;
        // The link and a clerk's `bundle import` may bring versions at once: the store and
        // the version in force only ever move forward.
        if !self.put_received(&reference).await? {
            return Ok(false);
        }
        tracing::info!(
            version = reference.version,
            "reference data received from the parent"
        );
        if let Some(longer) = longer {
            self.learn_history(longer);
        }
        self.follow_structure(reference.structure.as_ref());
        match self.reference.write() {
            Ok(mut r) if r.version < reference.version => *r = Arc::new(reference),
            Ok(_) => {}
            Err(e) => *e.into_inner() = Arc::new(reference),
        }
        Ok(true)
    }

    /// Stores reference data received from the parent unless the store holds that version or
    /// a later one already (read under the node's lock); returns true if it was stored.
    async fn put_received(&self, reference: &Reference) -> Result<bool> {
        let guard = self.lock().await;
        let stored = self
            .store
            .document(DOCUMENT)?
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        if stored >= reference.version {
            return Ok(false);
        }
        self.put_reference(guard, reference).await?;
        Ok(true)
    }

    /// Checks reference data from the parent as a local setting is checked, without taking
    /// it: the version at most [`MAX_REFERENCE_STEP`] ahead of the one held, the rule
    /// parameters in their sane ranges (`RulesFile::validate`, as a rules file at start), every
    /// code well-formed, and the structure one this node's history has, on its day.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `reference.version`, `reference.rules`, `reference.catalog`
    /// `reference.reorganisations[i]` or `reference.structure.on` and the problem.
    pub fn check_reference(&self, reference: &Reference) -> Result<()> {
        self.checked(reference).map(|_| ())
    }

    /// As [`Node::check_reference`], answering the longer history the reference data's later
    /// reorganisations make, if they add any.
    fn checked(&self, reference: &Reference) -> Result<Option<UnitHistory>> {
        let held = self.reference().version;
        if reference.version.saturating_sub(held) > MAX_REFERENCE_STEP {
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
        let longer = self.joined_history(&reference.reorganisations)?;
        self.check_structure(
            longer.as_ref().unwrap_or(self.hierarchy.history()),
            reference.structure.as_ref(),
        )?;
        Ok(longer)
    }

    /// This node's history with the later reorganisations `later` joined, checked exactly as
    /// the `--reorganisation` files are at start (`UnitHistory::with_later`); `None` when they
    /// add nothing, or when the node was started with its own units file (a history of one
    /// unlabelled structure: it keeps its file, as it ignores a structure choice then).
    fn joined_history(&self, later: &[LaterReorganisation]) -> Result<Option<UnitHistory>> {
        let history = self.hierarchy.history();
        if later.is_empty() || history.periods().iter().all(|p| p.label.is_empty()) {
            return Ok(None);
        }
        history
            .with_later(later)
            .map_err(|(i, e)| Error::invalid(&format!("reference.reorganisations[{i}]"), e))
    }

    /// Makes `longer` this node's history (its period unchanged), logging what it learnt.
    fn learn_history(&self, longer: UnitHistory) {
        let labels: Vec<String> = longer.periods().iter().map(|p| p.label.clone()).collect();
        if self.hierarchy.extend(longer) {
            tracing::info!(structures = ?labels, "later reorganisations learnt from the province's reference data");
        } else {
            tracing::warn!(structures = ?labels, "later reorganisations not learnt while running; restart the node to learn them");
        }
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

    /// Stores `reference` as the reference data held, under the node's lock `guard`, with an
    /// audit record naming its version: the one write of it, for the province's own new
    /// version and for one received from the parent.
    async fn put_reference(&self, guard: MutexGuard<'_, ()>, reference: &Reference) -> Result<()> {
        let value = serde_json::to_value(reference).expect("reference data serializes");
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
