"""What each DynamoDB request of a function really costs, recorded by the local proxy: the
input of the capacity model (tools/capacity.py).

For every request signed by a function (tools/localiam.py tells which), one record:

    {"function": "create-ticket", "op": "TransactWriteItems",
     "reads":  [{"index": null, "key": "TICKET#{ticket}", "bytes": 812, "items": 1,
                 "scanned": 1, "consistent": true, "transactional": false}],
     "writes": [{"index": null, "key": "TICKET#{ticket}", "item": "TICKET#{ticket} TICKET",
                 "bytes": 1210, "kind": "put", "transactional": true, "conditional": true},
                {"index": "byMonth", "key": "ALL#{month}", "bytes": 1190, "kind": "put", ...}]}

Writes are measured, not guessed: the proxy reads each written item just before and just after
the request (straight from moto, outside the function's view), so a write is charged on the
larger of its two images as DynamoDB charges it, and every global secondary index that the
change touches is listed with the partition it writes (a changed index key is a delete in the
old partition and a put in the new one; a changed projected attribute rewrites the entry).
Keys are recorded as patterns (`{ticket}`, `{customer}`, `{month}`...), never as values.
"""

import json
import re
import threading
import urllib.request

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Partition key values as patterns: what varies per ticket, person, month or shard.
PATTERNS = [
    (re.compile(rf"^TICKET#{UUID}$"), "TICKET#{ticket}"),
    (re.compile(r"^COUNTS#CLIENT#.+$"), "COUNTS#CLIENT#{customer}"),
    (re.compile(r"^COUNTS#ALL#\d+$"), "COUNTS#ALL#{shard}"),
    (re.compile(r"^CLIENT#.+$"), "CLIENT#{customer}"),
    (re.compile(r"^QUOTA#.+$"), "QUOTA#{caller}"),
    (re.compile(r"^IDEMPOTENCY#.+$"), "IDEMPOTENCY#{caller}"),
    (re.compile(r"^STREAMBATCH#.+$"), "STREAMBATCH#{key}"),
    (re.compile(r"^ASSIGNEE#none$"), "ASSIGNEE#none"),
    (re.compile(r"^ASSIGNEE#none#\d+$"), "ASSIGNEE#none#{shard}"),
    (re.compile(r"^ASSIGNEE#.+$"), "ASSIGNEE#{agent}"),
    (re.compile(r"^PENDING#\d{4}-\d{2}-\d{2}$"), "PENDING#{day}"),
]
MONTH = re.compile(r"#\d{4}-\d{2}(?=#|$)")
SHARD = re.compile(r"#\d+$")
PRIORITY = re.compile(r"^PRIORITY#[a-z_]+#")
CATEGORY = re.compile(r"^CATEGORY#[a-z_]+#")


def pattern(value):
    """A partition key value as a pattern."""
    for regex, name in PATTERNS:
        if regex.match(value):
            return name
    value = PRIORITY.sub("PRIORITY#{priority}#", value)
    value = CATEGORY.sub("CATEGORY#{category}#", value)
    value = MONTH.sub("#{month}", value)
    # A numeric suffix after the month (or after a fixed key) is a write shard.
    return SHARD.sub("#{shard}", value)


METRIC_ITEM = re.compile(r"^([HD])#(\w+)#\d{4}-\d{2}-\d{2}(T\d{2})?#(.*)$")
METRIC_MONTH = re.compile(r"^(all|priority|category|assignee)#\d{4}-\d{2}#(.*)$")


def _group(dimension, group):
    return "{agent}" if dimension == "assignee" and group != "none" else group


def sort_pattern(value):
    """A table sort key as a pattern: the kind of item in its partition."""
    if m := METRIC_ITEM.match(value):
        bucket = "{hour}" if m[3] else "{day}"
        return f"{m[1]}#{m[2]}#{bucket}#{_group(m[2], m[4])}"
    if m := METRIC_MONTH.match(value):
        return f"{m[1]}#{{month}}#{_group(m[1], m[2])}"
    value = re.sub(UUID, "{id}", value)
    value = re.sub(r"\d{4}-\d{2}-\d{2}T[0-9:.]+Z", "{time}", value)
    return value


# ------------------------------------------------------------------ sizes, as DynamoDB counts

def _number_size(text):
    digits = text.lstrip("-").replace(".", "").lstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1 + (1 if text.startswith("-") else 0)


def value_size(v):
    (kind, x), = v.items()
    if kind == "S":
        return len(x.encode())
    if kind == "N":
        return _number_size(x)
    if kind == "B":
        return len(x) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in x)
    if kind == "NS":
        return sum(_number_size(s) for s in x)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in x)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in x.items())
    return len(json.dumps(x))


def item_size(item):
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


# ------------------------------------------------------------------ the table, from moto

class Tables:
    """Key schema and indexes of each table, read once from moto."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.cache = {}
        self.lock = threading.Lock()

    def call(self, op, payload, auth):
        req = urllib.request.Request(
            self.upstream + "/", data=json.dumps(payload).encode(), method="POST",
            headers={"x-amz-target": f"DynamoDB_20120810.{op}",
                     "content-type": "application/x-amz-json-1.0", "authorization": auth})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"{}")

    def describe(self, table, auth):
        with self.lock:
            if table in self.cache:
                return self.cache[table]
        t = self.call("DescribeTable", {"TableName": table}, auth)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in t["KeySchema"]}
        indexes = {}
        for i in t.get("GlobalSecondaryIndexes", []):
            ik = {k["KeyType"]: k["AttributeName"] for k in i["KeySchema"]}
            p = i.get("Projection", {})
            indexes[i["IndexName"]] = {"pk": ik["HASH"], "sk": ik.get("RANGE"),
                                       "projection": p.get("ProjectionType", "ALL"),
                                       "include": p.get("NonKeyAttributes", [])}
        desc = {"pk": keys["HASH"], "sk": keys.get("RANGE"), "indexes": indexes}
        with self.lock:
            self.cache[table] = desc
        return desc

    def items(self, keys, auth):
        """The current items at (table, key) pairs (None where absent), read in batches: a
        transaction of a hundred items costs two requests, not two hundred."""
        found = {}
        for start in range(0, len(keys), 100):
            chunk = keys[start:start + 100]
            request = {}
            for table, key in chunk:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while request:
                out = self.call("BatchGetItem", {"RequestItems": request}, auth)
                for table, got in out.get("Responses", {}).items():
                    desc = self.describe(table, auth)
                    for item in got:
                        found[(table, _canonical(_key_of(item, desc)))] = item
                request = out.get("UnprocessedKeys") or {}
        return [found.get((table, _canonical(key))) for table, key in keys]


def projected(item, table, index):
    """The entry an item has in an index (its projection), or None if it is not in it."""
    if not item or index["pk"] not in item or (index["sk"] and index["sk"] not in item):
        return None
    if index["projection"] == "ALL":
        return item
    keep = {table["pk"], table["sk"], index["pk"], index["sk"]}
    if index["projection"] == "INCLUDE":
        keep |= set(index["include"])
    return {k: v for k, v in item.items() if k in keep}


# ------------------------------------------------------------------ one request

def written_keys(op, body):
    """(table, key, action) of every item a write request writes."""
    if op == "TransactWriteItems":
        out = []
        for entry in body.get("TransactItems", []):
            (action, spec), = entry.items()
            if action != "ConditionCheck":
                out.append((spec["TableName"], spec.get("Key") or spec.get("Item"), action, spec))
        return out
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        action = op[:-4]
        return [(body["TableName"], body.get("Key") or body.get("Item"), action, body)]
    return []


def _key_of(item, table):
    return {k: item[k] for k in (table["pk"], table["sk"]) if k and k in item}


def _canonical(key):
    return json.dumps(key, sort_keys=True)


def before_images(tables, op, body, auth):
    """The items a write request is about to write, as they are now (None: absent)."""
    writes = [(name, _key_of(key, tables.describe(name, auth)), action, spec)
              for name, key, action, spec in written_keys(op, body)]
    images = tables.items([(name, key) for name, key, _, _ in writes], auth) if writes else []
    return [(*w, image) for w, image in zip(writes, images)]


def _s(v):
    return next(iter(v.values())) if isinstance(v, dict) else v


def _partition_value(body, attribute):
    """The value a Query's key condition gives the partition key attribute."""
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    expr = body.get("KeyConditionExpression", "")
    for left, right in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expr):
        if names.get(left, left) == attribute:
            return _s(values.get(right, {"S": ""}))
    return ""


def record(tables, function, op, body, response, befores, auth):
    """The record of one successful request (see the module's docs)."""
    reads, writes = [], []
    transactional = op.startswith("Transact")
    if op == "GetItem":
        table = tables.describe(body["TableName"], auth)
        item = response.get("Item")
        reads.append({"index": None, "key": pattern(_s(body["Key"][table["pk"]])),
                      "bytes": item_size(item), "items": 1 if item else 0, "scanned": 1,
                      "consistent": bool(body.get("ConsistentRead")), "transactional": False})
    elif op == "BatchGetItem":
        for name, spec in body.get("RequestItems", {}).items():
            table = tables.describe(name, auth)
            found = {json.dumps(_key_of(i, table), sort_keys=True): i
                     for i in response.get("Responses", {}).get(name, [])}
            for key in spec.get("Keys", []):
                item = found.get(json.dumps(key, sort_keys=True))
                reads.append({"index": None, "key": pattern(_s(key[table["pk"]])),
                              "bytes": item_size(item), "items": 1 if item else 0, "scanned": 1,
                              "consistent": bool(spec.get("ConsistentRead")),
                              "transactional": False})
    elif op in ("Query", "Scan"):
        table = tables.describe(body["TableName"], auth)
        index = body.get("IndexName")
        attribute = table["indexes"][index]["pk"] if index else table["pk"]
        items = response.get("Items", [])
        total = sum(item_size(i) for i in items)
        scanned = response.get("ScannedCount", len(items))
        # Items a filter dropped were read too: charged at the size of those kept.
        if scanned > len(items) and items:
            total = total * scanned // len(items)
        key = "{scan}" if op == "Scan" else pattern(_partition_value(body, attribute))
        reads.append({"index": index, "key": key, "bytes": total, "items": len(items),
                      "scanned": scanned, "consistent": bool(body.get("ConsistentRead")),
                      "transactional": False, "limit": body.get("Limit")})
    elif op == "TransactGetItems":
        for entry in body.get("TransactItems", []):
            spec = entry["Get"]
            table = tables.describe(spec["TableName"], auth)
            reads.append({"index": None, "key": pattern(_s(spec["Key"][table["pk"]])),
                          "bytes": 0, "items": 1, "scanned": 1, "consistent": True,
                          "transactional": True})
    afters = tables.items([(name, key) for name, key, *_ in befores], auth) if befores else []
    for (name, key, action, spec, before), after in zip(befores, afters):
        table = tables.describe(name, auth)
        pk = _s(key[table["pk"]])
        writes.append({
            "index": None, "key": pattern(pk),
            "item": f"{pattern(pk)} {sort_pattern(_s(key.get(table['sk'], {'S': ''})))}",
            "bytes": max(item_size(before), item_size(after)),
            "kind": action.lower(), "transactional": transactional,
            "conditional": bool(spec.get("ConditionExpression"))})
        for index_name, index in sorted(table["indexes"].items()):
            old, new = projected(before, table, index), projected(after, table, index)
            if old is None and new is None:
                continue
            old_key = old and (_s(old[index["pk"]]), _s(old.get(index["sk"])))
            new_key = new and (_s(new[index["pk"]]), _s(new.get(index["sk"])))
            base = {"index": index_name, "transactional": False, "conditional": False}
            if old_key == new_key:
                if old != new:
                    writes.append({**base, "key": pattern(new_key[0]),
                                   "bytes": max(item_size(old), item_size(new)),
                                   "kind": "update"})
                continue
            if old is not None:
                writes.append({**base, "key": pattern(old_key[0]), "bytes": item_size(old),
                               "kind": "delete"})
            if new is not None:
                writes.append({**base, "key": pattern(new_key[0]), "bytes": item_size(new),
                               "kind": "put"})
    return {"function": function, "op": op, "reads": reads, "writes": writes}
