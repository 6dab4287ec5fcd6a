//! A full disk, with a real `quyhoach serve` on a small tmpfs and on ext4 over a loop device:
//! writes are refused with RESOURCE_EXHAUSTED naming the full disk, reads answer exactly what
//! was acknowledged or UNAVAILABLE naming the full disk, never a refused write; once space is
//! freed the node answers again by itself (the store reopens in the background), and after a
//! SIGKILL and a restart the plan and the audit trail hold exactly the acknowledged writes.
//! The filesystems need root: without it each test prints why it is skipped.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tonic::{transport::Channel, Code, Status};

use crate::procs::Proc;

const TERM: &str = "2025-2030";

/// A size-limited filesystem mounted for one test, unmounted (and its image removed) when
/// dropped.
pub struct SmallDisk {
    /// Where it is mounted.
    path: PathBuf,
    /// The image file behind the loop device, for ext4.
    image: Option<PathBuf>,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB on `path`; `Err` says why it cannot (not root, no mount).
    pub fn tmpfs(path: &Path, mib: u32) -> Result<SmallDisk, String> {
        Self::mount(
            path,
            None,
            &["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"],
        )
    }

    /// Makes an ext4 filesystem of `mib` MiB in an image file beside `path` (no blocks
    /// reserved for root) and mounts it there over a loop device.
    pub fn ext4(path: &Path, mib: u32) -> Result<SmallDisk, String> {
        let image = path.with_extension("img");
        run(
            "truncate",
            &["-s", &format!("{mib}M"), &image.to_string_lossy()],
        )?;
        run(
            "mkfs.ext4",
            &["-q", "-F", "-m", "0", &image.to_string_lossy()],
        )?;
        Self::mount(
            path,
            Some(image.clone()),
            &["-o", "loop", &image.to_string_lossy()],
        )
    }

    fn mount(path: &Path, image: Option<PathBuf>, args: &[&str]) -> Result<SmallDisk, String> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a size-limited filesystem needs root".into());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let mut all: Vec<&str> = args.to_vec();
        let target = path.to_string_lossy();
        all.push(&target);
        run("mount", &all)?;
        Ok(SmallDisk {
            path: path.to_path_buf(),
            image,
        })
    }

    /// Writes a file that takes every free byte; returns its path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        for chunk in [1 << 20, 4096, 512, 1] {
            let buf = vec![0x5a; chunk];
            while f.write_all(&buf).is_ok() {}
        }
        let _ = f.sync_all();
        filler
    }
}

/// Runs a command; `Err` with its error output if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// How many fill/free cycles each filesystem gets; `QUYHOACH_FULL_DISK_CYCLES` raises it.
fn cycles() -> u32 {
    std::env::var("QUYHOACH_FULL_DISK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// An entry of the province's list with a name of `len` characters, so that a few thousand
/// of them take more than one of sled's log segments.
fn long_entry(n: u32, len: usize) -> pb::Entry {
    let name = format!("Nguyễn Thị Số {n} ");
    let pad = "Hoa".repeat(len / 3);
    crate::harness::province_entry(
        n,
        &format!("{name}{pad}").chars().take(len).collect::<String>(),
    )
}

fn id_of(n: u32) -> String {
    format!("0400800{n:05}")
}

/// What the test has had acknowledged: the entries in the plan and the audited writes.
#[derive(Default)]
struct Acked {
    ids: BTreeSet<String>,
    /// Acknowledged put_entry and import calls, each one audit record.
    writes: usize,
}

async fn read_ids(c: &mut PlanningClient<Channel>) -> Result<BTreeSet<String>, Status> {
    Ok(c.get_plan(pb::GetPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        version: 0,
    })
    .await?
    .into_inner()
    .entries
    .into_iter()
    .map(|e| e.cadre.unwrap().national_id)
    .collect())
}

async fn put(c: &mut PlanningClient<Channel>, n: u32) -> Result<(), Status> {
    c.put_entry(pb::PutEntryRequest {
        unit: "40".into(),
        term: TERM.into(),
        entry: Some(long_entry(n, 60)),
    })
    .await
    .map(|_| ())
}

async fn import(c: &mut PlanningClient<Channel>, from: u32, count: u32) -> Result<(), Status> {
    import_as(c, from, count, false).await
}

/// Imports `count` long entries from number `from`; with `replace`, they become the draft's
/// whole list (every chunk of the plan's body is rewritten in one transaction).
async fn import_as(
    c: &mut PlanningClient<Channel>,
    from: u32,
    count: u32,
    replace: bool,
) -> Result<(), Status> {
    c.import_entries(pb::ImportEntriesRequest {
        unit: "40".into(),
        term: TERM.into(),
        entries: (from..from + count).map(|n| long_entry(n, 190)).collect(),
        round: None,
        replace,
    })
    .await
    .map(|_| ())
}

/// A refusal because the disk is full: RESOURCE_EXHAUSTED for a write (UNAVAILABLE while the
/// store reopens), and the message says the disk is full.
fn assert_refused_as_full(status: &Status, what: &str) {
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::Unavailable),
        "{what}: {:?} {}",
        status.code(),
        status.message()
    );
    assert!(
        status.message().contains("full"),
        "{what}: the message names the full disk: {}",
        status.message()
    );
}

/// Reads the plan until the node answers; panics if it does not within `secs` (a hang).
/// Answers the ids and how long it took.
async fn answered(
    c: &mut PlanningClient<Channel>,
    secs: u64,
    what: &str,
) -> (BTreeSet<String>, Duration) {
    let started = std::time::Instant::now();
    loop {
        let call = tokio::time::timeout(Duration::from_secs(secs), read_ids(c)).await;
        match call {
            Ok(Ok(ids)) => return (ids, started.elapsed()),
            Ok(Err(status)) if status.code() == Code::Unavailable => {
                assert!(
                    started.elapsed() < Duration::from_secs(secs),
                    "{what}: still UNAVAILABLE after {secs} s: {}",
                    status.message()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(Err(status)) => panic!("{what}: {:?} {}", status.code(), status.message()),
            Err(_) => panic!("{what}: no answer within {secs} s (a hang)"),
        }
    }
}

/// Waits until the node's live findings have taken every acknowledged write and recorded
/// their history (the `Check` of the stored findings waits for that, whatever rules it asks).
async fn settled(c: &mut PlanningClient<Channel>) {
    c.check(pb::CheckRequest {
        plan: Some(pb::PlanId {
            unit: "40".into(),
            term: TERM.into(),
            version: 1,
        }),
        stored: true,
        // One rule only, to keep the answer small: the wait is what is wanted.
        rules: vec!["R19".into()],
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Asserts that the plan holds exactly the acknowledged entries, naming the difference.
fn assert_exactly(ids: &BTreeSet<String>, acked: &Acked, what: &str) {
    let refused: Vec<_> = ids.difference(&acked.ids).collect();
    let lost: Vec<_> = acked.ids.difference(ids).collect();
    assert!(
        refused.is_empty() && lost.is_empty(),
        "{what}: the plan shows {} entries never acknowledged {:?} and lacks {} acknowledged \
         {:?}",
        refused.len(),
        refused.iter().take(5).collect::<Vec<_>>(),
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

/// Checks the audit trail: intact, and one put_entry or import record per acknowledged write.
async fn assert_audit_explains(c: &mut PlanningClient<Channel>, acked: &Acked, what: &str) {
    let audit = c
        .audit(pb::AuditRequest {
            unit: "40".into(),
            action: String::new(),
            actor: String::new(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        audit.intact,
        "{what}: the audit chain breaks: {}",
        audit.problem
    );
    let writes = audit
        .records
        .iter()
        .filter(|r| r.action == "put_entry" || r.action == "import")
        .count();
    assert_eq!(
        writes, acked.writes,
        "{what}: the audit trail records {writes} writes, {} were acknowledged",
        acked.writes
    );
}

/// The fill → refused writes → free → write → restart loop on `disk`, mounted on the
/// province's data folder `dir/40`. `points` names the refusal points the cycles rotate
/// through: a small write (`flush`: the refusal in the flush), an import larger than a sled
/// segment (`transaction`: inside the transaction), the same import replacing the whole list
/// (`torn`: a transaction over every chunk of the plan's body, torn if half applied), and
/// writes after the node stayed idle on the full disk (`idle`: sled's periodic flush meets it
/// first, and a re-check of the findings the last acknowledged write queued may fail the
/// store just after that write was acknowledged), and the large import with the node killed
/// by SIGKILL while its store is failed, then restarted once space is freed (`killed`).
async fn fill_free_loop(dir: &Path, disk: &SmallDisk, name: &str, points: &[&str], cycles: u32) {
    let mut node = Proc::node(dir, "40", None, &[]).await;
    let mut c = node.client().await;
    c.create_draft(pb::CreateDraftRequest {
        unit: "40".into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await
    .unwrap();
    let mut acked = Acked::default();
    let mut next = 0u32;
    import(&mut c, next, 170).await.unwrap();
    acked.ids.extend((next..next + 170).map(id_of));
    acked.writes += 1;
    next += 170;
    let mut slowest = Duration::ZERO;
    let mut outcomes = Vec::new();
    for cycle in 0..cycles {
        let point = points[cycle as usize % points.len()];
        let what = format!("{name} cycle {cycle} ({point})");
        // Quiet first: the re-check of the findings that the last write queued has written
        // its history, so that the refusal below meets the write it names, not that one.
        settled(&mut c).await;
        let filler = disk.fill();
        if point == "idle" {
            // sled's own flush runs every second; let it meet the full disk first.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        let mut refusals = 0;
        let mut first_refusal = None;
        // Writes until one is refused, then more: all refused, none visible.
        for attempt in 0..400 {
            // One entry at a time first; after 200 acknowledged ones, 100 at a time: sled
            // may place small writes in segments it freed inside its own files (no new
            // blocks of the full disk), and how much of that room there is depends on when
            // its compaction last ran, so a run of small writes alone may never meet the
            // full disk.
            let count = if matches!(point, "transaction" | "torn" | "killed") && attempt == 0 {
                1_800
            } else if attempt >= 200 {
                100
            } else {
                1
            };
            // "torn": the import replaces the whole list, so the refused transaction rewrites
            // every chunk of the plan's body that is on disk (half applied, it would tear it).
            // An import replaces too when adding would pass a plan's 5,000 entries (sled may
            // find room for one in the space its files hold, and acknowledge it).
            let replace =
                count > 1 && (point == "torn" || acked.ids.len() + count as usize > 5_000);
            let result = match count {
                1 => put(&mut c, next).await,
                _ => import_as(&mut c, next, count, replace).await,
            };
            match result {
                Ok(()) => {
                    if replace {
                        acked.ids.clear();
                    }
                    acked.ids.extend((next..next + count).map(id_of));
                    acked.writes += 1;
                    assert!(
                        refusals == 0,
                        "{what}: a write was acknowledged after a refusal on a full disk"
                    );
                }
                Err(status) => {
                    assert_refused_as_full(&status, &what);
                    refusals += 1;
                    first_refusal.get_or_insert(status);
                }
            }
            next += count;
            if refusals >= 3 {
                break;
            }
        }
        let refusal = first_refusal.unwrap_or_else(|| panic!("{what}: no write refused"));
        // While full: a read answers exactly what was acknowledged, or UNAVAILABLE naming
        // the full disk; never a refused write.
        match read_ids(&mut c).await {
            Ok(ids) => assert_exactly(&ids, &acked, &format!("{what}: a read on the full disk")),
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
                assert!(status.message().contains("full"), "{}", status.message());
            }
        }
        if point == "killed" {
            // Killed while the store is failed, before space is freed: the reopen that
            // would take back what sled wrote of the refused import never runs.
            node.kill().await;
            std::fs::remove_file(&filler).unwrap();
            node.restart(false, &[]).await;
            c = node.client().await;
        } else {
            std::fs::remove_file(&filler).unwrap();
        }
        let (ids, took) = answered(&mut c, 10, &what).await;
        slowest = slowest.max(took);
        assert_exactly(&ids, &acked, &format!("{what}: after space was freed"));
        put(&mut c, next)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        acked.ids.insert(id_of(next));
        acked.writes += 1;
        next += 1;
        assert_exactly(&read_ids(&mut c).await.unwrap(), &acked, &what);
        node.kill().await;
        node.restart(false, &[]).await;
        c = node.client().await;
        assert_eq!(
            read_ids(&mut c).await.unwrap(),
            acked.ids,
            "{what}: after a restart"
        );
        assert_audit_explains(&mut c, &acked, &what).await;
        outcomes.push(format!(
            "{point}: {refusals} refused (first {:?}: {}…), answered {took:?} after the free",
            refusal.code(),
            refusal.message().chars().take(40).collect::<String>()
        ));
    }
    node.kill().await;
    // Writes acknowledged on disk whose reply was built after the store had failed.
    let log = std::fs::read_to_string(dir.join("40.log")).unwrap_or_default();
    let late = log
        .lines()
        .filter(|l| l.contains("answering with the plan as written"))
        .count();
    println!(
        "{name}: {} fill/free cycles, every one clean; {} entries acknowledged; {late} replies \
         built after the store failed; slowest answer after a free {slowest:?}; {}",
        outcomes.len(),
        acked.ids.len(),
        outcomes.join("; ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tmpfs_refuses_never_shows_a_refused_write_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::tmpfs(&dir.path().join("40"), 24) {
        Ok(d) => d,
        Err(why) => {
            println!(
                "skipped a_full_tmpfs_refuses_never_shows_a_refused_write_and_recovers: {why}"
            );
            return;
        }
    };
    fill_free_loop(
        dir.path(),
        &disk,
        "tmpfs",
        &["flush", "transaction"],
        cycles(),
    )
    .await;
}

/// The same loop on ext4 over a loop device, its refusal points in turn: inside the flush,
/// inside a transaction, and met first by sled's periodic flush after the node stayed idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ext4_refuses_never_shows_a_refused_write_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::ext4(&dir.path().join("40"), 48) {
        Ok(d) => d,
        Err(why) => {
            println!("skipped a_full_ext4_refuses_never_shows_a_refused_write_and_recovers: {why}");
            return;
        }
    };
    fill_free_loop(
        dir.path(),
        &disk,
        "ext4",
        &["flush", "transaction", "idle"],
        cycles(),
    )
    .await;
}

/// The refusal met first by sled's own periodic flush, after the node stayed idle on the full
/// disk. It once showed a write answered as refused and found after the reopen: the write had
/// been acknowledged on disk, and the store failed (a background re-check's commit meeting the
/// full disk) before its reply was read back; the reply now answers the acknowledged write
/// (`Node::revised`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_after_sleds_periodic_flush_failed_never_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::tmpfs(&dir.path().join("40"), 24) {
        Ok(d) => d,
        Err(why) => {
            println!(
                "skipped a_write_refused_after_sleds_periodic_flush_failed_never_comes_back: {why}"
            );
            return;
        }
    };
    fill_free_loop(dir.path(), &disk, "tmpfs", &["idle"], cycles()).await;
}

/// A transaction that rewrites every chunk of a plan's body (an import replacing the whole
/// list) refused by the full disk: whatever sled applied of it in memory is never served, the
/// plan reads as acknowledged (or UNAVAILABLE) while the disk is full, after the free, and
/// after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_torn_by_a_full_disk_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::tmpfs(&dir.path().join("40"), 24) {
        Ok(d) => d,
        Err(why) => {
            println!("skipped a_transaction_torn_by_a_full_disk_is_never_served: {why}");
            return;
        }
    };
    fill_free_loop(dir.path(), &disk, "tmpfs", &["torn"], cycles()).await;
}

/// A node killed (SIGKILL) while its store is failed by the full disk, before space is freed:
/// after the restart it shows exactly what was acknowledged, never the refused import that
/// sled may have written (the take-back record, `docs/full-disk.md`). Whether sled wrote any
/// of the refused import before the kill is up to its own flushes (in the runs so far it had
/// not); the store's own test
/// `a_kill_while_the_store_is_failed_still_takes_back_refused_commits_at_the_next_start`
/// makes that case certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_on_a_full_disk_never_brings_back_a_refused_write() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::tmpfs(&dir.path().join("40"), 24) {
        Ok(d) => d,
        Err(why) => {
            println!(
                "skipped a_node_killed_on_a_full_disk_never_brings_back_a_refused_write: {why}"
            );
            return;
        }
    };
    fill_free_loop(dir.path(), &disk, "tmpfs", &["killed"], cycles().min(2)).await;
}
