//! In-process pass tests: muster's reconcile pass, planned and applied through its real
//! aws-sdk clients against the emulator over HTTP: exact API calls (from the emulator's call
//! log), exact events, each failure. One `Harness` (tests/common) for all of them.

#[path = "../common/mod.rs"]
mod common;

mod central;
mod configuration;
mod member;
mod passes;
mod services;
