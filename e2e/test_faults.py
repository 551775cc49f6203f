"""Dependency faults injected between the functions and moto (tools/localproxy.py): every
answer stays in the contract's shape, in time, and nothing is half-written."""

import os
import time
import uuid

import pytest

from conftest import settled_own_counts
from test_api import assert_error

BODY = {"title": "t", "description": "d", "priority": "low", "category": "general"}


def test_one_transaction_conflict_is_retried_transparently(alice, agent, faults):
    t = alice.create()
    faults(fail={"TransactWriteItems": {"error": "TransactionCanceledException", "times": 2}})
    res = agent.reply(t["_id"], "answer after contention")
    assert res.status_code == 201, res.body
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert got["threadCount"] == 2 and got["version"] == 2, "written once"


def test_lasting_contention_is_a_retryable_answer_and_writes_nothing(alice, faults):
    faults(fail={"TransactWriteItems": "TransactionCanceledException"})
    res = alice.call("POST", body=BODY)
    assert_error(res, 429, "THROTTLED")
    assert res.headers["Retry-After"] == "1"
    faults()
    assert alice.walk() == []
    assert settled_own_counts(alice)["counts"]["open"] == 0


def test_a_dropped_connection_is_retried(alice, faults):
    t = alice.create()
    faults(fail={"Query": {"error": "drop", "times": 1}})
    res = alice.call("GET", f"/{t['_id']}")
    assert res.status_code == 200, res.body


def test_a_database_that_never_answers_gets_a_500_in_time(alice, faults):
    t = alice.create()
    faults(fail={"Query": "drop"})
    started = time.monotonic()
    assert_error(alice.call("GET", f"/{t['_id']}"), 500, "INTERNAL_ERROR")
    assert time.monotonic() - started < 10


def test_a_slow_database_gets_a_500_within_the_function_timeout(alice, faults):
    t = alice.create()
    faults({"Query": 5000})
    started = time.monotonic()
    res = alice.call("GET", f"/{t['_id']}")
    elapsed = time.monotonic() - started
    assert_error(res, 500, "INTERNAL_ERROR")
    assert elapsed < 10, f"answered after {elapsed:.1f} s; the functions' timeout is 10 s"


def test_a_slow_write_fails_whole(alice, faults):
    t = alice.create()
    faults({"TransactWriteItems": 9000})
    assert_error(alice.reply(t["_id"], "lost in transit?"), 500, "INTERNAL_ERROR")
    faults()
    # The write may have landed after the client gave up (as in DynamoDB); if it did, it
    # landed whole: thread and counts together.
    time.sleep(1)
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["threadCount"] == len(got["threads"]) and got["version"] == got["threadCount"]


def test_a_create_cancelled_by_contention_is_tried_again(alice, faults):
    faults(fail={"TransactWriteItems": {"error": "TransactionCanceledException", "times": 2}})
    res = alice.call("POST", body=BODY)
    assert res.status_code == 201, res.body
    faults()
    assert [t["_id"] for t in alice.walk()] == [res.body["data"]["_id"]], "one ticket"


@pytest.mark.parametrize("fail", [
    {"error": "TransactionCanceledException", "reason": "ThrottlingError"},
    {"error": "TransactionCanceledException", "reason": "ProvisionedThroughputExceeded"},
    {"error": "TransactionInProgressException"},
])
def test_throttling_inside_a_transaction_is_never_a_500(alice, faults, fail):
    t = alice.create()
    faults(fail={"TransactWriteItems": fail})
    assert_error(alice.call("POST", body=BODY), 429, "THROTTLED")
    res = alice.reply(t["_id"], "throttled?")
    assert res.status_code in (409, 429), res.body
    faults()
    assert len(alice.walk()) == 1, "nothing written"
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert got["threadCount"] == 1


def test_a_repeated_client_request_token_is_idempotent_as_in_dynamodb():
    """The proxy gives moto DynamoDB's idempotent transactions: the same TransactWriteItems
    with the same ClientRequestToken succeeds once more and changes nothing; the token with
    another request is refused. The landed-but-lost tests below rely on it."""
    import boto3
    import botocore.exceptions
    client = boto3.client("dynamodb", endpoint_url=os.environ["FAULT_PROXY_URL"],
                          region_name="us-east-1")
    key = {"PK": {"S": f"TOKEN-TEST#{uuid.uuid4()}"}, "SK": {"S": "COUNTS"}}

    def add(n, token):
        return client.transact_write_items(ClientRequestToken=token, TransactItems=[{"Update": {
            "TableName": os.environ["TABLE_NAME"], "Key": key, "UpdateExpression": "ADD #n :n",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":n": {"N": str(n)}}}}])

    token = str(uuid.uuid4())
    add(1, token)
    add(1, token)
    read = client.get_item(TableName=os.environ["TABLE_NAME"], Key=key, ConsistentRead=True)
    assert read["Item"]["n"] == {"N": "1"}, "applied once"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        add(2, token)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    add(1, str(uuid.uuid4()))
    read = client.get_item(TableName=os.environ["TABLE_NAME"], Key=key, ConsistentRead=True)
    assert read["Item"]["n"] == {"N": "2"}, "another token is another request"
    client.delete_item(TableName=os.environ["TABLE_NAME"], Key=key)


def test_a_create_that_landed_but_lost_its_answer_is_answered_once(alice, faults):
    """The SDK sends a transaction again, with the same ClientRequestToken, when its answer
    is lost; DynamoDB (and the proxy in front of moto) answers the repeat with the first's
    success: the create is done once, not throttled."""
    faults(fail={"TransactWriteItems": {"error": "land-then-drop", "times": 1}})
    res = alice.call("POST", body=BODY)
    assert res.status_code == 201, res.body
    faults()
    assert [t["_id"] for t in alice.walk()] == [res.body["data"]["_id"]]


def test_a_reply_that_landed_but_lost_its_answer_is_written_once(alice, faults):
    t = alice.create()
    faults(fail={"TransactWriteItems": {"error": "land-then-drop", "times": 1}})
    res = alice.reply(t["_id"], "said once")
    assert res.status_code == 201, res.body
    faults()
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert [th["message"] for th in got["threads"]].count("said once") == 1
    assert got["threadCount"] == 2


@pytest.mark.parametrize("if_match", [False, True])
def test_a_status_change_that_landed_but_lost_its_answer_is_done_once(alice, agent, faults,
                                                                       if_match):
    """The SDK's retry carries the same ClientRequestToken: the change is done (200, not 409),
    with one system thread and one version more."""
    t = alice.create()
    faults(fail={"TransactWriteItems": {"error": "land-then-drop", "times": 1}})
    headers = {"If-Match": '"1"'} if if_match else None
    res = agent.status(t["_id"], "resolved", "Fixed", headers=headers)
    faults()
    assert res.status_code == 200, res.body
    assert (res.body["data"]["status"], res.body["data"]["version"]) == ("resolved", 2)
    got = agent.call("GET", f"/{t['_id']}").body["data"]
    assert [th["type"] for th in got["threads"]] == ["user", "system"]
    assert (got["status"], got["version"], got["threadCount"]) == ("resolved", 2, 2)
