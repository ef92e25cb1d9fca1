//! What `deploy/` ships, checked by the tools operators use: promtool on the rules and their
//! unit tests and on muster's own /metrics, systemd-analyze on the unit's hardening.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use crate::*;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a tool; its exit status and everything it printed.
fn run(tool_name: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(tool(tool_name))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = repo("deploy/prometheus/muster-rules.yaml");
    let (ok, out) = run(
        "promtool",
        &["check", "rules", rules.to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 9 rules found"), "{out}");
    let tests = repo("deploy/prometheus/muster-rules.test.yaml");
    let (ok, out) = run(
        "promtool",
        &["test", "rules", tests.to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_check_metrics_finds_nothing_in_musters_metrics() {
    let sb = start(demo()).await;
    let dir = scratch("promtool");
    let desired = repo("config/accounts.example.yaml");
    let settings = format!("desired_state: {}\n", desired.display());
    let d = Daemon::start(&sb.endpoint(), &dir, &settings, &[]);
    // After a pass every family has samples: gauges per graph, counters per operation.
    d.wait_for(
        "muster_passes_total{result=\"ok\"}",
        1.0,
        Duration::from_secs(60),
    )
    .await;
    let text = d.metrics().unwrap();
    for family in [
        "muster_declared_accounts",
        "muster_members",
        "muster_drift",
        "muster_graph_member_utilization_ratio",
        "muster_graph_volume_utilization_ratio",
        "muster_pass_duration_seconds",
        "muster_last_successful_pass_timestamp_seconds",
        "muster_aws_requests_total",
        "muster_desired_state_valid",
        "muster_desired_state_info",
        "muster_changes_total",
        "muster_eventlog_size_bytes",
        "muster_events_appended_total",
        "muster_schedule_interval_seconds",
        "process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    let (ok, out) = run("promtool", &["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics failed:\n{out}");
    assert_eq!(out, "", "promtool check metrics reported problems");
    // Labels never carry an account id or an email.
    let account = regex::Regex::new(r#"="\d{12}""#).unwrap();
    assert!(
        !account.is_match(&text),
        "an account id is a label value:\n{text}"
    );
    assert!(!text.contains('@'), "an email is in the metrics:\n{text}");
}

#[test]
fn the_systemd_unit_scores_2_or_lower() {
    let unit = repo("deploy/systemd/muster.service");
    let (_, out) = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            "--no-pager",
            unit.to_str().unwrap(),
        ],
        None,
    );
    let score: f64 = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for muster.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{out}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{out}");
}
