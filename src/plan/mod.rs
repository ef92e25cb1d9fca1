//! The plan: what differs between the desired state and what Detective and Security Hub
//! report, and what apply will do about it. Pure: no IO, no async, cannot fail; everything it
//! needs is passed in (`Observed`). This file holds what every service shares: the drift
//! kinds, the merge join of declared accounts against listed members, the prune guards and the
//! pending-invitation check; `detective`, `securityhub` and `invitations` (the member side)
//! each plan one kind of target.
//!
//! Drift that only a member account can fix (an invitation nobody accepted, a disabled member)
//! is reported, never "fixed" by muster.

pub mod accept;
pub mod central;
pub mod configuration;
pub mod detective;
pub mod invitations;
pub mod securityhub;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::desired::{DesiredAccount, DesiredState};
use crate::domain::{AccountId, Email, GraphArn, Region, Service, Shape, Target};
use crate::observed::{
    ObservedCentral, ObservedConfiguration, ObservedGraph, ObservedHub, OrgShape,
};

pub use central::{
    AggregatorChange, AssociationChange, CentralPlan, PolicyUpdate, Reach, CENTRAL_KINDS,
};
pub use configuration::{configuration_kinds, ConfigurationPlan, SetAutoEnable};
pub use invitations::{plan_invitations, InvitationPlan};

/// Detective's limit on members in one behavior graph.
pub const GRAPH_MEMBER_LIMIT: usize = 1200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    pub max_removals_per_pass: usize,
    pub pending_invitation_after: Duration,
    pub member_limit: usize,
    /// How long a central-configuration association may stay PENDING before it is drift.
    pub association_pending_after: Duration,
}

/// The kinds of drift, as metrics and events name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftKind {
    Missing,
    Undeclared,
    VerificationFailed,
    Disabled,
    PendingTooLong,
    EmailMismatch,
    QuotaBlocked,
    /// Security Hub: a member created but never invited (accounts outside the organization).
    NotInvited,
    /// Security Hub: the administrator disassociated a declared member.
    Removed,
    /// Security Hub: the member left; only it can join again.
    Resigned,
    /// Security Hub: the member account is suspended.
    AccountSuspended,
    /// Member side: an invitation from an administrator not on the allow-list.
    UnexpectedAdministrator,
    /// Member side: an open invitation from an expected administrator, not accepted.
    InvitationOpen,
    /// Someone other than the declared account holds the organization's delegated
    /// administration, or muster's account is not the organization's administrator where its
    /// configuration is declared. Never "fixed": that takes the management account.
    DelegatedAdministratorMismatch,
    /// AutoEnable is off where it is declared on.
    AutoEnableOff,
    /// AutoEnable is on where it is declared off.
    AutoEnableOn,
    /// Security Hub's AutoEnableStandards differs from the declared value.
    AutoEnableStandardsMismatch,
    /// Security Hub runs under central configuration: AutoEnable is forced off. Reported,
    /// never fought.
    CentralConfiguration,
    /// The administrator has as many Security Hub members as the region allows.
    MemberLimitReached,
    /// A declared data-source package is not started in the graph.
    DatasourcePackageDisabled,
    /// A declared `ENABLED` member whose data for a started package does not flow.
    DatasourceNotIngesting,
    /// Central acceptance: muster cannot assume `member_role` in an invited member account,
    /// so its invitation waits for the member.
    MemberRoleDenied,
    /// Central configuration: no finding aggregator (no home Region) yet.
    AggregatorMissing,
    /// A declared region is not linked to the home Region.
    RegionNotLinked,
    /// A region is linked that the desired state does not declare (never unlinked).
    RegionLinkedUndeclared,
    /// The organization is not under central configuration.
    CentralConfigurationOff,
    /// A precondition of central configuration fails; the detail names it and its fix.
    CentralConfigurationBlocked,
    /// Central configuration's status is FAILED.
    CentralConfigurationFailed,
    /// Central configuration is DISABLED: Organizations policies manage Security Hub.
    CentralConfigurationDisabled,
    PolicyMissing,
    /// A policy differs from its declaration; the detail names the fields.
    PolicyDiffers,
    PolicyUndeclared,
    /// Two policies share a declared name: muster does not guess which is meant.
    PolicyNameAmbiguous,
    /// A declared target is not applied to its declared configuration.
    AssociationMissing,
    /// A direct association the desired state does not declare.
    AssociationUndeclared,
    AssociationFailed,
    AssociationPendingTooLong,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Missing => "missing",
            DriftKind::Undeclared => "undeclared",
            DriftKind::VerificationFailed => "verification_failed",
            DriftKind::Disabled => "disabled",
            DriftKind::PendingTooLong => "pending_too_long",
            DriftKind::EmailMismatch => "email_mismatch",
            DriftKind::QuotaBlocked => "quota_blocked",
            DriftKind::NotInvited => "not_invited",
            DriftKind::Removed => "removed",
            DriftKind::Resigned => "resigned",
            DriftKind::AccountSuspended => "account_suspended",
            DriftKind::UnexpectedAdministrator => "unexpected_administrator",
            DriftKind::InvitationOpen => "invitation_open",
            DriftKind::DelegatedAdministratorMismatch => "delegated_administrator_mismatch",
            DriftKind::AutoEnableOff => "auto_enable_off",
            DriftKind::AutoEnableOn => "auto_enable_on",
            DriftKind::AutoEnableStandardsMismatch => "auto_enable_standards_mismatch",
            DriftKind::CentralConfiguration => "central_configuration",
            DriftKind::MemberLimitReached => "member_limit_reached",
            DriftKind::DatasourcePackageDisabled => "datasource_package_disabled",
            DriftKind::DatasourceNotIngesting => "datasource_not_ingesting",
            DriftKind::MemberRoleDenied => "member_role_denied",
            DriftKind::AggregatorMissing => "aggregator_missing",
            DriftKind::RegionNotLinked => "region_not_linked",
            DriftKind::RegionLinkedUndeclared => "region_linked_undeclared",
            DriftKind::CentralConfigurationOff => "central_configuration_off",
            DriftKind::CentralConfigurationBlocked => "central_configuration_blocked",
            DriftKind::CentralConfigurationFailed => "central_configuration_failed",
            DriftKind::CentralConfigurationDisabled => "central_configuration_disabled",
            DriftKind::PolicyMissing => "policy_missing",
            DriftKind::PolicyDiffers => "policy_differs",
            DriftKind::PolicyUndeclared => "policy_undeclared",
            DriftKind::PolicyNameAmbiguous => "policy_name_ambiguous",
            DriftKind::AssociationMissing => "association_missing",
            DriftKind::AssociationUndeclared => "association_undeclared",
            DriftKind::AssociationFailed => "association_failed",
            DriftKind::AssociationPendingTooLong => "association_pending_too_long",
        }
    }
}

/// The drift kinds a service's targets report, each exported even at 0 so that "drift fell to
/// 0" is a value, not an absence.
pub fn drift_kinds(service: Service) -> &'static [DriftKind] {
    match service.shape() {
        Shape::Graphs => &[
            DriftKind::Missing,
            DriftKind::Undeclared,
            DriftKind::VerificationFailed,
            DriftKind::Disabled,
            DriftKind::PendingTooLong,
            DriftKind::EmailMismatch,
            DriftKind::QuotaBlocked,
            DriftKind::MemberRoleDenied,
        ],
        Shape::Hub => &[
            DriftKind::Missing,
            DriftKind::Undeclared,
            DriftKind::NotInvited,
            DriftKind::PendingTooLong,
            DriftKind::Removed,
            DriftKind::Resigned,
            DriftKind::AccountSuspended,
            DriftKind::MemberRoleDenied,
        ],
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub kind: DriftKind,
    /// The account it is about; `None` for a target's own setting (AutoEnable, a package).
    pub account: Option<AccountId>,
    /// What it is about when that is not an account: central configuration's root (`r-...`)
    /// or OU (`ou-...`).
    pub subject: Option<String>,
    /// For humans; never contains an email address.
    pub detail: Cow<'static, str>,
}

impl Drift {
    /// The account as events store it: its 12 digits, or empty for a target's own setting.
    pub fn account_name(&self) -> String {
        match (&self.account, &self.subject) {
            (Some(a), _) => a.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => String::new(),
        }
    }

    /// The account as plan output shows it: its 12 digits, or `-`.
    pub fn account_shown(&self) -> String {
        match self.account_name() {
            name if name.is_empty() => "-".to_owned(),
            name => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// A member the desired state does not declare, removed because `prune: true`.
    Undeclared,
    /// A VERIFICATION_FAILED member whose declared email has since changed: removed so that it
    /// can be invited again with the new address.
    EmailCorrected,
}

impl RemovalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Undeclared => "undeclared",
            RemovalReason::EmailCorrected => "email_corrected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphPlan {
    pub graph: GraphArn,
    pub members: usize,
    /// The graph's member limit, as planned against.
    pub member_limit: usize,
    /// Accounts to invite, in account order.
    pub invite: Vec<(AccountId, Email)>,
    /// Members to remove before inviting, in account order.
    pub remove: Vec<(AccountId, RemovalReason)>,
    pub drift: Vec<Drift>,
    /// Why undeclared members are not being removed although `prune` is on.
    pub prune_refused: Option<String>,
}

impl GraphPlan {
    /// The graph this plan is for.
    pub fn target(&self) -> Target {
        Target::Graph(self.graph.clone())
    }

    pub fn has_changes(&self) -> bool {
        !self.invite.is_empty() || !self.remove.is_empty()
    }
}

/// One region's Security Hub: members to create (CreateMembers), then to invite
/// (InviteMembers: accounts outside the organization), and undeclared members to remove
/// (DisassociateMembers, then DeleteMembers) when `prune` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPlan {
    pub service: Service,
    pub region: Region,
    pub members: usize,
    /// In account order. The email goes along when the desired state has one.
    pub create: Vec<(AccountId, Option<Email>)>,
    /// In account order: accounts created by this plan that need an invitation, and members
    /// left `Created`.
    pub invite: Vec<AccountId>,
    /// Undeclared members, in account order (prune).
    pub remove: Vec<AccountId>,
    pub drift: Vec<Drift>,
    /// Why undeclared members are not being removed although `prune` is on.
    pub prune_refused: Option<String>,
}

impl HubPlan {
    pub fn has_changes(&self) -> bool {
        !self.create.is_empty() || !self.invite.is_empty() || !self.remove.is_empty()
    }

    /// The hub this plan is for.
    pub fn target(&self) -> Target {
        Target::Hub(self.service, self.region.clone())
    }
}

/// What a pass changes and the drift it found, target by target: the pure result of comparing
/// the desired state with what AWS has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Each observed graph's plan.
    pub graphs: Vec<GraphPlan>,
    /// Each observed hub's plan.
    pub hubs: Vec<HubPlan>,
    /// Each observed region's organization configuration, where the desired state declares it.
    pub configurations: Vec<ConfigurationPlan>,
    /// Central configuration, where the desired state declares it.
    pub central: Vec<CentralPlan>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.graphs.iter().any(GraphPlan::has_changes)
            || self.hubs.iter().any(HubPlan::has_changes)
            || self
                .configurations
                .iter()
                .any(ConfigurationPlan::has_changes)
            || self.central.iter().any(CentralPlan::has_changes)
    }
}

/// What a plan is made against: what AWS listed, and what the pass knows besides.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub graphs: &'a [ObservedGraph],
    pub hubs: &'a [ObservedHub],
    /// Every account of the organization, when known: those join Security Hub by
    /// CreateMembers alone where the caller is the organization's administrator
    /// (`ObservedHub::organization`); others need InviteMembers. When it is not known, every
    /// account created is invited.
    pub organization: Option<&'a BTreeSet<AccountId>>,
    /// Why prune must not act this pass (the organization could not be listed), if so.
    pub prune_blocked: Option<&'a str>,
    /// The organization's delegated administrators by service, as ListDelegatedAdministrators
    /// answered, where the desired state declares the one expected.
    pub delegations: &'a BTreeMap<Service, Vec<AccountId>>,
    /// Each region's organization configuration whose reads all answered (the configuration
    /// targets observed).
    pub configurations: &'a [ObservedConfiguration],
    /// Central configuration as read from each declaring service's home Region.
    pub central: &'a [ObservedCentral],
    /// The organization's tree, when listed (central configuration needs it).
    pub shape: Option<&'a OrgShape>,
    pub now: SystemTime,
}

impl<'a> Observed<'a> {
    /// Nothing listed yet, at `now`.
    pub fn at(now: SystemTime) -> Observed<'a> {
        Observed {
            graphs: &[],
            hubs: &[],
            organization: None,
            prune_blocked: None,
            delegations: &NO_DELEGATIONS,
            configurations: &[],
            central: &[],
            shape: None,
            now,
        }
    }
}

static NO_DELEGATIONS: BTreeMap<Service, Vec<AccountId>> = BTreeMap::new();

/// What every target's plan is made with.
#[derive(Clone, Copy)]
struct Planning<'a> {
    desired: &'a DesiredState,
    observed: &'a Observed<'a>,
    settings: &'a PlanSettings,
}

/// Plans every observed graph and hub against the desired state.
pub fn plan(desired: &DesiredState, observed: &Observed<'_>, settings: &PlanSettings) -> Plan {
    Plan {
        graphs: detective::plan(desired, observed, settings),
        hubs: securityhub::plan(desired, observed, settings),
        configurations: configuration::plan(desired, observed),
        central: central::plan(desired, observed, settings),
    }
}

/// Why undeclared members must not be removed although `prune` is on, if they must not.
fn prune_refusal(
    desired: &DesiredState,
    blocked: Option<&str>,
    undeclared: usize,
    settings: &PlanSettings,
    what: &str,
) -> Option<String> {
    if let Some(why) = blocked {
        Some(why.to_owned())
    } else if desired.accounts.is_empty() {
        Some(format!(
            "the desired state declares no accounts; muster never prunes {what} to empty"
        ))
    } else if undeclared > settings.max_removals_per_pass {
        Some(format!(
            "pruning would remove {undeclared} members, more than max_removals_per_pass ({}); remove them by hand or raise the limit",
            settings.max_removals_per_pass
        ))
    } else {
        None
    }
}

/// A member as a listing shows it: an account.
trait HasAccount {
    fn account(&self) -> AccountId;
}

impl HasAccount for crate::observed::Member {
    fn account(&self) -> AccountId {
        self.account_id
    }
}

impl HasAccount for crate::observed::HubMember {
    fn account(&self) -> AccountId {
        self.account_id
    }
}

/// A target's members in account order, each once.
fn by_account<M: HasAccount>(members: &[M]) -> Vec<&M> {
    let mut sorted: Vec<&M> = members.iter().collect();
    sorted.sort_by_key(|m| m.account());
    sorted.dedup_by_key(|m| m.account());
    sorted
}

/// Walks the declared accounts and a target's members (`members` in account order) together
/// once, a merge join with no lookups: `declared` sees each declared account with its member,
/// if listed. The target's own `administrator` is neither declared nor undeclared. Returns the
/// undeclared members, in account order.
fn merge_join<'m, M: HasAccount>(
    desired: &DesiredState,
    members: &[&'m M],
    administrator: Option<AccountId>,
    mut declared: impl FnMut(AccountId, &DesiredAccount, Option<&'m M>),
) -> Vec<AccountId> {
    let id = |m: &M| m.account();
    let mut next = members
        .iter()
        .copied()
        .filter(|m| Some(id(m)) != administrator)
        .peekable();
    let mut undeclared = Vec::new();
    for (account, want) in &desired.accounts {
        while let Some(m) = next.next_if(|m| id(m) < *account) {
            undeclared.push(id(m));
        }
        if Some(*account) == administrator {
            continue;
        }
        declared(*account, want, next.next_if(|m| id(m) == *account));
    }
    undeclared.extend(next.map(&id));
    undeclared
}

/// Drift for every undeclared member, and whether prune takes them: the members to remove
/// (all or none) and why none, when prune is on but refused.
fn prune(
    cx: Planning<'_>,
    undeclared: Vec<AccountId>,
    (on, what): (bool, &str),
    drift: &mut Vec<Drift>,
) -> (Vec<AccountId>, Option<String>) {
    let Planning {
        desired,
        observed,
        settings,
    } = cx;
    drift.extend(undeclared.iter().map(|id| Drift {
        kind: DriftKind::Undeclared,
        account: Some(*id),
        subject: None,
        detail: "a member the desired state does not declare".into(),
    }));
    if !on || undeclared.is_empty() {
        return (Vec::new(), None);
    }
    match prune_refusal(
        desired,
        observed.prune_blocked,
        undeclared.len(),
        settings,
        what,
    ) {
        Some(why) => (Vec::new(), Some(why)),
        None => (undeclared, None),
    }
}

/// `pending_too_long` drift for an invitation sent at `since` and not accepted, once it has
/// waited past the setting.
fn pending(cx: Planning<'_>, account: AccountId, since: Option<SystemTime>) -> Option<Drift> {
    let waited = since
        .and_then(|t| cx.observed.now.duration_since(t).ok())
        .unwrap_or_default();
    (waited > cx.settings.pending_invitation_after).then(|| Drift {
        kind: DriftKind::PendingTooLong,
        account: Some(account),
        subject: None,
        detail: format!(
            "invited {} days ago and not accepted (only the member account can accept)",
            waited.as_secs() / 86_400
        )
        .into(),
    })
}

#[cfg(test)]
mod tests;
