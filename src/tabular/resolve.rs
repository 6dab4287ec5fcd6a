//! Turning what a clerk writes into catalogue codes and unit codes, and back: a position is
//! a code (`C.BT`) or its Vietnamese title ("Bí thư Đảng ủy xã"); a unit is a code or its name.
//! Titles and names are compared after [`fold`], with the usual long forms (Ủy ban nhân dân,
//! Hội đồng nhân dân, Mặt trận Tổ quốc) read as their abbreviations. Export uses the same
//! resolver, writing a title or a name only where it reads back to the same code.

use std::collections::HashMap;

use crate::domain::{text::fold, Catalog, Hierarchy, Level, Position, Unit};

/// The comparison key of a title or a name.
fn key(s: &str) -> String {
    let folded = fold(s).replace(['.', ',', '-', '–'], " ");
    let mut k = format!(
        " {} ",
        folded.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    for (long, short) in [
        (" uy ban nhan dan ", " ubnd "),
        (" hoi dong nhan dan ", " hdnd "),
        (" mat tran to quoc viet nam ", " mttq "),
        (" mat tran to quoc ", " mttq "),
    ] {
        k = k.replace(long, short);
    }
    k.trim().to_string()
}

/// Words that end a title with its level ("Bí thư Đảng ủy xã"), dropped for a short match.
const LEVEL_WORDS: [&str; 5] = [" xa", " phuong", " huyen", " tinh", " thanh pho"];

/// Words that open a unit's name with its kind ("Phường Thành Vinh"), dropped for a short match.
const UNIT_KINDS: [&str; 8] = [
    "tinh ",
    "thanh pho ",
    "huyen ",
    "quan ",
    "thi xa ",
    "xa ",
    "phuong ",
    "thi tran ",
];

/// Looks up positions and units for one plan's unit.
pub struct Resolver<'a> {
    catalog: &'a Catalog,
    hierarchy: &'a Hierarchy,
    /// The plan's unit, then its ancestors, nearest first: a name found in several units is
    /// taken in the one nearest to the plan's unit.
    chain: Vec<&'a Unit>,
    /// Positions by the key of their title.
    titles: HashMap<String, Vec<&'a Position>>,
    /// Positions by the key of their title without its closing level word.
    short_titles: HashMap<String, Vec<&'a Position>>,
    /// Units of the plan's province by the key of their name, and of their name without its kind.
    names: HashMap<String, Vec<&'a Unit>>,
    short_names: HashMap<String, Vec<&'a Unit>>,
}

impl<'a> Resolver<'a> {
    /// Indexes the catalogue and the province of `unit`. `None` if `unit` is not in `hierarchy`.
    pub fn new(catalog: &'a Catalog, hierarchy: &'a Hierarchy, unit: &str) -> Option<Self> {
        let plan_unit = hierarchy.get(unit)?;
        let mut chain = vec![plan_unit];
        chain.extend(hierarchy.ancestors(unit));
        let mut titles: HashMap<String, Vec<&Position>> = HashMap::new();
        let mut short_titles: HashMap<String, Vec<&Position>> = HashMap::new();
        for p in catalog.positions.values() {
            let k = key(&p.title_vi);
            if let Some(short) = LEVEL_WORDS.iter().find_map(|w| k.strip_suffix(w)) {
                short_titles.entry(short.to_string()).or_default().push(p);
            }
            titles.entry(k).or_default().push(p);
        }
        let mut names: HashMap<String, Vec<&Unit>> = HashMap::new();
        let mut short_names: HashMap<String, Vec<&Unit>> = HashMap::new();
        let province = chain.last().map_or(unit, |u| u.code.as_str());
        for u in hierarchy.subtree(province) {
            let k = key(&u.name);
            if let Some(short) = UNIT_KINDS.iter().find_map(|w| k.strip_prefix(w)) {
                short_names.entry(short.to_string()).or_default().push(u);
            }
            names.entry(k).or_default().push(u);
        }
        Some(Self {
            catalog,
            hierarchy,
            chain,
            titles,
            short_titles,
            names,
            short_names,
        })
    }

    /// The plan's unit.
    pub fn unit(&self) -> &'a Unit {
        self.chain[0]
    }

    /// The level of a unit code, if known.
    pub fn level_of(&self, unit: &str) -> Option<Level> {
        self.hierarchy.get(unit).map(|u| u.level)
    }

    /// The catalogue code for `text`, a code or a title; `level` settles a title that several
    /// levels share. `Err` says why nothing, or more than one position, matches.
    ///
    /// # Errors
    ///
    /// Why, in words, if no position or several positions match.
    pub fn position(&self, text: &str, level: Level) -> Result<&'a Position, String> {
        let text = text.trim();
        if let Some(p) = self
            .catalog
            .position(text)
            .or_else(|| self.catalog.position(&text.to_uppercase()))
        {
            return Ok(p);
        }
        let k = key(text);
        let pick = |found: Option<&Vec<&'a Position>>, only_level: bool| {
            let mut found: Vec<&Position> = found.cloned().unwrap_or_default();
            if only_level || found.len() > 1 {
                found.retain(|p| p.level == level);
            }
            found
        };
        let mut found = pick(self.titles.get(&k), false);
        if found.is_empty() {
            found = pick(self.short_titles.get(&k), true);
        }
        match found.as_slice() {
            [p] => Ok(p),
            [] => Err(format!(
                "{text:?} is neither a position code nor a position title in the catalogue"
            )),
            many => Err(format!(
                "{text:?} matches several positions ({}); write the code",
                codes(many.iter().map(|p| p.code.as_str()))
            )),
        }
    }

    /// The unit code for `text`, a code or a name; a name is looked up in the plan's province,
    /// nearest to the plan's unit first.
    ///
    /// # Errors
    ///
    /// Why, in words, if `text` is neither a unit code nor the name of a unit in the province,
    /// or names several units.
    pub fn unit_code(&self, text: &str) -> Result<&'a Unit, String> {
        let text = text.trim();
        if let Some(u) = self.hierarchy.get(text) {
            return Ok(u);
        }
        let k = key(text);
        let mut found = self.nearest(self.names.get(&k));
        if found.is_empty() {
            found = self.nearest(self.short_names.get(&k));
        }
        match found.as_slice() {
            [u] => Ok(u),
            [] => Err(format!(
                "{text:?} is neither a unit code nor the name of a unit in {}",
                self.chain
                    .last()
                    .map_or("the province", |u| u.name.as_str())
            )),
            many => Err(format!(
                "{text:?} names several units ({}); write the code",
                codes(many.iter().map(|u| u.code.as_str()))
            )),
        }
    }

    /// Of `units`, those within the nearest subtree of the chain that holds any.
    fn nearest(&self, units: Option<&Vec<&'a Unit>>) -> Vec<&'a Unit> {
        let Some(units) = units else {
            return Vec::new();
        };
        for root in &self.chain {
            let within: Vec<&Unit> = units
                .iter()
                .copied()
                .filter(|u| self.hierarchy.is_within(&u.code, &root.code))
                .collect();
            if !within.is_empty() {
                return within;
            }
        }
        units.clone()
    }

    /// What an export writes for a position: its title when the title reads back to `code`
    /// at `level`, else the code.
    pub fn position_label(&self, code: &str, level: Level) -> String {
        match self.catalog.position(code) {
            Some(p) if self.position(&p.title_vi, level).map(|q| q.code.as_str()) == Ok(code) => {
                p.title_vi.clone()
            }
            _ => code.to_string(),
        }
    }

    /// What an export writes for a unit: its name when the name reads back to `code`, else
    /// the code.
    pub fn unit_label(&self, code: &str) -> String {
        match self.hierarchy.get(code) {
            Some(u) if self.unit_code(&u.name).map(|v| v.code.as_str()) == Ok(code) => {
                u.name.clone()
            }
            _ => code.to_string(),
        }
    }
}

fn codes<'s>(codes: impl Iterator<Item = &'s str>) -> String {
    codes.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shipped catalogue and the 2024 (three-level) units.
    pub(crate) fn reference() -> (Catalog, Hierarchy) {
        let catalog = crate::config::builtin_catalog().unwrap();
        let hierarchy = crate::config::load_units("builtin:2024").unwrap();
        (catalog, hierarchy)
    }

    #[test]
    fn positions_by_code_title_and_short_title() {
        let (c, h) = reference();
        let r = Resolver::new(&c, &h, "16681").unwrap();
        let code = |t: &str| r.position(t, Level::Commune).map(|p| p.code.clone());
        assert_eq!(code("C.BT").unwrap(), "C.BT");
        assert_eq!(code("c.pct.ubnd").unwrap(), "C.PCT.UBND");
        assert_eq!(code("Bí thư Đảng ủy xã").unwrap(), "C.BT");
        assert_eq!(code("bi thu dang uy xa").unwrap(), "C.BT");
        assert_eq!(code("Chủ tịch Ủy ban nhân dân xã").unwrap(), "C.CT.UBND");
        assert_eq!(code("Phó Chủ tịch UBND").unwrap(), "C.PCT.UBND");
        assert_eq!(
            r.position("Phó Chủ tịch UBND", Level::District)
                .unwrap()
                .code,
            "D.PCT.UBND"
        );
        let err = code("Giám đốc công ty").unwrap_err();
        assert!(err.contains("neither a position code nor"), "{err}");
    }

    #[test]
    fn units_by_code_and_name_nearest_first() {
        let (c, h) = reference();
        let r = Resolver::new(&c, &h, "16681").unwrap();
        assert_eq!(r.unit_code("16681").unwrap().code, "16681");
        assert_eq!(r.unit_code("Phường Quang Trung").unwrap().code, "16681");
        assert_eq!(r.unit_code("phuong quang trung").unwrap().code, "16681");
        assert_eq!(r.unit_code("Thành phố Vinh").unwrap().code, "412");
        assert_eq!(r.unit_code("Tỉnh Nghệ An").unwrap().code, "40");
        assert!(r.unit_code("Phường Không Có").is_err());
        assert_eq!(r.unit_label("16681"), "Phường Quang Trung");
        assert_eq!(
            r.position_label("C.BT", Level::Commune),
            "Bí thư Đảng ủy xã"
        );
        assert_eq!(r.position_label("C.NOPE", Level::Commune), "C.NOPE");
    }

    #[test]
    fn unknown_plan_unit_has_no_resolver() {
        let (c, h) = reference();
        assert!(Resolver::new(&c, &h, "99999999").is_none());
    }
}
