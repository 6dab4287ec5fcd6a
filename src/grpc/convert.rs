//! All conversion between proto messages and domain values, in one place. Incoming messages
//! are destructured without `..`, so a new proto field fails to compile until it is handled.

use chrono::{DateTime, NaiveDate, Utc};

use super::pb;
use crate::domain::{
    parse_date, BallotRound, Body, Cadre, Decision, Discipline, DisciplineKind, Entry, EntryOrigin,
    EntrySource, FieldError, Gender, Level, Outcome, Plan, PlanHeader, PlanId, PlanStatus, Rating,
    RatingLevel, Receipt, RetirementRegime, Tally, Unit,
};

type R<T> = Result<T, FieldError>;

fn date(field: &str, s: &str) -> R<NaiveDate> {
    parse_date(field, s)
}

fn opt_date(field: &str, s: &str) -> R<Option<NaiveDate>> {
    if s.trim().is_empty() {
        Ok(None)
    } else {
        date(field, s).map(Some)
    }
}

fn timestamp(field: &str, s: &str) -> R<Option<DateTime<Utc>>> {
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            FieldError::new(
                field,
                format!(
                    "{} is not an RFC 3339 timestamp",
                    crate::domain::validate::prefix(s)
                ),
            )
        })
}

pub(super) fn required<T>(field: &str, v: Option<T>) -> R<T> {
    v.ok_or_else(|| FieldError::new(field, "is required"))
}

/// The proto form of a unit level.
pub fn level_to_pb(l: Level) -> pb::Level {
    match l {
        Level::Commune => pb::Level::Commune,
        Level::District => pb::Level::District,
        Level::Province => pb::Level::Province,
    }
}

/// The unit level a proto enum value names; none for UNSPECIFIED or an unknown value.
pub fn level_from_pb(l: i32) -> Option<Level> {
    match pb::Level::try_from(l).ok()? {
        pb::Level::Commune => Some(Level::Commune),
        pb::Level::District => Some(Level::District),
        pb::Level::Province => Some(Level::Province),
        pb::Level::Unspecified => None,
    }
}

/// The proto form of a plan status.
pub fn status_to_pb(s: PlanStatus) -> pb::PlanStatus {
    match s {
        PlanStatus::Draft => pb::PlanStatus::Draft,
        PlanStatus::Adopted => pb::PlanStatus::Adopted,
        PlanStatus::Submitted => pb::PlanStatus::Submitted,
        PlanStatus::Received => pb::PlanStatus::Received,
        PlanStatus::Approved => pb::PlanStatus::Approved,
        PlanStatus::Returned => pb::PlanStatus::Returned,
    }
}

/// A status filter: UNSPECIFIED means any.
///
/// # Errors
///
/// A [`FieldError`] on `field` if `s` is not a known status value.
pub fn status_from_pb(field: &str, s: i32) -> R<Option<PlanStatus>> {
    Ok(
        match pb::PlanStatus::try_from(s)
            .map_err(|_| FieldError::new(field, format!("unknown status {s}")))?
        {
            pb::PlanStatus::Unspecified => None,
            pb::PlanStatus::Draft => Some(PlanStatus::Draft),
            pb::PlanStatus::Adopted => Some(PlanStatus::Adopted),
            pb::PlanStatus::Submitted => Some(PlanStatus::Submitted),
            pb::PlanStatus::Received => Some(PlanStatus::Received),
            pb::PlanStatus::Approved => Some(PlanStatus::Approved),
            pb::PlanStatus::Returned => Some(PlanStatus::Returned),
        },
    )
}

/// Converts a proto decision outcome; `field` is its path in the request.
///
/// # Errors
///
/// A [`FieldError`] on `field` unless `o` is APPROVE or RETURN (UNSPECIFIED is refused).
pub fn outcome_from_pb(field: &str, o: i32) -> R<Outcome> {
    match pb::Outcome::try_from(o) {
        Ok(pb::Outcome::Approve) => Ok(Outcome::Approve),
        Ok(pb::Outcome::Return) => Ok(Outcome::Return),
        _ => Err(FieldError::new(field, "must be APPROVE or RETURN")),
    }
}

fn outcome_to_pb(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Approve => pb::Outcome::Approve,
        Outcome::Return => pb::Outcome::Return,
    }
}

/// The proto form of a gender.
pub fn gender_to_pb(g: Gender) -> pb::Gender {
    match g {
        Gender::Male => pb::Gender::Male,
        Gender::Female => pb::Gender::Female,
    }
}

/// The proto form of an entry source.
pub fn source_to_pb(s: EntrySource) -> pb::EntrySource {
    match s {
        EntrySource::Voted => pb::EntrySource::Voted,
        EntrySource::AddedByAuthority => pb::EntrySource::AddedByAuthority,
    }
}

impl From<&Unit> for pb::Unit {
    fn from(u: &Unit) -> Self {
        pb::Unit {
            code: u.code.clone(),
            level: level_to_pb(u.level).into(),
            name: u.name.clone(),
            parent_code: u.parent.clone().unwrap_or_default(),
        }
    }
}

/// Converts a proto cadre; `field` is its path in the request.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the gender is not MALE or FEMALE, a
/// discipline kind is unknown, or a date (birth, discipline, appointment proposal) is not a
/// valid date.
pub fn cadre_from_pb(field: &str, c: pb::Cadre) -> R<Cadre> {
    let pb::Cadre {
        national_id,
        full_name,
        birth_date,
        gender,
        ethnicity,
        current_positions,
        current_unit,
        qualifications,
        discipline,
        appointment_proposed_on,
        retirement_regime,
        science_technology,
        ratings,
    } = c;
    let retirement_regime = match pb::RetirementRegime::try_from(retirement_regime) {
        Ok(pb::RetirementRegime::Unspecified | pb::RetirementRegime::General) => {
            RetirementRegime::General
        }
        Ok(pb::RetirementRegime::Female60) => RetirementRegime::Female60,
        Ok(pb::RetirementRegime::Police) => RetirementRegime::Police,
        Ok(pb::RetirementRegime::Military) => RetirementRegime::Military,
        Err(_) => {
            return Err(FieldError::new(
                format!("{field}.retirement_regime"),
                "must be GENERAL, FEMALE_60, POLICE or MILITARY",
            ))
        }
    };
    let ratings = ratings
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let pb::Rating { year, level } = r;
            let level = match pb::RatingLevel::try_from(level) {
                Ok(pb::RatingLevel::Excellent) => RatingLevel::Excellent,
                Ok(pb::RatingLevel::Good) => RatingLevel::Good,
                Ok(pb::RatingLevel::Completed) => RatingLevel::Completed,
                Ok(pb::RatingLevel::NotCompleted) => RatingLevel::NotCompleted,
                _ => {
                    return Err(FieldError::new(
                        format!("{field}.ratings[{i}].level"),
                        "must be EXCELLENT, GOOD, COMPLETED or NOT_COMPLETED",
                    ))
                }
            };
            Ok(Rating { year, level })
        })
        .collect::<R<Vec<_>>>()?;
    let gender = match pb::Gender::try_from(gender) {
        Ok(pb::Gender::Male) => Gender::Male,
        Ok(pb::Gender::Female) => Gender::Female,
        _ => {
            return Err(FieldError::new(
                format!("{field}.gender"),
                "must be MALE or FEMALE",
            ))
        }
    };
    let discipline = discipline
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let pb::Discipline {
                kind,
                decided_on,
                announced_on,
                complaint_pending,
                new_violation_on,
            } = d;
            let f = format!("{field}.discipline[{i}]");
            let kind = match pb::DisciplineKind::try_from(kind) {
                Ok(pb::DisciplineKind::Reprimand) => DisciplineKind::Reprimand,
                Ok(pb::DisciplineKind::Warning) => DisciplineKind::Warning,
                Ok(pb::DisciplineKind::RemovalFromPost) => DisciplineKind::RemovalFromPost,
                Ok(pb::DisciplineKind::Expulsion) => DisciplineKind::Expulsion,
                Ok(pb::DisciplineKind::Demotion) => DisciplineKind::Demotion,
                Ok(pb::DisciplineKind::SalaryStepReduction) => DisciplineKind::SalaryStepReduction,
                _ => {
                    return Err(FieldError::new(
                        format!("{f}.kind"),
                        "must be a discipline kind",
                    ))
                }
            };
            Ok(Discipline {
                kind,
                decided_on: date(&format!("{f}.decided_on"), &decided_on)?,
                announced_on: opt_date(&format!("{f}.announced_on"), &announced_on)?,
                complaint_pending,
                new_violation_on: opt_date(&format!("{f}.new_violation_on"), &new_violation_on)?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(Cadre {
        national_id: national_id.trim().into(),
        full_name: full_name.into(),
        birth_date: date(&format!("{field}.birth_date"), &birth_date)?,
        gender,
        ethnicity: ethnicity.into(),
        current_positions: current_positions
            .into_iter()
            .map(|p| p.trim().into())
            .collect(),
        current_unit: current_unit.trim().into(),
        qualifications: qualifications.into_iter().map(Into::into).collect(),
        discipline,
        appointment_proposed_on: opt_date(
            &format!("{field}.appointment_proposed_on"),
            &appointment_proposed_on,
        )?,
        retirement_regime,
        science_technology,
        ratings,
    })
}

/// The proto form of a cadre.
pub fn cadre_to_pb(c: &Cadre) -> pb::Cadre {
    pb::Cadre {
        national_id: c.national_id.to_string(),
        full_name: c.full_name.to_string(),
        birth_date: c.birth_date.to_string(),
        gender: gender_to_pb(c.gender).into(),
        ethnicity: c.ethnicity.to_string(),
        current_positions: c.current_positions.iter().map(|s| s.to_string()).collect(),
        current_unit: c.current_unit.to_string(),
        qualifications: c.qualifications.iter().map(|s| s.to_string()).collect(),
        discipline: c
            .discipline
            .iter()
            .map(|d| pb::Discipline {
                kind: match d.kind {
                    DisciplineKind::Reprimand => pb::DisciplineKind::Reprimand,
                    DisciplineKind::Warning => pb::DisciplineKind::Warning,
                    DisciplineKind::RemovalFromPost => pb::DisciplineKind::RemovalFromPost,
                    DisciplineKind::Expulsion => pb::DisciplineKind::Expulsion,
                    DisciplineKind::Demotion => pb::DisciplineKind::Demotion,
                    DisciplineKind::SalaryStepReduction => pb::DisciplineKind::SalaryStepReduction,
                }
                .into(),
                decided_on: d.decided_on.to_string(),
                announced_on: d.announced_on.map(|d| d.to_string()).unwrap_or_default(),
                complaint_pending: d.complaint_pending,
                new_violation_on: d
                    .new_violation_on
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        appointment_proposed_on: c
            .appointment_proposed_on
            .map(|d| d.to_string())
            .unwrap_or_default(),
        retirement_regime: match c.retirement_regime {
            RetirementRegime::General => pb::RetirementRegime::General,
            RetirementRegime::Female60 => pb::RetirementRegime::Female60,
            RetirementRegime::Police => pb::RetirementRegime::Police,
            RetirementRegime::Military => pb::RetirementRegime::Military,
        }
        .into(),
        science_technology: c.science_technology,
        ratings: c
            .ratings
            .iter()
            .map(|r| pb::Rating {
                year: r.year,
                level: match r.level {
                    RatingLevel::Excellent => pb::RatingLevel::Excellent,
                    RatingLevel::Good => pb::RatingLevel::Good,
                    RatingLevel::Completed => pb::RatingLevel::Completed,
                    RatingLevel::NotCompleted => pb::RatingLevel::NotCompleted,
                }
                .into(),
            })
            .collect(),
    }
}

/// Converts a proto plan entry (UNSPECIFIED source means voted); `field` is its path in the
/// request.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the source is unknown, the cadre is
/// missing, or the cadre does not convert (see [`cadre_from_pb`]).
pub fn entry_from_pb(field: &str, e: pb::Entry) -> R<Entry> {
    let pb::Entry {
        cadre,
        position,
        source,
        origin,
    } = e;
    let source = match pb::EntrySource::try_from(source) {
        Ok(pb::EntrySource::AddedByAuthority) => EntrySource::AddedByAuthority,
        // Unspecified means voted: the usual case, so clients may leave it out.
        Ok(pb::EntrySource::Voted) | Ok(pb::EntrySource::Unspecified) => EntrySource::Voted,
        Err(_) => {
            return Err(FieldError::new(
                format!("{field}.source"),
                format!("unknown source {source}"),
            ))
        }
    };
    Ok(Entry {
        cadre: cadre_from_pb(
            &format!("{field}.cadre"),
            required(&format!("{field}.cadre"), cadre)?,
        )?,
        position: position.trim().into(),
        source,
        origin: origin
            .map(|o| -> R<EntryOrigin> {
                Ok(EntryOrigin {
                    plan: plan_id_from_pb(&format!("{field}.origin.plan"), o.plan)?,
                    position: o.position,
                })
            })
            .transpose()?
            .map(Box::new),
    })
}

/// The proto form of a plan entry.
pub fn entry_to_pb(e: &Entry) -> pb::Entry {
    pb::Entry {
        cadre: Some(cadre_to_pb(&e.cadre)),
        position: e.position.to_string(),
        source: source_to_pb(e.source).into(),
        origin: e.origin.as_ref().map(|o| pb::EntryOrigin {
            plan: Some(plan_id_to_pb(&o.plan)),
            position: o.position,
        }),
    }
}

/// Converts a proto ballot round; `field` is its path in the request.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the voting body is not named or the date
/// is not a valid date.
pub fn round_from_pb(field: &str, r: pb::BallotRound) -> R<BallotRound> {
    let pb::BallotRound {
        body,
        date: d,
        convened,
        present,
        ballots_issued,
        valid_ballots,
        tallies,
    } = r;
    let body = match pb::Body::try_from(body) {
        Ok(pb::Body::KeyCadresConference) => Body::KeyCadresConference,
        Ok(pb::Body::ExecutiveCommittee) => Body::ExecutiveCommittee,
        Ok(pb::Body::StandingCommittee) => Body::StandingCommittee,
        _ => {
            return Err(FieldError::new(
                format!("{field}.body"),
                "must name the voting body",
            ))
        }
    };
    Ok(BallotRound {
        body,
        date: date(&format!("{field}.date"), &d)?,
        convened,
        present,
        ballots_issued,
        valid_ballots,
        tallies: tallies
            .into_iter()
            .map(|t| {
                let pb::Tally {
                    national_id,
                    position,
                    yes,
                } = t;
                Tally {
                    national_id: national_id.trim().into(),
                    position: position.trim().into(),
                    yes,
                }
            })
            .collect(),
    })
}

/// The proto form of a ballot round.
pub fn round_to_pb(r: &BallotRound) -> pb::BallotRound {
    pb::BallotRound {
        body: match r.body {
            Body::KeyCadresConference => pb::Body::KeyCadresConference,
            Body::ExecutiveCommittee => pb::Body::ExecutiveCommittee,
            Body::StandingCommittee => pb::Body::StandingCommittee,
        }
        .into(),
        date: r.date.to_string(),
        convened: r.convened,
        present: r.present,
        ballots_issued: r.ballots_issued,
        valid_ballots: r.valid_ballots,
        tallies: r
            .tallies
            .iter()
            .map(|t| pb::Tally {
                national_id: t.national_id.to_string(),
                position: t.position.to_string(),
                yes: t.yes,
            })
            .collect(),
    }
}

/// Converts a proto plan ID, trimming unit and term; `field` is its path in the request.
///
/// # Errors
///
/// A [`FieldError`] on `field` if the ID is missing.
pub fn plan_id_from_pb(field: &str, id: Option<pb::PlanId>) -> R<PlanId> {
    let pb::PlanId {
        unit,
        term,
        version,
    } = required(field, id)?;
    Ok(PlanId {
        unit: unit.trim().to_string(),
        term: term.trim().to_string(),
        version,
    })
}

/// The proto form of a plan ID.
pub fn plan_id_to_pb(id: &PlanId) -> pb::PlanId {
    pb::PlanId {
        unit: id.unit.clone(),
        term: id.term.clone(),
        version: id.version,
    }
}

/// Converts a proto decision; `field` is its path in the message.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the plan ID is missing, the outcome is not
/// APPROVE or RETURN, or `decided_at` is missing or not an RFC 3339 timestamp.
pub fn decision_from_pb(field: &str, d: pb::Decision) -> R<Decision> {
    let pb::Decision {
        plan,
        hash,
        outcome,
        reasons,
        decided_by,
        decided_at,
    } = d;
    Ok(Decision {
        plan: plan_id_from_pb(&format!("{field}.plan"), plan)?,
        hash,
        outcome: outcome_from_pb(&format!("{field}.outcome"), outcome)?,
        reasons,
        decided_by,
        decided_at: required(
            &format!("{field}.decided_at"),
            timestamp(&format!("{field}.decided_at"), &decided_at)?,
        )?,
    })
}

/// The proto form of a decision.
pub fn decision_to_pb(d: &Decision) -> pb::Decision {
    pb::Decision {
        plan: Some(plan_id_to_pb(&d.plan)),
        hash: d.hash.clone(),
        outcome: outcome_to_pb(d.outcome).into(),
        reasons: d.reasons.clone(),
        decided_by: d.decided_by.clone(),
        decided_at: d.decided_at.to_rfc3339(),
    }
}

/// Converts a whole plan, as pushed between nodes.
///
/// # Errors
///
/// A [`FieldError`] on the offending sub-field if the ID is missing, the status is
/// UNSPECIFIED or unknown, an entry, round or the decision does not convert, or a date or
/// timestamp does not parse.
pub fn plan_from_pb(field: &str, p: pb::Plan) -> R<Plan> {
    let pb::Plan {
        id,
        base_version,
        status,
        entries,
        rounds,
        hash,
        adopted_on,
        received_at,
        decision,
        // What this node says of its own copy; the receiver judges for itself.
        withdrawn: _,
        revision: _,
        approved_before: _,
        // Kept by the approving node with its decision; a receiver does not take it from a
        // plan's message.
        approval_signature: _,
    } = p;
    Ok(Plan {
        id: plan_id_from_pb(&format!("{field}.id"), id)?,
        base_version: (base_version != 0).then_some(base_version),
        status: required(
            &format!("{field}.status"),
            status_from_pb(&format!("{field}.status"), status)?,
        )?,
        entries: entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| entry_from_pb(&format!("{field}.entries[{i}]"), e))
            .collect::<R<_>>()?,
        rounds: rounds
            .into_iter()
            .enumerate()
            .map(|(i, r)| round_from_pb(&format!("{field}.rounds[{i}]"), r))
            .collect::<R<_>>()?,
        hash: Some(hash).filter(|h| !h.is_empty()),
        adopted_on: opt_date(&format!("{field}.adopted_on"), &adopted_on)?,
        received_at: timestamp(&format!("{field}.received_at"), &received_at)?,
        decision: decision
            .map(|d| decision_from_pb(&format!("{field}.decision"), d))
            .transpose()?,
    })
}

/// The proto form of a whole plan, with its entries and rounds.
pub fn plan_to_pb(p: &Plan) -> pb::Plan {
    pb::Plan {
        id: Some(plan_id_to_pb(&p.id)),
        base_version: p.base_version.unwrap_or(0),
        status: status_to_pb(p.status).into(),
        entries: p.entries.iter().map(entry_to_pb).collect(),
        rounds: p.rounds.iter().map(round_to_pb).collect(),
        hash: p.hash.clone().unwrap_or_default(),
        adopted_on: p.adopted_on.map(|d| d.to_string()).unwrap_or_default(),
        received_at: p.received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        decision: p.decision.as_ref().map(decision_to_pb),
        withdrawn: false,
        revision: 0,
        approved_before: 0,
        approval_signature: None,
    }
}

/// The proto summary of a plan version, from its header.
pub fn summary_to_pb(h: &PlanHeader) -> pb::PlanSummary {
    pb::PlanSummary {
        id: Some(plan_id_to_pb(&h.id)),
        status: status_to_pb(h.status).into(),
        hash: h.hash.clone().unwrap_or_default(),
        entries: h.entry_count,
        rounds: h.round_count,
        received_at: h.received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        decision: h.decision.as_ref().map(decision_to_pb),
    }
}

/// The proto form of a receipt; `duplicate` says the parent already held the version.
pub fn receipt_to_pb(r: &Receipt, duplicate: bool) -> pb::Receipt {
    pb::Receipt {
        plan: Some(plan_id_to_pb(&r.plan)),
        hash: r.hash.clone(),
        received_by: r.received_by.clone(),
        received_at: r.received_at.to_rfc3339(),
        duplicate,
        signature: None,
    }
}

/// Converts the receipt a parent returned for a push.
///
/// # Errors
///
/// A [`FieldError`] if the plan ID is missing, or `received_at` is missing or not an RFC 3339
/// timestamp.
pub fn receipt_from_pb(r: pb::Receipt) -> R<Receipt> {
    let pb::Receipt {
        plan,
        hash,
        received_by,
        received_at,
        duplicate: _,
        signature: _,
    } = r;
    Ok(Receipt {
        plan: plan_id_from_pb("receipt.plan", plan)?,
        hash,
        received_by,
        received_at: required(
            "receipt.received_at",
            timestamp("receipt.received_at", &received_at)?,
        )?,
    })
}

/// The proto form of a finding's severity.
pub fn severity_to_pb(s: crate::rules::Severity) -> pb::Severity {
    match s {
        crate::rules::Severity::Error => pb::Severity::Error,
        crate::rules::Severity::Warning => pb::Severity::Warning,
    }
}

/// A severity filter: UNSPECIFIED means any.
///
/// # Errors
///
/// A [`FieldError`] on `field` if `s` is not a known severity value.
pub fn severity_from_pb(field: &str, s: i32) -> R<Option<crate::rules::Severity>> {
    match pb::Severity::try_from(s) {
        Ok(pb::Severity::Unspecified) => Ok(None),
        Ok(pb::Severity::Error) => Ok(Some(crate::rules::Severity::Error)),
        Ok(pb::Severity::Warning) => Ok(Some(crate::rules::Severity::Warning)),
        Err(_) => Err(FieldError::new(field, format!("unknown severity {s}"))),
    }
}

/// A fulfilment kind from its proto form.
///
/// # Errors
///
/// On `field` when the kind is unspecified or unknown.
pub fn fulfilment_kind_from_pb(field: &str, kind: i32) -> R<crate::domain::FulfilmentKind> {
    use crate::domain::FulfilmentKind;
    match pb::FulfilmentKind::try_from(kind) {
        Ok(pb::FulfilmentKind::Appointed) => Ok(FulfilmentKind::Appointed),
        Ok(pb::FulfilmentKind::Elected) => Ok(FulfilmentKind::Elected),
        _ => Err(FieldError::new(
            field,
            "say whether the person was appointed or elected",
        )),
    }
}

/// The proto form of a fulfilment, the national ID as `who` may see it.
pub fn fulfilment_to_pb(
    who: &crate::auth::Caller,
    f: &crate::domain::Fulfilment,
) -> pb::Fulfilment {
    let mut shown = fulfilment_record_to_pb(f);
    shown.national_id = who.shown_id(&f.national_id);
    shown
}

/// The proto form of a fulfilment as a node hands it to another: the national ID whole.
pub fn fulfilment_record_to_pb(f: &crate::domain::Fulfilment) -> pb::Fulfilment {
    use crate::domain::FulfilmentKind;
    pb::Fulfilment {
        plan: Some(plan_id_to_pb(&f.plan)),
        national_id: f.national_id.clone(),
        position: f.position.clone(),
        kind: match f.kind {
            FulfilmentKind::Appointed => pb::FulfilmentKind::Appointed,
            FulfilmentKind::Elected => pb::FulfilmentKind::Elected,
        }
        .into(),
        post: f.post.clone(),
        decision_number: f.decision_number.clone(),
        decided_on: f.decided_on.to_string(),
        recorded_by: f.recorded_by.clone(),
        recorded_at: f.recorded_at.to_rfc3339(),
    }
}

/// A fulfilment from its proto form, as a node hands it up: shapes only (the plan ID, the
/// kind, the dates); what it says is checked by `Node::receive_fulfilment` like a local write.
///
/// # Errors
///
/// A [`FieldError`] on `field.plan`, `field.kind`, `field.decided_on` or `field.recorded_at`
/// when missing or out of shape.
pub fn fulfilment_from_pb(field: &str, f: pb::Fulfilment) -> R<crate::domain::Fulfilment> {
    Ok(crate::domain::Fulfilment {
        plan: plan_id_from_pb(&format!("{field}.plan"), f.plan)?,
        national_id: f.national_id,
        position: f.position,
        kind: fulfilment_kind_from_pb(&format!("{field}.kind"), f.kind)?,
        post: f.post,
        decision_number: f.decision_number,
        decided_on: date(&format!("{field}.decided_on"), &f.decided_on)?,
        recorded_by: f.recorded_by,
        recorded_at: timestamp(&format!("{field}.recorded_at"), &f.recorded_at)?
            .ok_or_else(|| FieldError::new(format!("{field}.recorded_at"), "is required"))?,
    })
}
