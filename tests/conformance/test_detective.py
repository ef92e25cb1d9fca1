"""Detective conformance through boto3: every operation, each error, the documented semantics."""

import pytest
from botocore.exceptions import ClientError

from conftest import SECURITY, MANAGEMENT, error_code, status

PARTNER = ("500000000001", "security@partner-analytics.example.org")
ACQUIRED = ("500000000002", "aws-root@acquired.example.com")


def pages_of(det, arn, size=None):
    """Every page of ListMembers (boto3 has no paginator for it), following NextToken."""
    pages, token = [], None
    while True:
        kw = {"GraphArn": arn}
        if size:
            kw["MaxResults"] = size
        if token:
            kw["NextToken"] = token
        page = det.list_members(**kw)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def graph_arn(det):
    return det.list_graphs()["GraphList"][0]["Arn"]


def acct(pair):
    return {"AccountId": pair[0], "EmailAddress": pair[1]}


def listed(det, arn):
    return {m["AccountId"]: m["Status"] for m in det.list_members(GraphArn=arn)["MemberDetails"]}


def test_list_graphs_and_create_graph(sandbox):
    det = sandbox.client("detective", SECURITY)
    graphs = det.list_graphs()["GraphList"]
    assert [g["Arn"].split(":graph:")[0] for g in graphs] == ["arn:aws:detective:us-east-1:222222222222"]
    other = sandbox.client("detective", MANAGEMENT)
    assert other.list_graphs()["GraphList"] == []
    arn = other.create_graph(Tags={"team": "security"})["GraphArn"]
    assert arn.startswith("arn:aws:detective:us-east-1:111111111111:graph:")
    # A second CreateGraph returns the same graph, as the model's documentation says.
    assert other.create_graph()["GraphArn"] == arn
    assert [g["Arn"] for g in other.list_graphs()["GraphList"]] == [arn]


def test_create_members_verifies_by_email_by_the_next_read(sandbox):
    det = sandbox.client("detective", SECURITY, region="eu-west-1")
    arn = graph_arn(det)
    out = det.create_members(
        GraphArn=arn,
        Message="Welcome to the security graph",
        DisableEmailNotification=True,
        Accounts=[acct(PARTNER), acct(("500000000003", "someone-else@partner.example.net"))],
    )
    assert [m["Status"] for m in out["Members"]] == ["VERIFICATION_IN_PROGRESS"] * 2
    assert out["UnprocessedAccounts"] == []
    assert listed(det, arn) == {"500000000001": "INVITED", "500000000003": "VERIFICATION_FAILED"}
    again = det.create_members(GraphArn=arn, Accounts=[acct(PARTNER)])
    assert again["Members"] == []
    assert again["UnprocessedAccounts"] == [
        {"AccountId": "500000000001", "Reason": "The account is already a member of the behavior graph."}
    ]


def test_organization_accounts_are_enabled_by_the_delegated_administrator(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    out = det.create_members(
        GraphArn=arn,
        Accounts=[acct(("300000000001", "aws+payments-prod@example.com")), acct(("300000000013", "aws+ledger-prod@example.com"))],
    )
    by_id = {m["AccountId"]: m for m in out["Members"]}
    assert by_id["300000000001"]["Status"] == "ENABLED"
    assert by_id["300000000001"]["InvitationType"] == "ORGANIZATION"
    assert by_id["300000000013"]["Status"] == "ACCEPTED_BUT_DISABLED"
    assert by_id["300000000013"]["DisabledReason"] == "VOLUME_TOO_HIGH"
    usage = by_id["300000000001"]["VolumeUsageByDatasourcePackage"]["DETECTIVE_CORE"]
    assert usage["VolumeUsageInBytes"] > 0


def test_get_and_delete_members(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    got = det.get_members(GraphArn=arn, AccountIds=["500000000005", "500000000001"])
    assert [m["AccountId"] for m in got["MemberDetails"]] == ["500000000005"]
    assert [u["AccountId"] for u in got["UnprocessedAccounts"]] == ["500000000001"]
    out = det.delete_members(GraphArn=arn, AccountIds=["500000000005", "500000000001"])
    assert out["AccountIds"] == ["500000000005"]
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == ["500000000001"]
    assert listed(det, arn) == {"500000000004": "INVITED"}


def test_list_invitations_shows_open_and_accepted_not_declined_or_removed(sandbox):
    admin = sandbox.client("detective", SECURITY)
    arn = graph_arn(admin)
    admin.create_members(GraphArn=arn, Accounts=[acct(PARTNER), acct(ACQUIRED)])
    partner = sandbox.client("detective", PARTNER[0])
    acquired = sandbox.client("detective", ACQUIRED[0])
    invs = partner.list_invitations()["Invitations"]
    assert [(i["GraphArn"], i["Status"], i["AdministratorId"]) for i in invs] == [(arn, "INVITED", SECURITY)]

    partner.accept_invitation(GraphArn=arn)
    assert [i["Status"] for i in partner.list_invitations()["Invitations"]] == ["ENABLED"]
    acquired.reject_invitation(GraphArn=arn)
    assert acquired.list_invitations()["Invitations"] == []
    partner.disassociate_membership(GraphArn=arn)
    assert partner.list_invitations()["Invitations"] == []
    assert "500000000001" not in listed(admin, arn) and "500000000002" not in listed(admin, arn)

    # Removed by the administrator: gone from the member's list too.
    lab = sandbox.client("detective", "500000000004")
    assert len(lab.list_invitations()["Invitations"]) == 1
    admin.delete_members(GraphArn=arn, AccountIds=["500000000004"])
    assert lab.list_invitations()["Invitations"] == []


def test_member_side_errors(sandbox):
    admin = sandbox.client("detective", SECURITY)
    arn = graph_arn(admin)
    partner = sandbox.client("detective", PARTNER[0])
    for op in (partner.accept_invitation, partner.reject_invitation, partner.disassociate_membership):
        with pytest.raises(ClientError) as e:
            op(GraphArn=arn)
        assert (error_code(e), status(e)) == ("ResourceNotFoundException", 404)
    vendor = sandbox.client("detective", "500000000005")  # ENABLED by the fixture
    with pytest.raises(ClientError) as e:
        vendor.accept_invitation(GraphArn=arn)
    assert error_code(e) == "ConflictException"
    with pytest.raises(ClientError) as e:
        vendor.reject_invitation(GraphArn=arn)
    assert error_code(e) == "ConflictException"


@pytest.mark.parametrize(
    "call, message_part",
    [
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[{"AccountId": "1234", "EmailAddress": "a@example.com"}]), "accounts.1.member.accountId"),
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[{"AccountId": "12345678901a", "EmailAddress": "a@example.com"}]), "regular expression pattern: ^[0-9]+$"),
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[{"AccountId": "123456789012", "EmailAddress": "a@-bad.example.com"}]), "accounts.1.member.emailAddress"),
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[{"AccountId": "123456789012", "EmailAddress": "a" * 60 + "@example.com"}]), "length less than or equal to 64"),
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[]), "at 'accounts'"),
        (lambda d, a: d.create_members(GraphArn=a, Accounts=[{"AccountId": f"3000000001{i:02d}", "EmailAddress": "a@example.com"} for i in range(51)]), "less than or equal to 50"),
        (lambda d, a: d.create_members(GraphArn=a, Message="x" * 1001, Accounts=[{"AccountId": "123456789012", "EmailAddress": "a@example.com"}]), "at 'message'"),
        (lambda d, a: d.list_members(GraphArn=a, MaxResults=201), "at 'maxResults'"),
        (lambda d, a: d.list_members(GraphArn="arn:aws:detective:us-east-1:222222222222:graph:nothex", MaxResults=5), "at 'graphArn'"),
        (lambda d, a: d.list_members(GraphArn=a, NextToken="made-up"), "NextToken"),
        (lambda d, a: d.list_invitations(NextToken="x" * 1025), "at 'nextToken'"),
        (lambda d, a: d.get_members(GraphArn=a, AccountIds=[]), "at 'accountIds'"),
        (lambda d, a: d.delete_members(GraphArn=a, AccountIds=["1"]), "accountIds.1.member"),
    ],
)
def test_validation_errors(sandbox, call, message_part):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    with pytest.raises(ClientError) as e:
        call(det, arn)
    assert (error_code(e), status(e)) == ("ValidationException", 400)
    assert message_part in e.value.response["Error"]["Message"]


def test_administrator_only_and_missing_graph(sandbox):
    arn = graph_arn(sandbox.client("detective", SECURITY))
    stranger = sandbox.client("detective", MANAGEMENT)
    for call in (
        lambda: stranger.list_members(GraphArn=arn),
        lambda: stranger.get_members(GraphArn=arn, AccountIds=["500000000005"]),
        lambda: stranger.create_members(GraphArn=arn, Accounts=[acct(PARTNER)]),
        lambda: stranger.delete_members(GraphArn=arn, AccountIds=["500000000005"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (error_code(e), status(e)) == ("AccessDeniedException", 403)
    missing = "arn:aws:detective:us-east-1:222222222222:graph:" + "0" * 32
    with pytest.raises(ClientError) as e:
        sandbox.client("detective", SECURITY).list_members(GraphArn=missing)
    assert (error_code(e), status(e)) == ("ResourceNotFoundException", 404)


def generated_graph(start, accounts, seed, members):
    """A generated world whose us-east-1 graph has the accounts numbered `members` added, 50 a
    call: the sandbox, the administrator's client, the graph and the members' ids."""
    sb = start("--accounts", str(accounts), "--regions", "us-east-1", "--seed", str(seed))
    det = sb.client("detective", "100000000001")
    arn = graph_arn(det)
    ids = [f"{100000000000 + i:012d}" for i in members]
    for i in range(0, len(ids), 50):
        det.create_members(GraphArn=arn, Accounts=[{"AccountId": a, "EmailAddress": "x@example.com"} for a in ids[i : i + 50]])
    return sb, det, arn, ids


def test_pagination_through_three_pages(start):
    sb, det, arn, ids = generated_graph(start, 200, 9, range(2, 152))
    pages = pages_of(det, arn, 60)
    assert [len(p["MemberDetails"]) for p in pages] == [60, 60, 30]
    assert "NextToken" not in pages[-1]
    assert [m["AccountId"] for p in pages for m in p["MemberDetails"]] == ids
    # The same token continues the same listing; tokens are opaque and bound to their request.
    first = det.list_members(GraphArn=arn, MaxResults=60)
    second = det.list_members(GraphArn=arn, MaxResults=60, NextToken=first["NextToken"])
    assert second["MemberDetails"][0]["AccountId"] == ids[60]
    with pytest.raises(ClientError) as e:
        sb.client("detective", "100000000000").list_invitations(NextToken=first["NextToken"])
    assert error_code(e) == "ValidationException"


def test_graph_member_cap_of_1200(start):
    _, det, arn, _ = generated_graph(start, 1300, 2, range(2, 1202))
    with pytest.raises(ClientError) as e:
        det.create_members(GraphArn=arn, Accounts=[{"AccountId": "100000001250", "EmailAddress": "x@example.com"}])
    assert (error_code(e), status(e)) == ("ServiceQuotaExceededException", 402)
    total = sum(len(p["MemberDetails"]) for p in pages_of(det, arn))
    assert total == 1200


def test_organization_configuration(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    assert det.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False
    det.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert det.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is True
    # Only the organization's Detective administrator, on its own graph.
    other = sandbox.client("detective", MANAGEMENT)
    for call in (other.describe_organization_configuration, other.update_organization_configuration):
        with pytest.raises(ClientError) as e:
            call(GraphArn=arn)
        assert (error_code(e), status(e)) == ("AccessDeniedException", 403)
    with pytest.raises(ClientError) as e:
        det.describe_organization_configuration(GraphArn="arn:aws:detective:us-east-1:1:graph:x")
    assert (error_code(e), status(e)) == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        det.describe_organization_configuration()
    assert (error_code(e), status(e)) == ("ValidationException", 400)


def test_datasource_packages_are_listed_a_page_at_a_time_and_only_started(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    pages, token = [], None
    while True:
        kw = {"GraphArn": arn, "MaxResults": 1}
        if token:
            kw["NextToken"] = token
        page = det.list_datasource_packages(**kw)
        pages.append(page["DatasourcePackages"])
        token = page.get("NextToken")
        if not token:
            break
    assert [list(p) for p in pages] == [["ASFF_SECURITYHUB_FINDING"], ["DETECTIVE_CORE"], ["EKS_AUDIT"]]
    states = {k: v["DatasourcePackageIngestState"] for p in pages for k, v in p.items()}
    # The demo world has EKS_AUDIT stopped.
    assert states == {"ASFF_SECURITYHUB_FINDING": "STARTED", "DETECTIVE_CORE": "STARTED", "EKS_AUDIT": "STOPPED"}
    assert list(pages[2]["EKS_AUDIT"]["LastIngestStateChange"]) == ["STOPPED"]
    det.update_datasource_packages(GraphArn=arn, DatasourcePackages=["EKS_AUDIT"])
    listed = det.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert listed["EKS_AUDIT"]["DatasourcePackageIngestState"] == "STARTED"
    for bad in [{"MaxResults": 0}, {"MaxResults": 201}, {"NextToken": "not-issued"}]:
        with pytest.raises(ClientError) as e:
            det.list_datasource_packages(GraphArn=arn, **bad)
        assert (error_code(e), status(e)) == ("ValidationException", 400), bad
    for bad in [[], ["EKS_AUDIT"] * 26, ["S3_DATA"]]:
        with pytest.raises(ClientError) as e:
            det.update_datasource_packages(GraphArn=arn, DatasourcePackages=bad)
        assert (error_code(e), status(e)) == ("ValidationException", 400), bad
    # Another account's graph: the caller is not its administrator.
    with pytest.raises(ClientError) as e:
        sandbox.client("detective", MANAGEMENT).list_datasource_packages(GraphArn=arn)
    assert (error_code(e), status(e)) == ("AccessDeniedException", 403)


def test_batch_get_graph_member_datasources(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = graph_arn(det)
    det.create_members(GraphArn=arn, Accounts=[
        {"AccountId": "300000000001", "EmailAddress": "aws+payments-prod@example.com"},
        {"AccountId": "300000000002", "EmailAddress": "aws+payments-staging@example.com"}])
    out = det.batch_get_graph_member_datasources(GraphArn=arn, AccountIds=["300000000001", "300000000002", "500000000001"])
    got = {m["AccountId"]: m["DatasourcePackageIngestHistory"] for m in out["MemberDatasources"]}
    assert sorted(got) == ["300000000001", "300000000002"]
    assert out["UnprocessedAccounts"] == [{"AccountId": "500000000001", "Reason": "The account is not a member of the behavior graph."}]
    latest = lambda history: max(history, key=lambda s: history[s]["Timestamp"])
    assert {p: latest(h) for p, h in got["300000000002"].items()} == {
        "ASFF_SECURITYHUB_FINDING": "STARTED", "DETECTIVE_CORE": "STARTED", "EKS_AUDIT": "STOPPED"}
    # The demo world's 300000000001 sends no Security Hub findings.
    assert latest(got["300000000001"]["ASFF_SECURITYHUB_FINDING"]) == "STOPPED"
    for bad in [[], ["300000000001"] * 201, ["12345"]]:
        with pytest.raises(ClientError) as e:
            det.batch_get_graph_member_datasources(GraphArn=arn, AccountIds=bad)
        assert (error_code(e), status(e)) == ("ValidationException", 400), len(bad)


def test_list_organization_admin_accounts(sandbox):
    org = sandbox.client("detective", MANAGEMENT)
    admins = org.list_organization_admin_accounts()["Administrators"]
    assert [(a["AccountId"], a["GraphArn"].split(":graph:")[0]) for a in admins] == [(SECURITY, "arn:aws:detective:us-east-1:222222222222")]
    assert "DelegationTime" in admins[0]
    with pytest.raises(ClientError) as e:
        sandbox.client("detective", SECURITY).list_organization_admin_accounts()
    assert (error_code(e), status(e)) == ("AccessDeniedException", 403)
    with pytest.raises(ClientError) as e:
        org.list_organization_admin_accounts(MaxResults=500)
    assert (error_code(e), status(e)) == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        org.list_organization_admin_accounts(NextToken="forged")
    assert (error_code(e), status(e)) == ("ValidationException", 400)
