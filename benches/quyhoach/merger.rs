//! Section 5, a merger of two provinces of L each (issue 26: under 60 s): the synthetic
//! province at L generated twice, over the real 2024 subtrees of Hải Phòng (31) and Hải Dương
//! (30), which became 31 Thành phố Hải Phòng on 1 July 2025, each loaded into its own store as
//! its province node holds it; then `quyhoach merge --data NEW --from 31 --from 30 --unit 31`, the
//! real binary, into an empty store of the new province, timed until it exits (its one
//! transaction durable). The baseline, in the same run: opening the two source stores and
//! building each one's view, as their nodes do at start; and, after the merger, the same for
//! the merged store (the new province node's start).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use quyhoach::{
    domain::Plan,
    store::{Change, SledStore, Store},
    view::View,
};

use crate::{
    helpers::{ms, Reference},
    synth::{self, Size, Spec},
    table::{row, Row},
    SEED,
};

/// The old provinces merged, the first of them the new province's code: the largest pair
/// merged in 2025 (183 and 220 units in 2024), so that 400,000 entries each stay within a
/// plan's 5,000 entries (Quảng Bình's 160 units made its province's own list longer).
const MERGED: [&str; 2] = ["31", "30"];
/// The target for the merger of two provinces of L.
const TARGET: Duration = Duration::from_secs(60);

/// Writes `plans` into a new store at `data`, in batches of about 4,000 entries, durably.
async fn load(data: &Path, plans: Vec<Plan>) -> anyhow::Result<()> {
    let store = SledStore::open(data)?;
    let mut ticket = 0;
    let mut batch = Vec::new();
    let mut batch_entries = 0;
    for plan in plans {
        batch_entries += plan.entries.len();
        batch.push(Change::PutPlan(plan));
        if batch_entries >= 4_000 {
            ticket = store.commit(std::mem::take(&mut batch))?;
            batch_entries = 0;
        }
    }
    if !batch.is_empty() {
        ticket = store.commit(batch)?;
    }
    store.wait_durable(ticket).await?;
    Ok(())
}

/// Opens the store at `data` and builds the view its node (`unit`) builds at start; returns
/// the entries the view holds.
fn open_and_view(r: &Reference, data: &Path, unit: &str) -> anyhow::Result<usize> {
    let store = SledStore::open(data)?;
    let view = View::build(store.as_ref(), &r.rules, unit)?;
    Ok(view.entries())
}

/// Generates and loads the two provinces, merges them with the binary and measures it.
pub async fn merger_of_two_l(r: &Reference, scale: f64) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let mut sources = Vec::new();
    let mut entries = 0;
    let mut versions = 0;
    for (i, code) in MERGED.iter().enumerate() {
        let mut spec = Spec::sized(code, Size::L, SEED + 1 + i as u64);
        spec.target_entries = (spec.target_entries as f64 * scale) as usize;
        // Distinct persons: the second province's serials start where the first's cannot reach.
        spec.first_person = i as u64 * 500_000;
        let t = Instant::now();
        let g = synth::generate(&r.hierarchy, &r.catalog, &spec);
        entries += g.entries;
        versions += g.plans.len();
        let data = dir.path().join(code);
        let (plans, made) = (g.plans.len(), g.entries);
        load(&data, g.plans).await?;
        eprintln!(
            "  province {code}: {plans} plans, {made} entries, generated and loaded in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        sources.push((code, data));
    }

    // The baseline: both old nodes' starts (open the store, build the view).
    let t = Instant::now();
    let mut viewed = 0;
    for (code, data) in &sources {
        viewed += open_and_view(r, data, code)?;
    }
    let baseline = t.elapsed();
    anyhow::ensure!(
        viewed == entries,
        "the sources' views hold {viewed} entries, not {entries}"
    );

    // The new province's store, empty, as its node leaves it when first started.
    let target = dir.path().join("new");
    drop(SledStore::open(&target)?);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_quyhoach"));
    command.arg("merge").arg("--data").arg(&target);
    for (_, data) in &sources {
        command.arg("--from").arg(data);
    }
    command.args(["--unit", MERGED[0]]);
    let t = Instant::now();
    let out = command.output().await?;
    let took = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "quyhoach merge failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    if let Some(last) = said.lines().last() {
        eprintln!("  {last}");
    }

    // The new province node's start over the merged store.
    let t = Instant::now();
    let merged = open_and_view(r, &target, MERGED[0])?;
    let merged_start = t.elapsed();
    anyhow::ensure!(
        merged == entries,
        "the merged store's view holds {merged} entries, not the sources' {entries}"
    );

    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let ratio = |a: Duration| format!("{:.1}", a.as_secs_f64() / baseline.as_secs_f64());
    let baseline_label = "open both source stores and build their views";
    Ok(vec![
        row(
            &format!(
                "5. merger of two L provinces: quyhoach merge 31 + 30 → 31 ({versions} plan versions, {entries} entries), until it exits"
            ),
            secs(took),
            baseline_label,
            ms(baseline),
            ratio(took),
        )
        .target("< 60 s", Some(took < TARGET)),
        row(
            "5. the merged province's start: open the merged store and build its view",
            ms(merged_start),
            baseline_label,
            ms(baseline),
            ratio(merged_start),
        )
        .target("-", None),
    ])
}
