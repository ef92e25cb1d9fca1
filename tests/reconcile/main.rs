//! muster's reconcile pass against the sandbox through the real aws-sdk-detective client:
//! exact API calls (from the sandbox call log), exact events, and each failure.

#[path = "../common/mod.rs"]
mod common;

mod accept;
mod binary;
mod cli;
mod concurrency;
mod configuration;
mod contract;
mod crash;
mod damage;
mod full_disk;
mod import;
mod logs;
mod member;
mod passes;
mod review;
mod revision;
mod services;
