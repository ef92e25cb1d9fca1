//! Test helpers: a sandbox on 127.0.0.1:0 and real aws-sdk clients pointed at it, acting as a
//! given account in a given region.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_detective::config::{Credentials, Region};
use muster::sandbox::{fixture, Fixture, Sandbox};

pub const MANAGEMENT: &str = "111111111111";
pub const SECURITY: &str = "222222222222";

/// The demo world shipped in config/sandbox.yaml.
pub fn demo() -> Fixture {
    fixture::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sandbox.yaml")).unwrap()
}

pub async fn start(f: Fixture) -> Sandbox {
    Sandbox::start(f, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// SDK settings acting as the account behind `key` in `region`, with quick retries (3
/// attempts, as the SDK's standard mode) so that fault tests stay fast.
pub async fn sdk(sb: &Sandbox, key: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(sb.endpoint())
        .credentials_provider(Credentials::new(key, "sandbox", None, None, "sandbox-test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .load()
        .await
}

pub async fn detective(sb: &Sandbox, key: &str, region: &str) -> aws_sdk_detective::Client {
    aws_sdk_detective::Client::new(&sdk(sb, key, region).await)
}

pub async fn securityhub(sb: &Sandbox, key: &str, region: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&sdk(sb, key, region).await)
}

pub async fn organizations(sb: &Sandbox, key: &str) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(&sdk(sb, key, "us-east-1").await)
}

type HttpResponse = aws_sdk_detective::config::http::HttpResponse;

/// The error name and HTTP status an SDK call failed with.
pub fn failure<E>(e: &aws_sdk_detective::error::SdkError<E, HttpResponse>) -> (String, u16)
where
    E: aws_sdk_detective::error::ProvideErrorMetadata,
{
    use aws_sdk_detective::error::ProvideErrorMetadata;
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (e.code().unwrap_or("<no code>").to_owned(), status)
}

pub fn message<E>(e: &aws_sdk_detective::error::SdkError<E, HttpResponse>) -> String
where
    E: aws_sdk_detective::error::ProvideErrorMetadata,
{
    use aws_sdk_detective::error::ProvideErrorMetadata;
    e.message().unwrap_or("").to_owned()
}

/// The behavior graph of the security account in `region`.
pub async fn graph(client: &aws_sdk_detective::Client) -> String {
    let graphs = client.list_graphs().send().await.unwrap();
    graphs.graph_list()[0].arn().unwrap().to_owned()
}
