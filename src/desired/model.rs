//! The desired state as muster uses it: accounts, graphs, hubs, the organization's selection
//! and settings, member mode; and the located problems a reading reports.

use super::*;

/// Files larger than this are refused: a desired state is a list of accounts, not a dump.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Detective's limit on the invitation message.
pub const MESSAGE_MAX_CHARS: usize = 1000;

pub(super) const NAME_MAX_CHARS: usize = 128;

/// Where a declaration came from, for messages and for `plan`'s "declared at".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub pos: Pos,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.pos.line, self.pos.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredAccount {
    pub id: AccountId,
    pub email: Email,
    pub name: Option<String>,
    /// Where it was declared: its line, or for accounts taken from the organization the
    /// `organization` section.
    pub source: Source,
    /// For accounts taken from the organization: the OU path they were found under.
    pub ou: Option<String>,
}

impl DesiredAccount {
    /// Where the account came from, for `plan`: `file:line:col` or `OU path (organization at
    /// file:line:col)`.
    pub fn origin(&self) -> String {
        match &self.ou {
            None => self.source.to_string(),
            Some(path) => format!("{path} (organization at {})", self.source),
        }
    }
}

/// A behavior graph muster manages: the caller's graph in a region, or one named by ARN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GraphRef {
    Region(Region),
    Arn(GraphArn),
}

impl fmt::Display for GraphRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphRef::Region(r) => write!(f, "the graph in {r}"),
            GraphRef::Arn(a) => write!(f, "{a}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectiveSettings {
    pub graphs: Vec<GraphRef>,
    pub message: Option<String>,
    pub disable_email_notification: bool,
    pub prune: bool,
    /// The organization behavior graph's settings, checked on every graph when declared.
    pub organization: Option<AutoEnable>,
    /// The data-source packages every graph must ingest, `DETECTIVE_CORE` among them, when
    /// declared: checked on each graph and, for its `ENABLED` declared members, per member.
    pub datasource_packages: Option<BTreeSet<Package>>,
}

/// A service's organization configuration as declared: whether new organization accounts are
/// enabled automatically and (Security Hub) with which standards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoEnable {
    pub auto_enable: bool,
    /// Security Hub's AutoEnableStandards, `NONE` or `DEFAULT`, when declared.
    pub standards: Option<Standards>,
}

/// Security Hub's `AutoEnableStandards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standards {
    None,
    Default,
}

impl Standards {
    pub fn as_str(self) -> &'static str {
        match self {
            Standards::None => "NONE",
            Standards::Default => "DEFAULT",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Standards::None, Standards::Default]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Membership of a service of Security Hub's shape (`Service::HUBS`) over the same accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubSettings {
    /// The regions whose hub must have the accounts as members.
    pub regions: Vec<Region>,
    pub prune: bool,
    /// The organization's configuration in each region, when declared.
    pub organization: Option<AutoEnable>,
    /// Central configuration, for a service that has it (`Service::takes_central_configuration`).
    pub central: Option<CentralConfiguration>,
}

/// Security Hub central configuration (`securityhub.central_configuration`): from the home
/// Region, the organization runs under configuration policies associated with its root, OUs and
/// accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralConfiguration {
    /// The finding aggregator's Region, one of the section's `regions`; the other declared
    /// regions are linked to it.
    pub home_region: Region,
    /// Policies by name.
    pub policies: BTreeMap<String, PolicySpec>,
    /// Targets that name their configuration directly (APPLIED), each target once.
    pub associations: Vec<Association>,
    /// Undeclared policies and direct associations are removed (never to an empty organization).
    pub prune: bool,
    pub source: Source,
}

/// A configuration policy as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub description: Option<String>,
    /// Security Hub on or off in the accounts it governs.
    pub enabled: bool,
    /// Standards ARNs (short ids are expanded for the home Region); empty when off.
    pub standards: BTreeSet<String>,
    pub controls: Controls,
    /// Control id → parameter name → the value as the API writes it (`{"Integer":30}`), in
    /// canonical JSON text so that the model compares exactly.
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
    pub source: Source,
}

/// A direct association: a target and the configuration it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    pub target: AssociationTarget,
    pub configuration: ConfigurationRef,
    pub source: Source,
}

/// A configuration an association names: a declared policy, or self-managed Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigurationRef {
    Policy(String),
    SelfManaged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub accounts: BTreeMap<AccountId, DesiredAccount>,
    pub detective: DetectiveSettings,
    /// The services of Security Hub's shape whose section the desired state has
    /// (`securityhub:`), by service.
    pub hubs: BTreeMap<Service, HubSettings>,
    /// Accounts to take from AWS Organizations, merged with `accounts` at every pass.
    pub organization: Option<OrganizationSettings>,
    /// The account expected to be the organization's delegated administrator of every service
    /// declared (`organization.delegated_administrator`).
    pub delegated_administrator: Option<AccountId>,
    /// Present for a muster that runs in a member account: it watches the invitations the
    /// account receives instead of managing members.
    pub member: Option<MemberSettings>,
    /// SHA-256 over every file's name and content: which desired state caused what.
    pub digest: String,
    /// The git commit the files were read from, when they are in a git work tree
    /// (`revision::revision_of`).
    pub revision: Option<String>,
    pub files: Vec<PathBuf>,
}

impl DesiredState {
    /// The settings of a service of Security Hub's shape, when its section is there.
    pub fn hub(&self, service: Service) -> Option<&HubSettings> {
        self.hubs.get(&service)
    }
}

/// What to take from the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Include {
    /// Every account under the root(s), recursively.
    Root,
    /// The accounts of an OU, and with `recursive` those of the OUs under it.
    Ou { id: String, recursive: bool },
}

/// The organization's accounts a desired state takes (`organization`'s keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The root or OUs whose accounts are taken.
    pub include: Vec<Include>,
    /// Accounts left out wherever they are.
    pub exclude_accounts: BTreeSet<AccountId>,
    /// OUs left out with everything under them.
    pub exclude_ous: BTreeSet<String>,
    /// The management account, filled in at expansion from the organization's root ARN; it is
    /// left out unless `include_management` (`include_management_account`) says otherwise.
    pub management: Option<AccountId>,
    pub include_management: bool,
}

/// Which accounts come from the organization, and where the section was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSettings {
    pub selection: Selection,
    pub source: Source,
}

/// A muster in a member account: the administrators it may belong to, and what to do with
/// invitations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSettings {
    pub expected_administrators: Vec<AccountId>,
    pub regions: Vec<Region>,
    /// Watch Detective invitations.
    pub detective: bool,
    /// Watch Security Hub invitations.
    pub securityhub: bool,
    /// Accept open invitations from expected administrators.
    pub accept: bool,
    /// Decline (Detective: reject) invitations from anyone else.
    pub decline_unexpected: bool,
}

impl MemberSettings {
    pub fn expects(&self, administrator: AccountId) -> bool {
        self.expected_administrators.contains(&administrator)
    }

    /// The invitations watched: per region, Detective's then Security Hub's.
    pub fn watched(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for r in &self.regions {
            if self.detective {
                out.push(Target::Invitations(Service::Detective, r.clone()));
            }
            if self.securityhub {
                out.push(Target::Invitations(Service::SecurityHub, r.clone()));
            }
        }
        out
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}:{}: {}", self.file, p.line, p.col, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid(pub Vec<Problem>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "the desired state has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}
