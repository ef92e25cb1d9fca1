//! The sled store under the event log, and the boundary around it: every call into sled goes
//! through `guard`, which turns whatever sled can fail with (an error on open, read or write, a
//! panic inside it, a missing blob, a damaged `conf`) into a `Fault` of one of two kinds. What
//! to do about a fault (move the store aside, close and reopen it, report it) is decided in one
//! place, `EventLog::recover` in `mod.rs`; this file only classifies and contains.
//!
//! It must not decide policy, and nothing outside `eventlog` sees sled.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

/// How a call into the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fault {
    /// The store itself is damaged: sled reported corruption or an unsupported format, a file
    /// of it is missing, an event does not decode, or sled panicked. Retrying cannot help.
    Damaged(String),
    /// The store could not be read or written for a reason outside it (a full disk, an IO
    /// error): the same store may work again once the cause is gone.
    Io(String),
    /// Another process holds the store.
    Locked,
}

impl From<sled::Error> for Fault {
    fn from(e: sled::Error) -> Fault {
        use std::io::ErrorKind;
        match &e {
            sled::Error::Io(io) if io.kind() == ErrorKind::WouldBlock => Fault::Locked,
            sled::Error::Io(io) if io.to_string().contains("lock") => Fault::Locked,
            // A blob file that is gone, or a file cut short, is damage to the store.
            sled::Error::Io(io)
                if matches!(
                    io.kind(),
                    ErrorKind::NotFound | ErrorKind::UnexpectedEof | ErrorKind::InvalidData
                ) =>
            {
                Fault::Damaged(e.to_string())
            }
            sled::Error::Io(_) => Fault::Io(e.to_string()),
            sled::Error::Corruption { .. }
            | sled::Error::Unsupported(_)
            | sled::Error::ReportableBug(_)
            | sled::Error::CollectionNotFound(_) => Fault::Damaged(e.to_string()),
        }
    }
}

/// Checks that what is at `path` has a store's shape where sled would otherwise fail with an
/// IO error forever: the store a directory, its `db` and `conf` files, its `blobs` a
/// directory. Nothing there is fine (a new store). The error is the damage found.
pub(super) fn check_shape(path: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
    }
    for (name, dir) in [("db", false), ("conf", false), ("blobs", true)] {
        if let Ok(m) = std::fs::metadata(path.join(name)) {
            if m.is_dir() != dir {
                let (is, want) = if dir {
                    ("a file", "a directory")
                } else {
                    ("a directory", "a file")
                };
                return Err(format!("its {name} is {is}, not {want}"));
            }
        }
    }
    Ok(())
}

/// The trees of one open store.
pub(super) struct Trees {
    pub db: sled::Db,
    pub events: sled::Tree,
    pub meta: sled::Tree,
    /// The projection's events again, same keys: what replay reads.
    pub projection: sled::Tree,
    /// The snapshot's parts (format 2; `snapshot.rs`).
    pub snapshot: sled::Tree,
}

/// sled's page cache defaults to 1 GiB; muster reads the log only at start and appends in
/// between, so a small cache keeps a long-running muster small.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;

impl Trees {
    /// Opens (or creates) the store at `path`.
    pub(super) fn open(path: &Path) -> Result<Trees, Fault> {
        guard(|| {
            // No background flusher: muster flushes where it must (each intent, each pass's
            // end, shutdown). sled's flusher thread is what a full disk left blocked, and
            // dropping the store waits for it, which is how `apply` failed to exit.
            let db = sled::Config::new()
                .path(path)
                .cache_capacity(CACHE_BYTES)
                .flush_every_ms(None)
                .open()?;
            Ok(Trees {
                events: db.open_tree("events")?,
                meta: db.open_tree("meta")?,
                projection: db.open_tree("projection")?,
                snapshot: db.open_tree("snapshot")?,
                db,
            })
        })
    }

    /// Opens the store at `path` again after this process closed it. sled releases its lock
    /// only when the last of its own threads lets go of the store, a moment after `close`
    /// returns, so a `Locked` here is waited out for up to `CLOSE_PATIENCE`.
    pub(super) fn reopen(path: &Path) -> Result<Trees, Fault> {
        while_locked(CLOSE_PATIENCE, is_locked, || Trees::open(path))
    }
}

fn is_locked(f: &Fault) -> bool {
    *f == Fault::Locked
}

/// Runs `op` until it fails otherwise than `locked` says is a held lock, or `patience` has
/// passed (the last such failure is returned then). What opening a store that another muster,
/// or this one's own closing, still holds waits with.
pub(super) fn while_locked<T, E>(
    patience: Duration,
    locked: impl Fn(&E) -> bool,
    mut op: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let start = std::time::Instant::now();
    loop {
        match op() {
            Err(e) if locked(&e) && start.elapsed() < patience => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// How long closing a store may take before muster stops waiting for it. sled flushes on
/// close; on a full disk or a damaged store that flush may never end.
pub(super) const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Closes a store: sled's own flush-on-drop runs on a thread of its own, waited for at most
/// `CLOSE_PATIENCE`, so that neither a full disk nor a panic in it can keep muster from exiting.
/// Returns whether it closed in time (its lock is released only then).
pub(super) fn close(trees: Trees) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("muster-eventlog-close".into())
        .spawn(move || {
            let _ = guard(|| {
                drop(trees);
                Ok(())
            });
            let _ = tx.send(());
        });
    match spawned {
        Ok(_) => rx.recv_timeout(CLOSE_PATIENCE).is_ok(),
        Err(_) => false,
    }
}

thread_local! {
    /// Set while this thread is inside `guard`: a panic there is sled's and is reported as a
    /// damaged store, not printed as a crash.
    static IN_STORE: Cell<bool> = const { Cell::new(false) };
    /// What the last panic inside `guard` said, for the fault it becomes.
    static PANIC_MESSAGE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `op` against the store, containing a panic inside sled: it becomes `Fault::Damaged`
/// with the panic's message and location, and the process goes on.
pub(super) fn guard<T>(op: impl FnOnce() -> Result<T, Fault>) -> Result<T, Fault> {
    install_panic_hook();
    let was = IN_STORE.with(|f| f.replace(true));
    let r = catch_unwind(AssertUnwindSafe(op));
    IN_STORE.with(|f| f.set(was));
    match r {
        Ok(r) => r,
        Err(payload) => {
            let message = PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            Err(Fault::Damaged(format!(
                "sled stopped on a failed check: {message}"
            )))
        }
    }
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Installs, once, a panic hook that keeps sled's panics (inside `guard`, or on one of sled's
/// own threads) from printing as a crash of muster: they are logged as an error and handled as
/// a damaged store. Every other panic goes to the hook that was there before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let in_store = IN_STORE.with(Cell::get);
            if !in_store && !is_sled_source(&location) {
                return previous(info);
            }
            let message = format!("{} at {location}", payload_text(info.payload()));
            tracing::error!(error = %message, "the event log's store (sled) failed");
            if in_store {
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(message));
            }
        }));
    });
}

/// Whether a panic's location is in sled's source (a panic on one of sled's own threads).
fn is_sled_source(location: &str) -> bool {
    location.contains("/sled-") || location.starts_with("sled-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_the_guard_is_a_damaged_store_and_the_process_goes_on() {
        let r: Result<(), Fault> = guard(|| panic!("segment 7 is short"));
        match r {
            Err(Fault::Damaged(m)) => {
                assert!(
                    m.starts_with("sled stopped on a failed check: segment 7 is short at "),
                    "{m}"
                );
                assert!(m.contains("store.rs"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // The flag is down again: a panic outside goes to the usual hook.
        assert!(!IN_STORE.with(Cell::get));
    }

    #[test]
    fn a_lock_still_held_is_waited_out_and_other_faults_are_not() {
        let mut calls = 0;
        let r = while_locked(Duration::from_secs(5), is_locked, || {
            calls += 1;
            if calls < 4 {
                Err(Fault::Locked)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(4));
        let mut calls = 0;
        let r: Result<(), Fault> = while_locked(Duration::from_secs(5), is_locked, || {
            calls += 1;
            Err(Fault::Damaged("x".into()))
        });
        assert_eq!((r, calls), (Err(Fault::Damaged("x".into())), 1));
        let r: Result<(), Fault> =
            while_locked(Duration::from_millis(50), is_locked, || Err(Fault::Locked));
        assert_eq!(r, Err(Fault::Locked));
    }

    /// The race CI met: the store closed, a thread of the same process still holding it.
    #[test]
    fn a_store_reopened_while_its_last_holder_lets_go_opens() {
        let dir = std::env::temp_dir().join(format!("muster-reopen-{}", std::process::id()));
        let path = dir.join("events.sled");
        let trees = Trees::open(&path).unwrap();
        let held = trees.db.clone();
        assert!(close(trees));
        assert!(matches!(Trees::open(&path), Err(Fault::Locked)));
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        let reopened = Trees::reopen(&path);
        holder.join().unwrap();
        assert!(reopened.is_ok());
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sled_errors_are_classified_as_damage_or_io() {
        use std::io::{Error, ErrorKind};
        let io = |k: ErrorKind| Fault::from(sled::Error::Io(Error::new(k, "x")));
        assert!(matches!(io(ErrorKind::NotFound), Fault::Damaged(_)));
        assert!(matches!(io(ErrorKind::UnexpectedEof), Fault::Damaged(_)));
        assert!(matches!(io(ErrorKind::WouldBlock), Fault::Locked));
        assert!(matches!(io(ErrorKind::StorageFull), Fault::Io(_)));
        assert!(matches!(io(ErrorKind::Other), Fault::Io(_)));
        assert!(matches!(
            Fault::from(sled::Error::Unsupported("old".into())),
            Fault::Damaged(_)
        ));
        assert!(is_sled_source(
            "/root/.cargo/registry/src/x/sled-0.34.7/src/pagecache/segment.rs:556"
        ));
        assert!(!is_sled_source("src/main.rs:10"));
    }
}
