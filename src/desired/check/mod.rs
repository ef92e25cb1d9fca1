//! The checker: YAML nodes to the desired state, each problem located (`file:line:col`), every
//! file read before the whole is checked. One file a section: `accounts`, `services` (Detective
//! and the hub-shaped services), `organization`, `member`.

mod accounts;
mod central;
pub use central::standard_arn;
mod member;
mod organization;
mod services;

use super::*;

/// The desired state's keys: a section per service of `Service::HUBS` after `detective`.
pub(super) fn top_keys() -> Vec<&'static str> {
    let hubs = Service::HUBS.map(Service::as_str);
    let (before, after) = (
        ["version", "accounts", "detective"],
        ["organization", "member"],
    );
    before.into_iter().chain(hubs).chain(after).collect()
}

pub(super) const ORGANIZATION_KEYS: &[&str] = &[
    "include",
    "exclude",
    "include_management_account",
    "delegated_administrator",
];
pub(super) const INCLUDE_KEYS: &[&str] = &["ou", "root", "recursive"];
pub(super) const EXCLUDE_KEYS: &[&str] = &["accounts", "ous"];
pub(super) const MEMBER_KEYS: &[&str] = &[
    "expected_administrators",
    "regions",
    "detective",
    "securityhub",
    "accept",
    "decline_unexpected",
];
pub(super) const HUB_KEYS: &[&str] = &["regions", "prune", "organization"];

/// A hub-shaped service's section keys: `central_configuration` where the service has it.
pub(super) fn hub_keys(service: Service) -> Vec<&'static str> {
    let central = service
        .takes_central_configuration()
        .then_some("central_configuration");
    HUB_KEYS.iter().copied().chain(central).collect()
}
pub(super) const DETECTIVE_ORGANIZATION_KEYS: &[&str] = &["auto_enable"];
pub(super) const HUB_ORGANIZATION_KEYS: &[&str] = &["auto_enable", "auto_enable_standards"];
pub(super) const ACCOUNT_KEYS: &[&str] = &["id", "email", "name"];
pub(super) const DETECTIVE_KEYS: &[&str] = &[
    "graphs",
    "message",
    "disable_email_notification",
    "prune",
    "organization",
    "datasource_packages",
];
pub(super) const GRAPH_KEYS: &[&str] = &["region", "arn"];

#[derive(Default)]
pub(super) struct Checker {
    pub(super) file: String,
    pub(super) problems: Vec<Problem>,
    pub(super) accounts: BTreeMap<AccountId, DesiredAccount>,
    pub(super) detective: Option<(DetectiveSettings, Source)>,
    pub(super) hubs: BTreeMap<Service, (HubSettings, Source)>,
    pub(super) organization: Option<OrganizationSettings>,
    pub(super) delegated_administrator: Option<AccountId>,
    /// Where the `organization` section was first given.
    pub(super) organization_at: Option<Source>,
    pub(super) member: Option<(MemberSettings, Source)>,
    /// Where `accounts` was first given (member mode takes none).
    pub(super) accounts_at: Option<Source>,
    /// Excluded account ids with where they were excluded, checked against `accounts` once
    /// every file is read.
    pub(super) excluded_at: Vec<(AccountId, Pos, String)>,
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
pub(super) fn nearest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (distance(key, a), *a))
        .filter(|(d, a)| *d <= (a.len() / 3).max(2))
        .min()
        .map(|(_, a)| a)
}

/// Levenshtein distance.
pub(super) fn distance(a: &str, b: &str) -> usize {
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

impl Checker {
    pub(super) fn at(&mut self, pos: Pos, message: String) {
        self.problems.push(problem(&self.file, Some(pos), message));
    }

    pub(super) fn source(&self, pos: Pos) -> Source {
        Source {
            file: self.file.clone(),
            pos,
        }
    }

    /// The entries of a mapping, with unknown keys reported (and the nearest valid key named).
    /// Reports `why` at `node` unless a key it needs is `given`.
    pub(super) fn require(&mut self, node: &Node, given: bool, why: &str) {
        if !given {
            self.at(node.pos, why.to_owned());
        }
    }

    /// A node's items, or `None` (reported, naming `what`) when it is not a list.
    pub(super) fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        self.list_of(node, what, "a list")
    }

    /// `list`, saying what the list must hold (`a list of account ids`).
    pub(super) fn list_of<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        of: &str,
    ) -> Option<&'n [Node]> {
        if let Kind::Seq(items) = &node.kind {
            return Some(items);
        }
        let why = format!("{what} must be {of}, not {}", node.describe());
        self.at(node.pos, why);
        None
    }

    /// A section's entries, or `None` (reported) when it is not a map or another file set it
    /// first (`first`: where).
    pub(super) fn section<'n>(
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

    pub(super) fn entries<'n>(
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

    pub(super) fn check_file(&mut self, text: &str) {
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

    /// Checks that need every file: a hand-listed account that is also excluded; member mode
    /// mixed with administrator sections.
    pub(super) fn check_whole(&mut self) {
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
}
