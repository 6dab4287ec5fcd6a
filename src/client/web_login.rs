//! The short-lived web login from the client's side: asks a node, with the caller's client
//! certificate, for a login token to its web page (`IssueWebLogin`), and builds the URL that
//! opens a session. `quyhoach web-login` (in the CLI) and the demo use it.

use crate::{client, config::Tls, grpc::pb};

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

/// Asks the node at `node` for a login token with the certificate of `tls`.
///
/// # Errors
///
/// [`LoginError::Connect`] if the node cannot be reached; [`LoginError::Refused`] if it
/// refuses (no certificate, no role, an insecure node).
pub async fn issue(node: &str, tls: &Tls) -> Result<pb::WebLoginResponse, LoginError> {
    let mut c = client::connect(node, Some(tls)).await?;
    Ok(c.issue_web_login(pb::WebLoginRequest {})
        .await
        .map_err(LoginError::Refused)?
        .into_inner())
}

/// Why no login token was issued.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The node cannot be reached.
    #[error(transparent)]
    Connect(#[from] client::ConnectError),
    /// The node refuses.
    #[error("the node refuses a web login")]
    Refused(#[source] tonic::Status),
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
