//! The event log: every observation of drift and every action muster takes, in a sled store
//! under `state_dir`. An intent is appended and flushed before its AWS call and its outcome after,
//! so that after a crash an intent without an outcome is known to be "in doubt" and is resolved
//! by listing the graph again, never by re-sending blind.
//!
//! AWS, not the log, is the source of truth for membership: the log is history and intent.
//! The schema is versioned: variants are added, never repurposed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

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
    StoreRebuilt {
        moved_to: String,
        error: String,
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
const INTENT_TYPES: [&str; 10] = [
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
    fn feeds_projection(&self) -> bool {
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
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(self.at_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("the event log in {dir} is in use by another muster (one muster per state_dir); stop it or use another --state-dir")]
    Locked { dir: PathBuf },
    #[error("there is no event log in {dir} (muster has not run with this state_dir)")]
    Missing { dir: PathBuf },
    #[error("cannot open the event log in {dir}")]
    Open {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("cannot write to the event log")]
    Write(#[source] sled::Error),
    #[error("event {seq} in the event log cannot be read")]
    Corrupt {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
}

/// The projection saved at the end of a pass, so that start-up replays only what came after.
/// Part of the on-disk schema, like `Event`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last event the snapshot includes.
    pub seq: u64,
    /// (graph, account, status): the last recorded member status.
    pub status: Vec<(String, String, String)>,
    /// Drift recorded and not yet resolved: (graph, account, kind).
    pub drift: Vec<(String, String, String)>,
    /// Intents still in doubt at `seq` (their graph could not be listed to settle them).
    #[serde(default)]
    pub in_doubt: Vec<(String, String, Vec<String>)>,
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

/// How long events are kept by default.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

/// The sled-backed log. Keys are big-endian sequence numbers, so iteration is in order.
pub struct EventLog {
    db: sled::Db,
    events: sled::Tree,
    meta: sled::Tree,
    /// The projection's events again, same keys: what replay reads.
    projection: sled::Tree,
    next: AtomicU64,
    /// The snapshot as last read or saved: a daemon reads it several times a pass, and decoding
    /// it is most of what replay costs.
    snapshot: std::sync::Mutex<Option<std::sync::Arc<Snapshot>>>,
    /// Set when this open moved a corrupt store aside: (where to, why).
    pub rebuilt: Option<(PathBuf, String)>,
}

impl EventLog {
    /// Opens (or creates) the log in `dir`. A second muster on the same directory gets
    /// `Locked` at once.
    /// As `open`, waiting up to `patience` for the lock: a reader (`muster events`) holds it
    /// for as long as it reads when no muster runs.
    pub fn open_waiting(
        dir: &Path,
        patience: std::time::Duration,
    ) -> Result<EventLog, EventLogError> {
        let start = std::time::Instant::now();
        loop {
            match EventLog::open(dir) {
                Err(EventLogError::Locked { .. }) if start.elapsed() < patience => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    pub fn open(dir: &Path) -> Result<EventLog, EventLogError> {
        std::fs::create_dir_all(dir).map_err(|e| EventLogError::Open {
            dir: dir.to_owned(),
            source: sled::Error::Io(e),
        })?;
        let store = dir.join("events.sled");
        let mut rebuilt = None;
        let db = match store_config(&store).open() {
            Err(sled::Error::Corruption { .. }) => {
                let ms = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let aside = dir.join(format!("events.sled.corrupt-{ms}"));
                std::fs::rename(&store, &aside).map_err(|e| EventLogError::Open {
                    dir: dir.to_owned(),
                    source: sled::Error::Io(e),
                })?;
                tracing::error!(dir = %dir.display(), moved_to = %aside.display(), "the event log was corrupt: moved it aside and started a new one; membership will be re-read from AWS");
                rebuilt = Some((aside, "sled reported corruption".to_owned()));
                store_config(&store).open()
            }
            other => other,
        };
        let db = db.map_err(|source| match &source {
            sled::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                EventLogError::Locked {
                    dir: dir.to_owned(),
                }
            }
            sled::Error::Io(e) if e.to_string().contains("lock") => EventLogError::Locked {
                dir: dir.to_owned(),
            },
            _ => EventLogError::Open {
                dir: dir.to_owned(),
                source,
            },
        })?;
        let open_tree = |name: &str| {
            db.open_tree(name).map_err(|source| EventLogError::Open {
                dir: dir.to_owned(),
                source,
            })
        };
        let events = open_tree("events")?;
        let meta = open_tree("meta")?;
        let projection = open_tree("projection")?;
        let next = match events.last().map_err(EventLogError::Write)? {
            Some((k, _)) => seq_of(&k) + 1,
            None => 1,
        };
        let log = EventLog {
            db,
            events,
            meta,
            projection,
            next: AtomicU64::new(next),
            snapshot: std::sync::Mutex::new(None),
            rebuilt,
        };
        log.catch_up_projection()?;
        Ok(log)
    }

    /// A crash between writing an event and its projection copy leaves the projection tree
    /// behind; copy what it lacks from the log.
    fn catch_up_projection(&self) -> Result<(), EventLogError> {
        let have = match self.projection.last().map_err(EventLogError::Write)? {
            Some((k, _)) => seq_of(&k),
            None => 0,
        };
        let missing: Vec<Event> = self
            .after_of_types(have, &PROJECTION_TYPES)
            .collect::<Result<_, _>>()?;
        for e in missing {
            let bytes = serde_json::to_vec(&e).expect("events are plain JSON");
            self.projection
                .insert(e.seq.to_be_bytes(), bytes)
                .map_err(EventLogError::Write)?;
        }
        Ok(())
    }

    /// The projection's events after `seq`, in order.
    pub fn projection_after(
        &self,
        seq: u64,
    ) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
        events_after(&self.projection, seq)
    }

    /// Opens the log for reading even while another muster holds it: the store is copied to a
    /// temporary directory and the copy opened (sled recovers the copy to its last consistent
    /// state). The copy is removed when the returned guard drops.
    pub fn open_for_reading(dir: &Path) -> Result<(EventLog, Option<TempCopy>), EventLogError> {
        // A reader never creates a store (and so never holds the lock of one a muster is about
        // to open).
        if !dir.join("events.sled").exists() {
            return Err(EventLogError::Missing {
                dir: dir.to_owned(),
            });
        }
        match EventLog::open(dir) {
            Err(EventLogError::Locked { .. }) => {
                let copy = std::env::temp_dir().join(format!(
                    "muster-events-copy-{}-{}",
                    std::process::id(),
                    SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                ));
                let io = |e: std::io::Error| EventLogError::Open {
                    dir: dir.to_owned(),
                    source: sled::Error::Io(e),
                };
                copy_dir(&dir.join("events.sled"), &copy.join("events.sled")).map_err(io)?;
                let guard = TempCopy(copy.clone());
                Ok((EventLog::open(&copy)?, Some(guard)))
            }
            other => other.map(|log| (log, None)),
        }
    }

    /// Deletes events older than `retention`, oldest first; returns how many went.
    pub fn apply_retention(&self, retention: std::time::Duration) -> Result<usize, EventLogError> {
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let mut removed = 0;
        for entry in self.events.iter() {
            let (k, v) = entry.map_err(EventLogError::Write)?;
            let at_ms = serde_json::from_slice::<Event>(&v).map_or(0, |e| e.at_ms);
            if at_ms >= cutoff {
                break;
            }
            self.events.remove(&k).map_err(EventLogError::Write)?;
            self.projection.remove(&k).map_err(EventLogError::Write)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The last saved snapshot, if any.
    pub fn snapshot(&self) -> Result<Option<std::sync::Arc<Snapshot>>, EventLogError> {
        let mut cached = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cached.as_ref() {
            return Ok(Some(s.clone()));
        }
        match self.meta.get("snapshot").map_err(EventLogError::Write)? {
            None => Ok(None),
            Some(v) => {
                let s: Snapshot = serde_json::from_slice(&v)
                    .map_err(|source| EventLogError::Corrupt { seq: 0, source })?;
                let s = std::sync::Arc::new(s);
                *cached = Some(s.clone());
                Ok(Some(s))
            }
        }
    }

    /// The last organization expansion saved, if any.
    pub fn expansion(&self) -> Result<Option<SavedExpansion>, EventLogError> {
        let Some(v) = self.meta.get("expansion").map_err(EventLogError::Write)? else {
            return Ok(None);
        };
        let mut e: SavedExpansion = serde_json::from_slice(&v)
            .map_err(|source| EventLogError::Corrupt { seq: 0, source })?;
        if let Some(ms) = self
            .meta
            .get("expansion_listed_ms")
            .map_err(EventLogError::Write)?
        {
            e.listed_ms = u64::from_be_bytes(ms.as_ref().try_into().unwrap_or_default());
        }
        Ok(Some(e))
    }

    /// Saves `e`: its time always, its accounts only when they differ from those saved (a daemon
    /// lists the organization every pass, and it seldom changes).
    pub fn save_expansion(&self, e: &SavedExpansion) -> Result<(), EventLogError> {
        let bytes = serde_json::to_vec(e).expect("an expansion is plain JSON");
        let saved = self.meta.get("expansion").map_err(EventLogError::Write)?;
        if saved.as_deref() != Some(bytes.as_slice()) {
            self.meta
                .insert("expansion", bytes)
                .map_err(EventLogError::Write)?;
        }
        self.meta
            .insert("expansion_listed_ms", &e.listed_ms.to_be_bytes())
            .map_err(EventLogError::Write)?;
        Ok(())
    }

    /// Saves `s` unless it says what the last snapshot says (statuses, drift and intents in
    /// doubt unchanged) and few events came since: then the older one still holds, and replay
    /// and the in-doubt check read the same few events after it.
    pub fn save_snapshot(&self, s: Snapshot) -> Result<(), EventLogError> {
        /// Events after a snapshot past which an unchanged one is saved anyway.
        const RESAVE_AFTER: u64 = 1000;
        if let Some(old) = self.snapshot()? {
            if old.status == s.status
                && old.drift == s.drift
                && old.in_doubt == s.in_doubt
                && s.seq.saturating_sub(old.seq) < RESAVE_AFTER
            {
                return Ok(());
            }
        }
        let bytes = serde_json::to_vec(&s).expect("a snapshot is plain JSON");
        self.meta
            .insert("snapshot", bytes)
            .map_err(EventLogError::Write)?;
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(s));
        Ok(())
    }

    /// Events after `seq`, in order.
    pub fn after(&self, seq: u64) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
        events_after(&self.events, seq)
    }

    /// Events after `seq` whose `type` is one of `types`, in order. Events of other types are not
    /// decoded at all, which is what keeps replay fast: the large ones (50-account intents and
    /// results) are never what a projection needs.
    pub fn after_of_types<'a>(
        &'a self,
        seq: u64,
        types: &'a [&'a str],
    ) -> impl Iterator<Item = Result<Event, EventLogError>> + 'a {
        self.events
            .range(seq.saturating_add(1).to_be_bytes()..)
            .filter_map(move |r| {
                let (k, v) = match r {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(EventLogError::Write(e))),
                };
                // Parse it when its type is wanted, or cannot be told without parsing.
                if let Some(t) = type_of(&v) {
                    if !types.contains(&t) {
                        return None;
                    }
                }
                Some(decode(&k, &v))
            })
    }

    /// The sequence number of the last event, 0 when empty.
    pub fn last_seq(&self) -> u64 {
        self.next.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Appends one event; with `flush`, returns only once it is on disk.
    pub fn append(
        &self,
        run: &str,
        digest: &str,
        kind: EventKind,
        flush: bool,
    ) -> Result<Event, EventLogError> {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let at_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let event = Event {
            v: SCHEMA_VERSION,
            seq,
            at_ms,
            run: run.to_owned(),
            digest: digest.to_owned(),
            kind,
        };
        let bytes = serde_json::to_vec(&event).expect("events are plain JSON");
        // The log first: a crash before the copy is mended at the next open.
        self.events
            .insert(seq.to_be_bytes(), bytes.as_slice())
            .map_err(EventLogError::Write)?;
        if event.kind.feeds_projection() {
            self.projection
                .insert(seq.to_be_bytes(), bytes)
                .map_err(EventLogError::Write)?;
        }
        if flush {
            self.db.flush().map_err(EventLogError::Write)?;
        }
        Ok(event)
    }

    pub fn flush(&self) -> Result<(), EventLogError> {
        self.db.flush().map_err(EventLogError::Write).map(|_| ())
    }

    /// Every event, in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
        events_after(&self.events, 0)
    }

    /// Intents with no outcome yet: (batch, graph, accounts), in order.
    pub fn in_doubt(&self) -> Result<Vec<(String, String, Vec<String>)>, EventLogError> {
        // Everything before the snapshot is settled but what it carries; after it, only intents
        // and outcomes are decoded.
        let (from, mut open) = match self.snapshot()? {
            Some(s) => (s.seq, s.in_doubt.clone()),
            None => (0, Vec::new()),
        };
        for e in self.after_of_types(from, &INTENT_TYPES) {
            match e?.kind {
                EventKind::InviteIntent {
                    batch,
                    graph,
                    accounts,
                }
                | EventKind::RemovalIntent {
                    batch,
                    graph,
                    accounts,
                    ..
                }
                | EventKind::ActionIntent {
                    batch,
                    target: graph,
                    accounts,
                    ..
                } => open.push((batch, graph, accounts)),
                EventKind::InviteResult { batch, .. }
                | EventKind::InviteFailed { batch, .. }
                | EventKind::RemovalResult { batch, .. }
                | EventKind::RemovalFailed { batch, .. }
                | EventKind::IntentResolved { batch, .. }
                | EventKind::ActionResult { batch, .. }
                | EventKind::ActionFailed { batch, .. } => open.retain(|(b, _, _)| *b != batch),
                _ => {}
            }
        }
        Ok(open)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// The events of `tree` after `seq`, decoded, in order.
fn events_after(
    tree: &sled::Tree,
    seq: u64,
) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
    tree.range(seq.saturating_add(1).to_be_bytes()..).map(|r| {
        let (k, v) = r.map_err(EventLogError::Write)?;
        decode(&k, &v)
    })
}

fn decode(key: &[u8], value: &[u8]) -> Result<Event, EventLogError> {
    serde_json::from_slice(value).map_err(|source| EventLogError::Corrupt {
        seq: seq_of(key),
        source,
    })
}

/// A temporary copy of a store, removed on drop.
pub struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// sled's page cache defaults to 1 GiB; muster reads the log only at start and appends in
/// between, so a small cache keeps a long-running muster small.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;

fn store_config(store: &Path) -> sled::Config {
    sled::Config::new().path(store).cache_capacity(CACHE_BYTES)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The `type` tag of a stored event, read without decoding it. The tag is the first `"type":"`
/// in the JSON: the fields before it (`v`, `seq`, `at_ms`, `run`, `digest`) are muster's own and
/// never contain that text.
fn type_of(raw: &[u8]) -> Option<&str> {
    const TAG: &[u8] = b"\"type\":\"";
    let start = raw.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let len = raw[start..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&raw[start..start + len]).ok()
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the log in `d`; a log just dropped may hold sled's lock for a moment longer (its
    /// flusher thread), so this waits for it as `apply` and `run` do.
    fn reopen(d: &Path) -> EventLog {
        EventLog::open_waiting(d, std::time::Duration::from_secs(5)).unwrap()
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muster-eventlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn an_expansion_keeps_its_accounts_and_takes_each_new_listing_time() {
        let d = dir("expansion");
        let log = EventLog::open(&d).unwrap();
        assert_eq!(log.expansion().unwrap(), None);
        let mut e = SavedExpansion {
            listed_ms: 1,
            selection: "k".into(),
            accounts: vec![(
                "300000000001".into(),
                "a@example.com".into(),
                "a".into(),
                "Root/W".into(),
            )],
            organization: vec!["300000000001".into()],
        };
        log.save_expansion(&e).unwrap();
        let stored = log.meta.get("expansion").unwrap().unwrap();
        e.listed_ms = 2;
        log.save_expansion(&e).unwrap();
        // The accounts as saved, and the new time.
        assert_eq!(log.meta.get("expansion").unwrap().unwrap(), stored);
        assert_eq!(log.expansion().unwrap(), Some(e.clone()));
        e.organization.push("300000000002".into());
        log.save_expansion(&e).unwrap();
        assert_ne!(log.meta.get("expansion").unwrap().unwrap(), stored);
        assert_eq!(log.expansion().unwrap(), Some(e));
    }

    #[test]
    fn events_replay_in_order_across_reopen_and_intents_without_outcomes_are_in_doubt() {
        let d = dir("replay");
        {
            let log = reopen(&d);
            log.append(
                "r1",
                "abc",
                EventKind::InviteIntent {
                    batch: "b1".into(),
                    graph: "g".into(),
                    accounts: vec!["1".into()],
                },
                true,
            )
            .unwrap();
            log.append(
                "r1",
                "abc",
                EventKind::InviteResult {
                    batch: "b1".into(),
                    graph: "g".into(),
                    created: vec!["1".into()],
                    unprocessed: vec![],
                },
                true,
            )
            .unwrap();
            log.append(
                "r1",
                "abc",
                EventKind::InviteIntent {
                    batch: "b2".into(),
                    graph: "g".into(),
                    accounts: vec!["2".into()],
                },
                true,
            )
            .unwrap();
        }
        let log = reopen(&d);
        let seqs: Vec<u64> = log.iter().map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(
            log.in_doubt().unwrap(),
            [("b2".to_owned(), "g".to_owned(), vec!["2".to_owned()])]
        );
        let e = log
            .append(
                "r2",
                "abc",
                EventKind::PassFinished {
                    outcome: "ok".into(),
                    invited: 0,
                    removed: 0,
                    failed: 0,
                    drift: 0,
                },
                false,
            )
            .unwrap();
        assert_eq!(e.seq, 4);
        drop(log);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_corrupt_store_is_moved_aside_and_a_new_one_started() {
        let d = dir("corrupt");
        {
            let log = reopen(&d);
            log.append(
                "r",
                "d",
                EventKind::PassFinished {
                    outcome: "ok".into(),
                    invited: 0,
                    removed: 0,
                    failed: 0,
                    drift: 0,
                },
                true,
            )
            .unwrap();
        }
        std::fs::write(d.join("events.sled").join("conf"), b"not a sled config").unwrap();
        let log = reopen(&d);
        let (aside, _) = log.rebuilt.clone().unwrap();
        assert!(
            aside.join("conf").exists(),
            "the corrupt store is kept for inspection"
        );
        assert!(log.is_empty());
        drop(log);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn retention_drops_only_old_events_and_snapshots_round_trip() {
        let d = dir("retention");
        let log = reopen(&d);
        let old = Event {
            v: 1,
            seq: 1,
            at_ms: 1_000,
            run: "r".into(),
            digest: "d".into(),
            kind: EventKind::PruneRefused {
                graph: "g".into(),
                reason: "x".into(),
            },
        };
        log.events
            .insert(1u64.to_be_bytes(), serde_json::to_vec(&old).unwrap())
            .unwrap();
        log.next.store(2, Ordering::SeqCst);
        log.append(
            "r",
            "d",
            EventKind::PruneRefused {
                graph: "g".into(),
                reason: "y".into(),
            },
            true,
        )
        .unwrap();
        assert_eq!(log.apply_retention(DEFAULT_RETENTION).unwrap(), 1);
        assert_eq!(log.iter().map(|e| e.unwrap().seq).collect::<Vec<_>>(), [2]);
        let s = Snapshot {
            seq: 2,
            status: vec![("g".into(), "a".into(), "ENABLED".into())],
            drift: vec![],
            in_doubt: vec![("b0".into(), "g".into(), vec!["1".into()])],
        };
        log.save_snapshot(s.clone()).unwrap();
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&s));
        assert_eq!(
            log.after(1).map(|e| e.unwrap().seq).collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(log.after(2).count(), 0);
        // In-doubt intents come from the snapshot plus what follows it.
        log.append(
            "r",
            "d",
            EventKind::InviteIntent {
                batch: "b1".into(),
                graph: "g".into(),
                accounts: vec!["2".into()],
            },
            false,
        )
        .unwrap();
        log.append(
            "r",
            "d",
            EventKind::IntentResolved {
                batch: "b0".into(),
                graph: "g".into(),
                present: vec!["1".into()],
                absent: vec![],
            },
            false,
        )
        .unwrap();
        assert_eq!(
            log.in_doubt().unwrap(),
            [("b1".to_owned(), "g".to_owned(), vec!["2".to_owned()])]
        );
        // An unchanged snapshot a few events later is not written again; a changed one is.
        let mut later = s.clone();
        later.seq = 5;
        log.save_snapshot(later.clone()).unwrap();
        assert_eq!(log.snapshot().unwrap().unwrap().seq, 2);
        later.drift.push(("g".into(), "a".into(), "missing".into()));
        log.save_snapshot(later.clone()).unwrap();
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&later));
        // The same after a reopen, read from disk.
        drop(log);
        let log = reopen(&d);
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&later));
        drop(log);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_type_of_a_stored_event_is_read_without_decoding_it() {
        let e = Event {
            v: 1,
            seq: 1,
            at_ms: 1,
            run: "r".into(),
            digest: "d".into(),
            kind: EventKind::DriftResolved {
                graph: "g".into(),
                account: "a".into(),
                kind: "missing".into(),
            },
        };
        let raw = serde_json::to_vec(&e).unwrap();
        assert_eq!(type_of(&raw), Some("drift_resolved"));
        assert_eq!(type_of(b"{}"), None);
    }

    #[test]
    fn the_projection_tree_catches_up_with_the_log_at_open() {
        let d = dir("catchup");
        let status = |a: &str| EventKind::MemberStatusChanged {
            graph: "g".into(),
            account: a.into(),
            from: None,
            to: "ENABLED".into(),
        };
        {
            let log = reopen(&d);
            log.append("r", "d", status("1"), false).unwrap();
            log.append(
                "r",
                "d",
                EventKind::PruneRefused {
                    graph: "g".into(),
                    reason: "x".into(),
                },
                false,
            )
            .unwrap();
            // As if a crash came between the log write and its projection copy.
            let e = Event {
                v: 1,
                seq: 3,
                at_ms: 1,
                run: "r".into(),
                digest: "d".into(),
                kind: status("2"),
            };
            log.events
                .insert(3u64.to_be_bytes(), serde_json::to_vec(&e).unwrap())
                .unwrap();
            log.flush().unwrap();
            assert_eq!(log.projection_after(0).count(), 1);
        }
        let log = reopen(&d);
        let seqs: Vec<u64> = log.projection_after(0).map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, [1, 3]);
        drop(log);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_schema_is_tagged_json() {
        let e = Event {
            v: 1,
            seq: 7,
            at_ms: 1000,
            run: "r".into(),
            digest: "d".into(),
            kind: EventKind::PruneRefused {
                graph: "g".into(),
                reason: "why".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"v":1,"seq":7,"at_ms":1000,"run":"r","digest":"d","type":"prune_refused","graph":"g","reason":"why"}"#
        );
    }
}
