//! Carrying out a plan. Every write goes through one `Recorder`: an intent event flushed to disk
//! before its call and an outcome event after, in batches of at most 50 accounts, and one
//! `ApplyReport` counts what came of it by (service, change, outcome). Targets go out side by
//! side (`fan_out`); one failed batch never stops the others. What each service does is in its
//! own file: `detective` (removals, then invitations, stopping at the member quota),
//! `securityhub` (removals, CreateMembers, InviteMembers) and `invitations` (the member side's
//! accepts and declines).

pub mod accept;
pub mod configuration;
pub mod detective;
pub mod invitations;
pub mod securityhub;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};

use crate::aws::{self, Apis, DetectiveApi, SecurityHubApi};
use crate::desired::DesiredState;
use crate::domain::{AccountId, Service, Target};
use crate::eventlog::{EventKind, EventLog, EventLogError, Origin, Unprocessed};
use crate::plan::{DriftKind, Plan};

/// The most accounts Detective and Security Hub take in one membership call.
pub const BATCH: usize = 50;

/// A kind of change to a membership, as `muster_changes_total`'s `kind` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Invite,
    Remove,
    Create,
    Accept,
    Decline,
    /// A change to a target's own setting (AutoEnable, a data-source package started),
    /// counted a setting at a time.
    Configure,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Invite => "invite",
            Change::Remove => "remove",
            Change::Create => "create",
            Change::Accept => "accept",
            Change::Decline => "decline",
            Change::Configure => "configure",
        }
    }
}

/// What came of the accounts of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    /// The call answered, but did not process the account.
    Unprocessed,
    /// The call failed.
    Failed,
    /// Not sent: the graph is at Detective's member quota.
    QuotaBlocked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unprocessed => "unprocessed",
            Outcome::Failed => "failed",
            Outcome::QuotaBlocked => "quota_blocked",
        }
    }
}

/// Where a write that succeeded left an account, as far as muster knows without listing again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A member with this `status` label (`MemberStatus::LABELS`, `HubMemberStatus::LABELS`),
    /// where the plan wants it: its drift is resolved.
    Member(&'static str),
    /// A member with this status, not yet where the plan wants it (Security Hub: created, its
    /// invitation still to come or refused): its drift stays.
    Partway(&'static str),
    /// No longer a member.
    Gone,
}

impl Settled {
    /// Whether the write put the account where the plan wants it, resolving its drift.
    pub fn resolves(self) -> bool {
        matches!(self, Settled::Member(_) | Settled::Gone)
    }
}

/// What an apply did: accounts by (service, change, outcome), failed calls, and whether a
/// shutdown cut it short.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub counts: BTreeMap<(Service, Change, Outcome), usize>,
    /// Where the writes that succeeded left each account, by target (an account's last write
    /// wins): what the gauges show right after the pass, instead of the listing from its start.
    pub settled: BTreeMap<Target, BTreeMap<AccountId, Settled>>,
    /// Drift in a target's own settings that a write of the pass resolved (AutoEnable set,
    /// packages started): gone from the gauges right after the pass, like `settled`.
    pub configured: BTreeSet<(Target, DriftKind)>,
    /// Calls that failed.
    pub failed: usize,
    /// Set when a shutdown stopped the pass before every batch was sent.
    pub interrupted: bool,
}

impl ApplyReport {
    /// Accounts counted under (service, change, outcome).
    pub fn count(&self, service: Service, change: Change, outcome: Outcome) -> usize {
        self.counts
            .get(&(service, change, outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Accounts with `outcome`, every service and change.
    pub fn total(&self, outcome: Outcome) -> usize {
        self.counts
            .iter()
            .filter(|((_, _, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Accounts under `change` with `outcome`, every service.
    pub fn of(&self, change: Change, outcome: Outcome) -> usize {
        self.counts
            .iter()
            .filter(|((_, c, o), _)| *c == change && *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Accounts that became members: Detective invitations, Security Hub members created,
    /// invitations accepted (the `invited` of `pass_finished`).
    pub fn joined(&self) -> usize {
        self.count(Service::Detective, Change::Invite, Outcome::Ok)
            + self.of(Change::Create, Outcome::Ok)
            + self.of(Change::Accept, Outcome::Ok)
    }

    /// Accounts that stopped being members: removed, or invitations declined (the `removed`
    /// of `pass_finished`).
    pub fn left(&self) -> usize {
        self.of(Change::Remove, Outcome::Ok) + self.of(Change::Decline, Outcome::Ok)
    }

    pub fn tally(&mut self, key: (Service, Change, Outcome), n: usize) {
        if n > 0 {
            *self.counts.entry(key).or_default() += n;
        }
    }

    /// True once a shutdown asked that no new batch start (and then marks the report
    /// interrupted).
    pub fn stopping(&mut self, stop: &AtomicBool) -> bool {
        let stopping = stop.load(Ordering::SeqCst);
        self.interrupted |= stopping;
        stopping
    }

    pub fn add(&mut self, o: &ApplyReport) {
        for (k, n) in &o.counts {
            self.tally(*k, *n);
        }
        self.failed += o.failed;
        self.interrupted |= o.interrupted;
        for (target, accounts) in &o.settled {
            let mine = self.settled.entry(target.clone()).or_default();
            mine.extend(accounts.iter().map(|(a, s)| (*a, *s)));
        }
        self.configured.extend(o.configured.iter().cloned());
    }
}

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
pub async fn apply<D: DetectiveApi, H: SecurityHubApi, O>(
    apis: &Apis<D, H, O>,
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
    let (graphs, hubs, configurations) = tokio::join!(graphs, hubs, configurations);
    let mut total = graphs?;
    total.add(&hubs?);
    total.add(&configurations?);
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
        total.add(&r?);
    }
    Ok(total)
}

/// What a call did with its accounts: those it processed and those it did not, with AWS's
/// reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Processed {
    pub done: Vec<AccountId>,
    pub unprocessed: Vec<(AccountId, String)>,
    /// The status label of done accounts whose status the answer gives (Detective's
    /// CreateMembers); the others are left as the step's `leaves` says.
    pub status: Vec<(AccountId, &'static str)>,
}

impl Processed {
    /// Every account of `sent` not in `refused` was processed (for calls that answer only with
    /// the accounts they did not process).
    pub fn all_but(sent: &[AccountId], refused: Vec<(AccountId, String)>) -> Processed {
        Processed {
            done: sent
                .iter()
                .filter(|a| !refused.iter().any(|(u, _)| u == *a))
                .copied()
                .collect(),
            unprocessed: refused,
            status: Vec::new(),
        }
    }
}

/// A call that answers nothing but success: every account of `sent` processed.
pub(crate) async fn answers_nothing<F>(sent: &[AccountId], call: F) -> Result<Processed, aws::Error>
where
    F: Future<Output = Result<(), aws::Error>>,
{
    call.await?;
    Ok(Processed::all_but(sent, Vec::new()))
}

/// One kind of call on a target: the AWS operation, the change it makes and how its answer
/// counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub operation: &'static str,
    pub change: Change,
    /// Detective's removals: why, as their intent records it.
    pub reason: Option<&'static str>,
    /// How an account the call did not process because it is already where it should be
    /// counts.
    pub already: Already,
    /// A step that prepares the next one (Security Hub disassociates before it deletes): only
    /// its failure counts, its success is the next step's.
    pub prepares: bool,
    /// The error after which the rest of the step's accounts would fail the same way
    /// (Detective's member quota): counted `quota_blocked`, not sent.
    pub blocks: Option<&'static str>,
    /// Where the accounts it processes end up (`None`: the caller settles them).
    pub leaves: Option<Settled>,
}

/// Unprocessed accounts whose reason (as `is` reads it) says they are already members: not
/// refused, and counted either as done or not at all.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Already {
    /// Every unprocessed account is refused.
    Never,
    /// Not counted: this call did not make them members (Detective's invitations).
    Uncounted(fn(&str) -> bool),
    /// Counted ok, as if this call had made them members (Security Hub's CreateMembers).
    Done(fn(&str) -> bool),
}

impl Already {
    fn is(self, reason: &str) -> bool {
        match self {
            Already::Never => false,
            Already::Uncounted(is) | Already::Done(is) => is(reason),
        }
    }
}

impl Step {
    pub const fn new(operation: &'static str, change: Change) -> Step {
        Step {
            operation,
            change,
            reason: None,
            already: Already::Never,
            prepares: false,
            blocks: None,
            leaves: None,
        }
    }
}

/// How a call ended.
enum Sent {
    Answered(Processed),
    Failed,
    /// Failed with the step's `blocks` error.
    Blocked,
}

/// Records the calls on one target and counts what came of them: each call is an intent
/// flushed before it runs and a result or a failure after, numbered `<run>/<target>/<n>` (a
/// graph by its ARN's last 8 characters). Detective's graphs keep their own event types
/// (`invite_*`, `removal_*`); every other target writes `action_*` events.
pub(crate) struct Recorder<'a> {
    journal: Journal<'a>,
    target: Target,
    service: Service,
    name: String,
    batches: usize,
    /// Set for a second recorder of the same target in a pass (central acceptance), so that
    /// its batch ids never repeat the first one's.
    tag: Option<&'static str>,
    /// Calls this target's plan makes, for "3/12" in the logs.
    pub expected: usize,
    pub report: ApplyReport,
}

impl<'a> Recorder<'a> {
    pub fn new(journal: Journal<'a>, target: Target) -> Self {
        Recorder {
            journal,
            name: target.to_string(),
            service: target.service().unwrap_or(Service::Detective),
            target,
            batches: 0,
            tag: None,
            expected: 0,
            report: ApplyReport::default(),
        }
    }

    fn append(&self, kind: EventKind, flush: bool) -> Result<(), EventLogError> {
        let j = self.journal;
        j.log.append(j.run, j.origin, kind, flush).map(drop)
    }

    /// True once a shutdown asked that no new call start (the report is then interrupted).
    pub fn stopping(&mut self) -> bool {
        self.report.stopping(self.journal.stop)
    }

    /// Records that a prune was refused, and why.
    pub fn prune_refused(&self, reason: Option<&String>) -> Result<(), EventLogError> {
        let Some(reason) = reason else { return Ok(()) };
        tracing::warn!(target_name = %self.name, reason = %reason, "prune refused");
        self.append(
            EventKind::PruneRefused {
                graph: self.name.clone(),
                reason: reason.clone(),
            },
            false,
        )
    }

    /// This recorder's batch ids are `<run>/<target>:<tag>/<n>`.
    pub fn tagged(mut self, tag: &'static str) -> Self {
        self.tag = Some(tag);
        self
    }

    fn next_batch(&mut self) -> String {
        self.batches += 1;
        let key = match &self.target {
            Target::Graph(_) => &self.name[self.name.len().saturating_sub(8)..],
            _ => self.name.as_str(),
        };
        match self.tag {
            Some(tag) => format!("{}/{key}:{tag}/{}", self.journal.run, self.batches),
            None => format!("{}/{key}/{}", self.journal.run, self.batches),
        }
    }

    /// Runs `call` for `accounts` between its intent and its outcome, and counts it. Returns
    /// what the call processed, or `None` when it failed (recorded and logged).
    pub async fn call<F>(
        &mut self,
        step: Step,
        accounts: &[AccountId],
        call: F,
    ) -> Result<Option<Processed>, EventLogError>
    where
        F: Future<Output = Result<Processed, aws::Error>>,
    {
        Ok(match self.send(step, accounts, &[], call).await? {
            Sent::Answered(p) => Some(p),
            Sent::Failed | Sent::Blocked => None,
        })
    }

    /// Runs `call`, which changes the target's own `settings` (no accounts), between its intent
    /// and its outcome, and counts each setting. Returns whether it succeeded.
    pub async fn configure<F>(
        &mut self,
        step: Step,
        settings: Vec<String>,
        call: F,
    ) -> Result<bool, EventLogError>
    where
        F: Future<Output = Result<(), aws::Error>>,
    {
        if self.stopping() {
            return Ok(false);
        }
        let n = settings.len();
        let sent = self.send(step, &[], &settings, answers_nothing(&[], call));
        let sent = sent.await?;
        let key = |o| (self.service, step.change, o);
        Ok(match sent {
            Sent::Answered(_) => {
                self.report.tally(key(Outcome::Ok), n);
                true
            }
            Sent::Failed | Sent::Blocked => {
                self.report.tally(key(Outcome::Failed), n);
                false
            }
        })
    }

    /// Sends `accounts` in calls of at most `BATCH`, each recorded and counted, until a
    /// shutdown (`None`) or the step's blocking error (the rest counted `quota_blocked`).
    /// Returns the accounts the calls did not take: refused, failed or blocked.
    pub async fn batches<'i, T, F, Fut>(
        &mut self,
        step: Step,
        items: &'i [T],
        id: fn(&T) -> AccountId,
        mut call: F,
    ) -> Result<Option<Vec<AccountId>>, EventLogError>
    where
        F: FnMut(&'i [T]) -> Fut,
        Fut: Future<Output = Result<Processed, aws::Error>>,
    {
        let mut not_taken = Vec::new();
        for (i, chunk) in items.chunks(BATCH).enumerate() {
            if self.stopping() {
                return Ok(None);
            }
            let accounts: Vec<AccountId> = chunk.iter().map(id).collect();
            match self.send(step, &accounts, &[], call(chunk)).await? {
                Sent::Answered(p) => not_taken.extend(
                    (p.unprocessed.iter())
                        .filter(|(_, r)| !step.already.is(r))
                        .map(|(a, _)| *a),
                ),
                Sent::Failed => not_taken.extend(accounts),
                Sent::Blocked => {
                    let rest = &items[i * BATCH..];
                    let key = (self.service, step.change, Outcome::QuotaBlocked);
                    self.report.tally(key, rest.len());
                    not_taken.extend(rest.iter().map(id));
                    break;
                }
            }
        }
        Ok(Some(not_taken))
    }

    fn count(&mut self, step: Step, p: &Processed) {
        let already: Vec<AccountId> = (p.unprocessed.iter())
            .filter(|(_, r)| step.already.is(r))
            .map(|(a, _)| *a)
            .collect();
        let refused = p.unprocessed.len() - already.len();
        // Accounts this call counts as done: those it processed, and with `Already::Done`
        // those already where it would put them.
        let counted_already: &[AccountId] = match step.already {
            Already::Done(_) => &already,
            _ => &[],
        };
        let (service, change) = (self.service, step.change);
        let done = p.done.len() + counted_already.len();
        self.report.tally((service, change, Outcome::Ok), done);
        self.report
            .tally((service, change, Outcome::Unprocessed), refused);
        if let Some(leaves) = step.leaves {
            for a in p.done.iter().chain(counted_already) {
                let answered = p.status.iter().find(|(s, _)| s == a);
                let settled = match (leaves, answered) {
                    // Detective verifies a new member's email for a moment, then invites it.
                    (Settled::Member(_), Some((_, "verification_in_progress"))) => leaves,
                    (Settled::Member(_), Some((_, status))) => Settled::Member(status),
                    _ => leaves,
                };
                self.settle(*a, settled);
            }
        }
    }

    /// Records where a write left `account` (for the gauges after the pass).
    pub fn settle(&mut self, account: AccountId, settled: Settled) {
        let mine = self.report.settled.entry(self.target.clone()).or_default();
        mine.insert(account, settled);
    }

    /// One call between its intent and its outcome: on `accounts`, or for a configuration call
    /// on the target's own `settings`.
    async fn send<F>(
        &mut self,
        step: Step,
        accounts: &[AccountId],
        settings: &[String],
        call: F,
    ) -> Result<Sent, EventLogError>
    where
        F: Future<Output = Result<Processed, aws::Error>>,
    {
        let batch = self.next_batch();
        // The intent is on disk before the call; its outcome is appended after it and goes to
        // disk with the next flush (the next intent's or the pass's end): an outcome a crash
        // loses leaves its intent in doubt, settled by listing the target again.
        let j = self.journal;
        let intent = self.intent(&batch, step, accounts, settings);
        j.log.append_durable(j.run, j.origin, intent).await?;
        let progress = format!("{}/{}", self.batches, self.expected.max(self.batches));
        let (target, operation) = (self.name.as_str(), step.operation);
        match call.await {
            Ok(p) => {
                tracing::info!(target_name = %target, batch = %batch, progress = %progress, operation, done = p.done.len(), unprocessed = p.unprocessed.len(), "{operation}");
                for (a, r) in &p.unprocessed {
                    tracing::warn!(target_name = %target, account = %a, reason = %r, "{operation}: account not processed");
                }
                self.append(self.result(batch, step, &p), false)?;
                if !step.prepares {
                    self.count(step, &p);
                }
                Ok(Sent::Answered(p))
            }
            Err(e) => {
                tracing::warn!(target_name = %target, batch = %batch, code = %e.code, error = %e.message, "{operation} failed");
                let blocked = step.blocks == Some(e.code.as_str());
                self.append(self.failure(batch, step, e), false)?;
                self.report.failed += 1;
                if blocked {
                    return Ok(Sent::Blocked);
                }
                let key = (self.service, step.change, Outcome::Failed);
                self.report.tally(key, accounts.len());
                Ok(Sent::Failed)
            }
        }
    }

    /// The intent of a call on `accounts` (or, for a configuration call, on `settings`).
    fn intent(
        &self,
        batch: &str,
        step: Step,
        accounts: &[AccountId],
        settings: &[String],
    ) -> EventKind {
        let (batch, accounts, graph) = (batch.to_owned(), ids(accounts), self.name.clone());
        match (&self.target, step.change) {
            (Target::Graph(_), Change::Remove) => EventKind::RemovalIntent {
                batch,
                graph,
                accounts,
                reason: step.reason.unwrap_or_default().into(),
            },
            (Target::Graph(_), c) if c != Change::Accept => EventKind::InviteIntent {
                batch,
                graph,
                accounts,
            },
            (t, _) => EventKind::ActionIntent {
                batch,
                service: t.service().map_or("", Service::as_str).into(),
                target: graph,
                action: step.operation.into(),
                accounts,
                settings: settings.to_vec(),
            },
        }
    }

    fn result(&self, batch: String, step: Step, p: &Processed) -> EventKind {
        let (done, unprocessed, graph) =
            (ids(&p.done), unprocessed(&p.unprocessed), self.name.clone());
        match (&self.target, step.change) {
            (Target::Graph(_), Change::Remove) => EventKind::RemovalResult {
                batch,
                graph,
                removed: done,
                unprocessed,
            },
            (Target::Graph(_), c) if c != Change::Accept => EventKind::InviteResult {
                batch,
                graph,
                created: done,
                unprocessed,
            },
            _ => EventKind::ActionResult {
                batch,
                target: graph,
                action: step.operation.into(),
                done,
                unprocessed,
            },
        }
    }

    fn failure(&self, batch: String, step: Step, e: aws::Error) -> EventKind {
        let (code, message, graph) = (e.code, e.message, self.name.clone());
        match (&self.target, step.change) {
            (Target::Graph(_), Change::Remove) => EventKind::RemovalFailed {
                batch,
                graph,
                code,
                message,
            },
            (Target::Graph(_), c) if c != Change::Accept => EventKind::InviteFailed {
                batch,
                graph,
                code,
                message,
            },
            _ => EventKind::ActionFailed {
                batch,
                target: graph,
                action: step.operation.into(),
                code,
                message,
            },
        }
    }
}

fn ids(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(ToString::to_string).collect()
}

fn unprocessed(list: &[(AccountId, String)]) -> Vec<Unprocessed> {
    list.iter()
        .map(|(a, r)| Unprocessed {
            account: a.to_string(),
            reason: r.clone(),
        })
        .collect()
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
