//! Issue 26's time-dependent work at L, measured in section 3 after the pages: the province's
//! store holding L is served again, over mutual TLS so that it verifies signed bundles, and
//! (1) bundles arrive from a district that has no link but removable media: its own plan (the
//! largest plan a child sends), then its communes' approved plans, one bundle each, each
//! through `ImportBundle` as the province's clerk imports it; (2) the province is reorganised to
//! the 2025 structure as `quyhoach reorganize` does it (`Reorganize`, a dry run, then applied).
//! Every row's baseline is this process's own start over the same store: open it and build the
//! view, until the first answer.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use quyhoach::{
    auth::Role,
    bundle::{
        format::{Bundle, Content},
        sign::{Signer, Statement},
    },
    client,
    config::Tls,
    domain::{Hierarchy, Plan, PlanStatus},
    grpc::pb,
    pki::{self, Authority, Subject},
};

use crate::{
    helpers::{districts_with, ms, percentile, serve_process_with, TlsFiles},
    table::{row, Row},
    PROVINCE, TERM,
};

/// The district whose plans of [`TERM`] arrive as bundles: the first of the province with
/// communes, other than `not` (whose plan arrives over `NodeSync`).
pub fn carried_district(h: &Hierarchy, not: &str) -> String {
    districts_with(h, PROVINCE, 1)
        .into_iter()
        .find(|u| u.code != not)
        .expect("the province has two districts with communes")
        .code
        .clone()
}

/// Serves `data` (the province holding L but `trip`, the plans of `district` for [`TERM`]) over
/// TLS, imports `trip` as bundles signed by the district's node, then reorganises the province.
pub async fn time_dependent(
    data: &Path,
    dir: &Path,
    district: &str,
    trip: Vec<Plan>,
) -> anyhow::Result<Vec<Row>> {
    let pki_dir = dir.join("pki");
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).map_err(anyhow::Error::msg)?;
    let issued = ca
        .issue(&Subject::node(PROVINCE, &[], 1))
        .map_err(anyhow::Error::msg)?;
    pki::write(&pki_dir.join("nodes"), PROVINCE, &issued)?;
    std::fs::write(pki_dir.join("ca.pem"), &ca.cert_pem)?;
    let files = TlsFiles {
        cert: pki_dir.join("nodes").join(format!("{PROVINCE}.pem")),
        key: pki_dir.join("nodes").join(format!("{PROVINCE}.key")),
        ca: pki_dir.join("ca.pem"),
    };
    let of_district = ca
        .issue(&Subject::node(district, &[], 1))
        .map_err(anyhow::Error::msg)?;
    let signer = Signer::from_pem(
        &of_district.key_pem,
        &of_district.cert_pem,
        &ca.cert_pem,
        None,
    )
    .map_err(anyhow::Error::msg)?;
    // The province's clerk carries the files in; its administrator reorganises.
    let person = ca
        .issue(&Subject::new(
            PROVINCE,
            &[Role::Clerk, Role::Admin],
            "Nguyễn Thị Văn Thư",
            1,
        ))
        .map_err(anyhow::Error::msg)?;
    let tls = Tls {
        cert_pem: person.cert_pem,
        key_pem: person.key_pem,
        ca_pem: ca.cert_pem.clone(),
    };

    // The baseline: open the store and build the view, until the first answer.
    let t = Instant::now();
    let node = serve_process_with(PROVINCE, data, Some(&files)).await?;
    let addr = node.url.trim_start_matches("http://").to_string();
    let mut c = client::connect(&addr, Some(&tls)).await?;
    c.list_terms(pb::ListTermsRequest {}).await?;
    let start = t.elapsed();
    let completeness = pb::CompletenessRequest {
        under: String::new(),
        term: TERM.into(),
    };
    // Let the first full check of the live findings finish before anything is timed.
    c.completeness(completeness.clone()).await?;

    // The bundles, written as the district's link would write them.
    let now = chrono::Utc::now();
    let push = |plan: Plan, signature| -> anyhow::Result<Vec<u8>> {
        Bundle {
            from_unit: district.to_string(),
            to_unit: PROVINCE.into(),
            created_at: now,
            classification: String::new(),
            content: Content::Push {
                plan,
                audit_head: String::new(),
                signed: quyhoach::bundle::format::PushSignatures {
                    signature,
                    forwarded: Vec::new(),
                },
            },
        }
        .write(&signer)
        .map_err(anyhow::Error::msg)
    };
    let (own, communes): (Vec<Plan>, Vec<Plan>) =
        trip.into_iter().partition(|p| p.id.unit == district);
    let mut own = own
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("district {district} has no plan of {TERM}"))?;
    own.status = PlanStatus::Submitted;
    own.decision = None;
    own.received_at = None;
    let own_entries = own.entries.len();
    let signature = signer
        .sign(Statement::submitted(&own, now))
        .map_err(anyhow::Error::msg)?;
    let own_bytes = push(own, signature)?;
    let mut trip_bytes = Vec::new();
    let mut trip_entries = 0;
    for plan in communes {
        let decision = plan
            .decision
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("{} is held without its decision", plan.id))?;
        let signature = signer
            .sign(Statement::decision(decision))
            .map_err(anyhow::Error::msg)?;
        trip_entries += plan.entries.len();
        trip_bytes.push(push(plan, signature)?);
    }

    let t = Instant::now();
    let answer = c
        .import_bundle(pb::ImportBundleRequest {
            bundle: own_bytes.clone(),
        })
        .await?
        .into_inner();
    let large = t.elapsed();
    anyhow::ensure!(!answer.duplicate, "the district's plan was held before");
    let mut each = Vec::new();
    let t = Instant::now();
    for bytes in &trip_bytes {
        let t = Instant::now();
        let answer = c
            .import_bundle(pb::ImportBundleRequest {
                bundle: bytes.clone(),
            })
            .await?
            .into_inner();
        anyhow::ensure!(!answer.duplicate, "a commune's plan was held before");
        each.push(t.elapsed());
    }
    let whole_trip = t.elapsed();
    // Until the live findings include every plan carried in.
    c.completeness(completeness.clone()).await?;
    let trip_checked = t.elapsed();
    each.sort();

    // The reorganisation, as `quyhoach reorganize` asks for it.
    let reorganize = |dry_run| pb::ReorganizeRequest {
        to: "2025".into(),
        on: "2025-07-01".into(),
        dry_run,
    };
    let t = Instant::now();
    let dry = c.reorganize(reorganize(true)).await?.into_inner();
    let dry_time = t.elapsed();
    let t = Instant::now();
    let applied = c.reorganize(reorganize(false)).await?.into_inner();
    let apply_time = t.elapsed();
    anyhow::ensure!(applied.applied, "the reorganisation was not applied");
    // Until the live findings are those of the new structure (a full re-check).
    c.completeness(completeness).await?;
    let apply_checked = t.elapsed();
    node.stop().await;

    let baseline = "start of the same store over TLS: open, build the view";
    let ratio = |d: Duration| format!("{:.2}", d.as_secs_f64() / start.as_secs_f64());
    let within_start = |d: Duration| Some(d <= start);
    let target = "≤ its start";
    Ok(vec![
        row(
            &format!(
                "26. bundle import at L: one large plan, district {district}'s own ({own_entries} entries, {} KiB), ImportBundle to its durable receipt",
                own_bytes.len() / 1024
            ),
            ms(large),
            baseline,
            ms(start),
            ratio(large),
        )
        .target(target, within_start(large)),
        row(
            &format!(
                "26. bundle import at L: district {district}'s trip, {} commune plans, one bundle each ({trip_entries} entries; p50 {} · p99 {} a bundle), until their live findings",
                trip_bytes.len(),
                ms(percentile(&each, 0.5)),
                ms(percentile(&each, 0.99)),
            ),
            format!("{} ({} imports alone)", ms(trip_checked), ms(whole_trip)),
            baseline,
            ms(start),
            ratio(trip_checked),
        )
        .target(target, within_start(trip_checked)),
        row(
            &format!(
                "26. reorganisation at L to the 2025 structure, dry run ({} plans)",
                dry.plans.len()
            ),
            ms(dry_time),
            baseline,
            ms(start),
            ratio(dry_time),
        )
        .target(target, within_start(dry_time)),
        row(
            "26. reorganisation at L to the 2025 structure, applied, until the live findings are re-checked in it",
            format!("{} (answer after {})", ms(apply_checked), ms(apply_time)),
            baseline,
            ms(start),
            ratio(apply_checked),
        )
        .target(target, within_start(apply_checked)),
    ])
}
