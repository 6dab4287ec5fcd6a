//! Reading a spreadsheet into plain rows of cells: the first worksheet of a workbook (calamine)
//! or a UTF-8 CSV file, with or without a byte-order mark. Nothing here knows what the columns
//! mean; [`super::import()`] does.

use std::{io::Cursor, path::Path};

use calamine::{Data, Reader};
use chrono::NaiveDate;

use super::ImportError;

/// The kind of file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An Excel workbook (`.xlsx`; `.xlsm`, `.xls`, `.xlsb` and `.ods` are read the same way).
    /// Only the first worksheet is read.
    Xlsx,
    /// Comma- or semicolon-separated text in UTF-8, with or without a byte-order mark.
    Csv,
}

impl Format {
    /// Picks the format from a file name's extension.
    pub fn from_path(path: &Path) -> Result<Self, ImportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Ok(Self::Xlsx),
            "csv" | "txt" => Ok(Self::Csv),
            _ => Err(ImportError::UnknownFormat(path.display().to_string())),
        }
    }
}

/// Where the spreadsheet comes from: a file, or bytes already in memory (an upload).
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A file on disk.
    Path(&'a Path),
    /// The whole file's content.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Path> for Input<'a> {
    fn from(path: &'a Path) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a [u8]> for Input<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

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
}

impl Cell {
    /// Returns true if and only if the cell holds nothing but white space.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            Cell::Number(_) | Cell::Date(_) => false,
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

/// A whole sheet as read: every non-empty row, in order, with its spreadsheet row number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    /// The rows that hold at least one cell; blank rows are left out (their numbers are kept).
    pub rows: Vec<Row>,
}

/// Reads the first worksheet of a workbook, or a CSV file, into rows of cells.
///
/// `Err` is for a file that cannot be read at all (missing, corrupt, not UTF-8); what the
/// cells mean is judged by [`super::import()`].
pub fn read_rows<'a>(input: impl Into<Input<'a>>, format: Format) -> Result<Sheet, ImportError> {
    let owned;
    let bytes = match input.into() {
        Input::Bytes(b) => b,
        Input::Path(path) => {
            owned = std::fs::read(path).map_err(|source| ImportError::Io {
                path: path.display().to_string(),
                source,
            })?;
            &owned[..]
        }
    };
    match format {
        Format::Xlsx => read_workbook(bytes),
        Format::Csv => read_csv(bytes),
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Sheet, ImportError> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or(ImportError::NoWorksheet)??;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let mut row = Row {
            number: first_row as usize + i + 1,
            cells: vec![Cell::Empty; first_col as usize],
        };
        row.cells.extend(cells.iter().map(cell_of));
        if !row.is_empty() {
            rows.push(row);
        }
    }
    Ok(Sheet { rows })
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(n) => Cell::Number(*n as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(y.into(), m.into(), d.into())
                .map_or_else(|| Cell::Number(dt.as_f64()), Cell::Date)
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) => s
            .get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .map_or_else(|| Cell::Text(s.clone()), Cell::Date),
        Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Text(e.to_string()),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Sheet, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })?;
    // Excel saves "CSV" with the list separator of the machine's locale; take whichever of
    // comma and semicolon the first line uses more.
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record?;
        let row = Row {
            number: i + 1,
            cells: record
                .iter()
                .map(|s| {
                    if s.trim().is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(s.to_string())
                    }
                })
                .collect(),
        };
        if !row.is_empty() {
            rows.push(row);
        }
    }
    Ok(Sheet { rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_and_semicolons() {
        let text = "\u{feff}STT;Họ và tên\n1;Lê Văn Tám\n\n;\n2;\"Trần; Thị\"\n";
        let sheet = read_rows(text.as_bytes(), Format::Csv).unwrap();
        let numbers: Vec<_> = sheet.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 2, 4]);
        assert_eq!(sheet.rows[0].cell(1), &Cell::Text("Họ và tên".into()));
        assert_eq!(sheet.rows[2].cell(1), &Cell::Text("Trần; Thị".into()));
        assert_eq!(sheet.rows[2].cell(7), &Cell::Empty);
    }

    #[test]
    fn csv_that_is_not_utf8_names_the_line() {
        let bytes = b"STT,Ho va ten\n1,Nguy\xE3n\n";
        match read_rows(&bytes[..], Format::Csv) {
            Err(ImportError::NotUtf8 { line }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/DS.XLSX")).unwrap(),
            Format::Xlsx
        );
        assert_eq!(Format::from_path(Path::new("ds.csv")).unwrap(), Format::Csv);
        assert!(Format::from_path(Path::new("ds.pdf")).is_err());
    }

    #[test]
    fn cells_display_as_a_clerk_reads_them() {
        assert_eq!(Cell::Number(27.0).display(), "27");
        assert_eq!(Cell::Number(2.5).display(), "2.5");
        let d = NaiveDate::from_ymd_opt(1980, 2, 3).unwrap();
        assert_eq!(Cell::Date(d).display(), "03/02/1980");
    }
}
