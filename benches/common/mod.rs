//! What the benchmarks share.
#![allow(dead_code)]

use muster_sandbox::fixture::{generate, Generate};
use muster_sandbox::Sandbox;

/// Sixteen commercial regions: the "every region" of the benchmarks.
pub const REGIONS: [&str; 16] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
];

/// A sandbox of `accounts` organization accounts in `regions`, all active and with no data
/// volume limit, so that every member ends ENABLED: converged means no drift at all.
/// 30 commercial Region names, about as many as Security Hub is available in: `REGIONS` and
/// these. The sandbox serves any Region name.
const MORE_REGIONS: [&str; 14] = [
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-northeast-3",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// `REGIONS`, then `MORE_REGIONS`.
pub fn wide_regions() -> Vec<&'static str> {
    REGIONS.iter().chain(&MORE_REGIONS).copied().collect()
}

pub async fn world(accounts: usize, regions: &[&str]) -> Sandbox {
    let sb = Sandbox::start(
        generate(&Generate {
            accounts,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            seed: 5,
        }),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    sb.with_world(|w| {
        w.settings.graph_volume_limit_bytes = u64::MAX;
        for a in w.accounts.values_mut() {
            a.state = muster_sandbox::world::AccountState::Active;
        }
    });
    sb
}
