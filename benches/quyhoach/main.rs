//! The benchmarks of issues 7, 13 and 15: each figure beside the limit it should approach,
//! measured in the same run on the same machine, printed as one table.
//!
//! `cargo bench --bench quyhoach` runs the full sizes (S, M, L of 25,000, 100,000 and 400,000
//! entries); `cargo bench --bench quyhoach -- --quick` runs every row at a twentieth of the size,
//! for a smoke run. `-- --only 3` (or `--only 1,4`) runs only those sections; the table then
//! prints the rows that ran. The sections, in the order they run:
//!
//! 1. upward push throughput ([`push`]);
//! 2. full and incremental checks at S, M and L, by the rules alone ([`checks`]);
//! 3. the province node holding L: queries, checks, memory, disk, its web pages, then bundles
//!    arriving and the reorganisation to the 2025 structure ([`province`], [`web`], [`timed`]);
//! 4. cold full sync of a province ([`sync`]);
//! 5. a merger of two provinces of L each with `quyhoach merge` ([`merger`]).
//!
//! Nodes run in this process on loopback (the helper [`helpers::start_node`]), except the
//! province holding L, which runs as a child `quyhoach serve` process so that its memory is its
//! own (the helper [`helpers::serve_process`]). The lists come from [`synth`].

mod checks;
mod helpers;
mod merger;
mod province;
mod push;
mod sync;
mod synth;
mod table;
mod timed;
mod web;

use std::{collections::BTreeSet, time::Instant};

use table::Row;

/// The allocator of the `quyhoach` binary (`src/main.rs`), so that the nodes this process runs
/// on loopback allocate as a deployed node does; every baseline of the same run uses it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The province whose real subtree the synthetic lists use: Nghệ An.
const PROVINCE: &str = "40";
/// Concurrent children pushing in the push benchmark.
const CHILDREN: usize = 16;
/// Entries per pushed plan.
const PUSH_ENTRIES: usize = 30;
const SEED: u64 = 2024;
const TERM: &str = "2025-2030";

/// The sections of the run, by number, as `--only` names them.
const SECTIONS: [&str; 5] = [
    "upward push throughput",
    "full and incremental checks at S, M, L",
    "the province node holding L: queries, checks, memory, web pages",
    "cold full sync",
    "a merger of two provinces of L each",
];

/// What the command line asks for.
struct Args {
    /// Every size ÷ 20 and fewer samples, for a smoke run.
    quick: bool,
    /// The sections to run (1-based); all of them unless `--only` names some.
    only: BTreeSet<usize>,
}

/// Reads `--quick` and `--only N[,N]` (or `--only=N[,N]`); other arguments (cargo passes
/// `--bench`) are ignored.
fn args() -> anyhow::Result<Args> {
    let mut quick = false;
    let mut only = BTreeSet::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let list = if arg == "--quick" {
            quick = true;
            continue;
        } else if arg == "--only" {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("--only needs section numbers, such as --only 3"))?
        } else if let Some(list) = arg.strip_prefix("--only=") {
            list.to_string()
        } else {
            continue;
        };
        for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match n.parse::<usize>() {
                Ok(n) if (1..=SECTIONS.len()).contains(&n) => {
                    only.insert(n);
                }
                _ => anyhow::bail!(
                    "--only {list:?}: {n:?} is not a section; the sections are {}",
                    SECTIONS
                        .iter()
                        .enumerate()
                        .map(|(i, s)| format!("{} ({s})", i + 1))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        anyhow::ensure!(!only.is_empty(), "--only {list:?} names no section");
    }
    if only.is_empty() {
        only = (1..=SECTIONS.len()).collect();
    }
    Ok(Args { quick, only })
}

fn main() -> anyhow::Result<()> {
    let Args { quick, only } = args()?;
    let scale = if quick { 0.05 } else { 1.0 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let reference = helpers::reference()?;
    let mut rows = Vec::new();
    let show = |rows: &[Row]| {
        for r in rows {
            eprintln!(
                "  {}: {} (baseline {}: {})",
                r.figure, r.value, r.baseline, r.base_value
            );
        }
    };
    let heading = |n: usize| eprintln!("[{n}/{}] {}", SECTIONS.len(), SECTIONS[n - 1]);
    runtime.block_on(async {
        if only.contains(&1) {
            heading(1);
            let push = push::push_throughput(&reference, quick).await?;
            show(&push);
            rows.extend(push);
        }
        let mut large = None;
        if only.contains(&2) {
            heading(2);
            let (check_rows, l) = checks::checks(&reference, scale)?;
            show(&check_rows);
            rows.extend(check_rows);
            large = Some(l);
        }
        if only.contains(&3) {
            heading(3);
            // Section 2 hands L over; run alone, this section generates it.
            let large = match large.take() {
                Some(l) => l,
                None => checks::generate(&reference, synth::Size::L, scale),
            };
            let node = province::province_holding_l(&reference, large, quick).await?;
            show(&node);
            rows.extend(node);
        }
        drop(large);
        if only.contains(&4) {
            heading(4);
            let sync = sync::cold_sync(&reference, quick).await?;
            show(&sync);
            rows.extend(sync);
        }
        if only.contains(&5) {
            heading(5);
            let merged = merger::merger_of_two_l(&reference, scale).await?;
            show(&merged);
            rows.extend(merged);
        }
        anyhow::Ok(())
    })?;
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    let sections = (only.len() < SECTIONS.len()).then(|| {
        only.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    });
    table::print_machine(quick, sections);
    table::print_table(&rows);
    Ok(())
}
