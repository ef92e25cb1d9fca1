"""Starts `muster sandbox` as a user would and hands out boto3 clients built from the exports line
it prints. boto3 is an independent client generated from the same AWS models, so whatever it
accepts the sandbox speaks the real wire protocol."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MUSTER_BIN", os.path.join(ROOT, "target", "debug", "muster"))
MANAGEMENT = "111111111111"
SECURITY = "222222222222"
AWS = os.path.join(os.path.dirname(sys.executable), "aws")
# One attempt: the tests assert on the first answer, not on what retries make of it. boto3's own
# parameter checks are off so that invalid requests reach the sandbox, whose checks are tested.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False)


class Sandbox:
    def __init__(self, args):
        self.proc = subprocess.Popen(
            [BIN, "sandbox", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MUSTER_LOG": "warn"},
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("muster sandbox printed nothing: " + self.proc.stderr.read())
        self.exports = dict(re.findall(r"(\w+)=(\S+)", line.strip().removeprefix("export ")))
        self.endpoint = self.exports["AWS_ENDPOINT_URL"]
        # A home of its own, for clients that cache what it hands out (the aws CLI).
        self.home = tempfile.mkdtemp(prefix="muster-sandbox-home-")

    def client(self, service, account=None, region=None, config=NO_RETRY):
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=account or self.exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key="sandbox",
            region_name=region or self.exports["AWS_REGION"],
            config=config,
        )

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None or path.endswith("reset") else "GET")
        if req.method == "POST" and data is None:
            req.data = b""
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    def calls(self):
        return self.control("/_sandbox/calls")

    def count(self, service, operation, status=None):
        return sum(
            c["count"]
            for c in self.calls()["counts"]
            if c["service"] == service and c["operation"] == operation and (status is None or c["status"] == status)
        )

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)
        assert code == 0, f"muster sandbox exited {code} on SIGTERM: {self.proc.stderr.read()}"


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch, tmp_path):
    # Nothing from the developer's own AWS setup may leak into a test.
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


@pytest.fixture
def sandbox():
    sb = Sandbox([])
    yield sb
    sb.stop()


@pytest.fixture
def start():
    """Starts a sandbox with other arguments (a seed, a fixture)."""
    started = []

    def _start(*args):
        sb = Sandbox(list(args))
        started.append(sb)
        return sb

    yield _start
    for sb in started:
        sb.stop()


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def refused(call, *args, **kwargs):
    """The error code and HTTP status of a call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return error_code(e), status(e)


def cli(sandbox, *args, env=None, account=SECURITY):
    """The aws CLI as a user runs it: the exports line's variables, nothing else. Its HOME is
    the sandbox's own, so that credentials it caches (~/.aws/cli/cache) never outlive it."""
    home = sandbox.home
    base = {"PATH": os.environ["PATH"], "HOME": home, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **sandbox.exports, "AWS_ACCESS_KEY_ID": account}
    if env is not None:
        base = {k: v for k, v in base.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")} | env
    return subprocess.run([AWS, *args, "--output", "json"], env=base, capture_output=True, text=True)
