//! A node killed at any moment of its first start (while it creates its store) starts again
//! and takes writes. The kill lands exactly on one system call: strace(1) injects SIGKILL at
//! the Nth call of each kind the creation makes (writes of sled's settings file, the syncs, the
//! rename of the durable-state record, the reservation of the take-back file), a real signal
//! to the real binary. The test is skipped, saying so, where strace is not installed
//! (`./test.sh` installs it).

use std::{path::Path, process::Stdio, time::Duration};

use quyhoach::grpc::pb;

use crate::{harness::TERM, procs::*};

/// The system calls a first start makes while it creates its store, each with how many of
/// them to try: a kill at the Nth call of that kind, for N from 1 up to the count.
const POINTS: [(&str, u32); 6] = [
    ("mkdir", 2),
    ("write", 8),
    ("pwrite64", 1),
    ("fsync", 6),
    ("fallocate", 1),
    ("rename", 1),
];

/// Starts `quyhoach serve` for province 40 on `data` under strace, which kills it at the
/// `n`th `call`; answers whether it was killed there (the start may make fewer such calls,
/// and then runs on until it is stopped here).
async fn first_start_killed_at(data: &Path, call: &str, n: u32) -> bool {
    let mut cmd = tokio::process::Command::new("strace");
    cmd.args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("trace={call}"))
        .arg("-e")
        .arg(format!("inject={call}:signal=SIGKILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_quyhoach"))
        .args(["serve", "--unit", "40", "--listen", "127.0.0.1:0"])
        .args(["--units", "builtin:2025", "--insecure", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("strace starts");
    match tokio::time::timeout(Duration::from_secs(8), child.wait()).await {
        // strace reports its tracee's death by the signal as its own exit status.
        Ok(status) => !status.unwrap().success(),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_at_any_system_call_of_its_first_start_starts_again() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        println!("skipped: strace is not installed (./test.sh installs it)");
        return;
    }
    let mut killed = Vec::new();
    for (call, count) in POINTS {
        for n in 1..=count {
            let dir = tempfile::tempdir().unwrap();
            if !first_start_killed_at(&dir.path().join("40"), call, n).await {
                continue;
            }
            killed.push(format!("{call}#{n}"));
            let node =
                Proc::start(dir.path(), "40", "127.0.0.1:0", None, "builtin:2025", &[]).await;
            let mut c = node.client().await;
            let draft = c
                .create_draft(pb::CreateDraftRequest {
                    unit: "40".into(),
                    term: TERM.into(),
                    from_sources: false,
                })
                .await;
            assert!(
                draft.is_ok(),
                "killed at {call} #{n}, the node took no write: {draft:?}\n{}",
                node.post_mortem()
            );
        }
    }
    println!(
        "killed at {} system calls: {}",
        killed.len(),
        killed.join(" ")
    );
    // The sweep must really have killed starts, at the fourth write among them (the one that
    // left sled's settings file without its checksum before the store removed such a file).
    assert!(killed.len() >= 15, "only {} kills landed", killed.len());
    assert!(killed.iter().any(|k| k == "write#4"), "{killed:?}");
}
