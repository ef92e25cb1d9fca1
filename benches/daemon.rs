//! `muster run` as a process: idle memory with 1,200 declared accounts, CPU per pass with no
//! drift over 1,200 accounts x 16 regions, and the time from a change to the desired state to
//! the first CreateMembers. muster is the release binary, a child process; the sandbox runs in
//! this process, so muster's CPU and memory are its own.
//!
//! Run: `cargo bench --locked --bench daemon` (`-- configuration`: CPU per no-drift pass with
//! the organization configuration and data-source checks declared, beside membership alone;
//! `-- central`: with Security Hub central configuration declared, beside Security Hub
//! membership alone).

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{world, REGIONS};
use muster_sandbox::fixture::GENERATED_SECURITY;
use muster_sandbox::Sandbox;

const DECLARED: usize = 1200;

fn id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

fn desired(n: usize, regions: &[&str]) -> String {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 2..2 + n {
        text += &format!(
            "  - {{id: \"{}\", email: \"aws+{}@example.com\"}}\n",
            id(i),
            id(i)
        );
    }
    text += "detective:\n  graphs:\n";
    for r in regions {
        text += &format!("    - region: {r}\n");
    }
    text
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(sb: &Sandbox, dir: &Path, schedule: &str, port: u16) -> Child {
    std::fs::write(
        dir.join("muster.yaml"),
        format!(
            "desired_state: accounts.yaml\nstate_dir: state\nschedule: \"{schedule}\"\nmetrics_listen: \"127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["run", "--config"])
        .arg(dir.join("muster.yaml"))
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env("AWS_ACCESS_KEY_ID", GENERATED_SECURITY)
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("MUSTER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn metric(port: u16, series: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines().find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == series).then(|| v.parse().ok())?
    })
}

fn drift_total(port: u16) -> f64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body.lines()
        .filter(|l| l.starts_with("muster_drift{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn passes(port: u16) -> f64 {
    metric(port, "muster_passes_total{result=\"ok\"}").unwrap_or(0.0)
}

async fn wait_passes(port: u16, at_least: f64) {
    let start = Instant::now();
    while passes(port) < at_least {
        assert!(start.elapsed() < Duration::from_secs(600), "no pass");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (resident KiB, peak resident KiB) of a process.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds a process has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Idle RSS after one pass and 5 s of nothing scheduled.
async fn idle_rss(sb: &Sandbox, dir: &Path, label: &str) -> (Child, u16) {
    let port = free_port();
    let child = start(sb, dir, "0 0 0 1 1 *", port);
    wait_passes(port, 1.0).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, peak) = rss_kib(child.id());
    println!(
        "idle rss, {label}: {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    (child, port)
}

/// The organization configuration a desired state may declare on top of membership: AutoEnable
/// and both optional data-source packages (checked per graph and for every enabled member).
const CONFIGURATION: &str =
    "  organization: {auto_enable: true}\n  datasource_packages: [EKS_AUDIT, ASFF_SECURITYHUB_FINDING]\n";

/// CPU per no-drift pass over 1,200 accounts x 16 regions, with `extra` in the detective
/// section: converged first, then the mean of 10 passes 2 s apart.
async fn cpu_per_pass(label: &str, extra: &str) -> f64 {
    let sb = world(DECLARED + 2, &REGIONS).await;
    let dir = scratch(&format!("cpu-{label}"));
    let text = desired(DECLARED, &REGIONS) + extra;
    std::fs::write(dir.join("accounts.yaml"), text).unwrap();
    let port = free_port();
    let mut child = start(&sb, &dir, "*/2 * * * * *", port);
    let pid = child.id();
    wait_passes(port, 3.0).await;
    assert_eq!(drift_total(port), 0.0, "converged means no drift");
    let reads = sb
        .calls()
        .count("detective", "BatchGetGraphMemberDatasources");
    let (n0, c0) = (passes(port), cpu_secs(pid));
    wait_passes(port, n0 + 10.0).await;
    let (n1, c1) = (passes(port), cpu_secs(pid));
    let per_pass = (sb
        .calls()
        .count("detective", "BatchGetGraphMemberDatasources")
        - reads) as f64
        / (n1 - n0);
    let ms = (c1 - c0) * 1000.0 / (n1 - n0);
    println!("cpu per no-drift pass, {DECLARED} accounts x 16 regions, {label}: {ms:.1} ms ({} passes, {per_pass:.0} BatchGetGraphMemberDatasources a pass)", n1 - n0);
    let _ = child.kill();
    let _ = child.wait();
    sb.shutdown().await;
    ms
}

/// Security Hub membership in the 16 regions, and (`central`) central configuration on top:
/// from us-east-1, one policy associated with the root.
fn hub_section(central: bool) -> String {
    let mut text = format!("securityhub:\n  regions: [{}]\n", REGIONS.join(", "));
    if central {
        text += "  central_configuration:\n    home_region: us-east-1\n    policies:\n      baseline: {enabled: true, standards: [aws-foundational-security-best-practices/v/1.0.0], controls: {disabled: [IAM.6]}}\n    associations:\n      - {root: true, policy: baseline}\n";
    }
    text
}

/// CPU per no-drift pass over 1,200 accounts x 16 regions in Detective and Security Hub, with
/// or without central configuration: converged first (the associations of the ~2% suspended
/// accounts fail, drift no pass can fix, and stay), then the mean of 10 passes 2 s apart; and
/// the central-configuration calls a pass makes.
async fn cpu_with_hubs(label: &str, central: bool) -> f64 {
    let sb = world(DECLARED + 2, &REGIONS).await;
    sb.with_world(|w| w.central.settings.delay = Duration::ZERO);
    let dir = scratch(&format!("cpu-{label}"));
    let text = desired(DECLARED, &REGIONS) + &hub_section(central);
    std::fs::write(dir.join("accounts.yaml"), text).unwrap();
    let port = free_port();
    let mut child = start(&sb, &dir, "*/2 * * * * *", port);
    let pid = child.id();
    wait_passes(port, 3.0).await;
    let drift = drift_total(port);
    sb.reset_calls();
    let (n0, c0) = (passes(port), cpu_secs(pid));
    wait_passes(port, n0 + 10.0).await;
    let (n1, c1) = (passes(port), cpu_secs(pid));
    let calls = sb.calls();
    let writes = (calls.counts.iter())
        .filter(|c| {
            !["List", "Get", "Describe", "BatchGet"]
                .iter()
                .any(|p| c.operation.starts_with(p))
        })
        .map(|c| c.count)
        .sum::<u64>();
    assert_eq!(writes, 0, "converged means no writes");
    assert_eq!(drift_total(port), drift, "the drift stays what it was");
    let total: u64 = calls.counts.iter().map(|c| c.count).sum();
    let per_pass = total as f64 / (n1 - n0);
    let ms = (c1 - c0) * 1000.0 / (n1 - n0);
    println!("cpu per no-drift pass, {DECLARED} accounts x 16 regions, {label}: {ms:.1} ms ({} passes, {per_pass:.0} requests a pass, drift {drift})", n1 - n0);
    let _ = child.kill();
    let _ = child.wait();
    sb.shutdown().await;
    ms
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().any(|a| a == "central") {
        // Security Hub membership alone, then with central configuration, alternately.
        rt.block_on(async {
            for _ in 0..2 {
                cpu_with_hubs("membership only", false).await;
                cpu_with_hubs("with central configuration", true).await;
            }
        });
        return;
    }
    if std::env::args().any(|a| a == "configuration") {
        // Membership alone, then with the organization configuration declared, alternately.
        rt.block_on(async {
            for _ in 0..2 {
                cpu_per_pass("membership only", "").await;
                cpu_per_pass("with data-source checks", CONFIGURATION).await;
            }
        });
        return;
    }
    rt.block_on(async {
        // 1,200 accounts x 16 regions: converge, then passes with no drift every 2 s.
        let sb = world(DECLARED + 2, &REGIONS).await;
        let dir = scratch("cpu");
        std::fs::write(dir.join("accounts.yaml"), desired(DECLARED, &REGIONS)).unwrap();
        let port = free_port();
        let mut child = start(&sb, &dir, "*/2 * * * * *", port);
        let pid = child.id();
        let t = Instant::now();
        wait_passes(port, 1.0).await;
        println!(
            "first pass (invites {DECLARED} accounts into 16 graphs): {:.2?}",
            t.elapsed()
        );
        wait_passes(port, 3.0).await;
        assert_eq!(drift_total(port), 0.0, "converged means no drift");
        let (n0, c0) = (passes(port), cpu_secs(pid));
        const N: f64 = 10.0;
        wait_passes(port, n0 + N).await;
        let (n1, c1) = (passes(port), cpu_secs(pid));
        println!(
            "cpu per no-drift pass, {DECLARED} accounts x 16 regions: {:.1} ms ({} passes)",
            (c1 - c0) * 1000.0 / (n1 - n0),
            n1 - n0
        );
        let _ = child.kill();
        let _ = child.wait();
        let (mut child, _) = idle_rss(&sb, &dir, "1,200 accounts x 16 graphs").await;
        let _ = child.kill();
        let _ = child.wait();
        sb.shutdown().await;

        // 1,200 accounts, one graph: idle memory; then changes, 10 times one more account
        // (the graph holds 1,200 members at most, so it starts at 1,190).
        let sb = world(DECLARED + 2, &REGIONS[..1]).await;
        let dir = scratch("latency");
        std::fs::write(dir.join("accounts.yaml"), desired(DECLARED, &REGIONS[..1])).unwrap();
        let (mut child, _) = idle_rss(&sb, &dir, "1,200 accounts x 1 graph").await;
        let _ = child.kill();
        let _ = child.wait();
        sb.shutdown().await;

        let sb = world(DECLARED + 2, &REGIONS[..1]).await;
        let file = dir.join("accounts.yaml");
        std::fs::write(&file, desired(DECLARED - 10, &REGIONS[..1])).unwrap();
        let _ = std::fs::remove_dir_all(dir.join("state"));
        let port = free_port();
        let mut child = start(&sb, &dir, "0 0 0 1 1 *", port);
        wait_passes(port, 1.0).await;
        let mut took = Vec::new();
        for k in 0..10 {
            let before = sb.calls().count("detective", "CreateMembers");
            replace(&file, &desired(DECLARED - 9 + k, &REGIONS[..1]));
            let t = Instant::now();
            while sb.calls().count("detective", "CreateMembers") == before {
                assert!(t.elapsed() < Duration::from_secs(30), "no CreateMembers");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            took.push(t.elapsed());
            wait_passes(port, 2.0 + k as f64).await;
        }
        took.sort();
        println!(
            "desired-state change to first CreateMembers, 1,200 accounts (10 changes): median {:.0?}, max {:.0?}",
            took[took.len() / 2],
            took[took.len() - 1]
        );
        let _ = child.kill();
        let _ = child.wait();
        sb.shutdown().await;
    });
}
