//! Security Hub central configuration as the world holds it: finding aggregators (the home
//! Region and its linked Regions), configuration policies, their direct associations with the
//! root, OUs and accounts, and what inheritance through the OU tree makes of every target.
//!
//! Associations are asynchronous, as on AWS: a target whose configuration changes is `PENDING`
//! until `association_delay` has passed (and at least one later call has been made), then
//! `SUCCESS`, or `FAILED` for a suspended account or one the fixture names. An account's
//! `SUCCESS` carries the policy out in the home and linked Regions: Security Hub enabled or
//! disabled there, and the policy's standards. This module knows nothing about HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::model::stable_hash;

/// The configuration identifier of self-managed Security Hub.
pub const SELF_MANAGED: &str = "SELF_MANAGED_SECURITY_HUB";

/// Why an account's association fails when the fixture names it without a message.
pub const DEFAULT_FAILURE: &str =
    "Policy association failed: the account could not be configured (a fixture-made failure)";
/// Why a suspended account's association fails.
pub const SUSPENDED_FAILURE: &str = "Policy association failed because the account is suspended";
/// Status message while Organizations policies manage Security Hub.
pub const MANAGED_BY_POLICIES: &str = "Central configuration is disabled because the organization is managed by Security Hub CSPM policies in Organizations (SECURITYHUB_CSPM_POLICY)";

/// The Regions a finding aggregator links to its home Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    AllRegions,
    AllRegionsExceptSpecified,
    SpecifiedRegions,
    NoRegions,
}

impl Linking {
    pub const NAMES: [&'static str; 4] = [
        "ALL_REGIONS",
        "ALL_REGIONS_EXCEPT_SPECIFIED",
        "SPECIFIED_REGIONS",
        "NO_REGIONS",
    ];

    pub fn parse(s: &str) -> Option<Linking> {
        match s {
            "ALL_REGIONS" => Some(Linking::AllRegions),
            "ALL_REGIONS_EXCEPT_SPECIFIED" => Some(Linking::AllRegionsExceptSpecified),
            "SPECIFIED_REGIONS" => Some(Linking::SpecifiedRegions),
            "NO_REGIONS" => Some(Linking::NoRegions),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Linking::AllRegions => "ALL_REGIONS",
            Linking::AllRegionsExceptSpecified => "ALL_REGIONS_EXCEPT_SPECIFIED",
            Linking::SpecifiedRegions => "SPECIFIED_REGIONS",
            Linking::NoRegions => "NO_REGIONS",
        }
    }
}

/// One account's finding aggregator: its home Region and how Regions are linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregator {
    pub arn: String,
    pub home: String,
    pub linking: Linking,
    /// The Regions the linking mode names (linked, or excepted).
    pub regions: Vec<String>,
}

impl Aggregator {
    pub fn new(account: &str, home: &str, linking: Linking, regions: Vec<String>) -> Self {
        let id = uuid(&["finding-aggregator", account, home]);
        Aggregator {
            arn: format!("arn:aws:securityhub:{home}:{account}:finding-aggregator/{id}"),
            home: home.to_owned(),
            linking,
            regions,
        }
    }

    /// The Regions linked to the home Region, of the Regions the world knows.
    pub fn linked<'a>(&self, known: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
        let named: BTreeSet<&str> = self.regions.iter().map(String::as_str).collect();
        let keep = |r: &str| match self.linking {
            Linking::AllRegions => true,
            Linking::AllRegionsExceptSpecified => !named.contains(r),
            Linking::SpecifiedRegions => named.contains(r),
            Linking::NoRegions => false,
        };
        let mut out: BTreeSet<String> = known.filter(|r| keep(r)).cloned().collect();
        if self.linking == Linking::SpecifiedRegions {
            out.extend(self.regions.iter().cloned());
        }
        out.remove(&self.home);
        out
    }
}

/// A configuration policy: its identity and the `SecurityHub` policy as it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub created: SystemTime,
    pub updated: SystemTime,
    /// The `SecurityHub` member of the `Policy` union, as given.
    pub body: Value,
}

impl Policy {
    /// Whether the policy turns Security Hub on.
    pub fn service_enabled(&self) -> bool {
        self.body["ServiceEnabled"].as_bool().unwrap_or(false)
    }

    /// The standards the policy enables.
    pub fn standards(&self) -> BTreeSet<String> {
        let list = self.body["EnabledStandardIdentifiers"].as_array();
        let items = list.into_iter().flatten();
        items
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    }
}

/// What a target is configured with: a policy (by id), or self-managed Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Configuration {
    Policy(String),
    SelfManaged,
}

impl Configuration {
    pub fn id(&self) -> &str {
        match self {
            Configuration::Policy(id) => id,
            Configuration::SelfManaged => SELF_MANAGED,
        }
    }
}

/// Something a configuration is associated with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Root(String),
    Ou(String),
    Account(String),
}

impl Target {
    pub fn id(&self) -> &str {
        match self {
            Target::Root(id) | Target::Ou(id) | Target::Account(id) => id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::Root(_) => "ROOT",
            Target::Ou(_) => "ORGANIZATIONAL_UNIT",
            Target::Account(_) => "ACCOUNT",
        }
    }

    /// The key listings page by: the root, then OUs, then accounts, each by id.
    pub fn key(&self) -> String {
        let rank = match self {
            Target::Root(_) => 0,
            Target::Ou(_) => 1,
            Target::Account(_) => 2,
        };
        format!("{rank}:{}", self.id())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Success,
    Failed,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::Disabled => "DISABLED",
        }
    }
}

/// Where a target stands: its configuration, whether it was applied to it directly or
/// inherited, and how carrying it out went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub configuration: Configuration,
    pub applied: bool,
    pub status: Status,
    pub message: Option<String>,
    pub updated: SystemTime,
    /// While `PENDING`: settled by a call after `call`, at or after `due`.
    pub due: Option<(u64, SystemTime)>,
}

/// The switch of the organization to central configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub status: Status,
    pub due: Option<(u64, SystemTime)>,
}

/// Knobs the fixture sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long an association (and the switch to CENTRAL) stays `PENDING`.
    pub delay: Duration,
    /// Accounts whose associations fail, with AWS's message.
    pub failing: BTreeMap<String, String>,
    /// The organization is managed by Security Hub CSPM policies in Organizations: central
    /// configuration is `DISABLED`.
    pub managed_by_policies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delay: Duration::from_millis(200),
            failing: BTreeMap::new(),
            managed_by_policies: false,
        }
    }
}

/// Central configuration across the organization.
#[derive(Debug, Clone, Default)]
pub struct Central {
    /// Finding aggregators by the account that made them.
    pub aggregators: BTreeMap<String, Aggregator>,
    /// Configuration policies by id.
    pub policies: BTreeMap<String, Policy>,
    /// Direct (APPLIED) associations.
    pub applied: BTreeMap<Target, Configuration>,
    /// Every target with a configuration, applied or inherited.
    pub states: BTreeMap<Target, State>,
    /// The switch to CENTRAL, once asked for.
    pub switch: Option<Switch>,
    pub settings: Settings,
}

/// A UUID-shaped id that is the same on every run for the same parts.
pub fn uuid(parts: &[&str]) -> String {
    let a = stable_hash(parts);
    let b = stable_hash(&[&format!("{a:x}"), "uuid"]);
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl Central {
    /// The policy a wire identifier (UUID or ARN) names.
    pub fn policy_id(&self, identifier: &str) -> Option<String> {
        (self.policies.values())
            .find(|p| p.id == identifier || p.arn == identifier)
            .map(|p| p.id.clone())
    }

    /// Whether a policy is associated with any target directly.
    pub fn is_associated(&self, policy: &str) -> bool {
        (self.applied.values()).any(|c| matches!(c, Configuration::Policy(id) if id == policy))
    }
}
