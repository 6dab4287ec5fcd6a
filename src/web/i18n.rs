//! The page's two languages: Vietnamese first, English on request; dates as dd/mm/yyyy.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    domain::{Body, Gender, Level, Outcome, PlanStatus},
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

    /// The body that held a ballot round.
    pub fn body(self, b: Body) -> &'static str {
        match b {
            Body::KeyCadresConference => {
                self.t("Hội nghị cán bộ chủ chốt", "Key cadres' conference")
            }
            Body::ExecutiveCommittee => self.t("Ban Chấp hành", "Executive committee"),
            Body::StandingCommittee => self.t("Ban Thường vụ", "Standing committee"),
        }
    }

    /// An approving level's decision.
    pub fn outcome(self, o: Outcome) -> &'static str {
        match o {
            Outcome::Approve => self.t("Phê duyệt", "Approved"),
            Outcome::Return => self.t("Trả lại", "Returned"),
        }
    }

    /// An action of the audit trail, as the node records it (`receive_push`, `decide`, …); one
    /// this table does not know is shown as recorded.
    pub fn action(self, action: &str) -> String {
        let (vi, en) = match action {
            "create_draft" => ("Tạo dự thảo", "Draft created"),
            "put_entry" => ("Ghi một dòng", "Entry written"),
            "remove_entry" => ("Xoá một dòng", "Entry removed"),
            "record_round" => ("Ghi vòng bỏ phiếu", "Ballot round recorded"),
            "import" => ("Nhập từ bảng tính", "Imported from a spreadsheet"),
            "adopt" => ("Thông qua", "Adopted"),
            "submit" => ("Gửi lên", "Submitted"),
            "delivered" => ("Cấp trên đã nhận", "Delivered"),
            "receive_push" => ("Nhận từ cấp dưới", "Received from below"),
            "decide" => ("Quyết định", "Decided"),
            "apply_decisions" => (
                "Nhận quyết định của cấp trên",
                "Decision from above applied",
            ),
            "accept_warning" => ("Chấp nhận cảnh báo", "Warning accepted"),
            "fulfil" => ("Ghi kết quả sử dụng quy hoạch", "Entry fulfilled"),
            "reconcile_push" => ("Đối soát bản gửi", "Submission reconciled"),
            "reconcile_decisions" => ("Đối soát quyết định", "Decisions reconciled"),
            "record_conflict" => ("Ghi xung đột", "Conflict recorded"),
            "raise_decision_seq" => ("Nâng số thứ tự quyết định", "Decision sequence raised"),
            "reference_data" => ("Cập nhật dữ liệu tham chiếu", "Reference data updated"),
            "web_key" => ("Khoá trang web", "Web page key"),
            "web_login" => ("Đăng nhập trang web", "Web sign-in"),
            "merge" => ("Sáp nhập tỉnh", "Provinces merged"),
            other => return other.to_string(),
        };
        self.t(vi, en).to_string()
    }

    /// An audit record's detail as the node wrote it, with the raw names of the code in it (a
    /// ballot round's body, a decision's outcome: `ExecutiveCommittee`, `Return`) in this
    /// language; the rest of the sentence is shown as recorded.
    pub fn detail(self, text: &str) -> String {
        replace_runs(
            text,
            |c| c.is_ascii_alphabetic(),
            |word| {
                match word {
                    "KeyCadresConference" => self.body(Body::KeyCadresConference),
                    "ExecutiveCommittee" => self.body(Body::ExecutiveCommittee),
                    "StandingCommittee" => self.body(Body::StandingCommittee),
                    "Approve" => self.outcome(Outcome::Approve),
                    "Return" => self.outcome(Outcome::Return),
                    w => w,
                }
                .into()
            },
        )
    }

    /// The tag of a finding the merger of provinces made, naming the old provinces whose
    /// lists collide (`quyhoach merge`, docs/merging-provinces.md).
    pub fn merger(self, provinces: &[String]) -> String {
        let list = provinces.join(", ");
        match self {
            Lang::Vi => format!("Do sáp nhập tỉnh ({list})"),
            Lang::En => format!("From the merger of provinces ({list})"),
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

/// `text` with every longest run of characters for which `in_run` holds replaced by what
/// `replace` makes of it; the characters between runs are kept as they are.
pub fn replace_runs<'t>(
    text: &'t str,
    in_run: impl Fn(char) -> bool,
    replace: impl Fn(&'t str) -> std::borrow::Cow<'t, str>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&in_run) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let end = run.find(|c| !in_run(c)).unwrap_or(run.len());
        out.push_str(&replace(&run[..end]));
        rest = &run[end..];
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_details_raw_names_read_in_the_viewers_language() {
        assert_eq!(
            Lang::Vi.detail("ExecutiveCommittee on 2025-04-10: 63 of 65 present"),
            "Ban Chấp hành on 2025-04-10: 63 of 65 present"
        );
        assert_eq!(
            Lang::Vi.detail("Return: R1; Returned"),
            "Trả lại: R1; Returned"
        );
        assert_eq!(Lang::En.detail("Approve: "), "Approved: ");
        assert_eq!(Lang::Vi.detail("Nguyễn Văn Toàn"), "Nguyễn Văn Toàn");
    }
}
