"""The per-caller write quota: 60 writes a minute for a customer (600 for an agent), checked
beside each write's first read; the next write is 429 QUOTA_EXCEEDED with Retry-After and
writes nothing, other callers are unaffected, and idempotent replays do not count."""

import datetime
import time
import uuid

from test_api import assert_error

CUSTOMER_WRITES = 60


def room_in_this_minute(seconds=20):
    """Waits, if need be, for a new minute, so a test's writes all fall in one window."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if now.second > 60 - seconds:
        time.sleep(60 - now.second + 0.5)


def test_the_61st_write_in_a_minute_is_refused_and_writes_nothing(alice, bob):
    room_in_this_minute()
    first = alice.create()
    # Writes of every kind count: 41 creates, 18 replies, 1 status change.
    for _ in range(40):
        alice.create()
    for _ in range(18):
        assert alice.reply(first["_id"]).status_code == 201
    assert alice.status(first["_id"], "closed").status_code == 200
    # 60 so far; an idempotent create is the 61st write.
    res = alice.call("POST", body={"title": "one more", "description": "d", "priority": "low",
                                   "category": "general"},
                     headers={"Idempotency-Key": str(uuid.uuid4())})
    assert_error(res, 429, "QUOTA_EXCEEDED")
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    assert_error(alice.reply(first["_id"], "and another"), 429, "QUOTA_EXCEEDED")
    assert len(alice.walk(limit=100)) == 41, "nothing written"
    got = alice.call("GET", f"/{first['_id']}").body["data"]
    assert got["threadCount"] == 1 + 18 + 1, "no reply written past the quota"
    assert bob.create(), "another caller is unaffected"


def test_idempotent_replays_do_not_count(alice):
    room_in_this_minute()
    key = str(uuid.uuid4())
    body = {"title": "t", "description": "d", "priority": "low", "category": "general"}
    for _ in range(CUSTOMER_WRITES - 2):
        alice.create()
    assert alice.call("POST", body=body, headers={"Idempotency-Key": key}).status_code == 201
    for _ in range(5):
        again = alice.call("POST", body=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert alice.create(), "the 60th write, whatever the replays before it"
    assert_error(alice.call("POST", body=body), 429, "QUOTA_EXCEEDED")
    again = alice.call("POST", body=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201, "a replay is answered even past the quota"
