//! `muster run` as operators run it: the binary against a sandbox, driven through its files,
//! signals and HTTP endpoints; a real Prometheus server scraping it with the shipped rules;
//! promtool and systemd-analyze on what `deploy/` ships.

#[path = "../common/mod.rs"]
mod common;

mod behaviour;
mod checks;
mod full_disk;
mod prometheus;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A schedule that never fires in a test's lifetime: only startup and file changes run passes.
pub const YEARLY: &str = "0 0 0 1 1 *";
/// How long a daemon test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(60);
/// The counter of passes that ended ok.
pub const PASSES_OK: &str = "muster_passes_total{result=\"ok\"}";

/// The id of the generated world's account number `i`.
pub fn id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

/// A desired state declaring the generated accounts numbered `ids` in us-east-1.
pub fn desired(ids: std::ops::Range<usize>, prune: bool) -> String {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in ids {
        let id = id(i);
        text += &format!("  - {{id: \"{id}\", email: \"aws+{id}@example.com\"}}\n");
    }
    text + &format!("detective:\n  graphs: [{{region: us-east-1}}]\n  prune: {prune}\n")
}

/// A generated world of `accounts` in us-east-1, from `seed`.
pub async fn world(accounts: usize, seed: u64) -> muster_sandbox::Sandbox {
    let regions = vec!["us-east-1".into()];
    let f = muster_sandbox::fixture::generate(&muster_sandbox::fixture::Generate {
        accounts,
        regions,
        seed,
    });
    common::start(f).await
}

/// (CreateMembers, DeleteMembers) calls to Detective so far.
pub fn member_writes(sb: &muster_sandbox::Sandbox) -> (u64, u64) {
    let calls = sb.calls();
    let count = |op| calls.count("detective", op);
    (count("CreateMembers"), count("DeleteMembers"))
}

/// A port nobody listens on now (bound and released; fine on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from `port` on loopback: (status, body). `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Some((status, body))
}

/// Polls `check` every 100 ms until it returns `Some` or `limit` passes.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the one sample of `name{labels}` in a metrics text (labels as printed, sorted).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A `muster run` process with its settings file, state directory and log in `dir`.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Daemon {
    /// Writes `dir/muster.yaml` (the given keys, plus state_dir and metrics_listen) and starts
    /// `muster run --config dir/muster.yaml` acting as the security account.
    pub fn start(endpoint: &str, dir: &Path, settings: &str, extra_args: &[&str]) -> Daemon {
        Self::spawn(
            endpoint,
            common::SECURITY,
            dir,
            settings,
            extra_args,
            free_port(),
        )
    }

    /// As `start`, serving metrics on `port` (a restart keeps its scrape target).
    pub fn start_on(endpoint: &str, dir: &Path, settings: &str, port: u16) -> Daemon {
        Self::spawn(endpoint, common::SECURITY, dir, settings, &[], port)
    }

    /// The generated world's security account on `desired_state` (relative to `dir`), with a
    /// schedule that never fires.
    pub fn watching(sb: &muster_sandbox::Sandbox, dir: &Path, desired_state: &str) -> Daemon {
        let settings = format!("desired_state: {desired_state}\nschedule: \"{YEARLY}\"\n");
        Self::generated(sb, dir, &settings)
    }

    /// As `start`, acting as the generated world's security account.
    pub fn generated(sb: &muster_sandbox::Sandbox, dir: &Path, settings: &str) -> Daemon {
        let key = muster_sandbox::fixture::GENERATED_SECURITY;
        Self::start_as(&sb.endpoint(), key, dir, settings)
    }

    /// Waits until `n` passes have ended ok.
    pub async fn passes_ok(&self, n: f64) {
        self.wait_for(PASSES_OK, n, LIMIT).await
    }

    /// As `start`, acting as the account behind access key `key`.
    pub fn start_as(endpoint: &str, key: &str, dir: &Path, settings: &str) -> Daemon {
        Self::spawn(endpoint, key, dir, settings, &[], free_port())
    }

    fn spawn(
        endpoint: &str,
        key: &str,
        dir: &Path,
        settings: &str,
        extra_args: &[&str],
        port: u16,
    ) -> Daemon {
        std::fs::write(
            dir.join("muster.yaml"),
            format!("{settings}\nstate_dir: state\nmetrics_listen: \"127.0.0.1:{port}\"\n"),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("muster.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("run")
            .arg("--config")
            .arg(dir.join("muster.yaml"))
            .args(extra_args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", "sandbox")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("MUSTER_LOG", "info,muster=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child,
            dir: dir.to_owned(),
            port,
        }
    }

    pub fn metrics(&self) -> Option<String> {
        http_get(self.port, "/metrics").map(|(_, body)| body)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("muster.log")).unwrap_or_default()
    }

    /// Waits until `series` is at least `value`: for a counter that a schedule may move past
    /// `value` between two polls (a pass every second, one longer than the gap to the next tick).
    pub async fn wait_at_least(&self, series: &str, value: f64, limit: Duration) {
        let what = format!("{series} >= {value}");
        self.wait_until(&what, limit, |m| {
            sample(m, series).is_some_and(|v| v >= value)
        })
        .await
    }

    /// Waits until /metrics shows `series` with `value`.
    pub async fn wait_for(&self, series: &str, value: f64, limit: Duration) {
        let what = format!("{series} == {value}");
        self.wait_until(&what, limit, |m| sample(m, series) == Some(value))
            .await
    }

    async fn wait_until(&self, what: &str, limit: Duration, holds: impl Fn(&str) -> bool) {
        let what = format!("{what} (log in {})", self.dir.display());
        eventually(limit, &what, || {
            self.metrics().filter(|m| holds(m)).map(drop)
        })
        .await
    }

    /// SIGTERM, then the exit status (within 30 s).
    pub async fn terminate(&mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        eventually(
            Duration::from_secs(30),
            "muster to exit after SIGTERM",
            || self.child.try_wait().unwrap(),
        )
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events muster recorded, as JSON lines, through `muster events` (works while it runs).
pub fn events(dir: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["events", "--output", "json", "--state-dir"])
        .arg(dir.join("state"))
        .env("MUSTER_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("there is no event log in") {
        return Vec::new();
    }
    assert!(out.status.success(), "{}", err);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Event types in order.
pub fn types(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// A program the tests need from Debian's packages; `tests/install-system-deps` installs it.
pub fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: run tests/install-system-deps (or tests/run-all, which does)");
}
