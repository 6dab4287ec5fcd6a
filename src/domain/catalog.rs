//! Reference data: the position catalogue (chức danh) and the terms (nhiệm kỳ). Both are data
//! files so that a province can replace them with its own (the grades shipped here approximate
//! Quy định 368-QĐ/TW). Parsed here from text; `config` reads the files.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{parse_date, Level, ParseError};

crate::domain::words::words! {
    /// What kind of seat a position is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum PositionKind ("position kind") {
        /// A party-committee seat (cấp ủy).
        Committee = "committee",
        /// A leadership or management post (lãnh đạo, quản lý).
        Leadership = "leadership",
    }
}

/// One position of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Catalogue code, e.g. `D.CT.UBND`.
    pub code: String,
    /// The level of the units that have this position.
    pub level: Level,
    /// Committee seat or leadership post.
    pub kind: PositionKind,
    /// Seniority, comparable across levels; larger is more senior (used by R1).
    pub grade: u32,
    /// Vietnamese title.
    pub title_vi: String,
    /// English title.
    pub title_en: String,
}

/// A term (nhiệm kỳ) of the party committee or of the people's council and committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    /// Code such as `2025-2030`.
    pub code: String,
    /// `party` or `government`.
    pub kind: String,
    /// First day of the term.
    pub start: NaiveDate,
    /// Last day of the term.
    pub end: NaiveDate,
    /// The date from which ages are computed for this term (R6), for a level the term gives
    /// no date of its own.
    pub age_reference_date: NaiveDate,
    /// R6: the age reference date per level of the planned position, where it differs from
    /// `age_reference_date` (Chỉ thị 45-CT/TW gives one per level for 2025–2030: communes
    /// 07/2025, province 09/2025). Optional columns `age_reference_province`,
    /// `age_reference_district` and `age_reference_commune` of `terms.csv`.
    #[serde(default)]
    pub age_reference_by_level: BTreeMap<Level, NaiveDate>,
    /// The term it is planned together with.
    pub pairs_with: Option<String>,
}

impl Term {
    /// The age reference date (R6) of a position at `level`: the level's own date if the term
    /// gives one, else the term's.
    pub fn age_reference(&self, level: Option<Level>) -> NaiveDate {
        level
            .and_then(|l| self.age_reference_by_level.get(&l).copied())
            .unwrap_or(self.age_reference_date)
    }
}

/// The catalogue a node works with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Positions by code.
    pub positions: BTreeMap<String, Position>,
    /// Terms by code.
    pub terms: BTreeMap<String, Term>,
}

impl Catalog {
    /// Parses the text of `positions.csv` and `terms.csv`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the file and the first line that does not parse.
    pub fn parse(positions: &str, terms: &str) -> Result<Self, ParseError> {
        Ok(Self {
            positions: parse_positions(positions)?,
            terms: parse_terms(terms)?,
        })
    }

    /// The position with this code, if the catalogue has it.
    pub fn position(&self, code: &str) -> Option<&Position> {
        self.positions.get(code)
    }

    /// The term with this code, if the catalogue has it.
    pub fn term(&self, code: &str) -> Option<&Term> {
        self.terms.get(code)
    }
}

/// Parses `code,level,kind,grade,title_vi,title_en`.
///
/// # Errors
///
/// A [`ParseError`] for the first line that is not CSV, or has an unknown level or kind, or a
/// grade that is not a number.
pub fn parse_positions(text: &str) -> Result<BTreeMap<String, Position>, ParseError> {
    let mut out = BTreeMap::new();
    for rec in super::csv_records("positions", text) {
        let rec = rec?;
        let bad = |problem: String| rec.bad(problem);
        let f = |n: usize| rec.cell(n);
        let position = Position {
            code: f(0).to_string(),
            level: f(1).parse().map_err(bad)?,
            kind: f(2).parse().map_err(bad)?,
            grade: f(3)
                .parse()
                .map_err(|_| bad(format!("grade {:?} is not a number", f(3))))?,
            title_vi: super::text::nfc(f(4)),
            title_en: f(5).to_string(),
        };
        out.insert(position.code.clone(), position);
    }
    Ok(out)
}

/// Parses `code,kind,start,end,age_reference_date,pairs_with`, with the optional columns
/// `age_reference_province`, `age_reference_district` and `age_reference_commune` (by name, in
/// any order after those six; an empty cell means the term's own date).
///
/// # Errors
///
/// A [`ParseError`] for the first line that is not CSV or has a date that is not a real day.
pub fn parse_terms(text: &str) -> Result<BTreeMap<String, Term>, ParseError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().cloned().map_err(|e| ParseError {
        file: "terms",
        line: 1,
        problem: e.to_string(),
    })?;
    let by_level: Vec<(usize, Level, &str)> = [
        (Level::Province, "age_reference_province"),
        (Level::District, "age_reference_district"),
        (Level::Commune, "age_reference_commune"),
    ]
    .into_iter()
    .filter_map(|(level, name)| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .map(|i| (i, level, name))
    })
    .collect();
    let mut out = BTreeMap::new();
    for rec in super::csv_records("terms", text) {
        let rec = rec?;
        let bad = |problem: String| rec.bad(problem);
        let f = |n: usize| rec.cell(n);
        let date = |n: usize, name: &str| parse_date(name, f(n)).map_err(|e| bad(e.to_string()));
        let mut levels = BTreeMap::new();
        for &(i, level, name) in &by_level {
            if !f(i).is_empty() {
                levels.insert(level, date(i, name)?);
            }
        }
        let term = Term {
            code: f(0).to_string(),
            kind: f(1).to_string(),
            start: date(2, "start")?,
            end: date(3, "end")?,
            age_reference_date: date(4, "age_reference_date")?,
            pairs_with: Some(f(5).to_string()).filter(|s| !s.is_empty()),
            age_reference_by_level: levels,
        };
        out.insert(term.code.clone(), term);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue the program ships (`data/positions.csv`, `data/terms.csv`).
    fn shipped() -> Catalog {
        Catalog::parse(
            include_str!("../../data/positions.csv"),
            include_str!("../../data/terms.csv"),
        )
        .unwrap()
    }

    #[test]
    fn shipped_catalogue_parses() {
        let c = shipped();
        let p = c.position("D.CT.UBND").unwrap();
        assert_eq!(
            (p.level, p.kind, p.grade),
            (Level::District, PositionKind::Leadership, 70)
        );
        assert_eq!(
            c.term("2025-2030").unwrap().pairs_with.as_deref(),
            Some("2026-2031")
        );
    }

    #[test]
    fn chi_thi_45_dates_by_level_and_old_files_without_them() {
        let c = shipped();
        let t = c.term("2025-2030").unwrap();
        let day = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        assert_eq!(t.age_reference(Some(Level::Commune)), day(2025, 7));
        assert_eq!(t.age_reference(Some(Level::Province)), day(2025, 9));
        assert_eq!(t.age_reference(Some(Level::District)), day(2025, 6));
        assert_eq!(t.age_reference(None), day(2025, 7));
        let old = parse_terms(
            "code,kind,start,end,age_reference_date,pairs_with\n2025-2030,party,2025-10-01,2030-09-30,2025-07-01,\n",
        )
        .unwrap();
        assert_eq!(
            old["2025-2030"].age_reference(Some(Level::Province)),
            day(2025, 7)
        );
        let err = parse_terms(
            "code,kind,start,end,age_reference_date,pairs_with,age_reference_province\n2025-2030,party,2025-10-01,2030-09-30,2025-07-01,,2025-13-01\n",
        )
        .unwrap_err();
        assert!(err.problem.contains("age_reference_province"), "{err}");
    }

    #[test]
    fn bad_grade_is_named() {
        let err = parse_positions(
            "code,level,kind,grade,title_vi,title_en\nX,commune,leadership,high,a,b\n",
        )
        .unwrap_err();
        assert_eq!((err.file, err.line), ("positions", 2));
        assert!(err.problem.contains("grade"), "{err}");
    }
}
