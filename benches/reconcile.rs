//! muster's own hot spots, without AWS: the pure plan at scale, one intent appended and flushed,
//! replay of a large event log, and the log's size on disk.
//!
//! Run: `cargo bench --locked --bench reconcile` (or `-- plan`, `-- append`, `-- replay`,
//! `-- record`).

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime};

use common::REGIONS;
use muster::desired::parse_files;
use muster::domain::{AccountId, Email, GraphArn};
use muster::eventlog::{EventKind, EventLog};
use muster::observed::{Member, MemberStatus, ObservedGraph};
use muster::plan::{plan, Observed, PlanSettings, GRAPH_MEMBER_LIMIT};
use muster::reconcile::replay;

fn id(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

fn bench_plan() {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 0..10_000 {
        text += &format!(
            "  - {{id: \"{}\", email: \"aws+{}@example.com\"}}\n",
            id(i),
            i
        );
    }
    text += "detective:\n  graphs:\n";
    let regions = REGIONS;
    for r in regions {
        text += &format!("    - region: {r}\n");
    }
    let t = Instant::now();
    let desired = parse_files(&[("desired.yaml".into(), text)]).unwrap();
    let load = t.elapsed();
    // Each graph is full: 1,200 of the declared accounts are members (a few with drift).
    let graphs: Vec<ObservedGraph> = regions
        .iter()
        .map(|r| ObservedGraph {
            arn: GraphArn::parse(&format!(
                "arn:aws:detective:{r}:111111111111:graph:0123456789abcdef0123456789abcdef"
            ))
            .unwrap(),
            members: (0..GRAPH_MEMBER_LIMIT)
                .map(|i| Member {
                    account_id: AccountId::parse(&id(i)).unwrap(),
                    email: Email::parse(&format!("aws+{i}@example.com")),
                    status: if i % 100 == 0 {
                        MemberStatus::Invited
                    } else {
                        MemberStatus::Enabled
                    },
                    disabled_reason: None,
                    organization: false,
                    invited_at: Some(SystemTime::UNIX_EPOCH),
                    updated_at: Some(SystemTime::UNIX_EPOCH),
                    percent_of_graph_utilization: None,
                })
                .collect(),
        })
        .collect();
    let settings = PlanSettings {
        max_removals_per_pass: 10,
        pending_invitation_after: Duration::from_secs(7 * 86_400),
        member_limit: GRAPH_MEMBER_LIMIT,
        association_pending_after: Duration::from_secs(3600),
    };
    let now = SystemTime::now();
    let mut times = Vec::new();
    let mut drift = 0;
    for _ in 0..30 {
        let t = Instant::now();
        let observed = Observed {
            graphs: &graphs,
            ..Observed::at(now)
        };
        let p = plan(&desired, &observed, &settings);
        times.push(t.elapsed());
        drift = p.graphs.iter().map(|g| g.drift.len()).sum();
    }
    times.sort();
    println!(
        "plan: 10,000 desired accounts x 16 graphs of 1,200 members ({drift} drift items): median {:.2?}, max {:.2?} over 30 runs (loading and checking the 10,000-account YAML: {load:.2?})",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("muster-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn intent(n: usize) -> EventKind {
    EventKind::InviteIntent {
        batch: format!("18c2f0a1b2c-1a2b/89abcdef/{n}"),
        graph: "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
            .into(),
        accounts: (0..50).map(id).collect(),
    }
}

const DIGEST: &str = "172d42d1f783b268ffbaad41f1c13eae86fd1246fb6e6c881c7af5db3fd96a6d";

fn bench_append() {
    let dir = temp("append");
    let log = EventLog::open(&dir).unwrap();
    let mut times = Vec::new();
    for n in 0..2_000 {
        let t = Instant::now();
        log.append("run", DIGEST, intent(n), true).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "append + flush of one 50-account intent: p50 {:.0?}, p99 {:.0?}, max {:.0?} over 2,000 appends",
        pct(0.50),
        pct(0.99),
        times[times.len() - 1]
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench_replay() {
    let dir = temp("replay");
    let log = EventLog::open(&dir).unwrap();
    let graph = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef";
    let t = Instant::now();
    for n in 0..1_000_000usize {
        let kind = match n % 4 {
            0 => intent(n),
            1 => EventKind::InviteResult {
                batch: format!("b/{n}"),
                graph: graph.into(),
                created: (0..50).map(id).collect(),
                unprocessed: vec![],
            },
            2 => EventKind::MemberStatusChanged {
                graph: graph.into(),
                account: id(n % 10_000),
                from: Some("INVITED".into()),
                to: "ENABLED".into(),
            },
            _ => EventKind::DriftObserved {
                graph: graph.into(),
                account: id(n % 10_000),
                kind: "missing".into(),
                detail: "not a member".into(),
            },
        };
        log.append("run", DIGEST, kind, false).unwrap();
    }
    log.flush().unwrap();
    let write = t.elapsed();
    let size = log.size_on_disk();
    drop(log);
    // Opening verifies the store (every entry read, the events after the snapshot decoded): with
    // no snapshot here, every event is decoded, the most an open can cost.
    let t = Instant::now();
    let log = EventLog::open(&dir).unwrap();
    let opened = t.elapsed();
    let t = Instant::now();
    let p = replay(&log).unwrap();
    let took = t.elapsed();
    // What reading the store costs before any decoding: a floor for replay.
    let t = Instant::now();
    let raw = log.after_of_types(0, &[]).unwrap().len();
    let scan = t.elapsed();
    println!(
        "scanning the 1,000,000 stored events without decoding any: {scan:.2?} ({raw} decoded)"
    );
    println!(
        "opening (and verifying) the store of 1,000,000 events, no snapshot: {opened:.2?} ({:.2}x the scan)",
        opened.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "replay of 1,000,000 events (a quarter each: 50-account intents, 50-account results, status changes, drift): {took:.2?} ({} members, {} drift items in the projection); writing them took {write:.1?}",
        p.status.len(),
        p.drift.len()
    );
    println!(
        "event store size: {:.0} MiB for 1,000,000 events ({} bytes an event)",
        size as f64 / (1024.0 * 1024.0),
        size / 1_000_000
    );
    // As a pass leaves it: a snapshot at the end, so an open decodes nothing it need not.
    log.save_snapshot(muster::eventlog::Snapshot {
        seq: log.last_seq(),
        status: p.status.iter().collect(),
        drift: p.drift.clone(),
        in_doubt: Vec::new(),
    })
    .unwrap();
    drop(log);
    let t = Instant::now();
    let log = EventLog::open(&dir).unwrap();
    let opened = t.elapsed();
    println!(
        "opening (and verifying) the same store with a snapshot at its end: {opened:.2?} ({:.2}x the scan)",
        opened.as_secs_f64() / scan.as_secs_f64()
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What recording a pass's first sight of 160,000 members costs, event by event: Security
/// Hub's 10,000 members in each of 16 regions, each a `member_status_changed` not flushed.
fn bench_record() {
    let dir = temp("record");
    let log = EventLog::open(&dir).unwrap();
    let n = 160_000usize;
    let t = Instant::now();
    for i in 0..n {
        let kind = EventKind::MemberStatusChanged {
            graph: format!("securityhub/{}", REGIONS[i % 16]),
            account: id(i / 16),
            from: None,
            to: "Enabled".into(),
        };
        log.append("run", DIGEST, kind, false).unwrap();
    }
    let took = t.elapsed();
    let t = Instant::now();
    log.flush().unwrap();
    println!(
        "appending 160,000 member_status_changed (not flushed): {took:.2?}, {:.1} µs an event; the flush after: {:.2?}",
        took.as_secs_f64() * 1e6 / n as f64,
        t.elapsed()
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    if want("plan") {
        bench_plan();
    }
    if want("append") {
        bench_append();
    }
    if want("replay") {
        bench_replay();
    }
    if want("record") {
        bench_record();
    }
}
