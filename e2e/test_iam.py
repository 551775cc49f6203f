"""Least privilege, held by the local stack: every function reaches the local AWS endpoint under
its own identity and is refused what its role in template.yaml does not allow (tools/localiam.py
in the proxy). These tests prove the check bites and that its reading of the roles is right."""

import os
import pathlib
import subprocess
import sys
import tomllib

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import localiam  # noqa: E402

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


@pytest.fixture(scope="module")
def roles():
    return localiam.Roles(ROOT / "template.yaml", "t", "local-bucket")


@pytest.fixture
def proxy():
    url = os.environ.get("FAULT_PROXY_URL")
    assert url, "FAULT_PROXY_URL is not set: run the end-to-end tests through `make test`"
    return url


def test_every_function_has_an_identity_of_its_own_locally(roles):
    meta = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["bin"]
    keys = {name: meta.get(name, {}).get("env", {}).get("AWS_ACCESS_KEY_ID") for name in roles.functions()}
    assert keys == {name: f"local-fn-{name}" for name in roles.functions()}


def test_roles_are_read_as_cloudformation_gets_them(roles):
    assert roles.allows("create-ticket", "dynamodb:PutItem", TABLE)
    assert roles.allows("create-ticket", "dynamodb:GetItem", TABLE), "idempotent replays read"
    assert not roles.allows("create-ticket", "dynamodb:PutItem", TABLE + "-other")
    assert not roles.allows("create-ticket", "dynamodb:DeleteItem", TABLE)
    assert roles.allows("list-tickets", "dynamodb:Query", TABLE + "/index/byStatus")
    assert not roles.allows("get-ticket", "dynamodb:Query", TABLE + "/index/byStatus")
    assert roles.allows("escalate-tickets", "dynamodb:Query", TABLE + "/index/byEscalation")
    assert not roles.allows("escalate-tickets", "dynamodb:Query", TABLE)
    # The local bucket stands in for the stack's, named after the stack.
    assert roles.allows("create-ticket", "s3:PutObject", "arn:aws:s3:::local-bucket/tickets/a/b")
    assert not roles.allows("create-ticket", "s3:PutObject", "arn:aws:s3:::local-bucket/other")
    assert not roles.allows("create-ticket", "s3:PutObject", "arn:aws:s3:::another/tickets/a/b")
    assert not roles.allows("list-tickets", "s3:GetObject", "arn:aws:s3:::local-bucket/tickets/a/b")
    assert not roles.allows("nobody", "dynamodb:GetItem", TABLE)


def test_requests_are_named_as_iam_names_them():
    body = b'{"TransactItems": [{"Put": {"TableName": "t"}}, {"Update": {"TableName": "t"}},' \
           b' {"ConditionCheck": {"TableName": "u"}}]}'
    assert localiam.dynamodb_actions("TransactWriteItems", body) == [
        ("dynamodb:ConditionCheckItem", TABLE[:-1] + "u"),
        ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", TABLE)]
    assert localiam.dynamodb_actions("Query", b'{"TableName": "t", "IndexName": "i"}') == [
        ("dynamodb:Query", TABLE + "/index/i")]
    obj = "arn:aws:s3:::b/tickets/x"
    assert localiam.s3_actions("HEAD", "/b/tickets/x", {}, {}) == [("s3:GetObject", obj)]
    assert localiam.s3_actions("PUT", "/b/tickets/x", {"tagging": [""]}, {}) == [
        ("s3:PutObjectTagging", obj)]
    assert localiam.s3_actions("GET", "/b", {"list-type": ["2"]}, {}) == [
        ("s3:ListBucket", "arn:aws:s3:::b")]
    assert localiam.identity({"authorization": "AWS4-HMAC-SHA256 Credential=local-fn-get-ticket/"
                              "20261126/us-east-1/dynamodb/aws4_request, SignedHeaders=host"},
                             {}) == "get-ticket"
    assert localiam.identity({}, {"X-Amz-Credential": ["local-fn-add-thread/20261126/us-east-1/"
                                                        "s3/aws4_request"]}) == "add-thread"
    assert localiam.identity({"authorization": "AWS4-HMAC-SHA256 Credential=local-dummy/x"}, {}) is None


def test_the_check_bites_create_without_get_item_fails_the_idempotency_test(proxy, tmp_path):
    """With dynamodb:GetItem taken from create-ticket's role in a copy of the template, the
    idempotency test fails (the replay's read is refused: 500), as it would in AWS."""
    text = (ROOT / "template.yaml").read_text()
    start = text.index("  CreateTicketFunction:\n")
    end = text.index("  CreateTicketFunctionLogs:\n")
    section = text[start:end]
    assert section.count("                - dynamodb:GetItem\n") == 1
    copy = tmp_path / "template.yaml"
    copy.write_text(text[:start] + section.replace("                - dynamodb:GetItem\n", "")
                    + text[end:])
    assert not localiam.Roles(copy, "t", "b").allows("create-ticket", "dynamodb:GetItem", TABLE)

    def denied_under_test():
        state = requests.get(f"{proxy}/__iam", timeout=5).json()
        return state["usage"].get("create-ticket", {}).get("deniedUnderTest", [])

    before = len(denied_under_test())
    assert requests.post(f"{proxy}/__iam", json={"template": str(copy)}, timeout=30).status_code == 204
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "e2e/test_idempotency.py::test_a_retried_create_replays_the_original"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        assert requests.post(f"{proxy}/__iam", json={}, timeout=30).status_code == 204
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "assert (500 == 201)" in run.stdout, run.stdout
    refused = denied_under_test()[before:]
    assert refused and all(r.startswith("dynamodb:GetItem on ") for r in refused), refused
