"""How many DynamoDB and S3 requests each endpoint makes, counted by the local proxy that all
of the functions' AWS calls go through: the DynamoDB requests of the endpoint's own function
(from the proxy's trace, so the stream consumer folding counts meanwhile is not counted), and
every S3 request. Presigning is computed locally: no S3 request."""

import os

import requests

from test_capacity import INDEX_SHARDS, first_month


def proxy(path, method="GET"):
    url = os.environ["FAULT_PROXY_URL"] + path
    return requests.request(method, url, timeout=10).json()


def counted(call, function):
    """Requests made while `call` ran: the function's DynamoDB operations, leaving out the
    first month's item, which each instance reads or writes once a month (test_capacity)."""
    proxy("/__stats", "DELETE")
    mark = proxy("/__trace?since=1000000000000")["next"]
    res = call()
    assert res.status_code < 300, res.body
    seen = {k: v for k, v in proxy("/__stats").items() if k.startswith("s3:")}
    for r in proxy(f"/__trace?since={mark}")["records"]:
        if r["function"] == function and not first_month(r):
            seen[f"dynamodb:{r['op']}"] = seen.get(f"dynamodb:{r['op']}", 0) + 1
    return seen


def test_round_trips_per_endpoint(alice, agent):
    file = [{"filename": "a.txt", "size": 3, "type": "text/plain"}]
    created = {}

    def create():
        res = alice.call("POST", body={"title": "t", "description": "d", "priority": "low",
                                       "category": "general", "attachments": file})
        created.update(res.body["data"])
        return res

    # Every write also takes one from the caller's quota (an UpdateItem beside its read).
    quota = {"dynamodb:UpdateItem": 1}
    assert counted(create, "create-ticket") == {"dynamodb:TransactWriteItems": 1, **quota}
    tid = created["_id"]
    # The ticket item and the latest page of threads in one Query (the ticket's sort key sorts
    # right after its threads'), then the page's attachments.
    latest = {"dynamodb:Query": 1, "dynamodb:BatchGetItem": 1}
    assert counted(lambda: alice.call("GET", f"/{tid}"), "get-ticket") == latest
    # Any page of threads: the ticket item and the page side by side, then the attachments.
    page = {"dynamodb:GetItem": 1, "dynamodb:Query": 1, "dynamodb:BatchGetItem": 1}
    assert counted(lambda: alice.call("GET", f"/{tid}/threads"), "list-threads") == page
    assert counted(lambda: alice.call("GET"), "list-tickets") == {"dynamodb:Query": 1}
    assert counted(lambda: alice.call("GET", params={"countByStatus": "true"}),
                   "list-tickets") == \
        {"dynamodb:Query": 1, "dynamodb:GetItem": 1}
    assert counted(lambda: alice.reply(tid, "more", attachments=file), "add-thread") == \
        {"dynamodb:GetItem": 1, "dynamodb:TransactWriteItems": 1, **quota}
    # The ticket with its latest page (one Query), then the write beside the page's attachments.
    change = {**latest, "dynamodb:TransactWriteItems": 1, **quota}
    assert counted(lambda: agent.status(tid, "pending"), "update-status") == change
    assert counted(lambda: agent.call("PATCH", f"/{tid}", {"priority": "high"}),
                   "update-ticket") == change
    # Agents' lists by a shared key read its ten write shards (docs/data-model.md) in one
    # round of Queries side by side, and walk month buckets down to the first month, which
    # each function instance reads once (META / FIRST_MONTH, not counted here) and keeps.
    # A shard whose first read runs out before the page is decided is read again (a second
    # round for that shard alone, rare at scale).
    seen = counted(lambda: agent.call("GET", params={"status": "pending"}), "list-tickets")
    assert set(seen) == {"dynamodb:Query"}, seen
    assert INDEX_SHARDS <= seen["dynamodb:Query"] < 2 * INDEX_SHARDS, seen
    seen = counted(lambda: agent.call("GET", params={"client": alice.sub, "countByStatus": "true"}),
                   "list-tickets")
    assert seen == {"dynamodb:Query": 1, "dynamodb:BatchGetItem": 1}, "the counts of all shards"
