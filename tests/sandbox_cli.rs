//! `muster sandbox` as a user runs it: it prints the exports line, the Rust SDK's default
//! configuration chain works with only those variables set, and SIGTERM stops it cleanly.
//!
//! This file holds one test on purpose: it sets process environment variables, which is only
//! sound while no other test thread reads them.

use std::process::{Command, Stdio};

#[path = "common/mod.rs"]
mod common;

#[tokio::test]
async fn the_exports_line_is_all_the_rust_sdk_needs_and_sigterm_exits_0() {
    let (mut child, line) = common::sandbox_process(Stdio::inherit());
    let vars: Vec<(String, String)> = line
        .trim()
        .strip_prefix("export ")
        .unwrap_or_else(|| panic!("not an exports line: {line:?}"))
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_DEFAULT_REGION"
        ]
    );
    let tmp = std::env::temp_dir().join(format!("muster-cli-test-{}", std::process::id()));
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe {
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            std::env::remove_var(k);
        }
        std::env::set_var("AWS_CONFIG_FILE", &tmp);
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &tmp);
        for (k, v) in &vars {
            std::env::set_var(k, v);
        }
    }
    let config = aws_config::load_from_env().await;
    let org = aws_sdk_organizations::Client::new(&config);
    let o = org.describe_organization().send().await.unwrap();
    assert_eq!(
        o.organization().unwrap().master_account_id(),
        Some("111111111111")
    );
    let det = aws_sdk_detective::Client::new(&config);
    let graphs = det.list_graphs().send().await.unwrap();
    assert!(graphs.graph_list().is_empty());
    let hub = aws_sdk_securityhub::Client::new(&config);
    assert_eq!(
        hub.describe_hub().send().await.unwrap().hub_arn(),
        Some("arn:aws:securityhub:us-east-1:111111111111:hub/default")
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
