//! The `member` section: a muster in a member account, and the administrators it accepts.

use super::*;

impl Checker {
    pub(super) fn check_member(&mut self, node: &Node) {
        let first = self.member.as_ref().map(|(_, s)| s.to_string());
        let Some(fields) = self.section(node, "member", MEMBER_KEYS, first) else {
            return;
        };
        let mut m = MemberSettings {
            expected_administrators: Vec::new(),
            regions: Vec::new(),
            detective: true,
            securityhub: true,
            accept: false,
            decline_unexpected: false,
        };
        let given = |key: &str| fields.iter().any(|(k, _)| *k == key);
        let (admins_given, regions_given) = (given("expected_administrators"), given("regions"));
        for (key, v) in fields {
            match key {
                "expected_administrators" => {
                    let (what, of) = ("`expected_administrators`", "a list of account ids");
                    let Some(items) = self.list_of(v, what, of) else {
                        continue;
                    };
                    if items.is_empty() {
                        self.at(v.pos, "`expected_administrators` is empty; name the administrator accounts this account may join".into());
                    }
                    for item in items {
                        if let Some(id) = self.account_id(item) {
                            if m.expected_administrators.contains(&id) {
                                self.at(item.pos, format!("administrator {id} is listed twice"));
                            } else {
                                m.expected_administrators.push(id);
                            }
                        }
                    }
                }
                "regions" => m.regions = self.regions(v),
                "detective" => m.detective = self.boolean(key, v),
                "securityhub" => m.securityhub = self.boolean(key, v),
                "accept" => m.accept = self.boolean(key, v),
                "decline_unexpected" => m.decline_unexpected = self.boolean(key, v),
                _ => {}
            }
        }
        self.require(node, admins_given, "`member` needs `expected_administrators`: the administrator accounts this account may join (e.g. `expected_administrators: [\"111111111111\"]`)");
        self.require(
            node,
            regions_given,
            "`member` needs `regions`: where to watch invitations (e.g. `regions: [us-east-1]`)",
        );
        if !m.detective && !m.securityhub {
            self.at(
                node.pos,
                "`member` watches nothing: `detective` and `securityhub` are both false".into(),
            );
        }
        let source = self.source(node.pos);
        self.member = Some((m, source));
    }
}
