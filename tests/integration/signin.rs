//! The web page's sign-in and its hostile inputs, attacked from outside (issue 15's gaps): a
//! login link opens no session by itself and its confirmation is refused from another site
//! (login CSRF); a token of a revoked certificate opens nothing; hostile query strings get a
//! 4xx, never a 500, and never a reflected script or a redirect elsewhere.

use quyhoach::{
    auth::Role,
    client,
    config::Tls,
    demo::{self, DemoOptions},
    grpc::pb,
    pki::{Authority, Subject},
};

use crate::web::{token_of, Http};

const TERM: &str = "2025-2030";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_link_signs_in_only_after_a_same_site_confirmation() {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    let url = demo.login_url(&demo.operator("40")).await.unwrap();
    let token = token_of(&url);

    // Opening the link (as a hostile page's image, frame or redirect would) only shows who
    // it signs in as: no session, and the token is not used up.
    let shown = http.send("GET", &url, None, "").await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.headers.get("set-cookie").is_none(),
        "the GET opened a session"
    );
    assert!(shown.body.contains("id=\"sign-in-as\""), "{}", shown.body);
    assert!(
        shown.body.contains("@40]"),
        "the page names the unit: {}",
        shown.body
    );
    assert_eq!(shown.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(shown.headers.get("referrer-policy").unwrap(), "same-origin");

    // A hostile site's auto-submitted form: the browser says where it comes from.
    let origin = format!("https://{}", http.addr);
    let form = format!("token={token}");
    let from_elsewhere: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site"), ("origin", &origin)],
    ];
    for headers in from_elsewhere {
        let r = http
            .send_with("POST", "/dang-nhap", None, &form, headers)
            .await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.body);
        assert!(r.headers.get("set-cookie").is_none(), "{headers:?}");
        assert!(r.body.contains("another"), "{}", r.body);
    }

    // The same form from the page itself signs in, once.
    let same: &[(&str, &str)] = &[("origin", &origin), ("sec-fetch-site", "same-origin")];
    let r = http
        .send_with("POST", "/dang-nhap", None, &form, same)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_string();
    assert_eq!(http.send("GET", "/", Some(&session), "").await.status, 200);
    let again = http
        .send_with("POST", "/dang-nhap", None, &form, same)
        .await;
    assert_eq!(again.status, 401, "a token is accepted once");
    assert_eq!(
        http.send("GET", &url, None, "").await.status,
        401,
        "a used token's link says so"
    );
    // A confirmation without a token, or with a forged one.
    for form in ["", "token=", "token=abc.def"] {
        let r = http.send("POST", "/dang-nhap", None, form).await;
        assert_eq!(r.status, 401, "{form:?}: {}", r.body);
    }
    demo.stop().await.unwrap();
}

/// A TLS node of unit 40 serving its web page, over the store in `dir`, with the revocation
/// list `dir/crl.pem` when `crl`.
async fn web_node(dir: &std::path::Path, crl: bool) -> quyhoach::server::Running {
    let config = quyhoach::config::RawConfig {
        unit: Some("40".into()),
        listen: Some("127.0.0.1:0".into()),
        web: Some("127.0.0.1:0".into()),
        data: Some(dir.join("40")),
        cert: Some(dir.join("nodes/40.pem")),
        key: Some(dir.join("nodes/40.key")),
        ca: Some(dir.join("ca.pem")),
        crl: crl.then(|| dir.join("crl.pem")),
        ..Default::default()
    }
    .validate()
    .unwrap();
    quyhoach::server::spawn(config, quyhoach::node::system_clock())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_token_of_a_revoked_certificate_opens_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let issued = ca.issue(&Subject::node("40", &[], 1)).unwrap();
    quyhoach::pki::write(&dir.path().join("nodes"), "40", &issued).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    let person = |name: &str| {
        let issued = ca
            .issue(&Subject::new("40", &[Role::Approver], name, 1))
            .unwrap();
        Tls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        }
    };
    let (kept, lost) = (person("Lê Giữ Lại"), person("Trần Bị Mất"));

    // Both ask for a login token while the certificate is still good.
    let node = web_node(dir.path(), false).await;
    let mut tokens = Vec::new();
    for tls in [&kept, &lost] {
        let mut c = client::connect(&node.addr.to_string(), Some(tls))
            .await
            .unwrap();
        let reply = c
            .issue_web_login(pb::WebLoginRequest {})
            .await
            .unwrap()
            .into_inner();
        tokens.push(reply.token);
    }
    node.stop().await.unwrap();

    // The lost certificate is revoked and the node restarted with the list, within the
    // tokens' five minutes (the node's web key is in its store, so both still verify).
    let serial = quyhoach::pki::serial_of(&lost.cert_pem).unwrap();
    let list = ca
        .revocation_list(&[(serial, time::OffsetDateTime::now_utc())], 30)
        .unwrap();
    std::fs::write(dir.path().join("crl.pem"), list).unwrap();
    let node = web_node(dir.path(), true).await;
    let http = Http::new(&node.web_url().unwrap(), Some(&ca.cert_pem));
    let lost_form = format!("token={}", tokens[1]);
    let shown = http
        .send("GET", &format!("/dang-nhap?{lost_form}"), None, "")
        .await;
    assert_eq!(shown.status, 401, "{}", shown.body);
    assert!(shown.body.contains("revoked"), "{}", shown.body);
    let r = http.send("POST", "/dang-nhap", None, &lost_form).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.headers.get("set-cookie").is_none());
    assert!(r.body.contains("revoked"), "{}", r.body);
    // The kept certificate's token still works.
    let r = http
        .send("POST", "/dang-nhap", None, &format!("token={}", tokens[0]))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_query_strings_get_a_4xx_never_a_500_a_script_or_a_redirect_elsewhere() {
    let (demo, http, session) = province_signed_in().await;
    let script = "%22%27%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let huge = "a".repeat(60_000);
    let paths = vec![
        "/tong-hop?page=-1".to_string(),
        "/tong-hop?page=0".into(),
        "/tong-hop?page=18446744073709551616".into(),
        "/tong-hop?page=99999999".into(),
        "/tong-hop?under=%FF%FE".into(),
        "/tong-hop?under=99999".into(),
        "/tong-hop?under=..%2F..".into(),
        format!("/tong-hop?term={script}"),
        "/tong-hop?term=1900-1905".into(),
        format!("/tong-hop?name={script}"),
        format!("/tong-hop?name={huge}"),
        "/tong-hop?name=%E2%80%AEabc".into(),
        "/tong-hop?age_min=-5&age_max=4294967296".into(),
        "/tong-hop?status=%00&sort=%0d%0a".into(),
        "/tong-hop.csv?page=-1".into(),
        format!("/tong-hop.csv?under={script}"),
        "/tong-hop.xlsx?under=99999".into(),
        "/phat-hien?rule=%00".into(),
        format!("/phat-hien?under={script}&page=-3"),
        "/ke-hoach/99999/2025-2030/1".into(),
        format!("/ke-hoach/412/{TERM}/18446744073709551616"),
        format!("/ke-hoach/412/{TERM}/-1"),
        format!("/ke-hoach/412/{TERM}/0"),
        "/ke-hoach/%FF/x/1".into(),
        format!("/ke-hoach/412/{script}/1"),
        format!("/ke-hoach/412/{TERM}/1?compare=-1&page=99999999999"),
        "/nguoi/%3Cscript%3E".into(),
        "/nguoi?q=%FF".into(),
        format!("/nguoi?q={script}"),
        format!("/co-cau?under={script}"),
        "/co-cau?under=%FF&term=%00".into(),
        "/dang-nhap?token=%FF".into(),
        format!("/dang-nhap?token={huge}"),
        "/ngon-ngu?lang=%FF".into(),
        "/ngon-ngu".into(),
    ];
    // A filter or an order the list does not have is refused naming the field, not ignored
    // (the page would show a list the officer did not ask for), on the page and its exports.
    for (path, field) in [
        ("/tong-hop?status=pending", "status:"),
        ("/tong-hop?sort=age", "sort:"),
        ("/tong-hop?level=ward", "level:"),
        ("/tong-hop?gender=x", "gender:"),
        ("/tong-hop.csv?sort=age", "sort:"),
        ("/tong-hop.xlsx?status=x", "status:"),
        ("/phat-hien?severity=fatal", "severity:"),
    ] {
        let r = http.send("GET", path, Some(&session), "").await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains(field), "{path}: {}", r.body);
    }
    for path in &paths {
        let r = http.send("GET", path, Some(&session), "").await;
        let shown = &path[..path.len().min(80)];
        assert!(
            (200..500).contains(&r.status),
            "{shown}: {} {}",
            r.status,
            r.body
        );
        assert!(
            !r.body.contains("<script>alert(1)"),
            "{shown}: a script is reflected"
        );
        if r.status == 200 && !path.contains(".csv") && !path.contains(".xlsx") {
            assert!(
                r.body.contains("<html"),
                "{shown}: a 200 with no page: {}",
                r.body
            );
        } else if r.status >= 400 && r.status != 414 && r.status != 431 {
            assert!(
                r.body.contains("id=\"error\"")
                    || r.body.contains("signed-out")
                    || !r.body.is_empty(),
                "{shown}: a refusal says why"
            );
        }
    }
    // Page numbers and sizes out of range: a 400 naming the field, on every page that pages
    // (a page of 2^64 - 1 made the list's offset overflow and its handler panic).
    for (path, field) in [
        ("/tong-hop?page=-1".to_string(), "page"),
        ("/tong-hop?page=0".into(), "page"),
        ("/tong-hop?page=18446744073709551615".into(), "page"),
        ("/tong-hop?page=18446744073709551616".into(), "page"),
        ("/tong-hop?page=1000001".into(), "page"),
        ("/tong-hop?page=2&size=18446744073709551615".into(), "size"),
        ("/tong-hop?size=-1".into(), "size"),
        ("/tong-hop?page=1e3".into(), "page"),
        ("/tong-hop.csv?page=18446744073709551615".into(), "page"),
        (
            "/tong-hop.xlsx?page=2&size=9223372036854775809".into(),
            "size",
        ),
        ("/phat-hien?page=-3".into(), "page"),
        (
            format!("/ke-hoach/412/{TERM}/1?page=18446744073709551615"),
            "page",
        ),
        ("/nguoi?q=a&page=0".into(), "page"),
    ] {
        let r = http.send("GET", &path, Some(&session), "").await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains(&format!("{field}: ")), "{path}: {}", r.body);
    }
    for path in [
        "/tong-hop?page=1",
        "/tong-hop?page=2&size=10",
        "/tong-hop?size=0",
        "/tong-hop?page=",
    ] {
        let r = http.send("GET", path, Some(&session), "").await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // The language switch goes back to a path of this page only: never elsewhere, never a
    // header split (a CR/LF made the page answer 500 before).
    for back in [
        "/%0d%0aSet-Cookie:%20qh_session=x",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "//evil.example",
        "https%3A%2F%2Fevil.example",
        "/%09/evil.example",
    ] {
        let r = http
            .send("GET", &format!("/ngon-ngu?lang=en&back={back}"), None, "")
            .await;
        assert_eq!(r.status, 303, "{back}: {}", r.body);
        assert_eq!(r.headers.get("location").unwrap(), "/", "{back}");
        let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies.len(), 1, "{back}: {cookies:?}");
    }
    let r = http
        .send(
            "GET",
            "/ngon-ngu?lang=en&back=/tong-hop%3Fpage%3D2",
            None,
            "",
        )
        .await;
    assert_eq!(r.headers.get("location").unwrap(), "/tong-hop?page=2");
    // And the page still answers.
    assert_eq!(http.send("GET", "/", Some(&session), "").await.status, 200);
    demo.stop().await.unwrap();
}

/// The findings page's `under` narrows the findings to a subtree, exactly as the Check RPC's
/// does; a unit outside the caller's subtree or unknown is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_findings_page_narrows_to_a_subtree_as_the_check_rpc_does() {
    let (demo, http, session) = province_signed_in().await;
    let mut p = quyhoach::client::connect_to(demo.addr("40"), demo.operator("40"))
        .await
        .unwrap();
    let shown = |body: &str| -> std::collections::BTreeSet<String> {
        body.split("data-finding=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_string))
            .collect()
    };
    let mut sizes = Vec::new();
    for under in ["40", "412", "427", "16681"] {
        let r = http
            .send(
                "GET",
                &format!("/phat-hien?under={under}"),
                Some(&session),
                "",
            )
            .await;
        assert_eq!(r.status, 200, "{under}: {}", r.body);
        let checked: std::collections::BTreeSet<String> = p
            .check(quyhoach::grpc::pb::CheckRequest {
                under: under.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .findings
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(shown(&r.body), checked, "under {under}");
        sizes.push(checked.len());
    }
    assert!(
        sizes[1..].iter().any(|n| *n < sizes[0]),
        "no subtree narrows the province's findings: {sizes:?}"
    );
    for under in ["99999", "%3Cx%3E"] {
        let r = http
            .send(
                "GET",
                &format!("/phat-hien?under={under}"),
                Some(&session),
                "",
            )
            .await;
        assert!((400..500).contains(&r.status), "{under}: {}", r.status);
    }
    demo.stop().await.unwrap();
}

/// A demo hierarchy, an HTTP client of its province's web page, and a session of the
/// province's operator.
async fn province_signed_in() -> (demo::Demo, Http, String) {
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    let session = http
        .sign_in(&demo.login_url(&demo.operator("40")).await.unwrap())
        .await;
    (demo, http, session)
}
