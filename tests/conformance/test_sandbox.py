"""The sandbox as a whole: the exports line, identity, the control API."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import SECURITY, error_code, status

ONLY_EXPORTS = """
import boto3
det = boto3.client("detective")
org = boto3.client("organizations")
hub = boto3.client("securityhub")
print(len(org.list_accounts()["Accounts"]), org.describe_organization()["Organization"]["MasterAccountId"])
print(det.list_graphs()["GraphList"])
print(hub.describe_hub()["HubArn"])
"""


def test_the_exports_line_is_all_a_client_needs(sandbox):
    env = {"PATH": os.environ["PATH"], **sandbox.exports, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    assert set(sandbox.exports) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"}
    out = subprocess.run([sys.executable, "-c", ONLY_EXPORTS], env=env, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "20 111111111111"
    assert lines[1] == "[]"  # the management account has no graph
    assert lines[2] == "arn:aws:securityhub:us-east-1:111111111111:hub/default"


def test_a_generated_world_from_a_seed(start):
    sb = start("--accounts", "75", "--regions", "eu-central-1,ap-southeast-2", "--seed", "42")
    assert sb.exports["AWS_REGION"] == "eu-central-1"
    assert sb.exports["AWS_ACCESS_KEY_ID"] == "100000000000"
    org = sb.client("organizations")
    assert sum(len(p["Accounts"]) for p in org.get_paginator("list_accounts").paginate()) == 75
    det = sb.client("detective", "100000000001", region="ap-southeast-2")
    assert det.list_graphs()["GraphList"][0]["Arn"].startswith("arn:aws:detective:ap-southeast-2:100000000001:graph:")


def test_unknown_keys_and_unsigned_requests_get_403(sandbox):
    with pytest.raises(ClientError) as e:
        sandbox.client("detective", "AKIAUNKNOWNKEY").list_graphs()
    assert (error_code(e), status(e)) == ("UnrecognizedClientException", 403)
    req = urllib.request.Request(sandbox.endpoint + "/graphs/list", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_call_log_counts_and_orders_calls(sandbox):
    det = sandbox.client("detective", SECURITY)
    arn = det.list_graphs()["GraphList"][0]["Arn"]
    det.create_members(GraphArn=arn, Accounts=[{"AccountId": "500000000001", "EmailAddress": "security@partner-analytics.example.org"}])
    with pytest.raises(ClientError):
        det.list_members(GraphArn=arn, MaxResults=500)
    log = sandbox.calls()
    assert [(c["operation"], c["status"], c["caller"]) for c in log["calls"]] == [
        ("ListGraphs", 200, SECURITY),
        ("CreateMembers", 200, SECURITY),
        ("ListMembers", 400, SECURITY),
    ]
    assert log["calls"][1]["account_ids"] == ["500000000001"]
    assert sandbox.count("detective", "ListMembers", 400) == 1
    sandbox.control("/_sandbox/calls/reset")
    assert sandbox.calls()["calls"] == []


def test_faults_endpoint_validates_and_applies(sandbox):
    bad = urllib.request.Request(
        sandbox.endpoint + "/_sandbox/faults",
        data=json.dumps({"fail_next": [{"service": "detective", "operation": "ListGraphs", "count": 1, "error": "Nope"}]}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad)
    assert e.value.code == 400
    assert "does not define the error" in json.loads(e.value.read())["error"]
    sandbox.control("/_sandbox/faults", {"fail_next": [{"service": "detective", "operation": "ListGraphs", "count": 2, "error": "InternalServerException"}]})
    det = sandbox.client("detective", SECURITY)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            det.list_graphs()
        assert (error_code(e), status(e)) == ("InternalServerException", 500)
    assert len(det.list_graphs()["GraphList"]) == 1


def test_world_dump(sandbox):
    world = sandbox.control("/_sandbox/world")
    assert world["organization"]["management_account"] == "111111111111"
    assert world["detective_administrator"] == SECURITY
    members = world["regions"]["us-east-1"]["detective_graphs"][0]["members"]
    assert [(m["account_id"], m["status"]) for m in members] == [("500000000004", "INVITED"), ("500000000005", "ENABLED")]


# Every error each service's model defines for the emulated operations, injected with fail_next:
# boto3 must read back the same name and the model's status, whatever the protocol.
ERRORS = {
    ("detective", "ListGraphs", lambda c: c.list_graphs()): [
        ("ValidationException", 400),
        ("ServiceQuotaExceededException", 402),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ConflictException", 409),
        ("TooManyRequestsException", 429),
        ("InternalServerException", 500),
    ],
    ("securityhub", "DescribeHub", lambda c: c.describe_hub()): [
        ("InvalidInputException", 400),
        ("InvalidAccessException", 401),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ResourceConflictException", 409),
        ("LimitExceededException", 429),
        ("InternalException", 500),
    ],
    ("organizations", "ListAccounts", lambda c: c.list_accounts()): [
        ("AccessDeniedException", 400),
        ("AWSOrganizationsNotInUseException", 400),
        ("InvalidInputException", 400),
        ("TooManyRequestsException", 400),
        ("ServiceException", 500),
    ],
}
INJECTED = [
    (service, operation, call, code, st)
    for (service, operation, call), errors in ERRORS.items()
    for code, st in errors
]


@pytest.mark.parametrize("service, operation, call, code, http_status", INJECTED)
def test_every_model_error_reads_back_in_boto3(sandbox, service, operation, call, code, http_status):
    sandbox.control("/_sandbox/faults", {"fail_next": [{"service": service, "operation": operation, "count": 1, "error": code}]})
    client = sandbox.client(service, SECURITY)
    with pytest.raises(ClientError) as e:
        call(client)
    assert (error_code(e), status(e)) == (code, http_status)
    assert e.value.response["Error"]["Message"] == f"sandbox fault: {operation} failed on purpose"
    call(client)  # only the next call failed
