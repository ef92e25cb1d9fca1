//! muster keeps Amazon Detective and AWS Security Hub membership across many AWS accounts in
//! line with a desired state kept in git, and shows drift as metrics.
//!
//! Layout (see ARCHITECTURE.md for the whole map):
//! - `cli`: the command line (clap derive);
//! - `sandbox`: the emulator of Detective, Security Hub and Organizations that muster's tests and
//!   demo run against.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod desired;
pub mod domain;
pub mod eventlog;
pub mod observed;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod sandbox;
