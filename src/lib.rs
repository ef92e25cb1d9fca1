//! muster keeps Amazon Detective and AWS Security Hub membership across many AWS accounts in
//! line with a desired state kept in git, and shows drift as metrics.
//!
//! Layout (lowest layer first; imports point downward only, tested in `layering`; see
//! ARCHITECTURE.md for the whole map):
//! - `domain`: validated newtypes (`AccountId`, `Email`, `GraphArn`, `Region`); `input`: bounded
//!   reads of files from outside;
//! - `desired`: what must be true (the desired-state YAML); `observed`: what AWS reports, in
//!   domain types; `cli`: the command line (clap derive);
//! - `plan`: the pure drift and change plan;
//! - `aws`: one trait per service, the SDK adapters behind them; `eventlog`: every observation
//!   and action, crash-safe, with the one recovery path for its store;
//! - `org`: the organization listed and expanded into accounts; `apply`: a plan carried out in
//!   batches, intent before action;
//! - `reconcile`: one pass (administrator side; `reconcile::member`, the member side);
//! - `config`: how muster runs (settings); `report`: plans and events shown; `metrics`: every
//!   metric; `http`: `/metrics`, `/healthz`, `/readyz`; `daemon`: `muster run`;
//! - `sandbox`: the emulator of Detective, Security Hub and Organizations that muster's tests and
//!   demo run against (it imports nothing of muster but `domain`).

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
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod observed;
pub mod org;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod sandbox;
