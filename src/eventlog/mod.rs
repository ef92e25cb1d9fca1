//! The event log: every observation of drift and every action muster takes, in a sled store
//! under `state_dir`. An intent is appended and flushed before its AWS call and its outcome after,
//! so that after a crash an intent without an outcome is known to be "in doubt" and is resolved
//! by listing the graph again, never by re-sending blind.
//!
//! AWS, not the log, is the source of truth for membership: the log is history and intent.
//! The schema (`schema.rs`) is versioned: variants are added, never repurposed. Every call into
//! sled goes through `store.rs`'s boundary and `EventLog::run`, the one recovery path for a
//! damaged store or a full disk; nothing outside this module sees sled.
//!
//! Layout, one concern a file: `schema` (the on-disk contract), `store` (the boundary around
//! sled), `identity` (the record beside the store), `recovery` (open, verify, recover: the one
//! recovery path), `commit` (append, group commit, flush), `snapshot` (the snapshot, the saved
//! organization listing, retention), `read` (events, intents in doubt, decoding), `seal` (what
//! a clean close leaves beside the store, so the next open need not read every entry) and
//! `projection` (replay). This file holds the `EventLog` itself and its errors.

mod commit;
mod identity;
pub mod interned;
pub mod projection;
mod read;
mod recovery;
mod schema;
mod seal;
mod snapshot;
mod store;

pub use commit::FlushStats;
use commit::*;
use read::*;
use recovery::*;
use snapshot::*;

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
    /// The format the store is in (`identity::STORE_FORMAT`): the oldest a muster must read to
    /// open it.
    format: std::sync::atomic::AtomicU32,
    /// The intents in doubt, once worked out (`in_doubt`), kept as events are appended;
    /// forgotten when the store is opened again or loses events to retention.
    doubts: Mutex<Option<Doubts>>,
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
    /// When the open store was last read in full (ms since the epoch; 0 before it opens):
    /// what its seal says when this writer closes it.
    read_in_full_ms: AtomicU64,
}

/// Intents in doubt: (batch, target, accounts).
pub type InDoubt = Vec<(String, String, Vec<String>)>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl EventLog {}

impl Drop for EventLog {
    fn drop(&mut self) {
        // Bounded: a full disk or a damaged store must not keep muster from exiting.
        self.close_and_seal();
    }
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

    /// Drift of these keys, first observed at these times.
    fn drifts(entries: &[((&str, &str, &str), u64)]) -> interned::Drifts {
        let mut d = interned::Drifts::default();
        for (k, since) in entries {
            d.insert(*k, *since);
        }
        d
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
    fn a_store_sealed_at_close_is_opened_without_reading_it_all_until_a_file_changes() {
        let d = dir("seal");
        let read_in_full = |log: &EventLog| log.read_in_full_ms.load(Ordering::SeqCst);
        let first = {
            let log = reopen(&d);
            for i in 1..=3 {
                log.append("r", "d", intent(&format!("b{i}"), "1"), true)
                    .unwrap();
            }
            assert!(!seal::path(&d).exists(), "no seal while it is open");
            read_in_full(&log)
        };
        assert!(first > 0);
        assert!(seal::path(&d).exists(), "sealed at its close");
        std::thread::sleep(std::time::Duration::from_millis(5));
        {
            let log = reopen(&d);
            assert!(!seal::path(&d).exists(), "taken at its open");
            assert_eq!(read_in_full(&log), first, "opened by its seal");
            assert_eq!(log.last_seq(), 3);
            assert_eq!(log.in_doubt().unwrap().len(), 3);
            let e = log.append("r", "d", intent("b4", "1"), true).unwrap();
            assert_eq!(e.seq, 4);
        }
        // Written by something else, even byte for byte as it was: read in full again.
        let db = d.join("events.sled").join("db");
        std::fs::write(&db, std::fs::read(&db).unwrap()).unwrap();
        let log = reopen(&d);
        assert!(read_in_full(&log) > first, "read in full");
        assert_eq!(log.last_seq(), 4);
        assert_eq!(log.in_doubt().unwrap().len(), 4);
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

    /// The intents in doubt kept as events are appended are what a scan of the store finds:
    /// 300 appends of intents, outcomes and other events (seeded), checked against a new
    /// log's scan at random points, and once across a snapshot.
    #[test]
    fn intents_in_doubt_kept_on_append_match_a_scan_of_the_store() {
        use rand::{Rng, SeedableRng};
        let d = dir("doubts");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(27);
        let mut log = reopen(&d);
        let mut batches = 0;
        for step in 0..300 {
            let open = log.in_doubt().unwrap();
            let kind = match rng.random_range(0..4) {
                0 | 1 => {
                    batches += 1;
                    intent(&format!("b{batches}"), &step.to_string())
                }
                2 if !open.is_empty() => EventKind::InviteFailed {
                    batch: open[rng.random_range(0..open.len())].0.clone(),
                    graph: "g".into(),
                    code: "x".into(),
                    message: "y".into(),
                },
                _ => finished(),
            };
            log.append("r", "d", kind, false).unwrap();
            if step == 150 {
                projection::save(&log, Projection::default()).unwrap();
            }
            if rng.random_range(0..10) == 0 {
                let kept = log.in_doubt().unwrap();
                drop(log);
                log = reopen(&d);
                assert_eq!(log.in_doubt().unwrap(), kept, "step {step}");
            }
        }
        assert!(!log.in_doubt().unwrap().is_empty());
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
            status: vec![("g", "a", "ENABLED")].into(),
            drift: drifts(&[(("g", "a", "missing"), 1_000)]),
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
        later.drift.insert(("g", "b", "missing"), 2_000);
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
