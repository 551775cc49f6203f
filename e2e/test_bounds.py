"""Bounded work per request, whatever is stored: answers stay well within Lambda's 6 MB on a
ticket that holds the most threads it can, every thread can still be read a page at a time,
and a list does at most QUERY_BUDGET Queries however sparse its filter (counted at the proxy).

The large data is written straight into the table (`tickets-dev seed-*`, BatchWriteItem) and
left there: this module runs after all the others (conftest.py, LAST), since moto copies every
table on each transaction and the data would slow every later write."""

import json
import os
import pathlib
import subprocess

import pytest
import requests

from conftest import Client, settle, unique
from test_api import assert_error

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAMBDA_LIMIT = 6 * 1024 * 1024
QUERY_BUDGET = 5
MAX_THREADS = 1000
MESSAGE_MAX = 20_000
# A customer's tickets for the list budgets: more than a filtered page's whole budget reads
# (QUERY_BUDGET Queries of 500 items, shared/src/store/lists.rs), so a filter matching nothing
# takes more than one page, and more than a deep page (page 10 of 100) skips.
MANY = 3000


def seed(*args):
    out = subprocess.run([str(ROOT / "target" / "debug" / "tickets-dev"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr


def within_lambda_limits(res):
    """Well within: the answer under half of Lambda's limit, and the envelope Lambda carries it
    in (the body as a JSON string, every quote escaped again; serde_json leaves non-ASCII
    as it is) under two thirds."""
    assert len(res.content) < LAMBDA_LIMIT / 2, len(res.content)
    envelope = json.dumps({"statusCode": res.status_code, "headers": dict(res.headers),
                           "body": res.text}, ensure_ascii=False).encode()
    assert len(envelope) < LAMBDA_LIMIT * 2 / 3, len(envelope)


@pytest.fixture(scope="module")
def full_ticket(api_url):
    """A customer's ticket holding MAX_THREADS threads of the largest size (the description
    and MAX_THREADS - 1 seeded replies of quotes and 4-byte emoji)."""
    owner = Client(api_url, unique("hoarder"))
    t = owner.create()
    seed("seed-threads", t["_id"], str(MAX_THREADS - 1), str(MESSAGE_MAX))
    return owner, t["_id"]


def test_a_full_ticket_answers_in_limits_and_every_thread_can_be_read(full_ticket):
    owner, tid = full_ticket
    res = owner.call("GET", f"/{tid}")
    assert res.status_code == 200, res.body
    within_lambda_limits(res)
    got = res.body["data"]
    assert got["threadCount"] == MAX_THREADS
    page = got["threadsPagination"]
    assert page["hasMore"] is True and page["order"] == "desc" and page["limit"] == 50
    latest = [th["timestamp"] for th in got["threads"]]
    assert 0 < len(latest) <= 50 and latest == sorted(latest), "the latest page, chronological"

    # Earlier threads through the ticket's cursor, newest first, then all of them in order.
    earlier = owner.call("GET", f"/{tid}/threads", params={"order": "desc", "cursor": page["nextCursor"]})
    assert earlier.status_code == 200, earlier.body
    assert earlier.body["data"][0]["timestamp"] < latest[0]
    seen, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        res = owner.call("GET", f"/{tid}/threads", params=params)
        assert res.status_code == 200, res.body
        within_lambda_limits(res)
        seen.extend(res.body["data"])
        cursor = res.body["pagination"]["nextCursor"]
        assert res.body["pagination"]["hasMore"] is (cursor is not None)
        if not cursor:
            break
    assert len(seen) == MAX_THREADS and len({th["_id"] for th in seen}) == MAX_THREADS
    assert [th["timestamp"] for th in seen] == sorted(th["timestamp"] for th in seen)
    assert seen[-1]["_id"] == got["threads"][-1]["_id"]


def test_a_full_ticket_takes_no_more_replies_but_agents_still_manage_it(full_ticket, agent):
    owner, tid = full_ticket
    assert_error(owner.reply(tid, "one more"), 409, "THREAD_LIMIT")
    assert_error(agent.reply(tid, "and from us"), 409, "THREAD_LIMIT")
    for call in (lambda: agent.call("PATCH", f"/{tid}", {"priority": "high"}),
                 lambda: agent.status(tid, "resolved", "Answered in the threads"),
                 lambda: owner.status(tid, "closed")):
        res, queries = queries_of(call)
        assert res.status_code == 200, res.body
        within_lambda_limits(res)
        # The ticket item and one page: never the 60 MB partition.
        assert queries <= QUERY_BUDGET, queries
    got = owner.call("GET", f"/{tid}").body["data"]
    assert got["status"] == "closed" and got["threadCount"] == MAX_THREADS + 3
    assert got["threads"][-1]["type"] == "system"


def test_threads_pages_hide_internal_notes_and_refuse_bad_parameters(alice, agent):
    t = alice.create()
    assert agent.reply(t["_id"], "internal", internal=True).status_code == 201
    assert agent.reply(t["_id"], "public").status_code == 201
    mine = alice.call("GET", f"/{t['_id']}/threads").body
    assert [th["message"] for th in mine["data"]] == ["I cannot log in since Monday.", "public"]
    theirs = agent.call("GET", f"/{t['_id']}/threads", params={"order": "desc", "limit": 2}).body
    assert [th["message"] for th in theirs["data"]] == ["public", "internal"]
    assert theirs["pagination"]["hasMore"] is True
    rest = agent.call("GET", f"/{t['_id']}/threads",
                      params={"order": "desc", "limit": 2, "cursor": theirs["pagination"]["nextCursor"]})
    assert [th["message"] for th in rest.body["data"]] == ["I cannot log in since Monday."]
    # A cursor belongs to its ticket, caller and order.
    cursor = theirs["pagination"]["nextCursor"]
    assert_error(agent.call("GET", f"/{t['_id']}/threads", params={"cursor": cursor}), 400,
                 "INVALID_CURSOR")
    assert_error(alice.call("GET", f"/{t['_id']}/threads", params={"order": "desc", "cursor": cursor}),
                 400, "INVALID_CURSOR")
    for params, field in [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                          ({"order": "up"}, "order"), ({"status": "open"}, "status")]:
        assert_error(alice.call("GET", f"/{t['_id']}/threads", params=params), 400,
                     "INVALID_PARAMETERS", field)


def test_threads_of_someone_elses_ticket_are_not_found(alice, bob):
    t = alice.create()
    assert_error(bob.call("GET", f"/{t['_id']}/threads"), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(bob.call("GET", "/not-a-ticket/threads"), 404, "SUPPORT_TICKET_NOT_FOUND")


@pytest.fixture(scope="module")
def many_tickets(api_url):
    """A customer with MANY open tickets."""
    owner = Client(api_url, unique("prolific"))
    seed("seed-tickets", owner.sub, str(MANY))
    # The stream's consumers read through the new tickets at once, and moto, one Python
    # process, answers everything else slowly meanwhile (a deep list timed out at the SDK's
    # 8 s): the tests start once the counts have folded them all.
    counts, took = settle(lambda: owner.call("GET", params={"countByStatus": "true", "limit": 1}),
                          lambda res: (res.body.get("counts") or {}).get("open") == MANY,
                          seconds=300)
    assert (counts.body.get("counts") or {}).get("open") == MANY, \
        f"counts after {took:.0f} s: {counts.body}"
    return owner


def queries_of(call):
    """The answer of `call()` and the DynamoDB Queries it made, counted at the proxy."""
    proxy = os.environ["FAULT_PROXY_URL"]
    requests.delete(f"{proxy}/__stats", timeout=5)
    res = call()
    stats = requests.delete(f"{proxy}/__stats", timeout=5).json()
    return res, stats.get("dynamodb:Query", 0)


def test_a_filter_matching_nothing_reads_within_the_budget(many_tickets):
    pages, cursor = 0, None
    while True:
        params = {"status": "closed", "limit": 10, **({"cursor": cursor} if cursor else {})}
        res, queries = queries_of(lambda: many_tickets.call("GET", params=params))
        assert res.status_code == 200, res.body
        assert queries <= QUERY_BUDGET, queries
        assert res.body["data"] == []
        pages += 1
        cursor = res.body["pagination"]["nextCursor"]
        assert res.body["pagination"]["hasMore"] is (cursor is not None)
        if not cursor:
            break
    assert 1 < pages <= 5, "short pages that go on where reading stopped, then the end"


def test_deep_pages_walk_within_one_budget(many_tickets):
    res, queries = queries_of(lambda: many_tickets.call("GET", params={"page": 10, "limit": 100}))
    assert res.status_code == 200, res.body
    assert queries <= QUERY_BUDGET, queries
    assert [t["title"] for t in res.body["data"]] == [f"Seeded ticket {i}" for i in range(900, 1000)]
    assert res.body["pagination"]["page"] == 10 and res.body["pagination"]["hasMore"] is True
    # Sparse and deep: the walk to page 50 runs out of budget and says where to go on.
    res, queries = queries_of(lambda: many_tickets.call(
        "GET", params={"page": 50, "limit": 20, "status": "closed"}))
    assert res.status_code == 200 and queries <= QUERY_BUDGET
    assert res.body["data"] == []
    assert res.body["pagination"]["hasMore"] is True
    rest = many_tickets.walk(status="closed", limit=20, cursor=res.body["pagination"]["nextCursor"])
    assert rest == []


def test_a_list_of_maximum_size_tickets_stays_within_lambda_limits(api_url):
    """100 tickets whose descriptions hold 20,000 quotes and emoji would make an 8 MB answer:
    the page stops at its byte budget, short but with a cursor, and the walk returns all."""
    owner = Client(api_url, unique("verbose"))
    seed("seed-tickets", owner.sub, "101", str(MESSAGE_MAX))
    res = owner.call("GET", params={"limit": 100})
    assert res.status_code == 200, res.body
    within_lambda_limits(res)
    assert 0 < len(res.body["data"]) < 100 and res.body["pagination"]["hasMore"] is True
    seen = owner.walk(limit=100)
    assert len(seen) == 101 and len({t["_id"] for t in seen}) == 101
