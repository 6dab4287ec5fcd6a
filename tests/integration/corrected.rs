//! Corrected lists through the binary and a real node: `import --replace` makes the draft
//! equal to the file where the default adds to it; every import, the dry run included, prints
//! the difference against the draft; an identical ballot round is not recorded twice.

use quyhoach::grpc::pb;
use rust_xlsxwriter::Workbook;

use crate::harness::*;

const HEADER: [&str; 11] = [
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Dân tộc",
    "Số CCCD",
    "Chức vụ hiện tại",
    "Đơn vị công tác",
    "Chức danh quy hoạch",
    "Nhiệm kỳ",
    "Số phiếu đồng ý",
];

/// (name, birth date, gender, số CCCD, planned position, yes votes)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
);

const FIRST: [Row; 3] = [
    (
        "Nguyễn Thị Hoa",
        "15/06/1990",
        "Nữ",
        "040190000001",
        "C.CT.UBND",
        20,
    ),
    (
        "Lê Văn Tám",
        "01/02/1988",
        "Nam",
        "040088000002",
        "C.PCT.UBND",
        18,
    ),
    (
        "Trần Văn Bảy",
        "03/04/1980",
        "Nam",
        "040080000003",
        "C.PCT.UBND",
        17,
    ),
];

/// Hoa's votes changed, Tám moved to another post, Bảy dropped, Mai added.
const CORRECTED: [Row; 3] = [
    (
        "Nguyễn Thị Hoa",
        "15/06/1990",
        "Nữ",
        "040190000001",
        "C.CT.UBND",
        22,
    ),
    (
        "Lê Văn Tám",
        "01/02/1988",
        "Nam",
        "040088000002",
        "C.PCT.HDND",
        18,
    ),
    (
        "Đỗ Thị Mai",
        "05/05/1985",
        "Nữ",
        "040185000004",
        "C.PCT.UBND",
        19,
    ),
];

fn workbook(path: &std::path::Path, rows: &[Row]) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, (name, born, gender, id, position, yes)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        let n = r.to_string();
        let cells = [
            n.as_str(),
            name,
            born,
            gender,
            "Kinh",
            id,
            "C.CC",
            "16681",
            position,
            TERM,
        ];
        for (c, v) in cells.iter().enumerate() {
            sheet.write_string(r, c as u16, *v).unwrap();
        }
        sheet.write_number(r, 10, *yes as f64).unwrap();
    }
    book.save(path).unwrap();
}

/// Runs `quyhoach import FILE` into 16681's draft at `addr` with the round's counts and
/// `extra` arguments; answers whether it succeeded and what it printed.
async fn import(file: &std::path::Path, addr: &str, extra: &[&str]) -> (bool, String) {
    crate::procs::run(
        crate::procs::quyhoach()
            .args(["import", file.to_str().unwrap(), "--unit", "16681"])
            .args(["--term", TERM, "--node", addr])
            .args(["--round-date", "2025-03-14", "--convened", "30"])
            .args(["--present", "28"])
            .args(extra),
    )
    .await
    .said()
}

async fn draft(c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: "16681".into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .unwrap()
    .into_inner()
}

fn keys(plan: &pb::Plan) -> Vec<(String, String)> {
    let mut k: Vec<(String, String)> = plan
        .entries
        .iter()
        .map(|e| {
            (
                e.position.clone(),
                e.cadre.as_ref().unwrap().full_name.clone(),
            )
        })
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_list_is_applied_with_replace_and_added_without_and_both_say_what_changes() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://{}", crate::procs::free_addr());
    let commune = start(dir.path(), "16681", Some(nowhere), "builtin:2024").await;
    let addr = commune.addr.to_string();
    let mut c = client(&commune).await;
    let first = dir.path().join("first.xlsx");
    let corrected = dir.path().join("corrected.xlsx");
    workbook(&first, &FIRST);
    workbook(&corrected, &CORRECTED);

    let (ok, said) = import(&first, &addr, &[]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("3 added, 0 removed, 0 moved, 0 votes changed"),
        "{said}"
    );
    // The same file again: nothing changes and the round is not recorded twice.
    let (ok, said) = import(&first, &addr, &[]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("0 added, 0 removed, 0 moved, 0 votes changed")
            && said.contains("already recorded"),
        "{said}"
    );
    let held = draft(&mut c).await;
    assert_eq!((held.entries.len(), held.rounds.len()), (3, 1));

    // Both dry runs against the same draft say what each would do, and write nothing.
    let (ok, said) = import(&corrected, &addr, &["--dry-run"]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("1 added, 0 removed, 1 moved, 1 votes changed"),
        "{said}"
    );
    let (ok, said) = import(&corrected, &addr, &["--dry-run", "--replace"]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("1 added, 1 removed, 1 moved, 1 votes changed"),
        "{said}"
    );
    for line in [
        "added Đỗ Thị Mai (…0004): C.PCT.UBND",
        "removed Trần Văn Bảy (…0003): C.PCT.UBND",
        "moved Lê Văn Tám (…0002): C.PCT.UBND -> C.PCT.HDND",
        "votes Nguyễn Thị Hoa (…0001) for C.CT.UBND: 20 -> 22",
    ] {
        assert!(said.contains(line), "no {line:?} in:\n{said}");
    }
    assert_eq!(draft(&mut c).await, held, "dry runs write nothing");

    // The default adds: the moved person stays in both posts (the reported mistake).
    let (ok, said) = import(&corrected, &addr, &[]).await;
    assert!(ok, "{said}");
    let added = draft(&mut c).await;
    assert_eq!(added.entries.len(), 5);
    assert_eq!(added.rounds.len(), 2);

    // --replace makes the draft equal to the file.
    let (ok, said) = import(&corrected, &addr, &["--replace"]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("0 added, 1 removed, 1 moved, 0 votes changed"),
        "{said}"
    );
    let replaced = draft(&mut c).await;
    assert_eq!(
        keys(&replaced),
        [
            ("C.CT.UBND".to_string(), "Nguyễn Thị Hoa".to_string()),
            ("C.PCT.HDND".into(), "Lê Văn Tám".into()),
            ("C.PCT.UBND".into(), "Đỗ Thị Mai".into()),
        ]
    );
    assert_eq!(
        replaced.rounds.len(),
        2,
        "the same round is not recorded again"
    );
    commune.stop().await.unwrap();
}
