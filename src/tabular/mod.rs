//! Spreadsheets in and out: import of a unit's planning list (danh sách quy hoạch) from `.xlsx`
//! or `.csv`, and export of plans, consolidated lists and findings to `.xlsx` and `.csv`.
//!
//! Pure apart from file I/O: it builds on [`crate::domain`] and knows nothing of gRPC or
//! storage. The CLI and the services call it; they decide what to do with a report (a dry run
//! prints it, a real import writes all entries or none).
//!
//! # Layout
//!
//! - [`read`]: a workbook's visible sheet or a text file as rows of cells ([`read_sheet`]).
//! - [`sheet`]: a sheet as read: rows of cells, and the rows left out.
//! - [`columns`]: the columns of the usual list and how a header row is recognised.
//! - [`resolve`]: position titles and unit names to codes, and back.
//! - [`import`](mod@import): the row-by-row checks and the [`ImportReport`].
//! - [`export`]: `.xlsx` and `.csv` writers and the sheets they take (the flat layout).
//! - [`consolidated`]: the consolidated list's one export layout, for every face.
//! - [`mark`]: the classification mark (độ mật) every export carries when the deployment
//!   names one.
//! - [`official`]: the official layout (title block, two-row header, column numbers, groups by
//!   position, signature block) and the blank template with data validation.

pub mod attributes;
pub mod columns;
pub mod consolidated;
pub mod dates;
pub mod export;
pub mod import;
pub mod mark;
pub mod official;
pub mod read;
pub mod resolve;
pub mod sheet;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub use columns::Column;
pub use consolidated::{consolidated_sheet, consolidated_sheets, ListRow};
pub use export::{
    export_csv, export_xlsx, plan_sheet, plan_sheet_for, table_sheet, xlsx_bytes, ExportCell,
    ExportSheet,
};
pub use import::{import, ImportContext, ImportReport, ImportedEntry, RowProblem};
pub use mark::Classification;
pub use official::{official_plan_bytes, official_xlsx_bytes, template_xlsx_bytes};
pub use read::{read_rows, read_sheet, Format, Input};
pub use sheet::{Cell, Row, Sheet, Skipped};

/// A progress bar for long work over `rows` rows (checking an import, fetching a consolidated list
/// to export), labelled `doing`: drawn on standard error only when that is a terminal and there are
/// more than [`import::PROGRESS_THRESHOLD`] rows, hidden otherwise (so tests and pipes see none).
/// The caller advances it and clears it when done.
pub fn progress_bar(rows: usize, doing: &str) -> ProgressBar {
    if rows <= import::PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rows as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} rows") {
        bar.set_style(style);
    }
    bar.set_message(doing.to_string());
    bar
}

/// Failures to read a spreadsheet at all. Problems with its content are not errors: they are
/// the [`RowProblem`]s of an [`ImportReport`].
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The extension names no format this module reads.
    #[error("{0}: not a spreadsheet this program reads (use .xlsx, .csv or .txt)")]
    UnknownFormat(String),
    /// The workbook is damaged or not a workbook.
    #[error("cannot open the workbook: {0}")]
    Workbook(#[from] calamine::Error),
    /// The workbook holds no visible worksheet.
    #[error("the workbook has no visible worksheet")]
    NoWorksheet,
    /// The named sheet is not in the workbook.
    #[error("the workbook has no sheet {name:?}; its visible sheets are {visible}")]
    NoSuchSheet {
        /// The sheet asked for.
        name: String,
        /// The workbook's visible sheets, listed for the message.
        visible: String,
    },
    /// The named sheet is hidden: what the clerk does not see is not imported.
    #[error("sheet {name:?} is hidden; unhide it in Excel or choose one of {visible}")]
    HiddenSheet {
        /// The sheet asked for.
        name: String,
        /// The workbook's visible sheets, listed for the message.
        visible: String,
    },
    /// More than one visible sheet holds a list, and none was chosen.
    #[error("several visible sheets hold a list ({sheets}); choose one with --sheet NAME")]
    SeveralLists {
        /// The sheets that hold a list, listed for the message.
        sheets: String,
    },
    /// A sheet was named for a text file, which has none.
    #[error("--sheet applies to workbooks; a text file has one table")]
    SheetOfText,
    /// The parts of the workbook that say which rows are hidden cannot be read.
    #[error("cannot read which rows of the workbook are hidden: {0}")]
    Parts(String),
    /// A CSV file in another encoding; Excel's "CSV UTF-8" choice writes the right one.
    #[error("line {line} is not UTF-8 text; save the file as \"CSV UTF-8\"")]
    NotUtf8 {
        /// The first line that is not UTF-8, from 1.
        line: usize,
    },
    /// A CSV file that cannot be parsed.
    #[error("cannot read the CSV file: {0}")]
    Csv(#[from] csv::Error),
    /// A file, or what a workbook unpacks to, larger than any list of cadres: refused before
    /// it is read whole.
    #[error("too large to be a list: {0}")]
    TooLarge(String),
}

/// Failures to write an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The Excel writer failed.
    #[error("cannot write the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The CSV writer failed.
    #[error("cannot write the CSV file: {0}")]
    Csv(#[from] csv::Error),
    /// Writing the file failed.
    #[error("cannot write: {0}")]
    Io(#[from] std::io::Error),
    /// More rows or columns than a worksheet holds.
    #[error("the table is larger than an Excel worksheet")]
    TooLarge,
    /// A date Excel cannot show (before 1900).
    #[error("{0} cannot be written as an Excel date")]
    Date(chrono::NaiveDate),
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn a_list_of_at_most_the_threshold_shows_no_bar_even_on_a_terminal() {
        assert!(progress_bar(import::PROGRESS_THRESHOLD, "checking").is_hidden());
        assert!(progress_bar(0, "fetching").is_hidden());
    }
}
