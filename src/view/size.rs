//! How many bytes the view holds, by component: an estimate from the capacities of what it
//! owns (each heap block rounded up to the allocator's size class), to say where the memory of
//! a node goes without a profiler. The node's own figure is measured (VmHWM, the benchmark's
//! section 3); this says what part of it the view is and which of its parts.

use std::{collections::HashMap, mem::size_of};

use super::{list::Row, persons::SlotSet, Slot, View};
use crate::domain::{Cadre, CompactString, Entry, Plan};

/// Bytes held by each part of the view (see [`View::heap_bytes`]).
#[derive(Debug, Clone, Default)]
pub struct HeapBytes {
    /// `(part, bytes)`, in a fixed order.
    pub parts: Vec<(&'static str, usize)>,
}

impl HeapBytes {
    /// Every part together, in bytes.
    pub fn total(&self) -> usize {
        self.parts.iter().map(|(_, b)| b).sum()
    }

    /// One line: the total and each part per entry, e.g. `712 B/entry: plans' entries 240, …`.
    pub fn per_entry(&self, entries: usize) -> String {
        let n = entries.max(1) as f64;
        let parts: Vec<String> = self
            .parts
            .iter()
            .filter(|(_, b)| *b > 0)
            .map(|(p, b)| format!("{p} {:.0}", *b as f64 / n))
            .collect();
        format!(
            "{:.0} B/entry: {}",
            self.total() as f64 / n,
            parts.join(", ")
        )
    }
}

/// A heap block of `n` bytes as the allocator gives it: mimalloc's size classes are
/// multiples of 8 up to 64 bytes, then four a power of two apart. 0 bytes: no block.
pub(super) fn block(n: usize) -> usize {
    match n {
        0 => 0,
        1..=64 => n.div_ceil(8) * 8,
        _ => {
            let p = usize::BITS - 1 - n.leading_zeros();
            let step = 1usize << (p - 2);
            n.div_ceil(step) * step
        }
    }
}

fn string(s: &String) -> usize {
    block(s.capacity())
}

fn strings(v: &[String], capacity: usize) -> usize {
    block(capacity * size_of::<String>()) + v.iter().map(string).sum::<usize>()
}

/// A [`CompactString`]: a heap block only when it is longer than its 24 inline bytes.
fn short(s: &CompactString) -> usize {
    if s.is_heap_allocated() {
        block(s.capacity())
    } else {
        0
    }
}

fn shorts(v: &[CompactString], capacity: usize) -> usize {
    block(capacity * size_of::<CompactString>()) + v.iter().map(short).sum::<usize>()
}

fn vec_block<T>(v: &Vec<T>) -> usize {
    block(v.capacity() * size_of::<T>())
}

/// A `HashMap`'s table: a slot (key and value) and a control byte per bucket.
fn table<K, V, S>(m: &HashMap<K, V, S>) -> usize {
    let buckets = if m.capacity() == 0 {
        0
    } else {
        (m.capacity() * 8 / 7).next_power_of_two()
    };
    block(buckets * (size_of::<(K, V)>() + 1))
}

/// What one cadre owns on the heap (its inline bytes are counted with the entry).
fn cadre_heap(c: &Cadre) -> usize {
    short(&c.national_id)
        + short(&c.full_name)
        + short(&c.ethnicity)
        + shorts(&c.current_positions, c.current_positions.capacity())
        + short(&c.current_unit)
        + shorts(&c.qualifications, c.qualifications.capacity())
        + vec_block(&c.discipline)
        + vec_block(&c.ratings)
}

impl View {
    /// An estimate of the bytes the view holds, by part: the decoded plans (their entries
    /// inline, the entries' strings and lists, ballot rounds, the rest), the consolidated
    /// list's rows, the name table, the interned codes and slots, and the person indexes.
    /// Counted from capacities, each heap block rounded up to mimalloc's size class; a hash
    /// table as its buckets. Not a measurement: the node's resident memory is measured by the
    /// benchmark (section 3, row 6).
    pub fn heap_bytes(&self) -> HeapBytes {
        let mut entries_inline = 0;
        let mut entries_strings = 0;
        let mut rounds = 0;
        let mut plan_rest = vec_block(&self.plans);
        for p in &self.plans {
            entries_inline += block(p.entries.capacity() * size_of::<Entry>());
            for e in &p.entries {
                entries_strings += cadre_heap(&e.cadre)
                    + short(&e.position)
                    + e.origin.as_ref().map_or(0, |o| {
                        block(size_of::<crate::domain::EntryOrigin>())
                            + string(&o.plan.unit)
                            + string(&o.plan.term)
                    });
            }
            rounds += vec_block(&p.rounds);
            for r in &p.rounds {
                rounds += vec_block(&r.tallies);
                for t in &r.tallies {
                    rounds += short(&t.national_id) + short(&t.position);
                }
            }
            plan_rest += plan_header_heap(p);
        }
        let names_of =
            vec_block(&self.names_of) + self.names_of.iter().map(vec_block).sum::<usize>();
        let rows = self
            .slots
            .iter()
            .map(|s| block(s.rows.capacity() * size_of::<Row>()))
            .sum::<usize>();
        let slots = vec_block(&self.slots)
            + table(&self.slot_index)
            + self
                .slots
                .iter()
                .filter_map(|s: &Slot| s.attested.as_ref())
                .map(|a| string(&a.id.unit) + string(&a.id.term) + string(&a.hash))
                .sum::<usize>();
        let codes = [&self.units, &self.terms, &self.positions]
            .iter()
            .map(|i| {
                vec_block(&i.names)
                    + table(&i.index)
                    + 2 * i.names.iter().map(|n| block(n.len())).sum::<usize>()
            })
            .sum::<usize>();
        let names = vec_block(&self.names.list)
            + self
                .names
                .list
                .iter()
                .map(|n| block(n.sort_key.len()))
                .sum::<usize>()
            + table(&self.names.index)
            + self
                .names
                .index
                .keys()
                .map(|k| block(k.len()))
                .sum::<usize>()
            + block(self.names.folded.capacity())
            + vec_block(&self.names.starts);
        let persons = [&self.by_id, &self.by_person, &self.by_home]
            .iter()
            .map(|i| {
                table(&i.0)
                    + i.0
                        .values()
                        .map(|s| match s {
                            SlotSet::Many(v) => block(size_of::<Vec<u32>>()) + vec_block(v),
                            _ => 0,
                        })
                        .sum::<usize>()
            })
            .sum::<usize>();
        HeapBytes {
            parts: vec![
                ("plans' entries inline", entries_inline),
                ("entries' strings and lists", entries_strings),
                ("ballot rounds", rounds),
                ("plan headers", plan_rest),
                ("entry names", names_of),
                ("list rows", rows),
                ("name table", names),
                ("slots", slots),
                ("codes", codes),
                ("person indexes", persons),
            ],
        }
    }
}

fn plan_header_heap(p: &Plan) -> usize {
    string(&p.id.unit)
        + string(&p.id.term)
        + p.hash.as_ref().map_or(0, string)
        + p.decision.as_ref().map_or(0, |d| {
            string(&d.plan.unit)
                + string(&d.plan.term)
                + string(&d.hash)
                + strings(&d.reasons, d.reasons.capacity())
                + string(&d.decided_by)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_up_to_size_classes() {
        assert_eq!(block(0), 0);
        assert_eq!(block(1), 8);
        assert_eq!(block(12), 16);
        assert_eq!(block(64), 64);
        assert_eq!(block(65), 80);
        assert_eq!(block(128), 128);
        assert_eq!(block(129), 160);
    }

    /// The view of a synthetic province counts every entry's strings: its estimate grows with
    /// the entries and names each part (`-- --nocapture` prints it).
    #[test]
    fn the_estimate_counts_every_part() {
        let (_, _, g) = crate::synthetic_province(7, 6_000);
        let view = View::of_plans(&g.plans, &crate::rules::RulesFile::default());
        let bytes = view.heap_bytes();
        println!("{}", bytes.per_entry(view.entries()));
        assert!(bytes.parts.iter().all(|(_, b)| *b > 0), "{bytes:?}");
        // At least the entries' own inline bytes.
        assert!(bytes.total() > view.entries() * size_of::<Entry>());
    }
}
