//! muster's Organizations code against moto's Organizations emulator (PyPI `moto[server]`), an
//! implementation nobody here wrote. `tests/run-all` installs it and sets MUSTER_MOTO_SERVER;
//! without it the test says so and passes only when MUSTER_REQUIRE_MOTO is unset.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_organizations::config::{Credentials, Region};
use aws_sdk_organizations::Client;
use muster::aws::organizations::SdkOrganizations;
use muster::desired::parse_files;
use muster::reconcile::{resolve_desired, OrgStatus};

use crate::common::Reaped;

struct Moto {
    _child: Reaped,
    endpoint: String,
}

/// moto_server on a free loopback port, once it answers.
fn moto() -> Option<Moto> {
    let bin = match std::env::var("MUSTER_MOTO_SERVER") {
        Ok(b) => b,
        Err(_) => {
            let local = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/conformance-venv/bin/moto_server"
            );
            if std::path::Path::new(local).exists() {
                local.to_owned()
            } else if std::env::var_os("MUSTER_REQUIRE_MOTO").is_some() {
                panic!("MUSTER_REQUIRE_MOTO is set but moto_server is not installed (tests/run-all installs it)");
            } else {
                eprintln!(
                    "moto_server not installed: run tests/run-all, which installs it; skipping"
                );
                return None;
            }
        }
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let endpoint = format!("http://127.0.0.1:{port}");
    let m = Moto {
        _child: Reaped(child),
        endpoint,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(m)
}

#[tokio::test]
async fn organizations_code_reads_motos_organization() {
    let Some(m) = moto() else { return };
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&m.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    // Built with moto's own API: an organization, three OUs (Sandbox inside Workloads), 25
    // accounts in Workloads (two pages of 20), 3 in Sandbox, 2 in Security, one closed.
    let admin = Client::new(&sdk);
    let management = admin
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap()
        .organization()
        .unwrap()
        .master_account_id()
        .unwrap()
        .to_owned();
    let root = admin.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let ou = |parent: String, name: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit()
                .unwrap()
                .id()
                .unwrap()
                .to_owned()
        }
    };
    let workloads = ou(root.clone(), "Workloads").await;
    let sandbox = ou(workloads.clone(), "Sandbox").await;
    let security = ou(root.clone(), "Security").await;
    let mut placed: Vec<(String, String)> = Vec::new();
    for (parent, n) in [(&workloads, 25), (&sandbox, 3), (&security, 2)] {
        for i in 0..n {
            let name = format!("{}-{i}", &parent[parent.len() - 4..]);
            let id = admin
                .create_account()
                .email(format!("aws+{name}@example.com"))
                .account_name(&name)
                .send()
                .await
                .unwrap()
                .create_account_status()
                .unwrap()
                .account_id()
                .unwrap()
                .to_owned();
            admin
                .move_account()
                .account_id(&id)
                .source_parent_id(&root)
                .destination_parent_id(parent.as_str())
                .send()
                .await
                .unwrap();
            placed.push((id, parent.clone()));
        }
    }
    let closed = placed
        .iter()
        .find(|(_, p)| *p == sandbox)
        .unwrap()
        .0
        .clone();
    admin
        .close_account()
        .account_id(&closed)
        .send()
        .await
        .unwrap();
    let excluded = placed
        .iter()
        .find(|(_, p)| *p == workloads)
        .unwrap()
        .0
        .clone();

    // muster's adapter and expansion, as a pass runs them.
    let api = SdkOrganizations::new(&sdk, None);
    let tree = muster::org::fetch(&api, 4).await.unwrap();
    assert_eq!(
        tree.management().map(|a| a.to_string()),
        Some(management.clone())
    );
    assert_eq!(tree.paths[&sandbox], "Root/Workloads/Sandbox");
    assert_eq!(
        tree.accounts[&workloads].len(),
        25,
        "more than one page of 20"
    );
    assert_eq!(tree.all_accounts().len(), 1 + 30);

    let desired = parse_files(&[(
        "d.yaml".into(),
        format!(
            "version: 1\naccounts: []\norganization:\n  include:\n    - {{ou: {workloads}, recursive: true}}\n    - {{ou: {security}, recursive: false}}\n  exclude:\n    accounts: [\"{excluded}\"]\n"
        ),
    )])
    .unwrap();
    let (effective, outcome) = resolve_desired(&api, None, &desired, 4).await.unwrap();
    assert!(matches!(outcome.status, OrgStatus::Fresh));
    let want: BTreeSet<String> = placed
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| *id != closed && *id != excluded)
        .collect();
    let got: BTreeSet<String> = effective.accounts.keys().map(|a| a.to_string()).collect();
    assert_eq!(
        got, want,
        "ACTIVE accounts of the OUs, less the excluded one"
    );
    assert!(!got.contains(&management));
    let a = effective
        .accounts
        .values()
        .find(|a| a.ou.as_deref() == Some("Root/Workloads/Sandbox"))
        .unwrap();
    assert!(a.email.expose().ends_with("@example.com"));

    // The root, with the management account only when asked.
    let desired = parse_files(&[(
        "d.yaml".into(),
        "version: 1\norganization:\n  include: [{root: true}]\n  include_management_account: true\n".into(),
    )])
    .unwrap();
    let (effective, _) = resolve_desired(&api, None, &desired, 4).await.unwrap();
    assert_eq!(
        effective.accounts.len(),
        1 + 30 - 1,
        "all but the closed account"
    );
    assert!(effective
        .accounts
        .keys()
        .any(|a| a.to_string() == management));
}
