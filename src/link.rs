//! The child's TLS link to its parent. The authority signs every node's certificate for
//! `localhost` and `127.0.0.1`, so a host-name check alone would let any node of the province
//! pose as anyone's parent. Here the child's TLS client verifies the chain and host name as
//! usual and then requires that the server's certificate is a node certificate naming exactly
//! the configured parent unit; anything else fails the handshake, before a byte of a plan is
//! sent.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::rt::TokioIo;
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    pki_types::{CertificateDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};
use tonic::transport::{Channel, Endpoint, Uri};
use tower_service::Service;

use crate::{
    auth::{Caller, Role},
    config::Tls as ClientTls,
};

/// Accepts a server certificate only if the authority signed it for the host and it is the
/// node certificate of `parent`.
#[derive(Debug)]
struct ParentVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    parent: String,
}

/// Returns why `der` is not the node certificate of `parent`, or nothing if it is.
///
/// # Errors
///
/// The reason, in words, if the certificate cannot be read, carries no node role, or is for
/// another unit than `parent`.
pub fn check_parent_certificate(der: &[u8], parent: &str) -> Result<(), String> {
    match crate::pki::caller_from_der(der)? {
        Caller::Certified { unit, roles, .. } if roles.contains(&Role::Node) && unit == parent => {
            Ok(())
        }
        Caller::Certified { unit, roles, .. } => {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(format!(
                "the server's certificate is for unit {unit} with roles [{}], not the node of the parent unit {parent}",
                roles.join(", ")
            ))
        }
        Caller::Insecure => Err("the server presented no identity".into()),
    }
}

impl ServerCertVerifier for ParentVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        check_parent_certificate(end_entity.as_ref(), &self.parent).map_err(|e| {
            tracing::error!(parent = %self.parent, reason = %e, "the parent's certificate is refused");
            rustls::Error::General(e)
        })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The rustls client configuration of a child towards `parent`: the authority of `tls` as the
/// only root, the child's own certificate, and [`ParentVerifier`], which also refuses a
/// server certificate that the authority's revocation list `crl_pem` names.
///
/// # Errors
///
/// When the PEM texts hold no usable certificate, key or revocation list.
pub fn parent_config(
    tls: &ClientTls,
    parent: &str,
    crl_pem: Option<&str>,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (roots, crls) = crate::pki::tls_authority(
        &tls.ca_pem,
        crl_pem,
        ["authority certificate", "revocation list"],
    )?;
    // As on the server side: a parent whose authority no given list is from is judged by its
    // authority alone (a CA rotation keeps the old authority's list in --crl).
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| format!("authority certificate: {e}"))?;
    let (chain, key) = crate::pki::tls_identity(
        &tls.cert_pem,
        &tls.key_pem,
        ["node certificate", "node key"],
    )?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ParentVerifier {
            webpki,
            parent: parent.to_string(),
        }))
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("node certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Connects TCP, then TLS with the parent's configuration.
#[derive(Clone)]
struct ParentConnector {
    config: Arc<ClientConfig>,
}

impl Service<Uri> for ParentConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other("the parent's address has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host).map_err(io::Error::other)?;
            let tls = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// A lazily connecting channel to the parent at `url` that only talks to the node of
/// `parent_unit` (and not if the revocation list `crl_pem` names its certificate), or a plain
/// channel when `tls` is `None` (`--insecure`).
///
/// # Errors
///
/// When `url` is not a URL or the TLS material is unusable.
pub fn parent_channel(
    url: &str,
    tls: Option<&ClientTls>,
    parent_unit: &str,
    crl_pem: Option<&str>,
) -> Result<Channel, String> {
    let timeouts = |e: Endpoint| {
        e.connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
    };
    let Some(tls) = tls else {
        let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
        return Ok(timeouts(endpoint).connect_lazy());
    };
    // The connector does TLS itself, so the channel is given the address as plain http.
    let host = url.split("://").last().unwrap_or(url);
    let endpoint = Endpoint::from_shared(format!("http://{host}")).map_err(|e| e.to_string())?;
    let connector = ParentConnector {
        config: Arc::new(parent_config(tls, parent_unit, crl_pem)?),
    };
    Ok(timeouts(endpoint).connect_with_connector_lazy(connector))
}
