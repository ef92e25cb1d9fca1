//! Reviewing changes in pull requests: the markdown plan (a golden file), `validate --output
//! json` field by field, and the example GitHub Actions pipeline, whose commands are the ones
//! README documents and run as documented.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::*;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Asserts that `shown` is `tests/golden/<name>` (`MUSTER_BLESS=1` rewrites the file).
fn matches_golden(name: &str, shown: &str) {
    let golden = repo(&format!("tests/golden/{name}"));
    if std::env::var_os("MUSTER_BLESS").is_some() {
        std::fs::write(&golden, shown).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert!(
        shown == expected,
        "the markdown plan differs from tests/golden/{name} (MUSTER_BLESS=1 rewrites it):\n{shown}"
    );
}

/// `muster <args>` in `dir` against `ep`: (exit code, stdout); never a crash.
/// `muster plan --output markdown` of `example` (path, name), copied under `name` into a
/// scratch directory and run there: outside any git work tree, under a relative name, so the
/// output does not depend on where the test runs. The directory, the exit code and the plan.
fn markdown_plan(
    sb: &muster_sandbox::Sandbox,
    scratch: &str,
    (example, name): (&str, &str),
) -> (PathBuf, i32, String) {
    let dir = scratch_copy(scratch, example, name)
        .parent()
        .unwrap()
        .to_owned();
    let args = ["plan", "--desired-state", name, "--output", "markdown"];
    let (code, shown) = muster_in(&dir, &sb.endpoint(), &args);
    (dir, code, shown)
}

fn muster_in(dir: &Path, ep: &str, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = outcome(muster_command(ep, SECURITY).current_dir(dir).args(args));
    assert_ne!(code, 101, "{stderr}");
    (code, stdout)
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markdown_plan_of_the_organization_example_matches_its_golden_file() {
    let sb = start(demo()).await;
    let example = ("config/organization.example.yaml", "organization.yaml");
    let (dir, code, shown) = markdown_plan(&sb, "markdown", example);
    assert_eq!(code, 2, "{shown}");
    matches_golden("plan.md", &shown);
    // No email in full, and a table never runs past its 50 rows.
    assert!(!shown.contains("security@partner-analytics.example.org"));
    assert!(shown.contains("| … | 4 more (`muster plan` lists every one) |  |  |\n"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// With `member_role`, the markdown plan also lists the invitations central acceptance would
/// accept, each account with the role muster would assume there (a golden file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markdown_plan_lists_the_accepts_central_acceptance_would_make() {
    let sb = start(demo()).await;
    let copy = scratch_copy(
        "markdown-accepts",
        "config/accounts.example.yaml",
        "accounts.yaml",
    );
    let dir = copy.parent().unwrap();
    // As the demo's IAM user: AWS lets no account root assume a role.
    let run = |args: &[&str]| {
        let (code, stdout, stderr) = outcome(
            muster_command(&sb.endpoint(), "AKIASANDBOXSECURITY")
                .current_dir(dir)
                .args(args)
                .args(["--desired-state", "accounts.yaml", "--state-dir", "state"]),
        );
        assert_ne!(code, 101, "{stderr}");
        (code, stdout)
    };
    // The invitations go out first; then the plan has only accepts and drift to show.
    assert_eq!(run(&["apply"]).0, 0);
    let role = "arn:aws:iam::{account}:role/MusterMember";
    let (code, shown) = run(&["plan", "--output", "markdown", "--member-role", role]);
    assert_eq!(code, 2, "{shown}");
    matches_golden("plan-accepts.md", &shown);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn validate_json_gives_each_problem_its_file_line_column_and_message() {
    let text = "version: 1\naccounts:\n  - id: 12345\n    emial: a@example.com\n";
    let bad = scratch_file("validate-json", "bad.yaml", text);
    let dir = bad.parent().unwrap();
    let ep = "http://127.0.0.1:9";
    let (code, out) = muster_in(
        dir,
        ep,
        &[
            "validate",
            "--desired-state",
            "bad.yaml",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 1);
    let problem = |line: u64, column: u64, message: &str| json!({"file": "bad.yaml", "line": line, "column": column, "message": message});
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        json!({
            "valid": false,
            "problems": [
                problem(3, 5, "an account needs `email` (its root email address: Detective verifies it)"),
                problem(3, 9, "account id 12345 must be quoted so YAML keeps it a string of 12 digits; as a number it lost its leading zeros: write id: \"000000012345\" if that is the account"),
                problem(4, 5, "unknown key `emial` in an account (did you mean `email`?)"),
            ],
        })
    );

    // A problem of a whole file: no line, no column.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let (code, out) = muster_in(
        dir,
        ep,
        &["validate", "--desired-state", "empty", "--output", "json"],
    );
    assert_eq!(code, 1);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        json!({
            "valid": false,
            "problems": [{
                "file": "empty",
                "line": null,
                "column": null,
                "message": "the directory has no *.yaml files; an empty desired state is never assumed",
            }],
        })
    );

    // Valid: what was read, and no problems.
    std::fs::copy(repo("config/accounts.example.yaml"), dir.join("good.yaml")).unwrap();
    let (code, out) = muster_in(
        dir,
        ep,
        &[
            "validate",
            "--desired-state",
            "good.yaml",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        json!({
            "valid": true,
            "desired_state": "good.yaml",
            "digest": digest_of(dir, "good.yaml"),
            "revision": null,
            "accounts": 10,
            "files": ["good.yaml"],
            "problems": [],
        })
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The digest of `name` as muster reads it from `dir` (the digest covers the name as given).
fn digest_of(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    muster::desired::parse_files(&[(name.to_owned(), text)])
        .unwrap()
        .digest
}

/// The `muster ...` commands of a shell script: each line that runs muster, without its
/// redirection.
fn muster_commands(script: &str) -> Vec<String> {
    (script.lines())
        .map(str::trim)
        .filter(|l| l.starts_with("muster ") && !l.starts_with("muster()"))
        .map(|l| l.split(" > ").next().unwrap().trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_pipeline_runs_the_commands_readme_documents_and_they_work() {
    let text = std::fs::read_to_string(repo("deploy/github-actions/muster-review.yaml")).unwrap();
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(pipeline["on"]["pull_request"].is_mapping());
    assert_eq!(pipeline["permissions"]["contents"], "read");
    let jobs = &pipeline["jobs"];
    assert_eq!(jobs["plan"]["needs"], "validate");
    assert_eq!(jobs["plan"]["permissions"]["id-token"], "write");
    let runs = |job: &str| -> Vec<String> {
        (jobs[job]["steps"].as_sequence().unwrap().iter())
            .filter_map(|s| s["run"].as_str())
            .flat_map(muster_commands)
            .collect()
    };
    let (validate, plan) = (runs("validate"), runs("plan"));
    assert_eq!(
        validate,
        ["muster validate --desired-state accounts/ --output json"]
    );
    assert_eq!(
        plan,
        ["muster plan --desired-state accounts/ --output markdown"]
    );

    // README's "Reviewing changes" documents exactly these.
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let section = readme.split("## Reviewing changes\n").nth(1).unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert_eq!(
        muster_commands(block),
        [validate.clone(), plan.clone()].concat()
    );

    // And they work as documented, on a desired state in accounts/.
    let sb = start(demo()).await;
    let copy = scratch_copy(
        "pipeline",
        "config/accounts.example.yaml",
        "accounts/accounts.yaml",
    );
    let dir = copy.parent().unwrap().parent().unwrap();
    for (command, expected) in [(&validate[0], 0), (&plan[0], 2)] {
        let args: Vec<&str> = command.split(' ').skip(1).collect();
        let (code, out) = muster_in(dir, &sb.endpoint(), &args);
        assert_eq!(code, expected, "{command}: {out}");
        if expected == 0 {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["valid"], true);
        } else {
            assert!(out.starts_with("## muster plan\n"), "{out}");
        }
    }
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/iam/readonly-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Central configuration in the markdown plan: the aggregator, the switch, the policies and
/// each association with the accounts it moves, the sandboxes' refused by the guard (a golden
/// file); `plan` exits 2, and 0 once `apply` (with the limit raised) has done it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markdown_plan_of_central_configuration_matches_its_golden_file() {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = std::time::Duration::ZERO);
    let example = ("config/central.example.yaml", "central.yaml");
    let (dir, code, shown) = markdown_plan(&sb, "markdown-central", example);
    let dir = dir.as_path();
    assert_eq!(code, 2, "{shown}");
    matches_golden("plan-central.md", &shown);
    let apply = [
        "apply",
        "--desired-state",
        "central.yaml",
        "--state-dir",
        "state",
        "--max-removals-per-pass",
        "20",
    ];
    let (code, out) = muster_in(dir, &sb.endpoint(), &apply);
    assert_eq!(code, 0, "{out}");
    let (code, out) = muster_in(
        dir,
        &sb.endpoint(),
        &["plan", "--desired-state", "central.yaml"],
    );
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
