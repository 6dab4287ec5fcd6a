//! The web page (issue 15): a real demo province on loopback, its web page driven by headless
//! Chromium through chromedriver (fantoccini), and its access control checked over plain HTTP.
//! Chromium and chromedriver must be installed (`.ci/run` installs Debian's packages when they
//! are missing); without them the browser test fails, naming what is missing.

use std::{path::PathBuf, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use quyhoach::{
    auth::Role,
    client,
    config::Tls,
    demo::{self, Demo, DemoOptions},
    grpc::pb,
};

const TERM: &str = "2025-2030";
/// A name written in NFD (decomposed diacritics), as some spreadsheets hold it.
fn nfd_name() -> String {
    "Nguye\u{302}\u{303}n Va\u{306}n Toa\u{300}n".to_string()
}
const NFC_NAME: &str = "Nguyễn Văn Toàn";
const NEW_ID: &str = "040080009999";

/// The district 412 revises its returned plan as version 2: one person removed, one added
/// (written in NFD); adopted and submitted, then received at the province. Returns the name
/// of the person removed.
async fn revise_412(demo: &Demo) -> String {
    let mut c = client::connect_to(demo.addr("412"), demo.operator("412"))
        .await
        .unwrap();
    // The province's return of v1 reaches the district through its next pull.
    wait_for_412(&c, 1, pb::PlanStatus::Returned).await;
    let v2 = c
        .create_draft(pb::CreateDraftRequest {
            unit: "412".into(),
            term: TERM.into(),
        })
        .await
        .unwrap()
        .into_inner();
    // Someone planned for one position only, so that removing the entry removes the person.
    let once = |id: &str| {
        v2.entries
            .iter()
            .filter(|e| e.cadre.as_ref().unwrap().national_id == id)
            .count()
            == 1
    };
    let removed = v2
        .entries
        .iter()
        .find(|e| once(&e.cadre.as_ref().unwrap().national_id))
        .expect("a person planned once")
        .clone();
    let cadre = removed.cadre.clone().unwrap();
    c.remove_entry(pb::RemoveEntryRequest {
        unit: "412".into(),
        term: TERM.into(),
        national_id: cadre.national_id.clone(),
        position: removed.position.clone(),
    })
    .await
    .unwrap();
    c.put_entry(pb::PutEntryRequest {
        unit: "412".into(),
        term: TERM.into(),
        entry: Some(pb::Entry {
            cadre: Some(pb::Cadre {
                national_id: NEW_ID.into(),
                full_name: nfd_name(),
                birth_date: "1982-06-15".into(),
                gender: pb::Gender::Male.into(),
                ethnicity: "Kinh".into(),
                ..cadre.clone()
            }),
            position: removed.position.clone(),
            source: removed.source,
        }),
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        adopted_on: "2025-05-02".into(),
    })
    .await
    .unwrap();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
    })
    .await
    .unwrap();
    let mut p = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    wait_for_412(&p, 2, pb::PlanStatus::Received).await;
    // And its findings, which the province computes as it arrives.
    wait(Duration::from_secs(30), || {
        let mut p = p.clone();
        async move {
            let f = p
                .check(pb::CheckRequest {
                    plan: Some(pb::PlanId {
                        unit: "412".into(),
                        term: TERM.into(),
                        version: 2,
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .findings;
            !f.is_empty()
        }
    })
    .await;
    let _ = &mut p;
    cadre.full_name
}

/// Waits until the node behind `node` holds version `version` of 412's plan with `status`.
async fn wait_for_412(
    node: &pb::planning_client::PlanningClient<tonic::transport::Channel>,
    version: u32,
    status: pb::PlanStatus,
) {
    wait(Duration::from_secs(30), || {
        let mut node = node.clone();
        async move {
            let plans = node
                .list_plans(pb::ListPlansRequest {
                    under: "412".into(),
                    term: TERM.into(),
                    latest_only: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .plans;
            plans.iter().any(|s| {
                let id = s.id.as_ref().unwrap();
                id.unit == "412" && id.version == version && s.status == status as i32
            })
        }
    })
    .await;
}

async fn wait<F, Fut>(limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------------------ browser

/// chromedriver and the headless Chromium it drives; the driver process dies with it.
struct Browser {
    client: Client,
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

async fn browser() -> Browser {
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

async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn exists(c: &Client, css: &str) -> bool {
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
async fn wait_url(c: &Client, part: &str) {
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

async fn sign_in(c: &Client, demo: &Demo, tls: &Tls) {
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
    let demo = demo::start_demo(DemoOptions::default()).await.unwrap();
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
    let cited = cite
        .attr("name")
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("cite_")
        .to_string();
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

// ---------------------------------------------------------------------- HTTP, no browser

pub(crate) struct Http {
    /// `host:port` of the web page.
    pub(crate) addr: String,
    /// Trusts the demo's authority, for an HTTPS page.
    tls: Option<tokio_rustls::TlsConnector>,
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: String,
}

async fn exchange<I>(io: I, req: hyper::Request<Full<bytes::Bytes>>) -> Reply
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl Http {
    /// A client of the page at `base` (`https://…` trusting `ca_pem`, or `http://…`).
    pub(crate) fn new(base: &str, ca_pem: Option<&str>) -> Self {
        let (scheme, addr) = base.split_once("://").unwrap();
        let tls = (scheme == "https").then(|| {
            use rustls_pki_types::{pem::PemObject, CertificateDer};
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem.unwrap().as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        });
        Self {
            addr: addr.trim_end_matches('/').to_string(),
            tls,
        }
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: &str,
    ) -> Reply {
        self.send_with(method, path, cookie, body, &[]).await
    }

    /// [`Http::send`] with extra request headers.
    pub(crate) async fn send_with(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        // A full URL (a login link) is reduced to its path and query.
        let path = match path.split_once("://") {
            Some((_, rest)) => &rest[rest.find('/').unwrap()..],
            None => path,
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if method == "POST" {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(&self.addr).await.unwrap();
        match &self.tls {
            Some(connector) => {
                let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let tls = connector.connect(name, tcp).await.unwrap();
                exchange(tls, req).await
            }
            None => exchange(tcp, req).await,
        }
    }

    /// Signs in with a login URL (its page, then its confirmation) and returns the session
    /// cookie.
    pub(crate) async fn sign_in(&self, url: &str) -> String {
        let r = self.send("GET", url, None, "").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.headers.get("set-cookie").is_none(),
            "the link alone signs nobody in"
        );
        let token = token_of(url);
        let r = self
            .send("POST", "/dang-nhap", None, &format!("token={token}"))
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let set = r
            .headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        set.split(';').next().unwrap().to_string()
    }
}

/// The login token of a login URL.
pub(crate) fn token_of(url: &str) -> String {
    url.split_once("token=").unwrap().1.to_string()
}

fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with its CSRF token")
        + 19;
    body[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_page_admits_only_signed_in_callers_within_their_subtree() {
    let demo = demo::start_demo(DemoOptions::default()).await.unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    assert!(
        demo.web_url.starts_with("https://"),
        "a TLS node serves its page over HTTPS"
    );

    // Nobody signed in: refused.
    assert_eq!(http.send("GET", "/", None, "").await.status, 401);
    assert_eq!(
        http.send("GET", "/tong-hop", Some("qh_session=guess"), "")
            .await
            .status,
        401
    );
    // A forged or altered token: refused.
    assert_eq!(
        http.send("GET", "/dang-nhap?token=abc.def", None, "")
            .await
            .status,
        401
    );
    let url = demo.login_url(&demo.operator("40")).await.unwrap();
    let (head, mac) = url.rsplit_once('.').unwrap();
    let altered = format!("{head}.{}", mac.chars().rev().collect::<String>());
    assert_eq!(http.send("GET", &altered, None, "").await.status, 401);
    // A token works once.
    let approver = http.sign_in(&url).await;
    assert_eq!(
        http.send("GET", &url, None, "").await.status,
        401,
        "a token is accepted once"
    );

    // A reader of the province sees everything, masked, with no action.
    let reader_tls = demo
        .client("40", &[Role::Reader], "Chuyên viên đọc")
        .unwrap();
    let reader = http
        .sign_in(&demo.login_url(&reader_tls).await.unwrap())
        .await;
    let page = http
        .send("GET", &format!("/ke-hoach/427/{TERM}/1"), Some(&reader), "")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("040079000030") && page.body.contains("…0030"),
        "masked IDs"
    );
    assert!(!page.body.contains("id=\"actions\""));
    let reader_csrf = csrf_of(&page.body);
    // Its POST is refused even with its own valid token: deciding needs the approver role.
    let form = format!("csrf={reader_csrf}&outcome=approve&hash=x");
    let r = http
        .send(
            "POST",
            &format!("/ke-hoach/427/{TERM}/1/quyet-dinh"),
            Some(&reader),
            &form,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The approver's POST without a token, or with another session's, is refused before
    // anything happens.
    for form in [
        "outcome=approve&hash=x".to_string(),
        format!("csrf={reader_csrf}&outcome=approve&hash=x"),
    ] {
        let r = http
            .send(
                "POST",
                &format!("/ke-hoach/427/{TERM}/1/quyet-dinh"),
                Some(&approver),
                &form,
            )
            .await;
        assert_eq!(r.status, 403, "{form}: {}", r.body);
        assert!(r.body.contains("CSRF"));
    }
    let mut p = client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    let decisions = p
        .audit(pb::AuditRequest {
            action: "decide".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{decisions:?}").contains("Chuyên viên đọc"),
        "no decision by the reader"
    );
    // The overview lists the units with a plan and the districts; the rest on request.
    let short = http.send("GET", "/", Some(&approver), "").await.body;
    let long = http.send("GET", "/?all=1", Some(&approver), "").await.body;
    assert!(short.matches("data-unit=").count() < long.matches("data-unit=").count());
    assert!(short.contains("data-unit=\"16681\"") && short.contains("data-unit=\"414\""));
    assert!(!short.contains("data-unit=\"16663\"") && long.contains("data-unit=\"16663\""));
    // The approver sees full IDs.
    let page = http
        .send(
            "GET",
            &format!("/ke-hoach/427/{TERM}/1"),
            Some(&approver),
            "",
        )
        .await;
    assert!(page.body.contains("040079000030"));

    // A district's reader sees its own subtree only.
    let district = demo
        .client("412", &[Role::Reader], "Chuyên viên huyện")
        .unwrap();
    let district = http
        .sign_in(&demo.login_url(&district).await.unwrap())
        .await;
    assert_eq!(
        http.send(
            "GET",
            &format!("/ke-hoach/427/{TERM}/1"),
            Some(&district),
            ""
        )
        .await
        .status,
        403
    );
    assert_eq!(
        http.send("GET", "/tong-hop?under=427", Some(&district), "")
            .await
            .status,
        403
    );
    let list = http
        .send("GET", "/tong-hop?size=0", Some(&district), "")
        .await;
    assert_eq!(list.status, 200);
    assert!(
        !list.body.contains("Đô Lương") && list.body.contains("Quang Trung"),
        "412's subtree only"
    );

    // The export holds exactly the rows shown.
    let shown = http
        .send("GET", "/tong-hop?name=nguyen&size=20", Some(&approver), "")
        .await;
    let rows = shown.body.matches("<td class=\"name\">").count();
    assert!(rows > 0);
    let csv = http
        .send(
            "GET",
            "/tong-hop.csv?name=nguyen&size=20",
            Some(&approver),
            "",
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.body.trim_end().lines().count(),
        rows + 1,
        "header plus the shown rows"
    );

    // A certificate without a role gets no login.
    let none = demo.client("40", &[], "Không vai trò").unwrap();
    let refused = quyhoach::web::login::issue(&demo.addr("40"), &none)
        .await
        .unwrap_err();
    assert!(format!("{refused:#}").contains("no role"), "{refused:#}");

    demo.stop().await.unwrap();
}

#[tokio::test]
async fn an_insecure_node_serves_its_web_page_open_and_issues_no_login() {
    let dir = tempfile::tempdir().unwrap();
    let config = quyhoach::config::RawConfig {
        unit: Some("40".into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(dir.path().join("40")),
        insecure: Some(true),
        web: Some("127.0.0.1:0".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let node = quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .unwrap();
    let http = Http::new(&node.web_url().unwrap(), None);
    assert!(http.tls.is_none(), "an insecure node serves plain HTTP");
    let page = http.send("GET", "/", None, "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Tổng quan"));
    // Still no POST without the page's token.
    let r = http
        .send(
            "POST",
            &format!("/ke-hoach/412/{TERM}/1/quyet-dinh"),
            None,
            "outcome=approve",
        )
        .await;
    assert_eq!(r.status, 403);
    let mut c = client::connect(&node.addr.to_string(), None).await.unwrap();
    let e = c.issue_web_login(pb::WebLoginRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_login_token_expires_and_no_other_node_accepts_it() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let open = |data: PathBuf, now: Arc<Mutex<chrono::DateTime<chrono::Utc>>>| async move {
        let config = quyhoach::config::RawConfig {
            unit: Some("40".into()),
            data: Some(data.clone()),
            insecure: Some(true),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let reference = quyhoach::node::Reference {
            version: 0,
            catalog: config.catalog.as_ref().clone(),
            rules: config.rules.clone(),
        };
        quyhoach::node::Node::open(
            config.unit.clone(),
            config.hierarchy.clone(),
            reference,
            quyhoach::store::SledStore::open(&data).unwrap(),
            Arc::new(move || *now.lock().unwrap()),
            Duration::from_secs(600),
        )
        .await
        .unwrap()
    };
    let now = Arc::new(Mutex::new(chrono::Utc::now()));
    let node = open(dir.path().join("a"), now.clone()).await;
    let other = open(dir.path().join("b"), now.clone()).await;
    let (token, identity) = node
        .issue_web_login("412", &[Role::Reader], "Chuyên viên")
        .await
        .unwrap();
    assert_eq!(node.verify_web_login(&token).await.unwrap(), identity);
    assert!(
        other.verify_web_login(&token).await.is_err(),
        "another node's key"
    );
    // Valid until just before its expiry, refused at it.
    *now.lock().unwrap() = identity.expires_at - chrono::Duration::seconds(1);
    assert!(node.verify_web_login(&token).await.is_ok());
    *now.lock().unwrap() = identity.expires_at;
    let e = node.verify_web_login(&token).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // The issue is in the audit trail.
    let (records, intact) = node.audit().unwrap();
    assert!(intact.is_ok());
    assert!(records.iter().any(|r| r.event.action == "web_login"));
    // A certificate without roles gets no token.
    assert!(node.issue_web_login("40", &[], "x").await.is_err());
}
