//! muster keeps Amazon Detective and AWS Security Hub membership across many AWS accounts in
//! line with a desired state kept in git, and shows drift as metrics.
//!
//! Layout (see ARCHITECTURE.md for the whole map):
//! - `desired`, `config`: what must be true (desired state) and how muster runs (settings);
//! - `aws`, `observed`: what AWS has, in domain types (`domain`);
//! - `plan` (pure), `apply`, `reconcile`: the drift and what is done about it;
//! - `eventlog`: every observation and action, crash-safe; `report`: how they are shown;
//! - `cli`: the command line (clap derive); `input`: bounded reads of files from outside;
//! - `sandbox`: the emulator of Detective, Security Hub and Organizations that muster's tests and
//!   demo run against.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod desired;
pub mod domain;
pub mod eventlog;
pub mod http;
pub mod input;
pub mod member;
pub mod metrics;
pub mod observed;
pub mod org;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod sandbox;
