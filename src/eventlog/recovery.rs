//! Opening the store, verifying it and recovering it: the one recovery path (`run`), damage
//! moved aside, a store found emptied or removed, the identity record tied to the store, and a
//! reader's temporary copy.

use super::*;

impl EventLog {
    /// As `open`, waiting up to `patience` for the lock: a store just closed by another muster
    /// may hold it a moment longer.
    pub fn open_waiting(
        dir: &Path,
        patience: std::time::Duration,
    ) -> Result<EventLog, EventLogError> {
        store::while_locked(
            patience,
            |e| matches!(e, EventLogError::Locked { .. }),
            || EventLog::open(dir),
        )
    }

    /// Opens (or creates) the log in `dir` for writing. A second muster on the same directory
    /// gets `Locked` at once. The store is verified before this returns (`open_verified`: every
    /// entry read, or only the entries after the snapshot when its seal says no file changed
    /// since a clean close), so that damage is found before the first AWS write, and a damaged
    /// store is moved aside and a new one started.
    pub fn open(dir: &Path) -> Result<EventLog, EventLogError> {
        let path = dir.join("events.sled");
        std::fs::create_dir_all(dir).map_err(|e| EventLogError::Io {
            store: path.clone(),
            reason: format!("cannot create the state directory: {e}"),
        })?;
        let recorded = match identity::read(dir) {
            identity::Read::Found(r) => Some(r),
            _ => None,
        };
        refuse_newer(dir, recorded.as_ref())?;
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
        let recorded = match identity::read(dir) {
            identity::Read::Found(r) => Some(r),
            _ => None,
        };
        refuse_newer(dir, recorded.as_ref())?;
        let presence = Presence::of(&store);
        let damaged = |reason| EventLogError::Damaged {
            store: store.clone(),
            reason,
        };
        match (&recorded, presence) {
            (Some(r), Presence::Missing) => return Err(damaged(gone_reason(presence, r))),
            (None, Presence::Missing) => {
                return Err(EventLogError::Missing {
                    dir: dir.to_owned(),
                })
            }
            _ => store::check_shape(&store).map_err(damaged)?,
        }
        let copy = std::env::temp_dir().join(format!(
            "muster-events-copy-{}-{}",
            std::process::id(),
            // Nanoseconds: two readers in one process never share a copy.
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let removed_on_drop = TempCopy(copy.clone());
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
            Some(removed_on_drop),
        );
        let trees = log.trees()?;
        if let Some(r) = recorded {
            let held = guard(|| held_id(&trees)).map_err(|f| log.error(f))?;
            if log.is_fresh() && held.is_none() {
                return Err(EventLogError::Damaged {
                    store: log.shown.clone(),
                    reason: gone_reason(presence, &r),
                });
            }
        }
        drop(trees);
        Ok(log)
    }

    pub(super) fn new(
        dir: &Path,
        path: PathBuf,
        shown: PathBuf,
        role: Role,
        copy: Option<TempCopy>,
    ) -> Self {
        EventLog {
            dir: dir.to_owned(),
            path,
            shown,
            role,
            trees: RwLock::new(None),
            next: AtomicU64::new(1),
            snapshot: Mutex::new(None),
            doubts: Mutex::new(None),
            format: std::sync::atomic::AtomicU32::new(identity::FIRST_FORMAT),
            rebuilt: Mutex::new(None),
            store_id: Mutex::new(None),
            _copy: copy,
            flushes: AtomicU64::new(0),
            flush_us: AtomicU64::new(0),
            durable: Mutex::new(Durable::default()),
            flushed: tokio::sync::Notify::new(),
            read_in_full_ms: AtomicU64::new(0),
        }
    }

    /// The open store, opening (and verifying) it when it is closed.
    pub(super) fn trees(&self) -> Result<Arc<Trees>, EventLogError> {
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
    /// saved expansion, the events after the snapshot (decoded) and every other entry (read),
    /// the last only when the store is not sealed as it is (`seal.rs`); a writer's projection
    /// tree catches up.
    pub(super) fn open_verified(&self) -> Result<Trees, Fault> {
        store::check_shape(&self.path).map_err(Fault::Damaged)?;
        let checked = self.take_seal();
        // Opened before, by this log: its lock may not be released yet.
        let trees = if lock(&self.durable).opened > 0 {
            Trees::reopen(&self.path)?
        } else {
            Trees::open(&self.path)?
        };
        // Kept: replay reads it next, and decoding it is most of what replay costs. Decoded
        // after the scan when its head tells how far it goes: the scan's pages fill sled's
        // cache, and the two together were an open's peak.
        let mut snapshot = None;
        let opened = guard(|| {
            let stored = Stored::read(&trees)?;
            self.format.store(stored.format(), Ordering::SeqCst);
            let snapshot_seq = match stored.upto() {
                Some(seq) => seq,
                None => {
                    let s = stored.decode(&trees)?;
                    let seq = s.as_ref().map_or(0, |s| s.seq);
                    snapshot = s.map(|s| Kept::of(Arc::new(s)));
                    seq
                }
            };
            if let Some(v) = trees.meta.get("expansion")? {
                serde_json::from_slice::<SavedExpansion>(&v).map_err(|e| {
                    Fault::Damaged(format!(
                        "the saved organization listing cannot be read: {e}"
                    ))
                })?;
            }
            let last = match checked {
                seal::Taken::Sealed { .. } => scan_after(&trees, snapshot_seq)?,
                seal::Taken::ReadInFull(_) => scan(&trees, snapshot_seq)?,
            };
            if self.role == Role::Writer {
                catch_up_projection(&trees)?;
            }
            Ok((last + 1, stored))
        });
        let (trees, stored) = match opened {
            Ok((next, stored)) => {
                self.next.store(next, Ordering::SeqCst);
                *lock(&self.doubts) = None;
                let trees = match &checked {
                    // Only replay's entries were read: the cache holds no more than that.
                    seal::Taken::Sealed { read_in_full_ms } => {
                        self.read_in_full_ms
                            .store(*read_in_full_ms, Ordering::SeqCst);
                        trees
                    }
                    seal::Taken::ReadInFull(_) => {
                        self.read_in_full_ms.store(now_ms(), Ordering::SeqCst);
                        self.fresh_cache(trees)?
                    }
                };
                (trees, stored)
            }
            Err(f) => {
                store::close(trees);
                return Err(f);
            }
        };
        if snapshot.is_none() {
            match guard(|| stored.decode(&trees)) {
                Ok(s) => snapshot = s.map(|s| Kept::of(Arc::new(s))),
                Err(f) => {
                    store::close(trees);
                    return Err(f);
                }
            }
        }
        *lock(&self.snapshot) = snapshot;
        self.log_opened(&checked);
        Ok(trees)
    }

    /// Says how the store just opened was read.
    fn log_opened(&self, checked: &seal::Taken) {
        let events = self.last_seq();
        match checked {
            seal::Taken::Sealed { .. } => {
                tracing::info!(store = %self.shown.display(), events, "opened the event log: sealed at its last close, only the entries after its snapshot were read");
            }
            seal::Taken::ReadInFull(why) => {
                tracing::info!(store = %self.shown.display(), events, read_in_full = %why, "opened the event log: read every entry");
            }
        }
    }

    /// A writer takes the seal its last clean close left (`seal.rs`); a reader reads in full
    /// and leaves every file as it was.
    fn take_seal(&self) -> seal::Taken {
        if self.role == Role::Reader {
            return seal::Taken::ReadInFull("a reader reads every entry".into());
        }
        let id = match identity::read(&self.dir) {
            identity::Read::Found(r) => Some(r.store_id),
            identity::Read::Absent | identity::Read::Unreadable(_) => None,
        };
        seal::take(&self.dir, &self.path, id.as_deref(), now_ms())
    }

    /// Closes the store; a writer whose last flush succeeded and whose store closed in time
    /// seals it, so the next writer may read only the entries after the snapshot (`seal.rs`).
    /// A reader only closes its copy: it never seals, so it has nothing to flush.
    pub(super) fn close_and_seal(&self) {
        if self.role == Role::Reader {
            return self.close_store();
        }
        let flushed = self.close_with(|t| guard(|| Ok(t.db.flush()?)).is_ok());
        let (Some(true), Some(id)) = (flushed, lock(&self.store_id).clone()) else {
            return;
        };
        let read_in_full_ms = self.read_in_full_ms.load(Ordering::SeqCst);
        if let Err(e) = seal::write(&self.dir, &self.path, &id, read_in_full_ms) {
            tracing::warn!(seal = %seal::path(&self.dir).display(), error = %e, "cannot seal the event log; the next start reads every entry");
        }
    }

    /// A writer's store, opened again after the verification: reading every entry pulled
    /// every page through sled's cache, which holds many times its capacity in recently read
    /// pages (their accesses are counted in batches) until later reads push them out. A long
    /// history made that tens of megabytes held through the whole pass; opened again, the
    /// cache holds only what the pass reads.
    fn fresh_cache(&self, trees: Trees) -> Result<Trees, Fault> {
        if self.role != Role::Writer {
            return Ok(trees);
        }
        if !store::close(trees) {
            return Err(Fault::Io(format!(
                "it did not close within {:?} after it was verified",
                store::CLOSE_PATIENCE
            )));
        }
        Trees::reopen(&self.path)
    }

    /// Moves the store aside as `events.sled.corrupt-<ms>` (kept for inspection); the next
    /// open starts a new one. Only a writer does this.
    pub(super) fn move_aside(&self, reason: &str) -> Result<(), EventLogError> {
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

    /// Whether the store just opened holds nothing: no event and no snapshot (what opening
    /// it read).
    pub(super) fn is_fresh(&self) -> bool {
        self.last_seq() == 0 && lock(&self.snapshot).is_none()
    }

    /// Ties the store just opened to its identity record (a writer's): a store that has no id
    /// yet gets one, and the record is written; a new, empty store where the record says one
    /// with events was is a loss like any damage, recorded as `store_rebuilt`.
    pub(super) fn adopt(&self, trees: &Trees, presence: Presence) -> Result<(), EventLogError> {
        let held = guard(|| held_id(trees)).map_err(|f| self.error(f))?;
        let fresh = self.is_fresh();
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
    pub(super) fn new_id(&self, trees: &Trees) -> Result<String, EventLogError> {
        let id = identity::new_store_id();
        guard(|| {
            trees.meta.insert(identity::STORE_ID_KEY, id.as_bytes())?;
            trees.db.flush()?;
            Ok(())
        })
        .map_err(|f| self.error(f))?;
        Ok(id)
    }

    /// The store holds, or is about to hold, what only `format` and later read: the identity
    /// record says so from its next writing.
    pub(super) fn raise_format(&self, format: u32) {
        if self.format.fetch_max(format, Ordering::SeqCst) < format && self.role == Role::Writer {
            self.write_record(lock(&self.durable).upto);
        }
    }

    /// Writes the identity record with `last_seq`. A record that cannot be written is only a
    /// warning: the store is what matters, and the next write tries again.
    pub(super) fn write_record(&self, last_seq: u64) {
        let Some(store_id) = lock(&self.store_id).clone() else {
            return;
        };
        let r = identity::Record {
            format: self.format.load(Ordering::SeqCst),
            store_id,
            last_seq,
        };
        if let Err(e) = identity::write(&self.dir, &r) {
            tracing::warn!(record = %identity::path(&self.dir).display(), error = %e, "cannot write the event log's identity record");
        }
    }

    /// The error a fault is to the caller.
    pub(super) fn error(&self, fault: Fault) -> EventLogError {
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
    pub(super) fn run<T>(
        &self,
        op: impl Fn(&Trees) -> Result<T, Fault>,
    ) -> Result<T, EventLogError> {
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
    pub(super) fn close_store(&self) {
        self.close_with(|_| ());
    }

    /// Closes the store as `close_store` does, `last` run on it first. Returns what `last`
    /// said when the store then closed in time, `None` when there was none to close or it did
    /// not close in time.
    fn close_with<T>(&self, last: impl FnOnce(&Trees) -> T) -> Option<T> {
        let taken = self.trees.write().unwrap_or_else(|e| e.into_inner()).take();
        let t = taken.and_then(|t| Arc::try_unwrap(t).ok())?;
        let said = last(&t);
        if !store::close(t) {
            tracing::warn!(store = %self.shown.display(), "the event log did not close in time; it is left to close on its own");
            return None;
        }
        Some(said)
    }
}

/// A rebuild the next append records as `store_rebuilt`.
#[derive(Debug)]
pub(super) struct Rebuilt {
    /// Where the old store went; `None` when there was nothing to move (emptied or removed).
    pub(super) moved_to: Option<PathBuf>,
    pub(super) reason: String,
    /// Events known lost (at least), when the identity record tells.
    pub(super) lost: Option<u64>,
}

/// Reads every entry of the log (sled checks each one it reads): the events after
/// `snapshot_seq`, which a start replays, decoded, in both trees; the older ones only have
/// their type read, which costs a tenth. Returns the last event's seq (0 for none).
fn scan(trees: &Trees, snapshot_seq: u64) -> Result<u64, Fault> {
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
    for e in events_after(&trees.projection, snapshot_seq) {
        e?;
    }
    Ok(last)
}

/// What a sealed store's open reads (`seal.rs`): the entries replay reads, in both trees, as
/// `scan` does. Returns the last event's seq (0 for none).
fn scan_after(trees: &Trees, snapshot_seq: u64) -> Result<u64, Fault> {
    for tree in [&trees.events, &trees.projection] {
        for e in events_after(tree, snapshot_seq) {
            e?;
        }
    }
    Ok(trees.events.last()?.map_or(0, |(k, _)| seq_of(&k)))
}

/// Refuses a state directory whose identity record names a newer store format.
pub(super) fn refuse_newer(
    dir: &Path,
    recorded: Option<&identity::Record>,
) -> Result<(), EventLogError> {
    match recorded {
        Some(r) if r.format > identity::STORE_FORMAT => Err(EventLogError::Newer {
            dir: dir.to_owned(),
            format: r.format,
            reads: identity::STORE_FORMAT,
        }),
        _ => Ok(()),
    }
}

/// The store id `trees` hold, if they have one yet.
pub(super) fn held_id(trees: &Trees) -> Result<Option<String>, Fault> {
    let id = trees.meta.get(identity::STORE_ID_KEY)?;
    Ok(id.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// What was at the store's path before it was opened.
#[derive(Debug, Clone, Copy)]
pub(super) enum Presence {
    Missing,
    Emptied,
    Present,
}

impl Presence {
    /// Anything at `path` that is not an empty directory (a file too) is `Present`.
    pub(super) fn of(path: &Path) -> Presence {
        if !path.exists() {
            return Presence::Missing;
        }
        match std::fs::read_dir(path).map(|mut entries| entries.next().is_none()) {
            Ok(true) => Presence::Emptied,
            _ => Presence::Present,
        }
    }
}

/// Why a store its record says held events is new and empty.
pub(super) fn gone_reason(presence: Presence, r: &identity::Record) -> String {
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

/// A temporary copy of a store, removed on drop.
pub(super) struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
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
