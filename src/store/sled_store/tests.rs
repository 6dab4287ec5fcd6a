//! The sled store's own tests: round trips, damage found and named, group commit, reopen.

use std::{fs::File, sync::Arc};

use super::{
    super::{codec, keys, state, Change, OutboxItem, Receipt, Result, Store, StoreError},
    SledStore, BODIES, PLANS,
};
use crate::domain::{Cadre, Entry, EntrySource};
use crate::domain::{Decision, Plan, PlanId};
use crate::rules::testkit::{cadre, d};

fn plan(unit: &str, version: u32, n: usize) -> Plan {
    let mut p = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: "2025-2030".into(),
            version,
        },
        None,
    );
    p.entries = (0..n)
        .map(|i| Entry {
            cadre: Cadre {
                birth_date: d(1980, 1, 1),
                current_positions: vec![],
                current_unit: unit.into(),
                ..cadre(&format!("{:012}", i), "Nguyễn Văn An")
            },
            position: "C.BT".into(),
            source: EntrySource::Voted,
            origin: None,
        })
        .collect();
    p
}

#[tokio::test]
async fn plans_round_trip_and_replace_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    durable(&store, vec![Change::PutPlan(plan("16681", 1, 5))]).await;
    durable(
        &store,
        vec![
            Change::PutPlan(plan("16681", 1, 2)),
            Change::PutPlan(plan("16681", 2, 1)),
        ],
    )
    .await;
    let id = PlanId {
        unit: "16681".into(),
        term: "2025-2030".into(),
        version: 1,
    };
    assert_eq!(store.plan(&id).unwrap().unwrap().entries.len(), 2);
    assert_eq!(store.latest_version("16681", "2025-2030").unwrap(), Some(2));
    assert_eq!(store.latest_version("1668", "2025-2030").unwrap(), None);
    assert_eq!(store.headers().unwrap().len(), 2);
    durable(&store, vec![Change::PutPlan(plan("16690", 1, 1))]).await;
    let only = store
        .headers_where(&|unit, term| unit == "16681" && term == "2025-2030")
        .unwrap();
    let versions: Vec<u32> = only.iter().map(|h| h.id.version).collect();
    assert_eq!(versions, [1, 2]);
    assert!(store
        .headers_where(&|_, term| term == "2026-2031")
        .unwrap()
        .is_empty());
}

fn id(unit: &str, version: u32) -> PlanId {
    PlanId {
        unit: unit.into(),
        term: "2025-2030".into(),
        version,
    }
}

/// A plan as adopted: its hash is its content's. Its names are incompressible, so that
/// its body takes several chunks.
fn adopted(unit: &str, version: u32, n: usize) -> Plan {
    let mut p = plan(unit, version, n);
    for (i, e) in p.entries.iter_mut().enumerate() {
        e.cadre.full_name = blake3::hash(&i.to_be_bytes()).to_hex().as_str().into();
    }
    p.status = crate::domain::PlanStatus::Adopted;
    p.hash = Some(p.content_hash());
    p
}

fn event(action: &str) -> crate::audit::AuditEvent {
    crate::audit::AuditEvent {
        at: chrono::Utc::now(),
        actor: "test".into(),
        action: action.into(),
        plan: None,
        plan_hash: None,
        detail: String::new(),
    }
}

/// Writes a store with one value of each kind, then runs `damage` on its sled trees
/// directly (the store closed), and reopens it.
async fn damaged(damage: impl FnOnce(&sled::Db)) -> (tempfile::TempDir, Arc<SledStore>) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        durable(
            &store,
            vec![
                Change::PutPlan(adopted("412", 1, 3_000)),
                Change::PutReceipt(Receipt {
                    plan: id("412", 1),
                    hash: "h".into(),
                    received_by: "40".into(),
                    received_at: chrono::Utc::now(),
                }),
                Change::SetDocument("reference".into(), serde_json::json!({"v": 3})),
                Change::SetMeta("link.cursor".into(), 9),
                Change::Audit(event("put_plan")),
            ],
        )
        .await;
    }
    {
        let db = super::open::open_sled(&dir.path().join("store")).unwrap();
        damage(&db);
        db.flush().unwrap();
    }
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

/// Flips one byte of the value under `key` in `tree`.
fn flip(db: &sled::Db, tree: &str, key: &[u8], at: usize) {
    let tree = db.open_tree(tree).unwrap();
    let mut v = tree.get(key).unwrap().expect("value to damage").to_vec();
    let at = at.min(v.len() - 1);
    v[at] ^= 0x01;
    tree.insert(key, v).unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T>, names: &str) {
    match result {
        Err(StoreError::Corrupt { key, reason }) => {
            assert!(
                key.contains(names),
                "{key:?} does not name {names:?} ({reason})"
            )
        }
        other => panic!("expected Corrupt naming {names}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_flipped_byte_in_any_stored_value_is_found_and_named() {
    let plan_key = keys::plan(&id("412", 1));
    // The header: one byte in its payload.
    let (_d, store) = damaged(|db| flip(db, "plans", &plan_key, 20)).await;
    assert_corrupt(store.plan(&id("412", 1)), "plans 412/2025-2030/v1");
    assert_corrupt(store.headers(), "plans 412/2025-2030/v1");
    // The second chunk of the body (3,000 entries take several).
    let chunk = keys::item(&id("412", 1), 1);
    let (_d, store) = damaged(|db| flip(db, "bodies", &chunk, 10_000)).await;
    assert!(store.header(&id("412", 1)).unwrap().is_some());
    assert_corrupt(store.plan(&id("412", 1)), "bodies 412/2025-2030/v1 chunk 1");
    // A missing chunk.
    let (_d, store) = damaged(|db| {
        db.open_tree("bodies").unwrap().remove(&chunk).unwrap();
    })
    .await;
    assert_corrupt(store.plan(&id("412", 1)), "412/2025-2030/v1 chunk 2");
    // The receipt, a document, a counter, an audit record: the CRC byte itself.
    let (_d, store) = damaged(|db| flip(db, "receipts", &plan_key, 2)).await;
    assert_corrupt(store.receipt(&id("412", 1)), "receipts 412/2025-2030/v1");
    let (_d, store) = damaged(|db| flip(db, "documents", b"reference", 7)).await;
    assert_corrupt(store.document("reference"), "documents reference");
    let (_d, store) = damaged(|db| flip(db, "meta", b"link.cursor", 12)).await;
    assert_corrupt(store.meta("link.cursor"), "meta link.cursor");
    let (_d, store) = damaged(|db| flip(db, "audit", &1u64.to_be_bytes(), 40)).await;
    assert_corrupt(store.audit(), "audit #1");
    // A value moved under another key.
    let (_d, store) = damaged(|db| {
        let meta = db.open_tree("meta").unwrap();
        let v = meta.get("link.cursor").unwrap().unwrap();
        meta.insert("seq.audit", v).unwrap();
    })
    .await;
    assert_corrupt(store.audit(), "meta seq.audit");
    // And a commit on top of damage fails instead of building on it.
    assert_corrupt(
        store.commit(vec![Change::Audit(event("after"))]),
        "meta seq.audit",
    );
}

#[tokio::test]
async fn a_format_2_store_is_upgraded_when_opened_and_reads_the_same_plans() {
    let before = adopted("412", 1, 3_000);
    let (dir, store) = damaged(|db| {
        // Turn the store back into what format 2 wrote: old-shape bodies, format mark 2.
        let bodies = db.open_tree("bodies").unwrap();
        for item in bodies.scan_prefix(keys::items_prefix(&before.id)) {
            bodies.remove(item.unwrap().0).unwrap();
        }
        for (k, v) in codec::format2::encode_body(&before) {
            bodies.insert(k, v).unwrap();
        }
        let key = codec::FORMAT_KEY.as_bytes();
        db.open_tree("meta")
            .unwrap()
            .insert(key, codec::encode_u64(key, 2))
            .unwrap();
    })
    .await;
    assert_eq!(
        store.plan(&id("412", 1)).unwrap().unwrap().entries,
        before.entries
    );
    drop(store);
    // The mark says 3 now, and the store opens again as format 3.
    let db = super::open::open_sled(&dir.path().join("store")).unwrap();
    let key = codec::FORMAT_KEY.as_bytes();
    let mark = db.open_tree("meta").unwrap().get(key).unwrap().unwrap();
    assert_eq!(codec::decode_u64("meta", key, &mark).unwrap(), 3);
    drop(db);
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    assert_eq!(
        store.plan(&id("412", 1)).unwrap().unwrap().entries,
        before.entries
    );
}

#[tokio::test]
async fn a_body_that_decodes_but_is_not_the_hashed_content_is_refused() {
    // Well-formed chunks of another plan's content under the right keys (what a bad
    // restore or a stray write could leave): every CRC holds, the content hash does not.
    let (_d, store) = damaged(|db| {
        let bodies = db.open_tree("bodies").unwrap();
        let mut other = adopted("412", 1, 3_000);
        other.entries[17].cadre.full_name = "Trần Văn Bình".into();
        for (k, v) in codec::encode_body(&other) {
            bodies.insert(k, v).unwrap();
        }
    })
    .await;
    match store.plan(&id("412", 1)) {
        Err(StoreError::Corrupt { key, reason }) => {
            assert!(key.contains("412/2025-2030/v1"), "{key}");
            assert!(reason.contains("content hash"), "{reason}");
        }
        other => panic!("expected a content hash mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_format_1_store_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = super::open::open_sled(&dir.path().join("store")).unwrap();
        for name in ["plans", "entries", "rounds", "meta"] {
            db.open_tree(name).unwrap();
        }
        db.open_tree("plans")
            .unwrap()
            .insert(keys::plan(&id("412", 1)), &b"{\"status\":\"draft\"}"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&dir.path().join("store"))
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Format { .. }), "{message}");
    assert!(message.contains("format 1"), "{message}");
    assert!(message.contains("quyhoach export"), "{message}");
    // Nothing was written to it.
    let db = super::open::open_sled(&dir.path().join("store")).unwrap();
    assert!(db.open_tree("meta").unwrap().is_empty());
}

#[tokio::test]
async fn a_commit_is_read_back_before_it_is_applied_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    let t1 = store
        .commit(vec![
            Change::PutPlan(plan("412", 1, 700)),
            Change::Enqueue(OutboxItem {
                plan: id("412", 1),
                queued_at: chrono::Utc::now(),
                approval: None,
            }),
            Change::Audit(event("one")),
        ])
        .unwrap();
    // Staged, not applied: reads see it, and the next commit builds on it.
    assert_eq!(store.transactions(), 0);
    assert_eq!(
        store.plan(&id("412", 1)).unwrap().unwrap().entries.len(),
        700
    );
    let t2 = store
        .commit(vec![
            Change::PutPlan(plan("412", 1, 2)),
            Change::Dequeue(1),
            Change::Audit(event("two")),
        ])
        .unwrap();
    assert_eq!(store.plan(&id("412", 1)).unwrap().unwrap().entries.len(), 2);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.latest_version("412", "2025-2030").unwrap(), Some(1));
    store.wait_durable(t2).await.unwrap();
    store.wait_durable(t1).await.unwrap();
    assert_eq!(store.transactions(), 1, "both commits in one transaction");
    assert_eq!(store.plan(&id("412", 1)).unwrap().unwrap().entries.len(), 2);
    let (records, head) = store.audit().unwrap();
    assert_eq!(head, 2);
    assert!(crate::audit::verify(&records, head).is_ok());
    // The shorter body left no chunk of the longer one behind.
    assert_eq!(
        store.engine().unwrap().trees[BODIES]
            .scan_prefix(keys::items_prefix(&id("412", 1)))
            .count(),
        1
    );
}

#[tokio::test]
async fn concurrent_commits_share_flushes_and_all_become_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            durable(&store, vec![Change::PutPlan(plan(&format!("{i}"), 1, 3))]).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.headers().unwrap().len(), 64);
    // The commits are in sled, and fewer transactions carried them (how many fewer depends
    // on scheduling; with one it would be 64).
    assert!(store.transactions() <= 64);
    assert_eq!(
        store.engine().unwrap().trees[PLANS].len(),
        64,
        "every commit applied to sled, not only staged"
    );
}

#[tokio::test]
async fn outbox_and_decision_sequences_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = PlanId {
        unit: "16681".into(),
        term: "2025-2030".into(),
        version: 1,
    };
    {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        assert_eq!(enqueue(&store, &id, 2).await, [1, 2]);
        durable(&store, vec![Change::Dequeue(1)]).await;
    }
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    assert_eq!(enqueue(&store, &id, 1).await, [2, 3]);
}

/// Commits `changes` and waits until they are on disk.
async fn durable(store: &SledStore, changes: Vec<Change>) {
    let t = store.commit(changes).unwrap();
    store.wait_durable(t).await.unwrap();
}

/// Queues `n` submissions of `id` in one durable commit; the sequence numbers the outbox then
/// holds.
async fn enqueue(store: &SledStore, id: &PlanId, n: usize) -> Vec<u64> {
    let item = || OutboxItem {
        plan: id.clone(),
        queued_at: chrono::Utc::now(),
        approval: None,
    };
    durable(store, (0..n).map(|_| Change::Enqueue(item())).collect()).await;
    store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

#[tokio::test]
async fn a_large_province_never_reaches_sleds_unsynced_blob_files() {
    // 200 plans of 125 entries: 25,000 entries, the size of a whole province's lists.
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    for unit in 0..200 {
        durable(
            &store,
            vec![Change::PutPlan(plan(&format!("{unit:05}"), 1, 125))],
        )
        .await;
    }
    // And one plan of 1,000 entries, which as a single value would be far over 128 KiB.
    durable(&store, vec![Change::PutPlan(plan("40", 1, 1_000))]).await;
    assert_eq!(store.headers().unwrap().len(), 201);
    let blobs = dir.path().join("blobs");
    let count = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        count, 0,
        "sled wrote {count} blob files, which it never syncs"
    );
}

#[tokio::test]
async fn the_outbox_and_decision_log_show_only_what_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    let id = PlanId {
        unit: "16681".into(),
        term: "2025-2030".into(),
        version: 1,
    };
    let decision = Decision {
        plan: id.clone(),
        hash: "h".into(),
        outcome: crate::domain::Outcome::Return,
        reasons: vec!["r".into()],
        decided_by: "412".into(),
        decided_at: chrono::Utc::now(),
    };
    let item = OutboxItem {
        plan: id.clone(),
        queued_at: chrono::Utc::now(),
        approval: None,
    };
    // The flusher runs only when someone waits, so this commit stays in memory.
    let t = store
        .commit(vec![
            Change::Enqueue(item.clone()),
            Change::LogDecision(decision.clone()),
        ])
        .unwrap();
    assert!(store.outbox().unwrap().is_empty(), "not durable yet");
    assert!(store.decisions_for("16681", 0).unwrap().is_empty());
    store.wait_durable(t).await.unwrap();
    assert_eq!(store.outbox().unwrap(), [(1, item.clone())]);
    assert_eq!(store.decisions_for("16681", 0).unwrap(), [(1, decision)]);
    // A second commit is hidden again until its own flush, the first stays visible.
    let t = store.commit(vec![Change::Enqueue(item.clone())]).unwrap();
    assert_eq!(store.outbox().unwrap().len(), 1);
    store.wait_durable(t).await.unwrap();
    assert_eq!(store.outbox().unwrap().len(), 2);
    assert!(store.decisions_for("16681", 1).unwrap().is_empty());
}

#[tokio::test]
async fn a_partial_snapshot_left_by_an_interrupted_start_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        durable(&store, vec![Change::PutPlan(plan("16681", 1, 3))]).await;
    }
    // What sled 0.34.7 leaves when killed while writing a snapshot: an empty file whose
    // name sorts after every real snapshot.
    let leftover = dir.path().join("store/snap.FFFFFFFFFFFFFFFF.generating");
    File::create(&leftover).unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    assert!(!leftover.exists());
    assert_eq!(store.headers().unwrap().len(), 1);
}

/// The `conf` file sled 0.34.7 writes when it creates a store in a fresh folder (its settings,
/// then their four-byte checksum), read back from a real creation.
fn sled_conf() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    drop(sled::open(dir.path()).unwrap());
    std::fs::read(dir.path().join("conf")).unwrap()
}

#[tokio::test]
async fn a_store_whose_creation_was_cut_short_is_created_again() {
    let conf = sled_conf();
    // What a kill between sled's writes leaves: its folder, part of `conf`, no `db` (the
    // model test's CI run was killed there and the node never started again).
    for cut in [1, 9, conf.len() / 2, conf.len() - 4, conf.len() - 1] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store");
        std::fs::create_dir_all(data.join("blobs")).unwrap();
        std::fs::write(data.join("conf"), &conf[..cut]).unwrap();
        let store = SledStore::open(&data)
            .unwrap_or_else(|e| panic!("a store cut short after {cut} bytes of conf: {e}"));
        durable(&store, vec![Change::PutPlan(plan("16681", 1, 3))]).await;
        drop(store);
        let store = SledStore::open(&data).unwrap();
        assert_eq!(store.headers().unwrap().len(), 1, "cut after {cut} bytes");
        assert_eq!(std::fs::read(data.join("conf")).unwrap(), conf);
    }
}

#[tokio::test]
async fn a_damaged_conf_beside_a_db_is_refused_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    {
        let store = SledStore::open(&data).unwrap();
        durable(&store, vec![Change::PutPlan(plan("16681", 1, 3))]).await;
    }
    // A store that held data: a damaged `conf` is not a creation cut short, and is left for
    // its administrator rather than written again over the data.
    let conf = std::fs::read(data.join("conf")).unwrap();
    std::fs::write(data.join("conf"), &conf[..conf.len() - 4]).unwrap();
    let Err(e) = SledStore::open(&data) else {
        panic!("a store with a damaged conf beside its db opened")
    };
    assert!(e.to_string().contains("corrupt"), "{e}");
    assert_eq!(
        std::fs::read(data.join("conf")).unwrap(),
        &conf[..conf.len() - 4]
    );
    assert!(data.join("db").metadata().unwrap().len() > 0);
}

#[tokio::test]
async fn a_folder_open_elsewhere_is_refused_and_its_snapshot_files_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let open = SledStore::open(&data).unwrap();
    // A snapshot the open store could be writing at this moment.
    let writing = data.join("snap.FFFFFFFFFFFFFFFF.generating");
    File::create(&writing).unwrap();
    let second = SledStore::open(&data);
    let Err(e) = second else {
        panic!("a second handle opened a folder that is open")
    };
    assert!(e.to_string().contains("open in another process"), "{e}");
    assert!(writing.exists(), "the repair touched a folder that is open");
    drop(open);
    // Once the first handle is closed, the folder opens again (and is repaired).
    SledStore::open(&data).unwrap();
    assert!(!writing.exists());
}

#[tokio::test]
async fn a_store_behind_its_durable_state_record_refuses_writes_and_keeps_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let item = OutboxItem {
        plan: PlanId {
            unit: "16681".into(),
            term: "2025-2030".into(),
            version: 1,
        },
        queued_at: chrono::Utc::now(),
        approval: None,
    };
    let copy = dir.path().join("copy");
    {
        let store = SledStore::open(&data).unwrap();
        durable(&store, vec![Change::Enqueue(item.clone())]).await;
        // A copy of the store as it is now: the "old backup".
        drop(store);
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&data)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        let store = SledStore::open(&data).unwrap();
        durable(
            &store,
            vec![Change::Enqueue(item.clone()), Change::Enqueue(item)],
        )
        .await;
    }
    let record = state::read(&state::path_for(&data)).unwrap().unwrap();
    assert_eq!(record.outbox_seq, 3, "written at close");

    // The old copy put back in place of the store.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&copy, &data).unwrap();
    let store = SledStore::open(&data).unwrap();
    assert_eq!(store.outbox().unwrap().len(), 1, "reads go on");
    let err = store.commit(vec![]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Behind(_)), "{message}");
    assert!(message.contains("outbox items 2..=3"), "{message}");
    assert!(message.contains(".state"), "{message}");
    drop(store);
    assert_eq!(
        state::read(&state::path_for(&data)).unwrap().unwrap(),
        record,
        "the record is kept as evidence"
    );
}

/// A process killed while its store is failed (the disk full, before the reopen took back what
/// sled had written of refused commits): at the next start the take-back record is applied, so
/// the refused value is not read back, and the record is cleared. Without the record (the
/// other side of the boundary) the refused value is what sled has on disk.
#[tokio::test]
async fn a_kill_while_the_store_is_failed_still_takes_back_refused_commits_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let store = SledStore::open(&data).unwrap();
    let key = b"test/take-back".to_vec();
    let engine = store.engine().unwrap();
    // Acknowledged: on disk.
    engine.trees[super::META]
        .insert(&key, &b"acknowledged"[..])
        .unwrap();
    engine.db.flush().unwrap();
    // Refused: applied in sled's memory and written by sled on its own, then the store fails
    // before its flush is acknowledged.
    let old = engine.trees[super::META]
        .insert(&key, &b"refused"[..])
        .unwrap();
    store
        .control
        .undo
        .lock()
        .unwrap()
        .push_back((1, vec![(super::META, key.clone(), old)]));
    engine.db.flush().unwrap();
    store
        .control
        .fail(&store.flushed_tx, "test: the disk is full".into(), true);
    // The kill: what is on disk now is what the next start finds.
    let copy = |to: &std::path::Path, with_record: bool| {
        std::fs::create_dir_all(to).unwrap();
        for f in std::fs::read_dir(&data).unwrap() {
            let f = f.unwrap();
            copy_tree(&f.path(), &to.join(f.file_name()));
        }
        if with_record {
            std::fs::copy(
                super::takeback::path_for(&data),
                super::takeback::path_for(to),
            )
            .unwrap();
        }
    };
    let (killed, unrecorded) = (dir.path().join("killed"), dir.path().join("unrecorded"));
    copy(&killed, true);
    copy(&unrecorded, false);
    drop(engine);
    drop(store);

    let read = |path: &std::path::Path| {
        let store = SledStore::open(path).unwrap();
        let v = store.engine().unwrap().trees[super::META]
            .get(&key)
            .unwrap();
        v.map(|v| String::from_utf8(v.to_vec()).unwrap())
    };
    assert_eq!(read(&killed).as_deref(), Some("acknowledged"));
    assert!(
        super::takeback::load(&super::takeback::path_for(&killed))
            .unwrap()
            .is_empty(),
        "the record is cleared once taken back"
    );
    assert_eq!(
        read(&killed).as_deref(),
        Some("acknowledged"),
        "and stays so"
    );
    assert_eq!(read(&unrecorded).as_deref(), Some("refused"));
}

/// Copies a file, or a folder with everything in it.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for f in std::fs::read_dir(from).unwrap() {
            let f = f.unwrap();
            copy_tree(&f.path(), &to.join(f.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
