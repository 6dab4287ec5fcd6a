//! Client-side helpers shared by the CLI and the demo: connecting, loading a unit's list from
//! the CSV form of `data/demo/`, and printing tables.

use anyhow::{bail, Context};
use tonic::transport::Channel;

use crate::grpc::pb::{self, planning_client::PlanningClient};

/// A client's TLS material: the authority to trust and the client's own certificate.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl ClientTls {
    /// Reads the three PEM files.
    pub fn load(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        };
        Ok(ClientTls {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }

    /// The tonic client configuration.
    pub fn config(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// A channel to a node: https with a client certificate when `tls` is given, else plaintext.
pub async fn channel(addr: &str, tls: Option<&ClientTls>) -> anyhow::Result<Channel> {
    let host = addr.split("://").last().unwrap_or(addr);
    let url = format!("{}://{host}", if tls.is_some() { "https" } else { "http" });
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.config())?;
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach node {url}"))
}

/// Connects to a node's client-facing API over TLS with the given identity.
pub async fn connect_to(addr: String, tls: ClientTls) -> anyhow::Result<PlanningClient<Channel>> {
    connect(&addr, Some(&tls)).await
}

/// Connects to a node's client-facing API.
pub async fn connect(
    addr: &str,
    tls: Option<&ClientTls>,
) -> anyhow::Result<PlanningClient<Channel>> {
    Ok(PlanningClient::new(channel(addr, tls).await?))
}

/// One row of an entries file, as a proto entry with its yes votes.
pub struct EntryRow {
    pub unit: String,
    pub term: String,
    pub entry: pb::Entry,
    pub yes: Option<u32>,
}

/// One row of a rounds file.
pub struct RoundRow {
    pub unit: String,
    pub term: String,
    pub round: pb::BallotRound,
}

/// Parses an entries file (`unit,term,position,national_id,full_name,birth_date,gender,
/// ethnicity,current_positions,current_unit,source,yes_votes`).
pub fn parse_entries(text: &str) -> anyhow::Result<Vec<EntryRow>> {
    let mut out = Vec::new();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("entries line {line}"))?;
        let f = |n: usize| rec.get(n).unwrap_or("").trim().to_string();
        let gender = match f(6).as_str() {
            "male" => pb::Gender::Male,
            "female" => pb::Gender::Female,
            other => bail!("entries line {line}: gender {other:?} is not male or female"),
        };
        let source = match f(10).as_str() {
            "" | "voted" => pb::EntrySource::Voted,
            "added_by_authority" => pb::EntrySource::AddedByAuthority,
            other => bail!("entries line {line}: source {other:?}"),
        };
        let yes = match f(11).as_str() {
            "" => None,
            n => Some(
                n.parse()
                    .with_context(|| format!("entries line {line}: yes_votes {n:?}"))?,
            ),
        };
        out.push(EntryRow {
            unit: f(0),
            term: f(1),
            entry: pb::Entry {
                cadre: Some(pb::Cadre {
                    national_id: f(3),
                    full_name: f(4),
                    birth_date: f(5),
                    gender: gender.into(),
                    ethnicity: f(7),
                    current_positions: f(8)
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    current_unit: f(9),
                    ..Default::default()
                }),
                position: f(2),
                source: source.into(),
            },
            yes,
        });
    }
    Ok(out)
}

/// Parses a rounds file (`unit,term,body,date,convened,present,ballots_issued,valid_ballots`).
pub fn parse_rounds(text: &str) -> anyhow::Result<Vec<RoundRow>> {
    let mut out = Vec::new();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("rounds line {line}"))?;
        let f = |n: usize| rec.get(n).unwrap_or("").trim().to_string();
        let num = |n: usize| -> anyhow::Result<u32> {
            f(n).parse()
                .with_context(|| format!("rounds line {line}: column {} is not a count", n + 1))
        };
        let body = match f(2).as_str() {
            "key_cadres_conference" => pb::Body::KeyCadresConference,
            "executive_committee" => pb::Body::ExecutiveCommittee,
            "standing_committee" => pb::Body::StandingCommittee,
            other => bail!("rounds line {line}: body {other:?}"),
        };
        out.push(RoundRow {
            unit: f(0),
            term: f(1),
            round: pb::BallotRound {
                body: body.into(),
                date: f(3),
                convened: num(4)?,
                present: num(5)?,
                ballots_issued: num(6)?,
                valid_ballots: num(7)?,
                tallies: Vec::new(),
            },
        });
    }
    Ok(out)
}

/// Opens a draft of (unit, term) on `client`, puts the unit's entries and records its rounds
/// with the entries' yes votes as tallies. Returns how many entries were put.
pub async fn load_unit(
    client: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
    entries: &[EntryRow],
    rounds: &[RoundRow],
) -> anyhow::Result<usize> {
    client
        .create_draft(pb::CreateDraftRequest {
            unit: unit.into(),
            term: term.into(),
        })
        .await?;
    let mine: Vec<&EntryRow> = entries
        .iter()
        .filter(|e| e.unit == unit && e.term == term)
        .collect();
    for row in &mine {
        client
            .put_entry(pb::PutEntryRequest {
                unit: unit.into(),
                term: term.into(),
                entry: Some(row.entry.clone()),
            })
            .await
            .with_context(|| format!("entry for {} in {unit}", row.entry.position))?;
    }
    for r in rounds.iter().filter(|r| r.unit == unit && r.term == term) {
        let mut round = r.round.clone();
        round.tallies = mine
            .iter()
            .filter_map(|e| {
                let cadre = e.entry.cadre.as_ref()?;
                Some(pb::Tally {
                    national_id: cadre.national_id.clone(),
                    position: e.entry.position.clone(),
                    yes: e.yes?,
                })
            })
            .collect();
        client
            .record_ballot_round(pb::RecordBallotRoundRequest {
                unit: unit.into(),
                term: term.into(),
                round: Some(round),
            })
            .await
            .with_context(|| format!("ballot round of {unit}"))?;
    }
    Ok(mine.len())
}

/// Human name of a plan status.
pub fn status_name(status: i32) -> &'static str {
    match pb::PlanStatus::try_from(status).unwrap_or(pb::PlanStatus::Unspecified) {
        pb::PlanStatus::Unspecified => "?",
        pb::PlanStatus::Draft => "draft",
        pb::PlanStatus::Adopted => "adopted",
        pb::PlanStatus::Submitted => "submitted",
        pb::PlanStatus::Received => "received",
        pb::PlanStatus::Approved => "approved",
        pb::PlanStatus::Returned => "returned",
    }
}

/// Prints where each unit's plan stands, one unit a line.
pub fn print_progress(units: &[pb::UnitProgress]) {
    for u in units {
        let state = match pb::Progress::try_from(u.progress).unwrap_or_default() {
            pb::Progress::Unspecified => "?".to_string(),
            pb::Progress::NotStarted => "chưa bắt đầu (not started)".to_string(),
            pb::Progress::Draft => format!("dự thảo v{} (draft)", u.version),
            pb::Progress::Adopted => format!("đã thông qua v{} (adopted)", u.version),
            pb::Progress::Submitted => format!(
                "đã trình v{}, chờ {} (submitted, pending at {})",
                u.version, u.pending_at, u.pending_at
            ),
            pb::Progress::Approved => format!("đã phê duyệt v{} (approved)", u.version),
            pb::Progress::Returned => format!("bị trả lại v{} (returned)", u.version),
            pb::Progress::Overdue => format!(
                "quá hạn thẩm định v{} tại {} (overdue at {})",
                u.version, u.pending_at, u.pending_at
            ),
        };
        println!("{:<8} {state}", u.unit);
    }
}

/// Entries asked for per page when the CLI lists or exports the consolidated list: well below
/// the 4 MiB a gRPC response may carry by default, whatever the province's size.
pub const CONSOLIDATED_PAGE: u32 = 5_000;

/// Every entry of the consolidated list that `request` filters, fetched page by page with the
/// node's cursor.
///
/// # Errors
///
/// When a page cannot be fetched: the node's status, with its message.
pub async fn consolidated_all(
    client: &mut PlanningClient<Channel>,
    mut request: pb::ConsolidatedRequest,
) -> anyhow::Result<Vec<pb::ConsolidatedEntry>> {
    if request.page_size == 0 {
        request.page_size = CONSOLIDATED_PAGE;
    }
    let mut out = Vec::new();
    loop {
        let page = client
            .consolidated(request.clone())
            .await
            .map_err(|s| anyhow::anyhow!("consolidated: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        out.extend(page.entries);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        request.page_token = page.next_page_token;
    }
}

/// Prints the consolidated list as a table, numbered (STT).
pub fn print_consolidated(entries: &[pb::ConsolidatedEntry]) {
    let h = [
        "STT",
        "Họ và tên",
        "Ngày sinh",
        "Đơn vị",
        "Tên đơn vị",
        "Chức danh",
        "Phiếu",
        "Trạng thái",
    ];
    println!(
        "{:>3}  {:<26} {:<10} {:<6} {:<24} {:<12} {:>7}  {}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    );
    for (i, e) in entries.iter().enumerate() {
        let votes = if e.vote_denominator == 0 {
            "—".to_string()
        } else {
            format!("{}/{}", e.yes_votes, e.vote_denominator)
        };
        println!(
            "{:>3}  {:<26} {:<10} {:<6} {:<24} {:<12} {:>7}  {} v{}",
            i + 1,
            e.full_name,
            e.birth_date,
            e.unit,
            truncate(&e.unit_name, 24),
            e.position,
            votes,
            status_name(e.status),
            e.version
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Prints a node's sync status: its links, conflicts and counters.
pub fn print_status(s: &pb::SyncStatusResponse) {
    println!("node {} (reference data v{})", s.unit, s.reference_version);
    let show = |role: &str, l: &pb::LinkStatus| {
        let or_dash = |t: &str| {
            if t.is_empty() {
                "-".to_string()
            } else {
                t.to_string()
            }
        };
        println!(
            "  {role:<6} {:<6} {:<5} last receipt {:<32} outbox {:>3}  lag {:>4} s  last contact {:<32}{}",
            l.unit,
            if l.stuck { "STUCK" } else { "ok" },
            or_dash(&l.last_receipt_at),
            l.outbox_length,
            l.lag_seconds,
            or_dash(&l.last_contact_at),
            if l.last_error.is_empty() { String::new() } else { format!("  last error: {}", l.last_error) }
        );
    };
    if let Some(p) = &s.parent {
        show("parent", p);
    }
    for c in &s.children {
        show("child", c);
    }
    for c in &s.conflicts {
        let id = c.plan.clone().unwrap_or_default();
        println!(
            "  CONFLICT {}/{} v{}: {} holds {}, {} offered {} ({})",
            id.unit, id.term, id.version, c.to_unit, c.held_hash, c.from_unit, c.offered_hash, c.at
        );
    }
    println!(
        "  pushes accepted {}, duplicate {}, refused {}",
        s.pushes_accepted, s.pushes_duplicate, s.pushes_refused
    );
}

/// Prints findings as a table: rule, severity, ID, units, person, message.
pub fn print_findings(findings: &[pb::Finding]) {
    for f in findings {
        let severity = if f.severity == pb::Severity::Error as i32 {
            "lỗi"
        } else {
            "cảnh báo"
        };
        let person = if f.person_name.is_empty() {
            String::new()
        } else {
            format!("{} ({})", f.person_name, f.person_id_masked)
        };
        println!(
            "{:<4} {:<9} {}  [{}]  {}",
            f.rule,
            severity,
            f.id,
            f.units.join(","),
            person
        );
        println!("     {}", f.message_vi);
        if let Some(a) = &f.acceptance {
            println!(
                "     chấp nhận bởi {} lúc {}: {}",
                a.by, a.at, a.justification
            );
        }
    }
}

/// Findings as a JSON array.
pub fn findings_json(findings: &[pb::Finding]) -> String {
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "id": f.id,
                "rule": f.rule,
                "severity": if f.severity == pb::Severity::Error as i32 { "error" } else { "warning" },
                "units": f.units,
                "person": f.person_name,
                "national_id": f.person_id_masked,
                "positions": f.positions,
                "terms": f.terms,
                "message_vi": f.message_vi,
                "message_en": f.message_en,
                "plans": f.plans.iter().map(|p| format!("{}/{}/v{}", p.unit, p.term, p.version)).collect::<Vec<_>>(),
                "accepted": f.acceptance.as_ref().map(|a| serde_json::json!({"by": a.by, "at": a.at, "justification": a.justification})),
            })
        })
        .collect();
    serde_json::to_string_pretty(&list).expect("JSON values serialize")
}
