//! Section 2, the rules alone: full checks at S, M and L against one hashing pass over every
//! entry, their linearity, and the incremental check of one district plan at L.

use std::time::{Duration, Instant};

use quyhoach::{
    domain::{Hierarchy, Level, Plan},
    rules::{self, Scope, Snapshot, SubmittedCopy},
};

use crate::{
    helpers::{ms, percentile, Reference},
    synth::{self, Size, Spec},
    table::{row, Row},
    PROVINCE, SEED, TERM,
};

/// The submitted copies a province derives from what it holds (R22): the hash each approving
/// unit attested.
fn submitted(plans: &[Plan]) -> Vec<SubmittedCopy> {
    plans
        .iter()
        .filter_map(|p| {
            let d = p.decision.as_ref()?;
            Some(SubmittedCopy {
                id: p.id.clone(),
                hash: d.hash.clone(),
            })
        })
        .collect()
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

/// Full checks at S, M and L against one hashing pass over every entry, and the incremental
/// check of one district plan at L. Hands back the L province for the node benchmarks.
pub fn checks(r: &Reference, scale: f64) -> anyhow::Result<(Vec<Row>, synth::Synthetic)> {
    let today = chrono::Utc::now().date_naive();
    let mut rows = Vec::new();
    let mut slopes = Vec::new();
    let mut large = None;
    let mut full_l = Duration::ZERO;
    for size in [Size::S, Size::M, Size::L] {
        let g = generate(r, size, scale);
        let copies = submitted(&g.plans);
        let snapshot = Snapshot {
            plans: &g.plans,
            hierarchy: &r.hierarchy,
            catalog: &r.catalog,
            submitted: &copies,
            fulfilled: &[],
        };
        let runs = if size == Size::L { 2 } else { 3 };
        let (check, report) = best_of(runs, || {
            rules::check(&snapshot, &Scope::default(), today, &r.rules)
        });
        let (hash, _) = best_of(runs, || {
            g.plans.iter().map(|p| p.content_hash()).collect::<Vec<_>>()
        });
        let mut by_rule = std::collections::BTreeMap::new();
        for f in &report.findings {
            *by_rule
                .entry((f.rule, format!("{:?}", f.severity)))
                .or_insert(0) += 1;
        }
        let by_rule: Vec<String> = by_rule
            .iter()
            .map(|((rule, severity), n)| format!("{rule} {severity} {n}"))
            .collect();
        eprintln!("  {} findings: {}", size.name(), by_rule.join(", "));
        let per_entry = check.as_secs_f64() * 1e6 / g.entries as f64;
        let hash_per_entry = hash.as_secs_f64() * 1e6 / g.entries as f64;
        slopes.push(per_entry);
        rows.push(
            row(
                &format!(
                    "2. full check {} ({} entries, {} findings)",
                    size.name(),
                    g.entries,
                    report.findings.len()
                ),
                format!("{per_entry:.2} µs/entry ({})", ms(check)),
                "hash every entry once (content_hash)",
                format!("{hash_per_entry:.2} µs/entry"),
                format!("{:.1}", per_entry / hash_per_entry),
            )
            .target("≤ 1 µs/entry", Some(per_entry <= 1.0)),
        );
        if size == Size::L {
            full_l = check;
            large = Some(g);
        }
    }
    let growth = slopes[2] / slopes[0];
    rows.push(
        row(
            "2. linearity: µs/entry at L ÷ at S",
            format!("{growth:.2}"),
            "linear",
            "1.00".into(),
            format!("{growth:.2}"),
        )
        .target("≤ 1.2", Some(growth <= 1.2)),
    );

    let g = large.expect("L was generated");
    let copies = submitted(&g.plans);
    let snapshot = Snapshot {
        plans: &g.plans,
        hierarchy: &r.hierarchy,
        catalog: &r.catalog,
        submitted: &copies,
        fulfilled: &[],
    };
    let changed = district_plan(&r.hierarchy, &g.plans).id.clone();
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let report =
                rules::check_incremental(&snapshot, &changed, &Scope::default(), today, &r.rules);
            std::hint::black_box(report);
            t.elapsed()
        })
        .collect();
    times.sort();
    let incr = percentile(&times, 0.5);
    rows.push(
        row(
            &format!("3. incremental check, one district plan at L (rules only, {changed})"),
            ms(incr),
            "full check at L (rules only)",
            ms(full_l),
            format!("{:.3}", incr.as_secs_f64() / full_l.as_secs_f64()),
        )
        .target("< 5 ms", Some(incr < Duration::from_millis(5))),
    );
    Ok((rows, g))
}

/// The synthetic province of `size` (its entries × `scale`), with what it holds printed.
pub fn generate(r: &Reference, size: Size, scale: f64) -> synth::Synthetic {
    let mut spec = Spec::sized(PROVINCE, size, SEED);
    spec.target_entries = (spec.target_entries as f64 * scale) as usize;
    let t = Instant::now();
    let g = synth::generate(&r.hierarchy, &r.catalog, &spec);
    eprintln!(
        "  {}: {} plans, {} entries, {} deliberate breaks, generated in {:.1} s",
        size.name(),
        g.plans.len(),
        g.entries,
        g.breaks,
        t.elapsed().as_secs_f64()
    );
    g
}

/// The first district's plan for the benchmark term.
pub fn district_plan<'a>(h: &Hierarchy, plans: &'a [Plan]) -> &'a Plan {
    plans
        .iter()
        .find(|p| {
            p.id.term == TERM
                && h.get(&p.id.unit)
                    .is_some_and(|u| u.level == Level::District)
        })
        .expect("the province has districts")
}
