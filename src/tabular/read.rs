//! Reading a spreadsheet into plain rows of cells, as the clerk sees it: of a workbook
//! (calamine) only the visible worksheets, and of a worksheet only its visible rows and columns
//! (calamine does not say which rows are hidden, so this module reads the sheet's XML);
//! or a text file (comma-, semicolon- or tab-separated, UTF-8 with or without a byte-order mark,
//! or UTF-16 with one as Excel's "Unicode Text" writes). Nothing here knows what the columns
//! mean; [`super::import()`] does, and [`super::columns::find_header`] says which visible sheet
//! holds a list.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::{Cursor, Read},
    path::Path,
};

use calamine::{Data, Reader, SheetType, SheetVisible, Sheets};
use chrono::NaiveDate;

use super::{
    columns::find_header,
    sheet::{Cell, Merged, Row, Sheet, Skipped},
    ImportError,
};

/// Largest file read, in bytes: a district's list of a few thousand rows is a few megabytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Most bytes the parts of a workbook (a zip archive) may unpack to, all together: a small
/// file that unpacks to gigabytes (a zip bomb) is refused before anything is parsed.
pub const MAX_UNPACKED_BYTES: u64 = 64 << 20;
/// Most parts a workbook archive may hold.
pub const MAX_PARTS: usize = 2_000;
/// Most cells the rectangle from a worksheet's first cell (A1) to its last used row and column
/// may span: the reader holds that rectangle whole, so two cells at A1 and XFD1048576 would
/// ask for seventeen billion.
pub const MAX_CELLS: u64 = 2_000_000;

/// The kind of file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An Excel workbook (`.xlsx`; `.xlsm`, `.xls`, `.xlsb` and `.ods` are read the same way).
    /// Only a visible worksheet is read: the one that holds a list, or the one named.
    Xlsx,
    /// Comma-, semicolon- or tab-separated text (`.csv`, `.txt`, `.tsv`) in UTF-8, with or
    /// without a byte-order mark, or in UTF-16 with a byte-order mark.
    Csv,
}

impl Format {
    /// Picks the format from a file name's extension.
    ///
    /// # Errors
    ///
    /// [`ImportError::UnknownFormat`] if the extension is none of xlsx, xlsm, xls, xlsb, ods,
    /// csv, txt or tsv.
    pub fn from_path(path: &Path) -> Result<Self, ImportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Ok(Self::Xlsx),
            "csv" | "txt" | "tsv" => Ok(Self::Csv),
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

/// Reads the visible worksheet that holds a list (see [`read_sheet`]), or a text file, into
/// rows of cells.
///
/// # Errors
///
/// As [`read_sheet`].
pub fn read_rows<'a>(input: impl Into<Input<'a>>, format: Format) -> Result<Sheet, ImportError> {
    read_sheet(input, format, None)
}

/// Reads one worksheet of a workbook, or a text file, into rows of cells. Without `sheet`, the
/// one visible worksheet in which a header row is found; if no visible sheet has one, the first
/// visible sheet (and the import says that no header was found). Hidden rows are left out and
/// listed in [`Sheet::skipped`]; hidden columns read as empty.
///
/// # Errors
///
/// `Err` is for a file that cannot be read at all (missing, corrupt, not UTF-8 or UTF-16), for
/// a `sheet` the workbook does not have or hides, and for a workbook in which several visible
/// sheets hold a list and none was named ([`ImportError::SeveralLists`], naming them). What the
/// cells mean is judged by [`super::import()`].
pub fn read_sheet<'a>(
    input: impl Into<Input<'a>>,
    format: Format,
    sheet: Option<&str>,
) -> Result<Sheet, ImportError> {
    let owned;
    let bytes = match input.into() {
        Input::Bytes(b) => b,
        Input::Path(path) => {
            let io = |source| ImportError::Io {
                path: path.display().to_string(),
                source,
            };
            let size = std::fs::metadata(path).map_err(io)?.len();
            if size > MAX_FILE_BYTES {
                return Err(ImportError::TooLarge(format!(
                    "the file is {size} bytes; at most {MAX_FILE_BYTES} are read"
                )));
            }
            let mut buffer = Vec::new();
            std::fs::File::open(path)
                .map_err(io)?
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut buffer)
                .map_err(io)?;
            owned = buffer;
            &owned[..]
        }
    };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge(format!(
            "the file is {} bytes; at most {MAX_FILE_BYTES} are read",
            bytes.len()
        )));
    }
    match format {
        Format::Xlsx => read_workbook(bytes, sheet),
        Format::Csv if sheet.is_some() => Err(ImportError::SheetOfText),
        Format::Csv => read_csv(bytes),
    }
}

/// Checks, before any part is parsed, that a workbook archive holds at most [`MAX_PARTS`]
/// parts which unpack to at most [`MAX_UNPACKED_BYTES`] together: each part is inflated into
/// nothing and counted, so a part that understates its size is caught too.
fn check_archive(bytes: &[u8]) -> Result<(), ImportError> {
    let bad = |what: &dyn std::fmt::Display| ImportError::Parts(what.to_string());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    if zip.len() > MAX_PARTS {
        return Err(ImportError::TooLarge(format!(
            "the workbook holds {} parts; at most {MAX_PARTS} are read",
            zip.len()
        )));
    }
    let too_large = |name: &str| {
        ImportError::TooLarge(format!(
            "the workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes (at part {name:?}); \
             it is not a list of cadres, or not only one"
        ))
    };
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| bad(&e))?;
        let name = part
            .name()
            .map_or_else(|_| format!("#{i}"), |n| n.to_string());
        let budget = MAX_UNPACKED_BYTES - total;
        if part.size() > budget {
            return Err(too_large(&name));
        }
        let unpacked = std::io::copy(&mut (&mut part).take(budget + 1), &mut std::io::sink())
            .map_err(|e| bad(&e))?;
        if unpacked > budget {
            return Err(too_large(&name));
        }
        total += unpacked;
    }
    Ok(())
}

fn read_workbook(bytes: &[u8], wanted: Option<&str>) -> Result<Sheet, ImportError> {
    // A zip archive (xlsx, xlsm, xlsb, ods) is bounded before calamine opens it, and an
    // xlsx's sheets are measured (and their hidden rows found) before calamine reads them.
    let hidden = if bytes.starts_with(b"PK") {
        check_archive(bytes)?;
        hidden_parts(bytes)?
    } else {
        HashMap::new()
    };
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))?;
    let date_1904 = match &workbook {
        Sheets::Xlsx(x) => x.has_1904_epoch(),
        Sheets::Xls(x) => x.has_1904_epoch(),
        Sheets::Xlsb(_) | Sheets::Ods(_) => false,
    };
    let hidden = if matches!(workbook, Sheets::Xlsx(_)) {
        hidden
    } else {
        HashMap::new()
    };
    let worksheets: Vec<(String, bool)> = workbook
        .sheets_metadata()
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .map(|s| (s.name.clone(), s.visible == SheetVisible::Visible))
        .collect();
    let visible: Vec<&str> = worksheets
        .iter()
        .filter(|(_, v)| *v)
        .map(|(n, _)| n.as_str())
        .collect();
    let listing = || {
        visible
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut read = |name: &str| -> Result<Sheet, ImportError> {
        let range = workbook.worksheet_range(name)?;
        let merged = match &mut workbook {
            Sheets::Xlsx(x) => x
                .merge_cells_by_sheet_name(name)
                .map_err(calamine::Error::Xlsx)?,
            _ => Vec::new(),
        };
        // A formula whose result was never saved reads as empty: it is a problem of its row
        // and column, never a silently empty cell.
        let unsaved = match workbook.worksheet_formula(name) {
            Ok(formulas) => unsaved_formulas(&range, &formulas),
            Err(_) => BTreeMap::new(),
        };
        let mut sheet = sheet_of(&range, hidden.get(name), &unsaved);
        sheet.merged = merged
            .iter()
            .map(|d| Merged {
                first_row: d.start.0 as usize + 1,
                last_row: d.end.0 as usize + 1,
                first_col: d.start.1 as usize,
                last_col: d.end.1 as usize,
            })
            .collect();
        sheet.name = name.to_string();
        sheet.date_1904 = date_1904;
        Ok(sheet)
    };
    if let Some(wanted) = wanted {
        let fold = crate::domain::text::fold;
        let found = worksheets
            .iter()
            .find(|(n, _)| n == wanted)
            .or_else(|| worksheets.iter().find(|(n, _)| fold(n) == fold(wanted)));
        return match found {
            Some((name, true)) => read(&name.clone()),
            Some((name, false)) => Err(ImportError::HiddenSheet {
                name: name.clone(),
                visible: listing(),
            }),
            None => Err(ImportError::NoSuchSheet {
                name: wanted.to_string(),
                visible: listing(),
            }),
        };
    }
    let names: Vec<String> = visible.iter().map(|s| s.to_string()).collect();
    let Some(first) = names.first() else {
        return Err(ImportError::NoWorksheet);
    };
    let mut lists = Vec::new();
    for name in &names {
        let sheet = read(name)?;
        if find_header(&sheet).is_some() {
            lists.push(sheet);
        }
    }
    match lists.len() {
        0 => read(first),
        1 => Ok(lists.remove(0)),
        _ => Err(ImportError::SeveralLists {
            sheets: lists
                .iter()
                .map(|s| format!("{:?}", s.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// What a cell holding a formula with no saved result reads as: an error value whose text
/// starts with this, followed by the formula. The import reports it by row and column.
pub const NO_SAVED_VALUE: &str = "formula with no saved value: =";

/// The cells behind which `formulas` has a formula but `range` holds no value (a file written
/// by a program, or saved with manual calculation), with the formula, by absolute position.
fn unsaved_formulas(
    range: &calamine::Range<Data>,
    formulas: &calamine::Range<String>,
) -> BTreeMap<(u32, u32), String> {
    let mut out = BTreeMap::new();
    let Some((row0, col0)) = formulas.start() else {
        return out;
    };
    for (r, row) in formulas.rows().enumerate() {
        for (c, formula) in row.iter().enumerate() {
            let formula = formula.trim();
            if formula.is_empty() {
                continue;
            }
            let at = (row0 + r as u32, col0 + c as u32);
            let empty = match range.get_value(at) {
                None | Some(Data::Empty) => true,
                Some(Data::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if empty {
                let formula = formula.trim_start_matches('=');
                out.insert(at, formula.chars().take(60).collect());
            }
        }
    }
    out
}

/// The visible rows and columns of a worksheet's cells.
fn sheet_of(
    range: &calamine::Range<Data>,
    hidden: Option<&Hidden>,
    unsaved: &BTreeMap<(u32, u32), String>,
) -> Sheet {
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut sheet = Sheet::default();
    let mut rows: BTreeMap<usize, Vec<Cell>> = BTreeMap::new();
    for (i, cells) in range.rows().enumerate() {
        let mut row = vec![Cell::Empty; first_col as usize];
        row.extend(cells.iter().map(cell_of));
        rows.insert(first_row as usize + i + 1, row);
    }
    for (&(r, c), formula) in unsaved {
        let row = rows.entry(r as usize + 1).or_default();
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, Cell::Empty);
        }
        row[c] = Cell::Error(format!("{NO_SAVED_VALUE}{formula}"));
    }
    for (number, cells) in rows {
        let mut row = Row { number, cells };
        if let Some(hidden) = hidden {
            for (c, cell) in row.cells.iter_mut().enumerate() {
                if hidden.columns.contains(&(c + 1)) {
                    *cell = Cell::Empty;
                }
            }
        }
        if row.is_empty() {
            continue;
        }
        if hidden.is_some_and(|h| h.rows.contains(&row.number)) {
            sheet.skipped.push(Skipped {
                row: row.number,
                reason: "hidden row".into(),
            });
            continue;
        }
        sheet.rows.push(row);
    }
    sheet
}

/// The hidden rows and columns of one worksheet, 1-based as a spreadsheet program shows them.
#[derive(Debug, Default)]
struct Hidden {
    rows: HashSet<usize>,
    columns: HashSet<usize>,
}

/// Which rows and columns each worksheet of an `.xlsx` file hides, by sheet name: the `hidden`
/// attribute of the sheet XML's `row` and `col` elements, which calamine does not expose.
fn hidden_parts(bytes: &[u8]) -> Result<HashMap<String, Hidden>, ImportError> {
    let bad = |what: &dyn std::fmt::Display| ImportError::Parts(what.to_string());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let mut text = |path: &str| -> Result<Option<String>, ImportError> {
        let Ok(mut file) = zip.by_name(path) else {
            return Ok(None);
        };
        let mut s = String::new();
        file.read_to_string(&mut s).map_err(|e| bad(&e))?;
        Ok(Some(s))
    };
    let Some(book) = text("xl/workbook.xml")? else {
        return Ok(HashMap::new());
    };
    let rels = text("xl/_rels/workbook.xml.rels")?.unwrap_or_default();
    let mut targets = HashMap::new();
    for_each_element(&rels, |name, attr| {
        if name == "Relationship" {
            if let (Some(id), Some(target)) = (attr("Id"), attr("Target")) {
                targets.insert(id, target);
            }
        }
    })
    .map_err(|e| bad(&e))?;
    let mut sheets = Vec::new();
    for_each_element(&book, |name, attr| {
        if name == "sheet" {
            if let (Some(sheet), Some(id)) = (attr("name"), attr("id")) {
                sheets.push((sheet, id));
            }
        }
    })
    .map_err(|e| bad(&e))?;
    let mut out = HashMap::new();
    for (sheet, id) in sheets {
        let Some(target) = targets.get(&id) else {
            continue;
        };
        let path = match target.strip_prefix('/') {
            Some(absolute) => absolute.to_string(),
            None => format!("xl/{target}"),
        };
        let Some(xml) = text(&path)? else {
            continue;
        };
        let mut hidden = Hidden::default();
        let mut next_row = 1;
        // The row and column of the last cell seen, and the largest of each, 1-based.
        let (mut row, mut column, mut last_row, mut last_column) = (0u64, 0u64, 0u64, 0u64);
        for_each_element(&xml, |name, attr| {
            let is_hidden = attr("hidden").is_some_and(|v| v == "1" || v == "true");
            let number = |key| attr(key).and_then(|v| v.parse::<usize>().ok());
            match name {
                "row" => {
                    let r = number("r").unwrap_or(next_row);
                    next_row = r + 1;
                    (row, column) = (r as u64, 0);
                    if is_hidden {
                        hidden.rows.insert(r);
                    }
                }
                "c" => {
                    (row, column) = match attr("r").as_deref().and_then(cell_reference) {
                        Some(at) => at,
                        None => (row.max(1), column + 1),
                    };
                    last_row = last_row.max(row);
                    last_column = last_column.max(column);
                }
                "col" if is_hidden => {
                    if let (Some(min), Some(max)) = (number("min"), number("max")) {
                        // A column range never exceeds Excel's 16,384 columns.
                        hidden.columns.extend(min..=max.min(16_384));
                    }
                }
                _ => {}
            }
        })
        .map_err(|e| bad(&e))?;
        if last_row.saturating_mul(last_column) > MAX_CELLS {
            return Err(ImportError::TooLarge(format!(
                "sheet {sheet:?} spans {last_row} rows by {last_column} columns; at most \
                 {MAX_CELLS} cells are read (delete what lies beyond the list)"
            )));
        }
        out.insert(sheet, hidden);
    }
    Ok(out)
}

/// The row and column (1-based) of a cell reference such as `B12`, if it is one.
fn cell_reference(r: &str) -> Option<(u64, u64)> {
    let letters = r.bytes().take_while(u8::is_ascii_alphabetic).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let column = r[..letters].bytes().fold(0u64, |n, b| {
        n * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1)
    });
    let row = r[letters..].parse::<u64>().ok().filter(|&n| n >= 1)?;
    Some((row, column))
}

/// Calls `f` with the local name of every start or empty element of `xml` and a look-up of its
/// attributes by local name.
fn for_each_element(
    xml: &str,
    mut f: impl FnMut(&str, &dyn Fn(&str) -> Option<String>),
) -> Result<(), quick_xml::Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .flatten()
                    .map(|a| {
                        let key = a.key.local_name().as_ref().to_string();
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_or_else(|_| a.value.to_string(), |v| v.into_owned());
                        (key, value)
                    })
                    .collect();
                let attr = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                f(name.as_ref(), &attr);
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
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
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Sheet, ImportError> {
    let decoded;
    let text = if let Some(utf16) = utf16_text(bytes) {
        decoded = utf16?;
        decoded.as_str()
    } else {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        })?
    };
    let delimiter = delimiter_of(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        // The line the record opens on, as a spreadsheet program numbers rows: blank lines
        // count.
        let number = record.position().map_or(rows.len() + 1, |p| {
            let bytes = text.as_bytes();
            let mut at = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            // After a CR LF the reader reports the LF as the record's start.
            while bytes.get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
                at += 1;
            }
            1 + bytes[..at].iter().filter(|&&b| b == b'\n').count()
        });
        let row = Row {
            number,
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
    Ok(Sheet {
        rows,
        ..Sheet::default()
    })
}

/// Text in UTF-16 with a byte-order mark (Excel's "Unicode Text"), decoded; `None` when the
/// bytes do not open with a UTF-16 byte-order mark.
fn utf16_text(bytes: &[u8]) -> Option<Result<String, ImportError>> {
    let (body, little) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (rest, true),
        [0xFE, 0xFF, rest @ ..] => (rest, false),
        _ => return None,
    };
    let units: Vec<u16> = body
        .chunks(2)
        .map(|pair| {
            let pair = [pair[0], *pair.get(1).unwrap_or(&0)];
            if little {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        })
        .collect();
    Some(String::from_utf16(&units).map_err(|_| ImportError::NotUtf8 { line: 1 }))
}

/// The separator of a text list: Excel writes "CSV" with the list separator of the machine's
/// locale (comma or semicolon) and "Text" and "Unicode Text" with tabs. The one that splits the
/// most of the first lines into the most cells wins (a title block above the table has none).
fn delimiter_of(text: &str) -> u8 {
    let lines: Vec<&str> = text.lines().take(30).collect();
    [b'\t', b';', b',']
        .into_iter()
        .max_by_key(|&d| {
            let widest = lines
                .iter()
                .map(|l| l.bytes().filter(|&b| b == d).count())
                .max()
                .unwrap_or(0);
            // Ties go to the earlier separator in the list (tab, then semicolon).
            (widest, [b',', b';', b'\t'].iter().position(|&x| x == d))
        })
        .unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_and_semicolons() {
        let text = "\u{feff}STT;Họ và tên\n1;Lê Văn Tám\n\n;\n2;\"Trần; Thị\"\n";
        let sheet = read_rows(text.as_bytes(), Format::Csv).unwrap();
        let numbers: Vec<_> = sheet.rows.iter().map(|r| r.number).collect();
        // A blank line is a row too, as a spreadsheet program shows the file.
        assert_eq!(numbers, [1, 2, 5]);
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

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn a_cell_reference_gives_its_row_and_column() {
        assert_eq!(cell_reference("A1"), Some((1, 1)));
        assert_eq!(cell_reference("b12"), Some((12, 2)));
        assert_eq!(cell_reference("AA3"), Some((3, 27)));
        assert_eq!(cell_reference("XFD1048576"), Some((1_048_576, 16_384)));
        for bad in ["", "1", "A", "A0", "ABCD1", "A-1"] {
            assert_eq!(cell_reference(bad), None, "{bad:?}");
        }
    }
}
