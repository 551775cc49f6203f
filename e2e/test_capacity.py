"""The capacity model's input, recorded from the functions' real requests: each endpoint of the
traffic mix is called in its typical forms against the local stack, and the local proxy's
trace (tools/localtrace.py) says what each call read and wrote, partition by partition and
index by index. A list reads a page of index entries whatever they hold, so each index read
is sized as its entries count times the entry the recorded create wrote to that index (the
other tests' tickets in the same indexes do not change the profile). The result must match capacity/profile.json, which `make capacity` reads: a
change to what the functions send fails here until the profile (and the report in
docs/capacity.md) is brought up to date:

    cp target/capacity/profile.json capacity/profile.json && make capacity
"""

import json
import os
import pathlib
import re
import time
import uuid

import requests

from conftest import counts_of

ROOT = pathlib.Path(__file__).resolve().parent.parent
# INDEX_SHARDS of shared/src/store/keys.rs (e2e/test_capacity_model.py checks the mix's).
INDEX_SHARDS = 10
COMMITTED = ROOT / "capacity" / "profile.json"
# An idempotency record's sort key is the digest of its key: one per request, named as such.
IDEMPOTENCY_DIGEST = re.compile(r"IDEMPOTENCY#[A-Za-z0-9_-]{43}\b")
RECORDED = ROOT / "target" / "capacity" / "profile.json"
# A description of typical length (support tickets run to a few paragraphs).
DESCRIPTION = ("Since this morning every call to the export endpoint answers 401 although the "
               "token is fresh. " * 8).strip()


def trace(since=0):
    url = os.environ["FAULT_PROXY_URL"] + f"/__trace?since={since}"
    return requests.get(url, timeout=10).json()


class Recorder:
    def __init__(self):
        self.endpoints = {}

    def record(self, endpoint, variant, caller, function, call, **extra):
        """Runs `call` and keeps what `function` sent meanwhile."""
        mark = trace(10**12)["next"]
        res = call()
        assert res.status_code < 300, res.body
        records = [r for r in trace(mark)["records"] if r["function"] == function]
        # In the order they were made, before they are sorted for comparison.
        records = first_round(once_per_instance(records))
        assert records, f"{variant}: no request of {function} recorded"
        records.sort(key=lambda r: (r["op"], json.dumps(r, sort_keys=True)))
        for r in records:
            for access in r["reads"] + r["writes"]:
                access["key"] = access["key"].replace("{caller}", "{" + caller + "}")
                if "item" in access:
                    access["item"] = IDEMPOTENCY_DIGEST.sub(
                        "IDEMPOTENCY#{key}",
                        access["item"].replace("{caller}", "{" + caller + "}"))
        self.endpoints.setdefault(endpoint, []).append(
            {"variant": variant, "caller": caller, "function": function, "requests": records,
             **extra})


def first_month(r):
    return {a["key"] for a in r["reads"] + r["writes"]} == {"META"}


def once_per_instance(records):
    """Without the first month's item (META), which each function instance reads (lists) or
    writes (creates) once a month and then keeps: whether this call did depends on which
    instance answered."""
    return [r for r in records if not first_month(r)]


def first_round(requests):
    """A list's first round of Queries only: one per shard of its partition. A merge asks a
    shard again only when the shard's first read ran out before the page was decided, which
    depends on how this table's tickets fall into shards (rare at scale: each shard is asked
    for half as much again as its share)."""
    seen, kept = {}, []
    for r in requests:
        if r["op"] == "Query" and r["reads"] and r["reads"][0]["index"]:
            key = (r["reads"][0]["index"], r["reads"][0]["key"])
            shards = INDEX_SHARDS if "{shard}" in key[1] else 1
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > shards:
                continue
        kept.append(r)
    return kept


TEMPLATE_BATCH_SIZE = re.compile(r"Type: DynamoDB\n(?:.*\n)*?\s+BatchSize: (\d+)")


def new_tickets(n):
    """A stream delivery of n new tickets of n customers (unseen ids: counted anew), as the
    items create writes them: the metrics' rollups read the whole ticket (its priorities and
    categories spread as the mix has them)."""
    run = uuid.uuid4().hex[:8]
    records = []
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    priorities = ["low"] * 5 + ["medium"] * 9 + ["high"] * 4 + ["urgent"] * 2
    categories = ["technical"] * 4 + ["billing"] * 2 + ["account"] * 2 + ["feature_request", "general"]
    for i in range(n):
        tid = str(uuid.uuid4())
        image = {"PK": {"S": f"TICKET#{tid}"}, "SK": {"S": "TICKET"}, "_id": {"S": tid},
                 "client": {"S": f"cap-{run}-{i}"}, "status": {"S": "open"},
                 "title": {"S": "Export endpoint answers 401"}, "description": {"S": DESCRIPTION},
                 "priority": {"S": priorities[i % len(priorities)]},
                 "category": {"S": categories[i % len(categories)]},
                 "tags": {"L": [{"S": "api"}]}, "createdAt": {"S": now}, "updatedAt": {"S": now},
                 "threadCount": {"N": "1"}, "publicThreadCount": {"N": "1"}, "version": {"N": "1"},
                 "changedBy": {"S": f"cap-{run}-{i}"}}
        records.append({
            "eventID": f"{run}-{i}", "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"ApproximateCreationDateTime": time.time(),
                         "Keys": {"PK": image["PK"], "SK": image["SK"]}, "NewImage": image,
                         "SequenceNumber": str(10**20 + i), "SizeBytes": 200,
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}})
    return {"Records": records}


def invoke(api_url, function, event):
    res = requests.post(f"{api_url}/2015-03-31/functions/{function}/invocations", json=event,
                        timeout=60)
    res.body = res.json()
    assert res.body == {"batchItemFailures": []}, res.body
    return res


def key():
    return {"Idempotency-Key": str(uuid.uuid4())}


def body(priority="medium"):
    return {"title": "Export endpoint answers 401", "description": DESCRIPTION,
            "priority": priority, "category": "technical", "tags": ["api", "export"]}


def shape(profile):
    """What must not drift: per variant, each request's operation and, per access, its index,
    key pattern, kind and size in whole units (1 KB written, 4 KB read)."""
    out = {}
    for endpoint, variants in profile["endpoints"].items():
        for v in variants:
            # Requests made side by side arrive in either order: compared as a set.
            out[f"{endpoint}/{v['variant']}"] = sorted(
                (r["op"],
                 sorted((a["index"] or "", a["key"], "read", max(1, -(-a["bytes"] // 4096)))
                        for a in r["reads"]),
                 sorted((a["index"] or "", a["key"], a["kind"], max(1, -(-a["bytes"] // 1024)))
                        for a in r["writes"]))
                for r in v["requests"])
    return out


def test_the_profile_is_what_the_functions_send(alice, agent, api_url):
    rec = Recorder()
    # Create: with an Idempotency-Key, as the API asks clients to send.
    rec.record("create", "customer opens a ticket", "customer", "create-ticket",
               lambda: alice.call("POST", body=body(), headers=key()))
    tid = alice.create(**body())["_id"]
    # Enough tickets for a full page in every list the mix reads (11 entries: a page of 10
    # and the one that says there are more), in the agent's queue too.
    for _ in range(11):
        t = alice.create(**body())["_id"]
        assert agent.call("PATCH", f"/{t}", {"assignedTo": agent.sub}).status_code == 200
    rec.record("get", "customer reads a ticket", "customer", "get-ticket",
               lambda: alice.call("GET", f"/{tid}"))
    # Lists: the ones the mix names (see capacity/mix.json for their shares).
    for variant, who, params in [
        ("customer lists own tickets", alice, {}),
        ("customer lists own tickets with counts", alice, {"countByStatus": "true"}),
        ("agent lists all tickets", agent, {}),
        ("agent lists all tickets with counts", agent, {"countByStatus": "true"}),
        ("agent lists open tickets", agent, {"status": "open"}),
        ("agent lists own queue", agent, {"assignedTo": "me"}),
        ("agent lists due soonest", agent, {"sort": "firstResponseDue"}),
    ]:
        caller = "agent" if who.agent else "customer"
        rec.record("list", variant, caller, "list-tickets",
                   lambda: who.call("GET", params={"limit": "10", **params}))
    rec.record("reply", "customer replies", "customer", "add-thread",
               lambda: alice.call("POST", f"/{tid}/threads",
                          {"message": "Still failing after the token refresh."},
                          headers=key()))
    rec.record("reply", "agent answers first", "agent", "add-thread",
               lambda: agent.call("POST", f"/{tid}/threads",
                                  {"message": "We are looking into it."}, headers=key()))
    rec.record("reply", "agent answers again", "agent", "add-thread",
               lambda: agent.call("POST", f"/{tid}/threads",
                                  {"message": "A fix is rolling out."}, headers=key()))
    for variant, before, to in [("agent starts work", None, "in_progress"),
                                ("agent resolves", "in_progress", "resolved"),
                                ("customer closes", "resolved", "closed")]:
        t = alice.create(**body())["_id"]
        if before:
            agent.status(t, before, resolution="done" if before == "resolved" else None)
        who = alice if to == "closed" else agent
        resolution = "Fixed in release 4.2." if to == "resolved" else None
        rec.record("status", variant, "agent" if who.agent else "customer", "update-status",
                   lambda: who.status(t, to, resolution=resolution))
    entry = {w["index"]: w["bytes"] for r in rec.endpoints["create"][0]["requests"]
             for w in r["writes"] if w["index"] and w["kind"] == "put"}
    for variants in rec.endpoints.values():
        for v in variants:
            for r in v["requests"]:
                for a in r["reads"]:
                    if a["index"]:
                        # At scale every partition holds a page: a Query reads its Limit.
                        a["scanned"] = a["items"] = a.get("limit") or a["scanned"]
                        a["bytes"] = a["scanned"] * entry[a["index"]]
    # The stream's consumer: one delivery of as many new tickets of as many customers as the
    # template's BatchSize, invoked as the event source mapping does, once the bridge has
    # folded everything above, earlier tests' too (its deliveries would mix in, and a batch of
    # its own would conflict with this one on the global counters): the counts stay still.
    quiet_since, last, deadline = time.monotonic(), None, time.monotonic() + 180
    while time.monotonic() - quiet_since < 3:
        assert time.monotonic() < deadline, "the stream's consumer never went quiet"
        now = counts_of(agent)["counts"]
        if now != last:
            quiet_since, last = time.monotonic(), now
        time.sleep(0.25)
    batch = int(TEMPLATE_BATCH_SIZE.search((ROOT / "template.yaml").read_text()).group(1))
    rec.record("count", f"a delivery of {batch} new tickets of {batch} customers", "system",
               "count-tickets", lambda: invoke(api_url, "count-tickets", new_tickets(batch)),
               changes=batch)
    profile = {"recordedBy": "e2e/test_capacity.py", "endpoints": rec.endpoints}
    RECORDED.parent.mkdir(parents=True, exist_ok=True)
    RECORDED.write_text(json.dumps(profile, indent=1) + "\n")
    committed = json.loads(COMMITTED.read_text())
    assert shape(committed) == shape(profile), (
        "the functions' requests differ from capacity/profile.json: "
        "cp target/capacity/profile.json capacity/profile.json && make capacity")
