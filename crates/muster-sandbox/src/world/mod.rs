//! The simulated AWS world the sandbox serves: one organization, accounts outside it, and per
//! region the Detective behavior graphs and Security Hub hubs and memberships.
//!
//! This module owns the state and the rules that change it (verification, volume limits); it
//! knows nothing about HTTP or wire shapes. The service modules translate requests into calls
//! on these types, and `fixture` builds a `World` from YAML or from a seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

pub use crate::model::{is_account_id, is_region_name, stable_hash};

mod central;

/// Detective's documented member quota for one behavior graph.
pub const DEFAULT_GRAPH_MEMBER_LIMIT: usize = 1200;
/// Daily ingest a behavior graph accepts before new members come up `VOLUME_TOO_HIGH`.
pub const DEFAULT_GRAPH_VOLUME_LIMIT_BYTES: u64 = 10 * 1024 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountState {
    Active,
    Suspended,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
        }
    }
}

/// Where an account or OU hangs in the organization tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parent {
    Root,
    Ou(String),
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    pub state: AccountState,
    /// `None` for accounts outside the organization.
    pub parent: Option<Parent>,
    pub volume_bytes_per_day: u64,
    pub joined: SystemTime,
}

#[derive(Debug, Clone)]
pub struct OrganizationalUnit {
    pub id: String,
    pub name: String,
    pub parent: Parent,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub root_id: String,
    pub management_account: String,
    /// Ordered by id, the order the list operations page through.
    pub ous: BTreeMap<String, OrganizationalUnit>,
}

impl Organization {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:organizations::{}:organization/{}",
            self.management_account, self.id
        )
    }
    pub fn root_arn(&self) -> String {
        format!(
            "arn:aws:organizations::{}:root/{}/{}",
            self.management_account, self.id, self.root_id
        )
    }
    pub fn ou_arn(&self, ou: &str) -> String {
        format!(
            "arn:aws:organizations::{}:ou/{}/{}",
            self.management_account, self.id, ou
        )
    }
    pub fn account_arn(&self, account: &str) -> String {
        format!(
            "arn:aws:organizations::{}:account/{}/{}",
            self.management_account, self.id, account
        )
    }
    /// Resolves a wire `ParentId` (root or OU id) to a parent, if it exists.
    pub fn parent(&self, id: &str) -> Option<Parent> {
        if id == self.root_id {
            Some(Parent::Root)
        } else if self.ous.contains_key(id) {
            Some(Parent::Ou(id.to_owned()))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectiveStatus {
    Invited,
    VerificationInProgress,
    VerificationFailed,
    Enabled,
    AcceptedButDisabled,
}

impl DetectiveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectiveStatus::Invited => "INVITED",
            DetectiveStatus::VerificationInProgress => "VERIFICATION_IN_PROGRESS",
            DetectiveStatus::VerificationFailed => "VERIFICATION_FAILED",
            DetectiveStatus::Enabled => "ENABLED",
            DetectiveStatus::AcceptedButDisabled => "ACCEPTED_BUT_DISABLED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            DetectiveStatus::Invited,
            DetectiveStatus::VerificationInProgress,
            DetectiveStatus::VerificationFailed,
            DetectiveStatus::Enabled,
            DetectiveStatus::AcceptedButDisabled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationType {
    Invitation,
    Organization,
}

impl InvitationType {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationType::Invitation => "INVITATION",
            InvitationType::Organization => "ORGANIZATION",
        }
    }
}

/// A verification the service has not finished yet: it settles at the first read that comes
/// after the creating call and after `due`.
#[derive(Debug, Clone, Copy)]
pub struct PendingVerification {
    pub created_by_call: u64,
    pub due: SystemTime,
}

#[derive(Debug, Clone)]
pub struct DetectiveMember {
    pub account_id: String,
    pub email: String,
    pub status: DetectiveStatus,
    pub disabled_reason: Option<&'static str>,
    pub invitation_type: InvitationType,
    pub invited_at: SystemTime,
    pub updated_at: SystemTime,
    pub pending: Option<PendingVerification>,
}

/// Detective's data-source packages, as the model's `DatasourcePackage` enum names them.
pub const DATASOURCE_PACKAGES: [&str; 3] =
    ["DETECTIVE_CORE", "EKS_AUDIT", "ASFF_SECURITYHUB_FINDING"];
/// The model's `DatasourcePackageIngestState`.
pub const INGEST_STATES: [&str; 3] = ["STARTED", "STOPPED", "DISABLED"];

#[derive(Debug, Clone)]
pub struct Graph {
    pub arn: String,
    pub administrator: String,
    pub created_at: SystemTime,
    pub members: BTreeMap<String, DetectiveMember>,
    /// The organization behavior graph's AutoEnable (DescribeOrganizationConfiguration).
    pub auto_enable: bool,
    /// Every package with its ingest state and when it last changed. `DETECTIVE_CORE` is
    /// always `STARTED`; the others start only by UpdateDatasourcePackages, and nothing in the
    /// API stops them.
    pub packages: BTreeMap<&'static str, (&'static str, SystemTime)>,
}

impl Graph {
    /// A new graph of `administrator`'s, with the world's default packages and AutoEnable.
    pub fn new(arn: String, administrator: &str, now: SystemTime, settings: &Settings) -> Self {
        let packages = DATASOURCE_PACKAGES
            .iter()
            .map(|p| {
                let state = match settings.package_states.get(p) {
                    Some(s) if *p != "DETECTIVE_CORE" => *s,
                    _ => "STARTED",
                };
                (*p, (state, now))
            })
            .collect();
        Graph {
            arn,
            administrator: administrator.to_owned(),
            created_at: now,
            members: BTreeMap::new(),
            auto_enable: settings.detective_auto_enable,
            packages,
        }
    }
}

/// The organization's Security Hub configuration in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOrganization {
    pub auto_enable: bool,
    /// `NONE` or `DEFAULT`.
    pub auto_enable_standards: &'static str,
    /// `LOCAL` or `CENTRAL`; under `CENTRAL`, AutoEnable is off and standards `NONE`.
    pub configuration_type: &'static str,
    /// Members an administrator may have in the region.
    pub member_account_limit: usize,
}

impl Default for HubOrganization {
    fn default() -> Self {
        HubOrganization {
            auto_enable: false,
            auto_enable_standards: "DEFAULT",
            configuration_type: "LOCAL",
            member_account_limit: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubMemberStatus {
    Created,
    Invited,
    Enabled,
    Removed,
    Resigned,
    Deleted,
    AccountSuspended,
}

impl HubMemberStatus {
    pub const ALL: [HubMemberStatus; 7] = [
        HubMemberStatus::Created,
        HubMemberStatus::Invited,
        HubMemberStatus::Enabled,
        HubMemberStatus::Removed,
        HubMemberStatus::Resigned,
        HubMemberStatus::Deleted,
        HubMemberStatus::AccountSuspended,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            HubMemberStatus::Created => "Created",
            HubMemberStatus::Invited => "Invited",
            HubMemberStatus::Enabled => "Enabled",
            HubMemberStatus::Removed => "Removed",
            HubMemberStatus::Resigned => "Resigned",
            HubMemberStatus::Deleted => "Deleted",
            HubMemberStatus::AccountSuspended => "AccountSuspended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct HubMember {
    pub account_id: String,
    pub email: Option<String>,
    pub status: HubMemberStatus,
    /// True when the member came in through the organization (no invitation involved).
    pub organization_managed: bool,
    pub invitation_id: Option<String>,
    pub invited_at: Option<SystemTime>,
    pub updated_at: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct Region {
    /// Behavior graphs by ARN.
    pub graphs: BTreeMap<String, Graph>,
    /// Accounts whose Security Hub is enabled here, with the time it was enabled.
    pub hubs: BTreeMap<String, SystemTime>,
    /// Security Hub members by administrator, then by member account.
    pub hub_members: BTreeMap<String, BTreeMap<String, HubMember>>,
    /// Graph ARNs with members whose verification has not settled, so reads stay cheap.
    pub pending: Vec<(String, String)>,
    /// The organization's Security Hub configuration here.
    pub hub_organization: HubOrganization,
    /// The standards central configuration enabled for each account here.
    pub hub_standards: BTreeMap<String, BTreeSet<String>>,
}

impl Region {
    pub fn graph_of(&self, administrator: &str) -> Option<&Graph> {
        self.graphs
            .values()
            .find(|g| g.administrator == administrator)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub verification_delay: Duration,
    pub graph_member_limit: usize,
    pub graph_volume_limit_bytes: u64,
    /// New graphs' package states other than `STARTED`.
    pub package_states: BTreeMap<&'static str, &'static str>,
    /// New graphs' AutoEnable.
    pub detective_auto_enable: bool,
    /// (member account, package) pairs whose data does not flow although the graph's package
    /// is started: the member's latest ingest state is `STOPPED`.
    pub not_ingesting: std::collections::BTreeSet<(String, &'static str)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            verification_delay: Duration::ZERO,
            graph_member_limit: DEFAULT_GRAPH_MEMBER_LIMIT,
            graph_volume_limit_bytes: DEFAULT_GRAPH_VOLUME_LIMIT_BYTES,
            package_states: BTreeMap::new(),
            detective_auto_enable: false,
            not_ingesting: Default::default(),
        }
    }
}

/// Everything the sandbox knows. Regions appear on first use, as they do on AWS where every
/// region is its own Detective and Security Hub.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub organization: Option<Organization>,
    /// Every account the world knows, in the organization or outside it, by id.
    pub accounts: BTreeMap<String, Account>,
    /// Access key ids that are not themselves account ids, mapped to the account whose root
    /// they act as.
    pub access_keys: HashMap<String, String>,
    /// IAM users' access keys: the key id, and the user it acts as.
    pub users: HashMap<String, User>,
    pub detective_administrator: Option<String>,
    pub securityhub_administrator: Option<String>,
    pub regions: BTreeMap<String, Region>,
    pub settings: Settings,
    /// IAM roles that STS lets callers assume, by role ARN.
    pub roles: BTreeMap<String, Role>,
    /// Temporary credentials STS has issued, by access key id.
    pub sessions: HashMap<String, Session>,
    /// The lifetime of every credential STS issues, whatever DurationSeconds asked (a
    /// sandbox-only setting, to test refreshing without waiting 15 minutes).
    pub session_seconds: Option<u64>,
    /// Security Hub central configuration.
    pub central: crate::central::Central,
}

/// An IAM role: who may assume it (account ids, meaning any principal of the account, or role
/// ARNs, meaning sessions of that role) and whether a web identity (OIDC) token may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub account: String,
    pub name: String,
    pub trusted: BTreeSet<String>,
    pub web_identity: bool,
    pub max_session_seconds: u64,
}

impl Role {
    pub fn arn(&self) -> String {
        role_arn(&self.account, &self.name)
    }

    /// The role's unique id, as IAM shows it (`AROA` and 17 characters).
    pub fn id(&self) -> String {
        let h = stable_hash(&[&self.account, &self.name]);
        format!("AROA{:017X}", u128::from(h) << 4 | u128::from(h >> 60))
    }
}

pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// An IAM user with an access key: acts as itself, not as its account's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub account: String,
    pub name: String,
}

impl User {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account, self.name)
    }

    /// The user's unique id, as IAM shows it (`AIDA` and 17 characters).
    pub fn id(&self) -> String {
        let h = stable_hash(&["user", &self.account, &self.name]);
        format!("AIDA{:017X}", u128::from(h) << 4 | u128::from(h >> 60))
    }
}

/// Temporary credentials STS issued: the account and assumed-role session they act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub identity: Identity,
    pub token: String,
    pub expires: SystemTime,
}

/// Who signed a request: the account it acts as, its ARN and user id (as GetCallerIdentity
/// answers), the role ARN when it is an assumed-role session, and whether it is the account's
/// root (a long-term key that is no IAM user's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub role: Option<String>,
    pub root: bool,
}

/// Why a request's credentials do not identify anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unidentified {
    /// No such access key.
    Unknown,
    /// Temporary credentials past their expiry.
    Expired,
    /// Temporary credentials sent without their session token, or with another one.
    WrongToken,
}

impl World {
    /// The account a request signed with `access_key` acts as.
    pub fn caller_for_key(&self, access_key: &str) -> Option<String> {
        if let Some(user) = self.users.get(access_key) {
            return Some(user.account.clone());
        }
        if let Some(account) = self.access_keys.get(access_key) {
            return Some(account.clone());
        }
        if is_account_id(access_key) {
            return Some(access_key.to_owned());
        }
        None
    }

    /// Who a request signed with `access_key` (and, for temporary credentials, `token`, the
    /// `X-Amz-Security-Token`) is at `now`. A user's key acts as the user; other long-term
    /// keys act as their account's root.
    pub fn identify(
        &self,
        access_key: &str,
        token: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, Unidentified> {
        if let Some(s) = self.sessions.get(access_key) {
            if token != Some(s.token.as_str()) {
                return Err(Unidentified::WrongToken);
            }
            if now >= s.expires {
                return Err(Unidentified::Expired);
            }
            return Ok(s.identity.clone());
        }
        if let Some(user) = self.users.get(access_key) {
            return Ok(Identity {
                account: user.account.clone(),
                arn: user.arn(),
                user_id: user.id(),
                role: None,
                root: false,
            });
        }
        let account = self
            .caller_for_key(access_key)
            .ok_or(Unidentified::Unknown)?;
        Ok(Identity {
            arn: format!("arn:aws:iam::{account}:root"),
            user_id: account.clone(),
            account,
            role: None,
            root: true,
        })
    }

    /// Declares `name` in `account`, assumable by `trusted`.
    pub fn add_role(&mut self, account: &str, name: &str, trusted: &[&str]) {
        let role = Role {
            account: account.to_owned(),
            name: name.to_owned(),
            trusted: trusted.iter().map(|t| (*t).to_owned()).collect(),
            web_identity: false,
            max_session_seconds: 3600,
        };
        self.roles.insert(role.arn(), role);
    }

    pub fn region_mut(&mut self, region: &str) -> &mut Region {
        self.regions.entry(region.to_owned()).or_default()
    }

    pub fn in_organization(&self, account: &str) -> bool {
        self.accounts
            .get(account)
            .is_some_and(|a| a.parent.is_some())
    }

    pub fn is_org_active(&self, account: &str) -> bool {
        self.accounts
            .get(account)
            .is_some_and(|a| a.parent.is_some() && a.state == AccountState::Active)
    }

    /// Accounts under a parent, in id order.
    pub fn accounts_under<'a>(&'a self, parent: &'a Parent) -> impl Iterator<Item = &'a Account> {
        self.accounts
            .values()
            .filter(move |a| a.parent.as_ref() == Some(parent))
    }

    pub fn volume_of(&self, account: &str) -> u64 {
        self.accounts
            .get(account)
            .map_or(0, |a| a.volume_bytes_per_day)
    }

    /// Settles every verification in `region` that is due: the member becomes `INVITED` when the
    /// account exists and the email matches its root email, `VERIFICATION_FAILED` otherwise.
    pub fn settle(&mut self, region: &str, now: SystemTime, call: u64) {
        let Some(r) = self.regions.get(region) else {
            return;
        };
        if r.pending.is_empty() {
            return;
        }
        let accounts = &self.accounts;
        let r = self.regions.get_mut(region).expect("region checked above");
        let mut still = Vec::new();
        for (arn, account) in std::mem::take(&mut r.pending) {
            let Some(member) = r
                .graphs
                .get_mut(&arn)
                .and_then(|g| g.members.get_mut(&account))
            else {
                continue;
            };
            let Some(p) = member.pending else { continue };
            if call <= p.created_by_call || now < p.due {
                still.push((arn, account));
                continue;
            }
            let verified = accounts.get(&account).is_some_and(|a| {
                a.state == AccountState::Active && a.email.eq_ignore_ascii_case(&member.email)
            });
            member.status = if verified {
                DetectiveStatus::Invited
            } else {
                DetectiveStatus::VerificationFailed
            };
            member.pending = None;
            member.updated_at = now;
        }
        r.pending = still;
    }

    /// The status an accepting (or organization-enabled) member gets: `ENABLED`, or
    /// `ACCEPTED_BUT_DISABLED` / `VOLUME_TOO_HIGH` when its data would push the graph's daily
    /// ingest past the limit.
    pub fn enable_status(
        &self,
        graph: &Graph,
        account: &str,
    ) -> (DetectiveStatus, Option<&'static str>) {
        self.enable_status_within(self.volume_used(graph, account), account)
    }

    /// The daily ingest of `graph`'s administrator and its `ENABLED` members but `except`.
    pub fn volume_used(&self, graph: &Graph, except: &str) -> u64 {
        graph
            .members
            .values()
            .filter(|m| m.status == DetectiveStatus::Enabled && m.account_id != except)
            .map(|m| self.volume_of(&m.account_id))
            .sum::<u64>()
            + self.volume_of(&graph.administrator)
    }

    /// As `enable_status`, for a graph whose ingest is `used` without `account` (a batch of
    /// members works it out once and adds each one enabled).
    pub fn enable_status_within(
        &self,
        used: u64,
        account: &str,
    ) -> (DetectiveStatus, Option<&'static str>) {
        if used.saturating_add(self.volume_of(account)) > self.settings.graph_volume_limit_bytes {
            (
                DetectiveStatus::AcceptedButDisabled,
                Some("VOLUME_TOO_HIGH"),
            )
        } else {
            (DetectiveStatus::Enabled, None)
        }
    }
}

/// The ARN Detective gives the graph of `administrator` in `region`.
pub fn graph_arn(region: &str, administrator: &str) -> String {
    let a = stable_hash(&["graph", region, administrator]);
    let b = stable_hash(&["graph-2", region, administrator]);
    format!("arn:aws:detective:{region}:{administrator}:graph:{a:016x}{b:016x}")
}

pub fn hub_arn(region: &str, account: &str) -> String {
    format!("arn:aws:securityhub:{region}:{account}:hub/default")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, email: &str) -> Account {
        Account {
            id: id.into(),
            name: id.into(),
            email: email.into(),
            state: AccountState::Active,
            parent: None,
            volume_bytes_per_day: 10,
            joined: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn graph_arns_match_the_model_pattern_and_are_stable() {
        let arn = graph_arn("us-east-1", "111111111111");
        assert_eq!(arn, graph_arn("us-east-1", "111111111111"));
        assert_ne!(arn, graph_arn("eu-west-1", "111111111111"));
        let re = regex::Regex::new(crate::model::GRAPH_ARN_PATTERN).unwrap();
        assert!(re.is_match(&arn), "{arn}");
    }

    #[test]
    fn verification_settles_only_after_the_creating_call() {
        let mut w = World::default();
        w.accounts.insert(
            "222222222222".into(),
            account("222222222222", "a@example.com"),
        );
        let arn = graph_arn("us-east-1", "111111111111");
        let now = SystemTime::now();
        let mut g = Graph::new(arn.clone(), "111111111111", now, &Settings::default());
        for (id, email) in [
            ("222222222222", "A@example.com"),
            ("333333333333", "b@example.com"),
        ] {
            g.members.insert(
                id.into(),
                DetectiveMember {
                    account_id: id.into(),
                    email: email.into(),
                    status: DetectiveStatus::VerificationInProgress,
                    disabled_reason: None,
                    invitation_type: InvitationType::Invitation,
                    invited_at: now,
                    updated_at: now,
                    pending: Some(PendingVerification {
                        created_by_call: 5,
                        due: now,
                    }),
                },
            );
            w.region_mut("us-east-1")
                .pending
                .push((arn.clone(), id.into()));
        }
        w.region_mut("us-east-1").graphs.insert(arn.clone(), g);
        w.settle("us-east-1", now, 5);
        let status = |w: &World, id: &str| w.regions["us-east-1"].graphs[&arn].members[id].status;
        assert_eq!(
            status(&w, "222222222222"),
            DetectiveStatus::VerificationInProgress
        );
        w.settle("us-east-1", now, 6);
        assert_eq!(status(&w, "222222222222"), DetectiveStatus::Invited);
        assert_eq!(
            status(&w, "333333333333"),
            DetectiveStatus::VerificationFailed
        );
        assert!(w.regions["us-east-1"].pending.is_empty());
    }
}
