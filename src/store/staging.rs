//! Commits staged in memory before they reach sled, so that several commits share one sled
//! transaction (group commit of transactions, not only of flushes).
//!
//! [`Store::commit`](super::Store::commit) computes its writes and stages them here under a
//! ticket; every read of the store looks here first, so a commit is visible to the next read at
//! once. The first [`Store::wait_durable`](super::Store::wait_durable) caller that finds its
//! ticket unapplied drains every staged commit and applies them together in one sled
//! transaction; commits that arrived meanwhile are applied by the next caller. A commit is
//! never split between transactions, and they are applied in ticket order, so each commit
//! stays all or nothing after a crash.
//!
//! Reads take the overlay first and sled second; the applier writes sled first and forgets the
//! overlay second. So a read never misses a commit that was staged before it began.

use std::collections::{BTreeMap, VecDeque};

use sled::IVec;

/// One plain write: tree index, key, and the value (none to delete).
pub type Write = (usize, Vec<u8>, Option<IVec>);

/// One tree's staged keys: the latest staged value (none: deleted) and the ticket that staged it.
type Overlay = BTreeMap<Vec<u8>, (u64, Option<IVec>)>;

/// Commits waiting to be applied, and the latest staged value of each key they write.
#[derive(Default)]
pub struct Staged {
    /// Staged commits, oldest first: ticket and writes.
    batches: VecDeque<(u64, Vec<Write>)>,
    /// Per tree: the latest staged value of each key (none: deleted), and the ticket that
    /// staged it, so that applying a commit forgets only what no later commit rewrote.
    overlay: Vec<Overlay>,
    /// Bytes of staged values, to apply early when many commits pile up unwaited.
    bytes: usize,
    /// The ticket of the latest staged commit.
    last: u64,
    /// Tickets whose commits were discarded because their transaction failed: first, last,
    /// and why.
    failed: Vec<(u64, u64, String)>,
}

impl Staged {
    pub fn new(trees: usize) -> Self {
        Self {
            overlay: vec![BTreeMap::new(); trees],
            ..Self::default()
        }
    }

    /// Stages one commit's writes and returns its ticket.
    pub fn stage(&mut self, writes: Vec<Write>) -> u64 {
        self.last += 1;
        let ticket = self.last;
        for (tree, key, value) in &writes {
            self.bytes += key.len() + value.as_ref().map_or(0, |v| v.len());
            self.overlay[*tree].insert(key.clone(), (ticket, value.clone()));
        }
        self.batches.push_back((ticket, writes));
        ticket
    }

    /// The ticket of the latest staged commit.
    pub fn last_ticket(&self) -> u64 {
        self.last
    }

    /// Bytes staged and not yet applied.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes every staged commit, oldest first, for the applier. Their overlay entries stay
    /// until [`Staged::forget`].
    pub fn drain(&mut self) -> Vec<(u64, Vec<Write>)> {
        self.bytes = 0;
        self.batches.drain(..).collect()
    }

    /// Forgets the overlay entries of commits up to `ticket`, now that sled holds them.
    pub fn forget(&mut self, ticket: u64) {
        for tree in &mut self.overlay {
            tree.retain(|_, (t, _)| *t > ticket);
        }
    }

    /// Discards everything staged after a failed transaction from `first` on (later commits
    /// were computed on top of the failed ones) and remembers why.
    pub fn discard(&mut self, first: u64, reason: String) {
        self.batches.clear();
        self.bytes = 0;
        for tree in &mut self.overlay {
            tree.clear();
        }
        self.failed.push((first, self.last, reason));
    }

    /// Why the commit of `ticket` was discarded, if it was.
    pub fn failure(&self, ticket: u64) -> Option<&str> {
        self.failed
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&ticket))
            .map(|(_, _, why)| why.as_str())
    }

    /// The staged value of a key: `None` when not staged, `Some(None)` when staged as deleted.
    pub fn get(&self, tree: usize, key: &[u8]) -> Option<Option<IVec>> {
        self.overlay[tree].get(key).map(|(_, v)| v.clone())
    }

    /// Staged keys of `tree` from `lo` on that `keep` accepts, stopping at the first it does
    /// not (keys sort, so a prefix or a range ends there).
    pub fn from(
        &self,
        tree: usize,
        lo: &[u8],
        keep: impl Fn(&[u8]) -> bool,
    ) -> Vec<(Vec<u8>, Option<IVec>)> {
        self.overlay[tree]
            .range(lo.to_vec()..)
            .take_while(|(k, _)| keep(k))
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect()
    }

    /// The greatest staged key of `tree` with its value, if any is staged.
    pub fn last(&self, tree: usize) -> Option<(Vec<u8>, Option<IVec>)> {
        self.overlay[tree]
            .iter()
            .next_back()
            .map(|(k, (_, v))| (k.clone(), v.clone()))
    }
}

/// Merges what sled holds with what is staged over the same keys: staged values replace,
/// staged deletions remove. Both inputs sorted by key; so is the result.
pub fn merge(
    base: impl Iterator<Item = sled::Result<(IVec, IVec)>>,
    staged: Vec<(Vec<u8>, Option<IVec>)>,
) -> sled::Result<Vec<(IVec, IVec)>> {
    if staged.is_empty() {
        return base.collect();
    }
    let mut all: BTreeMap<IVec, Option<IVec>> = BTreeMap::new();
    for kv in base {
        let (k, v) = kv?;
        all.insert(k, Some(v));
    }
    for (k, v) in staged {
        all.insert(IVec::from(k), v);
    }
    Ok(all
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_commits_win_and_forget_keeps_them() {
        let mut s = Staged::new(1);
        let t1 = s.stage(vec![(0, b"a".to_vec(), Some(IVec::from(b"1")))]);
        let t2 = s.stage(vec![
            (0, b"a".to_vec(), Some(IVec::from(b"2"))),
            (0, b"b".to_vec(), None),
        ]);
        assert_eq!((t1, t2), (1, 2));
        assert_eq!(s.get(0, b"a"), Some(Some(IVec::from(b"2"))));
        assert_eq!(s.get(0, b"b"), Some(None));
        let drained = s.drain();
        assert_eq!(drained.len(), 2);
        s.forget(1);
        assert!(s.get(0, b"a").is_some(), "commit 2 rewrote a; it stays");
        s.forget(2);
        assert_eq!(s.get(0, b"a"), None);
    }

    #[test]
    fn merge_replaces_and_removes() {
        let base = vec![
            Ok((IVec::from(b"a"), IVec::from(b"1"))),
            Ok((IVec::from(b"b"), IVec::from(b"1"))),
        ];
        let staged = vec![
            (b"b".to_vec(), None),
            (b"c".to_vec(), Some(IVec::from(b"3"))),
        ];
        let merged = merge(base.into_iter(), staged).unwrap();
        let keys: Vec<&[u8]> = merged.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, [&b"a"[..], b"c"]);
    }

    #[test]
    fn a_discarded_ticket_is_named() {
        let mut s = Staged::new(1);
        s.stage(vec![]);
        s.stage(vec![]);
        s.discard(2, "disk full".into());
        assert_eq!(s.failure(1), None);
        assert_eq!(s.failure(2), Some("disk full"));
    }
}
