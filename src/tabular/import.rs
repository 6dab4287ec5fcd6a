//! Import of one unit's planning list (danh sách quy hoạch) from rows read by
//! [`super::read_sheet`]: every row is checked in full against the catalogue, the hierarchy and
//! [`Cadre::validate`], and every problem is reported with its spreadsheet row, the column as
//! the clerk wrote it, and a reason. Writing all rows or none is the caller's job
//! ([`ImportReport::is_clean`]).
//!
//! Rows that are not entries are skipped and listed with the reason ([`ImportReport::skipped`]):
//! hidden rows, the title block above the header, the row of column numbers `(1) (2) …` under
//! it, group heading rows ("I. Quy hoạch chức danh Bí thư Huyện ủy", whose position stands for
//! the rows under it that name none), total lines, and the signature block ("Nơi nhận",
//! "T/M BAN THƯỜNG VỤ" and everything after it).

use std::{collections::HashMap, fmt};

use chrono::{Months, NaiveDate};
use serde::Serialize;

use crate::domain::{text::fold, Cadre, Catalog, Entry, EntrySource, Gender, Hierarchy, Level};

pub use super::dates::{parse_date, parse_date_in};
use super::{
    columns::{find_header, is_column_numbers, Column, Layout},
    resolve::Resolver,
    sheet::{Cell, Row, Sheet, Skipped},
};

/// Lists with more rows than this show a progress bar when standard error is a terminal.
pub const PROGRESS_THRESHOLD: usize = 500;

/// What an import is checked against. Export takes the same context, so that what it writes
/// imports back.
#[derive(Debug, Clone, Copy)]
pub struct ImportContext<'a> {
    /// The position catalogue: codes and Vietnamese titles.
    pub catalog: &'a Catalog,
    /// The units: the plan's unit must be in it, and names of work units are looked up in it.
    pub hierarchy: &'a Hierarchy,
    /// Code of the unit whose plan the list is.
    pub unit: &'a str,
    /// The term (nhiệm kỳ) of the plan; a Nhiệm kỳ column, where present, must say the same.
    pub term: &'a str,
    /// The day ages are checked on (passed in, so that tests are deterministic).
    pub today: NaiveDate,
}

/// One row that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedEntry {
    /// Its spreadsheet row number (1-based).
    pub row: usize,
    /// The entry, normalised (names in NFC, codes resolved).
    pub entry: Entry,
    /// Số phiếu đồng ý, where the list gives it.
    pub yes_votes: Option<u32>,
}

/// One thing wrong with the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// Spreadsheet row number, 1-based, as a spreadsheet program shows it (the header row of a
    /// list without a title block is 1).
    pub row: usize,
    /// The column's header as written in the file (its standard title when the column is
    /// missing); empty for a problem with the whole row.
    pub column: String,
    /// What is wrong, said so that a clerk can fix it.
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "row {}: {}", self.row, self.reason)
        } else {
            write!(f, "row {}, {}: {}", self.row, self.column, self.reason)
        }
    }
}

/// The outcome of an import: the rows that passed and the problems found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Every row that passed its checks, in sheet order.
    pub entries: Vec<ImportedEntry>,
    /// Every problem, in sheet order; a row with problems has no entry.
    pub problems: Vec<RowProblem>,
    /// Every row with content that is neither an entry nor a problem, and why, in sheet order.
    pub skipped: Vec<Skipped>,
}

impl ImportReport {
    /// Returns true if and only if the list had no problem at all, so that it may be written.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The skipped rows as lines a clerk reads: consecutive rows skipped for one reason are
    /// one line ("rows 1–5: title block above the header").
    pub fn skipped_lines(&self) -> Vec<String> {
        let mut skipped: Vec<&Skipped> = self.skipped.iter().collect();
        skipped.sort_by_key(|s| s.row);
        // Rows that are entries or problems break a run; blank rows between do not.
        let used: std::collections::BTreeSet<usize> = self
            .entries
            .iter()
            .map(|e| e.row)
            .chain(self.problems.iter().map(|p| p.row))
            .collect();
        let mut lines: Vec<(usize, usize, &str)> = Vec::new();
        for s in skipped {
            match lines.last_mut() {
                Some((_, last, reason))
                    if *reason == s.reason && used.range(*last..s.row).next().is_none() =>
                {
                    *last = s.row;
                }
                _ => lines.push((s.row, s.row, s.reason.as_str())),
            }
        }
        lines
            .into_iter()
            .map(|(first, last, reason)| {
                if first == last {
                    format!("row {first}: {reason}")
                } else {
                    format!("rows {first}–{last}: {reason}")
                }
            })
            .collect()
    }

    fn skip(&mut self, row: usize, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            row,
            reason: reason.into(),
        });
    }

    fn problem(&mut self, row: usize, column: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(RowProblem {
            row,
            column: column.into(),
            reason: reason.into(),
        });
    }
}

/// Checks every row of `sheet` as a planning list of `ctx.unit` for `ctx.term`.
pub fn import(sheet: &Sheet, ctx: &ImportContext<'_>) -> ImportReport {
    let mut report = ImportReport::default();
    let first_row = sheet.rows.first().map_or(1, |r| r.number);
    let Some(resolver) = Resolver::new(ctx.catalog, ctx.hierarchy, ctx.unit) else {
        report.problem(
            first_row,
            "",
            format!("unit {} is not in the list of units", ctx.unit),
        );
        return report;
    };
    if ctx.catalog.term(ctx.term).is_none() {
        report.problem(
            first_row,
            "",
            format!("term {} is not in the catalogue", ctx.term),
        );
        return report;
    }
    report.skipped.extend(sheet.skipped.iter().cloned());
    let Some((at, layout)) = find_header(sheet) else {
        report.problem(
            first_row,
            "",
            "no header row found: the list needs columns such as Họ và tên, Ngày sinh, Số CCCD \
             and Chức danh quy hoạch",
        );
        return report;
    };
    for row in sheet
        .rows
        .iter()
        .take_while(|r| r.number < layout.header_row)
    {
        report.skip(row.number, "title block above the header");
    }
    for (_, written, column) in &layout.duplicates {
        report.problem(
            layout.header_row,
            written.clone(),
            format!("a second {} column; keep only one", column.title()),
        );
    }
    let filled = super::sheet::fill_merged(&sheet.rows[at + 1..], &sheet.merged);
    let rows = &filled[..];
    let plan_level = resolver.unit().level;
    // Group headings, and the position each names, if it names one.
    let headings: HashMap<usize, Option<String>> = rows
        .iter()
        .filter(|r| is_group_heading(r))
        .map(|r| {
            let text = r.cells.iter().map(Cell::display).collect::<String>();
            let position = heading_position(&text)
                .and_then(|t| resolver.position(&t, plan_level).ok())
                .filter(|p| p.level == plan_level)
                .map(|p| p.code.clone());
            (r.number, position)
        })
        .collect();
    let mut missing = layout.missing();
    if headings.values().any(Option::is_some) {
        missing.retain(|c| *c != Column::Position);
    }
    for column in &missing {
        report.problem(
            layout.header_row,
            column.title(),
            "required column is missing",
        );
    }
    if !missing.is_empty() {
        return report;
    }

    let progress = super::progress_bar(rows.len(), "checking");
    let checker = RowChecker {
        ctx,
        layout: &layout,
        resolver: &resolver,
        date_1904: sheet.date_1904,
    };
    // The first row of each (national ID, position) and of each national ID.
    let mut seen_entry: HashMap<(String, String), usize> = HashMap::new();
    let mut seen_person: HashMap<String, (usize, Cadre)> = HashMap::new();
    let mut group_position: Option<String> = None;
    let mut signature = false;
    for (i, row) in rows.iter().enumerate() {
        progress.inc(1);
        if signature || is_signature(row) {
            signature = true;
            report.skip(row.number, "signature block");
            continue;
        }
        if i == 0 && is_column_numbers(row) {
            report.skip(row.number, "column numbers under the header");
            continue;
        }
        if let Some(position) = headings.get(&row.number) {
            group_position.clone_from(position);
            let reason = match position {
                Some(code) => format!("group heading (position {code})"),
                None => "group heading".to_string(),
            };
            report.skip(row.number, reason);
            continue;
        }
        if is_total(row) {
            report.skip(row.number, "total line");
            continue;
        }
        if checker.is_blank(row) {
            continue;
        }
        let imported = match checker.check(row, group_position.as_deref()) {
            Ok(imported) => imported,
            Err(problems) => {
                report.problems.extend(problems);
                continue;
            }
        };
        let id_header = layout.header(Column::NationalId);
        let cadre = &imported.entry.cadre;
        let key = (
            cadre.national_id.to_string(),
            imported.entry.position.to_string(),
        );
        if let Some(first) = seen_entry.get(&key) {
            report.problem(
                row.number,
                id_header,
                format!(
                    "số CCCD {} is already listed for {} in row {first}",
                    key.0, key.1
                ),
            );
            continue;
        }
        if let Some((first, other)) = seen_person.get(cadre.national_id.as_str()) {
            if let Some(what) = differs(cadre, other) {
                report.problem(
                    row.number,
                    id_header,
                    format!(
                        "số CCCD {} is in row {first} with another {what}{}",
                        cadre.national_id,
                        if what == "name" {
                            format!(
                                " ({:?} there, {:?} here; a different letter or tone is \
                                 another name)",
                                other.full_name, cadre.full_name
                            )
                        } else {
                            String::new()
                        }
                    ),
                );
                continue;
            }
        } else {
            seen_person.insert(cadre.national_id.to_string(), (row.number, cadre.clone()));
        }
        seen_entry.insert(key, row.number);
        report.entries.push(imported);
    }
    progress.finish_and_clear();
    report
}

/// What differs between two rows of one person, if anything. Names are compared by their
/// identity key ([`crate::domain::name::key`]): `Hoà` and `Hòa` are one name.
fn differs(a: &Cadre, b: &Cadre) -> Option<&'static str> {
    if crate::domain::name::key(&a.full_name) != crate::domain::name::key(&b.full_name) {
        Some("name")
    } else if a.birth_date != b.birth_date {
        Some("date of birth")
    } else if a.gender != b.gender {
        Some("gender")
    } else {
        None
    }
}

/// The text of a row's one non-empty cell, if it has exactly one and that one is text.
fn single_text(row: &Row) -> Option<&str> {
    let mut filled = row.cells.iter().filter(|c| !c.is_empty());
    match (filled.next(), filled.next()) {
        (Some(Cell::Text(t)), None) => Some(t.trim()),
        _ => None,
    }
}

/// Returns true if and only if `row` is a group heading: one text cell that opens with a
/// Roman numeral, a capital letter or a number and a dot ("I.", "A.", "1."), or that speaks of
/// planning ("Quy hoạch chức danh …").
fn is_group_heading(row: &Row) -> bool {
    let Some(text) = single_text(row) else {
        return false;
    };
    let folded = fold(text);
    let first = folded.split_whitespace().next().unwrap_or("");
    let enumerator = first.strip_suffix(['.', ')', ':']).is_some_and(|n| {
        !n.is_empty()
            && (n.chars().all(|c| "ivxlc".contains(c))
                || n.chars().all(|c| c.is_ascii_digit())
                || (n.len() == 1 && n.chars().all(|c| c.is_ascii_alphabetic())))
    });
    enumerator || folded.contains("quy hoach") || folded.starts_with("chuc danh")
}

/// The position a group heading names, with its numbering and the words before it taken off:
/// "I. Quy hoạch chức danh Bí thư Huyện ủy" names "Bí thư Huyện ủy".
fn heading_position(text: &str) -> Option<String> {
    const LEADING: [&str; 8] = ["quy", "hoach", "chuc", "danh", "vao", "cac", "-", "–"];
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(['.', ')', ':'])) {
        words.remove(0);
    }
    while words
        .first()
        .is_some_and(|w| LEADING.contains(&fold(w).trim_end_matches(':')))
    {
        words.remove(0);
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// Returns true if and only if `row` opens the signature block at the foot of a list: "Nơi
/// nhận", "T/M …", "K/T …", "Người lập biểu", or the place-and-date line of the signer.
fn is_signature(row: &Row) -> bool {
    row.cells.iter().any(|c| {
        let Cell::Text(t) = c else {
            return false;
        };
        let folded = fold(t);
        [
            "noi nhan",
            "t/m ",
            "tm.",
            "tm ",
            "k/t ",
            "kt.",
            "kt ",
            "thay mat",
            "nguoi lap",
        ]
        .iter()
        .any(|m| folded.starts_with(m))
    }) || single_text(row).is_some_and(|t| {
        let folded = fold(t);
        folded.contains("ngay") && folded.contains(" thang ") && folded.contains(" nam ")
    })
}

/// Returns true if and only if `row` is a total line ("Tổng cộng: 4 người").
fn is_total(row: &Row) -> bool {
    row.cells.iter().find(|c| !c.is_empty()).is_some_and(|c| {
        let folded = fold(&c.display());
        ["tong cong", "tong so", "cong:", "cong "]
            .iter()
            .any(|m| folded.starts_with(m))
    })
}

/// Checks one row at a time against the layout and the reference data.
struct RowChecker<'c> {
    ctx: &'c ImportContext<'c>,
    layout: &'c Layout,
    resolver: &'c Resolver<'c>,
    /// Whether date serial numbers count from 1904.
    date_1904: bool,
}

/// The problems of one row, collected column by column.
struct Problems<'c> {
    row: usize,
    layout: &'c Layout,
    found: Vec<RowProblem>,
    /// Columns whose cell holds an Excel error value: that is their one problem.
    errors: Vec<Column>,
}

impl Problems<'_> {
    fn add(&mut self, column: Option<Column>, reason: impl Into<String>) {
        if column.is_some_and(|c| self.errors.contains(&c)) {
            return;
        }
        self.found.push(RowProblem {
            row: self.row,
            column: column.map(|c| self.layout.header(c)).unwrap_or_default(),
            reason: reason.into(),
        });
    }

    /// The value, or `fallback` after noting the problem under `column`.
    fn take<T>(&mut self, column: Column, value: Result<T, String>, fallback: T) -> T {
        value.unwrap_or_else(|reason| {
            self.add(Some(column), reason);
            fallback
        })
    }
}

impl RowChecker<'_> {
    fn cell<'r>(&self, row: &'r Row, column: Column) -> &'r Cell {
        self.layout
            .index(column)
            .map_or(&Cell::Empty, |i| row.cell(i))
    }

    /// Returns true if and only if the row holds nothing but, at most, its running number (a
    /// template's numbered empty lines).
    fn is_blank(&self, row: &Row) -> bool {
        let number = self.layout.index(Column::Number);
        row.cells
            .iter()
            .enumerate()
            .all(|(i, c)| Some(i) == number || c.is_empty())
    }

    /// Excel error values in the row's columns, each noted under its column.
    fn excel_errors(&self, row: &Row, p: &mut Problems<'_>) {
        let mut cells: Vec<(Column, usize)> = Column::ALL
            .into_iter()
            .filter_map(|c| self.layout.index(c).map(|i| (c, i)))
            .collect();
        cells.extend(
            self.layout
                .more_qualifications
                .iter()
                .map(|i| (Column::Qualifications, *i)),
        );
        if let Some(b) = &self.layout.birth_by_gender {
            cells.extend([(Column::BirthDate, b.male), (Column::BirthDate, b.female)]);
        }
        for (column, i) in cells {
            if let Cell::Error(e) = row.cell(i) {
                let problem = match e.strip_prefix(super::read::NO_SAVED_VALUE) {
                    Some(formula) => format!(
                        "is a formula (={formula}) with no saved value: open and save the file \
                         in Excel, then import it again"
                    ),
                    None => format!(
                        "holds the Excel error {e}: the formula behind it no longer works; \
                         type the value instead"
                    ),
                };
                p.add(Some(column), problem);
                p.errors.push(column);
            }
        }
    }

    /// The birth date and the gender: from a Ngày sinh and a Giới tính column, or from the
    /// birth date written under "Nam" or under "Nữ".
    fn birth_and_gender(&self, row: &Row, p: &mut Problems<'_>) -> (NaiveDate, Gender) {
        let placeholder = self.ctx.today - Months::new(40 * 12);
        let date = |cell: &Cell| parse_date_in(cell, self.date_1904);
        let Some(b) = &self.layout.birth_by_gender else {
            let birth = p.take(
                Column::BirthDate,
                date(self.cell(row, Column::BirthDate)),
                placeholder,
            );
            let gender = p.take(
                Column::Gender,
                parse_gender(&self.cell(row, Column::Gender).display()),
                Gender::Male,
            );
            return (birth, gender);
        };
        let (male, female) = (row.cell(b.male), row.cell(b.female));
        let (cell, gender) = match (male.is_empty(), female.is_empty()) {
            (false, true) => (male, Gender::Male),
            (true, false) => (female, Gender::Female),
            (false, false) => {
                p.add(
                    Some(Column::BirthDate),
                    "a birth date under both Nam and Nữ; write it under one only (the \
                     person's gender)",
                );
                return (placeholder, Gender::Male);
            }
            (true, true) => {
                p.add(
                    Some(Column::BirthDate),
                    "no birth date under Nam or under Nữ; write it under the person's gender",
                );
                return (placeholder, Gender::Male);
            }
        };
        let birth = p.take(Column::BirthDate, date(cell), placeholder);
        // A Giới tính column beside the Nam/Nữ columns must agree with them.
        let written = self.cell(row, Column::Gender).display();
        if !written.is_empty() && parse_gender(&written) != Ok(gender) {
            p.add(
                Some(Column::Gender),
                format!("says {written:?}, but the birth date stands under the other gender"),
            );
        }
        (birth, gender)
    }

    fn check(
        &self,
        row: &Row,
        group_position: Option<&str>,
    ) -> Result<ImportedEntry, Vec<RowProblem>> {
        let ctx = self.ctx;
        let mut p = Problems {
            row: row.number,
            layout: self.layout,
            found: Vec::new(),
            errors: Vec::new(),
        };
        self.excel_errors(row, &mut p);
        let text = |column| self.cell(row, column).display();
        let placeholder_birth = ctx.today - Months::new(40 * 12);
        let (birth_date, gender) = self.birth_and_gender(row, &mut p);
        let national_id = national_id(self.cell(row, Column::NationalId));

        let current_unit = match text(Column::CurrentUnit) {
            s if s.is_empty() => ctx.unit.to_string(),
            s => p.take(
                Column::CurrentUnit,
                self.resolver.unit_code(&s).map(|u| u.code.clone()),
                ctx.unit.to_string(),
            ),
        };
        let plan_level = self.resolver.unit().level;
        let current_level = self.resolver.level_of(&current_unit).unwrap_or(plan_level);
        let mut current_positions = Vec::new();
        for item in split(&text(Column::CurrentPositions), &[';', ',']) {
            match self.resolver.position(item, current_level) {
                Ok(pos) => current_positions.push(pos.code.as_str().into()),
                Err(reason) => p.add(Some(Column::CurrentPositions), reason),
            }
        }

        let position = match (text(Column::Position), group_position) {
            (written, Some(code)) if written.is_empty() => Ok(code.to_string()),
            (written, _) => self.planned_position(&written, plan_level),
        };
        let position = p.take(Column::Position, position, String::new());

        let term = text(Column::Term);
        if !term.is_empty() && normalize_term(&term) != ctx.term {
            p.add(
                Some(Column::Term),
                format!("this list is for term {}; the row says {term:?}", ctx.term),
            );
        }
        let yes_votes = p.take(
            Column::YesVotes,
            parse_votes(self.cell(row, Column::YesVotes)),
            None,
        );
        let source = p.take(
            Column::Source,
            parse_source(&text(Column::Source)),
            EntrySource::Voted,
        );
        let mut qualification_cells = vec![text(Column::Qualifications)];
        qualification_cells.extend(
            self.layout
                .more_qualifications
                .iter()
                .map(|i| row.cell(*i).display()),
        );
        let qualifications = qualification_cells
            .iter()
            .flat_map(|cell| split(cell, &[';']))
            .map(Into::into)
            .collect();

        use super::attributes as attr;
        let discipline = p.take(
            Column::Discipline,
            attr::parse_discipline(&text(Column::Discipline)),
            Vec::new(),
        );
        let retirement_regime = p.take(
            Column::RetirementRegime,
            attr::parse_regime(&text(Column::RetirementRegime)),
            Default::default(),
        );
        let science_technology = p.take(
            Column::ScienceTechnology,
            attr::parse_flag(&text(Column::ScienceTechnology)),
            false,
        );
        let ratings = p.take(
            Column::Ratings,
            attr::parse_ratings(&text(Column::Ratings)),
            Vec::new(),
        );
        let cadre = Cadre {
            national_id: national_id.into(),
            full_name: text(Column::FullName).into(),
            birth_date,
            gender,
            ethnicity: text(Column::Ethnicity).into(),
            current_positions,
            current_unit: current_unit.into(),
            qualifications,
            discipline,
            appointment_proposed_on: None,
            retirement_regime,
            science_technology,
            ratings,
        };
        let cadre = validate_cadre(cadre, ctx.today, placeholder_birth, &mut p);
        if !p.found.is_empty() {
            return Err(p.found);
        }
        Ok(ImportedEntry {
            row: row.number,
            entry: Entry {
                cadre,
                position: position.into(),
                source,
                origin: None,
            },
            yes_votes,
        })
    }

    /// The planned position: known, and of the plan's unit's level (as the node checks it).
    fn planned_position(&self, text: &str, level: Level) -> Result<String, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        let position = self.resolver.position(text, level)?;
        if position.level != level {
            let unit = self.resolver.unit();
            return Err(format!(
                "{} is a {} position; unit {} is a {}",
                position.code, position.level, unit.code, unit.level
            ));
        }
        Ok(position.code.clone())
    }
}

/// Runs [`Cadre::validate`] until it passes, noting each failure under its column and putting
/// a harmless value in the failed field, so that every problem of the row is reported rather
/// than only the first.
fn validate_cadre(
    mut cadre: Cadre,
    today: NaiveDate,
    birth: NaiveDate,
    p: &mut Problems<'_>,
) -> Cadre {
    // One round per field that can fail, and one more to pass.
    for _ in 0..8 {
        let err = match cadre.clone().validate("cadre", today) {
            Ok(valid) => return valid,
            Err(err) => err,
        };
        let field = err.field.strip_prefix("cadre.").unwrap_or(&err.field);
        let column = match field {
            "national_id" => {
                cadre.national_id = "0".repeat(12).into();
                Column::NationalId
            }
            "full_name" => {
                cadre.full_name = "-".into();
                Column::FullName
            }
            "ethnicity" => {
                cadre.ethnicity = "-".into();
                Column::Ethnicity
            }
            "birth_date" => {
                cadre.birth_date = birth;
                Column::BirthDate
            }
            f if f.starts_with("qualifications") => {
                cadre.qualifications.clear();
                Column::Qualifications
            }
            f if f.starts_with("discipline") => {
                cadre.discipline.clear();
                Column::Discipline
            }
            "retirement_regime" => {
                cadre.retirement_regime = Default::default();
                Column::RetirementRegime
            }
            f if f.starts_with("ratings") => {
                cadre.ratings.clear();
                Column::Ratings
            }
            _ => {
                p.add(None, err.to_string());
                return cadre;
            }
        };
        p.add(Some(column), err.problem);
    }
    cadre
}

/// The non-empty, trimmed items of a list cell.
fn split<'s>(text: &'s str, separators: &'s [char]) -> impl Iterator<Item = &'s str> + 's {
    text.split(separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A national ID as written. Excel drops the leading zeros of a number, and every số CCCD
/// opens with the zero of its province code, so a number is padded back to 12 digits.
fn national_id(cell: &Cell) -> String {
    match cell {
        Cell::Number(n) if n.fract() == 0.0 && (0.0..1e12).contains(n) => {
            format!("{:012}", *n as u64)
        }
        other => other.display().split_whitespace().collect(),
    }
}

/// Nam / Nữ (or male / female).
fn parse_gender(text: &str) -> Result<Gender, String> {
    match fold(text).as_str() {
        "nam" | "male" | "m" => Ok(Gender::Male),
        "nu" | "female" | "f" => Ok(Gender::Female),
        "" => Err("must not be empty (Nam or Nữ)".into()),
        _ => Err(format!("{text:?} is not a gender (Nam or Nữ)")),
    }
}

/// Bầu (voted; also when empty) or bổ sung (added by the approving authority).
fn parse_source(text: &str) -> Result<EntrySource, String> {
    match fold(text).as_str() {
        "" | "bau" | "bau cu" | "bo phieu" | "voted" => Ok(EntrySource::Voted),
        "bo sung" | "cap tren bo sung" | "added" | "added_by_authority" => {
            Ok(EntrySource::AddedByAuthority)
        }
        _ => Err(format!("{text:?} is not a source (Bầu or Bổ sung)")),
    }
}

fn parse_votes(cell: &Cell) -> Result<Option<u32>, String> {
    let bad = || format!("{:?} is not a whole number of votes", cell.display());
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n) => {
            Ok(Some(*n as u32))
        }
        Cell::Text(s) => s.trim().parse().map(Some).map_err(|_| bad()),
        Cell::Number(_) | Cell::Date(_) | Cell::Error(_) => Err(bad()),
    }
}

/// A term as written ("2025 – 2030") in its code's form ("2025-2030").
fn normalize_term(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            if matches!(c, '–' | '—' | '/') {
                '-'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_in_the_usual_forms() {
        let text = |s: &str| parse_date(&Cell::Text(s.into()));
        assert_eq!(text("17/05/1980"), Ok(date(1980, 5, 17)));
        assert_eq!(text("7/5/1980"), Ok(date(1980, 5, 7)));
        assert_eq!(text("1980-05-17"), Ok(date(1980, 5, 17)));
        assert_eq!(text("17.05.1980"), Ok(date(1980, 5, 17)));
        assert!(text("30/02/1980")
            .unwrap_err()
            .contains("not a real calendar date"));
        assert_eq!(text("17/05/80"), Ok(date(1980, 5, 17)));
        assert_eq!(text("7/5/80"), Ok(date(1980, 5, 7)));
        assert_eq!(text("7/5/05"), Ok(date(2005, 5, 7)));
        assert_eq!(text("7/5/29"), Ok(date(2029, 5, 7)));
        assert_eq!(text("7/5/30"), Ok(date(1930, 5, 7)));
        assert!(text("17/05/980").unwrap_err().contains("4-digit year"));
        // 1904 system: day 0 is 1 January 1904; 1980-01-01 is 27,759 (29,221 − 1,462).
        assert_eq!(
            parse_date_in(&Cell::Number(0.0), true),
            Ok(date(1904, 1, 1))
        );
        assert_eq!(
            parse_date_in(&Cell::Number(27759.0), true),
            Ok(date(1980, 1, 1))
        );
        assert_eq!(
            parse_date_in(&Cell::Number(29221.0), false),
            Ok(date(1980, 1, 1))
        );
        assert!(text("mười bảy").unwrap_err().contains("not a date"));
        // A serial number saved as text; a year alone is not a date.
        assert_eq!(text("29221"), Ok(date(1980, 1, 1)));
        assert!(text("1976").unwrap_err().contains("not a date"));
        assert_eq!(parse_date(&Cell::Empty), Err("must not be empty".into()));
        // 29221 is 1 January 1980 in Excel's 1900 date system.
        assert_eq!(parse_date(&Cell::Number(29221.0)), Ok(date(1980, 1, 1)));
        assert_eq!(parse_date(&Cell::Number(61.0)), Ok(date(1900, 3, 1)));
        assert_eq!(parse_date(&Cell::Number(59.0)), Ok(date(1900, 2, 28)));
        assert!(parse_date(&Cell::Number(60.0)).is_err());
        assert!(parse_date(&Cell::Number(-3.0)).is_err());
    }

    #[test]
    fn headings_name_their_position_and_numbers_rows_count_up() {
        assert_eq!(
            heading_position("I. Quy hoạch chức danh Bí thư Huyện ủy").as_deref(),
            Some("Bí thư Huyện ủy")
        );
        assert_eq!(
            heading_position("II.  QUY   HOẠCH  Chủ tịch UBND xã").as_deref(),
            Some("Chủ tịch UBND xã")
        );
        assert_eq!(heading_position("3. Quy hoạch"), None);
        let row = |cells: &[&str]| Row {
            number: 1,
            cells: cells.iter().map(|c| Cell::Text(c.to_string())).collect(),
        };
        assert!(is_column_numbers(&row(&["(1)", "(2)", "(3)"])));
        assert!(is_column_numbers(&row(&["1", "2", "3", "4"])));
        assert!(!is_column_numbers(&row(&["(1)", "(3)", "(4)"])));
        assert!(!is_column_numbers(&row(&["1", "2"])));
        assert!(!is_column_numbers(&row(&["4294967295", "0", "1"])));
    }

    #[test]
    fn genders_sources_votes_and_terms() {
        assert_eq!(parse_gender("Nữ"), Ok(Gender::Female));
        assert_eq!(parse_gender("NAM"), Ok(Gender::Male));
        assert_eq!(parse_gender("female"), Ok(Gender::Female));
        assert!(parse_gender("Khác").is_err());
        assert_eq!(parse_source(""), Ok(EntrySource::Voted));
        assert_eq!(parse_source("Bổ sung"), Ok(EntrySource::AddedByAuthority));
        assert!(parse_source("tự ứng cử").is_err());
        assert_eq!(parse_votes(&Cell::Number(27.0)), Ok(Some(27)));
        assert_eq!(parse_votes(&Cell::Text(" 27 ".into())), Ok(Some(27)));
        assert!(parse_votes(&Cell::Number(2.5)).is_err());
        assert!(parse_votes(&Cell::Text("-1".into())).is_err());
        assert_eq!(normalize_term("2025 – 2030"), "2025-2030");
    }

    #[test]
    fn a_national_id_stored_as_a_number_gets_its_zero_back() {
        assert_eq!(national_id(&Cell::Number(40076000001.0)), "040076000001");
        assert_eq!(
            national_id(&Cell::Text(" 040 076 000 001 ".into())),
            "040076000001"
        );
        assert_eq!(
            national_id(&Cell::Text("04007600000".into())),
            "04007600000"
        );
    }
}
