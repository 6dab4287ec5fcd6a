//! What flows down and what is reported: reference data versioned at the province reaching
//! every node, and a link reported stuck once its oldest item waits past the limit.

use std::time::Duration;

use quyhoach::{config::RawConfig, grpc::pb, server};

use crate::harness::*;

fn config(dir: &std::path::Path, unit: &str, parent: Option<String>) -> RawConfig {
    node_config(dir, unit, parent, "builtin:2024")
}

async fn status(node: &server::Running) -> pb::SyncStatusResponse {
    client(node)
        .await
        .sync_status(pb::SyncStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reference_data_versioned_at_the_province_reaches_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    assert_eq!(status(&province).await.reference_version, 1);
    until("version 1 at the commune", || async {
        status(&commune).await.reference_version == 1
    })
    .await;

    // The province changes its rules file: a new version, which travels down two levels.
    let addr = province.addr.to_string();
    province.stop().await.unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[qd377]\nmax_cadres_per_position = 4\n").unwrap();
    let mut changed = config(dir.path(), "40", None);
    changed.listen = Some(addr);
    changed.rules_file = Some(rules);
    let province = start_with(changed).await;
    assert_eq!(status(&province).await.reference_version, 2);
    until("version 2 at the commune", || async {
        status(&commune).await.reference_version == 2
    })
    .await;
    until("the district's report of version 2", || async {
        status(&province)
            .await
            .children
            .iter()
            .any(|c| c.unit == "412" && c.reference_version == 2)
    })
    .await;
    for n in [commune, district, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_link_whose_oldest_item_waits_too_long_is_reported_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://{}", crate::procs::free_addr());
    let mut c = config(dir.path(), "412", Some(nowhere));
    c.stuck_after_secs = Some(1);
    c.retry_max_ms = Some(100);
    let district = start_with(c).await;
    let mut d = client(&district).await;
    let e = district_entry(1, "Lê Hữu Phước", "412");
    adopted_without_vote(&mut d, "412", vec![e]).await;
    d.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    let first = status(&district).await.parent.unwrap();
    assert_eq!(first.outbox_length, 1);
    assert!(!first.stuck, "not yet: the item has just been queued");
    until("the link to be reported stuck", || async {
        let p = status(&district).await.parent.unwrap();
        p.stuck && p.lag_seconds >= 1 && !p.last_error.is_empty() && p.oldest_pending.is_some()
    })
    .await;
    district.stop().await.unwrap();
}
