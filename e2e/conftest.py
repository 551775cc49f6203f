"""Fixtures for the end-to-end tests: the running local API (started by `make test`), tokens
for customers and an agent, and a small client that checks the contract's envelope."""

import os
import re
import time
import uuid

import jwt
import pytest
import requests

LOCAL_SECRET = os.environ.get("LOCAL_JWT_SECRET") or "local-development-secret"
STATUSES = ["open", "pending", "in_progress", "resolved", "closed"]
# Counts follow committed writes through the table's stream (count-tickets): the contract's
# bound is 5 s; a shared test machine gets slack, and the tests say how long it took.
COUNTS_SETTLE_SECONDS = 15
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def token(sub, agent=False, secret=LOCAL_SECRET, ttl=3600, **extra):
    claims = {"sub": sub, "exp": int(time.time()) + ttl, **extra}
    if agent:
        claims["cognito:groups"] = ["agents"]
    return jwt.encode(claims, secret, algorithm="HS256")


# cargo lambda watch (the local emulator) now and then never forwards a function's answer
# although the function finished (seen with answers of tens of KiB, a few in a hundred). GETs
# are safe to repeat, so the tests repeat them after a short wait for the answer, and count
# how often; writes are never repeated.
EMULATOR_HANGS = []
EMULATOR_FAILURES = []


def send(session, method, url, **kwargs):
    tries = 3 if method == "GET" else 1
    for attempt in range(tries):
        try:
            res = session.request(method, url, timeout=15 if tries > 1 else 60, **kwargs)
        except requests.exceptions.ReadTimeout:
            if attempt + 1 == tries:
                raise
            EMULATOR_HANGS.append(f"{method} {url}")
            continue
        # cargo lambda watch's own 500 (a problem+json text body, never the contract's JSON
        # error): the emulator lost the invocation, which no function answered. Reads only.
        emulator_failed = res.status_code == 500 and not res.headers.get(
            "content-type", "").startswith("application/json")
        if emulator_failed and attempt + 1 < tries:
            EMULATOR_FAILURES.append(f"{method} {url}: {res.text[:200]}")
            continue
        return res


# Modules that fill the table with bulk data (thousands of tickets, a ticket of 20 MB of
# threads) run after all the others and leave it there: moto copies the whole table on every
# transaction, so everything after them would slow down, and deleting it again took longer
# than the tests themselves.
LAST = {"test_bounds.py"}


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name in LAST)  # stable: the rest keep their order


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"emulator hangs retried (GET only): {len(EMULATOR_HANGS)}")
    terminalreporter.write_line(
        f"emulator 500s retried (GET only): {len(EMULATOR_FAILURES)}")
    for failure in EMULATOR_FAILURES:
        terminalreporter.write_line(f"  {failure}")


class Client:
    def __init__(self, base, sub, agent=False):
        self.base = base.rstrip("/") + "/v2/support-tickets"
        self.sub = sub
        self.agent = agent
        self.token = token(sub, agent)
        self.http = requests.Session()

    def call(self, method, path="", body=None, headers=None, raw=None, params=None):
        h = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        res = send(self.http, method, self.base + path, json=body, data=raw, headers=h,
                   params=params)
        if res.headers.get("content-type", "").startswith("application/json"):
            res.body = res.json()
            assert res.body["success"] is (res.status_code < 400), res.body
            if res.status_code >= 400:
                assert set(res.body) <= {"success", "error", "code", "details", "requestId"}
                assert res.body["requestId"] and res.body["error"], res.body
        else:
            res.body = None
        return res

    def create(self, **fields):
        body = {"title": "Login fails", "description": "I cannot log in since Monday.",
                "priority": "medium", "category": "account"}
        body.update(fields)
        res = self.call("POST", body=body)
        assert res.status_code == 201, res.body
        return res.body["data"]

    def status(self, ticket_id, status, resolution=None, headers=None):
        body = {"status": status}
        if resolution is not None:
            body["resolution"] = resolution
        return self.call("PATCH", f"/{ticket_id}/status", body, headers=headers)

    def reply(self, ticket_id, message="Any news?", **fields):
        return self.call("POST", f"/{ticket_id}/threads", {"message": message, **fields})

    def walk(self, **params):
        """Every page of a list, following nextCursor to the end."""
        seen, cursor = [], None
        while True:
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            res = self.call("GET", params=q)
            assert res.status_code == 200, res.body
            page = res.body["pagination"]
            # A page may be short and still have more (the read budget ran out on a sparse
            # filter); only the last says hasMore false, and only it has no cursor.
            assert len(res.body["data"]) <= page["limit"]
            assert bool(page["nextCursor"]) is page["hasMore"]
            seen.extend(res.body["data"])
            cursor = page["nextCursor"]
            if not cursor:
                return seen


def counts_of(client, **params):
    return client.call("GET", params={"countByStatus": "true", **params}).body


def settle(read, done, seconds=COUNTS_SETTLE_SECONDS):
    """Calls `read` until `done(value)` holds or time runs out: (last value, seconds taken)."""
    started = time.monotonic()
    while True:
        value = read()
        took = time.monotonic() - started
        if done(value) or took > seconds:
            return value, took
        time.sleep(0.2)


def settled_own_counts(client, **params):
    """A customer's counts once they agree with a recount of their tickets (a walk)."""
    from collections import Counter
    truth = Counter(t["status"] for t in client.walk(limit=100))
    expected = {s: truth.get(s, 0) for s in STATUSES}
    body, took = settle(lambda: counts_of(client, **params), lambda b: b["counts"] == expected)
    assert body["counts"] == expected, f"not settled in {took:.1f} s: {body['counts']}"
    return body


def settled_global_counts(agent, quiet_seconds=2.0):
    """The agents' counts once they stopped moving for longer than the stream's batching
    window (1 s): earlier tests' writes folded."""
    started = last_change = time.monotonic()
    counts = counts_of(agent)["counts"]
    while time.monotonic() - last_change < quiet_seconds:
        assert time.monotonic() - started < COUNTS_SETTLE_SECONDS, "counts never settled"
        time.sleep(0.25)
        now = counts_of(agent)["counts"]
        if now != counts:
            counts, last_change = now, time.monotonic()
    return counts


@pytest.fixture(scope="session")
def api_url():
    url = os.environ.get("API_URL")
    assert url, "API_URL is not set: run the end-to-end tests through `make test`"
    return url


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def alice(api_url):
    return Client(api_url, unique("alice"))


@pytest.fixture
def bob(api_url):
    return Client(api_url, unique("bob"))


@pytest.fixture
def agent(api_url):
    return Client(api_url, unique("agent"), agent=True)


@pytest.fixture
def faults():
    """Tells the proxy between the functions and moto to hold back operations."""
    url = os.environ.get("FAULT_PROXY_URL")
    assert url, "FAULT_PROXY_URL is not set: run the end-to-end tests through `make test`"

    def set_faults(delay_ms=None, fail=None):
        r = requests.post(f"{url}/__faults", json={"delayMs": delay_ms or {}, "fail": fail or {}},
                          timeout=5)
        assert r.status_code == 204

    yield set_faults
    set_faults()
