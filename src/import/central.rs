//! Central configuration in `muster import`: read from the finding aggregator's home Region
//! (found from any imported Region), written as `securityhub.central_configuration` with every
//! policy and every direct association, so that `plan` against the file changes nothing.

use std::collections::BTreeMap;

use crate::aws::{self, Apis};
use crate::domain::{AssociationTarget, Controls, Region, SELF_MANAGED};
use crate::observed::{Administration, ObservedCentral, ObservedPolicy};

/// Central configuration as the delegated administrator has it, read through `regions[0]`:
/// `None` when the organization is not under central configuration (or muster's account is
/// not its administrator, or there is no aggregator).
pub async fn read(apis: &Apis, regions: &[Region]) -> Result<Option<ObservedCentral>, aws::Error> {
    let (Some(first), Some(api)) = (
        regions.first(),
        apis.central(crate::domain::Service::SecurityHub),
    ) else {
        return Ok(None);
    };
    let Some(aggregator) = api.aggregator(first).await? else {
        return Ok(None);
    };
    let home = aggregator.home.clone();
    let organization = api.central_status(&home).await?;
    if !matches!(&organization, Administration::Administrator(s) if s.central) {
        return Ok(None);
    }
    let service = crate::domain::Service::SecurityHub;
    let seen = api.central_with(service, &home, organization, Some(aggregator));
    seen.await.map(Some)
}

/// A parameter value (`{"Integer":30}`) as the desired state writes it.
fn parameter_yaml(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let (kind, value) = v.as_object()?.iter().next()?;
    let quoted = |s: &serde_json::Value| serde_json::to_string(s.as_str()?).ok();
    let list = |v: &serde_json::Value,
                each: &dyn Fn(&serde_json::Value) -> Option<String>|
     -> Option<String> {
        let items: Option<Vec<String>> = v.as_array()?.iter().map(each).collect();
        Some(format!("[{}]", items?.join(", ")))
    };
    match kind.as_str() {
        "Integer" | "Double" | "Boolean" => Some(value.to_string()),
        "String" => quoted(value),
        "Enum" => Some(format!("{{enum: {}}}", quoted(value)?)),
        "IntegerList" => list(value, &|i: &serde_json::Value| Some(i.to_string())),
        "StringList" => list(value, &|s: &serde_json::Value| quoted(s)),
        "EnumList" => Some(format!(
            "{{enum_list: {}}}",
            list(value, &|s: &serde_json::Value| quoted(s))?
        )),
        _ => None,
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn policy_lines(p: &ObservedPolicy, out: &mut Vec<String>) {
    out.push(format!("      {}:", q(&p.name)));
    if let Some(d) = &p.description {
        out.push(format!("        description: {}", q(d)));
    }
    out.push(format!("        enabled: {}", p.enabled));
    if !p.enabled {
        return;
    }
    let standards: Vec<String> = p.standards.iter().map(|s| q(s)).collect();
    out.push(format!("        standards: [{}]", standards.join(", ")));
    let (which, ids) = match &p.controls {
        Controls::Disabled(ids) => ("disabled", ids),
        Controls::Enabled(ids) => ("enabled", ids),
    };
    let ids: Vec<String> = ids.iter().map(|i| q(i)).collect();
    out.push(format!(
        "        controls: {{{which}: [{}]}}",
        ids.join(", ")
    ));
    if !p.parameters.is_empty() {
        out.push("        parameters:".to_owned());
        for (control, params) in &p.parameters {
            let values: Vec<String> = (params.iter())
                .filter_map(|(name, v)| Some(format!("{}: {}", q(name), parameter_yaml(v)?)))
                .collect();
            out.push(format!(
                "          {}: {{{}}}",
                q(control),
                values.join(", ")
            ));
        }
    }
}

/// The `central_configuration:` block (indented under `securityhub:`), with comments for what
/// cannot be declared as it is.
pub fn render(c: &ObservedCentral, regions: &[Region]) -> Vec<String> {
    let mut out = vec![
        "  central_configuration:".to_owned(),
        format!("    home_region: {}", c.region),
    ];
    if !regions.contains(&c.region) {
        out.push(format!("    # The home Region {} was not imported: add it to `regions` above (policies are managed from it).", c.region));
    }
    out.push("    prune: false".to_owned());
    let mut by_name: BTreeMap<&str, Vec<&ObservedPolicy>> = BTreeMap::new();
    for p in &c.policies {
        by_name.entry(p.name.as_str()).or_default().push(p);
    }
    let names: BTreeMap<&str, &str> = (c.policies.iter())
        .filter(|p| by_name[p.name.as_str()].len() == 1)
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    out.push(if c.policies.is_empty() {
        "    policies: {}".to_owned()
    } else {
        "    policies:".to_owned()
    });
    for (name, ps) in &by_name {
        match ps.as_slice() {
            [p] => policy_lines(p, &mut out),
            _ => out.push(format!("      # NOT DECLARED: {} policies are named {name}; rename all but one and import again", ps.len())),
        }
    }
    let applied: Vec<_> = c.associations.iter().filter(|a| a.applied).collect();
    out.push(if applied.is_empty() {
        "    associations: []".to_owned()
    } else {
        "    associations:".to_owned()
    });
    for a in applied {
        let target = match &a.target {
            AssociationTarget::Root => "root: true".to_owned(),
            AssociationTarget::Ou(id) => format!("ou: {id}"),
            AssociationTarget::Account(id) => format!("account: \"{id}\""),
        };
        let configuration = match (
            a.configuration.as_str(),
            names.get(a.configuration.as_str()),
        ) {
            (SELF_MANAGED, _) => "self_managed: true".to_owned(),
            (_, Some(name)) => format!("policy: {}", q(name)),
            (id, None) => {
                out.push(format!("      # NOT DECLARED: {{{target}}} applies policy {id}, whose name is not unique"));
                continue;
            }
        };
        out.push(format!("      - {{{target}, {configuration}}}"));
    }
    out
}
