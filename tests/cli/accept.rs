//! Central acceptance through assumed roles (`member_role`), end to end: the muster binary
//! against the sandbox's STS, Detective and Security Hub, one process and one pass.

use std::collections::BTreeMap;
use std::path::Path;

use muster_sandbox::fixture;
use muster_sandbox::world::{DetectiveStatus, HubMemberStatus};
use muster_sandbox::{FaultConfig, FaultRule, Sandbox};

use crate::common::*;

const ADMIN: &str = "222222222222";
/// The access key muster acts with: the IAM user `muster` in `ADMIN` (AWS lets no account
/// root assume a role).
const ADMIN_USER_KEY: &str = "AKIAACCEPTADMINUSER";
const ROLE: &str = "arn:aws:iam::{account}:role/MusterMember";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn member(i: usize) -> String {
    format!("{}", 500_000_000_000u64 + i as u64)
}

/// An organization of two (management, and the security account that administers both
/// services) and `n` accounts outside it, reached by invitation. Every member has the role
/// but `without_role`; `session_seconds` shortens every credential STS issues.
fn world(n: usize, without_role: &[usize], session_seconds: Option<u64>) -> fixture::Fixture {
    let mut text = format!(
        "regions: [{}]\norganization:\n  management_account: \"111111111111\"\n  accounts:\n    - {{id: \"111111111111\", email: m@example.com}}\n    - {{id: \"{ADMIN}\", email: s@example.com}}\nexternal_accounts:\n",
        REGIONS.join(", ")
    );
    for i in 1..=n {
        text += &format!(
            "  - {{id: \"{}\", email: \"root+{i}@example.com\"}}\n",
            member(i)
        );
    }
    let with_role: Vec<String> = (1..=n)
        .filter(|i| !without_role.contains(i))
        .map(|i| format!("\"{}\"", member(i)))
        .collect();
    text += &format!(
        "roles:\n  - {{name: MusterMember, accounts: [{}], trusted: [\"{ADMIN}\"]}}\n",
        with_role.join(", ")
    );
    text +=
        &format!("users: [{{account: \"{ADMIN}\", name: muster, access_key: {ADMIN_USER_KEY}}}]\n");
    if let Some(s) = session_seconds {
        text += &format!("sts: {{session_seconds: {s}}}\n");
    }
    text += &format!("detective: {{administrator: \"{ADMIN}\"}}\nsecurityhub: {{administrator: \"{ADMIN}\", enabled: all}}\n");
    fixture::parse("accept.yaml", &text).unwrap()
}

fn write_desired(dir: &Path, n: usize) -> std::path::PathBuf {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 1..=n {
        text += &format!(
            "  - {{id: \"{}\", email: \"root+{i}@example.com\"}}\n",
            member(i)
        );
    }
    let graphs: Vec<String> = REGIONS.iter().map(|r| format!("{{region: {r}}}")).collect();
    text += &format!(
        "detective:\n  graphs: [{}]\nsecurityhub:\n  regions: [{}]\n",
        graphs.join(", "),
        REGIONS.join(", ")
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn muster(sb: &Sandbox, dir: &Path, desired: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = muster_command(&sb.endpoint(), ADMIN_USER_KEY);
    cmd.args(args)
        .arg("--desired-state")
        .arg(desired)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--member-role")
        .arg(ROLE);
    outcome(&mut cmd)
}

/// Calls by (service, operation, status).
type ByOperation = BTreeMap<(String, String, u16), usize>;
/// Calls by (operation, caller).
type ByCaller = BTreeMap<(String, String), usize>;

/// Calls by (service, operation, status), and by (operation, caller).
fn tally(sb: &Sandbox) -> (ByOperation, ByCaller) {
    let mut by_op = BTreeMap::new();
    let mut by_caller = BTreeMap::new();
    for c in sb.calls().calls {
        *by_op
            .entry((c.service.clone(), c.operation.clone(), c.status))
            .or_default() += 1;
        let caller = c.caller.clone().unwrap_or_default();
        *by_caller.entry((c.operation.clone(), caller)).or_default() += 1;
    }
    (by_op, by_caller)
}

fn key(s: &str, o: &str, status: u16) -> (String, String, u16) {
    (s.into(), o.into(), status)
}

/// Each region's member statuses as the administrator sees them, by account.
fn statuses(sb: &Sandbox) -> Vec<(String, String, String, String)> {
    sb.with_world(|w| {
        let mut out = Vec::new();
        for (region, r) in &w.regions {
            for g in r.graphs.values().filter(|g| g.administrator == ADMIN) {
                for (id, m) in &g.members {
                    out.push((
                        "detective".into(),
                        region.clone(),
                        id.clone(),
                        format!("{:?}", m.status),
                    ));
                }
            }
            for (id, m) in r.hub_members.get(ADMIN).into_iter().flatten() {
                out.push((
                    "securityhub".into(),
                    region.clone(),
                    id.clone(),
                    format!("{:?}", m.status),
                ));
            }
        }
        out
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_accepts_120_invitations_in_2_regions_through_assumed_roles() {
    const N: usize = 120;
    let sb = start(world(N, &[], None)).await;
    let dir = scratch("one_pass");
    let desired = write_desired(dir.as_path(), N);
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let (by_op, by_caller) = tally(&sb);
    let count = |s, o| by_op.get(&key(s, o, 200)).copied().unwrap_or(0);
    // Once for muster's own account; once per member for its role.
    assert_eq!(count("sts", "GetCallerIdentity"), 1);
    assert_eq!(count("sts", "AssumeRole"), N);
    // One accept per graph and account; per region and account, the member's invitations
    // listed and the one from muster's account accepted.
    assert_eq!(count("detective", "AcceptInvitation"), 2 * N);
    assert_eq!(count("securityhub", "ListInvitations"), 2 * N);
    assert_eq!(count("securityhub", "AcceptAdministratorInvitation"), 2 * N);
    assert!(
        by_op.keys().all(|(_, _, status)| *status == 200),
        "every call succeeded: {by_op:?}"
    );
    for i in 1..=N {
        let m = member(i);
        for op in [
            "AcceptInvitation",
            "ListInvitations",
            "AcceptAdministratorInvitation",
        ] {
            let seen = by_caller.get(&(op.to_owned(), m.clone())).copied();
            assert_eq!(seen, Some(2), "{op} as {m}: one per graph or region");
        }
    }
    assert_eq!(by_caller[&("AssumeRole".to_owned(), ADMIN.to_owned())], N);
    // Every member is enabled, in both graphs and both hubs.
    let all = statuses(&sb);
    assert_eq!(all.len(), 4 * N);
    for (service, region, id, status) in &all {
        let want = if service == "detective" {
            format!("{:?}", DetectiveStatus::Enabled)
        } else {
            format!("{:?}", HubMemberStatus::Enabled)
        };
        assert_eq!(status, &want, "{service} {region} {id}");
    }
    // Each accept is an intent before and an outcome after.
    let events = events_json(&dir.as_path().join("state"), &[]);
    let accepts = |kind: &str| {
        let accept = ["AcceptInvitation", "AcceptAdministratorInvitation"];
        (events.iter())
            .filter(|e| e["type"] == kind && accept.contains(&e["action"].as_str().unwrap_or("")))
            .count()
    };
    assert_eq!(
        (accepts("action_intent"), accepts("action_result")),
        (4 * N, 4 * N)
    );

    sb.reset_calls();
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["plan"]);
    assert_eq!(code, 0, "nothing left to do:\n{out}\n{err}");
    assert!(
        !out.contains("member_role_denied") && !out.contains("accept "),
        "{out}"
    );
    let (by_op, _) = tally(&sb);
    assert_eq!(
        by_op.get(&key("sts", "AssumeRole", 200)),
        None,
        "no invitation waits: no role assumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_role_is_denied_is_drift_and_does_not_stop_the_others() {
    const N: usize = 12;
    const DENIED: usize = 7;
    let sb = start(world(N, &[DENIED], None)).await;
    let dir = scratch("denied");
    let desired = write_desired(dir.as_path(), N);
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["apply"]);
    assert_eq!(code, 1, "the denied accepts are failures:\n{out}\n{err}");

    let (by_op, by_caller) = tally(&sb);
    assert_eq!(by_op[&key("sts", "AssumeRole", 200)], N - 1);
    // Refused once: the refusal is remembered for the other graph and the hubs.
    assert_eq!(by_op[&key("sts", "AssumeRole", 403)], 1);
    assert_eq!(
        by_op[&key("detective", "AcceptInvitation", 200)],
        2 * (N - 1)
    );
    assert_eq!(
        by_op[&key("securityhub", "AcceptAdministratorInvitation", 200)],
        2 * (N - 1)
    );
    let denied = member(DENIED);
    assert_eq!(
        by_caller.get(&("AcceptInvitation".to_owned(), denied.clone())),
        None
    );
    let events = events_json(&dir.as_path().join("state"), &[]);
    let failed: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["type"] == "action_failed" && e["code"] == "AccessDenied")
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 4, "one per graph and hub: {failed:?}");

    // The next look: the member still waits, as drift, and nothing else is to do.
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["plan"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let drift: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("member_role_denied"))
        .collect();
    assert_eq!(drift.len(), 4, "{out}");
    assert!(drift.iter().all(|l| l.contains(&denied)), "{out}");
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let events = events_json(&dir.as_path().join("state"), &[]);
    let observed = events
        .iter()
        .filter(|e| e["type"] == "drift_observed" && e["kind"] == "member_role_denied")
        .filter(|e| e["account"] == denied.as_str())
        .count();
    assert_eq!(observed, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_refreshed_during_a_pass_longer_than_their_lifetime() {
    // Credentials of 1 second. Members 1..=4 wait invited from the start, so the pass assumes
    // their roles while it observes; 5 and 6 are new, and Security Hub's InviteMembers takes
    // 2.5 s, so every role assumed at the start is past its refresh (a quarter of its lifetime
    // early) when the pass comes to accept.
    const WAITING: usize = 4;
    const N: usize = 6;
    let mut f = world(N, &[], Some(1));
    let raw = fixture::parse(
        "waiting.yaml",
        &format!(
            "regions: [{}]\nexternal_accounts:\n{}detective:\n  graphs_for: [\"{ADMIN}\"]\n  members:\n{}securityhub:\n  members:\n{}",
            REGIONS.join(", "),
            (1..=N)
                .map(|i| format!("  - {{id: \"{}\", email: \"root+{i}@example.com\"}}\n", member(i)))
                .collect::<String>(),
            (1..=WAITING)
                .flat_map(|i| REGIONS.map(|r| format!("    - {{administrator: \"{ADMIN}\", region: {r}, account_id: \"{}\", email: \"root+{i}@example.com\", status: INVITED}}\n", member(i))))
                .collect::<String>(),
            (1..=WAITING)
                .flat_map(|i| REGIONS.map(|r| format!("    - {{administrator: \"{ADMIN}\", region: {r}, account_id: \"{}\", status: Invited}}\n", member(i))))
                .collect::<String>(),
        ),
    )
    .unwrap();
    // The waiting members, as the second fixture sets them up, moved into the first world.
    for (region, r) in raw.world.regions {
        let mine = f.world.region_mut(&region);
        for (arn, g) in r.graphs {
            let graph = mine
                .graphs
                .values_mut()
                .find(|x| x.administrator == g.administrator);
            match graph {
                Some(x) => x.members.extend(g.members),
                None => {
                    mine.graphs.insert(arn, g);
                }
            }
        }
        for (admin, ms) in r.hub_members {
            mine.hub_members.entry(admin).or_default().extend(ms);
        }
    }
    f.faults = FaultConfig {
        seed: 7,
        rules: vec![FaultRule {
            service: Some("securityhub".into()),
            operation: Some("InviteMembers".into()),
            latency_ms: 2500,
            ..FaultRule::default()
        }],
        garble_next: vec![],
        fail_next: Vec::new(),
    };
    let sb = start(f).await;
    let dir = scratch("refresh");
    let desired = write_desired(dir.as_path(), N);
    let (code, out, err) = muster(&sb, dir.as_path(), &desired, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (by_op, _) = tally(&sb);
    assert!(
        by_op.keys().all(|(_, _, status)| *status == 200),
        "no call was refused, none with expired credentials: {by_op:?}"
    );
    assert_eq!(by_op[&key("detective", "AcceptInvitation", 200)], 2 * N);
    assert_eq!(
        by_op[&key("securityhub", "AcceptAdministratorInvitation", 200)],
        2 * N
    );
    // The waiting members' roles, assumed while observing and once more to accept; the new
    // members' once.
    assert_eq!(
        by_op[&key("sts", "AssumeRole", 200)],
        2 * WAITING + (N - WAITING)
    );
    let all = statuses(&sb);
    assert_eq!(all.len(), 4 * N);
    assert!(all.iter().all(|(.., s)| s == "Enabled"), "{all:?}");
}

/// aws-config's web-identity path (IRSA on EKS: `AWS_ROLE_ARN` and a token file, no keys)
/// against the sandbox's STS: muster acts as the role's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muster_runs_on_a_web_identity() {
    let sb = start(demo()).await;
    let dir = scratch("irsa");
    let token = dir.join("token");
    // A JWT: header, claims, signature (the sandbox checks its shape and `exp`, not its signature).
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2VjdXJpdHk6bXVzdGVyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln",
    )
    .unwrap();
    let desired = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/accounts.example.yaml");
    let mut cmd = muster_command(&sb.endpoint(), ADMIN);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env(
            "AWS_ROLE_ARN",
            format!("arn:aws:iam::{ADMIN}:role/MusterIrsa"),
        )
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_SESSION_NAME", "muster")
        .arg("plan")
        .arg("--desired-state")
        .arg(&desired)
        .arg("--state-dir")
        .arg(dir.join("state"));
    let (code, out, err) = outcome(&mut cmd);
    assert_eq!(code, 2, "the demo has changes to make:\n{out}\n{err}");
    let calls = sb.calls().calls;
    assert_eq!(
        (
            calls[0].service.as_str(),
            calls[0].operation.as_str(),
            calls[0].caller.as_deref()
        ),
        ("sts", "AssumeRoleWithWebIdentity", None)
    );
    assert_eq!(calls.iter().filter(|c| c.service == "sts").count(), 1);
    assert!(
        calls[1..]
            .iter()
            .all(|c| c.caller.as_deref() == Some(ADMIN) && c.status == 200),
        "every other call as the role's account"
    );
}
