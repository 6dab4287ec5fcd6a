//! Exactly-once upward sync under failures, with real processes and real signals: the parent
//! down while children submit, SIGKILL of a child at random moments, SIGKILL of the parent
//! between its write and its receipt.

use std::time::Duration;

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use rand::Rng;
use tonic::transport::Channel;

use crate::{harness::entry, procs::*};

const TERMS: [&str; 2] = ["2025-2030", "2026-2031"];

/// Drafts (or revises), fills, adopts and submits a plan of `unit` for `term`; returns its
/// version and hash. `n` varies the content.
pub(crate) async fn submit(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
    n: u32,
) -> Result<(u32, String), tonic::Status> {
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.into(),
        term: term.into(),
        from_sources: false,
    })
    .await?;
    c.put_entry(pb::PutEntryRequest {
        unit: unit.into(),
        term: term.into(),
        entry: Some(entry(n, &format!("Nguyễn Văn Số {n}"), "C.BT", unit)),
    })
    .await?;
    let plan = c
        .adopt_plan(pb::AdoptPlanRequest {
            unit: unit.into(),
            term: term.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await?
        .into_inner();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: unit.into(),
        term: term.into(),
        revision: None,
        hash: String::new(),
    })
    .await?;
    Ok((plan.id.unwrap().version, plan.hash))
}

pub(crate) async fn plans(c: &mut PlanningClient<Channel>, under: &str) -> Vec<pb::PlanSummary> {
    c.list_plans(pb::ListPlansRequest {
        under: under.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .plans
}

pub(crate) async fn decide(
    c: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
    version: u32,
    outcome: pb::Outcome,
) {
    c.decide_plan(pb::DecidePlanRequest {
        cite_findings: vec![],
        plan: Some(pb::PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        }),
        hash: String::new(),
        outcome: outcome.into(),
        reasons: vec!["Bổ sung hồ sơ".into()],
        cms_signature: Vec::new(),
    })
    .await
    .unwrap();
}

pub(crate) fn find(
    plans: &[pb::PlanSummary],
    unit: &str,
    term: &str,
    version: u32,
) -> Option<pb::PlanSummary> {
    plans
        .iter()
        .find(|p| {
            p.id.as_ref()
                .is_some_and(|id| id.unit == unit && id.term == term && id.version == version)
        })
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_down_while_children_submit_then_everything_arrives_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut province = Proc::node(dir.path(), "40", None, &[]).await;
    let district_addr = free_addr();
    let district_url = format!("http://{district_addr}");
    let c1 = Proc::start(
        dir.path(),
        "16681",
        "127.0.0.1:0",
        Some(district_url.clone()),
        "builtin:2024",
        &[],
    )
    .await;
    let c2 = Proc::start(
        dir.path(),
        "16690",
        "127.0.0.1:0",
        Some(district_url),
        "builtin:2024",
        &[],
    )
    .await;

    // The district is down: submissions are acknowledged (queued durably) all the same.
    let mut sent = Vec::new();
    for (node, unit) in [(&c1, "16681"), (&c2, "16690")] {
        let mut c = node.client().await;
        for (i, term) in TERMS.iter().enumerate() {
            let (version, hash) = submit(&mut c, unit, term, i as u32).await.unwrap();
            sent.push((unit, *term, version, hash));
        }
    }
    let backlog = eventually(
        10,
        "the children to report the parent unreachable",
        || async {
            let s = c1.status().await;
            let p = s.parent.unwrap();
            (!p.last_error.is_empty()).then_some(p)
        },
    )
    .await;
    assert_eq!(backlog.outbox_length, 2);

    let district = Proc::start(
        dir.path(),
        "412",
        &district_addr,
        Some(province.url()),
        "builtin:2024",
        &[],
    )
    .await;
    let mut d = district.client().await;
    let held = eventually(30, "all four plans at the district", || {
        let mut d = d.clone();
        async move {
            let held = plans(&mut d, "412").await;
            (held
                .iter()
                .filter(|p| p.status == pb::PlanStatus::Received as i32)
                .count()
                == 4)
                .then_some(held)
        }
    })
    .await;
    assert_eq!(held.len(), 4, "exactly once: {held:?}");
    for (unit, term, version, hash) in &sent {
        assert_eq!(&find(&held, unit, term, *version).unwrap().hash, hash);
    }
    // A push whose reply the child gave up waiting for (a loaded machine) is counted when the
    // child sends it again, as a duplicate; none is refused and no plan is counted twice.
    // The counters move just after a push is stored, so a reader can see the plan first.
    eventually(10, "every push counted at the district", || async {
        let s = district.status().await;
        (s.pushes_accepted + s.pushes_duplicate >= 4).then_some(())
    })
    .await;
    let s = district.status().await;
    assert_eq!(s.pushes_refused, 0);
    assert!(s.pushes_accepted <= 4, "{s:?}");
    assert!(s.pushes_accepted + s.pushes_duplicate >= 4, "{s:?}");
    for node in [&c1, &c2] {
        eventually(10, "the children's outboxes to drain", || async {
            (node.status().await.parent.unwrap().outbox_length == 0).then_some(())
        })
        .await;
    }

    // In order: with the province down, the district approves v1, withdraws it, and approves
    // v2 of the same plan; when the province returns, v1's approval and its withdrawal must
    // arrive before v2.
    province.terminate().await;
    let term = TERMS[0];
    decide(&mut d, "16681", term, 1, pb::Outcome::Approve).await;
    decide(&mut d, "16681", term, 1, pb::Outcome::Return).await;
    let mut k1 = c1.client().await;
    eventually(10, "the return to reach the commune", || {
        let mut k1 = k1.clone();
        async move {
            let p = find(&plans(&mut k1, "16681").await, "16681", term, 1)?;
            (p.status == pb::PlanStatus::Returned as i32).then_some(())
        }
    })
    .await;
    let (v2, v2_hash) = submit(&mut k1, "16681", term, 7).await.unwrap();
    assert_eq!(v2, 2);
    eventually(10, "v2 at the district", || {
        let mut d = d.clone();
        async move { find(&plans(&mut d, "16681").await, "16681", term, 2).map(|_| ()) }
    })
    .await;
    decide(&mut d, "16681", term, 2, pb::Outcome::Approve).await;
    assert_eq!(district.status().await.parent.unwrap().outbox_length, 3);

    province.restart(true, &[]).await;
    let p = province.client().await;
    let at_province = eventually(30, "both versions at the province", || {
        let mut p = p.clone();
        async move {
            let held = plans(&mut p, "16681").await;
            (held.len() == 2).then_some(held)
        }
    })
    .await;
    assert_eq!(find(&at_province, "16681", term, 2).unwrap().hash, v2_hash);
    // The counter moves just after the push is stored, so a reader can see the plan first.
    eventually(10, "all three pushes counted at the province", || async {
        (province.status().await.pushes_accepted == 3).then_some(())
    })
    .await;
    assert_eq!(province.status().await.pushes_accepted, 3);
    let v1 = find(&plans(&mut p.clone(), "16681").await, "16681", term, 1).unwrap();
    assert_eq!(v1.status, pb::PlanStatus::Returned as i32, "withdrawn");
    assert_eq!(v1.decision.unwrap().decided_by, "412");
    eventually(10, "the district's outbox to drain", || async {
        (district.status().await.parent.unwrap().outbox_length == 0).then_some(())
    })
    .await;
}

/// How many times the kill loop runs; `QUYHOACH_KILL_LOOPS` raises it for a longer run.
fn kill_loops() -> u32 {
    std::env::var("QUYHOACH_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// Takes the latest plan of (unit, term) from wherever an interruption left it to submitted,
/// and returns it.
async fn finish(c: &mut PlanningClient<Channel>, unit: &str, term: &str, n: u32) -> pb::Plan {
    loop {
        let latest = c
            .get_plan(pb::GetPlanRequest {
                unit: unit.into(),
                term: term.into(),
                version: 0,
            })
            .await
            .ok()
            .map(|r| r.into_inner());
        let status = latest
            .as_ref()
            .map(|p| pb::PlanStatus::try_from(p.status).unwrap());
        let (unit_s, term_s) = (unit.to_string(), term.to_string());
        match status {
            None | Some(pb::PlanStatus::Returned) => {
                c.create_draft(pb::CreateDraftRequest {
                    unit: unit_s,
                    term: term_s,
                    from_sources: false,
                })
                .await
                .unwrap();
            }
            Some(pb::PlanStatus::Draft) => {
                if latest.as_ref().unwrap().entries.is_empty() {
                    let e = entry(n, &format!("Nguyễn Văn Số {n}"), "C.BT", unit);
                    c.put_entry(pb::PutEntryRequest {
                        unit: unit_s.clone(),
                        term: term_s.clone(),
                        entry: Some(e),
                    })
                    .await
                    .unwrap();
                }
                c.adopt_plan(pb::AdoptPlanRequest {
                    unit: unit_s,
                    term: term_s,
                    adopted_on: String::new(),
                    revision: None,
                })
                .await
                .unwrap();
            }
            Some(pb::PlanStatus::Adopted) => {
                c.submit_plan(pb::SubmitPlanRequest {
                    unit: unit_s,
                    term: term_s,
                    revision: None,
                    hash: String::new(),
                })
                .await
                .unwrap();
            }
            Some(_) => return latest.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_child_at_random_moments_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let province = Proc::start(dir.path(), "40", "127.0.0.1:0", None, "builtin:2025", &[]).await;
    let mut commune = Proc::start(
        dir.path(),
        "16681",
        "127.0.0.1:0",
        Some(province.url()),
        "builtin:2025",
        &[],
    )
    .await;
    let mut p = province.client().await;
    let term = TERMS[0];
    let loops = kill_loops();
    // Submissions the client saw acknowledged, and every version that ended up submitted.
    let mut acked: Vec<(u32, String)> = Vec::new();
    let mut submitted: Vec<(u32, String)> = Vec::new();
    let mut killed_before_ack = 0;

    // A first version, submitted and returned without interruption. A submission after a
    // restart takes some tens of milliseconds here, so kills before the acknowledgement fall
    // in a window of 150 ms and kills during the push within 30 ms after it.
    let window = 150_000;
    let mut c = commune.client().await;
    let (v1, h1) = submit(&mut c, "16681", term, 1).await.unwrap();
    eventually(30, "the first push", || {
        let mut p = p.clone();
        async move { find(&plans(&mut p, "16681").await, "16681", term, v1) }
    })
    .await;
    acked.push((v1, h1.clone()));
    submitted.push((v1, h1));
    decide(&mut p, "16681", term, v1, pb::Outcome::Return).await;
    eventually(10, "the first return", || {
        let mut c = c.clone();
        async move {
            let plan = c
                .get_plan(pb::GetPlanRequest {
                    unit: "16681".into(),
                    term: term.into(),
                    version: v1,
                })
                .await
                .ok()?
                .into_inner();
            (plan.status == pb::PlanStatus::Returned as i32).then_some(())
        }
    })
    .await;

    for i in 0..loops {
        // Kill the child at a random moment: on even loops anywhere in the submission, on odd
        // loops after it was acknowledged, while the push to the parent is under way.
        let mut c = commune.client().await;
        let during_push = i % 2 == 1;
        let delay = Duration::from_micros(
            rand::rng().random_range(0..if during_push { 30_000 } else { window }),
        );
        let work = tokio::spawn(async move { submit(&mut c, "16681", term, 100 + i).await });
        let ack = if during_push {
            let ack = work.await.unwrap().ok();
            tokio::time::sleep(delay).await;
            commune.kill().await;
            ack
        } else {
            tokio::time::sleep(delay).await;
            commune.kill().await;
            work.await.unwrap().ok()
        };
        if ack.is_none() {
            killed_before_ack += 1;
        }

        commune.restart(false, &[]).await;
        let mut c = commune.client().await;
        let plan = finish(&mut c, "16681", term, 100 + i).await;
        let version = plan.id.as_ref().unwrap().version;
        if let Some((v, hash)) = ack {
            // What was acknowledged survived the kill unchanged.
            assert_eq!(
                (v, &hash),
                (version, &plan.hash),
                "loop {i}: an acknowledged submission changed"
            );
            acked.push((v, hash));
        }
        submitted.push((version, plan.hash.clone()));

        // The outbox drains and the province holds exactly this version with this hash.
        let at_parent = eventually(30, "the push to arrive", || {
            let mut p = p.clone();
            async move { find(&plans(&mut p, "16681").await, "16681", term, version) }
        })
        .await;
        assert_eq!(at_parent.hash, plan.hash, "loop {i}");
        eventually(10, "the child's outbox to drain", || async {
            (commune.status().await.parent.unwrap().outbox_length == 0).then_some(())
        })
        .await;
        decide(&mut p, "16681", term, version, pb::Outcome::Return).await;
        eventually(10, "the return to reach the child", || {
            let mut c = c.clone();
            async move {
                let plan = c
                    .get_plan(pb::GetPlanRequest {
                        unit: "16681".into(),
                        term: term.into(),
                        version,
                    })
                    .await
                    .ok()?
                    .into_inner();
                (plan.status == pb::PlanStatus::Returned as i32).then_some(())
            }
        })
        .await;
    }

    // Nothing acknowledged was lost, nothing was duplicated: one version per loop, in order.
    let held = plans(&mut p, "16681").await;
    let versions: Vec<u32> = held
        .iter()
        .map(|p| p.id.as_ref().unwrap().version)
        .collect();
    assert_eq!(versions, (1..=loops + 1).collect::<Vec<_>>());
    for (version, hash) in acked.iter().chain(&submitted) {
        assert_eq!(&find(&held, "16681", term, *version).unwrap().hash, hash);
    }
    let s = province.status().await;
    assert_eq!(
        s.pushes_accepted,
        u64::from(loops + 1),
        "every version was taken exactly once"
    );
    assert!(s.conflicts.is_empty());
    println!(
        "kill loop: {loops} SIGKILLs of the child at random moments within {window} µs of starting a submission or 30 ms of its acknowledgement; \
         {killed_before_ack} came before the client heard the acknowledgement; {} pushes were retried and \
         recognized as duplicates; 0 lost, 0 duplicated, 0 corrupt",
        s.pushes_duplicate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_parent_between_write_and_receipt_is_recognized_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut province = Proc::start(
        dir.path(),
        "40",
        &addr,
        None,
        "builtin:2025",
        &[("QUYHOACH_CRASH_AT", "after-receive")],
    )
    .await;
    let commune = Proc::start(
        dir.path(),
        "16681",
        "127.0.0.1:0",
        Some(province.url()),
        "builtin:2025",
        &[],
    )
    .await;
    let mut c = commune.client().await;
    let (version, hash) = submit(&mut c, "16681", TERMS[0], 1).await.unwrap();

    // The province writes the plan, then dies before it answers.
    let exit = province.wait_exit().await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        exit.signal(),
        Some(9),
        "killed by SIGKILL at the crash point"
    );
    assert_eq!(
        commune.status().await.parent.unwrap().outbox_length,
        1,
        "no receipt, so the child keeps it"
    );

    province.restart(true, &[]).await;
    eventually(30, "the retry to be answered", || async {
        (commune.status().await.parent.unwrap().outbox_length == 0).then_some(())
    })
    .await;
    let s = province.status().await;
    assert_eq!(
        (s.pushes_accepted, s.pushes_duplicate),
        (0, 1),
        "the retry found the plan already written"
    );
    let mut p = province.client().await;
    let held = plans(&mut p, "16681").await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].hash, hash);
    assert_eq!(held[0].id.as_ref().unwrap().version, version);
}
