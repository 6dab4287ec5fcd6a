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
    tamper(&store, |t| {
        t.insert(key(4), r5.clone()).unwrap();
        t.insert(key(5), r4.clone()).unwrap();
    });
    // The checksum covers the key, so a record moved to another sequence number is found as
    // damage at the first moved one.
    let (ok, said) = verify(&store);
    assert!(
        !ok && (said.contains("record 4") || said.contains("audit #4")),
        "{said}"
    );
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
