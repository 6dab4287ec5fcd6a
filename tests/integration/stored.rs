//! Whatever a node reads back from its own store (written by an older version, or tampered
//! with) never makes a query, a check or an export panic: arbitrary stored plans are run
//! through every read path.

use std::sync::Arc;

use proptest::prelude::*;
use quyhoach::{
    domain::{
        BallotRound, Body, Cadre, Entry, EntrySource, Gender, Plan, PlanId, PlanStatus, Tally,
    },
    node::{system_clock, CheckFilter, ConsolidatedFilter, Node, PlanFilter, Reference},
    store::{Change, SledStore, Store},
    tabular::{self, ImportContext},
};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("040076000001€ab".to_string()),
        Just("€".to_string()),
        Just("P.GD.SO".to_string()),
        Just("40".to_string()),
        Just("Nguyễn Văn Hùng".to_string()),
        "\\PC{0,24}",
        "[0-9]{0,14}",
    ]
}

fn date() -> impl Strategy<Value = chrono::NaiveDate> {
    (-80_000i32..80_000).prop_map(|d| {
        chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(d.into())
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        text(),
        text(),
        date(),
        text(),
        text(),
        text(),
        any::<bool>(),
    )
        .prop_map(|(id, name, birth, position, current, unit, female)| Entry {
            cadre: Cadre {
                national_id: id.into(),
                full_name: name.into(),
                birth_date: birth,
                gender: if female { Gender::Female } else { Gender::Male },
                ethnicity: "Kinh".into(),
                current_positions: vec![current.into()],
                current_unit: unit.into(),
                qualifications: vec![],
                discipline: vec![],
                appointment_proposed_on: None,
                retirement_regime: Default::default(),
                science_technology: false,
                ratings: Vec::new(),
            },
            position: position.into(),
            source: EntrySource::Voted,
            origin: None,
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(entry(), 0..6),
        any::<[u32; 5]>(),
        date(),
        text(),
        prop_oneof![
            Just(PlanStatus::Adopted),
            Just(PlanStatus::Received),
            Just(PlanStatus::Approved)
        ],
    )
        .prop_map(|(entries, counts, on, tally_id, status)| {
            let mut plan = Plan::new_draft(
                PlanId {
                    unit: "40".into(),
                    term: "2025-2030".into(),
                    version: 1,
                },
                None,
            );
            plan.rounds = vec![BallotRound {
                body: Body::ExecutiveCommittee,
                date: on,
                convened: counts[0],
                present: counts[1],
                ballots_issued: counts[2],
                valid_ballots: counts[3],
                tallies: vec![Tally {
                    national_id: tally_id.into(),
                    position: entries
                        .first()
                        .map(|e| e.position.clone())
                        .unwrap_or_default(),
                    yes: counts[4],
                }],
            }];
            plan.entries = entries;
            plan.status = status;
            plan.adopted_on = Some(on);
            plan.hash = Some(plan.content_hash());
            plan
        })
}

fn read_everything(plan: Plan) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SledStore::open(dir.path()).unwrap();
        store.commit(vec![Change::PutPlan(plan.clone())]).unwrap();
        let hierarchy = Arc::new(quyhoach::config::load_units("builtin:2024").unwrap());
        let catalog = quyhoach::config::builtin_catalog().unwrap();
        let unit = hierarchy.get("40").unwrap().clone();
        let reference = Reference {
            version: 0,
            catalog: catalog.clone(),
            rules: Default::default(),
            structure: None,
            reorganisations: Vec::new(),
        };
        let node = Node::open(
            unit,
            hierarchy.clone(),
            reference,
            store,
            system_clock(),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
        // The province's live findings come from its check task, as under `server::run`.
        let node = Arc::new(node);
        let checks = tokio::spawn(node.clone().run_arrival_checks());
        let filter = ConsolidatedFilter {
            under: "40".into(),
            ..Default::default()
        };
        if let Ok(list) = node
            .consolidated(&quyhoach::auth::Caller::Insecure, &filter)
            .await
        {
            for e in list {
                let _ = quyhoach::node::mask_id(&e.national_id_masked);
            }
        }
        let _ = node
            .consolidated(
                &quyhoach::auth::Caller::Insecure,
                &ConsolidatedFilter {
                    name: Some("nguyen".into()),
                    age_min: Some(30),
                    ..filter.clone()
                },
            )
            .await;
        let _ = node
            .list_plans(
                &quyhoach::auth::Caller::Insecure,
                &PlanFilter {
                    under: "40".into(),
                    ..Default::default()
                },
            )
            .await;
        if let Ok(p) = node
            .get_plan(&quyhoach::auth::Caller::Insecure, "40", "2025-2030", 0)
            .await
        {
            let _ = quyhoach::grpc::convert::plan_to_pb(&p);
            let ctx = ImportContext {
                catalog: &catalog,
                hierarchy: &hierarchy,
                unit: "40",
                term: "2025-2030",
                today: chrono::Utc::now().date_naive(),
            };
            let sheet = tabular::plan_sheet_for("x", &p, &ctx);
            let mut out = Vec::new();
            let _ = tabular::export_csv(&mut out, None, &sheet.headers, &sheet.text_rows());
            let _ = tabular::xlsx_bytes(&[sheet], None);
        }
        let _ = node
            .check(
                &quyhoach::auth::Caller::Insecure,
                &CheckFilter {
                    under: "40".into(),
                    ..Default::default()
                },
            )
            .await;
        let _ = node.plan_findings(&plan.id).await;
        let _ = node
            .completeness(&quyhoach::auth::Caller::Insecure, "40", "2025-2030")
            .await;
        checks.abort();
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_stored_plans_never_panic_a_read(plan in plan()) {
        read_everything(plan);
    }
}

/// A node over a store holding, for unit `unit`, a returned plan at the last version a
/// version number can hold.
async fn node_holding_the_last_version(dir: &std::path::Path, unit: &str) -> Node {
    let store = SledStore::open(dir).unwrap();
    let mut plan = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: "2025-2030".into(),
            version: u32::MAX,
        },
        None,
    );
    plan.status = PlanStatus::Returned;
    store.commit(vec![Change::PutPlan(plan)]).unwrap();
    let hierarchy = Arc::new(quyhoach::config::load_units("builtin:2024").unwrap());
    let catalog = quyhoach::config::builtin_catalog().unwrap();
    Node::open(
        hierarchy.get("40").unwrap().clone(),
        hierarchy.clone(),
        Reference {
            version: 0,
            catalog,
            rules: Default::default(),
            structure: None,
            reorganisations: Vec::new(),
        },
        store,
        system_clock(),
        std::time::Duration::from_secs(600),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_stored_plan_at_the_last_version_number_refuses_a_next_version_without_a_panic() {
    // A new draft after it would be version 2^32: refused, not an overflow.
    let dir = tempfile::tempdir().unwrap();
    let node = node_holding_the_last_version(dir.path(), "40").await;
    let e = node
        .create_draft(&quyhoach::auth::Caller::Insecure, "40", "2025-2030")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
    // A child's push after it: refused, not an overflow.
    let dir = tempfile::tempdir().unwrap();
    let node = node_holding_the_last_version(dir.path(), "412").await;
    let mut pushed = Plan::new_draft(
        PlanId {
            unit: "412".into(),
            term: "2025-2030".into(),
            version: 1,
        },
        None,
    );
    pushed.status = PlanStatus::Submitted;
    pushed.hash = Some(pushed.content_hash());
    let e = node
        .receive_push(&quyhoach::auth::Caller::node_of("412"), "412", pushed, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
}
