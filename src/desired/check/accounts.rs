//! The `accounts` section: ids, emails and names, each account once.

use super::*;

impl Checker {
    pub(super) fn check_accounts(&mut self, node: &Node) {
        if self.accounts_at.is_none() {
            self.accounts_at = Some(self.source(node.pos));
        }
        if node.is_null() {
            return;
        }
        let Some(items) = self.list(node, "`accounts`") else {
            return;
        };
        for item in items {
            let fields = self.entries(item, "an account", ACCOUNT_KEYS);
            if !matches!(item.kind, Kind::Map(_)) {
                continue;
            }
            let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            let id = match get("id") {
                None => {
                    self.at(
                        item.pos,
                        "an account needs `id` (its 12-digit account id, quoted)".into(),
                    );
                    None
                }
                Some(v) => self.account_id(v),
            };
            let email = match get("email") {
                None => {
                    self.at(
                        item.pos,
                        "an account needs `email` (its root email address: Detective verifies it)"
                            .into(),
                    );
                    None
                }
                Some(v) => self.email(v),
            };
            let name = get("name").and_then(|v| match v.scalar() {
                Some(n) if n.chars().count() <= NAME_MAX_CHARS => Some(n.to_owned()),
                Some(_) => {
                    self.at(
                        v.pos,
                        format!("`name` is longer than {NAME_MAX_CHARS} characters"),
                    );
                    None
                }
                None => {
                    self.at(v.pos, format!("`name` must be text, not {}", v.describe()));
                    None
                }
            });
            let (Some(id), Some(email)) = (id, email) else {
                continue;
            };
            let pos = get("id").map_or(item.pos, |v| v.pos);
            if let Some(first) = self.accounts.get(&id) {
                let first = first.source.to_string();
                self.at(
                    pos,
                    format!("account {id} is declared twice (first at {first}); keep one"),
                );
                continue;
            }
            let source = self.source(pos);
            self.accounts.insert(
                id,
                DesiredAccount {
                    id,
                    email,
                    name,
                    source,
                    ou: None,
                },
            );
        }
    }

    pub(super) fn account_id(&mut self, v: &Node) -> Option<AccountId> {
        let Some(raw) = v.scalar() else {
            self.at(
                v.pos,
                format!(
                    "account id must be a quoted string of 12 digits, not {}",
                    v.describe()
                ),
            );
            return None;
        };
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        if !v.is_quoted() && digits {
            let hint = if raw.len() < 12 {
                format!(
                    "; as a number it lost its leading zeros: write id: \"{raw:0>12}\" if that is the account"
                )
            } else {
                format!("; write id: \"{raw}\"")
            };
            self.at(
                v.pos,
                format!(
                    "account id {raw} must be quoted so YAML keeps it a string of 12 digits{hint}"
                ),
            );
            return None;
        }
        match AccountId::parse(raw) {
            Some(id) => Some(id),
            None => {
                self.at(
                    v.pos,
                    format!("account id \"{raw}\" must be 12 digits (quote ids that start with 0)"),
                );
                None
            }
        }
    }

    pub(super) fn email(&mut self, v: &Node) -> Option<Email> {
        let Some(raw) = v.scalar() else {
            self.at(
                v.pos,
                format!("`email` must be an address, not {}", v.describe()),
            );
            return None;
        };
        if let Some(e) = Email::parse(raw) {
            return Some(e);
        }
        let n = raw.chars().count();
        let why = if n == 0 {
            "is empty".to_owned()
        } else if n > EMAIL_MAX_CHARS {
            format!("has {n} characters; Detective accepts at most {EMAIL_MAX_CHARS}")
        } else {
            "is not an address Detective accepts (like name@example.com)".to_owned()
        };
        self.at(v.pos, format!("`email` {why}"));
        None
    }
}
