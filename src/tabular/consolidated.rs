//! The consolidated list (danh sách tổng hợp) as an export sheet: the one layout of every face,
//! the CLI's `quyhoach export --what consolidated` and the web page's "export the rows shown".
//! It is the office's layout: Vietnamese headers, dates as dd/mm/yyyy, Vietnamese statuses,
//! and the national ID as the viewer may see it (the face masks it before it comes here).

use chrono::NaiveDate;

use crate::domain::{Gender, PlanStatus};

use super::export::{table_sheet, ExportCell, ExportSheet};

/// The header row, in column order.
pub const HEADERS: [&str; 13] = [
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số CCCD",
    "Mã đơn vị",
    "Đơn vị",
    "Chức danh quy hoạch",
    "Mã chức danh",
    "Nhiệm kỳ",
    "Số phiếu đồng ý",
    "Trạng thái",
    "Phiên bản",
];

/// The name of the sheet of the whole list.
pub const SHEET_NAME: &str = "Danh sách tổng hợp";

/// One line of the consolidated list, as a face hands it to the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// The person's full name.
    pub full_name: String,
    /// The person's date of birth.
    pub birth_date: NaiveDate,
    /// The person's gender.
    pub gender: Gender,
    /// The national ID as the viewer may see it (whole, or masked for a reader).
    pub national_id: String,
    /// Code of the unit whose plan holds the entry.
    pub unit: String,
    /// That unit's name.
    pub unit_name: String,
    /// The planned position's Vietnamese title.
    pub position_title: String,
    /// Code of the planned position.
    pub position: String,
    /// The plan's term.
    pub term: String,
    /// Yes votes of the last round that voted on the entry, and their denominator (R19).
    pub votes: Option<(u32, u32)>,
    /// The plan version's status.
    pub status: PlanStatus,
    /// The plan version.
    pub version: u32,
}

/// A sheet named `name` of `rows`, numbered (STT) from `first + 1`: a page of the list starts
/// at its place in the whole list.
pub fn consolidated_sheet(name: &str, first: usize, rows: &[ListRow]) -> ExportSheet {
    let headers = HEADERS.map(String::from).to_vec();
    let mut sheet = table_sheet(name, headers, Vec::new());
    sheet.rows = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                ExportCell::from((first + i + 1).to_string()),
                ExportCell::from(r.full_name.as_str()),
                ExportCell::Date(r.birth_date),
                ExportCell::from(r.gender.vi_title()),
                ExportCell::from(r.national_id.as_str()),
                ExportCell::from(r.unit.as_str()),
                ExportCell::from(r.unit_name.as_str()),
                ExportCell::from(r.position_title.as_str()),
                ExportCell::from(r.position.as_str()),
                ExportCell::from(r.term.as_str()),
                ExportCell::from(r.votes.map(|(y, d)| format!("{y}/{d}")).unwrap_or_default()),
                ExportCell::from(r.status.vi_title()),
                ExportCell::from(r.version.to_string()),
            ]
        })
        .collect();
    sheet
}

/// The whole list as one sheet, or with `per_unit` one sheet per unit (in unit-code order,
/// each numbered from 1 and named by the unit's code and name).
pub fn consolidated_sheets(rows: &[ListRow], per_unit: bool) -> Vec<ExportSheet> {
    if !per_unit {
        return vec![consolidated_sheet(SHEET_NAME, 0, rows)];
    }
    let mut units: Vec<&str> = rows.iter().map(|r| r.unit.as_str()).collect();
    units.sort_unstable();
    units.dedup();
    units
        .into_iter()
        .map(|u| {
            let mine: Vec<ListRow> = rows.iter().filter(|r| r.unit == u).cloned().collect();
            let name = format!("{u} {}", mine[0].unit_name);
            consolidated_sheet(&name, 0, &mine)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(unit: &str, name: &str) -> ListRow {
        ListRow {
            full_name: name.into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 3, 9).unwrap(),
            gender: Gender::Female,
            national_id: "…1234".into(),
            unit: unit.into(),
            unit_name: format!("Đơn vị {unit}"),
            position_title: "Bí thư".into(),
            position: "X.BT".into(),
            term: "2025-2030".into(),
            votes: Some((20, 30)),
            status: PlanStatus::Received,
            version: 2,
        }
    }

    #[test]
    fn a_row_reads_as_the_office_writes_it() {
        let sheet = consolidated_sheet(SHEET_NAME, 40, &[row("412", "Lê Thị Hoa")]);
        assert_eq!(sheet.headers, HEADERS.map(String::from).to_vec());
        assert_eq!(
            sheet.text_rows(),
            vec![vec![
                "41",
                "Lê Thị Hoa",
                "09/03/1980",
                "Nữ",
                "…1234",
                "412",
                "Đơn vị 412",
                "Bí thư",
                "X.BT",
                "2025-2030",
                "20/30",
                "Chờ phê duyệt",
                "2",
            ]]
        );
    }

    #[test]
    fn per_unit_sheets_number_each_unit_from_one() {
        let rows = [row("413", "A"), row("412", "B"), row("413", "C")];
        let sheets = consolidated_sheets(&rows, true);
        assert_eq!(sheets.len(), 2);
        assert_eq!(sheets[0].name, "412 Đơn vị 412");
        assert_eq!(sheets[1].text_rows()[1][0], "2");
        assert_eq!(consolidated_sheets(&rows, false)[0].rows.len(), 3);
    }
}
