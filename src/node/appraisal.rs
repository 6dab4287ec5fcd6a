//! Many plans at once (issue 23): since July 2025 a province appraises 38 to 168 communes
//! directly. The appraisal lists every received plan awaiting this unit's decision with its
//! findings, groups the findings by rule, and approves the clean ones in one request, each
//! still its own decision through [`Node::decide`] (its own hash, its own audit record).

use std::collections::BTreeMap;

use super::{at_most, CheckedFinding, Node, PlanFilter};
use crate::{
    auth::Caller,
    domain::{Decision, Outcome, PlanHeader, PlanId, PlanStatus},
    error::{Error, Result},
    rules::{RuleId, Severity},
};

/// Most plans one [`Node::approve_clean`] request may name: more than the largest province
/// has communes (168 since July 2025), few enough that one request stays short.
pub const MAX_APPROVE_AT_ONCE: usize = 500;

/// One received plan awaiting this unit's decision, with the findings that concern it.
#[derive(Debug, Clone)]
pub struct AwaitingPlan {
    /// The plan version as held (status [`PlanStatus::Received`]).
    pub header: PlanHeader,
    /// Its findings, with their IDs and acceptances (as [`Node::plan_findings`] gives them).
    pub findings: Vec<CheckedFinding>,
}

impl AwaitingPlan {
    /// How many of its findings are errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.severity == Severity::Error)
            .count()
    }

    /// How many of its warnings nobody has accepted in writing yet.
    pub fn open_warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.severity == Severity::Warning && f.acceptance.is_none())
            .count()
    }

    /// Returns true if and only if the plan may be approved with the others: no error and no
    /// warning left unaccepted (what the province's approval requires of every plan, see
    /// `docs/life-cycle.md`).
    pub fn is_clean(&self) -> bool {
        self.errors() == 0 && self.open_warnings() == 0
    }
}

/// The findings of one rule and severity over the plans awaiting a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleGroup {
    /// The rule.
    pub rule: RuleId,
    /// Its severity in these findings.
    pub severity: Severity,
    /// How many findings of this rule and severity the awaiting plans have.
    pub findings: usize,
    /// The awaiting plans that break it, in the order of [`Appraisal::plans`].
    pub plans: Vec<PlanId>,
}

/// Every plan awaiting this unit's decision, for appraising them together.
#[derive(Debug, Clone, Default)]
pub struct Appraisal {
    /// The received plans this unit decides, by unit code and term.
    pub plans: Vec<AwaitingPlan>,
    /// Their findings by rule: errors first, then warnings, each by rule number.
    pub by_rule: Vec<RuleGroup>,
}

impl Appraisal {
    /// The plans that may be approved together ([`AwaitingPlan::is_clean`]).
    pub fn clean(&self) -> impl Iterator<Item = &AwaitingPlan> {
        self.plans.iter().filter(|p| p.is_clean())
    }
}

/// A plan version as the approver saw it when asking for approval: its identity and the
/// content hash shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownPlan {
    /// The plan version.
    pub plan: PlanId,
    /// The content hash the approver was shown (64 hex digits).
    pub hash: String,
}

/// A plan of an [`Node::approve_clean`] request that was not approved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApproved {
    /// The plan version named.
    pub plan: PlanId,
    /// Why, naming what changed since it was shown ("has errors now: R21 …", "you decided on
    /// … but … holds …", "… is approved; it cannot be approved").
    pub reason: String,
    /// The same reason as a kind, for a face that words it in its viewer's language.
    pub why: Why,
}

/// Why a plan shown as clean was not approved, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It is no longer awaiting this unit's decision: it has this status now.
    Status(PlanStatus),
    /// Its content changed since it was shown (another hash is held now).
    Changed,
    /// It has errors or unaccepted warnings now: each as (rule, message in Vietnamese,
    /// message in English, finding ID).
    NotClean(Vec<(RuleId, String, String, String)>),
    /// Anything else (the English reason says what).
    Other,
}

/// What an [`Node::approve_clean`] request did, plan by plan.
#[derive(Debug, Clone, Default)]
pub struct ApprovedTogether {
    /// The decisions made, one per plan approved, in the order asked.
    pub approved: Vec<Decision>,
    /// The plans not approved, each with its reason, in the order asked.
    pub refused: Vec<NotApproved>,
}

impl Node {
    /// Every received plan awaiting this unit's decision (of `term`, or of every term when
    /// `None`), each with its findings, and the findings grouped by rule. At the province the
    /// findings are the live ones; elsewhere a check of each plan.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` may not read this node's unit; [`Error::NotFound`] if the
    /// term is unknown; [`Error::Store`] if storage fails.
    pub async fn appraisal(&self, who: &Caller, term: Option<&str>) -> Result<Appraisal> {
        who.require_read(&self.hierarchy, "unit", &self.unit.code)?;
        let headers = self
            .list_plans(
                who,
                &PlanFilter {
                    under: String::new(),
                    term: term.map(String::from),
                    status: Some(PlanStatus::Received),
                    latest_only: false,
                },
            )
            .await?;
        let mut plans = Vec::new();
        for header in headers.into_iter().filter(|h| self.approves(&h.id.unit)) {
            let findings = self.plan_findings(&header.id).await?;
            plans.push(AwaitingPlan { header, findings });
        }
        let mut groups: BTreeMap<(u8, RuleId), RuleGroup> = BTreeMap::new();
        for p in &plans {
            for f in &p.findings {
                let severity = f.finding.severity;
                let order = match severity {
                    Severity::Error => 0,
                    Severity::Warning => 1,
                };
                let group = groups
                    .entry((order, f.finding.rule))
                    .or_insert_with(|| RuleGroup {
                        rule: f.finding.rule,
                        severity,
                        findings: 0,
                        plans: Vec::new(),
                    });
                group.findings += 1;
                if !group.plans.contains(&p.header.id) {
                    group.plans.push(p.header.id.clone());
                }
            }
        }
        Ok(Appraisal {
            plans,
            by_rule: groups.into_values().collect(),
        })
    }

    /// Approves together the plans in `shown`, each checked again and decided on its own by
    /// [`Node::decide`] with the hash shown: its own decision, its own audit record, its own
    /// entry in the outbox. A plan that changed since it was shown (another content hash, no
    /// longer awaiting this unit, decided meanwhile) or that has an error or an unaccepted
    /// warning now (a finding raised by a plan that arrived since) is not approved and is
    /// named, with the reason, in [`ApprovedTogether::refused`]; the others are approved.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is an approver of this node's unit (nothing is
    /// approved); [`Error::Invalid`] if `shown` is empty, names more than
    /// [`MAX_APPROVE_AT_ONCE`] plans, names one twice or without its hash (nothing is
    /// approved); [`Error::Store`] if storage fails (the plans approved before the failure
    /// stay approved, each durably).
    pub async fn approve_clean(
        &self,
        who: &Caller,
        shown: &[ShownPlan],
    ) -> Result<ApprovedTogether> {
        who.require_approver_at(&self.unit.code)?;
        if shown.is_empty() {
            return Err(Error::invalid("plans", "no plan chosen to approve"));
        }
        at_most("plans", shown.len(), MAX_APPROVE_AT_ONCE, |n| {
            format!("at most {MAX_APPROVE_AT_ONCE} plans at once, not {n}")
        })?;
        for (i, s) in shown.iter().enumerate() {
            let hex = s.hash.len() == 64 && s.hash.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(Error::invalid(
                    &format!("plans[{i}].hash"),
                    format!("the hash shown of {} is not 64 hex digits", s.plan),
                ));
            }
            if shown[..i].iter().any(|o| o.plan == s.plan) {
                return Err(Error::invalid(
                    &format!("plans[{i}]"),
                    format!("{} is named twice", s.plan),
                ));
            }
        }
        let mut done = ApprovedTogether::default();
        for s in shown {
            match self.approve_one_clean(who, s).await {
                Ok(decision) => done.approved.push(decision),
                Err(e @ Error::Store(_)) => return Err(e),
                Err(e) => {
                    let why = self.why_not(s, &e).await?;
                    done.refused.push(NotApproved {
                        plan: s.plan.clone(),
                        reason: e.to_string(),
                        why,
                    })
                }
            }
        }
        tracing::info!(
            approved = done.approved.len(),
            refused = done.refused.len(),
            "approved together"
        );
        Ok(done)
    }

    /// One plan of [`Node::approve_clean`]: no error and no open warning now, then
    /// [`Node::decide`] with the hash shown (which refuses another hash or status, and at the
    /// province checks the findings again under the node's lock).
    /// The kind of the refusal `e` of `s`: from the plan's status and hash as held now, then
    /// its blocking findings.
    async fn why_not(&self, s: &ShownPlan, e: &Error) -> Result<Why> {
        let Some(header) = self.store.header(&s.plan)? else {
            return Ok(Why::Other);
        };
        if header.status != PlanStatus::Received {
            return Ok(Why::Status(header.status));
        }
        if header.hash.as_deref().is_some_and(|h| h != s.hash) {
            return Ok(Why::Changed);
        }
        if matches!(e, Error::Precondition(_)) {
            let blocking = self.blocking(&s.plan).await?;
            if !blocking.is_empty() {
                return Ok(Why::NotClean(blocking));
            }
        }
        Ok(Why::Other)
    }

    /// The findings of `id` that keep it from being clean: errors and unaccepted warnings, as
    /// (rule, message in Vietnamese, in English, finding ID).
    async fn blocking(&self, id: &PlanId) -> Result<Vec<(RuleId, String, String, String)>> {
        Ok(self
            .plan_findings(id)
            .await?
            .iter()
            .filter(|f| {
                f.finding.severity == Severity::Error
                    || (f.finding.severity == Severity::Warning && f.acceptance.is_none())
            })
            .map(|f| {
                (
                    f.finding.rule,
                    f.finding.message_vi.clone(),
                    f.finding.message_en.clone(),
                    f.id.clone(),
                )
            })
            .collect())
    }

    async fn approve_one_clean(&self, who: &Caller, s: &ShownPlan) -> Result<Decision> {
        self.known_unit("plan.unit", &s.plan.unit)?;
        if self.store.header(&s.plan)?.is_some() {
            let blocking: Vec<String> = self
                .blocking(&s.plan)
                .await?
                .into_iter()
                .map(|(rule, _, en, id)| format!("{rule} {en} ({id})"))
                .collect();
            if !blocking.is_empty() {
                return Err(Error::precondition(
                    "plan",
                    format!("{} is not clean now: {}", s.plan, blocking.join("; ")),
                ));
            }
        }
        self.decide(
            who,
            &s.plan,
            &s.hash,
            Outcome::Approve,
            Vec::new(),
            &[],
            None,
        )
        .await
    }
}
