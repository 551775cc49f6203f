"""moto_server as the local stack runs it (tools/stack.sh), with one fix to its speed, none to
its behaviour: before a TransactWriteItems, moto backs up each table it touches by deep-copying
the whole table, once for every item of the transaction, so a transaction costs (items) x
(table size). The end-to-end table holds tens of megabytes (the bounds tests' threads) and the
stream consumer's transactions up to 92 items: seconds each, timing out everything queued
behind them. Here the backup is what a rollback needs: a copy of each item the transaction
writes, and where the table's stream stood; on a cancelled transaction those items are put
back and the stream records it wrote are dropped, as moto's own rollback does.

    python tools/moto_server.py -H 127.0.0.1 -p PORT
"""

import copy
import sys
import types

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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

if __name__ == "__main__":
    sys.exit(main())
