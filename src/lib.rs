//! muster keeps Amazon Detective and AWS Security Hub membership across many AWS accounts in
//! line with a desired state kept in git, and shows drift as metrics.
//!
//! Layout (lowest layer first; imports point downward only, tested in `layering`; see
//! ARCHITECTURE.md for the whole map):
//! - `domain`: validated newtypes (`AccountId`, `Email`, `GraphArn`, `Region`), `Service` and
//!   `Target`; `input`: bounded reads of files from outside; `revision`: the git commit of a
//!   work tree;
//! - `desired`: what must be true (the desired-state YAML: `yaml`, `fuzz`); `observed`: what AWS
//!   reports, in domain types; `cli`: the command line (clap derive);
//! - `plan`: the pure drift and change plan (`plan::detective`, `plan::securityhub`,
//!   `plan::invitations`);
//! - `aws`: one trait per service, the SDK adapters behind them (`aws::detective`,
//!   `aws::securityhub`, `aws::organizations`, `aws::limiter`, `aws::telemetry`); `eventlog`:
//!   every observation and action, crash-safe, with the one recovery path for its store
//!   (`eventlog::projection`; the schema and the sled boundary inside);
//! - `org`: the organization listed and expanded into accounts; `apply`: a plan carried out in
//!   batches, intent before action, through one `Recorder` (`apply::detective`,
//!   `apply::securityhub`, `apply::invitations`);
//! - `reconcile`: one pass in one shape for both modes (`reconcile::observe`,
//!   `reconcile::member`, `reconcile::gauges`; recording inside); `import`: what AWS has, as a
//!   desired state (`import::render`, pure);
//! - `config`: how muster runs (settings); `report`: plans, applies and events shown; `metrics`:
//!   every metric; `http`: `/metrics`, `/healthz`, `/readyz`; `daemon`: `muster run`;
//! - `layering` (tests only): the dependency rule above, checked.
//!
//! The binary (`src/main.rs`, `src/commands/`) parses, logs and dispatches one command a file.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod desired;
pub mod domain;
pub mod eventlog;
pub mod http;
pub mod import;
pub mod input;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod observed;
pub mod org;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod revision;
