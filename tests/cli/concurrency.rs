//! Graphs and hubs in different regions are observed and applied at once under the defaults:
//! each sits behind its own regional endpoint. Shown by the sandbox's latency and its call
//! log (`in_flight`: the requests of the same operation it was handling when a call arrived), not by wall-clock
//! thresholds; `max_concurrent_graphs` stays an upper bound.

use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};
use muster_sandbox::{FaultConfig, FaultRule, Sandbox};

use crate::common::*;

const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// A world of 60 accounts in `REGIONS` where every Detective and Security Hub call takes
/// 400 ms: long enough that calls sent together are all in flight together.
async fn slow_world() -> Sandbox {
    let sb = start(generate(&Generate {
        accounts: 60,
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        seed: 21,
    }))
    .await;
    let slow = |service: &str| FaultRule {
        service: Some(service.into()),
        latency_ms: 400,
        ..FaultRule::default()
    };
    sb.set_faults(FaultConfig {
        seed: 1,
        rules: vec![slow("detective"), slow("securityhub")],
        garble_next: vec![],
        fail_next: vec![],
    })
    .unwrap();
    sb
}

/// `muster apply` of every graph and hub in `REGIONS` (the organization's accounts), with
/// `extra` arguments; then the most calls of each `operation` the sandbox had in flight at
/// once, and how many calls of it there were.
fn apply(sb: &Sandbox, extra: &[&str], operations: &[(&str, &str)]) -> Vec<(u32, usize)> {
    let dir = scratch(&format!("concurrency-{}", extra.len()));
    let graphs: Vec<String> = REGIONS.iter().map(|r| format!("{{region: {r}}}")).collect();
    let desired = format!(
        "version: 1\naccounts: []\norganization:\n  include: [{{root: true}}]\n  exclude: {{accounts: [\"{GENERATED_SECURITY}\"]}}\ndetective:\n  graphs: [{}]\nsecurityhub:\n  regions: [{}]\n",
        graphs.join(", "),
        REGIONS.join(", ")
    );
    std::fs::write(dir.join("d.yaml"), desired).unwrap();
    let out = muster_command(&sb.endpoint(), GENERATED_SECURITY)
        .args(["apply", "--desired-state"])
        .arg(dir.join("d.yaml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(extra)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let calls = sb.calls().calls;
    let _ = std::fs::remove_dir_all(&dir);
    operations
        .iter()
        .map(|(service, op)| {
            let of: Vec<_> = (calls.iter())
                .filter(|c| c.service == *service && c.operation == *op)
                .collect();
            (of.iter().map(|c| c.in_flight).max().unwrap_or(0), of.len())
        })
        .collect()
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_and_hubs_in_different_regions_are_observed_and_applied_at_once() {
    let ops = [
        ("detective", "ListGraphs"),
        ("detective", "ListMembers"),
        ("detective", "CreateMembers"),
        ("securityhub", "ListMembers"),
        ("securityhub", "CreateMembers"),
    ];
    // The defaults: every graph and every hub at once (8 of each call in flight). Within a
    // graph or hub the two CreateMembers batches go one after the other.
    let got = apply(&slow_world().await, &[], &ops);
    assert_eq!(
        got,
        [(8, 8), (8, 8), (8, 16), (8, 8), (8, 16)],
        "(most in flight, calls) of {ops:?}"
    );
    // The setting is an upper bound: 2 graphs and 2 hubs at a time.
    let limited = ["--max-concurrent-graphs", "2"];
    let got = apply(&slow_world().await, &limited, &ops);
    assert_eq!(got, [(2, 8), (2, 8), (2, 16), (2, 8), (2, 16)]);
}
