//! The store's identity record, `events.sled.identity.json` beside the store (outside the sled
//! directory, so that whatever happens to the store leaves it): which format wrote the store,
//! the store's id (also kept in the store's `meta` tree) and the last sequence number known to
//! be on disk. It is what tells a store that was emptied or removed from a new state directory,
//! and what makes a later muster refuse a store written in a format it does not read.
//!
//! Written when a store is created or adopted (a store from before the record gains one) and
//! at each saved snapshot; always through a temporary file renamed over the old one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The newest store format this muster reads. A store is written in the oldest format that
/// holds what it holds, so an older muster can open it for as long as it can:
/// - 1: events, projection and meta trees; the snapshot one JSON value in `meta`. Stores
///   written before the record existed are format 1.
/// - 2: the snapshot in parts in a `snapshot` tree (`snapshot.rs`); from the first snapshot
///   this muster saves.
pub const STORE_FORMAT: u32 = PARTED_SNAPSHOT_FORMAT;

/// A store's format until it holds a snapshot in parts.
pub const FIRST_FORMAT: u32 = 1;

/// The format of a store whose snapshot is in parts.
pub const PARTED_SNAPSHOT_FORMAT: u32 = 2;

/// The record's file name, beside `events.sled`.
pub const FILE: &str = "events.sled.identity.json";

/// The store id's key in the store's `meta` tree.
pub const STORE_ID_KEY: &str = "store_id";

/// What the record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub store_id: String,
    /// The last sequence number known to be on disk when the record was written.
    pub last_seq: u64,
}

/// How reading the record went.
#[derive(Debug)]
pub enum Read {
    /// No record: a new state directory, or one written before the record existed.
    Absent,
    Found(Record),
    /// The file is there but is not a record (its text or the reason it cannot be read).
    Unreadable(String),
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads the record in `dir`.
pub fn read(dir: &Path) -> Read {
    let p = path(dir);
    match std::fs::read(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Absent,
        Err(e) => Read::Unreadable(e.to_string()),
        Ok(bytes) => match serde_json::from_slice::<Record>(&bytes) {
            Ok(r) => Read::Found(r),
            Err(e) => Read::Unreadable(e.to_string()),
        },
    }
}

/// Writes `r` as the record in `dir`: a temporary file, synced, renamed over the old one.
pub fn write(dir: &Path, r: &Record) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{FILE}.tmp"));
    let bytes = serde_json::to_vec(r).expect("a record is plain JSON");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path(dir))?;
    // The rename itself is durable once the directory is synced (best effort: not every
    // filesystem lets a directory be opened for that).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new store id: the time in nanoseconds and the process id, unique for one state_dir.
pub fn new_store_id() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{ns:x}-{:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_damaged_one_is_unreadable() {
        let dir = std::env::temp_dir().join(format!("muster-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(read(&dir), Read::Absent));
        let r = Record {
            format: STORE_FORMAT,
            store_id: new_store_id(),
            last_seq: 44,
        };
        write(&dir, &r).unwrap();
        assert!(matches!(read(&dir), Read::Found(ref got) if *got == r));
        std::fs::write(path(&dir), b"{\"format\":").unwrap();
        assert!(matches!(read(&dir), Read::Unreadable(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
