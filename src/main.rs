//! The muster binary: parse the command line, set up logging, run the command.

use anyhow::Context;
use clap::Parser;
use muster::cli::{Cli, Command, LogFormat, SandboxArgs};
use muster::sandbox::{self, fixture, Sandbox};

/// The demo world, built in so that `muster sandbox` works from any directory.
const DEMO_FIXTURE: &str = include_str!("../config/sandbox.yaml");

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Sandbox(args) => run_sandbox(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run_sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let fixture = match (&args.fixture, args.accounts) {
        (Some(path), _) => fixture::load(path)?,
        (None, Some(accounts)) => {
            let regions = if args.regions.is_empty() {
                vec!["us-east-1".to_owned(), "eu-west-1".to_owned()]
            } else {
                args.regions.clone()
            };
            fixture::generate(&fixture::Generate {
                accounts: accounts as usize,
                regions,
                seed: args.seed.unwrap_or(1),
            })
        }
        (None, None) => fixture::parse("config/sandbox.yaml (built in)", DEMO_FIXTURE)?,
    };
    let management = fixture
        .world
        .organization
        .as_ref()
        .map(|o| o.management_account.clone())
        .or_else(|| fixture.world.accounts.keys().next().cloned())
        .context("the fixture has no account to act as")?;
    let region = fixture.regions[0].clone();
    let accounts = fixture.world.accounts.len();
    let regions = fixture.regions.join(",");
    let sb = Sandbox::start(fixture, args.listen).await?;
    tracing::info!(endpoint = %sb.endpoint(), accounts, regions = %regions, "sandbox listening");
    println!("{}", sandbox::exports(&sb.endpoint(), &management, &region));
    shutdown_signal().await;
    tracing::info!("stopping the sandbox");
    sb.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
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
