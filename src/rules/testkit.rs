//! Builders shared by the rule tests: a small province (Nghệ An with two districts and three
//! communes), the shipped catalogue, and plans, cadres and ballot rounds with sensible defaults.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{
    engine::{check, Scope, Snapshot},
    finding::{Finding, Report, RuleId},
    params::RulesFile,
};
use crate::domain::{
    BallotRound, Body, Cadre, Catalog, Entry, EntrySource, Gender, Hierarchy, Plan, PlanId,
    PlanStatus, Tally,
};

pub const ID1: &str = "001080001234";
pub const ID2: &str = "001080005678";

pub const UNITS: &str = "code,level,name,parent_code\n40,province,Tỉnh Nghệ An,\n412,district,Thành phố Vinh,40\n16681,commune,Phường Đông Vĩnh,412\n16684,commune,Phường Hà Huy Tập,412\n414,district,Thị xã Thái Hòa,40\n16700,commune,Xã Tây Hiếu,414\n";

pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// 09:00 Vietnam time on a day.
pub fn at(y: i32, m: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, 2, 0, 0).unwrap()
}

/// The day the tests check on: Monday 3 November 2025 (QĐ 377 in force).
pub fn today() -> NaiveDate {
    d(2025, 11, 3)
}

/// The province and catalogue the tests run against.
pub struct World {
    pub hierarchy: Hierarchy,
    pub catalog: Catalog,
}

impl World {
    pub fn new() -> Self {
        Self {
            hierarchy: Hierarchy::parse(UNITS).unwrap(),
            catalog: crate::config::builtin_catalog().unwrap(),
        }
    }

    pub fn snapshot<'a>(&'a self, plans: &'a [Plan]) -> Snapshot<'a> {
        Snapshot {
            plans,
            hierarchy: &self.hierarchy,
            catalog: &self.catalog,
            submitted: &[],
            fulfilled: &[],
        }
    }

    /// A full check of `plans` with the default rules on [`today`].
    pub fn check(&self, plans: &[Plan]) -> Report {
        check(
            &self.snapshot(plans),
            &Scope::default(),
            today(),
            &RulesFile::default(),
        )
    }

    /// The findings of one rule only.
    pub fn rule(&self, plans: &[Plan], rule: RuleId) -> Report {
        self.rule_with(plans, rule, &RulesFile::default(), today())
    }

    /// The findings of one rule about `plan` alone.
    pub fn findings(&self, plan: Plan, rule: RuleId) -> Vec<Finding> {
        self.rule(&[plan], rule).findings
    }

    /// The findings of one rule about `plan` alone, with given rules, on [`today`].
    pub fn findings_with(&self, plan: Plan, rule: RuleId, rules: &RulesFile) -> Vec<Finding> {
        self.rule_with(&[plan], rule, rules, today()).findings
    }

    /// Asserts that `rule` finds nothing in `passes` and exactly one thing in `fails`, the
    /// two sides of a boundary; that one finding.
    #[track_caller]
    pub fn boundary(&self, rule: RuleId, passes: Plan, fails: Plan) -> Finding {
        let passing = self.findings(passes, rule);
        assert!(passing.is_empty(), "{passing:#?}");
        let mut failing = self.findings(fails, rule);
        assert_eq!(failing.len(), 1, "{failing:#?}");
        failing.remove(0)
    }

    /// The findings of one rule with given rules and day.
    pub fn rule_with(
        &self,
        plans: &[Plan],
        rule: RuleId,
        rules: &RulesFile,
        day: NaiveDate,
    ) -> Report {
        let scope = Scope {
            rules: vec![rule],
            ..Scope::default()
        };
        check(&self.snapshot(plans), &scope, day, rules)
    }
}

/// A received plan adopted on 15 July 2025 (so judged by QĐ 50).
pub fn plan(unit: &str, term: &str, version: u32) -> Plan {
    let mut p = Plan::new_draft(
        PlanId {
            unit: unit.into(),
            term: term.into(),
            version,
        },
        None,
    );
    p.status = PlanStatus::Received;
    p.adopted_on = Some(d(2025, 7, 15));
    p
}

/// A man born 17 May 1985, Kinh, now a commune civil servant in district 412.
pub fn cadre(id: &str, name: &str) -> Cadre {
    Cadre {
        national_id: id.into(),
        full_name: name.into(),
        birth_date: d(1985, 5, 17),
        gender: Gender::Male,
        ethnicity: "Kinh".into(),
        current_positions: vec!["C.CC".into()],
        current_unit: "412".into(),
        qualifications: vec![],
        discipline: vec![],
        appointment_proposed_on: None,
        retirement_regime: Default::default(),
        science_technology: false,
        ratings: Vec::new(),
    }
}

/// A valid executive-committee round: 30 convened, 28 present, 27 valid ballots.
pub fn round(tallies: Vec<Tally>) -> BallotRound {
    BallotRound {
        body: Body::ExecutiveCommittee,
        date: d(2025, 6, 20),
        convened: 30,
        present: 28,
        ballots_issued: 28,
        valid_ballots: 27,
        tallies,
    }
}

/// An entry voted in with 20 yes votes in the plan's first round (created if missing).
pub fn voted(rounds: &mut Vec<BallotRound>, cadre: Cadre, position: &str) -> Entry {
    voted_with(rounds, cadre, position, 20)
}

/// An entry voted in with `yes` votes in the plan's first round (created if missing).
pub fn voted_with(rounds: &mut Vec<BallotRound>, cadre: Cadre, position: &str, yes: u32) -> Entry {
    if rounds.is_empty() {
        rounds.push(round(vec![]));
    }
    rounds[0].tallies.push(Tally {
        national_id: cadre.national_id.clone(),
        position: position.into(),
        yes,
    });
    Entry {
        cadre,
        position: position.into(),
        source: EntrySource::Voted,
        origin: None,
    }
}

/// One person planned for `position` in `unit`'s 2025–2030 list (see [`plan`], [`voted`]).
pub fn one_planned(unit: &str, position: &str, c: Cadre) -> Plan {
    let mut p = plan(unit, "2025-2030", 1);
    p.entries.push(voted(&mut p.rounds, c, position));
    p
}

/// An entry added by the approving authority (R15), with no ballot.
pub fn entry(cadre: Cadre, position: &str) -> Entry {
    Entry {
        cadre,
        position: position.into(),
        source: EntrySource::AddedByAuthority,
        origin: None,
    }
}

/// Asserts that `message` contains `part`, showing the whole message when it does not.
#[track_caller]
pub fn assert_contains(message: &str, part: &str) {
    assert!(message.contains(part), "{message}");
}
