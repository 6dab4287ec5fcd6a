//! R7, the statutory retirement age (tuổi nghỉ hưu) of the Labour Code 2019 and Decree
//! 135/2020/NĐ-CP, month-exact. Used by R6 (age at the term's reference date) and R12 (over age).
//!
//! The age in force rises each year: for men 60 years 3 months in 2021, 3 months more a year,
//! 62 years from 2028; for women 55 years 4 months in 2021, 4 months more a year, 60 years from
//! 2035. A person retires in the first month in which their age (counted in whole months from
//! the month of birth; the day does not matter) reaches the age in force in that month's year;
//! retirement takes effect at the end of that month and the pension runs from the next.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::Gender;

/// The schedule of one gender: the age in force, in months, year by year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The first year of the rising schedule (2021).
    pub first_year: i32,
    /// Age in months before `first_year` (60 years for men, 55 for women).
    pub before_months: u32,
    /// Age in months in `first_year`.
    pub first_months: u32,
    /// Months added each following year.
    pub step_months: u32,
    /// The age in months at which the rise stops.
    pub cap_months: u32,
}

impl Schedule {
    /// The retirement age, in months, in force in `year`.
    pub fn age_in_force(&self, year: i32) -> u32 {
        if year < self.first_year {
            return self.before_months;
        }
        let years = u64::try_from(i64::from(year) - i64::from(self.first_year)).unwrap_or(0);
        let age = u64::from(self.first_months) + years * u64::from(self.step_months);
        u32::try_from(age.min(u64::from(self.cap_months))).unwrap_or(self.cap_months)
    }

    /// The largest age the schedule can ask for, in months.
    fn max_months(&self) -> u32 {
        self.before_months.max(self.cap_months)
    }
}

/// The schedules of men and women.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetirementSchedule {
    /// Men: 60y3m in 2021, +3 months a year, 62 years from 2028.
    pub men: Schedule,
    /// Women: 55y4m in 2021, +4 months a year, 60 years from 2035.
    pub women: Schedule,
}

impl Default for RetirementSchedule {
    fn default() -> Self {
        Self {
            men: Schedule {
                first_year: 2021,
                before_months: 60 * 12,
                first_months: 60 * 12 + 3,
                step_months: 3,
                cap_months: 62 * 12,
            },
            women: Schedule {
                first_year: 2021,
                before_months: 55 * 12,
                first_months: 55 * 12 + 4,
                step_months: 4,
                cap_months: 60 * 12,
            },
        }
    }
}

/// A month as a count of months since year 0 (January = 0).
fn month_index(year: i32, month: u32) -> i64 {
    i64::from(year) * 12 + i64::from(month) - 1
}

/// The (year, month) of a month index.
fn from_index(index: i64) -> (i32, u32) {
    let year = index.div_euclid(12);
    let month = index.rem_euclid(12) + 1;
    (
        i32::try_from(year).unwrap_or(i32::MAX),
        u32::try_from(month).unwrap_or(12),
    )
}

impl RetirementSchedule {
    /// Checks that every age is below 100 years; the error names the field.
    ///
    /// # Errors
    ///
    /// The field and what is wrong with it, if any age in months is 0 or 1200 (100 years) or
    /// more.
    pub fn validate(&self) -> Result<(), String> {
        for (name, s) in [("men", &self.men), ("women", &self.women)] {
            for (field, v) in [
                ("before_months", s.before_months),
                ("first_months", s.first_months),
                ("cap_months", s.cap_months),
            ] {
                if v == 0 || v >= 1200 {
                    return Err(format!(
                        "{name}.{field}: {v} is not an age in months below 100 years"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The schedule of one gender.
    pub fn for_gender(&self, gender: Gender) -> &Schedule {
        match gender {
            Gender::Male => &self.men,
            Gender::Female => &self.women,
        }
    }

    /// The (year, month) in which a person born on `birth` reaches retirement age: the first
    /// month whose age in months reaches the age in force in that month's year.
    pub fn retirement_month(&self, birth: NaiveDate, gender: Gender) -> (i32, u32) {
        self.for_gender(gender).retirement_month(birth)
    }

    /// Whole months from `reference` to the moment of retirement (the end of the retirement
    /// month, i.e. the first day of the next month); negative once retired. A person whose
    /// retirement month is June 2030 has exactly 60 months from 1 July 2025. R12 counts so;
    /// R6 counts [`Schedule::calendar_months_to_retirement`].
    pub fn months_until_retirement(
        &self,
        birth: NaiveDate,
        gender: Gender,
        reference: NaiveDate,
    ) -> i64 {
        self.for_gender(gender)
            .months_until_retirement(birth, reference)
    }
}

impl Schedule {
    /// A flat retirement age of `months`, the same in every year (the `female_60` regime).
    pub fn flat(months: u32) -> Self {
        Self {
            first_year: 2021,
            before_months: months,
            first_months: months,
            step_months: 0,
            cap_months: months,
        }
    }

    /// The (year, month) in which a person born on `birth` reaches retirement age under this
    /// schedule.
    pub fn retirement_month(&self, birth: NaiveDate) -> (i32, u32) {
        from_index(self.retirement_index(birth))
    }

    fn retirement_index(&self, birth: NaiveDate) -> i64 {
        let schedule = self;
        let born = month_index(birth.year(), birth.month());
        let max = i64::from(schedule.max_months());
        // No year before the one in which the youngest age the schedule knows is reached can
        // hold the month, so the search starts there.
        let youngest = schedule
            .before_months
            .min(schedule.first_months)
            .min(schedule.cap_months);
        let from = i32::try_from((born + i64::from(youngest)).div_euclid(12))
            .unwrap_or(i32::MAX)
            .max(birth.year());
        // The age in force never rises by more than 12 months a year in any sane schedule, so
        // the month is found by the year `birth + max / 12 + 1`; the bound keeps the loop finite
        // for any schedule.
        for year in from..=birth
            .year()
            .saturating_add(i32::try_from(max / 12 + 2).unwrap_or(0))
        {
            let reached = born + i64::from(schedule.age_in_force(year));
            if reached < month_index(year, 12) + 1 {
                return reached.max(month_index(year, 1));
            }
        }
        born + max
    }

    /// Whole months from `reference` to the end of the retirement month; see
    /// [`RetirementSchedule::months_until_retirement`].
    pub fn months_until_retirement(&self, birth: NaiveDate, reference: NaiveDate) -> i64 {
        let end = self.retirement_index(birth) + 1;
        let start = month_index(reference.year(), reference.month());
        end - start - i64::from(reference.day() > 1)
    }

    /// R6's count: calendar months from the reference month to the retirement month,
    /// retirement year × 12 + month − reference year × 12 − month, as the published cut-offs of
    /// Chỉ thị 35-CT/TW (2020) and Chỉ thị 45-CT/TW (2025) count them. From a reference of
    /// 07/2025 a retirement in 06/2030 is 59 months (`docs/rules.md`, R6).
    pub fn calendar_months_to_retirement(&self, birth: NaiveDate, reference: NaiveDate) -> i64 {
        self.retirement_index(birth) - month_index(reference.year(), reference.month())
    }
}

/// The (year, month) in which a person reaches the statutory retirement age (R7), by the
/// schedule of Decree 135/2020.
pub fn retirement_month(birth: NaiveDate, gender: Gender) -> (i32, u32) {
    RetirementSchedule::default().retirement_month(birth, gender)
}

/// Whole months from `reference_date` to retirement under Decree 135/2020's schedule; see
/// [`RetirementSchedule::months_until_retirement`].
pub fn months_until_retirement(birth: NaiveDate, gender: Gender, reference_date: NaiveDate) -> i64 {
    RetirementSchedule::default().months_until_retirement(birth, gender, reference_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::d;

    #[test]
    fn calendar_months_from_july_2025_to_june_2030_are_59() {
        let men = RetirementSchedule::default().men;
        // Born June 1968: 62 in June 2030.
        assert_eq!(men.retirement_month(d(1968, 6, 20)), (2030, 6));
        assert_eq!(
            men.calendar_months_to_retirement(d(1968, 6, 20), d(2025, 7, 1)),
            59
        );
        assert_eq!(
            men.calendar_months_to_retirement(d(1968, 7, 1), d(2025, 7, 1)),
            60
        );
        // The day of the reference does not count.
        assert_eq!(
            men.calendar_months_to_retirement(d(1968, 7, 1), d(2025, 7, 31)),
            60
        );
        // A flat 60 for women of the female_60 regime.
        let f60 = Schedule::flat(720);
        assert_eq!(f60.retirement_month(d(1972, 4, 9)), (2032, 4));
    }

    /// (birth year, birth month) → (retirement year, month, age at retirement in months), from
    /// the appendix of Decree 135/2020 (Phụ lục I, men). The appendix lists the month the
    /// pension starts; the retirement month is the one before it.
    type Example = ((i32, u32), (i32, u32), u32);

    const MEN: &[Example] = &[
        ((1960, 12), (2020, 12), 720),
        ((1961, 1), (2021, 4), 723),
        ((1961, 9), (2021, 12), 723),
        ((1961, 10), (2022, 4), 726),
        ((1962, 1), (2022, 7), 726),
        ((1962, 6), (2022, 12), 726),
        ((1962, 7), (2023, 4), 729),
        ((1963, 3), (2023, 12), 729),
        ((1963, 4), (2024, 4), 732),
        ((1963, 12), (2024, 12), 732),
        ((1964, 1), (2025, 4), 735),
        ((1964, 9), (2025, 12), 735),
        ((1964, 10), (2026, 4), 738),
        ((1965, 7), (2027, 4), 741),
        ((1966, 3), (2027, 12), 741),
        ((1966, 4), (2028, 4), 744),
        ((1970, 6), (2032, 6), 744),
    ];

    /// The same for women (Phụ lục II).
    const WOMEN: &[Example] = &[
        ((1965, 12), (2020, 12), 660),
        ((1966, 1), (2021, 5), 664),
        ((1966, 8), (2021, 12), 664),
        ((1966, 9), (2022, 5), 668),
        ((1967, 4), (2022, 12), 668),
        ((1967, 5), (2023, 5), 672),
        ((1967, 12), (2023, 12), 672),
        ((1968, 1), (2024, 5), 676),
        ((1968, 8), (2024, 12), 676),
        ((1968, 9), (2025, 5), 680),
        ((1974, 8), (2033, 12), 712),
        ((1974, 9), (2034, 5), 716),
        ((1975, 4), (2034, 12), 716),
        ((1975, 5), (2035, 5), 720),
        ((1980, 2), (2040, 2), 720),
    ];

    /// Every example of an appendix: the retirement month of a person of `gender` born on
    /// `day` of the example's month, and the age in months then.
    fn matches_appendix(examples: &[Example], gender: Gender, day: u32) {
        for &((by, bm), want, age) in examples {
            let got = retirement_month(d(by, bm, day), gender);
            assert_eq!(got, want, "{gender:?} born {bm}/{by}");
            assert_eq!(
                month_index(got.0, got.1) - month_index(by, bm),
                i64::from(age)
            );
        }
    }

    #[test]
    fn men_match_decree_135_appendix() {
        matches_appendix(MEN, Gender::Male, 15);
    }

    #[test]
    fn women_match_decree_135_appendix() {
        matches_appendix(WOMEN, Gender::Female, 1);
    }

    #[test]
    fn man_born_january_1962_retires_july_2022_at_60_years_6_months() {
        assert_eq!(retirement_month(d(1962, 1, 31), Gender::Male), (2022, 7));
        assert_eq!(retirement_month(d(1962, 1, 1), Gender::Male), (2022, 7));
    }

    #[test]
    fn the_cap_years() {
        let s = RetirementSchedule::default();
        assert_eq!(s.men.age_in_force(2027), 741);
        assert_eq!(s.men.age_in_force(2028), 744);
        assert_eq!(s.men.age_in_force(2040), 744);
        assert_eq!(s.women.age_in_force(2034), 716);
        assert_eq!(s.women.age_in_force(2035), 720);
        assert_eq!(s.women.age_in_force(2050), 720);
        assert_eq!(s.men.age_in_force(2020), 720);
    }

    #[test]
    fn months_until_retirement_counts_to_the_end_of_the_retirement_month() {
        // Man born January 1962 retires in July 2022: the pension starts 1 August 2022.
        let birth = d(1962, 1, 10);
        let on = |day| months_until_retirement(birth, Gender::Male, day);
        assert_eq!(on(d(2017, 8, 1)), 60);
        assert_eq!(on(d(2017, 8, 2)), 59);
        assert_eq!(on(d(2017, 7, 31)), 60);
        assert_eq!(on(d(2022, 7, 1)), 1);
        assert_eq!(on(d(2022, 8, 1)), 0);
        assert_eq!(on(d(2023, 8, 1)), -12);
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let s = RetirementSchedule::default();
        for birth in [
            NaiveDate::MIN,
            NaiveDate::MAX,
            d(1900, 1, 1),
            d(2100, 12, 31),
        ] {
            for g in [Gender::Male, Gender::Female] {
                let _ = s.retirement_month(birth, g);
                let _ = s.months_until_retirement(birth, g, NaiveDate::MAX);
            }
        }
    }
}
