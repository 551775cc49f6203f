"""Idempotency-Key on create and add-thread: retries replay the original answer and write
nothing; another body with the same key is refused; keys are per caller."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import settled_own_counts
from test_api import assert_error

BODY = {"title": "Charged twice", "description": "My card was charged twice.",
        "priority": "high", "category": "billing"}


def key():
    return str(uuid.uuid4())


def test_a_retried_create_replays_the_original(alice):
    k = key()
    first = alice.call("POST", body=BODY, headers={"Idempotency-Key": k})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = alice.call("POST", body=dict(reversed(list(BODY.items()))), headers={"Idempotency-Key": k})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body, "same ids, same answer"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert [t["_id"] for t in alice.walk()] == [first.body["data"]["_id"]], "one ticket"


def test_the_same_key_with_another_body_is_refused(alice):
    k = key()
    assert alice.call("POST", body=BODY, headers={"Idempotency-Key": k}).status_code == 201
    other = dict(BODY, title="Charged three times")
    assert_error(alice.call("POST", body=other, headers={"Idempotency-Key": k}), 422,
                 "IDEMPOTENCY_KEY_REUSED")
    assert len(alice.walk()) == 1


def test_keys_belong_to_their_caller(alice, bob):
    k = key()
    a = alice.call("POST", body=BODY, headers={"Idempotency-Key": k})
    b = bob.call("POST", body=BODY, headers={"Idempotency-Key": k})
    assert a.status_code == b.status_code == 201
    assert a.body["data"]["_id"] != b.body["data"]["_id"]
    assert "Idempotent-Replayed" not in b.headers


def test_ten_concurrent_retries_create_one_ticket(alice):
    k = key()
    barrier = threading.Barrier(10)

    def attempt(_):
        barrier.wait()
        return alice.call("POST", body=BODY, headers={"Idempotency-Key": k})

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert [r.status_code for r in results] == [201] * 10, [r.body for r in results]
    assert len({r.body["data"]["_id"] for r in results}) == 1, "all get the same answer"
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 9
    assert len(alice.walk()) == 1
    assert settled_own_counts(alice)["counts"]["open"] == 1, "counted once"


def test_a_retried_reply_is_kept_once(alice, agent):
    t = alice.create()
    k = key()
    path = f"/{t['_id']}/threads"
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(
            lambda _: alice.call("POST", path, {"message": "Any news?"}, headers={"Idempotency-Key": k}),
            range(5)))
    assert [r.status_code for r in results] == [201] * 5
    assert len({r.body["data"]["_id"] for r in results}) == 1
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert got["threadCount"] == 2 and got["version"] == 2
    assert_error(alice.call("POST", path, {"message": "Something else"}, headers={"Idempotency-Key": k}),
                 422, "IDEMPOTENCY_KEY_REUSED")
    # The same key on another ticket is another request.
    t2 = alice.create()
    assert alice.call("POST", f"/{t2['_id']}/threads", {"message": "Any news?"},
                      headers={"Idempotency-Key": k}).status_code == 201


@pytest.mark.parametrize("bad", ["", "x" * 256, "tab\there", "ünïcode"])
def test_malformed_keys_are_refused(alice, bad):
    res = alice.call("POST", body=BODY, headers={"Idempotency-Key": bad.encode("utf-8")})
    assert_error(res, 400, "VALIDATION_ERROR", "Idempotency-Key")
    assert alice.walk() == []
