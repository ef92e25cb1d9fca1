//! The alerting promise end to end: a real Prometheus server scrapes `muster run` and evaluates
//! the shipped rules (their `for:` shortened to 1 s); the seeded drift shows in its gauges and
//! fires MusterDriftDetected; after muster reconciles and the member accounts accept, the drift
//! falls to 0 and the alert resolves.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use muster_sandbox::fixture;

use crate::common::*;
use crate::*;

/// One graph in us-east-1; three accounts outside the organization to invite, and a member
/// nobody declared.
const WORLD: &str = r#"
regions: [us-east-1]
organization:
  id: o-e2eprom0001
  root_id: r-e2e1
  management_account: "111111111111"
  organizational_units: []
  accounts:
    - {id: "111111111111", name: management, email: mgmt@example.com}
    - {id: "222222222222", name: security, email: security@example.com}
external_accounts:
  - {id: "500000000001", name: one, email: one@example.org}
  - {id: "500000000002", name: two, email: two@example.org}
  - {id: "500000000003", name: three, email: three@example.org}
  - {id: "500000000009", name: stray, email: stray@example.org}
detective:
  administrator: "222222222222"
  verification_delay_ms: 0
  members:
    - {administrator: "222222222222", region: us-east-1, account_id: "500000000009", email: stray@example.org, status: ENABLED}
"#;

const DESIRED: &str = r#"version: 1
accounts:
  - {id: "500000000001", email: one@example.org}
  - {id: "500000000002", email: two@example.org}
  - {id: "500000000003", email: three@example.org}
detective:
  graphs: [{region: us-east-1}]
  prune: true
"#;

struct Prometheus {
    _child: Reaped,
    port: u16,
}

impl Prometheus {
    /// Prometheus with the shipped rules, every `for:` cut to 1 s, scraping `target` each second.
    fn start(dir: &Path, target: u16) -> Prometheus {
        let rules = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/muster-rules.yaml"),
        )
        .unwrap();
        let shortened = regex::Regex::new(r"(?m)^(\s+for:) \S+$")
            .unwrap()
            .replace_all(&rules, "$1 1s");
        assert!(shortened.matches("for: 1s").count() >= 8, "{shortened}");
        std::fs::write(dir.join("rules.yaml"), shortened.as_ref()).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 rule_files: [rules.yaml]\n\
                 scrape_configs:\n  - job_name: muster\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus {
            _child: Reaped(child),
            port,
        }
    }

    /// An instant query's result: (labels, value) per series.
    fn query(&self, promql: &str) -> Option<Vec<(serde_json::Value, f64)>> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http_get(self.port, &format!("/api/v1/query?query={q}"))?;
        if status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        Some(
            v["data"]["result"]
                .as_array()?
                .iter()
                .map(|r| {
                    (
                        r["metric"].clone(),
                        r["value"][1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// The one value of `promql`, if it has exactly one series.
    fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql)?.as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// Alerts in state `firing`, by name and kind label.
    fn firing(&self) -> Option<Vec<(String, String)>> {
        let (_, body) = http_get(self.port, "/api/v1/alerts")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        Some(
            v["data"]["alerts"]
                .as_array()?
                .iter()
                .filter(|a| a["state"] == "firing")
                .map(|a| {
                    (
                        a["labels"]["alertname"].as_str().unwrap_or("").to_owned(),
                        a["labels"]["kind"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_drift_fire_the_alert_and_resolve_after_reconcile() {
    let sb = start(fixture::parse("e2e.yaml", WORLD).unwrap()).await;
    let ep = sb.endpoint();
    let dir = scratch("prometheus");
    std::fs::write(dir.join("accounts.yaml"), DESIRED).unwrap();
    let settings = "desired_state: accounts.yaml\nschedule: \"* * * * * *\"\n";

    // Suspended first: drift is observed and reported, nothing is written.
    let mut muster = Daemon::start(&ep, &dir, settings, &["--suspend"]);
    let prom = Prometheus::start(&dir, muster.port);
    const LIMIT: Duration = Duration::from_secs(60);
    let drift = |kind: &str| {
        format!("muster_drift{{service=\"detective\",region=\"us-east-1\",kind=\"{kind}\"}}")
    };
    eventually(
        LIMIT,
        "Prometheus to see 3 missing and 1 undeclared",
        || {
            (prom.value(&drift("missing")) == Some(3.0)
                && prom.value(&drift("undeclared")) == Some(1.0))
            .then_some(())
        },
    )
    .await;
    assert_eq!(prom.value("muster_suspended"), Some(1.0));
    assert_eq!(prom.value("sum(muster_drift)"), Some(4.0));
    eventually(
        LIMIT,
        "MusterDriftDetected to fire for missing and undeclared",
        || {
            let mut f = prom.firing()?;
            f.retain(|(name, _)| name == "MusterDriftDetected");
            f.sort();
            (f == [
                ("MusterDriftDetected".to_owned(), "missing".to_owned()),
                ("MusterDriftDetected".to_owned(), "undeclared".to_owned()),
            ])
            .then_some(())
        },
    )
    .await;
    assert_eq!(member_writes(&sb), (0, 0), "suspended muster wrote");
    assert!(sb.calls().count("detective", "ListMembers") >= 1);
    assert!(muster.terminate().await.success(), "{}", muster.log());

    // Not suspended: muster invites the three and prunes the stray member.
    let port = muster.port;
    drop(muster);
    let muster = Daemon::start_on(&ep, &dir, settings, port);
    let members = |status: &str| {
        format!("muster_members{{service=\"detective\",region=\"us-east-1\",status=\"{status}\"}}")
    };
    eventually(LIMIT, "3 invited members and no drift", || {
        (prom.value(&members("invited")) == Some(3.0)
            && prom.value(&members("enabled")) == Some(0.0)
            && prom.value("sum(muster_drift)") == Some(0.0))
        .then_some(())
    })
    .await;
    assert_eq!(member_writes(&sb), (1, 1), "one batch of 3, one batch of 1");
    assert_eq!(
        prom.value("muster_changes_total{kind=\"invite\",outcome=\"ok\"}"),
        Some(3.0)
    );
    assert_eq!(
        prom.value("muster_changes_total{kind=\"remove\",outcome=\"ok\"}"),
        Some(1.0)
    );

    // The member accounts accept; the drift stays 0, they show as enabled, the alert resolves.
    let graph = graph(&detective(&sb, SECURITY, "us-east-1").await).await;
    for account in ["500000000001", "500000000002", "500000000003"] {
        detective(&sb, account, "us-east-1")
            .await
            .accept_invitation()
            .graph_arn(&graph)
            .send()
            .await
            .unwrap();
    }
    eventually(LIMIT, "3 enabled members, no drift, no drift alert", || {
        let firing = prom.firing()?;
        (prom.value(&members("enabled")) == Some(3.0)
            && prom.value(&members("invited")) == Some(0.0)
            && prom.value("sum(muster_drift)") == Some(0.0)
            && !firing.iter().any(|(n, _)| n == "MusterDriftDetected"))
        .then_some(())
    })
    .await;
    assert_eq!(
        sb.calls().count("detective", "CreateMembers"),
        1,
        "no second write"
    );
    assert_eq!(prom.value("muster_desired_state_valid"), Some(1.0));
    assert_eq!(prom.value("muster_suspended"), Some(0.0));
    assert!(
        prom.value("muster_passes_total{result=\"ok\"}").unwrap() >= 2.0,
        "passes ran on the schedule"
    );
    drop(muster);
    let _ = std::fs::remove_dir_all(&dir);
}
