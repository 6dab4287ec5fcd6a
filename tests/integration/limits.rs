//! Input limits: random bytes and random well-formed messages never panic a decode or a
//! validation and never write when refused; a peer over its rate is refused while health
//! checks still pass; an oversized message is refused.

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use prost::Message;
use quyhoach::{
    config::RawConfig,
    grpc::{convert, pb},
};
use tonic::Code;

use crate::harness::*;

/// Every conversion a request goes through, on whatever decoded.
fn convert_all(bytes: &[u8]) {
    if let Ok(m) = pb::PutEntryRequest::decode(bytes) {
        if let Some(e) = m.entry {
            let _ = convert::entry_from_pb("entry", e);
        }
    }
    if let Ok(m) = pb::RecordBallotRoundRequest::decode(bytes) {
        if let Some(r) = m.round {
            let _ = convert::round_from_pb("round", r).map(|r| r.validate_counts("round"));
        }
    }
    if let Ok(m) = pb::PushRequest::decode(bytes) {
        if let Some(p) = m.plan {
            let _ = convert::plan_from_pb("plan", p).map(|p| p.content_hash());
        }
    }
    if let Ok(m) = pb::DecidePlanRequest::decode(bytes) {
        let _ = convert::plan_id_from_pb("plan", m.plan);
        let _ = convert::outcome_from_pb("outcome", m.outcome);
    }
    if let Ok(m) = pb::CheckRequest::decode(bytes) {
        let _ = convert::severity_from_pb("severity", m.severity);
    }
    for kind in 0..4 {
        let _ = match kind {
            0 => pb::ListPlansRequest::decode(bytes)
                .map(|m| convert::status_from_pb("status", m.status).is_ok()),
            1 => pb::ConsolidatedRequest::decode(bytes)
                .map(|m| convert::status_from_pb("status", m.status).is_ok()),
            2 => pb::PullDecisionsRequest::decode(bytes).map(|_| true),
            _ => pb::AcceptWarningRequest::decode(bytes)
                .map(|m| convert::plan_id_from_pb("plan", m.plan).is_ok()),
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_a_decode_or_a_conversion(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        convert_all(&bytes);
    }
}

/// Mostly wrong, sometimes right, values for each field.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("16681".to_string()),
        Just(TERM.to_string()),
        Just("C.PCT.UBND".to_string()),
        Just("040080000001".to_string()),
        Just("1990-06-15".to_string()),
        Just("1980-02-30".to_string()),
        "\\PC{0,40}",
        "[0-9]{0,14}",
    ]
}

fn cadre() -> impl Strategy<Value = pb::Cadre> {
    (text(), text(), text(), 0i32..4, text(), text()).prop_map(
        |(national_id, full_name, birth_date, gender, ethnicity, unit)| pb::Cadre {
            national_id,
            full_name,
            birth_date,
            gender,
            ethnicity,
            current_positions: vec!["C.CC".into()],
            current_unit: unit,
            ..Default::default()
        },
    )
}

#[derive(Debug, Clone)]
enum Call {
    Draft(String, String),
    Put(String, Box<pb::Cadre>, String),
    Round(String, u32, u32, u32, u32, (String, String, u32)),
    Decide(String, i32, Vec<String>),
    Push(String, String, u32),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (text(), text()).prop_map(|(u, t)| Call::Draft(u, t)),
        (text(), cadre(), text()).prop_map(|(u, c, p)| Call::Put(u, Box::new(c), p)),
        (
            text(),
            0u32..60,
            0u32..60,
            0u32..60,
            0u32..60,
            (text(), text(), 0u32..60)
        )
            .prop_map(|(u, a, b, c, d, t)| Call::Round(u, a, b, c, d, t)),
        (text(), 0i32..4, prop::collection::vec(text(), 0..3))
            .prop_map(|(u, o, r)| Call::Decide(u, o, r)),
        (text(), text(), 0u32..4).prop_map(|(f, u, v)| Call::Push(f, u, v)),
    ]
}

/// How many audit records callers have caused (the node's own sync work runs alongside).
async fn writes_by_callers(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
) -> usize {
    let trail = c
        .audit(pb::AuditRequest {
            actor: "insecure".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    trail.records.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_well_formed_requests_never_write_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let mut c = client(&district).await;
    let mut s = sync_client(&district).await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "412".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let mut calls = Vec::new();
    let strategy = prop::collection::vec(call(), 400);
    let tree = strategy.new_tree(&mut runner).unwrap();
    calls.extend(tree.current());
    let (mut refused, mut taken) = (0, 0);
    for call in calls {
        let before = writes_by_callers(&mut c).await;
        let result: Result<(), tonic::Status> = match call.clone() {
            Call::Draft(unit, term) => c
                .create_draft(pb::CreateDraftRequest {
                    unit,
                    term,
                    from_sources: false,
                })
                .await
                .map(|_| ()),
            Call::Put(unit, cadre, position) => c
                .put_entry(pb::PutEntryRequest {
                    unit,
                    term: TERM.into(),
                    entry: Some(pb::Entry {
                        cadre: Some(*cadre),
                        position,
                        source: 1,
                        origin: None,
                    }),
                })
                .await
                .map(|_| ()),
            Call::Round(unit, convened, present, issued, valid, (id, position, yes)) => c
                .record_ballot_round(pb::RecordBallotRoundRequest {
                    unit,
                    term: TERM.into(),
                    round: Some(pb::BallotRound {
                        body: 2,
                        date: "2025-03-01".into(),
                        convened,
                        present,
                        ballots_issued: issued,
                        valid_ballots: valid,
                        tallies: vec![pb::Tally {
                            national_id: id,
                            position,
                            yes,
                        }],
                    }),
                })
                .await
                .map(|_| ()),
            Call::Decide(unit, outcome, reasons) => c
                .decide_plan(pb::DecidePlanRequest {
                    plan: Some(pb::PlanId {
                        unit,
                        term: TERM.into(),
                        version: 1,
                    }),
                    hash: String::new(),
                    outcome,
                    reasons,
                    cite_findings: vec![],
                    cms_signature: Vec::new(),
                })
                .await
                .map(|_| ()),
            Call::Push(from, unit, version) => {
                let plan = pb::Plan {
                    id: Some(pb::PlanId {
                        unit,
                        term: TERM.into(),
                        version,
                    }),
                    status: pb::PlanStatus::Submitted.into(),
                    entries: vec![entry(1, "Lê Văn Tám", "C.PCT.UBND", "16681")],
                    ..Default::default()
                };
                s.push(pb::PushRequest {
                    from_unit: from,
                    plan: Some(plan),
                    ..Default::default()
                })
                .await
                .map(|_| ())
            }
        };
        let after = writes_by_callers(&mut c).await;
        match result {
            Ok(()) => taken += 1,
            Err(status) => {
                refused += 1;
                assert_ne!(
                    status.code(),
                    Code::Internal,
                    "{call:?}: {}",
                    status.message()
                );
                assert!(!status.message().is_empty());
                assert_eq!(
                    after,
                    before,
                    "a refused {call:?} wrote to the store: {}",
                    status.message()
                );
            }
        }
    }
    assert!(
        refused > 50,
        "the generator must mostly produce bad input ({refused} refused, {taken} taken)"
    );
    for n in [district, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_peer_over_its_rate_is_refused_but_health_checks_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with(RawConfig {
        rate_limit: Some(5),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let mut c = client(&node).await;
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(
            c.list_terms(pb::ListTermsRequest {})
                .await
                .map(|_| ())
                .map_err(|s| s.code()),
        );
    }
    let limited = codes
        .iter()
        .filter(|r| **r == Err(Code::ResourceExhausted))
        .count();
    assert!(limited >= 15, "{limited} of 30 limited");
    assert!(
        codes[..10].iter().all(Result::is_ok),
        "a burst of twice the rate passes"
    );
    let channel = tonic::transport::Endpoint::from_shared(node.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..30 {
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
    }

    // An oversized message: a name of 2 MB is refused before it is decoded.
    let mut e = entry(1, "Lê Văn Tám", "P.GD.SO", "40");
    e.cadre.as_mut().unwrap().full_name = "A".repeat(2 * 1024 * 1024);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let big = c
        .put_entry(pb::PutEntryRequest {
            unit: "40".into(),
            term: TERM.into(),
            entry: Some(e),
        })
        .await
        .unwrap_err();
    assert_eq!(big.code(), Code::ResourceExhausted, "{}", big.message());
    node.stop().await.unwrap();
}
