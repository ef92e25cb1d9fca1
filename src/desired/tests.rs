//! The desired-state checks, case by case: every message exactly, with its file, line and column.

use super::*;

fn check(files: &[(&str, &str)]) -> Result<DesiredState, Vec<String>> {
    let owned: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    parse_files(&owned).map_err(|e| e.0.iter().map(|p| p.to_string()).collect())
}

const GOOD: &str = r#"version: 1
accounts:
  - id: "222222222222"
    email: team-a@example.com
    name: team-a-prod
  - {id: "012345678901", email: b@example.com}
detective:
  graphs:
    - region: us-east-1
    - arn: arn:aws:detective:eu-west-1:111111111111:graph:0123456789abcdef0123456789abcdef
  message: "Welcome to the security graph"
  disable_email_notification: false
  prune: true
"#;

#[test]
fn a_valid_desired_state_reads_into_domain_types() {
    let d = check(&[("accounts.yaml", GOOD)]).unwrap();
    assert_eq!(d.accounts.len(), 2);
    let a = &d.accounts[&AccountId::parse("222222222222").unwrap()];
    assert_eq!(a.email.expose(), "team-a@example.com");
    assert_eq!(a.name.as_deref(), Some("team-a-prod"));
    assert_eq!(a.source.to_string(), "accounts.yaml:3:9");
    assert_eq!(d.detective.graphs.len(), 2);
    assert!(d.detective.prune);
    assert_eq!(
        d.detective.message.as_deref(),
        Some("Welcome to the security graph")
    );
    assert_eq!(d.digest.len(), 64);
    // The digest follows the content.
    let other = check(&[("accounts.yaml", &GOOD.replace("team-a-prod", "x"))]).unwrap();
    assert_ne!(d.digest, other.digest);
}

#[test]
fn every_error_in_every_file_is_reported_at_once_with_its_place() {
    let a = r#"version: 1
acounts: []
accounts:
  - id: 123456789012
  - id: 12345
  - id: "12345"
    email: x@example.com
  - id: "333333333333"
    email: not-an-email
    nmae: foo
  - email: y@example.com
  - id: "444444444444"
  - id: "555555555555"
    email: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com"
  - id: "666666666666"
    email: ok@example.com
"#;
    let b = r#"version: 2
accounts:
  - id: "666666666666"
    email: again@example.com
detective:
  graphs:
    - region: Mars
    - arn: arn:aws:detective:x
    - {}
    - {region: us-east-1, arn: arn:aws:detective:eu-west-1:111111111111:graph:0123456789abcdef0123456789abcdef}
    - region: us-east-2
    - region: us-east-2
  message: ""
  prune: "yes"
  pruned: true
"#;
    let c = "detective: {prune: false}\nversion: 1\n";
    let errs = check(&[("a.yaml", a), ("b.yaml", b), ("c.yaml", c)]).unwrap_err();
    assert_eq!(
        errs,
        [
            "a.yaml:2:1: unknown key `acounts` in the desired state (did you mean `accounts`?)",
            "a.yaml:4:5: an account needs `email` (its root email address: Detective verifies it)",
            "a.yaml:4:9: account id 123456789012 must be quoted so YAML keeps it a string of 12 digits; write id: \"123456789012\"",
            "a.yaml:5:5: an account needs `email` (its root email address: Detective verifies it)",
            "a.yaml:5:9: account id 12345 must be quoted so YAML keeps it a string of 12 digits; as a number it lost its leading zeros: write id: \"000000012345\" if that is the account",
            "a.yaml:6:9: account id \"12345\" must be 12 digits (quote ids that start with 0)",
            "a.yaml:9:12: `email` is not an address Detective accepts (like name@example.com)",
            "a.yaml:10:5: unknown key `nmae` in an account (did you mean `name`?)",
            "a.yaml:11:5: an account needs `id` (its 12-digit account id, quoted)",
            "a.yaml:12:5: an account needs `email` (its root email address: Detective verifies it)",
            "a.yaml:14:12: `email` has 82 characters; Detective accepts at most 64",
            "b.yaml:1:10: version 2 is not supported; this muster reads version 1",
            "b.yaml:3:9: account 666666666666 is declared twice (first at a.yaml:15:9); keep one",
            "b.yaml:7:15: `region` \"Mars\" is not a region name like us-east-1",
            "b.yaml:8:12: `arn` is not a behavior graph ARN like arn:aws:detective:us-east-1:111111111111:graph:<32 hex digits>",
            "b.yaml:9:7: a graph needs `region` (the caller's graph there) or `arn`",
            "b.yaml:10:8: a graph takes `region` or `arn`, not both",
            "b.yaml:12:7: the graph in us-east-2 is listed twice",
            "b.yaml:13:12: `message` has 0 characters; Detective accepts 1 to 1000",
            "b.yaml:14:10: `prune` must be true or false",
            "b.yaml:15:3: unknown key `pruned` in `detective` (did you mean `prune`?)",
            "c.yaml:1:13: `detective` is already set at b.yaml:6:3; keep the settings in one file",
        ]
    );
}

#[test]
fn empty_and_broken_files_are_problems_never_no_accounts() {
    let errs = check(&[("empty.yaml", "  \n")]).unwrap_err();
    assert_eq!(errs, ["empty.yaml: the file is empty; an empty desired state is never read as \"no accounts\" (declare accounts or remove the file)"]);
    let errs = check(&[("bad.yaml", "version: 1\naccounts: [\n")]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("bad.yaml:3:1: invalid YAML: "),
        "{errs:?}"
    );
    let errs = check(&[("v.yaml", "accounts: []\n")]).unwrap_err();
    assert_eq!(
        errs,
        ["v.yaml:1:1: `version` is missing (write `version: 1` at the top)"]
    );
    let errs = check(&[("m.yaml", "version: 1\ndetective: {message: [a]}\n")]).unwrap_err();
    assert_eq!(errs, ["m.yaml:2:22: `message` must be text, not a list"]);
}

#[test]
fn directories_merge_their_yaml_files_and_refuse_oversized_ones() {
    let dir = std::env::temp_dir().join(format!("muster-desired-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        "version: 1\naccounts: [{id: \"222222222222\", email: a@example.com}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yml"),
        "version: 1\naccounts: [{id: \"333333333333\", email: b@example.com}]\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not yaml").unwrap();
    let d = load(&dir).unwrap();
    assert_eq!(d.accounts.len(), 2);
    assert_eq!(d.files.len(), 2);
    std::fs::write(dir.join("c.yaml"), "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
    let err = load(&dir).unwrap_err();
    assert_eq!(
        err.0.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [format!(
            "{}: the file is {} bytes; the limit is 1048576 (split the accounts over several files in a directory)",
            dir.join("c.yaml").display(),
            MAX_FILE_BYTES + 1
        )]
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = load(&empty).unwrap_err();
    assert!(err.0[0].message.contains("has no *.yaml files"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nearest_keys_are_offered_only_for_likely_typos() {
    assert_eq!(nearest("emial", ACCOUNT_KEYS), Some("email"));
    assert_eq!(nearest("zzzzzz", ACCOUNT_KEYS), None);
    assert_eq!(
        nearest("disable_email_notifications", DETECTIVE_KEYS),
        Some("disable_email_notification")
    );
}

#[test]
fn long_messages_and_alias_bombs_are_refused_with_their_place() {
    let long = format!("version: 1\ndetective:\n  message: {}\n", "x".repeat(1001));
    let errs = check(&[("m.yaml", &long)]).unwrap_err();
    assert_eq!(
        errs,
        ["m.yaml:3:12: `message` has 1001 characters; Detective accepts 1 to 1000"]
    );

    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        bomb += &format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        );
    }
    let errs = check(&[("bomb.yaml", &bomb)]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("bomb.yaml:")
            && errs[0].contains("invalid YAML: aliases expand the document past 200000 nodes"),
        "{errs:?}"
    );
}

#[test]
fn a_securityhub_section_names_regions_and_is_checked_like_the_rest() {
    let with = format!("{GOOD}securityhub:\n  regions: [us-east-1, eu-west-1]\n  prune: false\n");
    let d = check(&[("accounts.yaml", &with)]).unwrap();
    let s = d.hub(Service::SecurityHub).unwrap();
    assert_eq!(
        s.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["us-east-1", "eu-west-1"]
    );
    assert!(!s.prune);
    let without = check(&[("accounts.yaml", GOOD)]).unwrap();
    assert_eq!(without.hub(Service::SecurityHub), None);

    let bad =
        format!("{GOOD}securityhub:\n  regions: [us-east-1, useast1, us-east-1]\n  prnue: true\n");
    assert_eq!(
        check(&[("accounts.yaml", &bad)]).unwrap_err(),
        [
            "accounts.yaml:15:24: \"useast1\" is not a region name like us-east-1",
            "accounts.yaml:15:33: region us-east-1 is listed twice",
            "accounts.yaml:16:3: unknown key `prnue` in `securityhub` (did you mean `prune`?)",
        ]
    );
    let empty = format!("{GOOD}securityhub:\n  regions: []\n");
    assert_eq!(
        check(&[("accounts.yaml", &empty)]).unwrap_err(),
        ["accounts.yaml:15:12: `regions` is empty; name at least one region"]
    );
    let none = format!("{GOOD}securityhub:\n  prune: true\n");
    assert_eq!(
        check(&[("accounts.yaml", &none)]).unwrap_err(),
        ["accounts.yaml:15:3: `securityhub` needs `regions`: the regions whose hub must have the accounts (e.g. `regions: [us-east-1]`)"]
    );
    let twice = [
        ("a.yaml", with.as_str()),
        (
            "b.yaml",
            "version: 1\nsecurityhub:\n  regions: [us-east-1]\n",
        ),
    ];
    assert_eq!(
        check(&twice).unwrap_err(),
        ["b.yaml:3:3: `securityhub` is already set at a.yaml:15:3; keep the settings in one file"]
    );
}

#[test]
fn an_organization_section_reads_includes_and_excludes() {
    let text = concat!(
        "version: 1\n",
        "accounts:\n",
        "  - {id: \"500000000001\", email: a@example.org}\n",
        "organization:\n",
        "  include:\n",
        "    - {ou: ou-m5tr-workloads}\n",
        "    - {ou: ou-m5tr-security, recursive: false}\n",
        "    - {root: true}\n",
        "  exclude:\n",
        "    accounts: [\"222222222222\"]\n",
        "    ous: [ou-m5tr-sandboxes]\n",
        "  include_management_account: true\n",
    );
    let d = check(&[("d.yaml", text)]).unwrap();
    let o = d.organization.unwrap();
    assert_eq!(
        o.selection.include,
        vec![
            Include::Ou {
                id: "ou-m5tr-workloads".into(),
                recursive: true
            },
            Include::Ou {
                id: "ou-m5tr-security".into(),
                recursive: false
            },
            Include::Root,
        ]
    );
    assert!(o.selection.include_management);
    assert_eq!(o.source.to_string(), "d.yaml:5:3");
    assert!(o
        .selection
        .exclude_accounts
        .contains(&AccountId::parse("222222222222").unwrap()));
}

#[test]
fn organization_conflicts_and_bad_ids_are_located_errors() {
    let a = r#"version: 1
accounts:
  - {id: "222222222222", email: a@example.org}
organization:
  include:
    - {ou: ou-m5tr-workloads}
    - {ou: OU-bad}
    - {ou: ou-m5tr-security, root: true}
    - {root: false}
    - {}
  exclude:
    accounts: ["222222222222", 3]
    ous: [ou-m5tr-workloads]
"#;
    let errs = check(&[("a.yaml", a)]).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "a.yaml:7:12: \"OU-bad\" is not an OU id like ou-ab12-cdef3456",
            "a.yaml:8:8: an `include` entry takes `ou` or `root`, not both",
            "a.yaml:9:14: `root: false` includes nothing; remove the entry",
            "a.yaml:10:7: an `include` entry needs `ou` (an OU id like ou-ab12-cdef3456) or `root: true`",
            "a.yaml:12:16: account 222222222222 is excluded from the organization but listed by hand at a.yaml:3:10; keep one",
            "a.yaml:12:32: account id 3 must be quoted so YAML keeps it a string of 12 digits; as a number it lost its leading zeros: write id: \"000000000003\" if that is the account",
            "a.yaml:13:11: ou-m5tr-workloads is both included (line 6) and excluded; keep one",
        ]
    );
    let none =
        check(&[("b.yaml", "version: 1\norganization: {exclude: {ous: []}}\n")]).unwrap_err();
    assert_eq!(none, vec!["b.yaml:2:16: `organization` needs `include`: the OUs (`{ou: ou-..., recursive: true}`) or the root (`{root: true}`) whose accounts are desired"]);
}

#[test]
fn a_member_section_is_its_own_kind_of_desired_state() {
    let good = "version: 1\nmember:\n  expected_administrators: [\"111111111111\"]\n  regions: [us-east-1, eu-west-1]\n  securityhub: false\n  accept: true\n";
    let d = check(&[("m.yaml", good)]).unwrap();
    let m = d.member.unwrap();
    assert!(m.expects(AccountId::parse("111111111111").unwrap()));
    assert!(m.accept && !m.decline_unexpected && m.detective && !m.securityhub);
    assert_eq!(m.watched().len(), 2);

    let mixed = "version: 1\naccounts: []\nmember:\n  expected_administrators: []\n  regions: [us-east-1]\n  detective: false\n  securityhub: false\n";
    assert_eq!(
        check(&[("m.yaml", mixed)]).unwrap_err(),
        vec![
            "m.yaml:2:11: `accounts` is for a muster that manages members; this desired state has `member` (at m.yaml:4:3), for a muster in a member account: keep one kind",
            "m.yaml:4:3: `member` watches nothing: `detective` and `securityhub` are both false",
            "m.yaml:4:28: `expected_administrators` is empty; name the administrator accounts this account may join",
        ]
    );
    let missing = "version: 1\nmember: {accept: true}\n";
    let needs = [
        "m.yaml:2:10: `member` needs `expected_administrators`: the administrator accounts this account may join (e.g. `expected_administrators: [\"111111111111\"]`)",
        "m.yaml:2:10: `member` needs `regions`: where to watch invitations (e.g. `regions: [us-east-1]`)",
    ];
    assert_eq!(check(&[("m.yaml", missing)]).unwrap_err(), needs);
}

/// Found by the fuzz target: a block sequence nested 100,000 deep (`- - - ... x`) overflowed the
/// stack (the process aborted) instead of being refused; block mappings nest the same way.
#[test]
fn a_deeply_nested_block_collection_is_refused_not_a_stack_overflow() {
    let sequences = "- ".repeat(100_000) + "x";
    let mappings: String = (0..5000)
        .map(|i| format!("{}b:\n", " ".repeat(i)))
        .collect();
    for (nested, at) in [(sequences, "3:511"), (mappings, "259:258")] {
        let text = format!("version: 1\naccounts:\n{nested}\n");
        let errs = check(&[("deep.yaml", &text)]).unwrap_err();
        assert_eq!(
            errs,
            [format!(
                "deep.yaml:{at}: invalid YAML: the document nests deeper than 256 levels"
            )]
        );
    }
}

/// Found by fuzzing: documents after the first were ignored, and what they declared with them.
#[test]
fn a_desired_state_file_with_a_second_document_is_refused_where_it_starts() {
    let text = "version: 1\naccounts:\n  - {id: \"222222222222\", email: a@example.com}\ndetective:\n  graphs: [{region: us-east-1}]\n---\naccounts:\n  - {id: \"333333333333\", email: b@example.com}\n---\n: [\n";
    assert_eq!(
        check(&[("two.yaml", text)]).unwrap_err(),
        ["two.yaml:6:1: invalid YAML: a desired-state file holds one YAML document; found another here (split a desired state over several files in a directory)"]
    );
    // An explicit end of the one document is fine.
    let one = "version: 1\naccounts:\n  - {id: \"222222222222\", email: a@example.com}\ndetective:\n  graphs: [{region: us-east-1}]\n...\n";
    assert_eq!(check(&[("one.yaml", one)]).unwrap().accounts.len(), 1);
}

const CENTRAL: &str = r#"version: 1
accounts: []
securityhub:
  regions: [us-east-1, eu-west-1]
  central_configuration:
    home_region: us-east-1
    prune: true
    policies:
      baseline:
        description: Security Hub on, FSBP and CIS 1.2, two controls off
        enabled: true
        standards: [aws-foundational-security-best-practices/v/1.0.0, cis-aws-foundations-benchmark/v/1.2.0]
        controls: {disabled: [IAM.6, EC2.10]}
        parameters: {ACM.1: {daysToExpiration: 30}, IAM.7: {RequireSymbols: true, Names: [a, b], Mode: {enum: STRICT}}}
      off: {enabled: false}
    associations:
      - {root: true, policy: baseline}
      - {ou: ou-ab12-sandbox01, policy: "off"}
      - {account: "222222222222", self_managed: true}
"#;

#[test]
fn central_configuration_reads_policies_and_associations() {
    let d = check(&[("c.yaml", CENTRAL)]).unwrap();
    let c = d
        .hub(Service::SecurityHub)
        .unwrap()
        .central
        .as_ref()
        .unwrap();
    assert_eq!(c.home_region.as_str(), "us-east-1");
    assert!(c.prune);
    let b = &c.policies["baseline"];
    assert!(b.enabled);
    assert_eq!(
        b.standards.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0",
            "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0",
        ]
    );
    let off = ["EC2.10", "IAM.6"].map(String::from);
    assert_eq!(b.controls, Controls::Disabled(off.into_iter().collect()));
    assert_eq!(
        b.parameters["ACM.1"]["daysToExpiration"],
        r#"{"Integer":30}"#
    );
    assert_eq!(
        b.parameters["IAM.7"]["RequireSymbols"],
        r#"{"Boolean":true}"#
    );
    assert_eq!(
        b.parameters["IAM.7"]["Names"],
        r#"{"StringList":["a","b"]}"#
    );
    assert_eq!(b.parameters["IAM.7"]["Mode"], r#"{"Enum":"STRICT"}"#);
    assert!(!c.policies["off"].enabled);
    let targets: Vec<String> = c
        .associations
        .iter()
        .map(|a| a.target.to_string())
        .collect();
    assert_eq!(
        targets,
        ["the root", "OU ou-ab12-sandbox01", "account 222222222222"]
    );
    assert_eq!(
        c.associations[2].configuration,
        ConfigurationRef::SelfManaged
    );
    assert_eq!(c.associations[1].source.to_string(), "c.yaml:18:10");
}

#[test]
fn central_configuration_problems_are_located() {
    let bad = r#"version: 1
accounts: []
securityhub:
  regions: [us-east-1]
  organization: {auto_enable: true}
  central_configuration:
    home_region: eu-west-1
    policies:
      "has space": {enabled: true}
      on:
        enabled: true
        standards: [fsbp, aws-foundational-security-best-practices/v/1.0.0, aws-foundational-security-best-practices/v/1.0.0]
        controls: {disabled: [IAM.6], enabled: [IAM.7]}
      off: {enabled: false, standards: [aws-foundational-security-best-practices/v/1.0.0]}
      noflag: {description: x}
      params: {enabled: true, controls: {disabled: [ACM.1]}, parameters: {ACM.1: {days: 30}}}
    associations:
      - {root: true, policy: on}
      - {root: true, policy: off}
      - {ou: ou-ab12-sandbox01, policy: nope}
      - {account: "222222222222", policy: on, self_managed: true}
      - {policy: on}
"#;
    assert_eq!(
        check(&[("c.yaml", bad)]).unwrap_err(),
        [
            "c.yaml:7:5: `securityhub.organization` turns auto_enable on (or standards DEFAULT) but `central_configuration` is declared: central configuration forces them off; configure new accounts with a policy associated with their OU or the root instead",
            "c.yaml:7:18: `home_region` eu-west-1 must be one of `regions` (us-east-1): policies take effect in the home Region and the Regions linked to it",
            "c.yaml:9:7: policy name \"has space\" must be 1 to 128 letters, digits or -.!*/",
            "c.yaml:12:21: \"fsbp\" is not a standard: write its id (cis-aws-foundations-benchmark/v/1.4.0) or its ARN",
            "c.yaml:12:77: standard aws-foundational-security-best-practices/v/1.0.0 is listed twice",
            "c.yaml:13:20: `controls` of policy on takes exactly one of `enabled` (only these on) and `disabled` (all but these)",
            "c.yaml:14:40: `standards` in policy off: a policy with `enabled: false` turns Security Hub off and has no standards",
            "c.yaml:15:16: policy noflag needs `enabled`: whether Security Hub is on in the accounts it governs",
            "c.yaml:16:16: policy params sets parameters of ACM.1, which it disables",
            "c.yaml:19:10: the root is associated twice (first at line 18); give each target once",
            "c.yaml:20:41: policy \"nope\" is not declared under `policies` (declared: off, on, params)",
            "c.yaml:21:10: an association names exactly one of `policy: <name>` and `self_managed: true`",
            "c.yaml:22:10: an association names exactly one target: `root: true`, `ou: ou-...` or `account: \"...\"`",
        ]
    );
}
