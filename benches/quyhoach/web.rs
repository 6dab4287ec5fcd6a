//! Issue 15's and issue 26's figures, measured in section 3 on the province node holding L: its
//! web pages, for one district and for the whole province.

use std::time::{Duration, Instant};

use crate::{
    helpers::{ms, percentile},
    table::{row, Row},
    TERM,
};

/// The web page at L (an `--insecure` node, so no sign-in), timed from request to the last byte
/// on loopback, each beside the stylesheet of the same page: issue 15's consolidated page of one
/// district and one person's page; issue 26's pages over the whole province: the consolidated
/// list unfiltered (its first page and its last), the findings page over every finding (its
/// first page and its last, 200 findings a page), the
/// structure charts and the overview with every unit.
pub async fn web_pages(
    web: &str,
    district: &str,
    national_id: &str,
    quick: bool,
) -> anyhow::Result<Vec<Row>> {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let res = client.get(url.parse()?).await?;
            let status = res.status();
            let location = res
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(String::from);
            let body = res.into_body().collect().await?.to_bytes();
            anyhow::ensure!(
                status.is_success() || status.is_redirection(),
                "{url}: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
            anyhow::Ok((location, body))
        }
    };
    let budget = Duration::from_secs(if quick { 3 } else { 30 });
    let timed = |url: String, max: usize| {
        let get = &get;
        async move {
            let mut times = Vec::new();
            let started = Instant::now();
            while times.len() < max && (times.len() < 3 || started.elapsed() < budget) {
                let t = Instant::now();
                get(url.clone()).await?;
                times.push(t.elapsed());
            }
            times.sort();
            anyhow::Ok(times)
        }
    };
    let floor = timed(format!("{web}/static/style.css"), 200).await?;
    let list = timed(format!("{web}/tong-hop?under={district}&term={TERM}"), 200).await?;
    let (location, _) = get(format!("{web}/nguoi?cccd={national_id}")).await?;
    let person_url = format!("{web}{}", location.unwrap_or_default());
    let person = timed(person_url, 100).await?;
    // The whole province, every page in the default term (the newest held).
    let size_of = |url: String| {
        let get = &get;
        async move { anyhow::Ok(get(url).await?.1) }
    };
    let first_url = format!("{web}/tong-hop");
    let first_body = size_of(first_url.clone()).await?;
    let rows_total = number_after(&first_body, "<p id=\"summary\">").unwrap_or(0);
    let first = timed(first_url, 200).await?;
    // A page past the last is the last.
    let last_url = format!("{web}/tong-hop?page=1000000");
    let last_body = size_of(last_url.clone()).await?;
    anyhow::ensure!(
        rows_total > 0 && last_body.len() > 10_000,
        "the consolidated page of the whole province is empty"
    );
    let last = timed(last_url, 200).await?;
    let findings_url = format!("{web}/phat-hien");
    let findings_body = size_of(findings_url.clone()).await?;
    let findings_n = number_after(&findings_body, "<p id=\"summary\">").unwrap_or(0);
    let findings = timed(findings_url, 100).await?;
    let findings_last_url = format!("{web}/phat-hien?page=1000000");
    let findings_last_body = size_of(findings_last_url.clone()).await?;
    let findings_last = timed(findings_last_url, 100).await?;
    let structure_url = format!("{web}/co-cau");
    let structure_body = size_of(structure_url.clone()).await?;
    let planned = number_after(&structure_body, "<p id=\"summary\">").unwrap_or(0);
    let structure = timed(structure_url, 100).await?;
    let overview_url = format!("{web}/?all=1");
    let overview_body = size_of(overview_url.clone()).await?;
    let units = count(&overview_body, "<tr data-unit=");
    let overview = timed(overview_url, 100).await?;
    let floor99 = percentile(&floor, 0.99);
    let line = |figure: String, t: &[Duration]| {
        let p99 = percentile(t, 0.99);
        row(
            &figure,
            format!("p50 {} · p99 {}", ms(percentile(t, 0.5)), ms(p99)),
            "the stylesheet from the same web page (p50 · p99)",
            format!("{} · {}", ms(percentile(&floor, 0.5)), ms(floor99)),
            format!("{:.0}", p99.as_secs_f64() / floor99.as_secs_f64().max(1e-9)),
        )
        .target("p99 < 50 ms", Some(p99 < Duration::from_millis(50)))
    };
    Ok(vec![
        line(
            format!(
                "15. web: consolidated page at L, district {district}, {TERM} ({} samples)",
                list.len()
            ),
            &list,
        ),
        line(
            format!(
                "15. web: person page at L, across the province ({} samples)",
                person.len()
            ),
            &person,
        ),
        line(
            format!(
                "26. web: consolidated page at L, whole province unfiltered, first page ({rows_total} rows, {} KiB; {} samples)",
                first_body.len() / 1024,
                first.len()
            ),
            &first,
        ),
        line(
            format!(
                "26. web: consolidated page at L, whole province unfiltered, last page ({} KiB; {} samples)",
                last_body.len() / 1024,
                last.len()
            ),
            &last,
        ),
        line(
            format!(
                "26. web: findings page at L, every finding, first page ({findings_n} findings, 200 a page, {} KiB; {} samples)",
                findings_body.len() / 1024,
                findings.len()
            ),
            &findings,
        ),
        line(
            format!(
                "26. web: findings page at L, every finding, last page ({} KiB; {} samples)",
                findings_last_body.len() / 1024,
                findings_last.len()
            ),
            &findings_last,
        ),
        line(
            format!(
                "26. web: structure charts at L, whole province ({planned} planned; {} samples)",
                structure.len()
            ),
            &structure,
        ),
        line(
            format!(
                "26. web: overview at L, every unit ({units} units, {} KiB; {} samples)",
                overview_body.len() / 1024,
                overview.len()
            ),
            &overview,
        ),
    ])
}

/// The number written right after `marker` in a page, if any.
fn number_after(body: &[u8], marker: &str) -> Option<usize> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find(marker)? + marker.len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// How many times `needle` occurs in a page.
fn count(body: &[u8], needle: &str) -> usize {
    memchr::memmem::find_iter(body, needle.as_bytes()).count()
}
