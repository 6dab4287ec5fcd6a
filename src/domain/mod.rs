//! The domain of cadre planning (quy hoạch cán bộ): units, positions, terms, cadres, plans and
//! their validation. Plain structs and pure functions: nothing here knows about gRPC or storage.

pub mod catalog;
pub mod history;
pub mod name;
pub mod plan;
pub mod records;
pub mod text;
pub mod unit;
pub mod validate;
pub mod words;

pub use catalog::{Catalog, Position, PositionKind, Term};
pub use history::{Hierarchy, LaterReorganisation, Mapping, Share, UnitHistory};
pub use plan::{
    BallotRound, Body, Cadre, CompactString, Decision, Discipline, DisciplineKind, Entry,
    EntryOrigin, EntrySource, Gender, Outcome, Plan, PlanId, PlanStatus, Rating, RatingLevel,
    RetirementRegime, Tally,
};
pub use records::{Conflict, Fulfilment, FulfilmentKind, OutboxItem, PlanHeader, Receipt};
pub use unit::{Level, Structure, Unit};

/// A problem with one field of some input: the field's path (`entry.cadre.national_id`) and
/// what is wrong with it, said so that a clerk can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// Dotted path of the offending field, as named in the proto messages.
    pub field: String,
    /// What is wrong, in plain words.
    pub problem: String,
}

impl FieldError {
    /// A problem with `field`, described by `problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A line of a reference data file (units, positions, terms) that does not parse. The domain
/// parses the text; whoever read the file adds its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {problem}", if *line == 0 { String::new() } else { format!(" line {line}") })]
pub struct ParseError {
    /// Which file: `units`, `positions` or `terms`.
    pub file: &'static str,
    /// The line (1-based; the header is line 1; 0 for a problem of the whole file).
    pub line: u64,
    /// What is wrong, in plain words.
    pub problem: String,
}

/// One record of a CSV reference file (units, mappings, positions, terms), with its line.
pub(crate) struct CsvRecord {
    file: &'static str,
    line: u64,
    record: csv::StringRecord,
}

impl CsvRecord {
    /// Cell `n`, trimmed; empty where the record is shorter.
    pub(crate) fn cell(&self, n: usize) -> &str {
        self.record.get(n).unwrap_or("").trim()
    }

    /// The error of this record's line: `problem`.
    pub(crate) fn bad(&self, problem: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file,
            line: self.line,
            problem: problem.into(),
        }
    }
}

/// The records of `text`, the CSV of the file named `file`, below its header (line 1); a
/// record that is not CSV is the [`ParseError`] of its line.
pub(crate) fn csv_records<'t>(
    file: &'static str,
    text: &'t str,
) -> impl Iterator<Item = Result<CsvRecord, ParseError>> + 't {
    csv::Reader::from_reader(text.as_bytes())
        .into_records()
        .enumerate()
        .map(move |(i, record)| {
            let line = i as u64 + 2;
            match record {
                Ok(record) => Ok(CsvRecord { file, line, record }),
                Err(e) => Err(ParseError {
                    file,
                    line,
                    problem: e.to_string(),
                }),
            }
        })
}

/// Parses an ISO date (`YYYY-MM-DD`), naming `field` when it is not a real calendar date.
///
/// # Errors
///
/// A [`FieldError`] on `field` if `value` is not a `YYYY-MM-DD` calendar date, or lies
/// outside 1900–2100.
pub fn parse_date(field: &str, value: &str) -> Result<chrono::NaiveDate, FieldError> {
    let date = chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        FieldError::new(
            field,
            format!(
                "{} is not a valid date (expected YYYY-MM-DD, a real calendar day)",
                validate::prefix(value)
            ),
        )
    })?;
    let lo = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid constant");
    let hi = chrono::NaiveDate::from_ymd_opt(2100, 12, 31).expect("valid constant");
    if date < lo || date > hi {
        return Err(FieldError::new(
            field,
            format!("{value} is outside the accepted range 1900-01-01..2100-12-31"),
        ));
    }
    Ok(date)
}
