"""Organizations conformance through boto3 (awsJson1_1)."""

import pytest
from botocore.exceptions import ClientError

from conftest import MANAGEMENT, SECURITY, error_code, refused, status


def test_describe_and_walk_the_tree(sandbox):
    org = sandbox.client("organizations", MANAGEMENT)
    o = org.describe_organization()["Organization"]
    assert (o["Id"], o["MasterAccountId"]) == ("o-m5tr4ex4mp", MANAGEMENT)
    root = org.list_roots()["Roots"][0]["Id"]
    top = org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    assert [u["Name"] for u in top] == ["Security", "Workloads"]
    kids = org.list_children(ParentId="ou-m5tr-workloads", ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert kids == [{"Id": "ou-m5tr-sandboxes", "Type": "ORGANIZATIONAL_UNIT"}]
    accounts = org.list_accounts_for_parent(ParentId="ou-m5tr-sandboxes")["Accounts"]
    assert len(accounts) == 12
    a = org.describe_account(AccountId="300000000040")["Account"]
    assert (a["Status"], a["Email"]) == ("SUSPENDED", "aws+ml-qa@example.com")


def test_list_accounts_pages_of_20(sandbox):
    org = sandbox.client("organizations", SECURITY)
    pages = list(org.get_paginator("list_accounts").paginate())
    assert [len(p["Accounts"]) for p in pages] == [20, 20, 15]
    ids = [a["Id"] for p in pages for a in p["Accounts"]]
    assert ids == sorted(ids) and len(set(ids)) == 55


def test_list_delegated_administrators(sandbox):
    org = sandbox.client("organizations", MANAGEMENT)
    admins = org.list_delegated_administrators()["DelegatedAdministrators"]
    assert [(a["Id"], a["Status"], a["JoinedMethod"]) for a in admins] == [(SECURITY, "ACTIVE", "INVITED")]
    assert admins[0]["Arn"].endswith("/" + SECURITY) and "DelegationEnabledDate" in admins[0]
    for principal in ["detective.amazonaws.com", "securityhub.amazonaws.com"]:
        one = org.list_delegated_administrators(ServicePrincipal=principal)["DelegatedAdministrators"]
        assert [a["Id"] for a in one] == [SECURITY]
    none = org.list_delegated_administrators(ServicePrincipal="guardduty.amazonaws.com")
    assert none["DelegatedAdministrators"] == [] and "NextToken" not in none
    # A delegated administrator may list them too; another member may not.
    assert len(sandbox.client("organizations", SECURITY).list_delegated_administrators()["DelegatedAdministrators"]) == 1
    with pytest.raises(ClientError) as e:
        sandbox.client("organizations", "300000000001").list_delegated_administrators()
    assert (error_code(e), status(e)) == ("AccessDeniedException", 400)
    for bad in [{"ServicePrincipal": "has space"}, {"ServicePrincipal": "x" * 129}, {"MaxResults": 21}]:
        with pytest.raises(ClientError) as e:
            org.list_delegated_administrators(**bad)
        assert (error_code(e), status(e)) == ("InvalidInputException", 400)


@pytest.mark.parametrize(
    "account, call, code",
    [
        (MANAGEMENT, lambda o: o.list_accounts(MaxResults=21), "InvalidInputException"),
        (MANAGEMENT, lambda o: o.list_accounts(NextToken="made-up"), "InvalidInputException"),
        (MANAGEMENT, lambda o: o.list_accounts_for_parent(ParentId="ou-m5tr-nowhere00"), "ParentNotFoundException"),
        (MANAGEMENT, lambda o: o.list_children(ParentId="r-m5tr", ChildType="ACCOUNT", MaxResults=0), "InvalidInputException"),
        (MANAGEMENT, lambda o: o.describe_account(AccountId="500000000001"), "AccountNotFoundException"),
        ("300000000001", lambda o: o.list_roots(), "AccessDeniedException"),
        ("500000000001", lambda o: o.describe_organization(), "AWSOrganizationsNotInUseException"),
    ],
)
def test_errors(sandbox, account, call, code):
    with pytest.raises(ClientError) as e:
        call(sandbox.client("organizations", account))
    assert (error_code(e), status(e)) == (code, 400)


def test_throttling_and_service_errors(sandbox):
    sandbox.control("/_sandbox/faults", {"fail_next": [
        {"service": "organizations", "operation": "ListRoots", "count": 1, "error": "TooManyRequestsException"},
        {"service": "organizations", "operation": "ListAccounts", "count": 1, "error": "ServiceException"},
    ]})
    org = sandbox.client("organizations", MANAGEMENT)
    assert refused(org.list_roots) == ("TooManyRequestsException", 400)
    assert refused(org.list_accounts) == ("ServiceException", 500)
    assert len(org.list_roots()["Roots"]) == 1
