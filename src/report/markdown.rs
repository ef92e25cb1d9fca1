//! The plan as Markdown for a pull-request comment: one summary table of every graph, hub and
//! organization configuration, then a section for each that would change or drifts (its
//! changes with where each account was declared, its drift), then what could not be observed.
//! Emails are masked unless asked; table cells are escaped.

use super::{email, origin};
use crate::desired::DesiredState;
use crate::domain::{Service, Target};
use crate::plan::accept::Acceptance;
use crate::plan::{ConfigurationPlan, Drift, DriftKind, GraphPlan, HubPlan, Plan};
use crate::reconcile::Unobserved;

/// The most rows a target's table shows: a comment stays readable (and under GitHub's 65,536
/// characters) at any scale; `muster plan` lists the rest.
pub const ROWS: usize = 50;

/// A Markdown table, its cells escaped.
struct Table {
    out: String,
    rows: usize,
    more: usize,
    width: usize,
}

impl Table {
    fn new(head: &[&str], align: &str) -> Table {
        let mut out = format!("| {} |\n", head.join(" | "));
        out += &format!("|{}\n", align);
        Table {
            out,
            rows: 0,
            more: 0,
            width: head.len(),
        }
    }

    /// A row; past `ROWS` rows, only counted.
    fn row(&mut self, cells: &[String]) {
        if self.rows == ROWS {
            self.more += 1;
            return;
        }
        self.rows += 1;
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        self.out += &format!("| {} |\n", cells.join(" | "));
    }

    fn done(mut self) -> String {
        if self.more > 0 {
            let rest = vec![""; self.width.saturating_sub(2)].join(" | ");
            self.out += &format!(
                "| … | {} more (`muster plan` lists every one) | {rest} |\n",
                self.more
            );
        }
        self.out + "\n"
    }
}

/// Text made safe for a table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Code in a cell (an account, a file, an ARN): backticks, and never empty.
fn code(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("`{}`", text.replace('`', "'"))
    }
}

/// Central acceptance's part of a plan: the role muster assumes in each member and the
/// invitations it would accept there, by target.
#[derive(Debug, Clone, Copy)]
pub struct Accepting<'a> {
    /// The role as configured (`member_role`, with `{account}`).
    pub role: &'a str,
    pub acceptances: &'a [Acceptance],
}

impl Accepting<'_> {
    fn count(&self) -> usize {
        self.acceptances.iter().map(|a| a.accounts.len()).sum()
    }
}

/// The plan as Markdown; `accepting` when central acceptance is on.
pub fn plan_markdown(
    plan: &Plan,
    desired: &DesiredState,
    failures: &[(Target, Unobserved)],
    show_emails: bool,
    accepting: Option<Accepting<'_>>,
) -> String {
    let mut out = String::from("## muster plan\n\n");
    let digest = &desired.digest[..desired.digest.len().min(12)];
    out += &match &desired.revision {
        Some(r) => format!("Desired state `{digest}` at revision `{r}`.\n\n"),
        None => format!("Desired state `{digest}` (not in a git work tree).\n\n"),
    };
    out += &totals(plan, failures, accepting);
    out += &summary(plan, desired);
    for g in plan
        .graphs
        .iter()
        .filter(|g| g.has_changes() || !g.drift.is_empty())
    {
        out += &graph(g, desired, show_emails);
    }
    for h in plan
        .hubs
        .iter()
        .filter(|h| h.has_changes() || !h.drift.is_empty())
    {
        out += &hub(h, desired, show_emails);
    }
    for c in (plan.configurations.iter()).filter(|c| c.has_changes() || !c.drift.is_empty()) {
        out += &configuration(c);
    }
    for c in
        (plan.central.iter()).filter(|c| c.has_changes() || !c.drift.is_empty() || c.held.is_some())
    {
        out += &central(c);
    }
    if let Some(a) = accepting.filter(|a| a.count() > 0) {
        out += &acceptances(a);
    }
    if !failures.is_empty() {
        out += "### Could not observe\n\n";
        let mut t = Table::new(&["target", "error"], "---|---|");
        for (target, e) in failures {
            let error = format!("{}: {}", e.code(), e.message());
            t.row(&[code(&target.to_string()), error]);
        }
        out += &t.done();
    }
    out
}

/// The invitations central acceptance would accept: the role, then a row per account.
fn acceptances(a: Accepting<'_>) -> String {
    let mut out = String::from("### Central acceptance\n\n");
    out += &format!(
        "muster would assume the role {} in each account below and accept the invitation \
         waiting there (`member_role`).\n\n",
        code(a.role)
    );
    let mut t = Table::new(&["target", "account", "role assumed"], "---|---|---|");
    for acceptance in a.acceptances {
        for account in &acceptance.accounts {
            t.row(&[
                code(&acceptance.target.to_string()),
                code(&account.to_string()),
                code(&crate::aws::roles::role_arn(a.role, *account)),
            ]);
        }
    }
    out + &t.done()
}

/// The line of totals, or that nothing would change.
fn totals(
    plan: &Plan,
    failures: &[(Target, Unobserved)],
    accepting: Option<Accepting<'_>>,
) -> String {
    let mut parts = Vec::new();
    if !plan.graphs.is_empty() {
        let invites: usize = plan.graphs.iter().map(|g| g.invite.len()).sum();
        let removals: usize = plan.graphs.iter().map(|g| g.remove.len()).sum();
        parts.push(format!(
            "Detective: **{invites}** to invite, **{removals}** to remove"
        ));
    }
    for service in Service::HUBS {
        let hubs: Vec<&HubPlan> = plan.hubs.iter().filter(|h| h.service == service).collect();
        if hubs.is_empty() {
            continue;
        }
        let sum = |n: fn(&HubPlan) -> usize| hubs.iter().map(|h| n(h)).sum::<usize>();
        parts.push(format!(
            "{}: **{}** to create, **{}** to invite, **{}** to remove",
            service.title(),
            sum(|h| h.create.len()),
            sum(|h| h.invite.len()),
            sum(|h| h.remove.len())
        ));
    }
    if !plan.configurations.is_empty() {
        let settings: usize = (plan.configurations.iter())
            .map(|c| usize::from(c.set.is_some()) + c.start.len())
            .sum();
        parts.push(format!(
            "organization configuration: **{settings}** setting(s) to change"
        ));
    }
    for c in &plan.central {
        let writes = usize::from(c.aggregator.is_some()) + usize::from(c.switch);
        let writes = writes + c.create.len() + c.update.len() + c.delete.len();
        parts.push(format!(
            "{} central configuration: **{writes}** change(s), **{}** association(s), **{}** held back by the guard",
            c.service.title(),
            c.associate.len(),
            c.held_associations().len() + c.held_updates().len()
        ));
    }
    let accepts = accepting.map_or(0, |a| a.count());
    if accepts > 0 {
        parts.push(format!(
            "central acceptance: **{accepts}** invitation(s) to accept"
        ));
    }
    if !failures.is_empty() {
        parts.push(format!(
            "**{}** target(s) could not be observed",
            failures.len()
        ));
    }
    let verdict = if plan.has_changes() || accepts > 0 {
        "Applying this changes AWS."
    } else {
        "No changes."
    };
    format!("{verdict} {}.\n\n", parts.join("; "))
}

/// One row per target: members, declared accounts, changes and drift.
fn summary(plan: &Plan, desired: &DesiredState) -> String {
    let mut t = Table::new(
        &["target", "members", "declared", "changes", "drift"],
        "---|--:|--:|--:|--:|",
    );
    let declared = desired.accounts.len().to_string();
    for g in &plan.graphs {
        let changes = g.invite.len() + g.remove.len();
        let name = format!("Detective {} {}", g.graph.region(), code(g.graph.as_str()));
        t.row(&[
            name,
            g.members.to_string(),
            declared.clone(),
            changes.to_string(),
            reported(&g.drift).to_string(),
        ]);
    }
    for h in &plan.hubs {
        let changes = h.create.len() + h.invite.len() + h.remove.len();
        t.row(&[
            format!("{} {}", h.service.title(), h.region),
            h.members.to_string(),
            declared.clone(),
            changes.to_string(),
            reported(&h.drift).to_string(),
        ]);
    }
    for c in &plan.configurations {
        let changes = usize::from(c.set.is_some()) + c.start.len();
        t.row(&[
            format!(
                "{} organization configuration {}",
                c.service.title(),
                c.region
            ),
            String::new(),
            String::new(),
            changes.to_string(),
            c.drift.len().to_string(),
        ]);
    }
    t.done()
}

/// Drift beyond the plan's own changes (a missing account is its invitation already).
fn reported(drift: &[Drift]) -> usize {
    drift
        .iter()
        .filter(|d| d.kind != DriftKind::Missing)
        .count()
}

fn drift_table(drift: &[Drift]) -> String {
    let reported: Vec<&Drift> = drift
        .iter()
        .filter(|d| d.kind != DriftKind::Missing)
        .collect();
    if reported.is_empty() {
        return String::new();
    }
    let mut t = Table::new(&["drift", "account", "detail"], "---|---|---|");
    for d in reported {
        t.row(&[
            d.kind.as_str().to_owned(),
            code(&d.account_name()),
            d.detail.to_string(),
        ]);
    }
    t.done()
}

fn refused(prune_refused: Option<&String>) -> String {
    prune_refused.map_or(String::new(), |r| {
        format!("> Prune refused: {}\n\n", cell(r))
    })
}

/// A target's table of changes.
fn changes() -> Table {
    Table::new(
        &["change", "account", "email", "declared at"],
        "---|---|---|---|",
    )
}

/// A row of `changes()`: an account added, with its email (masked unless asked) and where it
/// was declared.
fn change(t: &mut Table, what: &str, id: &crate::domain::AccountId, email: &str, at: &str) {
    t.row(&[what.into(), code(&id.to_string()), code(email), code(at)]);
}

/// A row of `changes()`: an account removed, and why.
fn removal(t: &mut Table, id: &crate::domain::AccountId, why: &str) {
    t.row(&[
        "- remove".into(),
        code(&id.to_string()),
        String::new(),
        why.into(),
    ]);
}

/// A target's heading: its title, then what it has and what is declared.
fn heading(title: String, graph: Option<&str>, members: usize, declared: usize) -> String {
    let graph = graph.map_or(String::new(), |g| format!("Graph `{g}`: "));
    format!("### {title}\n\n{graph}{members} members, {declared} declared.\n\n")
}

fn graph(g: &GraphPlan, desired: &DesiredState, show_emails: bool) -> String {
    let title = format!("Detective {}", g.graph.region());
    let mut out = heading(
        title,
        Some(g.graph.as_str()),
        g.members,
        desired.accounts.len(),
    );
    if g.has_changes() {
        let mut t = changes();
        for (id, e) in &g.invite {
            let e = email(e, show_emails);
            change(&mut t, "+ invite", id, &e, &origin(desired, id));
        }
        for (id, why) in &g.remove {
            removal(&mut t, id, why.as_str());
        }
        out += &t.done();
    }
    out + &drift_table(&g.drift) + &refused(g.prune_refused.as_ref())
}

fn hub(h: &HubPlan, desired: &DesiredState, show_emails: bool) -> String {
    let title = format!("{} {}", h.service.title(), h.region);
    let mut out = heading(title, None, h.members, desired.accounts.len());
    if h.has_changes() {
        let mut t = changes();
        for (id, e) in &h.create {
            let what = if h.invite.contains(id) {
                "+ create, then invite"
            } else {
                "+ create"
            };
            let e = e
                .as_ref()
                .map(|e| email(e, show_emails))
                .unwrap_or_default();
            change(&mut t, what, id, &e, &origin(desired, id));
        }
        let created = |id: &&crate::domain::AccountId| h.create.iter().any(|(c, _)| c == *id);
        for id in h.invite.iter().filter(|id| !created(id)) {
            change(&mut t, "+ invite", id, "", &origin(desired, id));
        }
        for id in &h.remove {
            removal(&mut t, id, "undeclared");
        }
        out += &t.done();
    }
    out + &drift_table(&h.drift) + &refused(h.prune_refused.as_ref())
}

fn configuration(c: &ConfigurationPlan) -> String {
    let mut out = format!(
        "### {} organization configuration {}\n\n",
        c.service.title(),
        c.region
    );
    if let Some(set) = &c.set {
        out += &format!(
            "- set {} (UpdateOrganizationConfiguration)\n",
            set.settings()
                .iter()
                .map(|s| code(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for p in &c.start {
        out += &format!(
            "- start {} (UpdateDatasourcePackages: billed; never stopped by muster)\n",
            code(&p.to_string())
        );
    }
    if c.has_changes() {
        out += "\n";
    }
    out + &drift_table(&c.drift)
}

/// Accounts as a cell: how many, and the first few.
fn accounts(ids: &[crate::domain::AccountId]) -> String {
    const SHOWN: usize = 5;
    let first: Vec<String> = ids
        .iter()
        .take(SHOWN)
        .map(|a| code(&a.to_string()))
        .collect();
    match ids.len() {
        0 => "0".to_owned(),
        n if n <= SHOWN => format!("{n}: {}", first.join(", ")),
        n => format!("{n}: {}, …", first.join(", ")),
    }
}

/// Central configuration: the aggregator, the switch, policies, then each association change
/// with the accounts it moves from their configuration before to the one after.
fn central(c: &crate::plan::CentralPlan) -> String {
    let (title, home) = (c.service.title(), &c.home);
    let mut out = format!("### {title} central configuration (home Region {home})\n\n");
    let actions = super::central::actions(c, &code);
    for action in &actions {
        out += &format!("- {action}\n");
    }
    if !actions.is_empty() {
        out += "\n";
    }
    if !c.associate.is_empty() || !c.held_associations().is_empty() {
        out += &association_table(c);
    }
    if let Some(why) = c.refused() {
        out += &format!("> Refused: {}\n\n", cell(why));
    }
    out + &drift_table(&c.drift)
}

fn association_table(c: &crate::plan::CentralPlan) -> String {
    let configuration = |v: &Option<crate::desired::ConfigurationRef>| match v {
        Some(crate::desired::ConfigurationRef::Policy(name)) => code(name),
        Some(crate::desired::ConfigurationRef::SelfManaged) => "self-managed".to_owned(),
        None => "(none)".to_owned(),
    };
    let head = [
        "target",
        "before",
        "after",
        "accounts moved",
        "to off or fewer standards",
        "",
    ];
    let mut t = Table::new(&head, "---|---|---|---|---|---|");
    for (a, held) in super::central::changes(c) {
        let note = if held { "held back" } else { "" };
        let target = cell(&a.target.to_string());
        let (before, after) = (configuration(&a.from), configuration(&a.to));
        t.row(&[
            target,
            before,
            after,
            accounts(&a.reach.accounts),
            accounts(&a.reach.reduces),
            note.to_owned(),
        ]);
    }
    t.done()
}
