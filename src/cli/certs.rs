//! `certs`: a certificate authority and certificates for nodes and people, written as PEM
//! files (keys readable by their owner only).

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::Subcommand;
use quyhoach::{
    auth::Role,
    pki::{self, Authority, Subject},
};

use super::Out;

/// Commands that make certificates.
#[derive(Subcommand)]
pub enum Command {
    /// A new certificate authority (one per province): DIR/ca.pem and DIR/ca.key.
    Ca {
        /// The folder to write to.
        #[arg(long)]
        out: PathBuf,
        /// The authority's name.
        #[arg(long, default_value = "quyhoach CA")]
        name: String,
        /// Days of validity.
        #[arg(long, default_value_t = 3650)]
        days: i64,
        /// Replace an authority key that is already there (every certificate it signed stops
        /// working).
        #[arg(long)]
        force: bool,
    },
    /// A node certificate for a unit: DIR/nodes/UNIT.pem and .key.
    Node {
        /// The folder holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The unit the node serves.
        #[arg(long)]
        unit: String,
        /// Host names or IP addresses the node is reached at (repeatable); localhost and
        /// 127.0.0.1 are always included.
        #[arg(long)]
        host: Vec<String>,
        /// Days of validity.
        #[arg(long, default_value_t = 825)]
        days: i64,
        /// Units file the unit must be in; `builtin:2024` or `builtin:2025` for the shipped ones.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
        /// Renew a node that has a key: the old key and certificate are kept beside the new
        /// ones as UNIT.key.N and UNIT.pem.N (the node verifies its older audit records with
        /// them; copy them with the new files). Without it an existing key is never replaced.
        #[arg(long)]
        renew: bool,
    },
    /// A personal certificate: DIR/clients/NAME.pem and .key.
    Client {
        /// The folder holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The holder's unit.
        #[arg(long)]
        unit: String,
        /// clerk, approver, reader or admin (repeatable).
        #[arg(long, required = true)]
        role: Vec<String>,
        /// The holder's full name.
        #[arg(long)]
        name: String,
        /// File name stem; the unit and first role by default.
        #[arg(long)]
        stem: Option<String>,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Units file the unit must be in.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
    },
    /// Revoke certificates: DIR/crl.pem, signed by the authority, lists them with every one
    /// revoked before; give it to every node (`serve --crl`), which then refuses them at the
    /// handshake.
    Revoke {
        /// The folder holding ca.pem and ca.key (and crl.pem, if certificates were revoked).
        #[arg(long)]
        ca_dir: PathBuf,
        /// A certificate to revoke (PEM; repeatable).
        #[arg(long, required = true)]
        cert: Vec<PathBuf>,
        /// Days until the list is due to be reissued.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Everything a set of units needs: the authority (if absent), a node certificate per unit
    /// (if it has no key yet: an existing node key is kept), and per unit an operator
    /// certificate with the clerk, approver and reader roles.
    Hierarchy {
        /// The folder to write to.
        #[arg(long)]
        out: PathBuf,
        /// A unit code (repeatable).
        #[arg(long, required = true)]
        unit: Vec<String>,
        /// Units file every unit must be in.
        #[arg(long, default_value = "builtin:2024")]
        units: String,
    },
}

/// Refuses what `pki::check_subject` refuses and prints its warnings on standard error.
fn checked(subject: &Subject, units: &str) -> anyhow::Result<()> {
    let hierarchy = quyhoach::config::load_units(units)?;
    for warning in pki::check_subject(subject, &hierarchy).map_err(anyhow::Error::msg)? {
        eprintln!("{warning}");
    }
    Ok(())
}

fn load_ca(dir: &Path) -> anyhow::Result<Authority> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .with_context(|| format!("reading {}", dir.join(f).display()))
    };
    Authority::load(&read("ca.pem")?, &read("ca.key")?).map_err(anyhow::Error::msg)
}

/// Runs one command of the family.
///
/// # Errors
///
/// When the arguments cannot be used, a file cannot be read or written, the node cannot be
/// reached, or the node refuses the request (its status is passed on).
pub fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    let fail = anyhow::Error::msg;
    match command {
        Command::Ca {
            out: dir,
            name,
            days,
            force,
        } => {
            let ca = Authority::create(&name, days).map_err(fail)?;
            pki::write_authority(&dir, &ca, force)?;
            writeln!(
                out,
                "certificate authority {name:?}: {} (keep ca.key offline)",
                dir.join("ca.pem").display()
            )?;
        }
        Command::Node {
            ca_dir,
            unit,
            host,
            days,
            units,
            renew,
        } => {
            let subject = Subject::node(&unit, &host, days);
            checked(&subject, &units)?;
            let issued = load_ca(&ca_dir)?.issue(&subject).map_err(fail)?;
            let kept = pki::write_node(&ca_dir.join("nodes"), &unit, &issued, renew)?;
            writeln!(
                out,
                "node certificate for {unit}: {}",
                ca_dir.join("nodes").join(format!("{unit}.pem")).display()
            )?;
            if let Some(kept) = kept {
                writeln!(
                    out,
                    "the earlier key is kept as {}: copy it beside the new key, the node \
                     verifies the audit records it sealed with it",
                    kept.display()
                )?;
            }
        }
        Command::Client {
            ca_dir,
            unit,
            role,
            name,
            stem,
            days,
            units,
        } => {
            let roles = role
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            if roles.contains(&Role::Node) {
                anyhow::bail!(
                    "a personal certificate never carries the node role; use `certs node`"
                );
            }
            // Typed names may come decomposed; the certificate holds them composed (NFC).
            let name = quyhoach::domain::text::nfc(&name);
            pki::check_common_name(&name).map_err(fail)?;
            let subject = Subject::new(&unit, &roles, &name, days);
            checked(&subject, &units)?;
            let issued = load_ca(&ca_dir)?.issue(&subject).map_err(fail)?;
            let stem = stem.unwrap_or_else(|| format!("{unit}-{}", roles[0]));
            pki::write(&ca_dir.join("clients"), &stem, &issued)?;
            writeln!(
                out,
                "certificate for {name} ({}) at {unit}: {}",
                role.join("+"),
                ca_dir.join("clients").join(format!("{stem}.pem")).display()
            )?;
        }
        Command::Revoke { ca_dir, cert, days } => {
            let ca = load_ca(&ca_dir)?;
            let existing = ca_dir.join("crl.pem");
            let mut revoked = match std::fs::read_to_string(&existing) {
                Ok(pem) => pki::revoked_in(&pem)
                    .map_err(fail)
                    .with_context(|| format!("reading {}", existing.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e).with_context(|| format!("reading {}", existing.display())),
            };
            let now = time::OffsetDateTime::now_utc();
            for path in &cert {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let serial = pki::serial_of(&pem)
                    .map_err(fail)
                    .with_context(|| format!("reading {}", path.display()))?;
                if !revoked.iter().any(|(s, _)| *s == serial) {
                    revoked.push((serial, now));
                }
            }
            let list = ca.revocation_list(&revoked, days).map_err(fail)?;
            let written = pki::write_revocation_list(&ca_dir, &list)?;
            writeln!(
                out,
                "{} lists {} revoked certificates; give it to every node (serve --crl)",
                written.display(),
                revoked.len()
            )?;
        }
        Command::Hierarchy {
            out: dir,
            unit,
            units,
        } => {
            for u in &unit {
                checked(&Subject::node(u, &[], 825), &units)?;
            }
            let ca = if dir.join("ca.pem").exists() {
                load_ca(&dir)?
            } else {
                let ca = Authority::create("quyhoach CA", 3650).map_err(fail)?;
                pki::write_authority(&dir, &ca, false)?;
                ca
            };
            for u in &unit {
                // An existing node key is its audit key's source: never replaced here.
                if dir.join("nodes").join(format!("{u}.key")).exists() {
                    writeln!(
                        out,
                        "{u}: node key kept (renew it with `certs node --ca-dir {} --unit {u} --renew`)",
                        dir.display()
                    )?;
                } else {
                    let node = ca.issue(&Subject::node(u, &[], 825)).map_err(fail)?;
                    pki::write_node(&dir.join("nodes"), u, &node, false)?;
                }
                let roles = [Role::Clerk, Role::Approver, Role::Reader];
                let op = ca
                    .issue(&Subject::new(u, &roles, &format!("Cán bộ đơn vị {u}"), 365))
                    .map_err(fail)?;
                pki::write(&dir.join("clients"), u, &op)?;
            }
            writeln!(
                out,
                "{}: ca.pem, nodes/UNIT.pem|key, clients/UNIT.pem|key for {}",
                dir.display(),
                unit.join(", ")
            )?;
        }
    }
    Ok(())
}
