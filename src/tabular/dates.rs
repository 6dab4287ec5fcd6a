//! Dates as office spreadsheets hold them: date cells, Excel serial numbers (1900 and 1904
//! date systems) and text as dd/mm/yyyy, d/m/yy or yyyy-mm-dd. Shared by the list importer and
//! the 2025 attribute columns.

use chrono::{Days, NaiveDate};

use super::sheet::Cell;

/// A date from a date cell, an Excel serial number (1900 date system, also written as text),
/// or text as dd/mm/yyyy, d/m/yy or yyyy-mm-dd.
///
/// # Errors
///
/// What is wrong, in words, as [`parse_date_in`] says it.
pub fn parse_date(cell: &Cell) -> Result<NaiveDate, String> {
    parse_date_in(cell, false)
}

/// Like [`parse_date`], with serial numbers counted in the 1904 date system when `date_1904`.
///
/// # Errors
///
/// What is wrong, in words, if the cell is empty or holds an Excel error, or its number or
/// text is not a date in one of the accepted forms.
pub fn parse_date_in(cell: &Cell, date_1904: bool) -> Result<NaiveDate, String> {
    match cell {
        Cell::Empty => Err("must not be empty".into()),
        Cell::Date(d) => Ok(*d),
        Cell::Number(n) => from_serial(*n, date_1904).ok_or_else(|| format!("{n} is not a date")),
        // A date column saved as text from a General-formatted column: its serial number.
        Cell::Text(s) if s.trim().len() == 5 && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            let n: f64 = s.trim().parse().unwrap_or(0.0);
            from_serial(n, date_1904).ok_or_else(|| format!("{s:?} is not a date"))
        }
        Cell::Text(s) => parse_date_text(s.trim()),
        Cell::Error(e) => Err(format!("holds the Excel error {e}")),
    }
}

/// The date of an Excel serial number: in the 1900 date system day 1 is 1 January 1900 and
/// day 60 the 29 February 1900 that never was; in the 1904 system day 0 is 1 January 1904.
fn from_serial(serial: f64, date_1904: bool) -> Option<NaiveDate> {
    if date_1904 {
        if !(0.0..2_957_004.0).contains(&serial) {
            return None;
        }
        let epoch = NaiveDate::from_ymd_opt(1904, 1, 1)?;
        return epoch.checked_add_days(Days::new(serial.trunc() as u64));
    }
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let days = serial.trunc() as u64;
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 31)?;
    match days {
        60 => None,
        1..60 => epoch.checked_add_days(Days::new(days)),
        _ => epoch.checked_add_days(Days::new(days - 1)),
    }
}

fn parse_date_text(s: &str) -> Result<NaiveDate, String> {
    let parts: Vec<&str> = s.split(['/', '-', '.']).map(str::trim).collect();
    let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let shape = || format!("{s:?} is not a date (write dd/mm/yyyy)");
    if parts.len() != 3 || !parts.iter().all(digits) {
        return Err(shape());
    }
    let n = |i: usize| parts[i].parse::<u32>().map_err(|_| shape());
    let (y, m, d) = if parts[0].len() == 4 {
        (n(0)?, n(1)?, n(2)?)
    } else if parts[2].len() == 4 {
        (n(2)?, n(1)?, n(0)?)
    } else if parts[2].len() == 2 && parts[0].len() <= 2 && parts[1].len() <= 2 {
        // d/m/yy: two-digit years as Excel reads them, 00–29 in the 2000s, 30–99 in the 1900s.
        let yy = n(2)?;
        (if yy < 30 { 2000 + yy } else { 1900 + yy }, n(1)?, n(0)?)
    } else {
        return Err(format!(
            "{s:?} is not a date (write dd/mm/yyyy, with a 4-digit year)"
        ));
    };
    i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(|| format!("{s:?} is not a real calendar date"))
}
