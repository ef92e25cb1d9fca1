//! Speed at the largest organization: `muster apply` (the release binary, a child process)
//! against the sandbox (in this process) with 50 ms of latency on every call, reported as
//! ratios measured in the same run: wall time / the critical-path bound, and calls / the
//! theoretical minimum (asserted to be 1.00), with CPU seconds and peak RSS of the child.
//!
//! The bound is worked out from the world and the call log:
//! - Detective: a graph's calls go one after another (ListGraphs, its ListMembers pages, its
//!   CreateMembers batches), so a graph takes (its calls) x latency; graphs run side by side.
//! - Security Hub: a region's ListMembers pages then its CreateMembers batches, one after
//!   another, and its token bucket (10 a second, bursts of 30): N requests cannot all have
//!   started before (N - 30) / 10 s, nor finished before that plus one latency.
//! - Organizations, beside the listings and before any write (the plan needs the accounts):
//!   ListRoots, then each parent's pages as early as the protocol allows (a child OU is known
//!   once the page naming it came back): the longest chain of pages x latency.
//!
//! Run: `cargo bench --locked --bench scale` (every run, 3 times), `-- quick` (small worlds,
//! once, under 2 minutes); `-- detective`, `-- securityhub` or `-- wide` (Security Hub in 30
//! Regions) runs one world, `-- once` one round. Peak RSS is also given per member managed
//! (accounts x regions).

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{wide_regions, REGIONS};
use muster_sandbox::fixture::GENERATED_SECURITY;
use muster_sandbox::world::{Parent, World};
use muster_sandbox::{FaultConfig, FaultRule, Sandbox};

const LATENCY: Duration = Duration::from_millis(50);

/// What one `muster apply` cost.
struct Measured {
    wall: Duration,
    cpu: f64,
    peak_rss_mib: f64,
    /// muster's own `apply timings` and `pass timings` lines, merged: phase → milliseconds.
    phases: BTreeMap<String, f64>,
}

/// The phases muster logs (target `muster::timings`), in the order they run.
const PHASES: [&str; 11] = [
    "desired_state_ms",
    "event_log_ms",
    "clients_ms",
    "replay_ms",
    "organization_ms",
    "survey_ms",
    "record_ms",
    "apply_ms",
    "finish_ms",
    "report_ms",
    "flush_ms",
];

/// The `muster::timings` lines of a JSON log: every numeric field, by name.
fn phases(log: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["target"] != "muster::timings" {
            continue;
        }
        for (k, f) in v["fields"].as_object().into_iter().flatten() {
            if let Some(f) = f.as_f64() {
                out.insert(k.clone(), f);
            }
        }
    }
    out
}

/// One run, its bound and its minimum.
struct Run {
    name: String,
    measured: Measured,
    bound: Duration,
    calls: u64,
    minimum: u64,
    chain: String,
    /// Members the pass manages (accounts x regions): what peak RSS is divided by.
    members: usize,
}

impl Run {
    fn print(&self) {
        self.print_ratios();
        let p = &self.measured.phases;
        // The phases one after another (the organization runs inside the survey, the flushes
        // inside the others).
        let inside: f64 = (PHASES.iter())
            .filter(|k| !matches!(**k, "organization_ms" | "flush_ms"))
            .filter_map(|k| p.get(*k))
            .sum();
        let mut line = format!(
            "    phases (ms): process {:.0}",
            self.measured.wall.as_secs_f64() * 1000.0 - inside
        );
        for k in PHASES {
            let v = p.get(k).copied().unwrap_or(f64::NAN);
            line += &format!(", {} {v:.0}", k.trim_end_matches("_ms"));
        }
        line += &format!(
            ", flushes {}",
            p.get("flushes").copied().unwrap_or(f64::NAN)
        );
        println!("{line}");
        println!("{}", self.chain);
    }

    fn print_ratios(&self) {
        println!(
            "{:<58} wall {:>7.2} s  bound {:>7.2} s  wall/bound {:>5.2}  calls {:>6} / minimum {:>6} = {:.2}  cpu {:>6.2} s  peak rss {:>6.1} MiB ({:.2} KiB a member)",
            self.name,
            self.measured.wall.as_secs_f64(),
            self.bound.as_secs_f64(),
            self.measured.wall.as_secs_f64() / self.bound.as_secs_f64(),
            self.calls,
            self.minimum,
            self.calls as f64 / self.minimum as f64,
            self.measured.cpu,
            self.measured.peak_rss_mib,
            self.measured.peak_rss_mib * 1024.0 / self.members.max(1) as f64
        );
    }
}

fn id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-scale-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The benches' world (`common::world`: every account active, no volume limit) with 50 ms on
/// every call.
async fn world(accounts: usize, regions: &[&str]) -> Sandbox {
    let sb = common::world(accounts, regions).await;
    sb.set_faults(FaultConfig {
        seed: 1,
        rules: vec![FaultRule {
            latency_ms: LATENCY.as_millis() as u64,
            ..FaultRule::default()
        }],
        fail_next: vec![],
        garble_next: vec![],
    })
    .unwrap();
    sb
}

/// `n` accounts listed by hand in a graph in each of `regions`.
fn detective_desired(n: usize, regions: &[&str]) -> String {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 2..2 + n {
        let id = id(i);
        text += &format!("  - {{id: \"{id}\", email: \"aws+{id}@example.com\"}}\n");
    }
    text += "detective:\n  graphs:\n";
    for r in regions {
        text += &format!("    - region: {r}\n");
    }
    text
}

/// The whole organization but the administrator, in Security Hub in each of `regions`.
fn securityhub_desired(regions: &[&str]) -> String {
    format!(
        "version: 1\naccounts: []\norganization:\n  include: [{{root: true}}]\n  exclude: {{accounts: [\"{GENERATED_SECURITY}\"]}}\nsecurityhub:\n  regions: [{}]\n",
        regions.join(", ")
    )
}

/// `muster apply` of `desired` against `sb`, with its wall time, CPU and peak RSS (from
/// wait4, the child's own).
#[allow(clippy::zombie_processes)] // wait4 reaps it: std's wait gives no resource usage
fn apply(sb: &Sandbox, dir: &Path, desired: &str) -> Measured {
    std::fs::write(dir.join("desired.yaml"), desired).unwrap();
    sb.reset_calls();
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["--log-format", "json", "apply", "--desired-state"])
        .arg(dir.join("desired.yaml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env("AWS_ACCESS_KEY_ID", GENERATED_SECURITY)
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("MUSTER_LOG", "error,muster::timings=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("muster.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Peak RSS from the child's own VmHWM, read until it exits: wait4's ru_maxrss would also
    // count this process's size, which the child had between fork and exec.
    let mut hwm_kib = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = (status.lines())
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
            hwm_kib = hwm_kib.max(hwm.unwrap_or(0));
        }
        // SAFETY: `pid` is our child, not yet reaped; the pointers are to live locals.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break;
        }
        assert_eq!(waited, 0, "wait4 failed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = start.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "apply failed ({status}):\n{}",
        std::fs::read_to_string(dir.join("muster.log")).unwrap_or_default()
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        peak_rss_mib: hwm_kib as f64 / 1024.0,
        phases: phases(&std::fs::read_to_string(dir.join("muster.log")).unwrap_or_default()),
    }
}

/// The calls a pass needs at least, by service, for the world as it is now.
#[derive(Default)]
struct Minimum {
    detective: u64,
    securityhub: u64,
    organizations: u64,
}

fn pages(n: usize, size: usize) -> u64 {
    n.div_ceil(size).max(1) as u64
}

/// Detective: per graph, ListGraphs, its ListMembers pages (200) and CreateMembers for the
/// `declared` accounts it lacks (50 a call).
fn detective_minimum(w: &World, regions: &[&str], declared: &[String]) -> u64 {
    let mut calls = 0;
    for r in regions {
        let graph = w.regions[*r].graphs.values().next();
        let members = graph.map_or(0, |g| g.members.len());
        let missing = declared
            .iter()
            .filter(|a| !graph.is_some_and(|g| g.members.contains_key(*a)))
            .count();
        calls += 1 + pages(members, 200) + missing.div_ceil(50) as u64;
    }
    calls
}

/// Security Hub: per region, its ListMembers pages (50), one DescribeOrganizationConfiguration
/// (organization accounts declared) and CreateMembers for the organization accounts it lacks.
fn securityhub_minimum(w: &World, regions: &[&str], declared: &[String]) -> u64 {
    let mut calls = 0;
    for r in regions {
        let hub = w.regions[*r].hub_members.get(GENERATED_SECURITY);
        let members = hub.map_or(0, |h| h.len());
        let missing = declared
            .iter()
            .filter(|a| !hub.is_some_and(|h| h.contains_key(*a)))
            .count();
        calls += pages(members, 50) + 1 + missing.div_ceil(50) as u64;
    }
    calls
}

/// The organization's tree: parent → (child OUs, accounts), the root as "".
fn tree(w: &World) -> BTreeMap<String, (Vec<String>, usize)> {
    let key = |p: &Parent| match p {
        Parent::Root => String::new(),
        Parent::Ou(id) => id.clone(),
    };
    let org = w.organization.as_ref().unwrap();
    let mut t: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    t.entry(String::new()).or_default();
    for ou in org.ous.values() {
        t.entry(key(&ou.parent)).or_default().0.push(ou.id.clone());
        t.entry(ou.id.clone()).or_default();
    }
    for a in w.accounts.values() {
        if let Some(p) = &a.parent {
            t.entry(key(p)).or_default().1 += 1;
        }
    }
    t
}

/// Organizations: ListRoots, and each parent's ListOrganizationalUnitsForParent and
/// ListAccountsForParent pages (20 a page).
fn organizations_minimum(w: &World) -> u64 {
    1 + tree(w)
        .values()
        .map(|(ous, accounts)| pages(ous.len(), 20) + pages(*accounts, 20))
        .sum::<u64>()
}

/// The longest chain of Organizations pages: ListRoots, then down to each parent (a child is
/// known once the page naming it came back), then the longer of its two listings.
fn organizations_chain(w: &World) -> u64 {
    let t = tree(w);
    fn chain(t: &BTreeMap<String, (Vec<String>, usize)>, parent: &str, before: u64) -> u64 {
        let (ous, accounts) = &t[parent];
        let own = pages(ous.len(), 20).max(pages(*accounts, 20));
        let children = ous.iter().enumerate().map(|(i, ou)| {
            // The page that names it: its index / 20 + 1 pages in.
            chain(t, ou, before + (i / 20 + 1) as u64)
        });
        children.fold(before + own, u64::max)
    }
    1 + chain(&t, "", 0)
}

/// The critical-path bound of the calls just made. A graph's or hub's listing does not need
/// the organization, so it runs beside the Organizations chain; its writes need both (the
/// plan needs the accounts). A Security Hub region is also held to its bucket.
fn bound(sb: &Sandbox) -> Duration {
    let calls = sb.calls().calls;
    // (service, region) → (every call, listing calls on the chain, writes)
    let mut by_region: BTreeMap<(&str, &str), (u64, u64, u64)> = BTreeMap::new();
    let mut organizations = false;
    for c in &calls {
        if c.service == "organizations" {
            organizations = true;
            continue;
        }
        let e = by_region
            .entry((c.service.as_str(), c.region.as_str()))
            .or_default();
        e.0 += 1;
        match c.operation.as_str() {
            // Describe runs beside the listing: not on the chain.
            "DescribeOrganizationConfiguration" => {}
            "ListGraphs" | "ListMembers" => e.1 += 1,
            _ => e.2 += 1,
        }
    }
    let org = if organizations {
        sb.with_world(|w| LATENCY * organizations_chain(w) as u32)
    } else {
        Duration::ZERO
    };
    (by_region.iter())
        .map(|((service, _), (all, listing, writes))| {
            let chain = (LATENCY * *listing as u32).max(org) + LATENCY * *writes as u32;
            if *service == "securityhub" {
                let limited = Duration::from_secs_f64(all.saturating_sub(30) as f64 / 10.0);
                chain.max(limited + LATENCY)
            } else {
                chain
            }
        })
        .max()
        .unwrap_or(org)
}

/// Where the slowest graph or hub spent its time, from the call log's times: its calls one
/// after another (Security Hub's Describe beside them) and the gaps between one answer and
/// the next request, which are muster's (recording, planning, waiting for the limiter or for
/// the other listings).
fn slowest_chain(sb: &Sandbox) -> String {
    let calls = sb.calls().calls;
    let mut by: BTreeMap<(&str, &str), Vec<(u64, u64)>> = BTreeMap::new();
    for c in &calls {
        if c.service != "organizations" && c.operation != "DescribeOrganizationConfiguration" {
            let e = by
                .entry((c.service.as_str(), c.region.as_str()))
                .or_default();
            e.push((c.at_us, c.at_us + c.took_us));
        }
    }
    let first = calls.iter().map(|c| c.at_us).min().unwrap_or(0);
    let Some(((service, region), chain)) = by
        .iter()
        .max_by_key(|(_, v)| v.iter().map(|c| c.1).max().unwrap_or(0))
    else {
        return String::new();
    };
    let (mut gaps, mut largest) = (0u64, 0u64);
    for w in chain.windows(2) {
        let gap = w[1].0.saturating_sub(w[0].1);
        gaps += gap;
        largest = largest.max(gap);
    }
    let org: Vec<_> = calls
        .iter()
        .filter(|c| c.service == "organizations")
        .collect();
    let org_span = match (org.first(), org.iter().map(|c| c.at_us + c.took_us).max()) {
        (Some(f), Some(end)) => format!(
            "; organizations {} calls from {:.0} to {:.0} ms",
            org.len(),
            (f.at_us - first) as f64 / 1000.0,
            (end - first) as f64 / 1000.0
        ),
        _ => String::new(),
    };
    let ms = |us: u64| us as f64 / 1000.0;
    // What the sandbox took beyond the latency it injects, over every call.
    let over: Vec<u64> = (calls.iter())
        .map(|c| c.took_us.saturating_sub(LATENCY.as_micros() as u64))
        .collect();
    let mean = over.iter().sum::<u64>() / over.len().max(1) as u64;
    let worst = over.iter().copied().max().unwrap_or(0);
    format!(
        "    sandbox answers beyond the latency: mean {:.1} ms, max {:.1} ms\n    slowest chain",
        ms(mean),
        ms(worst)
    ) + &format!(
        " {service} {region}: {} calls from {:.0} to {:.0} ms after the first call, gaps between them {:.0} ms (largest {:.0}){org_span}",
        chain.len(),
        ms(chain[0].0 - first),
        ms(chain.last().unwrap().1 - first),
        ms(gaps),
        ms(largest)
    )
}

fn count(sb: &Sandbox, service: &str) -> u64 {
    let calls = sb.calls();
    calls
        .counts
        .iter()
        .filter(|c| c.service == service)
        .map(|c| c.count)
        .sum()
}

/// One measured apply, checked against its minimum.
fn run(
    sb: &Sandbox,
    dir: &Path,
    (name, members): (&str, usize),
    desired: &str,
    minimum: Minimum,
) -> Run {
    let measured = apply(sb, dir, desired);
    let (d, h, o) = (
        count(sb, "detective"),
        count(sb, "securityhub"),
        count(sb, "organizations"),
    );
    assert_eq!(
        (d, h, o),
        (
            minimum.detective,
            minimum.securityhub,
            minimum.organizations
        ),
        "{name}: calls by service (detective, securityhub, organizations) against the minimum"
    );
    Run {
        name: name.to_owned(),
        measured,
        bound: bound(sb),
        chain: slowest_chain(sb),
        calls: d + h + o,
        minimum: minimum.detective + minimum.securityhub + minimum.organizations,
        members,
    }
}

/// Runs 1 and 3 (Detective): from empty, then converged (twice: the first pass after, then a
/// steady one).
async fn detective_runs(accounts: usize, regions: &[&str]) -> Vec<Run> {
    let sb = world(accounts + 2, regions).await;
    let dir = scratch("detective");
    let desired = detective_desired(accounts, regions);
    let declared: Vec<String> = (2..2 + accounts).map(id).collect();
    let scale = format!("Detective, {accounts} accounts x {} regions", regions.len());
    let mut runs = Vec::new();
    for label in ["from empty", "converged, no drift", "steady, no drift"] {
        let minimum = Minimum {
            detective: sb.with_world(|w| detective_minimum(w, regions, &declared)),
            ..Minimum::default()
        };
        let members = accounts * regions.len();
        runs.push(run(
            &sb,
            &dir,
            (&format!("{scale}, {label}"), members),
            &desired,
            minimum,
        ));
    }
    sb.shutdown().await;
    runs
}

/// Runs 2, 3 and 4 (Security Hub as the delegated administrator): from empty, converged
/// (twice), and with 1% of each region's members gone.
async fn securityhub_runs(accounts: usize, regions: &[&str]) -> Vec<Run> {
    let sb = world(accounts + 2, regions).await;
    let dir = scratch("securityhub");
    let desired = securityhub_desired(regions);
    let declared: Vec<String> = sb.with_world(|w| {
        (w.accounts.keys())
            .filter(|a| {
                a.as_str() != GENERATED_SECURITY
                    && a.as_str() != muster_sandbox::fixture::GENERATED_MANAGEMENT
            })
            .cloned()
            .collect()
    });
    let scale = format!(
        "Security Hub, {accounts} accounts x {} regions",
        regions.len()
    );
    let mut runs = Vec::new();
    // "converged" is the first pass after convergence (it records every member's first
    // status); "steady" the one after, what each scheduled pass costs.
    for label in [
        "from empty",
        "converged, no drift",
        "steady, no drift",
        "1% drift",
    ] {
        if label == "1% drift" {
            let gone = accounts / 100;
            sb.with_world(|w| {
                for r in regions {
                    let hub = w.regions.get_mut(*r).unwrap();
                    let hub = hub.hub_members.get_mut(GENERATED_SECURITY).unwrap();
                    let ids: Vec<String> = hub.keys().take(gone).cloned().collect();
                    for a in ids {
                        hub.remove(&a);
                    }
                }
            });
        }
        let minimum = sb.with_world(|w| Minimum {
            securityhub: securityhub_minimum(w, regions, &declared),
            organizations: organizations_minimum(w),
            ..Minimum::default()
        });
        let members = declared.len() * regions.len();
        runs.push(run(
            &sb,
            &dir,
            (&format!("{scale}, {label}"), members),
            &desired,
            minimum,
        ));
    }
    sb.shutdown().await;
    runs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "quick");
    // `detective`, `securityhub` or `wide` runs only that world; `once` one round.
    let only = |world: &str| {
        let named =
            (args.iter()).any(|a| matches!(a.as_str(), "detective" | "securityhub" | "wide"));
        !named || args.iter().any(|a| a == world)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let all = wide_regions();
    let (mut repeat, detective, securityhub, regions, wide) = if quick {
        (1, 120, 500, &REGIONS[..4], &all[..6])
    } else {
        (3, 1200, 10_000, &REGIONS[..], &all[..])
    };
    if args.iter().any(|a| a == "once") {
        repeat = 1;
    }
    println!(
        "latency {} ms on every call; muster is the release binary, defaults (every graph and hub at once)",
        LATENCY.as_millis()
    );
    rt.block_on(async {
        for round in 1..=repeat {
            println!("round {round}");
            if only("detective") {
                for r in detective_runs(detective, regions).await {
                    r.print();
                }
            }
            if only("securityhub") {
                for r in securityhub_runs(securityhub, regions).await {
                    r.print();
                }
            }
            // Every commercial Region Security Hub is in: the widest organization.
            if only("wide") {
                for r in securityhub_runs(securityhub, wide).await {
                    r.print();
                }
            }
        }
    });
}
