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
    /// The email of each of its Detective memberships, and whether verification failed there.
    detective_emails: Vec<(Email, bool)>,
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

/// The organization's accounts by id, with their OU path, and its management account.
type OrgIndex<'a> = (
    BTreeMap<AccountId, (&'a OrgAccount, String)>,
    Option<AccountId>,
);

/// Where declared and commented accounts go in the file.
#[derive(Default)]
struct Placement {
    /// Written under `accounts`, with a note when it is worth one.
    hand: Vec<(AccountId, Option<&'static str>)>,
    /// Organization accounts under `exclude.accounts`, with why.
    excluded: Vec<(AccountId, String)>,
    /// Organization accounts `{root: true}` takes.
    covered: usize,
    /// Of those, the ones whose state is worth a word: (account, comment).
    covered_notes: Vec<(AccountId, String)>,
    include_management: bool,
}

/// The YAML for `inventory`, read at `now`.
pub fn render(inventory: &Inventory, request: &Request, now: SystemTime) -> Rendered {
    let (targets, accounts) = collect(inventory);
    let org = inventory.organization.as_ref().map(|tree| {
        let mut by_id = BTreeMap::new();
        for (parent, list) in &tree.accounts {
            let path = tree.paths.get(parent).cloned().unwrap_or_default();
            for a in list {
                by_id.insert(a.id, (a, path.clone()));
            }
        }
        (by_id, tree.management())
    });
    let verdicts: BTreeMap<AccountId, Verdict> = accounts
        .iter()
        .map(|(id, a)| {
            let org_email = org.as_ref().and_then(|(o, _)| o.get(id)?.0.email.clone());
            (*id, verdict(a, &targets, org_email))
        })
        .collect();
    let placed = place(
        &verdicts,
        &accounts,
        &targets,
        org.as_ref(),
        administrator(inventory),
    );
    let mut out = Writer::default();
    out.header(inventory, request, now, &targets);
    let names = |id: &AccountId| {
        org.as_ref()
            .and_then(|(o, _)| o.get(id))
            .map(|(a, path)| (a.name.clone(), path.clone()))
    };
    out.accounts(&placed.hand, &verdicts, &accounts, &targets, names);
    if org.is_some() {
        out.organization(&placed);
    }
    out.services(inventory, request);
    let commented = (verdicts.values())
        .filter(|v| matches!(v, Verdict::Commented(..)))
        .count();
    Rendered {
        text: out.text,
        declared: verdicts.len() - commented,
        commented,
        excluded: placed.excluded.len(),
    }
}

/// The graphs and hubs read (`detective <region>`, `securityhub <region>`), and every account
/// seen in them.
fn collect(inventory: &Inventory) -> (Vec<String>, BTreeMap<AccountId, Account>) {
    let mut targets: Vec<String> = Vec::new();
    let mut accounts: BTreeMap<AccountId, Account> = BTreeMap::new();
    for (region, g) in &inventory.graphs {
        let Some(g) = g else { continue };
        let t = targets.len();
        targets.push(format!("detective {region}"));
        for m in &g.members {
            let a = accounts.entry(m.account_id).or_default();
            let status = m.status.as_str().to_owned();
            a.seen.push(Seen {
                target: t,
                status,
                unclean: None,
            });
            if let Some(e) = &m.email {
                let failed = m.status == MemberStatus::VerificationFailed;
                a.detective_emails.push((e.clone(), failed));
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
            let status = m.status.as_str().to_owned();
            a.seen.push(Seen {
                target: t,
                status,
                unclean,
            });
            a.hub_email = a.hub_email.take().or(m.email.clone());
        }
    }
    (targets, accounts)
}

/// The administrator, never its own member (an organization account to exclude): from a
/// graph's ARN, or Security Hub members' AdministratorId.
fn administrator(inventory: &Inventory) -> Option<AccountId> {
    let graph = inventory.graphs.iter().find_map(|(_, g)| g.as_ref());
    graph
        .and_then(|g| AccountId::parse(g.arn.administrator()))
        .or_else(|| {
            let mut hubs = inventory.hubs.iter().flat_map(|(_, m)| m);
            hubs.find_map(|m| m.administrator)
        })
}

/// Where each account goes: by hand, taken by `{root: true}`, or excluded from it.
fn place(
    verdicts: &BTreeMap<AccountId, Verdict>,
    accounts: &BTreeMap<AccountId, Account>,
    targets: &[String],
    org: Option<&OrgIndex<'_>>,
    administrator: Option<AccountId>,
) -> Placement {
    let mut p = Placement::default();
    for (id, v) in verdicts {
        let in_org = org.and_then(|(o, m)| o.get(id).map(|(a, _)| (*a, *m)));
        let Some((a, management)) = in_org else {
            p.hand.push((*id, None));
            continue;
        };
        let active = a.status == OrgAccountStatus::Active;
        match v {
            Verdict::Declared(email) => {
                let same = a.email.as_ref().is_some_and(|e| e.same_address(email));
                if active && same {
                    p.covered += 1;
                    p.include_management |= management == Some(*id);
                    let notes = status_notes(&accounts[id]);
                    if !notes.is_empty() {
                        let seen = seen_text(&accounts[id], targets);
                        p.covered_notes
                            .push((*id, format!("{seen}; {}", notes.join("; "))));
                    }
                } else if active {
                    p.hand.push((
                        *id,
                        Some("listed by hand: its member email differs from the organization's"),
                    ));
                } else {
                    p.hand.push((*id, Some("listed by hand: not ACTIVE in the organization, which takes only ACTIVE accounts")));
                }
            }
            Verdict::Commented(why, _) => {
                if active && management != Some(*id) {
                    p.excluded.push((*id, why.join("; ")));
                }
                p.hand.push((*id, None));
            }
        }
    }
    // Organization accounts seen nowhere: the organization would take them.
    if let Some((by_id, management)) = org {
        for (id, (a, _)) in by_id {
            let seen = accounts.contains_key(id);
            let active = a.status == OrgAccountStatus::Active;
            if !seen && active && *management != Some(*id) {
                let why = if administrator == Some(*id) {
                    "the administrator itself"
                } else {
                    "not a member of any graph or hub imported"
                };
                p.excluded.push((*id, why.to_owned()));
            }
        }
        p.excluded.sort();
    }
    p
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
        .filter(|(_, f)| *f)
        .map(|(e, _)| e)
        .collect();
    let email = match failed.as_slice() {
        [first, rest @ ..] if rest.iter().any(|e| !e.same_address(first)) => {
            why.push("its verification failed in two graphs with different emails: whichever is declared, muster replaces the other".into());
            None
        }
        [first, ..] => Some((*first).clone()),
        [] => (a.detective_emails.first().map(|(e, _)| e.clone()))
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
        hand: &[(AccountId, Option<&'static str>)],
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

    fn organization(&mut self, p: &Placement) {
        self.line(&format!(
            "# {} organization account(s) are members everywhere and are taken from the organization.",
            p.covered
        ));
        for (id, note) in &p.covered_notes {
            self.line(&format!("#   {id}: {note}"));
        }
        self.line("organization:");
        self.line("  include:");
        self.line("    - {root: true}");
        if !p.excluded.is_empty() {
            self.line("  exclude:");
            self.line("    accounts:");
            for (id, why) in &p.excluded {
                self.line(&format!("      - \"{id}\"   # {why}"));
            }
        }
        if p.include_management {
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
            if let Some(c) = &inventory.central {
                for line in super::central::render(c, &request.regions) {
                    self.line(&line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GraphArn, Region};
    use crate::observed::{Member, ObservedGraph};

    fn member(id: &str, email: &str, status: MemberStatus) -> Member {
        Member {
            account_id: AccountId::parse(id).unwrap(),
            email: Email::parse(email),
            status,
            disabled_reason: None,
            organization: false,
            invited_at: None,
            updated_at: None,
            percent_of_graph_utilization: None,
        }
    }

    fn graph(region: &str, members: Vec<Member>) -> (Region, Option<ObservedGraph>) {
        let arn = format!(
            "arn:aws:detective:{region}:222222222222:graph:0123456789abcdef0123456789abcdef"
        );
        let g = ObservedGraph {
            arn: GraphArn::parse(&arn).unwrap(),
            members,
        };
        (Region::parse(region).unwrap(), Some(g))
    }

    #[test]
    fn a_failed_verification_keeps_its_own_email_and_two_different_ones_are_not_declared() {
        use MemberStatus::{Enabled, VerificationFailed as Failed};
        let inventory = Inventory {
            // (account, email in us-east-1, in eu-west-1), and the statuses there.
            graphs: [
                ("us-east-1", [Failed, Enabled, Failed], ["a", "old", "x"]),
                ("eu-west-1", [Failed, Failed, Enabled], ["b", "new", "x"]),
            ]
            .into_iter()
            .map(|(region, statuses, emails)| {
                let ids = ["111111111111", "333333333333", "444444444444"];
                let rows: Vec<Member> = (ids.iter().zip(emails).zip(statuses))
                    .map(|((id, e), s)| member(id, &format!("{e}@example.com"), s))
                    .collect();
                graph(region, rows)
            })
            .chain([(Region::parse("ap-south-1").unwrap(), None)])
            .collect(),
            ..Inventory::default()
        };
        let request = Request {
            regions: vec![],
            detective: true,
            securityhub: false,
            organization: false,
        };
        let r = render(&inventory, &request, SystemTime::UNIX_EPOCH);
        assert_eq!((r.declared, r.commented, r.excluded), (2, 1, 0));
        let lines: Vec<&str> = r.text.lines().collect();
        for want in [
            "#   No behavior graph of this account in ap-south-1: not declared.",
            "  # NOT DECLARED: its verification failed in two graphs with different emails: whichever is declared, muster replaces the other",
            "  # - {id: \"111111111111\", email: \"\"}",
            "  - {id: \"333333333333\", email: \"new@example.com\"}",
            "  - {id: \"444444444444\", email: \"x@example.com\"}",
            "    - region: us-east-1",
            "    - region: eu-west-1",
        ] {
            assert!(lines.contains(&want), "{want}\n{}", r.text);
        }
        assert!(!r.text.contains("ap-south-1\n"), "{}", r.text);
        // What it writes loads.
        crate::desired::parse_files(&[("i.yaml".into(), r.text.clone())]).unwrap();
    }
}
