//! Administrative units (đơn vị) and the hierarchy a node serves, loaded from a units file
//! (`code,level,name,parent_code`). A unit's parent is any unit of a higher level, so both the
//! three-level structure (province → district → commune, until June 2025) and the two-level one
//! (province → commune, since July 2025) load the same way. Parsed here from text; `config`
//! reads the file.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ParseError;

crate::domain::words::words! {
    /// The level of a unit in local government (cấp).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Level ("level") {
        /// Xã, phường, thị trấn.
        Commune = "commune",
        /// Huyện, quận, thị xã, thành phố thuộc tỉnh (until 30 June 2025).
        District = "district",
        /// Tỉnh, thành phố trực thuộc trung ương.
        Province = "province",
    }
}

/// One administrative unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Official code (mã đơn vị hành chính); a string, leading zeros kept.
    pub code: String,
    /// Its level.
    pub level: Level,
    /// Official name, NFC.
    pub name: String,
    /// Code of the unit above it, none for a province.
    pub parent: Option<String>,
}

/// One structure of units (cơ cấu đơn vị hành chính) as one units file gives it, indexed by
/// code and by parent: a snapshot without dates. [`super::Hierarchy`] joins several of them in time.
#[derive(Debug, Clone, Default)]
pub struct Structure {
    units: HashMap<String, Unit>,
    children: HashMap<String, Vec<String>>,
}

impl Structure {
    /// Parses the CSV text of a units file.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for the first line that is not CSV or has an unknown level, or (line 0)
    /// for a hierarchy that does not hold together, as [`Structure::from_units`] checks.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut units = Vec::new();
        for record in super::csv_records("units", text) {
            let record = record?;
            let code = record.cell(0).to_string();
            if code.is_empty() {
                // The published lists hold a few rows without a code (units being created or
                // dissolved); they cannot be referenced, so they are skipped.
                continue;
            }
            let level = record.cell(1).parse::<Level>().map_err(|e| record.bad(e))?;
            let parent = Some(record.cell(3).to_string()).filter(|p| !p.is_empty());
            units.push(Unit {
                code,
                level,
                name: super::text::nfc(record.cell(2)),
                parent,
            });
        }
        Self::from_units(units)
    }

    /// Builds a hierarchy, checking that every parent exists and sits at a higher level.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] (line 0) for a code that appears twice, a parent that is not in the
    /// list or not at a higher level, or a unit below the province without a parent.
    pub fn from_units(list: Vec<Unit>) -> Result<Self, ParseError> {
        let bad = |problem: String| ParseError {
            file: "units",
            line: 0,
            problem,
        };
        let mut units = HashMap::with_capacity(list.len());
        for unit in list {
            if let Some(old) = units.insert(unit.code.clone(), unit) {
                return Err(bad(format!("unit code {} appears twice", old.code)));
            }
        }
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for unit in units.values() {
            if let Some(parent) = &unit.parent {
                let Some(p) = units.get(parent) else {
                    return Err(bad(format!(
                        "unit {}: parent {parent} is not in the file",
                        unit.code
                    )));
                };
                if p.level <= unit.level {
                    return Err(bad(format!(
                        "unit {} ({}) has parent {parent} at level {}, which is not higher",
                        unit.code, unit.level, p.level
                    )));
                }
                children
                    .entry(parent.clone())
                    .or_default()
                    .push(unit.code.clone());
            } else if unit.level != Level::Province {
                return Err(bad(format!(
                    "unit {} ({}) has no parent",
                    unit.code, unit.level
                )));
            }
        }
        for list in children.values_mut() {
            list.sort();
        }
        Ok(Self { units, children })
    }

    /// The unit with this code, if the file has it.
    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.units.get(code)
    }

    /// Every unit of the structure, in no particular order.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// How many units the hierarchy holds.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Returns true if and only if the hierarchy holds no unit.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The units directly under `code`, sorted by code.
    pub fn children(&self, code: &str) -> &[String] {
        self.children.get(code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The parent of `code`, if any.
    pub fn parent(&self, code: &str) -> Option<&Unit> {
        self.units
            .get(code)?
            .parent
            .as_deref()
            .and_then(|p| self.units.get(p))
    }

    /// Returns true if and only if `code` is `root` or lies below it.
    pub fn is_within(&self, code: &str, root: &str) -> bool {
        let mut cur = Some(code);
        while let Some(c) = cur {
            if c == root {
                return true;
            }
            cur = self.units.get(c).and_then(|u| u.parent.as_deref());
        }
        false
    }

    /// `root` and every unit below it, in depth-first order, children sorted by code.
    pub fn subtree(&self, root: &str) -> Vec<&Unit> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(code) = stack.pop() {
            if let Some(unit) = self.units.get(code) {
                out.push(unit);
                for child in self.children(code).iter().rev() {
                    stack.push(child);
                }
            }
        }
        out
    }

    /// The chain of ancestors of `code`, nearest first.
    pub fn ancestors(&self, code: &str) -> Vec<&Unit> {
        let mut out = Vec::new();
        let mut cur = self.parent(code);
        while let Some(u) = cur {
            out.push(u);
            cur = self.parent(&u.code);
        }
        out
    }

    /// The province a unit belongs to.
    pub fn province_of(&self, code: &str) -> Option<&Unit> {
        let unit = self.units.get(code)?;
        if unit.level == Level::Province {
            return Some(unit);
        }
        self.ancestors(code).into_iter().last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = "code,level,name,parent_code\n40,province,Tỉnh Nghệ An,\n412,district,Thành phố Vinh,40\n16681,commune,Phường Đông Vĩnh,412\n16684,commune,Phường Hà Huy Tập,412\n414,district,Thị xã Thái Hòa,40\n";
    const TWO: &str = "code,level,name,parent_code\n40,province,Tỉnh Nghệ An,\n16681,commune,Phường Vinh Hưng,40\n";

    #[test]
    fn three_level_subtree_and_ancestors() {
        let h = Structure::parse(THREE).unwrap();
        assert_eq!(h.len(), 5);
        assert_eq!(h.parent("16681").unwrap().code, "412");
        assert!(h.is_within("16681", "40"));
        assert!(!h.is_within("16681", "414"));
        let codes: Vec<_> = h.subtree("412").iter().map(|u| u.code.as_str()).collect();
        assert_eq!(codes, ["412", "16681", "16684"]);
        assert_eq!(h.province_of("16684").unwrap().code, "40");
    }

    #[test]
    fn two_level_commune_sits_under_province() {
        let h = Structure::parse(TWO).unwrap();
        assert_eq!(h.parent("16681").unwrap().level, Level::Province);
    }

    #[test]
    fn parent_must_be_higher_level() {
        let bad = "code,level,name,parent_code\n40,province,A,\n1,commune,B,40\n2,commune,C,1\n";
        let err = Structure::parse(bad).unwrap_err();
        assert!(err.problem.contains("not higher"), "{err:?}");
    }

    #[test]
    fn shipped_files_parse() {
        for text in [
            include_str!("../../data/units-2024.csv"),
            include_str!("../../data/units-2025.csv"),
        ] {
            let h = Structure::parse(text).unwrap();
            assert!(h.get("40").is_some(), "a shipped units file lacks Nghệ An");
        }
    }

    #[test]
    fn bad_level_names_the_line() {
        let err = Structure::parse("code,level,name,parent_code\n40,province,A,\n1,village,B,40\n")
            .unwrap_err();
        assert_eq!((err.file, err.line), ("units", 3));
        assert!(err.to_string().starts_with("units line 3: "), "{err}");
    }
}
