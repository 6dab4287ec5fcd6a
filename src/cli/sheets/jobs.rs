//! The work of the spreadsheet commands: `import` (an Excel or text list into a unit's draft, with a
//! dry run that reports every bad row and every skipped one), `export` (the consolidated list,
//! a unit's plan in the flat or the official layout, or the findings, as .xlsx, .csv with BOM,
//! or JSON) and `template` (a blank list to fill in). Talks to a node through the client API.

use std::{io::Write, path::Path};

use anyhow::{bail, Context};
use tonic::transport::Channel;

use quyhoach::{
    config,
    domain::{BallotRound, Body, Catalog, Entry, Gender, Hierarchy, Plan},
    grpc::{convert, pb, pb::planning_client::PlanningClient},
    tabular::{self, ExportSheet, Format, ImportContext},
};

/// What `quyhoach import` is asked to do.
pub struct ImportJob<'a> {
    /// The spreadsheet or text file to read.
    pub file: &'a Path,
    /// Code of the unit whose draft receives the list.
    pub unit: &'a str,
    /// The term of the draft.
    pub term: &'a str,
    /// The units file (or `builtin:…` name) that resolves unit codes.
    pub units: &'a str,
    /// True if and only if the list is only checked and reported, not loaded.
    pub dry_run: bool,
    /// The worksheet to read, when several visible sheets hold a list.
    pub sheet: Option<&'a str>,
    /// The round that produced the vote counts, if the list has them: (date, convened, present).
    pub round: Option<(chrono::NaiveDate, u32, u32)>,
    /// True if and only if the draft's entries are to become exactly the file's (a corrected
    /// list), instead of the file's being added to them.
    pub replace: bool,
}

/// Reads and checks a list, prints the report and the difference it makes to the draft (the
/// dry run too, when the node answers); unless it is a dry run, sends every row to the node in
/// one all-or-nothing request. Returns the number of rows imported.
///
/// # Errors
///
/// If the units file or the built-in catalogue cannot be loaded, the file cannot be read,
/// any row has a problem (even on a dry run), there is no node to import into, or the node
/// refuses the request.
pub async fn import(
    job: ImportJob<'_>,
    client: Option<&mut PlanningClient<Channel>>,
    stdout: &mut impl Write,
) -> anyhow::Result<usize> {
    let hierarchy = config::load_units(job.units)?;
    let catalog = config::builtin_catalog()?;
    let format = Format::from_path(job.file)?;
    let sheet = tabular::read_sheet(job.file, format, job.sheet)?;
    let ctx = context_today(&catalog, &hierarchy, job.unit, job.term);
    let report = tabular::import(&sheet, &ctx);
    if !sheet.name.is_empty() {
        writeln!(stdout, "sheet {:?}", sheet.name)?;
    }
    for line in report.skipped_lines() {
        writeln!(stdout, "skipped {line}")?;
    }
    for p in &report.problems {
        writeln!(stdout, "{p}")?;
    }
    writeln!(
        stdout,
        "{}: {} good rows, {} problems",
        job.file.display(),
        report.entries.len(),
        report.problems.len()
    )?;
    if !report.is_clean() {
        bail!("nothing was imported: correct the rows above and run again");
    }
    let round = job.round.map(|(date, convened, present)| BallotRound {
        body: Body::ExecutiveCommittee,
        date,
        convened,
        present,
        ballots_issued: present,
        valid_ballots: present,
        tallies: report
            .entries
            .iter()
            .filter_map(|e| {
                Some(quyhoach::domain::Tally {
                    national_id: e.entry.cadre.national_id.clone(),
                    position: e.entry.position.clone(),
                    yes: e.yes_votes?,
                })
            })
            .collect(),
    });
    let entries: Vec<Entry> = report.entries.iter().map(|e| e.entry.clone()).collect();
    let Some(client) = client else {
        if job.dry_run {
            writeln!(
                stdout,
                "difference against the draft: not compared (no node answered)"
            )?;
            writeln!(stdout, "dry run: nothing was written")?;
            return Ok(0);
        }
        bail!("no node to import into")
    };
    let draft = match current_draft(client, job.unit, job.term).await {
        Ok(draft) => draft,
        Err(e) if job.dry_run => {
            writeln!(stdout, "difference against the draft: not compared ({e})")?;
            writeln!(stdout, "dry run: nothing was written")?;
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    let after = imported(&draft, &entries, round.as_ref(), job.replace);
    print_difference(stdout, &draft, &after, round.as_ref())?;
    if job.dry_run {
        writeln!(stdout, "dry run: nothing was written")?;
        return Ok(0);
    }
    let n = entries.len();
    client
        .import_entries(pb::ImportEntriesRequest {
            unit: job.unit.into(),
            term: job.term.into(),
            entries: entries.iter().map(convert::entry_to_pb).collect(),
            round: round.as_ref().map(convert::round_to_pb),
            replace: job.replace,
        })
        .await?;
    writeln!(
        stdout,
        "imported {n} entries into the draft of {}/{}{}",
        job.unit,
        job.term,
        if job.replace {
            ", replacing its list"
        } else {
            ""
        }
    )?;
    Ok(n)
}

/// What an import is compared with: the open draft of (unit, term), or the version a new
/// draft would start from (a returned one), or an empty plan when there is none.
///
/// # Errors
///
/// The node refuses the request for another reason than there being no plan.
async fn current_draft(
    client: &mut PlanningClient<Channel>,
    unit: &str,
    term: &str,
) -> anyhow::Result<Plan> {
    let empty = || {
        Plan::new_draft(
            quyhoach::domain::PlanId {
                unit: unit.into(),
                term: term.into(),
                version: 1,
            },
            None,
        )
    };
    let latest = match quyhoach::client::get_plan(client, unit, term, 0).await {
        Ok(p) => p,
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(empty()),
        Err(s) => return Err(s.into()),
    };
    Ok(convert::plan_from_pb("plan", latest).unwrap_or_else(|_| empty()))
}

/// The draft as the node will make it: with `replace`, exactly `entries`; otherwise `entries`
/// added, each replacing the entry of the same person and position; a round identical to one
/// the draft records is not added again (as `Node::import_entries` does).
fn imported(draft: &Plan, entries: &[Entry], round: Option<&BallotRound>, replace: bool) -> Plan {
    let mut after = draft.clone();
    if replace {
        after.entries.clear();
    }
    for e in entries {
        match after.entries.iter_mut().find(|x| x.key() == e.key()) {
            Some(x) => *x = e.clone(),
            None => after.entries.push(e.clone()),
        }
    }
    if let Some(r) = round {
        if !after.rounds.contains(r) {
            after.rounds.push(r.clone());
        }
    }
    after
}

/// Prints who the import adds, removes, moves to another position, and whose votes change.
fn print_difference(
    stdout: &mut impl Write,
    draft: &Plan,
    after: &Plan,
    round: Option<&BallotRound>,
) -> std::io::Result<()> {
    let d = quyhoach::web::diff_plans(draft, after);
    let who = |id: &str, name: &str| format!("{name} ({})", quyhoach::node::mask_id(id));
    writeln!(
        stdout,
        "difference against {} ({}): {} added, {} removed, {} moved, {} votes changed",
        draft.id,
        draft.status.as_str(),
        d.added.len(),
        d.removed.len(),
        d.moved.len(),
        d.votes.len()
    )?;
    for l in &d.added {
        let whom = who(&l.national_id, &l.full_name);
        writeln!(stdout, "  added {whom}: {}", l.after.join(", "))?;
    }
    for l in &d.removed {
        let whom = who(&l.national_id, &l.full_name);
        writeln!(stdout, "  removed {whom}: {}", l.before.join(", "))?;
    }
    for l in &d.moved {
        let whom = who(&l.national_id, &l.full_name);
        let (from, to) = (l.before.join(", "), l.after.join(", "));
        writeln!(stdout, "  moved {whom}: {from} -> {to}")?;
    }
    for v in &d.votes {
        let votes = |n: Option<u32>| n.map_or_else(|| "none".to_string(), |n| n.to_string());
        writeln!(
            stdout,
            "  votes {} for {}: {} -> {}",
            who(&v.national_id, &v.full_name),
            v.position,
            votes(v.before),
            votes(v.after)
        )?;
    }
    if round.is_some_and(|r| draft.rounds.contains(r)) {
        writeln!(
            stdout,
            "  the ballot round is already recorded in the draft; it is not recorded again"
        )?;
    }
    Ok(())
}

/// The sheet "Thay đổi so với bản phê duyệt": one row per person added, removed or moved and
/// per vote changed from `base` (the last approved version) to `plan`.
fn changes_sheet(base: &Plan, plan: &Plan) -> ExportSheet {
    let d = quyhoach::web::diff_plans(base, plan);
    let mut rows = Vec::new();
    let from = format!("v{}", base.id.version);
    for (kind, lines) in [
        ("Thêm", &d.added),
        ("Bớt", &d.removed),
        ("Chuyển chức danh", &d.moved),
    ] {
        for l in lines {
            rows.push(vec![
                kind.to_string(),
                l.full_name.clone(),
                quyhoach::node::mask_id(&l.national_id),
                l.before.join(", "),
                l.after.join(", "),
                from.clone(),
            ]);
        }
    }
    for v in &d.votes {
        let votes = |n: Option<u32>| n.map_or_else(String::new, |n| n.to_string());
        rows.push(vec![
            "Phiếu thay đổi".into(),
            v.full_name.clone(),
            quyhoach::node::mask_id(&v.national_id),
            format!("{}: {}", v.position, votes(v.before)),
            format!("{}: {}", v.position, votes(v.after)),
            from.clone(),
        ]);
    }
    let headers = [
        "Thay đổi",
        "Họ và tên",
        "Số CCCD",
        "Trước",
        "Sau",
        "So với bản",
    ];
    tabular::table_sheet(
        "Thay đổi so với bản phê duyệt",
        headers.iter().map(|h| h.to_string()).collect(),
        rows,
    )
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// The consolidated list of the node's subtree.
    Consolidated,
    /// One unit's plan, in the import layout (it imports back).
    Plan,
    /// The findings of the checks.
    Findings,
}

/// The layout of an exported plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    /// One header row and one row per entry: easy to filter and sort.
    #[default]
    Flat,
    /// As offices send it up: title block, two-row header with the birth date under Nam or
    /// Nữ, column numbers, entries grouped by position, signature block (.xlsx only).
    Official,
}

/// Writes the blank template of `unit`'s list for `term` to `out` (.xlsx): the official layout
/// with numbered empty rows, the unit's positions as a drop-down, and data validation on the
/// birth dates, the số CCCD, the term and the source.
///
/// # Errors
///
/// An unknown unit, term or units file, an output that is not .xlsx, or a write failure.
pub fn template(
    unit: &str,
    term: &str,
    units: &str,
    out: &Path,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    if format_of(out)? != "xlsx" {
        bail!("{}: the template is an .xlsx workbook", out.display());
    }
    let hierarchy = config::load_units(units)?;
    let catalog = config::builtin_catalog()?;
    if hierarchy.get(unit).is_none() {
        bail!("unit {unit} is not in the list of units");
    }
    if catalog.term(term).is_none() {
        bail!("term {term} is not in the catalogue");
    }
    let ctx = context_today(&catalog, &hierarchy, unit, term);
    let bytes = tabular::template_xlsx_bytes(&ctx)?;
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    writeln!(
        stdout,
        "wrote the template for {unit}/{term} ({} numbered rows) to {}",
        tabular::official::TEMPLATE_ROWS,
        out.display()
    )?;
    Ok(())
}

/// An export's output is a new file, or a regular file it replaces, in a folder that exists:
/// never written through a symbolic link (personal data would land wherever the link points,
/// and the file there would be truncated), never a folder.
fn check_out_path(out: &Path) -> anyhow::Result<()> {
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{}: {} is not a folder", out.display(), folder.display()),
        Err(_) => bail!(
            "{}: the folder {} does not exist; create it first",
            out.display(),
            folder.display()
        ),
    }
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{}: is a symbolic link; an export is never written through one (remove the link \
             or choose another name)",
            out.display()
        ),
        Ok(m) if m.is_dir() => bail!("{}: is a folder; name a file", out.display()),
        _ => Ok(()),
    }
}

/// The file format, from the output's extension.
fn format_of(out: &Path) -> anyhow::Result<&'static str> {
    match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("xlsx") => Ok("xlsx"),
        Some("csv") => Ok("csv"),
        Some("json") => Ok("json"),
        _ => bail!(
            "{}: the output must end in .xlsx, .csv or .json",
            out.display()
        ),
    }
}

/// Writes sheets in the format `out` asks for (CSV and JSON take the first sheet's rows and
/// the other sheets' rows appended), marked with `mark` when given: at the top right of each
/// sheet, on the first line of a CSV file, and as `{"classification": …, "rows": […]}` in
/// JSON (an unmarked JSON export stays a plain array of rows).
fn write(
    out: &Path,
    sheets: Vec<ExportSheet>,
    mark: Option<&tabular::Classification>,
) -> anyhow::Result<()> {
    match format_of(out)? {
        "xlsx" => tabular::export_xlsx(out, &sheets, mark)?,
        "csv" => {
            let headers = sheets
                .first()
                .map(|s| s.headers.clone())
                .unwrap_or_default();
            let rows: Vec<Vec<String>> = sheets.iter().flat_map(|s| s.text_rows()).collect();
            let file = tabular::export::create_private(out)
                .with_context(|| format!("creating {}", out.display()))?;
            tabular::export_csv(file, mark, &headers, &rows)?;
        }
        _ => {
            let rows: Vec<serde_json::Value> = sheets
                .iter()
                .flat_map(|s| {
                    s.text_rows().into_iter().map(|row| {
                        let object: serde_json::Map<String, serde_json::Value> = s
                            .headers
                            .iter()
                            .cloned()
                            .zip(row.into_iter().map(serde_json::Value::String))
                            .collect();
                        serde_json::Value::Object(object)
                    })
                })
                .collect();
            let document = match mark {
                Some(mark) => serde_json::json!({
                    "classification": mark.as_str(),
                    "rows": rows,
                }),
                None => serde_json::Value::Array(rows),
            };
            tabular::export::create_private(out)
                .with_context(|| format!("creating {}", out.display()))?
                .write_all(serde_json::to_string_pretty(&document)?.as_bytes())?;
        }
    }
    Ok(())
}

/// What a list of `unit` for `term` is checked against (import) or written for (template,
/// export), with ages counted on today's date.
fn context_today<'a>(
    catalog: &'a Catalog,
    hierarchy: &'a Hierarchy,
    unit: &'a str,
    term: &'a str,
) -> ImportContext<'a> {
    ImportContext {
        catalog,
        hierarchy,
        unit,
        term,
        today: chrono::Utc::now().date_naive(),
    }
}

/// What `quyhoach export` is asked to do.
pub struct ExportJob<'a> {
    /// What to export.
    pub what: What,
    /// The file to write; its extension names the format.
    pub out: &'a Path,
    /// The unit (the subtree of the consolidated list and the findings, or the plan's unit).
    pub unit: &'a str,
    /// The term.
    pub term: &'a str,
    /// True if and only if the consolidated list gets one sheet per unit.
    pub per_unit: bool,
    /// The layout of an exported plan.
    pub layout: Layout,
}

impl ExportJob<'_> {
    /// Checks an export's arguments before anything is asked of a node: the output's extension
    /// names a format, the output goes into an existing folder and is not a symbolic link or a
    /// folder, and a plan export names its plan.
    ///
    /// # Errors
    ///
    /// When the extension is not .xlsx, .csv or .json, the output's folder does not exist, the
    /// output is a symbolic link or a folder, or a plan export lacks its unit or term.
    pub fn check(&self) -> anyhow::Result<()> {
        format_of(self.out)?;
        check_out_path(self.out)?;
        if self.what == What::Plan && (self.unit.is_empty() || self.term.is_empty()) {
            bail!("--unit and --term name the plan to export");
        }
        Ok(())
    }
}

/// Exports from a node to the job's file.
///
/// # Errors
///
/// If the output's name or format does not fit what is exported, the node refuses a
/// request, the plan does not convert, or the file cannot be written.
pub async fn export(
    client: &mut PlanningClient<Channel>,
    job: ExportJob<'_>,
    stdout: &mut impl Write,
) -> anyhow::Result<usize> {
    job.check()?;
    let (what, out, unit, term) = (job.what, job.out, job.unit, job.term);
    let format = format_of(out)?;
    if job.layout == Layout::Official && (what != What::Plan || format != "xlsx") {
        bail!("the official layout is for a unit's plan (--what plan) in .xlsx");
    }
    // The plan's version, once the node has sent it: the record names it.
    let mut version = 0;
    let sheets = match what {
        What::Consolidated => {
            let request = pb::ConsolidatedRequest {
                under: unit.into(),
                term: term.into(),
                ..Default::default()
            };
            // The bar appears with the first page, which says how many entries there are.
            let mut progress = None;
            let entries =
                quyhoach::client::consolidated_all_with(client, request, |so_far, total| {
                    let bar = progress
                        .get_or_insert_with(|| tabular::progress_bar(total as usize, "fetching"));
                    bar.set_length(total);
                    bar.set_position(so_far);
                })
                .await?;
            if let Some(bar) = progress {
                bar.finish_and_clear();
            }
            consolidated_sheets(&entries, job.per_unit)?
        }
        What::Plan => {
            let plan = quyhoach::client::get_plan(client, unit, term, 0).await?;
            let approved_before = plan.approved_before;
            let plan = convert::plan_from_pb("plan", plan)?;
            version = plan.id.version;
            let hierarchy = config::load_units("builtin:2024")?;
            let catalog = config::builtin_catalog()?;
            let ctx = context_today(&catalog, &hierarchy, unit, term);
            if job.layout == Layout::Official {
                let request = record_request(what, "official", unit, term, &plan);
                let mark = record(client, request).await?;
                let bytes = tabular::official_plan_bytes(&plan, &ctx, mark.as_ref())?;
                tabular::export::create_private(out)
                    .and_then(|mut f| f.write_all(&bytes))
                    .with_context(|| format!("writing {}", out.display()))?;
                writeln!(
                    stdout,
                    "wrote {} entries in the official layout to {}",
                    plan.entries.len(),
                    out.display()
                )?;
                return Ok(plan.entries.len());
            }
            let mut sheets = vec![tabular::plan_sheet_for(
                &format!("{unit} {term}"),
                &plan,
                &ctx,
            )];
            // In a workbook, what changed since the last approved version (the annual review).
            if approved_before > 0 && format_of(out)? == "xlsx" {
                let base = quyhoach::client::get_plan(client, unit, term, approved_before).await?;
                let base = convert::plan_from_pb("plan", base)?;
                sheets.push(changes_sheet(&base, &plan));
            }
            sheets
        }
        What::Findings => {
            let findings = quyhoach::client::check_all(
                client,
                pb::CheckRequest {
                    under: unit.into(),
                    term: term.into(),
                    ..Default::default()
                },
            )
            .await?
            .findings;
            vec![findings_sheet(&findings)]
        }
    };
    let rows: usize = sheets.iter().map(|s| s.rows.len()).sum();
    // The node records the export before the file is written, and names its mark.
    let request = pb::RecordExportRequest {
        what: what_name(what).into(),
        format: format.into(),
        unit: unit.into(),
        term: term.into(),
        version,
        rows: rows as u64,
    };
    let mark = record(client, request).await?;
    write(out, sheets, mark.as_ref())?;
    writeln!(stdout, "wrote {rows} rows to {}", out.display())?;
    Ok(rows)
}

/// The name `RecordExport` knows `what` by.
fn what_name(what: What) -> &'static str {
    match what {
        What::Consolidated => "consolidated",
        What::Plan => "plan",
        What::Findings => "findings",
    }
}

/// The record of a plan's export in `format`.
fn record_request(
    what: What,
    format: &str,
    unit: &str,
    term: &str,
    plan: &quyhoach::domain::Plan,
) -> pb::RecordExportRequest {
    pb::RecordExportRequest {
        what: what_name(what).into(),
        format: format.into(),
        unit: unit.into(),
        term: term.into(),
        version: plan.id.version,
        rows: plan.entries.len() as u64,
    }
}

/// Has the node record an export in its audit trail (`RecordExport`) and returns the
/// classification the file must carry.
///
/// # Errors
///
/// When the node refuses or cannot record it (then no file is written), or answers a mark
/// this program does not know.
async fn record(
    client: &mut PlanningClient<Channel>,
    request: pb::RecordExportRequest,
) -> anyhow::Result<Option<tabular::Classification>> {
    let answer = client.record_export(request).await?.into_inner();
    if answer.classification.is_empty() {
        return Ok(None);
    }
    tabular::Classification::parse(&answer.classification)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("the node's classification: {e}"))
}

/// The node's entries in the one export layout of every face ([`tabular::consolidated`]): the
/// national ID as the node shows it to this caller.
///
/// # Errors
///
/// If an entry's birth date or status is not one this program reads.
fn consolidated_sheets(
    entries: &[pb::ConsolidatedEntry],
    per_unit: bool,
) -> anyhow::Result<Vec<ExportSheet>> {
    let rows = entries
        .iter()
        .enumerate()
        .map(|(i, e)| list_row(e).with_context(|| format!("entry {} of the list", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(tabular::consolidated_sheets(&rows, per_unit))
}

/// One entry of the node's answer as an export row.
fn list_row(e: &pb::ConsolidatedEntry) -> anyhow::Result<tabular::ListRow> {
    Ok(tabular::ListRow {
        full_name: e.full_name.clone(),
        birth_date: quyhoach::domain::parse_date("birth_date", &e.birth_date)?,
        gender: if e.gender == pb::Gender::Female as i32 {
            Gender::Female
        } else {
            Gender::Male
        },
        // A node from before the whole ID travelled sends only the masked one.
        national_id: if e.national_id.is_empty() {
            e.national_id_masked.clone()
        } else {
            e.national_id.clone()
        },
        unit: e.unit.clone(),
        unit_name: e.unit_name.clone(),
        position_title: e.position_title.clone(),
        position: e.position.clone(),
        term: e.term.clone(),
        votes: (e.vote_denominator != 0).then_some((e.yes_votes, e.vote_denominator)),
        status: convert::status_from_pb("status", e.status)?
            .context("status: the node sent no status")?,
        version: e.version,
    })
}

fn findings_sheet(findings: &[pb::Finding]) -> ExportSheet {
    let headers: Vec<String> = [
        "Quy tắc",
        "Mức độ",
        "Đơn vị",
        "Cán bộ",
        "CCCD",
        "Chức danh",
        "Nhiệm kỳ",
        "Nội dung",
        "Message",
        "Mã phát hiện",
    ]
    .map(String::from)
    .to_vec();
    let rows = findings
        .iter()
        .map(|f| {
            vec![
                f.rule.clone(),
                if f.severity == pb::Severity::Error as i32 {
                    "lỗi"
                } else {
                    "cảnh báo"
                }
                .to_string(),
                f.units.join(", "),
                f.person_name.clone(),
                f.person_id_masked.clone(),
                f.positions.join(", "),
                f.terms.join(", "),
                f.message_vi.clone(),
                f.message_en.clone(),
                f.id.clone(),
            ]
        })
        .collect();
    tabular::table_sheet("Phát hiện", headers, rows)
}
