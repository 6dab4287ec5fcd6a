//! A node closed and reopened on the same folder still holds everything it acknowledged.

use quyhoach::grpc::pb;

use crate::harness::*;

#[tokio::test]
async fn a_reopened_node_still_has_every_acknowledged_plan() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&province).await;
    p.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    // Concurrent writes share flushes; every acknowledged one must survive.
    let mut tasks = Vec::new();
    for n in 0..24u32 {
        let mut c = p.clone();
        tasks.push(tokio::spawn(async move {
            let e = province_entry(n, "Nguyễn Văn An");
            c.put_entry(pb::PutEntryRequest {
                unit: "40".into(),
                term: TERM.into(),
                entry: Some(e),
            })
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let adopted = p
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(adopted.entries.len(), 24);
    let before = everything(&mut p).await;
    province.stop().await.unwrap();

    let again = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&again).await;
    assert_eq!(everything(&mut p).await, before);
    let plan = p
        .get_plan(pb::GetPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.hash, adopted.hash);
    assert_eq!(plan.status, pb::PlanStatus::Adopted as i32);
    again.stop().await.unwrap();
}
