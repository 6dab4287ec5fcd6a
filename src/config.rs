//! Node configuration: a raw form gathered from a TOML file, the environment and flags
//! ([`RawConfig`], every setting defined once: its field is the TOML key, the `--flag` and the
//! `QUYHOACH_SERVE_*` variable), and a validated [`Config`] that the server starts from. A bad
//! config fails before anything starts, with one line that names the setting at fault.
//!
//! This is also where reference data files are read ([`load_units`], [`load_catalog`]); the
//! domain only parses their text.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        history::Period, Catalog, Hierarchy, LaterReorganisation, Level, Structure, Unit,
        UnitHistory,
    },
    rules::RulesFile,
};

/// The three-level unit file (until June 2025), built in: the default.
pub const UNITS_2024: &str = include_str!("../data/units-2024.csv");
/// The two-level unit file (since July 2025), built in.
pub const UNITS_2025: &str = include_str!("../data/units-2025.csv");
/// How the 2024 units became the 2025 ones (`old_code,new_code,share`), built in.
pub const UNITS_2024_TO_2025: &str = include_str!("../data/units-2024-to-2025.csv");
/// The day the two-level structure took effect: 1 July 2025 (Nghị quyết 202/2025/QH15 and
/// the resolutions of the National Assembly's Standing Committee on each province's communes).
pub const TWO_LEVELS_FROM: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2025, 7, 1) {
    Some(d) => d,
    None => panic!("a real date"),
};
const POSITIONS: &str = include_str!("../data/positions.csv");
const TERMS: &str = include_str!("../data/terms.csv");
const RULES: &str = include_str!("../data/rules.toml");

/// The address a node listens on when none is given: a free port, printed at start.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// The units file used when none is given.
pub const DEFAULT_UNITS: &str = "builtin:2024";
/// Requests per second each peer may make when no limit is given.
pub const DEFAULT_RATE_LIMIT: u32 = 200;

/// Why a configuration cannot be used. Each names the setting (its TOML key) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value that cannot be used, or settings that cannot go together.
    #[error("{key}: {problem}")]
    Invalid {
        /// The setting at fault.
        key: &'static str,
        /// What is wrong, in plain words.
        problem: String,
        /// Other settings the problem involves (a conflict names both sides).
        with: Vec<&'static str>,
    },
    /// A file a setting names cannot be read.
    #[error("{key}: cannot read {}", path.display())]
    Read {
        /// The setting naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file that is not valid TOML for these settings.
    #[error("{} line {line}: {problem}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The line at fault (1-based).
        line: usize,
        /// The key and what is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    fn invalid(key: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            problem: problem.into(),
            with: Vec::new(),
        }
    }

    fn read(key: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Read { key, path, source }
    }

    /// The settings the error is about, the one at fault first: a caller that layered the
    /// configuration from several sources can say where each came from.
    pub fn keys(&self) -> Vec<&'static str> {
        match self {
            Self::Invalid { key, with, .. } => std::iter::once(*key).chain(with.clone()).collect(),
            Self::Read { key, .. } => vec![key],
            Self::Toml { .. } => Vec::new(),
        }
    }
}

/// Configuration as written: every field optional until validated. Each field is one setting:
/// a key of the TOML file, a `QUYHOACH_SERVE_<KEY>` environment variable and a `--key` flag of
/// `quyhoach serve`; its doc is the flag's help, with its default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The level the node serves: province, district or commune (checked against the unit).
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub level: Option<String>,
    /// Code of the unit this node serves. Required.
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub unit: Option<String>,
    /// Address to listen on, host:port [default: 127.0.0.1:0, a free port, printed at start].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub listen: Option<String>,
    /// Folder of the node's store. Required.
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub data: Option<PathBuf>,
    /// URL of the parent node, e.g. http://127.0.0.1:7400; required below the province.
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub parent: Option<String>,
    /// Folder of an offline link to the parent, instead of --parent: bundles for the parent
    /// are written into DIR/up/, receipts and decisions are taken from DIR/down/ (needs TLS;
    /// docs/offline-transfer.md).
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub parent_dir: Option<PathBuf>,
    /// Units file, or builtin:2024 (three levels) / builtin:2025 (two levels), or the label
    /// of a structure added with --reorganisation [default: builtin:2024].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub units: Option<String>,
    /// A later reorganisation of units this deployment adds after the built-in history: a
    /// TOML file with the new structure's `label`, the day it takes effect (`on`), its
    /// `units` file and its `mapping` CSV (old_code,new_code,share, as
    /// data/units-2024-to-2025.csv), paths relative to the file; repeatable, in date order
    /// (docs/reorganisation.md) [default: none].
    #[arg(long = "reorganisation", value_name = "FILE")]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "paths"
    )]
    pub reorganisation: Option<Vec<PathBuf>>,
    /// Folder holding positions.csv and terms.csv [default: the shipped ones].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub reference: Option<PathBuf>,
    /// How often decisions are pulled from the parent, in milliseconds [default: 2000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_ms: Option<u64>,
    /// The longest wait between retries to an unreachable parent, in milliseconds
    /// [default: 30000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
    /// After how many seconds a link with pending items, or without contact, is reported as
    /// stuck [default: 600].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck_after_secs: Option<u64>,
    /// The rules file (TOML, both rulesets) [default: the shipped data/rules.toml].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub rules_file: Option<PathBuf>,
    /// Serve plaintext without authentication, only for trying things out; without it the
    /// node requires cert, key and ca [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// The node's certificate (PEM), from `quyhoach certs node`, naming its unit with the node
    /// role.
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub cert: Option<PathBuf>,
    /// The node's private key (PEM).
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub key: Option<PathBuf>,
    /// The certificate authority (PEM) whose certificates this node trusts, as server and
    /// client.
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub ca: Option<PathBuf>,
    /// Requests per second each peer may make; health checks are exempt [default: 200].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Address (host:port) to serve Prometheus metrics at, as http://ADDR/metrics
    /// [default: none, not served].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub metrics: Option<String>,
    /// Address (host:port) to serve the web page of the node's subtree at (trang web; HTTPS
    /// with the node's certificate, plain HTTP when insecure) [default: none, not served].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub web: Option<String>,
    /// A key file with which the node seals its audit records (make one with `quyhoach audit
    /// key --out FILE`); it must lie outside the data folder, which a store rewrite would
    /// rewrite with it [default: derived from the node's TLS key; none with --insecure].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub audit_key: Option<PathBuf>,
    /// The authority's certificate revocation list (PEM, from `quyhoach certs revoke`): a
    /// client certificate it names is refused at the handshake, and so is a parent whose
    /// certificate it names [default: none].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub crl: Option<PathBuf>,
    /// The authority (PEM, one or more certificates) that approvers' official-use
    /// certificates chain to (Decree 68/2024): an approval may then carry a detached CMS
    /// signature (`decide --cms FILE`), verified against it [default: none, such an approval
    /// is refused].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub signing_ca: Option<PathBuf>,
    /// The revocation list (PEM) of the signing authority (`--signing-ca`), signed by it: an
    /// approval whose CMS signer's certificate it names is refused, naming the serial. Read
    /// again when the file changes (its modification time or length), so a revocation takes
    /// effect without a restart; a new list that does not hold keeps the last good one
    /// [default: none].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub signing_crl: Option<PathBuf>,
    /// The classification (độ mật) every export carries: "Tuyệt mật", "Tối mật" or "Mật"
    /// (Law 117/2025/QH15), written in capitals at the top right of a sheet and on the first
    /// line of a CSV file [default: none, exports unmarked].
    #[arg(long)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "text"
    )]
    pub classification: Option<String>,
}

/// Reads a setting that is text (a code, an address, a path) from whatever the source holds:
/// the environment gives `QUYHOACH_SERVE_UNIT=40` as a number, which is still the code "40".
fn text<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<String>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
    }
    Ok(Option::<Given>::deserialize(deserializer)?.map(|t| {
        T::from(match t {
            Given::Text(s) => s,
            Given::Unsigned(n) => n.to_string(),
            Given::Signed(n) => n.to_string(),
            Given::Float(n) => n.to_string(),
        })
    }))
}

/// Reads a list of paths, given as a list or (from the environment) as one path.
fn paths<'de, D>(deserializer: D) -> Result<Option<Vec<PathBuf>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(
        Option::<Given>::deserialize(deserializer)?.map(|g| match g {
            Given::One(p) => vec![p],
            Given::Many(v) => v,
        }),
    )
}

/// The line (1-based) a TOML error points at in `text`, and its message led by its key.
fn toml_problem(text: &str, e: &toml::de::Error) -> (usize, String) {
    let start = e.span().map_or(0, |s| s.start).min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !e.message().contains(k));
    let problem = match key {
        Some(k) => format!("{k}: {}", e.message()),
        None => e.message().to_string(),
    };
    (line, problem)
}

impl RawConfig {
    /// Reads a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if the file cannot be read; [`ConfigError::Toml`], naming the line
    /// and the key, if it is not TOML or holds a key or a value these settings do not take.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(ConfigError::read("config", path))?;
        Self::from_toml(&text).map_err(|(line, problem)| ConfigError::Toml {
            path: path.to_path_buf(),
            line,
            problem,
        })
    }

    /// Parses TOML text; the error is the line (1-based) and the problem, led by its key.
    fn from_toml(text: &str) -> Result<Self, (usize, String)> {
        toml::from_str(text).map_err(|e| toml_problem(text, &e))
    }

    /// Checks everything and loads the reference data.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first setting with a value that cannot be used (a
    /// missing unit or data folder, a unit not in the units file, a level that is not the
    /// unit's, a parent where none may be or none where one is needed, TLS files given half or
    /// together with `insecure`, an address that is not host:port, a zero limit or period);
    /// [`ConfigError::Read`] if a file a setting names cannot be read.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let (hierarchy, reorganisations) = load_units_and_reorganisations(
            self.units.as_deref().unwrap_or(DEFAULT_UNITS),
            self.reorganisation.as_deref().unwrap_or_default(),
        )?;
        let catalog = match &self.reference {
            Some(dir) => load_catalog(dir)?,
            None => builtin_catalog()?,
        };
        let rules = match &self.rules_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(ConfigError::read("rules_file", path))?;
                RulesFile::parse(&text).map_err(|e| ConfigError::invalid("rules_file", e))?
            }
            None => RulesFile::parse(RULES)
                .map_err(|e| ConfigError::invalid("rules_file", format!("built-in rules: {e}")))?,
        };
        let code = self.unit.ok_or_else(|| {
            ConfigError::invalid("unit", "required (the code of the unit this node serves)")
        })?;
        let unit = hierarchy.get(&code).cloned().ok_or_else(|| {
            ConfigError::invalid("unit", format!("{code:?} is not in the units file"))
        })?;
        if let Some(level) = &self.level {
            let level: Level = level
                .parse()
                .map_err(|e| ConfigError::invalid("level", e))?;
            if level != unit.level {
                return Err(ConfigError::invalid(
                    "level",
                    format!(
                        "unit {code} ({}) is a {}, not a {level}",
                        unit.name, unit.level
                    ),
                ));
            }
        }
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or(DEFAULT_LISTEN)
            .parse()
            .map_err(|e| {
                ConfigError::invalid(
                    "listen",
                    format!("{e} (expected host:port, e.g. 127.0.0.1:7400)"),
                )
            })?;
        let data = self.data.ok_or_else(|| {
            ConfigError::invalid("data", "required (the folder of the node's store)")
        })?;
        if let (Some(_), Some(_)) = (&self.parent, &self.parent_dir) {
            return Err(ConfigError::invalid(
                "parent_dir",
                "give --parent (a network link) or --parent-dir (a folder), not both",
            ));
        }
        let parent_dir = match (self.parent_dir, unit.level) {
            (Some(_), Level::Province) => {
                return Err(ConfigError::invalid(
                    "parent_dir",
                    "a province node has no parent",
                ))
            }
            (Some(_), _) if self.insecure.unwrap_or(false) => {
                return Err(ConfigError::invalid(
                    "parent_dir",
                    "a folder link signs what it carries: it needs the node's key (--cert, --key, --ca), not --insecure",
                ))
            }
            (dir, _) => dir,
        };
        let parent = match (self.parent, unit.level) {
            (None, _) if parent_dir.is_some() => None,
            (Some(_), Level::Province) => {
                return Err(ConfigError::invalid(
                    "parent",
                    "a province node has no parent",
                ))
            }
            (None, l) if l != Level::Province => {
                return Err(ConfigError::invalid(
                    "parent",
                    format!("required for a {l} node (the URL of its parent's node, or --parent-dir for a folder)"),
                ))
            }
            (p, _) => p,
        };
        let tls = match (
            self.insecure.unwrap_or(false),
            &self.cert,
            &self.key,
            &self.ca,
        ) {
            (true, None, None, None) => None,
            (true, cert, key, ca) => {
                let with: Vec<&'static str> = [("cert", cert), ("key", key), ("ca", ca)]
                    .into_iter()
                    .filter(|(_, v)| v.is_some())
                    .map(|(k, _)| k)
                    .collect();
                return Err(ConfigError::Invalid {
                    key: "insecure",
                    problem: format!("cannot be combined with {}", with.join(", ")),
                    with,
                });
            }
            (false, Some(cert), Some(key), Some(ca)) => Some(Tls::load(cert, key, ca, &unit.code)?),
            (false, ..) => {
                return Err(ConfigError::invalid(
                    "tls",
                    "give cert, key and ca (--cert, --key, --ca), or --insecure for plaintext",
                ))
            }
        };
        if let (Some(p), Some(_)) = (&parent, &tls) {
            if !p.starts_with("https://") {
                return Err(ConfigError::invalid(
                    "parent",
                    format!("{p:?} must be an https:// URL when TLS is on"),
                ));
            }
        }
        let metrics = self
            .metrics
            .as_deref()
            .map(|m| {
                m.parse::<SocketAddr>().map_err(|e| {
                    ConfigError::invalid("metrics", format!("{e} (expected host:port)"))
                })
            })
            .transpose()?;
        let web = self
            .web
            .as_deref()
            .map(|m| {
                m.parse::<SocketAddr>().map_err(|e| {
                    ConfigError::invalid(
                        "web",
                        format!("{e} (expected host:port, e.g. 127.0.0.1:8400)"),
                    )
                })
            })
            .transpose()?;
        let audit_key = match (&self.audit_key, &tls) {
            (Some(path), _) => Some(load_audit_key(path, &data)?),
            (None, Some(tls)) => Some(
                crate::audit::AuditKey::from_private_key_pem(tls.key_pem.as_bytes())
                    .map_err(|e| ConfigError::invalid("key", e))?,
            ),
            (None, None) => None,
        };
        let earlier_audit_keys = match (&self.audit_key, &self.key, &tls) {
            (None, Some(key), Some(_)) => earlier_keys(key)?,
            _ => Vec::new(),
        };
        let crl_pem = match (&self.crl, &tls) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "crl",
                    "a revocation list needs TLS (--cert, --key, --ca)",
                ))
            }
            (Some(path), Some(_)) => {
                let pem = std::fs::read_to_string(path).map_err(ConfigError::read("crl", path))?;
                crate::pki::revoked_in(&pem)
                    .map_err(|e| ConfigError::invalid("crl", format!("{}: {e}", path.display())))?;
                Some(pem)
            }
        };
        let signing_authority = self
            .signing_ca
            .as_ref()
            .map(|path| {
                let pem =
                    std::fs::read_to_string(path).map_err(ConfigError::read("signing_ca", path))?;
                crate::signature::SigningAuthority::from_pem(&pem).map_err(|e| {
                    ConfigError::invalid("signing_ca", format!("{}: {e}", path.display()))
                })
            })
            .transpose()?;
        let signing_authority =
            match (&self.signing_crl, signing_authority) {
                (None, authority) => authority.map(SigningTrust::fixed),
                (Some(_), None) => return Err(ConfigError::invalid(
                    "signing_crl",
                    "is the revocation list of the signing authority: name it with --signing-ca",
                )),
                (Some(path), Some(authority)) => Some(
                    SigningTrust::watching(authority, path).map_err(|e| match e {
                        CrlReadError::Read(e) => ConfigError::read("signing_crl", path)(e),
                        CrlReadError::Invalid(e) => {
                            ConfigError::invalid("signing_crl", format!("{}: {e}", path.display()))
                        }
                    })?,
                ),
            };
        let classification = self
            .classification
            .as_deref()
            .map(|text| {
                crate::tabular::Classification::parse(text)
                    .map_err(|e| ConfigError::invalid("classification", e))
            })
            .transpose()?;
        let rate_limit = self.rate_limit.unwrap_or(DEFAULT_RATE_LIMIT);
        if rate_limit == 0 {
            return Err(ConfigError::invalid(
                "rate_limit",
                "must be at least 1 request per second",
            ));
        }
        if let Some(p) = &parent {
            if !(p.starts_with("http://") || p.starts_with("https://"))
                || p.parse::<tonic::transport::Uri>().is_err()
            {
                return Err(ConfigError::invalid(
                    "parent",
                    format!("{p:?} is not a URL like http://127.0.0.1:7400"),
                ));
            }
        }
        let mut sync = SyncSettings::default();
        if let Some(ms) = self.poll_ms {
            if ms == 0 {
                return Err(ConfigError::invalid("poll_ms", "must be at least 1"));
            }
            sync.poll = Duration::from_millis(ms);
        }
        if let Some(ms) = self.retry_max_ms {
            if ms < 10 {
                return Err(ConfigError::invalid("retry_max_ms", "must be at least 10"));
            }
            sync.backoff_max = Duration::from_millis(ms);
        }
        if let Some(s) = self.stuck_after_secs {
            sync.stuck_after = Duration::from_secs(s);
        }
        Ok(Config {
            unit,
            listen,
            data,
            parent,
            parent_dir,
            hierarchy: Arc::new(hierarchy),
            reorganisations,
            catalog: Arc::new(catalog),
            rules,
            sync,
            tls,
            rate_limit,
            metrics,
            web,
            audit_key,
            earlier_audit_keys,
            crl_pem,
            signing_authority,
            classification,
        })
    }
}

/// Reads the audit key file at `path`, which must lie outside the data folder `data`.
/// The audit keys derived from the earlier TLS keys that `certs node --renew` kept beside
/// `key` ([`crate::pki::kept_key`]: `key.1`, `key.2`, … up to the first missing number).
fn earlier_keys(key: &Path) -> Result<Vec<crate::audit::AuditKey>, ConfigError> {
    let mut keys = Vec::new();
    for n in 1.. {
        let path = crate::pki::kept_key(key, n);
        if !path.exists() {
            break;
        }
        let pem = std::fs::read(&path).map_err(ConfigError::read("key", &path))?;
        let derived = crate::audit::AuditKey::from_private_key_pem(&pem)
            .map_err(|e| ConfigError::invalid("key", format!("{}: {e}", path.display())))?;
        keys.push(derived);
    }
    Ok(keys)
}

fn load_audit_key(path: &Path, data: &Path) -> Result<crate::audit::AuditKey, ConfigError> {
    // The data folder may not exist yet; compare absolute paths, resolved where they exist.
    let resolve = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if resolve(path).starts_with(resolve(data)) {
        return Err(ConfigError::invalid(
            "audit_key",
            format!(
                "{} lies inside the data folder {}: whoever rewrites the store would rewrite \
                 the key with it; keep it elsewhere",
                path.display(),
                data.display()
            ),
        ));
    }
    crate::audit::AuditKey::load(path).map_err(|e| match e {
        crate::audit::AuditError::ReadKey { source, .. } => {
            ConfigError::read("audit_key", path)(source)
        }
        other => ConfigError::invalid("audit_key", other.to_string()),
    })
}

/// TLS material, read once: the authority to trust and one's own certificate and key. A node
/// uses it as server and as client of its parent; a person's client uses it to call a node.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The certificate (PEM), naming its holder's unit and roles.
    pub cert_pem: String,
    /// The certificate's private key (PEM).
    pub key_pem: String,
    /// The certificate authority to trust (PEM).
    pub ca_pem: String,
}

impl Tls {
    /// Reads the three PEM files.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] naming the file (`cert`, `key` or `ca`) that cannot be read.
    pub fn read(cert: &Path, key: &Path, ca: &Path) -> Result<Self, ConfigError> {
        let read = |field: &'static str, p: &Path| {
            std::fs::read_to_string(p).map_err(ConfigError::read(field, p))
        };
        Ok(Tls {
            cert_pem: read("cert", cert)?,
            key_pem: read("key", key)?,
            ca_pem: read("ca", ca)?,
        })
    }

    /// Reads the three PEM files and checks that the certificate is a node certificate of `unit`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if a file cannot be read; [`ConfigError::Invalid`] (`cert`) if
    /// the certificate cannot be parsed or is not a node certificate of `unit`.
    pub fn load(cert: &Path, key: &Path, ca: &Path, unit: &str) -> Result<Self, ConfigError> {
        let tls = Self::read(cert, key, ca)?;
        match crate::pki::caller_from_pem(&tls.cert_pem)
            .map_err(|e| ConfigError::invalid("cert", e))?
        {
            crate::auth::Caller::Certified { unit: u, roles, .. }
                if u == unit && roles.contains(&crate::auth::Role::Node) =>
            {
                Ok(tls)
            }
            other => Err(ConfigError::invalid(
                "cert",
                format!("{} is not a node certificate of unit {unit}", other.label()),
            )),
        }
    }

    /// The tonic configuration for calling a node with this identity.
    pub fn client_config(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// The shipped position catalogue and terms.
///
/// # Errors
///
/// [`ConfigError::Invalid`] (`reference`) if the shipped files do not parse, which a test
/// rules out.
pub fn builtin_catalog() -> Result<Catalog, ConfigError> {
    Catalog::parse(POSITIONS, TERMS).map_err(|e| ConfigError::invalid("reference", e.to_string()))
}

/// Reads `positions.csv` and `terms.csv` from a folder.
///
/// # Errors
///
/// [`ConfigError::Read`] if a file cannot be read; [`ConfigError::Invalid`] (`reference`)
/// naming the file and line that does not parse.
pub fn load_catalog(dir: &Path) -> Result<Catalog, ConfigError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(ConfigError::read("reference", &path))
    };
    Catalog::parse(&read("positions.csv")?, &read("terms.csv")?)
        .map_err(|e| ConfigError::invalid("reference", format!("{}: {e}", dir.display())))
}

/// Loads a units file by path, or one of the built-in ones: `builtin:2024` (the three-level
/// structure) and `builtin:2025` (the two-level one) are the two periods of the built-in
/// history ([`builtin_history`]), so that a node in either knows the other's units; a file
/// is a structure without history.
///
/// # Errors
///
/// [`ConfigError::Read`] if the file cannot be read; [`ConfigError::Invalid`] (`units`)
/// naming the line that does not parse.
pub fn load_units(spec: &str) -> Result<Hierarchy, ConfigError> {
    match spec {
        "builtin:2024" => return Ok(Hierarchy::with_history(builtin_history()?, 0)),
        "builtin:2025" => return Ok(Hierarchy::with_history(builtin_history()?, 1)),
        _ => {}
    }
    let text =
        std::fs::read_to_string(spec).map_err(ConfigError::read("units", Path::new(spec)))?;
    Hierarchy::parse(&text).map_err(|e| ConfigError::invalid("units", format!("{spec} {e}")))
}

/// As [`load_units`], followed by a deployment's own later reorganisations (`files`, the
/// `reorganisation` setting, oldest first), each a TOML file:
///
/// ```toml
/// label = "2027"                       # the new structure's name, unused so far
/// on = "2027-01-01"                    # the day it takes effect, after the last structure's
/// units = "units-2027.csv"             # code,level,name,parent_code, as data/units-2025.csv
/// mapping = "units-2025-to-2027.csv"   # old_code,new_code,share, as data/units-2024-to-2025.csv
/// ```
///
/// (`units` and `mapping` relative to the file). Each is checked like the built-in history
/// ([`UnitHistory::then`]): dates strictly increasing, every old code of the mapping in the
/// structure before, every new code in the new one, no unit without a successor. `spec` may
/// name an added structure by its label, to start a node in it; otherwise the node starts in
/// `spec`'s structure and moves to an added one when its province reorganises
/// ([`crate::node::Node::reorganize`]).
///
/// # Errors
///
/// As [`load_units`]; [`ConfigError::Read`] (`reorganisation`) for a file that cannot be
/// read; [`ConfigError::Invalid`] (`reorganisation`) naming the file, its line and the
/// problem for a file that does not parse or does not join the history.
pub fn load_units_with(spec: &str, files: &[PathBuf]) -> Result<Hierarchy, ConfigError> {
    load_units_and_reorganisations(spec, files).map(|(h, _)| h)
}

/// As [`load_units_with`], answering also each later reorganisation as read from its files
/// (the texts of its units file and mapping), for the reference data to carry down.
///
/// # Errors
///
/// As [`load_units_with`].
pub fn load_units_and_reorganisations(
    spec: &str,
    files: &[PathBuf],
) -> Result<(Hierarchy, Vec<LaterReorganisation>), ConfigError> {
    const KEY: &str = "reorganisation";
    if files.is_empty() {
        return load_units(spec).map(|h| (h, Vec::new()));
    }
    let (mut history, start) = match builtin_period(spec) {
        Some(p) => ((*builtin_history()?).clone(), Some(p)),
        None => match std::fs::read_to_string(spec) {
            Ok(text) => (
                UnitHistory::single(
                    "",
                    Structure::parse(&text)
                        .map_err(|e| ConfigError::invalid("units", format!("{spec} {e}")))?,
                ),
                Some(0),
            ),
            // Not a file: perhaps the label of an added structure, looked up below.
            Err(_) => ((*builtin_history()?).clone(), None),
        },
    };
    let bad = |path: &Path, line: u64, problem: String| {
        ConfigError::invalid(
            KEY,
            if line == 0 {
                format!("{}: {problem}", path.display())
            } else {
                format!("{} line {line}: {problem}", path.display())
            },
        )
    };
    let mut later = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(file).map_err(ConfigError::read(KEY, file))?;
        let described: ReorganisationFile = toml::from_str(&text).map_err(|e| {
            let (line, problem) = toml_problem(&text, &e);
            bad(file, line as u64, problem)
        })?;
        let line_of = |key: &str| {
            text.lines()
                .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
                .map_or(0, |i| i as u64 + 1)
        };
        let label = described.label.trim().to_string();
        if label.is_empty()
            || label.starts_with("builtin:")
            || history.period_named(&label).is_some()
        {
            return Err(bad(
                file,
                line_of("label"),
                format!(
                    "label: {label:?} is empty, starts with builtin: or names a structure the \
                     history has already"
                ),
            ));
        }
        let on = crate::domain::parse_date("on", &described.on)
            .map_err(|e| bad(file, line_of("on"), e.to_string()))?;
        let last = history.periods().last().expect("a history has a structure");
        if let Some(before) = last.from.filter(|d| on <= *d) {
            return Err(bad(
                file,
                line_of("on"),
                format!(
                    "on: {on} is not after {before}, the day structure {} took effect: \
                     reorganisations come in date order",
                    last.label
                ),
            ));
        }
        let folder = file.parent().unwrap_or(Path::new("."));
        let units_path = folder.join(&described.units);
        let units =
            std::fs::read_to_string(&units_path).map_err(ConfigError::read(KEY, &units_path))?;
        let mapping_path = folder.join(&described.mapping);
        let mapping = std::fs::read_to_string(&mapping_path)
            .map_err(ConfigError::read(KEY, &mapping_path))?;
        let r = LaterReorganisation {
            label,
            on,
            units,
            mapping,
        };
        // The same check a node applies to one its parent's reference data carries.
        history = history.join(&r).map_err(|e| {
            let path = if e.file == "units" {
                &units_path
            } else {
                &mapping_path
            };
            bad(path, e.line, e.problem)
        })?;
        later.push(r);
    }
    let start = match start {
        Some(p) => p,
        None => history
            .period_named(spec)
            .filter(|p| *p >= 2)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "units",
                    format!(
                        "{spec:?} is neither a units file, builtin:2024, builtin:2025 nor the \
                         label of a reorganisation given"
                    ),
                )
            })?,
    };
    Ok((Hierarchy::with_history(Arc::new(history), start), later))
}

/// A deployment's own later reorganisation, as its TOML file describes it
/// ([`load_units_with`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReorganisationFile {
    /// The new structure's label (`2027`).
    label: String,
    /// The day it takes effect, `YYYY-MM-DD`.
    on: String,
    /// Its units file, relative to the TOML file.
    units: PathBuf,
    /// The mapping from the structure before, relative to the TOML file.
    mapping: PathBuf,
}

/// The period of the built-in history a structure name (`builtin:2024`, `builtin:2025`)
/// stands for.
pub fn builtin_period(spec: &str) -> Option<usize> {
    match spec {
        "builtin:2024" => Some(0),
        "builtin:2025" => Some(1),
        _ => None,
    }
}

/// The built-in history: the 2024 structure until 30 June 2025, the 2025 one from
/// [`TWO_LEVELS_FROM`], joined by `data/units-2024-to-2025.csv`. Parsed once per process.
///
/// # Errors
///
/// [`ConfigError::Invalid`] (`units`) if the shipped files do not parse or do not join,
/// which a test rules out.
pub fn builtin_history() -> Result<Arc<UnitHistory>, ConfigError> {
    static BUILTIN: std::sync::OnceLock<Result<Arc<UnitHistory>, String>> =
        std::sync::OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            let structure = |text: &str| Structure::parse(text).map_err(|e| e.to_string());
            let periods = vec![
                Period {
                    label: "2024".into(),
                    from: None,
                    structure: structure(UNITS_2024)?,
                },
                Period {
                    label: "2025".into(),
                    from: Some(TWO_LEVELS_FROM),
                    structure: structure(UNITS_2025)?,
                },
            ];
            let mapping = crate::domain::history::parse_mappings(UNITS_2024_TO_2025)
                .map_err(|e| e.to_string())?;
            UnitHistory::new(periods, vec![mapping])
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| ConfigError::invalid("units", format!("built-in history: {e}")))
}

/// The signing authority approvers' CMS signatures are verified against (`serve --signing-ca`),
/// with its revocation list (`serve --signing-crl FILE`) followed on disk: at each use
/// ([`SigningTrust::current`]) the file's modification time and length are compared with
/// those of the last reading, and a changed file is read again, so that an approver revoked
/// while the node runs is refused from the next signature on, without a restart. A new list
/// that cannot be read, does not parse or is not signed by the authority is refused with an
/// error in the log, and the last good one stays in force (a revocation is never undone by a
/// damaged file). Cheap to clone: the clones share one state.
#[derive(Clone)]
pub struct SigningTrust {
    inner: Arc<std::sync::Mutex<CrlState>>,
}

/// What [`SigningTrust`] holds: the authority without any list, the list's file, and the
/// authority as last read with it.
struct CrlState {
    base: crate::signature::SigningAuthority,
    /// The revocation list's file and the (modification time, length) last seen there.
    file: Option<(PathBuf, Option<(std::time::SystemTime, u64)>)>,
    current: Arc<crate::signature::SigningAuthority>,
}

/// Why a revocation list file could not be taken.
#[derive(Debug)]
pub enum CrlReadError {
    /// The file cannot be read.
    Read(std::io::Error),
    /// It is no revocation list of the authority (the reason, in words).
    Invalid(String),
}

impl std::fmt::Debug for SigningTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("SigningTrust")
            .field("authority", &state.base)
            .field("crl", &state.file.as_ref().map(|(p, _)| p))
            .finish()
    }
}

impl SigningTrust {
    /// The authority with no revocation list.
    pub fn fixed(authority: crate::signature::SigningAuthority) -> Self {
        Self {
            inner: Arc::new(std::sync::Mutex::new(CrlState {
                current: Arc::new(authority.clone()),
                base: authority,
                file: None,
            })),
        }
    }

    /// The authority with the revocation list in `path` (PEM, `X509 CRL`, signed by the
    /// authority), read now and again whenever the file changes.
    ///
    /// # Errors
    ///
    /// [`CrlReadError`] if the file cannot be read now or holds no list the authority signed.
    pub fn watching(
        authority: crate::signature::SigningAuthority,
        path: &Path,
    ) -> Result<Self, CrlReadError> {
        let stamp = stamp_of(path).map_err(CrlReadError::Read)?;
        let pem = std::fs::read_to_string(path).map_err(CrlReadError::Read)?;
        let current = authority
            .clone()
            .with_revocation_list(&pem)
            .map_err(CrlReadError::Invalid)?;
        Ok(Self {
            inner: Arc::new(std::sync::Mutex::new(CrlState {
                base: authority,
                file: Some((path.to_path_buf(), Some(stamp))),
                current: Arc::new(current),
            })),
        })
    }

    /// The authority with the revocation list now in force: the file read again first if its
    /// modification time or length changed since it was last read. A file that cannot be
    /// read or is no list of the authority leaves the last good list in force and is logged
    /// (once per change of the file).
    pub fn current(&self) -> Arc<crate::signature::SigningAuthority> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some((path, seen)) = &state.file else {
            return state.current.clone();
        };
        let path = path.clone();
        let stamp = stamp_of(&path).ok();
        if stamp.is_some() && stamp == *seen {
            return state.current.clone();
        }
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| state.base.clone().with_revocation_list(&pem));
        match (stamp, read) {
            (Some(stamp), Ok(authority)) => {
                tracing::info!(crl = %path.display(), "the signing authority's revocation list changed; read again");
                state.current = Arc::new(authority);
                state.file = Some((path, Some(stamp)));
            }
            (stamp, Err(e)) => {
                if stamp != *seen {
                    tracing::error!(crl = %path.display(), error = %e, "the signing authority's new revocation list is refused; the last good one stays in force");
                }
                // Remembered, so that the same bad file is not read (and logged) again; a
                // missing file is looked for at each use.
                state.file = Some((path, stamp));
            }
            (None, Ok(_)) => {}
        }
        state.current.clone()
    }
}

/// A file's modification time and length.
fn stamp_of(path: &Path) -> std::io::Result<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The unit served.
    pub unit: Unit,
    /// The address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The folder of the node's store.
    pub data: PathBuf,
    /// The parent node's URL; none at the province or with a folder link.
    pub parent: Option<String>,
    /// The folder of an offline link to the parent (`sync::folder_parent`), instead of a URL.
    pub parent_dir: Option<PathBuf>,
    /// Every unit of the units file.
    pub hierarchy: Arc<Hierarchy>,
    /// The later reorganisations the `reorganisation` setting's files describe, oldest
    /// first, as the reference data carries them down (empty without the setting).
    pub reorganisations: Vec<LaterReorganisation>,
    /// Positions and terms.
    pub catalog: Arc<Catalog>,
    /// The rule parameters of both rulesets.
    pub rules: RulesFile,
    /// Mutual TLS material; none when started with `--insecure`.
    pub tls: Option<Tls>,
    /// Requests per second per peer.
    pub rate_limit: u32,
    /// Where to serve `/metrics`.
    pub metrics: Option<SocketAddr>,
    /// Where to serve the web page; none to not serve it.
    pub web: Option<SocketAddr>,
    /// The key the node seals its audit records with; none for an insecure node without
    /// `--audit-key` (its records are chained but not sealed).
    pub audit_key: Option<crate::audit::AuditKey>,
    /// The keys the node sealed with before `audit_key`: with the key derived from the TLS key
    /// `nodes/U.key`, those derived from the earlier keys `certs node --renew` kept beside it
    /// (`U.key.1`, `U.key.2`, …); they verify the records of their time and seal nothing.
    pub earlier_audit_keys: Vec<crate::audit::AuditKey>,
    /// The authority's revocation list (PEM), checked for every client certificate and for
    /// the parent's.
    pub crl_pem: Option<String>,
    /// The authority approvers' CMS signatures must chain to, with its revocation list
    /// followed on disk; none: such approvals refused.
    pub signing_authority: Option<SigningTrust>,
    /// The classification every export carries; none: exports unmarked.
    pub classification: Option<crate::tabular::Classification>,
    /// Timing of the upward link.
    pub sync: SyncSettings,
}

/// Timing of the link.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// How often decisions are pulled when nothing else wakes the task.
    pub poll: Duration,
    /// First retry delay after a failure.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// After how long a link with pending items or no contact is reported as stuck.
    pub stuck_after: Duration,
}

impl SyncSettings {
    /// How often the link compares digests with the parent when nothing failed: every 30
    /// poll intervals (a minute at the default poll of two seconds).
    pub fn reconcile_every(&self) -> Duration {
        self.poll.saturating_mul(30)
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            stuck_after: Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(unit: &str, parent: Option<&str>) -> RawConfig {
        RawConfig {
            unit: Some(unit.into()),
            data: Some("/tmp/x".into()),
            insecure: Some(true),
            parent: parent.map(Into::into),
            ..RawConfig::default()
        }
    }

    #[test]
    fn lower_nodes_need_a_parent_and_provinces_have_none() {
        assert!(raw("40", None).validate().is_ok());
        assert!(raw("40", Some("http://127.0.0.1:1"))
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("parent:"));
        assert!(raw("412", None)
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("parent:"));
        assert!(raw("412", Some("127.0.0.1:1"))
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("parent:"));
        assert!(raw("412", Some("http://127.0.0.1:7400")).validate().is_ok());
    }

    #[test]
    fn level_must_match_the_unit() {
        let mut r = raw("412", Some("http://127.0.0.1:7400"));
        r.level = Some("province".into());
        let e = r.validate().unwrap_err().to_string();
        assert!(e.starts_with("level:") && e.contains("district"), "{e}");
    }

    #[test]
    fn two_level_file_puts_communes_under_the_province() {
        let mut r = raw("16681", Some("http://127.0.0.1:7400"));
        r.units = Some("builtin:2025".into());
        let c = r.validate().unwrap();
        assert_eq!(c.hierarchy.parent("16681").unwrap().code, "40");
    }

    #[test]
    fn toml_with_unknown_key_is_refused() {
        let (line, e) = RawConfig::from_toml("unit = \"40\"\nlisten_addr = \"x\"\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(e.contains("listen_addr"), "{e}");
    }

    #[test]
    fn toml_type_error_names_the_key_and_line() {
        let (line, e) = RawConfig::from_toml("unit = \"40\"\n\npoll_ms = \"fast\"\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(e.starts_with("poll_ms: ") && e.contains("u64"), "{e}");
    }

    #[test]
    fn insecure_with_tls_files_names_the_conflicting_settings() {
        let mut r = raw("40", None);
        r.ca = Some("/tmp/ca.pem".into());
        let e = r.validate().unwrap_err();
        assert_eq!(e.keys(), ["insecure", "ca"]);
        assert_eq!(e.to_string(), "insecure: cannot be combined with ca");
    }

    #[test]
    fn an_audit_key_inside_the_data_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store");
        std::fs::create_dir_all(&data).unwrap();
        let text = crate::audit::AuditKey::generate_file_text();
        for (at, ok) in [
            (data.join("audit.key"), false),
            (dir.path().join("audit.key"), true),
        ] {
            std::fs::write(&at, &text).unwrap();
            let mut r = raw("40", None);
            r.data = Some(data.clone());
            r.audit_key = Some(at);
            match r.validate() {
                Ok(c) => assert!(ok && c.audit_key.is_some()),
                Err(e) => {
                    assert!(!ok, "{e}");
                    assert_eq!(e.keys(), ["audit_key"]);
                    assert!(e.to_string().contains("inside the data folder"), "{e}");
                }
            }
        }
        // A revocation list needs TLS.
        let mut r = raw("40", None);
        r.crl = Some(dir.path().join("crl.pem"));
        assert_eq!(r.validate().unwrap_err().keys(), ["crl"]);
    }

    /// Writes a 2027 reorganisation merging communes 16690 and 16702 of province 40 into a new
    /// commune 99901 (`mapping` is the mapping's CSV), and answers its TOML file.
    fn reorganisation_2027(dir: &Path, on: &str, mapping: &str) -> PathBuf {
        let units: String = UNITS_2025
            .lines()
            .filter(|l| !l.starts_with("16690,") && !l.starts_with("16702,"))
            .chain(["99901,commune,Phường Vinh Mới,40"])
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.join("units-2027.csv"), units).unwrap();
        std::fs::write(dir.join("units-2025-to-2027.csv"), mapping).unwrap();
        let file = dir.join("2027.toml");
        std::fs::write(
            &file,
            format!(
                "label = \"2027\"\non = \"{on}\"\nunits = \"units-2027.csv\"\n\
                 mapping = \"units-2025-to-2027.csv\"\n"
            ),
        )
        .unwrap();
        file
    }

    const MERGE_2027: &str = "old_code,new_code,share\n16690,99901,whole\n16702,99901,whole\n";

    #[test]
    fn a_deployment_adds_its_own_later_reorganisation() {
        let dir = tempfile::tempdir().unwrap();
        let file = reorganisation_2027(dir.path(), "2027-01-01", MERGE_2027);
        let h = load_units_with("builtin:2025", std::slice::from_ref(&file)).unwrap();
        assert_eq!(h.period(), 1);
        let labels: Vec<&str> = h
            .history()
            .periods()
            .iter()
            .map(|p| p.label.as_str())
            .collect();
        assert_eq!(labels, ["2024", "2025", "2027"]);
        assert_eq!(
            h.history()
                .successors("16690", 1, 2)
                .into_iter()
                .collect::<Vec<_>>(),
            ["99901"]
        );
        // A 2024 commune of Vinh went into 16690 in 2025, and so into 99901.
        assert_eq!(
            h.history()
                .successors("16690", 0, 2)
                .into_iter()
                .collect::<Vec<_>>(),
            ["99901"]
        );
        // Started in the added structure by its label.
        let h = load_units_with("2027", std::slice::from_ref(&file)).unwrap();
        assert_eq!(h.period(), 2);
        assert!(h.get("99901").is_some());
        // Given through the settings (TOML key, one path or a list).
        let raw = RawConfig::from_toml(&format!(
            "unit = \"40\"\nreorganisation = {:?}\n",
            file.display().to_string()
        ))
        .unwrap();
        assert_eq!(raw.reorganisation.as_deref(), Some(&[file.clone()][..]));
    }

    #[test]
    fn a_bad_reorganisation_is_refused_naming_file_line_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let refused = |file: &PathBuf| {
            let e = load_units_with("builtin:2025", std::slice::from_ref(file)).unwrap_err();
            assert_eq!(e.keys(), ["reorganisation"]);
            e.to_string()
        };
        let mapping = d.join("units-2025-to-2027.csv").display().to_string();
        // An old code the structure before lacks, on line 3.
        let f = reorganisation_2027(
            d,
            "2027-01-01",
            "old_code,new_code,share\n16690,99901,whole\n412,99901,whole\n",
        );
        assert_eq!(
            refused(&f),
            format!("reorganisation: {mapping} line 3: old unit 412 is not in structure 2025")
        );
        // A new code the new structure lacks.
        let f = reorganisation_2027(
            d,
            "2027-01-01",
            "old_code,new_code,share\n16690,16702,whole\n16702,99901,whole\n",
        );
        assert_eq!(
            refused(&f),
            format!("reorganisation: {mapping} line 2: new unit 16702 is not in structure 2027")
        );
        // A unit that vanishes unmapped.
        let f = reorganisation_2027(
            d,
            "2027-01-01",
            "old_code,new_code,share\n16690,99901,whole\n",
        );
        let e = refused(&f);
        assert!(
            e.starts_with(&format!("reorganisation: {mapping}: unit 16702 "))
                && e.contains("has no successor in 2027"),
            "{e}"
        );
        // A date not after the last structure's, on line 2 of the TOML file.
        let f = reorganisation_2027(d, "2025-07-01", MERGE_2027);
        let e = refused(&f);
        assert!(
            e.starts_with(&format!(
                "reorganisation: {} line 2: on: 2025-07-01 is not after",
                f.display()
            )),
            "{e}"
        );
        // A units file that does not parse names its line.
        let f = reorganisation_2027(d, "2027-01-01", MERGE_2027);
        std::fs::write(
            d.join("units-2027.csv"),
            "code,level,name,parent_code\n1,hamlet,X,\n",
        )
        .unwrap();
        let e = refused(&f);
        assert!(e.contains("units-2027.csv line 2: "), "{e}");
        // A key the file does not take.
        std::fs::write(&f, "label = \"2027\"\nwhen = \"2027-01-01\"\n").unwrap();
        let e = refused(&f);
        assert!(e.contains("2027.toml line 2: "), "{e}");
        // Two files out of date order.
        let a = reorganisation_2027(d, "2027-01-01", MERGE_2027);
        let e = load_units_with("builtin:2025", &[a.clone(), a])
            .unwrap_err()
            .to_string();
        assert!(e.contains("label: \"2027\""), "{e}");
    }

    #[test]
    fn shipped_reference_data_parses() {
        builtin_catalog().unwrap();
        load_units("builtin:2024").unwrap();
        load_units("builtin:2025").unwrap();
        let e = load_units("/nonexistent/units.csv").unwrap_err();
        assert_eq!(e.to_string(), "units: cannot read /nonexistent/units.csv");
    }
}
