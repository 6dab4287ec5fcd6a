//! The `quyhoach` command line: one file per command family, each owning its arguments, its
//! dispatch and its printing. `main.rs` only calls [`main`].
//!
//! # Layout
//!
//! - [`nodes`]: `serve` (run a node; its settings are the library's
//!   [`quyhoach::config::RawConfig`], layered TOML < environment < flags) and `demo`.
//! - [`plans`]: a unit's plan from draft to decision: `draft`, `load`, `adopt`, `submit`,
//!   `plans`, `plan`, `decide`, `consolidated`.
//! - [`checks`]: `check`, `accept` and `completeness`.
//! - [`sheets`]: `import`, `export` and `template` of spreadsheets.
//! - [`certs`]: `certs ca|node|client|hierarchy`.
//! - [`audit`]: `audit list|verify`.
//! - [`bundles`]: `bundle export|import|verify`, bundle files on removable media.
//! - [`status`]: `status` and `units`, what a node knows of itself.
//! - [`web`]: `web-login`, a short-lived sign-in URL for a node's web page.
//! - [`reorganise`]: `reorganize`, a province's move to the next structure of units.
//! - [`progress`]: the spinner a command shows on a terminal while a node does long work.
//! - [`merge`]: `merge`, province nodes' stores brought into the new province's store.
//! - [`args`]: the arguments every client command shares (`--node`, `--ca`, `--cert`,
//!   `--key`; `--unit`, `--term`) and the connection they make.
//!
//! # Where a new thing goes
//!
//! - A new command: a variant in its family's `Command` enum (or a new family file with its
//!   own `Command` enum and `run`, flattened into [`Command`] below), with its arguments beside
//!   it and its printing in the same file.
//! - A new `serve` setting: one field of `RawConfig` in `src/config.rs` (with its `///` doc,
//!   which is its `--help` line, and its `[default: …]`), checked in `RawConfig::validate`.
//!   The flag, the `QUYHOACH_SERVE_*` variable and the TOML key follow from the field: a
//!   `web: Option<String>` field is `--web ADDR`, `QUYHOACH_SERVE_WEB` and `web = "…"`.
//! - A command of a new kind (say `web-login` or `template`): a new file here with its own
//!   `Command` enum (`#[derive(Subcommand)]`) and `pub async fn run(command, out)`, declared
//!   with `mod` below and flattened into [`Command`] with one line in [`run`].
//! - A flag of an existing command (say `certs --force`): a field of that variant, used in the
//!   same file.
//!
//! # Conventions
//!
//! Output goes through the stdout passed as `out` with `writeln!`; a closed pipe (`quyhoach units | head`)
//! ends the program quietly with success, as ripgrep does, but only when a write to that stdout
//! found it closed: any other broken pipe (a node closing a refused handshake) is a failure. Errors print once, as one line.
//! Client commands read `QUYHOACH_NODE`, `QUYHOACH_CA`, `QUYHOACH_CERT` and `QUYHOACH_KEY`;
//! `serve` reads only `QUYHOACH_SERVE_*`, so that a shell set up as a client does not change a
//! node started from it.

use std::{io::Write, process::ExitCode};

use clap::{Parser, Subcommand};

mod args;
mod audit;
mod bundles;
mod certs;
mod checks;
mod merge;
mod nodes;
mod plans;
mod progress;
mod reorganise;
mod sheets;
mod status;
mod web;

/// The standard output every command prints to, remembering whether a write found it closed.
/// Not held locked: the demo's nodes may log or print from other threads while a command runs.
///
/// Only a write through this value marks the output closed: a broken pipe anywhere else (a
/// connection the node closed during a TLS handshake, say) is a failure of the command, and
/// must not pass for a reader who stopped reading (`quyhoach units | head`).
pub(crate) struct Out {
    /// The process's standard output.
    inner: std::io::Stdout,
    /// True once a write or flush to `inner` failed because its reader had gone.
    closed: bool,
}

impl Out {
    fn stdout() -> Out {
        Out {
            inner: std::io::stdout(),
            closed: false,
        }
    }

    /// Notes a broken pipe of `result` as the output having been closed by its reader.
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed = true;
            }
        }
        result
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

#[derive(Parser)]
#[command(
    name = "quyhoach",
    version,
    about = "Cadre planning lists kept in step across levels of government"
)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Nodes(nodes::Command),
    #[command(flatten)]
    Plans(plans::Command),
    #[command(flatten)]
    Checks(checks::Command),
    #[command(flatten)]
    Sheets(sheets::Command),
    /// Create a certificate authority and certificates for nodes and people.
    #[command(subcommand)]
    Certs(certs::Command),
    /// The audit trail: list it, or verify its hash chain.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Bundles on removable media: export, import, verify (docs/offline-transfer.md).
    #[command(subcommand)]
    Bundle(bundles::Command),
    #[command(flatten)]
    Status(status::Command),
    #[command(flatten)]
    Web(web::Command),
    #[command(flatten)]
    Reorganise(reorganise::Command),
    #[command(flatten)]
    Merge(merge::Command),
}

/// Parses the arguments, runs the command and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its nodes' logs would drown it.
    let default_filter = if matches!(cli.command, Command::Nodes(nodes::Command::Demo { .. })) {
        "warn"
    } else {
        // A refused TLS handshake (an expired, not yet valid or foreign certificate, with its
        // dates and the peer's address) is a quyhoach warning (`grpc::incoming`).
        "warn,quyhoach=info"
    };
    init_tracing(cli.log_json, default_filter);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        let mut out = Out::stdout();
        let result = run(cli.command, &mut out).await;
        let result = result.and_then(|()| Ok(out.flush()?));
        (result, out.closed)
    });
    exit_code(result)
}

/// The exit code of a command's outcome, printing its error: success, or a failure said on
/// stderr, except that a command whose output was closed by its reader ends quietly.
fn exit_code((result, stdout_closed): (anyhow::Result<()>, bool)) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if stdout_closed && is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Nodes(c) => nodes::run(c, out).await,
        Command::Plans(c) => plans::run(c, out).await,
        Command::Checks(c) => checks::run(c, out).await,
        Command::Sheets(c) => sheets::run(c, out).await,
        Command::Certs(c) => certs::run(c, out),
        Command::Audit(c) => audit::run(c, out).await,
        Command::Bundle(c) => bundles::run(c, out).await,
        Command::Status(c) => status::run(c, out).await,
        Command::Web(c) => web::run(c, out).await,
        Command::Reorganise(c) => reorganise::run(c, out).await,
        Command::Merge(c) => merge::run(c, out).await,
    }
}

/// Returns true if and only if the error's chain holds a broken pipe (with [`Out::closed`]:
/// the error comes from writing to a closed standard output).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error as one line: the chain of causes, each said once (a cause whose text the line
/// already holds is not repeated), a gRPC status as its code and message.
fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        // A node's answer as its code and message, without tonic's metadata dump.
        let text = match cause.downcast_ref::<tonic::Status>() {
            Some(status) => format!("{:?}: {}", status.code(), status.message()),
            None => cause.to_string(),
        };
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_tracing(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(quyhoach::logging::RedactedStderr);
    quyhoach::logging::install_panic_hook();
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node refusing the handshake closes the connection: tonic's status carries a broken
    /// pipe in its chain, and the command failed, whatever it printed before.
    #[test]
    fn a_broken_pipe_of_the_connection_is_a_failure() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        let status = tonic::Status::from_error(Box::new(pipe));
        let e = anyhow::Error::new(status).context("import 412");
        assert!(is_broken_pipe(&e), "the chain holds the broken pipe");
        assert_eq!(exit_code((Err(e), false)), ExitCode::FAILURE);

        let closed = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        assert_eq!(
            exit_code((Err(anyhow::Error::new(closed)), true)),
            ExitCode::SUCCESS
        );
        let other = anyhow::anyhow!("PermissionDenied: certificate revoked");
        assert_eq!(exit_code((Err(other), true)), ExitCode::FAILURE);
    }
}
