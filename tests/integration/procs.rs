//! The built `quyhoach` binary as tests run it: real `quyhoach serve` processes for fault
//! tests, started from the binary, stopped with real signals (SIGKILL, SIGTERM), restarted on
//! the same store and address; and the one way a test runs a client command to its end
//! ([`quyhoach`], [`run`], [`cli`]).

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use quyhoach::grpc::pb::{self, planning_client::PlanningClient};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic::transport::Channel;

/// The binary with no `QUYHOACH_*` variable inherited from the test's environment and
/// standard input closed: every test that runs the command line starts from it, adding its
/// arguments and the variables it is about.
pub fn quyhoach() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_quyhoach")))
}

/// `cmd` without the test's `QUYHOACH_*` variables, with standard input closed.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("QUYHOACH_") {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Ran {
    /// Whether it exited with status 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Ran {
    /// Standard output, then standard error: all a person at the terminal reads.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Whether it succeeded, and all it said ([`Ran::text`]).
    pub fn said(self) -> (bool, String) {
        let text = self.text();
        (self.ok, text)
    }
}

/// Runs `cmd` (from [`quyhoach`]) to its end, 60 s at most, without blocking the nodes that run
/// in the test's own runtime.
pub async fn run(cmd: &mut Command) -> Ran {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command ends")
        .unwrap();
    Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary with `args` to its end (see [`run`]).
pub async fn cli<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Ran {
    run(quyhoach().args(args)).await
}

/// Runs the binary with `args` as a person at a terminal does: under util-linux's `script`,
/// which gives it a pseudo-terminal for standard output and standard error. All it drew there
/// (progress included, with its terminal codes) lands in [`Ran::stdout`]; `ok` is its own
/// exit status.
pub async fn on_terminal<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> Ran {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_quyhoach"));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a.as_ref()));
    }
    let mut cmd = clean(Command::new("script"));
    cmd.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    run(&mut cmd).await
}

/// A node running as its own process.
pub struct Proc {
    child: Child,
    /// host:port it listens on.
    pub addr: String,
    unit: String,
    data: PathBuf,
    parent: Option<String>,
    units: String,
    env: Vec<(String, String)>,
}

impl Proc {
    /// Starts `quyhoach serve` for `unit` with its store in `dir/unit`, listening on `listen`
    /// (port 0 picks one), and waits until it says where it listens.
    pub async fn start(
        dir: &Path,
        unit: &str,
        listen: &str,
        parent: Option<String>,
        units: &str,
        env: &[(&str, &str)],
    ) -> Proc {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::launch(
            dir.join(unit),
            unit.into(),
            listen,
            parent,
            units.into(),
            env,
        )
        .await
    }

    /// [`Proc::start`] for the usual case: a node of `unit` from the 2024 units file on a free
    /// port, a child of `parent` (the province when `None`).
    pub async fn node(dir: &Path, unit: &str, parent: Option<&Proc>, env: &[(&str, &str)]) -> Proc {
        let parent = parent.map(Proc::url);
        Self::start(dir, unit, "127.0.0.1:0", parent, "builtin:2024", env).await
    }

    async fn launch(
        data: PathBuf,
        unit: String,
        listen: &str,
        parent: Option<String>,
        units: String,
        env: Vec<(String, String)>,
    ) -> Proc {
        std::fs::create_dir_all(&data).unwrap();
        let mut cmd = serve_command(&unit, &data, listen, &units);
        cmd.args(["--poll-ms", "30", "--retry-max-ms", "300", "--insecure"])
            .args(["--rate-limit", "100000"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn,quyhoach=info");
        if let Some(p) = &parent {
            cmd.args(["--parent", p]);
        }
        let mut child = cmd.spawn().expect("the quyhoach binary starts");
        let addr = listening(&mut child).await.unwrap_or_else(|| {
            panic!(
                "node {unit} exited at start; see {}",
                data.with_extension("log").display()
            )
        });
        Proc {
            child,
            addr,
            unit,
            data,
            parent,
            units,
            env,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id, for reading `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM (graceful shutdown), and wait for a clean exit.
    pub async fn terminate(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(
            exit.success(),
            "{} did not stop cleanly on SIGTERM: {exit:?}",
            self.unit
        );
    }

    /// Waits for the process to end by itself (a crash point), returning its exit status.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the process ends")
            .unwrap()
    }

    /// Starts the same node again on the same store and address, with `env` this time.
    pub async fn restart(&mut self, same_addr: bool, env: &[(&str, &str)]) {
        let listen = if same_addr {
            self.addr.clone()
        } else {
            "127.0.0.1:0".into()
        };
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let _ = std::mem::replace(&mut self.env, env);
        let fresh = Self::launch(
            self.data.clone(),
            self.unit.clone(),
            &listen,
            self.parent.clone(),
            self.units.clone(),
            self.env.clone(),
        )
        .await;
        *self = fresh;
    }

    pub async fn client(&self) -> PlanningClient<Channel> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match PlanningClient::connect(self.url()).await {
                // Reads answers as large as the node sends, as the project's own client does
                // (a full check of thousands of long-named entries passes 4 MiB).
                Ok(c) => return c.max_decoding_message_size(quyhoach::grpc::limits::MAX_ANSWER),
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!(
                        "cannot reach {} at {}: {e:?}\n{}",
                        self.unit,
                        self.addr,
                        self.post_mortem()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// What a failed test needs to know about this node: whether its process still runs, and
    /// the last lines of its log (the store's directory is gone once the test ends).
    pub fn post_mortem(&self) -> String {
        let log = match std::fs::read(self.data.with_extension("log")) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!(
                "cannot read {}: {e}",
                self.data.with_extension("log").display()
            ),
        };
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        let pid = self
            .child
            .id()
            .map_or("gone".to_string(), |p| p.to_string());
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        format!("process {pid} (running: {alive}); its log ends:\n{tail}")
    }

    pub async fn status(&self) -> pb::SyncStatusResponse {
        self.client()
            .await
            .sync_status(pb::SyncStatusRequest {})
            .await
            .unwrap()
            .into_inner()
    }
}

/// `quyhoach serve` for `unit` on the store `data`, listening on `listen` (port 0 picks one),
/// with its log appended to `data.log` and its output piped for [`listening`]: the command
/// every test that runs a node as a process starts from, adding what it is about (`--insecure`
/// or certificates, `RUST_LOG`, …).
pub fn serve_command(unit: &str, data: &Path, listen: &str, units: &str) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("log"))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quyhoach"));
    cmd.args([
        "serve", "--unit", unit, "--listen", listen, "--units", units,
    ])
    .arg("--data")
    .arg(data)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::from(log))
    .kill_on_drop(true);
    cmd
}

/// Waits (20 s at most) for the line in which a node started by [`serve_command`] says where
/// it listens, and answers that address; `None` if it exits or says nothing first. Keeps
/// draining its output so that it never blocks on a full pipe.
pub async fn listening(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .ok()?
        .ok()??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(line.rsplit(' ').next()?.to_string())
}

/// A loopback address with a port that was free a moment ago, for a node that must come back
/// on the same address.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Polls `check` every 20 ms until it yields a value; panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
