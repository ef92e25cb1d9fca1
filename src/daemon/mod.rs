//! `muster run`: reconcile at start, on the cron schedule and within seconds of a change to the
//! desired state; serve metrics; stop cleanly.
//!
//! Triggers (startup, schedule tick, file change, retry after a failure) only wake the pass
//! loop; the loop is the one place passes run, so there are never two at once, and triggers that
//! arrive during a pass coalesce into one follow-up (a `Notify` holds at most one permit). Each
//! pass re-reads the desired state; a broken one keeps the last good one in use.
//!
//! Layout: this file is the pass loop, its triggers and its HTTP server; `watch` follows the
//! desired state's files; `os` is what the daemon asks of the operating system.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::Notify;

use crate::apply::{Change, Outcome};
use crate::config::Config;
use crate::desired::{self, DesiredState};
use crate::domain::Service;
use crate::eventlog::{EventLog, EventLogError};
use crate::http::{self, Health};
use crate::metrics::{Gauges, Metrics, PassResult};
use crate::reconcile::Apis;
use crate::reconcile::{self, PassOptions};

mod os;
mod watch;

use os::{release_memory, systemd_watchdog};
pub use watch::WatchPlan;
use watch::*;

/// The first retry after a failed pass; it doubles up to the cap.
const BACKOFF_START: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Listen(std::io::Error),
    #[error("cannot start the schedule: {0}")]
    Schedule(String),
    #[error("cannot watch the desired state {path}: {message}")]
    Watch { path: PathBuf, message: String },
    #[error(transparent)]
    EventLog(#[from] EventLogError),
}

/// Why the pass loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Startup,
    Schedule,
    FileChanged,
    Retry,
}

/// Wake-ups for the pass loop. Firing during a pass leaves one permit: one follow-up pass
/// however many triggers arrived.
#[derive(Debug, Default)]
pub struct Triggers {
    reasons: Mutex<BTreeSet<Reason>>,
    notify: Notify,
}

impl Triggers {
    pub fn fire(&self, reason: Reason) {
        self.reasons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(reason);
        self.notify.notify_one();
    }

    /// Waits for the next wake-up and takes every reason gathered since the last.
    pub async fn next(&self) -> BTreeSet<Reason> {
        self.notify.notified().await;
        std::mem::take(&mut *self.reasons.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What `run` needs: settings, the AWS APIs, the event log, the metrics.
pub struct Context {
    pub config: Config,
    pub apis: Apis,
    pub log: EventLog,
    pub metrics: Arc<Metrics>,
    /// Central acceptance: the member role, when `member_role` is set.
    pub member_roles: Option<crate::aws::roles::MemberRoles>,
}

/// The delay before retrying after `failures` failed passes in a row: 5 s doubling, capped at
/// half the schedule's interval (and 5 minutes), so that the schedule still runs.
pub fn backoff(failures: u32, schedule_interval: Duration) -> Duration {
    let cap = (schedule_interval / 2).clamp(Duration::from_secs(1), BACKOFF_MAX);
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(cap)
}

/// Runs until `shutdown` completes. On shutdown no new batch starts; the batch in flight gets
/// `config.shutdown_grace` to finish and record its outcome; the log is flushed.
pub async fn run(ctx: Context, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    ctx.metrics.set_suspended(ctx.config.suspend);
    if ctx.config.suspend {
        tracing::warn!("suspended: muster observes and reports drift and writes nothing to AWS");
    }
    // HTTP first, so that probes and scrapes work while the first pass runs.
    let health = Arc::new(Health::default());
    let server = serve(&ctx.config, ctx.metrics.clone(), health.clone()).await?;
    let triggers = Arc::new(Triggers::default());
    let mut scheduler = schedule(&ctx.config, triggers.clone()).await?;
    let _watcher = watch(&ctx.config.desired_state, triggers.clone())?;
    let _watchdog = systemd_watchdog();
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    retain(&ctx.log, ctx.config.retention);
    let mut retention_at = Instant::now();
    let interval = ctx.config.schedule.shortest_interval();
    ctx.metrics.set_schedule_interval(interval);
    let passes = Passes {
        plan: ctx.config.plan_settings(),
        ctx,
        health,
    };
    let mut current: Option<DesiredState> = None;
    let mut failures = 0u32;
    let mut retry: Option<tokio::task::JoinHandle<()>> = None;
    triggers.fire(Reason::Startup);
    loop {
        let reasons = tokio::select! {
            () = &mut shutdown => break,
            r = triggers.next() => r,
        };
        if !passes.reload(&mut current, &reasons) {
            continue;
        }
        let Some(desired) = current.as_ref() else {
            continue;
        };
        if retention_at.elapsed() > Duration::from_secs(24 * 3600) {
            retention_at = Instant::now();
            retain(&passes.ctx.log, passes.ctx.config.retention);
        }
        let Some(result) = passes.pass(desired, &reasons, &mut shutdown).await else {
            break;
        };
        if matches!(result, PassResult::Ok | PassResult::Suspended) {
            failures = 0;
        } else {
            failures += 1;
            let wait = backoff(failures, interval);
            tracing::warn!(failures, retry_in = ?wait, "pass did not complete cleanly; retrying");
            if let Some(old) = retry.replace(fire_after(wait, triggers.clone())) {
                old.abort();
            }
        }
    }

    tracing::info!("shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(r) = retry {
        r.abort();
    }
    let _ = scheduler.shutdown().await;
    passes.ctx.log.flush()?;
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// `Reason::Retry` after `wait`.
fn fire_after(wait: Duration, triggers: Arc<Triggers>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        triggers.fire(Reason::Retry);
    })
}

/// `/metrics`, `/healthz` and `/readyz`, served until `stop`.
struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn serve(
    config: &Config,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<Server, DaemonError> {
    let listener = http::bind(config.metrics_listen)
        .await
        .map_err(DaemonError::Listen)?;
    let local = listener.local_addr().map_err(DaemonError::Listen)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = http::router(metrics, health);
    // TCP_NODELAY: a scrape's reply never waits for the scraper's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(listen = %local, "serving /metrics, /healthz and /readyz");
    Ok(Server { stop, task })
}

/// What every pass uses: the context, the plan settings, the health the endpoints report.
struct Passes {
    ctx: Context,
    plan: crate::plan::PlanSettings,
    health: Arc<Health>,
}

impl Passes {
    /// Re-reads the desired state into `current` (a broken one keeps the last good one);
    /// returns whether a pass should run.
    fn reload(&self, current: &mut Option<DesiredState>, reasons: &BTreeSet<Reason>) -> bool {
        let (health, metrics) = (&self.health, &self.ctx.metrics);
        let only_file = reasons.iter().all(|r| *r == Reason::FileChanged);
        match desired::load(&self.ctx.config.desired_state) {
            Ok(d) => {
                health.desired_valid.store(true, Ordering::SeqCst);
                // A new commit is a new desired state even where these files did not change.
                let same = current
                    .as_ref()
                    .is_some_and(|c| c.digest == d.digest && c.revision == d.revision);
                if only_file && same {
                    tracing::debug!("desired state unchanged");
                    return false;
                }
                if !same {
                    let revision = d.revision.as_deref().unwrap_or("none");
                    tracing::info!(digest = %&d.digest[..12], revision, accounts = d.accounts.len(), files = d.files.len(), "desired state loaded");
                }
                metrics.desired_state_loaded(&d.digest, d.revision.as_deref());
                *current = Some(d);
                true
            }
            Err(invalid) => {
                health.desired_valid.store(false, Ordering::SeqCst);
                metrics.desired_state_invalid();
                for p in &invalid.0 {
                    tracing::error!(problem = %p, "desired state invalid");
                }
                match current {
                    Some(c) => tracing::warn!(problems = invalid.0.len(), digest = %&c.digest[..12], "the desired state on disk is invalid; the last good one stays in use"),
                    None => tracing::warn!(problems = invalid.0.len(), "the desired state on disk is invalid and there is no good one yet: no pass runs until it is fixed"),
                }
                !only_file && current.is_some()
            }
        }
    }

    /// One pass, and its outcome in metrics, health and the log; `None` when muster is
    /// stopping (the batch in flight got its grace).
    async fn pass<S: Future<Output = ()>>(
        &self,
        desired: &DesiredState,
        reasons: &BTreeSet<Reason>,
        shutdown: &mut std::pin::Pin<&mut futures_util::future::Fuse<S>>,
    ) -> Option<PassResult> {
        let (config, log) = (&self.ctx.config, &self.ctx.log);
        let run_id = reconcile::run_id();
        let span = tracing::info_span!("pass", run = %run_id);
        let stop = AtomicBool::new(false);
        let opts = PassOptions {
            plan: self.plan.clone(),
            concurrency: config.max_concurrent_graphs,
            suspend: config.suspend,
            stop: &stop,
            members: self.ctx.member_roles.as_ref(),
        };
        let started = Instant::now();
        let seq_before = log.last_seq();
        tracing::info!(parent: &span, reasons = ?reasons, "pass started");
        let pass = tracing::Instrument::instrument(
            reconcile::pass(&self.ctx.apis, log, &run_id, desired, &opts),
            span.clone(),
        );
        let mut pass = std::pin::pin!(pass);
        let mut stopping = false;
        let result = tokio::select! {
            r = &mut pass => Some(r),
            () = shutdown => {
                stopping = true;
                stop.store(true, Ordering::SeqCst);
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
                tracing::info!(parent: &span, grace = ?config.shutdown_grace, "stopping: waiting for the batch in flight");
                match tokio::time::timeout(config.shutdown_grace, &mut pass).await {
                    Ok(r) => Some(r),
                    Err(_) => {
                        tracing::warn!(parent: &span, "the batch in flight did not finish within the grace period; its intent is settled at the next start");
                        None
                    }
                }
            }
        };
        // What the pass appended goes to disk before it counts as done: a store that cannot be
        // written fails the pass, like an error inside it.
        let result = match result {
            Some(Ok(report)) => Some(log.flush().map(|()| report)),
            other => other,
        };
        let took = started.elapsed();
        self.ctx
            .metrics
            .events_appended(log.last_seq().saturating_sub(seq_before));
        self.ctx.metrics.eventlog_size(log.size_on_disk());
        let label = self.record(desired, &result, took, &span);
        // The pass's report (its listings, plan and desired state) goes before the heap is
        // trimmed, so that what it held goes back to the system too.
        drop(result);
        release_memory();
        (!stopping).then_some(label)
    }

    /// A pass's outcome into metrics, health, the log and systemd's status line.
    fn record(
        &self,
        desired: &DesiredState,
        result: &Option<Result<reconcile::PassReport, EventLogError>>,
        took: Duration,
        span: &tracing::Span,
    ) -> PassResult {
        let (metrics, health) = (&self.ctx.metrics, &self.health);
        match result {
            Some(Ok(report)) => {
                health.set_eventlog_error(None);
                let r = report.result();
                metrics.pass_finished(r, took, Some(Gauges::of(desired, report)));
                health.passed.store(true, Ordering::SeqCst);
                let a = &report.applied;
                let detective = |change| a.count(Service::Detective, change, Outcome::Ok);
                let (invited, removed) = (detective(Change::Invite), detective(Change::Remove));
                let drift = report.drift();
                tracing::info!(parent: span, result = r.as_str(), took = ?took, drift, invited, removed, failed = a.failed, "pass finished");
                let status = format!(
                    "last pass {}: drift {drift}, {invited} invited, {removed} removed",
                    r.as_str()
                );
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&status)]);
                r
            }
            Some(Err(e)) => {
                metrics.eventlog_write_failed();
                health.set_eventlog_error(Some(e.to_string()));
                tracing::error!(parent: span, error = %e, "pass failed");
                metrics.pass_finished(PassResult::Failed, took, None);
                PassResult::Failed
            }
            None => {
                metrics.pass_finished(PassResult::Interrupted, took, None);
                PassResult::Interrupted
            }
        }
    }
}

/// Deletes events past `retention`. A log that cannot be written now is no reason to stop:
/// the next pass finds it and fails as it would.
fn retain(log: &EventLog, retention: Duration) {
    match log.apply_retention(retention) {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "deleted events past the retention period"),
        Err(e) => tracing::warn!(error = %e, "cannot apply the retention period now"),
    }
}

/// The cron schedule, firing `Reason::Schedule`.
async fn schedule(
    config: &Config,
    triggers: Arc<Triggers>,
) -> Result<tokio_cron_scheduler::JobScheduler, DaemonError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let err = |e: tokio_cron_scheduler::JobSchedulerError| DaemonError::Schedule(e.to_string());
    let scheduler = JobScheduler::new().await.map_err(err)?;
    let job = Job::new_async(config.schedule.as_str(), move |_, _| {
        let t = triggers.clone();
        Box::pin(async move { t.fire(Reason::Schedule) })
    })
    .map_err(err)?;
    scheduler.add(job).await.map_err(err)?;
    scheduler.start().await.map_err(err)?;
    tracing::info!(schedule = %config.schedule.as_str(), "schedule started");
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stays_below_the_schedule() {
        let ten_minutes = Duration::from_secs(600);
        let got: Vec<u64> = (1..=9).map(|n| backoff(n, ten_minutes).as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(3, Duration::from_secs(30)), Duration::from_secs(15));
        assert_eq!(backoff(1, Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(backoff(40, ten_minutes), Duration::from_secs(300));
    }

    #[tokio::test]
    async fn triggers_during_a_pass_coalesce_into_one_follow_up() {
        let t = Arc::new(Triggers::default());
        t.fire(Reason::Startup);
        assert_eq!(t.next().await, BTreeSet::from([Reason::Startup]));
        // A "pass" is running: many triggers arrive.
        for _ in 0..50 {
            t.fire(Reason::FileChanged);
            t.fire(Reason::Schedule);
        }
        assert_eq!(
            t.next().await,
            BTreeSet::from([Reason::Schedule, Reason::FileChanged])
        );
        // Nothing more is pending: exactly one follow-up.
        let more = tokio::time::timeout(Duration::from_millis(50), t.next()).await;
        assert!(more.is_err(), "a second follow-up was queued: {more:?}");
    }

    #[test]
    fn symlink_swaps_are_watched_where_they_happen_and_other_files_do_not_matter() {
        let root = std::env::temp_dir().join(format!("muster-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // git-sync: repo/current -> worktrees/aaa.
        std::fs::create_dir_all(root.join("repo/worktrees/aaa")).unwrap();
        std::fs::write(root.join("repo/worktrees/aaa/accounts.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("worktrees/aaa", root.join("repo/current")).unwrap();
        let root = root.canonicalize().unwrap();
        let w = WatchPlan::of(&root.join("repo/current/accounts.yaml"));
        assert_eq!(
            w.dirs,
            BTreeSet::from([root.join("repo"), root.join("repo/worktrees/aaa")])
        );
        assert!(w.matters(&root.join("repo/current")));
        assert!(w.matters(&root.join("repo/worktrees/aaa/accounts.yaml")));
        assert!(!w.matters(&root.join("repo/worktrees/aaa/muster.log")));
        assert!(!w.matters(&root.join("repo/current.tmp")));

        // A ConfigMap volume: accounts.yaml -> ..data/accounts.yaml, ..data -> ..rev1.
        let cm = root.join("cm");
        std::fs::create_dir_all(cm.join("..rev1")).unwrap();
        std::fs::write(cm.join("..rev1/accounts.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("..rev1", cm.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/accounts.yaml", cm.join("accounts.yaml")).unwrap();
        let w = WatchPlan::of(&cm.join("accounts.yaml"));
        assert_eq!(w.dirs, BTreeSet::from([cm.clone(), cm.join("..rev1")]));
        assert!(w.matters(&cm.join("..data")));
        assert!(!w.matters(&cm.join("..data_tmp")));

        // A directory of files: its YAML files matter, nothing else in it.
        let w = WatchPlan::of(&root.join("repo/current"));
        assert!(w.dirs.contains(&root.join("repo/worktrees/aaa")));
        assert!(w.matters(&root.join("repo/worktrees/aaa/new.yml")));
        assert!(!w.matters(&root.join("repo/worktrees/aaa/notes.txt")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
