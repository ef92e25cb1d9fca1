//! AWS Organizations as muster reads it: the tree of roots, OUs and accounts (listed once a
//! pass), the expansion of "these OUs, recursively, minus those" into accounts, each with
//! where it came from, and the merge of those accounts into the hand-listed ones.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt};

use crate::aws::{self, OrganizationsApi};
use crate::desired::{DesiredAccount, DesiredState, OrganizationSettings};
use crate::domain::{AccountId, Email};
use crate::eventlog::SavedExpansion;
use crate::observed::{OrgAccount, OrgAccountStatus, OrgShape, OrgUnit};

/// The organization as listed: every root and OU with its path, and the accounts directly
/// under each.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrgTree {
    pub roots: Vec<OrgUnit>,
    /// Parent id → the OUs directly under it.
    pub children: BTreeMap<String, Vec<OrgUnit>>,
    /// Parent id → the accounts directly under it.
    pub accounts: BTreeMap<String, Vec<OrgAccount>>,
    /// Root or OU id → its path of names, e.g. `Root/Workloads/Sandbox`.
    pub paths: BTreeMap<String, String>,
}

impl OrgTree {
    /// The management account, as a root's ARN names it
    /// (`arn:aws:organizations::<management>:root/o-.../r-...`).
    pub fn management(&self) -> Option<AccountId> {
        self.roots.iter().find_map(|r| {
            r.arn
                .as_deref()?
                .split(':')
                .nth(4)
                .and_then(AccountId::parse)
        })
    }

    /// Every account in the organization, whatever its status.
    pub fn all_accounts(&self) -> BTreeSet<AccountId> {
        self.accounts.values().flatten().map(|a| a.id).collect()
    }
}

/// The tree's shape: the root and every OU's and account's parent.
pub fn shape_of(tree: &OrgTree) -> OrgShape {
    let mut parents = BTreeMap::new();
    for (parent, ous) in &tree.children {
        for ou in ous {
            parents.insert(ou.id.clone(), parent.clone());
        }
    }
    for (parent, accounts) in &tree.accounts {
        for a in accounts {
            parents.insert(a.id.to_string(), parent.clone());
        }
    }
    OrgShape {
        root: tree.roots.first().map(|r| r.id.clone()).unwrap_or_default(),
        parents,
        accounts: tree.all_accounts(),
    }
}

/// Organizations listings in flight at once at most: Organizations is one endpoint with low
/// request rates, so `max_concurrent_graphs` (which is about regional endpoints) does not
/// raise it past this. A throttled request is retried by the SDK (and counted as throttled).
pub const MAX_CONCURRENT_LISTINGS: usize = 16;

/// One listing of one parent: its OUs, or its accounts.
enum Listing {
    /// A parent's child OUs, and the parent's path.
    Ous(String, String),
    Accounts(String),
}

/// What a `Listing` found.
enum Listed {
    Ous(String, String, Vec<OrgUnit>),
    Accounts(String, Vec<OrgAccount>),
}

/// Lists the whole tree: ListRoots, then every root's and OU's ListOrganizationalUnitsForParent
/// and ListAccountsForParent (every page), `concurrency` listings at a time (at most
/// `MAX_CONCURRENT_LISTINGS`). A listing starts as soon as its parent is known, not level by
/// level, and OU listings go first, so that the tree is found as early as it can be and the
/// account listings fill the rest. Any failure fails the listing: a partial tree is never
/// used.
pub async fn fetch(
    api: &crate::aws::SdkOrganizations,
    concurrency: usize,
) -> Result<OrgTree, aws::Error> {
    let mut tree = OrgTree {
        roots: api.list_roots().await?,
        ..OrgTree::default()
    };
    // Two queues: a parent's OUs are listed before any account listing waiting.
    let (mut ous_first, mut then_accounts) = (VecDeque::new(), VecDeque::new());
    for r in &tree.roots {
        ous_first.push_back(Listing::Ous(r.id.clone(), r.name.clone()));
        then_accounts.push_back(Listing::Accounts(r.id.clone()));
    }
    let limit = concurrency.clamp(1, MAX_CONCURRENT_LISTINGS);
    let mut running = stream::FuturesUnordered::new();
    loop {
        while running.len() < limit {
            let Some(next) = ous_first.pop_front().or_else(|| then_accounts.pop_front()) else {
                break;
            };
            running.push(async move {
                match next {
                    Listing::Ous(id, path) => {
                        let ous = api.list_ous(&id).await?;
                        Ok::<_, aws::Error>(Listed::Ous(id, path, ous))
                    }
                    Listing::Accounts(id) => {
                        let accounts = api.list_accounts(&id).await?;
                        Ok(Listed::Accounts(id, accounts))
                    }
                }
            });
        }
        let Some(done) = running.next().await else {
            break;
        };
        match done? {
            Listed::Ous(id, path, ous) => {
                for ou in &ous {
                    ous_first.push_back(Listing::Ous(ou.id.clone(), format!("{path}/{}", ou.name)));
                    then_accounts.push_back(Listing::Accounts(ou.id.clone()));
                }
                tree.children.insert(id.clone(), ous);
                tree.paths.insert(id, path);
            }
            Listed::Accounts(id, accounts) => {
                tree.accounts.insert(id, accounts);
            }
        }
    }
    Ok(tree)
}

/// Declared in `desired` (its types); expanded here.
pub use crate::desired::{Include, Selection};

/// An account the selection takes, and the OU path it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expanded {
    pub account: OrgAccount,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("organizational unit {0} is not in the organization")]
    UnknownOu(String),
}

/// The ACTIVE accounts `selection` takes from `tree`, each once, ordered by id.
pub fn expand(tree: &OrgTree, selection: &Selection) -> Result<Vec<Expanded>, ExpandError> {
    for id in selection
        .include
        .iter()
        .filter_map(|i| match i {
            Include::Ou { id, .. } => Some(id),
            Include::Root => None,
        })
        .chain(&selection.exclude_ous)
    {
        if !tree.paths.contains_key(id) {
            return Err(ExpandError::UnknownOu(id.clone()));
        }
    }
    let mut out: BTreeMap<AccountId, Expanded> = BTreeMap::new();
    let mut queue: VecDeque<(String, bool)> = VecDeque::new();
    for inc in &selection.include {
        match inc {
            Include::Root => queue.extend(tree.roots.iter().map(|r| (r.id.clone(), true))),
            Include::Ou { id, recursive } => queue.push_back((id.clone(), *recursive)),
        }
    }
    let mut seen = BTreeSet::new();
    while let Some((parent, recursive)) = queue.pop_front() {
        if selection.exclude_ous.contains(&parent) || !seen.insert((parent.clone(), recursive)) {
            continue;
        }
        let from = tree.paths.get(&parent).cloned().unwrap_or_default();
        for a in tree.accounts.get(&parent).into_iter().flatten() {
            let management = selection.management == Some(a.id);
            if a.status != OrgAccountStatus::Active
                || selection.exclude_accounts.contains(&a.id)
                || (management && !selection.include_management)
            {
                continue;
            }
            out.entry(a.id).or_insert_with(|| Expanded {
                account: a.clone(),
                from: from.clone(),
            });
        }
        if recursive {
            for ou in tree.children.get(&parent).into_iter().flatten() {
                queue.push_back((ou.id.clone(), true));
            }
        }
    }
    Ok(out.into_values().collect())
}

/// The accounts a selection took at one listing, and every account of the organization then.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// (account, email, name, OU path), ordered by id.
    pub accounts: Vec<(AccountId, Email, String, String)>,
    /// Every account in the organization (any status): accounts in it need no invitation to
    /// Security Hub.
    pub organization: BTreeSet<AccountId>,
    /// Accounts taken without a usable email (Organizations always has one; reported).
    pub without_email: Vec<AccountId>,
    pub listed_at: SystemTime,
}

/// Expands `settings` over `tree` (the management account found from the root's ARN).
pub fn expansion(
    tree: &OrgTree,
    settings: &OrganizationSettings,
    now: SystemTime,
) -> Result<Expansion, ExpandError> {
    let mut selection = settings.selection.clone();
    selection.management = tree.management();
    let mut out = Expansion {
        accounts: Vec::new(),
        organization: tree.all_accounts(),
        without_email: Vec::new(),
        listed_at: now,
    };
    for e in expand(tree, &selection)? {
        match e.account.email {
            Some(email) => out
                .accounts
                .push((e.account.id, email, e.account.name, e.from)),
            None => out.without_email.push(e.account.id),
        }
    }
    Ok(out)
}

/// A stable name for a selection: a saved expansion is reused only for the selection it
/// expanded.
pub fn selection_key(settings: &OrganizationSettings) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(format!("{:?}", settings.selection)))
}

impl Expansion {
    pub fn to_saved(&self, selection: String) -> SavedExpansion {
        SavedExpansion {
            listed_ms: self
                .listed_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            selection,
            accounts: self
                .accounts
                .iter()
                .map(|(id, email, name, from)| {
                    (
                        id.to_string(),
                        email.expose().to_owned(),
                        name.clone(),
                        from.clone(),
                    )
                })
                .collect(),
            organization: self.organization.iter().map(ToString::to_string).collect(),
        }
    }

    /// A saved expansion, if every entry still reads (entries that do not are dropped).
    pub fn from_saved(s: &SavedExpansion) -> Expansion {
        Expansion {
            accounts: s
                .accounts
                .iter()
                .filter_map(|(id, email, name, from)| {
                    Some((
                        AccountId::parse(id)?,
                        Email::parse(email)?,
                        name.clone(),
                        from.clone(),
                    ))
                })
                .collect(),
            organization: s
                .organization
                .iter()
                .filter_map(|a| AccountId::parse(a))
                .collect(),
            without_email: Vec::new(),
            listed_at: SystemTime::UNIX_EPOCH + Duration::from_millis(s.listed_ms),
        }
    }
}

/// The desired state with the organization's accounts added. A hand-listed entry wins over
/// the organization's for the same account (its email and name are the ones used).
pub fn merge(desired: &DesiredState, expansion: &Expansion) -> DesiredState {
    let mut out = desired.clone();
    let Some(settings) = &desired.organization else {
        return out;
    };
    for (id, email, name, from) in &expansion.accounts {
        out.accounts.entry(*id).or_insert_with(|| DesiredAccount {
            id: *id,
            email: email.clone(),
            name: (!name.is_empty()).then(|| name.clone()),
            source: settings.source.clone(),
            ou: Some(from.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::parse_files;

    #[test]
    fn a_hand_listed_account_wins_over_the_organizations_entry() {
        let d = parse_files(&[(
            "d.yaml".into(),
            "version: 1\naccounts:\n  - {id: \"300000000001\", email: hand@example.com}\norganization:\n  include: [{root: true}]\n".into(),
        )])
        .unwrap();
        let a = |n: &str| AccountId::parse(n).unwrap();
        let e = |s: &str| Email::parse(s).unwrap();
        let exp = Expansion {
            accounts: vec![
                (
                    a("300000000001"),
                    e("org@example.com"),
                    "one".into(),
                    "Root/W".into(),
                ),
                (
                    a("300000000002"),
                    e("two@example.com"),
                    "two".into(),
                    "Root/W/S".into(),
                ),
            ],
            organization: BTreeSet::new(),
            without_email: vec![],
            listed_at: SystemTime::UNIX_EPOCH,
        };
        let m = merge(&d, &exp);
        assert_eq!(m.accounts.len(), 2);
        let hand = &m.accounts[&a("300000000001")];
        assert_eq!(hand.email.expose(), "hand@example.com");
        assert_eq!(hand.origin(), "d.yaml:3:10");
        let org = &m.accounts[&a("300000000002")];
        assert_eq!(org.origin(), "Root/W/S (organization at d.yaml:5:3)");
        assert_eq!(org.name.as_deref(), Some("two"));
        // A saved listing reads back the same.
        let back = Expansion::from_saved(&exp.to_saved("k".into()));
        assert_eq!(back.accounts, exp.accounts);
    }
}
