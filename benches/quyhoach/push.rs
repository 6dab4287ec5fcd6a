//! Section 1, upward push throughput: plans pushed by concurrent communes to their district,
//! each acknowledged once durable, against a bare tonic echo of the same bytes, sled
//! insert-and-flush, the store alone and the disk's fdatasync floor.

use std::time::{Duration, Instant};

use prost::Message;
use quyhoach::{
    domain::{Plan, Unit},
    grpc::pb::{self, node_sync_client::NodeSyncClient},
    store::{Change, SledStore, Store},
};

use crate::{
    helpers::{
        channel, districts_with, ms, per_sec, percentile, push_request, start_node, Reference,
    },
    synth,
    table::{row, Row},
    CHILDREN, PROVINCE, PUSH_ENTRIES, SEED,
};

/// The bench-only echo service of `proto/bench/echo.proto`.
mod echo {
    tonic::include_proto!("quyhoach.bench");
}

/// Plans of 30 entries pushed by 16 concurrent communes to their district over NodeSync.Push,
/// each acknowledged only once durable; against a bare tonic echo of the same encoded bytes and
/// against sled insert-and-flush of the same bytes, at the same concurrency.
pub async fn push_throughput(r: &Reference, quick: bool) -> anyhow::Result<Vec<Row>> {
    let rounds = if quick { 1 } else { 6 };
    let districts = districts_with(&r.hierarchy, PROVINCE, CHILDREN);
    anyhow::ensure!(districts.len() >= rounds, "too few large districts");
    let terms: Vec<&str> = r.catalog.terms.keys().map(String::as_str).collect();
    let mut pushes = 0;
    let mut push_time = Duration::ZERO;
    let mut all_requests: Vec<Vec<pb::PushRequest>> = vec![Vec::new(); CHILDREN];
    let mut all_plans: Vec<Plan> = Vec::new();
    for (round, district) in districts.iter().take(rounds).enumerate() {
        let communes: Vec<&Unit> = r.hierarchy.children(&district.code)[..CHILDREN]
            .iter()
            .filter_map(|c| r.hierarchy.get(c))
            .collect();
        let wanted: Vec<(&Unit, &str)> = communes
            .iter()
            .flat_map(|c| terms.iter().map(move |t| (*c, *t)))
            .collect();
        let plans = synth::submitted_plans(&r.catalog, &wanted, PUSH_ENTRIES, SEED + round as u64);
        let mut per_child: Vec<Vec<pb::PushRequest>> = vec![Vec::new(); CHILDREN];
        for (i, plan) in plans.iter().enumerate() {
            per_child[i / terms.len()].push(push_request(&plan.id.unit, plan));
        }
        let dir = tempfile::tempdir()?;
        let node = start_node(&district.code, dir.path(), Some(UNREACHABLE_PARENT.into())).await?;
        let mut clients = Vec::new();
        for _ in 0..CHILDREN {
            clients.push(NodeSyncClient::new(channel(&node.url()).await?));
        }
        let t = Instant::now();
        let mut tasks = Vec::new();
        for (mut client, requests) in clients.into_iter().zip(per_child.clone()) {
            tasks.push(tokio::spawn(async move {
                for request in requests {
                    let receipt = client.push(request).await?.into_inner();
                    anyhow::ensure!(!receipt.duplicate, "a fresh push came back as duplicate");
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        push_time += t.elapsed();
        pushes += plans.len();
        node.stop().await?;
        for (all, mine) in all_requests.iter_mut().zip(per_child) {
            all.extend(mine);
        }
        all_plans.extend(plans);
    }
    let push_rate = per_sec(pushes, push_time);
    let bytes: usize = all_requests.iter().flatten().map(|r| r.encoded_len()).sum();
    let mean_bytes = bytes / pushes;

    // The bare echo of the same encoded bytes.
    let payloads: Vec<Vec<Vec<u8>>> = all_requests
        .iter()
        .map(|rs| rs.iter().map(|r| r.encode_to_vec()).collect())
        .collect();
    let echo_rate = echo_rate(&payloads).await?;

    // sled insert + flush of the same bytes, one flush per write, 16 threads.
    let sled_rate = sled_flush_rate(&payloads)?;

    // The store alone: SledStore commit of the same plans and wait until durable (group commit).
    let (store_rate, transactions) = store_rate(&all_plans).await?;

    // The disk's floor: one small write and fdatasync, back to back; with 16 children sharing
    // each flush, 16 pushes per sync is the most group commit can give.
    let sync_time = fsync_time()?;
    let bound = CHILDREN as f64 / sync_time.as_secs_f64();

    // What the signatures of a signed push cost (the bench's nodes run --insecure, so the
    // rows above carry none): the child signs its submission, the parent verifies it (the
    // certificate against the authority, then the signature) and signs its receipt.
    let per_push = Duration::from_secs_f64(1.0 / push_rate);
    let signing = signature_time(&all_plans)?;

    let ratio = push_rate / echo_rate;
    Ok(vec![
        row(
            &format!("1. push, {CHILDREN} children → district, {PUSH_ENTRIES}-entry plans (~{} KiB), durable ack", mean_bytes / 1024),
            format!("{push_rate:.0} /s ({pushes} pushes)"),
            "bare tonic echo, same bytes, 16 channels",
            format!("{echo_rate:.0} /s"),
            format!("{ratio:.2}"),
        )
        .target("≥ 0.50 of echo", Some(ratio >= 0.5)),
        row(
            "1. push (same run)",
            format!("{push_rate:.0} /s"),
            "sled insert+flush, same bytes, 16 threads",
            format!("{sled_rate:.0} /s"),
            format!("{:.2}", push_rate / sled_rate),
        )
        .target("-", None),
        row(
            "1. push (same run)",
            format!("{push_rate:.0} /s"),
            "SledStore commit+wait_durable, same plans, 16 tasks",
            format!(
                "{store_rate:.0} /s ({} commits in {transactions} transactions)",
                all_plans.len()
            ),
            format!("{:.2}", push_rate / store_rate),
        )
        .target("-", None),
        row(
            "1. a signed push's signatures: sign + verify + sign the receipt (ECDSA P-256), one thread",
            format!("{} per push", ms(signing)),
            "the time one push takes above (1 / rate, 16 children in parallel)",
            ms(per_push),
            format!("{:.2}", signing.as_secs_f64() / per_push.as_secs_f64()),
        )
        .target("-", None),
        row(
            "1. push (same run)",
            format!("{push_rate:.0} /s"),
            "16 pushes per fdatasync of 4 KiB (disk floor)",
            format!("{bound:.0} /s ({} per sync)", ms(sync_time)),
            format!("{:.2}", push_rate / bound),
        )
        .target("-", None),
    ])
}

/// The median time of a 4 KiB write followed by fdatasync, on the temporary folder's disk.
fn fsync_time() -> anyhow::Result<Duration> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("sync"))?;
    let block = vec![7u8; 4096];
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(percentile(&times, 0.5))
}

/// The push benchmark's district node needs a parent address, but no province runs there:
/// communes' own submissions are not forwarded before a decision, so its outbox stays empty and
/// its link only retries pulls, off the measured path.
const UNREACHABLE_PARENT: &str = "http://127.0.0.1:9";

async fn echo_rate(payloads: &[Vec<Vec<u8>>]) -> anyhow::Result<f64> {
    struct EchoService;
    #[tonic::async_trait]
    impl echo::echo_server::Echo for EchoService {
        async fn echo(
            &self,
            request: tonic::Request<echo::EchoMessage>,
        ) -> Result<tonic::Response<echo::EchoMessage>, tonic::Status> {
            Ok(tonic::Response::new(request.into_inner()))
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(echo::echo_server::EchoServer::new(EchoService))
            .serve_with_incoming_shutdown(
                // As the nodes do (src/server.rs): TCP_NODELAY on accepted connections.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let mut clients = Vec::new();
    for _ in payloads {
        clients.push(echo::echo_client::EchoClient::new(channel(&url).await?));
    }
    let n: usize = payloads.iter().map(Vec::len).sum();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (mut client, mine) in clients.into_iter().zip(payloads.to_vec()) {
        tasks.push(tokio::spawn(async move {
            for payload in mine {
                let back = client
                    .echo(echo::EchoMessage { payload })
                    .await?
                    .into_inner();
                anyhow::ensure!(!back.payload.is_empty(), "empty echo");
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = per_sec(n, t.elapsed());
    let _ = stop.send(());
    server.await??;
    Ok(rate)
}

fn sled_flush_rate(payloads: &[Vec<Vec<u8>>]) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(16 * 1024 * 1024)
        .open()?;
    let n: usize = payloads.iter().map(Vec::len).sum();
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = payloads
            .iter()
            .enumerate()
            .map(|(child, mine)| {
                let db = &db;
                s.spawn(move || -> anyhow::Result<()> {
                    for (i, payload) in mine.iter().enumerate() {
                        db.insert(format!("{child:02}/{i:06}"), payload.as_slice())?;
                        db.flush()?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("sled thread panicked"))
    })?;
    Ok(per_sec(n, t.elapsed()))
}

/// Commits per second of the store alone, and how many sled transactions carried them.
async fn store_rate(plans: &[Plan]) -> anyhow::Result<(f64, u64)> {
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path())?;
    let chunks: Vec<Vec<Plan>> = plans
        .chunks(plans.len().div_ceil(CHILDREN))
        .map(<[Plan]>::to_vec)
        .collect();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for mine in chunks {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for plan in mine {
                let ticket = store.commit(vec![Change::PutPlan(plan)])?;
                store.wait_durable(ticket).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((per_sec(plans.len(), t.elapsed()), store.transactions()))
}

/// The mean time, over `plans`, of the three signature steps of a signed push on one thread:
/// the child's node signs its submission, the parent verifies it against the authority, and
/// the parent signs its receipt (`node::bundles`, `bundle::sign`).
fn signature_time(plans: &[Plan]) -> anyhow::Result<Duration> {
    use quyhoach::{
        auth::Role,
        bundle::sign::{Kind, Signer, Statement},
        pki::{Authority, Subject},
    };
    let ca = Authority::create("bench CA", 2).map_err(anyhow::Error::msg)?;
    let signer = |unit: &str| -> anyhow::Result<Signer> {
        let issued = ca
            .issue(&Subject::new(
                unit,
                &[Role::Node],
                &format!("quyhoach node {unit}"),
                2,
            ))
            .map_err(anyhow::Error::msg)?;
        Signer::from_pem(&issued.key_pem, &issued.cert_pem, &ca.cert_pem, None)
            .map_err(anyhow::Error::msg)
    };
    let parent = signer(PROVINCE)?;
    let mut children = std::collections::HashMap::new();
    for plan in plans {
        if !children.contains_key(&plan.id.unit) {
            children.insert(plan.id.unit.clone(), signer(&plan.id.unit)?);
        }
    }
    let now = chrono::Utc::now();
    let t = Instant::now();
    for plan in plans {
        let child = &children[&plan.id.unit];
        let submitted = child
            .sign(Statement::submitted(plan, now))
            .map_err(anyhow::Error::msg)?;
        let by = parent
            .trust
            .verify(&submitted)
            .map_err(anyhow::Error::msg)?;
        std::hint::black_box(by);
        let mut receipt = submitted.statement.clone();
        receipt.kind = Kind::Receipt;
        receipt.by = PROVINCE.into();
        std::hint::black_box(parent.sign(receipt).map_err(anyhow::Error::msg)?);
    }
    Ok(t.elapsed() / plans.len().max(1) as u32)
}
