//! Adopting and submitting exactly what was reviewed: every change to a draft moves its
//! revision; AdoptPlan and SubmitPlan given the revision (and hash) a clerk reviewed are refused
//! with FAILED_PRECONDITION naming both when it moved, and write nothing.

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::{transport::Channel, Code};

use crate::harness::*;

/// A commune node whose district is not there: drafting and adopting need no parent.
async fn commune_alone(dir: &std::path::Path) -> quyhoach::server::Running {
    let nowhere = format!("http://{}", crate::procs::free_addr());
    start(dir, "16681", Some(nowhere), "builtin:2024").await
}

async fn latest(c: &mut PlanningClient<Channel>, term: &str) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: "16681".into(),
        term: term.into(),
        version: 0,
    })
    .await
    .unwrap()
    .into_inner()
}

async fn adopt(
    c: &mut PlanningClient<Channel>,
    term: &str,
    revision: Option<u64>,
) -> Result<pb::Plan, tonic::Status> {
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "16681".into(),
        term: term.into(),
        adopted_on: String::new(),
        revision,
    })
    .await
    .map(|r| r.into_inner())
}

async fn put(
    c: &mut PlanningClient<Channel>,
    term: &str,
    n: u32,
) -> Result<pb::Plan, tonic::Status> {
    c.put_entry(pb::PutEntryRequest {
        unit: "16681".into(),
        term: term.into(),
        entry: Some(entry(n, &format!("Trần Văn Số {n}"), "C.BT", "16681")),
    })
    .await
    .map(|r| r.into_inner())
}

async fn draft_of_three(c: &mut PlanningClient<Channel>, term: &str) -> pb::Plan {
    c.create_draft(pb::CreateDraftRequest {
        unit: "16681".into(),
        term: term.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    for n in 1..=3 {
        put(c, term, n).await.unwrap();
    }
    latest(c, term).await
}

#[tokio::test]
async fn adoption_of_a_draft_that_moved_since_it_was_reviewed_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let node = commune_alone(dir.path()).await;
    let mut a = client(&node).await;
    let mut b = client(&node).await;
    let seen = draft_of_three(&mut a, TERM).await;
    assert_eq!(seen.revision, 4, "opened, then three entries");

    // Clerk B adds one and removes one; the count is the same, the content is not.
    put(&mut b, TERM, 4).await.unwrap();
    let after = b
        .remove_entry(pb::RemoveEntryRequest {
            unit: "16681".into(),
            term: TERM.into(),
            national_id: "040080000001".into(),
            position: "C.BT".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.revision, 6);
    assert_eq!(after.entries.len(), seen.entries.len());

    let refused = adopt(&mut a, TERM, Some(seen.revision)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("revision 4") && refused.message().contains("revision 6"),
        "{}",
        refused.message()
    );
    let still = latest(&mut a, TERM).await;
    assert_eq!(
        still.status,
        pb::PlanStatus::Draft as i32,
        "nothing adopted"
    );
    // A revision from the future is no more what was reviewed.
    let refused = adopt(&mut a, TERM, Some(7)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // Reviewed again: exactly that is adopted.
    let adopted = adopt(&mut a, TERM, Some(still.revision)).await.unwrap();
    assert_eq!(adopted.entries, still.entries);
    assert_eq!(adopted.revision, 6, "adoption is no change of the draft");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn an_old_client_that_sends_no_revision_still_adopts() {
    let dir = tempfile::tempdir().unwrap();
    let node = commune_alone(dir.path()).await;
    let mut a = client(&node).await;
    draft_of_three(&mut a, TERM).await;
    let adopted = adopt(&mut a, TERM, None).await.unwrap();
    assert_eq!(adopted.status, pb::PlanStatus::Adopted as i32);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn submission_checks_the_revision_and_hash_reviewed() {
    let tree = Tree::start().await;
    let mut c = client(&tree.commune).await;
    let mut district = client(&tree.district).await;
    draft_of_three(&mut c, TERM).await;
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "16681".into(),
        term: TERM.into(),
        round: Some(round(&[(1, "C.BT", 20), (2, "C.BT", 20), (3, "C.BT", 20)])),
    })
    .await
    .unwrap();
    let seen = latest(&mut c, TERM).await;
    let adopted = adopt(&mut c, TERM, Some(seen.revision)).await.unwrap();
    let submit = |revision, hash: &str| pb::SubmitPlanRequest {
        unit: "16681".into(),
        term: TERM.into(),
        revision,
        hash: hash.into(),
    };
    let other = "0".repeat(64);
    let refused = c
        .submit_plan(submit(Some(adopted.revision), &other))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&other) && refused.message().contains(&adopted.hash),
        "{}",
        refused.message()
    );
    let refused = c
        .submit_plan(submit(Some(adopted.revision - 1), &adopted.hash))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let bad = c
        .submit_plan(submit(Some(adopted.revision), "not a hash"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("hash"), "{}", bad.message());
    assert_eq!(
        latest(&mut c, TERM).await.status,
        pb::PlanStatus::Adopted as i32,
        "nothing submitted"
    );

    c.submit_plan(submit(Some(adopted.revision), &adopted.hash))
        .await
        .unwrap();
    let received = wait_status(&mut district, "16681", pb::PlanStatus::Received).await;
    assert_eq!(received.hash, adopted.hash);
    tree.stop().await;
}

/// Two clerks at once: one adopts the revision they reviewed while the other edits. Whichever
/// the node takes first, what is adopted is exactly what the first clerk saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_at_once_never_adopt_what_was_not_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let node = commune_alone(dir.path()).await;
    for term in ["2025-2030", "2026-2031"] {
        let mut a = client(&node).await;
        let mut b = client(&node).await;
        let seen = draft_of_three(&mut a, term).await;
        let (adopted, edited) = tokio::join!(
            adopt(&mut a, term, Some(seen.revision)),
            put(&mut b, term, 9)
        );
        match (adopted, edited) {
            (Ok(adopted), Err(late)) => {
                assert_eq!(adopted.entries, seen.entries);
                assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");
            }
            (Err(refused), Ok(edited)) => {
                assert_eq!(refused.code(), Code::FailedPrecondition);
                assert!(refused
                    .message()
                    .contains(&format!("revision {}", edited.revision)));
                assert_eq!(
                    latest(&mut a, term).await.status,
                    pb::PlanStatus::Draft as i32
                );
            }
            other => panic!("exactly one of the two must win: {other:?}"),
        }
    }
    node.stop().await.unwrap();
}
