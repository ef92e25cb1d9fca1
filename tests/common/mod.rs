//! Test helpers: a sandbox on 127.0.0.1:0 and real aws-sdk clients pointed at it, acting as a
//! given account in a given region.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_detective::config::{Credentials, Region};
use muster_sandbox::{fixture, Fixture, Sandbox};

pub const MANAGEMENT: &str = "111111111111";
pub const SECURITY: &str = "222222222222";

/// The muster binary acting as `key` against the sandbox at `ep`, with nothing of the
/// developer's environment or AWS setup, logging at `warn` unless the caller sets `MUSTER_LOG`.
pub fn muster_command(ep: &str, key: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_muster"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", ep)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("MUSTER_LOG", "warn");
    cmd
}

/// `muster ARGS` as `key` against `ep`, run to its end.
pub fn muster_output(ep: &str, key: &str, args: &[&str]) -> std::process::Output {
    muster_command(ep, key).args(args).output().unwrap()
}

/// `muster ARGS` as `key` against `ep`: (exit code, stdout, stderr).
pub fn muster_as(ep: &str, key: &str, args: &[&str]) -> (i32, String, String) {
    outcome(muster_command(ep, key).args(args))
}

/// Runs `cmd` to its end: (exit code, stdout, stderr). A run that ended without a code (a
/// signal) panics with its stderr.
pub fn outcome(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    let (stdout, stderr) = (text(out.stdout), text(out.stderr));
    let code = (out.status.code()).unwrap_or_else(|| panic!("{:?}: {stderr}", out.status));
    (code, stdout, stderr)
}

/// The demo world shipped in config/sandbox.yaml.
pub fn demo() -> Fixture {
    fixture::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sandbox.yaml")).unwrap()
}

pub async fn start(f: Fixture) -> Sandbox {
    Sandbox::start(f, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// SDK settings acting as the account behind `key` in `region`, with quick retries (3
/// attempts, as the SDK's standard mode) so that fault tests stay fast.
pub async fn sdk(sb: &Sandbox, key: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(sb.endpoint())
        .credentials_provider(Credentials::new(key, "sandbox", None, None, "sandbox-test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .load()
        .await
}

pub async fn detective(sb: &Sandbox, key: &str, region: &str) -> aws_sdk_detective::Client {
    aws_sdk_detective::Client::new(&sdk(sb, key, region).await)
}

pub async fn securityhub(sb: &Sandbox, key: &str, region: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&sdk(sb, key, region).await)
}

pub async fn organizations(sb: &Sandbox, key: &str) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(&sdk(sb, key, "us-east-1").await)
}

type HttpResponse = aws_sdk_detective::config::http::HttpResponse;

/// The error name and HTTP status an SDK call failed with.
pub fn failure<E>(e: &aws_sdk_detective::error::SdkError<E, HttpResponse>) -> (String, u16)
where
    E: aws_sdk_detective::error::ProvideErrorMetadata,
{
    use aws_sdk_detective::error::ProvideErrorMetadata;
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (e.code().unwrap_or("<no code>").to_owned(), status)
}

/// The error a call that must fail ended with; panics with the answer if it succeeded.
pub async fn fails<T, E>(
    call: impl std::future::Future<
        Output = Result<T, aws_sdk_detective::error::SdkError<E, HttpResponse>>,
    >,
) -> aws_sdk_detective::error::SdkError<E, HttpResponse>
where
    T: std::fmt::Debug,
{
    match call.await {
        Ok(answer) => panic!("the call succeeded: {answer:?}"),
        Err(e) => e,
    }
}

/// The error name and HTTP status of a call that must fail.
pub async fn refused<T, E>(
    call: impl std::future::Future<
        Output = Result<T, aws_sdk_detective::error::SdkError<E, HttpResponse>>,
    >,
) -> (String, u16)
where
    T: std::fmt::Debug,
    E: aws_sdk_detective::error::ProvideErrorMetadata,
{
    failure(&fails(call).await)
}

pub fn message<E>(e: &aws_sdk_detective::error::SdkError<E, HttpResponse>) -> String
where
    E: aws_sdk_detective::error::ProvideErrorMetadata,
{
    use aws_sdk_detective::error::ProvideErrorMetadata;
    e.message().unwrap_or("").to_owned()
}

/// The behavior graph of the security account in `region`.
pub async fn graph(client: &aws_sdk_detective::Client) -> String {
    let graphs = client.list_graphs().send().await.unwrap();
    graphs.graph_list()[0].arn().unwrap().to_owned()
}

/// Slows every `operation` of `service` in the sandbox by `ms` (a pass's writes take time, so a
/// test can act in the middle of one).
pub fn slow(sb: &Sandbox, service: &str, operation: &str, ms: u64) {
    let rule = muster_sandbox::FaultRule {
        service: Some(service.into()),
        operation: Some(operation.into()),
        latency_ms: ms,
        ..muster_sandbox::FaultRule::default()
    };
    fault_rule(sb, 1, rule);
}

/// The emulator's only fault from now: `rule`, its chances drawn from `seed`.
pub fn fault_rule(sb: &Sandbox, seed: u64, rule: muster_sandbox::FaultRule) {
    let faults = muster_sandbox::FaultConfig {
        seed,
        rules: vec![rule],
        ..muster_sandbox::FaultConfig::default()
    };
    sb.set_faults(faults).unwrap();
}

/// The members of the first graph in `region`.
pub fn graph_members(sb: &Sandbox, region: &str) -> usize {
    sb.with_world(|w| {
        w.regions[region]
            .graphs
            .values()
            .next()
            .map_or(0, |g| g.members.len())
    })
}

/// A small tmpfs mounted for one test (a state directory that fills up), unmounted on drop.
pub struct Tmpfs {
    pub dir: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` at `dir`. When this machine cannot (not root, no mount), says
    /// so on stderr and returns `None` for the test to skip, unless `MUSTER_REQUIRE_TMPFS=1`
    /// (as `tests/run-all` sets), where it fails.
    pub fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        use std::io::Write;
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_owned(),
            }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("MUSTER_REQUIRE_TMPFS").as_deref() != Ok("1"),
                    "cannot mount a tmpfs at {} ({why}), and MUSTER_REQUIRE_TMPFS=1",
                    dir.display()
                );
                // Past the test harness's capture, so that a skip is always seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: cannot mount a tmpfs at {} ({why}); run as root to test a full disk",
                    dir.display()
                );
                None
            }
        }
    }

    /// Fills the filesystem: a file grows until the disk is full. Returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let chunk = vec![0xa5u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }

    /// Frees what `fill` took.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.dir.join("filler"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// Accounts a pass invited into Detective graphs.
pub fn invited(a: &muster::apply::ApplyReport) -> usize {
    use muster::apply::{Change, Outcome};
    a.count(
        muster::domain::Service::Detective,
        Change::Invite,
        Outcome::Ok,
    )
}

/// Members a pass removed from Detective graphs.
pub fn removed(a: &muster::apply::ApplyReport) -> usize {
    use muster::apply::{Change, Outcome};
    a.count(
        muster::domain::Service::Detective,
        Change::Remove,
        Outcome::Ok,
    )
}

/// Runs the real `git` in `dir` with a fixed identity and none of the developer's settings;
/// its trimmed stdout. Panics, showing git's stderr, when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=muster",
            "-c",
            "user.email=muster@example.com",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed (tests/install-system-deps)");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Every event of the store in `state`, as `muster events --output json` prints them, with
/// `extra` arguments (filters) added.
pub fn events_json(state: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = muster_command("http://127.0.0.1:9", SECURITY)
        .args(["events", "--output", "json", "--state-dir"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A unique scratch directory for `name`, created empty (the process id and the time keep two
/// tests, or two runs, apart).
pub fn scratch(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("muster-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// No test stops a pass.
pub static NO_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The plan settings the pass tests run with: README's defaults (10 removals, 7 days).
pub fn plan_settings() -> muster::plan::PlanSettings {
    muster::plan::PlanSettings {
        max_removals_per_pass: 10,
        pending_invitation_after: Duration::from_secs(7 * 86_400),
        member_limit: muster::plan::GRAPH_MEMBER_LIMIT,
        association_pending_after: Duration::from_secs(3600),
    }
}

/// A pass's options: `concurrency` targets at once, suspended or not, never stopped.
pub fn options(concurrency: usize, suspend: bool) -> muster::reconcile::PassOptions<'static> {
    muster::reconcile::PassOptions {
        plan: plan_settings(),
        concurrency,
        suspend,
        stop: &NO_STOP,
        members: None,
    }
}

/// The in-process pass tests' harness: a sandbox, muster's real SDK clients acting as one key
/// against it, and an event log in a scratch directory removed on drop.
pub struct Harness {
    pub sb: Sandbox,
    pub apis: muster::reconcile::Apis,
    pub log: muster::eventlog::EventLog,
    pub dir: std::path::PathBuf,
}

impl Harness {
    /// `f` served, acting as `key`.
    pub async fn new(f: Fixture, key: &str) -> Harness {
        Harness::on(start(f).await, key).await
    }

    /// A sandbox already started (and set up), acting as `key`.
    pub async fn on(sb: Sandbox, key: &str) -> Harness {
        Harness::on_in(sb, key, "us-east-1").await
    }

    /// As `on`, with `region` the SDK's own.
    pub async fn on_in(sb: Sandbox, key: &str, region: &str) -> Harness {
        let apis = muster::reconcile::Apis::from_sdk(&sdk(&sb, key, region).await, None);
        let dir = scratch("pass");
        let log = muster::eventlog::EventLog::open(&dir).unwrap();
        Harness { sb, apis, log, dir }
    }

    /// One pass with `options(4, false)`.
    pub async fn pass(&self, d: &muster::desired::DesiredState) -> muster::reconcile::PassReport {
        self.pass_with(d, &options(4, false)).await
    }

    pub async fn pass_with(
        &self,
        d: &muster::desired::DesiredState,
        options: &muster::reconcile::PassOptions<'_>,
    ) -> muster::reconcile::PassReport {
        muster::reconcile::pass(&self.apis, &self.log, "run", d, options)
            .await
            .unwrap()
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<muster::eventlog::EventKind> {
        self.log.iter().map(|e| e.unwrap().kind).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A member of a behavior graph as the emulator's world holds it, invited and updated now.
pub fn graph_member(
    id: &str,
    email: &str,
    status: muster_sandbox::world::DetectiveStatus,
) -> muster_sandbox::world::DetectiveMember {
    let now = std::time::SystemTime::now();
    muster_sandbox::world::DetectiveMember {
        account_id: id.into(),
        email: email.into(),
        status,
        disabled_reason: None,
        invitation_type: muster_sandbox::world::InvitationType::Invitation,
        invited_at: now,
        updated_at: now,
        pending: None,
    }
}

/// A Security Hub member as the emulator's world holds it, never invited, updated now.
pub fn hub_member(
    id: &str,
    email: Option<&str>,
    status: muster_sandbox::world::HubMemberStatus,
) -> muster_sandbox::world::HubMember {
    muster_sandbox::world::HubMember {
        account_id: id.into(),
        email: email.map(str::to_owned),
        status,
        organization_managed: false,
        invitation_id: None,
        invited_at: None,
        updated_at: std::time::SystemTime::now(),
    }
}

/// The security account adds `member` (with `email`) to its us-east-1 graph through the SDK.
pub async fn add_to_graph(sb: &Sandbox, member: &str, email: &str) {
    let client = detective(sb, SECURITY, "us-east-1").await;
    let arn = graph(&client).await;
    let account = aws_sdk_detective::types::Account::builder().account_id(member);
    let account = account.email_address(email).build().unwrap();
    let create = client.create_members().graph_arn(arn).accounts(account);
    create.send().await.unwrap();
}

/// Asserts that a run of muster exited with `code`, showing its stderr when it did not.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
}

/// `muster sandbox` on a free loopback port, its stderr to `stderr`: the child and the first
/// line it printed (the exports line).
pub fn sandbox_process(stderr: std::process::Stdio) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("MUSTER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// The emulator's only fault from now: the next `count` calls of `operation` of `service` fail
/// with `error`.
pub fn fail_next(sb: &Sandbox, service: &str, operation: &str, count: u32, error: &str) {
    let next = muster_sandbox::FailNext {
        service: service.into(),
        operation: operation.into(),
        count,
        error: error.into(),
    };
    let faults = muster_sandbox::FaultConfig {
        fail_next: vec![next],
        ..muster_sandbox::FaultConfig::default()
    };
    sb.set_faults(faults).unwrap();
}

/// The metrics text a fresh muster shows after pass `r` of `d`.
pub fn metrics_after(
    d: &muster::desired::DesiredState,
    r: &muster::reconcile::PassReport,
) -> String {
    let metrics = muster::metrics::Metrics::new();
    let gauges = muster::metrics::Gauges::of(d, r);
    metrics.pass_finished(r.result(), Duration::ZERO, Some(gauges));
    metrics.encode()
}

/// AWS calls that change something, so far (every operation but the reads).
pub fn writes(sb: &Sandbox) -> usize {
    let read = |op: &str| {
        ["List", "Get", "Describe", "BatchGet"]
            .iter()
            .any(|p| op.starts_with(p))
    };
    sb.calls()
        .calls
        .iter()
        .filter(|c| !read(&c.operation))
        .count()
}

/// `administrator`'s behavior graph in `region`, to change.
pub fn graph_in<'w>(
    w: &'w mut muster_sandbox::world::World,
    region: &str,
    administrator: &str,
) -> &'w mut muster_sandbox::world::Graph {
    let arn = muster_sandbox::world::graph_arn(region, administrator);
    let graphs = &mut w.regions.get_mut(region).unwrap().graphs;
    graphs.get_mut(&arn).unwrap()
}

/// The members of `administrator`'s Security Hub in `region`, to change.
pub fn hub_members_in<'w>(
    w: &'w mut muster_sandbox::world::World,
    region: &str,
    administrator: &str,
) -> &'w mut std::collections::BTreeMap<String, muster_sandbox::world::HubMember> {
    let hubs = &mut w.regions.get_mut(region).unwrap().hub_members;
    hubs.entry(administrator.into()).or_default()
}

/// A scratch directory for `name` holding `file` with `text`: the file's path.
pub fn scratch_file(name: &str, file: &str, text: &str) -> std::path::PathBuf {
    let path = scratch(name).join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A scratch directory for `name` holding a copy of the repository's `example` as `file`: the
/// copy's path.
pub fn scratch_copy(name: &str, example: &str, file: &str) -> std::path::PathBuf {
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join(example);
    scratch_file(name, file, &std::fs::read_to_string(original).unwrap())
}

/// The accounts each call of `operation` (of any service) named, in call order.
pub fn call_accounts(sb: &Sandbox, operation: &str) -> Vec<Vec<String>> {
    let calls = sb.calls().calls;
    let of = calls.into_iter().filter(|c| c.operation == operation);
    of.map(|c| c.account_ids).collect()
}

/// A child process killed and reaped when this is dropped (a server a test started).
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
