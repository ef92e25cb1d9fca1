//! The command line: clap derive, one subcommand per job, every flag also an `MUSTER_*`
//! environment variable so that systemd units and Kubernetes manifests can set them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "muster",
    version,
    about = "Keeps Amazon Detective and AWS Security Hub membership in line with a desired state kept in git"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MUSTER_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in emulator of Detective, Security Hub and Organizations until SIGINT/SIGTERM.
    Sandbox(SandboxArgs),
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (the exports line shows which).
    #[arg(long, default_value = "127.0.0.1:4566", env = "MUSTER_SANDBOX_LISTEN")]
    pub listen: SocketAddr,
    /// World to serve (format: README.md, "Sandbox fixtures"); default: the built-in copy of
    /// config/sandbox.yaml.
    #[arg(long, env = "MUSTER_SANDBOX_FIXTURE", conflicts_with_all = ["accounts", "seed", "regions"])]
    pub fixture: Option<PathBuf>,
    /// Generate an organization of this many accounts instead of loading a fixture.
    #[arg(long, env = "MUSTER_SANDBOX_ACCOUNTS", value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub accounts: Option<u32>,
    /// Regions of the generated world, comma separated.
    #[arg(long, env = "MUSTER_SANDBOX_REGIONS", value_delimiter = ',', requires = "accounts", value_parser = parse_region)]
    pub regions: Vec<String>,
    /// Seed of the generated world.
    #[arg(long, env = "MUSTER_SANDBOX_SEED", requires = "accounts")]
    pub seed: Option<u64>,
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::domain::is_region_name(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("\"{s}\" is not a region name like us-east-1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_fixture_and_a_generated_world_are_exclusive() {
        let err = Cli::try_parse_from([
            "muster",
            "sandbox",
            "--fixture",
            "f.yaml",
            "--accounts",
            "5",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err =
            Cli::try_parse_from(["muster", "sandbox", "--accounts", "5", "--regions", "mars"])
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"mars\" is not a region name like us-east-1"),
            "{err}"
        );
    }
}
