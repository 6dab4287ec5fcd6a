//! Hostile peers against a node run as its own process, its memory read from `/proc`: a
//! stranger's 16 MiB push, a child's push of millions of empty entries, and hundreds of
//! streams that are never read.

use std::{path::Path, time::Duration};

use bytes::{Buf, BufMut};
use quyhoach::{
    grpc::pb::{self, planning_client::PlanningClient},
    pki::{self, Authority, Subject},
};
use tokio::process::Child;
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
    Code, Status,
};

use crate::{
    harness::*,
    procs::{listening, quyhoach, run, serve_command, Proc},
};

/// Resident and peak resident memory of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap()
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const MIB: u64 = 1024 * 1024;

/// Sends bytes as they are and hands back whatever comes.
#[derive(Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let out = buf.chunk().to_vec();
        buf.advance(out.len());
        Ok(Some(out))
    }
}

async fn raw_call(channel: Channel, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(|r| r.into_inner())
}

/// A `PushRequest` whose plan holds `n` empty entries (`22 00` each): about 2n bytes that
/// would decode into n entry structures.
fn empty_entries_push(n: usize) -> Vec<u8> {
    let mut plan = Vec::with_capacity(2 * n);
    for _ in 0..n {
        plan.extend_from_slice(&[0x22, 0x00]);
    }
    let mut out = vec![0x12];
    let mut len = plan.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(&plan);
    out
}

/// A node serving TLS, run from the built binary.
struct TlsNode {
    child: Child,
    addr: String,
}

impl TlsNode {
    async fn start(dir: &Path, ca: &Authority, unit: &str) -> TlsNode {
        Self::start_with(dir, ca, unit, &[]).await
    }

    /// [`TlsNode::start`], with more `serve` arguments.
    async fn start_with(dir: &Path, ca: &Authority, unit: &str, more: &[&Path]) -> TlsNode {
        let issued = ca.issue(&Subject::node(unit, &[], 1)).unwrap();
        pki::write(&dir.join("nodes"), unit, &issued).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
        let mut child = serve_command(unit, &dir.join(unit), "127.0.0.1:0", "builtin:2024")
            .arg("--cert")
            .arg(dir.join("nodes").join(format!("{unit}.pem")))
            .arg("--key")
            .arg(dir.join("nodes").join(format!("{unit}.key")))
            .arg("--ca")
            .arg(dir.join("ca.pem"))
            .args(more)
            .env_remove("RUST_LOG")
            .spawn()
            .unwrap();
        let addr = listening(&mut child)
            .await
            .expect("the node says where it listens");
        TlsNode { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    async fn channel(&self, ca: &Authority, identity: Option<(String, String)>) -> Channel {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca.cert_pem))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Endpoint::from_shared(format!("https://{}", self.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_16_mib_push_and_a_childs_million_empty_entries_cost_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let node = TlsNode::start(dir.path(), &ca, "40").await;
    let stranger = node.channel(&ca, None).await;
    // Warm up the connection machinery so that the baseline includes it.
    let _ = raw_call(stranger.clone(), "/quyhoach.v1.NodeSync/Push", vec![]).await;
    let (_, peak_before) = memory(node.pid());

    let body = empty_entries_push(8 * 1024 * 1024);
    assert!(body.len() > 16_000_000);
    let refused = raw_call(stranger.clone(), "/quyhoach.v1.NodeSync/Push", body.clone())
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "{}",
        refused.message()
    );
    let import = raw_call(
        stranger,
        "/quyhoach.v1.Planning/ImportEntries",
        empty_entries_push(512 * 1024),
    )
    .await
    .unwrap_err();
    assert_eq!(import.code(), Code::Unauthenticated, "{}", import.message());
    let (_, peak) = memory(node.pid());
    let grown = peak.saturating_sub(peak_before);
    println!("stranger: peak RSS grew by {} KiB", grown / 1024);
    assert!(grown < 64 * MIB, "peak RSS grew by {} MiB", grown / MIB);

    // A real child certificate: the body is read (it is within a push's 16 MiB) but the
    // entries are counted before anything is decoded.
    let child = ca.issue(&Subject::node("412", &[], 1)).unwrap();
    let child = node
        .channel(&ca, Some((child.cert_pem, child.key_pem)))
        .await;
    let oversized = raw_call(child.clone(), "/quyhoach.v1.NodeSync/Push", body)
        .await
        .unwrap_err();
    assert_eq!(
        oversized.code(),
        Code::ResourceExhausted,
        "{}",
        oversized.message()
    );
    let within = empty_entries_push(8 * 1024 * 1024 - 64);
    let refused = raw_call(child, "/quyhoach.v1.NodeSync/Push", within)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::InvalidArgument,
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("plan.entries"),
        "{}",
        refused.message()
    );
    let (_, peak_after) = memory(node.pid());
    let grown = peak_after.saturating_sub(peak_before);
    println!("child: peak RSS grew by {} KiB", grown / 1024);
    assert!(grown < 64 * MIB, "peak RSS grew by {} MiB", grown / MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_unread_streams_hold_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let node = Proc::node(dir.path(), "40", None, &[]).await;
    let mut c = node.client().await;
    c.import_entries(pb::ImportEntriesRequest {
        unit: "40".into(),
        term: TERM.into(),
        entries: (1..=1_000)
            .map(|n| province_entry(n, "Nguyễn Văn Hùng Dũng"))
            .collect(),
        round: None,
        replace: false,
    })
    .await
    .unwrap();
    c.adopt_plan(pb::AdoptPlanRequest {
        unit: "40".into(),
        term: TERM.into(),
        adopted_on: "2025-03-20".into(),
        revision: None,
    })
    .await
    .unwrap();
    // One full read, so that the baseline includes everything a list costs once.
    let mut whole = c
        .consolidated_stream(pb::ConsolidatedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while whole.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 1_000);
    let (rss_before, _) = memory(node.pid());

    // Clients that read nothing: each stream's window is the protocol's smallest default, so
    // that what stays unread waits in the node, not in this test's buffers.
    let mut held = Vec::new();
    for _ in 0..8 {
        let channel = Endpoint::from_shared(node.url())
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .unwrap();
        let mut c = PlanningClient::new(channel);
        for _ in 0..50 {
            held.push(
                c.consolidated_stream(pb::ConsolidatedRequest::default())
                    .await
                    .unwrap()
                    .into_inner(),
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, _) = memory(node.pid());
    let grown = rss.saturating_sub(rss_before);
    println!("400 unread streams: RSS grew by {} KiB", grown / 1024);
    assert!(grown < 64 * MIB, "RSS grew by {} MiB", grown / MIB);
    // The node still answers a new caller at once.
    let mut fresh = node.client().await;
    let first = tokio::time::timeout(
        Duration::from_secs(30),
        fresh.consolidated_stream(pb::ConsolidatedRequest::default()),
    )
    .await
    .expect("a new caller is answered while 400 streams wait unread")
    .unwrap()
    .into_inner()
    .message()
    .await
    .unwrap();
    assert_eq!(first.unwrap().unit, "40");
    // A held stream still delivers when read. Its 49 neighbours on the same connection are
    // dropped first: unread, they hold the connection's whole 64 KiB window, and a stream
    // that got no data before the window filled could never be sent any (HTTP/2 flow
    // control, RFC 9113 §5.2; the test chose that window, not the node).
    let mut kept = held.swap_remove(0);
    drop(held);
    let message = tokio::time::timeout(Duration::from_secs(30), kept.message())
        .await
        .expect("a held stream delivers once read")
        .unwrap();
    assert_eq!(message.unwrap().unit, "40");
}

#[tokio::test]
async fn a_handlers_panic_is_logged_masked_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let node = Proc::start(
        dir.path(),
        "412",
        "127.0.0.1:0",
        Some(format!("http://{}", crate::procs::free_addr())),
        "builtin:2024",
        &[("QUYHOACH_PANIC_AT", quyhoach::fault::ON_PUSH)],
    )
    .await;
    let mut s = pb::node_sync_client::NodeSyncClient::connect(node.url())
        .await
        .unwrap();
    let plan = crate::trust::plan_of("16681", 1);
    let id = plan.entries[0].cadre.national_id.clone();
    let mut plan = plan;
    plan.status = quyhoach::domain::PlanStatus::Submitted;
    plan.hash = Some(plan.content_hash());
    let failed = s
        .push(pb::PushRequest {
            from_unit: "16681".into(),
            plan: Some(quyhoach::grpc::convert::plan_to_pb(&plan)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Internal, "{}", failed.message());
    // The node is still up.
    node.client()
        .await
        .list_terms(pb::ListTermsRequest {})
        .await
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("412.log")).unwrap();
    assert!(log.contains("panicked at"), "{log}");
    assert!(
        log.contains("panic point on-push reached with ************"),
        "{log}"
    );
    assert!(
        !log.contains(id.as_str()),
        "the full national ID reached the log: {log}"
    );
}

/// A longer run (about 15 s), outside the default test command:
/// `cargo test --test integration -- --ignored stalled_handshakes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a longer run; see docs/operations.md, Running the tests"]
async fn eleven_hundred_stalled_handshakes_do_not_lock_out_a_caller() {
    // Room for 1,100 sockets in this process (the node inherits the same limit).
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(4096);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let node = TlsNode::start(dir.path(), &ca, "40").await;
    let mut stalled = Vec::new();
    for _ in 0..1_100 {
        if let Ok(s) = tokio::net::TcpStream::connect(&node.addr).await {
            stalled.push(s);
        }
    }
    assert!(
        stalled.len() >= 1_000,
        "{} connections opened",
        stalled.len()
    );
    let reader = ca
        .issue(&Subject::new(
            "40",
            &[quyhoach::auth::Role::Reader],
            "Lê Thị Đọc",
            1,
        ))
        .unwrap();
    let started = std::time::Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&ca.cert_pem))
                .identity(Identity::from_pem(&reader.cert_pem, &reader.key_pem))
                .domain_name("localhost");
            let endpoint = Endpoint::from_shared(format!("https://{}", node.addr))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect_timeout(Duration::from_secs(20));
            if let Ok(channel) = endpoint.connect().await {
                if PlanningClient::new(channel)
                    .list_terms(pb::ListTermsRequest {})
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        }
    })
    .await;
    println!("a legitimate caller got in after {:?}", started.elapsed());
    assert!(
        answered.is_ok(),
        "locked out for a minute by stalled handshakes"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_logs_a_refused_expired_certificate_with_its_dates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let node = TlsNode::start(dir.path(), &ca, "40").await;
    let mut subject = Subject::new("40", &[quyhoach::auth::Role::Reader], "Lê Cũ", 1);
    subject.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    subject.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let expired = ca.issue(&subject).unwrap();
    refused_call(&node.addr, &ca.cert_pem, &expired).await;
    // The refusal names the peer (its address), the reason and the certificate's dates.
    let log = dir.path().join("40.log");
    wait_refusal(&log, &["expired on", "not valid after"]).await;

    // One from another authority, and one not valid yet: each named for what it is.
    let foreign = Authority::create("another CA", 1)
        .unwrap()
        .issue(&Subject::new(
            "40",
            &[quyhoach::auth::Role::Reader],
            "Người Lạ",
            1,
        ))
        .unwrap();
    let mut early = Subject::new("40", &[quyhoach::auth::Role::Reader], "Lê Sớm", 1);
    early.not_before = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    early.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let early = ca.issue(&early).unwrap();
    for identity in [foreign, early] {
        refused_call(&node.addr, &ca.cert_pem, &identity).await;
    }
    wait_refusal(&log, &["issued by another authority"]).await;
    wait_refusal(&log, &["not valid before", "not valid yet"]).await;
}

/// Calls the node at `addr` over TLS with `identity`, trusting `ca_pem`; the call must get
/// nothing (the handshake or the call is refused).
async fn refused_call(addr: &str, ca_pem: &str, identity: &quyhoach::pki::Issued) {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap();
    if let Ok(channel) = endpoint.connect().await {
        let _ = PlanningClient::new(channel)
            .list_terms(pb::ListTermsRequest {})
            .await
            .expect_err("a refused certificate gets nothing");
    }
}

/// Waits until the log at `path` has a `tls handshake refused` line naming a peer on loopback
/// and containing every one of `words` (case-insensitively); fails after 10 s with the log.
async fn wait_refusal(path: &Path, words: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = plain(&std::fs::read_to_string(path).unwrap_or_default());
        let found = text.lines().any(|l| {
            let lower = l.to_lowercase();
            l.contains("tls handshake refused")
                && l.contains("peer=127.0.0.1:")
                && words.iter().all(|w| lower.contains(w))
        });
        if found {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_certificate_is_refused_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::create("test CA", 1).unwrap();
    let authority = dir.path().join("pki");
    pki::write_authority(&authority, &ca, false).unwrap();
    let person = |name: &str| {
        ca.issue(&Subject::new(
            "40",
            &[quyhoach::auth::Role::Reader],
            name,
            30,
        ))
        .unwrap()
    };
    let (kept, lost) = (person("Lê Giữ Lại"), person("Trần Bị Mất"));
    let lost_pem = dir.path().join("lost.pem");
    std::fs::write(&lost_pem, &lost.cert_pem).unwrap();
    let mut revoke = quyhoach();
    revoke.args(["certs", "revoke", "--ca-dir"]).arg(&authority);
    let out = run(revoke.arg("--cert").arg(&lost_pem)).await;
    assert!(out.ok, "{out:?}");
    let crl = authority.join("crl.pem");
    let node = TlsNode::start_with(dir.path(), &ca, "40", &[Path::new("--crl"), &crl]).await;

    let channel = node
        .channel(&ca, Some((kept.cert_pem.clone(), kept.key_pem.clone())))
        .await;
    PlanningClient::new(channel)
        .list_terms(pb::ListTermsRequest {})
        .await
        .expect("a certificate not on the list is served");

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.cert_pem))
        .identity(Identity::from_pem(&lost.cert_pem, &lost.key_pem))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{}", node.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap();
    if let Ok(channel) = endpoint.connect().await {
        PlanningClient::new(channel)
            .list_terms(pb::ListTermsRequest {})
            .await
            .expect_err("a revoked certificate gets nothing");
    }
    wait_refusal(&dir.path().join("40.log"), &["revoked"]).await;
}

/// `text` without ANSI colour sequences (`ESC [ … m`), as a terminal would show it.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
