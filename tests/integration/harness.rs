//! Starts real nodes on 127.0.0.1:0 with their own stores, and builds requests.

use std::{path::Path, time::Duration};

use quyhoach::{
    auth::Role,
    client,
    config::{RawConfig, Tls},
    grpc::pb::{self, node_sync_client::NodeSyncClient, planning_client::PlanningClient},
    node::system_clock,
    pki::{self, Authority, Subject},
    server::{self, Running},
};
use tempfile::TempDir;
use tonic::transport::Channel;

pub const TERM: &str = "2025-2030";

/// The settings every in-process test node starts from: its store in `dir/unit`, a free port,
/// a short poll, plaintext and no rate limit to speak of. A test changes only what it is
/// about: `RawConfig { metrics: Some(addr), ..node_config(dir, "01", None, units) }`.
pub fn node_config(dir: &Path, unit: &str, parent: Option<String>, units: &str) -> RawConfig {
    RawConfig {
        unit: Some(unit.into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.join(unit)),
        parent,
        units: Some(units.into()),
        poll_ms: Some(30),
        // These tests are about planning and sync; the tls module tests certificates.
        insecure: Some(true),
        // Tests fire requests faster than any clerk; the limits module tests the limit.
        rate_limit: Some(100_000),
        ..RawConfig::default()
    }
}

/// Starts a node in this process with `config`, on the port it names.
pub async fn start_with(config: RawConfig) -> Running {
    let config = config.validate().expect("valid test config");
    server::spawn(config, system_clock())
        .await
        .expect("node starts")
}

/// Starts a node for `unit` with its store in `dir/unit`.
pub async fn start(dir: &Path, unit: &str, parent: Option<String>, units: &str) -> Running {
    start_with(node_config(dir, unit, parent, units)).await
}

/// The settings of a node serving mutual TLS: [`node_config`] with a node certificate of `unit`
/// from `ca`, written with its key to `dir/nodes` and the authority to `dir/ca.pem`.
pub fn tls_config(dir: &Path, ca: &Authority, unit: &str, parent: Option<String>) -> RawConfig {
    let node = ca.issue(&Subject::node(unit, &[], 1)).unwrap();
    pki::write(&dir.join("nodes"), unit, &node).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    RawConfig {
        insecure: None,
        cert: Some(dir.join("nodes").join(format!("{unit}.pem"))),
        key: Some(dir.join("nodes").join(format!("{unit}.key"))),
        ca: Some(dir.join("ca.pem")),
        ..node_config(dir, unit, parent, "builtin:2024")
    }
}

/// Starts a TLS node of `unit` (see [`tls_config`]).
pub async fn start_tls(dir: &Path, ca: &Authority, unit: &str, parent: Option<String>) -> Running {
    start_with(tls_config(dir, ca, unit, parent)).await
}

/// A province (40), a district (412) and two of its communes (16681, 16690), three-level.
pub struct Tree {
    /// Holds the stores until the tree is dropped.
    pub _dir: TempDir,
    pub province: Running,
    pub district: Running,
    pub commune: Running,
    pub sibling: Running,
}

impl Tree {
    pub async fn start() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let province = start(dir.path(), "40", None, "builtin:2024").await;
        let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
        let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
        let sibling = start(dir.path(), "16690", Some(district.url()), "builtin:2024").await;
        Tree {
            _dir: dir,
            province,
            district,
            commune,
            sibling,
        }
    }

    pub async fn stop(self) {
        for node in [self.commune, self.sibling, self.district, self.province] {
            node.stop().await.unwrap();
        }
    }
}

/// The same hierarchy as [`Tree`] over mutual TLS, each node with its own node certificate
/// from one authority, which also issues the callers' certificates.
pub struct TlsTree {
    /// Holds the stores and certificates until the tree is dropped.
    pub _dir: TempDir,
    pub ca: Authority,
    pub province: Running,
    pub district: Running,
    pub commune: Running,
    pub sibling: Running,
}

impl TlsTree {
    pub async fn start() -> TlsTree {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::create("test CA", 1).unwrap();
        let province = start_tls(dir.path(), &ca, "40", None).await;
        let district = start_tls(dir.path(), &ca, "412", Some(province.url())).await;
        let commune = start_tls(dir.path(), &ca, "16681", Some(district.url())).await;
        let sibling = start_tls(dir.path(), &ca, "16690", Some(district.url())).await;
        TlsTree {
            _dir: dir,
            ca,
            province,
            district,
            commune,
            sibling,
        }
    }

    /// A certificate of `unit` with `roles` (a node certificate for `[Role::Node]`).
    pub fn identity(&self, unit: &str, roles: &[Role]) -> Tls {
        let issued = if roles == [Role::Node] {
            self.ca.issue(&Subject::node(unit, &[], 1)).unwrap()
        } else {
            self.ca
                .issue(&Subject::new(unit, roles, "Nguyễn Văn Kiểm", 1))
                .unwrap()
        };
        Tls {
            ca_pem: self.ca.cert_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        }
    }

    /// A client of `node`'s Planning service, as a person of `unit` with `roles`.
    pub async fn as_(&self, node: &Running, unit: &str, roles: &[Role]) -> PlanningClient<Channel> {
        client::connect(&node.addr.to_string(), Some(&self.identity(unit, roles)))
            .await
            .unwrap()
    }

    /// A client of `node`'s NodeSync service, as the node of `unit`.
    pub async fn node_as(&self, node: &Running, unit: &str) -> NodeSyncClient<Channel> {
        let ch = client::channel(
            &node.addr.to_string(),
            Some(&self.identity(unit, &[Role::Node])),
        )
        .await
        .unwrap();
        NodeSyncClient::new(ch)
    }

    pub async fn stop(self) {
        for n in [self.commune, self.sibling, self.district, self.province] {
            n.stop().await.unwrap();
        }
    }
}

pub async fn client(node: &Running) -> PlanningClient<Channel> {
    PlanningClient::connect(node.url()).await.unwrap()
}

pub async fn sync_client(node: &Running) -> NodeSyncClient<Channel> {
    NodeSyncClient::connect(node.url()).await.unwrap()
}

/// An entry for a commune plan; `n` makes the national ID unique.
pub fn entry(n: u32, name: &str, position: &str, unit: &str) -> pb::Entry {
    pb::Entry {
        cadre: Some(pb::Cadre {
            national_id: format!("0400800{n:05}"),
            full_name: name.into(),
            birth_date: "1990-06-15".into(),
            gender: pb::Gender::Female.into(),
            ethnicity: "Kinh".into(),
            current_positions: vec!["C.CC".into()],
            current_unit: unit.into(),
            ..Default::default()
        }),
        position: position.into(),
        source: pb::EntrySource::Voted.into(),
        origin: None,
    }
}

/// An entry of the province's own plan: a deputy department director planned for director.
pub fn province_entry(n: u32, name: &str) -> pb::Entry {
    let mut e = entry(n, name, "P.GD.SO", "40");
    e.cadre.as_mut().unwrap().current_positions = vec!["P.PGD.SO".into()];
    e
}

/// An entry of a district's own plan: a department head planned as deputy chair of the
/// district's people's committee.
pub fn district_entry(n: u32, name: &str, unit: &str) -> pb::Entry {
    let mut e = entry(n, name, "D.PCT.UBND", unit);
    e.cadre.as_mut().unwrap().current_positions = vec!["D.TP".into()];
    e
}

/// Drafts `unit`'s plan with `entries` and adopts it today, with no ballot round (a
/// district's or the province's own list in these tests); answers the adopted plan.
pub async fn adopted_without_vote(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    entries: Vec<pb::Entry>,
) -> pb::Plan {
    draft_with(c, unit, entries).await;
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap()
    .into_inner()
}

/// Opens the draft of `unit` and puts `entries` into it.
pub async fn draft_with(c: &mut PlanningClient<Channel>, unit: &str, entries: Vec<pb::Entry>) {
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    for e in entries {
        c.put_entry(pb::PutEntryRequest {
            unit: unit.into(),
            term: TERM.into(),
            entry: Some(e),
        })
        .await
        .unwrap();
    }
}

/// A valid round of 30 convened with 28 present, giving `yes` to each (entry n, position).
pub fn round(tallies: &[(u32, &str, u32)]) -> pb::BallotRound {
    pb::BallotRound {
        body: pb::Body::ExecutiveCommittee.into(),
        date: "2025-03-14".into(),
        convened: 30,
        present: 28,
        ballots_issued: 28,
        valid_ballots: 27,
        tallies: tallies
            .iter()
            .map(|&(n, position, yes)| pb::Tally {
                national_id: format!("0400800{n:05}"),
                position: position.into(),
                yes,
            })
            .collect(),
    }
}

/// Drafts, fills, votes on and adopts a plan of `unit` with the given entries (all voted 20/30).
pub async fn adopted_plan(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    entries: &[(u32, &str, &str)],
) -> pb::Plan {
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    for &(n, name, position) in entries {
        c.put_entry(pb::PutEntryRequest {
            unit: unit.into(),
            term: TERM.into(),
            entry: Some(entry(n, name, position, unit)),
        })
        .await
        .unwrap();
    }
    let tallies: Vec<(u32, &str, u32)> = entries.iter().map(|&(n, _, p)| (n, p, 20)).collect();
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: unit.into(),
        term: TERM.into(),
        round: Some(round(&tallies)),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        adopted_on: "2025-03-20".into(),
        revision: None,
    })
    .await
    .unwrap()
    .into_inner()
}

/// The summary of `unit`'s latest plan held by the node behind `c`, once it has `status`.
/// Asynchronous flow between nodes is awaited by polling, bounded at 20 seconds.
pub async fn wait_status(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    status: pb::PlanStatus,
) -> pb::PlanSummary {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let plans = c
            .list_plans(pb::ListPlansRequest {
                under: unit.into(),
                term: TERM.into(),
                latest_only: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .plans;
        let found = plans
            .into_iter()
            .find(|p| p.id.as_ref().unwrap().unit == unit);
        if let Some(p) = &found {
            if p.status == status as i32 {
                return p.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unit} never became {status:?}; last seen {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn id(unit: &str, version: u32) -> pb::PlanId {
    pb::PlanId {
        unit: unit.into(),
        term: TERM.into(),
        version,
    }
}

/// Everything a node holds, for "nothing changed" comparisons: every plan, whole.
pub async fn everything(c: &mut PlanningClient<Channel>) -> Vec<pb::Plan> {
    let plans = c
        .list_plans(pb::ListPlansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plans;
    let mut out = Vec::new();
    for s in plans {
        let id = s.id.unwrap();
        out.push(
            c.get_plan(pb::GetPlanRequest {
                unit: id.unit,
                term: id.term,
                version: id.version,
            })
            .await
            .unwrap()
            .into_inner(),
        );
    }
    out
}

/// Submits the adopted plan of `unit` through `c` and waits until the approving node behind
/// `approver` holds it as received. Returns what the submit answered and the summary the
/// approving node holds.
pub async fn submit_until_received(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    approver: &mut PlanningClient<Channel>,
) -> (pb::SubmitPlanResponse, pb::PlanSummary) {
    let submitted = c
        .submit_plan(pb::SubmitPlanRequest {
            unit: unit.into(),
            term: TERM.into(),
            revision: None,
            hash: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let received = wait_status(approver, unit, pb::PlanStatus::Received).await;
    (submitted, received)
}

/// An error and its causes on one line, as the binary prints them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// The audit records of `action` that the node behind `c` holds, oldest first.
pub async fn audit_records(c: &mut PlanningClient<Channel>, action: &str) -> Vec<pb::AuditRecord> {
    c.audit(pb::AuditRequest {
        action: action.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .records
}
