//! The web port's connection limits on the plain-HTTP page of an `--insecure` node (the demo's
//! kind), with the real binary: one address holding idle connections gets its share of the
//! cap and no more, while a caller from another address is served; and out of file
//! descriptors (the node's RLIMIT_NOFILE lowered with prlimit(2) while it runs), the accept
//! loop backs off instead of spinning, and a legitimate caller is served again once the
//! connections that used them close.

use std::{net::SocketAddr, time::Duration};

use quyhoach::web::MAX_WEB_CONNECTIONS_PER_ADDRESS;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::procs::{free_addr, Proc};

/// A TCP connection to `to` from the loopback address `from` (any of 127.0.0.0/8).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// GET `path` from `to` over a fresh connection from `from`: the status, or `None` when the
/// connection is closed without an answer (refused at accept) or takes over 5 s.
async fn get_from(from: [u8; 4], to: SocketAddr, path: &str) -> Option<u16> {
    let ask = async {
        let mut tcp = connect_from(from, to).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.ok()?;
        let head = String::from_utf8_lossy(&answer);
        head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
}

/// A node of the province as a process, serving its plain-HTTP web page on a known address.
async fn node_with_web(dir: &std::path::Path) -> (Proc, SocketAddr) {
    let web = free_addr();
    let node = Proc::node(dir, "40", None, &[("QUYHOACH_SERVE_WEB", &web)]).await;
    let web: SocketAddr = web.parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while get_from([127, 0, 0, 1], web, "/static/style.css").await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the web page never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (node, web)
}

/// utime + stime of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// How many lines of the node's log say that a web accept failed.
fn accept_failures(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("web accept failed"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_its_share_of_web_connections_and_another_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, web) = node_with_web(dir.path()).await;
    // 127.0.0.1 holds its whole share, idle, and more: those over the share are closed.
    let mut idle = Vec::new();
    for _ in 0..MAX_WEB_CONNECTIONS_PER_ADDRESS + 8 {
        idle.push(connect_from([127, 0, 0, 1], web).await.unwrap());
    }
    // Its next connection is closed unanswered; once the share is surely taken (the server
    // accepts in order), a caller from 127.0.0.2 is served at once, from its own share.
    let mut refused = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !refused {
        refused = get_from([127, 0, 0, 1], web, "/static/style.css")
            .await
            .is_none();
        assert!(
            tokio::time::Instant::now() < deadline,
            "127.0.0.1 was served over its share"
        );
    }
    assert_eq!(
        get_from([127, 0, 0, 2], web, "/static/style.css").await,
        Some(200),
        "another address is locked out by one address's idle connections"
    );
    drop(idle);
    // Its connections closed, 127.0.0.1 is served again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while get_from([127, 0, 0, 1], web, "/static/style.css").await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "127.0.0.1 locked out after closing its connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_web_accept_loop_backs_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, web) = node_with_web(dir.path()).await;
    let pid = node.pid();
    let log = dir.path().join("40.log");
    // Leave the node 12 descriptors more than it has open now.
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    let limit = libc::rlimit {
        rlim_cur: open + 12,
        rlim_max: open + 12,
    };
    // SAFETY: prlimit(2) on the child's pid, reading the struct we pass, writing nothing.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    // Connections from several addresses (each under its share) until the node cannot
    // accept: they wait in the listen backlog, and accept(2) fails with EMFILE.
    let mut held = Vec::new();
    for i in 0..60u8 {
        held.push(connect_from([127, 0, 1, i / 8 + 1], web).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while accept_failures(&log) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never ran out of descriptors"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Too many open files"),
        "the accept failures are not EMFILE"
    );
    // Not spinning: over two seconds out of descriptors, the node uses a small part of one
    // CPU (a spinning loop uses all of it: 200 ticks at 100 Hz) and logs a few failures.
    let (ticks, failures) = (cpu_ticks(pid), accept_failures(&log));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (ticks, failures) = (cpu_ticks(pid) - ticks, accept_failures(&log) - failures);
    println!("out of descriptors for 2 s: {ticks} CPU ticks, {failures} accept failures logged");
    assert!(
        ticks < 60,
        "{ticks} CPU ticks in 2 s: the accept loop spins"
    );
    assert!(failures < 40, "{failures} accept failures logged in 2 s");
    // The connections closed, a legitimate caller is served again, and so is gRPC.
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get_from([127, 0, 0, 1], web, "/static/style.css").await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the web page never answered again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = node.client().await;
    c.list_units(quyhoach::grpc::pb::ListUnitsRequest::default())
        .await
        .expect("gRPC answers again");
    node.kill().await;
}
