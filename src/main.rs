//! The muster binary: parse the command line, set up logging, run the command.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use muster::cli::{
    ApplyArgs, Cli, Command, EventsArgs, LogFormat, Output, PlanArgs, RunArgs, SandboxArgs,
    SettingsArgs,
};
use muster::config::Config;
use muster::sandbox::{self, fixture, Sandbox};

/// The demo world, built in so that `muster sandbox` works from any directory.
const DEMO_FIXTURE: &str = include_str!("../config/sandbox.yaml");

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if matches!(cli.command, Command::Run(_)) {
        muster::daemon::limit_arenas();
    }
    if matches!(
        cli.command,
        Command::Validate(_) | Command::Plan(_) | Command::Events(_)
    ) {
        quiet_on_closed_pipe();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Validate(args) => validate(&args),
            Command::Plan(args) => plan(args).await,
            Command::Apply(args) => apply(args).await,
            Command::Run(args) => run(args).await.map(|()| EXIT_OK),
            Command::Events(args) => events(args),
            Command::Sandbox(args) => run_sandbox(args).await.map(|()| 0),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Read-only commands end quietly when their output pipe closes (`muster events | head`), as
/// Unix tools do, instead of panicking on the failed write. Commands that write to AWS keep
/// Rust's default (the write fails, the work in flight finishes).
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called before any thread is started; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Exit codes, part of the interface (README.md): 0 ok / nothing to change, 1 error or
/// invalid, 2 plan has changes.
const EXIT_OK: u8 = 0;
const EXIT_ERROR: u8 = 1;
const EXIT_CHANGES: u8 = 2;

/// How long `apply` and `run` wait for the event log's lock (held briefly by `muster events`
/// when no muster runs) before they report it in use.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

fn load_desired(
    settings: &SettingsArgs,
) -> anyhow::Result<Result<(Config, muster::desired::DesiredState), muster::desired::Invalid>> {
    let config = Config::load(settings)?;
    Ok(muster::desired::load(&config.desired_state).map(|d| (config, d)))
}

fn validate(args: &SettingsArgs) -> anyhow::Result<u8> {
    match load_desired(args)? {
        Ok((config, d)) => {
            let digest = &d.digest[..12];
            let file = config.desired_state.display();
            if let Some(m) = &d.member {
                let services = match (m.detective, m.securityhub) {
                    (true, true) => "Detective and Security Hub",
                    (true, false) => "Detective",
                    _ => "Security Hub",
                };
                println!(
                    "{file}: valid: member mode, {services} invitations in {} region(s), {} expected administrator(s), accept {}, decline_unexpected {} (digest {digest})",
                    m.regions.len(),
                    m.expected_administrators.len(),
                    m.accept,
                    m.decline_unexpected
                );
                return Ok(EXIT_OK);
            }
            let hub = d
                .securityhub
                .as_ref()
                .map(|s| format!(", Security Hub in {} region(s)", s.regions.len()))
                .unwrap_or_default();
            let org = d
                .organization
                .as_ref()
                .map(|o| {
                    format!(
                        " by hand, plus the organization's from {} selection(s)",
                        o.selection.include.len()
                    )
                })
                .unwrap_or_default();
            println!(
                "{file}: valid: {} accounts{org}, {} graphs{hub} (digest {digest})",
                d.accounts.len(),
                d.detective.graphs.len(),
            );
            Ok(EXIT_OK)
        }
        Err(invalid) => {
            for p in &invalid.0 {
                println!("{p}");
            }
            eprintln!("error: {} problem(s) in the desired state", invalid.0.len());
            Ok(EXIT_ERROR)
        }
    }
}

async fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let (config, desired) = match load_desired(&args.settings)? {
        Ok(v) => v,
        Err(invalid) => anyhow::bail!("{invalid}"),
    };
    let apis =
        muster::reconcile::SdkApis::from_sdk(&muster::aws::sdk_config(&config.aws).await, None);
    if let Some(member) = &desired.member {
        let listings =
            muster::reconcile::member::list(&apis, member, config.max_concurrent_graphs).await;
        let plans = muster::reconcile::member::plan_all(listings, member);
        match args.output {
            Output::Text => print!("{}", muster::report::member_plan_text(&plans)),
            Output::Json => println!("{:#}", muster::report::member_plan_json(&plans)),
        }
        return Ok(if plans.iter().any(|p| p.listed.is_err()) {
            EXIT_ERROR
        } else if muster::reconcile::member::has_changes(&plans) {
            EXIT_CHANGES
        } else {
            EXIT_OK
        });
    }
    let survey = muster::reconcile::survey(
        &apis,
        None,
        &desired,
        &config.plan_settings(),
        config.max_concurrent_graphs,
    )
    .await?;
    let (plan, failures) = (&survey.plan, &survey.failures);
    let desired = &survey.desired;
    match args.output {
        Output::Text => print!(
            "{}",
            muster::report::plan_text(plan, desired, failures, args.show_emails)
        ),
        Output::Json => println!(
            "{:#}",
            muster::report::plan_json(plan, desired, failures, args.show_emails)
        ),
    }
    Ok(if !failures.is_empty() {
        EXIT_ERROR
    } else if plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

async fn apply(args: ApplyArgs) -> anyhow::Result<u8> {
    let (config, desired) = match load_desired(&args.settings)? {
        Ok(v) => v,
        Err(invalid) => anyhow::bail!("{invalid}"),
    };
    let log = muster::eventlog::EventLog::open_waiting(&config.state_dir, LOCK_PATIENCE)?;
    let expired = log.apply_retention(config.retention)?;
    if expired > 0 {
        tracing::info!(events = expired, "deleted events past the retention period");
    }
    let apis =
        muster::reconcile::SdkApis::from_sdk(&muster::aws::sdk_config(&config.aws).await, None);
    let run = muster::reconcile::run_id();
    let span = tracing::info_span!("pass", run = %run);
    let _enter = span.enter();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = muster::reconcile::PassOptions {
        plan: config.plan_settings(),
        concurrency: config.max_concurrent_graphs,
        suspend: config.suspend,
        stop: &stop,
    };
    if config.suspend {
        tracing::warn!("suspended: nothing is written to AWS");
    }
    let report = muster::reconcile::pass(&apis, &log, &run, &desired, &opts).await?;
    if desired.member.is_some() {
        // What was seen at the start of the pass, and what that called for.
        print!("{}", muster::report::member_plan_text(&report.member));
    } else {
        print!(
            "{}",
            muster::report::plan_text(
                &report.plan,
                report.effective.as_ref().unwrap_or(&desired),
                &report.observe_failures,
                args.show_emails
            )
        );
    }
    let a = &report.applied;
    if desired.member.is_some() {
        let n = |change, outcome| {
            a.count("detective", change, outcome) + a.count("securityhub", change, outcome)
        };
        println!(
            "applied: {} accepted, {} declined, {} not processed, {} failed call(s)",
            n("accept", "ok"),
            n("decline", "ok"),
            n("accept", "unprocessed") + n("decline", "unprocessed"),
            a.failed
        );
    } else {
        println!(
            "applied: {} invited, {} removed, {} not processed, {} failed batch(es), {} blocked by the member quota",
            a.invited, a.removed, a.unprocessed, a.failed, a.quota_blocked
        );
        if desired.securityhub.is_some() {
            let n = |change| a.count("securityhub", change, "ok");
            println!(
                "securityhub: {} created, {} invited, {} removed",
                n("create"),
                n("invite"),
                n("remove")
            );
        }
    }
    log.flush()?;
    Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
}

/// The daemon. With `--sandbox`, the built-in sandbox plays AWS and the example desired state
/// is reconciled against it, acting as the demo's security account.
async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    let mut sandbox = None;
    let sdk = if args.sandbox {
        let sb = Sandbox::start(
            fixture::parse("config/sandbox.yaml (built in)", DEMO_FIXTURE)?,
            "127.0.0.1:0".parse()?,
        )
        .await?;
        if args.settings.desired_state.is_none() && args.settings.config.is_none() {
            let local = std::path::PathBuf::from("config/accounts.example.yaml");
            args.settings.desired_state = Some(if local.exists() {
                local
            } else {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(local)
            });
        }
        if args.settings.state_dir.is_none() {
            args.settings.state_dir =
                Some(std::env::temp_dir().join(format!("muster-sandbox-{}", std::process::id())));
        }
        tracing::info!(endpoint = %sb.endpoint(), "sandbox started: muster acts as the demo's security account 222222222222 (no AWS is used)");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(sb.endpoint())
            .credentials_provider(aws_sdk_detective::config::Credentials::new(
                "AKIASANDBOXSECURITY",
                "sandbox",
                None,
                None,
                "muster-sandbox",
            ))
            .load()
            .await;
        sandbox = Some(sb);
        Some(sdk)
    } else {
        None
    };
    let config = Config::load(&args.settings)?;
    let log = muster::eventlog::EventLog::open_waiting(&config.state_dir, LOCK_PATIENCE)?;
    tracing::info!(state_dir = %config.state_dir.display(), desired_state = %config.desired_state.display(), "event log open (read it with `muster events --state-dir`)");
    let sdk = match sdk {
        Some(s) => s,
        None => muster::aws::sdk_config(&config.aws).await,
    };
    let metrics = std::sync::Arc::new(muster::metrics::Metrics::new());
    let sink: std::sync::Arc<dyn muster::aws::RequestSink> = metrics.clone();
    let apis = muster::reconcile::SdkApis::from_sdk(&sdk, Some(sink));
    let ctx = muster::daemon::Context {
        config,
        apis,
        log,
        metrics,
    };
    muster::daemon::run(ctx, shutdown_signal()).await?;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    Ok(())
}

fn events(args: EventsArgs) -> anyhow::Result<u8> {
    let state_dir = muster::config::state_dir(&args.settings)?;
    // Works while another muster holds the log: it reads a copy.
    let log = muster::eventlog::EventLog::open_for_reading(&state_dir)?;
    let mut out = std::io::stdout().lock();
    for e in log.iter() {
        let e = e?;
        if args.account.as_deref().is_some_and(|a| !e.kind.mentions(a))
            || args
                .graph
                .as_deref()
                .is_some_and(|g| e.kind.graph() != Some(g))
            || args.since.is_some_and(|t| e.at() < t)
        {
            continue;
        }
        let line = match args.output {
            Output::Text => muster::report::event_text(&e),
            Output::Json => serde_json::to_string(&e)?,
        };
        if let Err(err) = writeln!(out, "{line}") {
            // A closed pipe (`muster events | head`) is the reader saying it has enough.
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(EXIT_OK);
            }
            return Err(err.into());
        }
    }
    Ok(EXIT_OK)
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
