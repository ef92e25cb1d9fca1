//! The daemon's lifecycle: reload on a change (plain rename, ConfigMap `..data` swap, git-sync
//! `current` swap, the new commit recorded), a broken desired state, suspend, SIGTERM mid-pass,
//! single-flight.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use muster_sandbox::fixture::GENERATED_SECURITY;
use muster_sandbox::Sandbox;

use crate::common::*;
use crate::*;

/// Writes `text` to `path` the way editors and config tools do: a temporary file renamed over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Asserts that the `what` made at `since` reached AWS within 2 s: the CreateMembers after the
/// first `before`.
async fn applied_within_2s(sb: &Sandbox, d: &Daemon, before: u64, since: Instant, what: &str) {
    let took = eventually(LIMIT, "a CreateMembers call", || {
        (member_writes(sb).0 > before).then(|| since.elapsed())
    })
    .await;
    let log = d.log();
    assert!(
        took < Duration::from_secs(2),
        "{what} applied after {took:?}\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_applied_within_2_seconds_also_through_a_configmap_swap() {
    let sb = world(40, 11).await;
    let dir = scratch("reload");
    // A ConfigMap volume: accounts.yaml -> ..data/accounts.yaml, ..data -> ..2026_rev1.
    let cm = dir.join("cm");
    std::fs::create_dir_all(cm.join("..2026_rev1")).unwrap();
    std::fs::write(cm.join("..2026_rev1/accounts.yaml"), desired(2..7, false)).unwrap();
    std::os::unix::fs::symlink("..2026_rev1", cm.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/accounts.yaml", cm.join("accounts.yaml")).unwrap();
    let d = Daemon::watching(&sb, &dir, "cm/accounts.yaml");
    d.passes_ok(1.0).await;
    assert_eq!(member_writes(&sb), (1, 0));

    // The kubelet's swap: a new revision directory, a new link renamed over ..data.
    std::fs::create_dir_all(cm.join("..2026_rev2")).unwrap();
    std::fs::write(cm.join("..2026_rev2/accounts.yaml"), desired(2..12, false)).unwrap();
    std::os::unix::fs::symlink("..2026_rev2", cm.join("..data_tmp")).unwrap();
    let t = Instant::now();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    applied_within_2s(&sb, &d, 1, t, "swap").await;
    d.passes_ok(2.0).await;
    assert_eq!(
        member_writes(&sb),
        (2, 0),
        "one batch for the 5 new accounts"
    );

    // A file that is not a symlink, replaced by rename.
    std::fs::remove_file(cm.join("accounts.yaml")).unwrap();
    std::fs::write(cm.join("accounts.yaml"), desired(2..12, false)).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let t = Instant::now();
    replace(&cm.join("accounts.yaml"), &desired(2..15, false));
    applied_within_2s(&sb, &d, 2, t, "rename").await;
    d.passes_ok(3.0).await;
    // Startup, the swap, the rename; rewriting the same content ran no pass.
    assert_eq!(member_writes(&sb), (3, 0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sample(&d.metrics().unwrap(), "muster_passes_total{result=\"ok\"}"),
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_sync_link_swap_above_the_file_is_followed() {
    let sb = world(40, 11).await;
    let dir = scratch("gitsync");
    // git-sync: repo/current -> worktrees/<rev>, the desired state inside it.
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("worktrees/aaa")).unwrap();
    std::fs::write(
        repo.join("worktrees/aaa/accounts.yaml"),
        desired(2..7, false),
    )
    .unwrap();
    std::os::unix::fs::symlink("worktrees/aaa", repo.join("current")).unwrap();
    let d = Daemon::watching(&sb, &dir, "repo/current/accounts.yaml");
    d.passes_ok(1.0).await;
    std::fs::create_dir_all(repo.join("worktrees/bbb")).unwrap();
    std::fs::write(
        repo.join("worktrees/bbb/accounts.yaml"),
        desired(2..9, false),
    )
    .unwrap();
    std::os::unix::fs::symlink("worktrees/bbb", repo.join("current.tmp")).unwrap();
    let t = Instant::now();
    std::fs::rename(repo.join("current.tmp"), repo.join("current")).unwrap();
    applied_within_2s(&sb, &d, 1, t, "swap").await;
    // And again: the watch moved to the new worktree.
    d.passes_ok(2.0).await;
    let t = Instant::now();
    replace(
        &repo.join("worktrees/bbb/accounts.yaml"),
        &desired(2..11, false),
    );
    applied_within_2s(&sb, &d, 2, t, "edit").await;
}

/// The value of label `name` in a metrics line.
fn label_value(line: &str, name: &str) -> String {
    let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    line[start..].split('"').next().unwrap().to_owned()
}

/// The `muster_desired_state_info` series: (digest, revision) of each.
fn info_series(d: &Daemon) -> Vec<(String, String)> {
    let m = d.metrics().unwrap_or_default();
    (m.lines())
        .filter(|l| l.starts_with("muster_desired_state_info{"))
        .map(|l| (label_value(l, "digest"), label_value(l, "revision")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_sync_worktree_swap_is_a_new_revision_in_events_and_the_info_metric() {
    let sb = world(40, 11).await;
    let dir = scratch("gitsync-revision");
    // git-sync's layout, made by git itself: the repository, a detached work tree per commit
    // under .worktrees/<sha>, and the link the desired state is read through.
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let commit = |ids: std::ops::Range<usize>, message: &str| {
        std::fs::write(repo.join("accounts.yaml"), desired(ids, false)).unwrap();
        git(&repo, &["add", "accounts.yaml"]);
        git(&repo, &["commit", "-q", "-m", message]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);
        let tree = format!(".worktrees/{sha}");
        git(&repo, &["worktree", "add", "-q", "--detach", &tree, &sha]);
        sha
    };
    let first = commit(2..7, "first");
    std::os::unix::fs::symlink(format!(".worktrees/{first}"), repo.join("current")).unwrap();
    let mut d = Daemon::watching(&sb, &dir, "repo/current/accounts.yaml");
    d.passes_ok(1.0).await;
    // The digest covers the file's name as muster reads it: through the link.
    let digest_now = || {
        let f = dir.join("repo/current/accounts.yaml");
        muster::desired::load(&f).unwrap().digest
    };
    let first_digest = digest_now();
    assert_eq!(info_series(&d), vec![(first_digest.clone(), first.clone())]);

    // The next commit, swapped in as git-sync does: a new link renamed over the old one.
    let second = commit(2..9, "second");
    std::os::unix::fs::symlink(format!(".worktrees/{second}"), repo.join("current.tmp")).unwrap();
    std::fs::rename(repo.join("current.tmp"), repo.join("current")).unwrap();
    d.passes_ok(2.0).await;
    // One series: the revision in use.
    let second_digest = digest_now();
    assert_ne!(first_digest, second_digest);
    assert_eq!(
        info_series(&d),
        vec![(second_digest.clone(), second.clone())]
    );
    assert_eq!(d.terminate().await.code(), Some(0));

    let state = dir.join("state");
    let events = events_json(&state, &[]);
    let of = |sha: &str| events_json(&state, &["--revision", sha]);
    let (old, new) = (of(&first), of(&second));
    assert_eq!(old.len() + new.len(), events.len(), "{events:#?}");
    assert_eq!(events[..old.len()], old[..]);
    let passes = [
        (&old, &first, &first_digest, 5),
        (&new, &second, &second_digest, 7),
    ];
    for (events, sha, digest, accounts) in passes {
        assert_eq!(events[0]["type"], "desired_state_loaded");
        assert_eq!(events[0]["accounts"], accounts);
        assert_eq!(events[0]["digest"], digest.as_str());
        assert!(events.iter().all(|e| e["revision"] == sha.as_str()));
        assert!(events.iter().any(|e| e["type"] == "invite_result"));
    }
    assert_eq!(new.last().unwrap()["type"], "pass_finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_or_empty_desired_state_keeps_the_last_good_one_and_writes_nothing() {
    let sb = world(40, 11).await;
    let file = scratch_file("broken", "accounts.yaml", &desired(2..12, true));
    let dir = file.parent().unwrap();
    let d = Daemon::generated(
        &sb,
        dir,
        "desired_state: accounts.yaml\nschedule: \"* * * * * *\"\n",
    );
    // A first pass that ends past a second's tick is followed at once by the next one.
    d.wait_at_least("muster_passes_total{result=\"ok\"}", 1.0, LIMIT)
        .await;
    assert_eq!(member_writes(&sb), (1, 0));
    let good = sample_digest(&d);
    assert_eq!(http_get(d.port, "/readyz").unwrap().0, 200);

    // Ten more accounts, one of them with a 5-digit id: nothing of it may reach AWS.
    let broken = desired(2..22, true).replacen(&id(15), "12345", 1);
    replace(&file, &broken);
    d.wait_for("muster_desired_state_valid", 0.0, LIMIT).await;
    let (status, body) = http_get(d.port, "/readyz").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "not ready: the desired state is not valid (see the log)\n"
        )
    );
    // Scheduled passes go on with the last good state, which is converged: no writes.
    let ok = sample(&d.metrics().unwrap(), "muster_passes_total{result=\"ok\"}").unwrap();
    d.passes_ok(ok + 2.0).await;
    assert_eq!(
        member_writes(&sb),
        (1, 0),
        "a broken desired state reached AWS"
    );
    assert_eq!(sample_digest(&d), good);
    let located = format!(
        "problem={}:16:10: account id \"12345\" must be 12 digits (quote ids that start with 0)",
        file.display()
    );
    assert!(
        d.log().contains(&located),
        "the located error is logged:\n{}",
        d.log()
    );

    // An empty file is not "no accounts": prune is on, and still nothing is removed.
    replace(&file, "");
    let failures = sample(
        &d.metrics().unwrap(),
        "muster_desired_state_reload_failures_total",
    )
    .unwrap();
    eventually(LIMIT, "the empty file to count as a reload failure", || {
        let m = d.metrics()?;
        (sample(&m, "muster_desired_state_reload_failures_total")? > failures).then_some(())
    })
    .await;
    let ok = sample(&d.metrics().unwrap(), "muster_passes_total{result=\"ok\"}").unwrap();
    d.passes_ok(ok + 2.0).await;
    assert_eq!(
        member_writes(&sb),
        (1, 0),
        "an empty desired state removed members"
    );
    assert_eq!(
        sample(&d.metrics().unwrap(), "muster_desired_state_valid"),
        Some(0.0)
    );

    // Fixed: the new accounts go out in one batch.
    replace(&file, &desired(2..22, true));
    d.wait_for("muster_desired_state_valid", 1.0, LIMIT).await;
    eventually(LIMIT, "the fixed state to be applied", || {
        (member_writes(&sb) == (2, 0)).then_some(())
    })
    .await;
    assert_ne!(sample_digest(&d), good);
}

/// The digest label of muster_desired_state_info.
fn sample_digest(d: &Daemon) -> String {
    let m = d.metrics().unwrap();
    let line = m
        .lines()
        .find(|l| l.starts_with("muster_desired_state_info{"))
        .unwrap_or_else(|| panic!("no info metric:\n{m}"));
    line.split('"').nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_observes_and_records_drift_and_writes_nothing() {
    let sb = world(40, 11).await;
    let file = scratch_file("suspend", "accounts.yaml", &desired(2..12, true));
    let dir = file.parent().unwrap();
    let d = Daemon::generated(
        &sb,
        dir,
        "desired_state: accounts.yaml\nschedule: \"* * * * * *\"\nsuspend: true\n",
    );
    d.wait_for("muster_passes_total{result=\"suspended\"}", 3.0, LIMIT)
        .await;
    assert_eq!(member_writes(&sb), (0, 0));
    let m = d.metrics().unwrap();
    assert_eq!(sample(&m, "muster_suspended"), Some(1.0));
    assert_eq!(sample(&m, "muster_passes_total{result=\"ok\"}"), Some(0.0));
    let ev = events(dir);
    let drift: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["type"] == "drift_observed")
        .collect();
    assert_eq!(
        drift.len(),
        10,
        "each drift recorded once, not once per pass"
    );
    assert!(drift.iter().all(|e| e["kind"] == "missing"));
    assert!(!types(&ev)
        .iter()
        .any(|t| t == "invite_intent" || t == "removal_intent"));
    let outcomes: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "pass_finished")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.len() >= 3 && outcomes.iter().all(|o| *o == "suspended"),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_pass_exits_0_after_the_batch_in_flight_records_its_outcome() {
    let sb = world(200, 11).await;
    slow(&sb, "detective", "CreateMembers", 1500);
    let dir = scratch("sigterm");
    // 150 accounts: three batches of 50, each taking 1.5 s.
    std::fs::write(dir.join("accounts.yaml"), desired(2..152, false)).unwrap();
    let mut d = Daemon::watching(&sb, &dir, "accounts.yaml");
    eventually(LIMIT, "the first invite intent", || {
        types(&events(&dir))
            .iter()
            .any(|t| t == "invite_intent")
            .then_some(())
    })
    .await;
    let status = d.terminate().await;
    assert!(status.success(), "exit {status:?}\n{}", d.log());
    let ev = events(&dir);
    let batches = |kind: &str| -> Vec<String> {
        ev.iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["batch"].as_str().unwrap().to_owned())
            .collect()
    };
    let (intents, results) = (batches("invite_intent"), batches("invite_result"));
    assert_eq!(intents, results, "every intent has its outcome");
    assert!(
        !intents.is_empty() && intents.len() < 3,
        "stopped after the batch in flight: {intents:?}"
    );
    assert_eq!(member_writes(&sb).0, intents.len() as u64);
    let last = ev.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["outcome"].as_str()),
        (Some("pass_finished"), Some("interrupted"))
    );
    let log = d.log();
    assert!(
        log.contains("stopping: waiting for the batch in flight"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_changes_run_one_pass_at_a_time_and_the_last_change_is_applied() {
    let sb = world(60, 11).await;
    let dir = scratch("singleflight");
    let file = dir.join("accounts.yaml");
    std::fs::write(&file, desired(2..5, false)).unwrap();
    let d = Daemon::watching(&sb, &dir, "accounts.yaml");
    d.passes_ok(1.0).await;
    // Each pass now takes at least 400 ms (one ListMembers).
    slow(&sb, "detective", "ListMembers", 400);
    // 20 changes in 2 s, each a different desired state.
    for n in 0..20 {
        replace(&file, &desired(2..(6 + n), false));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let final_accounts = 6 + 19 - 2;
    let admin = detective(&sb, GENERATED_SECURITY, "us-east-1").await;
    let graph = graph(&admin).await;
    let mut members = 0;
    for _ in 0..100 {
        let listed = admin
            .list_members()
            .graph_arn(&graph)
            .max_results(200)
            .send()
            .await
            .unwrap();
        members = listed.member_details().len();
        if members == final_accounts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        members,
        final_accounts,
        "the last change was applied\n{}",
        d.log()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ev = events(&dir);
    // Runs never interleave: each run's events form one contiguous block.
    let mut seen = Vec::<String>::new();
    for e in &ev {
        let run = e["run"].as_str().unwrap().to_owned();
        if seen.last() != Some(&run) {
            assert!(!seen.contains(&run), "run {run} interleaved with another");
            seen.push(run);
        }
    }
    let passes = types(&ev).iter().filter(|t| *t == "pass_finished").count();
    // One startup pass; then the changes coalesce: a pass takes >= 400 ms, so 20 changes in
    // 2 s cannot each get their own.
    assert!((2..=8).contains(&passes), "{passes} passes for 20 changes");
    let last_loaded = ev
        .iter()
        .rev()
        .find(|e| e["type"] == "desired_state_loaded")
        .unwrap();
    assert_eq!(last_loaded["accounts"], final_accounts);
    let c = sb.calls();
    assert_eq!(c.count("detective", "DeleteMembers"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_1_naming_a_bad_schedule_or_a_busy_port() {
    let sb = world(10, 11).await;
    let dir = scratch("refuse");
    std::fs::write(dir.join("accounts.yaml"), desired(2..4, false)).unwrap();
    let mut d = Daemon::generated(
        &sb,
        &dir,
        "desired_state: accounts.yaml\nschedule: \"*/10 * * *\"\n",
    );
    let status = eventually(LIMIT, "muster to exit", || d.child.try_wait().unwrap()).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        d.log().contains("error: schedule \"*/10 * * *\" has 4 fields; write a cron schedule of 5 fields (minute hour day month weekday) or 6 (second first), e.g. \"*/10 * * * *\""),
        "{}",
        d.log()
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mut d = Daemon::start_on(&sb.endpoint(), &dir, "desired_state: accounts.yaml\n", port);
    let status = eventually(LIMIT, "muster to exit", || d.child.try_wait().unwrap()).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        d.log().contains(&format!(
            "error: cannot listen on 127.0.0.1:{port} (metrics_listen): "
        )),
        "{}",
        d.log()
    );
    assert_eq!(member_writes(&sb), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_status_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let sb = world(10, 11).await;
    let dir = scratch("notify");
    std::fs::write(dir.join("accounts.yaml"), desired(2..4, false)).unwrap();
    let socket = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("muster.yaml"),
        format!("desired_state: accounts.yaml\nstate_dir: state\nschedule: \"{YEARLY}\"\nmetrics_listen: \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["run", "--config"])
        .arg(dir.join("muster.yaml"))
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env("AWS_ACCESS_KEY_ID", GENERATED_SECURITY)
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("NOTIFY_SOCKET", dir.join("notify.sock"))
        .env("WATCHDOG_USEC", "200000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut heard = Vec::<String>::new();
    let listen = |heard: &mut Vec<String>, until: &dyn Fn(&[String]) -> bool| {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while !until(heard) {
            assert!(start.elapsed() < LIMIT, "heard only {heard:?}");
            if let Ok(n) = socket.recv(&mut buf) {
                heard.push(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
            }
        }
    };
    listen(&mut heard, &|h| {
        h.iter().any(|m| m.starts_with("STATUS=last pass ok"))
    });
    assert_eq!(heard[0], "READY=1", "{heard:?}");
    assert!(
        heard.contains(&"STATUS=last pass ok: drift 2, 2 invited, 0 removed".to_owned()),
        "{heard:?}"
    );
    listen(&mut heard, &|h| {
        h.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3
    });
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    listen(&mut heard, &|h| h.iter().any(|m| m == "STOPPING=1"));
    let status = eventually(LIMIT, "exit", || child.try_wait().unwrap()).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_first_command_runs_the_whole_job_against_the_sandbox() {
    let dir = scratch("quickstart");
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args([
            "run",
            "--sandbox",
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_ENDPOINT_URL")
        .env("MUSTER_LOG", "info")
        .stderr(std::fs::File::create(dir.join("muster.log")).unwrap())
        .spawn()
        .unwrap();
    let metrics = eventually(LIMIT, "the first pass", || {
        let (_, m) = http_get(port, "/metrics")?;
        (sample(&m, "muster_passes_total{result=\"ok\"}") == Some(1.0)).then_some(m)
    })
    .await;
    // The demo's us-east-1 graph has a member nobody declared (500000000005).
    let undeclared: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("muster_drift{")
                && l.contains("region=\"us-east-1\"")
                && l.contains("kind=\"undeclared\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(undeclared, 1.0, "{metrics}");
    assert_eq!(
        http_get(port, "/readyz").unwrap(),
        (200, "ready\n".to_owned())
    );
    let ev = events(&dir);
    assert!(types(&ev).iter().any(|t| t == "invite_intent"), "{ev:?}");
    assert!(types(&ev).iter().any(|t| t == "pass_finished"), "{ev:?}");
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = eventually(LIMIT, "exit", || child.try_wait().unwrap()).await;
    assert!(status.success());
    let log = std::fs::read_to_string(dir.join("muster.log")).unwrap();
    assert!(
        log.contains("sandbox started: muster acts as the demo's security account"),
        "{log}"
    );
}

/// `AccountSuspended` → `account_suspended`, `VERIFICATION_FAILED` → `verification_failed`: a
/// status as the gauges label it.
fn label(status: &str) -> String {
    if status.contains('_') || status.chars().all(|c| c.is_ascii_uppercase()) {
        return status.to_ascii_lowercase();
    }
    let mut out = String::new();
    for (i, c) in status.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Each member's status label by (service, region, graph, account), as AWS (the sandbox) lists
/// them now.
async fn listed_now(sb: &Sandbox, regions: &[&str]) -> BTreeMap<[String; 4], String> {
    let mut out = BTreeMap::new();
    for region in regions {
        let d = detective(sb, SECURITY, region).await;
        for g in d.list_graphs().send().await.unwrap().graph_list() {
            let arn = g.arn().unwrap().to_owned();
            let members = d.list_members().graph_arn(&arn).max_results(200);
            for m in members.send().await.unwrap().member_details() {
                let key = ["detective", region, &arn, m.account_id().unwrap()].map(String::from);
                out.insert(key, label(m.status().unwrap().as_str()));
            }
        }
        let h = securityhub(sb, SECURITY, region).await;
        let mut token = None;
        loop {
            let page = h.list_members().only_associated(false).max_results(50);
            let page = page.set_next_token(token).send().await.unwrap();
            for m in page.members() {
                let key = ["securityhub", region, "", m.account_id().unwrap()].map(String::from);
                out.insert(key, label(m.member_status().unwrap()));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    out
}

/// Members counted by (service, region, graph, status).
fn by_status(members: &BTreeMap<[String; 4], String>) -> BTreeMap<[String; 4], f64> {
    let mut out = BTreeMap::new();
    for ([service, region, graph, _], status) in members {
        let key = [service, region, graph, status].map(String::clone);
        *out.entry(key).or_insert(0.0) += 1.0;
    }
    out
}

/// The non-zero `muster_members` series: (service, region, graph, status) → value.
fn members_gauges(metrics: &str) -> BTreeMap<[String; 4], f64> {
    (metrics.lines())
        .filter(|l| l.starts_with("muster_members{"))
        .map(|l| {
            let value: f64 = l.rsplit_once(' ').unwrap().1.parse().unwrap();
            let key = ["service", "region", "graph", "status"].map(|n| label_value(l, n));
            (key, value)
        })
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_after_a_pass_the_gauges_show_what_its_writes_did_with_no_second_pass() {
    let sb = start(demo()).await;
    let dir = scratch("gauges-after-apply");
    let regions = ["us-east-1", "eu-west-1"];
    // Organization accounts and two outside it, in Detective and Security Hub: muster is the
    // organization's administrator, so CreateMembers enables Security Hub's organization
    // accounts and only the two outside are invited.
    let desired = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/organization.example.yaml"),
    )
    .unwrap();
    std::fs::write(dir.join("accounts.yaml"), desired).unwrap();
    let before = listed_now(&sb, &regions).await;
    let d = Daemon::start(
        &sb.endpoint(),
        &dir,
        &format!("desired_state: accounts.yaml\nschedule: \"{YEARLY}\"\n"),
        &[],
    );
    d.passes_ok(1.0).await;
    let metrics = d.metrics().unwrap();
    let after = listed_now(&sb, &regions).await;
    assert_eq!(
        sample(&metrics, "muster_passes_total{result=\"ok\"}"),
        Some(1.0)
    );
    // What the pass wrote: accounts new in a graph have the status CreateMembers answered
    // (organization accounts enabled, or accepted but disabled), the rest invited: Detective
    // verifies their email after answering, and a moment later some are verification_failed,
    // which the next listing shows. Security Hub's are what its writes made them.
    let new: Vec<&[String; 4]> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let invites = sample(
        &metrics,
        "muster_changes_total{kind=\"invite\",outcome=\"ok\",service=\"detective\"}",
    )
    .unwrap();
    let new_in_graphs = new.iter().filter(|k| k[0] == "detective").count();
    assert!(new_in_graphs >= 10, "{new:?}");
    assert_eq!(new_in_graphs as f64, invites);
    assert!(new.iter().any(|k| k[0] == "securityhub"));
    let mut expected = after.clone();
    for k in &new {
        if k[0] == "detective" && after[*k].starts_with("verification_") {
            expected.insert((*k).clone(), "invited".into());
        }
    }
    // One pass, and its gauges are that, series by series.
    assert_eq!(members_gauges(&metrics), by_status(&expected), "{metrics}");
    // Nothing the pass fixed is still drift.
    let missing: Vec<&str> = (metrics.lines())
        .filter(|l| l.starts_with("muster_drift{") && l.contains("kind=\"missing\""))
        .collect();
    assert_eq!(missing.len(), 4, "two graphs and two hubs: {missing:?}");
    assert!(missing.iter().all(|l| l.ends_with(" 0")), "{missing:?}");
    // Nor the organization's settings the pass set: AutoEnable (both services) and EKS_AUDIT
    // (the demo has them off).
    assert!(
        sample(
            &metrics,
            "muster_changes_total{kind=\"configure\",outcome=\"ok\",service=\"detective\"}"
        )
        .unwrap()
            >= 4.0
    );
    for (kind, series) in [("auto_enable_off", 4), ("datasource_package_disabled", 2)] {
        let lines: Vec<&str> = (metrics.lines())
            .filter(|l| l.starts_with("muster_drift{") && l.contains(&format!("kind=\"{kind}\"")))
            .collect();
        assert_eq!(lines.len(), series, "{kind}: {lines:?}");
        assert!(lines.iter().all(|l| l.ends_with(" 0")), "{lines:?}");
    }
}
