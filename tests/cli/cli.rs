//! The muster binary's commands and exit codes against a sandbox.

use std::process::{Command, Output};

use crate::common::*;

/// `muster ARGS` as the demo's security account's root against `ep`.
fn muster_at(ep: &str, args: &[&str]) -> Output {
    muster_output(ep, SECURITY, args)
}

/// `muster validate --desired-state PATH`, with no AWS to reach.
fn validate(path: &std::path::Path) -> Output {
    let path = path.to_str().unwrap();
    muster_at("http://127.0.0.1:9", &["validate", "--desired-state", path])
}

fn example() -> String {
    format!(
        "{}/config/accounts.example.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_exits_2_with_changes_0_without_and_1_on_error() {
    let sb = start(demo()).await;
    let ep = sb.endpoint();
    let state = scratch("cli").join("state");

    let out = muster_at(&ep, &["plan", "--desired-state", &example()]);
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("+ invite  500000000001  s***@partner-analytics.example.org"),
        "{text}"
    );
    assert!(
        !text.contains("security@partner-analytics"),
        "emails are masked: {text}"
    );
    assert_eq!(
        sb.calls()
            .calls
            .iter()
            .filter(|c| c.operation == "CreateMembers")
            .count(),
        0,
        "plan writes nothing"
    );

    let out = muster_at(
        &ep,
        &[
            "apply",
            "--desired-state",
            &example(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);

    let out = muster_at(
        &ep,
        &["plan", "--desired-state", &example(), "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"], false);

    sb.set_faults(muster_sandbox::FaultConfig {
        rules: vec![muster_sandbox::FaultRule {
            service: Some("detective".into()),
            operation: Some("ListGraphs".into()),
            error_probability: 1.0,
            ..Default::default()
        }],
        ..Default::default()
    })
    .unwrap();
    let out = muster_at(&ep, &["plan", "--desired-state", &example()]);
    assert_eq!(out.status.code(), Some(1));

    let out = muster_at(
        &ep,
        &[
            "events",
            "--state-dir",
            state.to_str().unwrap(),
            "--account",
            "500000000003",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("invite_intent"), "{text}");
    assert!(text.contains("invite_result"), "{text}");
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn validate_prints_every_problem_and_exits_1() {
    let text = "version: 1\naccounts:\n  - id: 12345\n    emial: a@example.com\n";
    let f = scratch_file("validate", "bad.yaml", text);
    let dir = f.parent().unwrap();
    let out = validate(&f);
    assert_eq!(out.status.code(), Some(1));
    let shown = f.display().to_string();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{shown}:3:5: an account needs `email` (its root email address: Detective verifies it)\n\
             {shown}:3:9: account id 12345 must be quoted so YAML keeps it a string of 12 digits; as a number it lost its leading zeros: write id: \"000000012345\" if that is the account\n\
             {shown}:4:5: unknown key `emial` in an account (did you mean `email`?)\n"
        )
    );
    let out = muster_at(
        "http://127.0.0.1:9",
        &["validate", "--desired-state", &example()],
    );
    assert_eq!(out.status.code(), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A desired-state path that is a device, a FIFO nobody writes to, or a file far past the 1 MiB
/// limit: `validate` refuses it without reading it (no hang, no 100 MiB read) and names it.
#[test]
fn validate_refuses_devices_fifos_and_huge_files_at_once() {
    let dir = scratch("validate-odd");
    let fifo = dir.join("fifo.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    for (path, problem) in [
        (
            std::path::PathBuf::from("/dev/urandom"),
            "it is a character device, not a regular file; give the path of a file or a directory".to_owned(),
        ),
        (
            fifo.clone(),
            "it is a FIFO (named pipe), not a regular file; give the path of a file or a directory".to_owned(),
        ),
        (
            huge.clone(),
            "the file is 104857600 bytes; the limit is 1048576 (split the accounts over several files in a directory)".to_owned(),
        ),
    ] {
        let started = std::time::Instant::now();
        let out = muster_at(
            "http://127.0.0.1:9",
            &["validate", "--desired-state", path.to_str().unwrap()],
        );
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}: {problem}\n", path.display())
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "error: 1 problem(s) in the desired state\n"
        );
        assert!(took < std::time::Duration::from_secs(1), "{} took {took:?}", path.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `retention_days` that would wrap to 0 seconds once deleted every event: `validate`, `run`
/// and `apply` refuse it naming the key and its range, and the log keeps every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_retention_is_refused_and_no_event_is_deleted() {
    let sb = start(demo()).await;
    let dir = scratch("retention");
    let settings = dir.join("muster.yaml");
    let write = |days: &str| {
        std::fs::write(
            &settings,
            format!(
                "desired_state: {}\nstate_dir: state\nretention_days: {days}\nmetrics_listen: \"127.0.0.1:0\"\n",
                example()
            ),
        )
        .unwrap()
    };
    let s = settings.to_str().unwrap();
    write("90");
    let out = muster_at(&sb.endpoint(), &["apply", "--config", s]);
    assert!(out.status.success(), "{out:?}");
    let count = || {
        let out = muster_at(
            &sb.endpoint(),
            &["events", "--config", s, "--output", "json"],
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let before = count();
    assert!(before > 0);
    for days in ["144115188075855872", "18446744073709551615"] {
        write(days);
        for command in ["validate", "apply", "run"] {
            let out = muster_at(&sb.endpoint(), &[command, "--config", s]);
            assert_eq!(out.status.code(), Some(1), "{command}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr).trim(),
                format!("error: retention_days must be between 1 and 36500, got {days}"),
                "{command}"
            );
        }
        assert_eq!(count(), before, "no event was deleted");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Documents after the first were ignored, and what they declared went unmanaged.
#[test]
fn validate_refuses_a_desired_state_or_settings_file_with_a_second_document() {
    let desired = scratch_file(
        "documents",
        "accounts.yaml",
        "version: 1\naccounts:\n  - {id: \"222222222222\", email: a@example.com}\ndetective:\n  graphs: [{region: us-east-1}]\n---\naccounts:\n  - {id: \"333333333333\", email: b@example.com}\n---\n: [\n",
    );
    let dir = desired.parent().unwrap();
    let out = validate(&desired);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}:6:1: invalid YAML: a desired-state file holds one YAML document; found another here (split a desired state over several files in a directory)\n", desired.display())
    );
    let settings = dir.join("muster.yaml");
    std::fs::write(
        &settings,
        format!("desired_state: {}\n---\nretention_days: 1\n", example()),
    )
    .unwrap();
    let out = muster_at(
        "http://127.0.0.1:9",
        &["validate", "--config", settings.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "error: {}:2:1: a settings file holds one YAML document; found another here",
            settings.display()
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_muster_on_the_same_state_dir_exits_1_naming_it() {
    let dir = scratch("lock");
    let held = muster::eventlog::EventLog::open(&dir).unwrap();
    held.append(
        "r",
        "d",
        muster::eventlog::EventKind::PassFinished {
            outcome: "ok".into(),
            invited: 1,
            removed: 0,
            failed: 0,
            drift: 0,
        },
        true,
    )
    .unwrap();
    let sb = start(demo()).await;
    let out = muster_at(
        &sb.endpoint(),
        &[
            "apply",
            "--desired-state",
            &example(),
            "--state-dir",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("error: the event log in {} is in use by another muster (one muster per state_dir); stop it or use another --state-dir", dir.display())
    );
    // History stays readable while the log is held.
    let out = muster_at(
        &sb.endpoint(),
        &[
            "events",
            "--state-dir",
            dir.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_exit(&out, 0);
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains(r#""type":"pass_finished","outcome":"ok","invited":1"#),
        "{line}"
    );
    drop(held);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `muster plan | head -1`: the reader goes away early; muster ends quietly (killed by
/// SIGPIPE, as Unix tools are), never with a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_output_pipe_ends_plan_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let sb = start(generate_world()).await;
    let dir = scratch("cli-pipe");
    // Enough accounts that the plan does not fit in a pipe's buffer.
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 2..1202u64 {
        let id = 100_000_000_000 + i;
        text += &format!("  - {{id: \"{id:012}\", email: \"aws+{id:012}@example.com\"}}\n");
    }
    text += "detective:\n  graphs: [{region: us-east-1}, {region: eu-west-1}]\n";
    std::fs::write(dir.join("d.yaml"), text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["plan", "--desired-state"])
        .arg(dir.join("d.yaml"))
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env(
            "AWS_ACCESS_KEY_ID",
            muster_sandbox::fixture::GENERATED_SECURITY,
        )
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("MUSTER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut first, mut second) = (String::new(), String::new());
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    reader.read_line(&mut second).unwrap();
    assert!(first.starts_with("desired state "), "{first}");
    assert!(second.starts_with("graph arn:aws:detective:"), "{second}");
    drop(reader);
    // The reader is dropped here: the pipe closes.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn generate_world() -> muster_sandbox::Fixture {
    muster_sandbox::fixture::generate(&muster_sandbox::fixture::Generate {
        accounts: 1300,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 3,
    })
}

/// Member mode's `plan`: exit 2 while an expected administrator's invitation is open, the
/// accept shown in text and JSON; exit 0 once `apply` accepted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_mode_plan_shows_what_apply_would_accept() {
    const MEMBER: &str = "500000000001";
    let sb = start(demo()).await;
    add_to_graph(&sb, MEMBER, "security@partner-analytics.example.org").await;
    let dir = scratch("cli-member");
    let desired = dir.join("member.yaml");
    std::fs::write(
        &desired,
        "version: 1\nmember:\n  expected_administrators: [\"222222222222\"]\n  regions: [us-east-1]\n  securityhub: false\n  accept: true\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(args)
            .env("AWS_ENDPOINT_URL", sb.endpoint())
            .env("AWS_ACCESS_KEY_ID", MEMBER)
            .env("AWS_SECRET_ACCESS_KEY", "sandbox")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("MUSTER_LOG", "warn")
            .output()
            .unwrap()
    };
    let d = desired.to_str().unwrap();
    let out = run(&["plan", "--desired-state", d]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "detective-invitations:us-east-1 (1 invitation(s))\n  + accept   222222222222\nplan: 1 to accept, 0 to decline, 0 listing(s) failed\n"
    );
    let out = run(&["plan", "--desired-state", d, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"], true);
    assert_eq!(
        json["targets"][0]["accept"],
        serde_json::json!(["222222222222"])
    );
    let state = dir.join("state");
    let out = run(&[
        "apply",
        "--desired-state",
        d,
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("applied: 1 accepted, 0 declined, 0 not processed, 0 failed call(s)"));
    let out = run(&["plan", "--desired-state", d]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(1 invitation(s))\n  in sync\n"));
    assert_eq!(sb.calls().count("detective", "AcceptInvitation"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SIGTERM sent the moment `muster sandbox` printed its exports line (what a test harness
/// does when it is done quickly) stops it cleanly: the handler is installed before the line.
#[test]
fn sigterm_right_after_the_exports_line_exits_0() {
    use std::process::Stdio;
    for _ in 0..20 {
        let (mut child, line) = sandbox_process(Stdio::null());
        assert!(line.starts_with("export "), "{line}");
        // SAFETY: signalling our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

/// The allocator is jemalloc with freed pages returned at once and one freed block of each size
/// up to 512 KiB kept a thread (`main.rs`): its own statistics, printed at exit, say which
/// settings it started with. A setting that silently stopped applying would cost the largest
/// organization its memory or CPU target (docs/BENCHMARKS.md).
#[test]
fn the_allocator_returns_freed_pages_at_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stats = String::from_utf8_lossy(&out.stderr);
    for line in [
        "opt.dirty_decay_ms: 0 (arenas.dirty_decay_ms: 0)",
        "opt.muzzy_decay_ms: 0 (arenas.muzzy_decay_ms: 0)",
        "opt.tcache_max: 524288",
        "opt.tcache_nslots_large: 1",
    ] {
        assert!(stats.contains(line), "{line} not in: {stats}");
    }
}
