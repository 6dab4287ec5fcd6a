//! `quyhoach web-login`: asks a node, with the caller's client certificate, for a short-lived
//! login token to its web page and prints the URL that opens a session.

use std::path::PathBuf;

use crate::{client, grpc::pb};

/// Arguments of `quyhoach web-login`.
#[derive(Debug, clap::Args)]
pub struct WebLoginArgs {
    /// Address of the node (gRPC), e.g. 127.0.0.1:7400.
    #[arg(long, env = "QUYHOACH_NODE", default_value = "127.0.0.1:7400")]
    pub node: String,
    /// The node's web page, e.g. https://127.0.0.1:8400 (as served with `serve --web`).
    #[arg(long, env = "QUYHOACH_WEB")]
    pub web: String,
    /// The certificate authority to trust (PEM).
    #[arg(long, env = "QUYHOACH_CA")]
    pub ca: PathBuf,
    /// Your certificate (PEM), naming your unit and roles.
    #[arg(long, env = "QUYHOACH_CERT")]
    pub cert: PathBuf,
    /// Your private key (PEM).
    #[arg(long, env = "QUYHOACH_KEY")]
    pub key: PathBuf,
}

/// The URL that exchanges `token` for a session on the web page at `web`.
pub fn login_url(web: &str, token: &str) -> String {
    let web = web.trim_end_matches('/');
    let web = if web.starts_with("http://") || web.starts_with("https://") {
        web.to_string()
    } else {
        format!("https://{web}")
    };
    format!("{web}/dang-nhap?token={token}")
}

/// Asks the node for a login token with the certificate of `tls`.
///
/// # Errors
///
/// The node cannot be reached, or refuses (no certificate, no role, an insecure node).
pub async fn issue(node: &str, tls: &client::ClientTls) -> anyhow::Result<pb::WebLoginResponse> {
    let mut c = client::connect(node, Some(tls)).await?;
    Ok(c.issue_web_login(pb::WebLoginRequest {})
        .await?
        .into_inner())
}

/// Runs `quyhoach web-login`: prints the login URL.
///
/// # Errors
///
/// The certificate files cannot be read; the node refuses or cannot be reached.
pub async fn run(args: WebLoginArgs) -> anyhow::Result<()> {
    let tls = client::ClientTls::load(&args.ca, &args.cert, &args.key)?;
    let reply = issue(&args.node, &tls).await?;
    println!("{}", login_url(&args.web, &reply.token));
    eprintln!(
        "Open it in your browser before {} (it works once); the session lasts 8 hours.",
        reply.expires_at
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_url_joins_the_page_and_the_token() {
        assert_eq!(
            login_url("https://127.0.0.1:8400/", "a.b"),
            "https://127.0.0.1:8400/dang-nhap?token=a.b"
        );
        assert_eq!(
            login_url("127.0.0.1:8400", "a.b"),
            "https://127.0.0.1:8400/dang-nhap?token=a.b"
        );
    }
}
