//! Tables as the CLI and the demo print them: plans' status and level names, the consolidated
//! list, findings and a node's sync status. Each printer writes to `out` and passes on its
//! write errors, so that a closed pipe ends the program quietly instead of panicking.

use std::io::{self, Write};

use crate::{
    domain::{Level, PlanStatus},
    grpc::{convert, pb},
};

/// The name of a plan status as the domain spells it (`draft`, `approved`, …); `?` for a value
/// this program does not know.
pub fn status_name(status: i32) -> &'static str {
    convert::status_from_pb("status", status)
        .ok()
        .flatten()
        .map_or("?", PlanStatus::as_str)
}

/// The name of a level as the domain spells it (`province`, `district`, `commune`); `?` for a
/// value this program does not know.
pub fn level_name(level: i32) -> &'static str {
    convert::level_from_pb(level).map_or("?", Level::as_str)
}

/// A plan version as the CLI and the demo name it: `unit/term vN`; `/ v0` when the node sent no
/// ID.
pub fn plan_ref(id: Option<&pb::PlanId>) -> String {
    let id = id.cloned().unwrap_or_default();
    format!("{}/{} v{}", id.unit, id.term, id.version)
}

/// Prints the consolidated list as a table, numbered (STT).
///
/// # Errors
///
/// A failed write to `out` (a closed pipe among them).
pub fn print_consolidated(
    out: &mut impl Write,
    entries: &[pb::ConsolidatedEntry],
) -> io::Result<()> {
    let h = [
        "STT",
        "Họ và tên",
        "Ngày sinh",
        "Đơn vị",
        "Tên đơn vị",
        "Chức danh",
        "Phiếu",
        "Trạng thái",
    ];
    writeln!(
        out,
        "{:>3}  {:<26} {:<10} {:<6} {:<24} {:<12} {:>7}  {}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    )?;
    for (i, e) in entries.iter().enumerate() {
        let votes = if e.vote_denominator == 0 {
            "—".to_string()
        } else {
            format!("{}/{}", e.yes_votes, e.vote_denominator)
        };
        writeln!(
            out,
            "{:>3}  {:<26} {:<10} {:<6} {:<24} {:<12} {:>7}  {} v{}",
            i + 1,
            e.full_name,
            e.birth_date,
            e.unit,
            truncate(&e.unit_name, 24),
            e.position,
            votes,
            status_name(e.status),
            e.version
        )?;
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// When a link last reconciled and, seen from the child, what it repaired.
pub fn reconciled_line(role: &str, l: &pb::LinkStatus) -> String {
    if l.last_reconciled_at.is_empty() {
        return "not reconciled yet".into();
    }
    if role == "child" {
        return format!("reconciled {}", l.last_reconciled_at);
    }
    format!(
        "reconciled {}: pushed again {}, decisions restored {}, conflicts reported {}, differences left {}",
        l.last_reconciled_at,
        l.reconciled_pushed,
        l.reconciled_decisions,
        l.reconciled_conflicts,
        l.reconciled_unresolved
    )
}

/// Prints a node's sync status: its links, conflicts and counters.
///
/// # Errors
///
/// A failed write to `out` (a closed pipe among them).
pub fn print_status(out: &mut impl Write, s: &pb::SyncStatusResponse) -> io::Result<()> {
    writeln!(
        out,
        "node {} (reference data v{})",
        s.unit, s.reference_version
    )?;
    let mut show = |role: &str, l: &pb::LinkStatus| -> io::Result<()> {
        let or_dash = |t: &str| {
            if t.is_empty() {
                "-".to_string()
            } else {
                t.to_string()
            }
        };
        writeln!(
        out,
            "  {role:<6} {:<6} {:<5} last receipt {:<32} outbox {:>3}  lag {:>4} s  last contact {:<32}{}",
            l.unit,
            if l.stuck { "STUCK" } else { "ok" },
            or_dash(&l.last_receipt_at),
            l.outbox_length,
            l.lag_seconds,
            or_dash(&l.last_contact_at),
            if l.last_error.is_empty() { String::new() } else { format!("  last error: {}", l.last_error) }
        )?;
        writeln!(out, "         {}", reconciled_line(role, l))
    };
    if let Some(p) = &s.parent {
        show("parent", p)?;
    }
    for c in &s.children {
        show("child", c)?;
    }
    for c in &s.conflicts {
        writeln!(
            out,
            "  CONFLICT {}: {} holds {}, {} offered {} ({})",
            plan_ref(c.plan.as_ref()),
            c.to_unit,
            c.held_hash,
            c.from_unit,
            c.offered_hash,
            c.at
        )?;
    }
    writeln!(
        out,
        "  pushes accepted {}, duplicate {}, refused {}",
        s.pushes_accepted, s.pushes_duplicate, s.pushes_refused
    )?;
    Ok(())
}

/// Prints findings as a table: rule, severity, ID, units, person, message.
///
/// # Errors
///
/// A failed write to `out` (a closed pipe among them).
pub fn print_findings(out: &mut impl Write, findings: &[pb::Finding]) -> io::Result<()> {
    for f in findings {
        let severity = if f.severity == pb::Severity::Error as i32 {
            "lỗi"
        } else {
            "cảnh báo"
        };
        let person = if f.person_name.is_empty() {
            String::new()
        } else {
            format!("{} ({})", f.person_name, f.person_id_masked)
        };
        writeln!(
            out,
            "{:<4} {:<9} {}  {}  [{}]  {}",
            f.rule,
            severity,
            f.id,
            f.ruleset,
            f.units.join(","),
            person
        )?;
        if !f.merger.is_empty() {
            writeln!(
                out,
                "     sáp nhập tỉnh / merger of provinces {}: re-plan (the lists collide since the merger)",
                f.merger.join(", ")
            )?;
        }
        writeln!(out, "     {}", f.message_vi)?;
        if !f.reorganised_on.is_empty() {
            writeln!(
                out,
                "     sắp xếp đơn vị {} (reorganisation)",
                f.reorganised_on
            )?;
        }
        if let Some(a) = &f.acceptance {
            writeln!(
                out,
                "     chấp nhận bởi {} lúc {}: {}",
                a.by, a.at, a.justification
            )?;
        }
    }
    Ok(())
}

/// Prints where each unit's plan stands for a term, one unit a line.
///
/// # Errors
///
/// Any error of writing to `out`.
pub fn print_progress(out: &mut impl Write, units: &[pb::UnitProgress]) -> io::Result<()> {
    for u in units {
        let state = match pb::Progress::try_from(u.progress).unwrap_or_default() {
            pb::Progress::Unspecified => "?".to_string(),
            pb::Progress::NotStarted => "chưa bắt đầu (not started)".to_string(),
            pb::Progress::Draft => format!("dự thảo v{} (draft)", u.version),
            pb::Progress::Adopted => format!("đã thông qua v{} (adopted)", u.version),
            pb::Progress::Submitted => format!(
                "đã trình v{}, chờ {} (submitted, pending at {})",
                u.version, u.pending_at, u.pending_at
            ),
            pb::Progress::Approved => format!("đã phê duyệt v{} (approved)", u.version),
            pb::Progress::Returned => format!("bị trả lại v{} (returned)", u.version),
            pb::Progress::Overdue => format!(
                "quá hạn thẩm định v{} tại {} (overdue at {})",
                u.version, u.pending_at, u.pending_at
            ),
            pb::Progress::New => {
                format!(
                    "đơn vị mới từ {}, chưa có quy hoạch (new since {}: no plan yet)",
                    u.since, u.since
                )
            }
            pb::Progress::NotPlanning => "không quy hoạch (not planning)".to_string(),
        };
        writeln!(out, "{:<8} {state}", u.unit)?;
    }
    Ok(())
}
