//! Lists as people really keep them, through the binary and real nodes: a district's list in the
//! official layout (title block, two-row header with the birth date under "Nam"/"Nữ", column
//! numbers, a group heading, a hidden row, the signature block) and another district's list as
//! tab-separated text, naming one person with the old and the new tone placement (`Hoà`/`Hòa`)
//! and another with a zero-width space. At the province they are one person each: no R21, and
//! a search finds both records.

use quyhoach::grpc::pb;
use rust_xlsxwriter::{Format, Workbook};

use crate::{harness::*, procs::cli};

const HOA_ID: &str = "040182000901";
const HAI_ID: &str = "040079000902";

/// District 412's list in the official layout.
fn official_list(path: &std::path::Path) {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let plain = Format::new();
    ws.merge_range(0, 0, 0, 4, "ĐẢNG BỘ THÀNH PHỐ VINH", &plain)
        .unwrap();
    ws.merge_range(
        2,
        0,
        2,
        10,
        "DANH SÁCH QUY HOẠCH NHIỆM KỲ 2025-2030",
        &plain,
    )
    .unwrap();
    // Header: rows 5 and 6.
    for (col, title) in [
        (0, "STT"),
        (1, "Họ và tên"),
        (4, "Dân tộc"),
        (5, "Số CCCD"),
        (6, "Chức vụ hiện tại"),
        (7, "Đơn vị công tác"),
        (8, "Chức danh quy hoạch"),
        (9, "Nhiệm kỳ"),
        (10, "Số phiếu đồng ý"),
    ] {
        ws.merge_range(4, col, 5, col, title, &plain).unwrap();
    }
    ws.merge_range(4, 2, 4, 3, "Ngày, tháng, năm sinh", &plain)
        .unwrap();
    ws.write_string(5, 2, "Nam").unwrap();
    ws.write_string(5, 3, "Nữ").unwrap();
    for col in 0..11u16 {
        ws.write_string(6, col, format!("({})", col + 1)).unwrap();
    }
    ws.merge_range(
        7,
        0,
        7,
        10,
        "I. Quy hoạch chức danh Phó Chủ tịch UBND huyện",
        &plain,
    )
    .unwrap();
    let person = |ws: &mut rust_xlsxwriter::Worksheet, row: u32, cells: [&str; 11]| {
        for (col, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(row, col as u16, *v).unwrap();
            }
        }
    };
    // The new tone placement; the position is the heading's.
    person(
        ws,
        8,
        [
            "1",
            "Nguyễn Thị Hoà",
            "",
            "15/01/1982",
            "Kinh",
            HOA_ID,
            "Trưởng phòng",
            "412",
            "",
            "2025-2030",
            "30",
        ],
    );
    // An old entry someone hid instead of deleting.
    person(
        ws,
        9,
        [
            "2",
            "Cũ Văn Ẩn",
            "01/01/1970",
            "",
            "Kinh",
            "040070000903",
            "D.TP",
            "412",
            "D.PCT.UBND",
            "2025-2030",
            "30",
        ],
    );
    ws.set_row_hidden(9).unwrap();
    person(
        ws,
        10,
        [
            "3",
            "Phạm Văn Hải",
            "20/05/1979",
            "",
            "Kinh",
            HAI_ID,
            "D.TP",
            "412",
            "D.PCT.UBND",
            "2025-2030",
            "30",
        ],
    );
    ws.merge_range(12, 0, 12, 4, "Nơi nhận:\n- Ban Tổ chức Tỉnh ủy", &plain)
        .unwrap();
    ws.merge_range(12, 7, 12, 10, "T/M BAN THƯỜNG VỤ", &plain)
        .unwrap();
    ws.merge_range(13, 7, 13, 10, "(ký, đóng dấu)", &plain)
        .unwrap();
    book.save(path).unwrap();
}

/// District 427's list as tab-separated UTF-8 text ("Unicode text" as some offices save it):
/// the old tone placement, and a zero-width space inside a name.
fn text_list(path: &std::path::Path) {
    let lines = [
        "DANH SÁCH QUY HOẠCH HUYỆN ĐÔ LƯƠNG".to_string(),
        [
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
        ]
        .join("\t"),
        format!("1\tNguyễn Thị Hòa\t15/1/82\tNữ\tKinh\t{HOA_ID}\tD.TP\t427\tD.PCT.UBND\t2025-2030\t30"),
        format!(
            "2\tPhạm Văn\u{200B} Hải\t20/05/1979\tNam\tKinh\t{HAI_ID}\tD.TP\t427\tD.TB.TC\t2025-2030\t30"
        ),
    ];
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

async fn adopt_and_submit(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
) {
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        adopted_on: "2025-04-15".into(),
        revision: None,
    })
    .await
    .unwrap();
    c.submit_plan(pb::SubmitPlanRequest {
        unit: unit.into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_spellings_of_one_person_in_two_districts_are_one_person_at_the_province() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let vinh = start(dir.path(), "412", Some(province.url()), "builtin:2024").await;
    let do_luong = start(dir.path(), "427", Some(province.url()), "builtin:2024").await;

    let official = dir.path().join("412.xlsx");
    official_list(&official);
    let text = dir.path().join("427.txt");
    text_list(&text);

    // The dry run reads what a clerk sees, and says what it skipped and why.
    let (ok, said) = cli(&[
        "import",
        official.to_str().unwrap(),
        "--unit",
        "412",
        "--term",
        TERM,
        "--dry-run",
    ])
    .await
    .said();
    assert!(ok, "{said}");
    for line in [
        "skipped rows 1–3: title block above the header",
        "skipped row 7: column numbers under the header",
        "skipped row 8: group heading (position D.PCT.UBND)",
        "skipped row 10: hidden row",
        "skipped rows 13–14: signature block",
        "2 good rows, 0 problems",
    ] {
        assert!(said.contains(line), "no {line:?} in:\n{said}");
    }

    let round = [
        "--round-date",
        "2025-04-10",
        "--convened",
        "40",
        "--present",
        "38",
    ];
    for (file, unit, node) in [(&official, "412", &vinh), (&text, "427", &do_luong)] {
        let addr = node.addr.to_string();
        let mut args = vec![
            "import",
            file.to_str().unwrap(),
            "--unit",
            unit,
            "--term",
            TERM,
            "--node",
            &addr,
        ];
        args.extend(round);
        let (ok, said) = cli(&args).await.said();
        assert!(ok, "{unit}: {said}");
        assert!(said.contains("imported 2 entries"), "{said}");
        let mut c = client(node).await;
        adopt_and_submit(&mut c, unit).await;
    }

    let mut p = client(&province).await;
    wait_status(&mut p, "412", pb::PlanStatus::Received).await;
    wait_status(&mut p, "427", pb::PlanStatus::Received).await;

    // What each district wrote is kept as written, cleaned of the invisible character.
    let names = |plan: &pb::Plan| -> Vec<String> {
        let mut n: Vec<String> = plan
            .entries
            .iter()
            .map(|e| e.cadre.as_ref().unwrap().full_name.clone())
            .collect();
        n.sort();
        n
    };
    let plans = everything(&mut p).await;
    let of = |unit: &str| {
        plans
            .iter()
            .find(|pl| pl.id.as_ref().unwrap().unit == unit)
            .unwrap()
    };
    assert_eq!(names(of("412")), ["Nguyễn Thị Hoà", "Phạm Văn Hải"]);
    assert_eq!(names(of("427")), ["Nguyễn Thị Hòa", "Phạm Văn Hải"]);

    // One person each: no R21 at the province.
    let findings = p
        .check(pb::CheckRequest {
            rules: vec!["R21".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .findings;
    assert!(findings.is_empty(), "{findings:#?}");

    // A search in either spelling, or typed with the invisible character, finds both records.
    for query in ["Nguyễn Thị Hòa", "nguyen thi hoa", "Phạm Văn\u{200B} Hải"] {
        let found = p
            .consolidated(pb::ConsolidatedRequest {
                name: query.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        let mut units: Vec<&str> = found.iter().map(|e| e.unit.as_str()).collect();
        units.sort();
        assert_eq!(units, ["412", "427"], "{query:?}");
    }
    let addr = province.addr.to_string();
    let (ok, said) = cli(&["consolidated", "--node", &addr, "--name", "Nguyễn Thị Hoà"])
        .await
        .said();
    assert!(ok, "{said}");
    assert!(
        said.contains("Nguyễn Thị Hoà") && said.contains("Nguyễn Thị Hòa"),
        "{said}"
    );

    // The plan comes out in the official layout and reads back the same.
    let out = dir.path().join("412-official.xlsx");
    let (ok, said) = cli(&[
        "export",
        "--node",
        &addr,
        "--what",
        "plan",
        "--unit",
        "412",
        "--term",
        TERM,
        "--layout",
        "official",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .said();
    assert!(ok, "{said}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the official layout holds personal data too");
    }
    let (ok, said) = cli(&[
        "import",
        out.to_str().unwrap(),
        "--unit",
        "412",
        "--term",
        TERM,
        "--dry-run",
    ])
    .await
    .said();
    assert!(ok && said.contains("2 good rows, 0 problems"), "{said}");

    for node in [vinh, do_luong, province] {
        node.stop().await.unwrap();
    }
}

#[tokio::test]
async fn the_template_command_writes_a_list_that_imports_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mau.xlsx");
    let (ok, said) = cli(&[
        "template",
        "--unit",
        "16681",
        "--term",
        TERM,
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .said();
    assert!(ok, "{said}");
    let (ok, said) = cli(&[
        "import",
        out.to_str().unwrap(),
        "--unit",
        "16681",
        "--term",
        TERM,
        "--dry-run",
    ])
    .await
    .said();
    assert!(ok && said.contains("0 good rows, 0 problems"), "{said}");
    let (ok, said) = cli(&[
        "template",
        "--unit",
        "99999",
        "--term",
        TERM,
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .said();
    assert!(
        !ok && said.contains("unit 99999 is not in the list of units"),
        "{said}"
    );
}
