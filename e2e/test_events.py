"""Events and webhooks end to end (docs/events.md): every committed change comes out of the
table's stream as the catalogue's events, through the bus and the webhook queues, to a
receiver started here that checks each delivery's signature with an independent
implementation (the `standardwebhooks` package). Locally the retry schedule is 1 s, 2 s:
three tries, then the dead-letter queue."""

import collections
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import jsonschema
import pytest
import yaml
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import Client, token, unique

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ALL_TYPES = ["ticket.created", "thread.added", "ticket.status_changed", "ticket.assigned",
             "ticket.unassigned", "ticket.priority_changed", "ticket.updated",
             "attachment.uploaded", "attachment.rejected", "ticket.rated", "ticket.deleted",
             "ticket.restored", "ticket.purged", "customer.erased"]
# Deletion and erasure (docs/data-lifecycle.md): test_a_tickets_lifecycle_and_an_erasure_are_announced.
LIFECYCLE = {"ticket.deleted", "ticket.restored", "ticket.purged", "customer.erased"}
DELIVERY_SECONDS = 45


def schema(kind):
    with open(os.path.join(ROOT, "schemas", "events", f"{kind}.schema.json")) as f:
        return jsonschema.Draft202012Validator(json.load(f))


def test_the_catalogue_is_one_schema_per_type_everywhere():
    files = sorted(os.listdir(os.path.join(ROOT, "schemas", "events")))
    assert files == sorted(f"{k}.schema.json" for k in ALL_TYPES)
    with open(os.path.join(ROOT, "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    assert spec["components"]["schemas"]["EventType"]["enum"] == ALL_TYPES
    with open(os.path.join(ROOT, "docs", "events.md")) as f:
        doc = f.read()
    assert all(f"`{k}`" in doc for k in ALL_TYPES)


class Receiver:
    """Webhook receivers on one port, one per path. A path's mode: `ok` (200), `flaky` (500
    for the first two tries of each event, then 200) or `down` (500)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.secrets, self.modes = {}, {}
        self.tries = collections.Counter()
        self.delivered = collections.defaultdict(list)
        self.bad_signatures = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = receiver.receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, path, headers, body):
        with self.lock:
            secret, mode = self.secrets.get(path), self.modes.get(path, "ok")
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, TypeError, ValueError) as e:
            with self.lock:
                self.bad_signatures.append((path, str(e)))
            return 401
        event = json.loads(body)
        assert headers["webhook-id"] == event["id"]
        with self.lock:
            self.tries[(path, event["id"])] += 1
            tried = self.tries[(path, event["id"])]
            if mode == "down" or (mode == "flaky" and tried <= 2):
                return 500
            self.delivered[path].append(event)
        return 200

    def events(self, path, ticket_id=None):
        with self.lock:
            return [e for e in self.delivered[path]
                    if ticket_id is None or e.get("ticketId") == ticket_id]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module", autouse=True)
def caught_up(api_url, receiver):
    """Waits until the pipeline has caught up with what earlier tests wrote (the bounds tests
    write and delete thousands of items, which the stream's consumers read through): a probe
    ticket's event arrives, so everything committed before it has been published."""
    admin = Admin(api_url, unique("ops"))
    admin.subscribe(receiver, "/probe", events=["ticket.created"])
    client = Client(api_url, unique("probe"))
    t = client.create()
    wait_for(lambda: receiver.events("/probe", t["_id"]), lambda e: len(e) == 1, seconds=300)
    admin.remove_all()


class Admin:
    def __init__(self, api_url, sub="ops", groups=("admins",)):
        self.base = api_url.rstrip("/") + "/v2/webhooks"
        self.headers = {"Authorization": f"Bearer {token(sub, **{'cognito:groups': list(groups)})}"}
        self.made = []

    def call(self, method, path="", body=None):
        res = requests.request(method, self.base + path, json=body, headers=self.headers,
                               timeout=30)
        res.body = res.json()
        assert res.body["success"] is (res.status_code < 400), res.body
        return res

    def subscribe(self, receiver, path, events=ALL_TYPES, internal=False, mode="ok"):
        res = self.call("POST", body={"url": receiver.url + path, "events": events,
                                      "includeInternal": internal})
        assert res.status_code == 201, res.body
        hook = res.body["data"]
        assert hook["secret"].startswith("whsec_")
        with receiver.lock:
            receiver.secrets[path], receiver.modes[path] = hook["secret"], mode
        self.made.append(hook["_id"])
        return hook

    def remove_all(self):
        for hook in self.made:
            self.call("DELETE", f"/{hook}")


@pytest.fixture
def admin(api_url):
    a = Admin(api_url)
    yield a
    a.remove_all()


def wait_for(what, done, seconds=DELIVERY_SECONDS):
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not delivered in {seconds} s: {value}"
        time.sleep(0.3)


def put(upload, data, **override):
    headers = dict(upload["headers"])
    headers.update(override)
    return requests.put(upload["url"], data=data, headers=headers, timeout=30)


def test_every_event_type_once_signed_in_version_order_after_retries(
        admin, receiver, alice, agent, faults):
    everything = admin.subscribe(receiver, "/all", internal=True, mode="flaky")
    admin.subscribe(receiver, "/public", internal=False, mode="ok")
    versions = {}  # what each write's answer said the ticket's version was

    t = alice.create(attachments=[{"filename": "ok.txt", "size": 5, "type": "text/plain"},
                                  {"filename": "short.csv", "size": 8, "type": "text/csv"}])
    tid = t["_id"]
    versions["created"] = t["version"]
    good, short = t["attachments"]
    assert put(good["upload"], b"hello").status_code == 200
    assert put(short["upload"], b"a,b\n1,2\n3,4\n", **{"Content-Length": None}).status_code == 200
    res = agent.call("PATCH", f"/{tid}", {"assignedTo": agent.sub, "priority": "high",
                                          "tags": ["vip"], "category": "billing",
                                          "title": "Login fails on Mondays"})
    assert res.status_code == 200, res.body
    versions["updated"] = res.body["data"]["version"]
    assert agent.reply(tid, "between agents", internal=True).status_code == 201
    assert agent.reply(tid, "We are on it").status_code == 201
    res = agent.status(tid, "in_progress")
    assert res.status_code == 200
    versions["in_progress"] = res.body["data"]["version"]
    # Refused and cancelled writes announce nothing.
    assert agent.status(tid, "open", headers={"If-Match": '"1"'}).status_code == 412
    assert alice.status(tid, "pending").status_code == 403
    faults(fail={"TransactWriteItems": {"error": "InternalServerError", "times": 3,
                                        "function": "add-thread"}})
    assert alice.reply(tid, "this reply never lands").status_code >= 500
    faults()
    res = agent.call("PATCH", f"/{tid}", {"assignedTo": None})
    assert res.status_code == 200
    versions["unassigned"] = res.body["data"]["version"]
    res = agent.status(tid, "resolved", "fixed the login")
    versions["resolved"] = res.body["data"]["version"]
    res = alice.call("POST", f"/{tid}/satisfaction", {"rating": "good", "comment": "quick"})
    assert res.status_code == 200, res.body
    versions["rated"] = res.body["data"]["version"]
    final = agent.call("GET", f"/{tid}").body["data"]["version"]

    def types(path):
        return collections.Counter(e["type"] for e in receiver.events(path, tid))

    wanted = {"ticket.status_changed": 2, "ticket.assigned": 1, "ticket.unassigned": 1,
              "ticket.priority_changed": 1, "ticket.updated": 1, "ticket.created": 1,
              "attachment.uploaded": 1, "attachment.rejected": 1, "ticket.rated": 1}
    got = wait_for(lambda: types("/all"), lambda c: all(c[k] >= n for k, n in wanted.items())
                   and c["thread.added"] >= 9)
    time.sleep(2)  # anything extra (a duplicate, a refused write's event) would come by now
    events = receiver.events("/all", tid)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "one successful delivery per event id"
    assert set(types("/all")) == set(ALL_TYPES) - LIFECYCLE
    assert {k: types("/all")[k] for k in wanted} == wanted, types("/all")
    # first thread, two system threads of the update, the note, the reply, one system thread
    # per status change, one for the unassignment and the rating's (internal); never the
    # reply whose write failed
    threads = [e for e in events if e["type"] == "thread.added"]
    assert len(threads) == 9, [e["data"]["thread"]["message"] for e in threads]
    assert all(e["data"]["thread"]["message"] != "this reply never lands" for e in threads)
    # Each delivery came on the third try (two 500s first), signed every time.
    assert all(receiver.tries[("/all", i)] == 3 for i in ids)
    assert receiver.bad_signatures == []

    by_type = collections.defaultdict(list)
    for e in events:
        schema(e["type"]).validate(e)
        by_type[e["type"]].append(e)
        assert e["ticketId"] == tid and e["catalogueVersion"] == 1
    assert by_type["ticket.created"][0]["ticketVersion"] == versions["created"] == 1
    assert by_type["ticket.created"][0]["actor"] == alice.sub
    for kind in ("ticket.assigned", "ticket.priority_changed", "ticket.updated"):
        assert by_type[kind][0]["ticketVersion"] == versions["updated"], kind
        assert by_type[kind][0]["actor"] == agent.sub
    assert by_type["ticket.priority_changed"][0]["data"] == {
        "from": "medium", "to": "high", "cause": "manual"}
    assert by_type["ticket.updated"][0]["data"]["changes"] == {
        "category": {"from": "account", "to": "billing"},
        "tags": {"from": [], "to": ["vip"]},
        "title": {"from": "Login fails", "to": "Login fails on Mondays"}}
    assert by_type["ticket.unassigned"][0]["data"] == {"previousAssignee": agent.sub}
    moves = sorted(by_type["ticket.status_changed"], key=lambda e: e["ticketVersion"])
    assert [(m["data"]["from"], m["data"]["to"], m["ticketVersion"]) for m in moves] == [
        ("open", "in_progress", versions["in_progress"]),
        ("in_progress", "resolved", versions["resolved"])]
    assert moves[1]["data"]["resolution"] == "fixed the login"
    rated = by_type["ticket.rated"][0]
    assert rated["data"] == {"rating": "good", "comment": "quick", "previousRating": None}
    assert (rated["ticketVersion"], rated["actor"], rated["internal"]) == (
        versions["rated"], alice.sub, False)
    # Ordered by version, the ticket's events retell its history, up to its last version.
    ticket_events = sorted((e for e in events if not e["type"].startswith("attachment.")),
                           key=lambda e: e["ticketVersion"])
    assert sorted(e["type"] for e in ticket_events if e["ticketVersion"] == 1) == [
        "thread.added", "ticket.created"], "version 1: the ticket and its first thread"
    assert ticket_events[-1]["ticketVersion"] == final
    assert {e["ticketVersion"] for e in ticket_events} == set(range(1, final + 1))
    uploaded = by_type["attachment.uploaded"][0]["data"]["attachment"]
    rejected = by_type["attachment.rejected"][0]["data"]["attachment"]
    assert (uploaded["_id"], uploaded["status"]) == (good["_id"], "uploaded")
    assert (rejected["_id"], rejected["status"]) == (short["_id"], "rejected")

    # Internal notes go only where they were asked for.
    notes = [e for e in threads if e["internal"]]
    assert sorted(n["data"]["thread"]["message"] for n in notes) == [
        "Customer rated the support good: quick", "between agents"]
    public = wait_for(lambda: receiver.events("/public", tid),
                      lambda p: len(p) >= len(events) - len(notes))
    internal_ids = {n["id"] for n in notes}
    assert sorted(e["id"] for e in public) == sorted(i for i in ids if i not in internal_ids)
    assert not any(e["internal"] for e in public)

    # A tampered body does not verify with the independent library.
    with pytest.raises(WebhookVerificationError):
        headers = {"webhook-id": ids[0], "webhook-timestamp": str(int(time.time())),
                   "webhook-signature": "v1,AAAA"}
        Webhook(everything["secret"]).verify(b"{}", headers)

    # The deliveries log (the latest 50 attempts, newest first): two failed tries and the
    # one that worked, per event.
    log = admin.call("GET", f"/{everything['_id']}/deliveries").body["data"]
    assert len(log) == 50 and log == sorted(log, key=lambda a: a["at"], reverse=True)
    mine = [a for a in log if a["eventId"] == ids[-1]]
    assert sorted((a["attempt"], a["statusCode"], a["ok"]) for a in mine) == [
        (1, 500, False), (2, 500, False), (3, 200, True)]
    assert all(isinstance(a["latencyMs"], int) and a["type"] in ALL_TYPES for a in mine)


def test_a_receiver_that_stays_down_is_parked_then_redelivered(admin, receiver, alice):
    hook = admin.subscribe(receiver, "/down", events=["ticket.created"], mode="down")
    t = alice.create()

    def tries():
        log = admin.call("GET", f"/{hook['_id']}/deliveries").body["data"]
        return [a for a in log if a["type"] == "ticket.created"]

    log = wait_for(tries, lambda log: len(log) >= 3)
    time.sleep(3)  # no fourth try: the schedule (1 s, 2 s) is spent
    log = tries()
    assert sorted((a["attempt"], a["statusCode"]) for a in log) == [(1, 500), (2, 500), (3, 500)]
    event_id = log[0]["eventId"]
    sqs = boto3.client("sqs", endpoint_url=os.environ["FAULT_PROXY_URL"], region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="local-WebhookDeadLetterQueue")["QueueUrl"]
    parked = []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        parked += [json.loads(m["Body"]) for m in got.get("Messages", [])]
    assert {"webhook": hook["_id"], "event": event_id} in parked
    assert receiver.events("/down", t["_id"]) == []

    with receiver.lock:
        receiver.modes["/down"] = "ok"
    res = admin.call("POST", f"/{hook['_id']}/deliveries/{event_id}/redeliver")
    assert res.status_code == 202, res.body
    delivered = wait_for(lambda: receiver.events("/down", t["_id"]), lambda d: len(d) == 1)
    assert delivered[0]["id"] == event_id and delivered[0]["type"] == "ticket.created"
    missing = admin.call("POST", f"/{hook['_id']}/deliveries/evt_{'0' * 32}/redeliver")
    assert (missing.status_code, missing.body["code"]) == (404, "DELIVERY_NOT_FOUND")


def test_the_publisher_failing_mid_batch_loses_no_event(admin, receiver, alice, faults):
    """The publisher reads a write's threads (BatchGetItem) before it publishes its events:
    the second such read fails (three times, past the SDK's retries), so the batch fails after
    its first change; the stream delivers again from the change that failed."""
    admin.subscribe(receiver, "/publisher", events=["ticket.created", "thread.added"])
    faults(fail={"BatchGetItem": {"error": "InternalServerError", "after": 1, "times": 3,
                                  "function": "publish-events"}})
    t = alice.create()
    for i in range(3):
        assert alice.reply(t["_id"], f"reply {i}").status_code == 201
    events = wait_for(lambda: receiver.events("/publisher", t["_id"]), lambda e: len(e) >= 5)
    left = requests.get(f"{os.environ['FAULT_PROXY_URL']}/__faults", timeout=5).json()
    assert left["fail"]["BatchGetItem"]["times"] == 0, "the fault was injected"
    time.sleep(1)
    events = receiver.events("/publisher", t["_id"])
    assert len(events) == 5 and len({e["id"] for e in events}) == 5
    messages = sorted(e["data"]["thread"]["message"] for e in events if e["type"] == "thread.added")
    assert messages == ["I cannot log in since Monday.", "reply 0", "reply 1", "reply 2"]


def test_only_admins_manage_webhooks(api_url, admin, receiver):
    for sub, groups in [("a-customer", []), ("an-agent", ["agents"])]:
        other = Admin(api_url, unique(sub), groups)
        for method, path in [("GET", ""), ("POST", ""), ("GET", "/wh_x"), ("DELETE", "/wh_x"),
                             ("GET", "/wh_x/deliveries")]:
            res = other.call(method, path, {"url": "https://example.com/", "events": ["ticket.created"]}
                             if method == "POST" else None)
            assert (res.status_code, res.body["code"]) == (403, "FORBIDDEN"), (sub, method, path)
    for body, field in [
        ({"url": "http://10.0.0.1/hook", "events": ["ticket.created"]}, "url"),
        ({"url": "https://169.254.169.254/latest", "events": ["ticket.created"]}, "url"),
        ({"url": "https://localhost/hook", "events": ["ticket.created"]}, "url"),
        ({"url": "ftp://example.com/", "events": ["ticket.created"]}, "url"),
        ({"url": receiver.url + "/x", "events": ["ticket.exploded"]}, "events[0]"),
        ({"url": receiver.url + "/x", "events": []}, "events"),
        ({"url": receiver.url + "/x"}, "events"),
        ({"url": receiver.url + "/x", "events": ["ticket.created"], "secret": "mine"}, "secret"),
    ]:
        res = admin.call("POST", body=body)
        assert res.status_code == 400, (body, res.body)
        assert field in [d["field"] for d in res.body["details"]], res.body
    hook = admin.subscribe(receiver, "/managed", events=["ticket.created"])
    got = admin.call("GET", f"/{hook['_id']}").body["data"]
    assert "secret" not in got and got["url"] == receiver.url + "/managed"
    assert hook["_id"] in [h["_id"] for h in admin.call("GET").body["data"]]
    assert admin.call("DELETE", f"/{hook['_id']}").status_code == 200
    admin.made.remove(hook["_id"])
    gone = admin.call("GET", f"/{hook['_id']}")
    assert (gone.status_code, gone.body["code"]) == (404, "WEBHOOK_NOT_FOUND")


def test_a_tickets_lifecycle_and_an_erasure_are_announced(api_url, admin, receiver, alice):
    """Deleted, restored, deleted again past its grace and purged by TTL; then its customer
    erased: each announced once, as the schemas say."""
    admin.subscribe(receiver, "/lifecycle", events=sorted(LIFECYCLE))
    ops = Client(api_url, "ops-lifecycle")
    ops.token = token("ops-lifecycle", **{"cognito:groups": ["admins"]})
    past = Client(api_url, "ops-lifecycle")
    past.token = token("ops-lifecycle", **{"cognito:groups": ["admins"],
                                           "local:now": "2026-01-01T00:00:00.000Z"})
    tid = alice.create()["_id"]
    assert ops.call("DELETE", f"/{tid}").status_code == 200
    assert ops.call("POST", f"/{tid}/restore").status_code == 200
    res = past.call("DELETE", f"/{tid}")
    assert res.status_code == 200 and res.body["data"]["purgeAfter"] == "2026-01-08T00:00:00.000Z"
    requests.post(os.environ["FAULT_PROXY_URL"] + "/__ttl", timeout=60).raise_for_status()
    kinds = ["ticket.deleted", "ticket.restored", "ticket.deleted", "ticket.purged"]
    got = wait_for(lambda: receiver.events("/lifecycle", tid), lambda e: len(e) >= 4)
    time.sleep(1)
    # Deliveries come in any order: a ticket's events retell its history by version (the
    # purge carries the last version, after the deletion with it).
    got = sorted(receiver.events("/lifecycle", tid),
                 key=lambda e: (e["ticketVersion"], e["type"] == "ticket.purged"))
    assert [e["type"] for e in got] == kinds
    assert [e["actor"] for e in got] == ["ops-lifecycle"] * 3 + ["system"]
    assert got[0]["ticketVersion"] == 2 and got[-1]["ticketVersion"] == 4
    assert got[-1]["data"] == {"reason": "deleted"}
    for e in got:
        schema(e["type"]).validate(e)
    # A ticket still there when its customer is erased: the erasure announces its purge.
    live = alice.create()["_id"]
    erasures = api_url.rstrip("/") + "/v2/erasures"
    res = requests.post(erasures, json={"client": alice.sub}, timeout=30,
                        headers={"Authorization": f"Bearer {ops.token}"})
    assert res.status_code == 202, res.text
    job = res.json()["data"]["_id"]
    [erased] = wait_for(lambda: [e for e in receiver.events("/lifecycle")
                                 if e["type"] == "customer.erased"
                                 and e["data"]["erasure"] == job], lambda e: len(e) == 1)
    schema("customer.erased").validate(erased)
    assert erased["data"]["client"] == alice.sub and erased["actor"] == "ops-lifecycle"
    # Alice's purged ticket was found no more; the live one and her quota record were.
    assert erased["data"]["removed"]["tickets"] == 1 and erased["data"]["removed"]["records"] >= 1
    [purged] = wait_for(lambda: receiver.events("/lifecycle", live), lambda e: len(e) == 1)
    schema("ticket.purged").validate(purged)
    assert purged["data"] == {"reason": "erased"} and purged["ticketVersion"] == 1
    # A ticket closed past the retention period (RETENTION_DAYS=30 locally) is purged too.
    old = Client(api_url, unique("kept"))
    closed = old.create()["_id"]
    then = Client(api_url, "agent-retention", agent=True)
    then.token = token("agent-retention", agent=True, **{"local:now": "2026-01-01T00:00:00.000Z"})
    assert then.status(closed, "closed").status_code == 200
    requests.post(os.environ["FAULT_PROXY_URL"] + "/__ttl", timeout=60).raise_for_status()
    [purged] = wait_for(lambda: receiver.events("/lifecycle", closed), lambda e: len(e) == 1)
    schema("ticket.purged").validate(purged)
    assert purged["data"] == {"reason": "retention"} and purged["actor"] == "system"
