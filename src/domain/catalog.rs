//! Reference data: the position catalogue (chức danh) and the terms (nhiệm kỳ). Both are data
//! files so that a province can replace them with its own (the grades shipped here approximate
//! Quy định 368-QĐ/TW). Parsed here from text; `config` reads the files.

use std::{collections::BTreeMap, str::FromStr};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{parse_date, Level, ParseError};

/// What kind of seat a position is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionKind {
    /// A party-committee seat (cấp ủy).
    Committee,
    /// A leadership or management post (lãnh đạo, quản lý).
    Leadership,
}

impl FromStr for PositionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "committee" => Ok(Self::Committee),
            "leadership" => Ok(Self::Leadership),
            other => Err(format!("unknown position kind {other:?}")),
        }
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
    /// The date from which ages are computed for this term (R6).
    pub age_reference_date: NaiveDate,
    /// The term it is planned together with.
    pub pairs_with: Option<String>,
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

fn records(text: &str) -> impl Iterator<Item = (u64, Result<csv::StringRecord, csv::Error>)> + '_ {
    csv::Reader::from_reader(text.as_bytes())
        .into_records()
        .enumerate()
        .map(|(i, r)| (i as u64 + 2, r))
}

/// Parses `code,level,kind,grade,title_vi,title_en`.
///
/// # Errors
///
/// A [`ParseError`] for the first line that is not CSV, or has an unknown level or kind, or a
/// grade that is not a number.
pub fn parse_positions(text: &str) -> Result<BTreeMap<String, Position>, ParseError> {
    let mut out = BTreeMap::new();
    for (line, rec) in records(text) {
        let bad = |problem: String| ParseError {
            file: "positions",
            line,
            problem,
        };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let f = |n: usize| rec.get(n).unwrap_or("").trim();
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

/// Parses `code,kind,start,end,age_reference_date,pairs_with`.
///
/// # Errors
///
/// A [`ParseError`] for the first line that is not CSV or has a date that is not a real day.
pub fn parse_terms(text: &str) -> Result<BTreeMap<String, Term>, ParseError> {
    let mut out = BTreeMap::new();
    for (line, rec) in records(text) {
        let bad = |problem: String| ParseError {
            file: "terms",
            line,
            problem,
        };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let f = |n: usize| rec.get(n).unwrap_or("").trim();
        let date = |n: usize, name: &str| parse_date(name, f(n)).map_err(|e| bad(e.to_string()));
        let term = Term {
            code: f(0).to_string(),
            kind: f(1).to_string(),
            start: date(2, "start")?,
            end: date(3, "end")?,
            age_reference_date: date(4, "age_reference_date")?,
            pairs_with: Some(f(5).to_string()).filter(|s| !s.is_empty()),
        };
        out.insert(term.code.clone(), term);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_parses() {
        let c = Catalog::parse(
            include_str!("../../data/positions.csv"),
            include_str!("../../data/terms.csv"),
        )
        .unwrap();
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
    fn bad_grade_is_named() {
        let err = parse_positions(
            "code,level,kind,grade,title_vi,title_en\nX,commune,leadership,high,a,b\n",
        )
        .unwrap_err();
        assert_eq!((err.file, err.line), ("positions", 2));
        assert!(err.problem.contains("grade"), "{err}");
    }
}
