"""STS, and what clients of services the sandbox does not serve get, through boto3 and the aws
CLI (both independent of muster: generated from botocore's models)."""

import base64
import json
import os
import subprocess
import sys
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import NO_RETRY, SECURITY, cli, error_code, status

MEMBER_ROLE = "arn:aws:iam::500000000001:role/MusterMember"
# IAM users of the demo world: AWS lets no account root assume a role.
SECURITY_USER = "AKIASANDBOXSECURITY"
PAYMENTS_USER = "AKIASANDBOXPAYMENTS"
IRSA_ROLE = f"arn:aws:iam::{SECURITY}:role/MusterIrsa"


def jwt(claims):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return part({"alg": "RS256", "kid": "sandbox"}) + "." + part(claims) + ".c2lnbmF0dXJl"


IRSA_TOKEN = jwt({"sub": "system:serviceaccount:security:muster", "iss": "https://oidc.eks.us-east-1.amazonaws.com/id/SANDBOX", "aud": "sts.amazonaws.com", "exp": 4102444800})


def session_client(sandbox, service, creds, region=None):
    return boto3.session.Session().client(
        service,
        endpoint_url=sandbox.endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region or sandbox.exports["AWS_REGION"],
        config=NO_RETRY,
    )


def test_get_caller_identity_with_boto3_and_the_cli(sandbox):
    who = sandbox.client("sts", SECURITY).get_caller_identity()
    assert (who["Account"], who["Arn"], who["UserId"]) == (SECURITY, f"arn:aws:iam::{SECURITY}:root", SECURITY)
    out = cli(sandbox, "sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"UserId": SECURITY, "Account": SECURITY, "Arn": f"arn:aws:iam::{SECURITY}:root"}


def test_assume_role_gives_credentials_that_act_as_the_role_account(sandbox):
    sts = sandbox.client("sts", SECURITY_USER)
    out = sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="muster-accept")
    creds, user = out["Credentials"], out["AssumedRoleUser"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert user["Arn"] == "arn:aws:sts::500000000001:assumed-role/MusterMember/muster-accept"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":muster-accept")
    left = creds["Expiration"].timestamp() - time.time()
    assert 3590 < left <= 3601  # an hour, to the whole second above
    who = session_client(sandbox, "sts", creds).get_caller_identity()
    assert (who["Account"], who["Arn"], who["UserId"]) == ("500000000001", user["Arn"], user["AssumedRoleId"])
    # The session acts as the member: it sees the invitations sent to it.
    hub = sandbox.client("securityhub", SECURITY)
    hub.create_members(AccountDetails=[{"AccountId": "500000000001", "Email": "security@partner-analytics.example.org"}])
    hub.invite_members(AccountIds=["500000000001"])
    member = session_client(sandbox, "securityhub", creds)
    assert [i["AccountId"] for i in member.list_invitations()["Invitations"]] == [SECURITY]
    calls = [(c["service"], c["operation"], c["caller"]) for c in sandbox.calls()["calls"]]
    assert calls[-1] == ("securityhub", "ListInvitations", "500000000001")


def test_assume_role_denied_unknown_and_invalid(sandbox):
    sts = sandbox.client("sts", SECURITY_USER)
    # The role exists, but its trust does not name the caller's account.
    with pytest.raises(ClientError) as e:
        sandbox.client("sts", PAYMENTS_USER).assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="x1")
    assert (error_code(e), status(e)) == ("AccessDenied", 403)
    assert e.value.response["Error"]["Message"] == f"User: arn:aws:iam::300000000001:user/deploy is not authorized to perform: sts:AssumeRole on resource: {MEMBER_ROLE}"
    assert e.value.response["Error"]["Type"] == "Sender"
    # No such role: AWS answers the same AccessDenied.
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::500000000002:role/MusterMember", RoleSessionName="x1")
    assert (error_code(e), status(e)) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="x", DurationSeconds=100)
    assert (error_code(e), status(e)) == ("ValidationError", 400)
    assert e.value.response["Error"]["Message"] == (
        "2 validation errors detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; "
        "Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    )
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="muster", DurationSeconds=7200)
    assert (error_code(e), status(e)) == ("ValidationError", 400)
    assert "exceeds the MaxSessionDuration set for this role" in e.value.response["Error"]["Message"]


def test_the_cli_assumes_allowed_denied_and_unknown_roles(sandbox):
    ok = cli(sandbox, "sts", "assume-role", "--role-arn", MEMBER_ROLE, "--role-session-name", "cli", account=SECURITY_USER)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["AssumedRoleUser"]["Arn"] == "arn:aws:sts::500000000001:assumed-role/MusterMember/cli"
    denied = cli(sandbox, "sts", "assume-role", "--role-arn", MEMBER_ROLE, "--role-session-name", "cli", account=PAYMENTS_USER)
    assert denied.returncode == 255
    assert "An error occurred (AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::300000000001:user/deploy is not authorized" in denied.stderr
    unknown = cli(sandbox, "sts", "assume-role", "--role-arn", "arn:aws:iam::500000000002:role/Nope", "--role-session-name", "cli", account=SECURITY_USER)
    assert unknown.returncode == 255
    assert "(AccessDenied)" in unknown.stderr


def test_temporary_credentials_expire_and_need_their_token(start, tmp_path):
    fixture = tmp_path / "f.yaml"
    fixture.write_text(
        'regions: [us-east-1]\n'
        'external_accounts: [{id: "500000000001", email: a@example.com}, {id: "222222222222", email: s@example.com}]\n'
        'roles: [{name: MusterMember, accounts: ["500000000001"], trusted: ["222222222222"]}]\n'
        'users: [{account: "222222222222", name: muster, access_key: AKIASANDBOXSECURITY}]\n'
        'sts: {session_seconds: 2}\n'
    )
    sb = start("--fixture", str(fixture))
    creds = sb.client("sts", SECURITY_USER).assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="short")["Credentials"]
    left = creds["Expiration"].timestamp() - time.time()
    assert 2 <= left + 0.5 and left <= 3  # 2 s, to the whole second above
    assert session_client(sb, "sts", creds).get_caller_identity()["Account"] == "500000000001"
    wrong = dict(creds, SessionToken="forged")
    assert refusal(lambda: session_client(sb, "detective", wrong).list_graphs()) == ("UnrecognizedClientException", 403)
    assert refusal(lambda: session_client(sb, "sts", wrong).get_caller_identity()) == ("InvalidClientTokenId", 403)
    time.sleep(max(0.0, creds["Expiration"].timestamp() - time.time()) + 0.2)
    assert refusal(lambda: session_client(sb, "detective", creds).list_graphs()) == ("ExpiredTokenException", 403)
    assert refusal(lambda: session_client(sb, "sts", creds).get_caller_identity()) == ("ExpiredTokenException", 400)


def test_an_account_root_may_not_assume_a_role_and_a_user_is_itself(sandbox):
    # The role trusts the security account, but its root is refused before the trust is read,
    # as AWS refuses it.
    with pytest.raises(ClientError) as e:
        sandbox.client("sts", SECURITY).assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="root")
    assert (error_code(e), status(e)) == ("AccessDenied", 403)
    assert e.value.response["Error"]["Message"] == "Roles may not be assumed by root accounts."
    assert e.value.response["Error"]["Type"] == "Sender"
    root = cli(sandbox, "sts", "assume-role", "--role-arn", MEMBER_ROLE, "--role-session-name", "root")
    assert root.returncode == 255, root.stderr
    assert "An error occurred (AccessDenied) when calling the AssumeRole operation: Roles may not be assumed by root accounts." in root.stderr
    who = sandbox.client("sts", SECURITY_USER).get_caller_identity()
    assert (who["Account"], who["Arn"]) == (SECURITY, f"arn:aws:iam::{SECURITY}:user/muster")
    assert who["UserId"].startswith("AIDA") and len(who["UserId"]) == 21
    calls = [(c["operation"], c["caller"], c["status"]) for c in sandbox.calls()["calls"] if c["service"] == "sts"]
    assert calls[-3:-1] == [("AssumeRole", SECURITY, 403), ("AssumeRole", SECURITY, 403)]


def refusal(call):
    """The error code and HTTP status `call` fails with."""
    with pytest.raises(ClientError) as e:
        call()
    return (error_code(e), status(e))


WEB_IDENTITY_SCRIPT = """
import boto3
who = boto3.client("sts").get_caller_identity()
print(who["Account"], who["Arn"].split("/")[1])
"""


def test_web_identity_through_boto3_and_the_cli(sandbox, tmp_path):
    token = tmp_path / "token"
    token.write_text(IRSA_TOKEN)
    env = {"AWS_ROLE_ARN": IRSA_ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token), "AWS_ROLE_SESSION_NAME": "muster-irsa"}
    run_env = {"PATH": os.environ["PATH"], "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_ENDPOINT_URL": sandbox.endpoint, "AWS_DEFAULT_REGION": "us-east-1", **env}
    out = subprocess.run([sys.executable, "-c", WEB_IDENTITY_SCRIPT], env=run_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [SECURITY, "MusterIrsa"]
    out = cli(sandbox, "sts", "get-caller-identity", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"] == f"arn:aws:sts::{SECURITY}:assumed-role/MusterIrsa/muster-irsa"
    # AssumeRoleWithWebIdentity is unsigned; the call log shows it without a caller.
    calls = [(c["service"], c["operation"], c["caller"], c["status"]) for c in sandbox.calls()["calls"]]
    assert calls == [
        ("sts", "AssumeRoleWithWebIdentity", None, 200),
        ("sts", "GetCallerIdentity", SECURITY, 200),
        ("sts", "AssumeRoleWithWebIdentity", None, 200),
        ("sts", "GetCallerIdentity", SECURITY, 200),
    ]


def test_web_identity_refusals(sandbox):
    sts = sandbox.client("sts", SECURITY)
    out = sts.assume_role_with_web_identity(RoleArn=IRSA_ROLE, RoleSessionName="w1", WebIdentityToken=IRSA_TOKEN)
    assert out["SubjectFromWebIdentityToken"] == "system:serviceaccount:security:muster"
    assert out["Provider"] == "https://oidc.eks.us-east-1.amazonaws.com/id/SANDBOX"
    assert out["Audience"] == "sts.amazonaws.com"
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=IRSA_ROLE, RoleSessionName="w1", WebIdentityToken="not-a-jwt")
    assert (error_code(e), status(e)) == ("InvalidIdentityToken", 400)
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=IRSA_ROLE, RoleSessionName="w1", WebIdentityToken=jwt({"sub": "someone-else", "exp": 1}))
    assert (error_code(e), status(e)) == ("ExpiredTokenException", 400)
    # MusterMember trusts an account, not a web identity.
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=MEMBER_ROLE, RoleSessionName="w1", WebIdentityToken=IRSA_TOKEN)
    assert (error_code(e), status(e)) == ("AccessDenied", 403)


@pytest.mark.parametrize(
    "service,call,operation",
    [
        ("iam", lambda c: c.list_users(), "ListUsers"),  # query, XML
        ("ec2", lambda c: c.describe_regions(), "DescribeRegions"),  # ec2's query dialect
        ("s3", lambda c: c.list_buckets(), "GET /"),  # restXml, a bare <Error>
        ("route53", lambda c: c.list_hosted_zones(), "GET /2013-04-01/hostedzone"),  # restXml, <ErrorResponse>
        ("lambda", lambda c: c.list_functions(), "GET /2015-03-31/functions"),  # restJson1
        ("dynamodb", lambda c: c.list_tables(), "ListTables"),  # awsJson1_0
        ("kms", lambda c: c.list_keys(), "ListKeys"),  # awsJson1_1
        ("sqs", lambda c: c.list_queues(), "ListQueues"),  # awsJson1_0 in this botocore
    ],
)
def test_unserved_services_get_a_parseable_error_and_are_logged(sandbox, service, call, operation):
    with pytest.raises(ClientError) as e:
        call(sandbox.client(service, SECURITY))
    assert (error_code(e), status(e)) == ("NotImplemented", 501)
    assert e.value.response["Error"]["Message"] == f"The sandbox does not serve {service}: it serves detective, securityhub, organizations and sts."
    calls = [(c["service"], c["operation"], c["caller"], c["status"], c["error"]) for c in sandbox.calls()["calls"]]
    assert calls == [(service, operation, SECURITY, 501, "NotImplemented")]


def test_the_cli_reads_unserved_services_errors(sandbox):
    out = cli(sandbox, "iam", "list-roles")
    assert out.returncode == 255
    assert "An error occurred (NotImplemented) when calling the ListRoles operation: The sandbox does not serve iam" in out.stderr
    out = cli(sandbox, "sts", "get-session-token")
    assert out.returncode == 255
    assert "An error occurred (NotImplemented) when calling the GetSessionToken operation: The sandbox's sts does not serve GetSessionToken" in out.stderr


def test_unsigned_requests_are_in_the_call_log(sandbox):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(sandbox.endpoint + "/", data=b"Action=ListUsers&Version=2010-05-08", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403
    body = e.value.read().decode()
    assert "<Code>MissingAuthenticationTokenException</Code>" in body and "<ErrorResponse" in body
    calls = [(c["service"], c["operation"], c["caller"], c["status"]) for c in sandbox.calls()["calls"]]
    assert calls == [("unsigned", "ListUsers", None, 403)]
