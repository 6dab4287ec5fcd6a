//! Issue 15's figures, measured in section 3 on the province node holding L: its web pages.

use std::time::{Duration, Instant};

use crate::{
    helpers::{ms, percentile},
    table::{row, Row},
    TERM,
};

/// Issue 15: the web page at L (an `--insecure` node, so no sign-in): the consolidated page of
/// one district and one person's page, timed from request to the last byte on loopback.
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
                "{url}: {status}"
            );
            anyhow::Ok((location, body.len()))
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
    ])
}
