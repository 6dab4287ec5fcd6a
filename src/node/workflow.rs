//! The owning unit's workflow: draft, edit, record ballot rounds (R19), adopt, submit.

use chrono::NaiveDate;

use super::{at_most, Event, Node};
use crate::{
    auth::Caller,
    domain::{
        BallotRound, Entry, FieldError, OutboxItem, Plan, PlanHeader, PlanId, PlanStatus, Unit,
    },
    error::{Error, Result},
    rules::ballot,
    store::Change,
};

pub use crate::domain::validate::MAX_ENTRIES;

/// What a recorded ballot round decided for one nominee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyResult {
    /// The nominee's national ID number.
    pub national_id: String,
    /// Code of the position voted on.
    pub position: String,
    /// How many valid ballots said yes.
    pub yes: u32,
    /// More than half of the denominator (R19).
    pub passed: bool,
}

/// The outcome of recording a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundResult {
    /// 1-based number of the round within the plan.
    pub round_number: u32,
    /// The number of votes a nominee needs more than half of (R19).
    pub denominator: u32,
    /// The result for each nominee of the round.
    pub results: Vec<TallyResult>,
}

/// What a caller reviewed before adopting or submitting a plan: the draft revision
/// ([`Node::revised`]) and, optionally, the content hash. Either, when given, must still hold
/// when the write happens, so that what is adopted or submitted is exactly what was reviewed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reviewed {
    /// The draft revision the caller saw; `None`: not checked (a client older than revisions).
    pub revision: Option<u64>,
    /// The content hash the caller saw (for a draft, the hash it would get when adopted);
    /// `None`: not checked.
    pub hash: Option<String>,
}

impl Reviewed {
    /// Checks what was reviewed against what is there now: `revision` and `hash` of `id`.
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] naming the field, what was reviewed and what is there, if either
    /// moved.
    fn check(&self, id: &PlanId, revision: u64, hash: &str) -> Result<()> {
        if let Some(seen) = self.revision.filter(|r| *r != revision) {
            return Err(Error::precondition(
                "revision",
                format!(
                    "you reviewed revision {seen} of {id} but it is now at revision {revision}: it changed since; review it again"
                ),
            ));
        }
        if let Some(seen) = self.hash.as_deref().filter(|h| *h != hash) {
            return Err(Error::precondition(
                "hash",
                format!("you reviewed {id} with hash {seen} but it now has hash {hash}; review it again"),
            ));
        }
        Ok(())
    }
}

/// The meta key of the draft revision of (unit, term).
/// The start of every draft revision's key among the store's counters.
pub(super) const REVISION_PREFIX: &str = "revision.";

fn revision_key(unit: &str, term: &str) -> String {
    format!("{REVISION_PREFIX}{unit}.{term}")
}

impl Node {
    /// The draft revision of (unit, term): how many changes its drafts have had (0 before
    /// the first). Call with the write lock held for a value that matches what is stored.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    fn revision(&self, unit: &str, term: &str) -> Result<u64> {
        Ok(self.store.meta(&revision_key(unit, term))?.unwrap_or(0))
    }

    /// The header of the latest version of (`unit`, `term`), which a step needs in `status`;
    /// `only` says which (e.g. "an adopted version can be submitted"). The caller holds the lock.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] naming `term` when there is no plan; [`Error::Precondition`] naming
    /// `term` when the latest version is in another status; [`Error::Store`] if storage fails.
    fn latest_in(
        &self,
        unit: &str,
        term: &str,
        status: PlanStatus,
        only: &str,
    ) -> Result<PlanHeader> {
        let Some(header) = self.latest(unit, term)? else {
            return Err(Error::not_found(
                "term",
                format!("no plan for {unit} in term {term}"),
            ));
        };
        if header.status != status {
            return Err(Error::precondition(
                "term",
                format!("{} is {}; only {only}", header.id, header.status.as_str()),
            ));
        }
        Ok(header)
    }

    /// The change that counts one more change of the draft of (unit, term), to commit with it.
    pub(super) fn next_revision(&self, unit: &str, term: &str) -> Result<Change> {
        Ok(Change::SetMeta(
            revision_key(unit, term),
            self.revision(unit, term)?.saturating_add(1),
        ))
    }

    /// `plan` with its draft revision, read together so that they match: for the latest version
    /// of this node's own plan, the version as stored now and the revision; for any other
    /// version, `plan` itself and 0.
    ///
    /// A write's reply is built with it after the write was acknowledged. If the store fails
    /// in between (a full disk met by another commit) and cannot be read back, the reply is
    /// still the acknowledged write's: `plan` as it was read or written, with the highest
    /// revision a write of this node had acknowledged for it (at least the one of `plan`, so
    /// a review against it is refused as stale rather than taken for a later content). A
    /// write acknowledged on disk is never answered as refused (issue 20).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails for any other reason than a full disk or a reopening
    /// store.
    pub async fn revised(&self, plan: Plan) -> Result<(Plan, u64)> {
        if plan.id.unit != self.unit.code {
            return Ok((plan, 0));
        }
        let _guard = self.lock().await;
        let read = || -> Result<Option<(Plan, u64)>> {
            match self.latest(&plan.id.unit, &plan.id.term)? {
                Some(h) if h.id == plan.id => {
                    let now = self.load(&plan.id)?;
                    let revision = self.revision(&plan.id.unit, &plan.id.term)?;
                    Ok(Some((now, revision)))
                }
                _ => Ok(None),
            }
        };
        match read() {
            Ok(Some(revised)) => Ok(revised),
            Ok(None) => Ok((plan, 0)),
            Err(e) if e.is_transient() => {
                let revision = self
                    .acked_revisions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&revision_key(&plan.id.unit, &plan.id.term))
                    .copied()
                    .unwrap_or(0);
                tracing::warn!(plan = %plan.id, revision, error = %e, "the store failed after the write was acknowledged; answering with the plan as written");
                Ok((plan, revision))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens a draft for (unit, term): version 1, or the next version after a returned one
    /// (carrying its entries and rounds). An open draft is returned as it is.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Precondition`] if the latest version is approved or awaits
    /// a decision; [`Error::Store`] if storage fails.
    pub async fn create_draft(&self, who: &Caller, unit: &str, term: &str) -> Result<Plan> {
        self.own_plan_write(who, unit, term)?;
        let guard = self.lock().await;
        let (draft, new) = self.draft_or_next(unit, term)?;
        if !new {
            drop(guard);
            self.settle().await?;
            return Ok(draft);
        }
        let plan = draft.clone();
        let event = Event::new("create_draft", Some(&plan.id)).by(who);
        let changes = vec![Change::PutPlan(draft), self.next_revision(unit, term)?];
        self.commit(guard, event, changes).await?;
        Ok(plan)
    }

    /// The open draft of (unit, term), or the draft to create (version 1, or the next version
    /// after a returned one, carrying its entries and rounds), with whether it is new. Call
    /// with the write lock held.
    fn draft_or_next(&self, unit: &str, term: &str) -> Result<(Plan, bool)> {
        match self.latest(unit, term)? {
            None => Ok((Plan::new_draft(plan_id(unit, term, 1), None), true)),
            Some(h) if h.status == PlanStatus::Draft => Ok((self.load(&h.id)?, false)),
            Some(h) if h.status == PlanStatus::Returned => {
                let mut next = self.load(&h.id)?;
                next.id.version = h.id.version.checked_add(1).ok_or_else(|| {
                    Error::precondition(
                        "term",
                        format!("{} is the last version a plan can have", h.id),
                    )
                })?;
                next.base_version = Some(h.id.version);
                next.status = PlanStatus::Draft;
                next.hash = None;
                next.adopted_on = None;
                next.received_at = None;
                next.decision = None;
                Ok((next, true))
            }
            Some(h) if h.status == PlanStatus::Approved => Err(Error::precondition(
                "term",
                format!(
                    "{} is approved and locked; the approving level must return it before a new version (annual review) can be drafted",
                    h.id
                ),
            )),
            Some(h) => Err(Error::precondition(
                "term",
                format!(
                    "{} is {} and awaits a decision; a new version can be drafted once it is returned",
                    h.id,
                    h.status.as_str()
                ),
            )),
        }
    }

    /// Adds an entry to the open draft, or replaces the entry with the same person and position.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Invalid`] if the entry is malformed or the draft is full;
    /// [`Error::NotFound`] if a position it names is not in the catalogue; [`Error::NotFound`] if
    /// there is no draft; [`Error::Precondition`] if the latest version is no longer a draft;
    /// [`Error::Store`] if storage fails.
    pub async fn put_entry(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        entry: Entry,
    ) -> Result<Plan> {
        let owner = self.own_plan_write(who, unit, term)?.clone();
        let entry = self.validate_entry(&owner, entry)?;
        self.edit_draft(who, "put_entry", unit, term, |plan| {
            let detail = format!(
                "{} for {}",
                entry.position,
                crate::node::mask_id(&entry.cadre.national_id)
            );
            let count = plan.entries.len();
            match plan.entries.iter_mut().find(|e| e.key() == entry.key()) {
                Some(existing) => *existing = entry,
                None if count >= MAX_ENTRIES => {
                    return Err(Error::invalid(
                        "entry",
                        format!("a plan holds at most {MAX_ENTRIES} entries"),
                    ))
                }
                None => plan.entries.push(entry),
            }
            Ok(detail)
        })
        .await
    }

    /// Puts many entries (and, optionally, the ballot round that voted on them) into the draft of
    /// (unit, term) at once: all of them or, if any is bad, none. Opens the draft if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Invalid`] if there is nothing to import, more entries than a plan
    /// holds, or a malformed entry or round (the field names the entry); [`Error::NotFound`] if a
    /// position named is not in the catalogue; [`Error::Precondition`] if the round misses the
    /// quorum (R19) or no version can be drafted now; [`Error::Store`] if storage fails.
    ///
    /// With `replace`, the draft's entries become exactly `entries` (a corrected list applied,
    /// not added); its ballot rounds stay. A round identical to one the draft already records
    /// is not recorded again.
    pub async fn import_entries(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        entries: Vec<Entry>,
        round: Option<BallotRound>,
        replace: bool,
    ) -> Result<Plan> {
        let owner = self.own_plan_write(who, unit, term)?.clone();
        if entries.is_empty() {
            return Err(Error::invalid("entries", "nothing to import"));
        }
        at_most("entries", entries.len(), MAX_ENTRIES, |_| {
            format!("a plan holds at most {MAX_ENTRIES} entries")
        })?;
        let entries = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                self.validate_entry(&owner, e).map_err(|err| match err {
                    Error::Invalid(f) => Error::Invalid(FieldError::new(
                        format!("entries[{i}]{}", f.field.trim_start_matches("entry")),
                        f.problem,
                    )),
                    Error::NotFound(f) => Error::NotFound(FieldError::new(
                        format!("entries[{i}]{}", f.field.trim_start_matches("entry")),
                        f.problem,
                    )),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(round) = &round {
            round.validate_counts("round")?;
            self.validated(None, |c| c.round("round", round))?;
            let params = self.reference().rules.params_for(round.date).clone();
            if !ballot::quorum_met(round, &params) {
                return Err(Error::precondition(
                    "round.present",
                    format!(
                        "R19: {} present of {} convened is below the quorum",
                        round.present, round.convened
                    ),
                ));
            }
        }
        // The draft (opened here if need be) and every entry go in one commit: all or none.
        let guard = self.lock().await;
        let (mut plan, _) = self.draft_or_next(unit, term)?;
        let count = entries.len();
        let replaced = replace.then(|| std::mem::take(&mut plan.entries).len());
        for entry in entries {
            match plan.entries.iter_mut().find(|e| e.key() == entry.key()) {
                Some(existing) => *existing = entry,
                None => plan.entries.push(entry),
            }
        }
        at_most("entries", plan.entries.len(), MAX_ENTRIES, |_| {
            format!("a plan holds at most {MAX_ENTRIES} entries")
        })?;
        let mut detail = match replaced {
            Some(old) => format!("{count} entries replacing {old}"),
            None => format!("{count} entries"),
        };
        if let Some(round) = round {
            if plan.rounds.contains(&round) {
                detail.push_str("; the ballot round was already recorded");
            } else {
                plan.rounds.push(round);
            }
        }
        let out = plan.clone();
        let event = Event::new("import", Some(&plan.id)).detail(detail).by(who);
        let changes = vec![Change::PutPlan(plan), self.next_revision(unit, term)?];
        self.commit(guard, event, changes).await?;
        Ok(out)
    }

    /// Removes the entry of (person, position) from the open draft.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::NotFound`] if there is no draft; [`Error::Precondition`] if the
    /// latest version is no longer a draft; [`Error::NotFound`] also if the draft holds no entry
    /// for that person and position; [`Error::Store`] if storage fails.
    pub async fn remove_entry(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        national_id: &str,
        position: &str,
    ) -> Result<Plan> {
        self.own_plan_write(who, unit, term)?;
        self.edit_draft(who, "remove_entry", unit, term, |plan| {
            let before = plan.entries.len();
            plan.entries.retain(|e| e.key() != (position, national_id));
            if plan.entries.len() == before {
                return Err(Error::not_found(
                    "national_id",
                    format!("no entry for this person and position {position} in the draft"),
                ));
            }
            Ok(format!(
                "{position} for {}",
                crate::node::mask_id(national_id)
            ))
        })
        .await
    }

    /// Records a ballot round on the open draft. A round below quorum is refused (R19); the result
    /// says which nominees passed.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Invalid`] if the round's counts are inconsistent, it is malformed
    /// or dated in the future; [`Error::NotFound`] if a tally names an unknown position;
    /// [`Error::Precondition`] if the round misses the quorum (R19); [`Error::NotFound`] if there
    /// is no draft; [`Error::Precondition`] if the latest version is no longer a draft;
    /// [`Error::Store`] if storage fails.
    pub async fn record_round(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        round: BallotRound,
    ) -> Result<RoundResult> {
        self.own_plan_write(who, unit, term)?;
        round.validate_counts("round")?;
        self.validated(None, |c| c.round("round", &round))?;
        crate::domain::parse_date("round.date", &round.date.to_string())?;
        if round.date > self.today() {
            return Err(Error::invalid(
                "round.date",
                format!("{} is in the future", round.date),
            ));
        }
        for (i, t) in round.tallies.iter().enumerate() {
            self.known_position(&format!("round.tallies[{i}].position"), &t.position)?;
        }
        let params = self.reference().rules.params_for(round.date).clone();
        if !ballot::quorum_met(&round, &params) {
            return Err(Error::precondition(
                "round.present",
                format!(
                    "R19: {} present of {} convened is below the quorum of {}/{}; the round is not valid",
                    round.present, round.convened, params.quorum_num, params.quorum_den
                ),
            ));
        }
        let denominator = ballot::denominator(&round, &params);
        let results = round
            .tallies
            .iter()
            .map(|t| TallyResult {
                national_id: t.national_id.to_string(),
                position: t.position.to_string(),
                yes: t.yes,
                passed: ballot::passes(&round, t.yes, &params),
            })
            .collect();
        let mut number = 0;
        self.edit_draft(who, "record_round", unit, term, |plan| {
            let detail = format!(
                "{:?} on {}: {} of {} present",
                round.body, round.date, round.present, round.convened
            );
            plan.rounds.push(round);
            number = plan.rounds.len() as u32;
            Ok(detail)
        })
        .await?;
        Ok(RoundResult {
            round_number: number,
            denominator,
            results,
        })
    }

    /// Adopts the open draft: it is frozen and its content hash fixed.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Invalid`] if the adoption date is in the future;
    /// [`Error::NotFound`] if there is no draft; [`Error::Precondition`] if the latest version is
    /// no longer a draft; [`Error::Precondition`] also if the draft has no entries;
    /// [`Error::Store`] if storage fails.
    pub async fn adopt(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        adopted_on: Option<NaiveDate>,
    ) -> Result<Plan> {
        self.adopt_reviewed(who, unit, term, adopted_on, &Reviewed::default())
            .await
    }

    /// Adopts the open draft if it is still what the caller reviewed: [`Node::adopt`], with
    /// the draft revision and (for a draft, the would-be) content hash checked in the same
    /// step as the write.
    ///
    /// # Errors
    ///
    /// As [`Node::adopt`]; and [`Error::Precondition`] on `revision` or `hash`, naming what
    /// was reviewed and what is there now, if the draft changed since it was reviewed.
    pub async fn adopt_reviewed(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        adopted_on: Option<NaiveDate>,
        reviewed: &Reviewed,
    ) -> Result<Plan> {
        self.own_plan_write(who, unit, term)?;
        let adopted_on = adopted_on.unwrap_or_else(|| self.today());
        if adopted_on > self.today() {
            return Err(Error::invalid(
                "adopted_on",
                format!("{adopted_on} is in the future"),
            ));
        }
        let guard = self.lock().await;
        let mut plan = self.draft(unit, term)?;
        if plan.entries.is_empty() {
            return Err(Error::precondition(
                "entries",
                format!("{} has no entries to adopt", plan.id),
            ));
        }
        reviewed.check(&plan.id, self.revision(unit, term)?, &plan.content_hash())?;
        plan.sort_entries();
        plan.status = PlanStatus::Adopted;
        plan.adopted_on = Some(adopted_on);
        plan.hash = Some(plan.content_hash());
        let out = plan.clone();
        let event = Event::new("adopt", Some(&plan.id)).by(who);
        self.commit(guard, event, vec![Change::PutPlan(plan)])
            .await?;
        Ok(out)
    }

    /// Submits the adopted version to the approving level: it is queued durably for the parent and
    /// delivered by the sync task. Returns the header and the approving unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] unless `who` is a clerk of `unit`; [`Error::NotFound`] if the unit or
    /// term is unknown; [`Error::Denied`] if the unit is not this node's own; [`Error::Precondition`] if this node is a province (nothing above it) or
    /// the latest version is not adopted; [`Error::NotFound`] if there is no plan for the term;
    /// [`Error::Store`] if storage fails.
    pub async fn submit(&self, who: &Caller, unit: &str, term: &str) -> Result<(PlanHeader, Unit)> {
        self.submit_reviewed(who, unit, term, &Reviewed::default())
            .await
    }

    /// Submits the adopted version if it is still what the caller reviewed: [`Node::submit`],
    /// with the revision and hash checked in the same step as the write.
    ///
    /// # Errors
    ///
    /// As [`Node::submit`]; and [`Error::Precondition`] on `revision` or `hash`, naming what
    /// was reviewed and what is there now, if either moved.
    pub async fn submit_reviewed(
        &self,
        who: &Caller,
        unit: &str,
        term: &str,
        reviewed: &Reviewed,
    ) -> Result<(PlanHeader, Unit)> {
        self.own_plan_write(who, unit, term)?;
        let Some(approver) = self.parent_unit().cloned() else {
            return Err(Error::precondition(
                "unit",
                format!(
                    "{} is a province: its plan is approved centrally, outside quyhoach",
                    self.unit.code
                ),
            ));
        };
        let guard = self.lock().await;
        let mut header = self.latest_in(
            unit,
            term,
            PlanStatus::Adopted,
            "an adopted version can be submitted",
        )?;
        reviewed.check(
            &header.id,
            self.revision(unit, term)?,
            header.hash.as_deref().unwrap_or_default(),
        )?;
        header.status = PlanStatus::Submitted;
        let changes = vec![
            Change::PutHeader(header.clone()),
            Change::Enqueue(OutboxItem {
                plan: header.id.clone(),
                queued_at: self.now(),
                approval: None,
            }),
        ];
        let event = Event::new("submit", Some(&header.id))
            .detail(format!("to {}", approver.code))
            .by(who);
        self.commit(guard, event, changes).await?;
        self.outbox_wake.notify_one();
        Ok((header, approver))
    }

    /// Withdraws this node's own submitted version of (unit, term) while it still waits in the
    /// outbox, so that it is a draft again: for a version the approving level refused (a date
    /// it takes for the future, from a clock that was wrong) or never got. In one transaction
    /// the outbox item goes, the version becomes a draft again (its adoption date and hash
    /// cleared, its entries and rounds kept, the same version number) and the draft revision
    /// moves on; audited as `withdraw_submission`. It can then be corrected, adopted and
    /// submitted again.
    ///
    /// No push of the outbox is under way meanwhile (it waits for the one in progress, see
    /// [`Node::pushing`]): once the approving level's receipt is here the version is no longer
    /// this node's to withdraw. A push whose answer was lost in the network may still have
    /// reached the approving level; then the version submitted again with other content is
    /// recorded there and here as a conflict (`status` shows it), to be settled by a return.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the unit or term is unknown or there is no plan for the term;
    /// [`Error::Denied`] if `who` is not a clerk of `unit` or the unit is not this node's own;
    /// [`Error::Precondition`] if the latest version is not submitted, or was already received by the approving level (the
    /// message names who and when, and that it must be returned there); [`Error::Store`] if
    /// storage fails.
    pub async fn withdraw_submission(&self, who: &Caller, unit: &str, term: &str) -> Result<Plan> {
        self.own_plan_write(who, unit, term)?;
        let _pushing = self.pushing().await;
        let guard = self.lock().await;
        let header = self.latest_in(
            unit,
            term,
            PlanStatus::Submitted,
            "a submitted version still waiting to be sent can be withdrawn",
        )?;
        let approver = self
            .parent_unit()
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let queued = self
            .store
            .outbox()?
            .into_iter()
            .find(|(_, item)| item.plan == header.id && item.approval.is_none());
        let Some((seq, item)) = queued else {
            let taken = match self.store.receipt(&header.id)? {
                Some(r) => format!(
                    "was received by {} on {}",
                    r.received_by,
                    r.received_at.date_naive()
                ),
                None => format!("is no longer waiting to be sent to {approver}"),
            };
            return Err(Error::precondition(
                "term",
                format!(
                    "{} {taken}; it can no longer be withdrawn here: ask {approver} to return it",
                    header.id
                ),
            ));
        };
        let removed = self.take_back_bundles(&header.id, header.hash.as_deref(), &approver)?;
        let mut plan = self.load(&header.id)?;
        plan.status = PlanStatus::Draft;
        plan.hash = None;
        plan.adopted_on = None;
        plan.received_at = None;
        plan.decision = None;
        let out = plan.clone();
        let mut detail = format!(
            "from the outbox for {approver}, queued at {}",
            item.queued_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        for path in &removed {
            detail.push_str(&format!("; its bundle {} removed", path.display()));
        }
        let event = Event::new("withdraw_submission", Some(&plan.id))
            .detail(detail)
            .by(who);
        let changes = vec![
            Change::Dequeue(seq),
            Change::PutPlan(plan),
            self.next_revision(unit, term)?,
            Change::DeleteDocument(super::bundles::left_key(&header.id)),
        ];
        self.commit(guard, event, changes).await?;
        tracing::info!(plan = %out.id, approver, "submission withdrawn from the outbox");
        Ok(out)
    }

    /// Before a withdrawal of `id` (content `hash`): makes sure no bundle of that content is
    /// out of the node's reach. A bundle answered to `bundle export` refuses the withdrawal; one
    /// the folder link wrote that still waits in its `up/` folder is removed (durably), as is
    /// its temporary file; one no longer there (carried, or lost) refuses it. Answers the files
    /// removed. Called with the write lock and the push lock held, so that no bundle is
    /// written meanwhile.
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] naming the file, when it was written and whom to ask for a
    /// return; [`Error::Store`] if a file cannot be removed or storage fails.
    fn take_back_bundles(
        &self,
        id: &PlanId,
        hash: Option<&str>,
        approver: &str,
    ) -> Result<Vec<std::path::PathBuf>> {
        use super::bundles::{left, remove_durably, Via};
        let left: Vec<_> = left(self, id)?
            .into_iter()
            .filter(|l| Some(l.hash.as_str()) == hash)
            .collect();
        let when = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
        if let Some(l) = left.iter().find(|l| l.via == Via::Export) {
            return Err(Error::precondition(
                "term",
                format!(
                    "{id} cannot be withdrawn here: its bundle {} was written on {} by bundle \
                     export and may be on its way: carry it and ask {approver} to return it",
                    l.file,
                    when(&l.at)
                ),
            ));
        }
        let mut remove = Vec::new();
        for l in &left {
            let Some(path) = l.path() else { continue };
            let tmp = path.with_file_name(format!(".{}.tmp", l.file));
            if path.exists() {
                remove.push(path);
            } else if tmp.exists() {
                remove.push(tmp);
            } else {
                return Err(Error::precondition(
                    "term",
                    format!(
                        "{id} cannot be withdrawn here: its bundle {} was written on {} into {} \
                         and is no longer there (carried?): carry it and ask {approver} to \
                         return it",
                        l.file,
                        when(&l.at),
                        path.parent().unwrap_or(&path).display()
                    ),
                ));
            }
        }
        for path in &remove {
            remove_durably(path).map_err(|e| {
                Error::Store(crate::store::StoreError::Io(std::io::Error::new(
                    e.kind(),
                    format!("removing {}: {e}", path.display()),
                )))
            })?;
            tracing::info!(plan = %id, file = %path.display(), "bundle removed from the folder link: withdrawn");
        }
        Ok(remove)
    }

    /// Loads the open draft of (unit, term), applies `edit` to it, and stores it.
    async fn edit_draft(
        &self,
        who: &Caller,
        action: &'static str,
        unit: &str,
        term: &str,
        edit: impl FnOnce(&mut Plan) -> Result<String>,
    ) -> Result<Plan> {
        let guard = self.lock().await;
        let mut plan = self.draft(unit, term)?;
        let detail = edit(&mut plan)?;
        let out = plan.clone();
        let event = Event::new(action, Some(&plan.id)).detail(detail).by(who);
        let changes = vec![Change::PutPlan(plan), self.next_revision(unit, term)?];
        self.commit(guard, event, changes).await?;
        Ok(out)
    }

    /// The open draft of (unit, term), or why there is none.
    fn draft(&self, unit: &str, term: &str) -> Result<Plan> {
        match self.latest(unit, term)? {
            Some(h) if h.status == PlanStatus::Draft => self.load(&h.id),
            Some(h) => Err(Error::precondition(
                "term",
                format!("{} is {} and can no longer be edited; open a new version with CreateDraft once it is returned", h.id, h.status.as_str()),
            )),
            None => Err(Error::not_found("term", format!("no draft for {unit} in term {term}; open one with CreateDraft"))),
        }
    }

    pub(super) fn load(&self, id: &PlanId) -> Result<Plan> {
        self.store
            .plan(id)?
            .ok_or_else(|| Error::not_found("plan", format!("no plan version {id}")))
    }

    fn known_position(&self, field: &str, code: &str) -> Result<crate::domain::Position> {
        self.reference()
            .catalog
            .position(code)
            .cloned()
            .ok_or_else(|| {
                Error::not_found(
                    field,
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(code)
                    ),
                )
            })
    }

    /// Normalizes and checks an entry against the catalogue and the unit it is planned in.
    pub(super) fn validate_entry(&self, unit: &Unit, mut entry: Entry) -> Result<Entry> {
        entry.cadre = entry.cadre.validate("entry.cadre", self.today())?;
        let position = self.known_position("entry.position", &entry.position)?;
        if position.level != unit.level {
            return Err(Error::Invalid(FieldError::new(
                "entry.position",
                format!(
                    "{} is a {} position; unit {} is a {}",
                    position.code, position.level, unit.code, unit.level
                ),
            )));
        }
        for (i, p) in entry.cadre.current_positions.iter().enumerate() {
            self.known_position(&format!("entry.cadre.current_positions[{i}]"), p)?;
        }
        self.known_unit("entry.cadre.current_unit", &entry.cadre.current_unit)?;
        if let Some(d) = entry.cadre.appointment_proposed_on {
            if d > self.today() {
                return Err(Error::invalid(
                    "entry.cadre.appointment_proposed_on",
                    format!("{d} is in the future"),
                ));
            }
        }
        // The same checks a pushed plan's entries pass (domain::validate), on the stored form.
        self.validated(None, |c| c.entry("entry", unit, &entry, self.today()))?;
        Ok(entry)
    }

    /// Runs the domain's input checks ([`crate::domain::validate`]) against this node's
    /// reference data; dates sent by `peer` (a child's push, the parent's decision) get
    /// [`crate::domain::validate::PEER_CLOCK_TOLERANCE_DAYS`] of tolerance for its clock and a
    /// refusal names the skew. A refusal is [`Error::Invalid`] naming the field.
    pub(super) fn validated(
        &self,
        peer: Option<&str>,
        check: impl FnOnce(&crate::domain::validate::Context) -> std::result::Result<(), FieldError>,
    ) -> Result<()> {
        let reference = self.reference();
        let context = crate::domain::validate::Context {
            catalog: &reference.catalog,
            hierarchy: &self.hierarchy,
            today: self.today(),
            peer,
        };
        check(&context).map_err(Error::Invalid)
    }
}

fn plan_id(unit: &str, term: &str, version: u32) -> PlanId {
    PlanId {
        unit: unit.into(),
        term: term.into(),
        version,
    }
}
