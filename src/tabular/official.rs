//! The official layout of a planning list, as offices send it up: a title block naming the
//! Party committee, the unit and the term; a two-row header in which "Ngày, tháng, năm sinh"
//! stands merged over "Nam" and "Nữ" (the birth date written under one gives the gender); a row
//! of column numbers `(1) … (17)`; the entries grouped under a heading per planned position,
//! most senior first; and the signature block. [`super::import()`] reads it back to the same
//! entries.
//!
//! The blank template ([`template_xlsx_bytes`]) is the same layout with numbered empty rows and
//! data validation, so that mistakes are stopped while typing: the planned position from a
//! drop-down of the unit's level (listed on a hidden sheet, which the import never reads), a
//! birth date that is a date of a working-age person under exactly one of Nam and Nữ, a số CCCD
//! of exactly 12 digits, the term, and the source.

use chrono::Datelike;
use rust_xlsxwriter::{
    DataValidation, DataValidationErrorStyle, Format, FormatAlign, FormatBorder, Formula, Workbook,
    Worksheet,
};

use crate::domain::{Entry, Plan};

use super::{
    columns::Column,
    export::{excel_date, in_list_order, plan_sheet, ExportCell},
    import::ImportContext,
    mark::Classification,
    resolve::Resolver,
    ExportError,
};

/// The columns of the official layout after the merged birth-date pair: the flat columns
/// after the gender, which that pair holds, in the same order and with the same titles
/// ([`Column::title`]).
const AFTER_BIRTH: &[Column] = Column::ALL.split_at(4).1;

/// How many columns the official layout has.
const WIDTH: u16 = 4 + AFTER_BIRTH.len() as u16;

/// Index (0-based) of a flat column in [`Column::ALL`], the order of [`plan_sheet`]'s rows.
fn flat(column: Column) -> usize {
    Column::ALL
        .iter()
        .position(|c| *c == column)
        .unwrap_or_default()
}

/// Index (0-based) of a column after the birth-date pair in the official layout.
fn official(column: Column) -> u16 {
    4 + AFTER_BIRTH
        .iter()
        .position(|c| *c == column)
        .unwrap_or_default() as u16
}

/// Roman numerals for the group headings (I, II, …).
fn roman(mut n: usize) -> String {
    let mut out = String::new();
    for (value, letters) in [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ] {
        while n >= value {
            out.push_str(letters);
            n -= value;
        }
    }
    out
}

/// The formats of the layout.
struct Formats {
    title: Format,
    centered: Format,
    header: Format,
    cell: Format,
    date: Format,
    text: Format,
    heading: Format,
}

impl Formats {
    fn new() -> Self {
        let border = |f: Format| f.set_border(FormatBorder::Thin);
        Self {
            title: Format::new()
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_text_wrap(),
            centered: Format::new().set_align(FormatAlign::Center).set_text_wrap(),
            header: border(
                Format::new()
                    .set_bold()
                    .set_align(FormatAlign::Center)
                    .set_align(FormatAlign::VerticalCenter)
                    .set_text_wrap(),
            ),
            cell: border(Format::new().set_text_wrap()),
            date: border(Format::new().set_num_format("dd/mm/yyyy")),
            text: border(Format::new().set_num_format("@")),
            heading: border(Format::new().set_bold()),
        }
    }
}

/// Writes the title block (with `mark`, when given, at the right of the empty row under the
/// national heading), the two-row header and the column numbers; returns the next row.
fn write_top(
    ws: &mut Worksheet,
    ctx: &ImportContext<'_>,
    f: &Formats,
    mark: Option<&Classification>,
) -> Result<u32, ExportError> {
    let unit = ctx
        .hierarchy
        .get(ctx.unit)
        .map_or_else(|| ctx.unit.to_string(), |u| u.name.clone());
    let last = WIDTH - 1;
    ws.merge_range(
        0,
        0,
        0,
        4,
        &format!("ĐẢNG BỘ {}", unit.to_uppercase()),
        &f.title,
    )?;
    ws.merge_range(0, 6, 0, last, "ĐẢNG CỘNG SẢN VIỆT NAM", &f.title)?;
    if let Some(mark) = mark {
        let right = Format::new().set_bold().set_align(FormatAlign::Right);
        ws.write_string_with_format(1, last, mark.as_str(), &right)?;
    }
    ws.merge_range(
        2,
        0,
        2,
        last,
        &format!("DANH SÁCH QUY HOẠCH CÁN BỘ {}", unit.to_uppercase()),
        &f.title,
    )?;
    ws.merge_range(
        3,
        0,
        3,
        last,
        &format!("Nhiệm kỳ {}", ctx.term),
        &f.centered,
    )?;
    // The header: rows 6 and 7 (0-based 5 and 6).
    let (top, sub) = (5, 6);
    ws.merge_range(top, 0, sub, 0, "STT", &f.header)?;
    ws.merge_range(top, 1, sub, 1, "Họ và tên", &f.header)?;
    ws.merge_range(top, 2, top, 3, "Ngày, tháng, năm sinh", &f.header)?;
    ws.write_string_with_format(sub, 2, "Nam", &f.header)?;
    ws.write_string_with_format(sub, 3, "Nữ", &f.header)?;
    for (i, column) in AFTER_BIRTH.iter().enumerate() {
        let col = 4 + i as u16;
        ws.merge_range(top, col, sub, col, column.title(), &f.header)?;
    }
    for col in 0..WIDTH {
        ws.write_string_with_format(sub + 1, col, format!("({})", col + 1), &f.centered)?;
    }
    for (col, width) in [
        (0, 5.0),
        (1, 24.0),
        (2, 11.0),
        (3, 11.0),
        (4, 8.0),
        (5, 14.0),
        (6, 30.0),
        (7, 20.0),
        (8, 26.0),
        (9, 11.0),
        (10, 9.0),
        (11, 9.0),
        (12, 30.0),
    ] {
        ws.set_column_width(col, width)?;
    }
    ws.set_row_height(top, 30)?;
    Ok(sub + 2)
}

/// Writes the signature block from `row` on.
fn write_signature(ws: &mut Worksheet, row: u32, f: &Formats) -> Result<(), ExportError> {
    let last = WIDTH - 1;
    ws.merge_range(
        row,
        0,
        row + 2,
        4,
        "Nơi nhận:\n- Ban Tổ chức cấp trên,\n- Lưu VP.",
        &Format::new().set_text_wrap(),
    )?;
    ws.merge_range(row, 8, row, last, "T/M BAN THƯỜNG VỤ", &f.title)?;
    ws.merge_range(row + 1, 8, row + 1, last, "(ký, đóng dấu)", &f.centered)?;
    Ok(())
}

fn row_num(n: usize) -> Result<u32, ExportError> {
    u32::try_from(n).map_err(|_| ExportError::TooLarge)
}

/// Writes one flat row (in [`Column::ALL`] order) in the official layout.
fn write_entry(
    ws: &mut Worksheet,
    row: u32,
    number: usize,
    cells: &[ExportCell],
    f: &Formats,
) -> Result<(), ExportError> {
    let cell = |c: Column| cells.get(flat(c)).cloned().unwrap_or(ExportCell::Empty);
    ws.write_number_with_format(row, 0, number as f64, &f.cell)?;
    ws.write_string_with_format(row, 1, cell(Column::FullName).text(), &f.cell)?;
    let female = cell(Column::Gender).text() == "Nữ";
    let (born, blank) = if female { (3, 2) } else { (2, 3) };
    match cell(Column::BirthDate) {
        ExportCell::Date(d) => {
            ws.write_datetime_with_format(row, born, excel_date(d)?, &f.date)?;
        }
        other => {
            ws.write_string_with_format(row, born, other.text(), &f.date)?;
        }
    }
    ws.write_blank(row, blank, &f.date)?;
    for &column in AFTER_BIRTH {
        let col = official(column);
        match cell(column) {
            ExportCell::Number(n) => {
                ws.write_number_with_format(row, col, n, &f.cell)?;
            }
            ExportCell::Empty => {
                ws.write_blank(row, col, &f.cell)?;
            }
            other if column == Column::NationalId => {
                ws.write_string_with_format(row, col, other.text(), &f.text)?;
            }
            other => {
                ws.write_string_with_format(row, col, other.text(), &f.cell)?;
            }
        }
    }
    Ok(())
}

/// The `.xlsx` file of `entries` in the official layout, grouped by planned position in the
/// order the entries come (give them sorted, as [`official_plan_bytes`] does), marked with
/// `mark` when given (top right, under the national heading).
///
/// # Errors
///
/// [`ExportError`] when a date cannot be written or the workbook cannot be built.
pub fn official_xlsx_bytes<'e>(
    entries: impl IntoIterator<Item = (&'e Entry, Option<u32>)>,
    ctx: &ImportContext<'_>,
    mark: Option<&Classification>,
) -> Result<Vec<u8>, ExportError> {
    let entries: Vec<(&Entry, Option<u32>)> = entries.into_iter().collect();
    let flat_rows = plan_sheet("x", entries.iter().copied(), ctx).rows;
    let resolver = Resolver::new(ctx.catalog, ctx.hierarchy, ctx.unit);
    let f = Formats::new();
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("Danh sách")?;
    let mut row = write_top(ws, ctx, &f, mark)?;
    // Groups in order of first appearance.
    let mut groups: Vec<&str> = Vec::new();
    for (e, _) in &entries {
        if !groups.contains(&e.position.as_str()) {
            groups.push(&e.position);
        }
    }
    let mut number = 0;
    for (g, code) in groups.iter().enumerate() {
        let title = match (&resolver, ctx.catalog.position(code)) {
            (Some(r), Some(p)) => r.position_label(code, p.level),
            _ => code.to_string(),
        };
        ws.merge_range(
            row,
            0,
            row,
            WIDTH - 1,
            &format!("{}. Quy hoạch chức danh {title}", roman(g + 1)),
            &f.heading,
        )?;
        row += 1;
        for (i, (e, _)) in entries.iter().enumerate() {
            if e.position != *code {
                continue;
            }
            number += 1;
            write_entry(ws, row, number, &flat_rows[i], &f)?;
            row += 1;
        }
    }
    write_signature(ws, row + 1, &f)?;
    Ok(workbook.save_to_buffer()?)
}

/// A whole plan in the official layout: by planned position, most senior first, then by name
/// the Vietnamese way, with the yes votes of the plan's last round; marked with `mark` when
/// given.
///
/// # Errors
///
/// As [`official_xlsx_bytes`].
pub fn official_plan_bytes(
    plan: &Plan,
    ctx: &ImportContext<'_>,
    mark: Option<&Classification>,
) -> Result<Vec<u8>, ExportError> {
    official_xlsx_bytes(in_list_order(plan, ctx), ctx, mark)
}

/// How many numbered empty rows the blank template offers.
pub const TEMPLATE_ROWS: u32 = 100;

/// The blank template for `ctx.unit` and `ctx.term`: the official layout with
/// [`TEMPLATE_ROWS`] numbered empty rows and data validation on every typed column.
///
/// # Errors
///
/// [`ExportError`] when the workbook cannot be built.
pub fn template_xlsx_bytes(ctx: &ImportContext<'_>) -> Result<Vec<u8>, ExportError> {
    let level = ctx.hierarchy.get(ctx.unit).map(|u| u.level);
    let mut positions: Vec<&crate::domain::Position> = ctx
        .catalog
        .positions
        .values()
        .filter(|p| Some(p.level) == level)
        .collect();
    positions.sort_by(|a, b| b.grade.cmp(&a.grade).then_with(|| a.code.cmp(&b.code)));
    let resolver = Resolver::new(ctx.catalog, ctx.hierarchy, ctx.unit);
    let labels: Vec<String> = positions
        .iter()
        .map(|p| match &resolver {
            Some(r) => r.position_label(&p.code, p.level),
            None => p.code.clone(),
        })
        .collect();

    let f = Formats::new();
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("Danh sách")?;
    let first = write_top(ws, ctx, &f, None)?;
    let last = first + TEMPLATE_ROWS - 1;
    for i in 0..TEMPLATE_ROWS {
        ws.write_number_with_format(first + i, 0, f64::from(i + 1), &f.cell)?;
        for col in 1..WIDTH {
            let format = match col {
                2 | 3 => &f.date,
                c if c == official(Column::NationalId) => &f.text,
                _ => &f.cell,
            };
            ws.write_blank(first + i, col, format)?;
        }
    }
    let r = first + 1; // the formulas' row, 1-based
                       // Stops a wrong value in column `col` of every template row, saying `title` and `message`.
    let mut stop = |col: u16, v: DataValidation, title: &str, message: &str| {
        let v = v
            .set_error_style(DataValidationErrorStyle::Stop)
            .set_error_title(title)?
            .set_error_message(message)?;
        ws.add_data_validation(first, col, last, col, &v)?;
        Ok::<(), ExportError>(())
    };
    // Birth date under exactly one of Nam and Nữ, of a person aged 18 to 100.
    let today = ctx.today;
    let (y, m, d) = (today.year(), today.month(), today.day());
    for (col, letter) in [(2u16, "C"), (3u16, "D")] {
        let rule = format!(
            "=AND(ISNUMBER({letter}{r}),{letter}{r}>=DATE({},{m},{d}),{letter}{r}<=DATE({},{m},{d}),COUNTA($C{r}:$D{r})=1)",
            y - 100,
            y - 18
        );
        stop(
            col,
            DataValidation::new().allow_custom(Formula::new(rule)),
            "Ngày sinh",
            "Ghi ngày sinh (dd/mm/yyyy) dưới cột Nam hoặc cột Nữ, chỉ một cột; tuổi từ 18 đến 100.",
        )?;
    }
    let id = format!("F{r}");
    stop(
        official(Column::NationalId),
        DataValidation::new().allow_custom(Formula::new(format!(
            "=AND(LEN({id})=12,ISNUMBER(--{id}),ISERROR(FIND(\".\",{id})),ISERROR(FIND(\"-\",{id})))"
        ))),
        "Số CCCD",
        "Số CCCD gồm đúng 12 chữ số.",
    )?;
    // The positions of the unit's level, listed on a hidden sheet.
    let count = labels.len().max(1);
    stop(
        official(Column::Position),
        DataValidation::new()
            .allow_list_formula(Formula::new(format!("='Danh mục'!$A$1:$A${count}"))),
        "Chức danh quy hoạch",
        "Chọn chức danh trong danh sách.",
    )?;
    stop(
        official(Column::Term),
        DataValidation::new().allow_list_strings(&[ctx.term])?,
        "Nhiệm kỳ",
        "Danh sách này cho một nhiệm kỳ.",
    )?;
    stop(
        official(Column::Source),
        DataValidation::new().allow_list_strings(&["Bầu", "Bổ sung"])?,
        "Nguồn",
        "Bầu, hoặc Bổ sung (cấp trên bổ sung).",
    )?;
    stop(
        official(Column::YesVotes),
        DataValidation::new()
            .allow_whole_number(rust_xlsxwriter::DataValidationRule::Between(0, 100_000)),
        "Số phiếu đồng ý",
        "Một số nguyên không âm.",
    )?;
    write_signature(ws, last + 2, &f)?;

    let list = workbook.add_worksheet();
    list.set_name("Danh mục")?;
    for (i, label) in labels.iter().enumerate() {
        list.write_string(row_num(i)?, 0, label)?;
        list.write_string(row_num(i)?, 1, &positions[i].code)?;
    }
    list.set_hidden(true);
    Ok(workbook.save_to_buffer()?)
}
