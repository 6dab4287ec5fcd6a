//! Requests refused for their own shape, before any node operation runs, on both services:
//! one without a message field it cannot do without (PutEntry's entry, RecordBallotRound's
//! round, Push's plan, PushFulfilment's fulfilment) is refused with INVALID_ARGUMENT naming
//! the field as required; an ExportBundle asking for the reference data and decisions at once
//! is refused naming `reference`. Nothing is written.

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
    draft_with(&mut c, "40", Vec::new()).await;
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

#[tokio::test]
async fn an_export_of_the_reference_data_and_decisions_at_once_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&province).await;
    let e = c
        .export_bundle(pb::ExportBundleRequest {
            unit: "412".into(),
            term: TERM.into(),
            version: 1,
            decisions: true,
            reference: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("reference") && e.message().contains("not both"),
        "{}",
        e.message()
    );
    // The reference data alone passes the shape check and reaches the node, whose own refusal
    // (an insecure node signs no bundle) is another one.
    let alone = c
        .export_bundle(pb::ExportBundleRequest {
            unit: "412".into(),
            reference: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(alone.code(), Code::FailedPrecondition, "{alone:?}");
    assert!(!alone.message().contains("not both"), "{alone:?}");
}
