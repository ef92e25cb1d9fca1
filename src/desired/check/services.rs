//! The service sections: `detective` (graphs, data-source packages) and each hub-shaped
//! service (`securityhub`: regions, prune, organization).

use super::*;

impl Checker {
    pub(super) fn check_detective(&mut self, node: &Node) {
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

    pub(super) fn check_hub(&mut self, service: Service, node: &Node) {
        let first = self.hubs.get(&service).map(|(_, s)| s.to_string());
        let name = service.as_str();
        let keys = hub_keys(service);
        let Some(fields) = self.section(node, name, &keys, first) else {
            return;
        };
        let mut s = HubSettings::default();
        let regions_given = fields.iter().any(|(k, _)| *k == "regions");
        let mut central = None;
        for (key, v) in fields {
            match key {
                "regions" => s.regions = self.regions(v),
                "prune" => s.prune = self.boolean(key, v),
                "organization" => s.organization = self.auto_enable(service, v),
                "central_configuration" => central = Some(v),
                _ => {}
            }
        }
        let needs = format!("`{name}` needs `regions`: the regions whose hub must have the accounts (e.g. `regions: [us-east-1]`)");
        self.require(node, regions_given, &needs);
        if let Some(v) = central {
            s.central = self.central(v, &s.regions);
            self.central_and_auto_enable(name, v, s.organization);
        }
        let source = self.source(node.pos);
        self.hubs.insert(service, (s, source));
    }

    /// Under central configuration Security Hub forces AutoEnable off and standards to NONE:
    /// declaring otherwise could never converge.
    fn central_and_auto_enable(&mut self, name: &str, at: &Node, organization: Option<AutoEnable>) {
        let Some(o) = organization else { return };
        if o.auto_enable || o.standards == Some(Standards::Default) {
            let why = format!("`{name}.organization` turns auto_enable on (or standards DEFAULT) but `central_configuration` is declared: central configuration forces them off; configure new accounts with a policy associated with their OU or the root instead");
            self.at(at.pos, why);
        }
    }

    /// A non-empty list of distinct region names.
    pub(super) fn regions(&mut self, node: &Node) -> Vec<Region> {
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
    pub(super) fn auto_enable(&mut self, service: Service, node: &Node) -> Option<AutoEnable> {
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
    pub(super) fn packages(&mut self, node: &Node) -> Option<BTreeSet<Package>> {
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

    pub(super) fn boolean(&mut self, key: &str, v: &Node) -> bool {
        match (v.scalar(), v.is_quoted()) {
            (Some("true"), false) => true,
            (Some("false"), false) => false,
            _ => {
                self.at(v.pos, format!("`{key}` must be true or false"));
                false
            }
        }
    }

    pub(super) fn graphs(&mut self, node: &Node) -> Vec<GraphRef> {
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
