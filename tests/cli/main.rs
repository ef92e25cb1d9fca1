//! Process-level tests: the muster binary against the emulator, as an operator runs it:
//! commands and exit codes, central acceptance, crashes (kill -9), damaged stores, a full disk,
//! old stores, import, reviewing changes, logs, git revisions, concurrency from the call log.

#[path = "../common/mod.rs"]
mod common;

mod accept;
mod binary;
mod cli;
mod concurrency;
mod contract;
mod crash;
mod damage;
mod full_disk;
mod import;
mod logs;
mod review;
mod revision;
