"""How many DynamoDB and S3 requests each endpoint makes, counted by the local proxy that all
of the functions' AWS calls go through. Presigning is computed locally: no S3 request."""

import os

import requests

# INDEX_SHARDS of shared/src/store/keys.rs.
INDEX_SHARDS = 8


def stats(reset=False):
    url = os.environ["FAULT_PROXY_URL"] + "/__stats"
    return requests.request("DELETE" if reset else "GET", url, timeout=5).json()


def counted(call):
    stats(reset=True)
    res = call()
    assert res.status_code < 300, res.body
    return stats()


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
    assert counted(create) == {"dynamodb:TransactWriteItems": 1, **quota}
    tid = created["_id"]
    # The ticket item and the latest page of threads side by side, then the page's attachments.
    page = {"dynamodb:GetItem": 1, "dynamodb:Query": 1, "dynamodb:BatchGetItem": 1}
    assert counted(lambda: alice.call("GET", f"/{tid}")) == page
    assert counted(lambda: alice.call("GET", f"/{tid}/threads")) == page
    assert counted(lambda: alice.call("GET")) == {"dynamodb:Query": 1}
    assert counted(lambda: alice.call("GET", params={"countByStatus": "true"})) == \
        {"dynamodb:Query": 1, "dynamodb:GetItem": 1}
    assert counted(lambda: alice.reply(tid, "more", attachments=file)) == \
        {"dynamodb:GetItem": 1, "dynamodb:TransactWriteItems": 1, **quota}
    # Reads side by side (ticket item, page), then the write beside the page's attachments.
    change = {**page, "dynamodb:TransactWriteItems": 1, **quota}
    assert counted(lambda: agent.status(tid, "pending")) == change
    assert counted(lambda: agent.call("PATCH", f"/{tid}", {"priority": "high"})) == change
    # Agents' lists by a shared key read its eight write shards (docs/data-model.md) in one
    # round of Queries side by side, and walk month buckets down to the first month, which
    # each function instance reads once from the counter shards (BatchGetItem) and then keeps.
    seen = counted(lambda: agent.call("GET", params={"status": "pending"}))
    assert seen.get("dynamodb:Query") == INDEX_SHARDS, seen
    assert seen.get("dynamodb:BatchGetItem", 0) <= 1, seen
    assert set(seen) <= {"dynamodb:Query", "dynamodb:BatchGetItem"}
    seen = counted(lambda: agent.call("GET", params={"client": alice.sub, "countByStatus": "true"}))
    assert seen == {"dynamodb:Query": 1, "dynamodb:BatchGetItem": 1}, "the counts of all shards"
