//! A deployment's own later reorganisation as data files (issue 22): a province of the
//! two-level structure runs with an added 2027 reorganisation merging two of its communes
//! (16690 Phường Trường Vinh and 16702 Phường Vinh Phú into a new 99901 Phường Vinh Mới).
//! `reorganize --to 2027` lists and applies it; afterwards each old commune's plan is read
//! under its name of its time, the new commune's officers read both and write neither, and no
//! one else's scope widens. A bad reorganisation file stops `serve` before it starts, naming
//! the file, the line and the problem.

use std::path::{Path, PathBuf};

use quyhoach::{
    auth::Role,
    client,
    config::{RawConfig, Tls},
    grpc::pb::{self, planning_client::PlanningClient},
    pki::{Authority, Subject},
};
use tonic::transport::Channel;

use crate::{harness::*, procs::cli};

const TRUONG_VINH: &str = "Phường Trường Vinh (2025; now part of Phường Vinh Mới)";
const VINH_PHU: &str = "Phường Vinh Phú (2025; now part of Phường Vinh Mới)";

/// Writes the 2027 structure (the 2025 one without 16690 and 16702, with 99901), its mapping
/// (`mapping`, CSV) and the reorganisation's TOML file into `dir`; answers the TOML file.
fn write_2027(dir: &Path, mapping: &str) -> PathBuf {
    let units: String = quyhoach::config::UNITS_2025
        .lines()
        .filter(|l| !l.starts_with("16690,") && !l.starts_with("16702,"))
        .chain(["99901,commune,Phường Vinh Mới,40"])
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("units-2027.csv"), units).unwrap();
    std::fs::write(dir.join("units-2025-to-2027.csv"), mapping).unwrap();
    let file = dir.join("reorganisation-2027.toml");
    std::fs::write(
        &file,
        "label = \"2027\"\non = \"2027-01-01\"\nunits = \"units-2027.csv\"\n\
         mapping = \"units-2025-to-2027.csv\"\n",
    )
    .unwrap();
    file
}

/// A node of `unit` in the two-level structure that knows the 2027 reorganisation.
fn config(dir: &Path, unit: &str, parent: Option<String>, file: &Path) -> RawConfig {
    RawConfig {
        reorganisation: Some(vec![file.to_path_buf()]),
        ..node_config(dir, unit, parent, "builtin:2025")
    }
}

fn approve(s: &pb::PlanSummary) -> pb::DecidePlanRequest {
    pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: s.id.clone(),
        hash: s.hash.clone(),
        outcome: pb::Outcome::Approve.into(),
        reasons: vec![],
        cms_signature: Vec::new(),
    }
}

/// `unit`'s list adopted on 20 March 2026 (in the 2025 structure), submitted to the province
/// and decided there.
async fn approved_2026(
    c: &mut PlanningClient<Channel>,
    p: &mut PlanningClient<Channel>,
    unit: &str,
    n: u32,
) {
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    c.put_entry(pb::PutEntryRequest {
        unit: unit.into(),
        term: TERM.into(),
        entry: Some(entry(n, "Nguyễn Thị Hoa", "C.BT", unit)),
    })
    .await
    .unwrap();
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: unit.into(),
        term: TERM.into(),
        round: Some(round(&[(n, "C.BT", 20)])),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        adopted_on: "2026-03-20".into(),
        revision: None,
    })
    .await
    .unwrap();
    let (_, received) = submit_until_received(c, unit, p).await;
    // Returned with a reason: a decided plan either way, without accepting warnings first.
    p.decide_plan(pb::DecidePlanRequest {
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Bổ sung nhân sự dự nguồn".into()],
        ..approve(&received)
    })
    .await
    .unwrap();
    wait_status(p, unit, pb::PlanStatus::Returned).await;
}

async fn as_person(
    node: &quyhoach::server::Running,
    ca: &Authority,
    unit: &str,
    roles: &[Role],
) -> PlanningClient<Channel> {
    let issued = ca
        .issue(&Subject::new(unit, roles, "Nguyễn Văn Kiểm", 1))
        .unwrap();
    let tls = Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    };
    client::connect(&node.addr.to_string(), Some(&tls))
        .await
        .unwrap()
}

async fn get(c: &mut PlanningClient<Channel>, unit: &str) -> Result<pb::Plan, tonic::Status> {
    c.get_plan(pb::GetPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_later_reorganisation_from_data_files_keeps_every_plan_and_widens_no_scope() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write_2027(
        d,
        "old_code,new_code,share\n16690,99901,whole\n16702,99901,whole\n",
    );
    let province = start_with(config(d, "40", None, &file)).await;
    let mut p = client(&province).await;
    for (unit, n) in [("16690", 1), ("16702", 2), ("16681", 3)] {
        let node = start_with(config(d, unit, Some(province.url()), &file)).await;
        approved_2026(&mut client(&node).await, &mut p, unit, n).await;
        node.stop().await.unwrap();
    }

    // The dry run through the binary lists the structure and what becomes of each plan.
    let addr = province.addr.to_string();
    let reorganize = |extra: &[&str]| {
        let mut args = vec!["reorganize", "--node", &addr, "--to", "2027", "--on"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let ran = cli(reorganize(&["2027-01-01", "--dry-run"])).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout.contains("structure 2025 -> 2027 on 2027-01-01"),
        "{}",
        ran.stdout
    );
    let line = |unit: &str| {
        ran.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{unit}\t")))
            .unwrap_or_else(|| panic!("no line for {unit} in {}", ran.stdout))
            .to_string()
    };
    for unit in ["16690", "16702"] {
        assert!(
            line(unit).ends_with("read-only source of 99901"),
            "{}",
            line(unit)
        );
    }
    assert!(line("16681").ends_with("\tstays"), "{}", line("16681"));
    // The wrong day is refused, naming it.
    let wrong = cli(reorganize(&["2026-12-31"])).await;
    assert!(!wrong.ok, "{}", wrong.text());
    assert!(
        wrong
            .stderr
            .contains("structure 2027 takes effect on 2027-01-01"),
        "{}",
        wrong.stderr
    );
    let applied = cli(reorganize(&["2027-01-01"])).await;
    assert!(applied.ok, "{}", applied.text());
    assert!(applied.stdout.contains(": applied"), "{}", applied.stdout);

    // Each old commune's plan, read under its name of its time.
    let entries = p
        .consolidated(pb::ConsolidatedRequest {
            term: TERM.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let name = |unit: &str| {
        entries
            .iter()
            .find(|e| e.unit == unit)
            .map(|e| e.unit_name.clone())
            .unwrap_or_else(|| panic!("no entry of {unit}: {entries:#?}"))
    };
    assert_eq!(name("16690"), TRUONG_VINH);
    assert_eq!(name("16702"), VINH_PHU);
    assert_eq!(name("16681"), "Phường Thành Vinh");
    province.stop().await.unwrap();

    // The same node over TLS, with its officers' certificates: it stays in 2027.
    let ca = Authority::create("test CA", 1).unwrap();
    let province = start_with(RawConfig {
        reorganisation: Some(vec![file.clone()]),
        units: Some("builtin:2025".into()),
        ..tls_config(d, &ca, "40", None)
    })
    .await;
    // The new commune's officers read both old communes' plans, and nothing else.
    let mut new_reader = as_person(&province, &ca, "99901", &[Role::Reader]).await;
    for unit in ["16690", "16702"] {
        let plan = get(&mut new_reader, unit).await.unwrap();
        assert_eq!(plan.entries.len(), 1, "{unit}");
    }
    let denied = get(&mut new_reader, "16681").await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let mut listed: Vec<String> = new_reader
        .list_plans(pb::ListPlansRequest {
            under: "99901".into(),
            latest_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plans
        .into_iter()
        .map(|p| p.id.unwrap().unit)
        .collect();
    listed.sort();
    assert_eq!(listed, ["16690", "16702"]);
    // Read only: the new commune's clerk writes neither old list.
    let mut new_clerk = as_person(&province, &ca, "99901", &[Role::Clerk]).await;
    for unit in ["16690", "16702"] {
        let refused = new_clerk
            .create_draft(pb::CreateDraftRequest {
                unit: unit.into(),
                term: TERM.into(),
                from_sources: false,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused.code(),
                tonic::Code::PermissionDenied | tonic::Code::FailedPrecondition
            ),
            "{unit}: {refused:?}"
        );
    }
    // Nobody else's scope widens: the officers of a neighbouring commune read neither.
    let mut neighbour = as_person(&province, &ca, "16681", &[Role::Reader]).await;
    for unit in ["16690", "16702"] {
        let denied = get(&mut neighbour, unit).await.unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{unit}");
    }
    assert_eq!(get(&mut neighbour, "16681").await.unwrap().entries.len(), 1);
    // The province's officers read every plan, old communes included.
    let mut board = as_person(&province, &ca, "40", &[Role::Reader]).await;
    for unit in ["16690", "16702", "16681"] {
        let read = get(&mut board, unit).await;
        assert!(read.is_ok(), "{unit}: {read:?}");
    }
    province.stop().await.unwrap();
}

/// A reorganisation file that does not join the history stops `serve` before it starts: a
/// non-zero exit naming the file, the line and the problem, and no store written.
#[tokio::test]
async fn serve_refuses_a_bad_reorganisation_file_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write_2027(
        d,
        "old_code,new_code,share\n16690,99901,whole\n412,99901,whole\n",
    );
    let data = d.join("40");
    let ran = cli([
        "serve".to_string(),
        "--unit".into(),
        "40".into(),
        "--data".into(),
        data.display().to_string(),
        "--insecure".into(),
        "--units".into(),
        "builtin:2025".into(),
        "--reorganisation".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(!ran.ok, "{}", ran.text());
    let mapping = d.join("units-2025-to-2027.csv");
    assert!(
        ran.stderr.contains(&format!(
            "reorganisation: {} line 3: old unit 412 is not in structure 2025",
            mapping.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(!data.exists(), "a refused start wrote a store");
}
