//! The page's two languages: Vietnamese first, English on request; dates as dd/mm/yyyy.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    domain::{Gender, Level, PlanStatus},
    node::SortKey,
    rules::Severity,
};

/// A language of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt, the default.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The language a cookie value names; Vietnamese unless it says `en`.
    pub fn from_cookie(value: Option<&str>) -> Self {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    /// Its code, as in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The Vietnamese or the English text.
    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A plan status.
    pub fn status(self, s: PlanStatus) -> &'static str {
        let en = match s {
            PlanStatus::Draft => "Draft",
            PlanStatus::Adopted => "Adopted",
            PlanStatus::Submitted => "Submitted",
            PlanStatus::Received => "Awaiting approval",
            PlanStatus::Approved => "Approved",
            PlanStatus::Returned => "Returned",
        };
        self.t(s.vi_title(), en)
    }

    /// A gender.
    pub fn gender(self, g: Gender) -> &'static str {
        match g {
            Gender::Male => self.t("Nam", "Male"),
            Gender::Female => self.t("Nữ", "Female"),
        }
    }

    /// A level of government.
    pub fn level(self, level: Level) -> &'static str {
        match level {
            Level::Province => self.t("Tỉnh", "Province"),
            Level::District => self.t("Huyện", "District"),
            Level::Commune => self.t("Xã", "Commune"),
        }
    }

    /// An order of the consolidated list.
    pub fn sort(self, k: SortKey) -> &'static str {
        match k {
            SortKey::Name => self.t("Tên (kiểu Việt)", "Name (Vietnamese)"),
            SortKey::Unit => self.t("Đơn vị", "Unit"),
            SortKey::Position => self.t("Chức danh", "Position"),
            SortKey::Birth => self.t("Ngày sinh", "Birth date"),
            SortKey::Votes => self.t("Số phiếu", "Votes"),
        }
    }

    /// A severity.
    pub fn severity(self, s: Severity) -> &'static str {
        match s {
            Severity::Error => self.t("Lỗi", "Error"),
            Severity::Warning => self.t("Cảnh báo", "Warning"),
        }
    }
}

/// A date as dd/mm/yyyy.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// A moment as dd/mm/yyyy hh:mm (UTC+7, the time of Vietnam).
pub fn moment(t: DateTime<Utc>) -> String {
    let local = t + chrono::Duration::hours(7);
    local.format("%d/%m/%Y %H:%M").to_string()
}
