//! Tests across reading, import and export, on real files made in a temporary folder, with the
//! shipped catalogue and the 2024 units (commune 16681, Phường Quang Trung, under 412, Thành
//! phố Vinh, under 40, Tỉnh Nghệ An).

use std::path::Path;

use chrono::NaiveDate;
use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook};
use unicode_normalization::UnicodeNormalization;

use super::{resolve::tests::reference, *};
use crate::domain::{Cadre, Catalog, Entry, EntrySource, Gender, Hierarchy, Plan, PlanId};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The import context of the tests: commune 16681's 2025–2030 list, read on 1 July 2025.
pub(super) fn context<'a>(catalog: &'a Catalog, hierarchy: &'a Hierarchy) -> ImportContext<'a> {
    ImportContext {
        catalog,
        hierarchy,
        unit: "16681",
        term: "2025-2030",
        today: date(2025, 7, 1),
    }
}

/// A cell of a test workbook.
enum W {
    S(&'static str),
    N(f64),
    D(u16, u8, u8),
}

fn write_xlsx(path: &Path, rows: &[Vec<W>]) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date_format = XlsxFormat::new().set_num_format("dd/mm/yyyy");
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                W::S("") => {}
                W::S(s) => {
                    ws.write_string(r, c, *s).unwrap();
                }
                W::N(n) => {
                    ws.write_number(r, c, *n).unwrap();
                }
                W::D(y, m, d) => {
                    let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                    ws.write_datetime_with_format(r, c, dt, &date_format)
                        .unwrap();
                }
            }
        }
    }
    wb.save(path).unwrap();
}

/// The titles of the full list's columns, in the order offices write them.
pub(super) const HEADERS: [&str; 12] = [
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
    "Nguồn",
];

#[allow(clippy::too_many_arguments)]
fn row(
    n: f64,
    name: &'static str,
    born: W,
    gender: &'static str,
    id: W,
    current: &'static str,
    unit: &'static str,
    position: &'static str,
    term: &'static str,
    yes: W,
    source: &'static str,
) -> Vec<W> {
    vec![
        W::N(n),
        W::S(name),
        born,
        W::S(gender),
        W::S("Kinh"),
        id,
        W::S(current),
        W::S(unit),
        W::S(position),
        W::S(term),
        yes,
        W::S(source),
    ]
}

#[rustfmt::skip]
fn mixed_list(path: &Path) {
    use W::{D, N, S};
    let t = "2025-2030";
    let rows = vec![
        HEADERS.iter().map(|h| S(h)).collect(),
        // 2: good, all codes, the date as text.
        row(1.0, "Nguyễn Văn Hùng", S("12/04/1976"), "Nam", S("040076000001"), "C.PBT.TT", "16681", "C.BT", t, N(27.0), "Bầu"),
        // 3: good, titles and names, a date cell, a name in NFD.
        row(2.0, "Trần Thị Thu Hà", D(1982, 9, 3), "Nữ", S("040182000002"), "Chủ tịch UBND xã", "Phường Quang Trung", "Bí thư Đảng ủy xã", "", N(25.0), ""),
        // 4: not a calendar day.
        row(3.0, "Lê Minh Đức", S("30/02/1980"), "Nam", S("040080000003"), "C.PCT.UBND", "16681", "C.CT.UBND", t, N(24.0), "Bầu"),
        // 5: an 11-digit national ID.
        row(4.0, "Phạm Thị Lan", S("30/11/1985"), "Nữ", S("04018500000"), "C.PCT.HDND", "16681", "C.CT.UBND", t, N(22.0), "Bầu"),
        // 6: a planned position not in the catalogue.
        row(5.0, "Hoàng Văn Bình", S("15/06/1979"), "Nam", S("040079000005"), "C.UV.BTV", "16681", "Trưởng thôn", t, N(23.0), "Bầu"),
        // 7: no name.
        row(6.0, "", S("08/03/1990"), "Nữ", S("040190000006"), "C.CC", "16681", "C.PCT.UBND", t, N(26.0), "Bầu"),
        // 8: an unknown gender.
        row(7.0, "Vũ Đình Khang", S("01/12/1988"), "Khác", S("040088000007"), "C.CC", "16681", "C.PCT.UBND", t, N(21.0), "Bầu"),
        // 9: blank but for its running number.
        vec![N(8.0)],
        // 10: good, an Excel serial date, a national ID stored as a number, two current
        // positions, added by the authority.
        row(9.0, "Đặng Thị Thương", N(29221.0), "Nữ", N(40180000012.0), "C.UV.BTV; Phó Chủ tịch UBND xã", "16681", "C.CT.HDND", t, S(""), "Bổ sung"),
        // 11: the same person and position as row 2.
        row(10.0, "Nguyễn Văn Hùng", S("12/04/1976"), "Nam", S("040076000001"), "C.PBT.TT", "16681", "C.BT", t, N(20.0), "Bầu"),
        // 12: another term; a district position for a commune plan.
        row(11.0, "Bùi Thị Hằng", S("19/07/1983"), "Nữ", S("040183000008"), "C.DUV", "16681", "D.BT", "2020-2025", N(20.0), "Bầu"),
        // 13: three problems at once, and an unknown work unit.
        row(12.0, "Ngô Quang Vinh", S("11/02/2015"), "?", S("12345"), "C.CC", "Xã Không Có", "C.BT", t, N(2.5), "Bầu"),
    ];
    write_xlsx(path, &rows);
}

#[test]
fn xlsx_with_good_and_bad_rows_reports_each_problem() {
    let (catalog, hierarchy) = reference();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("danh-sach.xlsx");
    mixed_list(&path);

    let sheet = read_rows(path.as_path(), Format::Xlsx).unwrap();
    let report = import(&sheet, &context(&catalog, &hierarchy));
    assert!(!report.is_clean());

    let got: Vec<(usize, &str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str(), p.reason.as_str()))
        .collect();
    let expected: &[(usize, &str, &str)] = &[
        (4, "Ngày sinh", "\"30/02/1980\" is not a real calendar date"),
        (5, "Số CCCD", "exactly 12 digits; got 11 characters"),
        (
            6,
            "Chức danh quy hoạch",
            "\"Trưởng thôn\" is neither a position code nor a position title",
        ),
        (7, "Họ và tên", "must not be empty"),
        (8, "Giới tính", "\"Khác\" is not a gender (Nam or Nữ)"),
        (
            11,
            "Số CCCD",
            "số CCCD 040076000001 is already listed for C.BT in row 2",
        ),
        (
            12,
            "Chức danh quy hoạch",
            "D.BT is a district position; unit 16681 is a commune",
        ),
        (
            12,
            "Nhiệm kỳ",
            "this list is for term 2025-2030; the row says \"2020-2025\"",
        ),
        (13, "Giới tính", "\"?\" is not a gender"),
        (
            13,
            "Đơn vị công tác",
            "\"Xã Không Có\" is neither a unit code nor the name of a unit",
        ),
        (
            13,
            "Số phiếu đồng ý",
            "\"2.5\" is not a whole number of votes",
        ),
        (13, "Số CCCD", "exactly 12 digits; got 5 characters"),
        (
            13,
            "Ngày sinh",
            "gives an age outside 18..100 on 2025-07-01",
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g.0, g.1), (e.0, e.1), "{g:?}");
        assert!(g.2.contains(e.2), "row {}: {:?} lacks {:?}", g.0, g.2, e.2);
    }

    let rows: Vec<usize> = report.entries.iter().map(|e| e.row).collect();
    assert_eq!(rows, [2, 3, 10]);
    let hung = &report.entries[0];
    assert_eq!(hung.yes_votes, Some(27));
    assert_eq!(hung.entry.cadre.birth_date, date(1976, 4, 12));
    assert_eq!(hung.entry.cadre.gender, Gender::Male);
    let ha = &report.entries[1].entry;
    assert_eq!(ha.position, "C.BT");
    assert_eq!(ha.cadre.current_positions, ["C.CT.UBND"]);
    assert_eq!(ha.cadre.current_unit, "16681");
    assert_eq!(ha.cadre.birth_date, date(1982, 9, 3));
    let thuong = &report.entries[2];
    assert_eq!(thuong.entry.cadre.birth_date, date(1980, 1, 1));
    assert_eq!(thuong.entry.cadre.national_id, "040180000012");
    assert_eq!(
        thuong.entry.cadre.current_positions,
        ["C.UV.BTV", "C.PCT.UBND"]
    );
    assert_eq!(thuong.entry.source, EntrySource::AddedByAuthority);
    assert_eq!(thuong.yes_votes, None);
}

#[test]
fn headers_without_diacritics_under_a_title_block() {
    use W::S;
    let (catalog, hierarchy) = reference();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("khong-dau.xlsx");
    let nfd: &'static str = Box::leak("Đỗ Thị Ánh".nfd().collect::<String>().into_boxed_str());
    write_xlsx(
        &path,
        &[
            vec![S("ĐẢNG BỘ PHƯỜNG QUANG TRUNG")],
            vec![],
            vec![S("DANH SÁCH QUY HOẠCH CẤP ỦY NHIỆM KỲ 2025-2030")],
            vec![
                S("TT"),
                S("Ho va ten"),
                S("NGAY THANG NAM SINH"),
                S("gioi tinh"),
                S("Dan toc"),
                S("So CCCD"),
                S("Chuc vu"),
                S("Chuc danh duoc quy hoach"),
                S("Ghi chú"),
            ],
            vec![
                S("1"),
                S(nfd),
                S("1990-03-08"),
                S("nu"),
                S("Thái"),
                S("040190000006"),
                S("Cong chuc xa"),
                S("pho chu tich ubnd xa"),
                S("không đọc"),
            ],
        ],
    );
    let sheet = read_rows(path.as_path(), Format::from_path(&path).unwrap()).unwrap();
    let report = import(&sheet, &context(&catalog, &hierarchy));
    assert!(report.is_clean(), "{:#?}", report.problems);
    let [imported] = report.entries.as_slice() else {
        panic!("{report:#?}")
    };
    assert_eq!(imported.row, 5);
    let c = &imported.entry.cadre;
    assert_eq!(c.full_name, "Đỗ Thị Ánh");
    assert_ne!(c.full_name, nfd);
    assert_eq!(c.current_positions, ["C.CC"]);
    assert_eq!(
        c.current_unit, "16681",
        "an absent work unit is the plan's unit"
    );
    assert_eq!(imported.entry.position, "C.PCT.UBND");
}

#[test]
fn csv_with_bom_imports() {
    let (catalog, hierarchy) = reference();
    let text = "\u{feff}STT,Họ và tên,Ngày sinh,Giới tính,Dân tộc,Số CCCD,Chức vụ hiện tại,\
                Đơn vị công tác,Chức danh quy hoạch,Nhiệm kỳ,Số phiếu đồng ý,Nguồn\n\
                1,Lò Văn Pâng,25/01/1980,Nam,Thái,040080000028,\"C.UV.BTV, C.DUV\",\
                Phường Quang Trung,C.CT.HDND,2025 - 2030,21,bầu\n\
                ,,,,,,,,,,,\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds.csv");
    std::fs::write(&path, text).unwrap();
    let sheet = read_rows(path.as_path(), Format::Csv).unwrap();
    let report = import(&sheet, &context(&catalog, &hierarchy));
    assert!(report.is_clean(), "{:#?}", report.problems);
    let [e] = report.entries.as_slice() else {
        panic!("{report:#?}")
    };
    assert_eq!(e.row, 2);
    assert_eq!(e.yes_votes, Some(21));
    assert_eq!(e.entry.cadre.ethnicity, "Thái");
    assert_eq!(e.entry.cadre.current_positions, ["C.UV.BTV", "C.DUV"]);
}

#[test]
fn the_2025_columns_are_read_and_their_mistakes_named() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let head = "Họ và tên,Ngày sinh,Giới tính,Dân tộc,Số CCCD,Chức vụ hiện tại,\
                Chức danh quy hoạch,Kỷ luật,Chế độ nghỉ hưu,Cán bộ KHCN,Xếp loại\n";
    let good = "Lò Thị Pâng,25/01/1980,Nữ,Thái,040080000028,C.DUV,C.CT.HDND,\
                \"khiển trách, 2023-05-02, công bố 2023-05-10\",nữ 60,x,2024: hoàn thành nhiệm vụ\n";
    let sheet = read_rows(format!("{head}{good}").as_bytes(), Format::Csv).unwrap();
    let report = import(&sheet, &ctx);
    assert!(report.is_clean(), "{:#?}", report.problems);
    let c = &report.entries[0].entry.cadre;
    assert_eq!(c.discipline[0].announced_on, Some(date(2023, 5, 10)));
    assert_eq!(
        c.retirement_regime,
        crate::domain::RetirementRegime::Female60
    );
    assert!(c.science_technology);
    assert_eq!(c.ratings[0].year, 2024);
    // A demotion dated from 1 July 2025 (Decree 172), female_60 on a man, a bad rating.
    let bad = "Lò Văn Pâng,25/01/1980,Nam,Thái,040080000029,C.DUV,C.CT.HDND,\
               \"giáng chức, 2025-07-01\",nữ 60,,2024: giỏi\n";
    let sheet = read_rows(format!("{head}{bad}").as_bytes(), Format::Csv).unwrap();
    let report = import(&sheet, &ctx);
    assert!(report.entries.is_empty());
    let got: Vec<(&str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.column.as_str(), p.reason.as_str()))
        .collect();
    assert!(
        got.iter()
            .any(|(c, r)| *c == "Kỷ luật" && r.contains("Decree 172")),
        "{got:#?}"
    );
    assert!(got.iter().any(|(c, _)| *c == "Chế độ nghỉ hưu"), "{got:#?}");
    assert!(
        got.iter()
            .any(|(c, r)| *c == "Xếp loại" && r.contains("giỏi")),
        "{got:#?}"
    );
}

#[test]
fn missing_columns_and_unknown_context_stop_the_import() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let sheet = read_rows(
        "Họ và tên,Số CCCD,Giới tính,Họ tên\nA,040080000028,Nam,B\n".as_bytes(),
        Format::Csv,
    )
    .unwrap();
    let report = import(&sheet, &ctx);
    assert!(report.entries.is_empty());
    let got: Vec<(usize, &str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "Họ tên", "a second Họ và tên column; keep only one"),
            (1, "Ngày sinh", "required column is missing"),
            (1, "Dân tộc", "required column is missing"),
            (1, "Chức vụ hiện tại", "required column is missing"),
            (1, "Chức danh quy hoạch", "required column is missing"),
        ]
    );

    let no_header = read_rows("a,b\n1,2\n".as_bytes(), Format::Csv).unwrap();
    let report = import(&no_header, &ctx);
    assert!(report.problems[0].reason.starts_with("no header row found"));

    let sheet = read_rows("STT\n".as_bytes(), Format::Csv).unwrap();
    let unknown_unit = ImportContext {
        unit: "99999999",
        ..ctx
    };
    let unknown_term = ImportContext {
        term: "1999-2004",
        ..ctx
    };
    for (unknown, reason) in [
        (unknown_unit, "not in the list of units"),
        (unknown_term, "not in the catalogue"),
    ] {
        let report = import(&sheet, &unknown);
        assert!(report.problems[0].reason.contains(reason), "{report:?}");
    }
}

fn cadre(id: &str, name: &str, born: NaiveDate, gender: Gender) -> Cadre {
    Cadre {
        birth_date: born,
        gender,
        current_positions: vec!["C.PCT.UBND".into()],
        current_unit: "16681".into(),
        ..crate::rules::testkit::cadre(id, name)
    }
}

/// A plan whose names need Vietnamese letters (Đ, ư, ơ, ă, â, ê, ô) and every kind of value
/// the list holds.
pub(super) fn sample_entries() -> Vec<(Entry, Option<u32>)> {
    let mut a = cadre(
        "040076000001",
        "Đặng Văn Được",
        date(1976, 4, 12),
        Gender::Male,
    );
    a.current_positions = vec!["C.PBT.TT".into(), "C.UV.BTV".into()];
    a.qualifications = vec![
        "Thạc sĩ Quản lý kinh tế".into(),
        "Cao cấp lý luận chính trị".into(),
    ];
    // The 2025 attributes travel through every export and back.
    let mut warning =
        crate::domain::Discipline::new(crate::domain::DisciplineKind::Warning, date(2024, 9, 1));
    warning.announced_on = Some(date(2024, 10, 15));
    warning.complaint_pending = true;
    a.discipline = vec![
        warning,
        crate::domain::Discipline::new(
            crate::domain::DisciplineKind::SalaryStepReduction,
            date(2023, 2, 1),
        ),
    ];
    a.ratings = vec![
        crate::domain::Rating {
            year: 2023,
            level: crate::domain::RatingLevel::Good,
        },
        crate::domain::Rating {
            year: 2024,
            level: crate::domain::RatingLevel::NotCompleted,
        },
    ];
    let mut b = cadre(
        "040182000002",
        "Trương Thị Ơn",
        date(1982, 9, 3),
        Gender::Female,
    );
    b.ethnicity = "Thái".into();
    b.retirement_regime = crate::domain::RetirementRegime::Female60;
    b.science_technology = true;
    b.current_unit = "412".into();
    b.current_positions = vec!["D.TP".into()];
    let c = cadre(
        "040190000006",
        "Lê Thị Hương Ấm",
        date(1990, 3, 8),
        Gender::Female,
    );
    let mut d = cadre(
        "040088000007",
        "Nguyễn Hữu Bằng",
        date(1988, 12, 1),
        Gender::Male,
    );
    d.current_positions = vec![];
    let entry = |cadre: Cadre, position: &str, source| Entry {
        cadre,
        position: position.into(),
        source,
        origin: None,
    };
    vec![
        (entry(a.clone(), "C.BT", EntrySource::Voted), Some(27)),
        (entry(a, "C.CT.HDND", EntrySource::Voted), Some(24)),
        (entry(b, "C.BT", EntrySource::AddedByAuthority), None),
        (entry(c, "C.PCT.UBND", EntrySource::Voted), Some(0)),
        (entry(d, "C.CT.MTTQ", EntrySource::Voted), Some(19)),
    ]
}

/// Reads `input` and asserts that it imports to exactly `entries`.
fn assert_reads_back<'a>(
    input: impl Into<super::read::Input<'a>>,
    format: Format,
    ctx: &ImportContext,
    entries: &[(Entry, Option<u32>)],
) {
    let read = read_rows(input, format).unwrap();
    assert_same(&import(&read, ctx), entries);
}

fn assert_same(report: &ImportReport, entries: &[(Entry, Option<u32>)]) {
    assert!(report.is_clean(), "{:#?}", report.problems);
    let got: Vec<(Entry, Option<u32>)> = report
        .entries
        .iter()
        .map(|e| (e.entry.clone(), e.yes_votes))
        .collect();
    assert_eq!(got, entries);
}

#[test]
fn xlsx_export_imports_back_to_the_same_entries() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let entries = sample_entries();
    let sheet = plan_sheet(
        "16681 · 2025-2030",
        entries.iter().map(|(e, y)| (e, *y)),
        &ctx,
    );
    // Titles and names where they read back, so that the clerk sees words, not codes.
    assert_eq!(
        sheet.rows[0][6],
        ExportCell::Text(
            "Phó Bí thư Thường trực Đảng ủy xã; Ủy viên Ban Thường vụ Đảng ủy xã".into()
        )
    );
    assert_eq!(sheet.rows[2][7], ExportCell::Text("Thành phố Vinh".into()));
    assert_eq!(sheet.rows[2][6], ExportCell::Text("Trưởng phòng".into()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ke-hoach.xlsx");
    let other = table_sheet("Phát hiện", vec!["Quy tắc".into()], vec![vec!["R1".into()]]);
    export_xlsx(&path, &[sheet, other], None).unwrap();

    assert_reads_back(path.as_path(), Format::Xlsx, &ctx, &entries);
    // A classification mark above the header does not stop the import finding it.
    let mark = super::Classification::parse("Mật").unwrap();
    let sheets = [plan_sheet("x", entries.iter().map(|(e, y)| (e, *y)), &ctx)];
    let bytes = xlsx_bytes(&sheets, Some(&mark)).unwrap();
    assert_reads_back(bytes.as_slice(), Format::Xlsx, &ctx, &entries);
}

#[test]
fn csv_export_imports_back_to_the_same_entries() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let entries = sample_entries();
    let sheet = plan_sheet("x", entries.iter().map(|(e, y)| (e, *y)), &ctx);
    let mark = super::Classification::parse("Tối mật").unwrap();
    for mark in [None, Some(&mark)] {
        let mut out = Vec::new();
        export_csv(&mut out, mark, &sheet.headers, &sheet.text_rows()).unwrap();
        assert!(out.starts_with(export::BOM));
        assert_reads_back(out.as_slice(), Format::Csv, &ctx, &entries);
    }
}

#[test]
fn an_entrys_provenance_is_exported_in_its_own_column_and_ignored_on_import() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let entries = sample_entries();
    let plain = plan_sheet("x", entries.iter().map(|(e, y)| (e, *y)), &ctx);
    assert!(!plain.headers.iter().any(|h| h == export::DRAWN_FROM));
    let mut drawn = entries.clone();
    drawn[1].0.origin = Some(Box::new(crate::domain::EntryOrigin {
        plan: PlanId {
            unit: "16663".into(),
            term: "2025-2030".into(),
            version: 2,
        },
        position: 4,
    }));
    let sheet = plan_sheet("x", drawn.iter().map(|(e, y)| (e, *y)), &ctx);
    assert_eq!(sheet.headers.last().unwrap(), export::DRAWN_FROM);
    let last = sheet.headers.len() - 1;
    assert_eq!(
        sheet.rows[1][last],
        ExportCell::Text("16663/2025-2030/v2 #4".into())
    );
    assert_eq!(sheet.rows[0][last], ExportCell::Empty);
    assert_eq!(
        super::columns::Column::from_header(export::DRAWN_FROM),
        None
    );
    let mut out = Vec::new();
    export_csv(&mut out, None, &sheet.headers, &sheet.text_rows()).unwrap();
    assert_reads_back(out.as_slice(), Format::Csv, &ctx, &entries);
}

#[test]
fn a_plan_exports_in_list_order_with_its_votes() {
    let (catalog, hierarchy) = reference();
    let ctx = context(&catalog, &hierarchy);
    let mut plan = Plan::new_draft(
        PlanId {
            unit: "16681".into(),
            term: "2025-2030".into(),
            version: 1,
        },
        None,
    );
    plan.entries = sample_entries().into_iter().map(|(e, _)| e).collect();
    plan.rounds.push(crate::domain::BallotRound {
        body: crate::domain::Body::ExecutiveCommittee,
        date: date(2025, 3, 1),
        convened: 30,
        present: 30,
        ballots_issued: 30,
        valid_ballots: 30,
        tallies: vec![crate::domain::Tally {
            national_id: "040182000002".into(),
            position: "C.BT".into(),
            yes: 22,
        }],
    });
    let sheet = plan_sheet_for("plan", &plan, &ctx);
    let order: Vec<String> = sheet
        .rows
        .iter()
        .map(|r| format!("{} {}", r[8].text(), r[1].text()))
        .collect();
    // Most senior position first (equal grades by code); within C.BT, "Được" sorts before
    // "Ơn" the Vietnamese way.
    assert_eq!(
        order,
        [
            "Bí thư Đảng ủy xã Đặng Văn Được",
            "Bí thư Đảng ủy xã Trương Thị Ơn",
            "Chủ tịch HĐND xã Đặng Văn Được",
            "Chủ tịch Ủy ban MTTQ xã Nguyễn Hữu Bằng",
            "Phó Chủ tịch UBND xã Lê Thị Hương Ấm",
        ]
    );
    assert_eq!(sheet.rows[1][10], ExportCell::Number(22.0));
    assert_eq!(sheet.rows[0][10], ExportCell::Empty);
    assert_eq!(sheet.rows[4][0], ExportCell::Number(5.0));
    assert_eq!(sheet.rows[3][1].text(), "Nguyễn Hữu Bằng");
}
