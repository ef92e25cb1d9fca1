//! `muster sandbox`: the emulator on its own, until a signal.

use anyhow::Context;
use muster::cli::SandboxArgs;
use muster_sandbox::{self as sandbox, fixture, Sandbox};

use super::{shutdown_signal, DEMO_FIXTURE};

pub async fn run_sandbox(args: SandboxArgs) -> anyhow::Result<()> {
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
    // Before the exports line: whoever reads it may stop the sandbox at once.
    let stop = shutdown_signal();
    let sb = Sandbox::start(fixture, args.listen).await?;
    tracing::info!(endpoint = %sb.endpoint(), accounts, regions = %regions, "sandbox listening");
    println!("{}", sandbox::exports(&sb.endpoint(), &management, &region));
    stop.await;
    tracing::info!("stopping the sandbox");
    sb.shutdown().await;
    Ok(())
}
