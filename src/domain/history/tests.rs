use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The shipped history, as `config::builtin_history` builds it.
fn builtin() -> Arc<UnitHistory> {
    let periods = vec![
        Period {
            label: "2024".into(),
            from: None,
            structure: Structure::parse(include_str!("../../../data/units-2024.csv")).unwrap(),
        },
        Period {
            label: "2025".into(),
            from: Some(date(2025, 7, 1)),
            structure: Structure::parse(include_str!("../../../data/units-2025.csv")).unwrap(),
        },
    ];
    let mapping = parse_mappings(include_str!("../../../data/units-2024-to-2025.csv")).unwrap();
    Arc::new(UnitHistory::new(periods, vec![mapping]).unwrap())
}

#[test]
fn the_structure_changes_between_30_june_and_1_july_2025() {
    let h = builtin();
    assert_eq!(h.period_at(date(2025, 6, 30)), 0);
    assert_eq!(h.period_at(date(2025, 7, 1)), 1);
    assert!(h.structure_at(date(2025, 6, 30)).get("412").is_some());
    assert!(h.structure_at(date(2025, 7, 1)).get("412").is_none());
    // The same code names two units: Quang Trung, in Vinh, until 30 June; Thành Vinh, under
    // the province, from 1 July.
    let (p, before) = h.unit_at("16681", date(2025, 6, 30)).unwrap();
    assert_eq!((p, before.name.as_str()), (0, "Phường Quang Trung"));
    assert_eq!(before.parent.as_deref(), Some("412"));
    let (p, after) = h.unit_at("16681", date(2025, 7, 1)).unwrap();
    assert_eq!((p, after.name.as_str()), (1, "Phường Thành Vinh"));
    assert_eq!(after.parent.as_deref(), Some("40"));
    // An abolished district is found in the last structure that had it.
    let (p, vinh) = h.unit_at("412", date(2025, 7, 1)).unwrap();
    assert_eq!((p, vinh.name.as_str()), (0, "Thành phố Vinh"));
}

#[test]
fn successors_and_what_a_new_commune_absorbed() {
    let h = builtin();
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(h.successors("16663", 0, 1), set(&["16681"]));
    assert_eq!(
        h.successors("412", 0, 1),
        set(&["16681", "16690", "16702", "16708", "16732", "17920"])
    );
    // A district is dissolved, not absorbed; its communes are.
    assert!(h.absorbed_into("412", 0, 1).is_empty());
    let absorbed: Vec<&str> = h
        .absorbed_by("16681", 1)
        .into_iter()
        .map(|(_, u)| u.code.as_str())
        .collect();
    assert_eq!(
        absorbed,
        ["16663", "16669", "16672", "16678", "16681", "18013"]
    );
    // The special zones: Huyện Hoàng Sa became Đặc khu Hoàng Sa.
    assert_eq!(h.successors("498", 0, 1), set(&["20333"]));
    // Every 2024 unit has a successor (checked when the history is built, too).
    for u in h.periods()[0].structure.units() {
        assert!(!h.successors(&u.code, 0, 1).is_empty(), "{} lost", u.code);
    }
}

#[test]
fn a_node_in_2025_scopes_and_names_2024_units() {
    let h = Hierarchy::with_history(builtin(), 1);
    assert_eq!(h.label(), "2025");
    assert!(h.is_former("412"));
    assert!(!h.is_former("16681"));
    assert_eq!(h.get("412").unwrap().name, "Thành phố Vinh");
    // Now inside the province: the abolished district, and every old commune of Nghệ An.
    assert!(h.is_within("412", "40"));
    assert!(h.is_within("16663", "40"));
    assert!(!h.is_within("412", "01"));
    // Vinh was divided among six communes: none of them reads the district's plan.
    assert!(!h.reads("412", "16681"));
    // Thành Vinh absorbed Đông Vĩnh whole: it reads its plan; Trường Vinh does not.
    assert!(h.reads("16663", "16681"));
    assert!(!h.reads("16663", "16690"));
    // The province approved the district's plans: it still does.
    assert_eq!(h.parent("412").unwrap().code, "40");
    assert_eq!(
        h.name_in_time("16681", Some(date(2025, 6, 30))).unwrap(),
        "Phường Quang Trung (Thành phố Vinh, 2024; now part of Phường Thành Vinh)"
    );
    assert_eq!(
        h.name_in_time("16681", Some(date(2025, 7, 1))).unwrap(),
        "Phường Thành Vinh"
    );
    assert_eq!(
        h.name_in_time("412", None).unwrap(),
        "Thành phố Vinh (2024; now divided among 6 units)"
    );
    // The province went on unchanged: its 2024 list is named as the province is now.
    assert_eq!(
        h.name_in_time("40", Some(date(2025, 4, 15))).unwrap(),
        "Tỉnh Nghệ An"
    );
    // Under an abolished root lie the units that did in its own structure.
    assert!(h.is_within("16663", "412"));
    assert_eq!(h.subtree("412").len(), 34);
}

#[test]
fn a_node_in_2024_knows_no_2025_unit_and_names_by_2024() {
    let h = Hierarchy::with_history(builtin(), 0);
    assert!(h.get("20333").is_none());
    assert_eq!(h.get("16681").unwrap().name, "Phường Quang Trung");
    // A plan dated after 1 July is still of the node's own period until it moves.
    assert_eq!(h.period_at(date(2026, 1, 1)), 0);
    assert_eq!(
        h.name_in_time("16681", Some(date(2026, 1, 1))).unwrap(),
        "Phường Quang Trung"
    );
    assert!(h.switch_to(1));
    assert_eq!(h.get("16681").unwrap().name, "Phường Thành Vinh");
    assert!(!h.switch_to(2));
}

fn units(rows: &[(&str, &str, Option<&str>)]) -> Structure {
    Structure::from_units(
        rows.iter()
            .map(|(code, level, parent)| Unit {
                code: code.to_string(),
                level: level.parse().unwrap(),
                name: format!("U{code}"),
                parent: parent.map(str::to_string),
            })
            .collect(),
    )
    .unwrap()
}

fn two_periods(mapping: &str) -> Result<UnitHistory, ParseError> {
    let old = units(&[
        ("P", "province", None),
        ("D1", "district", Some("P")),
        ("D2", "district", Some("P")),
        ("A", "commune", Some("D1")),
        ("B", "commune", Some("D2")),
        ("C", "commune", Some("D2")),
        ("Q", "province", None),
        ("D3", "district", Some("Q")),
        ("E", "commune", Some("D3")),
    ]);
    let new = units(&[
        ("P", "province", None),
        ("N", "commune", Some("P")),
        ("M", "commune", Some("P")),
        ("Q", "province", None),
        ("R", "commune", Some("Q")),
    ]);
    UnitHistory::new(
        vec![
            Period {
                label: "old".into(),
                from: None,
                structure: old,
            },
            Period {
                label: "new".into(),
                from: Some(date(2025, 7, 1)),
                structure: new,
            },
        ],
        vec![parse_mappings(mapping).unwrap()],
    )
}

#[test]
fn merged_units_give_no_one_else_access_dhis2() {
    // DHIS2 once gave every user access to merged organisation units. Here A (of D1) and B
    // (of D2) merge into N; C is divided between M and R, across two provinces.
    let h = two_periods(
        "old_code,new_code,share\nA,N,whole\nB,N,whole\nC,M,part\nC,R,part\nE,R,whole\n",
    )
    .unwrap();
    let h = Hierarchy::with_history(Arc::new(h), 1);
    assert!(h.reads("A", "N") && h.reads("B", "N"));
    assert!(
        !h.reads("A", "M") && !h.reads("B", "M"),
        "a sibling gained access"
    );
    assert!(
        !h.reads("A", "R") && !h.reads("A", "Q"),
        "another province gained access"
    );
    // The divided commune: each part's new commune and province read it (its cadres now
    // work there), but it lies wholly within neither province.
    assert!(h.reads("C", "M") && h.reads("C", "R") && h.reads("C", "Q"));
    assert!(!h.is_within("C", "P") && !h.is_within("C", "Q"));
    assert!(!h.reads("C", "N"));
    // D2 went to N, M and R: read by no commune, and within neither province.
    assert!(!h.reads("D2", "N") && !h.reads("D2", "M") && !h.is_within("D2", "P"));
    // D1 went wholly to N.
    assert!(h.is_within("D1", "N") && h.is_within("D1", "P"));
}

#[test]
fn a_mapping_that_loses_a_unit_or_splits_a_whole_is_refused() {
    let err =
        two_periods("old_code,new_code,share\nA,N,whole\nB,N,whole\nE,R,whole\n").unwrap_err();
    assert!(err.problem.contains("unit C (UC)"), "{err}");
    assert!(err.problem.contains("no successor"), "{err}");
    let err = two_periods(
        "old_code,new_code,share\nA,N,whole\nA,M,whole\nB,N,whole\nC,M,whole\nE,R,whole\n",
    )
    .unwrap_err();
    assert!(err.problem.contains("old unit A went whole"), "{err}");
    let err = two_periods("old_code,new_code,share\nA,X,whole\n").unwrap_err();
    assert!(err.problem.contains("new unit X"), "{err}");
    let err = parse_mappings("old_code,new_code,share\nA,N,most\n").unwrap_err();
    assert_eq!((err.file, err.line), ("mapping", 2));
}

/// `then` appends a structure exactly as `new` joins it, and names the line of a row it refuses.
#[test]
fn a_later_structure_appended_joins_as_one_given_at_once_and_names_the_line() {
    let mapping = "old_code,new_code,share\nA,N,whole\nB,N,whole\nC,M,part\nC,R,part\nE,R,whole\n";
    let whole = two_periods(mapping).unwrap();
    let first = UnitHistory::single("old", whole.periods()[0].structure.clone());
    let next = || Period {
        label: "new".into(),
        from: Some(date(2025, 7, 1)),
        structure: whole.periods()[1].structure.clone(),
    };
    let appended = first
        .clone()
        .then(next(), parse_mapping_lines(mapping).unwrap())
        .unwrap();
    for code in ["P", "D1", "D2", "A", "B", "C", "Q", "D3", "E"] {
        assert_eq!(
            appended.successors(code, 0, 1),
            whole.successors(code, 0, 1),
            "{code}"
        );
        assert_eq!(
            appended.absorbed_into(code, 0, 1),
            whole.absorbed_into(code, 0, 1),
            "{code}"
        );
    }
    let refused = |m: &str| {
        first
            .clone()
            .then(next(), parse_mapping_lines(m).unwrap())
            .unwrap_err()
    };
    let e = refused("old_code,new_code,share\nA,N,whole\nZ,N,whole\n");
    assert_eq!(
        (e.line, e.problem.as_str()),
        (3, "old unit Z is not in structure old")
    );
    let e = refused("old_code,new_code,share\nA,N,whole\nB,X,whole\n");
    assert_eq!(
        (e.line, e.problem.as_str()),
        (3, "new unit X is not in structure new")
    );
    let e = refused("old_code,new_code,share\nA,N,whole\nA,M,part\n");
    assert_eq!(e.line, 3, "{e}");
    let e = refused("old_code,new_code,share\nA,N,whole\n");
    assert_eq!(e.line, 0, "{e}");
    assert!(e.problem.contains("no successor"), "{e}");
    // A date not after the last structure's, and a label already used.
    let e = whole.clone().then(next(), Vec::new()).unwrap_err();
    assert!(e.problem.contains("does not come after"), "{e}");
    let e = first
        .then(
            Period {
                label: "old".into(),
                ..next()
            },
            Vec::new(),
        )
        .unwrap_err();
    assert!(e.problem.contains("already used"), "{e}");
}

/// What a province's reference data carries of a later reorganisation: 2027 merges communes
/// 16690 and 16702 of province 40 into a new 99901.
fn r2027() -> LaterReorganisation {
    LaterReorganisation {
        label: "2027".into(),
        on: date(2027, 1, 1),
        units: include_str!("../../../data/units-2025.csv")
            .lines()
            .filter(|l| !l.starts_with("16690,") && !l.starts_with("16702,"))
            .chain(["99901,commune,Phường Vinh Mới,40"])
            .map(|l| format!("{l}\n"))
            .collect(),
        mapping: "old_code,new_code,share\n16690,99901,whole\n16702,99901,whole\n".into(),
    }
}

#[test]
fn later_reorganisations_carried_down_join_once_and_a_bad_one_is_refused_whole() {
    let h = Hierarchy::with_history(builtin(), 1);
    // A reference into the history taken before it grows stays valid (set-once slots).
    let before = h.get("16681").unwrap();
    let longer = h
        .history()
        .with_later(&[r2027()])
        .unwrap()
        .expect("2027 is new here");
    assert!(h.extend(longer));
    assert_eq!(before.name, "Phường Thành Vinh");
    assert_eq!(h.history().period_named("2027"), Some(2));
    assert_eq!(h.period(), 1, "learning a structure is not moving to it");
    assert!(h.get("99901").is_none());
    assert!(h.switch_to(2));
    assert_eq!(h.get("99901").unwrap().name, "Phường Vinh Mới");
    assert_eq!(h.clone().history().periods().len(), 3, "a clone keeps it");

    // Known already and the same: nothing to add; known but different: refused.
    assert!(h.history().with_later(&[r2027()]).unwrap().is_none());
    let moved = LaterReorganisation {
        on: date(2027, 2, 1),
        ..r2027()
    };
    let (i, e) = h.history().with_later(&[moved]).unwrap_err();
    assert_eq!(i, 0);
    assert!(e.contains("differs"), "{e}");

    // Each check of a file at start holds for one carried down, naming its index.
    let lost = LaterReorganisation {
        label: "2028".into(),
        on: date(2028, 1, 1),
        units: r2027()
            .units
            .lines()
            .filter(|l| !l.starts_with("99901,"))
            .map(|l| format!("{l}\n"))
            .collect(),
        mapping: "old_code,new_code,share\n".into(),
    };
    let (i, e) = h
        .history()
        .with_later(&[r2027(), lost.clone()])
        .unwrap_err();
    assert_eq!(i, 1);
    assert!(e.contains("99901") && e.contains("no successor"), "{e}");
    let early = LaterReorganisation {
        on: date(2026, 1, 1),
        ..lost.clone()
    };
    let (_, e) = h.history().with_later(&[early]).unwrap_err();
    assert!(e.contains("does not come after"), "{e}");
    let builtin_label = LaterReorganisation {
        label: "builtin:2028".into(),
        ..lost.clone()
    };
    let (_, e) = h.history().with_later(&[builtin_label]).unwrap_err();
    assert!(e.contains("builtin:"), "{e}");
    let unknown = LaterReorganisation {
        mapping: "old_code,new_code,share\n99901,77777,whole\n".into(),
        ..lost
    };
    let (_, e) = h.history().with_later(&[unknown]).unwrap_err();
    assert!(e.contains("mapping line 2") && e.contains("77777"), "{e}");

    // A history that does not continue this one is not taken.
    assert!(!h.extend((*builtin()).clone()));
    assert_eq!(h.history().periods().len(), 3);
}

/// A random history: two provinces with districts and communes, then `steps` two-level
/// reorganisations, each mapping every commune of the structure before to one new commune
/// (whole) or two or three (part), anywhere in either province.
#[derive(Debug, Clone)]
struct Random {
    /// Per period: (code, level, parent).
    periods: Vec<Vec<(String, &'static str, Option<String>)>>,
    /// Per step: (old, new, whole).
    steps: Vec<Vec<(String, String, bool)>>,
}

fn random_history() -> impl Strategy<Value = Random> {
    let first = prop::collection::vec(prop::collection::vec(1usize..4, 1..3), 2..=2);
    let later = prop::collection::vec((2usize..6, any::<u64>()), 1..4);
    (first, later).prop_map(|(provinces, later)| {
        let mut p0 = Vec::new();
        for (pi, districts) in provinces.iter().enumerate() {
            let p = format!("P{pi}");
            p0.push((p.clone(), "province", None));
            for (di, communes) in districts.iter().enumerate() {
                let d = format!("0D{pi}{di}");
                p0.push((d.clone(), "district", Some(p.clone())));
                for ci in 0..*communes {
                    p0.push((format!("0C{pi}{di}{ci}"), "commune", Some(d.clone())));
                }
            }
        }
        let mut periods = vec![p0];
        let mut steps = Vec::new();
        for (k, (per_province, seed)) in later.into_iter().enumerate() {
            let k = k + 1;
            let mut next = Vec::new();
            let mut new_communes = Vec::new();
            for pi in 0..2 {
                let p = format!("P{pi}");
                next.push((p.clone(), "province", None));
                for ci in 0..per_province {
                    let c = format!("{k}C{pi}{ci}");
                    next.push((c.clone(), "commune", Some(p.clone())));
                    new_communes.push(c);
                }
            }
            let mut rng = seed;
            let mut draw = |n: usize| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((rng >> 33) as usize) % n
            };
            let mut rows = Vec::new();
            for (code, level, _) in periods.last().unwrap() {
                if *level != "commune" {
                    continue;
                }
                if draw(3) > 0 {
                    rows.push((
                        code.clone(),
                        new_communes[draw(new_communes.len())].clone(),
                        true,
                    ));
                } else {
                    let parts = 2 + draw(2);
                    let mut taken = BTreeSet::new();
                    for _ in 0..parts {
                        taken.insert(new_communes[draw(new_communes.len())].clone());
                    }
                    for t in taken {
                        rows.push((code.clone(), t, false));
                    }
                }
            }
            periods.push(next);
            steps.push(rows);
        }
        Random { periods, steps }
    })
}

impl Random {
    fn build(&self) -> UnitHistory {
        let periods = self
            .periods
            .iter()
            .enumerate()
            .map(|(i, units)| Period {
                label: format!("p{i}"),
                from: (i > 0).then(|| date(2025, 1, 1) + chrono::Days::new(i as u64 * 100)),
                structure: Structure::from_units(
                    units
                        .iter()
                        .map(|(code, level, parent)| Unit {
                            code: code.clone(),
                            level: level.parse().unwrap(),
                            name: code.clone(),
                            parent: parent.clone(),
                        })
                        .collect(),
                )
                .unwrap(),
            })
            .collect();
        let mappings = self
            .steps
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|(old, new, whole)| Mapping {
                        old: old.clone(),
                        new: new.clone(),
                        share: if *whole { Share::Whole } else { Share::Part },
                    })
                    .collect()
            })
            .collect();
        UnitHistory::new(periods, mappings).expect("a mapping of every commune joins")
    }

    /// The model: where each unit of period `p` ended up in the last period, following the
    /// rows alone (`absorbed`) or also a unit's own units (a district, a province).
    fn model(&self, p: usize, code: &str, absorbed: bool) -> BTreeSet<String> {
        let mut set = BTreeSet::from([code.to_string()]);
        for (i, rows) in self.steps.iter().enumerate().skip(p) {
            let mut next = BTreeSet::new();
            let mut todo: Vec<String> = set.into_iter().collect();
            while let Some(c) = todo.pop() {
                let mapped: Vec<&String> = rows
                    .iter()
                    .filter(|(o, _, _)| *o == c)
                    .map(|(_, n, _)| n)
                    .collect();
                if !mapped.is_empty() {
                    next.extend(mapped.into_iter().cloned());
                } else if self.periods[i + 1].iter().any(|(n, _, _)| *n == c) {
                    next.insert(c); // a province goes on under its code
                } else if !absorbed {
                    todo.extend(
                        self.periods[i]
                            .iter()
                            .filter(|(_, _, parent)| parent.as_deref() == Some(c.as_str()))
                            .map(|(n, _, _)| n.clone()),
                    );
                }
            }
            set = next;
        }
        set
    }

    /// The province of a unit of the last period.
    fn province(&self, code: &str) -> String {
        let last = self.periods.last().unwrap();
        match last.iter().find(|(c, _, _)| c == code) {
            Some((_, _, Some(parent))) => parent.clone(),
            _ => code.to_string(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Never a plan's unit lost, never a reader's scope widened, through several successive
    /// reorganisations of random whole and part mappings.
    #[test]
    fn no_unit_lost_and_no_scope_widened(r in random_history()) {
        let history = Arc::new(r.build());
        let last = r.periods.len() - 1;
        let h = Hierarchy::with_history(history.clone(), last);
        let readers: Vec<String> = r.periods[last].iter().map(|(c, _, _)| c.clone()).collect();
        let mut successors_seen = BTreeMap::new();
        for (p, units) in r.periods.iter().enumerate().take(last) {
            for (code, _, _) in units {
                // Lost: a unit (so its plans) with no current successor.
                let s = history.successors(code, p, last);
                prop_assert!(!s.is_empty(), "{code} of period {p} is lost");
                prop_assert_eq!(&s, &r.model(p, code, false));
                prop_assert!(h.get(code).is_some(), "{code} is no longer known");
                successors_seen.insert((p, code.clone()), s);
            }
        }
        // Scope: only the units of the last period of its own code count as "current"; the
        // earlier ones are judged through the rows. Codes never repeat across periods here
        // but for the provinces.
        for ((p, code), s) in &successors_seen {
            if r.periods[last].iter().any(|(c, _, _)| c == code) {
                continue;
            }
            let absorbed = r.model(*p, code, true);
            for reader in &readers {
                let inside = |c: &String| c == reader || r.province(c) == *reader;
                let all_inside = s.iter().all(inside);
                let some_absorbed = absorbed.iter().any(inside);
                prop_assert_eq!(h.is_within(code, reader), all_inside,
                    "is_within({}, {})", code, reader);
                prop_assert_eq!(h.reads(code, reader), all_inside || some_absorbed,
                    "reads({}, {})", code, reader);
                if !s.iter().any(inside) {
                    prop_assert!(!h.reads(code, reader),
                        "{} reads {} though none of its successors is its own", reader, code);
                }
            }
        }
    }
}
