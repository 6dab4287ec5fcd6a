//! The sync logic against a parent node in the same process ([`LocalParent`]), no sockets:
//! anti-entropy after the parent is rebuilt from nothing (pushes again, raises the decision
//! numbering above what the child pulled, reports what the child never sent) and after the
//! child is restored from a backup (gets the parent's decisions back). The same paths over
//! real gRPC and processes are in `recovery.rs`.

use std::{path::Path, sync::Arc, time::Duration};

use chrono::NaiveDate;
use quyhoach::{
    auth::{Caller, Role},
    config::RawConfig,
    domain::{Cadre, Entry, EntrySource, Gender, Outcome, PlanId, PlanStatus},
    node::{system_clock, Node, Reference},
    store::SledStore,
    sync::{reconcile, step, LocalParent},
};

const TERM: &str = "2025-2030";

/// The commune's clerk, as their certificate names them.
fn clerk() -> Caller {
    Caller::Certified {
        unit: "16681".into(),
        roles: vec![Role::Clerk],
        name: "Văn thư xã".into(),
    }
}

/// An approver of `unit`.
fn approver(unit: &str) -> Caller {
    Caller::Certified {
        unit: unit.into(),
        roles: vec![Role::Approver],
        name: format!("Lãnh đạo {unit}"),
    }
}

/// A node for `unit` on its own store in `dir/name`.
async fn node(dir: &Path, name: &str, unit: &str) -> Arc<Node> {
    let config = RawConfig {
        unit: Some(unit.into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.join(name)),
        parent: (unit != "40").then(|| "http://127.0.0.1:1".into()),
        insecure: Some(true),
        ..RawConfig::default()
    }
    .validate()
    .unwrap();
    let reference = Reference {
        version: 0,
        catalog: config.catalog.as_ref().clone(),
        rules: config.rules.clone(),
        structure: None,
        reorganisations: Vec::new(),
    };
    let store = SledStore::open(&config.data).unwrap();
    Arc::new(
        Node::open(
            config.unit,
            config.hierarchy,
            reference,
            store,
            system_clock(),
            Duration::from_secs(600),
        )
        .await
        .unwrap(),
    )
}

fn entry() -> Entry {
    Entry {
        cadre: Cadre {
            national_id: "040080000001".into(),
            full_name: "Nguyễn Thị Hoa".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 6, 15).unwrap(),
            gender: Gender::Female,
            ethnicity: "Kinh".into(),
            current_positions: vec!["C.CC".into()],
            current_unit: "16681".into(),
            qualifications: vec![],
            discipline: vec![],
            appointment_proposed_on: None,
            retirement_regime: Default::default(),
            science_technology: false,
            ratings: Vec::new(),
        },
        position: "C.BT".into(),
        source: EntrySource::Voted,
        origin: None,
    }
}

fn v1() -> PlanId {
    PlanId {
        unit: "16681".into(),
        term: TERM.into(),
        version: 1,
    }
}

#[tokio::test]
async fn a_parent_rebuilt_from_nothing_is_healed_and_a_restored_child_gets_its_decisions_back() {
    let dir = tempfile::tempdir().unwrap();
    let commune = node(dir.path(), "16681", "16681").await;
    let district = node(dir.path(), "412", "412").await;
    commune.create_draft(&clerk(), "16681", TERM).await.unwrap();
    commune
        .put_entry(&clerk(), "16681", TERM, entry())
        .await
        .unwrap();
    commune.adopt(&clerk(), "16681", TERM, None).await.unwrap();
    commune.submit(&clerk(), "16681", TERM).await.unwrap();
    let mut parent = LocalParent {
        node: district.clone(),
    };
    step(&commune, &mut parent).await.unwrap();
    let held = district.store().header(&v1()).unwrap().unwrap();
    assert_eq!(held.status, PlanStatus::Received);
    let hash = held.hash.clone().unwrap();

    // In step: the digests agree and nothing is repaired.
    let done = reconcile(&commune, &mut parent).await.unwrap();
    assert_eq!((done.pushed, done.decisions, done.conflicts), (0, 0, 0));

    // The district returns v1 and the commune pulls the return (decision number 1).
    district
        .decide(
            &approver("412"),
            &v1(),
            &hash,
            Outcome::Return,
            vec!["Bổ sung".into()],
            &[],
            None,
        )
        .await
        .unwrap();
    step(&commune, &mut parent).await.unwrap();
    assert_eq!(commune.decision_cursor().unwrap(), 1);

    // The district is rebuilt from nothing, and a version the commune never sent appears
    // there (a plan typed in at the district by mistake, say).
    let rebuilt = node(dir.path(), "412-rebuilt", "412").await;
    let mut stray = commune.store().plan(&v1()).unwrap().unwrap();
    stray.id.term = "2026-2031".into();
    stray.status = PlanStatus::Submitted;
    stray.decision = None;
    stray.received_at = None;
    stray.hash = Some(stray.content_hash());
    rebuilt
        .receive_push(&Caller::node_of("16681"), "16681", stray.clone(), None)
        .await
        .unwrap();
    let mut parent = LocalParent {
        node: rebuilt.clone(),
    };
    let done = reconcile(&commune, &mut parent).await.unwrap();
    assert_eq!(done.pushed, 1, "v1 pushed again");
    assert_eq!(done.conflicts, 1, "the stray version is reported");
    let back = rebuilt.store().header(&v1()).unwrap().unwrap();
    assert_eq!(back.hash.as_deref(), Some(hash.as_str()));
    let conflicts = commune.store().conflicts().unwrap();
    assert!(conflicts.iter().any(|c| c.plan == stray.id));
    assert_eq!(commune.reconciled().pushed, 1);

    // The rebuilt district numbers its decisions above what the commune pulled: its return
    // reaches the commune (a reused number 1 would be skipped as already pulled).
    rebuilt
        .decide(
            &approver("412"),
            &v1(),
            &hash,
            Outcome::Return,
            vec!["Bổ sung lại".into()],
            &[],
            None,
        )
        .await
        .unwrap();
    step(&commune, &mut parent).await.unwrap();
    assert_eq!(commune.decision_cursor().unwrap(), 2);
    let h = commune.store().header(&v1()).unwrap().unwrap();
    assert_eq!(h.decision.unwrap().reasons, ["Bổ sung lại"]);

    // A commune restored from a backup taken before the return gets the decision back from
    // reconciliation, though its cursor says it has pulled it.
    let before = node(dir.path(), "16681-restored", "16681").await;
    before.create_draft(&clerk(), "16681", TERM).await.unwrap();
    before
        .put_entry(&clerk(), "16681", TERM, entry())
        .await
        .unwrap();
    before.adopt(&clerk(), "16681", TERM, None).await.unwrap();
    let mut plan = before.store().plan(&v1()).unwrap().unwrap();
    assert_eq!(plan.hash.as_deref(), Some(hash.as_str()), "same content");
    plan.status = PlanStatus::Submitted;
    before
        .store()
        .commit(vec![
            quyhoach::store::Change::PutPlan(plan),
            quyhoach::store::Change::PutReceipt(rebuilt.store().receipt(&v1()).unwrap().unwrap()),
            quyhoach::store::Change::SetMeta("cursor.decisions".into(), 2),
        ])
        .map(|t| before.store().wait_durable(t))
        .unwrap()
        .await
        .unwrap();
    let done = reconcile(&before, &mut parent).await.unwrap();
    assert_eq!(done.decisions, 1);
    let h = before.store().header(&v1()).unwrap().unwrap();
    assert_eq!(h.status, PlanStatus::Returned);
}

/// Stored content that no longer hashes to the plan's hash (a damaged value sled read back as
/// valid) is refused when loaded: neither served nor pushed.
#[tokio::test]
async fn a_plan_whose_content_no_longer_matches_its_hash_is_neither_served_nor_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let commune = node(dir.path(), "16681", "16681").await;
    let district = node(dir.path(), "412", "412").await;
    commune.create_draft(&clerk(), "16681", TERM).await.unwrap();
    commune
        .put_entry(&clerk(), "16681", TERM, entry())
        .await
        .unwrap();
    commune.adopt(&clerk(), "16681", TERM, None).await.unwrap();
    commune.submit(&clerk(), "16681", TERM).await.unwrap();
    let mut damaged = commune.store().plan(&v1()).unwrap().unwrap();
    damaged.entries[0].cadre.full_name = "Nguyễn Thị Hòa".into();
    let t = commune
        .store()
        .commit(vec![quyhoach::store::Change::PutPlan(damaged)])
        .unwrap();
    commune.store().wait_durable(t).await.unwrap();

    let err = commune
        .get_plan(&clerk(), "16681", TERM, 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("content hash"), "{err}");
    let mut parent = LocalParent {
        node: district.clone(),
    };
    let err = step(&commune, &mut parent).await.unwrap_err();
    assert!(err.contains("content hash"), "{err}");
    assert!(district.store().header(&v1()).unwrap().is_none());
}

/// Reconciliation compares statuses, not only versions and hashes: a province restored from a
/// backup taken after an approval reached it and before its withdrawal gets the withdrawal
/// pushed again by the district.
#[tokio::test]
async fn a_province_that_missed_a_withdrawal_gets_it_from_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let commune = node(dir.path(), "16681", "16681").await;
    let district = node(dir.path(), "412", "412").await;
    let restored = node(dir.path(), "40-restored", "40").await;
    let province = node(dir.path(), "40", "40").await;
    commune.create_draft(&clerk(), "16681", TERM).await.unwrap();
    commune
        .put_entry(&clerk(), "16681", TERM, entry())
        .await
        .unwrap();
    commune.adopt(&clerk(), "16681", TERM, None).await.unwrap();
    commune.submit(&clerk(), "16681", TERM).await.unwrap();
    let mut to_district = LocalParent {
        node: district.clone(),
    };
    step(&commune, &mut to_district).await.unwrap();
    let hash = district
        .store()
        .header(&v1())
        .unwrap()
        .unwrap()
        .hash
        .unwrap();
    district
        .decide(
            &approver("412"),
            &v1(),
            &hash,
            Outcome::Approve,
            vec![],
            &[],
            None,
        )
        .await
        .unwrap();
    // The approval reaches the province as its backup will have it.
    let mut to_restored = LocalParent {
        node: restored.clone(),
    };
    step(&district, &mut to_restored).await.unwrap();
    let held = restored.store().header(&v1()).unwrap().unwrap();
    assert_eq!(held.status, PlanStatus::Approved);
    let done = reconcile(&district, &mut to_restored).await.unwrap();
    assert_eq!((done.pushed, done.unresolved), (0, 0), "in step");

    // The withdrawal reaches the live province; then the province is restored from the
    // backup that still says approved.
    district
        .decide(
            &approver("412"),
            &v1(),
            &hash,
            Outcome::Return,
            vec!["Rút lại".into()],
            &[],
            None,
        )
        .await
        .unwrap();
    let mut to_province = LocalParent {
        node: province.clone(),
    };
    step(&district, &mut to_province).await.unwrap();
    assert_eq!(
        province.store().header(&v1()).unwrap().unwrap().status,
        PlanStatus::Returned
    );
    let done = reconcile(&district, &mut to_restored).await.unwrap();
    assert_eq!(
        (done.pushed, done.unresolved),
        (1, 0),
        "the withdrawal again"
    );
    let healed = restored.store().header(&v1()).unwrap().unwrap();
    assert_eq!(healed.status, PlanStatus::Returned);
    let d = healed.decision.unwrap();
    assert_eq!(
        (d.decided_by.as_str(), d.reasons),
        ("412", vec!["Rút lại".to_string()])
    );
    let done = reconcile(&district, &mut to_restored).await.unwrap();
    assert_eq!((done.pushed, done.unresolved), (0, 0), "in step again");
}
