//! The command line: clap derive, one subcommand per job, every flag also an `MUSTER_*`
//! environment variable so that systemd units and Kubernetes manifests can set them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "muster",
    version,
    about = "Keeps Amazon Detective and AWS Security Hub membership in line with a desired state kept in git"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MUSTER_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How text logs look where they go: colour only on a terminal and never with `NO_COLOR` set
/// (to anything but empty, as no-color.org says); no timestamp under systemd (`JOURNAL_STREAM`
/// set), since journald stamps every line itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStyle {
    pub ansi: bool,
    pub timestamp: bool,
}

impl LogStyle {
    /// The style for stderr, given whether it is a terminal and the environment's `NO_COLOR`
    /// and `JOURNAL_STREAM`.
    pub fn detect(
        terminal: bool,
        no_color: Option<&std::ffi::OsStr>,
        journal_stream: Option<&std::ffi::OsStr>,
    ) -> LogStyle {
        let no_color = no_color.is_some_and(|v| !v.is_empty());
        LogStyle {
            ansi: terminal && !no_color,
            timestamp: journal_stream.is_none_or(|v| v.is_empty()),
        }
    }

    /// The style for this process's stderr.
    pub fn of_stderr() -> LogStyle {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR");
        let journal = std::env::var_os("JOURNAL_STREAM");
        LogStyle::detect(
            std::io::stderr().is_terminal(),
            no_color.as_deref(),
            journal.as_deref(),
        )
    }
}

#[cfg(test)]
mod log_style_tests {
    use super::LogStyle;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_and_no_timestamp_under_journald() {
        let style = |t, n: Option<&str>, j: Option<&str>| {
            let s = LogStyle::detect(t, n.map(OsStr::new), j.map(OsStr::new));
            (s.ansi, s.timestamp)
        };
        assert_eq!(style(true, None, None), (true, true));
        assert_eq!(
            style(false, None, None),
            (false, true),
            "a pipe gets no colour"
        );
        assert_eq!(style(true, Some("1"), None), (false, true), "NO_COLOR");
        assert_eq!(
            style(true, Some(""), None),
            (true, true),
            "an empty NO_COLOR is unset"
        );
        assert_eq!(
            style(false, None, Some("8:12345")),
            (false, false),
            "journald"
        );
        assert_eq!(style(true, None, Some("")), (true, true));
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired state: every problem in every file, located. Exit 0 valid, 1 invalid.
    Validate(ValidateArgs),
    /// Show what apply would change, writing nothing. Exit 0 no changes, 2 changes, 1 error.
    Plan(PlanArgs),
    /// Make Detective membership match the desired state. Exit 0 done, 1 error or partial.
    Apply(ApplyArgs),
    /// Reconcile at start, on the schedule and when the desired state changes; serve metrics.
    /// Runs until SIGTERM/SIGINT, then exits 0.
    Run(RunArgs),
    /// Show the event log: every observation of drift and every action, with outcomes.
    Events(EventsArgs),
    /// Write a desired state that matches what AWS has now (read-only): every account with a
    /// comment saying where it was seen. Exit 0 written, 1 error.
    Import(ImportArgs),
    /// Run the built-in emulator of Detective, Security Hub and Organizations until SIGINT/SIGTERM.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
}

/// muster's settings, defined once: each field is a key of the settings file (serde, unknown
/// keys refused), a flag and an `MUSTER_*` variable (clap); flags and variables win over the
/// file. Defaults and ranges are in `config` (`DEFAULT_*`, `BOUNDS`), and README's settings
/// table is checked against this struct and them.
#[derive(Debug, Clone, Default, Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsArgs {
    /// Settings file (YAML); relative paths in it resolve against its directory.
    #[arg(long, env = "MUSTER_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The desired state: a YAML file or a directory of *.yaml files.
    #[arg(long, env = "MUSTER_DESIRED_STATE")]
    pub desired_state: Option<PathBuf>,
    /// Directory of the event log.
    #[arg(long, env = "MUSTER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Most members removed in one pass when pruning; past it muster refuses (default 10).
    #[arg(long, env = "MUSTER_MAX_REMOVALS_PER_PASS")]
    pub max_removals_per_pass: Option<usize>,
    /// Graphs (and Security Hub regions) reconciled at once (1..64, default 64: every one).
    #[arg(long, env = "MUSTER_MAX_CONCURRENT_GRAPHS")]
    pub max_concurrent_graphs: Option<usize>,
    /// An invitation open longer is reported as pending_too_long (default 604800, 7 days).
    #[arg(long, env = "MUSTER_PENDING_INVITATION_AFTER_SECS")]
    pub pending_invitation_after_secs: Option<u64>,
    /// A central-configuration association PENDING longer is reported as
    /// association_pending_too_long (default 3600, an hour).
    #[arg(long, env = "MUSTER_ASSOCIATION_PENDING_AFTER_SECS")]
    pub association_pending_after_secs: Option<u64>,
    /// Days of history the event log keeps (default 90).
    #[arg(long, env = "MUSTER_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// When `run` reconciles: cron, 5 fields or 6 with seconds first (default "0 */10 * * * *").
    #[arg(long, env = "MUSTER_SCHEDULE")]
    pub schedule: Option<String>,
    /// Address of /metrics, /healthz and /readyz (default 127.0.0.1:9464).
    #[arg(long, env = "MUSTER_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Observe and report drift, write nothing to AWS.
    #[arg(long, env = "MUSTER_SUSPEND")]
    #[serde(default)]
    pub suspend: bool,
    /// Accept invitations centrally: the role muster assumes in each invited member account,
    /// e.g. "arn:aws:iam::{account}:role/MusterMember" (default: none, members accept).
    #[arg(long, env = "MUSTER_MEMBER_ROLE")]
    pub member_role: Option<String>,
    /// Attempts per AWS call, the first included (default 5).
    #[arg(long, env = "MUSTER_AWS_MAX_ATTEMPTS")]
    pub aws_max_attempts: Option<u32>,
    /// Seconds a whole AWS call may take, retries included (default 60).
    #[arg(long, env = "MUSTER_AWS_OPERATION_TIMEOUT_SECS")]
    pub aws_operation_timeout_secs: Option<u64>,
    /// Seconds one attempt of an AWS call may take (default 20).
    #[arg(long, env = "MUSTER_AWS_ATTEMPT_TIMEOUT_SECS")]
    pub aws_attempt_timeout_secs: Option<u64>,
    /// Seconds a SIGTERM waits for the batch in flight (default 20).
    #[arg(long, env = "MUSTER_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Start the built-in sandbox (config/sandbox.yaml) and reconcile
    /// config/accounts.example.yaml against it: the whole job with no AWS account.
    #[cfg(feature = "sandbox")]
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Output format: text lines `file:line:col: message`, or one JSON document with every
    /// problem's file, line, column and message.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    Text,
    Json,
    /// A summary for a pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanOutput::Text, env = "MUSTER_OUTPUT")]
    pub output: PlanOutput,
    /// Show email addresses in full instead of masked (j***@example.com).
    #[arg(long)]
    pub show_emails: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Show email addresses in full instead of masked (j***@example.com).
    #[arg(long)]
    pub show_emails: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Only events about this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Only events about this behavior graph.
    #[arg(long)]
    pub graph: Option<String>,
    /// Only events of passes that read the desired state at this git commit (a prefix of at
    /// least 7 hex digits, or all of it).
    #[arg(long, value_parser = parse_revision)]
    pub revision: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-23T10:00:00Z).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<std::time::SystemTime>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ImportService {
    Detective,
    Securityhub,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Regions to read, comma-separated (e.g. us-east-1,eu-west-1).
    #[arg(long, required = true, value_delimiter = ',', value_parser = parse_aws_region)]
    pub regions: Vec<crate::domain::Region>,
    /// Services to read, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ImportService::Detective, ImportService::Securityhub])]
    pub services: Vec<ImportService>,
    /// Take the organization's accounts with `organization: include: [{root: true}]` and list
    /// by hand only the accounts that does not cover (Organizations is read).
    #[arg(long)]
    pub organization: bool,
    /// Write the desired state here instead of to stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Overwrite `--output` if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Regions read at once (1..64; the default, every one: each has its own endpoint).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

fn parse_aws_region(s: &str) -> Result<crate::domain::Region, String> {
    crate::domain::Region::parse(&parse_region(s)?)
        .ok_or_else(|| format!("\"{s}\" is not a region name like us-east-1"))
}

fn parse_revision(s: &str) -> Result<String, String> {
    let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && (7..=64).contains(&s.len()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{s:?} is not a git commit: 7 to 64 hex digits"))
    }
}

fn parse_time(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("\"{s}\" is not a time like 2026-11-23T10:00:00Z ({e})"))
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (the exports line shows which).
    #[arg(long, default_value = "127.0.0.1:4566", env = "MUSTER_SANDBOX_LISTEN")]
    pub listen: SocketAddr,
    /// World to serve (format: README.md, "Sandbox fixtures"); default: the built-in copy of
    /// config/sandbox.yaml.
    #[arg(long, env = "MUSTER_SANDBOX_FIXTURE", conflicts_with_all = ["accounts", "seed", "regions"])]
    pub fixture: Option<PathBuf>,
    /// Generate an organization of this many accounts instead of loading a fixture.
    #[arg(long, env = "MUSTER_SANDBOX_ACCOUNTS", value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub accounts: Option<u32>,
    /// Regions of the generated world, comma separated.
    #[arg(long, env = "MUSTER_SANDBOX_REGIONS", value_delimiter = ',', requires = "accounts", value_parser = parse_region)]
    pub regions: Vec<String>,
    /// Seed of the generated world.
    #[arg(long, env = "MUSTER_SANDBOX_SEED", requires = "accounts")]
    pub seed: Option<u64>,
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::domain::is_region_name(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("\"{s}\" is not a region name like us-east-1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_fixture_and_a_generated_world_are_exclusive() {
        let err = Cli::try_parse_from([
            "muster",
            "sandbox",
            "--fixture",
            "f.yaml",
            "--accounts",
            "5",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err =
            Cli::try_parse_from(["muster", "sandbox", "--accounts", "5", "--regions", "mars"])
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"mars\" is not a region name like us-east-1"),
            "{err}"
        );
    }
}
