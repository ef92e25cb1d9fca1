//! The seal: what a writer that closed its store cleanly leaves beside it,
//! `events.sled.sealed.json`, so that the next writer need not read every entry again.
//!
//! Opening a store reads every entry it holds (`recovery::scan`), because sled checks a page
//! only when it reads it: that is how damage anywhere in the history is found at start and
//! not halfway through a pass. At the largest organization that is hundreds of thousands of
//! entries, read again by every `muster apply` although nothing but muster wrote them.
//!
//! A writer that closed its store after a flush that succeeded writes the seal: each of the
//! store's files with its length, device, inode and modification and change times, and when
//! the store was last read in full. The next writer takes the seal (removes it, before sled
//! opens the store, so a store that is open or was left by a crash never has one) and, when
//! every file is still as the seal says, reads only what replay reads: the entries after the
//! snapshot. Any write to a file changes its change time, which no program can set back, so a
//! store damaged, truncated, copied or replaced since is read in full as before; so is one
//! whose last full reading is older than `FULL_READ_EVERY`, and every store a reader opens.
//!
//! The seal is only ever a shortcut: one that is missing, unreadable, stale or of another
//! store means a full reading, never an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The seal's file name, beside `events.sled`.
pub const FILE: &str = "events.sled.sealed.json";

/// The longest a store goes without a full reading, seal or not: damage that no write made
/// (a failing disk) is found within a day, as a daemon that restarts daily would find it.
pub const FULL_READ_EVERY: Duration = Duration::from_secs(24 * 3600);

/// What a seal says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// The seal's own format.
    pub v: u32,
    /// The store's id, as its identity record and `meta` tree have it.
    pub store_id: String,
    /// When every entry of the store was last read (ms since the epoch).
    pub read_in_full_ms: u64,
    /// The store's files, by path inside the store, in order.
    pub files: Vec<FileStamp>,
}

/// One file of the store as the seal saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub name: String,
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

const VERSION: u32 = 1;

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The files of the store at `store` (its `blobs` included), stamped, in order of name.
#[cfg(unix)]
fn stamps(store: &Path) -> std::io::Result<Vec<FileStamp>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut dirs = vec![(store.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let m = entry.metadata()?;
            if m.is_dir() {
                dirs.push((entry.path(), format!("{name}/")));
                continue;
            }
            out.push(FileStamp {
                name,
                len: m.len(),
                dev: m.dev(),
                ino: m.ino(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(not(unix))]
fn stamps(_store: &Path) -> std::io::Result<Vec<FileStamp>> {
    Err(std::io::Error::other("a seal needs a file's change time"))
}

/// Seals the store at `store` (closed, flushed) of state directory `dir`: a temporary file,
/// renamed over any old seal. Returns why it could not (the next open then reads in full).
pub fn write(dir: &Path, store: &Path, store_id: &str, read_in_full_ms: u64) -> Result<(), String> {
    let seal = Seal {
        v: VERSION,
        store_id: store_id.to_owned(),
        read_in_full_ms,
        files: stamps(store).map_err(|e| e.to_string())?,
    };
    let tmp = dir.join(format!("{FILE}.tmp"));
    let bytes = serde_json::to_vec(&seal).expect("a seal is plain JSON");
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path(dir)).map_err(|e| e.to_string())
}

/// Why a store is read in full, or that it need not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Every file is as the seal says: the store was last read in full at this time.
    Sealed { read_in_full_ms: u64 },
    /// Read every entry, for this reason.
    ReadInFull(String),
}

/// Takes the seal of the store at `store` in state directory `dir` (held by `store_id`, when
/// the identity record names one): removes it, and says whether the store is as it was sealed
/// and was read in full within `FULL_READ_EVERY` of `now_ms`. Called before sled opens the
/// store, which changes its files.
pub fn take(dir: &Path, store: &Path, store_id: Option<&str>, now_ms: u64) -> Taken {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Taken::ReadInFull("it has no seal".into())
        }
        Err(e) => return Taken::ReadInFull(format!("its seal cannot be read: {e}")),
    };
    // Gone before the store opens: a seal must never outlive the state it describes.
    if let Err(e) = std::fs::remove_file(&p) {
        return Taken::ReadInFull(format!("its seal cannot be removed: {e}"));
    }
    let seal: Seal = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return Taken::ReadInFull(format!("its seal cannot be read: {e}")),
    };
    judge(&seal, store, store_id, now_ms)
}

fn judge(seal: &Seal, store: &Path, store_id: Option<&str>, now_ms: u64) -> Taken {
    if seal.v != VERSION {
        return Taken::ReadInFull(format!("its seal is of version {}", seal.v));
    }
    if store_id != Some(seal.store_id.as_str()) {
        return Taken::ReadInFull("its seal is of another store".into());
    }
    let age = now_ms.checked_sub(seal.read_in_full_ms);
    if age.is_none_or(|a| a >= FULL_READ_EVERY.as_millis() as u64) {
        return Taken::ReadInFull(format!(
            "its last full reading is more than {}h old",
            FULL_READ_EVERY.as_secs() / 3600
        ));
    }
    match stamps(store) {
        Ok(files) if files == seal.files => Taken::Sealed {
            read_in_full_ms: seal.read_in_full_ms,
        },
        Ok(_) => Taken::ReadInFull("its files changed after it was sealed".into()),
        Err(e) => Taken::ReadInFull(format!("its files cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> PathBuf {
        let s = dir.join("events.sled");
        std::fs::create_dir_all(s.join("blobs")).unwrap();
        std::fs::write(s.join("db"), b"0123456789").unwrap();
        std::fs::write(s.join("conf"), b"conf").unwrap();
        s
    }

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn a_seal_holds_until_a_file_changes_and_is_taken_once() {
        let d = scratch("holds");
        let s = store(&d);
        write(&d, &s, "id", NOW - 1000).unwrap();
        assert_eq!(
            take(&d, &s, Some("id"), NOW),
            Taken::Sealed {
                read_in_full_ms: NOW - 1000
            }
        );
        // Taken: a second open reads in full.
        assert_eq!(
            take(&d, &s, Some("id"), NOW),
            Taken::ReadInFull("it has no seal".into())
        );
        write(&d, &s, "id", NOW).unwrap();
        // The same length, the same bytes but one: the change time tells.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(s.join("db"), b"0123456788").unwrap();
        assert_eq!(
            take(&d, &s, Some("id"), NOW),
            Taken::ReadInFull("its files changed after it was sealed".into())
        );
    }

    #[test]
    fn a_new_blob_a_stale_reading_another_store_or_garbage_mean_a_full_reading() {
        let d = scratch("full");
        let s = store(&d);
        // (what changes after the seal, the store id the record names, now, why in full)
        type Case<'a> = (&'a dyn Fn(), Option<&'a str>, u64, &'a str);
        let cases: [Case; 4] = [
            (
                &|| std::fs::write(s.join("blobs").join("1"), b"b").unwrap(),
                Some("id"),
                NOW,
                "its files changed after it was sealed",
            ),
            (
                &|| (),
                Some("id"),
                NOW + FULL_READ_EVERY.as_millis() as u64,
                "its last full reading is more than 24h old",
            ),
            (
                &|| (),
                Some("id"),
                NOW - 1,
                "its last full reading is more than 24h old",
            ),
            (&|| (), Some("other"), NOW, "its seal is of another store"),
        ];
        for (change, id, now, why) in cases {
            write(&d, &s, "id", NOW).unwrap();
            change();
            assert_eq!(take(&d, &s, id, now), Taken::ReadInFull(why.into()));
            assert!(!path(&d).exists(), "taken: {why}");
        }
        std::fs::write(path(&d), b"{\"v\":1,").unwrap();
        let Taken::ReadInFull(why) = take(&d, &s, Some("id"), NOW) else {
            panic!("garbage trusted")
        };
        assert!(why.starts_with("its seal cannot be read: "), "{why}");
        assert!(!path(&d).exists());
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("muster-seal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
