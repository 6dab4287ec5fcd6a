//! The client-facing `Planning` service: thin handlers over [`Node`].

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{bad, convert::*, limits::MAX_ANSWER, node_convert::*, pb};
use crate::{
    domain::{parse_date, FieldError, PlanId},
    node::{
        AuditFilter, AuditSelection, CheckFilter, ConsolidatedFilter, Node, PageAt, PageRequest,
        PlanFilter, Reviewed, SortKey,
    },
};

/// About how many bytes of findings one part of `CheckStream` holds.
const CHECK_PART: usize = 1024 * 1024;

impl PlanningService {
    /// The findings a `Check` request asks for (the live ones of one version with `stored`,
    /// otherwise a fresh check), in the shape of its answer.
    async fn checked(&self, req: Request<pb::CheckRequest>) -> Result<pb::CheckResponse, Status> {
        let who = self.who(&req)?;
        let pb::CheckRequest {
            under,
            term,
            rules,
            severity,
            plan,
            stored,
        } = req.into_inner();
        let under = self.node.scope(&who, &under)?;
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.parse()
                    .map_err(|e: String| bad(FieldError::new(format!("rules[{i}]"), e)))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let plan = plan
            .map(|p| plan_id_from_pb("plan", Some(p)))
            .transpose()
            .map_err(bad)?;
        let filter = CheckFilter {
            under: under.trim().to_string(),
            term: opt(term),
            rules,
            severity: severity_from_pb("severity", severity).map_err(bad)?,
            plan,
        };
        if stored {
            let findings = self.node.stored_check(&who, &filter).await?;
            return Ok(pb::CheckResponse {
                findings: findings.iter().map(finding_to_pb).collect(),
                entries_checked: 0,
                micros: 0,
            });
        }
        let outcome = self.node.check(&who, &filter).await?;
        Ok(pb::CheckResponse {
            findings: outcome.findings.iter().map(finding_to_pb).collect(),
            entries_checked: outcome.entries as u64,
            micros: outcome.micros,
        })
    }

    /// The filter and paging of a consolidated request, as the caller may see it.
    fn consolidated_filter(
        &self,
        who: &crate::auth::Caller,
        request: pb::ConsolidatedRequest,
    ) -> Result<(ConsolidatedFilter, PageRequest), Status> {
        let pb::ConsolidatedRequest {
            under,
            term,
            position,
            status,
            name,
            level,
            gender,
            age_min,
            age_max,
            has_rule,
            page_size,
            page_token,
            sort,
            page,
        } = request;
        let under = self.node.scope(who, &under)?;
        let sort = match pb::ConsolidatedSort::try_from(sort) {
            Ok(pb::ConsolidatedSort::Name) => SortKey::Name,
            Ok(pb::ConsolidatedSort::Unit) => SortKey::Unit,
            Ok(pb::ConsolidatedSort::Position) => SortKey::Position,
            Ok(pb::ConsolidatedSort::Birth) => SortKey::Birth,
            Ok(pb::ConsolidatedSort::Votes) => SortKey::Votes,
            Err(_) => {
                return Err(bad(FieldError::new(
                    "sort",
                    format!("unknown order {sort}"),
                )))
            }
        };
        let at = if page_token.is_empty() && page > 0 {
            PageAt::Number(page as usize)
        } else {
            PageAt::Token(page_token)
        };
        let gender = match pb::Gender::try_from(gender) {
            Ok(pb::Gender::Male) => Some(crate::domain::Gender::Male),
            Ok(pb::Gender::Female) => Some(crate::domain::Gender::Female),
            _ => None,
        };
        let has_rule = opt(has_rule)
            .map(|r| {
                r.parse()
                    .map_err(|e: String| bad(FieldError::new("has_rule", e)))
            })
            .transpose()?;
        let filter = ConsolidatedFilter {
            under,
            term: opt(term),
            position: opt(position),
            status: status_from_pb("status", status).map_err(bad)?,
            name: opt(name),
            level: level_from_pb(level),
            gender,
            age_min: (age_min > 0).then_some(age_min),
            age_max: (age_max > 0).then_some(age_max),
            has_rule,
        };
        Ok((
            filter,
            PageRequest {
                sort,
                at,
                size: page_size as usize,
            },
        ))
    }

    /// The proto form of a plan as this node holds it: with the draft revision of the latest
    /// own version (read together with its content) and whether it is a withdrawn lower plan.
    async fn plan_out(&self, plan: crate::domain::Plan) -> Result<pb::Plan, Status> {
        let (plan, revision) = self.node.revised(plan).await?;
        let mut out = plan_to_pb(&plan);
        out.revision = revision;
        out.withdrawn = self.node.is_withdrawn(&plan);
        Ok(out)
    }

    fn who<T>(&self, req: &Request<T>) -> Result<crate::auth::Caller, Status> {
        super::caller(self.insecure, req)
    }
}

/// The `Planning` gRPC service: the clerks', approvers' and readers' calls, each handed to one [`Node`] method.
pub struct PlanningService {
    /// The node that does the work.
    pub node: Arc<Node>,
    /// Started with `--insecure`: no certificates, everything allowed.
    pub insecure: bool,
}

/// An entry as `who` may see it: the whole national ID only for the roles that work with lists.
fn consolidated_to_pb(
    who: &crate::auth::Caller,
    e: crate::node::ConsolidatedEntry,
) -> pb::ConsolidatedEntry {
    pb::ConsolidatedEntry {
        national_id: who.shown_id(&e.national_id),
        unit: e.unit,
        unit_name: e.unit_name,
        term: e.term,
        version: e.version,
        status: status_to_pb(e.status).into(),
        position: e.position,
        position_title: e.position_title,
        full_name: e.full_name,
        birth_date: e.birth_date.to_string(),
        gender: gender_to_pb(e.gender).into(),
        national_id_masked: e.national_id_masked,
        yes_votes: e.votes.map_or(0, |v| v.0),
        vote_denominator: e.votes.map_or(0, |v| v.1),
        source: source_to_pb(e.source).into(),
    }
}

fn opt(s: String) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

#[tonic::async_trait]
impl pb::planning_server::Planning for PlanningService {
    async fn export_bundle(
        &self,
        req: Request<pb::ExportBundleRequest>,
    ) -> Result<Response<pb::BundleResponse>, Status> {
        let who = self.who(&req)?;
        super::bundles::export(&self.node, &who, req.into_inner())
            .await
            .map(Response::new)
    }

    async fn import_bundle(
        &self,
        req: Request<pb::ImportBundleRequest>,
    ) -> Result<Response<pb::ImportBundleResponse>, Status> {
        let who = self.who(&req)?;
        super::bundles::import(self.node.clone(), &who, req.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_units(
        &self,
        req: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let who = self.who(&req)?;
        let pb::ListUnitsRequest { under, level } = req.into_inner();
        let under = self.node.scope(&who, &under)?;
        let units = self
            .node
            .units_under(&who, &under, level_from_pb(level))?
            .into_iter()
            .map(pb::Unit::from)
            .collect();
        Ok(Response::new(pb::ListUnitsResponse { units }))
    }

    async fn list_positions(
        &self,
        req: Request<pb::ListPositionsRequest>,
    ) -> Result<Response<pb::ListPositionsResponse>, Status> {
        let who = self.who(&req)?;
        let level = level_from_pb(req.into_inner().level);
        let positions = self
            .node
            .catalog_for(&who)?
            .positions
            .values()
            .filter(|p| level.is_none_or(|l| l == p.level))
            .map(|p| pb::Position {
                code: p.code.clone(),
                level: level_to_pb(p.level).into(),
                kind: match p.kind {
                    crate::domain::PositionKind::Committee => "committee".into(),
                    crate::domain::PositionKind::Leadership => "leadership".into(),
                },
                grade: p.grade,
                title_vi: p.title_vi.clone(),
                title_en: p.title_en.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListPositionsResponse { positions }))
    }

    async fn list_terms(
        &self,
        req: Request<pb::ListTermsRequest>,
    ) -> Result<Response<pb::ListTermsResponse>, Status> {
        let who = self.who(&req)?;
        let terms = self
            .node
            .catalog_for(&who)?
            .terms
            .values()
            .map(|t| pb::Term {
                code: t.code.clone(),
                kind: t.kind.clone(),
                start: t.start.to_string(),
                end: t.end.to_string(),
                age_reference_date: t.age_reference_date.to_string(),
                pairs_with: t.pairs_with.clone().unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::ListTermsResponse { terms }))
    }

    async fn create_draft(
        &self,
        req: Request<pb::CreateDraftRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::CreateDraftRequest {
            unit,
            term,
            from_sources,
        } = req.into_inner();
        let plan = if from_sources {
            self.node
                .create_draft_from_sources(&who, unit.trim(), term.trim())
                .await?
                .plan
        } else {
            self.node
                .create_draft(&who, unit.trim(), term.trim())
                .await?
        };
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn put_entry(
        &self,
        req: Request<pb::PutEntryRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::PutEntryRequest { unit, term, entry } = req.into_inner();
        let entry = required_from_pb("entry", entry, entry_from_pb).map_err(bad)?;
        let plan = self
            .node
            .put_entry(&who, unit.trim(), term.trim(), entry)
            .await?;
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn import_entries(
        &self,
        req: Request<pb::ImportEntriesRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::ImportEntriesRequest {
            unit,
            term,
            entries,
            round,
            replace,
        } = req.into_inner();
        let entries = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| entry_from_pb(&format!("entries[{i}]"), e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let round = round
            .map(|r| round_from_pb("round", r))
            .transpose()
            .map_err(bad)?;
        let plan = self
            .node
            .import_entries(&who, unit.trim(), term.trim(), entries, round, replace)
            .await?;
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn remove_entry(
        &self,
        req: Request<pb::RemoveEntryRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::RemoveEntryRequest {
            unit,
            term,
            national_id,
            position,
        } = req.into_inner();
        let plan = self
            .node
            .remove_entry(
                &who,
                unit.trim(),
                term.trim(),
                national_id.trim(),
                position.trim(),
            )
            .await?;
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn record_ballot_round(
        &self,
        req: Request<pb::RecordBallotRoundRequest>,
    ) -> Result<Response<pb::RecordBallotRoundResponse>, Status> {
        let who = self.who(&req)?;
        let pb::RecordBallotRoundRequest { unit, term, round } = req.into_inner();
        let round = required_from_pb("round", round, round_from_pb).map_err(bad)?;
        let r = self
            .node
            .record_round(&who, unit.trim(), term.trim(), round)
            .await?;
        Ok(Response::new(pb::RecordBallotRoundResponse {
            round_number: r.round_number,
            denominator: r.denominator,
            results: r
                .results
                .into_iter()
                .map(|t| pb::TallyResult {
                    national_id: t.national_id,
                    position: t.position,
                    yes: t.yes,
                    passed: t.passed,
                })
                .collect(),
        }))
    }

    async fn adopt_plan(
        &self,
        req: Request<pb::AdoptPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::AdoptPlanRequest {
            unit,
            term,
            adopted_on,
            revision,
        } = req.into_inner();
        let reviewed = Reviewed {
            revision,
            hash: None,
        };
        let adopted_on = if adopted_on.trim().is_empty() {
            None
        } else {
            Some(parse_date("adopted_on", &adopted_on).map_err(bad)?)
        };
        let plan = self
            .node
            .adopt_reviewed(&who, unit.trim(), term.trim(), adopted_on, &reviewed)
            .await?;
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn submit_plan(
        &self,
        req: Request<pb::SubmitPlanRequest>,
    ) -> Result<Response<pb::SubmitPlanResponse>, Status> {
        let who = self.who(&req)?;
        let pb::SubmitPlanRequest {
            unit,
            term,
            revision,
            hash,
        } = req.into_inner();
        let hash = hash.trim();
        if !hash.is_empty() {
            crate::domain::validate::hash("hash", hash).map_err(bad)?;
        }
        let reviewed = Reviewed {
            revision,
            hash: (!hash.is_empty()).then(|| hash.to_string()),
        };
        let (header, approver) = self
            .node
            .submit_reviewed(&who, unit.trim(), term.trim(), &reviewed)
            .await?;
        Ok(Response::new(pb::SubmitPlanResponse {
            plan: Some(summary_to_pb(&header)),
            approver: approver.code,
        }))
    }

    async fn withdraw_submission(
        &self,
        req: Request<pb::WithdrawSubmissionRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::WithdrawSubmissionRequest { unit, term } = req.into_inner();
        let plan = self
            .node
            .withdraw_submission(&who, unit.trim(), term.trim())
            .await?;
        Ok(Response::new(self.plan_out(plan).await?))
    }

    async fn get_plan(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let who = self.who(&req)?;
        let pb::GetPlanRequest {
            unit,
            term,
            version,
        } = req.into_inner();
        let plan = self
            .node
            .get_plan(&who, unit.trim(), term.trim(), version)
            .await?;
        let approved_before = self
            .node
            .last_approved_before(&who, &plan.id)?
            .map_or(0, |p| p.id.version);
        let signature = self.node.approval_signature(&who, &plan.id)?;
        let mut out = self.plan_out(plan).await?;
        out.approved_before = approved_before;
        out.approval_signature = signature.as_ref().map(approval_signature_to_pb);
        Ok(Response::new(out))
    }

    async fn list_plans(
        &self,
        req: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let who = self.who(&req)?;
        let pb::ListPlansRequest {
            under,
            term,
            status,
            latest_only,
        } = req.into_inner();
        let under = self.node.scope(&who, &under)?;
        let filter = PlanFilter {
            under: under.trim().to_string(),
            term: opt(term),
            status: status_from_pb("status", status).map_err(bad)?,
            latest_only,
        };
        let plans = self
            .node
            .list_plans(&who, &filter)
            .await?
            .iter()
            .map(summary_to_pb)
            .collect();
        Ok(Response::new(pb::ListPlansResponse { plans }))
    }

    async fn decide_plan(
        &self,
        req: Request<pb::DecidePlanRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let who = self.who(&req)?;
        let pb::DecidePlanRequest {
            plan,
            hash,
            outcome,
            reasons,
            cite_findings,
            cms_signature,
        } = req.into_inner();
        let id: PlanId = plan_id_from_pb("plan", plan).map_err(bad)?;
        let outcome = outcome_from_pb("outcome", outcome).map_err(bad)?;
        let d = self
            .node
            .decide(
                &who,
                &id,
                hash.trim(),
                outcome,
                reasons,
                &cite_findings,
                Some(&cms_signature),
            )
            .await?;
        Ok(Response::new(decision_to_pb(&d)))
    }

    async fn sync_status(
        &self,
        req: Request<pb::SyncStatusRequest>,
    ) -> Result<Response<pb::SyncStatusResponse>, Status> {
        let who = self.who(&req)?;
        let s = self.node.sync_status(&who)?;
        let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339()).unwrap_or_default()
        };
        let link = |l: &crate::node::LinkStatus| pb::LinkStatus {
            unit: l.unit.clone(),
            last_receipt_at: ts(l.last_receipt_at),
            outbox_length: l.outbox_length,
            oldest_pending: l.oldest_pending.as_ref().map(|(id, _)| plan_id_to_pb(id)),
            oldest_pending_at: ts(l.oldest_pending.as_ref().map(|(_, at)| *at)),
            last_error: l.last_error.clone().unwrap_or_default(),
            lag_seconds: l.lag_seconds,
            last_contact_at: ts(l.last_contact_at),
            reference_version: l.reference_version.unwrap_or(0),
            stuck: l.stuck,
            last_reconciled_at: ts(l.reconciled.at),
            reconciled_pushed: l.reconciled.pushed,
            reconciled_decisions: l.reconciled.decisions,
            reconciled_conflicts: l.reconciled.conflicts,
            reconciled_unresolved: l.reconciled.unresolved,
        };
        Ok(Response::new(pb::SyncStatusResponse {
            unit: s.unit.clone(),
            reference_version: s.reference_version,
            parent: s.parent.as_ref().map(link),
            children: s.children.iter().map(link).collect(),
            conflicts: s
                .conflicts
                .iter()
                .map(|c| pb::Conflict {
                    plan: Some(plan_id_to_pb(&c.plan)),
                    held_hash: c.held_hash.clone(),
                    offered_hash: c.offered_hash.clone(),
                    from_unit: c.from.clone(),
                    to_unit: c.to.clone(),
                    at: c.at.to_rfc3339(),
                })
                .collect(),
            pushes_accepted: s.pushes_accepted,
            pushes_duplicate: s.pushes_duplicate,
            pushes_refused: s.pushes_refused,
        }))
    }

    async fn audit(
        &self,
        req: Request<pb::AuditRequest>,
    ) -> Result<Response<pb::AuditResponse>, Status> {
        let who = self.who(&req)?;
        let pb::AuditRequest {
            unit,
            action,
            actor,
            limit,
        } = req.into_inner();
        let AuditSelection {
            records,
            total,
            verdict,
            merged_chains,
        } = self.node.audit_selection(
            &who,
            &AuditFilter {
                unit: opt(unit),
                action: opt(action),
                actor: opt(actor),
                limit: limit as usize,
            },
        )?;
        let records = records
            .into_iter()
            .map(|r| pb::AuditRecord {
                seq: r.seq,
                at: r.event.at.to_rfc3339(),
                actor: r.event.actor,
                action: r.event.action,
                plan: r.event.plan.as_ref().map(plan_id_to_pb),
                plan_hash: r.event.plan_hash.unwrap_or_default(),
                detail: r.event.detail,
                prev: r.prev,
                digest: r.digest,
            })
            .collect();
        let (mut intact, broken_at, mut problem) = match verdict {
            Ok(()) => (true, 0, String::new()),
            Err(b) => (false, b.position, b.problem),
        };
        let mut chains = Vec::new();
        for (origin, n, broken) in merged_chains {
            match broken {
                None => chains.push(format!(
                    "chain of province {origin} (merged in): intact, {n} records"
                )),
                Some(b) => {
                    let said = format!(
                        "chain of province {origin} (merged in): broken at record {}: {}",
                        b.position, b.problem
                    );
                    if intact {
                        problem = said.clone();
                    }
                    intact = false;
                    chains.push(said);
                }
            }
        }
        Ok(Response::new(pb::AuditResponse {
            records,
            intact,
            broken_at,
            problem,
            total,
            chains,
        }))
    }

    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let answer = self.checked(req).await?;
        let len = prost::Message::encoded_len(&answer);
        if len > MAX_ANSWER {
            return Err(Status::resource_exhausted(format!(
                "the answer holds {} findings ({len} bytes), more than one message of {} \
                 bytes: narrow it (under, term, rules, severity) or ask CheckStream",
                answer.findings.len(),
                MAX_ANSWER
            )));
        }
        Ok(Response::new(answer))
    }

    async fn check_stream(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<Self::CheckStreamStream>, Status> {
        let pb::CheckResponse {
            findings,
            entries_checked,
            micros,
        } = self.checked(req).await?;
        // Parts of about CHECK_PART bytes; every part repeats the two figures.
        let mut parts = Vec::new();
        let mut part = Vec::new();
        let mut bytes = 0;
        for finding in findings {
            bytes += prost::Message::encoded_len(&finding);
            part.push(finding);
            if bytes >= CHECK_PART {
                parts.push(std::mem::take(&mut part));
                bytes = 0;
            }
        }
        if !part.is_empty() || parts.is_empty() {
            parts.push(part);
        }
        let stream = tokio_stream::iter(parts.into_iter().map(move |findings| {
            Ok(pb::CheckResponse {
                findings,
                entries_checked,
                micros,
            })
        }));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn accept_warning(
        &self,
        req: Request<pb::AcceptWarningRequest>,
    ) -> Result<Response<pb::Acceptance>, Status> {
        let who = self.who(&req)?;
        let pb::AcceptWarningRequest {
            plan,
            finding,
            justification,
            accepted_by,
        } = req.into_inner();
        let id = plan_id_from_pb("plan", plan).map_err(bad)?;
        let a = self
            .node
            .accept_warning(&who, &id, finding.trim(), &justification, &accepted_by)
            .await?;
        Ok(Response::new(acceptance_to_pb(&a)))
    }

    async fn completeness(
        &self,
        req: Request<pb::CompletenessRequest>,
    ) -> Result<Response<pb::CompletenessResponse>, Status> {
        let who = self.who(&req)?;
        let pb::CompletenessRequest { under, term } = req.into_inner();
        let under = self.node.scope(&who, &under)?;
        let c = self
            .node
            .completeness(&who, under.trim(), term.trim())
            .await?;
        Ok(Response::new(pb::CompletenessResponse {
            missing: c.missing,
            overdue: c.overdue.iter().map(finding_to_pb).collect(),
            units: c.units.iter().map(unit_progress_to_pb).collect(),
        }))
    }

    async fn consolidated(
        &self,
        req: Request<pb::ConsolidatedRequest>,
    ) -> Result<Response<pb::ConsolidatedResponse>, Status> {
        let who = self.who(&req)?;
        let (filter, paging) = self.consolidated_filter(&who, req.into_inner())?;
        let page = self.node.consolidated_page(&who, &filter, &paging).await?;
        Ok(Response::new(pb::ConsolidatedResponse {
            entries: page
                .entries
                .into_iter()
                .map(|e| consolidated_to_pb(&who, e))
                .collect(),
            next_page_token: page.next_page_token,
            total: page.total,
            page: u32::try_from(page.page).unwrap_or(u32::MAX),
            pages: u32::try_from(page.pages).unwrap_or(u32::MAX),
        }))
    }
    async fn consolidated_stream(
        &self,
        req: Request<pb::ConsolidatedRequest>,
    ) -> Result<Response<Self::ConsolidatedStreamStream>, Status> {
        let who = self.who(&req)?;
        let (filter, paging) = self.consolidated_filter(&who, req.into_inner())?;
        let sort = paging.sort;
        let token = match &paging.at {
            PageAt::Token(t) => t.clone(),
            // From a page number, the stream starts at that page's first entry, as an offset.
            PageAt::Number(_) => {
                let page = self.node.consolidated_page(&who, &filter, &paging).await?;
                page.first.map(|f| format!("@{f}")).unwrap_or_default()
            }
        };
        // Refuse a bad filter (an unknown position…) as a status, not mid-stream.
        if let Some(p) = &filter.position {
            if self.node.reference().catalog.position(p).is_none() {
                return Err(bad(FieldError::new(
                    "position",
                    format!(
                        "unknown position code {}",
                        crate::domain::validate::prefix(p)
                    ),
                )));
            }
        }
        // Pages are made one at a time from the view and wait in a small bounded channel, so a
        // client that never reads holds one page, never the whole list.
        let node = self.node.clone();
        let filter = Arc::new(filter);
        let who = Arc::new(who);
        let stream = super::paged::paged(token, move |cursor, size| {
            let (node, filter, who) = (node.clone(), filter.clone(), who.clone());
            async move {
                let paging = PageRequest {
                    sort,
                    at: PageAt::Token(cursor),
                    size,
                };
                let page = node.consolidated_page(&who, &filter, &paging).await?;
                let entries = page
                    .entries
                    .into_iter()
                    .map(|e| consolidated_to_pb(&who, e))
                    .collect();
                Ok((entries, page.next_page_token))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn record_export(
        &self,
        req: Request<pb::RecordExportRequest>,
    ) -> Result<Response<pb::RecordExportResponse>, Status> {
        let who = self.who(&req)?;
        let pb::RecordExportRequest {
            what,
            format,
            unit,
            term,
            version,
            rows,
        } = req.into_inner();
        let export = crate::node::Export {
            what: crate::node::ExportWhat::parse("what", what.trim())?,
            format: crate::node::ExportFormat::parse("format", format.trim())?,
            unit: unit.trim().to_string(),
            term: term.trim().to_string(),
            version,
            rows,
            face: "cli",
        };
        let mark = self.node.record_export(&who, &export).await?;
        Ok(Response::new(pb::RecordExportResponse {
            classification: mark.map(|m| m.to_string()).unwrap_or_default(),
        }))
    }

    async fn reorganize(
        &self,
        req: Request<pb::ReorganizeRequest>,
    ) -> Result<Response<pb::ReorganizeResponse>, Status> {
        let who = self.who(&req)?;
        let pb::ReorganizeRequest { to, on, dry_run } = req.into_inner();
        let on = crate::domain::parse_date("on", on.trim()).map_err(bad)?;
        let r = self.node.reorganize(&who, &to, on, dry_run).await?;
        Ok(Response::new(reorganisation_to_pb(&r)))
    }

    async fn issue_web_login(
        &self,
        req: Request<pb::WebLoginRequest>,
    ) -> Result<Response<pb::WebLoginResponse>, Status> {
        let who = self.who(&req)?;
        // The certificate's serial goes into the token: the web page refuses it once revoked.
        let serial = req
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .and_then(|leaf| crate::pki::serial_of_der(leaf.as_ref()).ok())
            .map(|s| crate::pki::serial_hex(&s))
            .unwrap_or_default();
        let pb::WebLoginRequest {} = req.into_inner();
        let (token, identity) = self.node.issue_web_login(&who, &serial).await?;
        Ok(Response::new(pb::WebLoginResponse {
            token,
            expires_at: identity.expires_at.to_rfc3339(),
        }))
    }

    async fn eligible(
        &self,
        req: Request<pb::EligibleRequest>,
    ) -> Result<Response<pb::EligibleResponse>, Status> {
        let who = self.who(&req)?;
        let pb::EligibleRequest {
            national_id,
            position,
            unit,
        } = req.into_inner();
        let answer = self
            .node
            .eligible(&who, national_id.trim(), position.trim(), unit.trim())
            .await?;
        Ok(Response::new(eligible_to_pb(&answer)))
    }

    async fn fulfil(
        &self,
        req: Request<pb::FulfilRequest>,
    ) -> Result<Response<pb::Fulfilment>, Status> {
        let who = self.who(&req)?;
        let r = req.into_inner();
        let request = crate::node::FulfilRequest {
            plan: plan_id_from_pb("plan", r.plan).map_err(bad)?,
            national_id: r.national_id.trim().to_string(),
            position: r.position.trim().to_string(),
            kind: fulfilment_kind_from_pb("kind", r.kind).map_err(bad)?,
            post: r.post,
            decision_number: r.decision_number,
            decided_on: r.decided_on,
        };
        let f = self.node.fulfil(&who, request).await?;
        Ok(Response::new(fulfilment_to_pb(&who, &f)))
    }

    async fn appraisal(
        &self,
        req: Request<pb::AppraisalRequest>,
    ) -> Result<Response<pb::AppraisalResponse>, Status> {
        let who = self.who(&req)?;
        let pb::AppraisalRequest { term } = req.into_inner();
        let term = opt(term);
        let appraisal = self.node.appraisal(&who, term.as_deref()).await?;
        Ok(Response::new(appraisal_to_pb(&appraisal)))
    }

    async fn approve_clean(
        &self,
        req: Request<pb::ApproveCleanRequest>,
    ) -> Result<Response<pb::ApproveCleanResponse>, Status> {
        let who = self.who(&req)?;
        let pb::ApproveCleanRequest { plans } = req.into_inner();
        let shown = shown_from_pb(plans).map_err(bad)?;
        let done = self.node.approve_clean(&who, &shown).await?;
        Ok(Response::new(approved_together_to_pb(&shown, &done)))
    }

    type CheckStreamStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::CheckResponse, Status>> + Send>,
    >;
    type ConsolidatedStreamStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::ConsolidatedEntry, Status>> + Send>,
    >;
}
