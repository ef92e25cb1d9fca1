//! Daemon settings: a YAML file (`--config`, e.g. `config/muster.yaml`) whose every key is also a
//! flag and an `MUSTER_*` variable. The raw serde struct is read, then flags and variables
//! override it, then it is checked into a `Config`. Relative paths resolve against the settings
//! file's directory, so the same file works from any working directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::SettingsArgs;

/// Removals muster makes in one pass before it refuses and asks for a human.
pub const DEFAULT_MAX_REMOVALS_PER_PASS: usize = 10;
/// Graphs reconciled at once.
pub const DEFAULT_MAX_CONCURRENT_GRAPHS: usize = 4;
/// An invitation still open after this long is reported as needing attention (7 days).
pub const DEFAULT_PENDING_AFTER_SECS: u64 = 7 * 24 * 3600;
/// Days of history the event log keeps.
pub const DEFAULT_RETENTION_DAYS: u64 = 90;
/// Where the event log goes when nothing says otherwise (relative to the working directory).
pub const DEFAULT_STATE_DIR: &str = "muster-state";
/// Settings files larger than this are refused.
const MAX_SETTINGS_BYTES: u64 = 256 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    desired_state: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    max_removals_per_pass: Option<usize>,
    max_concurrent_graphs: Option<usize>,
    pending_invitation_after_secs: Option<u64>,
    retention_days: Option<u64>,
}

/// Checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub desired_state: PathBuf,
    pub state_dir: PathBuf,
    pub max_removals_per_pass: usize,
    pub max_concurrent_graphs: usize,
    pub pending_invitation_after: Duration,
    /// Events older than this are deleted from the log.
    pub retention: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("settings file {path} is {size} bytes; the limit is {MAX_SETTINGS_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Settings from the file `args.config` names (if any), overridden by flags and variables.
    pub fn load(args: &SettingsArgs) -> Result<Config, ConfigError> {
        let (raw, base) = file_settings(args)?;
        let desired_state = args
            .desired_state
            .clone()
            .or(raw.desired_state.clone().map(|p| resolve(&base, p)))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "no desired state: set desired_state in the settings file, --desired-state or MUSTER_DESIRED_STATE".into(),
                )
            })?;
        let state_dir = state_dir_of(args, &raw, &base);
        let max_removals_per_pass = args
            .max_removals_per_pass
            .or(raw.max_removals_per_pass)
            .unwrap_or(DEFAULT_MAX_REMOVALS_PER_PASS);
        let max_concurrent_graphs = args
            .max_concurrent_graphs
            .or(raw.max_concurrent_graphs)
            .unwrap_or(DEFAULT_MAX_CONCURRENT_GRAPHS);
        if !(1..=64).contains(&max_concurrent_graphs) {
            return Err(ConfigError::Invalid(format!(
                "max_concurrent_graphs must be between 1 and 64, got {max_concurrent_graphs}"
            )));
        }
        let pending = raw
            .pending_invitation_after_secs
            .unwrap_or(DEFAULT_PENDING_AFTER_SECS);
        let retention_days = raw.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
        if retention_days == 0 {
            return Err(ConfigError::Invalid(
                "retention_days must be at least 1".into(),
            ));
        }
        Ok(Config {
            retention: Duration::from_secs(retention_days * 86_400),
            desired_state,
            state_dir,
            max_removals_per_pass,
            max_concurrent_graphs,
            pending_invitation_after: Duration::from_secs(pending),
        })
    }
}

/// Only the event log's directory: what `events` needs, without a desired state.
pub fn state_dir(args: &SettingsArgs) -> Result<PathBuf, ConfigError> {
    let (raw, base) = file_settings(args)?;
    Ok(state_dir_of(args, &raw, &base))
}

/// The settings file's contents (empty without one) and the directory its paths are relative to.
fn file_settings(args: &SettingsArgs) -> Result<(RawSettings, PathBuf), ConfigError> {
    match &args.config {
        Some(path) => Ok((
            read(path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )),
        None => Ok((RawSettings::default(), PathBuf::new())),
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
fn state_dir_of(args: &SettingsArgs, raw: &RawSettings, base: &Path) -> PathBuf {
    args.state_dir
        .clone()
        .or_else(|| raw.state_dir.clone().map(|p| resolve(base, p)))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

fn read(path: &Path) -> Result<RawSettings, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_SETTINGS_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    if text.trim().is_empty() {
        return Ok(RawSettings::default());
    }
    serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>) -> SettingsArgs {
        SettingsArgs {
            config,
            desired_state: None,
            state_dir: None,
            max_removals_per_pass: None,
            max_concurrent_graphs: None,
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
    fn a_desired_state_is_required() {
        let err = Config::load(&args(None)).unwrap_err().to_string();
        assert_eq!(err, "no desired state: set desired_state in the settings file, --desired-state or MUSTER_DESIRED_STATE");
    }
}
