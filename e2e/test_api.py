"""End-to-end tests: real HTTP requests to the local API (cargo lambda watch + moto), as a
client sends them, with two customers and an agent; answers checked against API.md."""

import base64
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (TIMESTAMP, UUID, Client, counts_of, settle, settled_global_counts,
                      settled_own_counts, token)

TICKET_FIELDS = {
    "_id", "title", "description", "status", "priority", "category", "client", "assignedTo",
    "tags", "resolution", "createdAt", "updatedAt", "resolvedAt", "closedAt",
    "firstResponseAt", "threadCount", "version", "sla", "firstResponseSeconds",
    "resolutionSeconds", "satisfaction",
}
THREAD_FIELDS = {"_id", "author", "message", "timestamp", "type", "internal", "attachments"}
STATUSES = ["open", "pending", "in_progress", "resolved", "closed"]


def assert_error(res, status, code, field=None):
    assert res.status_code == status, (res.status_code, res.body)
    assert res.body["code"] == code, res.body
    assert res.body["success"] is False
    if field is not None:
        fields = [d["field"] for d in res.body.get("details", [])]
        assert field in fields, res.body


# ---------------------------------------------------------------- create


def test_create_answers_the_ticket_with_its_first_thread(alice):
    res = alice.call("POST", body={
        "title": "  API Integration Issue  ", "description": "Getting 401 errors\nsince today",
        "priority": "high", "category": "technical", "tags": ["API", "authentication", "api"],
    })
    assert res.status_code == 201, res.body
    t = res.body["data"]
    assert set(t) == TICKET_FIELDS | {"threads", "attachments", "threadsPagination"}
    assert UUID.match(t["_id"])
    assert res.headers["Location"] == f"/v2/support-tickets/{t['_id']}"
    assert res.headers["ETag"] == '"1"'
    assert t["title"] == "API Integration Issue"
    assert t["description"] == "Getting 401 errors\nsince today"
    assert (t["status"], t["priority"], t["category"]) == ("open", "high", "technical")
    assert t["client"] == alice.sub
    assert t["tags"] == ["api", "authentication"]
    assert t["assignedTo"] is None and t["resolution"] is None
    assert t["resolvedAt"] is None and t["closedAt"] is None and t["firstResponseAt"] is None
    assert TIMESTAMP.match(t["createdAt"]) and t["updatedAt"] == t["createdAt"]
    assert (t["threadCount"], t["version"]) == (1, 1)
    assert t["attachments"] == []
    [first] = t["threads"]
    assert set(first) == THREAD_FIELDS
    assert UUID.match(first["_id"])
    assert first["author"] == alice.sub
    assert first["message"] == t["description"]
    assert (first["type"], first["internal"], first["attachments"]) == ("user", False, [])
    assert first["timestamp"] == t["createdAt"]


def test_an_agent_opens_a_ticket_for_a_customer(agent, alice):
    t = agent.create(client=alice.sub)
    assert t["client"] == alice.sub
    assert t["threads"][0]["type"] == "agent"
    assert t["threads"][0]["author"] == agent.sub
    assert alice.call("GET", f"/{t['_id']}").status_code == 200


def test_a_customer_cannot_open_a_ticket_for_someone_else(alice, bob):
    res = alice.call("POST", body={"title": "t", "description": "d", "priority": "low",
                                   "category": "general", "client": bob.sub})
    assert_error(res, 403, "FORBIDDEN")


@pytest.mark.parametrize("body, field", [
    ({}, "title"),
    ({"title": "t", "description": "d", "priority": "low"}, "category"),
    ({"title": "  ", "description": "d", "priority": "low", "category": "general"}, "title"),
    ({"title": "x" * 201, "description": "d", "priority": "low", "category": "general"}, "title"),
    ({"title": "t", "description": "d" * 20001, "priority": "low", "category": "general"}, "description"),
    ({"title": "t", "description": "d", "priority": "highest", "category": "general"}, "priority"),
    ({"title": "t", "description": "d", "priority": "low", "category": "sales"}, "category"),
    ({"title": 5, "description": "d", "priority": "low", "category": "general"}, "title"),
    ({"title": "t", "description": ["d"], "priority": "low", "category": "general"}, "description"),
    ({"title": "t", "description": "d", "priority": "low", "category": "general", "colour": "red"}, "colour"),
    ({"title": "t", "description": "d", "priority": "low", "category": "general", "tags": "api"}, "tags"),
    ({"title": "t", "description": "d", "priority": "low", "category": "general",
      "tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"title": "t", "description": "d", "priority": "low", "category": "general", "tags": ["a b"]}, "tags[0]"),
    ({"title": "t", "description": "d", "priority": "low", "category": "general", "tags": ["x" * 51]}, "tags[0]"),
    ({"title": "t\u0000", "description": "d", "priority": "low", "category": "general"}, "title"),
])
def test_create_names_the_bad_field(alice, body, field):
    assert_error(alice.call("POST", body=body), 400, "VALIDATION_ERROR", field)


def test_bodies_that_are_not_json_objects(alice):
    h = {"Content-Type": "application/json"}
    assert_error(alice.call("POST", raw=b'{"title": ', headers=h), 400, "INVALID_JSON")
    assert_error(alice.call("POST", raw=b"[1, 2]", headers=h), 400, "INVALID_JSON")
    assert_error(alice.call("POST", raw=b"", headers=h), 400, "INVALID_JSON")
    res = alice.call("POST", raw=b'{"title": "t"}', headers={"Content-Type": "text/plain"})
    assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE")
    big = json.dumps({"title": "t", "description": "x" * (256 * 1024)}).encode()
    assert_error(alice.call("POST", raw=big, headers=h), 413, "PAYLOAD_TOO_LARGE")
    res = alice.call("POST", raw=b'{"title": "t"}',
                     headers={"Content-Type": "application/json; charset=utf-8"})
    assert_error(res, 400, "VALIDATION_ERROR", "description")


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize("authorization", [
    None,
    "Basic abc",
    "Bearer",
    "Bearer not-a-token",
    f"Bearer {token('mallory', ttl=-10)}",
    f"Bearer {token('mallory', secret='another-key')}",
    "Bearer " + ".".join(base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
                         for p in ({"alg": "none", "typ": "JWT"},
                                   {"sub": "mallory", "exp": 4102444800})) + ".",
])
def test_requests_without_a_valid_token_are_unauthorized(api_url, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("GET", ""), ("POST", ""), ("GET", "/x")]:
        res = requests.request(method, f"{api_url}/v2/support-tickets{path}", headers=headers,
                               json={} if method == "POST" else None, timeout=30)
        assert res.status_code == 401, (method, path, res.text)
        body = res.json()
        assert body["code"] == "UNAUTHORIZED" and body["success"] is False
        assert body["requestId"]


def test_a_token_without_sub_is_unauthorized(api_url):
    import jwt
    no_sub = jwt.encode({"exp": int(time.time()) + 60}, "local-development-secret", "HS256")
    res = requests.get(f"{api_url}/v2/support-tickets",
                       headers={"Authorization": f"Bearer {no_sub}"}, timeout=30)
    assert res.status_code == 401


# ---------------------------------------------------------------- get


def test_get_answers_threads_oldest_first_with_etag(alice, agent):
    t = alice.create()
    agent.reply(t["_id"], "First answer")
    alice.reply(t["_id"], "Thanks")
    res = alice.call("GET", f"/{t['_id']}")
    assert res.status_code == 200
    got = res.body["data"]
    assert set(got) == TICKET_FIELDS | {"threads", "attachments", "threadsPagination"}
    assert [th["message"] for th in got["threads"]] == [t["description"], "First answer", "Thanks"]
    assert [th["type"] for th in got["threads"]] == ["user", "agent", "user"]
    stamps = [th["timestamp"] for th in got["threads"]]
    assert stamps == sorted(stamps)
    assert got["version"] == 3 and res.headers["ETag"] == '"3"'
    assert got["threadCount"] == 3


def test_unknown_malformed_and_foreign_ids_answer_alike(alice, bob):
    t = alice.create()
    answers = [
        bob.call("GET", f"/{t['_id']}"),
        bob.call("GET", "/01937f5e-7a3c-7cc0-8d2a-6f1e2b3c4d5e"),
        bob.call("GET", "/not-an-id"),
        bob.call("GET", "/..%2F..%2Fetc%2Fpasswd"),
    ]
    for res in answers:
        assert_error(res, 404, "SUPPORT_TICKET_NOT_FOUND")
    shapes = {json.dumps({k: v for k, v in r.body.items() if k != "requestId"}) for r in answers}
    assert len(shapes) == 1, shapes


def test_internal_notes_are_invisible_to_customers(alice, agent):
    t = alice.create()
    note = agent.reply(t["_id"], "Customer is on the legacy plan", internal=True)
    assert note.status_code == 201 and note.body["data"]["internal"] is True
    agent.reply(t["_id"], "We are looking into it")
    mine = alice.call("GET", f"/{t['_id']}").body["data"]
    assert [th["message"] for th in mine["threads"]] == [t["description"], "We are looking into it"]
    assert mine["threadCount"] == 2
    assert "legacy" not in json.dumps(mine)
    theirs = agent.call("GET", f"/{t['_id']}").body["data"]
    assert len(theirs["threads"]) == 3 and theirs["threadCount"] == 3
    listed = [x for x in alice.walk() if x["_id"] == t["_id"]][0]
    assert listed["threadCount"] == 2


# ---------------------------------------------------------------- add thread


def test_threads_by_customer_and_agent(alice, agent):
    t = alice.create()
    res = alice.reply(t["_id"], "  More detail  ")
    assert res.status_code == 201
    th = res.body["data"]
    assert set(th) == THREAD_FIELDS
    assert (th["type"], th["author"], th["message"], th["internal"]) == ("user", alice.sub, "More detail", False)
    assert TIMESTAMP.match(th["timestamp"])

    note = agent.reply(t["_id"], "internal first", internal=True)
    assert note.body["data"]["type"] == "agent"
    assert agent.call("GET", f"/{t['_id']}").body["data"]["firstResponseAt"] is None, \
        "an internal note is not a response"

    public = agent.reply(t["_id"], "Hello!").body["data"]
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert got["firstResponseAt"] == public["timestamp"]
    agent.reply(t["_id"], "Second answer")
    again = agent.call("GET", f"/{t['_id']}").body["data"]
    assert again["firstResponseAt"] == public["timestamp"], "set once, by the first answer"
    assert again["updatedAt"] >= public["timestamp"]
    assert (again["threadCount"], again["version"]) == (5, 5)


def test_thread_errors(alice, bob, agent):
    t = alice.create()
    assert_error(alice.reply(t["_id"], internal=True), 403, "FORBIDDEN")
    assert_error(bob.reply(t["_id"]), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(alice.call("POST", f"/{t['_id']}/threads", {}), 400, "VALIDATION_ERROR", "message")
    assert_error(alice.reply(t["_id"], " \n "), 400, "VALIDATION_ERROR", "message")
    assert_error(alice.reply(t["_id"], internal="yes"), 400, "VALIDATION_ERROR", "internal")
    assert_error(alice.reply(t["_id"], cc="x"), 400, "VALIDATION_ERROR", "cc")
    assert_error(alice.reply("nope"), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert agent.status(t["_id"], "closed").status_code == 200
    assert_error(alice.reply(t["_id"]), 409, "TICKET_CLOSED")
    assert_error(agent.reply(t["_id"]), 409, "TICKET_CLOSED")


@pytest.mark.parametrize("waiting", ["pending", "resolved"])
def test_a_customer_reply_reopens_a_waiting_ticket(alice, agent, waiting):
    t = alice.create()
    assert agent.status(t["_id"], waiting, "Fixed" if waiting == "resolved" else None).status_code == 200
    assert alice.reply(t["_id"], "Still broken").status_code == 201
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["status"] == "open"
    assert got["resolvedAt"] is None and got["resolution"] is None
    last = got["threads"][-1]
    assert last["type"] == "system"
    assert last["message"].startswith(f"Status changed from {waiting} to open")
    assert got["threads"][-2]["message"] == "Still broken"


def test_an_agent_reply_does_not_reopen(alice, agent):
    t = alice.create()
    agent.status(t["_id"], "pending")
    agent.reply(t["_id"], "Waiting for your logs")
    assert agent.call("GET", f"/{t['_id']}").body["data"]["status"] == "pending"


def test_concurrent_threads_are_all_kept(alice, agent):
    t = alice.create()
    def post(i):
        who = agent if i % 2 else alice
        return who.reply(t["_id"], f"message {i}")
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(post, range(20)))
    assert [r.status_code for r in results] == [201] * 20, [r.body for r in results]
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert got["threadCount"] == 21
    assert len(got["threads"]) == 21
    assert got["version"] == 21
    assert sorted(th["message"] for th in got["threads"][1:]) == sorted(f"message {i}" for i in range(20))
    assert len({th["_id"] for th in got["threads"]}) == 21


# ---------------------------------------------------------------- status


def test_an_agent_resolves_and_closes(alice, agent):
    t = alice.create()
    assert_error(agent.status(t["_id"], "resolved"), 400, "VALIDATION_ERROR", "resolution")
    res = agent.status(t["_id"], "resolved", "Rotated the key")
    assert res.status_code == 200
    got = res.body["data"]
    assert set(got) == TICKET_FIELDS | {"threads", "attachments", "threadsPagination"}
    assert (got["status"], got["resolution"], got["version"]) == ("resolved", "Rotated the key", 2)
    assert TIMESTAMP.match(got["resolvedAt"]) and got["closedAt"] is None
    assert res.headers["ETag"] == '"2"'
    system = got["threads"][-1]
    assert (system["type"], system["author"]) == ("system", agent.sub)
    assert system["message"] == "Status changed from open to resolved: Rotated the key"

    same = agent.status(t["_id"], "resolved", "Rotated the key")
    assert same.status_code == 200 and same.body["data"]["version"] == 2, "no change"

    closed = agent.status(t["_id"], "closed").body["data"]
    assert closed["status"] == "closed" and TIMESTAMP.match(closed["closedAt"])
    assert closed["threads"][-1]["message"] == "Status changed from resolved to closed"
    res = agent.status(t["_id"], "open")
    assert_error(res, 409, "INVALID_TRANSITION")
    assert res.body["details"][0]["field"] == "status"


def test_every_transition_of_the_table_as_agent(agent, alice):
    allowed = {
        "open": ["pending", "in_progress", "resolved", "closed"],
        "pending": ["open", "in_progress", "resolved", "closed"],
        "in_progress": ["open", "pending", "resolved", "closed"],
        "resolved": ["open", "in_progress", "closed"],
    }
    paths = {"open": [], "pending": ["pending"], "in_progress": ["in_progress"],
             "resolved": ["resolved"]}
    for start, targets in allowed.items():
        for target in STATUSES:
            if target == start:
                continue
            t = agent.create(client=alice.sub)
            for step in paths[start]:
                assert agent.status(t["_id"], step, "r" if step == "resolved" else None).status_code == 200
            res = agent.status(t["_id"], target, "r" if target == "resolved" else None)
            if target in targets:
                assert res.status_code == 200, (start, target, res.body)
                assert res.body["data"]["status"] == target
            else:
                assert_error(res, 409, "INVALID_TRANSITION")


def test_what_customers_may_do_with_status(alice, bob, agent):
    t = alice.create()
    assert_error(alice.status(t["_id"], "in_progress"), 403, "FORBIDDEN")
    assert_error(alice.status(t["_id"], "resolved", "myself"), 403, "FORBIDDEN")
    assert_error(bob.status(t["_id"], "closed"), 404, "SUPPORT_TICKET_NOT_FOUND")
    agent.status(t["_id"], "resolved", "Done")
    assert alice.status(t["_id"], "open").status_code == 200, "reopen own resolved ticket"
    assert alice.status(t["_id"], "closed").status_code == 200, "close own ticket"
    assert_error(alice.status(t["_id"], "open"), 409, "INVALID_TRANSITION")
    assert_error(agent.status(t["_id"], "bogus"), 400, "VALIDATION_ERROR", "status")


def test_if_match(alice, agent):
    t = alice.create()
    assert_error(agent.status(t["_id"], "pending", headers={"If-Match": '"7"'}), 412,
                 "PRECONDITION_FAILED")
    res = agent.status(t["_id"], "pending", headers={"If-Match": '"1"'})
    assert res.status_code == 200 and res.headers["ETag"] == '"2"'


def test_two_racing_status_changes_one_wins(alice, agent, faults):
    # Both requests read the ticket before either writes: the proxy holds the writes back.
    faults({"TransactWriteItems": 700})
    for targets in [("pending", "in_progress"), ("closed", "closed")]:
        t = alice.create()
        barrier = threading.Barrier(2)

        def change(target):
            barrier.wait()
            return agent.status(t["_id"], target, "r" if target == "resolved" else None)

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(change, targets))
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [r.body for r in results]
        loser = [r for r in results if r.status_code == 409][0]
        assert loser.body["code"] == "CONFLICT"
        winner = [r for r in results if r.status_code == 200][0].body["data"]
        got = agent.call("GET", f"/{t['_id']}").body["data"]
        assert got["status"] == winner["status"] and got["version"] == 2
        assert [th["type"] for th in got["threads"]] == ["user", "system"]
        # The counts, once settled, agree with the tickets: the loser moved nothing.
        settled_own_counts(alice)


# ---------------------------------------------------------------- list


def test_list_summaries_newest_first(alice, bob):
    made = [alice.create(title=f"ticket {i}") for i in range(3)]
    bob.create()
    res = alice.call("GET")
    assert res.status_code == 200
    assert res.body["pagination"] == {"limit": 10, "hasMore": False, "nextCursor": None}
    data = res.body["data"]
    assert [t["_id"] for t in data] == [t["_id"] for t in reversed(made)]
    for t in data:
        assert set(t) == TICKET_FIELDS
    assert "counts" not in res.body


def test_list_filters(alice, agent):
    a = alice.create(priority="urgent", category="billing")
    b = alice.create(priority="low", category="technical")
    agent.status(b["_id"], "pending")
    ids = lambda res: [t["_id"] for t in res.body["data"]]
    assert ids(alice.call("GET", params={"status": "pending"})) == [b["_id"]]
    assert ids(alice.call("GET", params={"priority": "urgent"})) == [a["_id"]]
    assert ids(alice.call("GET", params={"category": "technical"})) == [b["_id"]]
    assert ids(alice.call("GET", params={"status": "open", "category": "technical"})) == []
    assert ids(agent.call("GET", params={"client": alice.sub})) == [b["_id"], a["_id"]]
    assert ids(agent.call("GET", params={"client": alice.sub, "status": "open"})) == [a["_id"]]
    unassigned = agent.walk(assignedTo="none", client=None, limit=50)
    assert {a["_id"], b["_id"]} <= {t["_id"] for t in unassigned}
    assert ids(agent.call("GET", params={"assignedTo": agent.sub})) == []
    assert_error(alice.call("GET", params={"client": "someone"}), 403, "FORBIDDEN")
    assert_error(alice.call("GET", params={"assignedTo": "someone"}), 403, "FORBIDDEN")


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"status": "OPEN"}, "status"), ({"priority": "p1"}, "priority"),
    ({"category": "x"}, "category"), ({"sort": "asc"}, "sort"),
    ({"countByStatus": "yes"}, "countByStatus"), ({"page": "0"}, "page"),
    ({"page": "11", "limit": "100"}, "page"), ({"page": "2", "cursor": "abc"}, "page"),
])
def test_bad_list_parameters_are_named(alice, params, field):
    assert_error(alice.call("GET", params=params), 400, "INVALID_PARAMETERS", field)


def test_walking_55_tickets_returns_each_once_in_order(alice, agent):
    made = []
    for i in range(56):
        t = alice.create(title=f"walk {i}", priority=["low", "high"][i % 2])
        made.append(t["_id"])
        if i % 4 == 0:
            agent.status(t["_id"], "pending")
    newest_first = list(reversed(made))
    seen = alice.walk(limit=10)
    assert [t["_id"] for t in seen] == newest_first
    pending = [tid for i, tid in enumerate(made) if i % 4 == 0][::-1]
    assert [t["_id"] for t in alice.walk(limit=3, status="pending")] == pending
    high = [tid for i, tid in enumerate(made) if i % 2 == 1][::-1]
    assert [t["_id"] for t in alice.walk(limit=10, priority="high")] == high

    # The agent's view: every ticket of the table (other tests' too), each once, newest first.
    everything = agent.walk(limit=50)
    ids = [t["_id"] for t in everything]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in set(made)] == newest_first
    keys = [(t["createdAt"], t["_id"]) for t in everything]
    assert keys == sorted(keys, reverse=True)
    agent_pending = [t["_id"] for t in agent.walk(limit=10, status="pending")]
    assert [i for i in agent_pending if i in set(made)] == pending
    assert len(agent_pending) == len(set(agent_pending))

    # page=N is the N-th page of the same walk.
    page3 = alice.call("GET", params={"limit": "10", "page": "3"})
    assert [t["_id"] for t in page3.body["data"]] == newest_first[20:30]
    assert page3.body["pagination"]["page"] == 3 and page3.body["pagination"]["hasMore"] is True
    page6 = alice.call("GET", params={"limit": "10", "page": "6"}).body
    assert [t["_id"] for t in page6["data"]] == newest_first[50:]
    assert page6["pagination"]["hasMore"] is False
    page9 = alice.call("GET", params={"limit": "10", "page": "9"}).body
    assert page9["data"] == [] and page9["pagination"]["hasMore"] is False


def test_cursors_are_bound_to_their_query_and_caller(alice, bob):
    for _ in range(3):
        alice.create()
    first = alice.call("GET", params={"limit": "1"}).body
    cursor = first["pagination"]["nextCursor"]
    assert cursor and first["pagination"]["hasMore"] is True
    assert alice.call("GET", params={"limit": "1", "cursor": cursor}).status_code == 200
    assert alice.call("GET", params={"limit": "5", "cursor": cursor}).status_code == 200, \
        "limit may change between pages"
    body, _, sig = cursor.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig
    for bad in [tampered, cursor + "x", "garbage", cursor[::-1]]:
        assert_error(alice.call("GET", params={"cursor": bad}), 400, "INVALID_CURSOR")
    assert_error(alice.call("GET", params={"cursor": cursor, "status": "open"}), 400, "INVALID_CURSOR")
    assert_error(bob.call("GET", params={"cursor": cursor}), 400, "INVALID_CURSOR")


def test_count_by_status_is_exact(alice, agent):
    before = settled_global_counts(agent)
    assert set(before) == set(STATUSES)
    ids = [alice.create()["_id"] for _ in range(7)]
    agent.status(ids[0], "pending")
    agent.status(ids[1], "in_progress")
    agent.status(ids[2], "resolved", "done")
    agent.status(ids[3], "resolved", "done")
    agent.status(ids[3], "closed")
    alice.status(ids[4], "closed")
    agent.status(ids[5], "pending")
    alice.reply(ids[5], "here are my logs")  # reopens
    agent.status(ids[6], "open")  # no change
    expected = Counter({"open": 2, "pending": 1, "in_progress": 1, "resolved": 1, "closed": 2})

    truth = Counter(t["status"] for t in alice.walk(limit=50))
    assert truth == expected
    mine = settled_own_counts(alice, status="closed")
    assert mine["counts"] == {s: expected[s] for s in STATUSES}, "whatever the filters"
    assert TIMESTAMP.match(mine["countsAsOf"]), mine
    want = {s: before[s] + expected[s] for s in STATUSES}
    after, took = settle(lambda: counts_of(agent)["counts"], lambda c: c == want)
    assert after == want, f"not settled in {took:.1f} s"
    assert "counts" not in alice.call("GET", params={"countByStatus": "false"}).body


def test_customers_never_see_each_others_tickets(alice, bob):
    t = alice.create(title="alice's secret")
    assert all(x["_id"] != t["_id"] for x in bob.walk(limit=50))
    assert bob.call("GET", params={"countByStatus": "true"}).body["counts"] == {s: 0 for s in STATUSES}
    assert_error(bob.call("GET", f"/{t['_id']}"), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(bob.reply(t["_id"]), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(bob.status(t["_id"], "closed"), 404, "SUPPORT_TICKET_NOT_FOUND")
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["version"] == 1 and got["status"] == "open"


# ---------------------------------------------------------------- dependency failures


def test_a_failing_database_is_a_500_that_says_nothing_internal(alice, faults):
    t = alice.create()
    faults(fail={"Query": "InternalServerError", "TransactWriteItems": "InternalServerError"})
    for res in [alice.call("GET", f"/{t['_id']}"), alice.call("GET"),
                alice.status(t["_id"], "closed"), alice.call("POST", body={
                    "title": "t", "description": "d", "priority": "low", "category": "general"})]:
        assert_error(res, 500, "INTERNAL_ERROR")
        text = json.dumps(res.body)
        for leak in ("secret-internal-table-name", "InternalServerError", "dynamodb", "tickets-e2e"):
            assert leak.lower() not in text.lower(), text
    faults()
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["status"] == "open" and got["version"] == 1, "nothing half-written"
    assert [x["_id"] for x in alice.walk()] == [t["_id"]], "the failed create wrote nothing"


def test_throttling_is_a_429_with_retry_after(alice, faults):
    t = alice.create()
    faults(fail={"Query": "ProvisionedThroughputExceededException"})
    res = alice.call("GET", f"/{t['_id']}")
    assert_error(res, 429, "THROTTLED")
    assert res.headers["Retry-After"] == "1"
