//! The cells of the 2025 attributes of a cadre in a planning list, read and written: the
//! discipline records (Kỷ luật), the retirement regime (Chế độ nghỉ hưu), the
//! science-and-technology mark (Cán bộ khoa học, công nghệ) and the yearly ratings (Xếp loại
//! hằng năm). Every column is optional, so a list without them imports as before.
//!
//! A discipline cell holds records separated by `;`, each a form, the decision date and, when
//! known, `công bố <date>`, `khiếu nại` and `vi phạm mới <date>`, separated by `,`:
//! `cảnh cáo, 2024-09-01, công bố 2024-10-15; khiển trách, 2021-03-02, khiếu nại`. A ratings
//! cell holds `year: rating` items separated by `;`: `2023: hoàn thành tốt nhiệm vụ; 2024:
//! không hoàn thành nhiệm vụ`.

use chrono::NaiveDate;

use super::{dates::parse_date, sheet::Cell};
use crate::domain::{
    text::fold, Discipline, DisciplineKind, Rating, RatingLevel, RetirementRegime,
};

fn date(text: &str) -> Result<NaiveDate, String> {
    parse_date(&Cell::Text(text.trim().to_string()))
}

/// The discipline records of a cell; empty for an empty cell.
///
/// # Errors
///
/// Which record and what is wrong with it: an unknown form, a missing or bad date, an unknown
/// item.
pub fn parse_discipline(text: &str) -> Result<Vec<Discipline>, String> {
    let mut out = Vec::new();
    for (i, record) in text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let n = i + 1;
        let mut items = record.split(',').map(str::trim);
        let form = items.next().unwrap_or_default();
        let kind = DisciplineKind::parse(form).ok_or_else(|| {
            format!(
                "record {n}: {form:?} is not a discipline form (khiển trách, cảnh cáo, cách chức, khai trừ, giáng chức, hạ bậc lương)"
            )
        })?;
        let decided = items
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("record {n}: the decision date is missing after {form:?}"))?;
        let decided_on = date(decided).map_err(|e| format!("record {n}: decision date: {e}"))?;
        let mut d = Discipline::new(kind, decided_on);
        for item in items.filter(|s| !s.is_empty()) {
            let key = fold(item);
            if let Some(rest) = key.strip_prefix("cong bo") {
                d.announced_on = Some(date(rest).map_err(|e| format!("record {n}: công bố: {e}"))?);
            } else if let Some(rest) = key.strip_prefix("vi pham moi") {
                d.new_violation_on =
                    Some(date(rest).map_err(|e| format!("record {n}: vi phạm mới: {e}"))?);
            } else if key == "khieu nai" {
                d.complaint_pending = true;
            } else {
                return Err(format!(
                    "record {n}: {item:?} is not one of công bố <ngày>, khiếu nại, vi phạm mới <ngày>"
                ));
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// The cell of a cadre's discipline records, as [`parse_discipline`] reads it.
pub fn format_discipline(records: &[Discipline]) -> String {
    records
        .iter()
        .map(|d| {
            let mut s = format!("{}, {}", d.kind.vi(), d.decided_on);
            if let Some(a) = d.announced_on {
                s.push_str(&format!(", công bố {a}"));
            }
            if d.complaint_pending {
                s.push_str(", khiếu nại");
            }
            if let Some(v) = d.new_violation_on {
                s.push_str(&format!(", vi phạm mới {v}"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The retirement regime of a cell; empty is `general`.
///
/// # Errors
///
/// The accepted values, for any other text.
pub fn parse_regime(text: &str) -> Result<RetirementRegime, String> {
    RetirementRegime::parse(text).ok_or_else(|| {
        format!("{text:?} is not a retirement regime (chung, nữ 60, công an, quân đội)")
    })
}

/// The science-and-technology mark: `x`, `có` or `1` marks, empty, `không` or `0` does not.
///
/// # Errors
///
/// The accepted values, for any other text.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match fold(text.trim()).as_str() {
        "" | "khong" | "0" | "no" => Ok(false),
        "x" | "co" | "1" | "yes" => Ok(true),
        _ => Err(format!("{text:?} is not a mark (x, có or empty)")),
    }
}

/// The yearly ratings of a cell; empty for an empty cell.
///
/// # Errors
///
/// Which item and what is wrong with it.
pub fn parse_ratings(text: &str) -> Result<Vec<Rating>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (year, level) = item
                .split_once(':')
                .ok_or_else(|| format!("{item:?} is not year: rating"))?;
            let year: i32 = year
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: {:?} is not a year", year.trim()))?;
            let level = RatingLevel::parse(level).ok_or_else(|| {
                format!(
                    "{item:?}: {:?} is not a rating (hoàn thành xuất sắc nhiệm vụ, hoàn thành tốt nhiệm vụ, hoàn thành nhiệm vụ, không hoàn thành nhiệm vụ)",
                    level.trim()
                )
            })?;
            Ok(Rating { year, level })
        })
        .collect()
}

/// The cell of a cadre's ratings, as [`parse_ratings`] reads it.
pub fn format_ratings(ratings: &[Rating]) -> String {
    ratings
        .iter()
        .map(|r| format!("{}: {}", r.year, r.level.vi()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::d;

    #[test]
    fn discipline_cells_round_trip_and_bad_ones_say_why() {
        let text = "cảnh cáo, 2024-09-01, công bố 2024-10-15, khiếu nại; giáng chức, 01/03/2023, vi phạm mới 2024-02-02";
        let records = parse_discipline(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].kind, DisciplineKind::Warning);
        assert_eq!(records[0].announced_on, Some(d(2024, 10, 15)));
        assert!(records[0].complaint_pending);
        assert_eq!(records[1].decided_on, d(2023, 3, 1));
        assert_eq!(records[1].new_violation_on, Some(d(2024, 2, 2)));
        assert_eq!(
            parse_discipline(&format_discipline(&records)).unwrap(),
            records
        );
        assert!(parse_discipline("").unwrap().is_empty());
        assert!(parse_discipline("phạt tiền, 2024-01-01")
            .unwrap_err()
            .contains("record 1"));
        assert!(parse_discipline("khiển trách")
            .unwrap_err()
            .contains("decision date"));
        assert!(parse_discipline("khiển trách, 2024-01-01, sớm")
            .unwrap_err()
            .contains("sớm"));
    }

    #[test]
    fn regime_flag_and_ratings() {
        assert_eq!(parse_regime("").unwrap(), RetirementRegime::General);
        assert_eq!(parse_regime("Nữ 60").unwrap(), RetirementRegime::Female60);
        assert_eq!(parse_regime("công an").unwrap(), RetirementRegime::Police);
        assert!(parse_regime("hải quân").is_err());
        assert!(parse_flag("x").unwrap() && !parse_flag("").unwrap());
        assert!(parse_flag("maybe").is_err());
        let r = parse_ratings("2023: hoàn thành tốt nhiệm vụ; 2024: không hoàn thành nhiệm vụ")
            .unwrap();
        assert_eq!(r[1].level, RatingLevel::NotCompleted);
        assert_eq!(parse_ratings(&format_ratings(&r)).unwrap(), r);
        assert!(parse_ratings("2024 tốt").is_err());
    }
}
