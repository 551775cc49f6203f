"""Service metrics end to end (docs/metrics.md): ticket histories written with an explicit
clock (local tokens carry `local:now`) over several days, read back from
GET /v2/support-tickets/metrics, and compared with figures computed here, independently, from
the tickets themselves (their fields and their system threads): per UTC day, per day in two
other zones (a day boundary that falls elsewhere than UTC's), per priority, assignee and
category, as JSON and as CSV. Satisfaction's rules (who, when, how often) are checked on the
way.

The histories are dated in March of a future year picked at random: every other test writes
at the real time (and a run again on the same `make dev` table most likely picks another
year), so these rollups hold nothing else; the backlog (which counts every ticket before a
day's end) is compared on top of the one the day before the histories shows."""

import csv
import io
import math
import random
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import Client, token, unique
from test_round_trips import counted

YEAR = random.randint(datetime.now(timezone.utc).year + 1, 2099)
UTC = timezone.utc
# The service's default targets (seconds): first response, resolution.
TARGETS = {"urgent": (3600, 4 * 3600), "high": (4 * 3600, 24 * 3600),
           "medium": (8 * 3600, 72 * 3600), "low": (24 * 3600, 168 * 3600)}
STATUSES = ["open", "pending", "in_progress", "resolved", "closed"]
SETTLE_SECONDS = 60
# The rollups' shards: the global counters' (template parameter CounterShards, default 8).
SHARDS = 8
BUCKET_ERROR = 2 ** (1 / 8) - 1


def at(s):
    """`03-03T10:30` -> the timestamp of that minute, next year."""
    return f"{YEAR}-{s}:00.000Z"


def parse(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Clocked(Client):
    """A client whose next requests happen at a chosen time."""

    def at(self, when):
        self.token = token(self.sub, self.agent, **{"local:now": at(when)})
        return self


def ok(res, code=200):
    assert res.status_code == code, res.body
    return res.body["data"] if res.body else None


@pytest.fixture(scope="module")
def people(api_url):
    return {
        "cu1": Clocked(api_url, unique("cu1")), "cu2": Clocked(api_url, unique("cu2")),
        "cu3": Clocked(api_url, unique("cu3")),
        "ag1": Clocked(api_url, unique("agent-one"), agent=True),
        "ag2": Clocked(api_url, unique("agent-two"), agent=True),
    }


def metrics(client, **params):
    res = client.call("GET", "/metrics", params=params)
    assert res.status_code == 200, res.body
    return res.body["data"]


def quiet_backlogs(agent, day):
    """The backlog at the end of `day`, in all and per group of each grouping, once the
    stream consumer has nothing left to fold: what earlier tests left."""
    backlogs = {None: quiet_backlog(agent, day)}
    for group in ("priority", "category", "assignee"):
        got = metrics(agent, **{"from": day, "to": day, "groupBy": group})
        backlogs[group] = {g["group"]: g["backlog"] for g in got["groups"]}
    return backlogs


def quiet_backlog(agent, day):
    """The backlog at the end of `day` once the stream consumer has nothing left to fold
    (it stops moving for 3 s)."""
    started = last = time.monotonic()
    seen = metrics(agent, **{"from": day, "to": day})
    while time.monotonic() - last < 3:
        assert time.monotonic() - started < SETTLE_SECONDS, "the rollups never went quiet"
        time.sleep(0.5)
        now = metrics(agent, **{"from": day, "to": day})
        if (now["totals"]["backlog"], now["asOf"]) != (seen["totals"]["backlog"], seen["asOf"]):
            seen, last = now, time.monotonic()
    return seen["totals"]["backlog"]


@pytest.fixture(scope="module")
def histories(people):
    """Writes five tickets' histories; returns their ids and the backlog before them."""
    cu1, cu2, cu3, ag1, ag2 = (people[k] for k in ("cu1", "cu2", "cu3", "ag1", "ag2"))
    baseline = quiet_backlogs(ag1, f"{YEAR}-03-01")
    ids = {}
    # T1: answered in 30 min, waits 2 h on the customer, resolved, rated good, closed.
    t = cu1.at("03-03T10:00").create(priority="high", category="billing")
    ids["t1"] = tid = t["_id"]
    ok(ag1.at("03-03T10:05").call("PATCH", f"/{tid}", {"assignedTo": ag1.sub}))
    ok(ag1.at("03-03T10:30").reply(tid, "Looking into it"), 201)
    ok(ag1.at("03-03T11:00").status(tid, "pending"))
    ok(ag1.at("03-03T13:00").status(tid, "open"))
    ok(ag1.at("03-03T15:00").status(tid, "resolved", "Refunded"))
    ok(cu1.at("03-03T15:30").call("POST", f"/{tid}/satisfaction",
                                  {"rating": "good", "comment": "Thanks!"}))
    ok(cu1.at("03-04T09:00").status(tid, "closed"))
    # T2: urgent, created late on the 3rd (UTC), answered late, resolved, reopened, resolved
    # again past its target, rated bad and then good.
    t = cu2.at("03-03T23:50").create(priority="urgent", category="technical")
    ids["t2"] = tid = t["_id"]
    ok(ag2.at("03-04T00:10").call("PATCH", f"/{tid}", {"assignedTo": ag2.sub}))
    ok(ag2.at("03-04T02:00").reply(tid, "Restarted the service"), 201)
    ok(ag2.at("03-04T03:00").status(tid, "resolved", "Restarted"))
    ok(cu2.at("03-04T04:00").status(tid, "open"))
    ok(ag2.at("03-04T10:00").status(tid, "resolved", "Patched"))
    ok(cu2.at("03-04T11:00").call("POST", f"/{tid}/satisfaction", {"rating": "bad"}))
    ok(cu2.at("03-05T12:00").call("POST", f"/{tid}/satisfaction",
                                  {"rating": "good", "comment": "Changed my mind"}))
    # T3: closed by its customer without any answer, then rated within the window.
    t = cu3.at("03-05T03:30").create(priority="low", category="general")
    ids["t3"] = tid = t["_id"]
    ok(cu3.at("03-05T05:00").status(tid, "closed"))
    ok(cu3.at("03-06T05:00").call("POST", f"/{tid}/satisfaction", {"rating": "bad"}))
    # T4: answered, still open. T5: being worked on, never answered.
    t = cu1.at("03-05T04:10").create(priority="medium", category="account")
    ids["t4"] = t["_id"]
    ok(ag1.at("03-05T04:40").reply(ids["t4"], "Which account?"), 201)
    t = cu2.at("03-06T18:45").create(priority="medium", category="technical")
    ids["t5"] = t["_id"]
    ok(ag2.at("03-06T19:00").status(ids["t5"], "in_progress"))
    return ids, baseline


# ------------------------------------------------------------------ figures from the tickets

def facts_of(ticket):
    """What happened to one ticket, from its fields and system threads: (time, assignee
    then, kind, seconds) for each fact, and its (time, status) and (time, assignee) moves."""
    created = parse(ticket["createdAt"])
    moves, assigned = [], [(created, None)]
    for th in ticket["threads"]:
        if th["type"] != "system":
            continue
        when = parse(th["timestamp"])
        if m := re.match(r"Status changed from (\w+) to (\w+)", th["message"]):
            moves.append((when, m[1], m[2]))
        elif m := re.match(r"Assigned to (\S+) by", th["message"]):
            assigned.append((when, m[1]))
        elif th["message"].startswith("Unassigned from"):
            assigned.append((when, None))

    def assignee(when):
        return [a for t, a in assigned if t <= when][-1] or "none"

    first_target, resolution_target = TARGETS[ticket["priority"]]
    out = [(created, assignee(created), "created", None)]
    fr = ticket["firstResponseAt"] and parse(ticket["firstResponseAt"])
    if fr:
        seconds = (fr - created).total_seconds()
        out += [(fr, assignee(fr), "firstResponded", seconds),
                (fr, assignee(fr), "frMet" if seconds <= first_target else "frBreached", None)]
    paused, paused_since, stopped, resolved_at = 0.0, None, False, None
    for when, old, new in sorted(moves):
        who = assignee(when)
        if new == "resolved":
            out.append((when, who, "resolved", None))
        if new == "closed":
            out.append((when, who, "closed", None))
            if not fr:
                end = when if old != "resolved" else resolved_at
                late = (end - created).total_seconds() > first_target
                out.append((when, who, "frBreached" if late else "frMet", None))
        if old == "resolved" and new in ("open", "in_progress"):
            out.append((when, who, "reopened", None))
            stopped = False
        # The resolution clock pauses while pending or resolved; closing a resolved ticket
        # drops the pause (its clock has stopped), leaving any other pause ends it.
        if new == "closed" and old == "resolved":
            paused_since = None
        elif paused_since is not None and new not in ("pending", "resolved"):
            paused += (when - paused_since).total_seconds()
            paused_since = None
        elif paused_since is None and new in ("pending", "resolved"):
            paused_since = when
        if not stopped and (new == "resolved" or (new == "closed" and old != "resolved")):
            seconds = (when - created).total_seconds() - paused
            out.append((when, who, "resolution", seconds))
            out.append((when, who, "resMet" if seconds <= resolution_target else "resBreached",
                        None))
            stopped = True
        if new == "resolved":
            resolved_at = when
    rating = ticket["satisfaction"]
    if rating:
        when = parse(rating["ratedAt"])
        out.append((when, assignee(when), rating["rating"], None))
    statuses = [(created, "open")] + [(w, new) for w, _, new in sorted(moves)]
    return out, statuses, assigned


def status_at(statuses, when):
    past = [s for t, s in statuses if t < when]
    return past[-1] if past else None


def expected(tickets, days, group):
    """The figures per row (day date, priority, category or assignee) and in all, from the
    tickets: counts, the times' values, and the backlog at each row's end."""
    rows = defaultdict(lambda: {"counts": Counter(), "fr": [], "res": [], "backlog": Counter()})
    start, end = days[0][1], days[-1][2]
    for t in tickets:
        facts, statuses, assigned = facts_of(t)
        for when, who, kind, seconds in facts:
            if not start <= when < end:
                continue
            key = {"day": next((d for d, s, e in days if s <= when < e), None),
                   "priority": t["priority"], "category": t["category"],
                   "assignee": who, None: "all"}[group]
            rows[key]["counts"][kind] += 1
            rows["TOTAL"]["counts"][kind] += 1
            if kind in ("firstResponded", "resolution"):
                name = "fr" if kind == "firstResponded" else "res"
                rows[key][name].append(seconds)
                rows["TOTAL"][name].append(seconds)
        for row_end, key in ([(e, d) for d, _, e in days] if group == "day" else [(end, None)]):
            status = status_at(statuses, row_end)
            if status is None:
                continue
            if key is None:
                key = {"priority": t["priority"], "category": t["category"], None: "all",
                       "assignee": [a for w, a in assigned if w < row_end][-1] or "none"}[group]
            rows[key]["backlog"][status] += 1
            if group != "day":
                rows["TOTAL"]["backlog"][status] += 1
    if group == "day":
        rows["TOTAL"]["backlog"] = rows[days[-1][0]]["backlog"]
    return rows


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1] if ordered else None


def check_row(reported, truth, baseline=None, where=""):
    c = truth["counts"]
    assert {k: reported[k] for k in ("created", "firstResponded", "resolved", "reopened",
                                     "closed", "escalated")} == {
        "created": c["created"], "firstResponded": c["firstResponded"],
        "resolved": c["resolved"], "reopened": c["reopened"], "closed": c["closed"],
        "escalated": 0}, where
    assert reported["sla"]["firstResponse"]["met"] == c["frMet"], where
    assert reported["sla"]["firstResponse"]["breached"] == c["frBreached"], where
    assert reported["sla"]["resolution"]["met"] == c["resMet"], where
    assert reported["sla"]["resolution"]["breached"] == c["resBreached"], where
    judged = c["resMet"] + c["resBreached"]
    assert reported["sla"]["resolution"]["metShare"] == (
        round(c["resMet"] / judged, 4) if judged else None), where
    sat = reported["satisfaction"]
    assert (sat["good"], sat["bad"]) == (c["good"], c["bad"]), where
    backlog = {s: truth["backlog"][s] + (baseline or {}).get(s, 0) for s in STATUSES}
    assert reported["backlog"] == backlog, where
    for name, values in (("firstResponseSeconds", truth["fr"]), ("resolutionSeconds", truth["res"])):
        assert reported[name]["count"] == len(values), where
        for p in (50, 90):
            exact, estimate = nearest_rank(values, p), reported[name][f"p{p}"]
            if exact is None:
                assert estimate is None, where
            elif exact < 60:
                assert abs(estimate - exact) <= 30, (where, name, p, estimate, exact)
            else:
                assert abs(estimate - exact) <= exact * BUCKET_ERROR + 1, (where, name, p, estimate, exact)


def local_days(first, last, zone):
    tz = ZoneInfo(zone)
    out, d = [], datetime.strptime(first, "%Y-%m-%d")
    while d <= datetime.strptime(last, "%Y-%m-%d"):
        nxt = d + timedelta(days=1)
        out.append((d.strftime("%Y-%m-%d"), d.replace(tzinfo=tz).astimezone(UTC),
                    nxt.replace(tzinfo=tz).astimezone(UTC)))
        d = nxt
    return out


def settled(agent, tickets, baseline):
    """The month's totals once they agree with the tickets (the consumer folded them)."""
    days = local_days(f"{YEAR}-03-01", f"{YEAR}-03-31", "UTC")
    truth = expected(tickets, days, None)["TOTAL"]
    started = time.monotonic()
    while True:
        got = metrics(agent, **{"from": f"{YEAR}-03-01", "to": f"{YEAR}-03-31"})
        try:
            check_row(got["totals"], truth, baseline[None], "month")
            return got
        except AssertionError:
            if time.monotonic() - started > SETTLE_SECONDS:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def tickets(people, histories):
    ids, baseline = histories
    agent = people["ag1"]
    out = [ok(agent.call("GET", f"/{tid}")) for tid in ids.values()]
    settled(agent, out, baseline)
    return out, baseline


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_days_in_a_zone_match_the_tickets(people, tickets, zone):
    tickets, baseline = tickets
    first, last = f"{YEAR}-03-03", f"{YEAR}-03-06"
    got = metrics(people["ag2"], **{"from": first, "to": last, "tz": zone, "groupBy": "day"})
    assert (got["from"], got["to"], got["tz"], got["groupBy"]) == (first, last, zone, "day")
    assert got["asOf"]
    days = local_days(first, last, zone)
    truth = expected(tickets, days, "day")
    assert [g["group"] for g in got["groups"]] == [d for d, _, _ in days]
    for row in got["groups"]:
        check_row(row, truth[row["group"]], baseline[None], f"{zone} {row['group']}")
    check_row(got["totals"], truth["TOTAL"], baseline[None], f"{zone} totals")


def test_a_day_boundary_outside_utc_moves_facts_to_another_day(people, tickets):
    """T2 was created at 23:50 UTC on the 3rd: the 3rd in New York (18:50), the 4th in
    Kolkata (05:20). T3 and T4, created at 03:30 and 04:10 UTC on the 5th, are the 4th's in
    New York; T5 (18:45 UTC on the 6th) is the 7th's in Kolkata, past the range."""
    agent = people["ag1"]
    created = {}
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        got = metrics(agent, **{"from": f"{YEAR}-03-03", "to": f"{YEAR}-03-06", "tz": zone,
                                "groupBy": "day"})
        created[zone] = [g["created"] for g in got["groups"]]
    assert created == {"UTC": [2, 0, 2, 1], "America/New_York": [2, 2, 0, 1],
                       "Asia/Kolkata": [1, 1, 2, 0]}


@pytest.mark.parametrize("group", ["priority", "category", "assignee"])
def test_groups_match_the_tickets(people, tickets, group):
    tickets, baseline = tickets
    first, last = f"{YEAR}-03-04", f"{YEAR}-03-06"
    got = metrics(people["ag1"], **{"from": first, "to": last, "groupBy": group})
    truth = expected(tickets, local_days(first, last, "UTC"), group)
    rows = {g["group"]: g for g in got["groups"]}
    if group == "priority":
        assert list(rows) == ["low", "medium", "high", "urgent"]
    if group == "category":
        assert list(rows) == ["technical", "billing", "account", "feature_request", "general"]
    # Earlier tests' tickets are in the backlog of the groups they were in; their agents'
    # rows hold nothing else (nothing of theirs happened in these days).
    for name, row in rows.items():
        check_row(row, truth[name], baseline[group].get(name), f"{group} {name}")
    if group == "assignee":
        assert {people["ag1"].sub, people["ag2"].sub, "none"} <= set(rows)
    assert set(baseline[group]) - set(rows) <= {n for n, b in baseline[group].items()
                                                  if not any(b.values())}
    check_row(got["totals"], truth["TOTAL"], baseline[None], f"{group} totals")


def test_csv_has_a_row_per_group_with_the_same_figures(people, tickets):
    agent = people["ag1"]
    params = {"from": f"{YEAR}-03-03", "to": f"{YEAR}-03-06", "tz": "America/New_York",
              "groupBy": "day"}
    res = agent.call("GET", "/metrics", params=params, headers={"Accept": "text/csv"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert res.text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(res.text)))
    got = metrics(agent, **params)
    assert [r["day"] for r in rows] == [g["group"] for g in got["groups"]]
    for r, g in zip(rows, got["groups"]):
        assert int(r["created"]) == g["created"]
        assert int(r["resolved"]) == g["resolved"]
        assert int(r["backlogOpen"]) == g["backlog"]["open"]
        assert int(r["satisfactionGood"]) == g["satisfaction"]["good"]
        p50 = g["resolutionSeconds"]["p50"]
        assert r["resolutionP50Seconds"] == ("" if p50 is None else str(p50))
    res = agent.call("GET", "/metrics", params={"from": f"{YEAR}-03-03"},
                     headers={"Accept": "text/csv, application/json;q=0.5"})
    lines = res.text.strip().split("\r\n")
    assert len(lines) == 2 and lines[1].startswith("all,")


def test_satisfaction_is_the_customers_once_resolved_and_within_the_window(people, histories):
    ids, _ = histories
    cu1, cu2, cu3, ag1 = (people[k] for k in ("cu1", "cu2", "cu3", "ag1"))
    t1, t3, t4 = ids["t1"], ids["t3"], ids["t4"]
    good = {"rating": "good"}
    res = ag1.at("03-04T10:00").call("POST", f"/{t1}/satisfaction", good)
    assert (res.status_code, res.body["code"]) == (403, "FORBIDDEN")
    res = cu2.at("03-04T10:00").call("POST", f"/{t1}/satisfaction", good)
    assert (res.status_code, res.body["code"]) == (404, "SUPPORT_TICKET_NOT_FOUND")
    res = cu1.at("03-06T10:00").call("POST", f"/{t4}/satisfaction", good)
    assert (res.status_code, res.body["code"]) == (409, "NOT_RATEABLE")
    # T3 was closed at 05:00 on the 5th: seven days later it may still be rated, not after.
    cu3.token = token(cu3.sub, **{"local:now": f"{YEAR}-03-12T05:00:00.001Z"})
    res = cu3.call("POST", f"/{t3}/satisfaction", good)
    assert (res.status_code, res.body["code"]) == (409, "NOT_RATEABLE")
    for body, field in [({"rating": "great"}, "rating"), ({}, "rating"),
                        ({"rating": "good", "comment": "x" * 2001}, "comment")]:
        res = cu1.at("03-04T09:30").call("POST", f"/{t1}/satisfaction", body)
        assert res.status_code == 400 and res.body["details"][0]["field"] == field, res.body
    # The latest rating is on the ticket; the same one again writes nothing.
    t = ok(cu1.call("GET", f"/{t1}"))
    assert t["satisfaction"] == {"rating": "good", "comment": "Thanks!",
                                 "ratedAt": at("03-03T15:30")}
    again = cu1.at("03-04T09:40").call("POST", f"/{t1}/satisfaction",
                                       {"rating": "good", "comment": "Thanks!"})
    assert ok(again)["version"] == t["version"]
    # Agents read the comment in an internal system thread; the customer does not see it.
    agent_view = ok(ag1.call("GET", f"/{t1}"))
    notes = [th for th in agent_view["threads"] if th["message"].startswith("Customer rated")]
    assert [(n["message"], n["internal"], n["type"]) for n in notes] == [
        ("Customer rated the support good: Thanks!", True, "system")]
    assert not any(th["message"].startswith("Customer rated") for th in t["threads"])


def test_a_90_day_range_is_a_bounded_number_of_reads(people, tickets):
    """Kolkata's 90 days from January 1st begin on December 31st UTC: the hours of four
    months, the days and months before the range, each in every shard of the rollups
    (COUNTER_SHARDS, 8), and the global counters' asOf in one BatchGetItem."""
    agent = people["ag1"]
    reads = {"dynamodb:Query": 6 * SHARDS, "dynamodb:BatchGetItem": 1}
    params = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-03-31", "tz": "Asia/Kolkata"}
    seen = counted(lambda: agent.call("GET", "/metrics", params=params), "ticket-metrics")
    assert seen == reads, seen
    for group in ("assignee", "day"):
        seen = counted(lambda: agent.call("GET", "/metrics", params={**params, "groupBy": group}),
                       "ticket-metrics")
        assert seen == reads, (group, seen)


def test_only_agents_read_metrics_and_bad_parameters_are_named(people, api_url):
    res = people["cu1"].call("GET", "/metrics")
    assert (res.status_code, res.body["code"]) == (403, "FORBIDDEN")
    agent = people["ag1"]
    for params, field in [({"tz": "Mars/Olympus"}, "tz"), ({"groupBy": "week"}, "groupBy"),
                          ({"from": "2026-02-30"}, "from"), ({"to": "tomorrow"}, "to"),
                          ({"from": "2026-11-02", "to": "2026-11-01"}, "from"),
                          ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
                          ({"limit": "5"}, "limit")]:
        res = agent.call("GET", "/metrics", params=params)
        assert res.status_code == 400, (params, res.body)
        assert res.body["code"] == "INVALID_PARAMETERS"
        assert res.body["details"][0]["field"] == field, res.body
    # Without a range: the last seven days in the zone, today included (a token without a
    # clock of its own: now).
    agent.token = token(agent.sub, True)
    got = metrics(agent, tz="Pacific/Kiritimati")
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    assert got["to"] == today.isoformat()
    assert got["from"] == (today - timedelta(days=6)).isoformat()
    assert got["groups"] == [] and got["groupBy"] is None


def test_an_escalation_counts_when_it_happens(people, api_url):
    """The schedule escalates a high ticket unanswered for 5 hours (written with the clock 5 h
    back) at the real time: today's `escalated` grows by what that run escalated, the
    ticket's among them, in the priority it was raised to."""
    import json
    import pathlib

    import requests

    customer, agent = people["cu3"], people["ag2"]
    agent.token = token(agent.sub, True)
    now = datetime.now(UTC)
    customer.token = token(customer.sub, **{
        "local:now": (now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    t = customer.create(priority="high", category="feature_request")
    day = now.strftime("%Y-%m-%d")

    def today(group=None):
        params = {"from": day, "to": day, **({"groupBy": group} if group else {})}
        return metrics(agent, **params)

    quiet_backlog(agent, day)
    before = today("priority")
    event = json.loads((pathlib.Path(__file__).resolve().parent.parent / "events"
                        / "escalate-tickets.json").read_text())
    event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    res = requests.post(f"{api_url}/2015-03-31/functions/escalate-tickets/invocations",
                        json=event, timeout=120)
    assert res.status_code == 200, res.text
    escalated = res.json()["escalated"]
    assert t["_id"] in escalated
    assert ok(agent.call("GET", f"/{t['_id']}"))["priority"] == "urgent"
    wanted = before["totals"]["escalated"] + len(escalated)
    started = time.monotonic()
    while today()["totals"]["escalated"] < wanted and time.monotonic() - started < SETTLE_SECONDS:
        time.sleep(0.5)
    after = today("priority")
    assert after["totals"]["escalated"] == wanted
    rows = {g["group"]: g["escalated"] for g in after["groups"]}
    was = {g["group"]: g["escalated"] for g in before["groups"]}
    assert rows["urgent"] - was["urgent"] >= 1, "counted in the priority it was raised to"
