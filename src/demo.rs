//! The demonstration: a province, two districts and four communes of Tỉnh Nghệ An on loopback
//! in one process, each node with its own store, driven through the whole flow over gRPC:
//! entries, ballots, adoption, submission, approval at the district, upward travel, approval
//! at the province, decisions back down. It ends by printing the province's consolidated list
//! and a summary per unit.

use std::{collections::HashMap, io::Write, path::PathBuf, time::Duration};

use crate::{
    auth::Role,
    client::web_login::LoginError,
    client::{self, table, ConnectError, LoadError, RoundRow},
    config::{self, ConfigError, RawConfig, Tls},
    grpc::pb,
    node::system_clock,
    pki::{self, Authority, Subject},
    server::{self, Running, ServeError},
    tabular::{Format, ImportContext, ImportedEntry},
};

/// Where the demonstration prints its story.
pub type Out<'a> = &'a mut (dyn Write + Send);

/// Why the demonstration could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Its story cannot be printed (a closed pipe, for one).
    #[error("cannot print the demonstration")]
    Print(#[from] std::io::Error),
    /// A folder or file of the demonstration cannot be created or written.
    #[error("cannot write {}", path.display())]
    Files {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The built-in reference data or a node's settings cannot be used.
    #[error("the demonstration's settings")]
    Config(#[from] ConfigError),
    /// A unit's list in `data/demo/` does not read.
    #[error("the demo list of {unit}")]
    List {
        /// The unit.
        unit: String,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// The rounds file does not read, or a list cannot be loaded into a unit's draft.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A certificate cannot be made (the authority's own message).
    #[error("demo certificates: {0}")]
    Certificate(String),
    /// A node cannot start, or failed while stopping.
    #[error("a demonstration node")]
    Node(#[from] ServeError),
    /// A node cannot be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The province issues no web login.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// A node refused a step of the flow.
    #[error("a node refused a step of the demonstration")]
    Refused(#[from] tonic::Status),
    /// A node refused adopting a unit's plan.
    #[error("adopting {unit}")]
    Adopt {
        /// The unit.
        unit: String,
        /// The node's answer.
        #[source]
        source: tonic::Status,
    },
    /// A plan did not reach the state the flow waits for.
    #[error("{unit}: its plan did not become {status} within 30 s")]
    Timeout {
        /// The unit whose plan it is.
        unit: String,
        /// The state waited for.
        status: String,
    },
}

/// Each unit's list, in the format `quyhoach import` reads.
const LISTS: [(&str, &str); 7] = [
    ("40", include_str!("../data/demo/40.csv")),
    ("412", include_str!("../data/demo/412.csv")),
    ("427", include_str!("../data/demo/427.csv")),
    ("16681", include_str!("../data/demo/16681.csv")),
    ("16690", include_str!("../data/demo/16690.csv")),
    ("17617", include_str!("../data/demo/17617.csv")),
    ("17623", include_str!("../data/demo/17623.csv")),
];
const ROUNDS: &str = include_str!("../data/demo/rounds.csv");
const TERM: &str = "2025-2030";
const PROVINCE: &str = "40";
const DISTRICTS: [(&str, [&str; 2]); 2] =
    [("412", ["16681", "16690"]), ("427", ["17617", "17623"])];
/// The commune that shares no network with its district (Law 117/2025/QH15): its node's link
/// is a folder (`serve --parent-dir`), and the demo carries its bundles as a person would carry
/// a USB stick (docs/offline-transfer.md).
const BY_FOLDER: &str = "17623";

/// Options of `quyhoach demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Folder for the nodes' stores; a temporary folder when none.
    pub data: Option<PathBuf>,
    /// Keep serving the nodes and the province's web page after the flow, until Ctrl-C.
    pub keep: bool,
}

/// What the demo ended with, for callers that check it.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The province's findings at the end.
    pub findings: Vec<pb::Finding>,
    /// The province's consolidated list.
    pub consolidated: Vec<pb::ConsolidatedEntry>,
    /// Every plan the province holds.
    pub province_plans: Vec<pb::PlanSummary>,
    /// The bundle files carried between commune 17623's folder and its district, in order.
    pub carried: Vec<String>,
    /// What the second act (the reorganisation of 1 July 2025) ended with; `None` when only
    /// the first act ran ([`start_demo`]).
    pub second_act: Option<SecondAct>,
}

/// What the demo's second act ended with: the province moved to two levels on 1 July 2025,
/// commune 16690's plan pending at the abolished district 412 re-routed to the province and
/// decided there, and the new commune 16681 (Phường Thành Vinh) drafting from its sources.
#[derive(Debug, Clone)]
pub struct SecondAct {
    /// The dry run's answer: every plan of the province and its fate.
    pub dry_run: pb::ReorganizeResponse,
    /// 16690's re-routed version as the province decided it.
    pub rerouted: pb::PlanSummary,
    /// The decision's outcome at 16690's own node (approved or returned).
    pub decided_at_owner: pb::PlanSummary,
    /// 16681's first draft in the new structure, drawn from its sources.
    pub drafted: pb::Plan,
    /// The province's consolidated list afterwards: each entry's unit named in its time.
    pub consolidated: Vec<pb::ConsolidatedEntry>,
    /// The province's findings afterwards.
    pub findings: Vec<pb::Finding>,
}

/// The demo's hierarchy, still running after the flow: for `--keep` and for tests that drive
/// its province's web page.
pub struct Demo {
    /// Every node, communes first, the province last.
    pub nodes: Vec<(String, Running)>,
    /// What the flow ended with.
    pub outcome: DemoOutcome,
    /// The province's web page, e.g. `http://127.0.0.1:40123`.
    pub web_url: String,
    pki: Pki,
    /// The folder of the nodes' stores.
    root: PathBuf,
    /// Holds the temporary folder (when no `--data`) until the demo is dropped.
    _temp: tempfile::TempDir,
}

impl Demo {
    /// The gRPC address of `unit`'s node.
    ///
    /// # Panics
    ///
    /// `unit` is not a demo unit.
    pub fn addr(&self, unit: &str) -> String {
        self.nodes
            .iter()
            .find(|(u, _)| u == unit)
            .map(|(_, n)| n.addr.to_string())
            .expect("demo unit")
    }

    /// The operator certificate of `unit` (clerk, approver, reader and admin roles).
    pub fn operator(&self, unit: &str) -> Tls {
        self.pki.operator(unit)
    }

    /// A new client certificate of `unit` with `roles`, from the demo's authority.
    ///
    /// # Errors
    ///
    /// [`DemoError::Certificate`] if the certificate cannot be issued.
    pub fn client(&self, unit: &str, roles: &[Role], name: &str) -> Result<Tls, DemoError> {
        let issued = self
            .pki
            .authority
            .issue(&Subject::new(unit, roles, name, 1))
            .map_err(DemoError::Certificate)?;
        Ok(Tls {
            ca_pem: self.pki.ca_pem.clone(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        })
    }

    /// A login URL to the province's web page for the holder of `tls`.
    ///
    /// # Errors
    ///
    /// [`DemoError::Login`] if the province refuses or cannot be reached.
    pub async fn login_url(&self, tls: &Tls) -> Result<String, DemoError> {
        let reply = crate::client::web_login::issue(&self.addr(PROVINCE), tls).await?;
        Ok(crate::client::web_login::login_url(
            &self.web_url,
            &reply.token,
        ))
    }

    /// Stops every node.
    ///
    /// # Errors
    ///
    /// [`DemoError::Node`] if a node failed while stopping.
    pub async fn stop(self) -> Result<(), DemoError> {
        for (_, node) in self.nodes {
            node.stop().await?;
        }
        Ok(())
    }
}

/// Runs the demonstration and prints what it shows to `out`; with `keep`, keeps serving until
/// Ctrl-C.
///
/// # Errors
///
/// If the demonstration nodes cannot be started (temporary folder, reference data,
/// certificates, binding), a step of the demonstration fails, a node fails to stop, or `out`
/// cannot be written ([`DemoError`] says which).
pub async fn run(options: DemoOptions, out: Out<'_>) -> Result<DemoOutcome, DemoError> {
    let keep = options.keep;
    let mut demo = start_demo(options, &mut *out).await?;
    let act = second_act(&mut demo, &mut *out).await?;
    demo.outcome.second_act = Some(act);
    let login = demo.login_url(&demo.operator(PROVINCE)).await?;
    writeln!(
        out,
        "\n== The province's web page (Ban Tổ chức Tỉnh ủy): {}",
        demo.web_url
    )?;
    writeln!(
        out,
        "   sign in as the province's operator (valid 5 minutes, once): {login}"
    )?;
    if keep {
        writeln!(out, "   serving until Ctrl-C; a new sign-in URL: quyhoach web-login --node {} --web {} --ca {dir}/ca.pem --cert {dir}/clients/40.pem --key {dir}/clients/40.key",
            demo.addr(PROVINCE), demo.web_url, dir = demo.pki.dir.display())?;
        let _ = tokio::signal::ctrl_c().await;
    }
    let outcome = DemoOutcome {
        findings: demo.outcome.findings.clone(),
        consolidated: demo.outcome.consolidated.clone(),
        province_plans: demo.outcome.province_plans.clone(),
        carried: demo.outcome.carried.clone(),
        second_act: demo.outcome.second_act.clone(),
    };
    let held = outcome.province_plans.len();
    demo.stop().await?;
    writeln!(out, "\nDemo finished: {held} plans held at the province.")?;
    Ok(outcome)
}

/// Runs the demonstration's flow, prints what it shows to `out`, and leaves its nodes running.
///
/// # Errors
///
/// A node cannot start, a step of the flow fails, or `out` cannot be written ([`DemoError`]
/// says which).
pub async fn start_demo(options: DemoOptions, out: Out<'_>) -> Result<Demo, DemoError> {
    let temp = tempfile::tempdir().map_err(|source| DemoError::Files {
        path: std::env::temp_dir(),
        source,
    })?;
    let root = options
        .data
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let hierarchy = config::load_units(config::DEFAULT_UNITS)?;
    let catalog = config::builtin_catalog()?;
    let mut entries = HashMap::new();
    for (unit, list) in LISTS {
        let ctx = ImportContext {
            catalog: &catalog,
            hierarchy: &hierarchy,
            unit,
            term: TERM,
            today: chrono::Utc::now().date_naive(),
        };
        let list = client::read_list(list.as_bytes(), Format::Csv, &ctx).map_err(|source| {
            DemoError::List {
                unit: unit.to_string(),
                source,
            }
        })?;
        entries.insert(unit.to_string(), list);
    }
    let rounds = client::parse_rounds(ROUNDS)?;

    writeln!(out, "== Starting nodes (stores under {})", root.display())?;
    let pki = Pki::create(&root.join("pki"))?;
    writeln!(
        out,
        "   certificates under {} (mutual TLS between every node and client)",
        root.join("pki").display()
    )?;
    let province = start(&root, &pki, PROVINCE, None).await?;
    let mut nodes: Vec<(String, Running)> = Vec::new();
    for (district, communes) in DISTRICTS {
        let d = start(&root, &pki, district, Some(province.url())).await?;
        for commune in communes {
            let c = if commune == BY_FOLDER {
                start_by_folder(&root, &pki, commune).await?
            } else {
                start(&root, &pki, commune, Some(d.url())).await?
            };
            nodes.push((commune.to_string(), c));
        }
        nodes.push((district.to_string(), d));
    }
    nodes.push((PROVINCE.to_string(), province));
    for (unit, node) in &nodes {
        writeln!(out, "   {unit:>6}  {}", node.url())?;
    }
    let usb = root.join(format!("usb-{BY_FOLDER}"));
    writeln!(
        out,
        "   {BY_FOLDER:>6}  shares no network with its district: its link is the folder {}",
        usb.display()
    )?;
    let mut carried = Vec::new();
    let url = |unit: &str| {
        nodes
            .iter()
            .find(|(u, _)| u == unit)
            .map(|(_, n)| n.addr.to_string())
            .expect("demo unit")
    };
    // Each unit's operator: its clerk, approver and reader in one certificate.
    let connect = |unit: &str| client::connect_to(url(unit), pki.operator(unit));

    writeln!(
        out,
        "== Each unit records its list, votes, adopts and submits"
    )?;
    for (unit, _) in &nodes {
        let mut c = connect(unit).await?;
        record_and_adopt(&mut c, unit, &entries[unit], &rounds, &mut *out).await?;
        if unit != PROVINCE {
            let r = c
                .submit_plan(pb::SubmitPlanRequest {
                    unit: unit.clone(),
                    term: TERM.into(),
                    revision: None,
                    hash: String::new(),
                })
                .await?
                .into_inner();
            writeln!(out, "   {unit:>6}  submitted to {}", r.approver)?;
        }
    }

    let district_of = |commune: &str| {
        DISTRICTS
            .iter()
            .find(|(_, cs)| cs.contains(&commune))
            .map(|(d, _)| *d)
            .expect("demo commune")
    };
    writeln!(
        out,
        "== {BY_FOLDER}'s plan is carried to {} on removable media",
        district_of(BY_FOLDER)
    )?;
    let mut by_folder_district = connect(district_of(BY_FOLDER)).await?;
    carry_up(&mut by_folder_district, &usb, &mut carried, &mut *out).await?;

    writeln!(out, "== Districts approve their communes' plans")?;
    for (district, communes) in DISTRICTS {
        let mut c = connect(district).await?;
        for commune in communes {
            let plan = wait_for_status(&mut c, commune, pb::PlanStatus::Received).await?;
            decide(&mut c, &plan, district, &mut *out).await?;
        }
    }
    carry_down(&mut by_folder_district, &usb, &mut carried, &mut *out).await?;
    writeln!(out, "== The province appraises the districts' plans: errors are returned, warnings accepted in writing")?;
    let mut p = connect(PROVINCE).await?;
    for (district, _) in DISTRICTS {
        let plan = wait_for_status(&mut p, district, pb::PlanStatus::Received).await?;
        appraise(&mut p, &plan, &mut *out).await?;
    }
    for (_, communes) in DISTRICTS {
        for commune in communes {
            wait_for_status(&mut p, commune, pb::PlanStatus::Approved).await?;
            let mut own = connect(commune).await?;
            wait_for_status(&mut own, commune, pb::PlanStatus::Approved).await?;
        }
    }

    let request = pb::ConsolidatedRequest {
        term: TERM.into(),

        ..Default::default()
    };

    let consolidated = client::consolidated_all(&mut p, request).await?;
    writeln!(
        out,
        "\n== Consolidated list at the province ({} entries, Vietnamese order)",
        consolidated.len()
    )?;
    table::print_consolidated(&mut &mut *out, &consolidated)?;

    let province_plans = client::list_plans(&mut p, "", TERM).await?;
    writeln!(
        out,
        "\n== Plans held at the province, with the owner's own view"
    )?;
    writeln!(
        out,
        "{:>6}  {:<3} {:<10} {:<16} {:>7}  {:<10}",
        "unit", "v", "status", "hash", "entries", "at owner"
    )?;
    for s in &province_plans {
        let id = s.id.clone().unwrap_or_default();
        let mut own = connect(&id.unit).await?;
        let owner = client::get_plan(&mut own, &id.unit, &id.term, id.version).await?;
        let same = if owner.hash == s.hash {
            "same hash"
        } else {
            "HASH DIFFERS"
        };
        writeln!(
            out,
            "{:>6}  v{:<2} {:<10} {:<16} {:>7}  {:<10} {same}",
            id.unit,
            id.version,
            table::status_name(s.status),
            &s.hash[..16.min(s.hash.len())],
            s.entries,
            table::status_name(owner.status)
        )?;
    }

    let report = p
        .check(pb::CheckRequest {
            term: TERM.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    writeln!(
        out,
        "\n== Findings at the province ({} over {} entries, checked in {} µs)",
        report.findings.len(),
        report.entries_checked,
        report.micros
    )?;
    table::print_findings(&mut &mut *out, &report.findings)?;

    writeln!(
        out,
        "\n== Sync status of every node (what `quyhoach status` shows)"
    )?;
    for (unit, _) in &nodes {
        let mut c = connect(unit).await?;
        let s = c.sync_status(pb::SyncStatusRequest {}).await?.into_inner();
        table::print_status(&mut &mut *out, &s)?;
    }

    let web_url = nodes
        .iter()
        .find(|(u, _)| u == PROVINCE)
        .and_then(|(_, n)| n.web_url())
        .unwrap_or_default();
    Ok(Demo {
        nodes,
        outcome: DemoOutcome {
            findings: report.findings,
            consolidated,
            province_plans,
            carried,
            second_act: None,
        },
        web_url,
        pki,
        root,
        _temp: temp,
    })
}

/// Certificates for the demo: one authority, a node certificate per unit, and per unit an
/// operator certificate with the clerk, approver and reader roles.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    authority: Authority,
    operators: std::collections::HashMap<String, Tls>,
}

impl Pki {
    fn create(dir: &std::path::Path) -> Result<Pki, DemoError> {
        let files = |path: PathBuf| move |source| DemoError::Files { path, source };
        let ca = Authority::create("quyhoach demo CA — Tỉnh ủy Nghệ An", 30)
            .map_err(DemoError::Certificate)?;
        std::fs::create_dir_all(dir).map_err(files(dir.to_path_buf()))?;
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).map_err(files(dir.join("ca.pem")))?;
        let mut operators = std::collections::HashMap::new();
        let units = DISTRICTS
            .iter()
            .flat_map(|(d, cs)| std::iter::once(*d).chain(cs.iter().copied()));
        for unit in std::iter::once(PROVINCE).chain(units) {
            let node = ca
                .issue(&Subject::node(unit, &[], 30))
                .map_err(DemoError::Certificate)?;
            pki::write(&dir.join("nodes"), unit, &node).map_err(files(dir.join("nodes")))?;
            let roles = [Role::Clerk, Role::Approver, Role::Reader, Role::Admin];
            let op = ca
                .issue(&Subject::new(
                    unit,
                    &roles,
                    &format!("Cán bộ đơn vị {unit}"),
                    30,
                ))
                .map_err(DemoError::Certificate)?;
            pki::write(&dir.join("clients"), unit, &op).map_err(files(dir.join("clients")))?;
            operators.insert(
                unit.to_string(),
                Tls {
                    cert_pem: op.cert_pem,
                    key_pem: op.key_pem,
                    ca_pem: ca.cert_pem.clone(),
                },
            );
        }
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca_pem: ca.cert_pem.clone(),
            authority: ca,
            operators,
        })
    }

    fn operator(&self, unit: &str) -> Tls {
        self.operators[unit].clone()
    }
}

async fn start(
    root: &std::path::Path,
    pki: &Pki,
    unit: &str,
    parent: Option<String>,
) -> Result<Running, DemoError> {
    start_in(root, pki, unit, parent, None).await
}

/// Starts `unit`'s node; `units` names its units (`builtin:2025`), the default when `None`.
async fn start_in(
    root: &std::path::Path,
    pki: &Pki,
    unit: &str,
    parent: Option<String>,
    units: Option<&str>,
) -> Result<Running, DemoError> {
    spawn(RawConfig {
        parent,
        // The province serves its web page (the Organization Board's workstation).
        web: (unit == PROVINCE).then(|| "127.0.0.1:0".to_string()),
        units: units.map(str::to_string),
        ..node_config(root, pki, unit)
    })
    .await
}

/// Starts `unit`'s node with a folder for its only link to its parent (`serve --parent-dir`).
async fn start_by_folder(
    root: &std::path::Path,
    pki: &Pki,
    unit: &str,
) -> Result<Running, DemoError> {
    spawn(RawConfig {
        parent_dir: Some(root.join(format!("usb-{unit}"))),
        retry_max_ms: Some(200),
        ..node_config(root, pki, unit)
    })
    .await
}

/// What every demo node has: a loopback port, its store under `root`, its certificate.
fn node_config(root: &std::path::Path, pki: &Pki, unit: &str) -> RawConfig {
    let nodes = pki.dir.join("nodes");
    debug_assert!(!pki.ca_pem.is_empty());
    RawConfig {
        unit: Some(unit.into()),
        listen: Some("127.0.0.1:0".into()),
        data: Some(root.join(unit)),
        poll_ms: Some(100),
        cert: Some(nodes.join(format!("{unit}.pem"))),
        key: Some(nodes.join(format!("{unit}.key"))),
        ca: Some(pki.dir.join("ca.pem")),
        ..RawConfig::default()
    }
}

async fn spawn(config: RawConfig) -> Result<Running, DemoError> {
    Ok(server::spawn(config.validate()?, system_clock()).await?)
}

/// Waits (30 s at most) for a bundle file in `dir` whose name starts with `prefix`.
async fn bundle_in(dir: &std::path::Path, prefix: &str) -> Result<PathBuf, DemoError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(files) = std::fs::read_dir(dir) {
            let found = files.filter_map(|f| f.ok()).map(|f| f.path()).find(|p| {
                p.extension().is_some_and(|e| e == "qhb")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
            });
            if let Some(path) = found {
                return Ok(path);
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Timeout {
                unit: BY_FOLDER.to_string(),
                status: format!("a bundle {prefix}… in {}", dir.display()),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `bytes` into `dir/name` (what a person copying onto the stick does).
fn put_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<PathBuf, DemoError> {
    let path = dir.join(name);
    let files = |source| DemoError::Files {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(files)?;
    std::fs::write(&path, bytes).map_err(files)?;
    Ok(path)
}

/// Carries the folder commune's push from its `up/` to the district, which imports it as a
/// push, and carries the signed receipt back into `down/`.
async fn carry_up(
    district: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    usb: &std::path::Path,
    carried: &mut Vec<String>,
    out: Out<'_>,
) -> Result<(), DemoError> {
    let pushed = bundle_in(&usb.join("up"), &format!("push-{BY_FOLDER}-")).await?;
    let bytes = std::fs::read(&pushed).map_err(|source| DemoError::Files {
        path: pushed.clone(),
        source,
    })?;
    let r = district
        .import_bundle(pb::ImportBundleRequest { bundle: bytes })
        .await?
        .into_inner();
    let name = pushed
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    writeln!(out, "   up/{name} imported: {}", r.outcome)?;
    carried.push(format!("up/{name}"));
    put_file(&usb.join("down"), &r.receipt_file_name, &r.receipt)?;
    writeln!(
        out,
        "   down/{} (the signed receipt) carried back",
        r.receipt_file_name
    )?;
    carried.push(format!("down/{}", r.receipt_file_name));
    Ok(())
}

/// Exports the district's decision on the folder commune's plan as a bundle and carries it
/// into the commune's `down/`.
async fn carry_down(
    district: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    usb: &std::path::Path,
    carried: &mut Vec<String>,
    out: Out<'_>,
) -> Result<(), DemoError> {
    let b = district
        .export_bundle(pb::ExportBundleRequest {
            unit: BY_FOLDER.into(),
            term: TERM.into(),
            version: 0,
            decisions: true,
            reference: false,
        })
        .await?
        .into_inner();
    put_file(&usb.join("down"), &b.file_name, &b.bundle)?;
    writeln!(
        out,
        "   down/{} (the district's signed decision) carried to {BY_FOLDER}",
        b.file_name
    )?;
    carried.push(format!("down/{}", b.file_name));
    Ok(())
}

async fn record_and_adopt(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
    entries: &[ImportedEntry],
    rounds: &[RoundRow],
    out: Out<'_>,
) -> Result<(), DemoError> {
    let n = client::load_unit(c, unit, TERM, entries, rounds).await?;
    let adopted_on = if unit.len() > 3 {
        "2025-03-20"
    } else {
        "2025-04-15"
    };
    let plan = c
        .adopt_plan(pb::AdoptPlanRequest {
            unit: unit.into(),
            term: TERM.into(),
            adopted_on: adopted_on.into(),
            revision: None,
        })
        .await
        .map_err(|source| DemoError::Adopt {
            unit: unit.to_string(),
            source,
        })?
        .into_inner();
    writeln!(
        out,
        "   {unit:>6}  {n} entries, adopted v{} hash {}",
        plan.id.unwrap_or_default().version,
        &plan.hash[..16]
    )?;
    Ok(())
}

/// The province's appraisal of one plan: return it citing its errors, or accept its warnings
/// with a justification and approve it.
async fn appraise(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    plan: &pb::PlanSummary,
    out: Out<'_>,
) -> Result<(), DemoError> {
    let id = plan.id.clone().unwrap_or_default();
    let findings = c
        .check(pb::CheckRequest {
            plan: plan.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .findings;
    let mine: Vec<&pb::Finding> = findings.iter().filter(|f| f.plans.contains(&id)).collect();
    let errors: Vec<String> = mine
        .iter()
        .filter(|f| f.severity == pb::Severity::Error as i32)
        .map(|f| f.id.clone())
        .collect();
    if !errors.is_empty() {
        let d = c
            .decide_plan(pb::DecidePlanRequest {
                plan: plan.id.clone(),
                hash: plan.hash.clone(),
                outcome: pb::Outcome::Return.into(),
                reasons: vec![],
                cite_findings: errors,
                cms_signature: Vec::new(),
            })
            .await?
            .into_inner();
        writeln!(
            out,
            "   {PROVINCE:>6}  returned {} v{}:",
            id.unit, id.version
        )?;
        for r in &d.reasons {
            writeln!(out, "           - {r}")?;
        }
        return Ok(());
    }
    for f in mine
        .iter()
        .filter(|f| f.severity == pb::Severity::Warning as i32)
    {
        c.accept_warning(pb::AcceptWarningRequest {
            plan: plan.id.clone(),
            finding: f.id.clone(),
            justification: "Đã xem xét; đơn vị cam kết bổ sung trong lần rà soát tới".into(),
            accepted_by: "Ban Tổ chức Tỉnh ủy".into(),
        })
        .await?;
        writeln!(
            out,
            "   {PROVINCE:>6}  accepted warning {} {} on {}",
            f.rule, f.id, id.unit
        )?;
    }
    decide(c, plan, PROVINCE, out).await
}

async fn decide(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    plan: &pb::PlanSummary,
    by: &str,
    out: Out<'_>,
) -> Result<(), DemoError> {
    let d = c
        .decide_plan(pb::DecidePlanRequest {
            plan: plan.id.clone(),
            hash: plan.hash.clone(),
            outcome: pb::Outcome::Approve.into(),
            reasons: vec![],
            cite_findings: vec![],
            cms_signature: Vec::new(),
        })
        .await?
        .into_inner();
    let id = d.plan.unwrap_or_default();
    writeln!(out, "   {by:>6}  approved {} v{}", id.unit, id.version)?;
    Ok(())
}

/// Polls `c` until the latest plan of `unit` has `status`; fails after 30 seconds.
async fn wait_for_status(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
    status: pb::PlanStatus,
) -> Result<pb::PlanSummary, DemoError> {
    wait_until(c, unit, &format!("{status:?}"), |s| s == status as i32).await
}

/// Polls `c` until the latest plan of `unit` has a status that `wanted` accepts (`what` names
/// it); fails after 30 seconds.
async fn wait_until(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
    what: &str,
    wanted: impl Fn(i32) -> bool,
) -> Result<pb::PlanSummary, DemoError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::ListPlansRequest {
            under: unit.into(),
            term: TERM.into(),
            latest_only: true,
            ..Default::default()
        };
        let plans = c.list_plans(request).await?.into_inner().plans;
        if let Some(p) = plans
            .into_iter()
            .find(|p| p.id.as_ref().is_some_and(|id| id.unit == unit) && wanted(p.status))
        {
            return Ok(p);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Timeout {
                unit: unit.to_string(),
                status: what.to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The second act (issue 22): after the three-level flow, the province is reorganised to two
/// levels on 1 July 2025. District 412 first reopens commune 16690's approved list (the annual
/// review) and 16690 submits a second version, still pending at 412 when the district is
/// abolished; the dry run says where every plan goes; the reorganisation is applied; 16690's
/// node, restarted under the province, pushes its pending version there, and the province
/// decides it; the new commune 16681 (Phường Thành Vinh, which absorbed old Phường Quang Trung
/// of the same code and five other communes), restarted under the province, drafts from its
/// sources. The province's page then shows both periods: the 2024 lists under their names of
/// then, the abolished districts' apart.
///
/// # Errors
///
/// A node refuses a step, cannot be restarted, or a plan does not reach the state waited for
/// ([`DemoError`] says which).
pub async fn second_act(demo: &mut Demo, out: Out<'_>) -> Result<SecondAct, DemoError> {
    writeln!(
        out,
        "\n== Second act: the reorganisation of 1 July 2025 (districts abolished, communes under the province)"
    )?;
    let pending_commune = "16690";
    let new_commune = "16681";
    let mut d = client::connect_to(demo.addr("412"), demo.operator("412")).await?;
    let approved = wait_for_status(&mut d, pending_commune, pb::PlanStatus::Approved).await?;
    d.decide_plan(pb::DecidePlanRequest {
        plan: approved.id.clone(),
        hash: approved.hash.clone(),
        outcome: pb::Outcome::Return.into(),
        reasons: vec!["Rà soát hằng năm: cập nhật danh sách trước khi sắp xếp đơn vị".into()],
        cite_findings: vec![],
        cms_signature: Vec::new(),
    })
    .await?;
    let mut c =
        client::connect_to(demo.addr(pending_commune), demo.operator(pending_commune)).await?;
    wait_for_status(&mut c, pending_commune, pb::PlanStatus::Returned).await?;
    c.create_draft(pb::CreateDraftRequest {
        unit: pending_commune.into(),
        term: TERM.into(),
        from_sources: false,
    })
    .await?;
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: pending_commune.into(),
        term: TERM.into(),
        adopted_on: "2025-06-20".into(),
        revision: None,
    })
    .await
    .map_err(|source| DemoError::Adopt {
        unit: pending_commune.to_string(),
        source,
    })?;
    c.submit_plan(pb::SubmitPlanRequest {
        unit: pending_commune.into(),
        term: TERM.into(),
        revision: None,
        hash: String::new(),
    })
    .await?;
    let pending = wait_for_status(&mut d, pending_commune, pb::PlanStatus::Received).await?;
    writeln!(
        out,
        "   {pending_commune:>6}  412 reopened its approved list (annual review); v{} adopted on 2025-06-20 awaits 412's decision",
        pending.id.clone().unwrap_or_default().version
    )?;

    let mut p = client::connect_to(demo.addr(PROVINCE), demo.operator(PROVINCE)).await?;
    let request = |dry_run| pb::ReorganizeRequest {
        to: "builtin:2025".into(),
        on: "2025-07-01".into(),
        dry_run,
    };
    // The province hears of the pending version from the district's reports.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = p
            .completeness(pb::CompletenessRequest {
                under: String::new(),
                term: TERM.into(),
            })
            .await?
            .into_inner();
        if r.units
            .iter()
            .any(|u| u.unit == pending_commune && u.pending_at == "412")
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Timeout {
                unit: pending_commune.to_string(),
                status: "known at the province as pending at 412".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dry_run = p.reorganize(request(true)).await?.into_inner();
    writeln!(
        out,
        "   dry run (quyhoach reorganize --to builtin:2025 --on 2025-07-01 --dry-run): {} plans",
        dry_run.plans.len()
    )?;
    for f in &dry_run.plans {
        let id = f.plan.clone().unwrap_or_default();
        let fate = match f.fate.as_str() {
            "pending" => format!("pending at {}, decided by {}", f.pending_at, f.decided_by),
            "source" => format!("read-only source of {}", f.into.join(", ")),
            other => other.to_string(),
        };
        writeln!(
            out,
            "   {:>6}  v{:<2} {:<50} {fate}",
            id.unit, id.version, f.name
        )?;
    }
    let applied = p.reorganize(request(false)).await?.into_inner();
    writeln!(
        out,
        "   applied: structure {} → {} on {}",
        applied.from, applied.to, applied.on
    )?;

    // The commune nodes move under the province (their district is abolished).
    for unit in [pending_commune, new_commune] {
        restart_under_province(demo, unit).await?;
        writeln!(
            out,
            "   {unit:>6}  restarted under the province ({})",
            demo.addr(unit)
        )?;
    }
    let rerouted = wait_for_status(&mut p, pending_commune, pb::PlanStatus::Received).await?;
    writeln!(
        out,
        "   {pending_commune:>6}  v{} re-routed: pushed again to the province, which decides it",
        rerouted.id.clone().unwrap_or_default().version
    )?;
    appraise(&mut p, &rerouted, &mut *out).await?;
    let mut c =
        client::connect_to(demo.addr(pending_commune), demo.operator(pending_commune)).await?;
    let decided_at_owner = wait_decided(&mut c, pending_commune).await?;

    let mut n = client::connect_to(demo.addr(new_commune), demo.operator(new_commune)).await?;
    let drafted = n
        .create_draft(pb::CreateDraftRequest {
            unit: new_commune.into(),
            term: TERM.into(),
            from_sources: true,
        })
        .await?
        .into_inner();
    let id = drafted.id.clone().unwrap_or_default();
    writeln!(
        out,
        "   {new_commune:>6}  Phường Thành Vinh drafts from its sources (quyhoach draft --from-sources): v{}, {} entries",
        id.version,
        drafted.entries.len()
    )?;
    for e in &drafted.entries {
        let o = e.origin.clone().unwrap_or_default();
        let from = o.plan.unwrap_or_default();
        writeln!(
            out,
            "           {:<12} {:<28} from {}/{}/v{} #{}",
            e.position,
            e.cadre.clone().unwrap_or_default().full_name,
            from.unit,
            from.term,
            from.version,
            o.position
        )?;
    }

    let request = pb::ConsolidatedRequest {
        term: TERM.into(),

        ..Default::default()
    };

    let consolidated = client::consolidated_all(&mut p, request).await?;
    let mut names: Vec<(String, String)> = consolidated
        .iter()
        .map(|e| (e.unit.clone(), e.unit_name.clone()))
        .collect();
    names.sort();
    names.dedup();
    writeln!(
        out,
        "\n== Both periods at the province: every list under its unit's name of its time"
    )?;
    for (unit, name) in &names {
        writeln!(out, "   {unit:>6}  {name}")?;
    }
    let findings = p
        .check(pb::CheckRequest {
            term: TERM.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .findings;
    let tagged = findings
        .iter()
        .filter(|f| !f.reorganised_on.is_empty())
        .count();
    writeln!(
        out,
        "   {} findings at the province after the reorganisation, {tagged} tagged to it",
        findings.len()
    )?;
    Ok(SecondAct {
        dry_run,
        rerouted,
        decided_at_owner,
        drafted,
        consolidated,
        findings,
    })
}

/// Stops `unit`'s node and starts it again on its store, under the province, in the
/// two-level structure (what a commune whose district was abolished does).
async fn restart_under_province(demo: &mut Demo, unit: &str) -> Result<(), DemoError> {
    let at = demo
        .nodes
        .iter()
        .position(|(u, _)| u == unit)
        .expect("demo unit");
    let (_, node) = demo.nodes.remove(at);
    node.stop().await?;
    let province = demo
        .nodes
        .iter()
        .find(|(u, _)| u == PROVINCE)
        .map(|(_, n)| n.url())
        .expect("the province");
    let node = start_in(
        &demo.root,
        &demo.pki,
        unit,
        Some(province),
        Some("builtin:2025"),
    )
    .await?;
    demo.nodes.insert(at, (unit.to_string(), node));
    Ok(())
}

/// Polls `c` until the latest plan of `unit` is decided (approved or returned).
async fn wait_decided(
    c: &mut pb::planning_client::PlanningClient<tonic::transport::Channel>,
    unit: &str,
) -> Result<pb::PlanSummary, DemoError> {
    let decided = [pb::PlanStatus::Approved, pb::PlanStatus::Returned];
    wait_until(c, unit, "decided", |s| {
        decided.iter().any(|d| *d as i32 == s)
    })
    .await
}
