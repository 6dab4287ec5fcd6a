//! The audit trail: every change is recorded with who, what, when and the plan's hash, and
//! `quyhoach audit verify` finds a record altered, removed or reordered in the store.

use std::process::Command;

use quyhoach::{grpc::pb, store::codec};

use crate::harness::*;

fn verify(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quyhoach"))
        .args(["audit", "verify", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Rewrites the audit tree of a stopped node's store with `edit`.
fn tamper(dir: &std::path::Path, edit: impl FnOnce(&sled::Tree)) {
    let db = sled::open(dir).unwrap();
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
    let (ok, said) = verify(&store);
    assert!(ok, "{said}");
    let n = trail.total;

    // Altered: the actor of record 3 rewritten in place.
    let saved = sled::open(&store)
        .unwrap()
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
    let (ok, said) = verify(&store);
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
    let (ok, said) = verify(&store);
    assert!(
        !ok && said.contains("audit #3") && said.contains("checksum"),
        "{said}"
    );
    tamper(&store, |t| {
        t.insert(key(3), saved.clone()).unwrap();
    });
    assert!(verify(&store).0, "restored");

    // Reordered: records 4 and 5 swapped.
    let (r4, r5) = {
        let db = sled::open(&store).unwrap();
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
    let (ok, said) = verify(&store);
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
    let (ok, said) = verify(&store);
    assert!(!ok && said.contains("record 4"), "{said}");
    tamper(&store, |t| {
        t.insert(key(4), r4.clone()).unwrap();
        t.insert(key(5), r5.clone()).unwrap();
    });

    // Removed: record 2 deleted; and the last one deleted.
    tamper(&store, |t| {
        t.remove(key(2)).unwrap();
    });
    let (ok, said) = verify(&store);
    assert!(!ok && said.contains("record 2"), "{said}");
    tamper(&store, |t| {
        t.remove(key(n)).unwrap();
    });
    assert!(!verify(&store).0);
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
    let (ok, said) = verify(&missing);
    assert!(!ok, "{said}");
    assert!(said.contains("not a quyhoach store"), "{said}");
    assert!(!missing.exists(), "verify created a store");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(!verify(&empty).0);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    let node = start(dir.path(), "40", None, "builtin:2024").await;
    let mut c = client(&node).await;
    draft_with(&mut c, "40", vec![province_entry(1, "Lê Văn Tám")]).await;
    node.stop().await.unwrap();
    let store = dir.path().join("40");
    let before = files(&store);
    let (ok, said) = verify(&store);
    assert!(ok, "{said}");
    assert_eq!(files(&store), before, "verify changed the store");
}

/// A store whose audit trail is exactly `events`, chained and counted as the store does it:
/// what someone who can rewrite a node's store can produce.
async fn forged_store(dir: &std::path::Path, events: Vec<quyhoach::audit::AuditEvent>) {
    use quyhoach::store::{Change, SledStore, Store};
    let store = SledStore::open(dir).unwrap();
    let mut ticket = 0;
    for e in events {
        ticket = store.commit(vec![Change::Audit(e)]).unwrap();
    }
    store.wait_durable(ticket).await.unwrap();
}

fn verify_with(dir: &std::path::Path, witness: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quyhoach"))
        .args(["audit", "verify", "--witness", witness, "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_trail_differs_from_what_the_parent_witnessed() {
    let tree = Tree::start().await;
    let mut k = client(&tree.commune).await;
    adopted_plan(&mut k, "16681", &[(1, "Lê Văn Tám", "C.PCT.UBND")]).await;
    k.submit_plan(pb::SubmitPlanRequest {
        unit: "16681".into(),
        term: TERM.into(),
    })
    .await
    .unwrap();
    let mut d = client(&tree.district).await;
    wait_status(&mut d, "16681", pb::PlanStatus::Received).await;
    let root = tree._dir.path().to_path_buf();
    // Keep the folder: stop the nodes but not the tree's temporary directory.
    let Tree {
        _dir,
        province,
        district,
        commune,
        sibling,
    } = tree;
    for n in [commune, sibling, district, province] {
        n.stop().await.unwrap();
    }

    // The district's own record of the push names the commune's head.
    let (parent, _, _) = quyhoach::audit::read_store_copy(&root.join("412")).unwrap();
    let witness = parent
        .iter()
        .filter(|r| r.event.action == "receive_push")
        .find_map(|r| r.event.detail.split("head ").nth(1).map(str::to_string))
        .expect("the push carried the commune's audit head");
    let (seq, _) = quyhoach::audit::parse_head(&witness).unwrap();
    assert!(seq >= 3, "{witness}");

    let commune = root.join("16681");
    let (ok, said) = verify_with(&commune, &witness);
    assert!(ok, "the true trail matches its witness: {said}");

    let (records, _, _) = quyhoach::audit::read_store_copy(&commune).unwrap();
    let events: Vec<_> = records.iter().map(|r| r.event.clone()).collect();
    let mut altered = events.clone();
    altered[1].actor = "someone else".into();
    let forgeries = [
        ("altered and re-chained", altered),
        ("cut short", events[..(seq as usize - 1)].to_vec()),
        ("emptied", Vec::new()),
    ];
    for (what, events) in forgeries {
        let dir = tempfile::tempdir().unwrap();
        forged_store(dir.path(), events).await;
        let (ok, said) = verify(dir.path());
        assert!(ok, "{what}: a rewrite is consistent in itself: {said}");
        let (ok, said) = verify_with(dir.path(), &witness);
        assert!(!ok, "{what}: not detected");
        assert!(said.contains(&format!("record {seq}")), "{what}: {said}");
        assert!(said.contains("witnessed"), "{what}: {said}");
    }
}
