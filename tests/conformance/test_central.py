"""Security Hub central configuration through boto3 and the aws CLI: the fixture's keys, the
finding aggregator, the switch to CENTRAL, configuration policies and their associations, and
every error the emulator gives for them."""

import json
import time

from conftest import MANAGEMENT, SECURITY, cli, refused

FSBP = "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0"

# root > Workloads > Sandbox; Security beside Workloads. 222222222222 administers Security Hub.
WORLD = """regions: [us-east-1, eu-west-1]
organization:
  root_id: r-ab12
  management_account: "111111111111"
  organizational_units:
    - {id: ou-ab12-security, name: Security}
    - {id: ou-ab12-workload, name: Workloads}
    - {id: ou-ab12-sandboxx, name: Sandbox, parent: ou-ab12-workload}
  accounts:
    - {id: "111111111111", email: m@example.com}
    - {id: "222222222222", email: s@example.com, ou: ou-ab12-security}
    - {id: "300000000001", email: a@example.com, ou: ou-ab12-workload}
    - {id: "300000000002", email: b@example.com, ou: ou-ab12-workload}
    - {id: "400000000001", email: c@example.com, ou: ou-ab12-sandboxx}
    - {id: "400000000002", email: d@example.com, ou: ou-ab12-sandboxx, state: SUSPENDED}
securityhub:
  administrator: "222222222222"
  enabled: all
"""

CENTRAL = """  central_configuration:
    home_region: us-east-1
    linked_regions: [eu-west-1]
    central: true
    association_delay_ms: 0
    failing_accounts: {"300000000002": "The account is not enabled in Organizations for Security Hub"}
    policies:
      - {name: baseline, description: FSBP on, enabled: true, standards: [%s], disabled_controls: [IAM.6]}
      - {name: "off", enabled: false}
    associations:
      - {root: true, policy: baseline}
      - {ou: ou-ab12-sandboxx, policy: "off"}
      - {account: "300000000001", self_managed: true}
""" % FSBP


def start_world(start, tmp_path, text):
    fixture = tmp_path / "central.yaml"
    fixture.write_text(text)
    return start("--fixture", str(fixture))


def associations(hub, **filters):
    kw = {"Filters": filters} if filters else {}
    out, token = [], None
    while True:
        page = hub.list_configuration_policy_associations(MaxResults=3, **kw, **({"NextToken": token} if token else {}))
        out += page["ConfigurationPolicyAssociationSummaries"]
        token = page.get("NextToken")
        if not token:
            return out


def test_the_fixture_keys_build_a_central_world_boto3_reads_back(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + CENTRAL)
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    conf = hub.describe_organization_configuration()
    assert conf["OrganizationConfiguration"] == {"ConfigurationType": "CENTRAL", "Status": "ENABLED"}
    assert (conf["AutoEnable"], conf["AutoEnableStandards"]) == (False, "NONE")
    policies = {p["Name"]: p for p in hub.list_configuration_policies()["ConfigurationPolicySummaries"]}
    assert {n: p["ServiceEnabled"] for n, p in policies.items()} == {"baseline": True, "off": False}
    baseline = hub.get_configuration_policy(Identifier=policies["baseline"]["Arn"])
    assert baseline["ConfigurationPolicy"] == {"SecurityHub": {
        "ServiceEnabled": True,
        "EnabledStandardIdentifiers": [FSBP],
        "SecurityControlsConfiguration": {"DisabledSecurityControlIdentifiers": ["IAM.6"]},
    }}
    got = {a["TargetId"]: (a["ConfigurationPolicyId"], a["AssociationType"], a["AssociationStatus"]) for a in associations(hub)}
    base, off = policies["baseline"]["Id"], policies["off"]["Id"]
    assert got == {
        "r-ab12": (base, "APPLIED", "SUCCESS"),
        "ou-ab12-security": (base, "INHERITED", "SUCCESS"),
        "ou-ab12-workload": (base, "INHERITED", "SUCCESS"),
        "ou-ab12-sandboxx": (off, "APPLIED", "SUCCESS"),
        "111111111111": (base, "INHERITED", "SUCCESS"),
        "222222222222": (base, "INHERITED", "SUCCESS"),
        "300000000001": ("SELF_MANAGED_SECURITY_HUB", "APPLIED", "SUCCESS"),
        "300000000002": (base, "INHERITED", "FAILED"),
        "400000000001": (off, "INHERITED", "SUCCESS"),
        "400000000002": (off, "INHERITED", "FAILED"),
    }
    failed = hub.get_configuration_policy_association(Target={"AccountId": "300000000002"})
    assert failed["AssociationStatusMessage"] == "The account is not enabled in Organizations for Security Hub"
    assert [a["TargetId"] for a in associations(hub, AssociationStatus="FAILED")] == ["300000000002", "400000000002"]
    assert len(associations(hub, AssociationType="APPLIED")) == 3
    batch = hub.batch_get_configuration_policy_associations(ConfigurationPolicyAssociationIdentifiers=[
        {"Target": {"OrganizationalUnitId": "ou-ab12-sandboxx"}}, {"Target": {"AccountId": "999999999999"}},
    ])
    assert [a["TargetId"] for a in batch["ConfigurationPolicyAssociations"]] == ["ou-ab12-sandboxx"]
    assert batch["UnprocessedConfigurationPolicyAssociations"][0]["ErrorCode"] == "ResourceNotFoundException"
    # Carried out: off in the sandboxes in both Regions, the baseline's standard elsewhere.
    world = sb.control("/_sandbox/world")
    for region in ("us-east-1", "eu-west-1"):
        r = world["regions"][region]
        assert "400000000001" not in r["securityhub_enabled"]
        assert r["securityhub_standards"]["222222222222"] == [FSBP]
        assert r["securityhub_configuration_type"] == "CENTRAL"
    aggregator = world["central_configuration"]["aggregators"][SECURITY]
    assert (aggregator["home_region"], aggregator["linked_regions"]) == ("us-east-1", ["eu-west-1"])


def test_from_local_to_central_with_boto3(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + "  central_configuration: {association_delay_ms: 300}\n")
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    west = sb.client("securityhub", SECURITY, region="eu-west-1")
    central = {"AutoEnable": False, "AutoEnableStandards": "NONE", "OrganizationConfiguration": {"ConfigurationType": "CENTRAL"}}
    assert refused(hub.update_organization_configuration, **central) == ("InvalidInputException", 400)
    assert refused(hub.create_finding_aggregator, RegionLinkingMode="NO_REGIONS", Regions=["eu-west-1"]) == ("InvalidInputException", 400)
    assert refused(hub.create_finding_aggregator, RegionLinkingMode="SOME_REGIONS") == ("InvalidInputException", 400)
    assert refused(hub.create_finding_aggregator) == ("InvalidInputException", 400)
    made = hub.create_finding_aggregator(RegionLinkingMode="SPECIFIED_REGIONS", Regions=["eu-west-1"])
    assert (made["FindingAggregationRegion"], made["Regions"]) == ("us-east-1", ["eu-west-1"])
    assert west.list_finding_aggregators()["FindingAggregators"] == [{"FindingAggregatorArn": made["FindingAggregatorArn"]}]
    assert refused(west.update_organization_configuration, **central) == ("InvalidInputException", 400)
    assert refused(hub.update_organization_configuration, **{**central, "AutoEnable": True}) == ("InvalidInputException", 400)
    assert refused(sb.client("securityhub", MANAGEMENT).update_organization_configuration, **central) == ("InvalidAccessException", 401)
    assert refused(hub.create_configuration_policy, Name="early", ConfigurationPolicy={"SecurityHub": {"ServiceEnabled": False}}) == ("AccessDeniedException", 403)
    hub.update_organization_configuration(**central)
    assert hub.describe_organization_configuration()["OrganizationConfiguration"]["Status"] == "PENDING"
    time.sleep(0.35)
    assert hub.describe_organization_configuration()["OrganizationConfiguration"] == {"ConfigurationType": "CENTRAL", "Status": "ENABLED"}
    assert west.describe_organization_configuration()["OrganizationConfiguration"]["ConfigurationType"] == "CENTRAL"
    updated = hub.update_finding_aggregator(FindingAggregatorArn=made["FindingAggregatorArn"], RegionLinkingMode="ALL_REGIONS")
    assert updated["RegionLinkingMode"] == "ALL_REGIONS" and "Regions" not in updated
    assert refused(west.update_finding_aggregator, FindingAggregatorArn=made["FindingAggregatorArn"], RegionLinkingMode="ALL_REGIONS") == ("InvalidInputException", 400)


def test_policies_are_validated_as_the_model_and_the_api_reference_say(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + CENTRAL)
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    on = {"SecurityHub": {"ServiceEnabled": True, "EnabledStandardIdentifiers": [FSBP], "SecurityControlsConfiguration": {"DisabledSecurityControlIdentifiers": []}}}
    both = {"SecurityHub": {"ServiceEnabled": True, "SecurityControlsConfiguration": {"EnabledSecurityControlIdentifiers": ["IAM.6"], "DisabledSecurityControlIdentifiers": ["EC2.10"]}}}
    for kwargs in (
        {"Name": "x"},
        {"ConfigurationPolicy": on},
        {"Name": "has space", "ConfigurationPolicy": on},
        {"Name": "y" * 129, "ConfigurationPolicy": on},
        {"Name": "two-lists", "ConfigurationPolicy": both},
        {"Name": "no-member", "ConfigurationPolicy": {}},
        {"Name": "blank", "Description": "   ", "ConfigurationPolicy": on},
    ):
        assert refused(hub.create_configuration_policy, **kwargs) == ("InvalidInputException", 400), kwargs
    assert refused(hub.create_configuration_policy, Name="baseline", ConfigurationPolicy=on) == ("ResourceConflictException", 409)
    made = hub.create_configuration_policy(Name="prod.v2/*!", Description="d", ConfigurationPolicy=on)
    assert made["Arn"].startswith("arn:aws:securityhub:us-east-1:222222222222:configuration-policy/")
    assert made["Arn"].endswith("/" + made["Id"])
    assert refused(hub.get_configuration_policy, Identifier="00000000-0000-4000-a000-000000000000") == ("ResourceNotFoundException", 404)
    updated = hub.update_configuration_policy(Identifier=made["Id"], Description="e", UpdatedReason="tighten")
    assert (updated["Description"], updated["ConfigurationPolicy"]) == ("e", on)
    assert updated["UpdatedAt"] >= made["UpdatedAt"]
    # Only the home Region, only the delegated administrator.
    west = sb.client("securityhub", SECURITY, region="eu-west-1")
    assert refused(west.list_configuration_policies) == ("InvalidInputException", 400)
    member = sb.client("securityhub", "300000000001", region="us-east-1")
    assert refused(member.list_configuration_policies) == ("InvalidAccessException", 401)
    assert refused(hub.list_configuration_policies, MaxResults=101) == ("InvalidInputException", 400)
    assert refused(hub.list_configuration_policies, NextToken="forged") == ("InvalidInputException", 400)


def test_associations_and_their_errors_with_boto3(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + CENTRAL)
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    base = next(p for p in hub.list_configuration_policies()["ConfigurationPolicySummaries"] if p["Name"] == "baseline")
    assert refused(hub.delete_configuration_policy, Identifier=base["Id"]) == ("ResourceConflictException", 409)
    start_assoc = hub.start_configuration_policy_association
    for target in ({}, {"AccountId": "300000000001", "RootId": "r-ab12"}):
        assert refused(start_assoc, ConfigurationPolicyIdentifier=base["Id"], Target=target) == ("InvalidInputException", 400), target
    assert refused(start_assoc, ConfigurationPolicyIdentifier=base["Id"], Target={"AccountId": "500000000001"}) == ("ResourceNotFoundException", 404)
    assert refused(start_assoc, ConfigurationPolicyIdentifier="nope", Target={"RootId": "r-ab12"}) == ("ResourceNotFoundException", 404)
    out = start_assoc(ConfigurationPolicyIdentifier=base["Arn"], Target={"OrganizationalUnitId": "ou-ab12-sandboxx"})
    assert (out["TargetType"], out["AssociationType"], out["AssociationStatus"]) == ("ORGANIZATIONAL_UNIT", "APPLIED", "PENDING")
    settled = hub.get_configuration_policy_association(Target={"AccountId": "400000000001"})
    assert (settled["ConfigurationPolicyId"], settled["AssociationType"], settled["AssociationStatus"]) == (base["Id"], "INHERITED", "SUCCESS")
    assert "400000000001" in sb.control("/_sandbox/world")["regions"]["eu-west-1"]["securityhub_enabled"]
    undo = hub.start_configuration_policy_disassociation
    assert refused(undo, ConfigurationPolicyIdentifier="SELF_MANAGED_SECURITY_HUB", Target={"RootId": "r-ab12"}) == ("ResourceNotFoundException", 404)
    undo(ConfigurationPolicyIdentifier="SELF_MANAGED_SECURITY_HUB", Target={"AccountId": "300000000001"})
    inherited = hub.get_configuration_policy_association(Target={"AccountId": "300000000001"})
    assert (inherited["ConfigurationPolicyId"], inherited["AssociationType"]) == (base["Id"], "INHERITED")
    # A centrally managed account may not turn its own Security Hub on or off.
    member = sb.client("securityhub", "400000000001", region="us-east-1")
    assert refused(member.enable_security_hub) == ("AccessDeniedException", 403)


def test_the_aws_cli_drives_central_configuration(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + CENTRAL)
    run = lambda *args: cli(sb, "securityhub", *args, "--region", "us-east-1")
    out = run("list-configuration-policy-associations", "--filters", json.dumps({"AssociationType": "APPLIED"}))
    assert out.returncode == 0, out.stderr
    assert sorted(a["TargetId"] for a in json.loads(out.stdout)["ConfigurationPolicyAssociationSummaries"]) == ["300000000001", "ou-ab12-sandboxx", "r-ab12"]
    policy = {"SecurityHub": {"ServiceEnabled": True, "EnabledStandardIdentifiers": [FSBP], "SecurityControlsConfiguration": {"EnabledSecurityControlIdentifiers": ["IAM.1"]}}}
    out = run("create-configuration-policy", "--name", "cli", "--configuration-policy", json.dumps(policy))
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    out = run("start-configuration-policy-association", "--configuration-policy-identifier", made["Id"], "--target", json.dumps({"AccountId": "300000000002"}))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AssociationType"] == "APPLIED"
    out = run("get-configuration-policy", "--identifier", made["Arn"])
    assert json.loads(out.stdout)["ConfigurationPolicy"] == policy
    out = run("delete-configuration-policy", "--identifier", made["Id"])
    assert out.returncode == 255 and "ResourceConflictException" in out.stderr, out.stderr  # awscli v1
    out = run("describe-organization-configuration")
    assert json.loads(out.stdout)["OrganizationConfiguration"] == {"ConfigurationType": "CENTRAL", "Status": "ENABLED"}
    out = run("get-finding-aggregator", "--finding-aggregator-arn", json.loads(run("list-finding-aggregators").stdout)["FindingAggregators"][0]["FindingAggregatorArn"])
    assert json.loads(out.stdout)["FindingAggregationRegion"] == "us-east-1"


def test_an_organization_managed_by_organizations_policies_reads_disabled(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + CENTRAL.replace("central: true", "central: true\n    managed_by_organizations_policies: true"))
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    conf = hub.describe_organization_configuration()["OrganizationConfiguration"]
    assert conf["Status"] == "DISABLED"
    assert "SECURITYHUB_CSPM_POLICY" in conf["StatusMessage"]
    assert {a["AssociationStatus"] for a in associations(hub)} == {"DISABLED"}
    assert refused(hub.start_configuration_policy_association, ConfigurationPolicyIdentifier="SELF_MANAGED_SECURITY_HUB", Target={"RootId": "r-ab12"}) == ("AccessDeniedException", 403)


def muster(sb, *args, account=SECURITY):
    """The muster binary against the sandbox, as `account`: (exit code, stdout, stderr)."""
    import os
    import subprocess
    from conftest import BIN
    env = {"PATH": os.environ["PATH"], "HOME": sb.home, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           **sb.exports, "AWS_ACCESS_KEY_ID": account, "MUSTER_LOG": "warn"}
    out = subprocess.run([BIN, *args], env=env, capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


DESIRED = """version: 1
accounts: []
securityhub:
  regions: [us-east-1, eu-west-1]
  central_configuration:
    home_region: us-east-1
    prune: true
    policies:
      baseline: {enabled: true, standards: [aws-foundational-security-best-practices/v/1.0.0]}
      "off": {enabled: false}
    associations:
      - {root: true, policy: baseline}
      - {ou: ou-ab12-sandboxx, policy: "off"}
"""


def test_drift_made_with_boto3_is_reported_fixed_and_recorded_once(start, tmp_path):
    world = WORLD + '  central_configuration:\n    association_delay_ms: 0\n    failing_accounts: {"300000000002": "The account could not be configured"}\n'
    sb = start_world(start, tmp_path, world)
    desired = tmp_path / "central.yaml"
    desired.write_text(DESIRED)
    state = str(tmp_path / "state")
    apply = ("apply", "--desired-state", str(desired), "--state-dir", state)
    code, _, err = muster(sb, *apply)
    assert code == 0, err

    # Behind muster's back: the baseline loses its standard, the sandbox OU its association, a
    # policy nobody declares is associated with an account.
    hub = sb.client("securityhub", SECURITY, region="us-east-1")
    policies = {p["Name"]: p["Id"] for p in hub.list_configuration_policies()["ConfigurationPolicySummaries"]}
    hub.update_configuration_policy(Identifier=policies["baseline"], ConfigurationPolicy={"SecurityHub": {"ServiceEnabled": True, "EnabledStandardIdentifiers": [], "SecurityControlsConfiguration": {"DisabledSecurityControlIdentifiers": []}}})
    hub.start_configuration_policy_disassociation(ConfigurationPolicyIdentifier=policies["off"], Target={"OrganizationalUnitId": "ou-ab12-sandboxx"})
    rogue = hub.create_configuration_policy(Name="rogue", ConfigurationPolicy={"SecurityHub": {"ServiceEnabled": False}})
    hub.start_configuration_policy_association(ConfigurationPolicyIdentifier=rogue["Id"], Target={"AccountId": "300000000001"})

    code, out, err = muster(sb, "plan", "--desired-state", str(desired), "--output", "json")
    assert code == 2, err
    central = json.loads(out)["central_configuration"][0]
    seen = {(d["kind"], d.get("subject") or d["account"]) for d in central["drift"]}
    assert seen == {
        ("policy_differs", "policy:baseline"),
        ("association_missing", "ou-ab12-sandboxx"),
        ("association_undeclared", "300000000001"),
        ("policy_undeclared", "policy:rogue"),
        ("association_failed", "300000000002"),
        ("association_failed", "400000000002"),  # suspended
    }
    assert [a["target"] for a in central["associations"]] == ["OU ou-ab12-sandboxx", "account 300000000001"]
    assert central["delete_policies"] == ["rogue"], "deleted once disassociated, in the same apply"

    # Fixed where muster may (the failures are AWS's to fix) in one apply; the next writes nothing.
    code, _, err = muster(sb, *apply)
    assert code == 0, err
    assert sb.count("securityhub", "DeleteConfigurationPolicy") == 1
    sb.control("/_sandbox/calls/reset")
    code, _, err = muster(sb, *apply)
    assert code == 0, err
    writes = [c for c in sb.calls()["counts"] if not c["operation"].startswith(("List", "Get", "Describe"))]
    assert writes == []
    assert hub.get_configuration_policy(Identifier=policies["baseline"])["ConfigurationPolicy"]["SecurityHub"]["EnabledStandardIdentifiers"] == [FSBP]
    assert hub.get_configuration_policy_association(Target={"OrganizationalUnitId": "ou-ab12-sandboxx"})["ConfigurationPolicyId"] == policies["off"]

    # Each drift recorded once.
    code, out, err = muster(sb, "events", "--state-dir", state, "--output", "json")
    assert code == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    observed = [(e["kind"], e.get("account", "")) for e in events if e["type"] == "drift_observed" and e["graph"] == "securityhub-central:us-east-1"]
    for drift in [("policy_differs", "policy:baseline"), ("association_missing", "ou-ab12-sandboxx"), ("association_undeclared", "300000000001"), ("policy_undeclared", "policy:rogue"), ("association_failed", "300000000002"), ("association_failed", "400000000002")]:
        assert observed.count(drift) == 1, (drift, observed)


def test_the_aws_cli_drives_every_other_central_operation_and_its_errors(start, tmp_path):
    sb = start_world(start, tmp_path, WORLD + "  central_configuration: {association_delay_ms: 0}\n")
    run = lambda *args, region="us-east-1": cli(sb, "securityhub", *args, "--region", region)
    ok = lambda out: json.loads(out.stdout) if out.returncode == 0 else (_ for _ in ()).throw(AssertionError(out.stderr))
    central = json.dumps({"ConfigurationType": "CENTRAL"})
    switch = ("update-organization-configuration", "--no-auto-enable", "--auto-enable-standards", "NONE", "--organization-configuration", central)
    out = run(*switch)
    assert out.returncode == 255 and "InvalidInputException" in out.stderr and "create a finding aggregator first" in out.stderr
    made = ok(run("create-finding-aggregator", "--region-linking-mode", "SPECIFIED_REGIONS", "--regions", "eu-west-1"))
    out = run("create-finding-aggregator", "--region-linking-mode", "ALL_REGIONS")
    assert out.returncode == 255 and "already exists" in out.stderr
    updated = ok(run("update-finding-aggregator", "--finding-aggregator-arn", made["FindingAggregatorArn"], "--region-linking-mode", "ALL_REGIONS_EXCEPT_SPECIFIED", "--regions", "eu-west-1"))
    assert updated["RegionLinkingMode"] == "ALL_REGIONS_EXCEPT_SPECIFIED"
    out = run(*switch, region="eu-west-1")
    assert out.returncode == 255 and "only allowed in the home Region us-east-1" in out.stderr
    out = run(*switch)
    assert out.returncode == 0, out.stderr
    policy = json.dumps({"SecurityHub": {"ServiceEnabled": False}})
    made = ok(run("create-configuration-policy", "--name", "off", "--configuration-policy", policy))
    listed = ok(run("list-configuration-policies", "--max-results", "100"))
    assert [p["Name"] for p in listed["ConfigurationPolicySummaries"]] == ["off"]
    updated = ok(run("update-configuration-policy", "--identifier", made["Id"], "--description", "everything off", "--updated-reason", "cli"))
    assert updated["Description"] == "everything off"
    out = run("update-configuration-policy", "--identifier", "nope", "--description", "x")
    assert out.returncode == 255 and "ResourceNotFoundException" in out.stderr
    target = json.dumps({"OrganizationalUnitId": "ou-ab12-sandboxx"})
    ok(run("start-configuration-policy-association", "--configuration-policy-identifier", made["Id"], "--target", target))
    got = ok(run("get-configuration-policy-association", "--target", json.dumps({"AccountId": "400000000001"})))
    assert (got["AssociationType"], got["AssociationStatus"]) == ("INHERITED", "SUCCESS")
    batch = ok(run("batch-get-configuration-policy-associations", "--configuration-policy-association-identifiers", json.dumps([{"Target": {"AccountId": "400000000002"}}])))
    assert batch["ConfigurationPolicyAssociations"][0]["AssociationStatus"] == "FAILED"
    out = run("start-configuration-policy-disassociation", "--configuration-policy-identifier", made["Id"], "--target", json.dumps({"RootId": "r-ab12"}))
    assert out.returncode == 255 and "ResourceNotFoundException" in out.stderr
    out = run("start-configuration-policy-disassociation", "--configuration-policy-identifier", made["Id"], "--target", target)
    assert out.returncode == 0, out.stderr
    out = run("delete-configuration-policy", "--identifier", made["Arn"])
    assert out.returncode == 0, out.stderr
    assert ok(run("list-configuration-policies"))["ConfigurationPolicySummaries"] == []
