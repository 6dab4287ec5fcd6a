//! A submitted version stuck in its owner's outbox (the province refuses it: the district's
//! clock was two days ahead when it was adopted) is withdrawn by its owner through the binary
//! (`quyhoach withdraw`): in one audited step it leaves the outbox and is a draft again, to be
//! adopted with the right date and submitted; once the province has received a version,
//! `withdraw` is refused with a non-zero exit naming who holds it. The district runs in this
//! process with a clock set ahead (the test-only clock setting of `server::spawn`); the
//! commands are the real binary over gRPC on loopback.

use std::{path::Path, time::Duration};

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::transport::Channel;

use crate::{
    harness::{self, TERM},
    procs::{quyhoach, run, Ran},
};

/// A node of `unit` whose clock runs `days` ahead of the wall clock.
async fn skewed(
    dir: &Path,
    unit: &str,
    parent: Option<String>,
    days: i64,
) -> quyhoach::server::Running {
    let config = harness::node_config(dir, unit, parent, "builtin:2024")
        .validate()
        .unwrap();
    let clock: quyhoach::node::Clock =
        std::sync::Arc::new(move || chrono::Utc::now() + chrono::Duration::days(days));
    quyhoach::server::spawn(config, clock).await.unwrap()
}

/// The node's own upward link, once `seen` holds (bounded at 20 s).
async fn own_link(
    c: &mut PlanningClient<Channel>,
    seen: impl Fn(&pb::LinkStatus) -> bool,
) -> pb::LinkStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let link = c
            .sync_status(pb::SyncStatusRequest::default())
            .await
            .unwrap()
            .into_inner()
            .parent;
        if let Some(l) = &link {
            if seen(l) {
                return l.clone();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "last seen {link:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `quyhoach withdraw` for 412's plan on the node at `addr`.
async fn withdraw(addr: &std::net::SocketAddr) -> Ran {
    run(quyhoach().args([
        "withdraw",
        "--node",
        &addr.to_string(),
        "--unit",
        "412",
        "--term",
        TERM,
    ]))
    .await
}

async fn latest(c: &mut PlanningClient<Channel>) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_parent_refused_is_withdrawn_by_its_owner_and_submitted_again() {
    let dir = tempfile::tempdir().unwrap();
    let province = harness::start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = harness::client(&province).await;

    // Adopted and submitted with a clock two days ahead: the province refuses the push.
    let district = skewed(dir.path(), "412", Some(province.url()), 2).await;
    let mut d = harness::client(&district).await;
    harness::adopted_without_vote(
        &mut d,
        "412",
        vec![harness::district_entry(1, "Đỗ Văn Huyện", "412")],
    )
    .await;
    // Withdrawing what was never submitted is refused, exit non-zero, nothing changed.
    let early = withdraw(&district.addr).await;
    assert!(!early.ok, "{}", early.text());
    assert!(
        early.stderr.contains("only a submitted version"),
        "{}",
        early.text()
    );
    assert_eq!(latest(&mut d).await.status(), pb::PlanStatus::Adopted);
    d.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    own_link(&mut d, |l| l.last_error.contains("2 days ahead")).await;
    district.stop().await.unwrap();

    // The clock put right, the version stays queued (the province goes on refusing it) until
    // its owner withdraws it.
    let district = skewed(dir.path(), "412", Some(province.url()), 0).await;
    let mut d = harness::client(&district).await;
    own_link(&mut d, |l| l.outbox_length == 1).await;
    let before = latest(&mut d).await;
    let ran = withdraw(&district.addr).await;
    assert!(ran.ok, "{}", ran.text());
    assert!(
        ran.stdout
            .contains("withdrew 412/2025-2030 v1 from the outbox")
            && ran.stdout.contains("draft again"),
        "{}",
        ran.text()
    );
    let plan = latest(&mut d).await;
    assert_eq!(plan.status(), pb::PlanStatus::Draft, "{plan:?}");
    assert_eq!(plan.id.as_ref().unwrap().version, 1, "the same version");
    assert!(
        plan.hash.is_empty() && plan.adopted_on.is_empty(),
        "{plan:?}"
    );
    assert_eq!(plan.entries.len(), before.entries.len(), "entries kept");
    assert!(plan.revision > before.revision, "the revision moves on");
    let link = own_link(&mut d, |l| l.outbox_length == 0).await;
    assert_eq!(link.outbox_length, 0, "{link:?}");
    let audit = d
        .audit(pb::AuditRequest {
            unit: "412".into(),
            action: "withdraw_submission".into(),
            actor: String::new(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(audit.intact, "{}", audit.problem);
    assert_eq!(audit.records.len(), 1, "{:?}", audit.records);
    assert!(
        audit.records[0].detail.contains("from the outbox for 40"),
        "{:?}",
        audit.records[0]
    );

    // Adopted again with today's date, it is received.
    d.adopt_plan(pb::AdoptPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap();
    harness::submit_until_received(&mut d, "412", &mut p).await;

    // Received by the province, it is no longer the district's to withdraw.
    let late = withdraw(&district.addr).await;
    assert!(!late.ok, "{}", late.text());
    assert!(
        late.stderr.contains("was received by 40") && late.stderr.contains("ask 40 to return it"),
        "{}",
        late.text()
    );
    assert_eq!(latest(&mut d).await.status(), pb::PlanStatus::Submitted);
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
