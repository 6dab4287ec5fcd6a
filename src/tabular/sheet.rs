//! A sheet as read, before its cells are given a meaning: rows of cells with their spreadsheet
//! row numbers, and the rows left out. What [`super::read`] produces and the rest of the wing
//! consumes.

use chrono::NaiveDate;

/// One cell as read, before it is given a meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing, or only white space.
    Empty,
    /// Text as written (CSV cells are always text).
    Text(String),
    /// A number; a date typed into a cell without a date format arrives as its serial number.
    Number(f64),
    /// A cell formatted as a date (or date and time; the time is dropped).
    Date(NaiveDate),
    /// An Excel error value (`#REF!`, `#N/A`, `#VALUE!` …): a formula that no longer works.
    Error(String),
}

impl Cell {
    /// Returns true if and only if the cell holds nothing but white space.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            Cell::Number(_) | Cell::Date(_) | Cell::Error(_) => false,
        }
    }

    /// The cell as a clerk would read it: numbers without a needless `.0`, dates as dd/mm/yyyy.
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.trim().to_string(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => n.to_string(),
            Cell::Date(d) => d.format("%d/%m/%Y").to_string(),
            Cell::Error(e) => e.clone(),
        }
    }
}

/// One row of the sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row number a spreadsheet program shows (1-based), used in every problem report.
    pub number: usize,
    /// The cells from column A on; missing trailing cells count as empty.
    pub cells: Vec<Cell>,
}

impl Row {
    /// The cell in column `index` (0-based), empty when the row is shorter.
    pub fn cell(&self, index: usize) -> &Cell {
        self.cells.get(index).unwrap_or(&Cell::Empty)
    }

    /// Returns true if and only if every cell of the row is empty.
    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }
}

/// A row that is not read, and why (a hidden row; in [`super::import()`] also the title block,
/// the column numbers, group headings and the signature block).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The spreadsheet row number (1-based).
    pub row: usize,
    /// Why it is not read, said so that a clerk can check it.
    pub reason: String,
}

/// A whole sheet as read: every non-empty visible row, in order, with its spreadsheet row number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    /// The worksheet's name; empty for a text file.
    pub name: String,
    /// The rows that hold at least one cell; blank rows are left out (their numbers are kept).
    pub rows: Vec<Row>,
    /// Rows with content that are not read because they are hidden.
    pub skipped: Vec<Skipped>,
    /// Whether the workbook counts date serial numbers from 1904 (old Mac Excel) rather than
    /// from 1900.
    pub date_1904: bool,
    /// The merged regions of the worksheet (none for a text file); the import fills those in
    /// the data rows ([`fill_merged`]).
    pub merged: Vec<Merged>,
}

/// A merged region of a worksheet: rows as a spreadsheet program numbers them (1-based),
/// columns as [`Row::cells`] indexes them (0-based, column A is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// The region's top row.
    pub first_row: usize,
    /// The region's bottom row.
    pub last_row: usize,
    /// The region's leftmost column.
    pub first_col: usize,
    /// The region's rightmost column.
    pub last_col: usize,
}

/// `rows` (the data rows below the header) with the value of each merged region that starts
/// among them written into every empty cell the region covers, as the clerk sees it:
///
/// - across rows: "Chức vụ hiện tại" merged over two deputy chairmen is the current position
///   of both;
/// - across columns: "Đơn vị công tác" merged over two columns of one person's row holds the
///   same text in both (what each column makes of it is that column's to judge, and a problem
///   there is named by row and column like any other);
/// - a block (several rows and columns): every cell of it.
///
/// Left alone, because there a merge is layout, not data: regions that start above (the title
/// block, a merged header cell, a two-row header), and a region within one row beside which at
/// most one other cell is written (a group heading across the columns, "I. Quy hoạch chức danh
/// Bí thư", with or without its number in a cell of its own; a signature line). Columns are bounded by the widest row, so a region that claims the
/// whole sheet costs nothing.
pub fn fill_merged(rows: &[Row], merged: &[Merged]) -> Vec<Row> {
    let mut out = rows.to_vec();
    let width = out.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    for m in merged {
        if m.last_row == m.first_row && m.last_col <= m.first_col {
            continue;
        }
        let Some(top) = out.iter().position(|r| r.number == m.first_row) else {
            continue;
        };
        let value = out[top].cell(m.first_col).clone();
        if value.is_empty() || m.first_col >= width {
            continue;
        }
        let last_col = m.last_col.min(width - 1);
        if last_col < m.first_col {
            continue;
        }
        if m.last_row == m.first_row {
            // A person's row has a name, a birth date, an ID… beside the region; a heading
            // has its title and at most its number.
            let beside = out[top]
                .cells
                .iter()
                .enumerate()
                .filter(|(i, c)| !(m.first_col..=last_col).contains(i) && !c.is_empty())
                .count();
            if beside < 2 {
                continue;
            }
        }
        for row in out[top..].iter_mut().take_while(|r| r.number <= m.last_row) {
            if row.cells.len() <= last_col {
                row.cells.resize(last_col + 1, Cell::Empty);
            }
            for cell in &mut row.cells[m.first_col..=last_col] {
                if cell.is_empty() {
                    *cell = value.clone();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: usize, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells
                .iter()
                .map(|c| match c {
                    &"" => Cell::Empty,
                    t => Cell::Text(t.to_string()),
                })
                .collect(),
        }
    }

    fn merged(first_row: usize, last_row: usize, first_col: usize, last_col: usize) -> Merged {
        Merged {
            first_row,
            last_row,
            first_col,
            last_col,
        }
    }

    fn texts(rows: &[Row]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.cells.iter().map(Cell::display).collect())
            .collect()
    }

    #[test]
    fn a_merge_in_the_data_fills_across_rows_columns_and_blocks() {
        let rows = [
            row(4, &["1", "An", "C.PCT.UBND", "", "16681", "2025-2030", ""]),
            row(5, &["2", "Bình", "", "", "", "", ""]),
        ];
        let regions = [
            merged(4, 5, 4, 4), // across rows
            merged(4, 4, 2, 3), // across columns
            merged(4, 5, 5, 6), // a block
        ];
        assert_eq!(
            texts(&fill_merged(&rows, &regions)),
            [
                [
                    "1",
                    "An",
                    "C.PCT.UBND",
                    "C.PCT.UBND",
                    "16681",
                    "2025-2030",
                    "2025-2030"
                ],
                ["2", "Bình", "", "", "16681", "2025-2030", "2025-2030"],
            ]
        );
    }

    #[test]
    fn a_heading_or_a_merge_that_starts_above_stays_layout() {
        // A heading across the row, and one whose number stands in a cell of its own: at
        // most one other cell beside the region. A region from the header above.
        let rows = [
            row(10, &["I. Quy hoạch chức danh Bí thư", "", ""]),
            row(11, &["II", "Quy hoạch chức danh Chủ tịch", ""]),
            row(12, &["1", "An", ""]),
        ];
        let regions = [
            merged(10, 10, 0, 2),
            merged(11, 11, 1, 2),
            merged(8, 12, 2, 2),
        ];
        assert_eq!(texts(&fill_merged(&rows, &regions)), texts(&rows));
        // Two cells beside the region: a person's row, filled.
        let person = [row(12, &["1", "An", "C.CC", ""])];
        assert_eq!(
            texts(&fill_merged(&person, &[merged(12, 12, 2, 3)])),
            [["1", "An", "C.CC", "C.CC"]]
        );
    }
}
