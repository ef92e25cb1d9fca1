//! `muster run`: the daemon, against AWS or (with `--sandbox`) the built-in sandbox.

use muster::cli::RunArgs;
use muster::config::Config;

use super::{shutdown_signal, LOCK_PATIENCE};

/// The daemon. With `--sandbox`, the built-in sandbox plays AWS and the example desired state
/// is reconciled against it, acting as the demo's security account.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // First: a SIGTERM during start-up stops muster cleanly too.
    let stop = shutdown_signal();
    #[cfg(feature = "sandbox")]
    let mut args = args;
    #[cfg(feature = "sandbox")]
    let sandbox = match args.sandbox {
        true => Some(demo::start(&mut args).await?),
        false => None,
    };
    #[cfg(feature = "sandbox")]
    let sdk = sandbox.as_ref().map(|(_, sdk)| sdk.clone());
    #[cfg(not(feature = "sandbox"))]
    let sdk: Option<aws_config::SdkConfig> = None;
    let config = Config::load(&args.settings)?;
    let log = muster::eventlog::EventLog::open_waiting(&config.state_dir, LOCK_PATIENCE)?;
    tracing::info!(state_dir = %config.state_dir.display(), desired_state = %config.desired_state.display(), "event log open (read it with `muster events --state-dir`)");
    let sdk = match sdk {
        Some(s) => s,
        None => muster::aws::sdk_config(&config.aws).await,
    };
    let metrics = std::sync::Arc::new(muster::metrics::Metrics::new());
    let sink: std::sync::Arc<dyn muster::aws::RequestSink> = metrics.clone();
    let member_roles = muster::aws::roles::MemberRoles::of_setting(
        config.member_role.as_deref(),
        &sdk,
        Some(sink.clone()),
    );
    let apis = muster::reconcile::Apis::from_sdk(&sdk, Some(sink));
    let ctx = muster::daemon::Context {
        config,
        apis,
        log,
        metrics,
        member_roles,
    };
    muster::daemon::run(ctx, stop).await?;
    #[cfg(feature = "sandbox")]
    if let Some((sb, _)) = sandbox {
        sb.shutdown().await;
    }
    Ok(())
}

/// `run --sandbox`: the built-in demo world plays AWS (a build with the `sandbox` feature).
#[cfg(feature = "sandbox")]
mod demo {
    use muster::cli::RunArgs;
    use muster_sandbox::{fixture, Sandbox};

    use super::super::DEMO_FIXTURE;

    /// Starts the demo world and points `args` at the example desired state (unless it names
    /// one) and a fresh state directory; the SDK settings act as its security account's user.
    pub async fn start(args: &mut RunArgs) -> anyhow::Result<(Sandbox, aws_config::SdkConfig)> {
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
        Ok((sb, sdk))
    }
}
