//! Node configuration: a raw form gathered from a TOML file, the environment and flags, and a
//! validated [`Config`] that the server starts from. A bad config fails before anything
//! starts, with one line that says what is wrong.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Deserialize;

use crate::{
    domain::{catalog, Catalog, Hierarchy, Level, Unit},
    rules::RulesFile,
    sync::SyncSettings,
};

/// The three-level unit file (until June 2025), built in: the default.
pub const UNITS_2024: &str = include_str!("../data/units-2024.csv");
/// The two-level unit file (since July 2025), built in.
pub const UNITS_2025: &str = include_str!("../data/units-2025.csv");
const POSITIONS: &str = include_str!("../data/positions.csv");
const TERMS: &str = include_str!("../data/terms.csv");
const RULES: &str = include_str!("../data/rules.toml");

/// Configuration as written: every field optional until validated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The level the node serves; must match the unit's level in the units file.
    pub level: Option<String>,
    /// Code of the unit the node serves.
    pub unit: Option<String>,
    /// Address to listen on, e.g. `127.0.0.1:7400`.
    pub listen: Option<String>,
    /// Folder of the node's store.
    pub data: Option<PathBuf>,
    /// URL of the parent node, e.g. `http://127.0.0.1:7400`; required below the province.
    pub parent: Option<String>,
    /// Units file; `builtin:2024` (default) or `builtin:2025` for the shipped ones.
    pub units: Option<String>,
    /// Folder holding `positions.csv` and `terms.csv`; the shipped ones by default.
    pub reference: Option<PathBuf>,
    /// How often decisions are pulled from the parent, in milliseconds.
    pub poll_ms: Option<u64>,
    /// The longest wait between retries to an unreachable parent, in milliseconds.
    pub retry_max_ms: Option<u64>,
    /// After how many seconds a link with pending items, or without contact, is reported as
    /// stuck.
    pub stuck_after_secs: Option<u64>,
    /// The rules file (TOML, both rulesets); the shipped `data/rules.toml` by default.
    pub rules_file: Option<PathBuf>,
    /// Serve plaintext without authentication. Only for trying things out: without it the
    /// node requires `cert`, `key` and `ca`.
    pub insecure: Option<bool>,
    /// The node's certificate (PEM), naming its unit with the `node` role.
    pub cert: Option<PathBuf>,
    /// The node's private key (PEM).
    pub key: Option<PathBuf>,
    /// The certificate authority (PEM) whose certificates this node trusts, as server and client.
    pub ca: Option<PathBuf>,
    /// Requests per second each peer may make (health checks are exempt).
    pub rate_limit: Option<u32>,
    /// Address for the Prometheus `/metrics` endpoint; none to not serve it.
    pub metrics: Option<String>,
    /// Address for the web page (trang web) of the node's subtree, e.g. `127.0.0.1:8400`;
    /// none to not serve it.
    pub web: Option<String>,
}

impl RawConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {}", path.display(), e.message()))
    }

    /// Fields set in `over` replace those here.
    pub fn overlay(self, over: RawConfig) -> RawConfig {
        RawConfig {
            level: over.level.or(self.level),
            unit: over.unit.or(self.unit),
            listen: over.listen.or(self.listen),
            data: over.data.or(self.data),
            parent: over.parent.or(self.parent),
            units: over.units.or(self.units),
            reference: over.reference.or(self.reference),
            poll_ms: over.poll_ms.or(self.poll_ms),
            retry_max_ms: over.retry_max_ms.or(self.retry_max_ms),
            stuck_after_secs: over.stuck_after_secs.or(self.stuck_after_secs),
            rules_file: over.rules_file.or(self.rules_file),
            insecure: over.insecure.or(self.insecure),
            cert: over.cert.or(self.cert),
            key: over.key.or(self.key),
            ca: over.ca.or(self.ca),
            rate_limit: over.rate_limit.or(self.rate_limit),
            metrics: over.metrics.or(self.metrics),
            web: over.web.or(self.web),
        }
    }

    /// Checks everything and loads the reference data.
    pub fn validate(self) -> Result<Config, String> {
        let hierarchy = load_units(self.units.as_deref().unwrap_or("builtin:2024"))?;
        let catalog = match &self.reference {
            Some(dir) => Catalog::load(dir)?,
            None => Catalog {
                positions: catalog::parse_positions(POSITIONS)?,
                terms: catalog::parse_terms(TERMS)?,
            },
        };
        let rules = match &self.rules_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("rules_file: {}: {e}", path.display()))?;
                RulesFile::parse(&text).map_err(|e| format!("rules_file: {e}"))?
            }
            None => RulesFile::parse(RULES).map_err(|e| format!("built-in rules: {e}"))?,
        };
        let code = self
            .unit
            .ok_or("unit: required (the code of the unit this node serves)")?;
        let unit = hierarchy
            .get(&code)
            .cloned()
            .ok_or_else(|| format!("unit: {code:?} is not in the units file"))?;
        if let Some(level) = &self.level {
            let level: Level = level.parse().map_err(|e| format!("level: {e}"))?;
            if level != unit.level {
                return Err(format!(
                    "level: unit {code} ({}) is a {}, not a {level}",
                    unit.name, unit.level
                ));
            }
        }
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:0")
            .parse()
            .map_err(|e| format!("listen: {e} (expected host:port, e.g. 127.0.0.1:7400)"))?;
        let data = self
            .data
            .ok_or("data: required (the folder of the node's store)")?;
        let parent = match (self.parent, unit.level) {
            (Some(_), Level::Province) => {
                return Err("parent: a province node has no parent".into())
            }
            (None, l) if l != Level::Province => {
                return Err(format!(
                    "parent: required for a {l} node (the URL of its parent's node)"
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
            (true, ..) => return Err("insecure: cannot be combined with cert, key or ca".into()),
            (false, Some(cert), Some(key), Some(ca)) => Some(Tls::load(cert, key, ca, &unit.code)?),
            (false, ..) => {
                return Err(
                    "tls: give cert, key and ca (--cert, --key, --ca), or --insecure for plaintext"
                        .into(),
                )
            }
        };
        if let (Some(p), Some(_)) = (&parent, &tls) {
            if !p.starts_with("https://") {
                return Err(format!(
                    "parent: {p:?} must be an https:// URL when TLS is on"
                ));
            }
        }
        let metrics = self
            .metrics
            .as_deref()
            .map(|m| {
                m.parse::<SocketAddr>()
                    .map_err(|e| format!("metrics: {e} (expected host:port)"))
            })
            .transpose()?;
        let web = self
            .web
            .as_deref()
            .map(|m| {
                m.parse::<SocketAddr>()
                    .map_err(|e| format!("web: {e} (expected host:port, e.g. 127.0.0.1:8400)"))
            })
            .transpose()?;
        let rate_limit = self.rate_limit.unwrap_or(200);
        if rate_limit == 0 {
            return Err("rate_limit: must be at least 1 request per second".into());
        }
        if let Some(p) = &parent {
            if !(p.starts_with("http://") || p.starts_with("https://"))
                || p.parse::<tonic::transport::Uri>().is_err()
            {
                return Err(format!(
                    "parent: {p:?} is not a URL like http://127.0.0.1:7400"
                ));
            }
        }
        let mut sync = SyncSettings::default();
        if let Some(ms) = self.poll_ms {
            if ms == 0 {
                return Err("poll_ms: must be at least 1".into());
            }
            sync.poll = Duration::from_millis(ms);
        }
        if let Some(ms) = self.retry_max_ms {
            if ms < 10 {
                return Err("retry_max_ms: must be at least 10".into());
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
            hierarchy: Arc::new(hierarchy),
            catalog: Arc::new(catalog),
            rules,
            sync,
            tls,
            rate_limit,
            metrics,
            web,
        })
    }
}

/// A node's TLS material, read and checked at start.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl Tls {
    /// Reads the three PEM files and checks that the certificate is a node certificate of `unit`.
    pub fn load(cert: &Path, key: &Path, ca: &Path, unit: &str) -> Result<Self, String> {
        let read = |field: &str, p: &Path| {
            std::fs::read_to_string(p).map_err(|e| format!("{field}: {}: {e}", p.display()))
        };
        let tls = Tls {
            cert_pem: read("cert", cert)?,
            key_pem: read("key", key)?,
            ca_pem: read("ca", ca)?,
        };
        match crate::pki::caller_from_pem(&tls.cert_pem).map_err(|e| format!("cert: {e}"))? {
            crate::auth::Caller::Certified { unit: u, roles, .. }
                if u == unit && roles.contains(&crate::auth::Role::Node) =>
            {
                Ok(tls)
            }
            other => Err(format!(
                "cert: {} is not a node certificate of unit {unit}",
                other.label()
            )),
        }
    }
}

/// The shipped position catalogue and terms.
pub fn builtin_catalog() -> Result<Catalog, String> {
    Ok(Catalog {
        positions: catalog::parse_positions(POSITIONS)?,
        terms: catalog::parse_terms(TERMS)?,
    })
}

/// Loads a units file by path, or one of the built-in ones.
pub fn load_units(spec: &str) -> Result<Hierarchy, String> {
    let parsed = match spec {
        "builtin:2024" => Hierarchy::parse(UNITS_2024),
        "builtin:2025" => Hierarchy::parse(UNITS_2025),
        path => {
            return Hierarchy::load(std::path::Path::new(path)).map_err(|e| format!("units: {e}"))
        }
    };
    parsed.map_err(|(line, e)| format!("units {spec} line {line}: {e}"))
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The unit served.
    pub unit: Unit,
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub parent: Option<String>,
    pub hierarchy: Arc<Hierarchy>,
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
    pub sync: SyncSettings,
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
            .starts_with("parent:"));
        assert!(raw("412", None)
            .validate()
            .unwrap_err()
            .starts_with("parent:"));
        assert!(raw("412", Some("127.0.0.1:1"))
            .validate()
            .unwrap_err()
            .starts_with("parent:"));
        assert!(raw("412", Some("http://127.0.0.1:7400")).validate().is_ok());
    }

    #[test]
    fn level_must_match_the_unit() {
        let mut r = raw("412", Some("http://127.0.0.1:7400"));
        r.level = Some("province".into());
        let e = r.validate().unwrap_err();
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
        let e = toml::from_str::<RawConfig>("unit = \"40\"\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(e.message().contains("listen_addr"), "{}", e.message());
    }
}
