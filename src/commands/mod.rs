//! The binary's commands, one file each; `main.rs` only parses, sets up logging and dispatches.
//! They print what a person reads and return the exit code (README's table).

pub mod apply;
pub mod events;
pub mod import;
pub mod plan;
pub mod run;
pub mod sandbox;
pub mod validate;

use muster::cli::SettingsArgs;
use muster::config::Config;

/// The demo world, built in so that `muster sandbox` works from any directory.
pub const DEMO_FIXTURE: &str = include_str!("../../config/sandbox.yaml");

/// Exit codes, part of the interface (README.md): 0 ok / nothing to change, 1 error or
/// invalid, 2 plan has changes.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

/// How long `apply` and `run` wait for the event log's lock (held a moment by a muster that
/// just stopped) before they report it in use.
pub const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

pub fn load_desired(
    settings: &SettingsArgs,
) -> anyhow::Result<Result<(Config, muster::desired::DesiredState), muster::desired::Invalid>> {
    let config = Config::load(settings)?;
    Ok(muster::desired::load(&config.desired_state).map(|d| (config, d)))
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
