//! What the web pages ask of a node for a whole province (issue 26), answered from memory: the
//! terms held within a subtree, read from the view, and the findings page's findings, read from
//! the live findings at the province instead of a fresh check of every plan.

use super::{checks::CheckOutcome, CheckFilter, Node};
use crate::{auth::Caller, error::Result, rules::Scope};

impl Node {
    /// The terms of the plans held within `under` (empty: the caller's scope), newest first,
    /// read from the view: what a page offers by default when no term is asked for.
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::NotFound`] for an unknown subtree root;
    /// [`crate::error::Error::Denied`] for one outside this node's subtree or the caller's
    /// scope; [`crate::error::Error::Store`] if waiting for the store fails.
    pub async fn held_terms(&self, who: &Caller, under: &str) -> Result<Vec<String>> {
        let root = self.scope(who, under)?;
        self.view_settled().await?;
        let mut terms = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.terms_within(&self.hierarchy, &root)
        };
        terms.sort_unstable_by(|a, b| b.cmp(a));
        Ok(terms)
    }

    /// The findings within `filter`, as [`Node::check`] reports them: at the province (which
    /// keeps the live findings, exactly those of a full check, current with every change
    /// acknowledged before the call), read from the live findings without running the rules;
    /// elsewhere, and for a plan version (an incremental check), a check. `entries` is the
    /// number of entries the view holds, as a full check counts them; `micros` is 0 when no
    /// rule ran.
    ///
    /// # Errors
    ///
    /// As [`Node::check`].
    pub async fn findings(&self, who: &Caller, filter: &CheckFilter) -> Result<CheckOutcome> {
        if !self.runs_checks() || filter.plan.is_some() {
            return self.check(who, filter).await;
        }
        let root = self.scope(who, &filter.under)?;
        if let Some(term) = &filter.term {
            self.known_term("term", term)?;
        }
        self.wait_live().await?;
        let scope = Scope {
            unit: Some(root),
            term: filter.term.clone(),
            rules: filter.rules.clone(),
            severity: filter.severity,
        };
        let found = self.live_where(|f| scope.contains(f, &self.hierarchy));
        let entries = self
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries();
        let findings = found
            .into_iter()
            .map(|f| self.with_acceptance(f))
            .collect::<Result<Vec<_>>>()?;
        Ok(CheckOutcome {
            findings,
            entries,
            micros: 0,
        })
    }
}
