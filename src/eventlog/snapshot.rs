//! The snapshot (what replay starts from), the saved organization listing and retention.

use super::*;

impl EventLog {
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
    pub(super) fn read_snapshot(&self) -> Result<Option<Snapshot>, EventLogError> {
        self.run(|t| match t.meta.get("snapshot")? {
            None => Ok(None),
            Some(v) => serde_json::from_slice::<Snapshot>(&v)
                .map(Some)
                .map_err(|e| Fault::Damaged(format!("the snapshot cannot be read: {e}"))),
        })
    }

    /// The last snapshot's sequence number and intents in doubt, without decoding it again.
    pub(super) fn snapshot_doubts(&self) -> Result<Option<(u64, InDoubt)>, EventLogError> {
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
        let bytes = exact_json(&s);
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
}

/// `value` as JSON in one allocation of its exact size: a snapshot at the largest organization
/// is megabytes, and a growing buffer held up to twice its size, beside the store's copy.
fn exact_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a snapshot is plain JSON");
    let mut out = Vec::with_capacity(count.0);
    serde_json::to_writer(&mut out, value).expect("a snapshot is plain JSON");
    debug_assert_eq!(
        out.len(),
        out.capacity(),
        "the second writing is the same length"
    );
    out
}

/// The last snapshot, as far as the log keeps it: what `in_doubt` and `save_snapshot` need,
/// and the whole of it until replay takes it.
pub(super) struct Kept {
    pub(super) seq: u64,
    pub(super) in_doubt: InDoubt,
    /// Of its statuses, drift and intents in doubt: a new snapshot that says the same need not
    /// be saved. Worked out when replay takes the snapshot (an open that only reads never
    /// needs it).
    pub(super) fingerprint: Option<u64>,
    pub(super) whole: Option<Arc<Snapshot>>,
}

impl Kept {
    pub(super) fn of(s: Arc<Snapshot>) -> Kept {
        Kept {
            seq: s.seq,
            in_doubt: s.in_doubt.clone(),
            fingerprint: None,
            whole: Some(s),
        }
    }

    /// The fingerprint, worked out from the whole snapshot if it is not yet.
    pub(super) fn fingerprint(&mut self) -> Option<u64> {
        if self.fingerprint.is_none() {
            self.fingerprint = self.whole.as_deref().map(fingerprint);
        }
        self.fingerprint
    }
}

/// A hash of what a snapshot says (statuses, drift, intents in doubt). The unchanged check
/// is only a saving: a snapshot not saved when it should be leaves replay the older snapshot
/// and the events after it, the same projection. So a fast 64-bit hash will do.
pub(super) fn fingerprint(s: &Snapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&s.status, &s.drift, &s.in_doubt).hash(&mut h);
    h.finish()
}
