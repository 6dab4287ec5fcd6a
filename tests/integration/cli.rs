//! The `quyhoach` binary as a person at a terminal meets it: errors said once and naming the
//! setting, flag or variable at fault, defaults shown in `--help`, server and client
//! environment variables kept apart, a closed pipe ending quietly.

use std::{process::Stdio, time::Duration};

use quyhoach::config::{self, SyncSettings};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    harness::*,
    procs::{quyhoach, run, Ran},
};

/// Asserts that the command failed with exactly one error line containing every piece.
fn one_error_line(result: &Ran, pieces: &[&str]) -> String {
    let Ran {
        ok, stderr: err, ..
    } = result;
    assert!(!ok, "the command should fail; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one error line, not: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for piece in pieces {
        assert!(lines[0].contains(piece), "{piece:?} missing from: {err}");
    }
    lines[0].to_string()
}

#[tokio::test]
async fn insecure_serve_with_a_tls_file_from_the_environment_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let result = run(quyhoach()
        .args(["serve", "--unit", "40", "--insecure", "--data"])
        .arg(dir.path())
        .env("QUYHOACH_SERVE_CA", "/etc/quyhoach/ca.pem"))
    .await;
    one_error_line(
        &result,
        &[
            "insecure: cannot be combined with ca",
            "environment variable QUYHOACH_SERVE_CA",
            "--insecure",
        ],
    );
}

#[tokio::test]
async fn a_client_shell_s_tls_variables_do_not_reach_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = quyhoach()
        .args([
            "serve",
            "--unit",
            "40",
            "--insecure",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.path().join("40"))
        .env("QUYHOACH_CA", "/nonexistent/ca.pem")
        .env("QUYHOACH_CERT", "/nonexistent/me.pem")
        .env("QUYHOACH_KEY", "/nonexistent/me.key")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the node starts")
        .unwrap()
        .expect("the node says where it listens");
    assert!(line.contains("listening on 127.0.0.1:"), "{line}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn settings_from_the_environment_start_a_node_and_flags_win_over_them() {
    let dir = tempfile::tempdir().unwrap();
    // The unit code is a number in the environment; it is still the code "40". The flag's
    // unit wins over the variable's.
    let mut child = quyhoach()
        .arg("serve")
        .args(["--unit", "40"])
        .env("QUYHOACH_SERVE_UNIT", "412")
        .env("QUYHOACH_SERVE_INSECURE", "true")
        .env("QUYHOACH_SERVE_LISTEN", "127.0.0.1:0")
        .env("QUYHOACH_SERVE_DATA", dir.path().join("40"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the node starts")
        .unwrap()
        .expect("the node says where it listens");
    assert!(line.starts_with("quyhoach node 40 "), "{line}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_type_error_in_the_toml_file_names_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "unit = \"40\"\ninsecure = true\n\npoll_ms = \"fast\"\n",
    )
    .unwrap();
    let result = run(quyhoach().arg("serve").arg("--config").arg(&file)).await;
    one_error_line(&result, &["node.toml line 4", "poll_ms", "u64"]);
}

#[tokio::test]
async fn a_type_error_in_the_environment_names_the_variable() {
    let result = run(quyhoach()
        .args(["serve", "--unit", "40", "--insecure", "--data", "x"])
        .env("QUYHOACH_SERVE_POLL_MS", "fast"))
    .await;
    one_error_line(&result, &["POLL_MS", "QUYHOACH_SERVE_", "fast"]);
}

#[tokio::test]
async fn serve_help_shows_every_default() {
    let Ran {
        ok, stdout: help, ..
    } = run(quyhoach().args(["serve", "--help"])).await;
    assert!(ok);
    let sync = SyncSettings::default();
    for default in [
        format!("[default: {}", config::DEFAULT_LISTEN),
        format!("[default: {}]", config::DEFAULT_UNITS),
        format!("[default: {}]", sync.poll.as_millis()),
        format!("[default: {}]", sync.backoff_max.as_millis()),
        format!("[default: {}]", sync.stuck_after.as_secs()),
        format!("[default: {}]", config::DEFAULT_RATE_LIMIT),
        "[env: QUYHOACH_SERVE_CONFIG=]".to_string(),
        "QUYHOACH_SERVE_<KEY>".to_string(),
    ] {
        assert!(help.contains(&default), "{default:?} missing from:\n{help}");
    }
    let Ran {
        ok, stdout: help, ..
    } = run(quyhoach().args(["units", "--help"])).await;
    assert!(ok);
    assert!(
        help.contains("[env: QUYHOACH_NODE=]") && help.contains("[default: 127.0.0.1:7400]"),
        "{help}"
    );
}

#[tokio::test]
async fn a_missing_file_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let result = run(quyhoach().arg("serve").arg("--config").arg(&missing)).await;
    let line = one_error_line(&result, &["missing.toml", "No such file"]);
    assert_eq!(line.matches("No such file").count(), 1, "{line}");

    let result = run(quyhoach()
        .args([
            "serve", "--unit", "40", "--data", "x", "--ca", "x", "--key", "x",
        ])
        .arg("--cert")
        .arg(dir.path().join("node.pem")))
    .await;
    let line = one_error_line(&result, &["cert: cannot read", "node.pem", "--cert"]);
    assert_eq!(line.matches("No such file").count(), 1, "{line}");

    let result = run(quyhoach()
        .args([
            "import",
            "--unit",
            "16681",
            "--term",
            "2025-2030",
            "--dry-run",
        ])
        .arg(dir.path().join("list.csv")))
    .await;
    let line = one_error_line(&result, &["list.csv", "No such file"]);
    assert_eq!(line.matches("No such file").count(), 1, "{line}");
}

#[tokio::test]
async fn a_bad_node_address_names_the_flag_and_the_value() {
    let result = run(quyhoach().args(["units", "--node", "http://bad host"])).await;
    one_error_line(&result, &["--node", "\"http://bad host\""]);
}

#[tokio::test]
async fn an_unreachable_node_is_reported_once() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = run(quyhoach().args(["units", "--node", &format!("127.0.0.1:{port}")])).await;
    let line = one_error_line(&result, &["cannot reach node", &port.to_string()]);
    assert_eq!(line.matches("tcp connect error").count(), 1, "{line}");
}

#[tokio::test]
async fn export_checks_the_extension_before_it_connects() {
    let result = run(quyhoach().args([
        "export",
        "--node",
        "127.0.0.1:1",
        "--what",
        "consolidated",
        "--out",
        "y.pdf",
    ]))
    .await;
    let line = one_error_line(&result, &["y.pdf", ".xlsx, .csv or .json"]);
    assert!(!line.contains("reach"), "{line}");
}

#[tokio::test]
async fn deciding_the_province_s_own_plan_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let addr = province.addr.to_string();
    let result = run(quyhoach().args([
        "decide",
        "--node",
        &addr,
        "--unit",
        "40",
        "--term",
        TERM,
        "--version",
        "1",
    ]))
    .await;
    let line = one_error_line(&result, &["PermissionDenied", "40 has no level above it"]);
    assert!(!line.contains("no unit"), "{line}");
    province.stop().await.unwrap();
}

#[tokio::test]
async fn a_closed_pipe_ends_the_program_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    // The reading end is closed before the program writes, as `quyhoach units | head -0` does.
    let child = quyhoach()
        .args(["units", "--node", &province.addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
    province.stop().await.unwrap();

    // The same for an import's dry run, which needs no node.
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/412.csv");
    let mut child = quyhoach()
        .args([
            "import",
            "--unit",
            "412",
            "--term",
            "2025-2030",
            "--dry-run",
        ])
        .arg(&list)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");

    // And for the demo, which prints its story through the same output as it goes.
    let data = tempfile::tempdir().unwrap();
    let mut child = quyhoach()
        .args(["demo", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn units_prints_level_names_from_the_domain() {
    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(quyhoach().args(["units", "--node", &province.addr.to_string()])).await;
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("40     province"), "{first}");
    assert!(
        out.lines().any(|l| l.starts_with("412    district  40")),
        "{out}"
    );
    province.stop().await.unwrap();
}

#[tokio::test]
async fn load_and_import_read_the_same_list_format() {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(quyhoach()
        .args(["import", "--unit", "40", "--term", TERM, "--dry-run"])
        .arg(demo.join("40.csv")))
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("9 good rows, 0 problems"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let province = start(dir.path(), "40", None, "builtin:2024").await;
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(quyhoach()
        .args(["load", "--node", &province.addr.to_string()])
        .args(["--unit", "40", "--term", TERM, "--entries"])
        .arg(demo.join("40.csv"))
        .arg("--rounds")
        .arg(demo.join("rounds.csv")))
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "loaded 9 entries into the draft of 40/2025-2030"
    );
    let plan = client(&province)
        .await
        .get_plan(quyhoach::grpc::pb::GetPlanRequest {
            unit: "40".into(),
            term: TERM.into(),
            version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((plan.entries.len(), plan.rounds.len()), (9, 1));
    assert!(plan.rounds[0].tallies.iter().all(|t| t.yes > 0));
    province.stop().await.unwrap();
}
