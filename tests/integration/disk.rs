//! What the disk does to a node, with real processes: a slow disk (nothing leaves a node before
//! it is on disk), a kill during start-up (the store still opens), a full disk (writes refused
//! with RESOURCE_EXHAUSTED, then working again once space is back, without a restart).

use std::{path::Path, process::Stdio, time::Duration};

use chrono::{DateTime, Utc};
use quyhoach::grpc::pb;
use rand::Rng;

use crate::{
    faults::{find, plans},
    harness::{draft_with, entry},
    procs::*,
};

const TERM: &str = "2025-2030";

/// With every flush of both nodes delayed by `QUYHOACH_FLUSH_DELAY_MS`, a submission reaches
/// the parent only after the child's commit is on disk, and a return reaches the child only
/// after the parent's commit is: the flush of a commit made at `t` ends after `t + delay`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_leaves_a_node_before_its_commit_is_on_disk() {
    const DELAY_MS: i64 = 700;
    let slow = [("QUYHOACH_FLUSH_DELAY_MS", "700")];
    let dir = tempfile::tempdir().unwrap();
    let province = Proc::node(dir.path(), "40", None, &[]).await;
    let district = Proc::node(dir.path(), "412", Some(&province), &slow).await;
    let commune = Proc::node(dir.path(), "16681", Some(&district), &slow).await;
    let mut c = commune.client().await;
    let mut d = district.client().await;
    let (unit, term) = ("16681".to_string(), TERM.to_string());
    c.create_draft(pb::CreateDraftRequest {
        unit: unit.clone(),
        term: term.clone(),
        from_sources: false,
    })
    .await
    .unwrap();
    c.put_entry(pb::PutEntryRequest {
        unit: unit.clone(),
        term: term.clone(),
        entry: Some(entry(1, "Nguyễn Văn An", "C.BT", &unit)),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.clone(),
        term: term.clone(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap();

    let submitted_at = Utc::now();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: unit.clone(),
        term: term.clone(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    let held = eventually(30, "the push at the district", || {
        let mut d = d.clone();
        async move { find(&plans(&mut d, "16681").await, "16681", TERM, 1) }
    })
    .await;
    let received: DateTime<Utc> = held.received_at.parse().unwrap();
    let durable_from = submitted_at + chrono::Duration::milliseconds(DELAY_MS);
    assert!(
        received >= durable_from,
        "the district received the plan at {received}, before the commune's commit was on \
         disk (not before {durable_from})"
    );

    // Downward: the district returns the plan; the commune must not see the return before the
    // district's commit is on disk.
    let decided_at = Utc::now();
    let decide = tokio::spawn(async move {
        crate::faults::decide(&mut d, "16681", TERM, 1, pb::Outcome::Return).await
    });
    let seen_at = eventually(30, "the return at the commune", || {
        let mut c = c.clone();
        async move {
            let plan = c
                .get_plan(pb::GetPlanRequest {
                    unit: "16681".into(),
                    term: TERM.into(),
                    version: 1,
                })
                .await
                .ok()?
                .into_inner();
            (plan.status == pb::PlanStatus::Returned as i32).then(Utc::now)
        }
    })
    .await;
    decide.await.unwrap();
    let durable_from = decided_at + chrono::Duration::milliseconds(DELAY_MS);
    assert!(
        seen_at >= durable_from,
        "the commune applied the return at {seen_at}, before the district's commit was on \
         disk (not before {durable_from})"
    );
}

/// How many kills during start-up the loop makes; `QUYHOACH_START_KILL_LOOPS` raises it (the
/// long run in docs/sync-and-recovery.md uses 300).
fn start_kill_loops() -> u32 {
    std::env::var("QUYHOACH_START_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// Starts `quyhoach serve` on `data` without waiting for anything.
fn spawn_serve(data: &Path, unit: &str) -> tokio::process::Child {
    serve_command(unit, data, "127.0.0.1:0", "builtin:2024")
        .arg("--insecure")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the quyhoach binary starts")
}

/// SIGKILL at a random moment of start-up (opening the store, writing sled's snapshot and
/// the node's first commits), again and again: the store opens every time, with everything
/// acknowledged before the first kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_start_up_never_leaves_a_store_that_will_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Proc::node(dir.path(), "40", None, &[]).await;
    let mut p = node.client().await;
    let e = crate::harness::province_entry(1, "Trần Thị Bình");
    let adopted = crate::harness::adopted_without_vote(&mut p, "40", vec![e]).await;
    node.kill().await;

    // How long a start takes here, to spread the kills over it.
    let started = std::time::Instant::now();
    node.restart(false, &[]).await;
    let start_up = started.elapsed().max(Duration::from_millis(20));
    node.kill().await;

    let data = dir.path().join("40");
    let loops = start_kill_loops();
    // A draft that takes one more entry after every kill, so that sled has a new snapshot to
    // write at the next start (it writes one when its log has moved on).
    const DRAFT_TERM: &str = "2026-2031";
    node.restart(false, &[]).await;
    let mut c = node.client().await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: DRAFT_TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    node.kill().await;
    for i in 0..loops {
        let mut child = spawn_serve(&data, "40");
        let at = rand::rng().random_range(0..start_up.as_micros() as u64);
        tokio::time::sleep(Duration::from_micros(at)).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        // A whole start must succeed after every kill (Proc::start panics if the node exits).
        node.restart(false, &[]).await;
        let mut c = node.client().await;
        let plan = c
            .get_plan(pb::GetPlanRequest {
                unit: "40".into(),
                term: TERM.into(),
                version: 0,
            })
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                panic!("the node did not serve after kill {i}: {e}; its log ends: {tail:?}")
            })
            .into_inner();
        assert_eq!(plan.hash, adopted.hash, "after kill {i}");
        c.put_entry(pb::PutEntryRequest {
            unit: "40".into(),
            term: DRAFT_TERM.into(),
            entry: Some(crate::harness::province_entry(
                1_000 + i,
                &format!("Phạm Văn Số {i}"),
            )),
        })
        .await
        .unwrap();
        node.kill().await;
    }
    node.restart(false, &[]).await;
    let draft = node
        .client()
        .await
        .get_plan(pb::GetPlanRequest {
            unit: "40".into(),
            term: DRAFT_TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        draft.entries.len(),
        loops as usize,
        "every acknowledged entry"
    );
    node.kill().await;
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    let removed = log.matches("removing a partial snapshot").count();
    println!(
        "start-up kill loop: {loops} kills, the store opened every time; \
         {removed} partial snapshots removed"
    );
}

async fn put(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    n: u32,
) -> Result<(), tonic::Status> {
    c.put_entry(pb::PutEntryRequest {
        unit: "40".into(),
        term: TERM.into(),
        entry: Some(crate::harness::province_entry(n, &format!("Lê Văn Số {n}"))),
    })
    .await
    .map(|_| ())
}

async fn national_ids(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
) -> std::collections::BTreeSet<String> {
    c.get_plan(pb::GetPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .unwrap()
    .into_inner()
    .entries
    .into_iter()
    .map(|e| e.cadre.unwrap().national_id)
    .collect()
}

/// On a small tmpfs filled up: a write is refused with RESOURCE_EXHAUSTED naming the data
/// folder and the free space, reads answer UNAVAILABLE naming the full disk, and once space is
/// freed the store reopens by itself and the next write works without a restart; after a
/// SIGKILL every acknowledged write is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("40");
    let fs = match crate::full_disk::SmallDisk::tmpfs(&data, 24) {
        Ok(fs) => fs,
        Err(why) => {
            println!("skipped a_full_disk_refuses_writes_keeps_reads_and_recovers_without_restart: {why}");
            return;
        }
    };
    let mut node = Proc::node(dir.path(), "40", None, &[]).await;
    let mut c = node.client().await;
    draft_with(&mut c, "40", Vec::new()).await;
    let mut acked = std::collections::BTreeSet::new();
    for n in 0..3 {
        put(&mut c, n).await.unwrap();
        acked.insert(n);
    }
    let filler = fs.fill();

    let mut refused = None;
    for n in 3..2_000 {
        match put(&mut c, n).await {
            Ok(()) => {
                acked.insert(n);
            }
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let refused = refused.expect("a write on a full disk is refused");
    println!("acked {} then refused: {}", acked.len(), refused.message());
    // RESOURCE_EXHAUSTED from the write itself, or UNAVAILABLE from the read every write
    // makes first once the store has failed; both name the full disk.
    assert!(
        matches!(
            refused.code(),
            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
        ),
        "{:?} {}",
        refused.code(),
        refused.message()
    );
    assert!(
        refused.message().contains(&data.display().to_string())
            && refused.message().contains("bytes free"),
        "the message names the folder and the free space: {}",
        refused.message()
    );
    // Reads answer UNAVAILABLE naming the full disk (the store serves nothing from the
    // failed engine); writes stay refused while the disk is full.
    let read = c
        .get_plan(pb::GetPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(read.code(), tonic::Code::Unavailable, "{}", read.message());
    assert!(read.message().contains("full"), "{}", read.message());
    let again = put(&mut c, 5_000).await.unwrap_err();
    assert!(
        matches!(
            again.code(),
            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
        ) && again.message().contains("full"),
        "{:?} {}",
        again.code(),
        again.message()
    );

    // Space is back: the store reopens by itself, reads show exactly what was acknowledged,
    // and the next write works, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let held = eventually(10, "the store to reopen", || {
        let mut c = c.clone();
        async move {
            let read = c
                .get_plan(pb::GetPlanRequest {
                    unit: "40".into(),
                    term: TERM.into(),
                    version: 0,
                })
                .await;
            read.ok().map(|plan| plan.into_inner().entries.len())
        }
    })
    .await;
    assert_eq!(held, acked.len(), "exactly the acknowledged entries");
    put(&mut c, 5_001).await.unwrap();
    acked.insert(5_001);
    put(&mut c, 5_002).await.unwrap();
    acked.insert(5_002);

    node.kill().await;
    node.restart(false, &[]).await;
    let mut c = node.client().await;
    let held = national_ids(&mut c).await;
    for n in &acked {
        let id = format!("0400800{n:05}");
        assert!(
            held.contains(&id),
            "acknowledged entry {n} lost after the full disk"
        );
    }
    node.kill().await;
    drop(fs);
}

/// A stopped province's store put back from an older copy (or damaged so that sled silently
/// opens on less): at start the node finds it behind its durable-state record, refuses writes
/// with DATA_LOSS naming what is missing and how to recover, and still serves reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_rolled_back_behind_its_record_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Proc::node(dir.path(), "40", None, &[]).await;
    let mut c = node.client().await;
    draft_with(&mut c, "40", Vec::new()).await;
    put(&mut c, 1).await.unwrap();
    node.terminate().await;
    let data = dir.path().join("40");
    let old = dir.path().join("40-old");
    let cp = |from: &Path, to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        assert!(std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success());
    };
    cp(&data, &old);
    node.restart(false, &[]).await;
    let record = quyhoach::store::state::path_for(&data);
    let audit_seq = || {
        quyhoach::store::state::read(&record)
            .unwrap()
            .map_or(0, |s| s.audit_seq)
    };
    let at_start = audit_seq();
    let mut c = node.client().await;
    put(&mut c, 2).await.unwrap();
    put(&mut c, 3).await.unwrap();
    // The flusher brings the record up to date when it goes idle.
    eventually(10, "the durable-state record to move on", || async {
        (audit_seq() > at_start).then_some(())
    })
    .await;
    // A SIGKILL, not a clean stop: the record is what the flusher wrote along the way.
    node.kill().await;

    cp(&old, &data);
    node.restart(false, &[]).await;
    let mut c = node.client().await;
    let refused = put(&mut c, 4).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::DataLoss,
        "{}",
        refused.message()
    );
    let message = refused.message();
    assert!(
        message.contains("lost data")
            && message.contains("audit records")
            && message.contains("40.state")
            && message.contains("Recovery"),
        "the message says what is missing and how to recover: {message}"
    );
    assert_eq!(national_ids(&mut c).await.len(), 1, "reads go on");
    node.kill().await;
    node.restart(false, &[]).await;
    let refused = put(&mut node.client().await, 5).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::DataLoss,
        "still refused after a restart"
    );
}

/// Starts `quyhoach serve` on `data` and waits for the line that says where it listens;
/// `Err` with the end of its log if it exits first.
async fn try_start(data: &Path) -> Result<(tokio::process::Child, String), String> {
    let mut child = serve_command("40", data, "127.0.0.1:0", "builtin:2024")
        .arg("--insecure")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    match listening(&mut child).await {
        Some(addr) => Ok((child, addr)),
        None => {
            let _ = child.wait().await;
            Err(std::fs::read_to_string(data.with_extension("log")).unwrap_or_default())
        }
    }
}

/// A store whose log was cut to half while the node was stopped (sled takes a damaged tail
/// for the end of its log and would open on less): the node does not serve it as if nothing
/// happened. Either sled refuses to open it, or the node finds it behind its durable-state
/// record and refuses writes with DATA_LOSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_to_half_is_found_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Proc::node(dir.path(), "40", None, &[]).await;
    let mut c = node.client().await;
    draft_with(&mut c, "40", Vec::new()).await;
    for n in 0..60 {
        put(&mut c, n).await.unwrap();
    }
    let data = dir.path().join("40");
    let record = quyhoach::store::state::path_for(&data);
    eventually(
        10,
        "the durable-state record to hold the last write",
        || async {
            let seq = quyhoach::store::state::read(&record).unwrap()?.audit_seq;
            (seq >= 61).then_some(())
        },
    )
    .await;
    node.kill().await;
    let db = data.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    match try_start(&data).await {
        Err(log) => {
            println!("a log cut to half: the node refused to start");
            assert!(
                log.contains("error") || log.contains("Error"),
                "the node says why it stopped: {log}"
            );
        }
        Ok((mut child, addr)) => {
            let mut c = pb::planning_client::PlanningClient::connect(format!("http://{addr}"))
                .await
                .unwrap();
            let refused = put(&mut c, 100).await.unwrap_err();
            assert_eq!(
                refused.code(),
                tonic::Code::DataLoss,
                "{}",
                refused.message()
            );
            println!("a log cut to half: writes refused: {}", refused.message());
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}
