//! The columns of the usual planning list and how a header row is recognised: header names
//! are compared after [`crate::domain::text::fold`] with punctuation dropped, so "Họ và tên",
//! "HỌ VÀ TÊN" and "Ho va ten" are one column, and a few common aliases are accepted.

use crate::domain::text::fold;

use super::read::{Row, Sheet};

/// A column the import understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// STT (số thứ tự): a running number, read but not kept.
    Number,
    /// Họ và tên.
    FullName,
    /// Ngày sinh.
    BirthDate,
    /// Giới tính.
    Gender,
    /// Dân tộc.
    Ethnicity,
    /// Số CCCD.
    NationalId,
    /// Chức vụ hiện tại.
    CurrentPositions,
    /// Đơn vị công tác.
    CurrentUnit,
    /// Chức danh quy hoạch.
    Position,
    /// Nhiệm kỳ.
    Term,
    /// Số phiếu đồng ý.
    YesVotes,
    /// Nguồn: bầu (voted) or bổ sung (added by the approving authority).
    Source,
    /// Trình độ: qualifications separated by ";".
    Qualifications,
}

impl Column {
    /// Every column, in the order of the exported list.
    pub const ALL: [Column; 13] = [
        Column::Number,
        Column::FullName,
        Column::BirthDate,
        Column::Gender,
        Column::Ethnicity,
        Column::NationalId,
        Column::CurrentPositions,
        Column::CurrentUnit,
        Column::Position,
        Column::Term,
        Column::YesVotes,
        Column::Source,
        Column::Qualifications,
    ];

    /// The header an export writes.
    pub fn title(self) -> &'static str {
        match self {
            Column::Number => "STT",
            Column::FullName => "Họ và tên",
            Column::BirthDate => "Ngày sinh",
            Column::Gender => "Giới tính",
            Column::Ethnicity => "Dân tộc",
            Column::NationalId => "Số CCCD",
            Column::CurrentPositions => "Chức vụ hiện tại",
            Column::CurrentUnit => "Đơn vị công tác",
            Column::Position => "Chức danh quy hoạch",
            Column::Term => "Nhiệm kỳ",
            Column::YesVotes => "Số phiếu đồng ý",
            Column::Source => "Nguồn",
            Column::Qualifications => "Trình độ",
        }
    }

    /// Returns true if and only if a list without this column cannot be imported.
    pub fn is_required(self) -> bool {
        matches!(
            self,
            Column::FullName
                | Column::BirthDate
                | Column::Gender
                | Column::Ethnicity
                | Column::NationalId
                | Column::CurrentPositions
                | Column::Position
        )
    }

    /// Header names accepted besides the title, as header keys (see [`header_key`]).
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Number => &["tt", "so tt", "so thu tu"],
            Column::FullName => &["ho ten", "ho va ten khai sinh", "full name"],
            Column::BirthDate => &["ngay thang nam sinh", "sinh ngay", "date of birth"],
            Column::Gender => &["gender"],
            Column::Ethnicity => &["ethnicity"],
            Column::NationalId => &[
                "cccd",
                "so dinh danh",
                "so dinh danh ca nhan",
                "so can cuoc",
                "so can cuoc cong dan",
                "so cmnd cccd",
                "national id",
            ],
            Column::CurrentPositions => &["chuc vu", "chuc vu hien nay", "current positions"],
            Column::CurrentUnit => &[
                "don vi",
                "noi cong tac",
                "co quan don vi cong tac",
                "current unit",
            ],
            Column::Position => &[
                "chuc danh duoc quy hoach",
                "quy hoach chuc danh",
                "chuc danh",
                "planned position",
            ],
            Column::Term => &["nhiem ky quy hoach", "term"],
            Column::YesVotes => &[
                "so phieu",
                "phieu dong y",
                "so phieu tin nhiem",
                "yes votes",
            ],
            Column::Source => &["nguon quy hoach", "source"],
            Column::Qualifications => &["trinh do chuyen mon", "qualifications"],
        }
    }

    /// The column a header names, if any.
    pub fn from_header(header: &str) -> Option<Column> {
        let key = header_key(header);
        if key.is_empty() {
            return None;
        }
        Column::ALL
            .into_iter()
            .find(|c| header_key(c.title()) == key || c.aliases().contains(&key.as_str()))
    }
}

/// The comparison key of a header: folded (no case, no diacritics, đ as d) with every
/// character that is not a letter or digit read as a space.
pub fn header_key(header: &str) -> String {
    let folded: String = fold(header)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where each column sits in a sheet, and the header as the clerk wrote it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The spreadsheet row number of the header row.
    pub header_row: usize,
    /// For each recognised column: its index (0-based) and its header as written.
    found: Vec<(Column, usize, String)>,
    /// Headers that name a column already found: (index, header as written, the column).
    pub duplicates: Vec<(usize, String, Column)>,
}

impl Layout {
    /// The index of `column`, if the sheet has it.
    pub fn index(&self, column: Column) -> Option<usize> {
        self.found.iter().find(|f| f.0 == column).map(|f| f.1)
    }

    /// The header of `column` as written in the sheet, or its title when the sheet lacks it.
    pub fn header(&self, column: Column) -> String {
        self.found
            .iter()
            .find(|f| f.0 == column)
            .map_or_else(|| column.title().to_string(), |f| f.2.clone())
    }

    /// The required columns the sheet lacks.
    pub fn missing(&self) -> Vec<Column> {
        Column::ALL
            .into_iter()
            .filter(|c| c.is_required() && self.index(*c).is_none())
            .collect()
    }
}

/// How many rows from the top are searched for the header row (lists often open with a title
/// block: the unit's name, "DANH SÁCH QUY HOẠCH ...").
pub const HEADER_SEARCH_ROWS: usize = 12;

/// Finds the header row: the first of the top rows in which at least three cells name a
/// known column. Returns its position in `sheet.rows` and the layout.
pub fn find_header(sheet: &Sheet) -> Option<(usize, Layout)> {
    sheet
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .enumerate()
        .map(|(i, row)| (i, layout_of(row)))
        .find(|(_, layout)| layout.found.len() >= 3)
}

fn layout_of(row: &Row) -> Layout {
    let mut layout = Layout {
        header_row: row.number,
        found: Vec::new(),
        duplicates: Vec::new(),
    };
    for (index, cell) in row.cells.iter().enumerate() {
        let written = cell.display();
        let Some(column) = Column::from_header(&written) else {
            continue;
        };
        if layout.index(column).is_some() {
            layout.duplicates.push((index, written, column));
        } else {
            layout.found.push((column, index, written));
        }
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabular::read::Cell;

    #[test]
    fn headers_match_without_case_diacritics_or_punctuation() {
        assert_eq!(Column::from_header("Họ và tên"), Some(Column::FullName));
        assert_eq!(Column::from_header("  HỌ VÀ  TÊN "), Some(Column::FullName));
        assert_eq!(Column::from_header("Ho va ten"), Some(Column::FullName));
        assert_eq!(Column::from_header("Họ tên"), Some(Column::FullName));
        assert_eq!(Column::from_header("So CCCD"), Some(Column::NationalId));
        assert_eq!(
            Column::from_header("Số định danh"),
            Some(Column::NationalId)
        );
        assert_eq!(
            Column::from_header("Số CMND/CCCD"),
            Some(Column::NationalId)
        );
        assert_eq!(
            Column::from_header("Ngày, tháng, năm sinh"),
            Some(Column::BirthDate)
        );
        assert_eq!(
            Column::from_header("Chức danh được quy hoạch"),
            Some(Column::Position)
        );
        assert_eq!(
            Column::from_header("Đơn vị công tác"),
            Some(Column::CurrentUnit)
        );
        assert_eq!(Column::from_header("Ghi chú"), None);
        assert_eq!(Column::from_header(""), None);
    }

    #[test]
    fn every_title_is_its_own_header() {
        for c in Column::ALL {
            assert_eq!(Column::from_header(c.title()), Some(c), "{c:?}");
        }
    }

    #[test]
    fn header_is_found_below_a_title_block() {
        let text = |s: &str| Cell::Text(s.into());
        let sheet = Sheet {
            rows: vec![
                Row {
                    number: 1,
                    cells: vec![text("ĐẢNG ỦY PHƯỜNG")],
                },
                Row {
                    number: 3,
                    cells: vec![text("DANH SÁCH QUY HOẠCH")],
                },
                Row {
                    number: 5,
                    cells: vec![text("STT"), text("Ho ten"), text("CCCD"), text("Ho va ten")],
                },
            ],
        };
        let (at, layout) = find_header(&sheet).unwrap();
        assert_eq!((at, layout.header_row), (2, 5));
        assert_eq!(layout.index(Column::NationalId), Some(2));
        assert_eq!(layout.header(Column::FullName), "Ho ten");
        assert_eq!(layout.header(Column::Gender), "Giới tính");
        assert_eq!(
            layout.duplicates,
            [(3, "Ho va ten".to_string(), Column::FullName)]
        );
        assert!(layout.missing().contains(&Column::BirthDate));
    }
}
