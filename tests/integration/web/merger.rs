//! The merger's tag in a real browser (issue 22, "Merging provinces"): on the findings page
//! and on the re-planning worklist it links to, the collisions the merger of provinces 44 and
//! 45 made carry the tag, and the one inside old province 45 does not.

use fantoccini::Locator;

use super::browser::{browser, exists, shoot, text, wait_url};
use crate::merge_provinces::merged_province;

/// The text of every finding of `rule` on the page that names `name`, and its merger tag
/// (`data-merger`, empty without one).
async fn tagged(c: &fantoccini::Client, rule: &str, name: &str) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('li.finding[data-rule=\"' + \
             arguments[0] + '\"]')).filter(li => li.innerText.includes(arguments[1])).map(li => \
             { const m = li.querySelector('span.merger'); return m ? m.dataset.merger : ''; });",
            vec![rule.into(), name.into()],
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_merger_tag_on_the_findings_page_and_the_worklist_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let node = merged_province(dir.path()).await;
    let web = node.web_url().unwrap();
    let b = browser().await;
    let c = &b.client;

    c.goto(&format!("{web}/phat-hien")).await.unwrap();
    wait_url(c, "/phat-hien").await;
    // R2 across both old provinces' lists, tagged, with the tag's words shown.
    let tag = text(
        c,
        "li.finding[data-rule=\"R2\"] span.merger[data-merger=\"44,45\"]",
    )
    .await;
    assert!(
        tag == "Do sáp nhập tỉnh (44, 45)" || tag == "From the merger of provinces (44, 45)",
        "{tag}"
    );
    // R21 between the two provinces' lists is tagged; R21 inside 45 is not.
    let shared = tagged(c, "R21", "Nguyễn Văn H").await;
    assert!(
        !shared.is_empty() && shared.iter().all(|t| t == "44,45"),
        "{shared:?}"
    );
    let inside = tagged(c, "R21", "Trần Thị").await;
    assert!(
        !inside.is_empty() && inside.iter().all(String::is_empty),
        "{inside:?}"
    );
    shoot(c, "merger-findings").await;

    // The link to the worklist, followed as a person does.
    c.find(Locator::Css("#merger-worklist"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/phat-hien/sap-nhap").await;
    let post = "section.post[data-post=\"P.GD.SO\"]";
    assert!(exists(c, post).await, "{}", c.source().await.unwrap());
    let r2 = text(c, &format!("{post} li.finding[data-rule=\"R2\"]")).await;
    assert!(r2.contains("P.GD.SO") && r2.contains("(44, 45)"), "{r2}");
    assert_eq!(
        tagged(c, "R2", "P.GD.SO").await,
        ["44,45"],
        "one R2 of the merger, tagged"
    );
    assert!(
        tagged(c, "R21", "Trần Thị").await.is_empty(),
        "the collision inside 45 is not on the worklist"
    );
    shoot(c, "merger-worklist").await;
    node.stop().await.unwrap();
}
