//! The event log: every observation of drift and every action muster takes, in a sled store
//! under `state_dir`. An intent is appended and flushed before its AWS call and its outcome after,
//! so that after a crash an intent without an outcome is known to be "in doubt" and is resolved
//! by listing the graph again, never by re-sending blind.
//!
//! AWS, not the log, is the source of truth for membership: the log is history and intent.
//! The schema (`schema.rs`) is versioned: variants are added, never repurposed. Every call into
//! sled goes through `store.rs`'s boundary and `EventLog::run`, the one recovery path for a
//! damaged store or a full disk; nothing outside this module sees sled.

mod identity;
pub mod projection;
mod schema;
mod store;

pub use projection::{replay, Projection, REMOVED};
pub use schema::*;

use crate::desired::DesiredState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use store::{guard, Fault, Trees};

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("the event log in {dir} is in use by another muster (one muster per state_dir); stop it or use another --state-dir")]
    Locked { dir: PathBuf },
    #[error("there is no event log in {dir} (muster has not run with this state_dir)")]
    Missing { dir: PathBuf },
    /// What a reader reports about a damaged store; it changes nothing.
    #[error("the event log {store} is damaged: {reason}; it was left as it is: the next `muster apply` or `muster run` moves it aside and starts a new one (membership is re-read from AWS)")]
    Damaged { store: PathBuf, reason: String },
    /// The store could not be read or written (a full disk, an IO error), or could not be
    /// rebuilt. A writer closes it and opens it again at its next use.
    #[error("cannot use the event log {store}: {reason}")]
    Io { store: PathBuf, reason: String },
    /// The store's identity record names a format this muster cannot read; nothing was opened
    /// or changed.
    #[error("the event log in {dir} was written by a newer muster (format {format}; this one reads up to {reads})")]
    Newer {
        dir: PathBuf,
        format: u32,
        reads: u32,
    },
}

/// How long events are kept by default.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

/// Who opened the log: a writer (`apply`, `run`) recovers a damaged store; a reader (`events`)
/// reads a copy and only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// Which desired state an event came from: its digest and, when it was read from a git work
/// tree, the commit. A bare `&str` is a digest with no revision.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub digest: &'a str,
    pub revision: Option<&'a str>,
}

impl<'a> From<&'a str> for Origin<'a> {
    fn from(digest: &'a str) -> Self {
        Origin {
            digest,
            revision: None,
        }
    }
}

impl<'a> From<&'a String> for Origin<'a> {
    fn from(digest: &'a String) -> Self {
        Origin::from(digest.as_str())
    }
}

impl<'a> From<&'a DesiredState> for Origin<'a> {
    fn from(d: &'a DesiredState) -> Self {
        Origin {
            digest: &d.digest,
            revision: d.revision.as_deref(),
        }
    }
}

/// The sled-backed log. Keys are big-endian sequence numbers, so iteration is in order.
///
/// Every call into sled goes through `run`, the one recovery path: a damaged store (corruption
/// on open, read or write, a panic inside sled, a missing blob, a damaged `conf`) is moved aside
/// by a writer as `events.sled.corrupt-<ms>` and a new one started, and `store_rebuilt` is
/// recorded after the first event the new store takes; a store that cannot be written (a full
/// disk) is closed and opened again at the next use, so a daemon recovers without a restart.
pub struct EventLog {
    /// The state directory (what errors about the lock name).
    dir: PathBuf,
    /// The store opened: `dir/events.sled`, or a reader's copy of it.
    path: PathBuf,
    /// The store as operators know it (the original, for a reader's copy).
    shown: PathBuf,
    role: Role,
    /// `None` once closed after a failure: the next use opens it again.
    trees: RwLock<Option<Arc<Trees>>>,
    next: AtomicU64,
    /// The snapshot as last read or saved: a daemon reads it several times a pass, and decoding
    /// it is most of what replay costs. Replay takes the whole of it (`take_snapshot`), so a
    /// pass does not hold it beside the projection built from it; what the pass still needs
    /// stays.
    snapshot: Mutex<Option<Kept>>,
    /// A rebuild not yet recorded.
    rebuilt: Mutex<Option<Rebuilt>>,
    /// The open store's id (its identity record's and its `meta` tree's), once known.
    store_id: Mutex<Option<String>>,
    /// A reader's copy, removed when the log drops.
    _copy: Option<TempCopy>,
    /// Flushes to disk so far, and the time they took (microseconds): what a pass's timings
    /// report.
    flushes: AtomicU64,
    flush_us: AtomicU64,
    /// Group commit (`append_durable`): the last sequence number known on disk, and whether a
    /// flush is running; `flushed` wakes the appends waiting for one.
    durable: Mutex<Durable>,
    flushed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Durable {
    /// Counts the store's openings: a store opened again (or rebuilt, numbering from 1) knows
    /// nothing on disk yet, and a flush of an earlier one does not count for it.
    opened: u64,
    upto: u64,
    flushing: bool,
}

impl Durable {
    /// Everything up to `upto` was flushed to the store of opening `opened`.
    fn flushed(&mut self, opened: u64, upto: u64) {
        if self.opened == opened {
            self.upto = self.upto.max(upto);
        }
    }
}

/// Ends a group-commit flush, even when the future running it is dropped: the next waiter
/// leads the next flush.
struct Leading<'a>(&'a EventLog);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        lock(&self.0.durable).flushing = false;
        self.0.flushed.notify_waiters();
    }
}

/// A rebuild the next append records as `store_rebuilt`.
#[derive(Debug)]
struct Rebuilt {
    /// Where the old store went; `None` when there was nothing to move (emptied or removed).
    moved_to: Option<PathBuf>,
    reason: String,
    /// Events known lost (at least), when the identity record tells.
    lost: Option<u64>,
}

/// Intents in doubt: (batch, target, accounts).
pub type InDoubt = Vec<(String, String, Vec<String>)>;

/// The last snapshot, as far as the log keeps it: what `in_doubt` and `save_snapshot` need,
/// and the whole of it until replay takes it.
struct Kept {
    seq: u64,
    in_doubt: InDoubt,
    /// Of its statuses, drift and intents in doubt: a new snapshot that says the same need not
    /// be saved. Worked out when replay takes the snapshot (an open that only reads never
    /// needs it).
    fingerprint: Option<u64>,
    whole: Option<Arc<Snapshot>>,
}

impl Kept {
    fn of(s: Arc<Snapshot>) -> Kept {
        Kept {
            seq: s.seq,
            in_doubt: s.in_doubt.clone(),
            fingerprint: None,
            whole: Some(s),
        }
    }

    /// The fingerprint, worked out from the whole snapshot if it is not yet.
    fn fingerprint(&mut self) -> Option<u64> {
        if self.fingerprint.is_none() {
            self.fingerprint = self.whole.as_deref().map(fingerprint);
        }
        self.fingerprint
    }
}

/// A hash of what a snapshot says (statuses, drift, intents in doubt). The unchanged check
/// is only a saving: a snapshot not saved when it should be leaves replay the older snapshot
/// and the events after it, the same projection. So a fast 64-bit hash will do.
fn fingerprint(s: &Snapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&s.status, &s.drift, &s.in_doubt).hash(&mut h);
    h.finish()
}

/// How many flushes the log made and how long they took, since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    pub flushes: u64,
    pub took: std::time::Duration,
}

impl std::ops::Sub for FlushStats {
    type Output = FlushStats;
    fn sub(self, before: FlushStats) -> FlushStats {
        FlushStats {
            flushes: self.flushes.saturating_sub(before.flushes),
            took: self.took.saturating_sub(before.took),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl EventLog {
    /// As `open`, waiting up to `patience` for the lock: a store just closed by another muster
    /// may hold it a moment longer.
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

    /// Opens (or creates) the log in `dir` for writing. A second muster on the same directory
    /// gets `Locked` at once. The store is verified before this returns (`open_verified`), so
    /// that damage is found before the first AWS write, and a damaged store is moved aside and
    /// a new one started.
    pub fn open(dir: &Path) -> Result<EventLog, EventLogError> {
        let path = dir.join("events.sled");
        std::fs::create_dir_all(dir).map_err(|e| EventLogError::Io {
            store: path.clone(),
            reason: format!("cannot create the state directory: {e}"),
        })?;
        newer_format(dir)?;
        let log = EventLog::new(dir, path.clone(), path, Role::Writer, None);
        log.trees()?;
        Ok(log)
    }

    /// Opens the log for reading, even while another muster holds it: the store is copied to a
    /// temporary directory and the copy opened (sled recovers the copy to its last consistent
    /// state). The store itself is never opened, moved or changed; damage is reported as
    /// `Damaged` for the next writer to recover. The copy goes when the log drops.
    pub fn open_for_reading(dir: &Path) -> Result<EventLog, EventLogError> {
        let store = dir.join("events.sled");
        newer_format(dir)?;
        let recorded = match identity::read(dir) {
            identity::Read::Found(r) => Some(r),
            _ => None,
        };
        if !store.exists() {
            return Err(match recorded {
                Some(r) => EventLogError::Damaged {
                    store,
                    reason: gone_reason(Presence::Missing, &r),
                },
                None => EventLogError::Missing {
                    dir: dir.to_owned(),
                },
            });
        }
        store::check_shape(&store).map_err(|f| match f {
            Fault::Damaged(reason) => EventLogError::Damaged {
                store: store.clone(),
                reason,
            },
            Fault::Io(reason) => EventLogError::Io {
                store: store.clone(),
                reason,
            },
            Fault::Locked => EventLogError::Locked {
                dir: dir.to_owned(),
            },
        })?;
        let copy = std::env::temp_dir().join(format!(
            "muster-events-copy-{}-{}",
            std::process::id(),
            // Nanoseconds: two readers in one process never share a copy.
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let guard = TempCopy(copy.clone());
        // A writer may replace a blob while it is copied: try again a few times.
        let mut copied = copy_dir(&store, &copy.join("events.sled"));
        for _ in 0..3 {
            if copied.is_ok() {
                break;
            }
            let _ = std::fs::remove_dir_all(&copy);
            copied = copy_dir(&store, &copy.join("events.sled"));
        }
        copied.map_err(|e| EventLogError::Io {
            store: store.clone(),
            reason: format!("cannot copy it to {} to read it: {e}", copy.display()),
        })?;
        let log = EventLog::new(
            dir,
            copy.join("events.sled"),
            store,
            Role::Reader,
            Some(guard),
        );
        log.trees()?;
        if let Some(r) = recorded {
            if log.is_fresh()? && log.held_id()?.is_none() {
                return Err(EventLogError::Damaged {
                    store: log.shown.clone(),
                    reason: gone_reason(Presence::Emptied, &r),
                });
            }
        }
        Ok(log)
    }

    fn new(dir: &Path, path: PathBuf, shown: PathBuf, role: Role, copy: Option<TempCopy>) -> Self {
        EventLog {
            dir: dir.to_owned(),
            path,
            shown,
            role,
            trees: RwLock::new(None),
            next: AtomicU64::new(1),
            snapshot: Mutex::new(None),
            rebuilt: Mutex::new(None),
            store_id: Mutex::new(None),
            _copy: copy,
            flushes: AtomicU64::new(0),
            flush_us: AtomicU64::new(0),
            durable: Mutex::new(Durable::default()),
            flushed: tokio::sync::Notify::new(),
        }
    }

    /// The open store, opening (and verifying) it when it is closed.
    fn trees(&self) -> Result<Arc<Trees>, EventLogError> {
        if let Some(t) = self
            .trees
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok(t.clone());
        }
        let mut slot = self.trees.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let presence = Presence::of(&self.path);
        let opened = match self.open_verified() {
            Err(Fault::Damaged(reason)) if self.role == Role::Writer => {
                self.move_aside(&reason)?;
                self.open_verified()
            }
            other => other,
        };
        let trees = opened.map_err(|f| self.error(f))?;
        if self.role == Role::Writer {
            self.adopt(&trees, presence)?;
        }
        let trees = Arc::new(trees);
        let mut d = lock(&self.durable);
        (d.opened, d.upto) = (d.opened + 1, 0);
        drop(d);
        *slot = Some(trees.clone());
        Ok(trees)
    }

    /// Opens the store and reads what start-up and `muster events` read: the snapshot, the
    /// saved expansion, the events after the snapshot (decoded) and every other entry (read);
    /// a writer's projection tree catches up.
    fn open_verified(&self) -> Result<Trees, Fault> {
        store::check_shape(&self.path)?;
        let trees = Trees::open(&self.path)?;
        let mut snapshot = None;
        let next = guard(|| {
            let mut snapshot_seq = 0;
            if let Some(v) = trees.meta.get("snapshot")? {
                let s = serde_json::from_slice::<Snapshot>(&v)
                    .map_err(|e| Fault::Damaged(format!("the snapshot cannot be read: {e}")))?;
                snapshot_seq = s.seq;
                // Kept: replay reads it next, and decoding it is most of what replay costs.
                snapshot = Some(Kept::of(Arc::new(s)));
            }
            if let Some(v) = trees.meta.get("expansion")? {
                serde_json::from_slice::<SavedExpansion>(&v).map_err(|e| {
                    Fault::Damaged(format!(
                        "the saved organization listing cannot be read: {e}"
                    ))
                })?;
            }
            // Every entry is read (sled checks each one it reads); the events a start replays
            // are decoded, the older ones only have their type read, which costs a tenth.
            let mut last = 0;
            for r in trees.events.iter() {
                let (k, v) = r?;
                last = seq_of(&k);
                if last > snapshot_seq {
                    decode(&k, &v)?;
                } else if type_of(&v).is_none() {
                    return Err(Fault::Damaged(format!("event {last} cannot be read")));
                }
            }
            for r in trees
                .projection
                .range(snapshot_seq.saturating_add(1).to_be_bytes()..)
            {
                let (k, v) = r?;
                decode(&k, &v)?;
            }
            if self.role == Role::Writer {
                catch_up_projection(&trees)?;
            }
            Ok(last + 1)
        });
        match next {
            Ok(next) => {
                self.next.store(next, Ordering::SeqCst);
                *lock(&self.snapshot) = snapshot;
                Ok(trees)
            }
            Err(f) => {
                store::close(trees);
                Err(f)
            }
        }
    }

    /// Moves the store aside as `events.sled.corrupt-<ms>` (kept for inspection); the next
    /// open starts a new one. Only a writer does this.
    fn move_aside(&self, reason: &str) -> Result<(), EventLogError> {
        let aside = self.dir.join(format!("events.sled.corrupt-{}", now_ms()));
        std::fs::rename(&self.path, &aside).map_err(|e| EventLogError::Io {
            store: self.shown.clone(),
            reason: format!("it is damaged ({reason}) and cannot be moved aside: {e}"),
        })?;
        tracing::error!(store = %self.shown.display(), moved_to = %aside.display(), error = %reason, "the event log was damaged: moved it aside and started a new one; membership will be re-read from AWS");
        *lock(&self.rebuilt) = Some(Rebuilt {
            moved_to: Some(aside),
            reason: reason.to_owned(),
            lost: None,
        });
        Ok(())
    }

    /// The store id the open store holds, if it has one yet.
    fn held_id(&self) -> Result<Option<String>, EventLogError> {
        self.run(|t| Ok(t.meta.get(identity::STORE_ID_KEY)?))
            .map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Whether the open store holds nothing: no event and no snapshot.
    fn is_fresh(&self) -> Result<bool, EventLogError> {
        Ok(self.last_seq() == 0 && self.snapshot()?.is_none())
    }

    /// Ties the store just opened to its identity record (a writer's): a store that has no id
    /// yet gets one, and the record is written; a new, empty store where the record says one
    /// with events was is a loss like any damage, recorded as `store_rebuilt`.
    fn adopt(&self, trees: &Trees, presence: Presence) -> Result<(), EventLogError> {
        let held = guard(|| Ok(trees.meta.get(identity::STORE_ID_KEY)?))
            .map_err(|f| self.error(f))?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let fresh = self.next.load(Ordering::SeqCst) <= 1 && lock(&self.snapshot).is_none();
        let recorded = identity::read(&self.dir);
        let id = match (held, recorded) {
            (Some(id), identity::Read::Found(r)) if r.store_id == id => {
                *lock(&self.store_id) = Some(id);
                return Ok(());
            }
            (Some(id), _) => id,
            (None, identity::Read::Found(r)) if fresh && lock(&self.rebuilt).is_none() => {
                let reason = gone_reason(presence, &r);
                tracing::error!(store = %self.shown.display(), error = %reason, "the event log was damaged: started a new one; membership will be re-read from AWS");
                *lock(&self.rebuilt) = Some(Rebuilt {
                    moved_to: None,
                    reason,
                    lost: Some(r.last_seq),
                });
                self.new_id(trees)?
            }
            (None, identity::Read::Unreadable(why)) => {
                tracing::warn!(record = %identity::path(&self.dir).display(), error = %why, "the event log's identity record cannot be read: writing it again");
                self.new_id(trees)?
            }
            (None, _) => self.new_id(trees)?,
        };
        *lock(&self.store_id) = Some(id);
        self.write_record(self.last_seq());
        Ok(())
    }

    /// Gives the open store a new id, on disk before the record names it.
    fn new_id(&self, trees: &Trees) -> Result<String, EventLogError> {
        let id = identity::new_store_id();
        guard(|| {
            trees.meta.insert(identity::STORE_ID_KEY, id.as_bytes())?;
            trees.db.flush()?;
            Ok(())
        })
        .map_err(|f| self.error(f))?;
        Ok(id)
    }

    /// Writes the identity record with `last_seq`. A record that cannot be written is only a
    /// warning: the store is what matters, and the next write tries again.
    fn write_record(&self, last_seq: u64) {
        let Some(store_id) = lock(&self.store_id).clone() else {
            return;
        };
        let r = identity::Record {
            format: identity::STORE_FORMAT,
            store_id,
            last_seq,
        };
        if let Err(e) = identity::write(&self.dir, &r) {
            tracing::warn!(record = %identity::path(&self.dir).display(), error = %e, "cannot write the event log's identity record");
        }
    }

    /// The error a fault is to the caller.
    fn error(&self, fault: Fault) -> EventLogError {
        match fault {
            Fault::Locked => EventLogError::Locked {
                dir: self.dir.clone(),
            },
            Fault::Damaged(reason) if self.role == Role::Reader => EventLogError::Damaged {
                store: self.shown.clone(),
                reason,
            },
            Fault::Damaged(reason) => EventLogError::Io {
                store: self.shown.clone(),
                reason: format!("it is damaged and was not rebuilt: {reason}"),
            },
            Fault::Io(reason) => EventLogError::Io {
                store: self.shown.clone(),
                reason,
            },
        }
    }

    /// The one recovery path: runs `op` on the store. A writer that meets a damaged store moves
    /// it aside, starts a new one and runs `op` again, once; a store that cannot be written is
    /// closed (and opened again at the next use). A reader only reports.
    fn run<T>(&self, op: impl Fn(&Trees) -> Result<T, Fault>) -> Result<T, EventLogError> {
        let mut rebuilt = false;
        loop {
            let trees = self.trees()?;
            let fault = match guard(|| op(&trees)) {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            drop(trees);
            if self.role == Role::Reader {
                return Err(self.error(fault));
            }
            self.close_store();
            match fault {
                Fault::Damaged(reason) if !rebuilt => {
                    self.move_aside(&reason)?;
                    rebuilt = true;
                }
                Fault::Io(reason) => {
                    tracing::error!(store = %self.shown.display(), error = %reason, "cannot write to the event log: closed it; it is opened again at its next use");
                    return Err(self.error(Fault::Io(reason)));
                }
                other => return Err(self.error(other)),
            }
        }
    }

    /// Closes the store (bounded: see `store::close`); the next use opens it again.
    fn close_store(&self) {
        let taken = self.trees.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = taken.and_then(|t| Arc::try_unwrap(t).ok()) {
            if !store::close(t) {
                tracing::warn!(store = %self.shown.display(), "the event log did not close in time; it is left to close on its own");
            }
        }
    }

    /// The projection's events after `seq`, in order.
    pub fn projection_after(&self, seq: u64) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| events_after(&t.projection, seq).collect())
    }

    /// Deletes events older than `retention`, oldest first; returns how many went.
    pub fn apply_retention(&self, retention: std::time::Duration) -> Result<usize, EventLogError> {
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        self.run(|t| {
            let mut removed = 0;
            for entry in t.events.iter() {
                let (k, v) = entry?;
                let at_ms = serde_json::from_slice::<Event>(&v).map_or(0, |e| e.at_ms);
                if at_ms >= cutoff {
                    break;
                }
                t.events.remove(&k)?;
                t.projection.remove(&k)?;
                removed += 1;
            }
            Ok(removed)
        })
    }

    /// The last saved snapshot, if any.
    pub fn snapshot(&self) -> Result<Option<Arc<Snapshot>>, EventLogError> {
        if let Some(s) = lock(&self.snapshot).as_ref().and_then(|k| k.whole.clone()) {
            return Ok(Some(s));
        }
        let read = self.read_snapshot()?.map(Arc::new);
        if let Some(s) = &read {
            *lock(&self.snapshot) = Some(Kept::of(s.clone()));
        }
        Ok(read)
    }

    /// The last saved snapshot, taken whole (replay's): the log keeps only what it needs of it
    /// afterwards, and the next `snapshot()` reads it again.
    pub fn take_snapshot(&self) -> Result<Option<Snapshot>, EventLogError> {
        let whole = lock(&self.snapshot).as_mut().and_then(|k| {
            k.fingerprint();
            k.whole.take()
        });
        if let Some(s) = whole {
            return Ok(Some(Arc::try_unwrap(s).unwrap_or_else(|s| (*s).clone())));
        }
        let read = self.read_snapshot()?;
        if let Some(s) = &read {
            *lock(&self.snapshot) = Some(Kept {
                seq: s.seq,
                in_doubt: s.in_doubt.clone(),
                fingerprint: Some(fingerprint(s)),
                whole: None,
            });
        }
        Ok(read)
    }

    /// The snapshot on disk, decoded.
    fn read_snapshot(&self) -> Result<Option<Snapshot>, EventLogError> {
        self.run(|t| match t.meta.get("snapshot")? {
            None => Ok(None),
            Some(v) => serde_json::from_slice::<Snapshot>(&v)
                .map(Some)
                .map_err(|e| Fault::Damaged(format!("the snapshot cannot be read: {e}"))),
        })
    }

    /// The last snapshot's sequence number and intents in doubt, without decoding it again.
    fn snapshot_doubts(&self) -> Result<Option<(u64, InDoubt)>, EventLogError> {
        if let Some(k) = lock(&self.snapshot).as_ref() {
            return Ok(Some((k.seq, k.in_doubt.clone())));
        }
        Ok(self.snapshot()?.map(|s| (s.seq, s.in_doubt.clone())))
    }

    /// The last organization expansion saved, if any.
    pub fn expansion(&self) -> Result<Option<SavedExpansion>, EventLogError> {
        self.run(|t| {
            let Some(v) = t.meta.get("expansion")? else {
                return Ok(None);
            };
            let mut e: SavedExpansion = serde_json::from_slice(&v).map_err(|e| {
                Fault::Damaged(format!(
                    "the saved organization listing cannot be read: {e}"
                ))
            })?;
            if let Some(ms) = t.meta.get("expansion_listed_ms")? {
                e.listed_ms = u64::from_be_bytes(ms.as_ref().try_into().unwrap_or_default());
            }
            Ok(Some(e))
        })
    }

    /// Saves `e`: its time always, its accounts only when they differ from those saved (a daemon
    /// lists the organization every pass, and it seldom changes).
    pub fn save_expansion(&self, e: &SavedExpansion) -> Result<(), EventLogError> {
        let bytes = serde_json::to_vec(e).expect("an expansion is plain JSON");
        self.run(|t| {
            if t.meta.get("expansion")?.as_deref() != Some(bytes.as_slice()) {
                t.meta.insert("expansion", bytes.as_slice())?;
            }
            t.meta
                .insert("expansion_listed_ms", &e.listed_ms.to_be_bytes())?;
            Ok(())
        })
    }

    /// Saves `s` unless it says what the last snapshot says (statuses, drift and intents in
    /// doubt unchanged) and few events came since: then the older one still holds, and replay
    /// and the in-doubt check read the same few events after it.
    pub fn save_snapshot(&self, s: Snapshot) -> Result<(), EventLogError> {
        /// Events after a snapshot past which an unchanged one is saved anyway.
        const RESAVE_AFTER: u64 = 1000;
        let print = fingerprint(&s);
        if let Some(old) = lock(&self.snapshot).as_mut() {
            if old.fingerprint() == Some(print)
                && s.seq.saturating_sub(old.seq) < RESAVE_AFTER
                && s.seq >= old.seq
            {
                return Ok(());
            }
        }
        let bytes = serde_json::to_vec(&s).expect("a snapshot is plain JSON");
        self.run(|t| {
            t.meta.insert("snapshot", bytes.as_slice())?;
            Ok(())
        })?;
        drop(bytes);
        self.write_record(lock(&self.durable).upto);
        *lock(&self.snapshot) = Some(Kept {
            seq: s.seq,
            in_doubt: s.in_doubt.clone(),
            fingerprint: Some(print),
            whole: Some(Arc::new(s)),
        });
        Ok(())
    }

    /// Events after `seq`, in order.
    pub fn after(&self, seq: u64) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| events_after(&t.events, seq).collect())
    }

    /// Events after `seq` whose `type` is one of `types`, in order. Events of other types are not
    /// decoded at all, which is what keeps replay fast: the large ones (50-account intents and
    /// results) are never what a projection needs.
    pub fn after_of_types(&self, seq: u64, types: &[&str]) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| of_types(&t.events, seq, types).collect())
    }

    /// The sequence number of the last event, 0 when empty.
    pub fn last_seq(&self) -> u64 {
        self.next.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// Bytes the store takes on disk (0 when that cannot be read).
    pub fn size_on_disk(&self) -> u64 {
        self.run(|t| Ok(t.db.size_on_disk()?)).unwrap_or(0)
    }

    /// Appends one event; with `flush`, returns only once it is on disk. After a rebuild, the
    /// first event appended is followed by `store_rebuilt`, flushed.
    pub fn append<'o>(
        &self,
        run: &str,
        origin: impl Into<Origin<'o>>,
        kind: EventKind,
        flush: bool,
    ) -> Result<Event, EventLogError> {
        let at_ms = now_ms();
        let origin = origin.into();
        let write = |kind: &EventKind| {
            self.run(|t| {
                let seq = self.next.load(Ordering::SeqCst);
                let event = Event {
                    v: SCHEMA_VERSION,
                    seq,
                    at_ms,
                    run: run.to_owned(),
                    digest: origin.digest.to_owned(),
                    revision: origin.revision.map(str::to_owned),
                    kind: kind.clone(),
                };
                let bytes = serde_json::to_vec(&event).expect("events are plain JSON");
                // The log first: a crash before the copy is mended at the next open.
                t.events.insert(seq.to_be_bytes(), bytes.as_slice())?;
                if event.kind.feeds_projection() {
                    t.projection.insert(seq.to_be_bytes(), bytes)?;
                }
                self.next.store(seq + 1, Ordering::SeqCst);
                Ok(event)
            })
        };
        let event = write(&kind)?;
        let pending = lock(&self.rebuilt).take();
        if let Some(r) = &pending {
            write(&EventKind::StoreRebuilt {
                moved_to: r
                    .moved_to
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error: r.reason.clone(),
                lost: r.lost,
            })?;
        }
        if flush || pending.is_some() {
            self.flush()?;
        }
        Ok(event)
    }

    /// Appends one event and returns once it is on disk, as `append` with `flush` does, but
    /// without blocking the task: the flush runs on a blocking thread, so the task's other
    /// work (other graphs' calls) goes on meanwhile, and appends that wait at the same time
    /// share one flush (group commit).
    pub async fn append_durable<'o>(
        &self,
        run: &str,
        origin: impl Into<Origin<'o>>,
        kind: EventKind,
    ) -> Result<Event, EventLogError> {
        let event = self.append(run, origin, kind, false)?;
        self.durable_upto(event.seq).await?;
        Ok(event)
    }

    /// Returns once every event up to `seq` is on disk: one flush leads, the waiters it
    /// covers return with it.
    async fn durable_upto(&self, seq: u64) -> Result<(), EventLogError> {
        loop {
            let woken = self.flushed.notified();
            tokio::pin!(woken);
            // Registered before the state is read: a flush that ends in between still wakes it.
            woken.as_mut().enable();
            // The guard ends with this block: none is held across an await.
            let lead = {
                let mut d = lock(&self.durable);
                if d.upto >= seq {
                    return Ok(());
                }
                (!d.flushing).then(|| {
                    d.flushing = true;
                    d.opened
                })
            };
            match lead {
                Some(opened) => {
                    let leading = Leading(self);
                    let upto = self.last_seq();
                    self.flush_off_thread().await?;
                    lock(&self.durable).flushed(opened, upto);
                    drop(leading);
                }
                None => woken.await,
            }
        }
    }

    /// A flush on a blocking thread. One that fails is tried again through `run`, the one
    /// recovery path, whose error is the caller's.
    async fn flush_off_thread(&self) -> Result<(), EventLogError> {
        let start = std::time::Instant::now();
        let trees = self.trees()?;
        let flushed = tokio::task::spawn_blocking(move || {
            guard(|| {
                trees.db.flush()?;
                Ok(())
            })
        })
        .await;
        match flushed {
            Ok(Ok(())) => {
                self.flushes.fetch_add(1, Ordering::Relaxed);
                let us = start.elapsed().as_micros() as u64;
                self.flush_us.fetch_add(us, Ordering::Relaxed);
                Ok(())
            }
            _ => self.flush(),
        }
    }

    /// Returns once everything appended is on disk.
    pub fn flush(&self) -> Result<(), EventLogError> {
        let start = std::time::Instant::now();
        let (opened, upto) = (lock(&self.durable).opened, self.last_seq());
        self.run(|t| {
            t.db.flush()?;
            Ok(())
        })?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        let us = start.elapsed().as_micros() as u64;
        self.flush_us.fetch_add(us, Ordering::Relaxed);
        lock(&self.durable).flushed(opened, upto);
        Ok(())
    }

    /// The flushes made since the log opened, and their time.
    pub fn flush_stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            took: std::time::Duration::from_micros(self.flush_us.load(Ordering::Relaxed)),
        }
    }

    /// Every event, in order, read as it goes (for `muster events`). It does not recover: a
    /// damaged store ends it with an error.
    pub fn iter(&self) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
        let trees = self.trees();
        let mut inner = trees.as_ref().ok().map(|t| t.events.iter());
        let mut failed = trees.err();
        std::iter::from_fn(move || {
            if let Some(e) = failed.take() {
                inner = None;
                return Some(Err(e));
            }
            let it = inner.as_mut()?;
            match guard(|| it.next().map(decode_entry).transpose()) {
                Ok(Some(e)) => Some(Ok(e)),
                Ok(None) => {
                    inner = None;
                    None
                }
                Err(f) => {
                    inner = None;
                    Some(Err(self.error(f)))
                }
            }
        })
    }

    /// Intents with no outcome yet: (batch, graph, accounts), in order.
    pub fn in_doubt(&self) -> Result<InDoubt, EventLogError> {
        // Everything before the snapshot is settled but what it carries; after it, only intents
        // and outcomes are decoded.
        let (from, mut open) = self.snapshot_doubts()?.unwrap_or_default();
        for e in self.after_of_types(from, &INTENT_TYPES)? {
            match e.kind {
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
        self.run(|t| Ok(t.events.len())).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // Bounded: a full disk or a damaged store must not keep muster from exiting.
        self.close_store();
    }
}

/// Refuses a state directory whose identity record names a newer store format.
fn newer_format(dir: &Path) -> Result<(), EventLogError> {
    match identity::read(dir) {
        identity::Read::Found(r) if r.format > identity::STORE_FORMAT => {
            Err(EventLogError::Newer {
                dir: dir.to_owned(),
                format: r.format,
                reads: identity::STORE_FORMAT,
            })
        }
        _ => Ok(()),
    }
}

/// What was at the store's path before it was opened.
#[derive(Debug, Clone, Copy)]
enum Presence {
    Missing,
    Emptied,
    Present,
}

impl Presence {
    fn of(path: &Path) -> Presence {
        match std::fs::read_dir(path) {
            Err(_) => Presence::Missing,
            Ok(mut entries) => match entries.next() {
                None => Presence::Emptied,
                Some(_) => Presence::Present,
            },
        }
    }
}

/// Why a store its record says held events is new and empty.
fn gone_reason(presence: Presence, r: &identity::Record) -> String {
    let what = match presence {
        Presence::Missing => "the store directory was removed",
        Presence::Emptied => "the store directory was emptied",
        Presence::Present => "the store holds none of the events it held",
    };
    match r.last_seq {
        0 => format!(
            "{what}, but its record ({}) says it held a store: the events it held were lost",
            identity::FILE
        ),
        n => format!(
            "{what}, but its record ({}) says it held events up to {n}: at least {n} events were lost",
            identity::FILE
        ),
    }
}

/// A crash between writing an event and its projection copy leaves the projection tree
/// behind; copy what it lacks from the log.
fn catch_up_projection(t: &Trees) -> Result<(), Fault> {
    let have = match t.projection.last()? {
        Some((k, _)) => seq_of(&k),
        None => 0,
    };
    for e in of_types(&t.events, have, &PROJECTION_TYPES) {
        let e = e?;
        let bytes = serde_json::to_vec(&e).expect("events are plain JSON");
        t.projection.insert(e.seq.to_be_bytes(), bytes)?;
    }
    Ok(())
}

/// The events of `tree` after `seq`, decoded, in order.
fn events_after(tree: &sled::Tree, seq: u64) -> impl Iterator<Item = Result<Event, Fault>> + '_ {
    tree.range(seq.saturating_add(1).to_be_bytes()..)
        .map(decode_entry)
}

/// As `events_after`, only the events whose `type` is in `types`; others are not decoded.
fn of_types<'a>(
    tree: &'a sled::Tree,
    seq: u64,
    types: &'a [&'a str],
) -> impl Iterator<Item = Result<Event, Fault>> + 'a {
    tree.range(seq.saturating_add(1).to_be_bytes()..)
        .filter_map(move |r| {
            let (k, v) = match r {
                Ok(kv) => kv,
                Err(e) => return Some(Err(Fault::from(e))),
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

fn decode_entry(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Event, Fault> {
    let (k, v) = r?;
    decode(&k, &v)
}

fn decode(key: &[u8], value: &[u8]) -> Result<Event, Fault> {
    serde_json::from_slice(value)
        .map_err(|e| Fault::Damaged(format!("event {} cannot be read: {e}", seq_of(key))))
}

/// A temporary copy of a store, removed on drop.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
/// in the JSON: the fields before it (`v`, `seq`, `at_ms`, `run`, `digest`, `revision`) are
/// muster's own and never contain that text.
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

    /// An event as a store keeps it, of run `r` and digest `d`.
    fn event(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event {
            v: 1,
            seq,
            at_ms,
            run: "r".into(),
            digest: "d".into(),
            revision: None,
            kind,
        }
    }

    /// The store closed and its directory removed.
    fn gone(log: EventLog, d: &Path) {
        drop(log);
        std::fs::remove_dir_all(d).unwrap();
    }

    /// A pass that finished with nothing to report.
    fn finished() -> EventKind {
        EventKind::PassFinished {
            outcome: "ok".into(),
            invited: 0,
            removed: 0,
            failed: 0,
            drift: 0,
        }
    }

    /// An invitation of one account to graph `g`.
    fn intent(batch: &str, account: &str) -> EventKind {
        EventKind::InviteIntent {
            batch: batch.into(),
            graph: "g".into(),
            accounts: vec![account.into()],
        }
    }

    /// Opens the log in `d`, waiting for the lock as `apply` and `run` do (a store closing on
    /// its own thread may hold it a moment longer).
    fn reopen(d: &Path) -> EventLog {
        EventLog::open_waiting(d, std::time::Duration::from_secs(5)).unwrap()
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muster-eventlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[tokio::test(flavor = "current_thread")]
    async fn appends_waiting_together_share_one_flush_and_are_all_on_disk() {
        let d = dir("group-commit");
        let log = EventLog::open(&d).unwrap();
        let before = log.flush_stats().flushes;
        // In one task, as apply's targets are: all 20 are appended in the first poll; the
        // first leads a flush of itself, and one more flush takes the other 19.
        let appends = (1..=20).map(|i| log.append_durable("r", "d", intent(&format!("b{i}"), "1")));
        let events = futures_util::future::join_all(appends).await;
        let seqs: Vec<u64> = events.into_iter().map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        assert_eq!(log.flush_stats().flushes - before, 2);
        // A reader's copy is made of the files: all 20 are in them.
        let copy = EventLog::open_for_reading(&d).unwrap();
        assert_eq!(copy.iter().count(), 20);
        drop(copy);
        // Nothing new: no flush.
        let again = log.flush_stats().flushes;
        log.durable_upto(20).await.unwrap();
        assert_eq!(log.flush_stats().flushes, again);
        gone(log, &d);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_leader_leaves_the_next_append_to_flush() {
        let d = dir("group-commit-drop");
        let log = EventLog::open(&d).unwrap();
        {
            // Polled once: it appends, leads a flush and waits for it; then it is dropped.
            let first = log.append_durable("r", "d", intent("b1", "1"));
            tokio::pin!(first);
            let polled = futures_util::FutureExt::now_or_never(first.as_mut());
            assert!(polled.is_none());
        }
        let second = log.append_durable("r", "d", intent("b2", "2"));
        let second = tokio::time::timeout(std::time::Duration::from_secs(10), second).await;
        assert_eq!(second.expect("the next append flushes").unwrap().seq, 2);
        let copy = EventLog::open_for_reading(&d).unwrap();
        assert_eq!(copy.iter().count(), 2);
        drop(copy);
        gone(log, &d);
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
        let stored = log.trees().unwrap().meta.get("expansion").unwrap().unwrap();
        e.listed_ms = 2;
        log.save_expansion(&e).unwrap();
        // The accounts as saved, and the new time.
        assert_eq!(
            log.trees().unwrap().meta.get("expansion").unwrap().unwrap(),
            stored
        );
        assert_eq!(log.expansion().unwrap(), Some(e.clone()));
        e.organization.push("300000000002".into());
        log.save_expansion(&e).unwrap();
        assert_ne!(
            log.trees().unwrap().meta.get("expansion").unwrap().unwrap(),
            stored
        );
        assert_eq!(log.expansion().unwrap(), Some(e));
    }

    #[test]
    fn events_replay_in_order_across_reopen_and_intents_without_outcomes_are_in_doubt() {
        let d = dir("replay");
        {
            let log = reopen(&d);
            log.append("r1", "abc", intent("b1", "1"), true).unwrap();
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
            log.append("r1", "abc", intent("b2", "2"), true).unwrap();
        }
        let log = reopen(&d);
        let seqs: Vec<u64> = log.iter().map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(
            log.in_doubt().unwrap(),
            [("b2".to_owned(), "g".to_owned(), vec!["2".to_owned()])]
        );
        let e = log.append("r2", "abc", finished(), false).unwrap();
        assert_eq!(e.seq, 4);
        gone(log, &d);
    }

    #[test]
    fn a_corrupt_store_is_moved_aside_and_a_new_one_started() {
        let d = dir("corrupt");
        {
            let log = reopen(&d);
            log.append("r", "d", finished(), true).unwrap();
        }
        std::fs::write(d.join("events.sled").join("conf"), b"not a sled config").unwrap();
        let log = reopen(&d);
        let aside = lock(&log.rebuilt)
            .as_ref()
            .and_then(|r| r.moved_to.clone())
            .unwrap();
        assert!(
            aside.join("conf").exists(),
            "the corrupt store is kept for inspection"
        );
        assert!(log.is_empty());
        gone(log, &d);
    }

    #[test]
    fn retention_drops_only_old_events_and_snapshots_round_trip() {
        let d = dir("retention");
        let log = reopen(&d);
        let old = event(
            1,
            1_000,
            EventKind::PruneRefused {
                graph: "g".into(),
                reason: "x".into(),
            },
        );
        log.trees()
            .unwrap()
            .events
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
            drift: vec![("g".into(), "a".into(), "missing".into())],
            drift_since_ms: vec![1_000],
            in_doubt: vec![("b0".into(), "g".into(), vec!["1".into()])],
        };
        log.save_snapshot(s.clone()).unwrap();
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&s));
        assert_eq!(
            log.after(1)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(log.after(2).unwrap().len(), 0);
        // In-doubt intents come from the snapshot plus what follows it.
        log.append("r", "d", intent("b1", "2"), false).unwrap();
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
        gone(log, &d);
    }

    #[test]
    fn the_type_of_a_stored_event_is_read_without_decoding_it() {
        let e = event(
            1,
            1,
            EventKind::DriftResolved {
                graph: "g".into(),
                account: "a".into(),
                kind: "missing".into(),
            },
        );
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
            let e = event(3, 1, status("2"));
            log.trees()
                .unwrap()
                .events
                .insert(3u64.to_be_bytes(), serde_json::to_vec(&e).unwrap())
                .unwrap();
            log.flush().unwrap();
            assert_eq!(log.projection_after(0).unwrap().len(), 1);
        }
        let log = reopen(&d);
        let seqs: Vec<u64> = log
            .projection_after(0)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 3]);
        gone(log, &d);
    }

    #[test]
    fn the_schema_is_tagged_json() {
        let e = event(
            7,
            1000,
            EventKind::PruneRefused {
                graph: "g".into(),
                reason: "why".into(),
            },
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"v":1,"seq":7,"at_ms":1000,"run":"r","digest":"d","type":"prune_refused","graph":"g","reason":"why"}"#
        );
    }
}
