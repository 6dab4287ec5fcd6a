//! The columns of the usual planning list and how a header is recognised: header names
//! are compared after [`crate::domain::text::fold`] with punctuation dropped, so "Họ và tên",
//! "HỌ VÀ TÊN" and "Ho va ten" are one column, and a few common aliases are accepted.
//!
//! The header may take two rows, as in the official layout: a cell of the first row merged over
//! several sub-columns named in the second ("Ngày, tháng, năm sinh" over "Nam" and "Nữ", the
//! birth date written under one of them giving the gender; "Trình độ" over "Chuyên môn" and
//! "Lý luận chính trị"; "Kết quả phiếu giới thiệu" over "Số phiếu đồng ý" and "Tỷ lệ %").

use crate::domain::text::fold;

use super::sheet::{Cell, Row, Sheet};

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
    /// Kỷ luật: discipline records (see [`super::attributes`]); optional.
    Discipline,
    /// Chế độ nghỉ hưu: the retirement regime (R7); optional, empty is general.
    RetirementRegime,
    /// Cán bộ khoa học, công nghệ: marked with x (R8 under QĐ 377); optional.
    ScienceTechnology,
    /// Xếp loại hằng năm: yearly ratings (R26); optional.
    Ratings,
}

impl Column {
    /// Every column, in the order of the exported list.
    pub const ALL: [Column; 17] = [
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
        Column::Discipline,
        Column::RetirementRegime,
        Column::ScienceTechnology,
        Column::Ratings,
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
            Column::Discipline => "Kỷ luật",
            Column::RetirementRegime => "Chế độ nghỉ hưu",
            Column::ScienceTechnology => "Cán bộ khoa học, công nghệ",
            Column::Ratings => "Xếp loại hằng năm",
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
            Column::CurrentPositions => &[
                "chuc vu",
                "chuc vu hien nay",
                "chuc vu hien tai",
                "chuc vu don vi cong tac",
                "chuc vu don vi cong tac hien nay",
                "chuc vu don vi cong tac hien tai",
                "current positions",
            ],
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
            Column::Term => &["nhiem ky quy hoach", "quy hoach nhiem ky", "term"],
            Column::YesVotes => &[
                "so phieu",
                "phieu dong y",
                "so phieu tin nhiem",
                "yes votes",
            ],
            Column::Source => &["nguon quy hoach", "source"],
            Column::Qualifications => &[
                "trinh do chuyen mon",
                "trinh do dao tao",
                "chuyen mon",
                "chuyen mon nghiep vu",
                "ly luan chinh tri",
                "trinh do ly luan chinh tri",
                "qualifications",
            ],
            Column::Discipline => &["hinh thuc ky luat", "ky luat dang", "discipline"],
            Column::RetirementRegime => &["che do huu", "retirement regime"],
            Column::ScienceTechnology => &[
                "khoa hoc cong nghe",
                "can bo khcn",
                "khcn",
                "science and technology",
            ],
            Column::Ratings => &[
                "xep loai",
                "xep loai chat luong",
                "danh gia xep loai",
                "ratings",
            ],
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

/// The birth date written under "Nam" or under "Nữ": the column it stands in gives the gender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirthByGender {
    /// Index (0-based) of the column under "Nam".
    pub male: usize,
    /// Index (0-based) of the column under "Nữ".
    pub female: usize,
    /// The merged header over both, as written ("Ngày, tháng, năm sinh").
    pub header: String,
}

/// Where each column sits in a sheet, and the header as the clerk wrote it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The spreadsheet row number of the header row (the first, in a two-row header).
    pub header_row: usize,
    /// The spreadsheet row number of the header's second row, in a two-row header.
    pub sub_header_row: Option<usize>,
    /// For each recognised column: its index (0-based) and its header as written.
    found: Vec<(Column, usize, String)>,
    /// Headers that name a column already found: (index, header as written, the column).
    pub duplicates: Vec<(usize, String, Column)>,
    /// Birth date columns under "Nam" and "Nữ", in place of a Ngày sinh and a Giới tính column.
    pub birth_by_gender: Option<BirthByGender>,
    /// Further Trình độ sub-columns after the first (their items join the first's).
    pub more_qualifications: Vec<usize>,
}

impl Layout {
    /// The index of `column`, if the sheet has it.
    pub fn index(&self, column: Column) -> Option<usize> {
        self.found.iter().find(|f| f.0 == column).map(|f| f.1)
    }

    /// The header of `column` as written in the sheet, or its title when the sheet lacks it.
    pub fn header(&self, column: Column) -> String {
        if let (Column::BirthDate | Column::Gender, Some(b)) = (column, &self.birth_by_gender) {
            return b.header.clone();
        }
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
            .filter(|c| {
                self.birth_by_gender.is_none() || !matches!(c, Column::BirthDate | Column::Gender)
            })
            .collect()
    }

    /// The indices of every recognised column and sub-column, for telling a data row from a
    /// heading.
    pub fn indices(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.found.iter().map(|f| f.1).collect();
        all.extend(&self.more_qualifications);
        if let Some(b) = &self.birth_by_gender {
            all.extend([b.male, b.female]);
        }
        all
    }
}

/// How many rows from the top are searched for the header row (lists often open with a title
/// block: the Party committee, the place and date, "DANH SÁCH QUY HOẠCH ...", the submission).
pub const HEADER_SEARCH_ROWS: usize = 25;

/// Finds the header: the first of the top rows in which at least three cells name a known
/// column, and the row below it when that row holds sub-column names under merged cells.
/// Returns the position in `sheet.rows` of the header's last row, and the layout.
pub fn find_header(sheet: &Sheet) -> Option<(usize, Layout)> {
    let (at, mut layout) = sheet
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .enumerate()
        .map(|(i, row)| (i, layout_of(row)))
        .find(|(_, layout)| layout.found.len() >= 3)?;
    let header = &sheet.rows[at];
    match sheet.rows.get(at + 1) {
        Some(next) if next.number == header.number + 1 && is_sub_header(header, next) => {
            apply_sub_header(&mut layout, header, next);
            Some((at + 1, layout))
        }
        _ => Some((at, layout)),
    }
}

/// The header cell that stands over column `index`: its own, or, when empty, that of the
/// nearest non-empty cell to its left (a merged cell shows its text in its first column only).
fn parent(header: &Row, index: usize) -> Option<(usize, String)> {
    (0..=index)
        .rev()
        .map(|i| (i, header.cell(i).display()))
        .find(|(_, text)| !text.is_empty())
}

/// Returns true if and only if `next` is the second row of a two-row header over `header`:
/// it holds only text, and every one of its cells stands under a header cell that spans more
/// than one column (its own column's header is empty, or its right neighbour's is while `next`
/// names that neighbour too), and it is not a row of column numbers.
fn is_sub_header(header: &Row, next: &Row) -> bool {
    if is_column_numbers(next) {
        return false;
    }
    let filled: Vec<usize> = (0..next.cells.len())
        .filter(|&i| !next.cell(i).is_empty())
        .collect();
    !filled.is_empty()
        && filled.iter().all(|&i| {
            matches!(next.cell(i), Cell::Text(_))
                && (header.cell(i).is_empty()
                    || (header.cell(i + 1).is_empty() && !next.cell(i + 1).is_empty()))
        })
}

/// Reads the sub-columns of a two-row header into `layout`.
fn apply_sub_header(layout: &mut Layout, header: &Row, sub: &Row) {
    layout.sub_header_row = Some(sub.number);
    let mut male = None;
    let mut female = None;
    let mut birth_header = String::new();
    for i in 0..sub.cells.len() {
        let written = sub.cell(i).display();
        if written.is_empty() {
            continue;
        }
        let Some((p, parent_text)) = parent(header, i) else {
            continue;
        };
        let parent_column = Column::from_header(&parent_text);
        // The parent's own entry stands for its first sub-column; take it back, and let the
        // sub-columns say what they are.
        layout.found.retain(|f| !(f.1 == p && f.2 == parent_text));
        let key = header_key(&written);
        match (parent_column, key.as_str()) {
            (Some(Column::BirthDate), "nam") => {
                male = Some(i);
                birth_header = parent_text;
            }
            (Some(Column::BirthDate), "nu") => {
                female = Some(i);
                birth_header = parent_text;
            }
            _ => {
                let column = Column::from_header(&written).or(match parent_column {
                    Some(Column::Qualifications) => Some(Column::Qualifications),
                    _ => None,
                });
                let Some(column) = column else {
                    continue;
                };
                let shown = format!("{parent_text} / {written}");
                if column == Column::Qualifications && layout.index(column).is_some() {
                    layout.more_qualifications.push(i);
                } else if layout.index(column).is_some() {
                    layout.duplicates.push((i, shown, column));
                } else {
                    layout.found.push((column, i, shown));
                }
            }
        }
    }
    if let (Some(male), Some(female)) = (male, female) {
        layout.birth_by_gender = Some(BirthByGender {
            male,
            female,
            header: birth_header,
        });
    }
}

fn layout_of(row: &Row) -> Layout {
    let mut layout = Layout {
        header_row: row.number,
        sub_header_row: None,
        found: Vec::new(),
        duplicates: Vec::new(),
        birth_by_gender: None,
        more_qualifications: Vec::new(),
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

/// Returns true if and only if `row` is a row of column numbers under a header: at least three
/// cells, every one a number or "(n)", counting up by one ("(1) (2) … (14)", or "1 2 … 9").
pub fn is_column_numbers(row: &Row) -> bool {
    let numbers: Option<Vec<u32>> = row
        .cells
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| match c {
            Cell::Number(n) if n.fract() == 0.0 && (0.0..1000.0).contains(n) => Some(*n as u32),
            Cell::Text(t) => t
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim()
                .parse()
                .ok(),
            _ => None,
        })
        .collect();
    numbers.is_some_and(|n| n.len() >= 3 && n.windows(2).all(|w| w[0].checked_add(1) == Some(w[1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_without_case_diacritics_or_punctuation() {
        for (column, headers) in [
            (
                Column::FullName,
                &["Họ và tên", "  HỌ VÀ  TÊN ", "Ho va ten", "Họ tên"][..],
            ),
            (
                Column::NationalId,
                &["So CCCD", "Số định danh", "Số CMND/CCCD"],
            ),
            (Column::BirthDate, &["Ngày, tháng, năm sinh"]),
            (Column::Position, &["Chức danh được quy hoạch"]),
            (Column::CurrentUnit, &["Đơn vị công tác"]),
        ] {
            for header in headers {
                assert_eq!(Column::from_header(header), Some(column), "{header:?}");
            }
        }
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
            name: String::new(),
            skipped: Vec::new(),
            date_1904: false,
            merged: Vec::new(),
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
