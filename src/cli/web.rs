//! The web page: `web-login` prints a short-lived URL that signs the holder of a client
//! certificate in to a node's web page.

use std::{io::Write, path::PathBuf};

use clap::Subcommand;
use quyhoach::{client::web_login as login, config::Tls};

use super::Out;

/// Commands about the web page.
#[derive(Subcommand)]
pub enum Command {
    /// Print a short-lived URL that signs you in to a node's web page with your certificate.
    WebLogin {
        /// Address of the node (gRPC), e.g. 127.0.0.1:7400.
        #[arg(long, env = "QUYHOACH_NODE", default_value = "127.0.0.1:7400")]
        node: String,
        /// The node's web page, e.g. https://127.0.0.1:8400 (as served with `serve --web`).
        #[arg(long, env = "QUYHOACH_WEB")]
        web: String,
        /// The certificate authority to trust (PEM).
        #[arg(long, env = "QUYHOACH_CA")]
        ca: PathBuf,
        /// Your certificate (PEM), naming your unit and roles.
        #[arg(long, env = "QUYHOACH_CERT")]
        cert: PathBuf,
        /// Your private key (PEM).
        #[arg(long, env = "QUYHOACH_KEY")]
        key: PathBuf,
    },
}

/// Runs one command of the family.
///
/// # Errors
///
/// A certificate file cannot be read; the node cannot be reached or refuses (no certificate,
/// no role, an insecure node).
pub async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::WebLogin {
            node,
            web,
            ca,
            cert,
            key,
        } => {
            let tls = Tls::read(&cert, &key, &ca)?;
            let reply = login::issue(&node, &tls).await?;
            writeln!(out, "{}", login::login_url(&web, &reply.token))?;
            eprintln!(
                "Open it in your browser before {} and press Sign in on the page it shows (it works once); the session lasts 8 hours.",
                reply.expires_at
            );
            Ok(())
        }
    }
}
