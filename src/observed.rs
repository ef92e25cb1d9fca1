//! What AWS reports, in domain types: Detective behavior graphs and their members, Security Hub
//! members, the organization's units and accounts, a member account's invitations. Built only
//! by `aws` from validated responses; read by `plan`, `org` and `reconcile`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use crate::domain::{
    AccountId, AssociationTarget, Controls, Email, GraphArn, Package, Region, Service,
};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberStatus {
    Invited,
    VerificationInProgress,
    VerificationFailed,
    Enabled,
    AcceptedButDisabled,
    /// A status this muster does not know; reported, never acted on.
    Other(String),
}

impl MemberStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "INVITED" => MemberStatus::Invited,
            "VERIFICATION_IN_PROGRESS" => MemberStatus::VerificationInProgress,
            "VERIFICATION_FAILED" => MemberStatus::VerificationFailed,
            "ENABLED" => MemberStatus::Enabled,
            "ACCEPTED_BUT_DISABLED" => MemberStatus::AcceptedButDisabled,
            other => MemberStatus::Other(other.to_owned()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            MemberStatus::Invited => "INVITED",
            MemberStatus::VerificationInProgress => "VERIFICATION_IN_PROGRESS",
            MemberStatus::VerificationFailed => "VERIFICATION_FAILED",
            MemberStatus::Enabled => "ENABLED",
            MemberStatus::AcceptedButDisabled => "ACCEPTED_BUT_DISABLED",
            MemberStatus::Other(s) => s,
        }
    }
}

/// The label among `labels` that names `status` (compared without case and underscores), or
/// the last one (`other`).
fn label_of(status: &str, labels: &[&'static str]) -> &'static str {
    // Compared a byte at a time, without allocating: it runs for every member of every pass.
    let names = |label: &&&'static str| {
        let status = status
            .bytes()
            .filter(|b| *b != b'_')
            .map(|b| b.to_ascii_lowercase());
        let label = label
            .bytes()
            .filter(|b| *b != b'_')
            .map(|b| b.to_ascii_lowercase());
        label.eq(status)
    };
    labels
        .iter()
        .find(names)
        .or(labels.last())
        .copied()
        .unwrap_or("other")
}

impl MemberStatus {
    /// Every `status` label value of Detective's members, `other` last.
    pub const LABELS: [&'static str; 6] = [
        "invited",
        "verification_in_progress",
        "verification_failed",
        "enabled",
        "accepted_but_disabled",
        "other",
    ];

    /// The `status` label value: the status in snake case; anything unknown is `other`.
    pub fn label(&self) -> &'static str {
        label_of(self.as_str(), &Self::LABELS)
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of a behavior graph as Detective lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub account_id: AccountId,
    /// `None` when Detective sent none, or one that is not an address.
    pub email: Option<Email>,
    pub status: MemberStatus,
    /// DisabledReason, as sent (`VOLUME_TOO_HIGH`, `VOLUME_UNKNOWN`), when the member is
    /// `Disabled`.
    pub disabled_reason: Option<String>,
    /// InvitationType `ORGANIZATION`: an organization account, enabled without an invitation.
    pub organization: bool,
    /// InvitedTime: when it was invited (organization accounts: when they were enabled).
    pub invited_at: Option<SystemTime>,
    /// UpdatedTime: when its status last changed.
    pub updated_at: Option<SystemTime>,
    /// PercentOfGraphUtilization: the member's share of the graph's data volume limit (0-100).
    pub percent_of_graph_utilization: Option<f64>,
}

/// A Security Hub member's `MemberStatus` as ListMembers reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HubMemberStatus {
    /// Associated, invitation not yet sent (accounts outside the organization).
    Created,
    /// Invited, not accepted yet.
    Invited,
    /// A member: its findings reach the administrator.
    Enabled,
    /// The administrator disassociated it.
    Removed,
    /// The member left.
    Resigned,
    /// Deleted by the administrator; listed until it is created again.
    Deleted,
    /// The account is suspended.
    AccountSuspended,
    /// A status this muster does not know; reported, never acted on.
    Other(Box<str>),
}

impl HubMemberStatus {
    /// Security Hub documents these in mixed case (`Created`, `AccountSuspended`); compared
    /// without regard to case (and without a copy: a listing parses one a member).
    pub fn parse(s: &str) -> Self {
        const KNOWN: [(&str, HubMemberStatus); 8] = [
            ("created", HubMemberStatus::Created),
            ("invited", HubMemberStatus::Invited),
            ("enabled", HubMemberStatus::Enabled),
            ("associated", HubMemberStatus::Enabled),
            ("removed", HubMemberStatus::Removed),
            ("resigned", HubMemberStatus::Resigned),
            ("deleted", HubMemberStatus::Deleted),
            ("accountsuspended", HubMemberStatus::AccountSuspended),
        ];
        (KNOWN.iter())
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or_else(|| HubMemberStatus::Other(s.into()), |(_, st)| st.clone())
    }

    pub fn as_str(&self) -> &str {
        match self {
            HubMemberStatus::Created => "Created",
            HubMemberStatus::Invited => "Invited",
            HubMemberStatus::Enabled => "Enabled",
            HubMemberStatus::Removed => "Removed",
            HubMemberStatus::Resigned => "Resigned",
            HubMemberStatus::Deleted => "Deleted",
            HubMemberStatus::AccountSuspended => "AccountSuspended",
            HubMemberStatus::Other(s) => s,
        }
    }
}

impl HubMemberStatus {
    /// Every `status` label value of Security Hub's members, `other` last.
    pub const LABELS: [&'static str; 8] = [
        "created",
        "invited",
        "enabled",
        "removed",
        "resigned",
        "deleted",
        "account_suspended",
        "other",
    ];

    /// The `status` label value: the status in snake case; anything unknown is `other`.
    pub fn label(&self) -> &'static str {
        label_of(self.as_str(), &Self::LABELS)
    }
}

/// A member of the caller's Security Hub administration in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct HubMember {
    /// The member account.
    pub account_id: AccountId,
    /// `None` when Security Hub sent none (organization members), or one that is not an
    /// address.
    pub email: Option<Email>,
    pub status: HubMemberStatus,
    /// Its AdministratorId: the caller, once it is associated.
    pub administrator: Option<AccountId>,
    /// When its status last changed (an invitation's age, while it is `Invited`).
    pub updated_at: Option<SystemTime>,
}

/// One graph and all its members (every page).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedGraph {
    /// As ListGraphs found it, or as the desired state names it.
    pub arn: GraphArn,
    /// Every member ListMembers listed, every page, in its order.
    pub members: Vec<Member>,
}

/// A data-source package's ingest state (the model's `DatasourcePackageIngestState`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IngestState {
    Started,
    Stopped,
    Disabled,
    /// A state this muster does not know: not `STARTED`, reported.
    Other(String),
}

impl IngestState {
    pub fn parse(s: &str) -> Self {
        match s {
            "STARTED" => IngestState::Started,
            "STOPPED" => IngestState::Stopped,
            "DISABLED" => IngestState::Disabled,
            other => IngestState::Other(other.to_owned()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            IngestState::Started => "STARTED",
            IngestState::Stopped => "STOPPED",
            IngestState::Disabled => "DISABLED",
            IngestState::Other(s) => s,
        }
    }
}

/// What an organization-configuration read (Detective's or Security Hub's
/// DescribeOrganizationConfiguration) answered: the configuration, or that the caller is not
/// the organization's administrator there (with the service's message).
#[derive(Debug, Clone, PartialEq)]
pub enum Administration<T> {
    Administrator(T),
    NotAdministrator(String),
}

impl<T> Administration<T> {
    pub fn is_administrator(&self) -> bool {
        matches!(self, Administration::Administrator(_))
    }

    /// The configuration read, made into another form; a refusal stays one.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Administration<U> {
        match self {
            Administration::Administrator(t) => Administration::Administrator(f(t)),
            Administration::NotAdministrator(why) => Administration::NotAdministrator(why),
        }
    }
}

/// A service's organization configuration in a region, as its administrator reads it
/// (DescribeOrganizationConfiguration; Detective's answers AutoEnable only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgConfiguration {
    pub auto_enable: bool,
    /// Security Hub's AutoEnableStandards as sent (`NONE`, `DEFAULT`), if sent.
    pub standards: Option<String>,
    /// Security Hub: the administrator has as many members as the region allows.
    pub member_limit_reached: bool,
    /// Security Hub's OrganizationConfiguration: under `CENTRAL`, AutoEnable is forced off.
    pub configuration: CentralStatus,
}

/// One region's organization configuration of a service, read only as far as the desired
/// state declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedConfiguration {
    pub service: Service,
    pub region: Region,
    /// Detective: the graph whose configuration it is.
    pub graph: Option<GraphArn>,
    /// DescribeOrganizationConfiguration, when the service's `organization` is declared.
    pub organization: Option<Administration<OrgConfiguration>>,
    /// Detective's ListDatasourcePackages, when `datasource_packages` is declared.
    pub packages: Option<BTreeMap<Package, IngestState>>,
    /// BatchGetGraphMemberDatasources for the declared `ENABLED` members: each package's
    /// latest ingest state (the state whose change came last).
    pub members: BTreeMap<AccountId, BTreeMap<Package, IngestState>>,
}

impl ObservedConfiguration {
    /// The target it is observed as.
    pub fn target(&self) -> crate::domain::Target {
        crate::domain::Target::Configuration(self.service, self.region.clone())
    }
}

/// One region's Security Hub as its administrator sees it: every member, associated or not
/// (`Deleted` ones too: Security Hub lists them until they are created again).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedHub {
    /// Security Hub, or another service of its shape (`Service::HUBS`).
    pub service: Service,
    pub region: Region,
    pub members: Vec<HubMember>,
    /// DescribeOrganizationConfiguration, when asked (an organization section, or organization
    /// accounts to create): whether the caller is the organization's administrator here, and
    /// the configuration if so.
    pub organization: Option<Administration<OrgConfiguration>>,
}

/// A root or an organizational unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    /// `r-...` or `ou-...`.
    pub id: String,
    pub name: String,
    /// Roots' ARNs name the management account: `arn:aws:organizations::<management>:root/...`.
    pub arn: Option<String>,
}

/// An account's status in Organizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgAccountStatus {
    Active,
    Suspended,
    PendingClosure,
    Other(String),
}

/// An account as Organizations lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgAccount {
    pub id: AccountId,
    pub name: String,
    pub email: Option<Email>,
    pub status: OrgAccountStatus,
}

/// Whether an invitation to a member account is still open or was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationStatus {
    Open,
    Accepted,
    /// Reported, never acted on.
    Other(String),
}

impl InvitationStatus {
    pub fn as_str(&self) -> &str {
        match self {
            InvitationStatus::Open => "open",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Other(s) => s,
        }
    }
}

/// An invitation a member account received, or the membership it became.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub administrator: AccountId,
    /// Detective: the behavior graph that invites.
    pub graph: Option<GraphArn>,
    /// Security Hub: the invitation's id, needed to accept it.
    pub id: Option<String>,
    pub status: InvitationStatus,
    pub invited_at: Option<SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_label_and_unknown_ones_are_other() {
        let detective = [
            MemberStatus::Invited,
            MemberStatus::VerificationInProgress,
            MemberStatus::VerificationFailed,
            MemberStatus::Enabled,
            MemberStatus::AcceptedButDisabled,
            MemberStatus::Other("PAUSED".into()),
        ];
        let labels: Vec<&str> = detective.iter().map(MemberStatus::label).collect();
        assert_eq!(labels, MemberStatus::LABELS);
        // Security Hub's statuses read back from their labels (it compares without case).
        for label in HubMemberStatus::LABELS {
            let status = HubMemberStatus::parse(&label.replace('_', ""));
            assert_eq!(status.label(), label);
            assert_eq!(
                matches!(status, HubMemberStatus::Other(_)),
                label == "other"
            );
        }
        assert_eq!(
            HubMemberStatus::parse("ACCOUNTSUSPENDED").label(),
            "account_suspended"
        );
    }
}

/// Security Hub central configuration as the delegated administrator reads it from the home
/// Region: the organization's configuration type and status, the caller's finding aggregator,
/// and, once the organization is `CENTRAL`, its policies and every target's association.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedCentral {
    pub service: Service,
    /// The Region it was read in: the declared home Region.
    pub region: Region,
    /// DescribeOrganizationConfiguration, or that muster's account is not the administrator.
    pub organization: Administration<CentralStatus>,
    /// ListFindingAggregators and GetFindingAggregator: the caller's aggregator, if any.
    pub aggregator: Option<FindingAggregator>,
    /// ListConfigurationPolicies and GetConfigurationPolicy (empty until CENTRAL).
    pub policies: Vec<ObservedPolicy>,
    /// ListConfigurationPolicyAssociations: APPLIED and INHERITED (empty until CENTRAL).
    pub associations: Vec<ObservedAssociation>,
}

/// The organization's configuration type (`central`: ConfigurationType `CENTRAL`) and, for
/// central configuration, its Status and StatusMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CentralStatus {
    pub central: bool,
    /// `PENDING`, `ENABLED`, `FAILED` or `DISABLED` (newer models), as sent.
    pub status: Option<String>,
    pub message: Option<String>,
}

/// A finding aggregator: its home Region and the Regions linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingAggregator {
    pub arn: String,
    pub home: Region,
    /// RegionLinkingMode as sent.
    pub linking: String,
    /// The Regions the linking mode names.
    pub regions: Vec<Region>,
}

impl FindingAggregator {
    /// Whether `region` is linked to the home Region (or is it), as far as the linking mode
    /// says without knowing every Region of the partition.
    pub fn links(&self, region: &Region) -> bool {
        let named = self.regions.contains(region);
        *region == self.home
            || match self.linking.as_str() {
                "ALL_REGIONS" => true,
                "ALL_REGIONS_EXCEPT_SPECIFIED" => !named,
                "SPECIFIED_REGIONS" => named,
                _ => false,
            }
    }
}

/// A configuration policy as GetConfigurationPolicy answers, in the desired state's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedPolicy {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub standards: std::collections::BTreeSet<String>,
    pub controls: Controls,
    /// Control id → parameter name → the value as the API wrote it, canonical JSON text.
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// One target's configuration: a policy id or `SELF_MANAGED_SECURITY_HUB`, applied to it or
/// inherited, and how carrying it out went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAssociation {
    pub target: AssociationTarget,
    pub configuration: String,
    pub applied: bool,
    /// `PENDING`, `SUCCESS`, `FAILED` or `DISABLED`, as sent.
    pub status: String,
    pub message: Option<String>,
    pub updated: Option<SystemTime>,
}

/// The organization's tree as central configuration needs it: the root and every OU's and
/// account's parent (a root or OU id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgShape {
    pub root: String,
    pub parents: BTreeMap<String, String>,
    pub accounts: std::collections::BTreeSet<AccountId>,
}

impl OrgShape {
    /// `target` and every OU above it up to the root, nearest first.
    pub fn chain(&self, target: &AssociationTarget) -> Vec<AssociationTarget> {
        let mut out = vec![target.clone()];
        let mut at = match target {
            AssociationTarget::Root => return out,
            AssociationTarget::Ou(id) => id.clone(),
            AssociationTarget::Account(id) => id.to_string(),
        };
        // At most as many steps as the tree has nodes: a malformed tree cannot loop.
        for _ in 0..=self.parents.len() {
            let Some(parent) = self.parents.get(&at) else {
                break;
            };
            if *parent == self.root {
                out.push(AssociationTarget::Root);
                break;
            }
            out.push(AssociationTarget::Ou(parent.clone()));
            at = parent.clone();
        }
        out
    }

    /// Whether `target` is `above` or under it.
    pub fn is_under(&self, target: &AssociationTarget, above: &AssociationTarget) -> bool {
        self.chain(target).contains(above)
    }
}
