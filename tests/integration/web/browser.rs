//! The Organization Board's web page in headless Chromium driven through chromedriver
//! (fantoccini): the whole flow a board member follows, with screenshots under
//! `target/screenshots/`.

use std::{path::PathBuf, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use quyhoach::{
    auth::Role,
    client,
    config::Tls,
    demo::{self, Demo, DemoOptions},
    grpc::pb,
};

use super::*;

/// chromedriver and the headless Chromium it drives; the driver process dies with it.
pub(super) struct Browser {
    pub(super) client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub(super) async fn browser() -> Browser {
    let driver = find_program(&["chromedriver"]).expect(
        "chromedriver not found: the browser tests need Debian's chromium and chromium-driver \
         (apt-get install -y chromium chromium-driver; .ci/run installs them)",
    );
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"])
        .expect("chromium not found: apt-get install -y chromium chromium-driver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,768",
                // The demo's certificates come from its own authority, unknown to Chromium.
                "--ignore-certificate-errors",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() > deadline => {
                panic!("cannot start headless Chromium through chromedriver: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Browser {
        client,
        _driver: child,
        _profile: profile,
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

pub(super) async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

pub(super) async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

/// Asserts that the current page does not scroll sideways at `width`×`height`.
async fn no_horizontal_scroll(c: &Client, page: &str, width: u32, height: u32) {
    c.set_window_size(width, height).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = v[0].as_u64().unwrap();
    let client = v[1].as_u64().unwrap();
    assert!(
        scroll <= client,
        "{page} at {width}×{height}: the page is {scroll} px wide in a {client} px viewport"
    );
}

/// Waits until the browser's URL contains `part` and the page has loaded.
pub(super) async fn wait_url(c: &Client, part: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let url = c.current_url().await.unwrap();
        let ready = c.execute("return document.readyState;", vec![]).await.ok();
        if url.as_str().contains(part)
            && ready.as_ref().and_then(|v| v.as_str()) == Some("complete")
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no page at {part} (at {url})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) async fn sign_in(c: &Client, demo: &Demo, tls: &Tls) {
    c.delete_all_cookies().await.unwrap();
    let url = demo.login_url(tls).await.unwrap();
    c.goto(&url).await.unwrap();
    // The link shows who it signs in as; the button confirms (a same-origin POST).
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while c.current_url().await.unwrap().path() != "/" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a login lands on the overview: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_url(c, "/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_boards_web_page_in_a_real_browser() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let removed = revise_412(&demo).await;
    let b = browser().await;
    let c = &b.client;
    let web = demo.web_url.clone();

    // The overview shows every demo unit with its plan's state.
    sign_in(c, &demo, &demo.operator("40")).await;
    let expected = [
        ("40", "Đã thông qua"),
        ("412", "Đã trình, chờ: Tỉnh Nghệ An"),
        ("427", "Bị trả lại"),
        ("16681", "Đã phê duyệt"),
        ("16690", "Đã phê duyệt"),
        ("17617", "Đã phê duyệt"),
        ("17623", "Đã phê duyệt"),
    ];
    for (unit, state) in expected {
        let shown = text(c, &format!("tr[data-unit='{unit}'] .state")).await;
        assert_eq!(shown, state, "overview: state of {unit}");
    }
    assert!(
        text(c, "#waiting").await.contains("Thành phố Vinh"),
        "412 v2 awaits the province"
    );
    shoot(c, "overview").await;
    no_horizontal_scroll(c, "overview", 1366, 768).await;
    no_horizontal_scroll(c, "overview", 390, 844).await;
    c.set_window_size(1366, 768).await.unwrap();

    // A search for "nguyen van" finds the name written in NFD, and only matching names.
    c.goto(&format!("{web}/tong-hop")).await.unwrap();
    let field = c
        .find(Locator::Css("#filters input[name='name']"))
        .await
        .unwrap();
    field.send_keys("nguyen van").await.unwrap();
    c.find(Locator::Css("#filters button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "name=nguyen").await;
    let names: Vec<String> = {
        let mut out = Vec::new();
        for e in c
            .find_all(Locator::Css("#consolidated td.name"))
            .await
            .unwrap()
        {
            out.push(e.text().await.unwrap());
        }
        out
    };
    assert!(
        names.iter().any(|n| n == NFC_NAME),
        "the NFD-written name is found: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| quyhoach::domain::text::fold(n).contains("nguyen van")),
        "only matching names: {names:?}"
    );
    shoot(c, "consolidated").await;
    no_horizontal_scroll(c, "consolidated list", 1366, 768).await;
    no_horizontal_scroll(c, "consolidated list", 390, 844).await;
    c.set_window_size(1366, 768).await.unwrap();

    // A finding's links open the right plan and the right person.
    c.goto(&format!("{web}/phat-hien?rule=R1")).await.unwrap();
    shoot(c, "findings").await;
    let item = c.find(Locator::Css("li.finding")).await.unwrap();
    let finding_id = item.attr("data-finding").await.unwrap().unwrap();
    let mut p = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    let all = p
        .check(pb::CheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .findings;
    let finding = all
        .iter()
        .find(|f| f.id == finding_id)
        .expect("the page's finding exists over gRPC");
    let plan_id = finding.plans[0].clone();
    let plan_link = item.find(Locator::Css("a.plan")).await.unwrap();
    plan_link.click().await.unwrap();
    wait_url(c, "/ke-hoach/").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!(
            "/ke-hoach/{}/{}/{}",
            plan_id.unit, plan_id.term, plan_id.version
        )
    );
    assert!(text(c, "h1")
        .await
        .ends_with(&format!("v{}", plan_id.version)));
    assert!(
        exists(
            c,
            &format!("#plan-findings li[data-finding='{finding_id}']")
        )
        .await,
        "the plan lists the finding"
    );
    c.back().await.unwrap();
    wait_url(c, "/phat-hien").await;
    assert!(!finding.person_name.is_empty(), "R1 names a person");
    let held = p
        .get_plan(pb::GetPlanRequest {
            unit: plan_id.unit.clone(),
            term: plan_id.term.clone(),
            version: plan_id.version,
        })
        .await
        .unwrap()
        .into_inner();
    let national_id = held
        .entries
        .iter()
        .map(|e| e.cadre.clone().unwrap())
        .find(|x| {
            x.full_name == finding.person_name
                && x.national_id
                    .ends_with(&finding.person_id_masked[finding.person_id_masked.len() - 4..])
        })
        .expect("the finding's person is in its plan")
        .national_id;
    c.find(Locator::Css("li.finding a.person"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/nguoi/").await;
    assert_eq!(text(c, "h1").await, finding.person_name);
    assert_eq!(
        text(c, "#national-id").await,
        national_id,
        "an approver sees the full ID"
    );
    assert!(text(c, "#appearances").await.contains(&plan_id.term));
    assert!(
        exists(c, &format!("ul.findings li[data-finding='{finding_id}']")).await,
        "the person's page lists the finding that names them"
    );
    shoot(c, "person").await;

    // The version diff shows the person added and the person removed.
    c.goto(&format!("{web}/ke-hoach/412/{TERM}/2?a=1&b=2"))
        .await
        .unwrap();
    let added = text(c, "#diff li.added").await;
    assert!(added.contains(NFC_NAME), "added: {added}");
    let gone = text(c, "#diff li.removed").await;
    assert!(
        gone.contains(&removed),
        "removed: {gone} (expected {removed})"
    );
    assert!(
        exists(c, "#actions #approve").await,
        "the approver is offered the decision"
    );
    shoot(c, "plan").await;
    no_horizontal_scroll(c, "plan", 1366, 768).await;
    no_horizontal_scroll(c, "plan", 390, 844).await;
    c.set_window_size(1366, 768).await.unwrap();

    // A reader sees no action and masked IDs; a forged POST is refused.
    let reader = demo
        .client("40", &[Role::Reader], "Chuyên viên đọc")
        .unwrap();
    sign_in(c, &demo, &reader).await;
    c.goto(&format!("{web}/ke-hoach/412/{TERM}/2"))
        .await
        .unwrap();
    assert!(!exists(c, "#actions").await, "no actions for a reader");
    assert!(!exists(c, "button#approve, button#return").await);
    assert!(
        text(c, "#entries").await.contains("…"),
        "a reader sees masked IDs"
    );
    assert!(!text(c, "#entries").await.contains(NEW_ID));
    let status = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/ke-hoach/412/2025-2030/2/quyet-dinh', {method: 'POST',
                   headers: {'content-type': 'application/x-www-form-urlencoded'},
                   body: 'outcome=approve&hash=x'}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        status.as_u64(),
        Some(403),
        "a POST without the CSRF token is refused"
    );

    // The approver returns the plan citing a finding; the return reaches the district.
    sign_in(c, &demo, &demo.operator("40")).await;
    c.goto(&format!("{web}/ke-hoach/412/{TERM}/2"))
        .await
        .unwrap();
    let cite = c
        .find(Locator::Css("#return-form input[type='checkbox']"))
        .await
        .unwrap();
    let cited = cite.attr("value").await.unwrap().unwrap();
    cite.click().await.unwrap();
    c.find(Locator::Css("#return"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_url(c, "/ke-hoach/412").await;
    assert_eq!(text(c, "#plan-status .state").await, "Bị trả lại");
    let mut d = client::connect_to(demo.addr("412"), demo.operator("412"))
        .await
        .unwrap();
    wait(Duration::from_secs(30), || {
        let mut d = d.clone();
        let cited = cited.clone();
        async move {
            let plan = d
                .get_plan(pb::GetPlanRequest {
                    unit: "412".into(),
                    term: TERM.into(),
                    version: 2,
                })
                .await
                .unwrap()
                .into_inner();
            plan.status == pb::PlanStatus::Returned as i32
                && plan
                    .decision
                    .is_some_and(|x| x.reasons.iter().any(|r| r.contains(&cited)))
        }
    })
    .await;
    let _ = &mut d;
    let audit = p
        .audit(pb::AuditRequest {
            action: "decide".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        format!("{audit:?}").contains("Cán bộ đơn vị 40"),
        "the web's decision is audited under the signed-in person"
    );

    // Structure charts and the English switch.
    c.goto(&format!("{web}/co-cau")).await.unwrap();
    assert!(exists(c, "svg.chart").await);
    shoot(c, "structure").await;
    c.find(Locator::Css("#lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_url(c, "/co-cau").await;
    assert_eq!(text(c, "h1").await, "Structure");

    b.client.close().await.unwrap();
    demo.stop().await.unwrap();
}
