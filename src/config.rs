//! Daemon settings: a YAML file (`--config`, e.g. `config/muster.yaml`) whose every key is also a
//! flag and an `MUSTER_*` variable: one struct, `cli::SettingsArgs`, is all three. The file is
//! read into it, then flags and variables override it, then it is checked into a `Config`. Relative paths resolve against the settings
//! file's directory, so the same file works from any working directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::SettingsArgs;

/// Removals muster makes in one pass before it refuses and asks for a human.
pub const DEFAULT_MAX_REMOVALS_PER_PASS: usize = 10;
/// Graphs (and, beside them, Security Hub regions) reconciled at once: every one a desired
/// state can name, since each sits behind its own regional endpoint and waiting gains nothing.
/// The setting stays an upper bound.
pub const DEFAULT_MAX_CONCURRENT_GRAPHS: usize = 64;
/// An invitation still open after this long is reported as needing attention (7 days).
pub const DEFAULT_PENDING_AFTER_SECS: u64 = 7 * 24 * 3600;
/// How long a central-configuration association may stay PENDING: AWS settles most in minutes.
pub const DEFAULT_ASSOCIATION_PENDING_AFTER_SECS: u64 = 3600;
/// Days of history the event log keeps.
pub const DEFAULT_RETENTION_DAYS: u64 = 90;
/// Where the event log goes when nothing says otherwise (relative to the working directory).
pub const DEFAULT_STATE_DIR: &str = "muster-state";
/// When passes run: every 10 minutes, at second 0.
pub const DEFAULT_SCHEDULE: &str = "0 */10 * * * *";
/// Where `/metrics`, `/healthz` and `/readyz` are served.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// Attempts per AWS call, first included (the SDK's standard retry mode).
pub const DEFAULT_AWS_MAX_ATTEMPTS: u32 = 5;
/// Seconds an AWS call may take in all, retries included, and one attempt of it.
pub const DEFAULT_AWS_OPERATION_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_AWS_ATTEMPT_TIMEOUT_SECS: u64 = 20;
/// The AWS settings with none set: what a command without a settings file (`import`) uses.
pub const DEFAULT_AWS: AwsSettings = AwsSettings {
    max_attempts: DEFAULT_AWS_MAX_ATTEMPTS,
    operation_timeout: Duration::from_secs(DEFAULT_AWS_OPERATION_TIMEOUT_SECS),
    attempt_timeout: Duration::from_secs(DEFAULT_AWS_ATTEMPT_TIMEOUT_SECS),
};
/// Seconds a SIGTERM waits for the batch in flight before muster exits.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 20;
/// Settings files larger than this are refused.
const MAX_SETTINGS_BYTES: u64 = 256 * 1024;

/// The range a numeric setting must be in, checked when the settings load. The bounds keep
/// every duration derived from a setting far inside what a `Duration` of seconds holds, so no
/// arithmetic on a setting can overflow or wrap (a wrapped `retention_days` once meant "delete
/// every event").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
}

impl Bound {
    const fn new(key: &'static str, min: u64, max: u64) -> Bound {
        Bound { key, min, max }
    }

    fn check(self, value: u64) -> Result<u64, String> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "{} must be between {} and {}, got {value}",
                self.key, self.min, self.max
            ))
        }
    }
}

/// Every problem the settings have, collected so that all are reported at once (as `validate`
/// does for the desired state).
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn ok<T>(&mut self, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    /// `value` if it is in `b`'s range; otherwise the problem is kept and `b.min` stands in
    /// (the settings are refused anyway).
    fn bound(&mut self, b: Bound, value: u64) -> u64 {
        self.ok(b.check(value)).unwrap_or(b.min)
    }

    fn into_error(self) -> ConfigError {
        match self.0.as_slice() {
            [one] => ConfigError::Invalid(one.clone()),
            many => ConfigError::Invalid(format!(
                "{} problems in the settings:\n  {}",
                many.len(),
                many.join("\n  ")
            )),
        }
    }
}

/// The numeric settings, each checked against its bound.
struct Numbers {
    max_removals_per_pass: usize,
    max_concurrent_graphs: usize,
    pending_secs: u64,
    association_pending_secs: u64,
    retention_days: u64,
    max_attempts: u32,
    operation_timeout_secs: u64,
    attempt_timeout_secs: u64,
    grace_secs: u64,
}

impl Numbers {
    fn check(args: &SettingsArgs, raw: &SettingsArgs, problems: &mut Problems) -> Numbers {
        let wide = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let removals = args.max_removals_per_pass.or(raw.max_removals_per_pass);
        let concurrent = args.max_concurrent_graphs.or(raw.max_concurrent_graphs);
        let mut n = Numbers {
            max_removals_per_pass: problems.bound(
                MAX_REMOVALS,
                wide(removals.unwrap_or(DEFAULT_MAX_REMOVALS_PER_PASS)),
            ) as usize,
            max_concurrent_graphs: problems.bound(
                MAX_CONCURRENT,
                wide(concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT_GRAPHS)),
            ) as usize,
            pending_secs: problems.bound(
                PENDING_AFTER,
                (args.pending_invitation_after_secs)
                    .or(raw.pending_invitation_after_secs)
                    .unwrap_or(DEFAULT_PENDING_AFTER_SECS),
            ),
            association_pending_secs: problems.bound(
                ASSOCIATION_PENDING_AFTER,
                (args.association_pending_after_secs)
                    .or(raw.association_pending_after_secs)
                    .unwrap_or(DEFAULT_ASSOCIATION_PENDING_AFTER_SECS),
            ),
            retention_days: problems.bound(
                RETENTION,
                (args.retention_days.or(raw.retention_days)).unwrap_or(DEFAULT_RETENTION_DAYS),
            ),
            max_attempts: problems.bound(
                MAX_ATTEMPTS,
                u64::from(
                    (args.aws_max_attempts.or(raw.aws_max_attempts))
                        .unwrap_or(DEFAULT_AWS_MAX_ATTEMPTS),
                ),
            ) as u32,
            operation_timeout_secs: problems.bound(
                OPERATION_TIMEOUT,
                (args.aws_operation_timeout_secs)
                    .or(raw.aws_operation_timeout_secs)
                    .unwrap_or(DEFAULT_AWS_OPERATION_TIMEOUT_SECS),
            ),
            attempt_timeout_secs: 0,
            grace_secs: 0,
        };
        n.attempt_timeout_secs = problems.bound(
            ATTEMPT_TIMEOUT,
            (args.aws_attempt_timeout_secs)
                .or(raw.aws_attempt_timeout_secs)
                .unwrap_or(DEFAULT_AWS_ATTEMPT_TIMEOUT_SECS),
        );
        if n.operation_timeout_secs < n.attempt_timeout_secs {
            problems.0.push(format!(
                "aws_attempt_timeout_secs ({}) must be at most aws_operation_timeout_secs ({})",
                n.attempt_timeout_secs, n.operation_timeout_secs
            ));
        }
        n.grace_secs = problems.bound(
            SHUTDOWN_GRACE,
            (args.shutdown_grace_secs.or(raw.shutdown_grace_secs))
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
        );
        n
    }
}

const MAX_REMOVALS: Bound = Bound::new("max_removals_per_pass", 0, 10_000);
const MAX_CONCURRENT: Bound = Bound::new("max_concurrent_graphs", 1, 64);
const PENDING_AFTER: Bound = Bound::new("pending_invitation_after_secs", 0, 31_536_000);
const ASSOCIATION_PENDING_AFTER: Bound =
    Bound::new("association_pending_after_secs", 0, 31_536_000);
const RETENTION: Bound = Bound::new("retention_days", 1, 36_500);
const MAX_ATTEMPTS: Bound = Bound::new("aws_max_attempts", 1, 10);
const OPERATION_TIMEOUT: Bound = Bound::new("aws_operation_timeout_secs", 1, 3_600);
const ATTEMPT_TIMEOUT: Bound = Bound::new("aws_attempt_timeout_secs", 1, 3_600);
const SHUTDOWN_GRACE: Bound = Bound::new("shutdown_grace_secs", 0, 300);

/// A setting's default as README's settings table shows it (`None`: it has none to show).
pub fn default_shown(key: &str) -> Option<String> {
    Some(match key {
        "desired_state" => "(required)".to_owned(),
        "state_dir" => format!("`{DEFAULT_STATE_DIR}`"),
        "max_removals_per_pass" => DEFAULT_MAX_REMOVALS_PER_PASS.to_string(),
        "max_concurrent_graphs" => DEFAULT_MAX_CONCURRENT_GRAPHS.to_string(),
        "pending_invitation_after_secs" => format!("{DEFAULT_PENDING_AFTER_SECS} (7 days)"),
        "association_pending_after_secs" => {
            format!("{DEFAULT_ASSOCIATION_PENDING_AFTER_SECS} (an hour)")
        }
        "retention_days" => DEFAULT_RETENTION_DAYS.to_string(),
        "schedule" => format!("`{DEFAULT_SCHEDULE}`"),
        "metrics_listen" => format!("`{DEFAULT_METRICS_LISTEN}`"),
        "suspend" => "false".to_owned(),
        "member_role" => "none".to_owned(),
        "aws_max_attempts" => DEFAULT_AWS_MAX_ATTEMPTS.to_string(),
        "aws_operation_timeout_secs" => DEFAULT_AWS_OPERATION_TIMEOUT_SECS.to_string(),
        "aws_attempt_timeout_secs" => DEFAULT_AWS_ATTEMPT_TIMEOUT_SECS.to_string(),
        "shutdown_grace_secs" => DEFAULT_SHUTDOWN_GRACE_SECS.to_string(),
        _ => return None,
    })
}

/// Every numeric setting's range, as README's settings table gives them.
pub const BOUNDS: [Bound; 9] = [
    MAX_REMOVALS,
    MAX_CONCURRENT,
    PENDING_AFTER,
    ASSOCIATION_PENDING_AFTER,
    RETENTION,
    MAX_ATTEMPTS,
    OPERATION_TIMEOUT,
    ATTEMPT_TIMEOUT,
    SHUTDOWN_GRACE,
];

/// Checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub desired_state: PathBuf,
    pub state_dir: PathBuf,
    pub max_removals_per_pass: usize,
    pub max_concurrent_graphs: usize,
    pub pending_invitation_after: Duration,
    pub association_pending_after: Duration,
    /// Events older than this are deleted from the log.
    pub retention: Duration,
    /// When `muster run` reconciles, besides at start and on a change to the desired state.
    pub schedule: Schedule,
    pub metrics_listen: std::net::SocketAddr,
    /// Observe and report drift, write nothing to AWS.
    pub suspend: bool,
    pub aws: AwsSettings,
    /// How long a SIGTERM waits for the batch in flight.
    pub shutdown_grace: Duration,
    /// The role assumed in invited member accounts to accept their invitations
    /// (`{account}` in it stands for the member), when invitations are accepted centrally.
    pub member_role: Option<String>,
}

/// Defined with the clients it configures; checked here.
pub use crate::aws::AwsSettings;

/// A checked cron schedule, kept in the six-field form (seconds first) that
/// tokio-cron-scheduler reads. Five-field schedules get second 0.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Schedule {}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        let six = match fields {
            5 => format!("0 {}", text.trim()),
            6 | 7 => text.split_whitespace().collect::<Vec<_>>().join(" "),
            n => {
                return Err(format!(
                    "schedule {text:?} has {n} fields; write a cron schedule of 5 fields (minute hour day month weekday) or 6 (second first), e.g. \"*/10 * * * *\""
                ))
            }
        };
        // The same parser settings tokio-cron-scheduler uses, so what passes here runs there.
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&six)
            .map_err(|e| format!("schedule {text:?} is not a valid cron schedule: {e}"))?;
        let s = Schedule { text: six, cron };
        if s.next_after(chrono::Utc::now()).is_none() {
            return Err(format!("schedule {text:?} never fires"));
        }
        Ok(s)
    }

    /// Six fields, seconds first.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn next_after(
        &self,
        t: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The shortest gap between the next few runs: what backoff stays below.
    pub fn shortest_interval(&self) -> Duration {
        let mut t = chrono::Utc::now();
        let mut shortest: Option<Duration> = None;
        let mut prev: Option<chrono::DateTime<chrono::Utc>> = None;
        for _ in 0..8 {
            let Some(next) = self.next_after(t) else {
                break;
            };
            if let Some(p) = prev {
                let gap = next.signed_duration_since(p).to_std().unwrap_or_default();
                shortest = Some(shortest.map_or(gap, |s: Duration| s.min(gap)));
            }
            prev = Some(next);
            t = next;
        }
        shortest.unwrap_or(Duration::from_secs(600))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: crate::input::ReadError,
    },
    #[error("settings file {path} is {size} bytes; the limit is {MAX_SETTINGS_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    /// The file does not parse: where, when the problem has a place (line, column).
    #[error("{}", placed(path, *at, message))]
    Parse {
        path: PathBuf,
        at: Option<(usize, usize)>,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// `path: message`, or `path:line:col: message` when the problem has a place.
fn placed(path: &Path, at: Option<(usize, usize)>, message: &str) -> String {
    match at {
        Some((line, col)) => format!("{}:{line}:{col}: {message}", path.display()),
        None => format!("{}: {message}", path.display()),
    }
}

impl Config {
    /// What the pure plan needs from the settings.
    pub fn plan_settings(&self) -> crate::plan::PlanSettings {
        crate::plan::PlanSettings {
            max_removals_per_pass: self.max_removals_per_pass,
            pending_invitation_after: self.pending_invitation_after,
            member_limit: crate::plan::GRAPH_MEMBER_LIMIT,
            association_pending_after: self.association_pending_after,
        }
    }

    /// Settings from the file `args.config` names (if any), overridden by flags and variables.
    /// Every problem is reported, not only the first.
    pub fn load(args: &SettingsArgs) -> Result<Config, ConfigError> {
        let (raw, base) = file_settings(args)?;
        let mut problems = Problems::default();
        let desired_state = args
            .desired_state
            .clone()
            .or(raw.desired_state.clone().map(|p| resolve(&base, p)))
            .ok_or_else(|| {
                "no desired state: set desired_state in the settings file, --desired-state or MUSTER_DESIRED_STATE".to_owned()
            });
        let desired_state = problems.ok(desired_state);
        let schedule = problems.ok(Schedule::parse(
            args.schedule
                .as_deref()
                .or(raw.schedule.as_deref())
                .unwrap_or(DEFAULT_SCHEDULE),
        ));
        let listen = args
            .metrics_listen
            .as_deref()
            .or(raw.metrics_listen.as_deref())
            .unwrap_or(DEFAULT_METRICS_LISTEN);
        let metrics_listen = problems.ok(listen.parse().map_err(|_| {
            format!(
                "metrics_listen {listen:?} is not an address and port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464"
            )
        }));
        let n = Numbers::check(args, &raw, &mut problems);
        let member_role = args.member_role.clone().or(raw.member_role.clone());
        if let Some(t) = &member_role {
            problems.ok(crate::aws::roles::check_template(t));
        }
        let (Some(desired_state), Some(schedule), Some(metrics_listen), true) = (
            desired_state,
            schedule,
            metrics_listen,
            problems.0.is_empty(),
        ) else {
            return Err(problems.into_error());
        };
        Ok(Config {
            schedule,
            metrics_listen,
            suspend: args.suspend || raw.suspend,
            aws: AwsSettings {
                max_attempts: n.max_attempts,
                operation_timeout: Duration::from_secs(n.operation_timeout_secs),
                attempt_timeout: Duration::from_secs(n.attempt_timeout_secs),
            },
            shutdown_grace: Duration::from_secs(n.grace_secs),
            // At most 36,500 days: the product is far from overflowing.
            retention: Duration::from_secs(n.retention_days * 86_400),
            state_dir: state_dir_of(args, &raw, &base),
            desired_state,
            max_removals_per_pass: n.max_removals_per_pass,
            max_concurrent_graphs: n.max_concurrent_graphs,
            pending_invitation_after: Duration::from_secs(n.pending_secs),
            association_pending_after: Duration::from_secs(n.association_pending_secs),
            member_role,
        })
    }
}

/// Only the event log's directory: what `events` needs, without a desired state.
pub fn state_dir(args: &SettingsArgs) -> Result<PathBuf, ConfigError> {
    let (raw, base) = file_settings(args)?;
    Ok(state_dir_of(args, &raw, &base))
}

/// The settings file's contents (empty without one) and the directory its paths are relative to.
fn file_settings(args: &SettingsArgs) -> Result<(SettingsArgs, PathBuf), ConfigError> {
    match &args.config {
        Some(path) => Ok((
            read(path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )),
        None => Ok((SettingsArgs::default(), PathBuf::new())),
    }
}

fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// The flag or variable, else the file's (relative to it), else the default.
fn state_dir_of(args: &SettingsArgs, raw: &SettingsArgs, base: &Path) -> PathBuf {
    args.state_dir
        .clone()
        .or_else(|| raw.state_dir.clone().map(|p| resolve(base, p)))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

fn read(path: &Path) -> Result<SettingsArgs, ConfigError> {
    let bytes = crate::input::read_regular(path, MAX_SETTINGS_BYTES).map_err(|e| match e {
        crate::input::ReadError::TooLarge { size, .. } => ConfigError::TooLarge {
            path: path.to_owned(),
            size,
        },
        other => ConfigError::Read {
            path: path.to_owned(),
            source: other,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        at: None,
        message: format!(
            "the file is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    if text.trim().is_empty() {
        return Ok(SettingsArgs::default());
    }
    if let Some(pos) = crate::desired::yaml::second_document(&text) {
        return Err(ConfigError::Parse {
            path: path.to_owned(),
            at: Some((pos.line, pos.col)),
            message: "a settings file holds one YAML document; found another here".into(),
        });
    }
    serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        at: None,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>) -> SettingsArgs {
        SettingsArgs {
            config,
            ..SettingsArgs::default()
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_settings_file_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("muster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("muster.yaml");
        std::fs::write(
            &file,
            "desired_state: accounts.yaml\nstate_dir: state\nmax_removals_per_pass: 3\n",
        )
        .unwrap();
        let c = Config::load(&args(Some(file.clone()))).unwrap();
        assert_eq!(c.desired_state, dir.join("accounts.yaml"));
        assert_eq!(c.state_dir, dir.join("state"));
        assert_eq!(c.max_removals_per_pass, 3);
        assert_eq!(c.max_concurrent_graphs, DEFAULT_MAX_CONCURRENT_GRAPHS);
        let mut a = args(Some(file.clone()));
        a.max_removals_per_pass = Some(0);
        a.desired_state = Some("/elsewhere.yaml".into());
        let c = Config::load(&a).unwrap();
        assert_eq!(
            (c.max_removals_per_pass, c.desired_state),
            (0, PathBuf::from("/elsewhere.yaml"))
        );
        std::fs::write(&file, "desired_state: a.yaml\nstate_dri: x\n").unwrap();
        let err = Config::load(&args(Some(file.clone())))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `state_dri`"), "{err}");
        assert!(err.contains("line 2 column 1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn schedules_are_checked_at_load_with_the_reason() {
        assert_eq!(
            Schedule::parse("*/10 * * * *").unwrap().as_str(),
            "0 */10 * * * *"
        );
        assert_eq!(
            Schedule::parse("*/2 * * * * *")
                .unwrap()
                .shortest_interval(),
            Duration::from_secs(2)
        );
        assert_eq!(
            Schedule::parse("0 */10 * * * *")
                .unwrap()
                .shortest_interval(),
            Duration::from_secs(600)
        );
        assert_eq!(
            Schedule::parse("every 10 minutes").unwrap_err(),
            "schedule \"every 10 minutes\" has 3 fields; write a cron schedule of 5 fields (minute hour day month weekday) or 6 (second first), e.g. \"*/10 * * * *\""
        );
        let err = Schedule::parse("*/10 * * * 9").unwrap_err();
        assert!(
            err.starts_with("schedule \"*/10 * * * 9\" is not a valid cron schedule: "),
            "{err}"
        );
        let mut a = args(None);
        a.desired_state = Some("a.yaml".into());
        a.schedule = Some("61 * * * *".into());
        let err = Config::load(&a).unwrap_err().to_string();
        assert!(
            err.starts_with("schedule \"61 * * * *\" is not a valid"),
            "{err}"
        );
        a.schedule = None;
        a.metrics_listen = Some("localhost".into());
        assert_eq!(
            Config::load(&a).unwrap_err().to_string(),
            "metrics_listen \"localhost\" is not an address and port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464"
        );
        a.metrics_listen = None;
        let c = Config::load(&a).unwrap();
        assert_eq!(c.schedule.as_str(), "0 */10 * * * *");
        assert_eq!(c.metrics_listen.to_string(), "127.0.0.1:9464");
        assert!(!c.suspend);
        assert_eq!(c.aws.max_attempts, 5);
    }

    #[test]
    fn every_problem_in_the_settings_is_reported_at_once() {
        let (dir, file) = settings_file(
            "many",
            "retention_days: 0\nshutdown_grace_secs: 301\nschedule: \"61 * * * *\"\nmetrics_listen: nowhere\n",
        );
        let err = Config::load(&args(Some(file))).unwrap_err().to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[0], "5 problems in the settings:");
        assert_eq!(
            lines[1],
            "  no desired state: set desired_state in the settings file, --desired-state or MUSTER_DESIRED_STATE"
        );
        assert!(
            lines[2].starts_with("  schedule \"61 * * * *\" is not a valid cron schedule: "),
            "{err}"
        );
        assert_eq!(
            &lines[3..],
            [
                "  metrics_listen \"nowhere\" is not an address and port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464",
                "  retention_days must be between 1 and 36500, got 0",
                "  shutdown_grace_secs must be between 0 and 300, got 301",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_desired_state_is_required() {
        let err = Config::load(&args(None)).unwrap_err().to_string();
        assert_eq!(err, "no desired state: set desired_state in the settings file, --desired-state or MUSTER_DESIRED_STATE");
    }

    #[test]
    fn a_member_role_must_name_the_account_in_an_iam_role_arn() {
        let (_dir, file) = settings_file(
            "member-role",
            "desired_state: a.yaml\nmember_role: \"arn:aws:iam::{account}:role/MusterMember\"\n",
        );
        let c = Config::load(&args(Some(file.clone()))).unwrap();
        assert_eq!(
            c.member_role.as_deref(),
            Some("arn:aws:iam::{account}:role/MusterMember")
        );
        let mut a = args(Some(file));
        a.member_role = Some("arn:aws:iam::123456789012:role/MusterMember".into());
        let err = Config::load(&a).unwrap_err().to_string();
        assert_eq!(
            err,
            "member_role \"arn:aws:iam::123456789012:role/MusterMember\" must be an IAM role ARN with {account} as its account, e.g. \"arn:aws:iam::{account}:role/MusterMember\""
        );
    }

    fn settings_file(name: &str, text: &str) -> (PathBuf, PathBuf) {
        let prefix = format!("muster-config-{name}");
        crate::input::scratch_file(&prefix, "muster.yaml", text.as_bytes())
    }

    #[test]
    fn a_wrapping_retention_is_refused_naming_the_key_and_the_range() {
        for days in ["144115188075855872", "18446744073709551615", "0", "36501"] {
            let (dir, file) = settings_file(
                "retention",
                &format!("desired_state: a.yaml\nretention_days: {days}\n"),
            );
            assert_eq!(
                Config::load(&args(Some(file))).unwrap_err().to_string(),
                format!("retention_days must be between 1 and 36500, got {days}")
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_settings_file_with_a_second_document_is_refused_where_it_starts() {
        let (dir, file) = settings_file(
            "documents",
            "desired_state: a.yaml\n---\nretention_days: 1\n---\n: [\n",
        );
        assert_eq!(
            Config::load(&args(Some(file.clone())))
                .unwrap_err()
                .to_string(),
            format!(
                "{}:2:1: a settings file holds one YAML document; found another here",
                file.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Values a property test must always try: the edges of each range and of u64.
    fn edges(b: Bound) -> Vec<u64> {
        vec![
            0,
            1,
            b.min,
            b.max,
            b.min.saturating_sub(1),
            b.max + 1,
            1 << 57,
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ]
    }

    /// Loads settings with `key: value` (and the other timeout set so that it lets any value of
    /// this one through); either refused naming the key, or what the value says.
    fn check_setting(b: Bound, value: u64) -> Result<(), String> {
        let extra = match b.key {
            "aws_attempt_timeout_secs" => "aws_operation_timeout_secs: 3600\n",
            "aws_operation_timeout_secs" => "aws_attempt_timeout_secs: 1\n",
            _ => "",
        };
        let (dir, file) = settings_file(
            "property",
            &format!("desired_state: a.yaml\n{extra}{}: {value}\n", b.key),
        );
        let got = Config::load(&args(Some(file)));
        std::fs::remove_dir_all(&dir).unwrap();
        let in_range = (b.min..=b.max).contains(&value);
        match (got, in_range) {
            (Ok(c), true) => {
                let derived = match b.key {
                    "max_removals_per_pass" => c.max_removals_per_pass as u64,
                    "max_concurrent_graphs" => c.max_concurrent_graphs as u64,
                    "pending_invitation_after_secs" => c.pending_invitation_after.as_secs(),
                    "association_pending_after_secs" => c.association_pending_after.as_secs(),
                    "retention_days" => c.retention.as_secs() / 86_400,
                    "aws_max_attempts" => u64::from(c.aws.max_attempts),
                    "aws_operation_timeout_secs" => c.aws.operation_timeout.as_secs(),
                    "aws_attempt_timeout_secs" => c.aws.attempt_timeout.as_secs(),
                    "shutdown_grace_secs" => c.shutdown_grace.as_secs(),
                    other => return Err(format!("no check for {other}")),
                };
                if b.key == "retention_days" && c.retention != Duration::from_secs(value * 86_400) {
                    return Err(format!("retention {:?} for {value} days", c.retention));
                }
                (derived == value)
                    .then_some(())
                    .ok_or(format!("{}: {value} became {derived}", b.key))
            }
            (Err(e), false) => {
                let e = e.to_string();
                let range = format!(
                    "{} must be between {} and {}, got {value}",
                    b.key, b.min, b.max
                );
                // Past the raw field's type, serde refuses it, naming the key too.
                (e == range || e.contains(&format!("{}: invalid value", b.key)))
                    .then_some(())
                    .ok_or(format!("{}: {value}: {e}", b.key))
            }
            (Ok(_), false) => Err(format!("{} = {value} was taken", b.key)),
            (Err(e), true) => Err(format!("{} = {value} was refused: {e}", b.key)),
        }
    }

    #[test]
    fn every_numeric_setting_at_its_edges_is_checked() {
        for b in BOUNDS {
            for v in edges(b) {
                check_setting(b, v).unwrap();
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(16),
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn any_numeric_setting_is_refused_naming_it_or_taken_as_it_says(
            which in 0..BOUNDS.len(),
            value in proptest::prop_oneof![0u64..100_000, proptest::prelude::any::<u64>()],
        ) {
            let b = BOUNDS[which];
            proptest::prop_assert!(check_setting(b, value).is_ok(), "{:?}", check_setting(b, value));
        }
    }

    /// README's settings table is the settings: a row a key of `SettingsArgs` (its fields are
    /// the file's keys), each with the flag and variable clap gives it, the default muster uses
    /// and, for a number, its range.
    #[test]
    fn readmes_settings_table_is_the_settings() {
        use clap::Args;
        let readme = include_str!("../README.md");
        let head = "| key | flag / variable | default | meaning |";
        let table = readme
            .split(head)
            .nth(1)
            .expect("README has the settings table");
        let rows: Vec<Vec<String>> = (table.lines().skip(2))
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                (l.split(" | ")
                    .map(|c| c.trim_matches(['|', ' ']).to_owned()))
                .collect()
            })
            .collect();
        let cmd = SettingsArgs::augment_args(clap::Command::new("settings"));
        let keys: Vec<String> = (cmd.get_arguments())
            .map(|a| a.get_id().to_string())
            .filter(|k| k != "config")
            .collect();
        let shown: Vec<String> = rows
            .iter()
            .map(|r| r[0].trim_matches('`').to_owned())
            .collect();
        assert_eq!(
            shown, keys,
            "README's keys, in order, are SettingsArgs's fields"
        );
        for (row, arg) in rows
            .iter()
            .zip(cmd.get_arguments().filter(|a| a.get_id() != "config"))
        {
            let key = arg.get_id().as_str();
            let flag = format!(
                "`--{}` / `{}`",
                arg.get_long().unwrap(),
                arg.get_env().unwrap().to_string_lossy()
            );
            assert_eq!(row[1], flag, "{key}: flag / variable");
            assert_eq!(
                row[1],
                format!(
                    "`--{}` / `MUSTER_{}`",
                    key.replace('_', "-"),
                    key.to_uppercase()
                )
            );
            assert_eq!(Some(row[2].clone()), default_shown(key), "{key}: default");
            if let Some(b) = BOUNDS.iter().find(|b| b.key == key) {
                let range = format!("{}..{}", b.min, b.max);
                let whole = |(at, _): (usize, &str)| {
                    let before = row[3][..at].chars().last();
                    let after = row[3][at + range.len()..].chars().next();
                    !before.is_some_and(|c| c.is_ascii_digit())
                        && !after.is_some_and(|c| c.is_ascii_digit())
                };
                assert!(
                    row[3].match_indices(&range).any(whole),
                    "{key}: README gives no {range}): {}",
                    row[3]
                );
            }
        }
        assert_eq!(
            BOUNDS
                .iter()
                .filter(|b| keys.iter().any(|k| k == b.key))
                .count(),
            BOUNDS.len()
        );
        // Every key is a file key too (the same struct, unknown keys refused).
        for key in &keys {
            let yaml = format!("{key}: null\n");
            let parsed = serde_yaml::from_str::<SettingsArgs>(&yaml);
            let refused = matches!(&parsed, Err(e) if e.to_string().contains("unknown field"));
            assert!(!refused, "{key} is not a settings-file key: {parsed:?}");
        }
    }
}
