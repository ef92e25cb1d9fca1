//! How plans, passes and events are shown: text tables for people, JSON for machines. Emails
//! are masked unless the operator asks for them (`--show-emails`).

use serde_json::{json, Value};

use crate::apply::ApplyReport;
use crate::desired::DesiredState;
use crate::domain::{Email, Service, Target};
use crate::eventlog::Event;
use crate::plan::{ConfigurationPlan, Drift, DriftKind, GraphPlan, HubPlan, Plan};
use crate::reconcile::member::TargetPlan;
use crate::reconcile::Unobserved;

mod central;
mod markdown;
pub use markdown::{plan_markdown, Accepting};

fn email(e: &Email, show: bool) -> String {
    if show {
        e.expose().to_owned()
    } else {
        e.masked()
    }
}

/// The plan as text, one section per graph and hub, then what could not be observed.
pub fn plan_text(
    plan: &Plan,
    desired: &DesiredState,
    failures: &[(Target, Unobserved)],
    show_emails: bool,
) -> String {
    let mut text = String::new();
    write_plan_text(
        &mut |piece| text.push_str(piece),
        plan,
        desired,
        failures,
        show_emails,
    );
    text
}

/// `plan_text`, handed to `out` a piece at a time (a target's section, a line): a plan for
/// hundreds of thousands of members is printed without ever being one string.
pub fn write_plan_text(
    out: &mut dyn FnMut(&str),
    plan: &Plan,
    desired: &DesiredState,
    failures: &[(Target, Unobserved)],
    show_emails: bool,
) {
    out(&origin_line(desired));
    for g in &plan.graphs {
        out(&graph_text(g, desired, show_emails));
    }
    for h in &plan.hubs {
        out(&hub_text(h, desired));
    }
    for c in &plan.configurations {
        out(&configuration_text(c));
    }
    for c in &plan.central {
        out(&central::central_text(c));
    }
    for (what, e) in failures {
        let what = match what {
            Target::Graph(_) | Target::GraphIn(_) => format!("graph {what}"),
            _ => what.to_string(),
        };
        out(&format!(
            "{what}: cannot observe: {}: {}\n",
            e.code(),
            e.message()
        ));
    }
    let invites: usize = plan.graphs.iter().map(|g| g.invite.len()).sum();
    let removals: usize = plan.graphs.iter().map(|g| g.remove.len()).sum();
    out(&format!(
        "plan: {invites} to invite, {removals} to remove, {} graph(s) could not be observed\n",
        failures.len()
    ));
    for service in Service::HUBS {
        let hubs: Vec<&HubPlan> = plan.hubs.iter().filter(|h| h.service == service).collect();
        if hubs.is_empty() {
            continue;
        }
        let sum = |n: fn(&HubPlan) -> usize| hubs.iter().map(|h| n(h)).sum::<usize>();
        let (creates, invites) = (sum(|h| h.create.len()), sum(|h| h.invite.len()));
        let removals = sum(|h| h.remove.len());
        out(&format!(
            "{service}: {creates} to create, {invites} to invite, {removals} to remove\n"
        ));
    }
    let settings: usize = (plan.configurations.iter())
        .map(|c| usize::from(c.set.is_some()) + c.start.len())
        .sum();
    if !plan.configurations.is_empty() {
        out(&format!(
            "organization configuration: {settings} setting(s) to change\n"
        ));
    }
    for c in &plan.central {
        let writes = usize::from(c.aggregator.is_some())
            + usize::from(c.switch)
            + c.create.len()
            + c.update.len()
            + c.associate.len()
            + c.delete.len();
        out(&format!(
            "central configuration ({}): {writes} change(s), {} association(s)\n",
            c.service,
            c.associate.len()
        ));
    }
}

/// Which desired state a plan is of: its digest and, from a git work tree, its commit.
fn origin_line(desired: &DesiredState) -> String {
    let digest = &desired.digest[..desired.digest.len().min(12)];
    match &desired.revision {
        Some(r) => format!("desired state {digest} at revision {r}\n"),
        None => format!("desired state {digest} (not in a git work tree)\n"),
    }
}

/// One region's organization configuration: what would be set, what would be started (never
/// stopped), and its drift.
fn configuration_text(c: &ConfigurationPlan) -> String {
    let in_sync = !c.has_changes() && c.drift.is_empty();
    let mut out = format!("{}\n", c.target());
    if in_sync {
        out += "  in sync\n";
    }
    if let Some(set) = &c.set {
        out += &format!(
            "  ~ set     {}  (UpdateOrganizationConfiguration)\n",
            set.settings().join(", ")
        );
    }
    for p in &c.start {
        out += &format!("  ~ start   {p}  (UpdateDatasourcePackages: a started package is billed; muster starts declared packages and never stops one)\n");
    }
    out += &drift_text(&c.drift);
    out
}

/// Drift a plan reports beyond its changes (missing accounts are its `+` lines already).
fn drift_text(drift: &[Drift]) -> String {
    drift
        .iter()
        .filter(|d| d.kind != DriftKind::Missing)
        .map(|d| {
            format!(
                "  ! {:<19} {}  {}\n",
                d.kind.as_str(),
                d.account_shown(),
                d.detail
            )
        })
        .collect()
}

/// A target's first line (`in sync` after it when nothing is to be done or reported).
fn heading(target: String, members: usize, desired: &DesiredState, in_sync: bool) -> String {
    let declared = desired.accounts.len();
    let sync = if in_sync { "  in sync\n" } else { "" };
    format!("{target} ({members} members, {declared} declared)\n{sync}")
}

fn graph_text(g: &GraphPlan, desired: &DesiredState, show_emails: bool) -> String {
    let in_sync = !g.has_changes() && g.drift.is_empty();
    let mut out = heading(format!("graph {}", g.graph), g.members, desired, in_sync);
    for (id, e) in &g.invite {
        out += &format!(
            "  + invite  {id}  {}  (declared at {})\n",
            email(e, show_emails),
            origin(desired, id)
        );
    }
    for (id, why) in &g.remove {
        out += &format!("  - remove  {id}  ({})\n", why.as_str());
    }
    out += &drift_text(&g.drift);
    if let Some(r) = &g.prune_refused {
        out += &format!("  prune refused: {r}\n");
    }
    out
}

fn hub_text(h: &HubPlan, desired: &DesiredState) -> String {
    let in_sync = !h.has_changes() && h.drift.is_empty();
    let target = format!("{} {}", h.service, h.region);
    let mut out = heading(target, h.members, desired, in_sync);
    for (id, _) in &h.create {
        let then = if h.invite.contains(id) {
            ", then invite"
        } else {
            ""
        };
        out += &format!(
            "  + create{then}  {id}  (declared at {})\n",
            origin(desired, id)
        );
    }
    for id in h
        .invite
        .iter()
        .filter(|id| !h.create.iter().any(|(c, _)| c == *id))
    {
        out += &format!("  + invite  {id}\n");
    }
    for id in &h.remove {
        out += &format!("  - remove  {id}  (undeclared)\n");
    }
    out += &drift_text(&h.drift);
    if let Some(r) = &h.prune_refused {
        out += &format!("  prune refused: {r}\n");
    }
    out
}

/// Where a desired account came from: `file:line:col`, or its OU path.
fn origin(desired: &DesiredState, id: &crate::domain::AccountId) -> String {
    desired
        .accounts
        .get(id)
        .map(|a| a.origin())
        .unwrap_or_default()
}

pub fn plan_json(
    plan: &Plan,
    desired: &DesiredState,
    failures: &[(Target, Unobserved)],
    show_emails: bool,
) -> Value {
    let mut out = json!({
        "desired_state_digest": desired.digest,
        "desired_state_revision": desired.revision,
        "changes": plan.has_changes(),
        "graphs": plan.graphs.iter().map(|g| json!({
            "graph": g.graph.to_string(),
            "members": g.members,
            "invite": g.invite.iter().map(|(id, e)| json!({
                "account": id.to_string(),
                "email": email(e, show_emails),
                "declared_at": desired.accounts.get(id).map(|a| a.source.to_string()),
                "ou": desired.accounts.get(id).and_then(|a| a.ou.clone()),
            })).collect::<Vec<_>>(),
            "remove": g.remove.iter().map(|(id, why)| json!({"account": id.to_string(), "reason": why.as_str()})).collect::<Vec<_>>(),
            "drift": g.drift.iter().map(drift_json).collect::<Vec<_>>(),
            "prune_refused": g.prune_refused,
        })).collect::<Vec<_>>(),
        "failures": failures.iter().map(|(g, e)| json!({"graph": g.to_string(), "code": e.code(), "message": e.message()})).collect::<Vec<_>>(),
    });
    // A key per service of Security Hub's shape, its hubs' plans under it.
    for service in Service::HUBS {
        let hubs = plan.hubs.iter().filter(|h| h.service == service);
        out[service.as_str()] = hubs.map(|h| hub_json(h, desired)).collect();
    }
    out["configurations"] = (plan.configurations.iter())
        .map(|c| {
            json!({
                "target": c.target().to_string(),
                "service": c.service.as_str(),
                "region": c.region.as_str(),
                "graph": c.graph.as_ref().map(ToString::to_string),
                "set": c.set.map(|s| s.settings()),
                "start": c.start.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "drift": c.drift.iter().map(drift_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    out["central_configuration"] = plan.central.iter().map(central::central_json).collect();
    out
}

fn drift_json(d: &Drift) -> Value {
    let mut out = json!({"kind": d.kind.as_str(), "account": d.account.map(|a| a.to_string()), "detail": d.detail});
    if let Some(s) = &d.subject {
        out["subject"] = json!(s);
    }
    out
}

fn hub_json(h: &HubPlan, desired: &DesiredState) -> Value {
    json!({
        "region": h.region.as_str(),
        "members": h.members,
        "create": h.create.iter().map(|(id, _)| json!({
            "account": id.to_string(),
            "declared_at": desired.accounts.get(id).map(|a| a.source.to_string()),
            "ou": desired.accounts.get(id).and_then(|a| a.ou.clone()),
        })).collect::<Vec<_>>(),
        "invite": h.invite.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "remove": h.remove.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "drift": h.drift.iter().map(drift_json).collect::<Vec<_>>(),
        "prune_refused": h.prune_refused,
    })
}

/// Member mode's plan as text: per service and region, what would be accepted and declined,
/// and what is reported.
pub fn member_plan_text(plans: &[TargetPlan]) -> String {
    let mut out = String::new();
    let (mut accept, mut decline, mut failed) = (0, 0, 0);
    for t in plans {
        let list = match &t.listed {
            Err(e) => {
                failed += 1;
                out += &format!("{}: cannot list: {}: {}\n", t.target, e.code, e.message);
                continue;
            }
            Ok(list) => list,
        };
        let p = &t.plan;
        out += &format!("{} ({} invitation(s))\n", t.target, list.len());
        if p.accept.is_empty() && p.decline.is_empty() && p.drift.is_empty() {
            out += "  in sync\n";
        }
        for i in &p.accept {
            out += &format!("  + accept   {}\n", i.administrator);
        }
        for i in &p.decline {
            out += &format!("  - decline  {}\n", i.administrator);
        }
        for d in &p.drift {
            out += &format!(
                "  ! {:<24} {}  {}\n",
                d.kind.as_str(),
                d.account_shown(),
                d.detail
            );
        }
        accept += p.accept.len();
        decline += p.decline.len();
    }
    out += &format!("plan: {accept} to accept, {decline} to decline, {failed} listing(s) failed\n");
    out
}

/// Member mode's plan as JSON.
pub fn member_plan_json(plans: &[TargetPlan]) -> Value {
    let ids = |l: &[crate::observed::Invitation]| {
        l.iter()
            .map(|i| i.administrator.to_string())
            .collect::<Vec<_>>()
    };
    let targets: Vec<Value> = plans
        .iter()
        .map(|t| match &t.listed {
            Err(e) => json!({"target": t.target.to_string(), "error": {"code": e.code, "message": e.message}}),
            Ok(list) => json!({
                "target": t.target.to_string(),
                "invitations": list.len(),
                "accept": ids(&t.plan.accept),
                "decline": ids(&t.plan.decline),
                "drift": t.plan.drift.iter().map(drift_json).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({"mode": "member", "changes": crate::reconcile::member::has_changes(plans), "targets": targets})
}

/// What an apply did, as the lines `muster apply` ends with.
/// Central acceptance's part of a plan: the invitations muster accepts through `role`, by
/// target.
pub fn acceptance_text(acceptances: &[crate::plan::accept::Acceptance], role: &str) -> String {
    let mut out = String::new();
    for a in acceptances {
        let accounts: Vec<String> = a.accounts.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "{}: accept {} invitation{} through {role}: {}\n",
            a.target,
            accounts.len(),
            if accounts.len() == 1 { "" } else { "s" },
            accounts.join(", ")
        ));
    }
    out
}

/// Central acceptance's part of `plan --output json`: `[{target, role, accounts}]`.
pub fn acceptance_json(acceptances: &[crate::plan::accept::Acceptance], role: &str) -> Value {
    let list: Vec<Value> = acceptances
        .iter()
        .map(|a| {
            let accounts: Vec<String> = a.accounts.iter().map(ToString::to_string).collect();
            json!({"target": a.target.to_string(), "role": role, "accounts": accounts})
        })
        .collect();
    Value::Array(list)
}

pub fn applied_text(a: &ApplyReport, desired: &DesiredState) -> String {
    use crate::apply::{Change, Outcome};
    if desired.member.is_some() {
        let unprocessed = a.of(Change::Accept, Outcome::Unprocessed)
            + a.of(Change::Decline, Outcome::Unprocessed);
        return format!(
            "applied: {} accepted, {} declined, {unprocessed} not processed, {} failed call(s)\n",
            a.of(Change::Accept, Outcome::Ok),
            a.of(Change::Decline, Outcome::Ok),
            a.failed
        );
    }
    let detective = |change, outcome| a.count(Service::Detective, change, outcome);
    let mut out = format!(
        "applied: {} invited, {} removed, {} not processed, {} failed batch(es), {} blocked by the member quota\n",
        detective(Change::Invite, Outcome::Ok),
        detective(Change::Remove, Outcome::Ok),
        a.total(Outcome::Unprocessed),
        a.failed,
        detective(Change::Invite, Outcome::QuotaBlocked)
    );
    for service in desired.hubs.keys() {
        let hub = |change| a.count(*service, change, Outcome::Ok);
        out += &format!(
            "{service}: {} created, {} invited, {} removed\n",
            hub(Change::Create),
            hub(Change::Invite),
            hub(Change::Remove)
        );
    }
    out
}

/// One event as a line of text.
pub fn event_text(e: &Event) -> String {
    let at = humantime::format_rfc3339_millis(e.at());
    let body = serde_json::to_value(&e.kind).unwrap_or(Value::Null);
    let kind = body["type"].as_str().unwrap_or("?").to_owned();
    let mut fields: Vec<String> = Vec::new();
    if let Value::Object(m) = body {
        for (k, v) in m {
            if k == "type" {
                continue;
            }
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            fields.push(format!("{k}={v}"));
        }
    }
    format!("{:>6} {at} {kind} {}", e.seq, fields.join(" "))
}
