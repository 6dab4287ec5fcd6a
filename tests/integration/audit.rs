//! The audit trail: every change is recorded with who, what, when and the plan's hash, and
//! `quyhoach audit verify` finds a record altered, removed or reordered in the store.

use quyhoach::{
    audit::{AuditEvent, AuditRecord},
    grpc::pb,
    store::codec,
};

use crate::{
    harness::*,
    procs::{quyhoach, run},
};

/// `quyhoach audit verify --data DIR`: whether it passed, and what it said.
async fn verify(dir: &std::path::Path) -> (bool, String) {
    verify_args(dir, &[]).await
}

/// Rewrites the audit tree of a stopped node's store with `edit`.
/// sled opened on a stopped node's store, as a tamperer would. A store just closed (by the
/// node, or by the previous step here) may still be locked for a moment while sled's own
/// threads let go of its file; the store's own opening waits for that too (`open_sled`).
fn raw_sled(dir: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(dir) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.unwrap(),
        }
    }
}

fn tamper(dir: &std::path::Path, edit: impl FnOnce(&sled::Tree)) {
    let db = raw_sled(dir);
    edit(&db.open_tree("audit").unwrap());
    db.flush().unwrap();
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

#[tokio::test]
async fn every_change_is_recorded_and_verify_finds_tampering_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&province).await;
    let entries = (0..3).map(|n| province_entry(n, "Nguyễn Văn An")).collect();
    draft_with(&mut p, "40", entries).await;
    let adopted = p
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    let trail = p
        .audit(pb::AuditRequest {
            unit: "40".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(trail.intact);
    let actions: Vec<&str> = trail.records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create_draft",
            "put_entry",
            "put_entry",
            "put_entry",
            "adopt"
        ]
    );
    let adopt = trail.records.last().unwrap();
    assert_eq!(adopt.plan_hash, adopted.hash);
    assert!(
        trail
            .records
            .iter()
            .all(|r| !r.detail.contains("040080000001")),
        "no national ID in the trail"
    );
    province.stop().await.unwrap();

    let store = dir.path().join("40");
    let (ok, said) = verify(&store).await;
    assert!(ok, "{said}");
    let n = trail.total;

    // Altered: the actor of record 3 rewritten in place.
    let saved = raw_sled(&store)
        .open_tree("audit")
        .unwrap()
        .get(key(3))
        .unwrap()
        .unwrap();
    // Rewritten the way a tamperer would: decoded, edited and re-encoded with a valid
    // checksum (the CRC is not a secret); the hash chain is what finds it.
    tamper(&store, |t| {
        let mut record: quyhoach::audit::AuditRecord =
            codec::decode("audit", &key(3), &saved).unwrap();
        record.event.actor = "someone else".into();
        t.insert(key(3), codec::encode(&key(3), &record)).unwrap();
    });
    let (ok, said) = verify(&store).await;
    assert!(!ok);
    assert!(
        said.contains("record 3") && said.contains("altered"),
        "{said}"
    );
    // Damaged without re-encoding: the checksum finds it and names the record.
    tamper(&store, |t| {
        let mut bad = saved.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        t.insert(key(3), bad).unwrap();
    });
    let (ok, said) = verify(&store).await;
    assert!(
        !ok && said.contains("audit #3") && said.contains("checksum"),
        "{said}"
    );
    tamper(&store, |t| {
        t.insert(key(3), saved.clone()).unwrap();
    });
    assert!(verify(&store).await.0, "restored");

    // Reordered: records 4 and 5 swapped.
    let (r4, r5) = {
        let db = raw_sled(&store);
        let t = db.open_tree("audit").unwrap();
        (
            t.get(key(4)).unwrap().unwrap(),
            t.get(key(5)).unwrap().unwrap(),
        )
    };
    // Swapped as stored, the checksums (which cover the key) find it; swapped and re-encoded
    // under their new keys, the chain does.
    tamper(&store, |t| {
        t.insert(key(4), r5.clone()).unwrap();
        t.insert(key(5), r4.clone()).unwrap();
    });
    let (ok, said) = verify(&store).await;
    assert!(!ok && said.contains("audit #4"), "{said}");
    tamper(&store, |t| {
        let reseal = |from: u64, raw: &[u8], to: u64| {
            let record: quyhoach::audit::AuditRecord =
                codec::decode("audit", &key(from), raw).unwrap();
            codec::encode(&key(to), &record)
        };
        t.insert(key(4), reseal(5, &r5, 4)).unwrap();
        t.insert(key(5), reseal(4, &r4, 5)).unwrap();
    });
    let (ok, said) = verify(&store).await;
    assert!(!ok && said.contains("record 4"), "{said}");
    tamper(&store, |t| {
        t.insert(key(4), r4.clone()).unwrap();
        t.insert(key(5), r5.clone()).unwrap();
    });

    // Removed: record 2 deleted; and the last one deleted.
    tamper(&store, |t| {
        t.remove(key(2)).unwrap();
    });
    let (ok, said) = verify(&store).await;
    assert!(!ok && said.contains("record 2"), "{said}");
    tamper(&store, |t| {
        t.remove(key(n)).unwrap();
    });
    assert!(!verify(&store).await.0);
}

/// Every file under `dir` with its bytes, for comparing a store before and after.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&entry.path()));
        } else {
            out.push((entry.path(), std::fs::read(entry.path()).unwrap()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn verify_never_changes_a_store_and_a_path_that_is_not_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let (ok, said) = verify(&missing).await;
    assert!(!ok, "{said}");
    assert!(said.contains("not a quyhoach store"), "{said}");
    assert!(!missing.exists(), "verify created a store");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(!verify(&empty).await.0);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    let node = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&node).await;
    draft_with(&mut c, "40", vec![province_entry(1, "Lê Văn Tám")]).await;
    node.stop().await.unwrap();
    let store = dir.path().join("40");
    let before = files(&store);
    let (ok, said) = verify(&store).await;
    assert!(ok, "{said}");
    assert_eq!(files(&store), before, "verify changed the store");
}

/// A copy of the stopped store `from` in `to`, whose audit trail is rewritten by `edit` and
/// re-chained, with the counter set to the new length: what someone who can rewrite a node's
/// store but does not hold its audit key can produce. The seals of the records kept are kept
/// as they were (the forger cannot make new ones); those of removed records are removed.
fn forge(from: &std::path::Path, to: &std::path::Path, edit: impl FnOnce(&mut Vec<AuditEvent>)) {
    copy_dir(from, to);
    let db = raw_sled(to);
    let audit = db.open_tree("audit").unwrap();
    let seals = db.open_tree("audit_seals").unwrap();
    let mut events: Vec<AuditEvent> = audit
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            codec::decode::<AuditRecord>("audit", &k, &v).unwrap().event
        })
        .collect();
    edit(&mut events);
    audit.clear().unwrap();
    let mut prev = String::new();
    for (i, e) in events.into_iter().enumerate() {
        let seq = i as u64 + 1;
        let record = AuditRecord::seal(seq, e, prev);
        prev = record.digest.clone();
        audit
            .insert(key(seq), codec::encode(&key(seq), &record))
            .unwrap();
    }
    let n = audit.len() as u64;
    for kv in seals.range(key(n + 1)..) {
        seals.remove(kv.unwrap().0).unwrap();
    }
    let meta = db.open_tree("meta").unwrap();
    meta.insert("seq.audit", codec::encode_u64(b"seq.audit", n))
        .unwrap();
    db.flush().unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `quyhoach audit verify --data DIR` with `args`: whether it passed, and what it said.
async fn verify_args(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    run(quyhoach()
        .args(["audit", "verify"])
        .args(args)
        .arg("--data")
        .arg(dir))
    .await
    .said()
}

/// Starts an insecure node for `unit` whose audit key is the file `key` (outside `dir`).
async fn start_keyed(
    dir: &std::path::Path,
    unit: &str,
    parent: Option<String>,
    key: &std::path::Path,
) -> quyhoach::server::Running {
    let config = quyhoach::config::RawConfig {
        unit: Some(unit.into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.join(unit)),
        parent,
        poll_ms: Some(30),
        insecure: Some(true),
        rate_limit: Some(100_000),
        audit_key: Some(key.to_path_buf()),
        ..Default::default()
    }
    .validate()
    .expect("valid test config");
    quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .expect("node starts")
}

/// Writes a new audit key file with `quyhoach audit key`.
async fn new_key(path: &std::path::Path) {
    let ran = run(quyhoach().args(["audit", "key", "--out"]).arg(path)).await;
    assert!(ran.ok, "{ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rewrite_is_named_at_its_first_differing_record() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    for unit in ["40", "412", "16681"] {
        new_key(&keys.path().join(unit)).await;
    }
    let key_of = |unit: &str| keys.path().join(unit);
    let province = start_keyed(dir.path(), "40", None, &key_of("40")).await;
    let district = start_keyed(dir.path(), "412", Some(province.url()), &key_of("412")).await;
    let commune = start_keyed(dir.path(), "16681", Some(district.url()), &key_of("16681")).await;
    let mut k = client(&commune).await;
    adopted_plan(&mut k, "16681", &[(1, "Lê Văn Tám", "C.PCT.UBND")]).await;
    k.submit_plan(pb::SubmitPlanRequest {
        unit: "16681".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    let mut d = client(&district).await;
    wait_status(&mut d, "16681", pb::PlanStatus::Received).await;
    commune.stop().await.unwrap();
    let store = dir.path().join("16681");
    let key = key_of("16681");
    let key = key.to_str().unwrap();
    // The district, still running, is asked for what it witnessed of 16681.
    let district_addr = district.addr.to_string();
    let parent = ["--witnessed-child", "16681", "--node", &district_addr];

    let (ok, said) = verify_args(&store, &[&["--audit-key", key][..], &parent[..]].concat()).await;
    assert!(ok, "the true trail verifies: {said}");
    assert!(said.contains("every record sealed"), "{said}");
    assert!(said.contains("as the parent witnessed it"), "{said}");
    // The latest head of 16681 that the district witnessed.
    let pushes = d
        .audit(pb::AuditRequest {
            action: "receive_push".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seq = quyhoach::audit::witnessed_heads(pushes.records.iter().map(|r| r.detail.as_str()))
        .into_iter()
        .map(|(seq, _)| seq)
        .max()
        .expect("the push carried the commune's head");
    assert!(seq >= 3, "{seq}");
    // Another node's key opens none of the seals.
    let (ok, said) = verify_args(&store, &["--audit-key", key_of("412").to_str().unwrap()]).await;
    assert!(
        !ok && said.contains("record 1 ") && said.contains("seal"),
        "{said}"
    );

    // Record 2 altered and everything after it re-chained.
    let forged = tempfile::tempdir().unwrap();
    forge(&store, forged.path(), |events| {
        events[1].actor = "someone else".into()
    });
    let (ok, said) = verify(forged.path()).await;
    assert!(ok, "the rewrite is consistent in itself: {said}");
    let (ok, said) = verify_args(
        forged.path(),
        &[&["--audit-key", key][..], &parent[..]].concat(),
    )
    .await;
    assert!(!ok, "{said}");
    assert!(said.contains("broken at record 2:"), "{said}");
    assert!(said.contains("altered"), "{said}");
    // Without the key, the parent's witness still sees it, and says where it began at most.
    let (ok, said) = verify_args(forged.path(), &parent).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("differs from what the parent witnessed"),
        "{said}"
    );
    // The node itself, started on the rewritten store with its key, reports the same record.
    let root = tempfile::tempdir().unwrap();
    copy_dir(forged.path(), &root.path().join("16681"));
    let restarted = start_keyed(
        root.path(),
        "16681",
        Some("http://127.0.0.1:1".into()),
        &key_of("16681"),
    )
    .await;
    let answer = client(&restarted)
        .await
        .audit(pb::AuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.intact);
    assert_eq!(answer.broken_at, 2, "{}", answer.problem);
    assert!(answer.problem.contains("seal"), "{}", answer.problem);
    restarted.stop().await.unwrap();

    // The tail cut off below the witnessed head (from record seq - 1 on), the counter lowered.
    let forged = tempfile::tempdir().unwrap();
    forge(&store, forged.path(), |events| {
        events.truncate(seq as usize - 2)
    });
    assert!(verify(forged.path()).await.0, "consistent in itself");
    let (ok, said) = verify_args(
        forged.path(),
        &[&["--audit-key", key][..], &parent[..]].concat(),
    )
    .await;
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!("broken at record {}:", seq - 1)),
        "{said}"
    );
    assert!(said.contains("missing"), "{said}");

    // The trail emptied.
    let forged = tempfile::tempdir().unwrap();
    forge(&store, forged.path(), Vec::clear);
    assert!(verify(forged.path()).await.0, "consistent in itself");
    let (ok, said) = verify_args(
        forged.path(),
        &[&["--audit-key", key][..], &parent[..]].concat(),
    )
    .await;
    assert!(!ok, "{said}");
    assert!(said.contains("broken at record 1:"), "{said}");
    assert!(said.contains("missing"), "{said}");

    // Seals stripped from a re-chained trail: with the key, the first unsealed record is named.
    let forged = tempfile::tempdir().unwrap();
    forge(&store, forged.path(), |events| {
        events[2].detail = "forged".into()
    });
    {
        let db = raw_sled(forged.path());
        db.open_tree("audit_seals").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    let (ok, said) = verify_args(forged.path(), &["--audit-key", key]).await;
    assert!(
        !ok && said.contains("broken at record 1:") && said.contains("no seal"),
        "{said}"
    );

    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_node_seals_with_a_key_derived_from_its_private_key() {
    use quyhoach::pki::{self, Authority, Subject};
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    for unit in ["40", "412"] {
        let issued = ca.issue(&Subject::node(unit, &[], 1)).unwrap();
        pki::write(&dir.path().join("nodes"), unit, &issued).unwrap();
    }
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    let nodes = dir.path().join("nodes");
    let config = quyhoach::config::RawConfig {
        unit: Some("40".into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.path().join("40")),
        cert: Some(nodes.join("40.pem")),
        key: Some(nodes.join("40.key")),
        ca: Some(dir.path().join("ca.pem")),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let node = quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .unwrap();
    let clerk = ca
        .issue(&Subject::new(
            "40",
            &[quyhoach::auth::Role::Clerk],
            "Lê Thư Ký",
            1,
        ))
        .unwrap();
    let tls = quyhoach::config::Tls {
        ca_pem: ca.cert_pem.clone(),
        cert_pem: clerk.cert_pem,
        key_pem: clerk.key_pem,
    };
    let mut c = quyhoach::client::connect(&node.addr.to_string(), Some(&tls))
        .await
        .unwrap();
    draft_with(&mut c, "40", vec![province_entry(1, "Lê Văn Tám")]).await;
    node.stop().await.unwrap();

    let store = dir.path().join("40");
    let own = nodes.join("40.key");
    let (ok, said) = verify_args(&store, &["--audit-key", own.to_str().unwrap()]).await;
    assert!(ok && said.contains("every record sealed"), "{said}");
    let other = nodes.join("412.key");
    let (ok, said) = verify_args(&store, &["--audit-key", other.to_str().unwrap()]).await;
    assert!(!ok && said.contains("broken at record 1:"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_before_the_key_pass_only_as_the_given_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("40.key");
    new_key(&key).await;
    // The key file is its owner's only, and never replaced.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let text = std::fs::read(&key).unwrap();
    let again = run(quyhoach().args(["audit", "key", "--out"]).arg(&key)).await;
    assert!(!again.ok);
    assert_eq!(std::fs::read(&key).unwrap(), text, "the key was replaced");
    // First without a key (chained, not sealed), then with one.
    let node = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&node).await;
    draft_with(&mut c, "40", vec![province_entry(1, "Lê Văn Tám")]).await;
    node.stop().await.unwrap();
    let store = dir.path().join("40");
    let before = quyhoach::store::trail::read_store_copy(&store)
        .unwrap()
        .records
        .len() as u64;
    assert!(before >= 2, "create_draft and put_entry at least");
    let node = start_keyed(dir.path(), "40", None, &key).await;
    let mut c = client(&node).await;
    c.put_entry(pb::PutEntryRequest {
        unit: "40".into(),
        term: TERM.into(),
        entry: Some(province_entry(2, "Đỗ Thị Mai")),
    })
    .await
    .unwrap();
    // The node itself accepts the unsealed start of its trail.
    let trail = c
        .audit(pb::AuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(trail.intact, "{}", trail.problem);
    node.stop().await.unwrap();

    let key = key.to_str().unwrap();
    let (ok, said) = verify_args(&store, &["--audit-key", key]).await;
    assert!(
        !ok && said.contains("broken at record 1:") && said.contains("no seal"),
        "{said}"
    );
    let short = (before - 1).to_string();
    let (ok, said) = verify_args(&store, &["--audit-key", key, "--unsealed", &short]).await;
    assert!(
        !ok && said.contains(&format!("broken at record {before}:")),
        "{said}"
    );
    let exact = before.to_string();
    let (ok, said) = verify_args(&store, &["--audit-key", key, "--unsealed", &exact]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("records 1..={before} unsealed, the rest sealed")),
        "{said}"
    );
}

/// The issue's stopped store whose record 3 was altered and the chain after it recomputed, in
/// place, its durable-state record beside it: verify runs every check and says each finding,
/// the altered record first (chain and seals), then the parent's witness, then the state
/// record, naming the paths the operator gave (never the temporary copy it reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_says_every_finding_the_altered_record_first_with_the_given_paths() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    for unit in ["40", "412", "16681"] {
        new_key(&keys.path().join(unit)).await;
    }
    let key_of = |unit: &str| keys.path().join(unit);
    let province = start_keyed(dir.path(), "40", None, &key_of("40")).await;
    let district = start_keyed(dir.path(), "412", Some(province.url()), &key_of("412")).await;
    let commune = start_keyed(dir.path(), "16681", Some(district.url()), &key_of("16681")).await;
    let mut k = client(&commune).await;
    adopted_plan(&mut k, "16681", &[(1, "Lê Văn Tám", "C.PCT.UBND")]).await;
    k.submit_plan(pb::SubmitPlanRequest {
        unit: "16681".into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
    let mut d = client(&district).await;
    wait_status(&mut d, "16681", pb::PlanStatus::Received).await;
    commune.stop().await.unwrap();
    let store = dir.path().join("16681");
    let state = quyhoach::store::state::path_for(&store);
    assert!(state.is_file(), "a stopped node leaves its state record");
    let key = key_of("16681");
    let district_addr = district.addr.to_string();
    let args = [
        "--audit-key",
        key.to_str().unwrap(),
        "--witnessed-child",
        "16681",
        "--node",
        &district_addr,
    ];
    let (ok, said) = verify_args(&store, &args).await;
    assert!(ok, "the true trail verifies: {said}");

    // Record 3 altered in place and re-chained, the state record left beside it.
    let root = tempfile::tempdir().unwrap();
    let forged = root.path().join("16681");
    forge(&store, &forged, |events| events[2].detail = "forged".into());
    let forged_state = quyhoach::store::state::path_for(&forged);
    std::fs::copy(&state, &forged_state).unwrap();

    let (ok, said) = verify_args(&forged, &args).await;
    assert!(!ok, "{said}");
    let altered = said
        .find("broken at record 3:")
        .unwrap_or_else(|| panic!("the altered record is not named: {said}"));
    let witnessed = said
        .find("differs from what the parent witnessed")
        .unwrap_or_else(|| panic!("the witness's finding is not said: {said}"));
    let lost = said
        .find("lost data")
        .unwrap_or_else(|| panic!("the state record's finding is not said: {said}"));
    assert!(altered < witnessed && witnessed < lost, "{said}");
    assert!(
        said.contains(&forged_state.display().to_string())
            && said.contains(&format!("the store in {} ", forged.display())),
        "the operator's paths: {said}"
    );
    let tmp = std::env::temp_dir().display().to_string();
    let root_text = root.path().display().to_string();
    for word in said.split_whitespace().filter(|w| w.starts_with(&tmp)) {
        assert!(
            word.starts_with(&root_text),
            "a path not given: {word} in {said}"
        );
    }

    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
