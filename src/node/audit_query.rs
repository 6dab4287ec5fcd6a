//! The audit trail as a reader asks for it: the records of one plan's unit, one action or one
//! actor, the latest so many, with the verdict on the whole chain. The gRPC `Audit` call and
//! any other reader get the same selection.

use super::{Node, Result};
use crate::{
    audit::{AuditRecord, Broken},
    auth::Caller,
};

/// Which audit records a reader asks for; `None` (or an empty string) means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only records about a plan of this unit.
    pub unit: Option<String>,
    /// Only records of this action (`submit`, `decide`, …), exactly.
    pub action: Option<String>,
    /// Only records whose actor contains this text.
    pub actor: Option<String>,
    /// Only the latest so many of the records that match (0: all of them).
    pub limit: usize,
}

/// The records a reader asked for, and what the whole trail says.
#[derive(Debug)]
pub struct AuditSelection {
    /// The matching records, oldest first.
    pub records: Vec<AuditRecord>,
    /// How many records the whole trail holds, matching or not.
    pub total: u64,
    /// Whether the whole chain verifies, or where it first breaks.
    pub verdict: std::result::Result<(), Broken>,
    /// The chains a merge of provinces brought in (`quyhoach merge`), each verified on its
    /// own: `(origin province, its records, where it breaks if it does)`.
    pub merged_chains: Vec<(String, u64, Option<Broken>)>,
}

impl AuditFilter {
    /// Returns true if and only if `record` is one the reader asked for.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        fn wanted(f: &Option<String>) -> Option<&str> {
            f.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        let event = &record.event;
        wanted(&self.unit).is_none_or(|u| event.plan.as_ref().is_some_and(|p| p.unit == u))
            && wanted(&self.action).is_none_or(|a| event.action == a)
            && wanted(&self.actor).is_none_or(|a| event.actor.contains(a))
    }
}

impl Node {
    /// The records of the audit trail that `filter` asks for, with the verdict on the whole
    /// chain (verified over every record, not only those returned).
    ///
    /// # Errors
    ///
    /// [`crate::error::Error::Denied`] unless `who` may read this node's own unit;
    /// [`crate::error::Error::Store`] if the trail cannot be read.
    pub fn audit_selection(&self, who: &Caller, filter: &AuditFilter) -> Result<AuditSelection> {
        who.require_read(&self.hierarchy, "caller", &self.unit.code)?;
        let (records, verdict) = self.audit()?;
        let total = records.len() as u64;
        let mut records: Vec<AuditRecord> =
            records.into_iter().filter(|r| filter.matches(r)).collect();
        if filter.limit > 0 && records.len() > filter.limit {
            records.drain(..records.len() - filter.limit);
        }
        let merged_chains = crate::store::trail::imported_trails(self.store.as_ref())?
            .into_iter()
            .map(|t| {
                let broken = crate::audit::verify(&t.records, t.head).err();
                (t.origin, t.records.len() as u64, broken)
            })
            .collect();
        Ok(AuditSelection {
            records,
            total,
            verdict,
            merged_chains,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{audit::AuditEvent, domain::PlanId};

    fn record(seq: u64, actor: &str, action: &str, unit: Option<&str>) -> AuditRecord {
        AuditRecord::seal(
            seq,
            AuditEvent {
                at: chrono::Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap(),
                actor: actor.into(),
                action: action.into(),
                plan: unit.map(|u| PlanId {
                    unit: u.into(),
                    term: "2025-2030".into(),
                    version: 1,
                }),
                plan_hash: None,
                detail: String::new(),
            },
            String::new(),
        )
    }

    #[test]
    fn an_empty_filter_takes_everything_and_each_field_narrows() {
        let r = record(1, "CN=Lê Văn A, clerk", "submit", Some("412"));
        let any = AuditFilter::default();
        assert!(any.matches(&r));
        let blank = AuditFilter {
            unit: Some(" ".into()),
            action: Some(String::new()),
            actor: Some(String::new()),
            limit: 0,
        };
        assert!(blank.matches(&r), "blank fields mean any");
        let by = |unit: Option<&str>, action: Option<&str>, actor: Option<&str>| AuditFilter {
            unit: unit.map(String::from),
            action: action.map(String::from),
            actor: actor.map(String::from),
            limit: 0,
        };
        assert!(by(Some(" 412 "), None, None).matches(&r), "trimmed");
        assert!(!by(Some("41"), None, None).matches(&r), "the unit is exact");
        assert!(!by(Some("412"), None, None).matches(&record(2, "x", "submit", None)));
        assert!(by(None, Some("submit"), None).matches(&r));
        assert!(
            !by(None, Some("sub"), None).matches(&r),
            "the action is exact"
        );
        assert!(
            by(None, None, Some("Lê Văn")).matches(&r),
            "the actor is a part"
        );
        assert!(!by(None, None, Some("Trần")).matches(&r));
        assert!(
            !by(Some("412"), Some("decide"), None).matches(&r),
            "all fields hold"
        );
    }
}
