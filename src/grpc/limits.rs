//! Limits on what a peer may send: a per-peer rate limit (token bucket) applied to the two
//! quyhoach services only, so that health checks and reflection are never limited; and the
//! largest message each service decodes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use tonic::{service::Interceptor, Request, Status};

/// Largest message the client-facing service decodes (one entry, one ballot round…).
pub const MAX_PLANNING_MESSAGE: usize = 1024 * 1024;
/// Largest message the node-to-node service decodes (a whole plan of up to 5,000 entries).
pub const MAX_SYNC_MESSAGE: usize = 16 * 1024 * 1024;

/// A token bucket per peer: `per_sec` requests a second, bursts of up to twice that.
#[derive(Clone)]
pub struct RateLimit {
    per_sec: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimit {
    pub fn new(per_sec: u32) -> Self {
        RateLimit {
            per_sec: f64::from(per_sec),
            buckets: Arc::default(),
        }
    }

    /// Returns true if and only if `peer` may make one more request now.
    fn admit(&self, peer: String) -> bool {
        let now = Instant::now();
        let burst = self.per_sec * 2.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(peer).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Who a request comes from, for the limit: the certificate's first bytes' hash, else the
/// peer's IP address.
fn peer_key<T>(req: &Request<T>) -> String {
    if let Some(certs) = req.peer_certs() {
        if let Some(leaf) = certs.first() {
            return blake3::hash(leaf.as_ref()).to_hex()[..16].to_string();
        }
    }
    req.remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Interceptor for RateLimit {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if self.admit(peer_key(&req)) {
            Ok(req)
        } else {
            Err(Status::resource_exhausted(format!(
                "rate limit: more than {} requests a second from this peer; slow down and retry",
                self.per_sec
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_limited() {
        let limit = RateLimit::new(5);
        let admitted = (0..30).filter(|_| limit.admit("a".into())).count();
        assert_eq!(admitted, 10, "a burst of twice the rate");
        assert!(limit.admit("b".into()), "each peer has its own bucket");
    }
}
