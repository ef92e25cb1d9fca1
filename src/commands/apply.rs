//! `muster apply`: one pass, recorded in the event log; what was planned and what was done.

use muster::cli::ApplyArgs;

use super::{load_desired, EXIT_ERROR, EXIT_OK, LOCK_PATIENCE};

pub async fn apply(args: ApplyArgs) -> anyhow::Result<u8> {
    let mut lap = muster::reconcile::Lap::start();
    let (config, desired) = match load_desired(&args.settings)? {
        Ok(v) => v,
        Err(invalid) => anyhow::bail!("{invalid}"),
    };
    let loaded = lap.lap();
    let log = muster::eventlog::EventLog::open_waiting(&config.state_dir, LOCK_PATIENCE)?;
    let expired = log.apply_retention(config.retention)?;
    if expired > 0 {
        tracing::info!(events = expired, "deleted events past the retention period");
    }
    let opened = lap.lap();
    let sdk = muster::aws::sdk_config(&config.aws).await;
    let apis = muster::reconcile::Apis::from_sdk(&sdk, None);
    let member_roles =
        muster::aws::roles::MemberRoles::of_setting(config.member_role.as_deref(), &sdk, None);
    let clients = lap.lap();
    let run = muster::reconcile::run_id();
    let span = tracing::info_span!("pass", run = %run);
    let _enter = span.enter();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = muster::reconcile::PassOptions {
        plan: config.plan_settings(),
        concurrency: config.max_concurrent_graphs,
        suspend: config.suspend,
        stop: &stop,
        members: member_roles.as_ref(),
    };
    if config.suspend {
        tracing::warn!("suspended: nothing is written to AWS");
    }
    let report = muster::reconcile::pass(&apis, &log, &run, &desired, &opts).await?;
    let passed = lap.lap();
    if desired.member.is_some() {
        // What was seen at the start of the pass, and what that called for.
        print!("{}", muster::report::member_plan_text(&report.member));
    } else {
        muster::report::write_plan_text(
            &mut |piece| print!("{piece}"),
            &report.plan,
            report.effective.as_ref().unwrap_or(&desired),
            &report.observe_failures,
            args.show_emails,
        );
    }
    if let Some(roles) = &member_roles {
        let text = muster::report::acceptance_text(&report.accepts, roles.template());
        print!("{text}");
    }
    print!(
        "{}",
        muster::report::applied_text(&report.applied, &desired)
    );
    log.flush()?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    tracing::info!(
        target: "muster::timings",
        desired_state_ms = ms(loaded),
        event_log_ms = ms(opened),
        clients_ms = ms(clients),
        pass_ms = ms(passed),
        report_ms = ms(lap.lap()),
        "apply timings"
    );
    Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
}
