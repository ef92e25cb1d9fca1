//! `securityhub.central_configuration`: the home Region, policies by name and the direct
//! associations of the root, OUs and accounts, checked as the Security Hub model and API
//! reference allow them.

use super::*;

pub(super) const CENTRAL_KEYS: &[&str] = &["home_region", "policies", "associations", "prune"];
const POLICY_KEYS: &[&str] = &[
    "description",
    "enabled",
    "standards",
    "controls",
    "parameters",
];
const CONTROLS_KEYS: &[&str] = &["enabled", "disabled"];
const ASSOCIATION_KEYS: &[&str] = &["root", "ou", "account", "policy", "self_managed"];
/// A policy name: alphanumerics and these (the API reference), 1..128 characters.
const NAME_CHARS: &str = "-.!*/";

/// A security control id: a service prefix and a number (`IAM.6`, `CloudTrail.1`).
fn is_control_id(s: &str) -> bool {
    match s.split_once('.') {
        Some((service, n)) => {
            !service.is_empty()
                && service.bytes().all(|b| b.is_ascii_alphanumeric())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The ARN of a standard named by its short id in `region`, as Security Hub writes it: CIS
/// 1.2.0 is a region-less ruleset, every other standard a regional `standards/` ARN.
pub fn standard_arn(id: &str, region: &Region) -> Option<String> {
    if id.starts_with("arn:") {
        return id.starts_with("arn:aws").then(|| id.to_owned());
    }
    let (name, version) = id.split_once("/v/")?;
    let named = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let numbered = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !(named && numbered) {
        return None;
    }
    Some(match id {
        "cis-aws-foundations-benchmark/v/1.2.0" => format!("arn:aws:securityhub:::ruleset/{id}"),
        _ => format!("arn:aws:securityhub:{region}::standards/{id}"),
    })
}

impl Checker {
    /// The value of `key` among a mapping's `fields`, or `why` reported at the mapping.
    fn given<'n>(
        &mut self,
        node: &Node,
        fields: &[(&str, &'n Node)],
        key: &str,
        why: &str,
    ) -> Option<&'n Node> {
        let value = fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if value.is_none() {
            self.at(node.pos, why.to_owned());
        }
        value
    }

    /// The section's `central_configuration`, given the section's regions.
    pub(super) fn central(
        &mut self,
        node: &Node,
        regions: &[Region],
    ) -> Option<CentralConfiguration> {
        let what = "`securityhub.central_configuration`";
        let fields = self.entries(node, what, CENTRAL_KEYS);
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        let why = format!("{what} needs `home_region`: the Region its policies are managed from (one of `regions`)");
        let home_node = self.given(node, &fields, "home_region", &why)?;
        let home_region = self.home_region(home_node, regions)?;
        let mut c = CentralConfiguration {
            home_region,
            policies: BTreeMap::new(),
            associations: Vec::new(),
            prune: false,
            source: self.source(node.pos),
        };
        for (key, v) in &fields {
            match *key {
                "policies" => c.policies = self.policies(v, &c.home_region),
                "prune" => c.prune = self.boolean(key, v),
                _ => {}
            }
        }
        if let Some((_, v)) = fields.iter().find(|(k, _)| *k == "associations") {
            c.associations = self.associations(v, &c.policies);
        }
        Some(c)
    }

    fn home_region(&mut self, v: &Node, regions: &[Region]) -> Option<Region> {
        let raw = v.scalar().unwrap_or_default();
        let Some(region) = Region::parse(raw) else {
            self.at(
                v.pos,
                format!("\"{raw}\" is not a region name like us-east-1"),
            );
            return None;
        };
        if !regions.contains(&region) {
            let listed = regions
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            self.at(v.pos, format!("`home_region` {region} must be one of `regions` ({listed}): policies take effect in the home Region and the Regions linked to it"));
        }
        Some(region)
    }

    fn policies(&mut self, node: &Node, home: &Region) -> BTreeMap<String, PolicySpec> {
        let mut out = BTreeMap::new();
        let Kind::Map(entries) = &node.kind else {
            let why = format!(
                "`policies` must be a mapping of policy names to policies, not {}",
                node.describe()
            );
            self.at(node.pos, why);
            return out;
        };
        for (k, v) in entries {
            let name = k.scalar().unwrap_or_default();
            let ok = |c: char| c.is_ascii_alphanumeric() || NAME_CHARS.contains(c);
            if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || !name.chars().all(ok) {
                let why = format!("policy name \"{name}\" must be 1 to {NAME_MAX_CHARS} letters, digits or {NAME_CHARS}");
                self.at(k.pos, why);
                continue;
            }
            if out.contains_key(name) {
                self.at(k.pos, format!("policy {name} is declared twice"));
                continue;
            }
            if let Some(p) = self.policy(name, v, home) {
                out.insert(name.to_owned(), p);
            }
        }
        out
    }

    fn policy(&mut self, name: &str, node: &Node, home: &Region) -> Option<PolicySpec> {
        let what = format!("policy {name}");
        let fields = self.entries(node, &what, POLICY_KEYS);
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        let why = format!(
            "{what} needs `enabled`: whether Security Hub is on in the accounts it governs"
        );
        let enabled_node = self.given(node, &fields, "enabled", &why)?;
        let enabled = self.boolean("enabled", enabled_node);
        let mut p = PolicySpec {
            description: None,
            enabled,
            standards: BTreeSet::new(),
            controls: Controls::Disabled(BTreeSet::new()),
            parameters: BTreeMap::new(),
            source: self.source(node.pos),
        };
        for (key, v) in fields {
            if !enabled && matches!(key, "standards" | "controls" | "parameters") {
                self.at(v.pos, format!("`{key}` in {what}: a policy with `enabled: false` turns Security Hub off and has no {key}"));
                continue;
            }
            match key {
                "description" => p.description = self.description(v),
                "standards" => p.standards = self.standards(v, home),
                "controls" => p.controls = self.controls(v, &what),
                "parameters" => p.parameters = self.parameters(v),
                _ => {}
            }
        }
        if let Controls::Disabled(off) = &p.controls {
            for control in p.parameters.keys().filter(|c| off.contains(*c)) {
                let why = format!("{what} sets parameters of {control}, which it disables");
                self.at(node.pos, why);
            }
        }
        Some(p)
    }

    fn description(&mut self, v: &Node) -> Option<String> {
        match v.scalar() {
            Some(d) if !d.trim().is_empty() => Some(d.to_owned()),
            _ => {
                self.at(v.pos, "`description` must be text that is not blank".into());
                None
            }
        }
    }

    fn standards(&mut self, node: &Node, home: &Region) -> BTreeSet<String> {
        let of =
            "a list of standards (aws-foundational-security-best-practices/v/1.0.0, or an ARN)";
        let Some(items) = self.list_of(node, "`standards`", of) else {
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        for item in items {
            let raw = item.scalar().unwrap_or_default();
            match standard_arn(raw, home) {
                Some(arn) if !out.insert(arn.clone()) => {
                    self.at(item.pos, format!("standard {raw} is listed twice"));
                }
                Some(_) => {}
                None => self.at(item.pos, format!("\"{raw}\" is not a standard: write its id (cis-aws-foundations-benchmark/v/1.4.0) or its ARN")),
            }
        }
        out
    }

    fn controls(&mut self, node: &Node, what: &str) -> Controls {
        let fields = self.entries(node, &format!("`controls` of {what}"), CONTROLS_KEYS);
        let default = Controls::Disabled(BTreeSet::new());
        match fields.as_slice() {
            [("enabled", v)] => Controls::Enabled(self.control_ids(v)),
            [("disabled", v)] => Controls::Disabled(self.control_ids(v)),
            [] if !matches!(node.kind, Kind::Map(_)) => default,
            _ => {
                let why = format!("`controls` of {what} takes exactly one of `enabled` (only these on) and `disabled` (all but these)");
                self.at(node.pos, why);
                default
            }
        }
    }

    fn control_ids(&mut self, node: &Node) -> BTreeSet<String> {
        let Some(items) = self.list_of(node, "the controls", "a list of control ids (IAM.6)")
        else {
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        for item in items {
            let raw = item.scalar().unwrap_or_default();
            if !is_control_id(raw) {
                self.at(
                    item.pos,
                    format!("\"{raw}\" is not a control id like IAM.6"),
                );
            } else if !out.insert(raw.to_owned()) {
                self.at(item.pos, format!("control {raw} is listed twice"));
            }
        }
        out
    }

    /// `parameters: {ACM.1: {daysToExpiration: 30}}`: a number, a decimal, true/false, text, or
    /// a list of numbers or of text; `{enum: X}` or `{enum_list: [...]}` for enumerations.
    fn parameters(&mut self, node: &Node) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let controls = self.entries_any(node, "`parameters`");
        for (control, k, values) in controls {
            if !is_control_id(control) {
                self.at(k, format!("\"{control}\" is not a control id like ACM.1"));
                continue;
            }
            let mut params = BTreeMap::new();
            for (name, _, v) in self.entries_any(values, &format!("the parameters of {control}")) {
                if let Some(value) = self.parameter_value(v) {
                    params.insert(name.to_owned(), value.to_string());
                }
            }
            out.insert(control.to_owned(), params);
        }
        out
    }

    /// A mapping's entries under any names: (name, where the name is, value).
    fn entries_any<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(&'n str, Pos, &'n Node)> {
        let Kind::Map(entries) = &node.kind else {
            self.at(
                node.pos,
                format!("{what} must be a mapping, not {}", node.describe()),
            );
            return Vec::new();
        };
        let named = entries
            .iter()
            .filter_map(|(k, v)| Some((k.scalar()?, k.pos, v)));
        named.collect()
    }

    fn parameter_value(&mut self, v: &Node) -> Option<serde_json::Value> {
        use serde_json::json;
        let scalar = |n: &Node| -> Option<serde_json::Value> {
            let s = n.scalar()?;
            if n.is_quoted() {
                return Some(json!({"String": s}));
            }
            if let Ok(i) = s.parse::<i64>() {
                return Some(json!({"Integer": i}));
            }
            if let Ok(d) = s.parse::<f64>() {
                return Some(json!({"Double": d}));
            }
            match s {
                "true" | "false" => Some(json!({"Boolean": s == "true"})),
                _ => Some(json!({"String": s})),
            }
        };
        let value = match &v.kind {
            Kind::Scalar { .. } => scalar(v),
            Kind::Seq(items) => {
                let all: Option<Vec<serde_json::Value>> = items.iter().map(scalar).collect();
                let all = all.unwrap_or_default();
                let ints: Option<Vec<i64>> = all.iter().map(|x| x["Integer"].as_i64()).collect();
                match ints {
                    Some(ints) if !items.is_empty() => Some(json!({"IntegerList": ints})),
                    _ => {
                        let texts = items.iter().filter_map(|i| i.scalar()).collect::<Vec<_>>();
                        (texts.len() == items.len()).then(|| json!({"StringList": texts}))
                    }
                }
            }
            Kind::Map(_) => self.enum_value(v),
        };
        if value.is_none() {
            self.at(v.pos, "a parameter is a number, true or false, text, a list of numbers or of text, `{enum: ...}` or `{enum_list: [...]}`".into());
        }
        value
    }

    fn enum_value(&mut self, v: &Node) -> Option<serde_json::Value> {
        let fields = self.entries(v, "a parameter", &["enum", "enum_list"]);
        match fields.as_slice() {
            [("enum", e)] => e.scalar().map(|s| serde_json::json!({"Enum": s})),
            [("enum_list", l)] => {
                let Kind::Seq(items) = &l.kind else {
                    return None;
                };
                let texts: Option<Vec<&str>> = items.iter().map(|i| i.scalar()).collect();
                texts.map(|t| serde_json::json!({"EnumList": t}))
            }
            _ => None,
        }
    }

    fn associations(
        &mut self,
        node: &Node,
        policies: &BTreeMap<String, PolicySpec>,
    ) -> Vec<Association> {
        let Some(items) = self.list(node, "`associations`") else {
            return Vec::new();
        };
        let mut out: Vec<Association> = Vec::new();
        for item in items {
            let Some(a) = self.association(item, policies) else {
                continue;
            };
            if let Some(first) = out.iter().find(|b| b.target == a.target) {
                let why = format!(
                    "{} is associated twice (first at line {}); give each target once",
                    a.target, first.source.pos.line
                );
                self.at(item.pos, why);
                continue;
            }
            out.push(a);
        }
        out
    }

    fn association(
        &mut self,
        node: &Node,
        policies: &BTreeMap<String, PolicySpec>,
    ) -> Option<Association> {
        let fields = self.entries(node, "an association", ASSOCIATION_KEYS);
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        let mut targets = Vec::new();
        let mut configurations = Vec::new();
        for (key, v) in fields {
            match key {
                "root" if self.boolean(key, v) => targets.push(Some(AssociationTarget::Root)),
                "root" => {}
                "ou" => targets.push(self.ou_id(v).map(AssociationTarget::Ou)),
                "account" => targets.push(self.account_id(v).map(AssociationTarget::Account)),
                "self_managed" if self.boolean(key, v) => {
                    configurations.push(Some(ConfigurationRef::SelfManaged))
                }
                "self_managed" => {}
                "policy" => configurations.push(self.policy_ref(v, policies)),
                _ => {}
            }
        }
        let [target] = targets.as_slice() else {
            self.at(node.pos, "an association names exactly one target: `root: true`, `ou: ou-...` or `account: \"...\"`".into());
            return None;
        };
        let [configuration] = configurations.as_slice() else {
            self.at(
                node.pos,
                "an association names exactly one of `policy: <name>` and `self_managed: true`"
                    .into(),
            );
            return None;
        };
        Some(Association {
            target: target.clone()?,
            configuration: configuration.clone()?,
            source: self.source(node.pos),
        })
    }

    fn policy_ref(
        &mut self,
        v: &Node,
        policies: &BTreeMap<String, PolicySpec>,
    ) -> Option<ConfigurationRef> {
        let name = v.scalar().unwrap_or_default();
        if policies.contains_key(name) {
            return Some(ConfigurationRef::Policy(name.to_owned()));
        }
        let declared = policies.keys().cloned().collect::<Vec<_>>().join(", ");
        self.at(
            v.pos,
            format!("policy \"{name}\" is not declared under `policies` (declared: {declared})"),
        );
        None
    }
}
