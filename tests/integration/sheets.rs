//! Excel and CSV in and out through a real node: a dry run that names every bad row, an import
//! that writes all rows or none, an export that imports back to the same plan, and the
//! consolidated list's filters, paging and stream.

use quyhoach::grpc::pb;
use rust_xlsxwriter::Workbook;

use crate::{harness::*, procs::cli};

const HEADER: [&str; 10] = [
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
];

fn workbook(path: &std::path::Path, rows: &[[&str; 10]]) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    book.save(path).unwrap();
}

const GOOD: [[&str; 10]; 2] = [
    [
        "1",
        "Nguyễn Thị Hoa",
        "15/06/1990",
        "Nữ",
        "Kinh",
        "040190000001",
        "Phó Chủ tịch UBND xã",
        "16681",
        "Chủ tịch UBND xã",
        "2025-2030",
    ],
    [
        "2",
        "Lê Văn Tám",
        "1988-02-01",
        "Nam",
        "Kinh",
        "040088000002",
        "C.CC",
        "Phường Quang Trung",
        "C.PCT.UBND",
        "2025-2030",
    ],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_names_every_bad_row_and_an_import_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let district = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let commune = start(dir.path(), "16681", Some(district.url()), "builtin:2024").await;
    let addr = commune.addr.to_string();
    let bad = dir.path().join("bad.xlsx");
    let mut rows = GOOD.to_vec();
    rows.push([
        "3",
        "Trần Văn Bảy",
        "30/02/1980",
        "Nam",
        "Kinh",
        "04008000003",
        "C.CC",
        "16681",
        "C.BT",
        "2025-2030",
    ]);
    rows.push([
        "4",
        "",
        "01/01/1985",
        "Nữ",
        "Kinh",
        "040185000004",
        "C.CC",
        "16681",
        "C.XYZ",
        "2025-2030",
    ]);
    workbook(&bad, &rows);

    let (ok, said) = cli(&[
        "import",
        bad.to_str().unwrap(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--dry-run",
    ])
    .await
    .said();
    assert!(!ok, "{said}");
    for (row, column) in [
        (4, "Ngày sinh"),
        (4, "Số CCCD"),
        (5, "Họ và tên"),
        (5, "Chức danh quy hoạch"),
    ] {
        assert!(
            said.contains(&format!("row {row}, {column}")),
            "no report of row {row}, {column} in:\n{said}"
        );
    }
    assert!(said.contains("2 good rows, 4 problems"), "{said}");

    // A real import of the same file writes nothing.
    let (ok, _) = cli(&[
        "import",
        bad.to_str().unwrap(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--node",
        &addr,
    ])
    .await
    .said();
    assert!(!ok);
    let mut c = client(&commune).await;
    assert!(everything(&mut c).await.is_empty());

    // The good rows alone import whole.
    let good = dir.path().join("good.xlsx");
    workbook(&good, &GOOD);
    let (ok, said) = cli(&[
        "import",
        good.to_str().unwrap(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--node",
        &addr,
    ])
    .await
    .said();
    assert!(ok, "{said}");
    let plan = c
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<String> = plan
        .entries
        .iter()
        .map(|e| e.cadre.as_ref().unwrap().full_name.clone())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Nguyễn Thị Hoa".to_string()));
    let positions: Vec<&str> = plan.entries.iter().map(|e| e.position.as_str()).collect();
    assert!(
        positions.contains(&"C.CT.UBND"),
        "titles resolve to codes: {positions:?}"
    );

    // All or nothing at the node too: one bad entry among good ones writes none of them.
    let before = everything(&mut c).await;
    let mut broken = entry(9, "Đỗ Thị Mai", "C.PCT.UBND", "16681");
    broken.cadre.as_mut().unwrap().birth_date = "2099-01-01".into();
    let r = c
        .import_entries(pb::ImportEntriesRequest {
            unit: "16681".into(),
            term: TERM.into(),
            entries: vec![entry(8, "Phạm Văn Tư", "C.PCT.UBND", "16681"), broken],
            round: None,
            replace: false,
        })
        .await
        .unwrap_err();
    assert!(
        r.message().contains("entries[1].cadre.birth_date"),
        "{}",
        r.message()
    );
    assert_eq!(everything(&mut c).await, before);
    for n in [commune, district, province] {
        n.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_plan_imports_back_to_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), "40", None, "builtin:2024").await;
    let b = start(&dir.path().join("b"), "40", None, "builtin:2024").await;
    let mut ca = client(&a).await;
    let names = [(1, "Đặng Thị Ánh"), (2, "Ông Văn Ưng"), (3, "Bùi Thị Ơn")];
    draft_with(
        &mut ca,
        "40",
        names
            .iter()
            .map(|&(n, name)| province_entry(n, name))
            .collect(),
    )
    .await;
    let original = ca
        .get_plan(pb::GetPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    for ext in ["xlsx", "csv"] {
        let file = dir.path().join(format!("plan.{ext}"));
        let (ok, said) = cli(&[
            "export",
            "--node",
            &a.addr.to_string(),
            "--what",
            "plan",
            "--unit",
            "40",
            "--term",
            TERM,
            "--out",
            file.to_str().unwrap(),
        ])
        .await
        .said();
        assert!(ok, "{said}");
        let (ok, said) = cli(&[
            "import",
            file.to_str().unwrap(),
            "--unit",
            "40",
            "--term",
            TERM,
            "--node",
            &b.addr.to_string(),
        ])
        .await
        .said();
        assert!(ok, "{said}");
        let mut cb = client(&b).await;
        let copy = cb
            .get_plan(pb::GetPlanRequest {
                unit: "40".into(),
                term: TERM.into(),
                version: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut want = original.entries.clone();
        let mut got = copy.entries.clone();
        want.sort_by_key(|e| e.cadre.as_ref().unwrap().national_id.clone());
        got.sort_by_key(|e| e.cadre.as_ref().unwrap().national_id.clone());
        assert_eq!(got, want, "{ext} round trip");
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn the_consolidated_list_filters_pages_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let mut p = client(&province).await;
    let people = [
        (1, "Nguyễn Thị An", pb::Gender::Female, "1990-01-01"),
        (2, "Trần Văn Bình", pb::Gender::Male, "1970-01-01"),
        (3, "Lê Thị Cúc", pb::Gender::Female, "1975-01-01"),
        (4, "Phạm Văn Dũng", pb::Gender::Male, "1988-01-01"),
        (5, "Hoàng Văn Em", pb::Gender::Male, "1980-01-01"),
    ];
    let entries = people
        .iter()
        .map(|&(n, name, gender, birth)| {
            let mut e = province_entry(n, name);
            let c = e.cadre.as_mut().unwrap();
            (c.gender, c.birth_date) = (gender.into(), birth.into());
            e
        })
        .collect();
    draft_with(&mut p, "40", entries).await;
    p.adopt_plan(pb::AdoptPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        adopted_on: String::new(),
        revision: None,
    })
    .await
    .unwrap();
    let list = |req: pb::ConsolidatedRequest| {
        let mut p = p.clone();
        async move { p.consolidated(req).await.unwrap().into_inner() }
    };
    let women = list(pb::ConsolidatedRequest {
        gender: pb::Gender::Female.into(),
        ..Default::default()
    })
    .await;
    assert_eq!(women.entries.len(), 2);
    let young = list(pb::ConsolidatedRequest {
        age_max: 40,
        ..Default::default()
    })
    .await;
    assert_eq!(
        young
            .entries
            .iter()
            .map(|e| e.full_name.as_str())
            .collect::<Vec<_>>(),
        ["Nguyễn Thị An", "Phạm Văn Dũng"]
    );
    let province_level = list(pb::ConsolidatedRequest {
        level: pb::Level::Province.into(),
        ..Default::default()
    })
    .await;
    assert_eq!(province_level.entries.len(), 5);
    assert!(list(pb::ConsolidatedRequest {
        level: pb::Level::District.into(),
        ..Default::default()
    })
    .await
    .entries
    .is_empty());
    // Every entry was adopted without a ballot round: R19 names all five.
    assert_eq!(
        list(pb::ConsolidatedRequest {
            has_rule: "R19".into(),
            ..Default::default()
        })
        .await
        .entries
        .len(),
        5
    );
    assert!(list(pb::ConsolidatedRequest {
        has_rule: "R3".into(),
        ..Default::default()
    })
    .await
    .entries
    .is_empty());

    let first = list(pb::ConsolidatedRequest {
        page_size: 2,
        ..Default::default()
    })
    .await;
    assert_eq!((first.entries.len(), first.total), (2, 5));
    assert!(
        !first.next_page_token.is_empty(),
        "a cursor to the next page"
    );
    let second = list(pb::ConsolidatedRequest {
        page_size: 2,
        page_token: first.next_page_token,
        ..Default::default()
    })
    .await;
    let third = list(pb::ConsolidatedRequest {
        page_size: 2,
        page_token: second.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(third.entries.len(), 1);
    assert!(third.next_page_token.is_empty());
    let mut paged: Vec<String> = first
        .entries
        .iter()
        .chain(&second.entries)
        .chain(&third.entries)
        .map(|e| e.full_name.clone())
        .collect();
    let mut stream = p
        .consolidated_stream(pb::ConsolidatedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(e) = stream.message().await.unwrap() {
        streamed.push(e.full_name);
    }
    assert_eq!(streamed, paged);
    paged.sort();
    assert_eq!(paged.len(), 5);
    province.stop().await.unwrap();
}
