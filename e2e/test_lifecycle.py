"""Deletion, restore, purge and erasure end to end (docs/data-lifecycle.md): through the API,
the table's stream (counts, the purge after DynamoDB's TTL), the erasure queue, and a
test-only scan of the table and listing of the bucket that find what is left.

DynamoDB's TTL runs locally when asked (`POST /__ttl` to the proxy, tools/localstream.py);
a deletion's grace period is crossed with an admin token whose local clock (`local:now`) is
days back.
"""

import json
import os
import pathlib
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import (STATUSES, Client, counts_of, settle, settled_global_counts,
                      settled_own_counts, token, unique)
from test_api import assert_error

ROOT = pathlib.Path(__file__).resolve().parent.parent
A_TICKETS, B_TICKETS = 250, 20
ERASURE_SECONDS = 240


def proxy():
    url = os.environ.get("FAULT_PROXY_URL")
    assert url, "FAULT_PROXY_URL is not set: run the end-to-end tests through `make test`"
    return url


def dynamodb():
    return boto3.client("dynamodb", endpoint_url=proxy(), region_name="us-east-1")


def s3():
    return boto3.client("s3", endpoint_url=proxy(), region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def admin(api_url, now=None):
    c = Client(api_url, unique("ops"))
    claims = {"cognito:groups": ["admins"]}
    if now:
        claims["local:now"] = now
    c.token = token(c.sub, **claims)
    return c


def run_ttl():
    requests.post(proxy() + "/__ttl", timeout=120).raise_for_status()


def partition(ticket_id):
    """Every item of a ticket's partition (the table, not the API)."""
    items, start = [], None
    while True:
        page = dynamodb().query(
            TableName=os.environ["TABLE_NAME"], ConsistentRead=True,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"TICKET#{ticket_id}"}},
            **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def objects(prefix="tickets/"):
    keys, token_ = [], None
    bucket = os.environ["BUCKET_NAME"]
    while True:
        page = s3().list_objects_v2(Bucket=bucket, Prefix=prefix,
                                    **({"ContinuationToken": token_} if token_ else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        token_ = page.get("NextContinuationToken")
        if not token_:
            return keys


def scan():
    """Every item of the table, as JSON text (test only: the service never scans)."""
    items, start = [], None
    while True:
        page = dynamodb().scan(TableName=os.environ["TABLE_NAME"],
                               **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return {(i["PK"]["S"], i["SK"]["S"]): json.dumps(i, sort_keys=True) for i in items}


def without_urls(value):
    """A ticket answer without its presigned URLs (they are signed anew each time)."""
    if isinstance(value, dict):
        return {k: without_urls(v) for k, v in value.items() if "url" not in k.lower()}
    if isinstance(value, list):
        return [without_urls(v) for v in value]
    return value


# ---------------------------------------------------------------- delete and restore


def test_only_admins_delete_and_restore(api_url, alice, bob, agent):
    tid = alice.create()["_id"]
    for path, method in ((f"/{tid}", "DELETE"), (f"/{tid}/restore", "POST")):
        assert_error(alice.call(method, path), 403, "FORBIDDEN")
        assert_error(agent.call(method, path), 403, "FORBIDDEN")
        # Someone else's ticket is not there at all, as everywhere.
        assert_error(bob.call(method, path), 404, "SUPPORT_TICKET_NOT_FOUND")
        assert_error(admin(api_url).call(method, "/not-a-ticket" + path[len(tid) + 1:]),
                     404, "SUPPORT_TICKET_NOT_FOUND")
    assert alice.call("GET", f"/{tid}").status_code == 200, "nothing was deleted"
    ops = admin(api_url)
    res = ops.call("DELETE", f"/{tid}")
    assert res.status_code == 200
    d = res.body["data"]
    assert d["_id"] == tid and d["deletedBy"] == ops.sub and d["version"] == 2
    # DELETE_GRACE_DAYS is 7 by default.
    deleted = time.strptime(d["deletedAt"][:19], "%Y-%m-%dT%H:%M:%S")
    purge = time.strptime(d["purgeAfter"][:19], "%Y-%m-%dT%H:%M:%S")
    assert time.mktime(purge) - time.mktime(deleted) == 7 * 86400
    assert_error(ops.call("DELETE", f"/{tid}"), 404, "SUPPORT_TICKET_NOT_FOUND")


def test_a_deleted_ticket_is_gone_everywhere_until_restored_intact(api_url, alice, agent):
    t = alice.create(priority="urgent", category="billing",
                     attachments=[{"filename": "invoice.pdf", "size": 5,
                                   "type": "application/pdf"}])
    tid, upload = t["_id"], t["attachments"][0]["upload"]
    assert requests.put(upload["url"], data=b"%PDF-", headers=upload["headers"],
                        timeout=30).status_code == 200
    assert agent.call("PATCH", f"/{tid}", {"assignedTo": agent.sub}).status_code == 200
    assert agent.reply(tid, "a note", internal=True).status_code == 201
    assert agent.reply(tid, "We are on it").status_code == 201
    seen, _ = settle(lambda: agent.call("GET", f"/{tid}").body["data"],
                     lambda d: d["attachments"][0]["status"] == "uploaded")
    before = {"agent": seen, "alice": alice.call("GET", f"/{tid}").body["data"],
              "threads": agent.call("GET", f"/{tid}/threads").body["data"]}
    assert settled_own_counts(alice)["counts"]["open"] == 1
    counted = settled_global_counts(agent)

    ops = admin(api_url)
    assert ops.call("DELETE", f"/{tid}").status_code == 200
    for who in (alice, agent):
        for method, path, body in (
                ("GET", f"/{tid}", None), ("GET", f"/{tid}/threads", None),
                ("POST", f"/{tid}/threads", {"message": "still there?"}),
                ("PATCH", f"/{tid}/status", {"status": "pending"})):
            assert_error(who.call(method, path, body), 404, "SUPPORT_TICKET_NOT_FOUND")
    # Agents may never rate (403 before anything is read); the customer finds nothing.
    assert_error(alice.call("POST", f"/{tid}/satisfaction", {"rating": "good"}), 404,
                 "SUPPORT_TICKET_NOT_FOUND")
    assert_error(agent.call("PATCH", f"/{tid}", {"priority": "low"}), 404,
                 "SUPPORT_TICKET_NOT_FOUND")
    aid = seen["attachments"][0]["_id"]
    assert_error(alice.call("POST", f"/{tid}/attachments/{aid}/upload"), 404,
                 "SUPPORT_TICKET_NOT_FOUND")
    # Out of every list at once: the customer's, and the agents' by every filter it was in.
    lists = [(alice, {}), (agent, {}), (agent, {"client": alice.sub}),
             (agent, {"assignedTo": agent.sub}), (agent, {"status": "open", "priority": "urgent"}),
             (agent, {"category": "billing"})]
    for who, params in lists:
        ids = [x["_id"] for x in who.call("GET", params=params).body["data"]]
        assert tid not in ids, params
    assert alice.walk() == []
    # Out of the counts (the stream's consumer takes it out of them).
    assert settled_own_counts(alice)["counts"] == {s: 0 for s in STATUSES}
    less = settled_global_counts(agent)
    assert less == {**counted, "open": counted["open"] - 1}

    res = ops.call("POST", f"/{tid}/restore")
    assert res.status_code == 200
    assert res.body["data"]["_id"] == tid
    assert res.body["data"]["version"] == before["agent"]["version"] + 2
    after = {"agent": agent.call("GET", f"/{tid}").body["data"],
             "alice": alice.call("GET", f"/{tid}").body["data"],
             "threads": agent.call("GET", f"/{tid}/threads").body["data"]}
    for view in ("agent", "alice"):
        was, now = without_urls(before[view]), without_urls(after[view])
        assert now["version"] == was["version"] + 2
        for moved in ("version", "updatedAt", "sla"):
            was.pop(moved), now.pop(moved)
        assert now == was, view
    assert without_urls(after["threads"]) == without_urls(before["threads"])
    # Its file is still there to download.
    url = after["agent"]["attachments"][0]["url"]
    assert requests.get(url, timeout=30).content == b"%PDF-"
    assert tid in [x["_id"] for x in agent.call("GET", params={"assignedTo": agent.sub}).body["data"]]
    assert settled_own_counts(alice)["counts"]["open"] == 1
    assert settled_global_counts(agent) == counted
    # A restored ticket takes changes again; restoring it again changes nothing.
    assert agent.status(tid, "in_progress").status_code == 200
    res = ops.call("POST", f"/{tid}/restore")
    assert res.status_code == 200 and res.body["data"]["status"] == "in_progress"


def test_a_deleted_ticket_is_purged_when_its_grace_ends(api_url, alice):
    t = alice.create(attachments=[{"filename": "a.txt", "size": 2, "type": "text/plain"}])
    tid, upload = t["_id"], t["attachments"][0]["upload"]
    assert requests.put(upload["url"], data=b"hi", headers=upload["headers"],
                        timeout=30).status_code == 200
    settle(lambda: objects(f"tickets/{tid}/"), lambda keys: len(keys) == 1)
    assert alice.reply(tid, "hello?").status_code == 201
    # Deleted eight days ago (an admin's local clock): the grace ended yesterday.
    past = admin(api_url, now=time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                            time.gmtime(time.time() - 8 * 86400)))
    assert past.call("DELETE", f"/{tid}").status_code == 200
    # Due: no longer restorable, even before TTL has removed anything.
    assert_error(admin(api_url).call("POST", f"/{tid}/restore"), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert len(partition(tid)) >= 3
    run_ttl()
    left, took = settle(lambda: (partition(tid), objects(f"tickets/{tid}/")),
                        lambda left: left == ([], []), seconds=60)
    assert left == ([], []), f"not purged in {took:.0f} s: {left}"
    assert_error(admin(api_url).call("POST", f"/{tid}/restore"), 404, "SUPPORT_TICKET_NOT_FOUND")


def test_closed_tickets_are_purged_after_the_retention_period(api_url, alice, agent):
    """The local stack keeps closed tickets RETENTION_DAYS=30 (tools/stack.sh); the template's
    default keeps them for ever."""
    kept = alice.create()["_id"]
    assert agent.status(kept, "closed").status_code == 200
    item = dynamodb().get_item(TableName=os.environ["TABLE_NAME"],
                               Key={"PK": {"S": f"TICKET#{kept}"}, "SK": {"S": "TICKET"}})["Item"]
    assert abs(int(item["expiresAt"]["N"]) - (time.time() + 30 * 86400)) < 120
    old = alice.create(attachments=[{"filename": "a.txt", "size": 2, "type": "text/plain"}])
    tid, upload = old["_id"], old["attachments"][0]["upload"]
    assert requests.put(upload["url"], data=b"hi", headers=upload["headers"],
                        timeout=30).status_code == 200
    settle(lambda: objects(f"tickets/{tid}/"), lambda keys: len(keys) == 1)
    # Closed 31 days ago (an agent's local clock): past its retention.
    then = Client(api_url, agent.sub, agent=True)
    then.token = token(agent.sub, agent=True, **{"local:now": time.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 31 * 86400))})
    assert then.status(tid, "closed").status_code == 200
    run_ttl()
    left, took = settle(lambda: (partition(tid), objects(f"tickets/{tid}/")),
                        lambda left: left == ([], []), seconds=60)
    assert left == ([], []), f"not purged in {took:.0f} s: {left}"
    assert len(partition(kept)) == 3, "the one closed today is kept"
    # The purge is counted in the logs, by reason (the run's log, where make test keeps it).
    log = os.environ.get("API_LOG")
    assert log, "API_LOG is not set: run through `make test`"
    counted, _ = settle(lambda: [json.loads(line)["fields"] for line in open(log, errors="replace")
                                 if '"tickets purged"' in line and line.startswith("{")],
                        lambda c: any(f.get("retention", 0) >= 1 for f in c), seconds=10)
    assert any(f.get("retention", 0) >= 1 for f in counted), counted[-3:]
    assert settled_own_counts(alice)["counts"]["closed"] == 1


# ---------------------------------------------------------------- erasure


def seed_customer(sub, n):
    out = subprocess.run([str(ROOT / "target" / "debug" / "tickets-dev"), "seed-customer", sub,
                          str(n)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    keys = out.stdout.split()
    client = s3()

    def put(key):
        client.put_object(Bucket=os.environ["BUCKET_NAME"], Key=key, Body=b"passport!",
                          ContentType="application/pdf")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, keys))
    return keys


def jobs(kind, who, method="POST", path="", body=None):
    """A request to /v2/<kind> (erasures, exports) as `who`."""
    res = requests.request(method, who.base.replace("/support-tickets", f"/{kind}") + path,
                           json=body, headers={"Authorization": f"Bearer {who.token}"},
                           timeout=30)
    res.body = res.json()
    return res


def erasures(who, method="POST", path="", body=None):
    return jobs("erasures", who, method, path, body)


def erase(ops, sub):
    res = erasures(ops, body={"client": sub})
    assert res.status_code == 202, res.body
    job = res.body["data"]
    assert res.headers["Location"] == f"/v2/erasures/{job['_id']}"
    assert job["state"] == "running" and sub not in json.dumps(job)
    done, took = settle(lambda: erasures(ops, "GET", f"/{job['_id']}").body["data"],
                        lambda j: j["state"] == "done", seconds=ERASURE_SECONDS)
    assert done["state"] == "done", f"not done in {took:.0f} s: {done}"
    return done


def test_erasing_a_customer_removes_everything_of_theirs_and_nothing_else(api_url, faults):
    a, b = unique("erase-a"), unique("erase-b")
    a_keys, b_keys = seed_customer(a, A_TICKETS), seed_customer(b, B_TICKETS)
    customer_a = Client(api_url, a)
    # Their own records too: a quota and an idempotency record.
    res = customer_a.call("POST", body={"title": "Mine", "description": "My address is ...",
                                        "priority": "low", "category": "account"},
                          headers={"Idempotency-Key": "erase-me"})
    assert res.status_code == 201
    customer_b = Client(api_url, b)
    assert settled_own_counts(customer_a)["counts"]["open"] == A_TICKETS + 1
    assert settled_own_counts(customer_b)["counts"]["open"] == B_TICKETS
    b_tickets = {k.split("/")[1] for k in b_keys}
    b_items = {tid: partition(tid) for tid in b_tickets}
    ops = admin(api_url)

    # A step fails part-way, past the SDK's retries: the queue hands it over again, and the
    # job goes on from what is left.
    faults(fail={"BatchWriteItem": {"error": "InternalServerError", "times": 3, "after": 25,
                                    "function": "erase-customers"}})
    receipt = erase(ops, a)
    left = requests.get(proxy() + "/__faults", timeout=5).json()
    assert left["fail"]["BatchWriteItem"]["times"] == 0, "the fault was met"
    faults()
    assert receipt["removed"] == {"tickets": A_TICKETS + 1, "items": 4 * A_TICKETS + 2,
                                  "files": A_TICKETS, "records": 2}, receipt
    assert a not in json.dumps(receipt) and len(receipt["clientDigest"]) == 64

    everything = scan()
    assert not [k for k, item in everything.items() if a in item], "something of theirs is left"
    a_tickets = {k.split("/")[1] for k in a_keys}
    assert not [k for k in objects() if k.split("/")[1] in a_tickets]
    assert {tid: partition(tid) for tid in b_tickets} == b_items
    assert set(b_keys) <= set(objects())
    assert counts_of(customer_a)["counts"] == {s: 0 for s in STATUSES}
    assert customer_a.walk() == []
    assert settled_own_counts(customer_b)["counts"]["open"] == B_TICKETS

    # Again: nothing to find, nothing changed.
    again = erase(ops, a)
    assert again["removed"] == {"tickets": 0, "items": 0, "files": 0, "records": 0}
    assert {k: v for k, v in scan().items() if not k[0].startswith("ERASURE#")} == \
        {k: v for k, v in everything.items() if not k[0].startswith("ERASURE#")}


def test_erasures_are_for_admins_and_named_customers(api_url, alice, agent):
    ops = admin(api_url)
    for who in (alice, agent):
        res = erasures(who, body={"client": alice.sub})
        assert res.status_code == 403 and res.body["code"] == "FORBIDDEN"
        res = erasures(who, "GET", "/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        assert res.status_code == 403
    for body, field in (({}, "client"), ({"client": ""}, "client"), ({"client": 7}, "client"),
                        ({"client": alice.sub, "extra": 1}, "extra")):
        res = erasures(ops, body=body)
        assert res.status_code == 400 and res.body["code"] == "VALIDATION_ERROR", res.body
        assert field in [d["field"] for d in res.body["details"]]
    for missing in ("/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "/not-a-job"):
        res = erasures(ops, "GET", missing)
        assert res.status_code == 404 and res.body["code"] == "ERASURE_NOT_FOUND"
    assert alice.call("GET").status_code == 200, "nothing was erased"


# ---------------------------------------------------------------- export


def exports(who, method="POST", path="", body=None):
    return jobs("exports", who, method, path, body)


def finished_export(who, body):
    res = exports(who, body=body)
    assert res.status_code == 202, res.body
    job = res.body["data"]
    assert res.headers["Location"] == f"/v2/exports/{job['_id']}"
    assert job["state"] == "running" and job["download"] is None
    done, took = settle(lambda: exports(who, "GET", f"/{job['_id']}").body["data"],
                        lambda j: j["state"] != "running", seconds=120)
    assert done["state"] == "done", f"not done in {took:.0f} s: {done}"
    return done


def archive_of(job):
    import io
    import tarfile
    got = requests.get(job["download"]["url"], timeout=30)
    assert got.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(got.content)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_an_export_holds_exactly_what_the_customer_can_see(api_url, alice, bob, agent, faults):
    t = alice.create(attachments=[{"filename": "mine.txt", "size": 5, "type": "text/plain"},
                                  {"filename": "never-sent.txt", "size": 3,
                                   "type": "text/plain"}])
    tid, mine = t["_id"], t["attachments"][0]
    assert requests.put(mine["upload"]["url"], data=b"hello", headers=mine["upload"]["headers"],
                        timeout=30).status_code == 200
    note = agent.reply(tid, "between agents only", internal=True,
                       attachments=[{"filename": "secret.txt", "size": 6, "type": "text/plain"}])
    secret = note.body["data"]["attachments"][0]
    assert requests.put(secret["upload"]["url"], data=b"secret",
                        headers=secret["upload"]["headers"], timeout=30).status_code == 200
    assert agent.reply(tid, "We are on it").status_code == 201
    other = alice.create(title="Second one")["_id"]
    gone = alice.create(title="Deleted one")["_id"]
    assert admin(api_url).call("DELETE", f"/{gone}").status_code == 200
    bob.create(title="Bob's own")
    settle(lambda: agent.call("GET", f"/{tid}").body["data"]["attachments"],
           lambda files: sorted(f["status"] for f in files) == ["pending", "uploaded", "uploaded"])

    # The first try fails after its archive was started (past the SDK's retries): the upload
    # is aborted and the queue hands the job over again.
    faults(fail={"Query": {"error": "InternalServerError", "times": 3,
                           "function": "export-customers"}})
    job = finished_export(alice, {})
    left = requests.get(proxy() + "/__faults", timeout=5).json()
    assert left["fail"]["Query"]["times"] == 0, "the fault was met"
    faults()
    assert job["archive"] == {"tickets": 2, "threads": 3, "files": 1,
                              "bytes": job["archive"]["bytes"]}
    files = archive_of(job)
    mine_path = f"files/{tid}/{mine['_id']}/mine.txt"
    assert set(files) == {"export.json", f"tickets/{tid}.json", f"tickets/{other}.json",
                          mine_path}
    assert files[mine_path] == b"hello"
    exported = json.loads(files[f"tickets/{tid}.json"])
    seen = alice.call("GET", f"/{tid}/threads", params={"limit": 100}).body["data"]
    assert [x["message"] for x in exported["threads"]] == [x["message"] for x in seen]
    assert "between agents" not in json.dumps(files.get(f"tickets/{tid}.json").decode())
    assert not any(b"secret" in v for v in files.values())
    assert exported["ticket"]["_id"] == tid and exported["ticket"]["client"] == alice.sub
    assert exported["ticket"]["threadCount"] == 2, "what the customer sees"
    declared = [a for x in exported["threads"] for a in x["attachments"]]
    assert sorted(a["filename"] for a in declared) == ["mine.txt", "never-sent.txt"]
    assert [a["file"] for a in declared if "file" in a] == [mine_path]
    manifest = json.loads(files["export.json"])
    assert manifest["client"] == alice.sub and manifest["tickets"] == 2

    # Only theirs: others' exports are not there, agents may not, admins name the customer.
    assert_error_body(exports(bob, "GET", f"/{job['_id']}"), 404, "EXPORT_NOT_FOUND")
    assert_error_body(exports(alice, body={"client": bob.sub}), 403, "FORBIDDEN")
    assert_error_body(exports(agent, body={"client": alice.sub}), 403, "FORBIDDEN")
    ops = admin(api_url)
    assert_error_body(exports(ops, body={}), 400, "VALIDATION_ERROR")
    assert_error_body(exports(ops, "GET", "/not-an-export"), 404, "EXPORT_NOT_FOUND")
    theirs = finished_export(ops, {"client": alice.sub})
    assert set(archive_of(theirs)) == set(files)
    assert exports(ops, "GET", f"/{job['_id']}").status_code == 200, "admins see every export"
    # An erasure takes the archives too.
    erase(ops, alice.sub)
    digest = theirs["clientDigest"]
    assert objects(f"exports/{digest}/") == []


def assert_error_body(res, status, code):
    assert res.status_code == status, (res.status_code, res.body)
    assert res.body["success"] is False and res.body["code"] == code, res.body
