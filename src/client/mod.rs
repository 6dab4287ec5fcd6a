//! Client-side helpers shared by the CLI and the demo: connecting to a node, loading a unit's
//! list (in the import's format, as the files of `data/demo/`) with its ballot rounds into its
//! draft, printing tables ([`table`]), and asking a node for a web login ([`web_login`]).

pub mod table;
pub mod web_login;

use tonic::transport::Channel;

use crate::{
    config::Tls,
    grpc::{
        convert,
        pb::{self, planning_client::PlanningClient},
    },
    tabular,
};

/// Why a connection to a node could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not host:port (or a URL).
    #[error("{addr:?} is not a node address like 127.0.0.1:7400")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// Why it does not parse.
        #[source]
        source: tonic::transport::Error,
    },
    /// The TLS material cannot be used.
    #[error("cannot use the TLS certificate and key")]
    Tls(#[source] tonic::transport::Error),
    /// One's own certificate is expired, not valid yet or unreadable: said plainly instead of
    /// the handshake's "transport error".
    #[error("your certificate: {0}")]
    Certificate(String),
    /// Nothing answers at the address, or the TLS handshake failed.
    #[error("cannot reach node {url}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why it could not be reached.
        #[source]
        source: tonic::transport::Error,
    },
}

/// A channel to a node: https with a client certificate when `tls` is given, else plaintext.
///
/// # Errors
///
/// [`ConnectError::BadAddress`] if `addr` is not an address; [`ConnectError::Certificate`] if
/// one's own certificate is out of date; [`ConnectError::Tls`] if the TLS material is refused; [`ConnectError::Unreachable`] if the node cannot be reached.
pub async fn channel(addr: &str, tls: Option<&Tls>) -> Result<Channel, ConnectError> {
    let host = addr.split("://").last().unwrap_or(addr);
    let url = format!("{}://{host}", if tls.is_some() { "https" } else { "http" });
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone()).map_err(|source| {
        ConnectError::BadAddress {
            addr: addr.to_string(),
            source,
        }
    })?;
    if let Some(tls) = tls {
        crate::pki::check_validity(&tls.cert_pem, time::OffsetDateTime::now_utc())
            .map_err(ConnectError::Certificate)?;
        endpoint = endpoint
            .tls_config(tls.client_config())
            .map_err(ConnectError::Tls)?;
    }
    endpoint
        .connect()
        .await
        .map_err(|source| ConnectError::Unreachable { url, source })
}

/// Connects to a node's client-facing API over TLS with the given identity.
///
/// # Errors
///
/// As [`channel`].
pub async fn connect_to(addr: String, tls: Tls) -> Result<PlanningClient<Channel>, ConnectError> {
    connect(&addr, Some(&tls)).await
}

/// Connects to a node's client-facing API.
///
/// # Errors
///
/// As [`channel`].
pub async fn connect(
    addr: &str,
    tls: Option<&Tls>,
) -> Result<PlanningClient<Channel>, ConnectError> {
    Ok(PlanningClient::new(channel(addr, tls).await?)
        .max_decoding_message_size(crate::grpc::limits::MAX_ANSWER))
}

/// Why a unit's list could not be loaded into its draft.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The list cannot be read at all.
    #[error("cannot read the list")]
    List(#[from] tabular::ImportError),
    /// Rows of the list are wrong; nothing was written.
    #[error("{} problem(s) in the list, the first: {}", .0.len(), .0[0])]
    Rows(Vec<tabular::RowProblem>),
    /// A line of the rounds file is wrong.
    #[error("rounds line {line}: {problem}")]
    Rounds {
        /// The line (1-based; the header is line 1).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The node refused a request.
    #[error("{what} of {unit}")]
    Refused {
        /// What was being written: the draft, an entry for a position, a ballot round.
        what: String,
        /// The unit whose plan it is.
        unit: String,
        /// The node's answer.
        #[source]
        status: tonic::Status,
    },
}

/// Reads one unit's list in the import's format (the columns `import` reads, from `.csv` or
/// `.xlsx`) and checks every row as `import` does.
///
/// # Errors
///
/// [`LoadError::List`] if the list cannot be read; [`LoadError::Rows`] with every row problem
/// if any row is wrong.
pub fn read_list<'a>(
    input: impl Into<tabular::Input<'a>>,
    format: tabular::Format,
    ctx: &tabular::ImportContext<'_>,
) -> Result<Vec<tabular::ImportedEntry>, LoadError> {
    let sheet = tabular::read_rows(input, format)?;
    let report = tabular::import(&sheet, ctx);
    if !report.is_clean() {
        return Err(LoadError::Rows(report.problems));
    }
    Ok(report.entries)
}

/// One row of a rounds file.
pub struct RoundRow {
    /// The unit whose round it is.
    pub unit: String,
    /// The plan's term.
    pub term: String,
    /// The round, without tallies (they come from the list's yes votes).
    pub round: pb::BallotRound,
}

/// Parses a rounds file (`unit,term,body,date,convened,present,ballots_issued,valid_ballots`).
///
/// # Errors
///
/// [`LoadError::Rounds`] for the first line that is not CSV, names an unknown body or has a
/// count that is not a number.
pub fn parse_rounds(text: &str) -> Result<Vec<RoundRow>, LoadError> {
    let mut out = Vec::new();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let bad = |problem: String| LoadError::Rounds { line, problem };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let f = |n: usize| rec.get(n).unwrap_or("").trim().to_string();
        let num = |n: usize| -> Result<u32, LoadError> {
            f(n).parse()
                .map_err(|_| bad(format!("column {} is not a count", n + 1)))
        };
        let body = match f(2).as_str() {
            "key_cadres_conference" => pb::Body::KeyCadresConference,
            "executive_committee" => pb::Body::ExecutiveCommittee,
            "standing_committee" => pb::Body::StandingCommittee,
            other => return Err(bad(format!("body {other:?}"))),
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
/// of `rounds` with the entries' yes votes as tallies. Returns how many entries were put.
///
/// # Errors
///
/// [`LoadError::Refused`] naming the write the node refused (the draft, an entry, a round).
pub async fn load_unit(
    client: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
    entries: &[tabular::ImportedEntry],
    rounds: &[RoundRow],
) -> Result<usize, LoadError> {
    let refused = |what: String| {
        let unit = unit.to_string();
        move |status| LoadError::Refused { what, unit, status }
    };
    client
        .create_draft(pb::CreateDraftRequest {
            unit: unit.into(),
            term: term.into(),
            from_sources: false,
        })
        .await
        .map_err(refused("the draft".into()))?;
    for row in entries {
        client
            .put_entry(pb::PutEntryRequest {
                unit: unit.into(),
                term: term.into(),
                entry: Some(convert::entry_to_pb(&row.entry)),
            })
            .await
            .map_err(refused(format!("the entry for {}", row.entry.position)))?;
    }
    for r in rounds.iter().filter(|r| r.unit == unit && r.term == term) {
        let mut round = r.round.clone();
        round.tallies = entries
            .iter()
            .filter_map(|e| {
                Some(pb::Tally {
                    national_id: e.entry.cadre.national_id.to_string(),
                    position: e.entry.position.to_string(),
                    yes: e.yes_votes?,
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
            .map_err(refused("the ballot round".into()))?;
    }
    Ok(entries.len())
}

/// Version `version` of (unit, term) as the node holds it; 0 for the latest, with its revision.
///
/// # Errors
///
/// The node's status: `NOT_FOUND` when it holds no such version.
pub async fn get_plan(
    client: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
    version: u32,
) -> Result<pb::Plan, tonic::Status> {
    let request = pb::GetPlanRequest {
        unit: unit.into(),
        term: term.into(),
        version,
    };
    Ok(client.get_plan(request).await?.into_inner())
}

/// The plans the node holds in `under`'s subtree for `term` (each everything when empty), every
/// version of each.
///
/// # Errors
///
/// The node's status when it refuses the listing.
pub async fn list_plans(
    client: &mut PlanningClient<Channel>,
    under: &str,
    term: &str,
) -> Result<Vec<pb::PlanSummary>, tonic::Status> {
    let request = pb::ListPlansRequest {
        under: under.into(),
        term: term.into(),
        ..Default::default()
    };
    Ok(client.list_plans(request).await?.into_inner().plans)
}

/// Every finding of the check `request` asks for, read from `CheckStream` part by part (a
/// province's full check passes one message), with the entries checked and the time taken.
///
/// # Errors
///
/// The node's status when the check is refused or a part cannot be read.
pub async fn check_all(
    client: &mut PlanningClient<Channel>,
    request: pb::CheckRequest,
) -> Result<pb::CheckResponse, tonic::Status> {
    let mut parts = client.check_stream(request).await?.into_inner();
    let mut all = pb::CheckResponse::default();
    while let Some(part) = parts.message().await? {
        all.findings.extend(part.findings);
        all.entries_checked = part.entries_checked;
        all.micros = part.micros;
    }
    Ok(all)
}

/// Entries asked for per page when the CLI lists or exports the consolidated list: well below
/// the 4 MiB a gRPC response may carry by default, whatever the province's size.
pub const CONSOLIDATED_PAGE: u32 = 5_000;

/// Every entry of the consolidated list that `request` filters, fetched page by page with the
/// node's cursor.
///
/// # Errors
///
/// The node's status when a page cannot be fetched.
pub async fn consolidated_all(
    client: &mut PlanningClient<Channel>,
    request: pb::ConsolidatedRequest,
) -> Result<Vec<pb::ConsolidatedEntry>, tonic::Status> {
    consolidated_all_with(client, request, |_, _| {}).await
}

/// As [`consolidated_all`], calling `fetched(so_far, total)` after each page: the entries
/// fetched so far and the node's count of all that match, for a progress bar.
///
/// # Errors
///
/// The node's status when a page cannot be fetched.
pub async fn consolidated_all_with(
    client: &mut PlanningClient<Channel>,
    mut request: pb::ConsolidatedRequest,
    mut fetched: impl FnMut(u64, u64),
) -> Result<Vec<pb::ConsolidatedEntry>, tonic::Status> {
    if request.page_size == 0 {
        request.page_size = CONSOLIDATED_PAGE;
    }
    let mut out = Vec::new();
    loop {
        let page = client.consolidated(request.clone()).await?.into_inner();
        out.extend(page.entries);
        fetched(out.len() as u64, page.total.max(out.len() as u64));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        request.page_token = page.next_page_token;
    }
}
