//! Client-side helpers shared by the CLI and the demo: connecting to a node, loading a unit's
//! list from the CSV form of `data/demo/`, and printing tables ([`table`]).

pub mod table;

use anyhow::{bail, Context};
use tonic::transport::Channel;

use crate::{
    config::Tls,
    grpc::pb::{self, planning_client::PlanningClient},
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
/// [`ConnectError::BadAddress`] if `addr` is not an address; [`ConnectError::Tls`] if the TLS
/// material is refused; [`ConnectError::Unreachable`] if the node cannot be reached.
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
