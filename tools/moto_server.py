"""moto_server as the local stack runs it (tools/stack.sh), with one fix to its speed, none to
its behaviour: moto's TransactWriteItems backs up the whole table once for every item of the
transaction (a deep copy each time) before applying it, so a transaction of n items on a
table of m items costs n copies of m items. The stream consumer's transactions hold up to 92
items, and the end-to-end table tens of thousands: seconds per transaction, timing out every
request queued behind it. Here each table is copied once per transaction, as the backup needs.

    python tools/moto_server.py -H 127.0.0.1 -p PORT
"""

import copy
import sys
import types

import moto.dynamodb.models as dynamodb_models
from moto.server import main

_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    copies = {}

    def deepcopy_once(value, *args, **kwargs):
        if id(value) not in copies:
            copies[id(value)] = copy.deepcopy(value, *args, **kwargs)
        return copies[id(value)]

    # The module's `copy` is swapped for the length of the call; the local proxy passes
    # DynamoDB requests to moto one at a time, so no other request sees it.
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy_once)
    try:
        return _transact(self, transact_items)
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    sys.exit(main())
