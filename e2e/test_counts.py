"""Counts per status off the write path: the table's stream reaches count-tickets (locally
through the proxy's stream bridge, tools/localstream.py), and concurrent status changes
settle to exactly what a recount of the tickets says, with `countsAsOf`."""

import datetime
import os
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import STATUSES, TIMESTAMP, counts_of, settled_own_counts

MOVES = [("pending", None), ("in_progress", None), ("resolved", "fixed"), ("closed", None)]


def test_concurrent_status_changes_settle_to_a_recount(alice, agent):
    started = datetime.datetime.now(datetime.timezone.utc)
    ids = [alice.create(title=f"count {i}")["_id"] for i in range(10)]

    def moves(i):
        # Each ticket walks its own path of changes; the 10 run side by side.
        codes = []
        for target, resolution in MOVES[: i % 5]:
            codes.append(agent.status(ids[i], target, resolution).status_code)
        if i % 3 == 0 and i % 5 != 4:  # a closed ticket takes no reply
            codes.append(alice.reply(ids[i], "any news?").status_code)
        return codes

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [c for cs in pool.map(moves, range(10)) for c in cs]
    assert all(c in (200, 201) for c in codes), codes
    last_write = time.monotonic()
    body = settled_own_counts(alice)
    lag = time.monotonic() - last_write
    print(f"counts settled {lag:.1f} s after the last write")
    assert sum(body["counts"].values()) == 10
    assert TIMESTAMP.match(body["countsAsOf"])
    as_of = datetime.datetime.fromisoformat(body["countsAsOf"].replace("Z", "+00:00"))
    assert as_of >= started, "as of a change of this test, not before"


def test_counts_of_a_customer_without_tickets_are_zero_as_of_nothing(bob):
    body = counts_of(bob)
    assert body["counts"] == {s: 0 for s in STATUSES}
    assert body["countsAsOf"] is None


def test_a_failed_batch_is_delivered_again_and_counted_once(bob, faults):
    # The consumer's next transaction fails every attempt the SDK makes (three): it reports
    # the batch's first change as failed, and the stream delivers the batch again.
    faults(fail={"TransactWriteItems": {"error": "InternalServerError", "times": 3,
                                        "function": "count-tickets"}})
    for i in range(3):
        bob.create(title=f"counted once {i}")
    body = settled_own_counts(bob)
    assert body["counts"]["open"] == 3
    left = requests.get(os.environ["FAULT_PROXY_URL"] + "/__faults", timeout=5).json()
    assert left["fail"]["TransactWriteItems"]["times"] == 0, "the consumer met the failures"
