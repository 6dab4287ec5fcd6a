//! One validation for every way data enters a node: a clerk's write, an import, a plan pushed by
//! a child, a decision or reference data sent down by a parent. A local write normalizes its
//! input first (NFC, trimmed) and then passes the same checks as a value that arrives already
//! hashed from a peer, which must already be in that stored form: a child cannot put into its
//! parent's store anything the parent's own clerk could not.
//!
//! Also the one masking of national IDs ([`mask_id`]), safe on any string, and [`prefix`], the
//! short quotation of untrusted input that error messages use.

use std::collections::HashSet;

use chrono::NaiveDate;

use super::{
    plan::{text_within, validate_national_id, MAX_PROSE, MAX_TEXT},
    text, BallotRound, Catalog, Decision, Entry, FieldError, Hierarchy, Outcome, Plan, Unit,
};

/// Most entries one plan version may hold.
pub const MAX_ENTRIES: usize = 5_000;
/// Most ballot rounds one plan version may record.
pub const MAX_ROUNDS: usize = 200;
/// Most members a voting body may convene: far above any party committee or conference.
pub const MAX_CONVENED: u32 = 10_000;
/// Most items in a cadre's lists (current positions, qualifications, discipline).
pub const MAX_LIST: usize = 50;
/// Most reasons a decision may give.
pub const MAX_REASONS: usize = 50;
/// Longest code (unit, position, term), in characters.
pub const MAX_CODE: usize = 64;
/// How many characters of an untrusted value an error message quotes.
pub const QUOTE: usize = 40;

/// Hides all but the last four characters of a national ID: `…1234`. Works on any string,
/// counting characters, never bytes, so a stored value can never make a reader panic.
pub fn mask_id(id: &str) -> String {
    let n = id.chars().count();
    let tail: String = id.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

/// The first [`QUOTE`] characters of `value`, debug-quoted, with an ellipsis if cut: what an
/// error message may echo of untrusted input.
pub fn prefix(value: &str) -> String {
    if value.chars().count() <= QUOTE {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(QUOTE).collect();
        format!("{head:?}…")
    }
}

/// Like [`prefix`] without the quotes, for codes shown as they are.
pub fn short(value: &str) -> String {
    if value.chars().count() <= QUOTE {
        value.to_string()
    } else {
        let head: String = value.chars().take(QUOTE).collect();
        format!("{head}…")
    }
}

/// Checks a text field in its stored form: not empty, at most `max` characters, no control or
/// bidirectional-control characters, and already normalized (NFC, single spaces, trimmed).
///
/// # Errors
///
/// A [`FieldError`] naming `field` when any of these fails.
pub fn stored_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    text_within(field, value, max)?;
    if text::nfc(value) != value {
        return Err(FieldError::new(
            field,
            "is not in normal form (NFC, single spaces, no leading or trailing space)",
        ));
    }
    Ok(())
}

/// Checks a code (unit, position, term): 1 to [`MAX_CODE`] printable ASCII characters with no
/// space.
///
/// # Errors
///
/// A [`FieldError`] naming `field` otherwise.
pub fn code(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > MAX_CODE || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            field,
            format!(
                "{} is not a code (1 to {MAX_CODE} printable ASCII characters, no spaces)",
                prefix(value)
            ),
        ));
    }
    Ok(())
}

/// What the checks compare against: the node's reference data and its clock.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Positions and terms.
    pub catalog: &'a Catalog,
    /// The administrative units.
    pub hierarchy: &'a Hierarchy,
    /// Today, for dates that may not lie in the future.
    pub today: NaiveDate,
    /// The node whose clock stamped the dates, when they come from a peer (a child's push, a
    /// parent's decision): its dates may lie up to [`PEER_CLOCK_TOLERANCE_DAYS`] ahead of
    /// `today`, and a refusal names its clock's skew. `None` for a local write.
    pub peer: Option<&'a str>,
}

/// How many days a peer's dates may lie ahead of this node's today: clocks of offices drift
/// and a day boundary falls at different moments; beyond a day the clock is wrong, and the
/// refusal says by how much (issue 21).
pub const PEER_CLOCK_TOLERANCE_DAYS: u64 = 1;

impl Context<'_> {
    fn unit(&self, field: &str, value: &str) -> Result<&Unit, FieldError> {
        code(field, value)?;
        self.hierarchy
            .get(value)
            .ok_or_else(|| FieldError::new(field, format!("unknown unit code {}", prefix(value))))
    }

    fn position(&self, field: &str, value: &str) -> Result<&super::Position, FieldError> {
        code(field, value)?;
        self.catalog.position(value).ok_or_else(|| {
            FieldError::new(field, format!("unknown position code {}", prefix(value)))
        })
    }

    fn not_future(&self, field: &str, date: NaiveDate) -> Result<(), FieldError> {
        let Some(peer) = self.peer else {
            if date > self.today {
                return Err(FieldError::new(field, format!("{date} is in the future")));
            }
            return Ok(());
        };
        let tolerated = self.today + chrono::Days::new(PEER_CLOCK_TOLERANCE_DAYS);
        if date > tolerated {
            let ahead = (date - self.today).num_days();
            return Err(FieldError::new(
                field,
                format!(
                    "{date} is in the future: node {peer}'s clock is {ahead} days ahead of this \
                     node's ({}; {PEER_CLOCK_TOLERANCE_DAYS} day is tolerated)",
                    self.today
                ),
            ));
        }
        Ok(())
    }

    /// Checks one entry of a plan of `unit` in its stored form; `on` is the day the cadre's age
    /// is taken (the adoption day of a submitted plan, today for a draft).
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field under `field`.
    pub fn entry(
        &self,
        field: &str,
        unit: &Unit,
        entry: &Entry,
        on: NaiveDate,
    ) -> Result<(), FieldError> {
        let c = &entry.cadre;
        let f = |name: &str| format!("{field}.{name}");
        validate_national_id(&f("cadre.national_id"), &c.national_id)?;
        stored_text(&f("cadre.full_name"), &c.full_name, MAX_TEXT)?;
        stored_text(&f("cadre.ethnicity"), &c.ethnicity, MAX_TEXT)?;
        if !matches!(on.years_since(c.birth_date), Some(18..=100)) {
            return Err(FieldError::new(
                f("cadre.birth_date"),
                format!("{} gives an age outside 18..100 on {on}", c.birth_date),
            ));
        }
        for (name, len) in [
            ("cadre.current_positions", c.current_positions.len()),
            ("cadre.qualifications", c.qualifications.len()),
            ("cadre.discipline", c.discipline.len()),
        ] {
            if len > MAX_LIST {
                return Err(FieldError::new(
                    f(name),
                    format!("at most {MAX_LIST} items"),
                ));
            }
        }
        for (i, q) in c.qualifications.iter().enumerate() {
            stored_text(&f(&format!("cadre.qualifications[{i}]")), q, MAX_TEXT)?;
        }
        for (i, d) in c.discipline.iter().enumerate() {
            self.not_future(
                &f(&format!("cadre.discipline[{i}].decided_on")),
                d.decided_on,
            )?;
            d.validate(&f(&format!("cadre.discipline[{i}]")), NaiveDate::MAX)?;
            for (name, date) in [
                ("announced_on", d.announced_on),
                ("new_violation_on", d.new_violation_on),
            ] {
                if let Some(date) = date {
                    self.not_future(&f(&format!("cadre.discipline[{i}].{name}")), date)?;
                }
            }
        }
        if c.ratings.len() > MAX_LIST {
            return Err(FieldError::new(
                f("cadre.ratings"),
                format!("at most {MAX_LIST} items"),
            ));
        }
        c.validate_regime_and_ratings(&f("cadre"), NaiveDate::MAX)?;
        if let Some(d) = c.appointment_proposed_on {
            self.not_future(&f("cadre.appointment_proposed_on"), d)?;
        }
        let position = self.position(&f("position"), &entry.position)?;
        if position.level != unit.level {
            return Err(FieldError::new(
                f("position"),
                format!(
                    "{} is a {} position; unit {} is a {}",
                    position.code, position.level, unit.code, unit.level
                ),
            ));
        }
        for (i, p) in c.current_positions.iter().enumerate() {
            self.position(&f(&format!("cadre.current_positions[{i}]")), p)?;
        }
        self.unit(&f("cadre.current_unit"), &c.current_unit)?;
        if let Some(origin) = &entry.origin {
            self.origin(&f("origin"), unit, origin)?;
        }
        Ok(())
    }

    /// Checks an entry's provenance (issue 22): it names a version (from 1) and a place in its
    /// list (1 to [`MAX_ENTRIES`]) of a plan of a unit that `unit` absorbed in a
    /// reorganisation, for a known term. What the source held is the rules' business (R5
    /// counts a provenance only when the province holds that approved version with that
    /// person); this keeps a peer from naming a unit that is no source of its own.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on `field.plan.unit`, `field.plan.term`, `field.plan.version` or
    /// `field.position`.
    pub fn origin(
        &self,
        field: &str,
        unit: &Unit,
        origin: &super::EntryOrigin,
    ) -> Result<(), FieldError> {
        let f = |name: &str| format!("{field}.{name}");
        let sources = self
            .hierarchy
            .history()
            .absorbed_by(&unit.code, self.hierarchy.period());
        if !sources
            .iter()
            .any(|(p, u)| u.code == origin.plan.unit && *p < self.hierarchy.period())
        {
            return Err(FieldError::new(
                f("plan.unit"),
                format!(
                    "{} is not a unit that {} absorbed in a reorganisation, so no source of its plans",
                    prefix(&origin.plan.unit),
                    unit.code
                ),
            ));
        }
        if self.catalog.term(&origin.plan.term).is_none() {
            return Err(FieldError::new(
                f("plan.term"),
                format!("unknown term {}", prefix(&origin.plan.term)),
            ));
        }
        if origin.plan.version == 0 {
            return Err(FieldError::new(f("plan.version"), "versions start at 1"));
        }
        if origin.position == 0 || origin.position as usize > MAX_ENTRIES {
            return Err(FieldError::new(
                f("position"),
                format!(
                    "{} is not a place in a list (1 to {MAX_ENTRIES})",
                    origin.position
                ),
            ));
        }
        Ok(())
    }

    /// Checks one ballot round: counts that add up, a body of at most [`MAX_CONVENED`], a date
    /// not in the future, known positions.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field under `field`.
    pub fn round(&self, field: &str, round: &BallotRound) -> Result<(), FieldError> {
        if round.convened > MAX_CONVENED {
            return Err(FieldError::new(
                format!("{field}.convened"),
                format!(
                    "{} convened is more than any body has ({MAX_CONVENED})",
                    round.convened
                ),
            ));
        }
        if round.tallies.len() > MAX_ENTRIES {
            return Err(FieldError::new(
                format!("{field}.tallies"),
                format!("at most {MAX_ENTRIES} nominees"),
            ));
        }
        round.validate_counts(field)?;
        self.not_future(&format!("{field}.date"), round.date)?;
        for (i, t) in round.tallies.iter().enumerate() {
            self.position(&format!("{field}.tallies[{i}].position"), &t.position)?;
        }
        Ok(())
    }

    /// Checks a decision: its plan names a known unit and term, its hash looks like one, its
    /// deciding unit is known, and its reasons are text of sane size (a return gives one).
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field under `field`.
    pub fn decision(&self, field: &str, d: &Decision) -> Result<(), FieldError> {
        let f = |name: &str| format!("{field}.{name}");
        self.unit(&f("plan.unit"), &d.plan.unit)?;
        self.term(&f("plan.term"), &d.plan.term)?;
        if d.plan.version == 0 {
            return Err(FieldError::new(f("plan.version"), "versions start at 1"));
        }
        hash(&f("hash"), &d.hash)?;
        self.unit(&f("decided_by"), &d.decided_by)?;
        if d.reasons.len() > MAX_REASONS {
            return Err(FieldError::new(
                f("reasons"),
                format!("at most {MAX_REASONS} reasons"),
            ));
        }
        for (i, r) in d.reasons.iter().enumerate() {
            stored_text(&f(&format!("reasons[{i}]")), r, MAX_PROSE)?;
        }
        if d.outcome == Outcome::Return && d.reasons.is_empty() {
            return Err(FieldError::new(f("reasons"), "a return gives its reasons"));
        }
        self.not_future(&f("decided_at"), d.decided_at.date_naive())
    }

    fn term(&self, field: &str, value: &str) -> Result<(), FieldError> {
        code(field, value)?;
        self.catalog
            .term(value)
            .map(|_| ())
            .ok_or_else(|| FieldError::new(field, format!("unknown term {}", prefix(value))))
    }

    /// Checks a whole plan version as it arrives from a peer: identity, size, every entry and
    /// round in stored form, unique entries, and a forwarded decision if it carries one.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field under `field`.
    pub fn plan(&self, field: &str, plan: &Plan) -> Result<(), FieldError> {
        let f = |name: &str| format!("{field}.{name}");
        let unit = self.unit(&f("id.unit"), &plan.id.unit)?;
        self.term(&f("id.term"), &plan.id.term)?;
        if plan.id.version == 0 {
            return Err(FieldError::new(f("id.version"), "versions start at 1"));
        }
        if let Some(base) = plan.base_version {
            if base == 0 || base >= plan.id.version {
                return Err(FieldError::new(
                    f("base_version"),
                    format!("{base} is not an earlier version than {}", plan.id.version),
                ));
            }
        }
        if let Some(h) = &plan.hash {
            hash(&f("hash"), h)?;
        }
        if plan.entries.len() > MAX_ENTRIES {
            return Err(FieldError::new(
                f("entries"),
                format!("a plan holds at most {MAX_ENTRIES} entries"),
            ));
        }
        if plan.rounds.len() > MAX_ROUNDS {
            return Err(FieldError::new(
                f("rounds"),
                format!("a plan records at most {MAX_ROUNDS} rounds"),
            ));
        }
        let on = match plan.adopted_on {
            Some(d) => {
                self.not_future(&f("adopted_on"), d)?;
                d
            }
            None => self.today,
        };
        let mut seen = HashSet::with_capacity(plan.entries.len());
        for (i, e) in plan.entries.iter().enumerate() {
            let ef = f(&format!("entries[{i}]"));
            self.entry(&ef, unit, e, on)?;
            if !seen.insert(e.key()) {
                return Err(FieldError::new(
                    ef,
                    "the same person and position appear twice in the plan",
                ));
            }
        }
        for (i, r) in plan.rounds.iter().enumerate() {
            self.round(&f(&format!("rounds[{i}]")), r)?;
        }
        if let Some(d) = &plan.decision {
            self.decision(&f("decision"), d)?;
        }
        Ok(())
    }
}

/// Checks a content hash: 64 lower-case hexadecimal digits.
///
/// # Errors
///
/// A [`FieldError`] naming `field` otherwise.
pub fn hash(field: &str, value: &str) -> Result<(), FieldError> {
    if value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{} is not a content hash (64 hex digits)", prefix(value)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_id_counts_characters_not_bytes() {
        assert_eq!(mask_id("001080001234"), "…1234");
        assert_eq!(mask_id("12"), "…12");
        assert_eq!(mask_id(""), "…");
        // The input of the issue: a multi-byte character where a byte slice would cut.
        assert_eq!(mask_id("040076000001€ab"), "…1€ab");
        assert_eq!(mask_id("€€€€€€"), "…€€€€");
    }

    #[test]
    fn prefix_quotes_at_most_a_short_head() {
        let long = "x".repeat(100_000);
        let p = prefix(&long);
        assert!(p.chars().count() < QUOTE + 4, "{}", p.len());
        assert_eq!(prefix("abc"), "\"abc\"");
        assert_eq!(prefix(&"ế".repeat(50)).chars().count(), QUOTE + 3);
    }

    #[test]
    fn stored_text_refuses_controls_bidi_and_unnormalized() {
        assert!(stored_text("n", "Nguyễn Thị Hoa", MAX_TEXT).is_ok());
        for bad in [
            "",
            "Nguyễn\u{0}Hoa",
            "Nguyễn\u{1b}[31mHoa",
            "Hoa\u{202E}nềyugN",
            "Hoa\u{2066}x",
            " Hoa",
            "Nguye\u{0302}\u{0303}n",
        ] {
            assert_eq!(
                stored_text("n", bad, MAX_TEXT).unwrap_err().field,
                "n",
                "{bad:?}"
            );
        }
        assert!(stored_text("n", &"a".repeat(MAX_TEXT), MAX_TEXT).is_ok());
        assert!(stored_text("n", &"a".repeat(MAX_TEXT + 1), MAX_TEXT).is_err());
    }

    #[test]
    fn codes_are_short_printable_ascii() {
        assert!(code("unit", "16681").is_ok());
        assert!(code("unit", &"1".repeat(MAX_CODE)).is_ok());
        assert!(code("unit", &"1".repeat(MAX_CODE + 1)).is_err());
        assert!(code("unit", "16 681").is_err());
        assert!(code("unit", "").is_err());
        assert!(code("unit", "1668€").is_err());
    }
}
