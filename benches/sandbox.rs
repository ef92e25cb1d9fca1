//! How fast and how small the sandbox is, so that later benchmarks of muster measure muster and
//! not the emulator. Two measurements, both over real HTTP on loopback:
//!
//! - `memory`: resident memory of a world of 10,000 accounts in 16 regions, filled through the
//!   API (Security Hub members for every account, 1,200 Detective members per graph);
//! - `throughput`: ListMembers requests per second (200 members a page, no injected latency)
//!   from concurrent keep-alive connections.
//!
//! Run: `cargo bench --bench sandbox` (both), or `cargo bench --bench sandbox -- memory`.
//! The client runs in the same process on the same cores, so throughput is a lower bound.

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::REGIONS;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};
use muster_sandbox::Sandbox;

type Http = Client<HttpConnector, Full<Bytes>>;

fn auth(account: &str, region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={account}/20261123/{region}/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0"
    )
}

async fn call(
    http: &Http,
    endpoint: &str,
    method: &str,
    path: &str,
    auth: &str,
    body: String,
) -> (u16, Bytes) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{endpoint}{path}"))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request");
    let resp = http.request(req).await.expect("the sandbox answers");
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("a whole body")
        .to_bytes();
    (status, body)
}

/// Resident memory now, in MiB.
fn rss_mib() -> f64 {
    proc_status_mib("VmRSS:")
}

/// A memory figure of this process from /proc/self/status, in MiB.
fn proc_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn graph_arn(http: &Http, endpoint: &str, region: &str) -> String {
    let (status, body) = call(
        http,
        endpoint,
        "POST",
        "/graphs/list",
        &auth(GENERATED_SECURITY, region, "detective"),
        "{}".into(),
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["GraphList"][0]["Arn"].as_str().unwrap().to_owned()
}

fn account_id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

async fn memory(http: &Http) {
    let before = rss_mib();
    let t = Instant::now();
    let fixture = generate(&Generate {
        accounts: 10_000,
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        seed: 1,
    });
    let sb = Sandbox::start(fixture, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let endpoint = sb.endpoint();
    let mut calls = 0u64;
    for region in REGIONS {
        let hub_auth = auth(GENERATED_SECURITY, region, "securityhub");
        let ids: Vec<String> = (2..10_000).map(account_id).collect();
        for chunk in ids.chunks(50) {
            let details: Vec<_> = chunk
                .iter()
                .map(|id| serde_json::json!({"AccountId": id, "Email": format!("aws+{id}@example.com")}))
                .collect();
            let body = serde_json::json!({ "AccountDetails": details }).to_string();
            let (status, _) = call(http, &endpoint, "POST", "/members", &hub_auth, body).await;
            assert_eq!(status, 200);
            calls += 1;
        }
        let arn = graph_arn(http, &endpoint, region).await;
        let det_auth = auth(GENERATED_SECURITY, region, "detective");
        for chunk in ids[..1200].chunks(50) {
            let accounts: Vec<_> = chunk
                .iter()
                .map(|id| serde_json::json!({"AccountId": id, "EmailAddress": format!("aws+{id}@example.com")}))
                .collect();
            let body = serde_json::json!({ "GraphArn": arn, "Accounts": accounts }).to_string();
            let (status, _) =
                call(http, &endpoint, "POST", "/graph/members", &det_auth, body).await;
            assert_eq!(status, 200);
            calls += 1;
        }
    }
    sb.reset_calls();
    let after = rss_mib();
    let peak = proc_status_mib("VmHWM:");
    let world = sb.world_json();
    let hub_members: usize = REGIONS
        .iter()
        .map(|r| {
            world["regions"][r]["securityhub_members"][GENERATED_SECURITY]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    drop(world);
    println!("memory: 10,000 accounts x 16 regions");
    println!(
        "  filled through the API with {calls} CreateMembers calls in {:.1?}",
        t.elapsed()
    );
    println!(
        "  Security Hub members: {hub_members}; Detective members: {}",
        1200 * REGIONS.len()
    );
    println!(
        "  process RSS before: {before:.1} MiB, after: {after:.1} MiB (sandbox world: {:.1} MiB), peak while filling: {peak:.1} MiB",
        after - before
    );
    sb.shutdown().await;
}

async fn throughput(http: &Http) {
    let fixture = generate(&Generate {
        accounts: 1_000,
        regions: vec!["us-east-1".into()],
        seed: 1,
    });
    let sb = Sandbox::start(fixture, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let endpoint = sb.endpoint();
    let arn = graph_arn(http, &endpoint, "us-east-1").await;
    let det_auth = auth(GENERATED_SECURITY, "us-east-1", "detective");
    let ids: Vec<String> = (2..202).map(account_id).collect();
    for chunk in ids.chunks(50) {
        let accounts: Vec<_> = chunk
            .iter()
            .map(|id| serde_json::json!({"AccountId": id, "EmailAddress": "x@example.com"}))
            .collect();
        let body = serde_json::json!({ "GraphArn": arn, "Accounts": accounts }).to_string();
        let (status, _) = call(http, &endpoint, "POST", "/graph/members", &det_auth, body).await;
        assert_eq!(status, 200);
    }
    for (page, label) in [
        (200, "200 members a page (the most a call may ask)"),
        (100, "100 members a page (the default)"),
        (50, "50 members a page"),
    ] {
        let body = serde_json::json!({"GraphArn": arn, "MaxResults": page}).to_string();
        let done = Arc::new(AtomicU64::new(0));
        let concurrency = 16;
        let run_for = Duration::from_secs(5);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (http, endpoint, auth, body, done) = (
                http.clone(),
                endpoint.clone(),
                det_auth.clone(),
                body.clone(),
                done.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while start.elapsed() < run_for {
                    let (status, bytes) = call(
                        &http,
                        &endpoint,
                        "POST",
                        "/graph/members/list",
                        &auth,
                        body.clone(),
                    )
                    .await;
                    assert_eq!(status, 200);
                    assert!(bytes.len() > 1000);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let n = done.load(Ordering::Relaxed);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "throughput: ListMembers, {label}, {concurrency} keep-alive connections: {n} requests in {secs:.1} s = {:.0} requests/s",
            n as f64 / secs
        );
        assert_eq!(
            sb.calls().count_status("detective", "ListMembers", 200),
            n,
            "every request was served and logged"
        );
        sb.reset_calls();
    }
    sb.shutdown().await;
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http: Http = Client::builder(TokioExecutor::new()).build_http();
        println!(
            "machine: {} cores, {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/cpuinfo")
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("model name\t: "))
                .unwrap_or("unknown CPU")
        );
        if want("memory") {
            memory(&http).await;
        }
        if want("throughput") {
            throughput(&http).await;
        }
    });
}
