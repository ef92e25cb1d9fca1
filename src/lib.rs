//! muster keeps Amazon Detective and AWS Security Hub membership across many AWS accounts in
//! line with a desired state kept in git, and shows drift as metrics.
//!
//! Layout (see ARCHITECTURE.md for the whole map):
//! - `cli`: the command line (clap derive);
//! - `sandbox`: the emulator of Detective, Security Hub and Organizations that muster's tests and
//!   demo run against.

pub mod cli;
pub mod desired;
pub mod domain;
pub mod sandbox;
