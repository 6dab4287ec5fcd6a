//! A corpus of small lists kept the way offices keep them, made by the tests themselves
//! (workbooks through rust_xlsxwriter, text files as bytes): hidden rows, columns and sheets,
//! several sheets, Excel error values, the official layout (title block, two-row header with
//! merged cells and the birth date under "Nam"/"Nữ", column numbers, group headings, signature
//! block), tab-, semicolon- and comma-separated text in UTF-8 and UTF-16, the 1904 date system
//! and two-digit years, and names typed with old and new tone placement or invisible characters.
//! Each list imports to exactly the expected entries, or fails with the expected row, column
//! and reason.

use std::io::{Read, Write};

use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Formula, Workbook};
use unicode_normalization::UnicodeNormalization;

use super::{resolve::tests::reference, tests::context, *};
use crate::domain::{Catalog, Gender, Hierarchy};

/// A cell of a test workbook.
#[derive(Clone)]
enum X {
    /// Nothing.
    B,
    /// Text.
    S(String),
    /// A number.
    N(f64),
    /// A date cell, dd/mm/yyyy.
    D(u16, u8, u8),
    /// A formula whose cached result is this Excel error.
    E(&'static str),
}

fn s(text: &str) -> X {
    X::S(text.to_string())
}

/// One worksheet of a test workbook.
#[derive(Default)]
struct Spec {
    name: &'static str,
    rows: Vec<Vec<X>>,
    hidden: bool,
    active: bool,
    /// Hidden rows, 1-based as Excel shows them.
    hidden_rows: Vec<u32>,
    /// Hidden columns, 0-based.
    hidden_columns: Vec<u16>,
    /// Merged ranges (first row, first column, last row, last column; 1-based rows, 0-based
    /// columns) and their text.
    merges: Vec<(u32, u16, u32, u16, &'static str)>,
}

fn workbook(sheets: &[Spec]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let date = XlsxFormat::new().set_num_format("dd/mm/yyyy");
    let plain = XlsxFormat::new();
    for spec in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(spec.name).unwrap();
        for (r, row) in spec.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match cell {
                    X::B => {}
                    X::S(t) => {
                        ws.write_string(r, c, t).unwrap();
                    }
                    X::N(n) => {
                        ws.write_number(r, c, *n).unwrap();
                    }
                    X::D(y, m, d) => {
                        let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                        ws.write_datetime_with_format(r, c, dt, &date).unwrap();
                    }
                    X::E(e) => {
                        let formula = match *e {
                            "#N/A" => "=NA()",
                            "#DIV/0!" => "=1/0",
                            "#VALUE!" => "=\"a\"+1",
                            _ => "=#REF!",
                        };
                        ws.write_formula(r, c, Formula::new(formula).set_result(*e))
                            .unwrap();
                    }
                }
            }
        }
        for &(r1, c1, r2, c2, text) in &spec.merges {
            ws.merge_range(r1 - 1, c1, r2 - 1, c2, text, &plain)
                .unwrap();
        }
        for &r in &spec.hidden_rows {
            ws.set_row_hidden(r - 1).unwrap();
        }
        for &c in &spec.hidden_columns {
            ws.set_column_hidden(c).unwrap();
        }
        if spec.hidden {
            ws.set_hidden(true);
        }
        if spec.active {
            ws.set_active(true);
        }
    }
    wb.save_to_buffer().unwrap()
}

/// `xlsx` with its workbook switched to the 1904 date system (rust_xlsxwriter has no switch).
fn in_1904(xlsx: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().to_string();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        if name == "xl/workbook.xml" {
            let text = String::from_utf8(content).unwrap();
            assert!(text.contains("<workbookPr"), "{text}");
            content = text
                .replacen("<workbookPr", "<workbookPr date1904=\"1\"", 1)
                .into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The simple list's titles: the full list's first seven ([`super::tests::HEADERS`]) and the
/// planned position.
fn header_titles() -> Vec<&'static str> {
    let first_seven = super::tests::HEADERS[..7].iter().copied();
    first_seven.chain(["Chức danh quy hoạch"]).collect()
}

fn header() -> Vec<X> {
    header_titles().into_iter().map(s).collect()
}

/// A row of the simple list: running number, name, birth date as text, gender, ID, position.
fn person(n: u32, name: &str, born: &str, gender: &str, id: &str, position: &str) -> Vec<X> {
    vec![
        X::N(n.into()),
        s(name),
        s(born),
        s(gender),
        s("Kinh"),
        s(id),
        s("C.CC"),
        s(position),
    ]
}

/// What a list imported to: (row, name, birth date, gender, position) per entry.
type Got = Vec<(usize, String, String, Gender, String)>;

/// A workbook of one visible sheet "DS" holding `rows`.
fn one_sheet(rows: Vec<Vec<X>>) -> Vec<u8> {
    workbook(&[Spec {
        name: "DS",
        rows,
        ..Spec::default()
    }])
}

fn import_bytes(bytes: &[u8], format: Format, sheet: Option<&str>) -> ImportReport {
    let (catalog, hierarchy) = reference();
    let read = read_sheet(bytes, format, sheet).unwrap();
    import(&read, &context(&catalog, &hierarchy))
}

fn entries(report: &ImportReport) -> Got {
    report
        .entries
        .iter()
        .map(|e| {
            let c = &e.entry.cadre;
            (
                e.row,
                c.full_name.to_string(),
                c.birth_date.format("%d/%m/%Y").to_string(),
                c.gender,
                e.entry.position.to_string(),
            )
        })
        .collect()
}

fn got(row: usize, name: &str, born: &str, gender: Gender, position: &str) -> Got {
    vec![(row, name.into(), born.into(), gender, position.into())]
}

/// Asserts the problems, in order: (row, column as written, part of the reason).
fn assert_problems(report: &ImportReport, expected: &[(usize, &str, &str)]) {
    let found: Vec<(usize, &str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (f, e) in found.iter().zip(expected) {
        assert_eq!((f.0, f.1), (e.0, e.1), "{f:?}");
        assert!(f.2.contains(e.2), "row {}: {:?} lacks {:?}", f.0, f.2, e.2);
    }
}

use Gender::{Female, Male};

#[test]
fn hidden_rows_and_columns_are_not_read() {
    let mut rows = vec![header()];
    rows[0].push(s("Họ và tên")); // an old column, hidden
    rows.push(person(
        1,
        "Lê Văn Tám",
        "12/04/1976",
        "Nam",
        "040076000001",
        "C.BT",
    ));
    rows.push(person(
        2,
        "Trần Thị Hà",
        "03/09/1982",
        "Nữ",
        "040182000002",
        "C.BT",
    ));
    rows.push(person(
        3,
        "Cũ Văn Ẩn",
        "01/01/1970",
        "Nam",
        "040070000003",
        "C.BT",
    ));
    rows.push(person(
        4,
        "Phạm Văn Dũng",
        "15/06/1979",
        "Nam",
        "040079000005",
        "C.BT",
    ));
    let bytes = workbook(&[Spec {
        name: "Danh sách",
        rows,
        hidden_rows: vec![4],
        hidden_columns: vec![8],
        ..Spec::default()
    }]);
    let report = import_bytes(&bytes, Format::Xlsx, None);
    assert_problems(&report, &[]);
    let mut expected = got(2, "Lê Văn Tám", "12/04/1976", Male, "C.BT");
    expected.extend(got(3, "Trần Thị Hà", "03/09/1982", Female, "C.BT"));
    expected.extend(got(5, "Phạm Văn Dũng", "15/06/1979", Male, "C.BT"));
    assert_eq!(entries(&report), expected);
    assert_eq!(report.skipped_lines(), ["row 4: hidden row"]);
}

fn list_of(names: &[(&str, &str)]) -> Vec<Vec<X>> {
    let mut rows = vec![header()];
    for (i, (name, id)) in names.iter().enumerate() {
        rows.push(person(
            i as u32 + 1,
            name,
            "12/04/1976",
            "Nam",
            id,
            "C.PCT.UBND",
        ));
    }
    rows
}

#[test]
fn a_hidden_sheet_is_not_read_and_cannot_be_chosen() {
    let old = list_of(&[
        ("Cũ Văn Một", "040076000011"),
        ("Cũ Văn Hai", "040076000012"),
    ]);
    let new = list_of(&[
        ("Mới Văn Một", "040076000021"),
        ("Mới Văn Hai", "040076000022"),
        ("Mới Văn Ba", "040076000023"),
    ]);
    let bytes = workbook(&[
        Spec {
            name: "Cũ",
            rows: old,
            hidden: true,
            ..Spec::default()
        },
        Spec {
            name: "Mới",
            rows: new,
            active: true,
            ..Spec::default()
        },
    ]);
    let report = import_bytes(&bytes, Format::Xlsx, None);
    let names: Vec<String> = entries(&report).into_iter().map(|e| e.1).collect();
    assert_eq!(names, ["Mới Văn Một", "Mới Văn Hai", "Mới Văn Ba"]);
    let err = read_sheet(bytes.as_slice(), Format::Xlsx, Some("Cũ")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sheet \"Cũ\" is hidden; unhide it in Excel or choose one of \"Mới\""
    );
}

#[test]
fn several_visible_lists_need_a_choice() {
    let a = list_of(&[("Lê Văn Một", "040076000011")]);
    let b = list_of(&[
        ("Lê Văn Hai", "040076000012"),
        ("Lê Văn Ba", "040076000013"),
    ]);
    let notes = vec![vec![s("Ghi chú: danh sách gửi kèm tờ trình")]];
    let bytes = workbook(&[
        Spec {
            name: "Cấp ủy",
            rows: a,
            ..Spec::default()
        },
        Spec {
            name: "Ghi chú",
            rows: notes,
            ..Spec::default()
        },
        Spec {
            name: "Chính quyền",
            rows: b,
            ..Spec::default()
        },
    ]);
    let err = read_sheet(bytes.as_slice(), Format::Xlsx, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "several visible sheets hold a list (\"Cấp ủy\", \"Chính quyền\"); choose one with \
         --sheet NAME"
    );
    let report = import_bytes(&bytes, Format::Xlsx, Some("Chính quyền"));
    assert_eq!(report.entries.len(), 2);
    // Named without diacritics or case, as a clerk types it at a prompt.
    let report = import_bytes(&bytes, Format::Xlsx, Some("chinh quyen"));
    assert_eq!(report.entries.len(), 2);
    let err = read_sheet(bytes.as_slice(), Format::Xlsx, Some("Đảng")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workbook has no sheet \"Đảng\"; its visible sheets are \"Cấp ủy\", \"Ghi chú\", \
         \"Chính quyền\""
    );
    let err = read_sheet("a,b\n".as_bytes(), Format::Csv, Some("x")).unwrap_err();
    assert!(matches!(err, ImportError::SheetOfText), "{err}");
}

#[test]
fn excel_error_values_are_bad_cells() {
    let mut rows = list_of(&[("Lê Văn Một", "040076000011"), ("", "040076000012")]);
    rows[2][1] = X::E("#REF!");
    rows[2][4] = X::E("#N/A");
    rows.push(person(3, "Lê Văn Ba", "", "Nam", "040076000013", "C.BT"));
    rows[3][2] = X::E("#VALUE!");
    let report = import_bytes(&one_sheet(rows), Format::Xlsx, None);
    assert_problems(
        &report,
        &[
            (3, "Họ và tên", "holds the Excel error #REF!"),
            (3, "Dân tộc", "holds the Excel error #N/A"),
            (4, "Ngày sinh", "holds the Excel error #VALUE!"),
        ],
    );
    assert_eq!(report.entries.len(), 1);
}

/// The official layout as offices keep it, with rows that must fail.
fn official_rows() -> Spec {
    let b = X::B;
    let row = |n: u32, name: &str, male: X, female: X, id: &str, position: &str| {
        vec![
            X::N(n.into()),
            s(name),
            male,
            female,
            s("Kinh"),
            s(id),
            s("Công chức xã"),
            s("Thạc sĩ Luật"),
            s("Cao cấp"),
            s(position),
            s("2025-2030"),
            X::N(30.0),
            X::N(85.7),
            X::B,
        ]
    };
    let rows: Vec<Vec<X>> = vec![
        // 1–5: title block (merged cells hold their text in the first cell).
        vec![b.clone(); 14],
        vec![b.clone(); 14],
        vec![],
        vec![b.clone(); 14],
        vec![b.clone(); 14],
        vec![],
        // 7–8: two-row header; 9: column numbers.
        vec![b.clone(); 14],
        vec![
            b.clone(),
            b.clone(),
            s("Nam"),
            s("Nữ"),
            b.clone(),
            b.clone(),
            b.clone(),
            s("Chuyên môn"),
            s("Lý luận chính trị"),
            b.clone(),
            b.clone(),
            s("Số phiếu đồng ý"),
            s("Tỷ lệ %"),
            b.clone(),
        ],
        (1..=14).map(|i| s(&format!("({i})"))).collect(),
        // 10: a group heading naming the position; rows under it leave the column empty.
        vec![b.clone(); 14],
        row(
            1,
            "Nguyễn Văn Hùng",
            s("12/04/1976"),
            X::B,
            "040076000001",
            "",
        ),
        row(
            2,
            "Trần Thị Thu Hà",
            X::B,
            X::D(1982, 9, 3),
            "040182000002",
            "",
        ),
        // 13: a heading that names no position in the catalogue.
        vec![s("II. Các chức danh khác")],
        row(
            3,
            "Lê Thị Hoà",
            X::B,
            s("8/3/90"),
            "040190000006",
            "C.PCT.UBND",
        ),
        // 15: a birth date under both; 16: under neither.
        row(
            4,
            "Vũ Đình Khang",
            s("01/12/1988"),
            s("01/12/1988"),
            "040088000007",
            "C.PCT.UBND",
        ),
        row(
            5,
            "Đặng Thị Thương",
            X::B,
            X::B,
            "040180000012",
            "C.PCT.UBND",
        ),
        vec![s("Tổng cộng: 5 người")],
        vec![],
        // 19–22: signature block.
        vec![b.clone(); 14],
        vec![],
        vec![b.clone(); 14],
        [vec![b.clone(); 8], vec![s("Nguyễn Văn Bí")]].concat(),
    ];
    Spec {
        name: "Danh sách",
        rows,
        merges: vec![
            (1, 0, 1, 4, "ĐẢNG BỘ PHƯỜNG QUANG TRUNG"),
            (1, 7, 1, 13, "ĐẢNG CỘNG SẢN VIỆT NAM"),
            (2, 0, 2, 4, "ĐẢNG ỦY PHƯỜNG"),
            (2, 7, 2, 13, "Quang Trung, ngày 15 tháng 4 năm 2025"),
            (4, 0, 4, 13, "DANH SÁCH QUY HOẠCH CÁN BỘ NHIỆM KỲ 2025-2030"),
            (5, 0, 5, 13, "(Kèm theo Tờ trình số 45-TTr/ĐU)"),
            (7, 0, 8, 0, "STT"),
            (7, 1, 8, 1, "Họ và tên"),
            (7, 2, 7, 3, "Ngày, tháng, năm sinh"),
            (7, 4, 8, 4, "Dân tộc"),
            (7, 5, 8, 5, "Số CCCD"),
            (7, 6, 8, 6, "Chức vụ, đơn vị công tác hiện nay"),
            (7, 7, 7, 8, "Trình độ"),
            (7, 9, 8, 9, "Chức danh quy hoạch"),
            (7, 10, 8, 10, "Nhiệm kỳ"),
            (7, 11, 7, 12, "Kết quả phiếu giới thiệu"),
            (7, 13, 8, 13, "Ghi chú"),
            (10, 0, 10, 13, "I. Quy hoạch chức danh Bí thư Đảng ủy xã"),
            (
                19,
                0,
                19,
                4,
                "Nơi nhận:\n- Ban Tổ chức Thành ủy,\n- Lưu VP.",
            ),
            (19, 8, 19, 13, "T/M BAN THƯỜNG VỤ\nBÍ THƯ"),
            (21, 8, 21, 13, "(ký, đóng dấu)"),
        ],
        ..Spec::default()
    }
}

#[test]
fn the_official_layout_is_read() {
    let report = import_bytes(&workbook(&[official_rows()]), Format::Xlsx, None);
    assert_problems(
        &report,
        &[
            (15, "Ngày, tháng, năm sinh", "under both Nam and Nữ"),
            (
                16,
                "Ngày, tháng, năm sinh",
                "no birth date under Nam or under Nữ",
            ),
        ],
    );
    let mut expected = got(11, "Nguyễn Văn Hùng", "12/04/1976", Male, "C.BT");
    expected.extend(got(12, "Trần Thị Thu Hà", "03/09/1982", Female, "C.BT"));
    expected.extend(got(14, "Lê Thị Hoà", "08/03/1990", Female, "C.PCT.UBND"));
    assert_eq!(entries(&report), expected);
    let hung = &report.entries[0];
    assert_eq!(hung.yes_votes, Some(30));
    assert_eq!(
        hung.entry.cadre.qualifications,
        ["Thạc sĩ Luật", "Cao cấp"],
        "both Trình độ sub-columns"
    );
    assert_eq!(hung.entry.cadre.current_positions, ["C.CC"]);
    assert_eq!(
        report.skipped_lines(),
        [
            "rows 1–5: title block above the header",
            "row 9: column numbers under the header",
            "row 10: group heading (position C.BT)",
            "row 13: group heading",
            "row 17: total line",
            "rows 19–22: signature block",
        ]
    );
}

#[test]
fn a_position_named_only_by_headings_is_enough() {
    let mut h = header();
    h.pop(); // no Chức danh quy hoạch column
    let mut a = person(1, "Lê Văn Một", "12/04/1976", "Nam", "040076000011", "");
    a.pop();
    let mut b = person(2, "Lê Văn Hai", "12/04/1977", "Nam", "040077000012", "");
    b.pop();
    let rows = vec![
        h,
        vec![s("A. Chức danh Chủ tịch UBND xã")],
        a,
        vec![s("B. Quy hoạch Phó Chủ tịch UBND xã")],
        b,
    ];
    let report = import_bytes(&one_sheet(rows), Format::Xlsx, None);
    assert_problems(&report, &[]);
    let positions: Vec<String> = entries(&report).into_iter().map(|e| e.4).collect();
    assert_eq!(positions, ["C.CT.UBND", "C.PCT.UBND"]);
}

const TEXT_ROWS: [&str; 3] = [
    "1|Lò Văn Pâng|25/01/1980|Nam|Thái|040080000028|C.UV.BTV|C.CT.HDND",
    "2|Nguyễn Thị Hoà|5/3/82|Nữ|Kinh|040182000029|C.CC|C.PCT.UBND",
    "3|Nguyễn Thị Hòa|5/3/82|Nữ|Kinh|040182000029|C.CC|C.CT.UBND",
];

/// A text list with a title line, the header and the rows, separated by `sep`.
fn text_list(sep: &str) -> String {
    let mut lines = vec![
        "DANH SÁCH QUY HOẠCH PHƯỜNG QUANG TRUNG".to_string(),
        header_titles().join(sep),
    ];
    lines.extend(TEXT_ROWS.iter().map(|r| r.replace('|', sep)));
    lines.join("\r\n") + "\r\n"
}

fn assert_text_list(report: &ImportReport) {
    assert_problems(report, &[]);
    let mut expected = got(3, "Lò Văn Pâng", "25/01/1980", Male, "C.CT.HDND");
    // One person, her name typed with the tone in two places: one person, two entries.
    expected.extend(got(4, "Nguyễn Thị Hoà", "05/03/1982", Female, "C.PCT.UBND"));
    expected.extend(got(5, "Nguyễn Thị Hòa", "05/03/1982", Female, "C.CT.UBND"));
    assert_eq!(entries(report), expected);
    assert_eq!(
        report.skipped_lines(),
        ["row 1: title block above the header"]
    );
}

#[test]
fn tab_semicolon_and_comma_separated_text() {
    for sep in ["\t", ";", ","] {
        let text = text_list(sep);
        let report = import_bytes(text.as_bytes(), Format::Csv, None);
        assert_text_list(&report);
        // With a byte-order mark.
        let bom = format!("\u{feff}{text}");
        assert_text_list(&import_bytes(bom.as_bytes(), Format::Csv, None));
    }
    // Excel's "Unicode Text": UTF-16, little-endian, with a byte-order mark, tab-separated.
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text_list("\t").encode_utf16().flat_map(u16::to_le_bytes));
    assert_text_list(&import_bytes(&utf16, Format::Csv, None));
    let mut utf16be = vec![0xFE, 0xFF];
    utf16be.extend(text_list("\t").encode_utf16().flat_map(u16::to_be_bytes));
    assert_text_list(&import_bytes(&utf16be, Format::Csv, None));
    // A legacy 8-bit encoding keeps its clear refusal.
    let mut latin = text_list("\t").into_bytes();
    latin.extend(b"4\tNguy\xEAn\n");
    let err = read_sheet(latin.as_slice(), Format::Csv, None).unwrap_err();
    assert!(matches!(err, ImportError::NotUtf8 { line: 6 }), "{err}");
}

#[test]
fn dates_in_the_1904_system_and_with_two_digit_years() {
    let mut rows = list_of(&[
        ("Lê Văn Một", "040076000011"),
        ("Lê Văn Hai", "040076000012"),
        ("Lê Văn Ba", "040076000013"),
    ]);
    // 1 January 1980 is serial 27,759 in the 1904 system (29,221 in the 1900 one).
    rows[1][2] = X::N(27759.0);
    rows[2][2] = X::D(1980, 1, 1);
    rows[3][2] = s("1/1/80");
    let plain = one_sheet(rows);
    let mac = in_1904(&plain);
    let report = import_bytes(&mac, Format::Xlsx, None);
    assert_problems(&report, &[]);
    let births: Vec<String> = entries(&report).into_iter().map(|e| e.2).collect();
    // The date cell was written as 1980-01-01 in 1900 serials; read in 1904 it moves on
    // 1,462 days, as Excel shows it too. The serial number is read in the workbook's system.
    assert_eq!(births, ["01/01/1980", "02/01/1984", "01/01/1980"]);
    let report = import_bytes(&plain, Format::Xlsx, None);
    let births: Vec<String> = entries(&report).into_iter().map(|e| e.2).collect();
    assert_eq!(births, ["31/12/1975", "01/01/1980", "01/01/1980"]);
}

#[test]
fn names_as_people_type_them() {
    let zw = "Phạm Văn\u{200B} Hải";
    let bom = "Ngô\u{FEFF} Quốc Tuấn";
    let nfd: String = "Nguyễn Thị Thuý".nfd().collect();
    let rows = vec![
        header(),
        person(1, zw, "12/04/1976", "Nam", "040076000001", "C.BT"),
        person(2, bom, "12/04/1977", "Nam", "040077000002", "C.BT"),
        person(3, &nfd, "12/04/1978", "Nữ", "040178000003", "C.BT"),
        person(
            4,
            "NGUYỄN THỊ THÚY",
            "12/04/1978",
            "Nữ",
            "040178000003",
            "C.CT.UBND",
        ),
        // Another tone is another name: one ID cannot carry both.
        person(
            5,
            "Nguyễn Thị Thủy",
            "12/04/1978",
            "Nữ",
            "040178000003",
            "C.PCT.UBND",
        ),
        person(
            6,
            "Lê Văn \u{202E}mát",
            "12/04/1979",
            "Nam",
            "040079000004",
            "C.BT",
        ),
    ];
    let report = import_bytes(&one_sheet(rows), Format::Xlsx, None);
    assert_problems(
        &report,
        &[
            (
                6,
                "Số CCCD",
                "số CCCD 040178000003 is in row 4 with another name (\"Nguyễn Thị Thuý\" \
                 there, \"Nguyễn Thị Thủy\" here",
            ),
            (7, "Họ và tên", "bidirectional override U+202E"),
        ],
    );
    let names: Vec<String> = entries(&report).into_iter().map(|e| e.1).collect();
    assert_eq!(
        names,
        [
            "Phạm Văn Hải",
            "Ngô Quốc Tuấn",
            "Nguyễn Thị Thuý",
            "NGUYỄN THỊ THÚY"
        ]
    );
}

#[test]
fn the_official_export_imports_back() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let entries = super::tests::sample_entries();
    // Marked, as a deployment with a classification writes it: the import still reads it.
    let mark = super::Classification::parse("MẬT").unwrap();
    let bytes =
        official_xlsx_bytes(entries.iter().map(|(e, y)| (e, *y)), &ctx, Some(&mark)).unwrap();
    let read = read_rows(bytes.as_slice(), Format::Xlsx).unwrap();
    let report = import(&read, &ctx);
    assert_problems(&report, &[]);
    let mut back: Vec<_> = report
        .entries
        .iter()
        .map(|e| (e.entry.clone(), e.yes_votes))
        .collect();
    let mut expected = entries.clone();
    let order = |v: &mut Vec<(crate::domain::Entry, Option<u32>)>| {
        v.sort_by(|a, b| {
            (&a.0.position, &a.0.cadre.national_id).cmp(&(&b.0.position, &b.0.cadre.national_id))
        });
    };
    order(&mut back);
    order(&mut expected);
    assert_eq!(back, expected);
    let lines = report.skipped_lines();
    assert_eq!(
        lines[0], "rows 1–4: title block above the header",
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("column numbers")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("group heading (position C.BT)")),
        "{lines:?}"
    );
    assert!(
        lines.last().unwrap().contains("signature block"),
        "{lines:?}"
    );
}

#[test]
fn a_blank_template_imports_to_nothing_and_validates_typing() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let bytes = template_xlsx_bytes(&ctx).unwrap();
    let read = read_rows(bytes.as_slice(), Format::Xlsx).unwrap();
    let report = import(&read, &ctx);
    assert_problems(&report, &[]);
    assert!(report.entries.is_empty());
    // The positions list sits on a hidden sheet, which the import never reads.
    assert_eq!(read.name, "Danh sách");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    archive
        .by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    let validations = xml.matches("<dataValidation ").count();
    assert!(validations >= 5, "{xml}");
    assert!(xml.contains("type=\"list\""), "a drop-down of positions");
    assert!(xml.contains("Danh mục"), "the list's source sheet");
    assert!(xml.contains("LEN("), "the 12-digit ID");
    let mut positions = String::new();
    archive
        .by_name("xl/worksheets/sheet2.xml")
        .unwrap()
        .read_to_string(&mut positions)
        .unwrap();
    let mut strings = String::new();
    archive
        .by_name("xl/sharedStrings.xml")
        .unwrap()
        .read_to_string(&mut strings)
        .unwrap();
    assert!(strings.contains("Bí thư Đảng ủy xã"), "{strings}");
    assert!(
        !strings.contains("Bí thư Huyện ủy"),
        "only the unit's level"
    );
}

#[test]
fn a_two_row_header_in_text_reads_like_merged_cells() {
    // In text a merged cell shows its text in its first column only; the sub-columns follow.
    let text = "DANH SÁCH QUY HOẠCH;;;;;;;\n\
                STT;Họ và tên;Ngày, tháng, năm sinh;;Dân tộc;Số CCCD;Chức vụ hiện tại;Chức danh quy hoạch\n\
                ;;Nam;Nữ;;;;\n\
                (1);(2);(3);(4);(5);(6);(7);(8)\n\
                1;Lê Văn Tám;12/04/1976;;Kinh;040076000001;C.CC;C.BT\n\
                2;Đỗ Thị Mai;;3/9/82;Kinh;040182000002;C.CC;C.BT\n\
                3;Vũ Văn Sáu;;;Kinh;040076000003;C.CC;C.BT\n";
    let report = import_bytes(text.as_bytes(), Format::Csv, None);
    assert_problems(
        &report,
        &[(
            7,
            "Ngày, tháng, năm sinh",
            "no birth date under Nam or under Nữ",
        )],
    );
    let mut expected = got(5, "Lê Văn Tám", "12/04/1976", Male, "C.BT");
    expected.extend(got(6, "Đỗ Thị Mai", "03/09/1982", Female, "C.BT"));
    assert_eq!(entries(&report), expected);
    assert_eq!(
        report.skipped_lines(),
        [
            "row 1: title block above the header",
            "row 4: column numbers under the header"
        ]
    );
}

/// The reference data, loaded once for the property tests.
static REFERENCE: std::sync::LazyLock<(Catalog, Hierarchy)> = std::sync::LazyLock::new(reference);

/// Words a list is made of, for the property tests below.
const VOCABULARY: &[&str] = &[
    "STT",
    "Họ và tên",
    "Ngày, tháng, năm sinh",
    "Ngày sinh",
    "Nam",
    "Nữ",
    "Giới tính",
    "Dân tộc",
    "Số CCCD",
    "Chức vụ hiện tại",
    "Chức danh quy hoạch",
    "Trình độ",
    "Chuyên môn",
    "Nhiệm kỳ",
    "Số phiếu đồng ý",
    "(1)",
    "(2)",
    "(3)",
    "I. Quy hoạch chức danh Bí thư Đảng ủy xã",
    "II.",
    "Nơi nhận:",
    "T/M BAN THƯỜNG VỤ",
    "Tổng cộng",
    "Nguyễn Thị Hoà",
    "Lê\u{200B} Văn",
    "\u{202E}x",
    "12/04/1976",
    "7/5/80",
    "31/02/1990",
    "040076000001",
    "C.BT",
    "C.CC",
    "2025-2030",
    "Kinh",
    "",
    "  ",
    "#REF!",
];

fn cell_strategy() -> impl proptest::strategy::Strategy<Value = Cell> {
    use proptest::prelude::*;
    prop_oneof![
        4 => proptest::sample::select(VOCABULARY).prop_map(|s| Cell::Text(s.to_string())),
        1 => Just(Cell::Empty),
        1 => (-5.0f64..3_000_000.0).prop_map(Cell::Number),
        1 => Just(Cell::Error("#N/A".into())),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// No arrangement of cells makes the import panic, and every problem names a row of the
    /// sheet.
    #[test]
    fn no_grid_of_cells_makes_the_import_panic(
        grid in proptest::collection::vec(proptest::collection::vec(cell_strategy(), 0..10), 0..14),
        date_1904 in proptest::prelude::any::<bool>(),
    ) {
        let (catalog, hierarchy) = &*REFERENCE;
        let sheet = Sheet {
            name: String::new(),
            rows: grid
                .into_iter()
                .enumerate()
                .map(|(i, cells)| Row { number: i + 1, cells })
                .filter(|r| !r.is_empty())
                .collect(),
            skipped: Vec::new(),
            date_1904,
            // Regions of every shape, the reversed and the sheet-sized among them.
            merged: vec![
                crate::tabular::sheet::Merged { first_row: 2, last_row: 9, first_col: 1, last_col: 3 },
                crate::tabular::sheet::Merged { first_row: 5, last_row: 1, first_col: 4, last_col: 0 },
                crate::tabular::sheet::Merged { first_row: 1, last_row: 1_048_576, first_col: 0, last_col: 16_383 },
            ],
        };
        let report = import(&sheet, &context(catalog, hierarchy));
        let last = sheet.rows.last().map_or(1, |r| r.number);
        for p in &report.problems {
            proptest::prop_assert!(p.row >= 1 && p.row <= last.max(1), "{p}");
        }
        let _ = report.skipped_lines();
    }

    /// No text file, however broken, makes reading it panic.
    #[test]
    fn no_text_makes_reading_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = read_sheet(bytes.as_slice(), Format::Csv, None);
        let _ = read_sheet(bytes.as_slice(), Format::Xlsx, None);
    }
}
