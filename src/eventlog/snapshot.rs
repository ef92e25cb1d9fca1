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
        .inspect(|&removed| {
            // An intent that went may have been in doubt: work them out again.
            if removed > 0 {
                *lock(&self.doubts) = None;
            }
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
        self.run(read_stored)
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
        // Named in the record before the store holds it: a muster that reads only format 1
        // must refuse the store, not replay it without its snapshot.
        self.raise_format(identity::PARTED_SNAPSHOT_FORMAT);
        self.run(|t| write_parted(t, &s))?;
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

/// The meta key of the snapshot as format 1 stored it: one value, its JSON.
const WHOLE_KEY: &str = "snapshot";

/// The meta key naming the snapshot's parts in the `snapshot` tree (format 2).
const HEAD_KEY: &str = "snapshot_head";

/// The size of a part. At the largest organization a snapshot is megabytes of JSON: held as
/// one value, sled kept it in the `meta` tree's one leaf, and every save (and every read of
/// `meta`) held that leaf, the new JSON and sled's copy of it at once. Compressed and in
/// parts, a save holds one part at a time, and what sled keeps of them is a tenth the size.
const PART_BYTES: usize = 64 * 1024;

/// Where the snapshot's parts are: keys `(generation, index)` in the `snapshot` tree, `parts`
/// of them, `bytes` in all, holding the snapshot's JSON (`json_bytes` of it) compressed
/// (raw DEFLATE), and the `seq` it includes (what an open needs before it decodes it). A save
/// writes a new generation's parts, then the head, then removes the older generations, so a
/// crash leaves the old head and its parts whole.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Head {
    generation: u64,
    parts: u32,
    bytes: u64,
    json_bytes: u64,
    seq: u64,
}

/// The snapshot a store holds, as `meta` tells it (its head read once; the parts are read
/// when it is decoded).
#[derive(Debug)]
pub(super) enum Stored {
    None,
    /// Format 1: one JSON value in `meta`, whose seq only decoding tells.
    Whole,
    /// Format 2: in parts, as the head says; a head that cannot be read is damage, reported
    /// when the snapshot is decoded.
    Parted(Result<Head, String>),
}

impl Stored {
    pub(super) fn read(t: &Trees) -> Result<Stored, Fault> {
        Ok(match t.meta.get(HEAD_KEY)? {
            Some(head) => Stored::Parted(serde_json::from_slice(&head).map_err(|e| e.to_string())),
            None if t.meta.contains_key(WHOLE_KEY)? => Stored::Whole,
            None => Stored::None,
        })
    }

    /// The store format it needs.
    pub(super) fn format(&self) -> u32 {
        match self {
            Stored::Parted(_) => identity::PARTED_SNAPSHOT_FORMAT,
            Stored::None | Stored::Whole => identity::FIRST_FORMAT,
        }
    }

    /// The last event it includes, when that is known without decoding it (0 for none).
    pub(super) fn upto(&self) -> Option<u64> {
        match self {
            Stored::None => Some(0),
            Stored::Parted(Ok(head)) => Some(head.seq),
            Stored::Whole | Stored::Parted(Err(_)) => None,
        }
    }

    /// Its JSON.
    fn json(&self, t: &Trees) -> Result<Option<Vec<u8>>, Fault> {
        match self {
            Stored::None => Ok(None),
            Stored::Whole => Ok(t.meta.get(WHOLE_KEY)?.map(|v| v.to_vec())),
            Stored::Parted(Err(e)) => Err(damaged(e.clone())),
            Stored::Parted(Ok(head)) => head.json(t).map(Some),
        }
    }

    /// It decoded; a head that disagrees with its parts is damage.
    pub(super) fn decode(&self, t: &Trees) -> Result<Option<Snapshot>, Fault> {
        let Some(json) = self.json(t)? else {
            return Ok(None);
        };
        let s = serde_json::from_slice::<Snapshot>(&json).map_err(|e| damaged(e.to_string()))?;
        match self {
            Stored::Parted(Ok(head)) if head.seq != s.seq => Err(damaged(format!(
                "its head says it includes events up to {}, its parts {}",
                head.seq, s.seq
            ))),
            _ => Ok(Some(s)),
        }
    }
}

/// The stored snapshot is damaged: `why`.
fn damaged(why: String) -> Fault {
    Fault::Damaged(format!("the snapshot cannot be read: {why}"))
}

fn part_key(generation: u64, index: u32) -> [u8; 12] {
    let mut k = [0; 12];
    k[..8].copy_from_slice(&generation.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A capacity for `bytes` the store says it holds: grown as read past this, never allocated
/// from a damaged length alone.
fn capacity(bytes: u64) -> usize {
    usize::try_from(bytes.min(256 << 20)).unwrap_or(0)
}

impl Head {
    /// The JSON its parts hold, every part and length checked.
    fn json(&self, t: &Trees) -> Result<Vec<u8>, Fault> {
        let mut packed = Vec::with_capacity(capacity(self.bytes));
        let mut parts = 0;
        for r in t.snapshot.scan_prefix(self.generation.to_be_bytes()) {
            let (k, v) = r?;
            let index = k
                .get(8..)
                .and_then(|i| <[u8; 4]>::try_from(i).ok())
                .map(u32::from_be_bytes);
            if index != Some(parts) {
                return Err(damaged(format!(
                    "part {parts} of {} is missing",
                    self.parts
                )));
            }
            packed.extend_from_slice(&v);
            parts += 1;
        }
        if parts != self.parts || packed.len() as u64 != self.bytes {
            return Err(damaged(format!(
                "{parts} of {} parts, {} of {} bytes",
                self.parts,
                packed.len(),
                self.bytes
            )));
        }
        let mut json = Vec::with_capacity(capacity(self.json_bytes));
        std::io::Read::read_to_end(
            &mut flate2::read::DeflateDecoder::new(packed.as_slice()),
            &mut json,
        )
        .map_err(|e| damaged(format!("its parts do not decompress: {e}")))?;
        if json.len() as u64 != self.json_bytes {
            return Err(damaged(format!(
                "its parts decompress to {} bytes, not {}",
                json.len(),
                self.json_bytes
            )));
        }
        Ok(json)
    }
}

/// The stored snapshot, decoded.
pub(super) fn read_stored(t: &Trees) -> Result<Option<Snapshot>, Fault> {
    Stored::read(t)?.decode(t)
}

/// Writes `s` in parts as the stored snapshot, in place of the one before.
fn write_parted(t: &Trees, s: &Snapshot) -> Result<(), Fault> {
    use std::io::Write;
    let generation = match t.snapshot.last()? {
        Some((k, _)) => {
            let g = k.get(..8).and_then(|g| <[u8; 8]>::try_from(g).ok());
            g.map_or(0, u64::from_be_bytes).saturating_add(1)
        }
        None => 1,
    };
    let mut out = Parts {
        tree: &t.snapshot,
        generation,
        buf: Vec::with_capacity(PART_BYTES),
        parts: 0,
        bytes: 0,
        fault: None,
    };
    let mut encoder = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::fast());
    // Buffered: serde_json writes a few bytes at a time, and each write into the encoder
    // costs a call into the compressor. Not flushed on the way: a flush of the encoder ends a
    // block and a part early.
    let mut json = std::io::BufWriter::with_capacity(PART_BYTES, &mut encoder);
    let written = serde_json::to_writer(&mut json, s)
        .map_err(std::io::Error::from)
        .and_then(|()| json.into_inner().map(drop).map_err(|e| e.into_error()))
        .and_then(|()| encoder.try_finish());
    let json_bytes = encoder.total_in();
    drop(encoder);
    let written = written.and_then(|()| out.flush());
    if let Some(f) = out.fault.take() {
        return Err(f);
    }
    written.expect("a snapshot is plain JSON, compressed in memory");
    let head = Head {
        generation,
        parts: out.parts,
        bytes: out.bytes,
        json_bytes,
        seq: s.seq,
    };
    t.meta
        .insert(HEAD_KEY, serde_json::to_vec(&head).expect("plain JSON"))?;
    t.meta.remove(WHOLE_KEY)?;
    // Older generations, and the parts of a save a crash cut short.
    for k in t.snapshot.range(..part_key(generation, 0)).keys() {
        t.snapshot.remove(k?)?;
    }
    Ok(())
}

/// A writer that stores what it is given as parts of `PART_BYTES`.
struct Parts<'a> {
    tree: &'a sled::Tree,
    generation: u64,
    buf: Vec<u8>,
    parts: u32,
    bytes: u64,
    /// What stopped it: the store's fault, kept whole for the caller.
    fault: Option<Fault>,
}

impl Parts<'_> {
    fn store(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let key = part_key(self.generation, self.parts);
        if let Err(e) = self.tree.insert(key, self.buf.as_slice()) {
            self.fault = Some(Fault::from(e));
            return Err(std::io::Error::other("the store failed"));
        }
        self.parts += 1;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl std::io::Write for Parts<'_> {
    fn write(&mut self, mut b: &[u8]) -> std::io::Result<usize> {
        let n = b.len();
        while !b.is_empty() {
            let room = PART_BYTES - self.buf.len();
            let (now, rest) = b.split_at(room.min(b.len()));
            self.buf.extend_from_slice(now);
            b = rest;
            if self.buf.len() == PART_BYTES {
                self.store()?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.store()
    }
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
    // The drift's keys: a snapshot whose drift is the same but for when it was first seen
    // says the same.
    (&s.status, &s.in_doubt).hash(&mut h);
    s.drift.hash_keys(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muster-snapshot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A snapshot of `members` statuses (about 60 bytes of JSON each), at `seq`.
    fn large(members: u32, seq: u64) -> Snapshot {
        // Accounts spread by a multiplicative hash, so that they compress as real ones do
        // (a few bytes each), not as a run of consecutive numbers.
        let status: Vec<(String, String, String)> = (0..members)
            .map(|i| {
                let spread = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_000_000;
                ("g".into(), format!("{spread:012}"), "ENABLED".into())
            })
            .collect();
        Snapshot {
            seq,
            status: status.into(),
            drift: Default::default(),
            in_doubt: vec![("b0".into(), "g".into(), vec!["1".into()])],
        }
    }

    fn head(log: &EventLog) -> Head {
        let t = log.trees().unwrap();
        serde_json::from_slice(&t.meta.get(HEAD_KEY).unwrap().unwrap()).unwrap()
    }

    /// A new log in a directory of its own.
    fn fresh(name: &str) -> (PathBuf, EventLog) {
        let d = dir(name);
        let log = EventLog::open(&d).unwrap();
        (d, log)
    }

    /// The log closed and opened again (waiting out the lock, as `apply` does).
    fn reopened(log: EventLog, d: &Path) -> EventLog {
        drop(log);
        EventLog::open_waiting(d, std::time::Duration::from_secs(5)).unwrap()
    }

    /// The identity record names `format`; then the log is closed and its directory removed.
    fn gone_in_format(log: EventLog, d: &Path, format: u32) {
        assert_eq!(record_format(d), format);
        gone(log, d);
    }

    /// The log closed and its directory removed.
    fn gone(log: EventLog, d: &Path) {
        drop(log);
        std::fs::remove_dir_all(d).unwrap();
    }

    /// The snapshot the store holds, read from it.
    fn stored(log: &EventLog) -> Option<Snapshot> {
        read_stored(&log.trees().unwrap()).unwrap()
    }

    fn record_format(d: &Path) -> u32 {
        match identity::read(d) {
            identity::Read::Found(r) => r.format,
            other => panic!("{other:?}"),
        }
    }

    /// The keys of the `snapshot` tree: (generation, index).
    fn parts(log: &EventLog) -> Vec<(u64, u32)> {
        let t = log.trees().unwrap();
        t.snapshot
            .iter()
            .keys()
            .map(|k| {
                let k = k.unwrap();
                (
                    u64::from_be_bytes(k[..8].try_into().unwrap()),
                    u32::from_be_bytes(k[8..].try_into().unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn a_snapshot_is_saved_in_parts_and_only_the_last_generation_stays() {
        let (d, log) = fresh("parts");
        assert_eq!(record_format(&d), 1, "a new store holds no snapshot yet");
        let s = large(60_000, 1);
        let json = serde_json::to_vec(&s).unwrap();
        log.save_snapshot(s.clone()).unwrap();
        assert_eq!(record_format(&d), 2);
        let h = head(&log);
        assert!(h.parts >= 4, "{h:?}");
        assert!(h.bytes * 3 < h.json_bytes, "compressed: {h:?}");
        assert_eq!(h.json_bytes, json.len() as u64);
        assert_eq!(
            parts(&log),
            (0..h.parts).map(|i| (1, i)).collect::<Vec<_>>()
        );
        let t = log.trees().unwrap();
        assert_eq!(Stored::read(&t).unwrap().json(&t).unwrap(), Some(json));
        assert_eq!(t.meta.get(WHOLE_KEY).unwrap(), None);
        drop(t);
        // A smaller one replaces it whole: no part of the first stays.
        let smaller = large(10, 2);
        log.save_snapshot(smaller.clone()).unwrap();
        assert_eq!(parts(&log), [(2, 0)]);
        let log = reopened(log, &d);
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&smaller));
        gone_in_format(log, &d, 2);
    }

    #[test]
    fn a_format_1_snapshot_is_read_and_replaced_by_parts_at_the_next_save() {
        let (d, log) = fresh("whole");
        let s = large(100, 1);
        let whole = |log: &EventLog| log.trees().unwrap().meta.get(WHOLE_KEY).unwrap();
        let json = serde_json::to_vec(&s).unwrap();
        log.trees().unwrap().meta.insert(WHOLE_KEY, json).unwrap();
        let log = reopened(log, &d);
        assert_eq!(log.snapshot().unwrap().as_deref(), Some(&s));
        assert_eq!(record_format(&d), 1, "read only: still a format 1 store");
        let next = large(101, 2);
        log.save_snapshot(next.clone()).unwrap();
        assert_eq!((whole(&log), stored(&log)), (None, Some(next)));
        gone_in_format(log, &d, 2);
    }

    /// A save cut short by a crash leaves parts of a generation no head names: the snapshot
    /// before it still reads, and the next save removes them.
    #[test]
    fn parts_a_crash_left_without_a_head_are_ignored_then_removed() {
        let (d, log) = fresh("crash");
        let s = large(10, 1);
        log.save_snapshot(s.clone()).unwrap();
        let t = log.trees().unwrap();
        for i in 0..3 {
            t.snapshot
                .insert(part_key(2, i), &b"{\"seq\":"[..])
                .unwrap();
        }
        assert_eq!(read_stored(&t).unwrap(), Some(s));
        drop(t);
        let next = large(11, 2);
        log.save_snapshot(next.clone()).unwrap();
        assert_eq!(parts(&log), [(3, 0)]);
        assert_eq!(stored(&log), Some(next));
        gone(log, &d);
    }

    type Damage = dyn Fn(&Trees);

    /// Damage injected into each piece: a part missing, a part cut short, a head that is not
    /// one. Each is a damaged store, named as the snapshot.
    #[test]
    fn a_missing_or_short_part_or_a_damaged_head_is_a_damaged_snapshot() {
        let (d, log) = fresh("damage");
        log.save_snapshot(large(60_000, 1)).unwrap();
        let Head {
            parts: n, bytes, ..
        } = head(&log);
        assert!(n >= 4, "{n} parts");
        let t = log.trees().unwrap();
        let missing = format!("part 1 of {n} is missing");
        let short = format!(
            "{n} of {n} parts, {} of {bytes} bytes",
            bytes - PART_BYTES as u64 + 1
        );
        let cases: [(&str, &Damage); 6] = [
            (&missing, &|t| {
                t.snapshot.remove(part_key(1, 1)).unwrap();
            }),
            (&short, &|t| {
                t.snapshot.insert(part_key(1, 1), &b"x"[..]).unwrap();
            }),
            ("expected value at line 1 column 1", &|t| {
                t.meta.insert(HEAD_KEY, &b"parts"[..]).unwrap();
            }),
            ("its parts do not decompress: ", &|t| {
                t.snapshot
                    .insert(part_key(1, 0), vec![0xff; PART_BYTES])
                    .unwrap();
            }),
            (
                "its head says it includes events up to 2, its parts 1",
                &|t| {
                    let mut h: Head =
                        serde_json::from_slice(&t.meta.get(HEAD_KEY).unwrap().unwrap()).unwrap();
                    h.seq = 2;
                    t.meta
                        .insert(HEAD_KEY, serde_json::to_vec(&h).unwrap())
                        .unwrap();
                },
            ),
            ("its parts decompress to ", &|t| {
                let mut h: Head =
                    serde_json::from_slice(&t.meta.get(HEAD_KEY).unwrap().unwrap()).unwrap();
                h.json_bytes += 1;
                t.meta
                    .insert(HEAD_KEY, serde_json::to_vec(&h).unwrap())
                    .unwrap();
            }),
        ];
        for (want, damage) in cases {
            let whole = log.trees().unwrap();
            let before: Vec<_> = whole.snapshot.iter().map(|r| r.unwrap()).collect();
            let head = whole.meta.get(HEAD_KEY).unwrap().unwrap();
            damage(&t);
            match read_stored(&t).map(|s| s.map(|s| s.seq)) {
                Err(Fault::Damaged(m)) => {
                    assert!(m.starts_with("the snapshot cannot be read: "), "{m}");
                    assert!(m.contains(want), "{m} lacks {want}");
                }
                other => panic!("{want}: {other:?}"),
            }
            for (k, v) in before {
                t.snapshot.insert(k, v).unwrap();
            }
            t.meta.insert(HEAD_KEY, head).unwrap();
            assert_eq!(read_stored(&t).unwrap().map(|s| s.seq), Some(1));
        }
        drop(t);
        gone(log, &d);
    }
}
