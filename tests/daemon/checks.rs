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

/// `promtool ARGS FILE`, which must succeed: what it printed.
fn promtool(args: &[&str], file: &Path) -> String {
    let (ok, out) = run(
        "promtool",
        &[args, &[file.to_str().unwrap()]].concat(),
        None,
    );
    assert!(ok, "{out}");
    out
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = repo("deploy/prometheus/muster-rules.yaml");
    let out = promtool(&["check", "rules"], &rules);
    assert!(out.contains("SUCCESS: 21 rules found"), "{out}");
    // Every alert has a unit test.
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let tests_text =
        std::fs::read_to_string(repo("deploy/prometheus/muster-rules.test.yaml")).unwrap();
    for line in rules_text.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests_text.contains(&format!("alertname: {name}\n")),
                "{name} has no promtool test"
            );
        }
    }
    let tests = repo("deploy/prometheus/muster-rules.test.yaml");
    let out = promtool(&["test", "rules"], &tests);
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
    // Every metric the alerts and the dashboard use is one muster exports: the daemon above
    // manages members; the member-side series come from a muster in member mode.
    let member = muster::desired::parse_files(&[(
        "member.yaml".into(),
        "version: 1\nmember:\n  expected_administrators: [\"111111111111\"]\n  regions: [us-east-1]\n".into(),
    )])
    .unwrap();
    let report = muster::reconcile::PassReport::default();
    let member_metrics = muster::metrics::Metrics::new();
    member_metrics.pass_finished(
        muster::reconcile::PassResult::Ok,
        std::time::Duration::ZERO,
        Some(muster::metrics::Gauges::of(&member, &report)),
    );
    let member_text = member_metrics.encode();
    let (ok, out) = run("promtool", &["check", "metrics"], Some(&member_text));
    assert!(
        ok && out.is_empty(),
        "promtool check metrics (member mode):\n{out}"
    );
    let text = format!("{text}{member_text}");
    let names = regex::Regex::new(r"\bmuster_[a-z_]+").unwrap();
    for file in [
        "deploy/prometheus/muster-rules.yaml",
        "deploy/grafana/muster-dashboard.json",
    ] {
        let text_of_file = std::fs::read_to_string(repo(file)).unwrap();
        for name in names.find_iter(&text_of_file) {
            let name = name.as_str();
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{file} uses {name}, which muster does not export"
            );
        }
    }
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

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo(path)).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_prometheus_rule_for_the_operator_carries_the_same_rules() {
    let rules = yaml("deploy/prometheus/muster-rules.yaml");
    let crd = yaml("deploy/kubernetes/base/prometheusrule.yaml");
    assert_eq!(crd["kind"], "PrometheusRule");
    assert_eq!(crd["spec"]["groups"], rules["groups"]);
}

#[test]
fn the_kubernetes_manifests_run_one_restricted_non_root_writer_with_probes() {
    let k = yaml("deploy/kubernetes/base/kustomization.yaml");
    for r in k["resources"].as_sequence().unwrap() {
        yaml(&format!("deploy/kubernetes/base/{}", r.as_str().unwrap()));
    }
    let ns = yaml("deploy/kubernetes/base/namespace.yaml");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let sa = yaml("deploy/kubernetes/base/serviceaccount.yaml");
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string());
    let ss = yaml("deploy/kubernetes/base/statefulset.yaml");
    assert_eq!(ss["kind"], "StatefulSet");
    assert_eq!(ss["spec"]["replicas"], 1);
    let pod = &ss["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    // Settings in the image's ConfigMap are valid muster settings.
    for settings in [
        "deploy/kubernetes/base/muster.yaml",
        "deploy/kubernetes/overlays/git-sync/muster.yaml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["validate", "--config"])
            .arg(repo(settings))
            .arg("--desired-state")
            .arg(repo("deploy/kubernetes/overlays/configmap/accounts.yaml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{settings}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let overlay = yaml("deploy/kubernetes/overlays/git-sync/kustomization.yaml");
    assert_eq!(overlay["resources"][0], "../../base");
    yaml("deploy/kubernetes/overlays/git-sync/statefulset-git-sync.yaml");
}

/// The first number in `text` (digits, commas and a point).
fn number_in(text: &str) -> f64 {
    let start = text.find(|c: char| c.is_ascii_digit()).unwrap();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .filter(|c| *c != ',')
        .collect();
    digits.trim_end_matches('.').parse().unwrap()
}

/// README's "Sizing" gives a formula from the scale bench and a table; the shipped limits are
/// the table's largest row, and the manifests' comments give the same formula.
#[test]
fn the_shipped_memory_limits_follow_readmes_sizing() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let sizing = readme.split("### Sizing").nth(1).unwrap();
    let sizing = &sizing[..sizing.find("\n### ").unwrap()];
    let formula = sizing.split("**").nth(1).unwrap();
    let (base, per) = formula.split_once(" + ").unwrap();
    let (base_mib, per_kib) = (number_in(base), number_in(per));
    let rows: Vec<Vec<&str>> = (sizing.lines())
        .filter(|l| l.starts_with("| ") && l.as_bytes()[2].is_ascii_digit())
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{sizing}");
    for row in &rows {
        let members = number_in(row[1]);
        let busiest = number_in(row[3]);
        let limit = number_in(row[5]);
        let by_formula = base_mib + per_kib * members / 1024.0;
        assert!(
            (busiest - by_formula).abs() <= 0.03 * busiest,
            "{members} members: the table says {busiest} MiB, the formula {by_formula:.1}"
        );
        assert!(
            limit >= 1.5 * busiest,
            "{members} members: limit {limit} MiB"
        );
    }
    let largest = number_in(rows[1][5]);
    assert_eq!(largest, 256.0);
    let ss = yaml("deploy/kubernetes/base/statefulset.yaml");
    let limits = &ss["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert_eq!(limits["memory"], format!("{largest}Mi").as_str());
    let unit = std::fs::read_to_string(repo("deploy/systemd/muster.service")).unwrap();
    assert!(
        unit.contains(&format!("\nMemoryMax={largest}M\n")),
        "{unit}"
    );
    assert!(sizing.contains(&format!("`limits.memory` is {largest}Mi")));
    assert!(sizing.contains(&format!("`MemoryMax` is {largest}M")));
    let formula = format!("{base} + {per}");
    for shipped in [
        "deploy/systemd/muster.service",
        "deploy/kubernetes/base/statefulset.yaml",
    ] {
        let text = std::fs::read_to_string(repo(shipped)).unwrap();
        assert!(text.contains(&formula), "{shipped} does not say {formula}");
    }
}

/// The IAM actions of `policy` (a file under deploy/iam), sorted.
fn policy_actions(policy: &serde_json::Value) -> Vec<String> {
    let mut allowed: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    allowed.sort();
    allowed
}

/// Runs `muster apply` on `desired` as `account` against `sb`; the operations it called, as
/// IAM names them (service:Operation), sorted.
fn apply_and_list_calls(
    sb: &muster_sandbox::Sandbox,
    dir: &Path,
    desired: &str,
    account: &str,
) -> Vec<String> {
    let state = dir.join("state");
    let state = ["--state-dir", state.to_str().unwrap()];
    run_and_list_calls(
        sb,
        dir,
        desired,
        account,
        &[&["apply"], &state[..]].concat(),
        0,
    )
}

/// Runs muster's `command` on `desired` (as `--desired-state`, for every command but
/// `import`, which reads no desired state) as `account` against `sb`, which must exit `code`;
/// the operations it called, as IAM names them (service:Operation), sorted.
fn run_and_list_calls(
    sb: &muster_sandbox::Sandbox,
    dir: &Path,
    desired: &str,
    account: &str,
    command: &[&str],
    code: i32,
) -> Vec<String> {
    std::fs::write(dir.join("desired.yaml"), desired).unwrap();
    sb.reset_calls();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    cmd.args(command);
    if command[0] != "import" {
        cmd.arg("--desired-state").arg(dir.join("desired.yaml"));
    }
    let out = cmd
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env("AWS_ACCESS_KEY_ID", account)
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut called: Vec<String> = sb
        .calls()
        .counts
        .iter()
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect();
    called.sort();
    called.dedup();
    called
}

/// The operations central configuration calls in a world of its own: `apply` of the central
/// example from local configuration, then, after drift made behind muster's back (a Region
/// unlinked, a policy's standards changed, a policy nobody declares associated with an
/// account), `apply` with prune; or (`writes` false) `plan` before and after the first apply.
async fn central_calls(writes: bool) -> Vec<String> {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = Duration::ZERO);
    let dir = scratch("iam-central");
    let example = std::fs::read_to_string(repo("config/central.example.yaml")).unwrap();
    let apply = [
        "apply",
        "--state-dir",
        "state",
        "--max-removals-per-pass",
        "20",
    ];
    let mut called = run_and_list_calls(&sb, &dir, &example, SECURITY, &["plan"], 2);
    let applied = run_and_list_calls(&sb, &dir, &example, SECURITY, &apply, 0);
    if writes {
        called.extend(applied);
    }
    sb.with_world(|w| {
        use muster_sandbox::central::{Configuration, Policy, Target};
        let now = std::time::SystemTime::now();
        for a in w.central.aggregators.values_mut() {
            a.regions.clear();
        }
        let baseline = w
            .central
            .policies
            .values_mut()
            .find(|p| p.name == "baseline")
            .unwrap();
        baseline.body["EnabledStandardIdentifiers"] = serde_json::json!([]);
        let rogue = Policy {
            id: "00000000-0000-4000-a000-000000000001".into(),
            arn: "arn:rogue".into(),
            name: "rogue".into(),
            description: None,
            created: now,
            updated: now,
            body: serde_json::json!({"ServiceEnabled": true}),
        };
        w.central.policies.insert(rogue.id.clone(), rogue);
        let target = Target::Account("300000000005".into());
        w.central.applied.insert(
            target,
            Configuration::Policy("00000000-0000-4000-a000-000000000001".into()),
        );
        w.reassociate(None, now, 0);
    });
    if writes {
        let pruning = example.replace(
            "    home_region: us-east-1\n",
            "    home_region: us-east-1\n    prune: true\n",
        );
        assert_ne!(pruning, example);
        called.extend(run_and_list_calls(&sb, &dir, &pruning, SECURITY, &apply, 0));
    } else {
        called.extend(run_and_list_calls(
            &sb,
            &dir,
            &example,
            SECURITY,
            &["plan"],
            2,
        ));
    }
    called
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iam_policy_allows_exactly_the_operations_muster_calls() {
    let sb = start(demo()).await;
    let dir = scratch("iam");
    // The organization example, pruning: 500000000004 and 500000000005 are undeclared members
    // of the us-east-1 graph, and a stray member is put in the us-east-1 Security Hub.
    sb.with_world(|w| {
        let hub = hub_members_in(w, "us-east-1", SECURITY);
        let enabled = muster_sandbox::world::HubMemberStatus::Enabled;
        hub.insert(
            "500000000005".into(),
            hub_member("500000000005", None, enabled),
        );
    });
    let example = std::fs::read_to_string(repo("config/organization.example.yaml")).unwrap();
    let pruning = example.replace("  prune: false", "  prune: true");
    assert_eq!(pruning.matches("prune: true").count(), 2);
    // Twice: the members the first pass enables have their data sources read by the second.
    let mut called = apply_and_list_calls(&sb, &dir, &pruning, SECURITY);
    called.extend(apply_and_list_calls(&sb, &dir, &pruning, SECURITY));
    // And central configuration, every write included.
    called.extend(central_calls(true).await);
    called.sort();
    called.dedup();
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("deploy/iam/policy.json")).unwrap())
            .unwrap();
    assert_eq!(policy_actions(&policy), called);
    // Deletes only in their own statement, for prune.
    let prune = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "PruneMembers")
        .unwrap();
    assert_eq!(
        prune["Action"],
        serde_json::json!([
            "detective:DeleteMembers",
            "securityhub:DisassociateMembers",
            "securityhub:DeleteMembers"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_policy_allows_exactly_what_plan_calls_and_nothing_that_writes() {
    let sb = start(demo()).await;
    let dir = scratch("iam-readonly");
    let example = std::fs::read_to_string(repo("config/organization.example.yaml")).unwrap();
    // Before and after an apply: a plan of a converged world reads the members' data sources
    // too.
    let plan = ["plan"];
    let mut called = run_and_list_calls(&sb, &dir, &example, SECURITY, &plan, 2);
    apply_and_list_calls(&sb, &dir, &example, SECURITY);
    called.extend(run_and_list_calls(&sb, &dir, &example, SECURITY, &plan, 0));
    called.extend(central_calls(false).await);
    called.sort();
    called.dedup();
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/iam/readonly-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(policy_actions(&policy), called);
    let reads = ["List", "Describe", "BatchGet", "Get"];
    for action in &called {
        let op = action.split(':').nth(1).unwrap();
        assert!(reads.iter().any(|r| op.starts_with(r)), "{action} writes");
    }
    // `muster import` needs nothing more.
    let import = [
        "import",
        "--regions",
        "us-east-1,eu-west-1",
        "--organization",
    ];
    let imported = run_and_list_calls(&sb, &dir, &example, SECURITY, &import, 0);
    let allowed = policy_actions(&policy);
    assert!(!imported.is_empty());
    for action in &imported {
        assert!(allowed.contains(action), "import calls {action}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_iam_policy_allows_exactly_the_operations_a_member_muster_calls() {
    const MEMBER: &str = "500000000001";
    let sb = start(demo()).await;
    let dir = scratch("iam-member");
    // The security account invites the member to its graph and its Security Hub in us-east-1;
    // an administrator nobody expects invites it in eu-west-1.
    add_to_graph(&sb, MEMBER, "security@partner-analytics.example.org").await;
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    hub.create_members()
        .account_details(
            aws_sdk_securityhub::types::AccountDetails::builder()
                .account_id(MEMBER)
                .build(),
        )
        .send()
        .await
        .unwrap();
    hub.invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    sb.with_world(|w| {
        use muster_sandbox::world::*;
        let now = std::time::SystemTime::now();
        let region = w.regions.get_mut("eu-west-1").unwrap();
        let arn = graph_arn("eu-west-1", "999999999999");
        let mut members = std::collections::BTreeMap::new();
        let email = "security@partner-analytics.example.org";
        let invited = graph_member(MEMBER, email, DetectiveStatus::Invited);
        members.insert(MEMBER.to_owned(), invited);
        region.graphs.insert(
            arn.clone(),
            Graph {
                members,
                ..Graph::new(arn, "999999999999", now, &Default::default())
            },
        );
        region
            .hub_members
            .entry("999999999999".into())
            .or_default()
            .insert(
                MEMBER.into(),
                HubMember {
                    invitation_id: Some("inv-unexpected".into()),
                    invited_at: Some(now),
                    ..hub_member(MEMBER, None, HubMemberStatus::Invited)
                },
            );
    });
    let example = std::fs::read_to_string(repo("config/member.example.yaml")).unwrap();
    let declining = example.replace("decline_unexpected: false", "decline_unexpected: true");
    assert_ne!(example, declining);
    let called = apply_and_list_calls(&sb, &dir, &declining, MEMBER);
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/iam/member-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(policy_actions(&policy), called);
}
