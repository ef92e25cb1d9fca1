//! Validated domain types: an `AccountId` is 12 digits, an `Email` passes Detective's model
//! pattern, a `GraphArn` Detective's ARN pattern; a `Service` and a `Target` (what a pass
//! observes and writes to) are enums, named as strings only where they are shown. Functions that need a valid value take these,
//! not `&str`. They do not derive serde: the event schema and raw config structs own what goes
//! on disk.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

use regex::Regex;

/// The model's `GraphArn` pattern.
pub const GRAPH_ARN_PATTERN: &str =
    r"^arn:aws[-\w]{0,10}?:detective:[-\w]{2,20}?:\d{12}?:graph:[abcdef\d]{32}?$";
/// The model's `EmailAddress` pattern is
/// `^.+@(?:(?:(?!-)[A-Za-z0-9-]{1,62})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$`; the `regex` crate has
/// no look-ahead, so the label that must not start with `-` is spelled out. Same language.
pub const EMAIL_PATTERN: &str =
    r"^.+@(?:(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$";
pub const EMAIL_PATTERN_SHOWN: &str =
    r"^.+@(?:(?:(?!-)[A-Za-z0-9-]{1,62})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(EMAIL_PATTERN).unwrap());
static GRAPH_ARN: LazyLock<Regex> = LazyLock::new(|| Regex::new(GRAPH_ARN_PATTERN).unwrap());

/// True for an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for a region name such as `us-east-1` or `us-gov-west-1`.
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A 12-digit account id, held as a number (cheap to copy and compare; it is planned over by
/// the hundred thousand) and always shown with its 12 digits, leading zeros included.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(u64);

impl AccountId {
    pub fn parse(s: &str) -> Option<Self> {
        if is_account_id(s) {
            s.parse().ok().map(AccountId)
        } else {
            None
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({:012})", self.0)
    }
}

/// An account's root email. Personal data: `Display` masks it (`j***@example.com`); the full
/// address is only for AWS calls and, on request, for the operator.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(Arc<str>);

/// The most characters Detective's model allows in an email address.
pub const EMAIL_MAX_CHARS: usize = 64;

impl Email {
    pub fn parse(s: &str) -> Option<Self> {
        let n = s.chars().count();
        ((1..=EMAIL_MAX_CHARS).contains(&n) && EMAIL.is_match(s)).then(|| Email(Arc::from(s)))
    }

    /// As `parse`, sharing the address with every other `Email` made from `pool`: a listing of
    /// every Region's members names each account's address once a Region.
    pub fn parse_shared(s: &str, pool: &mut Interner) -> Option<Self> {
        if let Some(known) = pool.find(s) {
            return Some(Email(known));
        }
        let parsed = Email::parse(s)?;
        Some(Email(pool.get(&parsed.0)))
    }
    /// The full address, for AWS calls and `--show-emails`.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `j***@example.com`: the first character of the local part and the domain.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
    /// Detective compares root emails without regard to case.
    pub fn same_address(&self, other: &Email) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl Region {
    pub fn parse(s: &str) -> Option<Self> {
        is_region_name(s).then(|| Region(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GraphArn(String);

impl GraphArn {
    pub fn parse(s: &str) -> Option<Self> {
        GRAPH_ARN.is_match(s).then(|| GraphArn(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The region the graph lives in (the ARN's fourth field).
    pub fn region(&self) -> Region {
        Region(self.0.split(':').nth(3).unwrap_or_default().to_owned())
    }
    /// The administrator account (the ARN's fifth field).
    pub fn administrator(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }
}

impl fmt::Display for GraphArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service muster manages membership in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Detective,
    SecurityHub,
}

impl Service {
    /// Every service, in the order plans, reports and metrics show them.
    pub const ALL: [Service; 2] = [Service::Detective, Service::SecurityHub];

    /// The services whose membership has Security Hub's shape: per region, an administrator's
    /// list of member accounts, created, invited, disassociated and deleted by account id. Each
    /// is declared in a desired-state section named as the service (`securityhub:`), planned,
    /// applied and shown by the same code; adding one is its `Service` variant here, its
    /// adapter in `aws` and its place in `aws::Apis::hub`.
    pub const HUBS: [Service; 1] = [Service::SecurityHub];

    /// How events, logs and the `service` metric label name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Detective => "detective",
            Service::SecurityHub => "securityhub",
        }
    }
}

impl Service {
    /// Its service principal, as Organizations names it (`ListDelegatedAdministrators`).
    pub fn principal(self) -> &'static str {
        match self {
            Service::Detective => "detective.amazonaws.com",
            Service::SecurityHub => "securityhub.amazonaws.com",
        }
    }

    /// How people read its name: `Security Hub`.
    pub fn title(self) -> &'static str {
        match self {
            Service::Detective => "Detective",
            Service::SecurityHub => "Security Hub",
        }
    }

    /// How its membership is shaped: everything that follows from the shape (the desired-state
    /// section, the drift kinds, the status labels, the configuration read) is decided on
    /// `Shape`, so a new service is decided here once.
    pub fn shape(self) -> Shape {
        match self {
            Service::Detective => Shape::Graphs,
            Service::SecurityHub => Shape::Hub,
        }
    }

    /// Whether central acceptance (`member_role`) accepts its invitations in the members.
    pub fn takes_central_accepts(self) -> bool {
        match self {
            Service::Detective | Service::SecurityHub => true,
        }
    }

    /// Whether the organization can be run under central configuration policies
    /// (`central_configuration` in its desired-state section).
    pub fn takes_central_configuration(self) -> bool {
        match self {
            Service::Detective => false,
            Service::SecurityHub => true,
        }
    }

    /// How many administrators a member account may have at once (member mode accepts that
    /// many of the expected invitations).
    pub fn administrators(self) -> Administrators {
        match self {
            // A member account may be in several behavior graphs.
            Service::Detective => Administrators::Many,
            // One administrator account per member: the newest expected invitation is taken.
            Service::SecurityHub => Administrators::One,
        }
    }
}

/// The shape of a service's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Detective's: behavior graphs in each region, members invited into a graph by ARN, with
    /// data-source packages; declared under `detective:`.
    Graphs,
    /// Security Hub's (`Service::HUBS`): an administrator's list of member accounts per region,
    /// created, invited, disassociated and deleted by account id; declared under a section
    /// named as the service, with `organization: {auto_enable, auto_enable_standards}`.
    Hub,
}

/// How many administrators a member account may have at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Administrators {
    One,
    Many,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of Detective's data-source packages (the model's `DatasourcePackage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Package {
    /// Always on in every graph.
    DetectiveCore,
    EksAudit,
    AsffSecurityhubFinding,
}

impl Package {
    pub const ALL: [Package; 3] = [
        Package::DetectiveCore,
        Package::EksAudit,
        Package::AsffSecurityhubFinding,
    ];
    /// As the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Package::DetectiveCore => "DETECTIVE_CORE",
            Package::EksAudit => "EKS_AUDIT",
            Package::AsffSecurityhubFinding => "ASFF_SECURITYHUB_FINDING",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a pass observes, plans for and writes to: one behavior graph, one region of Security
/// Hub (or of a service of its shape), one region's invitations to a member account, or the
/// organization. Its `Display` is the name events, logs and `events --graph` use (the event
/// log's contract): the graph's ARN (or `the graph in <region>` before it is known),
/// `securityhub:<region>`, `<service>-invitations:<region>`, `organization`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Graph(GraphArn),
    /// A region's behavior graph before its ARN is known (ListGraphs found none, or failed).
    GraphIn(Region),
    /// A region's members of a service of Security Hub's shape (`Service::HUBS`).
    Hub(Service, Region),
    Invitations(Service, Region),
    /// A region's organization configuration of a service: the delegated administrator,
    /// AutoEnable and (Detective) the graph's data-source packages.
    Configuration(Service, Region),
    /// A service's central configuration, managed from its home Region: the finding
    /// aggregator, the switch to CENTRAL, policies and associations.
    Central(Service, Region),
    Organization,
}

impl Target {
    /// The service the target belongs to (`None` for the organization).
    pub fn service(&self) -> Option<Service> {
        match self {
            Target::Graph(_) | Target::GraphIn(_) => Some(Service::Detective),
            Target::Hub(s, _)
            | Target::Invitations(s, _)
            | Target::Configuration(s, _)
            | Target::Central(s, _) => Some(*s),
            Target::Organization => None,
        }
    }

    /// The region the target lives in (`None` for the organization).
    pub fn region(&self) -> Option<Region> {
        match self {
            Target::Graph(arn) => Some(arn.region()),
            Target::GraphIn(r)
            | Target::Hub(_, r)
            | Target::Invitations(_, r)
            | Target::Configuration(_, r)
            | Target::Central(_, r) => Some(r.clone()),
            Target::Organization => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Graph(arn) => f.write_str(arn.as_str()),
            Target::GraphIn(region) => write!(f, "the graph in {region}"),
            Target::Hub(service, region) => write!(f, "{service}:{region}"),
            Target::Invitations(service, region) => write!(f, "{service}-invitations:{region}"),
            Target::Configuration(service, region) => {
                write!(f, "{service}-configuration:{region}")
            }
            Target::Central(service, region) => write!(f, "{service}-central:{region}"),
            Target::Organization => f.write_str("organization"),
        }
    }
}

/// The configuration identifier of self-managed Security Hub under central configuration.
pub const SELF_MANAGED: &str = "SELF_MANAGED_SECURITY_HUB";

/// Which controls a policy turns on: every control but the listed ones, or the listed only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controls {
    Disabled(BTreeSet<String>),
    Enabled(BTreeSet<String>),
}

/// What an association targets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssociationTarget {
    Root,
    Ou(String),
    Account(AccountId),
}

impl AssociationTarget {
    /// How drift, events and metrics name it: `root`, the OU id or the account id.
    pub fn subject(&self) -> String {
        match self {
            AssociationTarget::Root => "root".to_owned(),
            AssociationTarget::Ou(id) => id.clone(),
            AssociationTarget::Account(id) => id.to_string(),
        }
    }
}

impl fmt::Display for AssociationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssociationTarget::Root => f.write_str("the root"),
            AssociationTarget::Ou(id) => write!(f, "OU {id}"),
            AssociationTarget::Account(id) => write!(f, "account {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_keep_their_leading_zeros() {
        let id = AccountId::parse("012345678901").unwrap();
        assert_eq!(id.to_string(), "012345678901");
        assert!(AccountId::parse("12345678901").is_none());
        assert!(AccountId::parse("+12345678901").is_none());
    }

    #[test]
    fn emails_are_masked_wherever_they_are_shown() {
        let e = Email::parse("jane.doe@example.com").unwrap();
        assert_eq!(e.to_string(), "j***@example.com");
        assert_eq!(format!("{e:?}"), "Email(j***@example.com)");
        assert_eq!(e.expose(), "jane.doe@example.com");
    }

    #[test]
    fn an_address_listed_again_is_shared_and_checked_once() {
        let mut pool = Interner::default();
        let a = Email::parse_shared("a@example.com", &mut pool).unwrap();
        let b = Email::parse_shared("a@example.com", &mut pool).unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(Email::parse_shared("not an address", &mut pool).is_none());
        assert_eq!(pool.len(), 1, "what is refused is not kept");
        drop((a, b));
        pool.forget_unused();
        assert!(pool.is_empty());
    }

    #[test]
    fn emails_follow_the_detective_model() {
        assert!(Email::parse("a@example.com").is_some());
        assert!(Email::parse("a@-bad.example.com").is_none());
        assert!(Email::parse("no-at-sign").is_none());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(60))).is_none());
    }

    #[test]
    fn graph_arns_name_their_region_and_administrator() {
        let arn = GraphArn::parse(
            "arn:aws:detective:eu-west-1:111111111111:graph:0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(arn.region().as_str(), "eu-west-1");
        assert_eq!(arn.administrator(), "111111111111");
        assert!(GraphArn::parse("arn:aws:detective:eu-west-1:1:graph:x").is_none());
    }

    #[test]
    fn targets_are_named_as_the_event_log_names_them() {
        let arn = GraphArn::parse(
            "arn:aws:detective:eu-west-1:111111111111:graph:0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        let region = Region::parse("us-east-1").unwrap();
        let names: Vec<String> = [
            Target::Graph(arn.clone()),
            Target::Hub(Service::SecurityHub, region.clone()),
            Target::Invitations(Service::Detective, region.clone()),
            Target::Invitations(Service::SecurityHub, region.clone()),
            Target::Configuration(Service::Detective, region),
            Target::Organization,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            names,
            [
                arn.as_str(),
                "securityhub:us-east-1",
                "detective-invitations:us-east-1",
                "securityhub-invitations:us-east-1",
                "detective-configuration:us-east-1",
                "organization"
            ]
        );
    }
}

/// A string stored once and shared by every value that names it.
pub type Sym = Arc<str>;

/// Distinct strings, each stored once: values that repeat across many records (targets,
/// account ids, statuses, addresses) point at one copy.
#[derive(Debug, Clone, Default)]
pub struct Interner(std::collections::HashSet<Sym>);

impl Interner {
    /// The shared copy of `s`, made on first use.
    pub fn get(&mut self, s: &str) -> Sym {
        if let Some(found) = self.0.get(s) {
            return found.clone();
        }
        let new: Sym = Arc::from(s);
        self.0.insert(new.clone());
        new
    }

    /// The shared copy of `s` if there is one (a lookup that does not grow the set).
    pub fn find(&self, s: &str) -> Option<Sym> {
        self.0.get(s).cloned()
    }

    /// Drops the strings nothing else holds any more.
    pub fn forget_unused(&mut self) {
        self.0.retain(|s| Arc::strong_count(s) > 1);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
