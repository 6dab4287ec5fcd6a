//! Limits on what a peer may send: a per-peer rate limit (token bucket) applied to the two
//! quyhoach services only, so that health checks and reflection are never limited; and the
//! largest message each service decodes.

use std::{
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use tonic::Status;

/// Largest message the client-facing service decodes: an import of a whole list.
pub const MAX_PLANNING_MESSAGE: usize = 4 * 1024 * 1024;
/// Largest message the node-to-node service decodes (a whole plan of up to 5,000 entries).
pub const MAX_SYNC_MESSAGE: usize = crate::bundle::format::MAX_BUNDLE;
/// Largest request of any other method: one entry, one round, one decision, a query.
pub const MAX_SMALL_MESSAGE: usize = 256 * 1024;

/// The largest request body (gRPC frame included) that `method` (the HTTP path,
/// `/quyhoach.v1.NodeSync/Push`) accepts: only a push and an import are large.
pub fn max_request(method: &str) -> usize {
    match method {
        "/quyhoach.v1.NodeSync/Push" => MAX_SYNC_MESSAGE,
        "/quyhoach.v1.Planning/ImportEntries" => MAX_PLANNING_MESSAGE,
        "/quyhoach.v1.Planning/ImportBundle" => MAX_SYNC_MESSAGE + BUNDLE_FRAME_SLACK,
        _ => MAX_SMALL_MESSAGE,
    }
}

/// What a bundle's request or answer adds around the bundle file itself (the gRPC frame,
/// the field tags, a file name), in bytes.
pub const BUNDLE_FRAME_SLACK: usize = 4096;

/// The largest answer the client-facing service sends (a bundle's, in bytes), and so the
/// largest the project's own client reads: a province's full check can answer more than
/// gRPC's default 4 MiB, which a client left at the default refuses with OUT_OF_RANGE.
pub const MAX_ANSWER: usize = MAX_SYNC_MESSAGE + BUNDLE_FRAME_SLACK;

/// The fields of one protobuf message, one at a time: (field number, payload of a
/// length-delimited field). Yields an error for wire data no protobuf decoder would accept.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, Status> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some((&b, rest)) = self.0.split_first() else {
                return Err(malformed());
            };
            self.0 = rest;
            if shift == 63 && b > 1 {
                return Err(malformed());
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Status> {
        if self.0.len() < n {
            return Err(malformed());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u64, Option<&'a [u8]>), Status> {
        let key = self.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return Err(malformed());
        }
        match wire {
            0 => self.varint().map(|_| (number, None)),
            1 => self.take(8).map(|_| (number, None)),
            5 => self.take(4).map(|_| (number, None)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed())?;
                self.take(len).map(|p| (number, Some(p)))
            }
            _ => Err(malformed()),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Option<&'a [u8]>), Status>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

fn malformed() -> Status {
    Status::invalid_argument("the request is not a valid protobuf message")
}

/// The payloads of field `number` in `message`, refusing more than `max` of them; counts
/// without keeping more than `max` payloads.
fn repeated<'a>(
    message: &'a [u8],
    number: u64,
    max: usize,
    name: &str,
) -> Result<Vec<&'a [u8]>, Status> {
    let mut found = Vec::new();
    for field in Fields(message) {
        let (n, payload) = field?;
        if n != number {
            continue;
        }
        if found.len() == max {
            return Err(Status::invalid_argument(format!(
                "{name}: more than {max} items"
            )));
        }
        found.push(payload.unwrap_or_default());
    }
    Ok(found)
}

/// Checks, before decoding, that the repeated fields of a push or an import hold no more items
/// than a plan may: decoding millions of empty items would cost far more memory than the bytes
/// that carry them.
///
/// # Errors
///
/// INVALID_ARGUMENT naming the field when a count is over its bound or the bytes are not a
/// protobuf message.
pub fn check_shape(method: &str, body: &[u8]) -> Result<(), Status> {
    use crate::domain::validate::{MAX_ENTRIES, MAX_LIST, MAX_ROUNDS};
    // One uncompressed gRPC frame: flag, big-endian length, message.
    let message = match body {
        [0, a, b, c, d, rest @ ..]
            if rest.len() == u32::from_be_bytes([*a, *b, *c, *d]) as usize =>
        {
            rest
        }
        _ => return Ok(()), // tonic refuses anything else itself.
    };
    let entries_in =
        |container: &[u8], number: u64, max: usize, name: &str| -> Result<(), Status> {
            for entry in repeated(container, number, max, name)? {
                for cadre in repeated(entry, 1, 1, &format!("{name}.cadre"))? {
                    for (field, list) in [
                        (6, "current_positions"),
                        (8, "qualifications"),
                        (9, "discipline"),
                        (13, "ratings"),
                    ] {
                        repeated(cadre, field, MAX_LIST, &format!("{name}.cadre.{list}"))?;
                    }
                }
            }
            Ok(())
        };
    let round_in = |container: &[u8], number: u64, max: usize, name: &str| -> Result<(), Status> {
        for round in repeated(container, number, max, name)? {
            repeated(round, 7, MAX_ENTRIES, &format!("{name}.tallies"))?;
        }
        Ok(())
    };
    match method {
        "/quyhoach.v1.NodeSync/Push" => {
            for plan in repeated(message, 2, 1, "plan")? {
                entries_in(plan, 4, MAX_ENTRIES, "plan.entries")?;
                round_in(plan, 5, MAX_ROUNDS, "plan.rounds")?;
            }
            repeated(
                message,
                4,
                crate::bundle::format::MAX_FORWARDED,
                "forwarded",
            )?;
        }
        "/quyhoach.v1.Planning/ImportEntries" => {
            entries_in(message, 3, MAX_ENTRIES, "entries")?;
            round_in(message, 4, 1, "round")?;
        }
        "/quyhoach.v1.Planning/PutEntry" => entries_in(message, 3, 1, "entry")?,
        "/quyhoach.v1.Planning/RecordBallotRound" => round_in(message, 3, 1, "round")?,
        "/quyhoach.v1.Planning/ApproveClean" => {
            repeated(message, 1, crate::node::MAX_APPROVE_AT_ONCE, "plans")?;
        }
        _ => {
            for field in Fields(message) {
                field?;
            }
        }
    }
    Ok(())
}

/// The per-peer limiter of the `governor` crate (GCRA, equivalent to a token bucket).
type Keyed = governor::RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
>;

/// How many admissions pass between two prunings of the per-peer state.
const PRUNE_EVERY: u64 = 4_096;

/// A limit per peer: `per_sec` requests a second, bursts of up to twice that. Peers whose
/// state has returned to full are forgotten every [`PRUNE_EVERY`] requests, so that the map
/// holds only peers seen recently.
#[derive(Clone)]
pub struct RateLimit {
    per_sec: u32,
    limiter: Arc<Keyed>,
    calls: Arc<AtomicU64>,
}

impl RateLimit {
    /// A limit of `per_sec` requests a second per peer (at least 1).
    pub fn new(per_sec: u32) -> Self {
        let rate = NonZeroU32::new(per_sec.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(per_sec.max(1).saturating_mul(2)).expect("at least 2");
        RateLimit {
            per_sec,
            limiter: Arc::new(governor::RateLimiter::keyed(
                governor::Quota::per_second(rate).allow_burst(burst),
            )),
            calls: Arc::default(),
        }
    }

    /// Returns true if and only if `peer` may make one more request now.
    pub fn admit(&self, peer: String) -> bool {
        if self.calls.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        self.limiter.check_key(&peer).is_ok()
    }

    /// Forgets every peer whose allowance is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many peers the limiter remembers.
    pub fn peers(&self) -> usize {
        self.limiter.len()
    }

    /// The refusal for a peer over its rate.
    pub fn refusal(&self) -> Status {
        Status::resource_exhausted(format!(
            "rate limit: more than {} requests a second from this peer; slow down and retry",
            self.per_sec
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn millions_of_empty_entries_are_refused_before_decoding() {
        // PushRequest { plan: Plan { entries: [Entry {}; 5001] } }
        let plan: Vec<u8> = [0x22, 0x00].repeat(5_001);
        let mut push = vec![0x12];
        let mut len = plan.len();
        while len >= 0x80 {
            push.push((len as u8) | 0x80);
            len >>= 7;
        }
        push.push(len as u8);
        push.extend_from_slice(&plan);
        let refused = check_shape("/quyhoach.v1.NodeSync/Push", &frame(&push)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("plan.entries"));
        let ok: Vec<u8> = [0x22, 0x00].repeat(5_000);
        let mut push = vec![0x12, 0x90, 0x4e];
        push.extend_from_slice(&ok);
        check_shape("/quyhoach.v1.NodeSync/Push", &frame(&push)).unwrap();
    }

    #[test]
    fn an_approval_of_more_plans_than_a_province_has_is_refused_before_decoding() {
        // ApproveCleanRequest { plans: [ShownPlan {}; n] }
        let request = |n: usize| frame(&[0x0a, 0x00].repeat(n));
        let max = crate::node::MAX_APPROVE_AT_ONCE;
        let refused =
            check_shape("/quyhoach.v1.Planning/ApproveClean", &request(max + 1)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(
            refused.message().starts_with("plans:"),
            "{}",
            refused.message()
        );
        check_shape("/quyhoach.v1.Planning/ApproveClean", &request(max)).unwrap();
    }

    #[test]
    fn broken_wire_data_is_invalid_argument() {
        let refused =
            check_shape("/quyhoach.v1.Planning/ListTerms", &frame(&[0x0a, 0x05, 1])).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            max_request("/quyhoach.v1.Planning/PutEntry"),
            MAX_SMALL_MESSAGE
        );
    }

    #[test]
    fn a_burst_is_admitted_then_limited() {
        let limit = RateLimit::new(5);
        let admitted = (0..30).filter(|_| limit.admit("a".into())).count();
        assert_eq!(admitted, 10, "a burst of twice the rate");
        assert!(limit.admit("b".into()), "each peer has its own bucket");
    }

    #[test]
    fn forgotten_peers_are_pruned() {
        let limit = RateLimit::new(1_000);
        for i in 0..10_000 {
            limit.admit(format!("10.0.{}.{}", i / 256, i % 256));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        limit.prune();
        assert!(limit.peers() < 100, "{} peers kept", limit.peers());
    }
}
