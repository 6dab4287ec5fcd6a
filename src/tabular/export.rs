//! Export to `.xlsx` (rust_xlsxwriter: a bold header row, frozen panes, an autofilter and
//! column widths fitted to the content) and to `.csv` (UTF-8 with a byte-order mark, so that
//! Excel opens Vietnamese text correctly). With a classification ([`Classification`]) a sheet
//! opens with a row holding the mark at its top right, above the header, and a CSV file with a
//! line holding the mark alone; the import finds the header below either. A unit's plan is written in exactly the layout that
//! [`super::import()`] reads, so an export imports back to the same entries.

use std::{collections::HashSet, io::Write, path::Path};

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use crate::domain::{text::compare_names, Entry, EntrySource, Plan};

use super::{
    columns::Column, import::ImportContext, mark::Classification, resolve::Resolver, ExportError,
};

/// The byte-order mark that opens every CSV export.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Widest a column is made, in characters; longer text still fits in the cell.
pub const MAX_COLUMN_WIDTH: usize = 60;

/// One cell of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportCell {
    /// Nothing.
    Empty,
    /// Text, written as text even when it looks like a number (a số CCCD keeps its zeros).
    Text(String),
    /// A number.
    Number(f64),
    /// A date, shown as dd/mm/yyyy.
    Date(NaiveDate),
}

impl ExportCell {
    /// The cell as text, as the CSV export writes it.
    pub fn text(&self) -> String {
        match self {
            ExportCell::Empty => String::new(),
            ExportCell::Text(s) => s.clone(),
            ExportCell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                format!("{}", *n as i64)
            }
            ExportCell::Number(n) => n.to_string(),
            ExportCell::Date(d) => d.format("%d/%m/%Y").to_string(),
        }
    }

    /// Its width in characters, for fitting the column.
    fn width(&self) -> usize {
        match self {
            ExportCell::Date(_) => 10,
            other => other.text().chars().count(),
        }
    }
}

impl From<String> for ExportCell {
    fn from(s: String) -> Self {
        if s.is_empty() {
            Self::Empty
        } else {
            Self::Text(s)
        }
    }
}

impl From<&str> for ExportCell {
    fn from(s: &str) -> Self {
        s.to_string().into()
    }
}

/// One worksheet of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSheet {
    /// The sheet's tab name; made Excel-safe when written (see [`sheet_name`]).
    pub name: String,
    /// The header row.
    pub headers: Vec<String>,
    /// The rows under it; a row may be shorter than the header.
    pub rows: Vec<Vec<ExportCell>>,
}

impl ExportSheet {
    /// The rows as text, for [`export_csv`].
    pub fn text_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| row.iter().map(ExportCell::text).collect())
            .collect()
    }
}

/// A sheet of plain text: a consolidated list, a filtered view, check findings.
pub fn table_sheet(name: &str, headers: Vec<String>, rows: Vec<Vec<String>>) -> ExportSheet {
    ExportSheet {
        name: name.to_string(),
        headers,
        rows: rows
            .into_iter()
            .map(|row| row.into_iter().map(ExportCell::from).collect())
            .collect(),
    }
}

/// A sheet of one unit's plan in the import layout: one row per entry, in the order given,
/// with its yes votes where known. Positions and units are written as their titles and names
/// where those read back to the same code, else as codes. The list has no columns for a
/// cadre's disciplinary history or an open appointment proposal, so those do not round-trip.
pub fn plan_sheet<'e>(
    name: &str,
    entries: impl IntoIterator<Item = (&'e Entry, Option<u32>)>,
    ctx: &ImportContext<'_>,
) -> ExportSheet {
    let resolver = Resolver::new(ctx.catalog, ctx.hierarchy, ctx.unit);
    let plan_level = resolver.as_ref().map(|r| r.unit().level);
    let position = |code: &str, level| match (&resolver, level) {
        (Some(r), Some(level)) => r.position_label(code, level),
        _ => code.to_string(),
    };
    let entries: Vec<(&Entry, Option<u32>)> = entries.into_iter().collect();
    let drawn = entries.iter().any(|(e, _)| e.origin.is_some());
    let mut rows = Vec::new();
    for (i, (entry, yes)) in entries.into_iter().enumerate() {
        let c = &entry.cadre;
        let current_level = resolver
            .as_ref()
            .and_then(|r| r.level_of(&c.current_unit))
            .or(plan_level);
        let current: Vec<String> = c
            .current_positions
            .iter()
            .map(|p| position(p, current_level))
            .collect();
        let unit = match &resolver {
            Some(r) => r.unit_label(&c.current_unit),
            None => c.current_unit.to_string(),
        };
        let cell = |column| -> ExportCell {
            match column {
                Column::Number => ExportCell::Number((i + 1) as f64),
                Column::FullName => c.full_name.as_str().into(),
                Column::BirthDate => ExportCell::Date(c.birth_date),
                Column::Gender => c.gender.vi_title().into(),
                Column::Ethnicity => c.ethnicity.as_str().into(),
                Column::NationalId => c.national_id.as_str().into(),
                Column::CurrentPositions => current.join("; ").into(),
                Column::CurrentUnit => unit.as_str().into(),
                Column::Position => position(&entry.position, plan_level).into(),
                Column::Term => ctx.term.into(),
                Column::YesVotes => yes.map_or(ExportCell::Empty, |n| ExportCell::Number(n.into())),
                Column::Source => match entry.source {
                    EntrySource::Voted => "Bầu".into(),
                    EntrySource::AddedByAuthority => "Bổ sung".into(),
                },
                Column::Qualifications => c.qualifications.join("; ").into(),
                Column::Discipline => super::attributes::format_discipline(&c.discipline).into(),
                Column::RetirementRegime => match c.retirement_regime {
                    crate::domain::RetirementRegime::General => ExportCell::Empty,
                    r => r.vi().into(),
                },
                Column::ScienceTechnology => {
                    if c.science_technology {
                        "x".into()
                    } else {
                        ExportCell::Empty
                    }
                }
                Column::Ratings => super::attributes::format_ratings(&c.ratings).into(),
            }
        };
        let mut row: Vec<ExportCell> = Column::ALL.into_iter().map(cell).collect();
        if drawn {
            row.push(match &entry.origin {
                Some(o) => o.to_string().into(),
                None => ExportCell::Empty,
            });
        }
        rows.push(row);
    }
    let mut headers: Vec<String> = Column::ALL.iter().map(|c| c.title().to_string()).collect();
    if drawn {
        headers.push(DRAWN_FROM.to_string());
    }
    ExportSheet {
        name: name.to_string(),
        headers,
        rows,
    }
}

/// The header of the column an exported plan gains when some entry was drawn from an old
/// unit's approved list (issue 22): the source version and the entry's place in it,
/// `16681/2025-2030/v1 #2`. The import ignores it (the provenance is set by
/// `draft --from-sources` only).
pub const DRAWN_FROM: &str = "Lấy từ danh sách (sắp xếp đơn vị)";

/// A sheet of a whole plan in the order of the usual list: by planned position, most senior
/// first, then by name the Vietnamese way; yes votes from the plan's last round for each.
pub fn plan_sheet_for(name: &str, plan: &Plan, ctx: &ImportContext<'_>) -> ExportSheet {
    plan_sheet(name, in_list_order(plan, ctx), ctx)
}

/// A plan's entries in the order of the usual list (by planned position, most senior first,
/// then by name the Vietnamese way), each with its yes votes from the plan's last round: what
/// both layouts of an exported plan write.
pub fn in_list_order<'p>(
    plan: &'p Plan,
    ctx: &ImportContext<'_>,
) -> impl Iterator<Item = (&'p Entry, Option<u32>)> {
    let grade = |code: &str| ctx.catalog.position(code).map_or(0, |p| p.grade);
    let mut entries: Vec<&Entry> = plan.entries.iter().collect();
    entries.sort_by(|a, b| {
        grade(&b.position)
            .cmp(&grade(&a.position))
            .then_with(|| a.position.cmp(&b.position))
            .then_with(|| compare_names(&a.cadre.full_name, &b.cadre.full_name))
    });
    entries.into_iter().map(|e| {
        let yes = plan
            .votes_for(&e.cadre.national_id, &e.position)
            .map(|(_, yes)| yes);
        (e, yes)
    })
}

/// Makes `name` a valid, unused Excel sheet name: none of `[]:*?/\`, no apostrophe at either
/// end, at most 31 characters (UTF-16 units, as Excel counts), not "History", and unique
/// without regard to case among `used`, to which it is added.
pub fn sheet_name(name: &str, used: &mut HashSet<String>) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut base = cleaned.trim().trim_matches('\'').trim().to_string();
    if base.is_empty() || base.eq_ignore_ascii_case("history") {
        base = format!("Sheet{}", used.len() + 1);
    }
    let mut candidate = truncate_utf16(&base, 31);
    let mut n = 2;
    while used.contains(&candidate.to_lowercase()) {
        let suffix = format!(" ({n})");
        candidate = format!("{}{suffix}", truncate_utf16(&base, 31 - suffix.len()));
        n += 1;
    }
    used.insert(candidate.to_lowercase());
    candidate
}

fn truncate_utf16(s: &str, max: usize) -> String {
    let mut units = 0;
    let out: String = s
        .chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= max
        })
        .collect();
    out.trim_end().trim_end_matches('\'').to_string()
}

/// Builds the workbook for `sheets`, each marked with `mark` when given: the mark in the top
/// row's last column (over the last header), the header in the row below it.
fn workbook(
    sheets: &[ExportSheet],
    mark: Option<&Classification>,
) -> Result<Workbook, ExportError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let marked = Format::new()
        .set_bold()
        .set_align(rust_xlsxwriter::FormatAlign::Right);
    // The row of the header: below the mark's row when there is a mark.
    let top = u32::from(mark.is_some());
    let mut used = HashSet::new();
    for sheet in sheets {
        let ws = workbook.add_worksheet();
        ws.set_name(sheet_name(&sheet.name, &mut used))?;
        let mut widths: Vec<usize> = sheet.headers.iter().map(|h| h.chars().count()).collect();
        if let Some(mark) = mark {
            let last = sheet.headers.len().max(1) - 1;
            ws.write_string_with_format(0, col_num(last)?, mark.as_str(), &marked)?;
        }
        for (col, header) in sheet.headers.iter().enumerate() {
            ws.write_string_with_format(top, col_num(col)?, header, &bold)?;
        }
        for (r, row) in sheet.rows.iter().enumerate() {
            let r = u32::try_from(r + 1)
                .ok()
                .and_then(|r| r.checked_add(top))
                .ok_or(ExportError::TooLarge)?;
            for (col, cell) in row.iter().enumerate() {
                if widths.len() <= col {
                    widths.resize(col + 1, 0);
                }
                widths[col] = widths[col].max(cell.width());
                let col = col_num(col)?;
                match cell {
                    ExportCell::Empty => {}
                    ExportCell::Text(s) => {
                        ws.write_string(r, col, s)?;
                    }
                    ExportCell::Number(n) => {
                        ws.write_number(r, col, *n)?;
                    }
                    ExportCell::Date(d) => {
                        let dt = excel_date(*d)?;
                        ws.write_datetime_with_format(r, col, dt, &date)?;
                    }
                }
            }
        }
        ws.set_freeze_panes(top + 1, 0)?;
        if !sheet.headers.is_empty() {
            let last_row = u32::try_from(sheet.rows.len())
                .ok()
                .and_then(|r| r.checked_add(top))
                .ok_or(ExportError::TooLarge)?;
            ws.autofilter(top, 0, last_row, col_num(sheet.headers.len() - 1)?)?;
        }
        for (col, width) in widths.iter().enumerate() {
            // Two characters of padding, and room for the autofilter's arrow.
            let width = (width + 3).min(MAX_COLUMN_WIDTH);
            ws.set_column_width(col_num(col)?, width as f64)?;
        }
    }
    Ok(workbook)
}

fn col_num(col: usize) -> Result<u16, ExportError> {
    u16::try_from(col).map_err(|_| ExportError::TooLarge)
}

pub(super) fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, ExportError> {
    let year = u16::try_from(d.year()).map_err(|_| ExportError::Date(d))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8).map_err(|_| ExportError::Date(d))
}

/// Writes `sheets` to an `.xlsx` file at `path`, one worksheet each, in order, each marked with
/// `mark` when given; the file is readable by its owner only ([`create_private`]).
///
/// # Errors
///
/// [`ExportError::TooLarge`] if a sheet has more rows or columns than a worksheet holds,
/// [`ExportError::Xlsx`] if the workbook cannot be built, or [`ExportError::Io`] if the file
/// cannot be created or written.
pub fn export_xlsx(
    path: &Path,
    sheets: &[ExportSheet],
    mark: Option<&Classification>,
) -> Result<(), ExportError> {
    let bytes = workbook(sheets, mark)?.save_to_buffer()?;
    create_private(path)?.write_all(&bytes)?;
    Ok(())
}

/// Creates (or truncates) a file for personal data, readable and writable by its owner only
/// (0600), whatever mode an earlier file at `path` had; never through a symbolic link.
///
/// # Errors
///
/// The file system's error (`path` is a symbolic link: too many levels of links).
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// A cell as a spreadsheet will show it: text that begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be read as a formula by Excel or LibreOffice, so it gets a leading
/// apostrophe, which makes it plain text (OWASP's advice on CSV injection).
pub fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// The `.xlsx` file for `sheets`, in memory (for a download), each sheet marked with `mark`
/// when given.
///
/// # Errors
///
/// [`ExportError::TooLarge`] if a sheet has more rows or columns than a worksheet holds,
/// or [`ExportError::Xlsx`] if the workbook cannot be built or saved.
pub fn xlsx_bytes(
    sheets: &[ExportSheet],
    mark: Option<&Classification>,
) -> Result<Vec<u8>, ExportError> {
    Ok(workbook(sheets, mark)?.save_to_buffer()?)
}

/// Writes a table as CSV in UTF-8, opening with a byte-order mark and, when `mark` is given,
/// a first line holding the mark alone. Every cell is made [`inert`]; a cell holding a comma,
/// a semicolon (the separator of Excel under Vietnamese regional settings), a quote or a line
/// break is quoted.
///
/// # Errors
///
/// [`ExportError::Io`] or [`ExportError::Csv`] if writing to `writer` fails.
pub fn export_csv<W: Write>(
    mut writer: W,
    mark: Option<&Classification>,
    headers: &[String],
    rows: &[Vec<String>],
) -> Result<(), ExportError> {
    writer.write_all(BOM)?;
    if let Some(mark) = mark {
        writeln!(writer, "{mark}")?;
    }
    let builder = |style| {
        let mut b = csv::WriterBuilder::new();
        b.flexible(true).quote_style(style);
        b
    };
    // The csv crate quotes a cell holding a comma, a quote or a line break; Excel under
    // Vietnamese (and most European) regional settings splits on `;` too, so a row with a
    // `;` in any cell is written with every cell quoted (`Tèo;=cmd|…` stays one cell, text).
    let (necessary, always) = (
        builder(csv::QuoteStyle::Necessary),
        builder(csv::QuoteStyle::Always),
    );
    for record in std::iter::once(headers).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = record.iter().map(|c| inert(c).into_owned()).collect();
        let style = if cells.iter().any(|c| c.contains(';')) {
            &always
        } else {
            &necessary
        };
        let mut csv = style.from_writer(&mut writer);
        csv.write_record(&cells)?;
        csv.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_made_excel_safe_and_unique() {
        let mut used = HashSet::new();
        assert_eq!(
            sheet_name("Phường Quang Trung", &mut used),
            "Phường Quang Trung"
        );
        assert_eq!(
            sheet_name("phường quang trung", &mut used),
            "phường quang trung (2)"
        );
        assert_eq!(
            sheet_name("2025/2030: [dự thảo]?", &mut used),
            "2025_2030_ _dự thảo__"
        );
        assert_eq!(sheet_name("'ngoặc'", &mut used), "ngoặc");
        assert_eq!(sheet_name("History", &mut used), "Sheet5");
        let long = "Danh sách quy hoạch cán bộ Phường Quang Trung nhiệm kỳ 2025-2030";
        let a = sheet_name(long, &mut used);
        let b = sheet_name(long, &mut used);
        assert_eq!(a.chars().count(), 31);
        assert!(b.ends_with(" (2)") && b.chars().count() <= 31, "{b}");
        for name in [&a, &b] {
            rust_xlsxwriter::utility::check_sheet_name(name).unwrap();
        }
    }

    #[test]
    fn formula_cells_are_written_as_text() {
        let mut out = Vec::new();
        let rows = vec![vec![
            "=HYPERLINK(\"http://x\",\"bấm\")".to_string(),
            "+1".into(),
            "-2+3".into(),
            "@SUM(A1)".into(),
            "\tx".into(),
            "Nguyễn Thị Hoa".into(),
            "1990-06-15".into(),
        ]];
        export_csv(&mut out, None, &["a".into()], &rows).unwrap();
        let text = String::from_utf8(out[BOM.len()..].to_vec()).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("\"'=HYPERLINK("), "{line}");
        for cell in ["'+1", "'-2+3", "'@SUM(A1)", "Nguyễn Thị Hoa", "1990-06-15"] {
            assert!(line.contains(cell), "{line}");
        }
        assert!(!line.contains(",=") && !line.contains(",+1"), "{line}");
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn csv_export_opens_with_the_bom() {
        let mut out = Vec::new();
        let headers = vec!["Họ và tên".to_string(), "Ghi chú".to_string()];
        let rows = vec![vec![
            "Đặng Thị Ánh".to_string(),
            "có dấu phẩy, \"ngoặc\"".to_string(),
        ]];
        export_csv(&mut out, None, &headers, &rows).unwrap();
        assert!(out.starts_with(BOM));
        let text = std::str::from_utf8(&out[BOM.len()..]).unwrap();
        assert_eq!(
            text,
            "Họ và tên,Ghi chú\nĐặng Thị Ánh,\"có dấu phẩy, \"\"ngoặc\"\"\"\n"
        );
    }

    /// A cell that Excel would split on `;` is quoted, and its formula stays inert; a row
    /// without a separator is written as before.
    #[test]
    fn a_semicolon_or_a_comma_in_a_cell_is_quoted() {
        let mut out = Vec::new();
        let headers = vec!["Họ và tên".to_string(), "Ghi chú".to_string()];
        let rows = vec![
            vec!["Tèo;=cmd|' /C calc'!A0".to_string(), "x".to_string()],
            vec!["a,b".to_string(), "=1+1".to_string()],
        ];
        export_csv(&mut out, None, &headers, &rows).unwrap();
        let text = std::str::from_utf8(&out[BOM.len()..]).unwrap();
        assert_eq!(
            text,
            "Họ và tên,Ghi chú\n\"Tèo;=cmd|' /C calc'!A0\",\"x\"\n\"a,b\",'=1+1\n"
        );
    }

    #[test]
    fn a_marked_csv_opens_with_the_mark_alone_on_its_first_line() {
        let mark = Classification::parse("Mật").unwrap();
        let mut out = Vec::new();
        let headers = vec!["Họ và tên".to_string()];
        export_csv(&mut out, Some(&mark), &headers, &[vec!["An".to_string()]]).unwrap();
        let text = std::str::from_utf8(&out[BOM.len()..]).unwrap();
        assert_eq!(text, "MẬT\nHọ và tên\nAn\n");
    }

    #[test]
    fn cells_as_text() {
        assert_eq!(ExportCell::Number(27.0).text(), "27");
        assert_eq!(
            ExportCell::Date(NaiveDate::from_ymd_opt(1990, 3, 8).unwrap()).text(),
            "08/03/1990"
        );
        assert_eq!(ExportCell::from(""), ExportCell::Empty);
    }
}
