//! What an apply did: each change with its outcome, counted by service, change and outcome;
//! what the writes settled, for the gauges right after the pass.

use super::*;

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
    /// As `configured`, for one subject of a kind (central configuration: a policy, the root,
    /// an OU, an account, as the drift names it).
    pub resolved: BTreeSet<(Target, DriftKind, String)>,
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

    /// Adds `o` in, taking its maps: a target's settled accounts move whole when this report
    /// has none yet (at the largest organization they are megabytes, and a copy was held
    /// beside every part's until the pass ended).
    pub fn add(&mut self, o: ApplyReport) {
        for (k, n) in o.counts {
            self.tally(k, n);
        }
        self.failed += o.failed;
        self.interrupted |= o.interrupted;
        for (target, accounts) in o.settled {
            match self.settled.entry(target) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(accounts);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().extend(accounts),
            }
        }
        self.configured.extend(o.configured);
        self.resolved.extend(o.resolved);
    }
}
