//! The Recorder: every write as an intent on disk before its call and an outcome after, sent in
//! batches of `BATCH`, with what AWS already had counted as done.

use super::*;

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
    pub(super) fn is(self, reason: &str) -> bool {
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
pub(super) enum Sent {
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

    pub(super) fn append(&self, kind: EventKind, flush: bool) -> Result<(), EventLogError> {
        let j = self.journal;
        j.log.append(j.run, j.origin, kind, flush).map(drop)
    }

    /// True once a shutdown asked that no new call start (the report is then interrupted).
    pub fn stopping(&mut self) -> bool {
        self.report.stopping(self.journal.stop)
    }

    /// Records that a prune was refused, and why.
    pub fn prune_refused(&self, reason: Option<&str>) -> Result<(), EventLogError> {
        let Some(reason) = reason else { return Ok(()) };
        tracing::warn!(target_name = %self.name, reason = %reason, "prune refused");
        self.append(
            EventKind::PruneRefused {
                graph: self.name.clone(),
                reason: reason.to_owned(),
            },
            false,
        )
    }

    /// This recorder's batch ids are `<run>/<target>:<tag>/<n>`.
    pub fn tagged(mut self, tag: &'static str) -> Self {
        self.tag = Some(tag);
        self
    }

    pub(super) fn next_batch(&mut self) -> String {
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

    pub(super) fn count(&mut self, step: Step, p: &Processed) {
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
    pub(super) async fn send<F>(
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
    pub(super) fn intent(
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

    pub(super) fn result(&self, batch: String, step: Step, p: &Processed) -> EventKind {
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

    pub(super) fn failure(&self, batch: String, step: Step, e: aws::Error) -> EventKind {
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

pub(super) fn ids(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(ToString::to_string).collect()
}

pub(super) fn unprocessed(list: &[(AccountId, String)]) -> Vec<Unprocessed> {
    list.iter()
        .map(|(a, r)| Unprocessed {
            account: a.to_string(),
            reason: r.clone(),
        })
        .collect()
}
