//! The binary's commands, one file each; `main.rs` only parses, sets up logging and dispatches.
//! They print what a person reads and return the exit code (README's table).

pub mod apply;
pub mod events;
pub mod import;
pub mod plan;
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod validate;

use muster::cli::SettingsArgs;
use muster::config::Config;

/// The demo world, built in so that `muster sandbox` works from any directory.
#[cfg(feature = "sandbox")]
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

/// Resolves at SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// it is first polled: a signal that comes right after (a test that stops a sandbox as soon as
/// it printed its exports line) is never the default action that kills the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                // No signal handling: stop only on Ctrl-C.
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
