//! The event log's on-disk schema: what every event, the snapshot and the saved organization
//! listing serialize to. This is a contract: stores written by earlier versions must still open
//! and replay (`tests/cli/contract.rs`), so variants and fields are added, never renamed,
//! repurposed or removed. Only these types (and the raw config and fixture structs) derive serde.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::interned::{Drifts, Statuses, Triples};

/// The schema version written into every event.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unprocessed {
    pub account: String,
    pub reason: String,
}

/// What happened. Serialized with a `type` tag; never rename or repurpose a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    DesiredStateLoaded {
        files: Vec<String>,
        accounts: usize,
    },
    DriftObserved {
        graph: String,
        /// Empty (and left out on disk) for drift in a target's own setting.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        account: String,
        kind: String,
        detail: String,
    },
    MemberStatusChanged {
        graph: String,
        account: String,
        from: Option<String>,
        to: String,
    },
    InviteIntent {
        batch: String,
        graph: String,
        accounts: Vec<String>,
    },
    InviteResult {
        batch: String,
        graph: String,
        created: Vec<String>,
        unprocessed: Vec<Unprocessed>,
    },
    InviteFailed {
        batch: String,
        graph: String,
        code: String,
        message: String,
    },
    RemovalIntent {
        batch: String,
        graph: String,
        accounts: Vec<String>,
        reason: String,
    },
    RemovalResult {
        batch: String,
        graph: String,
        removed: Vec<String>,
        unprocessed: Vec<Unprocessed>,
    },
    RemovalFailed {
        batch: String,
        graph: String,
        code: String,
        message: String,
    },
    /// An intent found without an outcome (a crash between the two), settled by listing the
    /// graph: `present` are members now, `absent` are not.
    IntentResolved {
        batch: String,
        graph: String,
        present: Vec<String>,
        absent: Vec<String>,
    },
    PruneRefused {
        graph: String,
        reason: String,
    },
    /// Drift recorded earlier that a later pass no longer sees.
    DriftResolved {
        graph: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        account: String,
        kind: String,
    },
    GraphFailed {
        graph: String,
        code: String,
        message: String,
    },
    /// The store could not be opened as it was: it was moved aside, kept for inspection, and a
    /// new one started; AWS remains the source of truth, so nothing about membership is lost.
    /// A store found emptied or removed (its identity record said it held events) is
    /// recorded the same way, with nothing moved (`moved_to` empty) and `lost` the events
    /// known to be gone (at least).
    StoreRebuilt {
        moved_to: String,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lost: Option<u64>,
    },
    /// An action on a Security Hub or on a member account's invitations, flushed before its
    /// call. `target` is `securityhub:<region>` (administrator side) or
    /// `<service>-invitations:<region>` (member side); `action` is the AWS operation.
    ActionIntent {
        batch: String,
        service: String,
        target: String,
        action: String,
        accounts: Vec<String>,
        /// What a configuration call sets (`AutoEnable=true`, a package to start); empty, and
        /// left out on disk, for a membership call.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        settings: Vec<String>,
    },
    /// The call answered: `done` are the accounts it processed.
    ActionResult {
        batch: String,
        target: String,
        action: String,
        done: Vec<String>,
        unprocessed: Vec<Unprocessed>,
    },
    ActionFailed {
        batch: String,
        target: String,
        action: String,
        code: String,
        message: String,
    },
    /// The organization could not be listed: the last good expansion stays in use and prune
    /// waits.
    OrganizationStale {
        code: String,
        message: String,
        /// When the expansion in use was listed (ms since the epoch), if there is one.
        last_listed_ms: Option<u64>,
        accounts: usize,
    },
    PassFinished {
        outcome: String,
        invited: usize,
        removed: usize,
        failed: usize,
        drift: usize,
    },
}

/// The event types that open and close an intent.
pub(super) const INTENT_TYPES: [&str; 10] = [
    "action_intent",
    "action_result",
    "action_failed",
    "invite_intent",
    "removal_intent",
    "invite_result",
    "invite_failed",
    "removal_result",
    "removal_failed",
    "intent_resolved",
];

/// The event types a projection is rebuilt from; they are also kept in a tree of their own so
/// that replay reads them without reading the large intents and results.
pub const PROJECTION_TYPES: [&str; 3] =
    ["member_status_changed", "drift_observed", "drift_resolved"];

impl EventKind {
    pub(super) fn feeds_projection(&self) -> bool {
        matches!(
            self,
            EventKind::MemberStatusChanged { .. }
                | EventKind::DriftObserved { .. }
                | EventKind::DriftResolved { .. }
        )
    }

    /// The graph an event is about, if any.
    pub fn graph(&self) -> Option<&str> {
        use EventKind::*;
        match self {
            DriftObserved { graph, .. }
            | MemberStatusChanged { graph, .. }
            | InviteIntent { graph, .. }
            | InviteResult { graph, .. }
            | InviteFailed { graph, .. }
            | RemovalIntent { graph, .. }
            | RemovalResult { graph, .. }
            | RemovalFailed { graph, .. }
            | IntentResolved { graph, .. }
            | PruneRefused { graph, .. }
            | DriftResolved { graph, .. }
            | GraphFailed { graph, .. } => Some(graph),
            ActionIntent { target, .. }
            | ActionResult { target, .. }
            | ActionFailed { target, .. } => Some(target),
            DesiredStateLoaded { .. }
            | StoreRebuilt { .. }
            | OrganizationStale { .. }
            | PassFinished { .. } => None,
        }
    }

    /// Whether an event names `account`.
    pub fn mentions(&self, account: &str) -> bool {
        use EventKind::*;
        let has = |v: &Vec<String>| v.iter().any(|a| a == account);
        let has_u = |v: &Vec<Unprocessed>| v.iter().any(|u| u.account == account);
        match self {
            DriftObserved { account: a, .. } | MemberStatusChanged { account: a, .. } => {
                a == account
            }
            InviteIntent { accounts, .. }
            | RemovalIntent { accounts, .. }
            | ActionIntent { accounts, .. } => has(accounts),
            ActionResult {
                done, unprocessed, ..
            } => has(done) || has_u(unprocessed),
            InviteResult {
                created,
                unprocessed,
                ..
            } => has(created) || has_u(unprocessed),
            RemovalResult {
                removed,
                unprocessed,
                ..
            } => has(removed) || has_u(unprocessed),
            IntentResolved {
                present, absent, ..
            } => has(present) || has(absent),
            _ => false,
        }
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The pass that wrote it.
    pub run: String,
    /// The desired-state digest that caused it.
    pub digest: String,
    /// The git commit that desired state was read from, when it was in a work tree; left out
    /// on disk when there is none (and in events written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(self.at_ms)
    }
}

/// The projection saved at the end of a pass, so that start-up replays only what came after.
/// Part of the on-disk schema, like `Event`: a JSON object of `seq`, `status` (a list of
/// [target, account, status]), `drift` (a list of [target, account, kind]), `drift_since_ms`
/// (when each of `drift` was first observed, in the same order; left out when there is no
/// drift, and absent from snapshots written before drift was timed) and `in_doubt`. The drift
/// is read and written straight from and into the projection's own form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The last event the snapshot includes.
    pub seq: u64,
    /// (graph, account, status): the last recorded member status.
    pub status: Statuses,
    /// Drift recorded and not yet resolved, (graph, account, kind), and when each was first
    /// observed (Unix milliseconds; read from a snapshot that did not time it, the time it
    /// was read).
    pub drift: Drifts,
    /// Intents still in doubt at `seq` (their graph could not be listed to settle them).
    pub in_doubt: super::InDoubt,
}

impl Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let timed = !self.drift.is_empty();
        let mut out = s.serialize_struct("Snapshot", 4 + usize::from(timed))?;
        out.serialize_field("seq", &self.seq)?;
        out.serialize_field("status", &self.status)?;
        out.serialize_field("drift", &self.drift.keys())?;
        if timed {
            out.serialize_field("drift_since_ms", &self.drift.since())?;
        }
        out.serialize_field("in_doubt", &self.in_doubt)?;
        out.end()
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The snapshot as its JSON has it.
        #[derive(Deserialize)]
        struct OnDisk {
            seq: u64,
            status: Statuses,
            drift: Triples,
            #[serde(default)]
            drift_since_ms: Vec<u64>,
            #[serde(default)]
            in_doubt: super::InDoubt,
        }
        let s = OnDisk::deserialize(d)?;
        Ok(Snapshot {
            seq: s.seq,
            status: s.status,
            drift: Drifts::from_triples(s.drift, &s.drift_since_ms, super::now_ms()),
            in_doubt: s.in_doubt,
        })
    }
}

/// The last organization listing that expanded: kept so that a pass that cannot list the
/// organization (even after a restart) goes on with it instead of with no accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedExpansion {
    /// Kept under a key of its own: the listing is rewritten only when it changes.
    #[serde(default, skip_serializing)]
    pub listed_ms: u64,
    /// The selection's digest: a listing is reused only for the selection it expanded.
    pub selection: String,
    /// (id, email, name, OU path) of each account taken.
    pub accounts: Vec<(String, String, String, String)>,
    /// Every account in the organization, any status.
    pub organization: Vec<String>,
}
