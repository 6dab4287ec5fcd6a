//! The audit trail: every change is recorded with who, what, when and the plan's hash, and
//! `quyhoach audit verify` finds a record altered, removed or reordered in the store.

use std::process::Command;

use quyhoach::grpc::pb;

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
    assert!(verify(&store).0);
    let n = trail.total;

    // Altered: the actor of record 3 rewritten in place.
    let saved = sled::open(&store)
        .unwrap()
        .open_tree("audit")
        .unwrap()
        .get(key(3))
        .unwrap()
        .unwrap();
    tamper(&store, |t| {
        let text = String::from_utf8(saved.to_vec())
            .unwrap()
            .replace("system (40)", "someone else")
            .replace("insecure (no TLS)", "someone else");
        t.insert(key(3), text.as_bytes()).unwrap();
    });
    let (ok, said) = verify(&store);
    assert!(!ok);
    assert!(
        said.contains("record 3") && said.contains("altered"),
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
    tamper(&store, |t| {
        t.insert(key(4), r5.clone()).unwrap();
        t.insert(key(5), r4.clone()).unwrap();
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
