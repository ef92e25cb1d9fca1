//! Carrying out a plan. Every write goes through one `Recorder`: an intent event flushed to disk
//! before its call and an outcome event after, in batches of at most 50 accounts, and one
//! `ApplyReport` counts what came of it by (service, change, outcome). Targets go out side by
//! side (`fan_out`); one failed batch never stops the others. What each service does is in its
//! own file: `detective` (removals, then invitations, stopping at the member quota),
//! `securityhub` (removals, CreateMembers, InviteMembers) and `invitations` (the member side's
//! accepts and declines). `report` holds what an apply did, `recorder` the Recorder.

pub mod accept;
pub mod central;
pub mod configuration;
pub mod detective;
pub mod invitations;
pub mod securityhub;

mod recorder;
mod report;

pub use recorder::Processed;
pub(crate) use recorder::*;
pub use report::*;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};

use crate::aws::{self, Apis};
use crate::desired::DesiredState;
use crate::domain::{AccountId, Service, Target};
use crate::eventlog::{EventKind, EventLog, EventLogError, Origin, Unprocessed};
use crate::plan::{DriftKind, Plan};

/// The most accounts Detective and Security Hub take in one membership call.
pub const BATCH: usize = 50;

/// Where the writes of a pass are recorded, and the flag that stops them: once `stop` is set
/// no new call starts; the calls in flight finish and record their outcomes.
#[derive(Clone, Copy)]
pub struct Journal<'a> {
    pub log: &'a EventLog,
    pub run: &'a str,
    pub origin: Origin<'a>,
    pub stop: &'a AtomicBool,
}

/// Applies the whole administrator-side plan: every graph and every hub (Security Hub's, and
/// those of every service of its shape), Detective and the hubs side by side, `concurrency`
/// targets of each at a time.
pub async fn apply(
    apis: &Apis,
    journal: Journal<'_>,
    desired: &DesiredState,
    plan: &Plan,
    concurrency: usize,
) -> Result<ApplyReport, EventLogError> {
    let graphs = fan_out(&plan.graphs, concurrency, |g| {
        let rec = Recorder::new(journal, Target::Graph(g.graph.clone()));
        detective::apply_graph(&apis.detective, rec, desired, g)
    });
    let hubs = fan_out(&plan.hubs, concurrency, |h| {
        let rec = Recorder::new(journal, h.target());
        securityhub::apply_hub(apis.hub(h.service), rec, h)
    });
    let configurations = fan_out(&plan.configurations, concurrency, |c| {
        let rec = Recorder::new(journal, c.target());
        configuration::apply_configuration(apis, rec, c)
    });
    let central = fan_out(&plan.central, concurrency, |c| {
        let rec = Recorder::new(journal, c.target());
        central::apply_central(apis, rec, desired, c)
    });
    let (graphs, hubs, configurations, central) =
        tokio::join!(graphs, hubs, configurations, central);
    let mut total = graphs?;
    total.add(hubs?);
    total.add(configurations?);
    total.add(central?);
    Ok(total)
}

/// Runs `each` over `items`, `concurrency` at a time, and adds up their reports. The first
/// event-log failure is returned once all have finished (none is left half-recorded).
pub(crate) async fn fan_out<'i, T, F, Fut>(
    items: &'i [T],
    concurrency: usize,
    each: F,
) -> Result<ApplyReport, EventLogError>
where
    F: FnMut(&'i T) -> Fut,
    Fut: Future<Output = Result<ApplyReport, EventLogError>>,
{
    let results: Vec<Result<ApplyReport, EventLogError>> = stream::iter(items)
        .map(each)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut total = ApplyReport::default();
    for r in results {
        total.add(r?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GraphArn, Region};

    fn id(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn already(reason: &str) -> bool {
        reason.contains("already")
    }

    fn types(log: &EventLog) -> Vec<String> {
        log.iter()
            .map(|e| serde_json::to_value(e.unwrap().kind).unwrap()["type"].to_string())
            .map(|t| t.trim_matches('"').to_owned())
            .collect()
    }

    #[tokio::test]
    async fn the_recorder_counts_what_it_records_and_a_quota_error_blocks_the_rest() {
        let (dir, _) = crate::input::scratch_file("muster-apply-recorder", "state", b"");
        let dir = dir.join("log");
        let _ = std::fs::remove_dir_all(&dir);
        let log = EventLog::open(&dir).unwrap();
        let stop = AtomicBool::new(false);
        let journal = Journal {
            log: &log,
            run: "r",
            origin: "d".into(),
            stop: &stop,
        };
        let arn = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef";
        let mut graph = Recorder::new(journal, Target::Graph(GraphArn::parse(arn).unwrap()));
        let invite = Step {
            already: Already::Uncounted(already),
            blocks: Some("ServiceQuotaExceededException"),
            ..Step::new("CreateMembers", Change::Invite)
        };
        let accounts: Vec<AccountId> = (1..=120).map(id).collect();
        let mut calls = 0;
        let not_taken = graph.batches(
            invite,
            &accounts,
            |a| *a,
            |chunk| {
                calls += 1;
                let first = calls == 1;
                async move {
                    if first {
                        let unprocessed = vec![(chunk[0], "already a member".to_owned())];
                        let done = chunk[1..].to_vec();
                        let status = Vec::new();
                        return Ok(Processed {
                            done,
                            unprocessed,
                            status,
                        });
                    }
                    let message = "the graph is full".to_owned();
                    let code = "ServiceQuotaExceededException".to_owned();
                    Err(aws::Error {
                        service: "detective",
                        operation: "CreateMembers",
                        code,
                        message,
                        retryable: false,
                    })
                }
            },
        );
        let not_taken = not_taken.await.unwrap().unwrap();
        assert_eq!(calls, 2, "the third batch is not sent");
        assert_eq!(
            not_taken,
            accounts[50..],
            "the blocked ones; the member already in is taken"
        );
        let r = &graph.report;
        let detective = |o| r.count(Service::Detective, Change::Invite, o);
        assert_eq!(
            [
                Outcome::Ok,
                Outcome::Unprocessed,
                Outcome::Failed,
                Outcome::QuotaBlocked
            ]
            .map(detective),
            [49, 0, 0, 70]
        );
        assert_eq!((r.failed, r.joined(), r.left()), (1, 49, 0));
        assert_eq!(
            types(&log),
            [
                "invite_intent",
                "invite_result",
                "invite_intent",
                "invite_failed"
            ]
        );

        // Security Hub: an account already a member counts as created; the others are refused.
        let mut hub = Recorder::new(
            journal,
            Target::Hub(Service::SecurityHub, Region::parse("us-east-1").unwrap()),
        );
        let create = Step {
            already: Already::Done(already),
            ..Step::new("CreateMembers", Change::Create)
        };
        let three = &accounts[..3];
        let refused = vec![
            (id(1), "already a member".to_owned()),
            (id(2), "no".to_owned()),
        ];
        let answer = async { Ok(Processed::all_but(three, refused)) };
        let p = hub.call(create, three, answer).await.unwrap().unwrap();
        assert_eq!(p.done, [id(3)]);
        let hub_create = |o| hub.report.count(Service::SecurityHub, Change::Create, o);
        assert_eq!([Outcome::Ok, Outcome::Unprocessed].map(hub_create), [2, 1]);
        assert_eq!(hub.report.joined(), 2);

        // A shutdown: nothing more is sent, and the report says so.
        stop.store(true, Ordering::SeqCst);
        let stopped = hub.batches(create, three, |a| *a, |_| async { unreachable!() });
        assert_eq!(stopped.await.unwrap(), None);
        assert!(hub.report.interrupted);
        assert_eq!(types(&log).len(), 6, "no intent after the stop");
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
