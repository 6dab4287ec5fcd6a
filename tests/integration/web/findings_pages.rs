//! The findings page a page at a time (issue 26), in headless Chromium against the demo's
//! province: with more findings than a page, the first page shows a page of them, the counts
//! per rule and severity of all of them and the exact total; the next page holds exactly the
//! rest; a page past the last is the last; a rule's count links to its findings, paged with
//! the filter kept; the same in English. The findings and counts are those of a full `Check`
//! over gRPC.

use std::collections::{BTreeMap, BTreeSet};

use fantoccini::{Client, Locator};
use quyhoach::{
    client,
    demo::{self, DemoOptions},
    grpc::pb,
};

use super::browser::{browser, exists, shoot, sign_in, text, wait_url};

/// The finding IDs the page lists, in order.
async fn shown(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("li.finding")).await.unwrap() {
        out.push(li.attr("data-finding").await.unwrap().unwrap());
    }
    out
}

/// The count the page's table shows for `rule` and `severity` ("error", "warning").
async fn count_shown(c: &Client, rule: &str, severity: &str) -> usize {
    text(
        c,
        &format!("#finding-counts tr[data-rule='{rule}'] td[data-severity='{severity}']"),
    )
    .await
    .parse()
    .unwrap()
}

/// Waits until the page is loaded at a URL whose query `ready` accepts (a click's page, not
/// the one it was clicked on).
async fn wait_query(c: &Client, ready: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let url = c.current_url().await.unwrap();
        let loaded = c.execute("return document.readyState;", vec![]).await.ok();
        if ready(url.query().unwrap_or(""))
            && loaded.as_ref().and_then(|v| v.as_str()) == Some("complete")
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such page: at {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_findings_page_shows_a_page_with_the_counts_and_the_next_page_holds_the_rest() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let mut p = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    let all = p
        .check(pb::CheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .findings;
    let ids: BTreeSet<String> = all.iter().map(|f| f.id.clone()).collect();
    let mut counts: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for f in &all {
        let severity = match pb::Severity::try_from(f.severity).unwrap() {
            pb::Severity::Error => "error",
            pb::Severity::Warning => "warning",
            pb::Severity::Unspecified => panic!("{}: no severity", f.id),
        };
        *counts.entry((f.rule.clone(), severity)).or_default() += 1;
    }
    assert!(
        all.len() >= 3,
        "the demo's lists break rules: {}",
        all.len()
    );
    // Two pages: the province has more findings than a page of this size.
    let size = all.len().div_ceil(2);
    let rest = all.len() - size;

    let b = browser().await;
    let c = &b.client;
    let web = demo.web_url.clone();
    sign_in(c, &demo, &demo.operator("40")).await;
    c.goto(&format!("{web}/phat-hien?size={size}"))
        .await
        .unwrap();
    wait_url(c, "/phat-hien").await;
    let first = shown(c).await;
    assert_eq!(first.len(), size, "the first page is full");
    let summary = text(c, "#summary").await;
    assert!(
        summary.starts_with(&format!("{} phát hiện", all.len())) && summary.contains("trang 1/2"),
        "the exact total and the page: {summary}"
    );
    for ((rule, severity), n) in &counts {
        assert_eq!(
            count_shown(c, rule, severity).await,
            *n,
            "{rule} {severity}: the count of every finding, not of the page"
        );
    }
    assert!(!exists(c, "nav.pager a[rel='prev']").await);
    shoot(c, "findings-page-1").await;

    click(c, "nav.pager a[rel='next']").await;
    wait_url(c, "page=2").await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.query().unwrap_or("").contains(&format!("size={size}")),
        "the next page keeps the page size: {url}"
    );
    let second = shown(c).await;
    assert_eq!(second.len(), rest, "the next page holds the rest");
    let together: BTreeSet<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(together.len(), all.len(), "no finding on both pages");
    assert_eq!(
        together, ids,
        "the two pages are every finding of a full check"
    );
    assert!(exists(c, "nav.pager a[rel='prev']").await);
    assert!(!exists(c, "nav.pager a[rel='next']").await, "the last page");
    shoot(c, "findings-page-2").await;

    // In English, the same page, the same counts.
    click(c, "#lang-switch").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while c.find(Locator::Css("html[lang='en']")).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "no English page");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait_url(c, "page=2").await;
    assert_eq!(text(c, "h1").await, "Findings");
    let summary = text(c, "#summary").await;
    assert!(
        summary.starts_with(&format!("{} findings over", all.len()))
            && summary.contains("page 2/2"),
        "{summary}"
    );
    assert_eq!(shown(c).await, second, "the language keeps the page");
    for ((rule, severity), n) in &counts {
        assert_eq!(
            count_shown(c, rule, severity).await,
            *n,
            "{rule} {severity}"
        );
    }
    click(c, "nav.pager a[rel='prev']").await;
    wait_query(c, |q| !q.contains("page=")).await;
    assert_eq!(shown(c).await, first, "back to the first page, in English");
    assert!(text(c, "nav.pager").await.contains("Next"));
    shoot(c, "findings-page-1-en").await;

    // A page past the last is the last.
    c.goto(&format!("{web}/phat-hien?size={size}&page=99"))
        .await
        .unwrap();
    wait_url(c, "page=99").await;
    assert_eq!(shown(c).await, second, "past the last is the last");

    // A rule's count opens its findings, paged, the rule kept on the next page.
    let ((rule, severity), n) = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, n)| (k.clone(), *n))
        .unwrap();
    let of_rule: BTreeSet<String> = all
        .iter()
        .filter(|f| {
            f.rule == rule && (f.severity == pb::Severity::Error as i32) == (severity == "error")
        })
        .map(|f| f.id.clone())
        .collect();
    // Three pages or so of the rule's findings.
    let small = n.div_ceil(3);
    c.goto(&format!("{web}/phat-hien?size={small}"))
        .await
        .unwrap();
    wait_url(c, &format!("size={small}")).await;
    click(
        c,
        &format!("#finding-counts tr[data-rule='{rule}'] td[data-severity='{severity}'] a"),
    )
    .await;
    wait_url(c, &format!("rule={rule}")).await;
    let mut seen: BTreeSet<String> = shown(c).await.into_iter().collect();
    let mut page = 1;
    while exists(c, "nav.pager a[rel='next']").await {
        page += 1;
        assert!(page <= n, "{rule} {severity}: more pages than findings");
        click(c, "nav.pager a[rel='next']").await;
        wait_url(c, &format!("page={page}")).await;
        let url = c.current_url().await.unwrap();
        let query = url.query().unwrap_or("");
        assert!(
            query.contains(&format!("rule={rule}"))
                && query.contains(&format!("severity={severity}"))
                && query.contains(&format!("size={small}")),
            "the filter is kept: {url}"
        );
        seen.extend(shown(c).await);
    }
    assert_eq!(
        page,
        n.div_ceil(small),
        "{rule} {severity}: every page walked"
    );
    assert_eq!(seen, of_rule, "{rule} {severity}, page by page");

    b.client.close().await.unwrap();
    demo.stop().await.unwrap();
}
