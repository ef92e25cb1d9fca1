//! From an inventory to desired-state YAML, pure: where each account was seen, whether the
//! desired state can declare it as it is, the email it is declared with, and (with the
//! organization) whether `{root: true}` covers it, it is listed by hand, or it is excluded.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{Inventory, Request};
use crate::domain::{AccountId, Email};
use crate::observed::{HubMemberStatus, MemberStatus, OrgAccount, OrgAccountStatus};

/// The YAML, and how many accounts went where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Declared: listed by hand, or taken from the organization.
    pub declared: usize,
    /// Written commented out, with why.
    pub commented: usize,
    /// Organization accounts left out with `exclude.accounts`.
    pub excluded: usize,
}

/// One graph or hub an account was seen in, and its status there.
struct Seen {
    target: usize,
    status: String,
    /// Why the desired state cannot declare the account as it is here, if so.
    unclean: Option<&'static str>,
}

#[derive(Default)]
struct Account {
    seen: Vec<Seen>,
    /// (target, email) of its Detective memberships, and whether verification failed there.
    detective_emails: Vec<(usize, Email, bool)>,
    hub_email: Option<Email>,
}

/// What the file says about one account.
enum Verdict {
    /// Declared with this email.
    Declared(Email),
    /// Commented out, for these reasons.
    Commented(Vec<String>, Option<Email>),
}

/// A string as YAML reads it back unchanged (a JSON string is a YAML double-quoted one).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The YAML for `inventory`, read at `now`.
pub fn render(inventory: &Inventory, request: &Request, now: SystemTime) -> Rendered {
    let graphs: Vec<_> = (inventory.graphs.iter())
        .filter_map(|(r, g)| g.as_ref().map(|g| (r, g)))
        .collect();
    let mut targets: Vec<String> = Vec::new();
    let mut accounts: BTreeMap<AccountId, Account> = BTreeMap::new();
    for (region, g) in &graphs {
        let t = targets.len();
        targets.push(format!("detective {region}"));
        for m in &g.members {
            let a = accounts.entry(m.account_id).or_default();
            a.seen.push(Seen {
                target: t,
                status: m.status.as_str().to_owned(),
                unclean: None,
            });
            if let Some(e) = &m.email {
                let failed = m.status == MemberStatus::VerificationFailed;
                a.detective_emails.push((t, e.clone(), failed));
            }
        }
    }
    for (region, members) in &inventory.hubs {
        let t = targets.len();
        targets.push(format!("securityhub {region}"));
        for m in members {
            let a = accounts.entry(m.account_id).or_default();
            let unclean = match m.status {
                HubMemberStatus::Created => Some("a Security Hub member never invited (Created): declared, muster invites it"),
                HubMemberStatus::Removed => Some("disassociated by an administrator (Removed): declared, muster creates it again"),
                HubMemberStatus::Deleted => Some("deleted from Security Hub (Deleted): declared, muster creates it again"),
                _ => None,
            };
            a.seen.push(Seen {
                target: t,
                status: m.status.as_str().to_owned(),
                unclean,
            });
            a.hub_email = a.hub_email.take().or(m.email.clone());
        }
    }
    let org = inventory.organization.as_ref().map(|tree| {
        let mut by_id: BTreeMap<AccountId, (&OrgAccount, String)> = BTreeMap::new();
        for (parent, list) in &tree.accounts {
            let path = tree.paths.get(parent).cloned().unwrap_or_default();
            for a in list {
                by_id.insert(a.id, (a, path.clone()));
            }
        }
        (by_id, tree.management())
    });
    // The administrator: never its own member, so an organization account to exclude.
    // Known from a graph's ARN, or from Security Hub members' AdministratorId.
    let administrator = (graphs.first())
        .and_then(|(_, g)| AccountId::parse(g.arn.administrator()))
        .or_else(|| {
            let mut hubs = inventory.hubs.iter().flat_map(|(_, m)| m);
            hubs.find_map(|m| m.administrator)
        });
    let verdicts: BTreeMap<AccountId, Verdict> = accounts
        .iter()
        .map(|(id, a)| {
            let org_email = org.as_ref().and_then(|(o, _)| o.get(id)?.0.email.clone());
            (*id, verdict(a, &targets, org_email))
        })
        .collect();

    let mut out = Writer::default();
    out.header(inventory, request, now, &targets);
    let mut hand = Vec::new();
    let mut excluded: Vec<(AccountId, String)> = Vec::new();
    let mut covered = 0;
    // Accounts the organization covers whose state is worth a word: (account, comment).
    let mut covered_notes: Vec<(AccountId, String)> = Vec::new();
    let mut include_management = false;
    for (id, v) in &verdicts {
        let in_org = org.as_ref().and_then(|(o, m)| o.get(id).map(|e| (e, *m)));
        match (v, in_org) {
            (Verdict::Declared(email), Some(((a, _), management))) => {
                let active = a.status == OrgAccountStatus::Active;
                let same = a.email.as_ref().is_some_and(|e| e.same_address(email));
                if active && same {
                    covered += 1;
                    include_management |= management == Some(*id);
                    let a = &accounts[id];
                    let notes = status_notes(a);
                    if !notes.is_empty() {
                        let seen = seen_text(a, &targets);
                        covered_notes.push((*id, format!("{seen}; {}", notes.join("; "))));
                    }
                } else {
                    let why = if active {
                        "listed by hand: its member email differs from the organization's"
                    } else {
                        "listed by hand: not ACTIVE in the organization, which takes only ACTIVE accounts"
                    };
                    hand.push((*id, Some(why)));
                }
            }
            (Verdict::Declared(_), None) => hand.push((*id, None)),
            (Verdict::Commented(why, _), Some(((a, _), management))) => {
                let active = a.status == OrgAccountStatus::Active;
                if active && management != Some(*id) {
                    excluded.push((*id, why.join("; ")));
                }
                hand.push((*id, None));
            }
            (Verdict::Commented(..), None) => hand.push((*id, None)),
        }
    }
    // Organization accounts seen nowhere: the organization would take them.
    if let Some((by_id, management)) = &org {
        for (id, (a, _)) in by_id {
            let seen = accounts.contains_key(id);
            let active = a.status == OrgAccountStatus::Active;
            if !seen && active && *management != Some(*id) {
                let why = if administrator == Some(*id) {
                    "the administrator itself".to_owned()
                } else {
                    "not a member of any graph or hub imported".to_owned()
                };
                excluded.push((*id, why));
            }
        }
        excluded.sort();
    }
    let names = |id: &AccountId| {
        org.as_ref()
            .and_then(|(o, _)| o.get(id))
            .map(|(a, path)| (a.name.clone(), path.clone()))
    };
    out.accounts(&hand, &verdicts, &accounts, &targets, names);
    if org.is_some() {
        out.organization(&excluded, include_management, covered, &covered_notes);
    }
    out.services(inventory, request);
    let commented = (verdicts.values())
        .filter(|v| matches!(v, Verdict::Commented(..)))
        .count();
    Rendered {
        text: out.text,
        declared: verdicts.len() - commented,
        commented,
        excluded: excluded.len(),
    }
}

/// Whether `a` can be declared as it is in every target, and with which email.
fn verdict(a: &Account, targets: &[String], org_email: Option<Email>) -> Verdict {
    let mut why: Vec<String> = Vec::new();
    let absent: Vec<&str> = (0..targets.len())
        .filter(|t| !a.seen.iter().any(|s| s.target == *t))
        .map(|t| targets[t].as_str())
        .collect();
    if !absent.is_empty() {
        why.push(format!(
            "not a member of {}: declared, muster adds it there",
            absent.join(", ")
        ));
    }
    for s in &a.seen {
        if let Some(u) = s.unclean {
            why.push(format!("{}: {u}", targets[s.target]));
        }
    }
    // A failed verification with another email would be replaced: its own email is the one.
    let failed: Vec<&Email> = (a.detective_emails.iter())
        .filter(|(_, _, f)| *f)
        .map(|(_, e, _)| e)
        .collect();
    let email = match failed.as_slice() {
        [first, rest @ ..] if rest.iter().any(|e| !e.same_address(first)) => {
            why.push("its verification failed in two graphs with different emails: whichever is declared, muster replaces the other".into());
            None
        }
        [first, ..] => Some((*first).clone()),
        [] => (a.detective_emails.first().map(|(_, e, _)| e.clone()))
            .or(a.hub_email.clone())
            .or(org_email),
    };
    match (email, why.is_empty()) {
        (Some(e), true) => Verdict::Declared(e),
        (None, true) => {
            why.push("AWS returns no email for it, and the desired state needs one: add it".into());
            Verdict::Commented(why, None)
        }
        (email, false) => Verdict::Commented(why, email),
    }
}

/// Where an account was seen: `detective us-east-1 ENABLED, securityhub us-east-1 Enabled`.
fn seen_text(a: &Account, targets: &[String]) -> String {
    let seen: Vec<String> = (a.seen.iter())
        .map(|s| format!("{} {}", targets[s.target], s.status))
        .collect();
    seen.join(", ")
}

/// What a declared account's statuses mean for the desired state: reported as drift, never
/// changed by muster, and what a person can do.
fn status_notes(a: &Account) -> Vec<&'static str> {
    let mut notes = Vec::new();
    let mut note = |n: &'static str| {
        if !notes.contains(&n) {
            notes.push(n);
        }
    };
    for s in &a.seen {
        match s.status.as_str() {
            "VERIFICATION_FAILED" => note("VERIFICATION_FAILED: declared with the email Detective has; if that is not the account's root email, correct it here and muster invites it again"),
            "ACCEPTED_BUT_DISABLED" => note("ACCEPTED_BUT_DISABLED: the member sends more data than the graph takes (reported)"),
            "INVITED" | "Invited" => note("invited, not accepted yet (reported once pending too long)"),
            "Resigned" => note("Resigned: the member left Security Hub and only it can join again (reported)"),
            "AccountSuspended" => note("AccountSuspended in Security Hub (reported)"),
            _ => {}
        }
    }
    notes
}

#[derive(Default)]
struct Writer {
    text: String,
}

impl Writer {
    fn line(&mut self, line: &str) {
        self.text += line;
        self.text += "\n";
    }

    fn header(
        &mut self,
        inventory: &Inventory,
        request: &Request,
        now: SystemTime,
        targets: &[String],
    ) {
        let at = humantime::format_rfc3339_seconds(now);
        self.line(&format!(
            "# Written by `muster import` at {at} from what AWS had then:"
        ));
        let read = if targets.is_empty() {
            "no graph or hub".to_owned()
        } else {
            targets.join(", ")
        };
        self.line(&format!(
            "#   {read}{}.",
            if request.organization {
                ", and the organization"
            } else {
                ""
            }
        ));
        for (region, g) in &inventory.graphs {
            if g.is_none() {
                self.line(&format!(
                    "#   No behavior graph of this account in {region}: not declared."
                ));
            }
        }
        self.line("# Each account's comment says where it was seen. An account written commented out is in");
        self.line("# AWS but cannot be declared as it is: its comment says why. `muster plan` against this");
        self.line("# file changes nothing; it reports drift only member accounts can fix.");
        self.line("version: 1");
    }

    fn accounts(
        &mut self,
        hand: &[(AccountId, Option<&str>)],
        verdicts: &BTreeMap<AccountId, Verdict>,
        accounts: &BTreeMap<AccountId, Account>,
        targets: &[String],
        names: impl Fn(&AccountId) -> Option<(String, String)>,
    ) {
        if hand.is_empty() {
            self.line("accounts: []");
            return;
        }
        self.line("accounts:");
        for (id, note) in hand {
            let a = &accounts[id];
            let named = names(id);
            let mut comment = format!("  # {}", seen_text(a, targets));
            if let Some((_, path)) = &named {
                comment += &format!("; in the organization at {path}");
            }
            if let Some(note) = note {
                comment += &format!("; {note}");
            }
            let name = named
                .map(|(n, _)| format!(", name: {}", quoted(&n)))
                .unwrap_or_default();
            match &verdicts[id] {
                Verdict::Declared(email) => {
                    for note in status_notes(a) {
                        comment += &format!("; {note}");
                    }
                    self.line(&comment);
                    let email = quoted(email.expose());
                    self.line(&format!("  - {{id: \"{id}\", email: {email}{name}}}"));
                }
                Verdict::Commented(why, email) => {
                    self.line(&format!("  # NOT DECLARED: {}", why.join("; ")));
                    self.line(&comment.replacen("  # ", "  #   seen: ", 1));
                    let email = quoted(email.as_ref().map_or("", |e| e.expose()));
                    self.line(&format!("  # - {{id: \"{id}\", email: {email}{name}}}"));
                }
            }
        }
    }

    fn organization(
        &mut self,
        excluded: &[(AccountId, String)],
        include_management: bool,
        covered: usize,
        notes: &[(AccountId, String)],
    ) {
        self.line(&format!("# {covered} organization account(s) are members everywhere and are taken from the organization."));
        for (id, note) in notes {
            self.line(&format!("#   {id}: {note}"));
        }
        self.line("organization:");
        self.line("  include:");
        self.line("    - {root: true}");
        if !excluded.is_empty() {
            self.line("  exclude:");
            self.line("    accounts:");
            for (id, why) in excluded {
                self.line(&format!("      - \"{id}\"   # {why}"));
            }
        }
        if include_management {
            self.line("  include_management_account: true   # a member everywhere");
        }
    }

    fn services(&mut self, inventory: &Inventory, request: &Request) {
        if request.detective {
            let regions: Vec<_> = (inventory.graphs.iter())
                .filter(|(_, g)| g.is_some())
                .map(|(r, _)| r)
                .collect();
            if regions.is_empty() {
                self.line("# detective: no behavior graph in the regions imported");
            } else {
                self.line("detective:");
                self.line("  graphs:");
                for r in regions {
                    self.line(&format!("    - region: {r}"));
                }
                self.line("  prune: false");
            }
        }
        if request.securityhub && !inventory.hubs.is_empty() {
            let regions: Vec<String> = inventory.hubs.iter().map(|(r, _)| r.to_string()).collect();
            self.line("securityhub:");
            self.line(&format!("  regions: [{}]", regions.join(", ")));
            self.line("  prune: false");
        }
    }
}
