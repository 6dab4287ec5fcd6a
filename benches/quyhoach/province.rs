//! Section 3, the province node holding L: L loaded into a province store and served by a
//! child `quyhoach serve` process; the consolidated queries, the checks through the node, one
//! district plan arriving, the start, peak memory and size on disk, then its web pages
//! ([`crate::web`]).

use std::time::{Duration, Instant};

use quyhoach::{
    domain::PlanStatus,
    grpc::pb::{self, node_sync_client::NodeSyncClient, planning_client::PlanningClient},
    store::{Change, SledStore, Store},
};
use tonic::transport::Channel;

use crate::{
    checks::district_plan,
    helpers::{channel, disk_size, mib, ms, percentile, push_request, serve_process, Reference},
    synth,
    table::{row, Row},
    timed,
    web::web_pages,
    PROVINCE, TERM,
};

/// Loads L into a province store, serves it as a child process and measures the consolidated
/// queries, the checks through the node, its peak memory and its size on disk.
pub async fn province_holding_l(
    r: &Reference,
    g: synth::Synthetic,
    quick: bool,
) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    // `QUYHOACH_BENCH_PROVINCE_STORE=DIR` loads the province store into DIR/PROVINCE (which
    // must not exist) and keeps it, to serve it again by hand (`quyhoach serve --data`).
    let data = match std::env::var_os("QUYHOACH_BENCH_PROVINCE_STORE") {
        Some(kept) => std::path::PathBuf::from(kept).join(PROVINCE),
        None => dir.path().join(PROVINCE),
    };
    // One district plan is kept back, to arrive over NodeSync; and another district's plans of
    // the term (its own and its communes'), to arrive as bundles ([`crate::timed`]).
    let held_back = district_plan(&r.hierarchy, &g.plans).clone();
    let carried = timed::carried_district(&r.hierarchy, &held_back.id.unit);
    let (trip, plans): (Vec<_>, Vec<_>) = g
        .plans
        .into_iter()
        .partition(|p| p.id.term == TERM && r.hierarchy.is_within(&p.id.unit, &carried));
    let entries = g.entries;
    let t = Instant::now();
    {
        let store = SledStore::open(&data)?;
        let mut ticket = 0;
        let mut batch = Vec::new();
        let mut batch_entries = 0;
        for plan in plans {
            if plan.id == held_back.id {
                continue;
            }
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
    }
    let trip_entries: usize = trip.iter().map(|p| p.entries.len()).sum();
    eprintln!(
        "  loaded {} entries into the province store in {:.1} s ({trip_entries} of district {carried} kept for bundles)",
        entries - trip_entries,
        t.elapsed().as_secs_f64()
    );
    let disk = disk_size(&data);
    // The view alone, built here from the same store as the node builds it at start: its
    // bytes by part (an estimate from capacities; the node's memory is measured below).
    let view_bytes = {
        let store = SledStore::open(&data)?;
        let view = quyhoach::view::View::build(store.as_ref(), &r.rules, PROVINCE)?;
        (view.heap_bytes(), view.entries())
    };

    // Start: open the store and build the view (every plan decoded once), until the first
    // answer.
    let t = Instant::now();
    let node = serve_process(PROVINCE, &data).await?;
    let mut planning = PlanningClient::new(channel(&node.url).await?);
    planning.list_terms(pb::ListTermsRequest {}).await?;
    let start_time = t.elapsed();
    let idle_rss = node.status_kib("VmRSS:").unwrap_or(0);
    // The peak (VmHWM) after each step, to say which step sets it.
    let mut steps: Vec<(&str, u64)> = vec![("started", node.status_kib("VmHWM:").unwrap_or(0))];

    // The floor: a unary call that does next to nothing on the same node.
    let mut floor = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        planning.list_terms(pb::ListTermsRequest {}).await?;
        floor.push(t.elapsed());
    }
    floor.sort();

    let district = r
        .hierarchy
        .get(&held_back.id.unit)
        .expect("district is known")
        .code
        .clone();
    let typical = pb::ConsolidatedRequest {
        under: district.clone(),
        term: TERM.into(),
        position: "C.BT".into(),
        status: 0,
        name: String::new(),
        ..Default::default()
    };
    let search = pb::ConsolidatedRequest {
        under: String::new(),
        term: String::new(),
        position: String::new(),
        status: 0,
        name: "nguyen thi hoa".into(),
        ..Default::default()
    };
    let budget = Duration::from_secs(if quick { 3 } else { 40 });
    // The live findings are built in the background at start; let them finish before the
    // queries are timed.
    let t = Instant::now();
    // Completeness reads the live findings (R17), so it waits for the first full check.
    let live = planning
        .completeness(pb::CompletenessRequest {
            under: String::new(),
            term: TERM.into(),
        })
        .await;
    let live_ready = t.elapsed();
    eprintln!(
        "  started in {} (view built); live findings ready {} later ({})",
        ms(start_time),
        ms(live_ready),
        if live.is_ok() { "ok" } else { "failed" }
    );
    steps.push(("first full check", node.status_kib("VmHWM:").unwrap_or(0)));
    let (typical_times, typical_n) = sample(&mut planning, &typical, 200, budget).await?;
    let (search_times, search_n) = sample(&mut planning, &search, 100, budget).await?;
    steps.push(("queries", node.status_kib("VmHWM:").unwrap_or(0)));

    let mut rows = Vec::new();
    for (label, times, target, limit) in [
        (
            format!("4. consolidated query at L: district {district}, {TERM}, C.BT ({typical_n} rows)"),
            &typical_times,
            "p99 < 10 ms",
            Duration::from_millis(10),
        ),
        (
            format!("4. consolidated name search at L: \"nguyen thi hoa\", whole province ({search_n} rows)"),
            &search_times,
            "p99 < 20 ms",
            Duration::from_millis(20),
        ),
    ] {
        let p50 = percentile(times, 0.5);
        let p99 = percentile(times, 0.99);
        rows.push(
            row(
                &format!("{label}, {} samples", times.len()),
                format!("p50 {} · p99 {}", ms(p50), ms(p99)),
                "ListTerms on the same node (p50 · p99)",
                format!(
                    "{} · {}",
                    ms(percentile(&floor, 0.5)),
                    ms(percentile(&floor, 0.99))
                ),
                format!("{:.0}", p99.as_secs_f64() / percentile(&floor, 0.99).as_secs_f64()),
            )
            .target(target, Some(p99 < limit)),
        );
    }

    // The checks as the node runs them: loading the snapshot from sled, then the rules.
    let t = Instant::now();
    let full = planning
        .check(pb::CheckRequest {
            under: String::new(),
            term: String::new(),
            rules: Vec::new(),
            severity: 0,
            plan: None,
            stored: false,
        })
        .await?
        .into_inner();
    let node_full = t.elapsed();
    steps.push(("Check RPC", node.status_kib("VmHWM:").unwrap_or(0)));
    let mut sync = NodeSyncClient::new(channel(&node.url).await?);
    let mut submitted = held_back.clone();
    submitted.status = PlanStatus::Submitted;
    submitted.decision = None;
    submitted.received_at = None;
    // One district plan arrives: from the push until its live findings (and those of every
    // plan it involves) answer.
    let t = Instant::now();
    sync.push(push_request(&district, &submitted)).await?;
    let id = &held_back.id;
    let pb_id = pb::PlanId {
        unit: id.unit.clone(),
        term: id.term.clone(),
        version: id.version,
    };
    let pushed = t.elapsed();
    planning
        .check(pb::CheckRequest {
            plan: Some(pb_id.clone()),
            stored: true,
            ..Default::default()
        })
        .await?;
    let arrival = t.elapsed();
    steps.push(("push", node.status_kib("VmHWM:").unwrap_or(0)));
    let mut incr = Vec::new();
    for _ in 0..if quick { 2 } else { 5 } {
        let t = Instant::now();
        planning
            .check(pb::CheckRequest {
                under: String::new(),
                term: String::new(),
                rules: Vec::new(),
                severity: 0,
                plan: Some(pb::PlanId {
                    unit: id.unit.clone(),
                    term: id.term.clone(),
                    version: id.version,
                }),
                stored: false,
            })
            .await?;
        incr.push(t.elapsed());
    }
    incr.sort();
    let node_incr = percentile(&incr, 0.5);
    let checked = full.entries_checked as usize;
    rows.push(
        row(
            &format!("2. full check at L through the node (Check RPC, {checked} entries)"),
            format!(
                "{:.2} µs/entry ({})",
                node_full.as_secs_f64() * 1e6 / checked.max(1) as f64,
                ms(node_full)
            ),
            "rules alone, row 2 L",
            "see above".into(),
            "-".into(),
        )
        .target(
            "≤ 1.5 µs/entry",
            Some(node_full.as_secs_f64() * 1e6 / checked.max(1) as f64 <= 1.5),
        ),
    );
    rows.push(
        row(
            &format!("3. one district plan arrives at L: push to its live findings (Push, then Check stored, plan {id})"),
            ms(arrival),
            "the push alone (durable ack)",
            ms(pushed),
            format!("{:.1}", arrival.as_secs_f64() / pushed.as_secs_f64()),
        )
        .target("< 5 ms", Some(arrival < Duration::from_millis(5))),
    );
    rows.push(
        row(
            &format!("7. province start at L: open the store, build the view ({entries} entries)"),
            ms(start_time),
            "live findings ready after start (full check in the background)",
            ms(live_ready),
            "-".into(),
        )
        .target("-", None),
    );
    rows.push(
        row(
            &format!("3. incremental check at L through the node (Check RPC, plan {id})"),
            ms(node_incr),
            "full check through the node",
            ms(node_full),
            format!("{:.2}", node_incr.as_secs_f64() / node_full.as_secs_f64()),
        )
        .target("< 5 ms", Some(node_incr < Duration::from_millis(5))),
    );

    let peak = node.status_kib("VmHWM:").unwrap_or(0);
    steps.push(("incremental checks", peak));
    let disk_after = disk_size(&data);
    rows.push(
        row(
            &format!("6. province node holding L ({entries} entries): peak RSS (VmHWM) after queries and checks"),
            mib(peak),
            "RSS right after start",
            mib(idle_rss),
            format!("{:.1}", peak as f64 / idle_rss.max(1) as f64),
        )
        .target("< 256 MiB", Some(peak < 256 * 1024)),
    );
    rows.push(
        row(
            "6. its peak (VmHWM) after each step",
            steps
                .iter()
                .map(|(step, kib)| format!("{step} {}", mib(*kib)))
                .collect::<Vec<_>>()
                .join(" · "),
            "-",
            "-".into(),
            "-".into(),
        )
        .target("-", None),
    );
    let (view_bytes, view_entries) = view_bytes;
    rows.push(
        row(
            "6. the view alone (estimate from capacities, built in the benchmark's process)",
            format!("{:.0} MiB", view_bytes.total() as f64 / 1048576.0),
            "bytes per entry, by part",
            view_bytes.per_entry(view_entries),
            "-".into(),
        )
        .target("-", None),
    );
    rows.push(
        row(
            "6. its store on disk",
            format!("{:.0} MiB", disk_after as f64 / 1048576.0),
            "store right after loading",
            format!("{:.0} MiB", disk as f64 / 1048576.0),
            format!("{:.0} B/entry", disk_after as f64 / entries as f64),
        )
        .target(
            "≤ 300 B/entry",
            Some(disk_after as f64 / entries as f64 <= 300.0),
        ),
    );
    let person = held_back.entries[0].cadre.national_id.clone();
    rows.extend(web_pages(&node.web, &district, &person, quick).await?);
    node.stop().await;
    // The same store again, served over TLS (bundles are signed): bundles arrive, then the
    // province is reorganised.
    rows.extend(timed::time_dependent(&data, dir.path(), &carried, trip).await?);
    Ok(rows)
}

/// Runs a consolidated query until `max` samples or `budget` is spent (at least three).
async fn sample(
    client: &mut PlanningClient<Channel>,
    request: &pb::ConsolidatedRequest,
    max: usize,
    budget: Duration,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut rows = 0;
    let started = Instant::now();
    while times.len() < max && (times.len() < 3 || started.elapsed() < budget) {
        let t = Instant::now();
        rows = client
            .consolidated(request.clone())
            .await?
            .into_inner()
            .entries
            .len();
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times, rows))
}
