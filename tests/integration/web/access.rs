//! The web page over plain HTTP, no browser: who is admitted where, the page's token on every
//! form, an insecure node's open page, and login tokens that expire and bind to their node.

use std::{path::PathBuf, time::Duration};

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use quyhoach::{
    auth::Role,
    client,
    demo::{self, DemoOptions},
    grpc::pb,
};

use super::*;

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
        let form = [("content-type", "application/x-www-form-urlencoded")];
        let headers: Vec<(&str, &str)> = match method {
            "POST" => form.iter().chain(headers).copied().collect(),
            _ => headers.to_vec(),
        };
        self.send_bytes(method, path, cookie, body.as_bytes().to_vec(), &headers)
            .await
    }

    /// A request with `body` as bytes and exactly the `headers` given (a POST names its own
    /// content type: a multipart form, say).
    pub(crate) async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Vec<u8>,
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
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(bytes::Bytes::from(body))).unwrap();
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

pub(crate) fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with its CSRF token")
        + 19;
    body[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_page_admits_only_signed_in_callers_within_their_subtree() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
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
    let refused = quyhoach::client::web_login::issue(&demo.addr("40"), &none)
        .await
        .unwrap_err();
    let said = crate::harness::chain(&refused);
    assert!(said.contains("no role"), "{said}");

    demo.stop().await.unwrap();
}

#[tokio::test]
async fn an_insecure_node_serves_its_web_page_open_and_issues_no_login() {
    let dir = tempfile::tempdir().unwrap();
    let node = crate::harness::start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..crate::harness::node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
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
            structure: None,
            reorganisations: Vec::new(),
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
        .issue_web_login(
            &quyhoach::auth::Caller::Certified {
                unit: "412".into(),
                roles: vec![Role::Reader],
                name: "Chuyên viên".into(),
            },
            "",
        )
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
    let roleless = quyhoach::auth::Caller::Certified {
        unit: "40".into(),
        roles: vec![],
        name: "x".into(),
    };
    assert!(node.issue_web_login(&roleless, "").await.is_err());
}
