"""Smoke test of a deployed stack: `make smoke API_URL=https://... TOKEN=<customer access token>
[AGENT_TOKEN=<agent access token>]`. Every call goes through the real API Gateway, authorizer,
functions, table and bucket; nothing is stubbed. Without API_URL every test is skipped.

It leaves what it creates behind (closed tickets with the title prefix "smoke test"); the
API has no delete, by design."""

import base64
import hashlib
import json
import os
import time
import uuid

import pytest
import requests

API_URL = os.environ.get("API_URL", "").rstrip("/")
TOKEN = os.environ.get("TOKEN", "")
AGENT_TOKEN = os.environ.get("AGENT_TOKEN", "")
TIMEOUT = 30

pytestmark = pytest.mark.skipif(
    not API_URL, reason="no deployment given: make smoke API_URL=<ApiUrl output> TOKEN=<access token>")


def call(token, method, path="", body=None, headers=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    res = requests.request(method, f"{API_URL}/v2/support-tickets{path}", json=body,
                           headers=h, timeout=TIMEOUT)
    res.body = res.json() if res.headers.get("content-type", "").startswith("application/json") else None
    return res


def ok(res, status=200):
    assert res.status_code == status, (res.status_code, res.text[:500])
    assert res.body["success"] is True
    return res.body["data"]


@pytest.fixture(scope="module")
def customer():
    if not TOKEN:
        pytest.fail("API_URL is given but TOKEN is not: pass a customer's access token")
    return TOKEN


def token_sub(token):
    """The caller's id, read (not verified: the API verifies) from the token's payload."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def wait_for_attachment(token, ticket_id, attachment_id, seconds=60):
    deadline = time.time() + seconds
    while True:
        ticket = ok(call(token, "GET", f"/{ticket_id}"))
        [a] = [a for a in ticket["attachments"] if a["_id"] == attachment_id]
        if a["status"] != "pending" or time.time() > deadline:
            return a
        time.sleep(1)


def test_requests_without_a_valid_token_are_refused():
    assert call(None, "GET").status_code == 401
    assert call("not-a-token", "GET").status_code == 401


def test_a_customer_opens_reads_lists_replies_and_closes(customer):
    key = str(uuid.uuid4())
    body = {"title": f"smoke test {key[:8]}", "description": "Created by make smoke.",
            "priority": "low", "category": "general"}
    first = call(customer, "POST", body=body, headers={"Idempotency-Key": key})
    created = ok(first, 201)
    again = ok(call(customer, "POST", body=body, headers={"Idempotency-Key": key}), 201)
    assert again["_id"] == created["_id"], "a retried create must not open a second ticket"

    got = ok(call(customer, "GET", f"/{created['_id']}"))
    assert got["title"] == body["title"] and got["status"] == "open"
    listed = ok(call(customer, "GET", "?limit=100"))
    assert created["_id"] in [t["_id"] for t in listed]

    reply = call(customer, "POST", f"/{created['_id']}/threads", body={"message": "More detail."})
    assert reply.status_code == 201, reply.text
    closed = ok(call(customer, "PATCH", f"/{created['_id']}/status", body={"status": "closed"}))
    assert closed["status"] == "closed"
    assert call(customer, "GET", f"/{uuid.uuid4()}").status_code == 404


def test_an_attachment_goes_up_and_comes_back(customer):
    data = os.urandom(2048)
    created = ok(call(customer, "POST", body={
        "title": "smoke test attachment", "description": "Created by make smoke.",
        "priority": "low", "category": "general",
        "attachments": [{"filename": "smoke.bin", "size": len(data),
                         "type": "text/plain"}]}), 201)
    [declared] = created["attachments"]
    up = declared["upload"]
    res = requests.request(up["method"], up["url"], data=data, headers=up["headers"], timeout=TIMEOUT)
    assert res.status_code == 200, res.text[:500]
    done = wait_for_attachment(customer, created["_id"], declared["_id"])
    assert done["status"] == "uploaded", done
    down = requests.get(done["url"], timeout=TIMEOUT)
    assert down.status_code == 200
    assert hashlib.sha256(down.content).digest() == hashlib.sha256(data).digest()
    ok(call(customer, "PATCH", f"/{created['_id']}/status", body={"status": "closed"}))


def test_an_agent_takes_answers_and_resolves(customer):
    if not AGENT_TOKEN:
        pytest.skip("no AGENT_TOKEN given (an access token of a member of the agents group)")
    created = ok(call(customer, "POST", body={
        "title": "smoke test for an agent", "description": "Created by make smoke.",
        "priority": "low", "category": "general"}), 201)
    path = f"/{created['_id']}"
    assert call(customer, "PATCH", path, body={"priority": "urgent"}).status_code == 403
    me = token_sub(AGENT_TOKEN)
    taken = ok(call(AGENT_TOKEN, "PATCH", path, body={"assignedTo": me, "priority": "high"}))
    assert taken["priority"] == "high" and taken["assignedTo"] == me
    mine = ok(call(AGENT_TOKEN, "GET", "?assignedTo=me&limit=100"))
    assert created["_id"] in [t["_id"] for t in mine]
    reply = call(AGENT_TOKEN, "POST", f"{path}/threads", body={"message": "Fixed on our side."})
    assert reply.status_code == 201, reply.text
    resolved = ok(call(AGENT_TOKEN, "PATCH", f"{path}/status",
                       body={"status": "resolved", "resolution": "Fixed by make smoke."}))
    assert resolved["status"] == "resolved"
    assert ok(call(customer, "GET", path))["firstResponseSeconds"] is not None
    ok(call(customer, "PATCH", f"{path}/status", body={"status": "closed"}))
