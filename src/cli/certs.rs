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
    },
    /// Everything a set of units needs: the authority (if absent), a node certificate per unit,
    /// and per unit an operator certificate with the clerk, approver and reader roles.
    Hierarchy {
        /// The folder to write to.
        #[arg(long)]
        out: PathBuf,
        /// A unit code (repeatable).
        #[arg(long, required = true)]
        unit: Vec<String>,
    },
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
        } => {
            let ca = Authority::create(&name, days).map_err(fail)?;
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
            pki::write_secret(&dir.join("ca.key"), &ca.key_pem())?;
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
        } => {
            let issued = load_ca(&ca_dir)?
                .issue(&Subject::node(&unit, &host, days))
                .map_err(fail)?;
            pki::write(&ca_dir.join("nodes"), &unit, &issued)?;
            writeln!(
                out,
                "node certificate for {unit}: {}",
                ca_dir.join("nodes").join(format!("{unit}.pem")).display()
            )?;
        }
        Command::Client {
            ca_dir,
            unit,
            role,
            name,
            stem,
            days,
        } => {
            let roles = role
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            let issued = load_ca(&ca_dir)?
                .issue(&Subject::new(&unit, &roles, &name, days))
                .map_err(fail)?;
            let stem = stem.unwrap_or_else(|| format!("{unit}-{}", roles[0]));
            pki::write(&ca_dir.join("clients"), &stem, &issued)?;
            writeln!(
                out,
                "certificate for {name} ({}) at {unit}: {}",
                role.join("+"),
                ca_dir.join("clients").join(format!("{stem}.pem")).display()
            )?;
        }
        Command::Hierarchy { out: dir, unit } => {
            let ca = if dir.join("ca.pem").exists() {
                load_ca(&dir)?
            } else {
                let ca = Authority::create("quyhoach CA", 3650).map_err(fail)?;
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
                pki::write_secret(&dir.join("ca.key"), &ca.key_pem())?;
                ca
            };
            for u in &unit {
                let node = ca.issue(&Subject::node(u, &[], 825)).map_err(fail)?;
                pki::write(&dir.join("nodes"), u, &node)?;
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
