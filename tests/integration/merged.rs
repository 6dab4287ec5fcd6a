//! The list as the clerk sees it, through the binary: a merged cell's value fills every cell it
//! covers (across rows in the data, across columns in a title above the header), and a formula
//! whose result was never saved is a problem named by row and column, not an empty cell.

use quyhoach::grpc::pb;
use rust_xlsxwriter::{Formula, Workbook, Worksheet};

use crate::harness::*;

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

/// Rows 3 to 5 (the header is row 2, under a title merged across A1:J1); `None` leaves a cell
/// to be covered by a merge.
type Row = [Option<&'static str>; 10];

const ROWS: [Row; 3] = [
    [
        Some("1"),
        Some("Nguyễn Văn An"),
        Some("01/01/1980"),
        Some("Nam"),
        Some("Kinh"),
        Some("040080000011"),
        Some("Phó Chủ tịch UBND xã"),
        Some("16681"),
        Some("C.CT.UBND"),
        Some(TERM),
    ],
    [
        Some("2"),
        Some("Lê Văn Bình"),
        Some("02/02/1981"),
        Some("Nam"),
        Some("Kinh"),
        Some("040081000012"),
        None,
        None,
        Some("C.PCT.HDND"),
        Some(TERM),
    ],
    [
        Some("3"),
        Some("Trần Thị Cúc"),
        Some("03/03/1985"),
        Some("Nữ"),
        Some("Kinh"),
        Some("040185000013"),
        Some("C.CC"),
        None,
        Some("C.PCT.UBND"),
        Some(TERM),
    ],
];

fn sheet_with_title(sheet: &mut Worksheet) {
    sheet
        .merge_range(
            0,
            0,
            0,
            9,
            "DANH SÁCH QUY HOẠCH",
            &rust_xlsxwriter::Format::new(),
        )
        .unwrap();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
}

/// The list with "Chức vụ hiện tại" merged over rows 3–4 and "Đơn vị công tác" over 3–5.
fn merged_list(path: &std::path::Path) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet_with_title(sheet);
    for (r, row) in ROWS.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if let Some(v) = v {
                if !matches!((r, c), (0, 6) | (0, 7)) {
                    sheet.write_string(r as u32 + 2, c as u16, *v).unwrap();
                }
            }
        }
    }
    let plain = rust_xlsxwriter::Format::new();
    sheet
        .merge_range(2, 6, 3, 6, "Phó Chủ tịch UBND xã", &plain)
        .unwrap();
    sheet.merge_range(2, 7, 4, 7, "16681", &plain).unwrap();
    book.save(path).unwrap();
}

/// The list written by a program: row 4 is formulas whose results were never saved, row 5's
/// name a formula with its result saved.
fn formula_list(path: &std::path::Path) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet_with_title(sheet);
    for (r, row) in ROWS.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let v = v.unwrap_or(if c == 6 {
                "Phó Chủ tịch UBND xã"
            } else {
                "16681"
            });
            let at = (r as u32 + 2, c as u16);
            match r {
                1 => {
                    let f = Formula::new(format!("=TRIM(\"{v}\")"));
                    sheet.write_formula(at.0, at.1, f).unwrap();
                }
                2 if c == 1 => {
                    let f = Formula::new(format!("=TRIM(\"{v}\")")).set_result(v);
                    sheet.write_formula(at.0, at.1, f).unwrap();
                }
                _ => {
                    sheet.write_string(at.0, at.1, v).unwrap();
                }
            }
        }
    }
    book.save(path).unwrap();
    drop_saved_results(path);
}

/// Takes out of the workbook the results saved with formulas that have none worth keeping (a
/// writer that computes nothing stores 0 or nothing), as a program or manual calculation
/// leaves them: `<f>…</f>` with no `<v>`.
fn drop_saved_results(path: &std::path::Path) {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut parts = Vec::new();
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        parts.push((part.name().unwrap().to_string(), bytes));
    }
    let mut out = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in parts {
        let bytes = if name.starts_with("xl/worksheets/") {
            let xml = String::from_utf8(bytes).unwrap();
            let xml = xml
                .replace("</f><v>0</v>", "</f>")
                .replace("</f><v></v>", "</f>");
            assert!(xml.contains("<f>") && !xml.contains("</f><v>0</v>"));
            xml.into_bytes()
        } else {
            bytes
        };
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
}

async fn import(file: &std::path::Path, extra: &[&str]) -> (bool, String) {
    crate::procs::run(
        crate::procs::quyhoach()
            .args(["import", file.to_str().unwrap(), "--unit", "16681"])
            .args(["--term", TERM])
            .args(extra),
    )
    .await
    .said()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_cell_fills_every_cell_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://{}", crate::procs::free_addr());
    let commune = start(dir.path(), "16681", Some(nowhere), "builtin:2024").await;
    let addr = commune.addr.to_string();
    let file = dir.path().join("merged.xlsx");
    merged_list(&file);

    let (ok, said) = import(&file, &["--node", &addr]).await;
    assert!(ok, "{said}");
    assert!(said.contains("3 good rows, 0 problems"), "{said}");
    let mut c = client(&commune).await;
    let plan = c
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let cadre = |name: &str| {
        plan.entries
            .iter()
            .map(|e| e.cadre.clone().unwrap())
            .find(|c| c.full_name == name)
            .unwrap_or_else(|| panic!("{name} not imported: {plan:?}"))
    };
    // Row 3 holds the merged values; rows 4 and 5 are covered by them.
    assert_eq!(cadre("Nguyễn Văn An").current_positions, ["C.PCT.UBND"]);
    assert_eq!(cadre("Lê Văn Bình").current_positions, ["C.PCT.UBND"]);
    assert_eq!(cadre("Lê Văn Bình").current_unit, "16681");
    // Row 5: its own position, the unit from the merge across three rows.
    assert_eq!(cadre("Trần Thị Cúc").current_positions, ["C.CC"]);
    assert_eq!(cadre("Trần Thị Cúc").current_unit, "16681");
    commune.stop().await.unwrap();
}

#[tokio::test]
async fn a_formula_without_a_saved_value_is_a_problem_named_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("formulas.xlsx");
    formula_list(&file);
    let nowhere = format!("http://{}", crate::procs::free_addr());
    let (ok, said) = import(&file, &["--dry-run", "--node", &nowhere]).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("row 4, Họ và tên") && said.contains("open and save the file in Excel"),
        "{said}"
    );
    // Row 5's formula has its result saved: it reads as that value.
    assert!(!said.contains("row 5"), "{said}");
    assert!(said.contains("2 good rows"), "{said}");
}

/// A list laid out the way offices merge cells, read through the binary: a two-row header
/// whose cells are merged down both rows and whose "Họ và tên" is a block over two columns
/// (a merged header cell); in the data, a name merged across the two columns under it, a
/// current post merged across "Chức vụ hiện tại" and "Chức danh quy hoạch" (across columns:
/// the value fills both), "Đơn vị công tác" merged down four rows (across rows), and
/// "Nhiệm kỳ" with the note beside it merged as one block over four rows and two columns.
fn offices_list(path: &std::path::Path) {
    const HEAD: [(u16, &str); 11] = [
        (0, "STT"),
        (1, "Họ và tên"),
        (3, "Ngày sinh"),
        (4, "Giới tính"),
        (5, "Dân tộc"),
        (6, "Số CCCD"),
        (7, "Chức vụ hiện tại"),
        (8, "Chức danh quy hoạch"),
        (9, "Đơn vị công tác"),
        (10, "Nhiệm kỳ"),
        (11, "Ghi chú"),
    ];
    let people = [
        (
            "1",
            "Nguyễn Văn An",
            "01/01/1980",
            "Nam",
            "040080000021",
            "C.PCT.UBND",
            "C.CT.UBND",
        ),
        (
            "2",
            "Lê Văn Bình",
            "02/02/1981",
            "Nam",
            "040081000022",
            "C.PCT.HDND",
            "",
        ),
        (
            "3",
            "Trần Thị Cúc",
            "03/03/1985",
            "Nữ",
            "040185000023",
            "C.CC",
            "C.PCT.UBND",
        ),
        (
            "4",
            "Đỗ Văn Dũng",
            "04/04/1986",
            "Nam",
            "040086000024",
            "C.CC",
            "C.PCT.HDND",
        ),
    ];
    let plain = rust_xlsxwriter::Format::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .merge_range(0, 0, 0, 11, "DANH SÁCH QUY HOẠCH", &plain)
        .unwrap();
    for (col, title) in HEAD {
        let last = if col == 1 { 2 } else { col };
        sheet.merge_range(1, col, 2, last, title, &plain).unwrap();
    }
    for (i, (stt, name, born, gender, id, current, planned)) in people.iter().enumerate() {
        let r = 3 + i as u32;
        sheet.write_string(r, 0, *stt).unwrap();
        if i == 0 {
            sheet.merge_range(r, 1, r, 2, name, &plain).unwrap();
        } else {
            sheet.write_string(r, 1, *name).unwrap();
        }
        sheet.write_string(r, 3, *born).unwrap();
        sheet.write_string(r, 4, *gender).unwrap();
        sheet.write_string(r, 5, "Kinh").unwrap();
        sheet.write_string(r, 6, *id).unwrap();
        if planned.is_empty() {
            sheet.merge_range(r, 7, r, 8, current, &plain).unwrap();
        } else {
            sheet.write_string(r, 7, *current).unwrap();
            sheet.write_string(r, 8, *planned).unwrap();
        }
    }
    sheet.merge_range(3, 9, 6, 9, "16681", &plain).unwrap();
    sheet.merge_range(3, 10, 6, 11, TERM, &plain).unwrap();
    book.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_ranges_across_rows_across_columns_a_block_and_a_merged_header() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://{}", crate::procs::free_addr());
    let commune = start(dir.path(), "16681", Some(nowhere), "builtin:2024").await;
    let addr = commune.addr.to_string();
    let file = dir.path().join("offices.xlsx");
    offices_list(&file);

    let (ok, said) = import(&file, &["--node", &addr]).await;
    assert!(ok, "{said}");
    assert!(said.contains("4 good rows, 0 problems"), "{said}");
    let mut c = client(&commune).await;
    let plan = c
        .get_plan(pb::GetPlanRequest {
            unit: "16681".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let entry = |name: &str| {
        plan.entries
            .iter()
            .find(|e| e.cadre.as_ref().unwrap().full_name == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not imported: {plan:?}"))
    };
    // The merged header cell names its column; the name merged under it is read once.
    assert_eq!(plan.entries.len(), 4, "{plan:?}");
    assert_eq!(entry("Nguyễn Văn An").position, "C.CT.UBND");
    // Across columns: Bình's post fills both cells it covers.
    let binh = entry("Lê Văn Bình");
    assert_eq!(
        binh.cadre.as_ref().unwrap().current_positions,
        ["C.PCT.HDND"]
    );
    assert_eq!(binh.position, "C.PCT.HDND");
    // Across rows and the block: every row has the unit (and the term, or it would be a
    // problem of the row).
    for e in &plan.entries {
        assert_eq!(e.cadre.as_ref().unwrap().current_unit, "16681", "{e:?}");
    }
    assert_eq!(
        entry("Đỗ Văn Dũng").cadre.unwrap().current_positions,
        ["C.CC"]
    );
    commune.stop().await.unwrap();
}
