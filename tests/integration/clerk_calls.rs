//! Every write call of the Planning service, from a real clerk's certificate over TLS, with
//! hostile values in every field (control and bidirectional characters, decomposed letters,
//! over-long text, 0 and u32::MAX and a wrapped -1, repeated fields past their bound): a
//! refused call answers with a clear status and never writes (the audit trail's length is
//! unchanged).

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use quyhoach::{
    auth::Role,
    client,
    config::Tls,
    grpc::pb,
    pki::{Authority, Subject},
};
use tonic::Code;

use crate::harness::{start_tls, TERM};

/// Mostly wrong, sometimes right, text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("40".to_string()),
        Just(TERM.to_string()),
        Just("T.PCT.UBND".to_string()),
        Just("040080000001".to_string()),
        Just("1980-06-15".to_string()),
        Just("40\u{0}".to_string()),
        Just(" 40\n".to_string()),
        Just("\u{202E}40".to_string()),
        Just("Nguye\u{302}\u{303}n Va\u{306}n A".to_string()),
        Just("Lê\u{200B}Văn".to_string()),
        Just("a".repeat(300)),
        Just("ệ".repeat(3_000)),
        Just("2025-2030/../..".to_string()),
        "\\PC{0,40}",
        "[0-9]{0,14}",
    ]
}

fn number() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(u32::MAX), Just(-1i32 as u32), 0u32..60]
}

fn texts(most: usize) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        prop::collection::vec(text(), 0..4),
        Just(vec!["Lý do".to_string(); most + 1]),
    ]
}

fn cadre() -> impl Strategy<Value = pb::Cadre> {
    (text(), text(), text(), 0i32..4, text(), texts(50), text()).prop_map(
        |(national_id, full_name, birth_date, gender, ethnicity, qualifications, unit)| pb::Cadre {
            national_id,
            full_name,
            birth_date,
            gender,
            ethnicity,
            current_positions: vec!["T.GD.SO".into()],
            current_unit: unit,
            qualifications,
            ..Default::default()
        },
    )
}

fn entry() -> impl Strategy<Value = pb::Entry> {
    (cadre(), text(), 0i32..4).prop_map(|(cadre, position, source)| pb::Entry {
        cadre: Some(cadre),
        position,
        source,
        origin: None,
    })
}

fn round() -> impl Strategy<Value = pb::BallotRound> {
    (
        0i32..5,
        text(),
        (number(), number(), number(), number()),
        prop::collection::vec((text(), text(), number()), 0..3),
    )
        .prop_map(
            |(body, date, (convened, present, issued, valid), tallies)| pb::BallotRound {
                body,
                date,
                convened,
                present,
                ballots_issued: issued,
                valid_ballots: valid,
                tallies: tallies
                    .into_iter()
                    .map(|(national_id, position, yes)| pb::Tally {
                        national_id,
                        position,
                        yes,
                    })
                    .collect(),
            },
        )
}

fn plan_id() -> impl Strategy<Value = pb::PlanId> {
    (text(), text(), number()).prop_map(|(unit, term, version)| pb::PlanId {
        unit,
        term,
        version,
    })
}

// A put carries a whole entry (with its provenance since issue 22): boxing it would only
// complicate the strategy of a test that makes a few hundred calls.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Call {
    Draft(pb::CreateDraftRequest),
    Put(pb::PutEntryRequest),
    Remove(pb::RemoveEntryRequest),
    Import(pb::ImportEntriesRequest),
    Round(pb::RecordBallotRoundRequest),
    Adopt(pb::AdoptPlanRequest),
    Submit(pb::SubmitPlanRequest),
    Decide(pb::DecidePlanRequest),
    Accept(pb::AcceptWarningRequest),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (text(), text()).prop_map(|(unit, term)| Call::Draft(pb::CreateDraftRequest {
            unit,
            term,
            from_sources: false
        })),
        (text(), entry()).prop_map(|(unit, e)| Call::Put(pb::PutEntryRequest {
            unit,
            term: TERM.into(),
            entry: Some(e),
        })),
        (text(), text(), text()).prop_map(|(unit, national_id, position)| Call::Remove(
            pb::RemoveEntryRequest {
                unit,
                term: TERM.into(),
                national_id,
                position,
            }
        )),
        (
            text(),
            prop::collection::vec(entry(), 0..3),
            prop::option::of(round())
        )
            .prop_map(
                |(unit, entries, round)| Call::Import(pb::ImportEntriesRequest {
                    unit,
                    term: TERM.into(),
                    entries,
                    round,
                    replace: false,
                })
            ),
        (text(), round()).prop_map(|(unit, r)| Call::Round(pb::RecordBallotRoundRequest {
            unit,
            term: TERM.into(),
            round: Some(r),
        })),
        (text(), text()).prop_map(|(unit, adopted_on)| Call::Adopt(pb::AdoptPlanRequest {
            unit,
            term: TERM.into(),
            adopted_on,
            revision: None,
        })),
        (text(), text()).prop_map(|(unit, term)| Call::Submit(pb::SubmitPlanRequest {
            unit,
            term,
            revision: None,
            hash: String::new()
        })),
        (plan_id(), text(), 0i32..4, texts(20), texts(20)).prop_map(
            |(plan, hash, outcome, reasons, cite_findings)| Call::Decide(pb::DecidePlanRequest {
                plan: Some(plan),
                hash,
                outcome,
                reasons,
                cite_findings,
                cms_signature: Vec::new(),
            })
        ),
        (plan_id(), text(), text(), text()).prop_map(
            |(plan, finding, justification, accepted_by)| Call::Accept(pb::AcceptWarningRequest {
                plan: Some(plan),
                finding,
                justification,
                accepted_by,
            })
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_write_calls_from_a_clerk_certificate_never_write_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let province = start_tls(dir.path(), &ca, "40", None).await;
    let issued = ca
        .issue(&Subject::new(
            "40",
            &[Role::Clerk, Role::Approver],
            "Chuyên viên Ban",
            1,
        ))
        .unwrap();
    let tls = Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    };
    let mut c = client::connect(&province.addr.to_string(), Some(&tls))
        .await
        .unwrap();
    c.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let trail = c.clone();
    let length = move || {
        let mut trail = trail.clone();
        async move {
            trail
                .audit(pb::AuditRequest {
                    limit: 1,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .total
        }
    };

    let mut runner = TestRunner::new(ProptestConfig::default());
    let calls = prop::collection::vec(call(), 300)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let (mut refused, mut taken) = (0, 0);
    for call in calls {
        let before = length().await;
        let result = match call.clone() {
            Call::Draft(r) => c.create_draft(r).await.map(|_| ()),
            Call::Put(r) => c.put_entry(r).await.map(|_| ()),
            Call::Remove(r) => c.remove_entry(r).await.map(|_| ()),
            Call::Import(r) => c.import_entries(r).await.map(|_| ()),
            Call::Round(r) => c.record_ballot_round(r).await.map(|_| ()),
            Call::Adopt(r) => c.adopt_plan(r).await.map(|_| ()),
            Call::Submit(r) => c.submit_plan(r).await.map(|_| ()),
            Call::Decide(r) => c.decide_plan(r).await.map(|_| ()),
            Call::Accept(r) => c.accept_warning(r).await.map(|_| ()),
        };
        let after = length().await;
        let shown = format!("{call:?}");
        let shown: String = shown.chars().take(300).collect();
        match result {
            Ok(()) => taken += 1,
            Err(status) => {
                refused += 1;
                assert!(
                    !matches!(status.code(), Code::Internal | Code::Unknown),
                    "{shown}: {:?} {}",
                    status.code(),
                    status.message()
                );
                assert!(
                    !status.message().is_empty() && status.message().len() <= 1_024,
                    "{shown}: {} bytes of message",
                    status.message().len()
                );
                assert_eq!(
                    after,
                    before,
                    "a refused {shown} wrote: {}",
                    status.message()
                );
            }
        }
    }
    assert!(refused > 100, "{refused} refused, {taken} taken");
    drop(length);
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_whose_common_name_could_forge_the_audit_trail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let province = start_tls(dir.path(), &ca, "40", None).await;
    let connect = |name: &str| {
        let issued = ca
            .issue(&Subject::new("40", &[Role::Reader], name, 1))
            .unwrap();
        let tls = Tls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        };
        let addr = province.addr.to_string();
        async move { client::connect(&addr, Some(&tls)).await.unwrap() }
    };
    let mut fine = connect("Nguyễn Văn Đọc").await;
    fine.list_terms(pb::ListTermsRequest {}).await.unwrap();
    for name in [
        "Nguyễn Văn A [admin@40]",
        "Kẻ giả\nINFO web session opened who=Trưởng ban",
        "\u{202E}04@nimda",
        "Nguye\u{302}\u{303}n Va\u{306}n A",
        &"A".repeat(201),
    ] {
        let mut c = connect(name).await;
        let e = c.list_terms(pb::ListTermsRequest {}).await.expect_err(name);
        assert_eq!(e.code(), Code::Unauthenticated, "{name:?}: {}", e.message());
        assert!(
            e.message().contains("common name"),
            "{name:?}: {}",
            e.message()
        );
    }
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_a_unit_the_node_does_not_know_gets_no_web_login() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let province = start_tls(dir.path(), &ca, "40", None).await;
    let connect = |unit: &str| {
        let issued = ca
            .issue(&Subject::new(unit, &[Role::Approver], "Trưởng ban", 1))
            .unwrap();
        let tls = Tls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        };
        let addr = province.addr.to_string();
        async move { client::connect(&addr, Some(&tls)).await.unwrap() }
    };
    let mut board = connect("40").await;
    let total = |mut c: pb::planning_client::PlanningClient<tonic::transport::Channel>| async move {
        c.audit(pb::AuditRequest {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total
    };
    board
        .issue_web_login(pb::WebLoginRequest {})
        .await
        .expect("the board's own certificate signs in");
    let before = total(board.clone()).await;
    // (The authority refuses `?`, `/` and `#` in a unit; these pass it but name no unit.)
    for unit in ["4O", "40.1", "99999", "40-x"] {
        let mut c = connect(unit).await;
        let refused = c
            .issue_web_login(pb::WebLoginRequest {})
            .await
            .map(|_| ())
            .expect_err(unit);
        assert!(
            matches!(
                refused.code(),
                Code::NotFound | Code::InvalidArgument | Code::Unauthenticated
            ),
            "{unit}: {:?} {}",
            refused.code(),
            refused.message()
        );
        assert!(
            refused.message().contains("unit"),
            "{unit}: {}",
            refused.message()
        );
    }
    assert_eq!(total(board).await, before, "a refused login was recorded");
    province.stop().await.unwrap();
}
