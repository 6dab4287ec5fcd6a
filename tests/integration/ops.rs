//! Operations: a scrape of /metrics shows the counters and gauges move with the work. The
//! recorder is shared by the whole test process, so this test uses Hà Nội (01) and Quận Ba
//! Đình (001), which no other test touches.

use quyhoach::{config::RawConfig, grpc::pb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

async fn scrape(addr: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    body
}

/// The value of the series whose line starts with `name{` and holds every label in `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_metrics_scrape_shows_the_counters_move() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = crate::procs::free_addr();
    let province = start_with(RawConfig {
        metrics: Some(metrics.clone()),
        ..node_config(dir.path(), "01", None, "builtin:2024")
    })
    .await;
    let district = start(dir.path(), "001", Some(province.url()), "builtin:2024").await;
    let mut d = client(&district).await;
    let e = district_entry(1, "Lê Hữu Phước", "001");
    let plan = adopted_without_vote(&mut d, "001", vec![e]).await;
    let mut p = client(&province).await;
    submit_until_received(&mut d, "001", &mut p).await;

    // The gauges move right after the plan becomes visible: poll briefly.
    let mut text = scrape(&metrics).await;
    for _ in 0..100 {
        let pending = ["unit=\"01\"", "level=\"district\""];
        if value(&text, "quyhoach_plans_pending_approval", &pending) == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        text = scrape(&metrics).await;
    }
    assert_eq!(
        value(
            &text,
            "quyhoach_pushes_total",
            &["unit=\"01\"", "outcome=\"accepted\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "quyhoach_plans_pending_approval",
            &["unit=\"01\"", "level=\"district\""]
        ),
        Some(1.0)
    );

    p.decide_plan(pb::DecidePlanRequest {
        plan: Some(id("001", 1)),
        hash: plan.hash.clone(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Thiếu phiếu bầu".into()],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    })
    .await
    .unwrap();
    p.check(pb::CheckRequest::default()).await.unwrap();
    let text = scrape(&metrics).await;
    assert_eq!(
        value(
            &text,
            "quyhoach_plans_pending_approval",
            &["unit=\"01\"", "level=\"district\""]
        ),
        Some(0.0)
    );
    assert!(
        value(
            &text,
            "quyhoach_check_duration_seconds_count",
            &["unit=\"01\"", "kind=\"full\""]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("quyhoach_outbox_length{unit=\"001\"}"),
        "{text}"
    );
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
