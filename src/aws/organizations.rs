//! `OrganizationsApi` over aws-sdk-organizations: the reads that expand OUs into accounts,
//! 20 a page (the most ListAccountsForParent and ListOrganizationalUnitsForParent return).
//! Organizations is a global service: one client, in the region the SDK settings name.

use std::sync::Arc;

use aws_sdk_organizations::Client;

use super::telemetry::{RequestMetrics, RequestSink};
use super::{account_in, every_item, Error, OrganizationsApi};
use crate::domain::{AccountId, Email, Service};
use crate::observed::{OrgAccount, OrgAccountStatus, OrgUnit};

pub const PAGE_SIZE: i32 = 20;

const SERVICE: &str = "organizations";

pub struct SdkOrganizations {
    base: aws_config::SdkConfig,
    metrics: Option<Arc<dyn RequestSink>>,
    /// Built at the first call: a muster whose desired state takes nothing from the
    /// organization never builds it.
    client: std::sync::OnceLock<Client>,
}

impl SdkOrganizations {
    pub fn new(base: &aws_config::SdkConfig, metrics: Option<Arc<dyn RequestSink>>) -> Self {
        SdkOrganizations {
            base: base.clone(),
            metrics,
            client: std::sync::OnceLock::new(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            let mut conf = aws_sdk_organizations::config::Builder::from(&self.base);
            if let Some(m) = &self.metrics {
                conf = conf.interceptor(RequestMetrics::new(SERVICE, m.clone()));
            }
            Client::from_conf(conf.build())
        })
    }
}

fn invalid(operation: &'static str, what: String) -> Error {
    Error::invalid_response(SERVICE, operation, what)
}

fn unit(
    operation: &'static str,
    id: Option<&str>,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<OrgUnit, Error> {
    let id = id.unwrap_or_default();
    if !(id.starts_with("r-") || id.starts_with("ou-")) {
        return Err(invalid(
            operation,
            format!("\"{id}\" is not a root or OU id"),
        ));
    }
    Ok(OrgUnit {
        id: id.to_owned(),
        name: name.unwrap_or_default().to_owned(),
        arn: arn.map(str::to_owned),
    })
}

fn account(
    operation: &'static str,
    a: &aws_sdk_organizations::types::Account,
) -> Result<OrgAccount, Error> {
    let id = account_in((SERVICE, operation), "an account id", a.id())?;
    #[allow(deprecated)]
    let status = match a.status().map(|s| s.as_str()) {
        Some("ACTIVE") => OrgAccountStatus::Active,
        Some("SUSPENDED") => OrgAccountStatus::Suspended,
        Some("PENDING_CLOSURE") => OrgAccountStatus::PendingClosure,
        other => OrgAccountStatus::Other(other.unwrap_or_default().to_owned()),
    };
    Ok(OrgAccount {
        id,
        name: a.name().unwrap_or_default().to_owned(),
        email: a.email().and_then(Email::parse),
        status,
    })
}

impl OrganizationsApi for SdkOrganizations {
    async fn list_roots(&self) -> Result<Vec<OrgUnit>, Error> {
        let op = "ListRoots";
        let request = self.client().list_roots().max_results(PAGE_SIZE);
        every_item((SERVICE, op), request.into_paginator().send(), |p| {
            p.roots()
                .iter()
                .map(|r| unit(op, r.id(), r.name(), r.arn()))
                .collect()
        })
        .await
    }

    async fn list_ous(&self, parent: &str) -> Result<Vec<OrgUnit>, Error> {
        let op = "ListOrganizationalUnitsForParent";
        let request = self.client().list_organizational_units_for_parent();
        let pages = request.parent_id(parent).max_results(PAGE_SIZE);
        every_item((SERVICE, op), pages.into_paginator().send(), |p| {
            let ous = p.organizational_units().iter();
            ous.map(|u| unit(op, u.id(), u.name(), u.arn())).collect()
        })
        .await
    }

    async fn list_accounts(&self, parent: &str) -> Result<Vec<OrgAccount>, Error> {
        let op = "ListAccountsForParent";
        let request = self.client().list_accounts_for_parent().parent_id(parent);
        let pages = request.max_results(PAGE_SIZE).into_paginator().send();
        every_item((SERVICE, op), pages, |p| {
            p.accounts().iter().map(|a| account(op, a)).collect()
        })
        .await
    }

    async fn delegated_administrators(&self, service: Service) -> Result<Vec<AccountId>, Error> {
        let op = "ListDelegatedAdministrators";
        let request = self.client().list_delegated_administrators();
        let pages = request
            .service_principal(service.principal())
            .max_results(PAGE_SIZE);
        every_item((SERVICE, op), pages.into_paginator().send(), |p| {
            let what = "a delegated administrator's account id";
            (p.delegated_administrators().iter())
                .map(|a| account_in((SERVICE, op), what, a.id()))
                .collect()
        })
        .await
    }
}
