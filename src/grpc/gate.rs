//! The gate in front of the two quyhoach services: a tower service that reads the peer's
//! certificate (or its absence) and refuses before a byte of the request body is read, then
//! reads the body only up to the limit of the method called, checks the shape of the message
//! (how many items its repeated fields hold) without decoding it, and puts the caller into the
//! request's extensions, where [`super::caller`] finds it. Handlers never see a request from an
//! unknown peer, and no unauthenticated request can make the node allocate more than the
//! headers it sent. (The pattern of qdrant's `src/tonic/auth.rs`.)
//!
//! It also maps the codes tonic gives for a body it could not decode (INTERNAL) or that was too
//! large (OUT_OF_RANGE) to the ones gRPC's table prescribes: INVALID_ARGUMENT and
//! RESOURCE_EXHAUSTED.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tonic::{
    body::Body,
    server::NamedService,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
    Code, Status,
};
use tower_service::Service;

use super::limits;
use crate::auth::{Caller, Role};

/// Who may pass the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Any certificate of the authority with at least one known role (the client API).
    Person,
    /// Only node certificates (the node-to-node API).
    Node,
}

/// Wraps one service with the gate.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    admit: Admit,
    /// Started with `--insecure`: nobody is authenticated; sizes and shapes are still checked.
    insecure: bool,
    /// Requests a second per peer.
    limit: limits::RateLimit,
}

impl<S> Gate<S> {
    /// Puts `inner` behind the gate.
    pub fn new(inner: S, admit: Admit, insecure: bool, limit: limits::RateLimit) -> Self {
        Gate {
            inner,
            admit,
            insecure,
            limit,
        }
    }
}

impl<S: NamedService> NamedService for Gate<S> {
    const NAME: &'static str = S::NAME;
}

/// The caller behind an HTTP request, from its TLS connection, or why there is none.
fn identify(admit: Admit, insecure: bool, req: &http::Request<Body>) -> Result<Caller, Status> {
    if insecure {
        return Ok(Caller::Insecure);
    }
    let info = req
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .ok_or_else(|| {
            Status::unauthenticated(
                "no TLS: connect with TLS and a certificate from this province's authority",
            )
        })?;
    let certs = info.peer_certs().ok_or_else(|| {
        Status::unauthenticated(
            "no client certificate: connect with TLS and a certificate from this province's authority",
        )
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("the client presented no certificate"))?;
    let caller = crate::pki::caller_from_der(leaf.as_ref())
        .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))?;
    caller.require_authenticated()?;
    if admit == Admit::Node {
        caller.require(Role::Node)?;
    }
    Ok(caller)
}

/// Who a request comes from, for the rate limit: a hash of its certificate, else its IP.
fn peer_key(req: &http::Request<Body>) -> String {
    let certs = req
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|i| i.peer_certs());
    if let Some(leaf) = certs.as_ref().and_then(|c| c.first()) {
        return blake3::hash(leaf.as_ref()).to_hex()[..16].to_string();
    }
    peer(req).map_or_else(|| "unknown".into(), |a| a.ip().to_string())
}

fn peer(req: &http::Request<Body>) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|i| i.get_ref().remote_addr())
        .or_else(|| ext.get::<TcpConnectInfo>().and_then(|i| i.remote_addr()))
}

impl<S> Service<http::Request<Body>> for Gate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The clone that was made ready is the one to call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (admit, insecure) = (self.admit, self.insecure);
        let admitted = self.limit.admit(peer_key(&req));
        let refusal = self.limit.refusal();
        Box::pin(async move {
            if !admitted {
                return Ok(refusal.into_http());
            }
            let method = req.uri().path().to_string();
            let caller = match identify(admit, insecure, &req) {
                Ok(c) => c,
                Err(status) => {
                    tracing::warn!(
                        peer = ?peer(&req),
                        method,
                        code = ?status.code(),
                        reason = status.message(),
                        "request refused before its body was read"
                    );
                    return Ok(status.into_http());
                }
            };
            let limit = limits::max_request(&method);
            let (mut parts, body) = req.into_parts();
            let bytes = match Limited::new(body, limit + 5).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => {
                    return Ok(Status::resource_exhausted(format!(
                        "the request is larger than the {limit} bytes {method} accepts"
                    ))
                    .into_http());
                }
                Err(e) => {
                    return Ok(Status::cancelled(format!("reading the request: {e}")).into_http())
                }
            };
            if let Err(status) = limits::check_shape(&method, &bytes) {
                return Ok(status.into_http());
            }
            parts.extensions.insert(caller);
            let req = http::Request::from_parts(parts, Body::new(Full::<Bytes>::new(bytes)));
            // A handler that panics answers INTERNAL instead of dropping the stream unexplained.
            match tokio::spawn(inner.call(req)).await {
                Ok(response) => Ok(standard_codes(response?)),
                Err(e) => {
                    tracing::error!(method, error = %e, "handler failed");
                    Ok(
                        Status::internal("the request failed inside the node; its log says why")
                            .into_http(),
                    )
                }
            }
        })
    }
}

/// The start of the message of prost's `DecodeError`, which tonic answers as INTERNAL for a
/// request body it cannot decode.
const PROST_DECODE_ERROR: &str = "failed to decode Protobuf message";

/// Rewrites tonic's codes for an undecodable (INTERNAL) or oversized (OUT_OF_RANGE) request
/// to gRPC's INVALID_ARGUMENT and RESOURCE_EXHAUSTED. Only tonic's own decode error is the
/// caller's fault: a handler's INTERNAL that mentions decoding (a damaged stored record) stays.
fn standard_codes(mut response: http::Response<Body>) -> http::Response<Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let code = match status.code() {
        Code::Internal if status.message().starts_with(PROST_DECODE_ERROR) => Code::InvalidArgument,
        Code::OutOfRange if status.message().contains("too large") => Code::ResourceExhausted,
        _ => return response,
    };
    let value = http::HeaderValue::from(code as i32);
    response.headers_mut().insert("grpc-status", value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: Status) -> Code {
        let response = standard_codes(status.into_http());
        Status::from_header_map(response.headers())
            .expect("a status")
            .code()
    }

    #[test]
    fn only_tonics_own_decode_error_becomes_invalid_argument() {
        let undecodable =
            <crate::grpc::pb::GetPlanRequest as prost::Message>::decode(&[0xff, 0xff][..])
                .unwrap_err();
        assert!(undecodable.to_string().starts_with(PROST_DECODE_ERROR));
        assert_eq!(
            answered(Status::internal(undecodable.to_string())),
            Code::InvalidArgument
        );
        // The store's damage, answered by a handler, is not the caller's bad argument.
        let damaged = "stored record bodies 40/2025-2030/v1 cannot be decoded: bad CRC";
        assert_eq!(answered(Status::internal(damaged)), Code::Internal);
        assert_eq!(answered(Status::data_loss(damaged)), Code::DataLoss);
        assert_eq!(
            answered(Status::out_of_range("message too large")),
            Code::ResourceExhausted
        );
    }
}
