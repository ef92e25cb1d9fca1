//! The damage suite, after sled's crash tests and SQLite's IO-error tests: a real store (two
//! applies of 400 accounts in two graphs) is damaged in seeded ways (truncated at a random
//! offset, bytes flipped, a page zeroed, `conf` damaged, the snapshot file damaged), and then
//! `events`, `apply`, `apply` and `events` run against the sandbox. Ten more copies are sealed
//! where they lie by an `apply` (`events.sled.sealed.json`) before they are damaged: the next
//! writer must read them in full all the same.
//!
//! Deleted blob files were a kind of their own while muster's snapshot was one value, large
//! enough for sled to keep in a blob file; compressed and in 64 KiB parts (store format 2) it
//! never is, and a store of this size holds no blob file to delete.
//!
//! Every variant: no exit 101 and no "panicked"; the reader exits 0 or 1 and leaves every file
//! as it was; the first writer records exactly one `store_rebuilt` (and moves exactly one store
//! aside) when the reader found damage, none when it did not; the second apply makes zero AWS
//! writes; `events` reads the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use muster_sandbox::fixture::{generate, Generate};
use rand::{Rng, SeedableRng};

use crate::binary::{copy_dir, files_of, muster, run_clean, write_desired};
use crate::common::*;

const ACCOUNTS: usize = 400;
/// Seven of each kind of damage.
const VARIANTS: u64 = 35;
/// Two of each kind, done to a store sealed where it lies.
const SEALED_VARIANTS: u64 = 10;

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    FlipBytes,
    ZeroPage,
    Conf,
    SnapshotFile,
}

const KINDS: [Damage; 5] = [
    Damage::Truncate,
    Damage::FlipBytes,
    Damage::ZeroPage,
    Damage::Conf,
    Damage::SnapshotFile,
];

fn files_named(store: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

/// Damages the store at `store` as `kind` says, with `rng` choosing where; returns what it did.
fn damage(store: &Path, kind: Damage, rng: &mut impl Rng) -> String {
    use std::io::{Seek, SeekFrom, Write};
    let db = store.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    let open = |p: &Path| std::fs::OpenOptions::new().write(true).open(p).unwrap();
    match kind {
        Damage::Truncate => {
            let at = rng.random_range(0..len);
            open(&db).set_len(at).unwrap();
            format!("db truncated to {at} of {len} bytes")
        }
        Damage::FlipBytes => {
            let n = rng.random_range(1..=16);
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&db)
                .unwrap();
            let bytes = std::fs::read(&db).unwrap();
            for _ in 0..n {
                let at = rng.random_range(0..len);
                let bit = 1u8 << rng.random_range(0..8);
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&[bytes[at as usize] ^ bit]).unwrap();
            }
            format!("{n} bytes of db flipped")
        }
        Damage::ZeroPage => {
            let page = rng.random_range(0..len / 4096) * 4096;
            let mut f = open(&db);
            f.seek(SeekFrom::Start(page)).unwrap();
            f.write_all(&[0; 4096]).unwrap();
            format!("the page at {page} of db zeroed")
        }
        Damage::Conf => {
            let conf = store.join("conf");
            let garbage: Vec<u8> = (0..rng.random_range(1..40)).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&conf)
                    .unwrap();
                f.write_all(&garbage).unwrap();
                format!("{} bytes appended to conf", garbage.len())
            } else {
                std::fs::write(&conf, &garbage).unwrap();
                format!("conf replaced by {} bytes", garbage.len())
            }
        }
        Damage::SnapshotFile => {
            let snaps = files_named(store, "snap.");
            assert!(!snaps.is_empty(), "the real store has a snapshot file");
            let snap = &snaps[rng.random_range(0..snaps.len())];
            let n = std::fs::metadata(snap).unwrap().len();
            if rng.random_bool(0.5) {
                let at = rng.random_range(0..n);
                open(snap).set_len(at).unwrap();
                format!("{} truncated to {at} of {n}", snap.display())
            } else {
                let at = rng.random_range(0..n);
                let mut f = open(snap);
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&[rng.random()]).unwrap();
                format!("a byte of {} overwritten at {at}", snap.display())
            }
        }
    }
}

fn count_type(events_json: &[u8], t: &str) -> usize {
    String::from_utf8_lossy(events_json)
        .lines()
        .filter(|l| l.contains(&format!("\"type\":\"{t}\"")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_damaged_store_is_reported_by_readers_and_rebuilt_once_by_the_first_writer() {
    let sb = start(generate(&Generate {
        accounts: ACCOUNTS + 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 5,
    }))
    .await;
    let endpoint = sb.endpoint();
    let dir = scratch("damage");
    let desired = dir.join("desired.yaml");
    write_desired(&desired, ACCOUNTS, &["us-east-1", "eu-west-1"]);
    let desired = desired.to_str().unwrap().to_owned();
    let apply = |state: &Path| {
        muster(
            &endpoint,
            &[
                "apply",
                "--desired-state",
                &desired,
                "--state-dir",
                state.to_str().unwrap(),
            ],
        )
    };
    let events = |state: &Path| {
        muster(
            &endpoint,
            &[
                "events",
                "--output",
                "json",
                "--state-dir",
                state.to_str().unwrap(),
            ],
        )
    };

    // The real store: the first apply invites everyone, the second sees them enabled.
    let base = dir.join("base");
    for n in 0..2 {
        let out = run_clean("building the store", apply(&base));
        assert_eq!(out.status.code(), Some(0), "apply {n}: {out:?}");
    }
    let out = run_clean("events of the base", events(&base));
    let in_base = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(in_base > 2000, "a real store: {in_base} events");

    let mut damaged = BTreeMap::<String, usize>::new();
    for seed in 0..VARIANTS {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let kind = KINDS[seed as usize % KINDS.len()];
        let state = dir.join(format!("variant-{seed}"));
        copy_dir(&base, &state);
        let did = damage(&state.join("events.sled"), kind, &mut rng);
        let v = format!("variant {seed} ({did})");

        // A reader reports and changes nothing.
        let before = files_of(&state);
        let read = run_clean(&v, events(&state));
        assert_eq!(
            files_of(&state),
            before,
            "{v}: the reader changed the files"
        );
        let err = String::from_utf8_lossy(&read.stderr);
        let found = match read.status.code() {
            Some(0) => false,
            Some(1) => {
                let store = state.join("events.sled");
                assert!(
                    err.contains(&format!("error: the event log {} is damaged: ", store.display()))
                        && err.contains("it was left as it is: the next `muster apply` or `muster run` moves it aside"),
                    "{v}: {err}"
                );
                true
            }
            other => panic!("{v}: the reader exited {other:?}: {err}"),
        };

        // The first writer recovers; the second has nothing to do.
        let first = run_clean(&v, apply(&state));
        assert_eq!(first.status.code(), Some(0), "{v}: {first:?}");
        let before = writes(&sb);
        let second = run_clean(&v, apply(&state));
        assert_eq!(second.status.code(), Some(0), "{v}: {second:?}");
        assert_eq!(writes(&sb), before, "{v}: the second apply wrote to AWS");

        let after = run_clean(&v, events(&state));
        assert_eq!(after.status.code(), Some(0), "{v}: {after:?}");
        let rebuilt = count_type(&after.stdout, "store_rebuilt");
        let aside = files_named(&state, "events.sled.corrupt-").len();
        assert_eq!(
            (rebuilt, aside),
            if found { (1, 1) } else { (0, 0) },
            "{v}: store_rebuilt events and stores moved aside"
        );
        if found {
            *damaged.entry(format!("{kind:?}")).or_default() += 1;
        }
        std::fs::remove_dir_all(&state).unwrap();
    }
    // The suite exercises the recovery, not only sled's own crash recovery: most variants are
    // damage that sled reports, and every kind is among them.
    let total: usize = damaged.values().sum();
    assert!(total >= VARIANTS as usize / 2, "damage found: {damaged:?}");
    for kind in ["Truncate", "FlipBytes", "ZeroPage", "Conf", "SnapshotFile"] {
        assert!(
            damaged.contains_key(kind),
            "no {kind} variant was found damaged: {damaged:?}"
        );
    }

    // A seal never hides damage: a store sealed where it lies (an apply's clean close), then
    // damaged in place, is read in full by the next writer, which exits 0.
    let opened = |state: &Path| {
        let mut c = apply(state);
        c.env("MUSTER_LOG", "error,muster::eventlog::recovery=info");
        c
    };
    for seed in 0..SEALED_VARIANTS {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1000 + seed);
        let kind = KINDS[seed as usize % KINDS.len()];
        let state = dir.join(format!("sealed-{seed}"));
        copy_dir(&base, &state);
        let sealing = run_clean("sealing the copy", opened(&state));
        assert_eq!(sealing.status.code(), Some(0), "{sealing:?}");
        assert!(state.join("events.sled.sealed.json").exists(), "sealed");
        // The copy itself was read in full; sealed where it lies, it is not read again.
        let trusted = run_clean("the sealed copy", opened(&state));
        let said = String::from_utf8_lossy(&trusted.stderr);
        assert!(
            said.contains("opened the event log: sealed at its last close"),
            "{said}"
        );
        let did = damage(&state.join("events.sled"), kind, &mut rng);
        let v = format!("sealed variant {seed} ({did})");
        let first = run_clean(&v, opened(&state));
        assert_eq!(first.status.code(), Some(0), "{v}: {first:?}");
        let said = String::from_utf8_lossy(&first.stderr);
        assert!(
            said.contains("opened the event log: read every entry")
                && !said.contains("opened the event log: sealed"),
            "{v}: the damaged store was trusted by its seal: {said}"
        );
        std::fs::remove_dir_all(&state).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Damage of the store's own paths that sled alone cannot get past, each after a real store
/// was written: the directory emptied or removed (its identity record left), `events.sled` a
/// regular file, `db` a directory.
#[derive(Debug, Clone, Copy)]
enum Gone {
    Emptied,
    Removed,
    StoreIsAFile,
    DbIsADirectory,
}

impl Gone {
    fn inflict(self, store: &Path) {
        match self {
            Gone::Emptied => {
                for e in std::fs::read_dir(store).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(&p).unwrap();
                    } else {
                        std::fs::remove_file(&p).unwrap();
                    }
                }
            }
            Gone::Removed => std::fs::remove_dir_all(store).unwrap(),
            Gone::StoreIsAFile => {
                std::fs::remove_dir_all(store).unwrap();
                std::fs::write(store, b"not a store").unwrap();
            }
            Gone::DbIsADirectory => {
                std::fs::remove_file(store.join("db")).unwrap();
                std::fs::create_dir(store.join("db")).unwrap();
            }
        }
    }

    /// What the reader and the `store_rebuilt` event say of it.
    fn cause(self) -> &'static str {
        match self {
            Gone::Emptied => "the store directory was emptied, but its record (events.sled.identity.json) says it held events up to ",
            Gone::Removed => "the store directory was removed, but its record (events.sled.identity.json) says it held events up to ",
            Gone::StoreIsAFile => "events.sled is not a directory",
            Gone::DbIsADirectory => "its db is a directory, not a file",
        }
    }

    /// Whether there was anything to move aside.
    fn moves_aside(self) -> bool {
        match self {
            Gone::Emptied | Gone::Removed => false,
            Gone::StoreIsAFile | Gone::DbIsADirectory => true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_emptied_removed_or_of_the_wrong_file_type_is_rebuilt_and_recorded_once() {
    let sb = start(generate(&Generate {
        accounts: 22,
        regions: vec!["us-east-1".into()],
        seed: 6,
    }))
    .await;
    let endpoint = sb.endpoint();
    let dir = scratch("gone");
    let desired = dir.join("desired.yaml");
    write_desired(&desired, 20, &["us-east-1"]);
    let desired = desired.to_str().unwrap().to_owned();
    let run = |cmd: &[&str], state: &Path| {
        let mut args = cmd.to_vec();
        args.extend(["--state-dir", state.to_str().unwrap()]);
        if cmd[0] == "apply" {
            args.extend(["--desired-state", &desired]);
        }
        muster(&endpoint, &args)
    };
    let base = dir.join("base");
    for n in 0..2 {
        let out = run_clean("building the store", run(&["apply"], &base));
        assert_eq!(out.status.code(), Some(0), "apply {n}: {out:?}");
    }
    let record = std::fs::read_to_string(base.join("events.sled.identity.json")).unwrap();
    let recorded: serde_json::Value = serde_json::from_str(&record).unwrap();
    let last_seq = recorded["last_seq"].as_u64().unwrap();
    assert!(last_seq > 20, "the record follows the store: {record}");
    // Format 2: the passes saved a snapshot in parts.
    assert_eq!(recorded["format"], 2, "{record}");

    for gone in [
        Gone::Emptied,
        Gone::Removed,
        Gone::StoreIsAFile,
        Gone::DbIsADirectory,
    ] {
        let v = format!("{gone:?}");
        let state = dir.join(&v);
        copy_dir(&base, &state);
        let store = state.join("events.sled");
        gone.inflict(&store);

        // A reader reports the damage and changes nothing.
        let before = files_of(&state);
        let read = run_clean(&v, run(&["events"], &state));
        let err = String::from_utf8_lossy(&read.stderr);
        assert_eq!(read.status.code(), Some(1), "{v}: {err}");
        assert!(
            err.contains(&format!(
                "error: the event log {} is damaged: {}",
                store.display(),
                gone.cause()
            )),
            "{v}: {err}"
        );
        assert_eq!(
            files_of(&state),
            before,
            "{v}: the reader changed the files"
        );

        // The first writer moves what there was aside and records the loss once.
        let first = run_clean(&v, run(&["apply"], &state));
        assert_eq!(first.status.code(), Some(0), "{v}: {first:?}");
        let second = run_clean(&v, run(&["apply"], &state));
        assert_eq!(second.status.code(), Some(0), "{v}: {second:?}");
        let after = run_clean(&v, run(&["events", "--output", "json"], &state));
        assert_eq!(after.status.code(), Some(0), "{v}: {after:?}");
        let rebuilt: Vec<serde_json::Value> = String::from_utf8_lossy(&after.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "store_rebuilt")
            .collect();
        assert_eq!(rebuilt.len(), 1, "{v}: {rebuilt:?}");
        let error = rebuilt[0]["error"].as_str().unwrap();
        assert!(error.starts_with(gone.cause()), "{v}: {error}");
        let aside = files_named(&state, "events.sled.corrupt-");
        if gone.moves_aside() {
            assert_eq!(aside.len(), 1, "{v}: one store moved aside");
            assert!(
                rebuilt[0]["moved_to"]
                    .as_str()
                    .is_some_and(|m| m == aside[0].display().to_string()),
                "{v}: {rebuilt:?}"
            );
            assert_eq!(rebuilt[0].get("lost"), None, "{v}: {rebuilt:?}");
        } else {
            assert!(aside.is_empty(), "{v}: nothing to move aside: {aside:?}");
            assert_eq!(rebuilt[0]["moved_to"], "", "{v}: {rebuilt:?}");
            assert_eq!(rebuilt[0]["lost"], last_seq, "{v}: {rebuilt:?}");
            assert_eq!(
                error,
                format!(
                    "{}{last_seq}: at least {last_seq} events were lost",
                    gone.cause()
                ),
                "{v}"
            );
        }
        std::fs::remove_dir_all(&state).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
