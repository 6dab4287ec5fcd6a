//! Conversion between proto messages and the node's own records (its answers, reports and
//! findings), as [`super::convert`] does for domain values. Kept apart so that what converts
//! domain values (which bundle files use too) depends on nothing of the node.

use super::{
    convert::{
        decision_from_pb, decision_to_pb, plan_id_from_pb, plan_id_to_pb, required, severity_to_pb,
        status_from_pb, status_to_pb, summary_to_pb,
    },
    pb,
};
use crate::domain::FieldError;

type R<T> = Result<T, FieldError>;

/// The proto form of the CMS signature an approval carried.
pub fn approval_signature_to_pb(s: &crate::node::ApprovalSignature) -> pb::ApprovalSignature {
    let crate::signature::Verified {
        signer,
        subject,
        serial,
        issuer,
        signed_at,
    } = &s.verified;
    pb::ApprovalSignature {
        signer: signer.clone(),
        subject: subject.clone(),
        serial: serial.clone(),
        issuer: issuer.clone(),
        signed_at: signed_at.to_rfc3339(),
        cms: s.cms.clone(),
    }
}

/// The proto form of a warning's acceptance.
pub fn acceptance_to_pb(a: &crate::node::Acceptance) -> pb::Acceptance {
    pb::Acceptance {
        justification: a.justification.clone(),
        by: a.by.clone(),
        at: a.at.to_rfc3339(),
    }
}

/// The proto form of a checked finding (the person's national ID masked).
pub fn finding_to_pb(f: &crate::node::CheckedFinding) -> pb::Finding {
    let crate::node::CheckedFinding {
        id,
        finding,
        acceptance,
        merger,
    } = f;
    pb::Finding {
        id: id.clone(),
        rule: finding.rule.as_str().into(),
        severity: severity_to_pb(finding.severity).into(),
        units: finding.units.clone(),
        person_name: finding
            .person
            .as_ref()
            .map(|p| p.full_name.clone())
            .unwrap_or_default(),
        person_id_masked: finding
            .person
            .as_ref()
            .map(|p| crate::node::mask_id(&p.national_id))
            .unwrap_or_default(),
        positions: finding.positions.clone(),
        terms: finding.terms.clone(),
        message_vi: finding.message_vi.clone(),
        message_en: finding.message_en.clone(),
        plans: finding.plans.iter().map(plan_id_to_pb).collect(),
        acceptance: acceptance.as_ref().map(acceptance_to_pb),
        ruleset: finding
            .ruleset
            .map(|r| r.citation().to_string())
            .unwrap_or_default(),
        reorganised_on: finding
            .reorganised_on
            .map(|d| d.to_string())
            .unwrap_or_default(),
        merger: merger.clone(),
    }
}

/// The proto form of an `eligible` answer (the person's national ID masked in its finding).
pub fn eligible_to_pb(a: &crate::node::EligibleAnswer) -> pb::EligibleResponse {
    use crate::rules::Eligibility;
    let crate::node::EligibleAnswer {
        verdict,
        hash,
        person,
        finding,
        on,
    } = a;
    let (kind, plan, planned_position) = match verdict {
        Eligibility::Planned { plan, position } => (
            pb::EligibilityVerdict::Planned,
            Some(plan_id_to_pb(plan)),
            position.clone(),
        ),
        Eligibility::NotPlanned => (pb::EligibilityVerdict::NotPlanned, None, String::new()),
        Eligibility::NoApprovedPlan => {
            (pb::EligibilityVerdict::NoApprovedPlan, None, String::new())
        }
        // The node refuses an unknown post before asking the rule.
        Eligibility::UnknownPosition => (pb::EligibilityVerdict::Unspecified, None, String::new()),
    };
    pb::EligibleResponse {
        verdict: kind.into(),
        plan,
        hash: hash.clone().unwrap_or_default(),
        planned_position,
        full_name: person.full_name.clone(),
        finding: finding.as_ref().map(|f| {
            finding_to_pb(&crate::node::CheckedFinding {
                id: crate::node::finding_id(f),
                finding: f.clone(),
                acceptance: None,
                merger: Vec::new(),
            })
        }),
        on: on.to_string(),
    }
}

/// A plan state a child reports in its pull; the status must be a real one.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the plan ID is missing or the status is
/// UNSPECIFIED or unknown.
pub fn reported_plan_from_pb(field: &str, s: pb::PlanState) -> R<crate::node::ReportedPlan> {
    let pb::PlanState {
        plan,
        status,
        held_by,
    } = s;
    let id = plan_id_from_pb(&format!("{field}.plan"), plan)?;
    let status = status_from_pb(&format!("{field}.status"), status)?
        .ok_or_else(|| FieldError::new(format!("{field}.status"), "is required"))?;
    Ok(crate::node::ReportedPlan {
        id,
        status,
        held_by: held_by.trim().to_string(),
    })
}

/// The proto form of a reported plan state.
pub fn reported_plan_to_pb(s: &crate::node::ReportedPlan) -> pb::PlanState {
    pb::PlanState {
        plan: Some(plan_id_to_pb(&s.id)),
        status: status_to_pb(s.status).into(),
        held_by: s.held_by.clone(),
    }
}

/// The proto form of one unit's line of the completeness report.
pub fn unit_progress_to_pb(u: &crate::node::UnitProgress) -> pb::UnitProgress {
    use crate::node::Progress;
    let since = match &u.progress {
        Progress::New { since } => since.to_string(),
        _ => String::new(),
    };
    let (progress, pending_at) = match &u.progress {
        Progress::NotStarted => (pb::Progress::NotStarted, String::new()),
        Progress::Draft => (pb::Progress::Draft, String::new()),
        Progress::Adopted => (pb::Progress::Adopted, String::new()),
        Progress::Submitted { pending_at } => (pb::Progress::Submitted, pending_at.clone()),
        Progress::Approved => (pb::Progress::Approved, String::new()),
        Progress::Returned => (pb::Progress::Returned, String::new()),
        Progress::Overdue { pending_at } => (pb::Progress::Overdue, pending_at.clone()),
        Progress::New { .. } => (pb::Progress::New, String::new()),
        Progress::NotPlanning => (pb::Progress::NotPlanning, String::new()),
    };
    pb::UnitProgress {
        unit: u.unit.clone(),
        progress: progress.into(),
        version: u.version,
        pending_at,
        since,
    }
}

/// One plan version as its holder has it, for anti-entropy.
pub fn plan_state_to_pb(s: &crate::node::PlanState) -> pb::PlanDigest {
    pb::PlanDigest {
        plan: Some(plan_id_to_pb(&s.plan)),
        hash: s.hash.clone(),
        status: status_to_pb(s.status).into(),
        decision: s.decision.as_ref().map(decision_to_pb),
        // The signature is put on by the service (`bundle::format::signature_to_pb`).
        signature: None,
    }
}

/// A plan version as the parent says it holds it; validated like any input. Its
/// `signature` is left to the caller (`bundle::format::signature_from_pb`), which the
/// link verifies before anything is applied.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the plan ID is missing, the status is
/// UNSPECIFIED or unknown, or the decision does not convert.
pub fn plan_state_from_pb(field: &str, d: pb::PlanDigest) -> R<crate::node::PlanState> {
    let pb::PlanDigest {
        plan,
        hash,
        status,
        decision,
        signature: _,
    } = d;
    Ok(crate::node::PlanState {
        plan: plan_id_from_pb(&format!("{field}.plan"), plan)?,
        hash,
        status: required(
            &format!("{field}.status"),
            status_from_pb(&format!("{field}.status"), status)?,
        )?,
        decision: decision
            .map(|d| decision_from_pb(&format!("{field}.decision"), d))
            .transpose()?,
        signature: None,
    })
}

/// A reorganisation, planned or applied.
pub fn reorganisation_to_pb(r: &crate::node::Reorganisation) -> pb::ReorganizeResponse {
    use crate::node::Fate;
    pb::ReorganizeResponse {
        from: r.from.clone(),
        to: r.to.clone(),
        on: r.on.to_string(),
        applied: r.applied,
        plans: r
            .plans
            .iter()
            .map(|p| {
                let (fate, into, pending_at, decided_by) = match &p.fate {
                    Fate::Stays => ("stays", Vec::new(), String::new(), String::new()),
                    Fate::Source { into } => ("source", into.clone(), String::new(), String::new()),
                    Fate::Pending { at, to } => ("pending", Vec::new(), at.clone(), to.clone()),
                };
                pb::PlanFate {
                    plan: Some(plan_id_to_pb(&p.id)),
                    status: status_to_pb(p.status).into(),
                    held_by: p.held_by.clone(),
                    name: p.name.clone(),
                    fate: fate.into(),
                    into,
                    pending_at,
                    decided_by,
                }
            })
            .collect(),
    }
}

/// The proto form of a plan awaiting this unit's decision (the national IDs in its findings
/// masked).
pub fn awaiting_to_pb(p: &crate::node::AwaitingPlan) -> pb::AwaitingPlan {
    pb::AwaitingPlan {
        plan: Some(summary_to_pb(&p.header)),
        errors: p.errors() as u32,
        open_warnings: p.open_warnings() as u32,
        clean: p.is_clean(),
        findings: p.findings.iter().map(finding_to_pb).collect(),
    }
}

/// The proto form of an appraisal: the awaiting plans and their findings by rule.
pub fn appraisal_to_pb(a: &crate::node::Appraisal) -> pb::AppraisalResponse {
    pb::AppraisalResponse {
        plans: a.plans.iter().map(awaiting_to_pb).collect(),
        by_rule: a
            .by_rule
            .iter()
            .map(|g| pb::RuleGroup {
                rule: g.rule.as_str().into(),
                severity: severity_to_pb(g.severity).into(),
                findings: g.findings as u32,
                plans: g.plans.iter().map(plan_id_to_pb).collect(),
            })
            .collect(),
    }
}

/// The plans of an `ApproveClean` request as the node takes them, `plans[i].plan` and
/// `plans[i].hash` named in any error.
///
/// # Errors
///
/// A [`FieldError`] naming `plans[i].plan` when a plan ID is missing or malformed.
pub fn shown_from_pb(plans: Vec<pb::ShownPlan>) -> R<Vec<crate::node::ShownPlan>> {
    plans
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(crate::node::ShownPlan {
                plan: plan_id_from_pb(&format!("plans[{i}].plan"), s.plan)?,
                hash: s.hash.trim().to_string(),
            })
        })
        .collect()
}

/// The answer to an `ApproveClean` request: one result per plan `shown`, in its order, the
/// decision of each approved one or the reason another was not.
pub fn approved_together_to_pb(
    shown: &[crate::node::ShownPlan],
    done: &crate::node::ApprovedTogether,
) -> pb::ApproveCleanResponse {
    let results = shown
        .iter()
        .map(|s| {
            let decision = done.approved.iter().find(|d| d.plan == s.plan);
            let refused = done.refused.iter().find(|r| r.plan == s.plan);
            pb::ApproveCleanResult {
                plan: Some(plan_id_to_pb(&s.plan)),
                decision: decision.map(decision_to_pb),
                refused: match (decision, refused) {
                    (Some(_), _) => String::new(),
                    (None, Some(r)) => r.reason.clone(),
                    (None, None) => "not decided".into(),
                },
            }
        })
        .collect();
    pb::ApproveCleanResponse { results }
}
