"""Security Hub conformance through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import SECURITY, MANAGEMENT, error_code, refused, status


def start_world(start, tmp_path, world):
    """A sandbox of the fixture `world` (YAML) in one Region, us-east-1."""
    fixture = tmp_path / "f.yaml"
    fixture.write_text("regions: [us-east-1]\n" + world)
    return start("--fixture", str(fixture))


def statuses(hub, **kw):
    return {m["AccountId"]: m["MemberStatus"] for m in hub.list_members(**kw)["Members"]}


def test_enable_and_describe_hub(start, tmp_path):
    sb = start_world(start, tmp_path, 'organization:\n  management_account: "111111111111"\n'
                     '  accounts: [{id: "111111111111", email: m@example.com}]\n'
                     'securityhub: {enabled: none}\n')
    hub = sb.client("securityhub", MANAGEMENT)
    assert refused(hub.describe_hub) == ("InvalidAccessException", 401)
    assert refused(hub.list_members)[0] == "InvalidAccessException"
    hub.enable_security_hub(EnableDefaultStandards=False)
    d = hub.describe_hub()
    assert d["HubArn"] == "arn:aws:securityhub:us-east-1:111111111111:hub/default"
    with pytest.raises(ClientError) as e:
        hub.enable_security_hub()
    assert (error_code(e), status(e)) == ("ResourceConflictException", 409)


def test_member_lifecycle_and_the_list_members_default(sandbox):
    hub = sandbox.client("securityhub", SECURITY)
    out = hub.create_members(
        AccountDetails=[
            {"AccountId": "500000000001", "Email": "security@partner-analytics.example.org"},
            {"AccountId": "500000000002", "Email": "aws-root@acquired.example.com"},
            {"AccountId": "300000000001"},
        ]
    )
    assert out["UnprocessedAccounts"] == []
    # OnlyAssociated defaults to true: only Enabled members.
    assert statuses(hub) == {"300000000001": "Enabled"}
    assert statuses(hub, OnlyAssociated=False) == {"300000000001": "Enabled", "500000000001": "Created", "500000000002": "Created"}
    assert hub.invite_members(AccountIds=["500000000001", "500000000002"])["UnprocessedAccounts"] == []
    assert statuses(hub, OnlyAssociated=False)["500000000001"] == "Invited"

    partner = sandbox.client("securityhub", "500000000001")
    invs = partner.list_invitations()["Invitations"]
    assert [(i["AccountId"], i["MemberStatus"]) for i in invs] == [(SECURITY, "Invited")]
    assert "Administrator" not in partner.get_administrator_account()
    partner.accept_administrator_invitation(AdministratorId=SECURITY, InvitationId=invs[0]["InvitationId"])
    admin = partner.get_administrator_account()["Administrator"]
    assert (admin["AccountId"], admin["InvitationId"], admin["MemberStatus"]) == (SECURITY, invs[0]["InvitationId"], "Enabled")
    acquired = sandbox.client("securityhub", "500000000002")
    assert acquired.decline_invitations(AccountIds=[SECURITY])["UnprocessedAccounts"] == []
    assert acquired.list_invitations()["Invitations"] == []
    assert statuses(hub) == {"300000000001": "Enabled", "500000000001": "Enabled"}

    got = hub.get_members(AccountIds=["500000000001", "500000000009"])
    assert [m["AccountId"] for m in got["Members"]] == ["500000000001"]
    assert [u["AccountId"] for u in got["UnprocessedAccounts"]] == ["500000000009"]
    hub.disassociate_members(AccountIds=["500000000001"])
    assert statuses(hub, OnlyAssociated=False)["500000000001"] == "Removed"
    assert "Administrator" not in partner.get_administrator_account()
    # Creating a removed organization account again enables it at once.
    hub.disassociate_members(AccountIds=["300000000001"])
    assert statuses(hub, OnlyAssociated=False)["300000000001"] == "Removed"
    assert hub.create_members(AccountDetails=[{"AccountId": "300000000001"}])["UnprocessedAccounts"] == []
    assert statuses(hub, OnlyAssociated=False)["300000000001"] == "Enabled"
    assert hub.delete_members(AccountIds=["500000000001", "500000000002"])["UnprocessedAccounts"] == []
    assert statuses(hub, OnlyAssociated=False) == {"300000000001": "Enabled"}


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.create_members(AccountDetails=[]),
        lambda h: h.create_members(AccountDetails=[{"AccountId": f"3000000001{i:02d}"} for i in range(51)]),
        lambda h: h.list_members(MaxResults=51),
        lambda h: h.list_members(NextToken="made-up"),
        lambda h: h.list_invitations(MaxResults=0),
    ],
)
def test_invalid_input(sandbox, call):
    with pytest.raises(ClientError) as e:
        call(sandbox.client("securityhub", SECURITY))
    assert (error_code(e), status(e)) == ("InvalidInputException", 400)


def test_accept_unknown_invitation(sandbox):
    partner = sandbox.client("securityhub", "500000000001")
    with pytest.raises(ClientError) as e:
        partner.accept_administrator_invitation(AdministratorId=SECURITY, InvitationId="nope")
    assert (error_code(e), status(e)) == ("ResourceNotFoundException", 404)


def test_pagination_through_three_pages(sandbox):
    hub = sandbox.client("securityhub", SECURITY)
    ids = [f"3000000000{i:02d}" for i in range(1, 41)] + [f"4000000000{i:02d}" for i in range(1, 13)]
    hub.create_members(AccountDetails=[{"AccountId": a} for a in ids[:50]])
    hub.create_members(AccountDetails=[{"AccountId": a} for a in ids[50:]])
    pages = list(hub.get_paginator("list_members").paginate(OnlyAssociated=False, PaginationConfig={"PageSize": 20}))
    assert [len(p["Members"]) for p in pages] == [20, 20, 12]
    assert [m["AccountId"] for p in pages for m in p["Members"]] == ids


def test_throttling_is_limit_exceeded(sandbox):
    sandbox.control("/_sandbox/faults", {"rules": [{"service": "securityhub", "throttle_probability": 1.0}]})
    with pytest.raises(ClientError) as e:
        sandbox.client("securityhub", SECURITY).list_members()
    assert (error_code(e), status(e)) == ("LimitExceededException", 429)


def test_describe_organization_configuration(sandbox):
    hub = sandbox.client("securityhub", SECURITY)
    conf = hub.describe_organization_configuration()
    conf.pop("ResponseMetadata")
    assert conf == {
        "AutoEnable": False,
        "MemberAccountLimitReached": False,
        "AutoEnableStandards": "DEFAULT",
        "OrganizationConfiguration": {"ConfigurationType": "LOCAL", "Status": "ENABLED"},
    }
    # The management account is not the delegated administrator.
    with pytest.raises(ClientError) as e:
        sandbox.client("securityhub", MANAGEMENT).describe_organization_configuration()
    assert (error_code(e), status(e)) == ("InvalidAccessException", 401)
    assert e.value.response["Error"]["Message"] == f"Account {MANAGEMENT} is not an administrator for this organization"


def configuration(hub):
    conf = hub.describe_organization_configuration()
    conf.pop("ResponseMetadata")
    return conf


def test_update_organization_configuration(sandbox):
    hub = sandbox.client("securityhub", SECURITY)
    hub.update_organization_configuration(AutoEnable=True, AutoEnableStandards="NONE")
    assert configuration(hub)["AutoEnable"] is True
    assert configuration(hub)["AutoEnableStandards"] == "NONE"
    # AutoEnableStandards left out stays as it was.
    hub.update_organization_configuration(AutoEnable=False)
    assert (configuration(hub)["AutoEnable"], configuration(hub)["AutoEnableStandards"]) == (False, "NONE")
    # Only the organization's administrator.
    with pytest.raises(ClientError) as e:
        sandbox.client("securityhub", MANAGEMENT).update_organization_configuration(AutoEnable=True)
    assert (error_code(e), status(e)) == ("InvalidAccessException", 401)
    # The model's constraints: AutoEnable is required, the enums are closed.
    for bad in [{}, {"AutoEnable": None}, {"AutoEnable": True, "AutoEnableStandards": "ALL"},
                {"AutoEnable": True, "OrganizationConfiguration": {"ConfigurationType": "GLOBAL"}}]:
        with pytest.raises(ClientError) as e:
            hub.update_organization_configuration(**bad)
        assert (error_code(e), status(e)) == ("InvalidInputException", 400), bad
    # Under central configuration AutoEnable is forced off, and asking for it is refused. The
    # switch needs a home Region: a finding aggregator made from this Region.
    central = {"AutoEnable": False, "AutoEnableStandards": "NONE", "OrganizationConfiguration": {"ConfigurationType": "CENTRAL"}}
    assert refused(hub.update_organization_configuration, **central) == ("InvalidInputException", 400)
    hub.create_finding_aggregator(RegionLinkingMode="NO_REGIONS")
    hub.update_organization_configuration(**central)
    assert configuration(hub)["OrganizationConfiguration"] == {"ConfigurationType": "CENTRAL", "Status": "PENDING"}
    with pytest.raises(ClientError) as e:
        hub.update_organization_configuration(AutoEnable=True)
    assert (error_code(e), status(e)) == ("InvalidInputException", 400)
    assert e.value.response["Error"]["Message"] == (
        "AutoEnable must be false and AutoEnableStandards NONE when the organization uses central configuration")
    assert configuration(hub)["AutoEnable"] is False


def test_the_member_account_limit(start, tmp_path):
    sb = start_world(start, tmp_path, 'organization:\n  management_account: "111111111111"\n'
                     '  accounts:\n'
                     '    - {id: "111111111111", email: m@example.com}\n'
                     '    - {id: "222222222222", email: s@example.com}\n'
                     '    - {id: "300000000001", email: a@example.com}\n'
                     '    - {id: "300000000002", email: b@example.com}\n'
                     'securityhub:\n  administrator: "222222222222"\n  enabled: all\n'
                     '  organization: {member_account_limit: 1}\n')
    hub = sb.client("securityhub", SECURITY)
    assert configuration(hub)["MemberAccountLimitReached"] is False
    out = hub.create_members(AccountDetails=[{"AccountId": "300000000001"}, {"AccountId": "300000000002"}])
    assert out["UnprocessedAccounts"] == [{
        "AccountId": "300000000002",
        "ProcessingResult": "Operation failed: the administrator account has reached its member account limit"}]
    assert configuration(hub)["MemberAccountLimitReached"] is True


def invited(sandbox, account, email):
    hub = sandbox.client("securityhub", SECURITY)
    hub.create_members(AccountDetails=[{"AccountId": account, "Email": email}])
    hub.invite_members(AccountIds=[account])
    return hub


def test_the_deprecated_accept_invitation_and_get_master_account(sandbox):
    hub = invited(sandbox, "500000000001", "security@partner-analytics.example.org")
    partner = sandbox.client("securityhub", "500000000001")
    assert partner.get_invitations_count()["InvitationsCount"] == 1
    assert "Master" not in partner.get_master_account()
    inv = partner.list_invitations()["Invitations"][0]["InvitationId"]
    with pytest.raises(ClientError) as e:
        partner.accept_invitation(MasterId=SECURITY, InvitationId="not-the-one")
    assert (error_code(e), status(e)) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        partner.accept_invitation(MasterId=SECURITY)
    assert (error_code(e), status(e)) == ("InvalidInputException", 400)
    assert e.value.response["Error"]["Message"] == "1 validation error detected: Value null at 'invitationId' failed to satisfy constraint: Member must not be null"
    partner.accept_invitation(MasterId=SECURITY, InvitationId=inv)
    master = partner.get_master_account()["Master"]
    assert (master["AccountId"], master["InvitationId"], master["MemberStatus"]) == (SECURITY, inv, "Enabled")
    assert partner.get_invitations_count()["InvitationsCount"] == 0
    assert statuses(hub)["500000000001"] == "Enabled"


def test_a_member_leaves_with_disassociate_from_administrator_account(sandbox):
    hub = invited(sandbox, "500000000001", "security@partner-analytics.example.org")
    partner = sandbox.client("securityhub", "500000000001")
    with pytest.raises(ClientError) as e:
        partner.disassociate_from_administrator_account()
    assert (error_code(e), status(e)) == ("ResourceNotFoundException", 404)
    inv = partner.list_invitations()["Invitations"][0]["InvitationId"]
    partner.accept_administrator_invitation(AdministratorId=SECURITY, InvitationId=inv)
    partner.disassociate_from_administrator_account()
    assert statuses(hub, OnlyAssociated=False)["500000000001"] == "Removed"
    assert "Administrator" not in partner.get_administrator_account()
    # The deprecated spelling does the same.
    hub.create_members(AccountDetails=[{"AccountId": "500000000001"}])
    hub.invite_members(AccountIds=["500000000001"])
    inv = partner.list_invitations()["Invitations"][0]["InvitationId"]
    partner.accept_invitation(MasterId=SECURITY, InvitationId=inv)
    partner.disassociate_from_master_account()
    assert statuses(hub, OnlyAssociated=False)["500000000001"] == "Removed"
    # An organization's member cannot leave on its own.
    org_member = sandbox.client("securityhub", "300000000001")
    hub.create_members(AccountDetails=[{"AccountId": "300000000001"}])
    with pytest.raises(ClientError) as e:
        org_member.disassociate_from_administrator_account()
    assert (error_code(e), status(e)) == ("InvalidInputException", 400)


def test_delete_invitations_and_the_invitations_count(sandbox):
    invited(sandbox, "500000000001", "security@partner-analytics.example.org")
    partner = sandbox.client("securityhub", "500000000001")
    assert partner.get_invitations_count()["InvitationsCount"] == 1
    out = partner.delete_invitations(AccountIds=[SECURITY, "333333333333"])
    assert out["UnprocessedAccounts"] == [{"AccountId": "333333333333", "ProcessingResult": "Operation failed: no open invitation from this account"}]
    assert partner.get_invitations_count()["InvitationsCount"] == 0
    assert partner.list_invitations()["Invitations"] == []
    # AccountIds is required (the model's AccountIdList has no minimum length).
    with pytest.raises(ClientError) as e:
        partner.delete_invitations()
    assert (error_code(e), status(e)) == ("InvalidInputException", 400)


def test_member_side_calls_need_security_hub_enabled(start, tmp_path):
    sb = start_world(start, tmp_path, 'external_accounts: [{id: "500000000001", email: a@example.com}]\nsecurityhub: {enabled: none}\n')
    partner = sb.client("securityhub", "500000000001")
    for call in (partner.get_invitations_count, partner.get_master_account, partner.disassociate_from_administrator_account):
        with pytest.raises(ClientError) as e:
            call()
        assert (error_code(e), status(e)) == ("InvalidAccessException", 401)
