//! A model-based test of sync: random sequences of edit, submit, approve, return, parent
//! down, parent up, and child crash-and-restart run against a real parent and child (separate
//! processes, real SIGKILLs) and against a plain model; at the end both nodes must hold what
//! the model says, version by version.

use std::{collections::BTreeSet, time::Duration};

use proptest::prelude::*;
use quyhoach::grpc::pb::{self, planning_client::PlanningClient, PlanStatus};
use tonic::{transport::Channel, Code};

use crate::{
    harness::{entry, round, TERM},
    procs::*,
};

const UNIT: &str = "16681";

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Put the entry of person n into the draft (opening one if the latest was returned).
    Edit(u32),
    /// Adopt and submit the draft.
    Submit,
    /// The parent approves the latest version.
    Approve,
    /// The parent returns the latest version (also reopening an approved one).
    Return,
    ParentDown,
    ParentUp,
    /// SIGKILL the child and start it again.
    CrashChild,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // At most three people, so that the province's R2 cap never blocks an approval.
        4 => (0u32..3).prop_map(Op::Edit),
        3 => Just(Op::Submit),
        2 => Just(Op::Approve),
        2 => Just(Op::Return),
        1 => Just(Op::ParentDown),
        1 => Just(Op::ParentUp),
        1 => Just(Op::CrashChild),
    ]
}

/// One version as the model sees it.
#[derive(Debug, Clone, PartialEq)]
struct Version {
    people: BTreeSet<u32>,
    /// At the child.
    child: PlanStatus,
    /// At the parent, once it has it.
    parent: Option<PlanStatus>,
}

#[derive(Debug, Default)]
struct Model {
    versions: Vec<Version>,
    parent_up: bool,
}

impl Model {
    fn latest(&mut self) -> Option<&mut Version> {
        self.versions.last_mut()
    }
}

async fn latest_at(c: &mut PlanningClient<Channel>) -> Option<pb::Plan> {
    c.get_plan(pb::GetPlanRequest {
        unit: UNIT.into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .ok()
    .map(|r| r.into_inner())
}

async fn status_of(c: &mut PlanningClient<Channel>, version: usize) -> Option<i32> {
    let p = c
        .get_plan(pb::GetPlanRequest {
            unit: UNIT.into(),
            term: TERM.into(),
            version: version as u32,
        })
        .await
        .ok()?;
    Some(p.into_inner().status)
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut parent = Proc::start(dir.path(), "40", &addr, None, "builtin:2025", &[]).await;
    let mut child = Proc::start(
        dir.path(),
        UNIT,
        "127.0.0.1:0",
        Some(parent.url()),
        "builtin:2025",
        &[],
    )
    .await;
    let mut m = Model {
        parent_up: true,
        ..Model::default()
    };

    for op in ops {
        let mut c = child.client().await;
        match op {
            Op::Edit(n) => {
                let open = match m.latest() {
                    None => true,
                    Some(v) => v.child == PlanStatus::Returned,
                };
                if open {
                    c.create_draft(pb::CreateDraftRequest {
                        unit: UNIT.into(),
                        term: TERM.into(),
                        from_sources: false,
                    })
                    .await
                    .unwrap();
                    let people = m.latest().map(|v| v.people.clone()).unwrap_or_default();
                    m.versions.push(Version {
                        people,
                        child: PlanStatus::Draft,
                        parent: None,
                    });
                }
                let r = c
                    .put_entry(pb::PutEntryRequest {
                        unit: UNIT.into(),
                        term: TERM.into(),
                        entry: Some(entry(n, &format!("Người {n}"), "C.PCT.UBND", UNIT)),
                    })
                    .await;
                let v = m.latest().unwrap();
                if v.child == PlanStatus::Draft {
                    r.unwrap();
                    v.people.insert(n);
                } else {
                    assert_eq!(
                        r.unwrap_err().code(),
                        Code::FailedPrecondition,
                        "{op:?} on {v:?}"
                    );
                }
            }
            Op::Submit => match m.latest() {
                Some(v) if v.child == PlanStatus::Draft && !v.people.is_empty() => {
                    // Every person passes the vote, so the province's checks find nothing.
                    let tallies: Vec<(u32, &str, u32)> =
                        v.people.iter().map(|&n| (n, "C.PCT.UBND", 20)).collect();
                    c.record_ballot_round(pb::RecordBallotRoundRequest {
                        unit: UNIT.into(),
                        term: TERM.into(),
                        round: Some(round(&tallies)),
                    })
                    .await
                    .unwrap();
                    c.adopt_plan(pb::AdoptPlanRequest {
                        unit: UNIT.into(),
                        term: TERM.into(),
                        adopted_on: String::new(),
                        revision: None,
                    })
                    .await
                    .unwrap();
                    c.submit_plan(pb::SubmitPlanRequest {
                        unit: UNIT.into(),
                        term: TERM.into(),
                        revision: None,
                        hash: String::new(),
                    })
                    .await
                    .unwrap();
                    v.child = PlanStatus::Submitted;
                }
                _ => {
                    let r = c
                        .submit_plan(pb::SubmitPlanRequest {
                            unit: UNIT.into(),
                            term: TERM.into(),
                            revision: None,
                            hash: String::new(),
                        })
                        .await;
                    assert!(r.is_err(), "{op:?} must be refused on {:?}", m.latest());
                }
            },
            Op::Approve | Op::Return if m.parent_up => {
                let n = m.versions.len();
                let outcome = if matches!(op, Op::Approve) {
                    pb::Outcome::Approve
                } else {
                    pb::Outcome::Return
                };
                let Some(v) = m.latest().filter(|v| v.child != PlanStatus::Draft) else {
                    continue;
                };
                // The submitted version reaches the parent first.
                if v.child == PlanStatus::Submitted && v.parent.is_none() {
                    let mut p = parent.client().await;
                    eventually(30, "the version to reach the parent", || {
                        let mut p = p.clone();
                        async move { status_of(&mut p, n).await }
                    })
                    .await;
                    let _ = p.list_plans(pb::ListPlansRequest::default()).await;
                    v.parent = Some(PlanStatus::Received);
                }
                let allowed = matches!(
                    (v.parent, outcome),
                    (Some(PlanStatus::Received), _)
                        | (Some(PlanStatus::Approved), pb::Outcome::Return)
                );
                let mut p = parent.client().await;
                let r = p
                    .decide_plan(pb::DecidePlanRequest {
                        cite_findings: vec![],
                        plan: Some(pb::PlanId {
                            unit: UNIT.into(),
                            term: TERM.into(),
                            version: n as u32,
                        }),
                        hash: String::new(),
                        outcome: outcome.into(),
                        reasons: vec!["Bổ sung".into()],
                        cms_signature: Vec::new(),
                    })
                    .await;
                if allowed {
                    r.unwrap();
                    let s = if outcome == pb::Outcome::Approve {
                        PlanStatus::Approved
                    } else {
                        PlanStatus::Returned
                    };
                    v.parent = Some(s);
                    v.child = s;
                    eventually(30, "the decision to reach the child", || {
                        let mut c = c.clone();
                        async move { (status_of(&mut c, n).await == Some(s as i32)).then_some(()) }
                    })
                    .await;
                } else {
                    assert_eq!(
                        r.unwrap_err().code(),
                        Code::FailedPrecondition,
                        "{op:?} on {v:?}"
                    );
                }
            }
            Op::Approve | Op::Return => {}
            Op::ParentDown if m.parent_up => {
                parent.kill().await;
                m.parent_up = false;
            }
            Op::ParentUp if !m.parent_up => {
                parent.restart(true, &[]).await;
                m.parent_up = true;
            }
            Op::ParentDown | Op::ParentUp => {}
            Op::CrashChild => {
                child.kill().await;
                child.restart(false, &[]).await;
            }
        }
    }

    // Quiesce: the parent up, the child's outbox drained; then both must match the model.
    if !m.parent_up {
        parent.restart(true, &[]).await;
    }
    eventually(30, "the child's outbox to drain", || async {
        (child.status().await.parent.unwrap().outbox_length == 0).then_some(())
    })
    .await;
    for v in &mut m.versions {
        if v.child == PlanStatus::Submitted && v.parent.is_none() {
            v.parent = Some(PlanStatus::Received);
        }
    }
    let mut c = child.client().await;
    let mut p = parent.client().await;
    let at_child = quyhoach_plans(&mut c).await;
    let at_parent = quyhoach_plans(&mut p).await;
    let expect_child: Vec<(u32, i32, BTreeSet<u32>)> = m
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32 + 1, v.child as i32, v.people.clone()))
        .collect();
    let got_child: Vec<(u32, i32, BTreeSet<u32>)> = at_child
        .iter()
        .map(|p| (p.id.as_ref().unwrap().version, p.status, people(p)))
        .collect();
    assert_eq!(got_child, expect_child, "child");
    let expect_parent: Vec<(u32, i32)> = m
        .versions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.parent.map(|s| (i as u32 + 1, s as i32)))
        .collect();
    let got_parent: Vec<(u32, i32)> = at_parent
        .iter()
        .map(|p| (p.id.as_ref().unwrap().version, p.status))
        .collect();
    assert_eq!(got_parent, expect_parent, "parent");
    for p in &at_parent {
        let mine = at_child.iter().find(|c| c.id == p.id).unwrap();
        assert_eq!(p.hash, mine.hash, "the parent's copy has the child's hash");
        assert_eq!(p.entries, mine.entries);
    }
    let _ = latest_at(&mut c).await;
}

fn people(p: &pb::Plan) -> BTreeSet<u32> {
    p.entries
        .iter()
        .map(|e| e.cadre.as_ref().unwrap().national_id[7..].parse().unwrap())
        .collect()
}

async fn quyhoach_plans(c: &mut PlanningClient<Channel>) -> Vec<pb::Plan> {
    crate::harness::everything(c).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn sync_agrees_with_the_model(ops in prop::collection::vec(op(), 4..18)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(240), run(ops)).await }).expect("the case finishes");
    }
}
