"""Ticket management end to end: update-ticket, lists by assignee, service levels and the
due-soon queue."""

from concurrent.futures import ThreadPoolExecutor
import threading

import pytest

from conftest import TIMESTAMP
from test_api import assert_error


def test_an_agent_updates_every_field_with_system_threads(alice, agent):
    t = alice.create(priority="medium", category="technical", tags=["api"])
    res = agent.call("PATCH", f"/{t['_id']}", {
        "assignedTo": "agent-7", "priority": "urgent", "category": "billing",
        "tags": ["VIP", "billing", "vip"], "title": "  Invoice API failure  "})
    assert res.status_code == 200, res.body
    got = res.body["data"]
    assert (got["assignedTo"], got["priority"], got["category"]) == ("agent-7", "urgent", "billing")
    assert got["tags"] == ["vip", "billing"] and got["title"] == "Invoice API failure"
    assert got["version"] == 2 and res.headers["ETag"] == '"2"'
    assert got["updatedAt"] > t["updatedAt"]
    notes = [th for th in got["threads"] if th["type"] == "system"]
    assert [n["message"] for n in notes] == [
        f"Assigned to agent-7 by {agent.sub}", "Priority raised from medium to urgent"]
    assert all(n["author"] == agent.sub and not n["internal"] for n in notes)
    assert got["threadCount"] == 3
    # The customer sees the audit trail too, and the new due times (urgent: 1 h / 4 h).
    mine = alice.call("GET", f"/{t['_id']}").body["data"]
    assert [th["type"] for th in mine["threads"]] == ["user", "system", "system"]
    assert mine["sla"]["firstResponseDueAt"] < t["sla"]["firstResponseDueAt"]

    res = agent.call("PATCH", f"/{t['_id']}", {"assignedTo": None, "priority": "low"})
    got = res.body["data"]
    assert got["assignedTo"] is None and got["version"] == 3
    assert [th["message"] for th in got["threads"][-2:]] == [
        f"Unassigned from agent-7 by {agent.sub}", "Priority lowered from urgent to low"]

    same = agent.call("PATCH", f"/{t['_id']}", {"priority": "low"})
    assert same.status_code == 200 and same.body["data"]["version"] == 3, "no change, no version"


def test_update_ticket_rules(alice, bob, agent):
    t = alice.create()
    assert_error(alice.call("PATCH", f"/{t['_id']}", {"priority": "urgent"}), 403, "FORBIDDEN")
    assert_error(bob.call("PATCH", f"/{t['_id']}", {"priority": "urgent"}), 403, "FORBIDDEN")
    assert_error(agent.call("PATCH", "/01937f5e-7a3c-7cc0-8d2a-6f1e2b3c4d5e", {"priority": "low"}),
                 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(agent.call("PATCH", "/nope", {"priority": "low"}), 404, "SUPPORT_TICKET_NOT_FOUND")
    for body, field in [({}, "body"), ({"status": "closed"}, "status"), ({"priority": None}, "priority"),
                        ({"tags": ["a b"]}, "tags[0]"), ({"title": "x" * 201}, "title"),
                        ({"assignedTo": 5}, "assignedTo")]:
        assert_error(agent.call("PATCH", f"/{t['_id']}", body), 400, "VALIDATION_ERROR", field)
    assert_error(agent.call("PATCH", f"/{t['_id']}", {"priority": "low"}, headers={"If-Match": '"9"'}),
                 412, "PRECONDITION_FAILED")
    ok = agent.call("PATCH", f"/{t['_id']}", {"priority": "low"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    agent.status(t["_id"], "closed")
    assert_error(agent.call("PATCH", f"/{t['_id']}", {"priority": "high"}), 409, "TICKET_CLOSED")


def test_two_racing_updates_from_one_version(alice, agent, faults):
    t = alice.create()
    faults({"TransactWriteItems": 700})
    barrier = threading.Barrier(2)

    def update(p):
        barrier.wait()
        return agent.call("PATCH", f"/{t['_id']}", {"priority": p}, headers={"If-Match": '"1"'})

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(update, ["high", "urgent"]))
    assert sorted(r.status_code for r in results) == [200, 409], [r.body for r in results]
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert got["version"] == 2 and len(got["threads"]) == 2


def test_lists_by_assignee_me_and_none(alice, agent, api_url):
    from conftest import Client, unique
    other = Client(api_url, unique("agent"), agent=True)
    mine = alice.create(title="mine")
    theirs = alice.create(title="theirs")
    free = alice.create(title="free", priority="high")
    agent.call("PATCH", f"/{mine['_id']}", {"assignedTo": agent.sub})
    agent.call("PATCH", f"/{theirs['_id']}", {"assignedTo": other.sub})
    ids = lambda rows: [r["_id"] for r in rows]
    assert ids(agent.walk(assignedTo="me")) == [mine["_id"]]
    assert ids(other.walk(assignedTo="me")) == [theirs["_id"]]
    assert ids(agent.walk(assignedTo=other.sub)) == [theirs["_id"]]
    unassigned = ids(agent.walk(assignedTo="none", limit=50))
    assert free["_id"] in unassigned and mine["_id"] not in unassigned
    assert ids(agent.walk(assignedTo="none", client=alice.sub, priority="high")) == [free["_id"]]
    assert ids(agent.walk(assignedTo="me", status="open")) == [mine["_id"]]
    agent.call("PATCH", f"/{mine['_id']}", {"assignedTo": None})
    assert ids(agent.walk(assignedTo="me")) == []


def test_every_ticket_carries_its_service_levels(alice, agent):
    t = alice.create(priority="urgent")
    sla = t["sla"]
    assert set(sla) == {"firstResponseDueAt", "resolutionDueAt", "firstResponseBreached", "resolutionBreached"}
    assert TIMESTAMP.match(sla["firstResponseDueAt"]) and TIMESTAMP.match(sla["resolutionDueAt"])
    assert sla["firstResponseBreached"] is False and sla["resolutionBreached"] is False
    assert (t["firstResponseSeconds"], t["resolutionSeconds"]) == (None, None)
    assert alice.walk()[0]["sla"] == sla, "lists carry it too"
    agent.reply(t["_id"], "On it")
    answered = agent.call("GET", f"/{t['_id']}").body["data"]
    assert isinstance(answered["firstResponseSeconds"], int) and answered["firstResponseSeconds"] >= 0
    resolved = agent.status(t["_id"], "resolved", "Fixed").body["data"]
    assert isinstance(resolved["resolutionSeconds"], int) and resolved["resolutionSeconds"] >= 0
    assert resolved["sla"]["resolutionBreached"] is False


def test_the_due_soon_queue_lists_unanswered_tickets_soonest_first(alice, agent):
    low = alice.create(priority="low")      # first response due in 24 h
    urgent = alice.create(priority="urgent")  # 1 h
    high = alice.create(priority="high")    # 4 h
    answered = alice.create(priority="urgent")
    agent.reply(answered["_id"], "Looking now")
    queue = agent.walk(sort="firstResponseDue", client=alice.sub, limit=1)
    assert [r["_id"] for r in queue] == [urgent["_id"], high["_id"], low["_id"]]
    dues = [r["sla"]["firstResponseDueAt"] for r in agent.walk(sort="firstResponseDue", limit=50)]
    assert dues == sorted(dues)
    agent.call("PATCH", f"/{low['_id']}", {"priority": "urgent"})
    queue = agent.walk(sort="firstResponseDue", client=alice.sub)
    # Now urgent too, and created before the other urgent one: due first.
    assert [r["_id"] for r in queue][:2] == [low["_id"], urgent["_id"]], "re-keyed by the new priority"
    agent.status(high["_id"], "resolved", "Duplicate")
    assert high["_id"] not in [r["_id"] for r in agent.walk(sort="firstResponseDue", client=alice.sub)]
    assert_error(alice.call("GET", params={"sort": "firstResponseDue"}), 403, "FORBIDDEN")


def test_the_schedule_escalates_an_overdue_unanswered_ticket_once(api_url, alice):
    """escalate-tickets through the local stack (so under its own role), at a clock 4 h 1 min
    ahead: a high ticket unanswered for that long is overdue (first response within 4 h)."""
    import datetime
    import json
    import pathlib

    import requests

    t = alice.create(priority="high")
    event = json.loads((pathlib.Path(__file__).resolve().parent.parent / "events"
                        / "escalate-tickets.json").read_text())
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=4, minutes=1)
    event["time"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")

    def run():
        res = requests.post(f"{api_url}/2015-03-31/functions/escalate-tickets/invocations",
                            json=event, timeout=120)
        assert res.status_code == 200, res.text
        return res.json()

    assert t["_id"] in run()["escalated"]
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["priority"] == "urgent"
    assert got["threads"][-1]["type"] == "system"
    assert "overdue" in got["threads"][-1]["message"]
    assert t["_id"] not in run()["escalated"], "once"


@pytest.mark.parametrize("name", ["none", "me"])
def test_me_and_none_never_name_an_assignee(alice, agent, name):
    """They are list filters (assignedTo=me|none); null unassigns."""
    t = alice.create()
    assert_error(agent.call("PATCH", f"/{t['_id']}", {"assignedTo": name}), 400,
                 "VALIDATION_ERROR", "assignedTo")
    res = agent.call("POST", body={"title": "t", "description": "d", "priority": "low",
                                   "category": "general", "client": name})
    assert_error(res, 400, "VALIDATION_ERROR", "client")


def test_a_customer_closing_keeps_the_agents_resolution(alice, agent):
    t = alice.create()
    assert agent.status(t["_id"], "resolved", "Rotated the key").status_code == 200
    res = alice.status(t["_id"], "closed", "Still broken, but I give up")
    assert res.status_code == 200, res.body
    got = res.body["data"]
    assert got["status"] == "closed" and got["resolution"] == "Rotated the key"
    said = [th for th in got["threads"] if th["message"] == "Still broken, but I give up"]
    assert len(said) == 1 and said[0]["type"] == "user" and said[0]["author"] == alice.sub
    assert got["threadCount"] == len(got["threads"])
