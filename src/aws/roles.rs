//! Acting in member accounts: `member_role` (`arn:aws:iam::{account}:role/MusterMember`)
//! assumed through STS, once per account per credential lifetime. Credentials are cached and
//! refreshed shortly before they expire, whatever the pass is doing; a refused AssumeRole is
//! remembered for a minute, so that one account's denial costs one call a pass, not one per
//! graph and region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;

use super::detective::SdkDetective;
use super::securityhub::SdkSecurityHub;
use super::telemetry::RequestMetrics;
use super::{call, Error, RequestSink};
use crate::domain::AccountId;

const SERVICE: &str = "sts";
/// The session name muster's assumed-role sessions carry (CloudTrail shows it).
pub const SESSION_NAME: &str = "muster-accept";
/// How long a refused AssumeRole is remembered.
const DENIAL_KEPT: Duration = Duration::from_secs(60);

/// The member-role template, checked: an IAM role ARN with `{account}` once in its account
/// field.
/// The role `template` (a checked `member_role`) names in `account`.
pub fn role_arn(template: &str, account: AccountId) -> String {
    template.replace("{account}", &account.to_string())
}

pub fn check_template(template: &str) -> Result<(), String> {
    let ok = template.matches("{account}").count() == 1
        && template.starts_with("arn:")
        && template.contains(":iam::{account}:role/")
        && template.len() <= 2048
        && template.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "member_role {template:?} must be an IAM role ARN with {{account}} as its account, e.g. \"arn:aws:iam::{{account}}:role/MusterMember\""
        ))
    }
}

/// Clients that act as one member account, through its role.
pub struct Member {
    pub detective: SdkDetective,
    pub securityhub: SdkSecurityHub,
}

/// The member role of every account, assumed on demand and cached.
#[derive(Clone)]
pub struct MemberRoles {
    shared: Arc<Shared>,
}

struct Shared {
    template: String,
    sts: aws_sdk_sts::Client,
    base: aws_config::SdkConfig,
    metrics: Option<Arc<dyn RequestSink>>,
    /// Per account: one lock, so that concurrent users of an account wait for one AssumeRole.
    accounts: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Held>>>>,
    /// Per account: its clients, built once (their credentials come from `accounts`).
    members: Mutex<HashMap<AccountId, Arc<Member>>>,
    /// The caller's own account (GetCallerIdentity, once).
    own: tokio::sync::OnceCell<AccountId>,
}

#[derive(Default)]
enum Held {
    #[default]
    Nothing,
    Credentials {
        creds: Credentials,
        /// Refreshed from here on.
        refresh_at: SystemTime,
    },
    Denied {
        error: Error,
        at: SystemTime,
    },
}

impl MemberRoles {
    /// Roles from `template` (checked by `check_template`), assumed with `base`'s credentials;
    /// STS requests counted in `metrics` when given.
    pub fn new(
        base: &aws_config::SdkConfig,
        template: &str,
        metrics: Option<Arc<dyn RequestSink>>,
    ) -> MemberRoles {
        let sts = aws_sdk_sts::config::Builder::from(base);
        let sts = match &metrics {
            Some(m) => sts.interceptor(RequestMetrics::new(SERVICE, m.clone())),
            None => sts,
        };
        MemberRoles {
            shared: Arc::new(Shared {
                template: template.to_owned(),
                sts: aws_sdk_sts::Client::from_conf(sts.build()),
                base: base.clone(),
                metrics,
                accounts: Mutex::new(HashMap::new()),
                members: Mutex::new(HashMap::new()),
                own: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The roles of the `member_role` setting, when it is set.
    pub fn of_setting(
        template: Option<&str>,
        base: &aws_config::SdkConfig,
        metrics: Option<Arc<dyn RequestSink>>,
    ) -> Option<MemberRoles> {
        template.map(|t| MemberRoles::new(base, t, metrics))
    }

    pub fn template(&self) -> &str {
        &self.shared.template
    }

    /// The role muster assumes in `account`.
    pub fn role_arn(&self, account: AccountId) -> String {
        self.shared.role_arn(account)
    }

    /// Assumes `account`'s role (or finds its credentials cached): whether muster can act there.
    pub async fn assume(&self, account: AccountId) -> Result<(), Error> {
        self.shared.credentials(account).await.map(drop)
    }

    /// The account muster's own credentials act as (GetCallerIdentity, asked once).
    pub async fn own_account(&self) -> Result<AccountId, Error> {
        let s = &self.shared;
        let id = s
            .own
            .get_or_try_init(|| async {
                let out = call(
                    SERVICE,
                    "GetCallerIdentity",
                    s.sts.get_caller_identity().send(),
                )
                .await?;
                super::account_in(
                    (SERVICE, "GetCallerIdentity"),
                    "the caller's account",
                    out.account(),
                )
            })
            .await?;
        Ok(*id)
    }

    /// Clients acting as `account`, once its role is assumed (or the refusal). They are built
    /// at the account's first use and kept: their credentials provider reads the cache.
    pub async fn member(&self, account: AccountId) -> Result<Arc<Member>, Error> {
        self.shared.credentials(account).await?;
        let mut members = self
            .shared
            .members
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let member = members
            .entry(account)
            .or_insert_with(|| Arc::new(self.build(account)));
        Ok(member.clone())
    }

    fn build(&self, account: AccountId) -> Member {
        let provider = RoleProvider {
            shared: self.shared.clone(),
            account,
        };
        let config = self
            .shared
            .base
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            // The cache here is the only one: it knows when each credential expires.
            .identity_cache(IdentityCache::no_cache())
            .build();
        let metrics = self.shared.metrics.clone();
        Member {
            detective: SdkDetective::new(config.clone(), metrics.clone()),
            securityhub: SdkSecurityHub::new(config, metrics),
        }
    }
}

impl Shared {
    fn role_arn(&self, account: AccountId) -> String {
        role_arn(&self.template, account)
    }

    fn slot(&self, account: AccountId) -> Arc<tokio::sync::Mutex<Held>> {
        let mut all = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(account).or_default().clone()
    }

    /// `account`'s credentials: the cached ones until shortly before they expire, else a new
    /// AssumeRole.
    async fn credentials(&self, account: AccountId) -> Result<Credentials, Error> {
        let slot = self.slot(account);
        let mut held = slot.lock().await;
        let now = SystemTime::now();
        match &*held {
            Held::Credentials { creds, refresh_at } if now < *refresh_at => {
                return Ok(creds.clone())
            }
            Held::Denied { error, at } if now < *at + DENIAL_KEPT => return Err(error.clone()),
            _ => {}
        }
        let role = self.role_arn(account);
        let request = self
            .sts
            .assume_role()
            .role_arn(&role)
            .role_session_name(SESSION_NAME)
            .send();
        match call(SERVICE, "AssumeRole", request).await {
            Ok(out) => {
                let Some(c) = out.credentials() else {
                    let e = Error::invalid_response(
                        SERVICE,
                        "AssumeRole",
                        format!("AssumeRole of {role} answered without credentials"),
                    );
                    return Err(e);
                };
                let expires = SystemTime::try_from(*c.expiration()).unwrap_or(now);
                // Refresh a quarter of the lifetime early, at most a minute: a call signed just
                // before the refresh still reaches AWS in time.
                let lifetime = expires.duration_since(now).unwrap_or_default();
                let margin = (lifetime / 4).min(Duration::from_secs(60));
                let creds = Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_owned()),
                    Some(expires),
                    "muster-member-role",
                );
                tracing::debug!(account = %account, role = %role, expires_in_ms = lifetime.as_millis() as u64, "assumed the member role");
                *held = Held::Credentials {
                    creds: creds.clone(),
                    refresh_at: expires - margin,
                };
                Ok(creds)
            }
            Err(e) => {
                tracing::warn!(account = %account, role = %role, code = %e.code, error = %e.message, "cannot assume the member role");
                *held = Held::Denied {
                    error: e.clone(),
                    at: now,
                };
                Err(e)
            }
        }
    }
}

/// The credentials of one account's role, for its clients.
#[derive(Clone)]
struct RoleProvider {
    shared: Arc<Shared>,
    account: AccountId,
}

impl std::fmt::Debug for RoleProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleProvider")
            .field("account", &self.account)
            .finish()
    }
}

impl ProvideCredentials for RoleProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.shared
                .credentials(self.account)
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_names_the_account_once_as_an_iam_role() {
        assert!(check_template("arn:aws:iam::{account}:role/MusterMember").is_ok());
        assert!(check_template("arn:aws-us-gov:iam::{account}:role/path/Muster").is_ok());
        assert!(check_template("arn:aws:iam::123456789012:role/MusterMember").is_err());
        assert!(check_template("arn:aws:iam::{account}:user/{account}").is_err());
        assert!(check_template("MusterMember").is_err());
        assert_eq!(
            check_template("arn:aws:iam::{account}:role/Muster Member").unwrap_err(),
            "member_role \"arn:aws:iam::{account}:role/Muster Member\" must be an IAM role ARN with {account} as its account, e.g. \"arn:aws:iam::{account}:role/MusterMember\""
        );
    }
}
