//! The desired state: which accounts must be members of which Detective behavior graphs and
//! Security Hubs (listed by hand or taken from the organization), or, for a muster in a member
//! account, which administrators' invitations it accepts; read from a YAML file or a directory
//! of `*.yaml` files kept in git.
//!
//! Reading never stops at the first problem: every problem in every file is collected and
//! reported at once as `file:line:col: message`, naming the field and what would fix it. A file
//! that is empty, unreadable or too large is a problem, never "no accounts": an empty desired
//! state would otherwise read as "remove every member".

pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::{
    AccountId, Email, GraphArn, Package, Region, Service, Shape, Target, EMAIL_MAX_CHARS,
};
use yaml::{Kind, Node, Pos};

/// Files larger than this are refused: a desired state is a list of accounts, not a dump.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Detective's limit on the invitation message.
pub const MESSAGE_MAX_CHARS: usize = 1000;
const NAME_MAX_CHARS: usize = 128;

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub include: Vec<Include>,
    pub exclude_accounts: BTreeSet<AccountId>,
    /// OUs left out with everything under them.
    pub exclude_ous: BTreeSet<String>,
    /// The management account is left out unless this names it.
    pub management: Option<AccountId>,
    pub include_management: bool,
}

/// Which accounts come from the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSettings {
    /// The management account is filled in at expansion, from the organization's root ARN.
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

/// Reads and checks the desired state at `path`: a file, or a directory whose `*.yaml` and
/// `*.yml` files are merged.
pub fn load(path: &Path) -> Result<DesiredState, Invalid> {
    let shown = path.display().to_string();
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Anything but a directory is read, so that a FIFO or device named *.yaml is
                // reported rather than skipped.
                .filter(|p| {
                    !p.is_dir()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect(),
            Err(e) => {
                return Err(Invalid(vec![problem(
                    &shown,
                    None,
                    format!("cannot read the directory: {e}"),
                )]))
            }
        };
        files.sort();
        if files.is_empty() {
            return Err(Invalid(vec![problem(
                &shown,
                None,
                "the directory has no *.yaml files; an empty desired state is never assumed".into(),
            )]));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        match read(f) {
            Ok(text) => texts.push((name, text)),
            Err(message) => problems.push(problem(&name, None, message)),
        }
    }
    let parsed = parse_files(&texts);
    match parsed {
        Ok(mut state) if problems.is_empty() => {
            state.files = files;
            state.revision = crate::revision::revision_of(path);
            Ok(state)
        }
        Ok(_) => Err(Invalid(problems)),
        Err(Invalid(more)) => {
            problems.extend(more);
            Err(Invalid(problems))
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = crate::input::read_regular(path, MAX_FILE_BYTES).map_err(|e| match e {
        crate::input::ReadError::TooLarge { .. } => {
            format!("{e} (split the accounts over several files in a directory)")
        }
        other => other.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn problem(file: &str, pos: Option<Pos>, message: String) -> Problem {
    Problem {
        file: file.to_owned(),
        pos,
        message,
    }
}

/// Checks file texts (name, content) as one desired state.
pub fn parse_files(files: &[(String, String)]) -> Result<DesiredState, Invalid> {
    let mut c = Checker::default();
    let mut hasher = Sha256::new();
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, text) in sorted {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
        c.file = name.clone();
        c.check_file(text);
    }
    c.check_whole();
    if c.problems.is_empty() {
        Ok(DesiredState {
            accounts: c.accounts,
            detective: c.detective.map(|(d, _)| d).unwrap_or_default(),
            hubs: c.hubs.into_iter().map(|(k, (s, _))| (k, s)).collect(),
            organization: c.organization,
            delegated_administrator: c.delegated_administrator,
            member: c.member.map(|(m, _)| m),
            digest: format!("{:x}", hasher.finalize()),
            revision: None,
            files: Vec::new(),
        })
    } else {
        // Files were read in name order; within a file, report top to bottom.
        c.problems
            .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        Err(Invalid(c.problems))
    }
}

/// The desired state's keys: a section per service of `Service::HUBS` after `detective`.
fn top_keys() -> Vec<&'static str> {
    let hubs = Service::HUBS.map(Service::as_str);
    let (before, after) = (
        ["version", "accounts", "detective"],
        ["organization", "member"],
    );
    before.into_iter().chain(hubs).chain(after).collect()
}
const ORGANIZATION_KEYS: &[&str] = &[
    "include",
    "exclude",
    "include_management_account",
    "delegated_administrator",
];
const INCLUDE_KEYS: &[&str] = &["ou", "root", "recursive"];
const EXCLUDE_KEYS: &[&str] = &["accounts", "ous"];
const MEMBER_KEYS: &[&str] = &[
    "expected_administrators",
    "regions",
    "detective",
    "securityhub",
    "accept",
    "decline_unexpected",
];
const HUB_KEYS: &[&str] = &["regions", "prune", "organization"];
const DETECTIVE_ORGANIZATION_KEYS: &[&str] = &["auto_enable"];
const HUB_ORGANIZATION_KEYS: &[&str] = &["auto_enable", "auto_enable_standards"];
const ACCOUNT_KEYS: &[&str] = &["id", "email", "name"];
const DETECTIVE_KEYS: &[&str] = &[
    "graphs",
    "message",
    "disable_email_notification",
    "prune",
    "organization",
    "datasource_packages",
];
const GRAPH_KEYS: &[&str] = &["region", "arn"];

#[derive(Default)]
struct Checker {
    file: String,
    problems: Vec<Problem>,
    accounts: BTreeMap<AccountId, DesiredAccount>,
    detective: Option<(DetectiveSettings, Source)>,
    hubs: BTreeMap<Service, (HubSettings, Source)>,
    organization: Option<OrganizationSettings>,
    delegated_administrator: Option<AccountId>,
    /// Where the `organization` section was first given.
    organization_at: Option<Source>,
    member: Option<(MemberSettings, Source)>,
    /// Where `accounts` was first given (member mode takes none).
    accounts_at: Option<Source>,
    /// Excluded account ids with where they were excluded, checked against `accounts` once
    /// every file is read.
    excluded_at: Vec<(AccountId, Pos, String)>,
}

impl Checker {
    fn at(&mut self, pos: Pos, message: String) {
        self.problems.push(problem(&self.file, Some(pos), message));
    }

    fn source(&self, pos: Pos) -> Source {
        Source {
            file: self.file.clone(),
            pos,
        }
    }

    /// The entries of a mapping, with unknown keys reported (and the nearest valid key named).
    /// Reports `why` at `node` unless a key it needs is `given`.
    fn require(&mut self, node: &Node, given: bool, why: &str) {
        if !given {
            self.at(node.pos, why.to_owned());
        }
    }

    /// A node's items, or `None` (reported, naming `what`) when it is not a list.
    fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        self.list_of(node, what, "a list")
    }

    /// `list`, saying what the list must hold (`a list of account ids`).
    fn list_of<'n>(&mut self, node: &'n Node, what: &str, of: &str) -> Option<&'n [Node]> {
        if let Kind::Seq(items) = &node.kind {
            return Some(items);
        }
        let why = format!("{what} must be {of}, not {}", node.describe());
        self.at(node.pos, why);
        None
    }

    /// A section's entries, or `None` (reported) when it is not a map or another file set it
    /// first (`first`: where).
    fn section<'n>(
        &mut self,
        node: &'n Node,
        name: &str,
        keys: &[&str],
        first: Option<String>,
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        let fields = self.entries(node, &format!("`{name}`"), keys);
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        if let Some(first) = first {
            let why = format!("`{name}` is already set at {first}; keep the settings in one file");
            self.at(node.pos, why);
            return None;
        }
        Some(fields)
    }

    fn entries<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        let Kind::Map(entries) = &node.kind else {
            self.at(
                node.pos,
                format!("{what} must be a mapping, not {}", node.describe()),
            );
            return Vec::new();
        };
        let mut out: Vec<(&str, &Node)> = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.scalar() else {
                self.at(k.pos, format!("{what} has a key that is not a plain name"));
                continue;
            };
            if !allowed.contains(&key) {
                let hint = match nearest(key, allowed) {
                    Some(n) => format!(" (did you mean `{n}`?)"),
                    None => format!(" (expected one of: {})", allowed.join(", ")),
                };
                self.at(k.pos, format!("unknown key `{key}` in {what}{hint}"));
                continue;
            }
            if out.iter().any(|(seen, _)| *seen == key) {
                self.at(k.pos, format!("`{key}` appears twice in {what}"));
                continue;
            }
            out.push((key, v));
        }
        out
    }

    fn check_file(&mut self, text: &str) {
        if text.trim().is_empty() {
            self.problems.push(problem(
                &self.file,
                None,
                "the file is empty; an empty desired state is never read as \"no accounts\" (declare accounts or remove the file)".into(),
            ));
            return;
        }
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => {
                self.problems.push(problem(
                    &self.file,
                    None,
                    "the file holds no YAML document".into(),
                ));
                return;
            }
            Err(e) => {
                self.at(e.pos, format!("invalid YAML: {}", e.message));
                return;
            }
        };
        let entries = self.entries(&root, "the desired state", &top_keys());
        match entries.iter().find(|(k, _)| *k == "version") {
            None => self.at(
                root.pos,
                "`version` is missing (write `version: 1` at the top)".into(),
            ),
            Some((_, v)) if v.scalar() == Some("1") && !v.is_quoted() => {}
            Some((_, v)) => self.at(
                v.pos,
                format!(
                    "version {} is not supported; this muster reads version 1",
                    v.scalar().unwrap_or("(not a number)")
                ),
            ),
        }
        for (key, value) in entries {
            match key {
                "accounts" => self.check_accounts(value),
                "detective" => self.check_detective(value),
                "organization" => self.check_organization(value),
                "member" => self.check_member(value),
                _ => {
                    if let Some(hub) = Service::HUBS.into_iter().find(|s| s.as_str() == key) {
                        self.check_hub(hub, value);
                    }
                }
            }
        }
    }

    fn check_accounts(&mut self, node: &Node) {
        if self.accounts_at.is_none() {
            self.accounts_at = Some(self.source(node.pos));
        }
        if node.is_null() {
            return;
        }
        let Some(items) = self.list(node, "`accounts`") else {
            return;
        };
        for item in items {
            let fields = self.entries(item, "an account", ACCOUNT_KEYS);
            if !matches!(item.kind, Kind::Map(_)) {
                continue;
            }
            let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            let id = match get("id") {
                None => {
                    self.at(
                        item.pos,
                        "an account needs `id` (its 12-digit account id, quoted)".into(),
                    );
                    None
                }
                Some(v) => self.account_id(v),
            };
            let email = match get("email") {
                None => {
                    self.at(
                        item.pos,
                        "an account needs `email` (its root email address: Detective verifies it)"
                            .into(),
                    );
                    None
                }
                Some(v) => self.email(v),
            };
            let name = get("name").and_then(|v| match v.scalar() {
                Some(n) if n.chars().count() <= NAME_MAX_CHARS => Some(n.to_owned()),
                Some(_) => {
                    self.at(
                        v.pos,
                        format!("`name` is longer than {NAME_MAX_CHARS} characters"),
                    );
                    None
                }
                None => {
                    self.at(v.pos, format!("`name` must be text, not {}", v.describe()));
                    None
                }
            });
            let (Some(id), Some(email)) = (id, email) else {
                continue;
            };
            let pos = get("id").map_or(item.pos, |v| v.pos);
            if let Some(first) = self.accounts.get(&id) {
                let first = first.source.to_string();
                self.at(
                    pos,
                    format!("account {id} is declared twice (first at {first}); keep one"),
                );
                continue;
            }
            let source = self.source(pos);
            self.accounts.insert(
                id,
                DesiredAccount {
                    id,
                    email,
                    name,
                    source,
                    ou: None,
                },
            );
        }
    }

    fn account_id(&mut self, v: &Node) -> Option<AccountId> {
        let Some(raw) = v.scalar() else {
            self.at(
                v.pos,
                format!(
                    "account id must be a quoted string of 12 digits, not {}",
                    v.describe()
                ),
            );
            return None;
        };
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        if !v.is_quoted() && digits {
            let hint = if raw.len() < 12 {
                format!(
                    "; as a number it lost its leading zeros: write id: \"{raw:0>12}\" if that is the account"
                )
            } else {
                format!("; write id: \"{raw}\"")
            };
            self.at(
                v.pos,
                format!(
                    "account id {raw} must be quoted so YAML keeps it a string of 12 digits{hint}"
                ),
            );
            return None;
        }
        match AccountId::parse(raw) {
            Some(id) => Some(id),
            None => {
                self.at(
                    v.pos,
                    format!("account id \"{raw}\" must be 12 digits (quote ids that start with 0)"),
                );
                None
            }
        }
    }

    fn email(&mut self, v: &Node) -> Option<Email> {
        let Some(raw) = v.scalar() else {
            self.at(
                v.pos,
                format!("`email` must be an address, not {}", v.describe()),
            );
            return None;
        };
        if let Some(e) = Email::parse(raw) {
            return Some(e);
        }
        let n = raw.chars().count();
        let why = if n == 0 {
            "is empty".to_owned()
        } else if n > EMAIL_MAX_CHARS {
            format!("has {n} characters; Detective accepts at most {EMAIL_MAX_CHARS}")
        } else {
            "is not an address Detective accepts (like name@example.com)".to_owned()
        };
        self.at(v.pos, format!("`email` {why}"));
        None
    }

    fn check_detective(&mut self, node: &Node) {
        let first = self.detective.as_ref().map(|(_, s)| s.to_string());
        let Some(fields) = self.section(node, "detective", DETECTIVE_KEYS, first) else {
            return;
        };
        let mut d = DetectiveSettings::default();
        for (key, v) in fields {
            match key {
                "graphs" => d.graphs = self.graphs(v),
                "message" => match v.scalar() {
                    Some(m) if (1..=MESSAGE_MAX_CHARS).contains(&m.chars().count()) => {
                        d.message = Some(m.to_owned())
                    }
                    Some(m) => self.at(
                        v.pos,
                        format!(
                        "`message` has {} characters; Detective accepts 1 to {MESSAGE_MAX_CHARS}",
                        m.chars().count()
                    ),
                    ),
                    None => self.at(
                        v.pos,
                        format!("`message` must be text, not {}", v.describe()),
                    ),
                },
                "disable_email_notification" => d.disable_email_notification = self.boolean(key, v),
                "prune" => d.prune = self.boolean(key, v),
                "organization" => d.organization = self.auto_enable(Service::Detective, v),
                "datasource_packages" => d.datasource_packages = self.packages(v),
                _ => {}
            }
        }
        let source = self.source(node.pos);
        self.detective = Some((d, source));
    }

    fn check_hub(&mut self, service: Service, node: &Node) {
        let first = self.hubs.get(&service).map(|(_, s)| s.to_string());
        let name = service.as_str();
        let Some(fields) = self.section(node, name, HUB_KEYS, first) else {
            return;
        };
        let mut s = HubSettings::default();
        let regions_given = fields.iter().any(|(k, _)| *k == "regions");
        for (key, v) in fields {
            match key {
                "regions" => s.regions = self.regions(v),
                "prune" => s.prune = self.boolean(key, v),
                "organization" => s.organization = self.auto_enable(service, v),
                _ => {}
            }
        }
        let needs = format!("`{name}` needs `regions`: the regions whose hub must have the accounts (e.g. `regions: [us-east-1]`)");
        self.require(node, regions_given, &needs);
        let source = self.source(node.pos);
        self.hubs.insert(service, (s, source));
    }

    fn check_organization(&mut self, node: &Node) {
        let first = self.organization_at.as_ref().map(|o| o.to_string());
        let Some(fields) = self.section(node, "organization", ORGANIZATION_KEYS, first) else {
            return;
        };
        self.organization_at = Some(self.source(node.pos));
        let mut sel = Selection::default();
        let mut include_at: Vec<(String, Pos)> = Vec::new();
        let mut exclude_ous_at: Vec<(String, Pos)> = Vec::new();
        let include_given = fields.iter().any(|(k, _)| *k == "include");
        let only_delegation = fields.len() == 1 && fields[0].0 == "delegated_administrator";
        for (key, v) in fields {
            match key {
                "include" => self.check_includes(v, &mut sel, &mut include_at),
                "exclude" => self.check_excludes(v, &mut sel, &mut exclude_ous_at),
                "include_management_account" => sel.include_management = self.boolean(key, v),
                "delegated_administrator" => self.delegated_administrator = self.account_id(v),
                _ => {}
            }
        }
        if only_delegation {
            // Only the delegated administrator: no accounts come from the organization.
            return;
        }
        self.require(node, include_given, "`organization` needs `include`: the OUs (`{ou: ou-..., recursive: true}`) or the root (`{root: true}`) whose accounts are desired");
        for (id, pos) in &exclude_ous_at {
            if let Some((_, inc)) = include_at.iter().find(|(i, _)| i == id) {
                self.at(
                    *pos,
                    format!(
                        "{id} is both included (line {}) and excluded; keep one",
                        inc.line
                    ),
                );
            }
        }
        let source = self.source(node.pos);
        self.organization = Some(OrganizationSettings {
            selection: sel,
            source,
        });
    }

    /// `organization.include`: a list of OUs or the root, none twice; OU entries' places are
    /// kept for the include/exclude check.
    fn check_includes(
        &mut self,
        v: &Node,
        sel: &mut Selection,
        include_at: &mut Vec<(String, Pos)>,
    ) {
        let Some(items) = self.list(v, "`include`") else {
            return;
        };
        if items.is_empty() {
            self.at(
                v.pos,
                "`include` is empty; name an OU (`{ou: ou-...}`) or the root (`{root: true}`)"
                    .into(),
            );
        }
        for item in items {
            if let Some(inc) = self.include(item) {
                if sel.include.contains(&inc) {
                    self.at(item.pos, "this is included twice".into());
                    continue;
                }
                if let Include::Ou { id, .. } = &inc {
                    include_at.push((id.clone(), item.pos));
                }
                sel.include.push(inc);
            }
        }
    }

    /// `organization.exclude`: `accounts` and `ous` lists, none twice.
    fn check_excludes(
        &mut self,
        v: &Node,
        sel: &mut Selection,
        exclude_ous_at: &mut Vec<(String, Pos)>,
    ) {
        let fields = self.entries(v, "`exclude`", EXCLUDE_KEYS);
        for (key, list) in fields {
            let Some(items) = self.list(list, &format!("`{key}`")) else {
                continue;
            };
            for item in items {
                if key == "accounts" {
                    if let Some(id) = self.account_id(item) {
                        if !sel.exclude_accounts.insert(id) {
                            self.at(item.pos, format!("account {id} is excluded twice"));
                        } else {
                            self.excluded_at.push((id, item.pos, self.file.clone()));
                        }
                    }
                } else if let Some(id) = self.ou_id(item) {
                    if !sel.exclude_ous.insert(id.clone()) {
                        self.at(item.pos, format!("{id} is excluded twice"));
                    } else {
                        exclude_ous_at.push((id, item.pos));
                    }
                }
            }
        }
    }

    /// One `include` entry: `{ou: ou-..., recursive: bool}` or `{root: true}`.
    fn include(&mut self, item: &Node) -> Option<Include> {
        let fields = self.entries(item, "an `include` entry", INCLUDE_KEYS);
        if !matches!(item.kind, Kind::Map(_)) {
            return None;
        }
        let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        match (get("ou"), get("root")) {
            (Some(ou), None) => {
                let recursive = get("recursive").is_none_or(|r| self.boolean("recursive", r));
                let id = self.ou_id(ou)?;
                Some(Include::Ou { id, recursive })
            }
            (None, Some(root)) => {
                if get("recursive").is_some() {
                    self.at(
                        item.pos,
                        "`recursive` goes with `ou`; the root is always taken whole".into(),
                    );
                }
                if self.boolean("root", root) {
                    Some(Include::Root)
                } else {
                    self.at(
                        root.pos,
                        "`root: false` includes nothing; remove the entry".into(),
                    );
                    None
                }
            }
            (Some(_), Some(_)) => {
                self.at(
                    item.pos,
                    "an `include` entry takes `ou` or `root`, not both".into(),
                );
                None
            }
            (None, None) => {
                self.at(
                    item.pos,
                    "an `include` entry needs `ou` (an OU id like ou-ab12-cdef3456) or `root: true`"
                        .into(),
                );
                None
            }
        }
    }

    /// An OU id as Organizations writes it: `ou-` then 4 to 32 and 8 to 32 lower-case letters
    /// or digits.
    fn ou_id(&mut self, v: &Node) -> Option<String> {
        let raw = v.scalar().unwrap_or_default();
        if is_ou_id(raw) {
            Some(raw.to_owned())
        } else {
            self.at(
                v.pos,
                format!("\"{raw}\" is not an OU id like ou-ab12-cdef3456"),
            );
            None
        }
    }

    fn check_member(&mut self, node: &Node) {
        let first = self.member.as_ref().map(|(_, s)| s.to_string());
        let Some(fields) = self.section(node, "member", MEMBER_KEYS, first) else {
            return;
        };
        let mut m = MemberSettings {
            expected_administrators: Vec::new(),
            regions: Vec::new(),
            detective: true,
            securityhub: true,
            accept: false,
            decline_unexpected: false,
        };
        let given = |key: &str| fields.iter().any(|(k, _)| *k == key);
        let (admins_given, regions_given) = (given("expected_administrators"), given("regions"));
        for (key, v) in fields {
            match key {
                "expected_administrators" => {
                    let (what, of) = ("`expected_administrators`", "a list of account ids");
                    let Some(items) = self.list_of(v, what, of) else {
                        continue;
                    };
                    if items.is_empty() {
                        self.at(v.pos, "`expected_administrators` is empty; name the administrator accounts this account may join".into());
                    }
                    for item in items {
                        if let Some(id) = self.account_id(item) {
                            if m.expected_administrators.contains(&id) {
                                self.at(item.pos, format!("administrator {id} is listed twice"));
                            } else {
                                m.expected_administrators.push(id);
                            }
                        }
                    }
                }
                "regions" => m.regions = self.regions(v),
                "detective" => m.detective = self.boolean(key, v),
                "securityhub" => m.securityhub = self.boolean(key, v),
                "accept" => m.accept = self.boolean(key, v),
                "decline_unexpected" => m.decline_unexpected = self.boolean(key, v),
                _ => {}
            }
        }
        self.require(node, admins_given, "`member` needs `expected_administrators`: the administrator accounts this account may join (e.g. `expected_administrators: [\"111111111111\"]`)");
        self.require(
            node,
            regions_given,
            "`member` needs `regions`: where to watch invitations (e.g. `regions: [us-east-1]`)",
        );
        if !m.detective && !m.securityhub {
            self.at(
                node.pos,
                "`member` watches nothing: `detective` and `securityhub` are both false".into(),
            );
        }
        let source = self.source(node.pos);
        self.member = Some((m, source));
    }

    /// Checks that need every file: a hand-listed account that is also excluded; member mode
    /// mixed with administrator sections.
    fn check_whole(&mut self) {
        for (id, pos, file) in std::mem::take(&mut self.excluded_at) {
            if let Some(a) = self.accounts.get(&id) {
                let listed = a.source.to_string();
                self.problems.push(problem(
                    &file,
                    Some(pos),
                    format!("account {id} is excluded from the organization but listed by hand at {listed}; keep one"),
                ));
            }
        }
        if let Some((_, member_at)) = &self.member {
            let member_at = member_at.clone();
            let mut admin = Vec::new();
            if let Some(s) = &self.accounts_at {
                admin.push(("accounts", s.clone()));
            }
            if let Some((_, s)) = &self.detective {
                admin.push(("detective", s.clone()));
            }
            for (service, (_, s)) in &self.hubs {
                admin.push((service.as_str(), s.clone()));
            }
            if let Some(o) = &self.organization {
                admin.push(("organization", o.source.clone()));
            }
            for (key, at) in admin {
                self.problems.push(problem(
                    &at.file,
                    Some(at.pos),
                    format!("`{key}` is for a muster that manages members; this desired state has `member` (at {member_at}), for a muster in a member account: keep one kind"),
                ));
            }
        }
    }

    /// A non-empty list of distinct region names.
    fn regions(&mut self, node: &Node) -> Vec<Region> {
        let Some(items) = self.list(node, "`regions`") else {
            return Vec::new();
        };
        if items.is_empty() {
            self.at(
                node.pos,
                "`regions` is empty; name at least one region".into(),
            );
        }
        let mut out: Vec<Region> = Vec::new();
        for item in items {
            match item.scalar().and_then(Region::parse) {
                Some(r) if out.contains(&r) => {
                    self.at(item.pos, format!("region {r} is listed twice"));
                }
                Some(r) => out.push(r),
                None => self.at(
                    item.pos,
                    format!(
                        "\"{}\" is not a region name like us-east-1",
                        item.scalar().unwrap_or("")
                    ),
                ),
            }
        }
        out
    }

    /// A service's `organization: {auto_enable, auto_enable_standards}` (standards for Security
    /// Hub's shape only).
    fn auto_enable(&mut self, service: Service, node: &Node) -> Option<AutoEnable> {
        let keys = match service.shape() {
            Shape::Graphs => DETECTIVE_ORGANIZATION_KEYS,
            Shape::Hub => HUB_ORGANIZATION_KEYS,
        };
        let what = &format!("`{service}.organization`");
        let fields = self.entries(node, what, keys);
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        let mut out = AutoEnable {
            auto_enable: false,
            standards: None,
        };
        let given = fields.iter().any(|(k, _)| *k == "auto_enable");
        for (key, v) in fields {
            match key {
                "auto_enable" => out.auto_enable = self.boolean(key, v),
                "auto_enable_standards" => match v.scalar().and_then(Standards::parse) {
                    Some(s) => out.standards = Some(s),
                    _ => self.at(
                        v.pos,
                        format!(
                            "`auto_enable_standards` must be NONE or DEFAULT, not {}",
                            v.describe()
                        ),
                    ),
                },
                _ => {}
            }
        }
        let needs = format!("{what} needs `auto_enable`: whether new organization accounts are enabled automatically (`auto_enable: true`)");
        self.require(node, given, &needs);
        given.then_some(out)
    }

    /// `detective.datasource_packages`: packages of the model, none twice; `DETECTIVE_CORE` is
    /// always among them.
    fn packages(&mut self, node: &Node) -> Option<BTreeSet<Package>> {
        let names = Package::ALL.map(Package::as_str).join(", ");
        let of = format!("a list of data-source packages ({names})");
        let items = self.list_of(node, "`datasource_packages`", &of)?;
        let mut out = BTreeSet::from([Package::DetectiveCore]);
        let mut seen = BTreeSet::new();
        for item in items {
            match item.scalar().and_then(Package::parse) {
                Some(p) if !seen.insert(p) => self.at(item.pos, format!("{p} is listed twice")),
                Some(p) => {
                    out.insert(p);
                }
                None => self.at(
                    item.pos,
                    format!(
                        "{} is not a data-source package; Detective has {names}",
                        item.describe()
                    ),
                ),
            }
        }
        Some(out)
    }

    fn boolean(&mut self, key: &str, v: &Node) -> bool {
        match (v.scalar(), v.is_quoted()) {
            (Some("true"), false) => true,
            (Some("false"), false) => false,
            _ => {
                self.at(v.pos, format!("`{key}` must be true or false"));
                false
            }
        }
    }

    fn graphs(&mut self, node: &Node) -> Vec<GraphRef> {
        let Some(items) = self.list(node, "`graphs`") else {
            return Vec::new();
        };
        let mut out: Vec<GraphRef> = Vec::new();
        for item in items {
            let fields = self.entries(item, "a graph", GRAPH_KEYS);
            if !matches!(item.kind, Kind::Map(_)) {
                continue;
            }
            let graph = match fields.as_slice() {
                [("region", v)] => match v.scalar().and_then(Region::parse) {
                    Some(r) => GraphRef::Region(r),
                    None => {
                        self.at(
                            v.pos,
                            format!(
                                "`region` \"{}\" is not a region name like us-east-1",
                                v.scalar().unwrap_or("")
                            ),
                        );
                        continue;
                    }
                },
                [("arn", v)] => match v.scalar().and_then(GraphArn::parse) {
                    Some(a) => GraphRef::Arn(a),
                    None => {
                        self.at(v.pos, "`arn` is not a behavior graph ARN like arn:aws:detective:us-east-1:111111111111:graph:<32 hex digits>".into());
                        continue;
                    }
                },
                [] => {
                    self.at(
                        item.pos,
                        "a graph needs `region` (the caller's graph there) or `arn`".into(),
                    );
                    continue;
                }
                _ => {
                    self.at(item.pos, "a graph takes `region` or `arn`, not both".into());
                    continue;
                }
            };
            if out.contains(&graph) {
                self.at(item.pos, format!("{graph} is listed twice"));
                continue;
            }
            out.push(graph);
        }
        out
    }
}

/// True for an OU id: `ou-`, 4 to 32 lower-case letters or digits, `-`, 8 to 32 more.
pub fn is_ou_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("ou-") else {
        return false;
    };
    let ok = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(rest.split_once('-'), Some((a, b)) if (4..=32).contains(&a.len()) && (8..=32).contains(&b.len()) && ok(a) && ok(b))
}

/// The allowed key closest to `key`, if it is close enough to be a typo.
fn nearest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (distance(key, a), *a))
        .filter(|(d, a)| *d <= (a.len() / 3).max(2))
        .min()
        .map(|(_, a)| a)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
