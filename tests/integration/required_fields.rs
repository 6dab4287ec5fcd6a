//! A request without a message field it cannot do without (PutEntry's entry,
//! RecordBallotRound's round, Push's plan, PushFulfilment's fulfilment) is refused with
//! INVALID_ARGUMENT naming the field as required, on both services, and writes nothing.

use quyhoach::grpc::pb;
use tonic::Code;

use crate::harness::*;

/// The refusal of a request that lacks `field`.
fn refused_for_lacking(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(
        status.message().contains(field) && status.message().contains("is required"),
        "{field}: {}",
        status.message()
    );
}

#[tokio::test]
async fn a_request_without_its_required_message_is_refused_naming_it_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&province).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let before = everything(&mut c).await;

    let e = c
        .put_entry(pb::PutEntryRequest {
            unit: "40".into(),
            term: TERM.into(),
            entry: None,
        })
        .await
        .unwrap_err();
    refused_for_lacking(&e, "entry");
    let e = c
        .record_ballot_round(pb::RecordBallotRoundRequest {
            unit: "40".into(),
            term: TERM.into(),
            round: None,
        })
        .await
        .unwrap_err();
    refused_for_lacking(&e, "round");

    let mut s = sync_client(&province).await;
    let e = s
        .push(pb::PushRequest {
            from_unit: "412".into(),
            plan: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    refused_for_lacking(&e, "plan");
    let e = s
        .push_fulfilment(pb::PushFulfilmentRequest {
            from_unit: "412".into(),
            fulfilment: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    refused_for_lacking(&e, "fulfilment");

    assert_eq!(everything(&mut c).await, before);
}
