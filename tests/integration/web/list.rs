//! The consolidated list is one node operation for every face (issue 19): the web page, its
//! exports, the gRPC query and the CLI's export page, sort and number the same rows, a page
//! number past the last is the last page everywhere, and the CLI's export and the page's are
//! the same file for the same viewer.

use quyhoach::grpc::pb;

use super::access::Http;
use crate::harness::*;

/// Five people of the province's own plan: in name order An, Bình, Cường, Dung, Em; by birth
/// Dung, Bình, Em, An, Cường.
const PEOPLE: [(u32, &str, &str); 5] = [
    (1, "Trần Văn An", "1985-01-01"),
    (2, "Lê Thị Bình", "1975-02-02"),
    (3, "Phạm Văn Cường", "1990-03-03"),
    (4, "Nguyễn Thị Dung", "1970-04-04"),
    (5, "Hoàng Văn Em", "1980-05-05"),
];

/// The names of the rows of a list page, in order.
fn names_on(page: &str) -> Vec<String> {
    page.split("<td class=\"name\">")
        .skip(1)
        .map(|cell| {
            let text = cell.split("</td>").next().unwrap();
            let text = text.split("\">").nth(1).unwrap_or(text);
            text.trim_end_matches("</a>").to_string()
        })
        .collect()
}

/// The page's summary line, tags removed.
fn summary_of(page: &str) -> String {
    let at = page.find("id=\"summary\"").expect("a summary");
    let p = &page[at..];
    let p = &p[p.find('>').unwrap() + 1..p.find("</p>").unwrap()];
    let mut out = String::new();
    let mut inside = false;
    for ch in p.chars() {
        match ch {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Where the page's "export the rows shown" link (`id`) points.
fn link(page: &str, id: &str) -> String {
    let pattern = format!("id=\"{id}\" href=\"");
    let at = page.find(&pattern).expect(id) + pattern.len();
    page[at..].split('"').next().unwrap().replace("&amp;", "&")
}

/// The rows of a CSV export: (STT, name) for each.
fn csv_rows(csv: &str) -> Vec<(String, String)> {
    csv.trim_start_matches('\u{feff}')
        .lines()
        .skip(1)
        .map(|l| {
            let mut cells = l.split(',');
            let stt = cells.next().unwrap().to_string();
            (stt, cells.next().unwrap().to_string())
        })
        .collect()
}

async fn grpc_page(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    sort: pb::ConsolidatedSort,
    page: u32,
    size: u32,
) -> pb::ConsolidatedResponse {
    c.consolidated(pb::ConsolidatedRequest {
        term: TERM.into(),
        sort: sort.into(),
        page,
        page_size: size,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

fn names(r: &pb::ConsolidatedResponse) -> Vec<String> {
    r.entries.iter().map(|e| e.full_name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_its_export_the_grpc_query_and_the_cli_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with(quyhoach::config::RawConfig {
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    })
    .await;
    let http = Http::new(&node.web_url().unwrap(), None);
    let mut c = client(&node).await;
    let get = |path: String| {
        let http = &http;
        async move {
            let r = http.send("GET", &path, None, "").await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.body
        }
    };

    // An empty list is one empty page, whatever page is asked for.
    let empty = get(format!("/tong-hop?term={TERM}&size=2&page=7")).await;
    assert_eq!(
        summary_of(&empty).split(" · ").take(2).collect::<Vec<_>>(),
        ["0 dòng", "trang 1/1"]
    );
    assert!(names_on(&empty).is_empty());
    let r = grpc_page(&mut c, pb::ConsolidatedSort::Name, 7, 2).await;
    assert_eq!((r.total, r.page, r.pages, r.entries.len()), (0, 1, 1, 0));

    let entries = PEOPLE
        .iter()
        .map(|&(n, name, born)| {
            let mut e = province_entry(n, name);
            e.cadre.as_mut().unwrap().birth_date = born.into();
            e
        })
        .collect();
    adopted_without_vote(&mut c, "40", entries).await;

    let by_name = [
        "Trần Văn An",
        "Lê Thị Bình",
        "Phạm Văn Cường",
        "Nguyễn Thị Dung",
        "Hoàng Văn Em",
    ];
    let by_birth = [
        "Nguyễn Thị Dung",
        "Lê Thị Bình",
        "Hoàng Văn Em",
        "Trần Văn An",
        "Phạm Văn Cường",
    ];
    for (sort, grpc_sort, order) in [
        ("", pb::ConsolidatedSort::Name, by_name),
        ("birth", pb::ConsolidatedSort::Birth, by_birth),
    ] {
        // First, last and past the last page, two rows a page: 1–2, 5, and 5 again.
        for (asked, page, pages, rows) in [
            (1u32, 1u32, 3u32, &order[0..2]),
            (2, 2, 3, &order[2..4]),
            (3, 3, 3, &order[4..5]),
            (4, 3, 3, &order[4..5]),
            (1_000_000, 3, 3, &order[4..5]),
        ] {
            let path = format!("/tong-hop?term={TERM}&sort={sort}&size=2&page={asked}");
            let html = get(path.clone()).await;
            assert_eq!(names_on(&html), rows, "{path}");
            let summary = summary_of(&html);
            assert!(
                summary.starts_with(&format!("5 dòng · trang {page}/{pages}")),
                "{path}: {summary}"
            );
            // The export of the rows shown is those rows, numbered as the page numbers them.
            let csv = get(link(&html, "export-csv")).await;
            let first = (page as usize - 1) * 2;
            let expected: Vec<(String, String)> = rows
                .iter()
                .enumerate()
                .map(|(i, n)| ((first + i + 1).to_string(), n.to_string()))
                .collect();
            assert_eq!(csv_rows(&csv), expected, "{path}");
            assert!(
                html.contains(&format!("<td class=\"num\">{}</td>", first + 1)),
                "{path}"
            );
            // The gRPC query answers the same page.
            let r = grpc_page(&mut c, grpc_sort, asked, 2).await;
            assert_eq!(names(&r), rows, "{path}");
            assert_eq!((r.total, r.page, r.pages), (5, page, pages), "{path}");
        }
        // Paging by the token walks the same order.
        let mut walked = Vec::new();
        let mut token = String::new();
        loop {
            let r = c
                .consolidated(pb::ConsolidatedRequest {
                    term: TERM.into(),
                    sort: grpc_sort.into(),
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            walked.extend(names(&r));
            if r.next_page_token.is_empty() {
                break;
            }
            token = r.next_page_token;
        }
        assert_eq!(walked, order);
    }

    // The CLI's export and the page's export of the whole list are the same file (an insecure
    // node's caller sees whole IDs on both faces).
    let out = dir.path().join("tong-hop.csv");
    let addr = node.addr.to_string();
    let out_arg = out.to_str().unwrap();
    let ran = crate::procs::cli([
        "export",
        "--node",
        &addr,
        "--what",
        "consolidated",
        "--term",
        TERM,
        "--out",
        out_arg,
    ])
    .await;
    assert!(ran.ok, "{}", ran.text());
    let cli = std::fs::read(&out).unwrap();
    let web = http
        .send(
            "GET",
            &format!("/tong-hop.csv?term={TERM}&size=0"),
            None,
            "",
        )
        .await;
    assert_eq!(web.status, 200);
    assert_eq!(String::from_utf8(cli).unwrap(), web.body);
    assert!(
        web.body.contains("040080000001"),
        "the whole ID: {}",
        web.body
    );
    assert!(
        web.body.contains("01/01/1985") && web.body.contains("Đã thông qua"),
        "{}",
        web.body
    );
    node.stop().await.unwrap();
}
