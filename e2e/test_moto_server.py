"""tools/moto_server.py changes moto's speed, never what it answers: the reads' answers written
straight as JSON are those moto's own serializer writes, for every kind of attribute value.
Runs moto in this process (no stack needed)."""

import json
import pathlib
import sys

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import moto_server  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.dynamodb import responses as dynamodb_responses  # noqa: E402

ITEM = {
    "PK": {"S": "TICKET#1"}, "SK": {"S": "A"},
    "n": {"N": "1.50"}, "big": {"N": "123456789012345678901234567890"},
    "b": {"B": b"\x00\xffbinary"}, "empty": {"S": ""},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"x", b"\x01\x02"]},
    "m": {"M": {"k": {"L": [{"S": "é😀\"quoted\"\\"}, {"NULL": True}, {"BOOL": False},
                            {"M": {}}, {"L": []}]}}},
}


@pytest.fixture
def answers(monkeypatch):
    """Every DynamoDB answer of the test as (operation, moto's own, the fast path's)."""
    seen = []

    def both(self, context):
        theirs = moto_server._execute_result(self, context)
        ours = moto_server.execute_result(self, context)
        seen.append((context.operation_model.name, theirs, ours))
        return ours

    monkeypatch.setattr(dynamodb_responses.DynamoResult, "execute_result", both)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1"), seen


def test_the_reads_answer_what_motos_serializer_answers(answers):
    client, seen = answers
    client.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "byN", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                                               {"AttributeName": "n", "KeyType": "RANGE"}]}])
    for sk in "ABC":
        client.put_item(TableName="t", Item={**ITEM, "SK": {"S": sk}})
    key = {"PK": ITEM["PK"], "SK": ITEM["SK"]}
    page = client.query(TableName="t", KeyConditionExpression="PK = :p",
                        ExpressionAttributeValues={":p": ITEM["PK"]}, Limit=2,
                        ReturnConsumedCapacity="TOTAL")
    client.query(TableName="t", KeyConditionExpression="PK = :p",
                 ExpressionAttributeValues={":p": ITEM["PK"]},
                 ExclusiveStartKey=page["LastEvaluatedKey"])
    client.query(TableName="t", IndexName="byN", KeyConditionExpression="PK = :p",
                 ExpressionAttributeValues={":p": ITEM["PK"]}, Select="COUNT")
    client.query(TableName="t", KeyConditionExpression="PK = :p",
                 ExpressionAttributeValues={":p": {"S": "nobody"}})
    client.scan(TableName="t", ProjectionExpression="PK, m, b")
    got = client.get_item(TableName="t", Key=key)
    client.get_item(TableName="t", Key={**key, "SK": {"S": "missing"}})
    client.batch_get_item(RequestItems={"t": {"Keys": [key, {**key, "SK": {"S": "B"}}]}})
    client.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}}])

    assert got["Item"] == ITEM, "values come back as they went in (binary decoded again)"
    reads = [(name, theirs, ours) for name, theirs, ours in seen
             if name in moto_server.READ_OPERATIONS]
    assert sorted({name for name, _, _ in reads}) == sorted(moto_server.READ_OPERATIONS)
    for name, (status, headers, body), (our_status, our_headers, our_body) in reads:
        assert our_status == status, name
        assert json.loads(our_body) == json.loads(body), name
        assert our_headers["Content-Type"] == headers["Content-Type"], name


def test_writes_and_errors_are_left_to_moto(answers):
    client, seen = answers
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="missing", Key={"PK": {"S": "x"}})
    client.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
    client.put_item(TableName="t", Item={"PK": {"S": "x"}, "b": {"B": b"\x00"}},
                    ReturnValues="ALL_OLD")
    writes = [(name, theirs, ours) for name, theirs, ours in seen
              if name not in moto_server.READ_OPERATIONS]
    assert {name for name, _, _ in writes} == {"CreateTable", "PutItem"}
    for name, (status, _, body), (our_status, _, our_body) in writes:
        # byte for byte: moto's serializer wrote it, not json.dumps
        assert (our_status, our_body) == (status, body), name
