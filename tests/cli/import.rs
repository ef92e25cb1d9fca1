//! `muster import` through the binary against the sandbox: the round trip (import, then `plan`
//! exits 0 and `apply` makes no write call, from the sandbox's call log) on the demo world in
//! its awkward states and on a generated 1,200-account, 4-region world; the comment each
//! awkward state gets; and that an existing file is never overwritten unasked.

use std::path::Path;

use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};
use muster_sandbox::world::HubMemberStatus;
use muster_sandbox::Sandbox;

use crate::common::*;

/// Imports with `args` into `dir/name` as `key`, then checks the round trip: `plan` exits 0
/// and `apply` makes no write call. The file's text.
fn round_trip(sb: &Sandbox, key: &str, dir: &Path, name: &str, args: &[&str]) -> String {
    let file = dir.join(name);
    let file_arg = file.to_str().unwrap();
    let mut import = vec!["import", "--output", file_arg];
    import.extend(args);
    let (code, out, err) = muster_as(&sb.endpoint(), key, &import);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "with --output nothing goes to stdout");
    let text = std::fs::read_to_string(&file).unwrap();
    let (code, plan, err) = muster_as(&sb.endpoint(), key, &["plan", "--desired-state", file_arg]);
    assert_eq!(code, 0, "plan after import:\n{plan}\n{err}\n{text}");
    sb.reset_calls();
    let state = dir.join(format!("{name}.state"));
    let apply = [
        "apply",
        "--desired-state",
        file_arg,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let (code, _, err) = muster_as(&sb.endpoint(), key, &apply);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        writes(sb),
        0,
        "apply after import wrote: {:?}",
        sb.calls().counts
    );
    text
}

fn has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "no line\n{line}\nin\n{text}"
        );
    }
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
        .display()
        .to_string()
}

fn apply_example(sb: &Sandbox, dir: &Path, name: &str) {
    let state = dir.join("example.state");
    let args = [
        "apply",
        "--desired-state",
        &example(name),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let (code, _, err) = muster_as(&sb.endpoint(), SECURITY, &args);
    assert_eq!(code, 0, "{err}");
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_world_round_trips_and_every_awkward_state_has_its_comment() {
    let dir = scratch("demo");
    let both = ["--regions", "us-east-1,eu-west-1"];

    // As shipped: two members in us-east-1 only, so neither can be declared for both graphs.
    let sb = start(demo()).await;
    let text = round_trip(&sb, SECURITY, &dir, "shipped.yaml", &both);
    has_lines(&text, &[
        "  # NOT DECLARED: not a member of detective eu-west-1, securityhub us-east-1, securityhub eu-west-1: declared, muster adds it there",
        "  #   seen: detective us-east-1 INVITED",
        "  # - {id: \"500000000004\", email: \"lab-root@contractor.example.com\"}",
    ]);

    // Detective after the accounts example: a failed verification (a wrong email), a member
    // disabled for its volume, an invitation never accepted.
    apply_example(&sb, &dir, "accounts.example.yaml");
    let args = [&both[..], &["--services", "detective"]].concat();
    let text = round_trip(&sb, SECURITY, &dir, "detective.yaml", &args);
    has_lines(&text, &[
        "  # detective us-east-1 VERIFICATION_FAILED, detective eu-west-1 VERIFICATION_FAILED; VERIFICATION_FAILED: declared with the email Detective has; if that is not the account's root email, correct it here and muster invites it again",
        "  - {id: \"500000000003\", email: \"ops@partner.example.net\"}",
        "  # detective us-east-1 ACCEPTED_BUT_DISABLED, detective eu-west-1 ACCEPTED_BUT_DISABLED; ACCEPTED_BUT_DISABLED: the member sends more data than the graph takes (reported)",
        "  - {id: \"300000000013\", email: \"aws+ledger-prod@example.com\"}",
        "  # detective us-east-1 INVITED, detective eu-west-1 INVITED; invited, not accepted yet (reported once pending too long)",
        "  - {id: \"500000000004\", email: \"lab-root@contractor.example.com\"}",
    ]);

    // Security Hub after the organization example, then a member that left, one an
    // administrator disassociated, one never invited, one deleted, and one whose email
    // Security Hub does not return.
    apply_example(&sb, &dir, "organization.example.yaml");
    sb.with_world(|w| {
        for region in ["us-east-1", "eu-west-1"] {
            let hub = (w.regions.get_mut(region).unwrap().hub_members)
                .get_mut(SECURITY)
                .unwrap();
            hub.get_mut("300000000001").unwrap().status = HubMemberStatus::Resigned;
            hub.get_mut("300000000003").unwrap().status = HubMemberStatus::Created;
            hub.get_mut("300000000004").unwrap().status = HubMemberStatus::Deleted;
            let quiet = hub_member("999999999991", None, HubMemberStatus::Enabled);
            hub.insert("999999999991".into(), quiet);
        }
        let east = w.regions.get_mut("us-east-1").unwrap();
        let hub = east.hub_members.get_mut(SECURITY).unwrap();
        hub.get_mut("300000000002").unwrap().status = HubMemberStatus::Removed;
    });
    let args = [&both[..], &["--services", "securityhub", "--organization"]].concat();
    let text = round_trip(&sb, SECURITY, &dir, "securityhub.yaml", &args);
    has_lines(&text, &[
        "#   300000000001: securityhub us-east-1 Resigned, securityhub eu-west-1 Resigned; Resigned: the member left Security Hub and only it can join again (reported)",
        "  # NOT DECLARED: securityhub us-east-1: disassociated by an administrator (Removed): declared, muster creates it again",
        "  # - {id: \"300000000002\", email: \"aws+payments-staging@example.com\", name: \"payments-staging\"}",
        "      - \"300000000002\"   # securityhub us-east-1: disassociated by an administrator (Removed): declared, muster creates it again",
        "  # NOT DECLARED: securityhub us-east-1: a Security Hub member never invited (Created): declared, muster invites it; securityhub eu-west-1: a Security Hub member never invited (Created): declared, muster invites it",
        "  # NOT DECLARED: securityhub us-east-1: deleted from Security Hub (Deleted): declared, muster creates it again; securityhub eu-west-1: deleted from Security Hub (Deleted): declared, muster creates it again",
        "  # NOT DECLARED: AWS returns no email for it, and the desired state needs one: add it",
        "  #   seen: securityhub us-east-1 Enabled, securityhub eu-west-1 Enabled",
        "  # - {id: \"999999999991\", email: \"\"}",
        "      - \"222222222222\"   # the administrator itself",
        "organization:",
        "    - {root: true}",
        "securityhub:",
        "  regions: [us-east-1, eu-west-1]",
    ]);
    // Both services and the organization at once.
    let args = [&both[..], &["--organization"]].concat();
    let text = round_trip(&sb, SECURITY, &dir, "everything.yaml", &args);
    assert!(
        text.starts_with("# Written by `muster import` at "),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_1200_account_4_region_world_round_trips_with_and_without_the_organization() {
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
    let sb = start(generate(&Generate {
        accounts: 1200,
        regions: regions.iter().map(|r| r.to_string()).collect(),
        seed: 13,
    }))
    .await;
    let dir = scratch("generated");
    // Converged from empty: the whole organization in every graph and hub.
    let graphs: Vec<String> = regions.iter().map(|r| format!("{{region: {r}}}")).collect();
    let desired = format!(
        "version: 1\naccounts: []\norganization:\n  include: [{{root: true}}]\n  exclude: {{accounts: [\"{GENERATED_SECURITY}\"]}}\ndetective:\n  graphs: [{}]\nsecurityhub:\n  regions: [{}]\n",
        graphs.join(", "),
        regions.join(", ")
    );
    let file = dir.join("desired.yaml");
    std::fs::write(&file, desired).unwrap();
    let state = dir.join("state");
    let apply = [
        "apply",
        "--desired-state",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let (code, _, err) = muster_as(&sb.endpoint(), GENERATED_SECURITY, &apply);
    assert_eq!(code, 0, "{err}");
    let created = sb.calls().count("detective", "CreateMembers");
    assert!(created >= 4 * 23, "{created}");

    let regions_arg = regions.join(",");
    let text = round_trip(
        &sb,
        GENERATED_SECURITY,
        &dir,
        "org.yaml",
        &["--regions", &regions_arg, "--organization"],
    );
    has_lines(
        &text,
        &[
            "accounts: []",
            "      - \"100000000001\"   # the administrator itself",
        ],
    );
    let taken = text
        .lines()
        .find(|l| l.ends_with("are members everywhere and are taken from the organization."))
        .unwrap();
    let covered: usize = taken
        .trim_start_matches("# ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(covered > 1100, "{taken}");

    // Without the organization: every member listed by hand.
    let text = round_trip(
        &sb,
        GENERATED_SECURITY,
        &dir,
        "hand.yaml",
        &["--regions", &regions_arg],
    );
    let listed = text.lines().filter(|l| l.starts_with("  - {id: ")).count();
    assert_eq!(listed, covered);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_never_overwrites_a_file_unless_forced_and_asks_aws_nothing_before_it_refuses() {
    let sb = start(demo()).await;
    let dir = scratch("overwrite");
    let file = dir.join("accounts.yaml");
    std::fs::write(&file, "version: 1\n# mine\n").unwrap();
    sb.reset_calls();
    let args = [
        "import",
        "--regions",
        "us-east-1",
        "--output",
        file.to_str().unwrap(),
    ];
    let (code, out, err) = muster_as(&sb.endpoint(), SECURITY, &args);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "error: {} exists: muster import never overwrites a file; pass --force to replace it\n",
            file.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "version: 1\n# mine\n"
    );
    assert!(sb.calls().counts.is_empty(), "{:?}", sb.calls().counts);

    let forced = [&args[..], &["--force"]].concat();
    let (code, _, err) = muster_as(&sb.endpoint(), SECURITY, &forced);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# Written by `muster import`"), "{text}");
    assert!(!dir.join("accounts.yaml.muster-import.tmp").exists());

    // To stdout, the same desired state.
    let (code, out, _) = muster_as(
        &sb.endpoint(),
        SECURITY,
        &["import", "--regions", "us-east-1"],
    );
    assert_eq!(code, 0);
    let strip = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&out), strip(&text));
    // A bad region is refused by name.
    let (code, _, err) = muster_as(
        &sb.endpoint(),
        SECURITY,
        &["import", "--regions", "us-east-1,mars"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("\"mars\" is not a region name like us-east-1"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Central configuration round trips: after muster set it up (the example, with the guard's
/// limit raised), import writes the home Region, every policy and every direct association,
/// and plan against the file changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_configuration_round_trips_through_import() {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = std::time::Duration::ZERO);
    let dir = scratch("import-central");
    let state = dir.join("setup.state");
    let args = [
        "apply",
        "--desired-state",
        &example("central.example.yaml"),
        "--state-dir",
        state.to_str().unwrap(),
        "--max-removals-per-pass",
        "20",
    ];
    let (code, _, err) = muster_as(&sb.endpoint(), SECURITY, &args);
    assert_eq!(code, 0, "{err}");
    let args = [
        "--regions",
        "us-east-1,eu-west-1",
        "--services",
        "securityhub",
    ];
    let text = round_trip(&sb, SECURITY, &dir, "central.yaml", &args);
    has_lines(&text, &[
        "  central_configuration:",
        "    home_region: us-east-1",
        "      \"baseline\":",
        "        description: \"Security Hub on, FSBP, IAM.6 off\"",
        "        standards: [\"arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0\"]",
        "        controls: {disabled: [\"IAM.6\"]}",
        "          \"ACM.1\": {\"daysToExpiration\": 30}",
        "      \"off\":",
        "        enabled: false",
        "      - {root: true, policy: \"baseline\"}",
        "      - {ou: ou-m5tr-sandboxes, policy: \"off\"}",
        "      - {account: \"222222222222\", self_managed: true}",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
}
