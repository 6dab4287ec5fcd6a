//! Classification marks and audited exports (issue 25): a node started with a classification
//! marks every export (the flat and the official sheet at their top right, read back with
//! calamine; a CSV file on its first line; a JSON file in its `classification` field), through
//! the binary and through the web page's downloads; without one nothing is marked. Every export
//! leaves an audit record (who, what, when) at the node, whichever face made it.

use std::{io::Cursor, path::Path};

use calamine::{Data, Reader, Xlsx};
use quyhoach::{config::RawConfig, grpc::pb, server::Running, tabular::Column};

use crate::{harness::*, procs::cli, web::Http};

/// The last column of both sheet layouts (17 columns): where the mark stands.
const LAST_COLUMN: u32 = 16;
/// The byte-order mark a CSV export opens with.
const BOM: &str = "\u{feff}";

/// The province with `mark` as its classification, its web page served, and its own plan of
/// two entries adopted.
async fn province(dir: &Path, mark: Option<&str>) -> Running {
    let node = start_with(RawConfig {
        classification: mark.map(String::from),
        web: Some("127.0.0.1:0".into()),
        ..node_config(dir, "40", None, "builtin:2024")
    })
    .await;
    let mut c = client(&node).await;
    adopted_without_vote(
        &mut c,
        "40",
        vec![
            province_entry(1, "Trần Văn An"),
            province_entry(2, "Lê Thị Bình"),
        ],
    )
    .await;
    node
}

/// Runs `quyhoach export` against `node` and answers the file it wrote.
async fn export(node: &Running, out: &Path, args: &[&str]) -> Vec<u8> {
    let addr = node.addr.to_string();
    let mut all = vec![
        "export",
        "--node",
        &addr,
        "--out",
        out.to_str().unwrap(),
        "--term",
        TERM,
    ];
    all.extend_from_slice(args);
    let (ok, said) = cli(&all).await.said();
    assert!(ok, "{all:?}: {said}");
    std::fs::read(out).unwrap()
}

/// The text of the cell at (`row`, `col`) of the first sheet, as calamine reads it.
fn cell(xlsx: &[u8], row: u32, col: u32) -> String {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx.to_vec())).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    match range.get_value((row, col)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The first two lines of a CSV export, after its byte-order mark.
fn first_lines(csv: &[u8]) -> (String, String) {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let text = text
        .strip_prefix(BOM)
        .expect("a CSV export opens with the BOM");
    let mut lines = text.lines().map(String::from);
    (lines.next().unwrap(), lines.next().unwrap_or_default())
}

/// The node's audit records of exports.
async fn exports(node: &Running) -> Vec<pb::AuditRecord> {
    client(node)
        .await
        .audit(pb::AuditRequest {
            action: "export".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
}

#[tokio::test]
async fn every_export_through_the_binary_carries_the_mark_and_leaves_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let node = province(dir.path(), Some("Mật")).await;
    let plan = ["--what", "plan", "--unit", "40"];

    let flat = export(&node, &dir.path().join("plan.xlsx"), &plan).await;
    assert_eq!(cell(&flat, 0, LAST_COLUMN), "MẬT");
    assert_eq!(cell(&flat, 0, 0), "", "the mark's row holds the mark only");
    assert_eq!(
        cell(&flat, 1, 0),
        Column::ALL[0].title(),
        "the header is below it"
    );
    let names = [cell(&flat, 2, 1), cell(&flat, 3, 1)];
    assert!(names.contains(&"Lê Thị Bình".to_string()), "{names:?}");

    let official = [&plan[..], &["--layout", "official"]].concat();
    let official = export(&node, &dir.path().join("official.xlsx"), &official).await;
    assert_eq!(cell(&official, 1, LAST_COLUMN), "MẬT");
    assert_eq!(cell(&official, 0, 6), "ĐẢNG CỘNG SẢN VIỆT NAM");

    let csv = export(&node, &dir.path().join("plan.csv"), &plan).await;
    let (first, second) = first_lines(&csv);
    assert_eq!(first, "MẬT");
    assert!(second.starts_with(Column::ALL[0].title()), "{second}");

    let list = ["--what", "consolidated"];
    let csv = export(&node, &dir.path().join("list.csv"), &list).await;
    assert_eq!(first_lines(&csv).0, "MẬT");

    let json = export(&node, &dir.path().join("list.json"), &list).await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["classification"], "MẬT");
    assert_eq!(json["rows"].as_array().unwrap().len(), 2);

    // Five exports, five records: who, what, how, how many, and the mark.
    let records = exports(&node).await;
    assert_eq!(records.len(), 5, "{records:?}");
    for r in &records {
        assert_eq!(r.actor, "insecure (no TLS)", "{r:?}");
        assert!(!r.at.is_empty());
        assert!(r.detail.contains("through the cli"), "{}", r.detail);
        assert!(r.detail.contains("marked MẬT"), "{}", r.detail);
        assert!(r.detail.contains("2 rows"), "{}", r.detail);
    }
    assert!(
        records[0].detail.starts_with("plan as xlsx of 40 term"),
        "{}",
        records[0].detail
    );
    assert_eq!(records[0].plan, Some(id("40", 1)));
    assert!(
        records[1].detail.starts_with("plan as official"),
        "{}",
        records[1].detail
    );
    assert!(
        records[4].detail.starts_with("consolidated as json"),
        "{}",
        records[4].detail
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_classification_exports_are_unmarked_and_still_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let node = province(dir.path(), None).await;
    let plan = ["--what", "plan", "--unit", "40"];

    let flat = export(&node, &dir.path().join("plan.xlsx"), &plan).await;
    assert_eq!(cell(&flat, 0, 0), Column::ALL[0].title());
    assert_eq!(cell(&flat, 0, LAST_COLUMN), Column::ALL[16].title());
    let official = [&plan[..], &["--layout", "official"]].concat();
    let official = export(&node, &dir.path().join("official.xlsx"), &official).await;
    assert_eq!(cell(&official, 1, LAST_COLUMN), "");
    let csv = export(&node, &dir.path().join("plan.csv"), &plan).await;
    assert!(first_lines(&csv).0.starts_with(Column::ALL[0].title()));
    let json = export(
        &node,
        &dir.path().join("list.json"),
        &["--what", "consolidated"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(
        json.is_array(),
        "an unmarked JSON export stays an array: {json}"
    );

    let records = exports(&node).await;
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records.iter().all(|r| r.detail.contains("marked (none)")));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_web_download_carries_the_mark_and_leaves_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let node = province(dir.path(), Some("tối mật")).await;
    let http = Http::new(&node.web_url().unwrap(), None);

    let r = http
        .send("GET", &format!("/tong-hop.csv?term={TERM}"), None, "")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (first, second) = first_lines(r.body.as_bytes());
    assert_eq!(first, "TỐI MẬT");
    assert!(second.starts_with("STT"), "{second}");
    let r = http
        .send("GET", &format!("/tong-hop.xlsx?term={TERM}"), None, "")
        .await;
    assert_eq!(r.status, 200);

    let records = exports(&node).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records[0]
            .detail
            .starts_with("consolidated as csv of 40 term"),
        "{}",
        records[0].detail
    );
    assert!(
        records[1].detail.starts_with("consolidated as xlsx"),
        "{}",
        records[1].detail
    );
    for r in &records {
        assert!(r.detail.contains("through the web"), "{}", r.detail);
        assert!(r.detail.contains("marked TỐI MẬT"), "{}", r.detail);
        assert!(!r.actor.is_empty());
    }
    node.stop().await.unwrap();
}

/// A classification that is not a degree of the law stops the node at start, naming the
/// setting.
#[tokio::test]
async fn serve_refuses_a_classification_the_law_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let e = RawConfig {
        classification: Some("Confidential".into()),
        ..node_config(dir.path(), "40", None, "builtin:2024")
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("classification"), "{e}");
}
