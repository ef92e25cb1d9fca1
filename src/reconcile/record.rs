//! What a pass records of what it saw, in both modes: the targets it could not observe,
//! intents a crash left in doubt (settled by the listing), members whose status changed and
//! drift that appeared or went since the last pass (against the projection).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use super::{OrgOutcome, OrgStatus, Unobserved};
use crate::domain::{AccountId, Target};
use crate::eventlog::interned::Drifts;
use crate::eventlog::{Event, EventKind, EventLog, EventLogError, Projection, REMOVED};
use crate::plan::Drift;

/// Who is listed where, by target name: (account, status), the status borrowed from the
/// listing.
pub(crate) type Listed<'a> = BTreeMap<String, Vec<(AccountId, &'a str)>>;

/// How a pass appends: an event, flushed or not.
pub(crate) type Record<'a> = &'a dyn Fn(EventKind, bool) -> Result<Event, EventLogError>;

/// Everything a pass saw, as it is recorded.
pub(crate) struct Seen<'a> {
    pub org: &'a OrgOutcome,
    pub failures: &'a [(Target, Unobserved)],
    pub listed: Listed<'a>,
    pub drift: Vec<(Target, &'a [Drift])>,
}

/// Records what the pass saw: `organization_stale`, a `graph_failed` for each other target it
/// could not observe, intents settled, status and drift changes.
pub(crate) fn seen(
    log: &EventLog,
    record: Record<'_>,
    projection: &mut Projection,
    seen: &Seen<'_>,
) -> Result<(), EventLogError> {
    if let OrgStatus::Stale { error, last_listed } = &seen.org.status {
        record(
            EventKind::OrganizationStale {
                code: error.code().to_owned(),
                message: error.message(),
                last_listed_ms: last_listed.and_then(|t| {
                    t.duration_since(SystemTime::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_millis() as u64)
                }),
                accounts: seen.org.accounts,
            },
            false,
        )?;
    }
    for (target, e) in seen.failures {
        if *target == Target::Organization {
            continue; // recorded above as `organization_stale`
        }
        tracing::warn!(target_name = %target, code = %e.code(), error = %e.message(), "cannot observe");
        record(
            EventKind::GraphFailed {
                graph: target.to_string(),
                code: e.code().to_owned(),
                message: e.message(),
            },
            false,
        )?;
    }
    settle_in_doubt(log, record, &seen.listed)?;
    let mut recorder = Recorder {
        record,
        projection,
        listed: &seen.listed,
    };
    recorder.statuses()?;
    recorder.drift(&seen.drift)?;
    projection.pack();
    Ok(())
}

/// Intents a crash left without an outcome, settled by what the listing shows now: `present`
/// are listed at the intent's target, `absent` are not. Targets not listed this pass wait.
fn settle_in_doubt(
    log: &EventLog,
    record: Record<'_>,
    listed: &Listed<'_>,
) -> Result<(), EventLogError> {
    for (batch, graph, accounts) in log.in_doubt()? {
        let Some(members) = listed.get(&graph) else {
            continue;
        };
        let members: BTreeSet<AccountId> = members.iter().map(|(a, _)| *a).collect();
        let (present, absent): (Vec<String>, Vec<String>) = accounts
            .into_iter()
            .partition(|a| AccountId::parse(a).is_some_and(|id| members.contains(&id)));
        tracing::warn!(batch = %batch, target_name = %graph, present = present.len(), absent = absent.len(), "settled an intent left in doubt by listing again");
        record(
            EventKind::IntentResolved {
                batch,
                graph,
                present,
                absent,
            },
            false,
        )?;
    }
    Ok(())
}

/// What `seen` records with: the log, the projection it updates and the listings.
struct Recorder<'a, 'p> {
    record: Record<'a>,
    projection: &'p mut Projection,
    listed: &'a Listed<'a>,
}

impl Recorder<'_, '_> {
    /// A `member_status_changed` for each member whose status differs from the one recorded, and
    /// one to `REMOVED` for each recorded member a listing no longer has. A target's recorded
    /// members are read once (a range of the projection, by account), so a pass costs one lookup a
    /// listed member, whatever the other targets hold.
    fn statuses(&mut self) -> Result<(), EventLogError> {
        let (record, projection) = (self.record, &mut *self.projection);
        for (target, members) in self.listed {
            // (account, from, to): every change of this target, worked out before any is made.
            let mut changes: Vec<(String, Option<String>, String)> = Vec::new();
            {
                // Recorded accounts by id; one that is not an id can never be listed: gone.
                let mut recorded: HashMap<AccountId, &str> = HashMap::new();
                let mut gone: Vec<(String, &str)> = Vec::new();
                for (a, status) in projection.status.of_target(target) {
                    match AccountId::parse(a) {
                        Some(id) => drop(recorded.insert(id, status)),
                        None => gone.push((a.to_owned(), status)),
                    }
                }
                // A member listed twice is compared the second time with what the first set.
                let mut now_set: HashMap<AccountId, &str> = HashMap::new();
                for &(account, now) in members {
                    let was = match now_set.get(&account) {
                        Some(set) => Some(*set),
                        None => recorded.remove(&account),
                    };
                    if was != Some(now) {
                        changes.push((account.to_string(), was.map(str::to_owned), now.to_owned()));
                    }
                    now_set.insert(account, now);
                }
                // What is left was recorded and is not listed now, in account order.
                gone.extend(recorded.into_iter().map(|(a, was)| (a.to_string(), was)));
                gone.sort();
                for (account, was) in gone {
                    changes.push((account, Some(was.to_owned()), REMOVED.into()));
                }
            }
            for (account, from, to) in changes {
                if to == REMOVED {
                    projection.status.remove(target, &account);
                } else {
                    projection.status.insert(target, &account, &to);
                }
                record(
                    EventKind::MemberStatusChanged {
                        graph: target.clone(),
                        account,
                        from,
                        to,
                    },
                    false,
                )?;
            }
        }
        Ok(())
    }

    /// `drift_observed` for drift not recorded yet, `drift_resolved` for recorded drift a listed
    /// target no longer has. Drift on targets not listed this pass stays as it was.
    fn drift(&mut self, drifts: &[(Target, &[Drift])]) -> Result<(), EventLogError> {
        let (record, projection, listed) = (self.record, &mut *self.projection, self.listed);
        let mut current = Drifts::default();
        for (target, drift) in drifts {
            let target = target.to_string();
            for d in drift.iter() {
                let (account, kind) = (d.account_name(), d.kind.as_str());
                let key = (target.as_str(), account.as_str(), kind);
                let since = match projection.drift.get(key) {
                    Some(since) => since,
                    None => {
                        let observed = record(
                            EventKind::DriftObserved {
                                graph: target.clone(),
                                account: account.clone(),
                                kind: kind.to_owned(),
                                detail: d.detail.to_string(),
                            },
                            false,
                        )?;
                        observed.at_ms
                    }
                };
                current.insert(key, since);
            }
        }
        for ((graph, account, kind), _) in projection.drift.iter() {
            if listed.contains_key(graph) && current.get((graph, account, kind)).is_none() {
                record(
                    EventKind::DriftResolved {
                        graph: graph.to_owned(),
                        account: account.to_owned(),
                        kind: kind.to_owned(),
                    },
                    false,
                )?;
            }
        }
        // Drift on targets not listed this pass stays, with its age.
        for (key, since) in projection.drift.iter() {
            if !listed.contains_key(key.0) {
                current.insert(key, since);
            }
        }
        projection.drift = current;
        Ok(())
    }
}
