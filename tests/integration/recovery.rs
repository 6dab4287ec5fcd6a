//! Recovery between levels, with real processes: a province restored from an old backup gets
//! back, from its district, everything the district holds a receipt for (anti-entropy), and
//! its decisions after the restore still reach the district.

use std::path::Path;

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::transport::Channel;

use crate::{
    faults::{decide, find, plans, submit},
    harness::{adopted_without_vote, district_entry},
    procs::*,
};

const TERM: &str = "2025-2030";

/// Drafts, fills, adopts and submits the district's own plan; returns its hash.
async fn submit_district_plan(d: &mut PlanningClient<Channel>) -> String {
    let e = district_entry(1, "Lê Hữu Phước", "412");
    let plan = adopted_without_vote(d, "412", vec![e]).await;
    d.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    plan.hash
}

/// Copies a stopped node's store folder (its backup), or puts one back.
fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_restored_from_an_old_backup_is_healed_by_its_district() {
    let dir = tempfile::tempdir().unwrap();
    let province_addr = free_addr();
    let mut province =
        Proc::start(dir.path(), "40", &province_addr, None, "builtin:2024", &[]).await;
    let district = Proc::node(dir.path(), "412", Some(&province), &[]).await;
    let commune = Proc::node(dir.path(), "16681", Some(&district), &[]).await;

    // The backup: taken before anything reached the province.
    province.terminate().await;
    let store = dir.path().join("40");
    let backup = dir.path().join("40-backup");
    copy_store(&store, &backup);
    province.restart(true, &[]).await;

    // The district submits its own plan and forwards the commune's plan it approved.
    let mut d = district.client().await;
    let district_hash = submit_district_plan(&mut d).await;
    let mut c = commune.client().await;
    let (v, commune_hash) = submit(&mut c, "16681", TERM, 1).await.unwrap();
    eventually(30, "the commune's plan at the district", || {
        let mut d = d.clone();
        async move { find(&plans(&mut d, "16681").await, "16681", TERM, v) }
    })
    .await;
    decide(&mut d, "16681", TERM, v, pb::Outcome::Approve).await;
    let p = province.client().await;
    eventually(30, "both plans at the province", || {
        let mut p = p.clone();
        async move {
            let held = plans(&mut p, "412").await;
            (held.len() == 2).then_some(())
        }
    })
    .await;
    eventually(10, "the district's outbox to drain", || async {
        (district.status().await.parent.unwrap().outbox_length == 0).then_some(())
    })
    .await;

    // The province is restored from the backup: it holds nothing of 412. As
    // docs/sync-and-recovery.md's Recovery says, restoring an older copy means accepting the loss:
    // its durable-state record, which would refuse writes to a store behind it, is moved aside.
    province.terminate().await;
    copy_store(&backup, &store);
    let record = dir.path().join("40.state");
    if record.exists() {
        std::fs::rename(&record, dir.path().join("40.state.lost")).unwrap();
    }
    province.restart(true, &[]).await;
    // (The district may heal it before this test looks; its status says it did.)
    let mut p = province.client().await;

    // Within a few poll intervals the district pushes again what it holds receipts for.
    let held = eventually(30, "the district's plans back at the province", || {
        let mut p = p.clone();
        async move {
            let held = plans(&mut p, "412").await;
            (held.len() == 2).then_some(held)
        }
    })
    .await;
    let own = find(&held, "412", TERM, 1).unwrap();
    assert_eq!(own.hash, district_hash);
    assert_eq!(own.status, pb::PlanStatus::Received as i32);
    let lower = find(&held, "16681", TERM, v).unwrap();
    assert_eq!(lower.hash, commune_hash);
    assert_eq!(
        lower.status,
        pb::PlanStatus::Approved as i32,
        "the commune's plan comes back with the district's approval"
    );
    let link = eventually(10, "the repair in the district's status", || async {
        let link = district.status().await.parent.unwrap();
        (link.reconciled_pushed >= 2).then_some(link)
    })
    .await;
    assert!(!link.last_reconciled_at.is_empty());
    assert_eq!(link.reconciled_conflicts, 0);
    let child = province
        .status()
        .await
        .children
        .into_iter()
        .find(|l| l.unit == "412")
        .expect("the province reports its link to 412");
    assert!(!child.last_reconciled_at.is_empty());

    // The restored province's decisions reach the district.
    decide(&mut p, "412", TERM, 1, pb::Outcome::Return).await;
    eventually(30, "the return at the district", || {
        let mut d = d.clone();
        async move {
            let plan = find(&plans(&mut d, "412").await, "412", TERM, 1)?;
            (plan.status == pb::PlanStatus::Returned as i32).then_some(())
        }
    })
    .await;
}
