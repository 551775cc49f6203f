"""moto_server as the local stack runs it (tools/stack.sh), with five fixes to its speed (the
last four at the end of this file), none to its behaviour, and the query DynamoDB's local
TTL needs (at the very end). The first: before a TransactWriteItems, moto backs up each table it touches by deep-copying
the whole table, once for every item of the transaction, so a transaction costs (items) x
(table size). The end-to-end table holds tens of megabytes (the bounds tests' threads) and the
stream consumer's transactions up to 92 items: seconds each, timing out everything queued
behind them. Here the backup is what a rollback needs: a copy of each item the transaction
writes, and where the table's stream stood; on a cancelled transaction those items are put
back and the stream records it wrote are dropped, as moto's own rollback does.

    python tools/moto_server.py -H 127.0.0.1 -p PORT
"""

import base64
import copy
import functools
import json
import sys
import threading
import types
import urllib.parse

import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.responses as dynamodb_responses
import moto.sqs.models as sqs_models
from jsonpath_ng import ext as jsonpath_ext
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server import werkzeug_app
from moto.server import main

_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _key(table, op):
    source = op.get("Key") or op.get("Item") or {}
    if table.hash_key_attr not in source:
        return None
    h = DynamoType(source[table.hash_key_attr])
    r = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
    return h, r


def _current(table, h, r):
    rows = table.items.get(h)
    if r is None or rows is None:
        return rows
    return rows.get(r)


def _put_back(table, h, r, before):
    if r is None:
        if before is None:
            table.items.pop(h, None)
        else:
            table.items[h] = before
        return
    rows = table.items.get(h)
    if before is None:
        if rows is not None:
            rows.pop(r, None)
            if not rows:
                table.items.pop(h, None)
    else:
        table.items[h][r] = before


def _shallow_tables(value, *args, **kwargs):
    # moto's own backup of a whole table: a shallow copy (sharing items and stream), which the
    # rollback below puts right; anything else is deep-copied as moto expects.
    if isinstance(value, Table):
        return copy.copy(value)
    return copy.deepcopy(value, *args, **kwargs)


def transact_write_items(self, transact_items):
    saved = {}
    for entry in transact_items:
        (_, op), = entry.items()
        table = self.tables.get(op.get("TableName"))
        key = table is not None and _key(table, op)
        if not key:
            continue
        stream = len(table.stream_shard.items) if table.stream_shard else None
        _, touched, _ = saved.setdefault(table.name, (table, [], stream))
        before = _current(table, *key)
        touched.append((*key, copy.deepcopy(before) if before is not None else None))
    # The local proxy passes DynamoDB requests to moto one at a time: nothing else runs while
    # the module's `copy` is swapped.
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_shallow_tables)
    try:
        return _transact(self, transact_items)
    except Exception:
        for table, touched, stream in saved.values():
            for h, r, before in touched:
                _put_back(table, h, r, before)
            if stream is not None and table.stream_shard is not None:
                del table.stream_shard.items[stream:]
        raise
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


# SQS: ReceiveMessage checks each message it hands out against the queue's retention period by
# asking for the queue's attributes, which counts every message in the queue: a receive cost
# (messages) x (queue length), and a queue of thousands (every ticket of the bounds tests is
# announced) took seconds a receive. The same check, reading the one attribute it needs.
def is_message_valid_based_on_retention_period(self, queue_name, message):
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > sqs_models.unix_time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = \
    is_message_valid_based_on_retention_period

# DynamoDB: a Query of the table itself (no index) gathers and sorts every item of the table
# to keep those of one partition key: a cost of (table size) per Query, seconds on the
# end-to-end table. Here it gathers that partition's items only (then filters and sorts them
# as before).
_local = threading.local()
_all_items = Table.all_items
_query = Table.query


def all_items(self):
    only = getattr(_local, "only", None)
    if only is not None and only[0] is self and self.range_key_attr:
        return list(self.items.get(only[1], {}).values())
    return _all_items(self)


def query(self, *args, **kwargs):
    index_name = kwargs["index_name"] if "index_name" in kwargs else (
        args[7] if len(args) > 7 else None)
    hash_key = kwargs["hash_key"] if "hash_key" in kwargs else (args[0] if args else None)
    if index_name is not None or hash_key is None:
        return _query(self, *args, **kwargs)
    _local.only = (self, hash_key)
    try:
        return _query(self, *args, **kwargs)
    finally:
        _local.only = None


Table.all_items = all_items
Table.query = query

# EventBridge: each event put is shaped for each rule's target through nine JSONPath
# expressions, each compiled anew (a parser generator run per expression): tens of
# milliseconds an event. The compiled expressions are kept (they are immutable).
jsonpath_ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ext.parse)

# DynamoDB: moto writes every answer by walking the operation's output shape member by member,
# about 2.5 ms an item: a Query of a 1,000-item page took 3 s (the SDK's attempt timeout),
# whatever the table's size. The answers of the reads hold nothing but the items' attribute
# values (strings, numbers as strings, booleans, lists, maps, binary as bytes) and counts,
# which json.dumps writes the same (binary base64-encoded, as the serializer does).
READ_OPERATIONS = {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"}
_execute_result = dynamodb_responses.DynamoResult.execute_result


def _base64(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def execute_result(self, context):
    if context.operation_model.name not in READ_OPERATIONS:
        return _execute_result(self, context)
    body = json.dumps(self.result, default=_base64, separators=(",", ":"))
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, body


dynamodb_responses.DynamoResult.execute_result = execute_result

# DynamoDB's TTL, which moto does not run: tools/localstream.py deletes expired items itself,
# and asks here which they are (`GET /__ttl/expired?table=T&now=EPOCH`: their keys and
# expiry). A Scan through the API for it serialised every item of a large table, page after
# page, holding the interpreter for seconds; this reads the table in place.
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__
TTL_ATTRIBUTE = "expiresAt"


def _expired(table_name, now):
    out = []
    for backend in dynamodb_models.dynamodb_backends.values():
        for regional in backend.values():
            table = regional.tables.get(table_name)
            if table is None:
                continue
            for _ in range(5):
                try:
                    items = table.all_items()
                    break
                except RuntimeError:  # changed while read: read again
                    continue
            else:
                items = []
            for item in items:
                ttl = item.attrs.get(TTL_ATTRIBUTE)
                if ttl is None or ttl.type != "N":
                    continue
                try:
                    expired = float(ttl.value) < now
                except ValueError:
                    continue
                if expired:
                    out.append({k: item.attrs[k].to_json()
                                for k in ("PK", "SK", TTL_ATTRIBUTE) if k in item.attrs})
    return out


def _call(self, environ, start_response):
    if environ.get("PATH_INFO") != "/__ttl/expired":
        return _dispatch(self, environ, start_response)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    body = json.dumps(_expired(query["table"][0], float(query["now"][0]))).encode()
    start_response("200 OK", [("content-type", "application/json"),
                              ("content-length", str(len(body)))])
    return [body]


werkzeug_app.DomainDispatcherApplication.__call__ = _call

if __name__ == "__main__":
    sys.exit(main())
