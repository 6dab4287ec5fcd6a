//! Section 4, cold full sync: a province and its districts in this process, every commune plan
//! approved at its district and carried up, timed until the province holds them all.

use std::time::{Duration, Instant};

use quyhoach::{
    domain::{Level, Plan, Unit},
    grpc::pb::{self, node_sync_client::NodeSyncClient, planning_client::PlanningClient},
};

use crate::{
    helpers::{channel, push_request, start_node, Reference},
    synth,
    table::{row, Row},
    PUSH_ENTRIES, SEED, TERM,
};

/// A province and 20 districts of 20 communes each, in this process. Every commune plan is
/// pushed to its district as submitted, approved there (DecidePlan) and carried up by the
/// district's outbox; every district's own plan is pushed to the province. Timed until the
/// province lists all of them.
pub async fn cold_sync(r: &Reference, quick: bool) -> anyhow::Result<Vec<Row>> {
    let (n_districts, n_communes) = if quick { (4, 5) } else { (20, 20) };
    // No province of the 2024 file has 20 districts of 20 communes each: take the province
    // whose largest districts come closest (Thanh Hóa, 38), and up to 20 communes of each.
    let sized = |code: &str| {
        let mut found: Vec<&Unit> = r
            .hierarchy
            .children(code)
            .iter()
            .filter_map(|c| r.hierarchy.get(c))
            .filter(|u| u.level == Level::District)
            .collect();
        found.sort_by_key(|d| std::cmp::Reverse(r.hierarchy.children(&d.code).len()));
        found.truncate(n_districts);
        found
    };
    let communes_in = |ds: &[&Unit]| -> usize {
        ds.iter()
            .map(|d| r.hierarchy.children(&d.code).len().min(n_communes))
            .sum()
    };
    let province_code = (1..100)
        .map(|n| format!("{n:02}"))
        .filter(|code| r.hierarchy.get(code).is_some())
        .max_by_key(|code| communes_in(&sized(code)))
        .expect("the units file has provinces");
    let districts = sized(&province_code);
    let dir = tempfile::tempdir()?;
    let province = start_node(&province_code, &dir.path().join(&province_code), None).await?;
    let mut wanted: Vec<(&Unit, &str)> = Vec::new();
    let mut bounds = Vec::new();
    for d in &districts {
        let first = wanted.len();
        wanted.push((d, TERM));
        let communes = r.hierarchy.children(&d.code);
        for c in &communes[..communes.len().min(n_communes)] {
            wanted.push((r.hierarchy.get(c).expect("known commune"), TERM));
        }
        bounds.push(first..wanted.len());
    }
    let n_communes_total = wanted.len() - districts.len();
    let plans = synth::submitted_plans(&r.catalog, &wanted, PUSH_ENTRIES, SEED + 99);
    let total = plans.len();
    let mut nodes = Vec::new();
    let mut work = Vec::new();
    for (i, d) in districts.iter().enumerate() {
        let node = start_node(&d.code, &dir.path().join(&d.code), Some(province.url())).await?;
        let mine: Vec<Plan> = plans[bounds[i].clone()].to_vec();
        work.push((
            d.code.clone(),
            NodeSyncClient::new(channel(&node.url()).await?),
            PlanningClient::new(channel(&node.url()).await?),
            NodeSyncClient::new(channel(&province.url()).await?),
            mine,
        ));
        nodes.push(node);
    }
    let mut watch = PlanningClient::new(channel(&province.url()).await?);

    let t = Instant::now();
    let mut tasks = Vec::new();
    for (district, mut down, mut planning, mut up, mine) in work {
        tasks.push(tokio::spawn(async move {
            for plan in mine {
                if plan.id.unit == district {
                    up.push(push_request(&district, &plan)).await?;
                    continue;
                }
                down.push(push_request(&plan.id.unit, &plan)).await?;
                planning
                    .decide_plan(pb::DecidePlanRequest {
                        plan: Some(pb::PlanId {
                            unit: plan.id.unit.clone(),
                            term: plan.id.term.clone(),
                            version: plan.id.version,
                        }),
                        hash: plan.hash.clone().unwrap_or_default(),
                        outcome: pb::Outcome::Approve.into(),
                        reasons: Vec::new(),
                        cite_findings: Vec::new(),
                        cms_signature: Vec::new(),
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let handed = t.elapsed();
    let held = loop {
        let listed = watch
            .list_plans(pb::ListPlansRequest {
                under: String::new(),
                term: TERM.into(),
                status: 0,
                latest_only: true,
            })
            .await?
            .into_inner()
            .plans
            .len();
        if listed >= total || t.elapsed() > Duration::from_secs(600) {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = t.elapsed();
    anyhow::ensure!(held == total, "the province holds {held} of {total} plans");
    for node in nodes {
        node.stop().await?;
    }
    province.stop().await?;
    Ok(vec![row(
        &format!(
            "5. cold full sync: {} districts, {n_communes_total} communes (≤ {n_communes} each) of province {province_code} → it holds all {total} plans",
            districts.len()
        ),
        format!("{:.2} s", elapsed.as_secs_f64()),
        "the same, up to the last district approval (before the outboxes drain)",
        format!("{:.2} s", handed.as_secs_f64()),
        format!("{:.2}", elapsed.as_secs_f64() / handed.as_secs_f64()),
    )
    .target("-", None)])
}
