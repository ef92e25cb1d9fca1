//! The `organization` section: includes (OUs, the root), excludes and the delegated administrator.

use super::*;

impl Checker {
    pub(super) fn check_organization(&mut self, node: &Node) {
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
    pub(super) fn check_includes(
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
    pub(super) fn check_excludes(
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
    pub(super) fn include(&mut self, item: &Node) -> Option<Include> {
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
    pub(super) fn ou_id(&mut self, v: &Node) -> Option<String> {
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
}
