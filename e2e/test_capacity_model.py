"""The capacity model (tools/capacity.py) checked by hand: three endpoints' requests as the
proxy recorded them for the design before issue 13, the units and rates worked out below
line by line, and the model must agree. Also: the report in docs/capacity.md is the one
`make capacity` prints for the committed profile and mix."""

import copy
import json
import math
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import capacity  # noqa: E402


def read(key, size, consistent=True, index=None, scanned=1):
    return {"index": index, "key": key, "bytes": size, "items": scanned, "scanned": scanned,
            "consistent": consistent, "transactional": False}


def write(key, size, kind="put", index=None, transactional=False, item=None):
    return {"index": index, "key": key, "bytes": size, "kind": kind,
            "transactional": transactional, "conditional": transactional,
            "item": item or f"{key} TICKET"}


INDEXES = [("byAssignee", "ASSIGNEE#none"), ("byCategory", "CATEGORY#{category}#{month}"),
           ("byClient", "CLIENT#{customer}"), ("byEscalation", "ESCALATE"),
           ("byFirstResponseDue", "AWAITING"), ("byMonth", "ALL#{month}"),
           ("byPriority", "PRIORITY#{priority}#{month}")]

# As recorded before issue 13 (sizes in bytes): a create with an Idempotency-Key, a get, and
# an agent's status change from open to in_progress.
PROFILE = {"endpoints": {
    "create": [{"variant": "customer opens a ticket", "caller": "customer", "requests": [
        {"op": "UpdateItem", "reads": [], "writes": [
            write("QUOTA#{customer}", 65, "update", item="QUOTA#{customer} {minute}")]},
        {"op": "GetItem", "reads": [read("IDEMPOTENCY#{key}", 0)], "writes": []},
        {"op": "TransactWriteItems", "reads": [], "writes": [
            write("TICKET#{ticket}", 1474, transactional=True),
            *[write(key, 1474, index=index) for index, key in INDEXES],
            write("STATUS#open#{month}", 1474, index="byStatus"),
            write("TICKET#{ticket}", 984, transactional=True, item="TICKET#{ticket} THREAD#{time}#{id}"),
            write("COUNTS#CLIENT#{customer}", 46, "update", transactional=True,
                  item="COUNTS#CLIENT#{customer} COUNTS"),
            write("COUNTS#ALL#{shard}", 45, "update", transactional=True,
                  item="COUNTS#ALL#{shard} COUNTS"),
            write("IDEMPOTENCY#{key}", 2632, transactional=True,
                  item="IDEMPOTENCY#{key} IDEMPOTENCY")]}]}],
    "get": [{"variant": "customer reads a ticket", "caller": "customer", "requests": [
        {"op": "GetItem", "reads": [read("TICKET#{ticket}", 1474)], "writes": []},
        {"op": "Query", "reads": [read("TICKET#{ticket}", 984)], "writes": []}]}],
    "status": [{"variant": "agent starts work", "caller": "agent", "requests": [
        {"op": "GetItem", "reads": [read("TICKET#{ticket}", 1474)], "writes": []},
        {"op": "Query", "reads": [read("TICKET#{ticket}", 984)], "writes": []},
        {"op": "UpdateItem", "reads": [], "writes": [
            write("QUOTA#{agent}", 65, "update", item="QUOTA#{agent} {minute}")]},
        {"op": "TransactWriteItems", "reads": [], "writes": [
            write("TICKET#{ticket}", 1488, "update", transactional=True),
            *[write(key, 1488, "update", index=index) for index, key in INDEXES],
            write("STATUS#open#{month}", 1474, "delete", index="byStatus"),
            write("STATUS#in_progress#{month}", 1488, "put", index="byStatus"),
            write("TICKET#{ticket}", 274, transactional=True, item="TICKET#{ticket} THREAD#{time}#{id}"),
            write("COUNTS#CLIENT#{customer}", 59, "update", transactional=True,
                  item="COUNTS#CLIENT#{customer} COUNTS"),
            write("COUNTS#ALL#{shard}", 42, "update", transactional=True,
                  item="COUNTS#ALL#{shard} COUNTS")]}]}],
}}


@pytest.fixture
def mix():
    m = json.loads((ROOT / "capacity" / "mix.json").read_text())
    m["rates"] = {"create": 1000, "get": 5000, "status": 500}
    m["variants"] = {}
    m.pop("stream")  # the consumer is checked below, on its own
    m["shards"] = {"COUNTS#ALL#{shard}": 8}
    m["quota"] = {"customerWritesPerMinute": 60}
    return m


def test_units_per_request_by_hand(mix):
    e = capacity.model(mix, PROFILE)["endpoints"]
    # get: a strongly consistent GetItem of 1,474 bytes (one 4 KB step: 1 RCU) and a strongly
    # consistent Query of 984 bytes (1 RCU).
    assert e["get"]["rcuPerRequest"] == 2 and e["get"]["wcuPerRequest"] == 0
    # create: the quota UpdateItem (65 B: 1 WCU); the idempotency GetItem (nothing found: one
    # step, 1 RCU); in the transaction (doubled): ticket 1,474 B = 2 KB -> 4, thread 984 B ->
    # 2, two counters -> 2 + 2, idempotency record 2,632 B = 3 KB -> 6; index entries (not
    # doubled): eight of 1,474 B -> 8 x 2 = 16. 1 + 4 + 2 + 4 + 6 + 16 = 33 WCU.
    assert e["create"]["rcuPerRequest"] == 1 and e["create"]["wcuPerRequest"] == 33
    # status: reads 1 + 1 RCU; quota 1; ticket 1,488 B -> 2 x 2 = 4; system thread 2;
    # counters 2 + 2; seven index entries rewritten (1,488 B: 2 each) = 14, and the status
    # index: delete in the old partition 2 + put in the new one 2. 1+4+2+4+14+4 = 29 WCU.
    assert e["status"]["rcuPerRequest"] == 2 and e["status"]["wcuPerRequest"] == 29
    # At $0.125 per million RRU and $0.625 per million WRU: get 2 x 0.125 = $0.25 and create
    # 1 x 0.125 + 33 x 0.625 = $20.75 per million.
    assert math.isclose(e["get"]["dynamodbPerMillion"], 0.25)
    assert math.isclose(e["create"]["dynamodbPerMillion"], 20.75)


def test_hot_keys_and_conflicts_by_hand(mix):
    result = capacity.model(mix, PROFILE)
    keys = {(k["index"], k["key"]): k for k in result["keys"]}
    # ALL#<month> takes every create's entry (2 WCU) and every status change's rewrite (2):
    # 1,000 x 2 + 500 x 2 = 3,000 WCU/s, three times a partition's 1,000.
    assert keys[("byMonth", "ALL#{month}")]["wcu"] == 3000
    # STATUS#open: 1,000 puts x 2 and 500 deletes x 2 (every change in the mix leaves open).
    assert keys[("byStatus", "STATUS#open#{month}")]["wcu"] == 3000
    # The global counter shards: 1,500 transactions/s over 8 shards = 187.5/s on each, 2 WCU.
    shard = keys[("table", "COUNTS#ALL#{shard}")]
    assert shard["wcu"] == 187.5 * 2
    # A transaction on a shard meets another within 10 ms with 1 - exp(-187.5 x 0.01).
    c = result["conflicts"]["COUNTS#ALL#{shard} COUNTS"]
    assert math.isclose(c["probability"], 1 - math.exp(-1.875))
    # The first key to saturate: ALL#<month> or STATUS#open at 3x, so 1,000 / 3 creates/s.
    assert math.isclose(result["saturation"]["creates"], 1000 / 3)
    # The busiest of 10,000 customers (Zipf s=1) makes 1 / H(10,000) = 10.2 % of their
    # 1,000 creates/s: 102/s, of which a quota of 60 a minute admits 1/s.
    busy = result["busiestCustomer"]
    assert math.isclose(busy["share"], 1 / sum(1 / k for k in range(1, 10001)))
    assert math.isclose(busy["admitted"], 1 / (1000 * busy["share"]))
    client = keys[("byClient", "CLIENT#{customer}")]
    assert math.isclose(client["wcu"], 2 * 1.0 + 2 * 500 * busy["share"]), \
        "their admitted creates (1/s) and agents' changes to their tickets"


def test_a_mix_can_be_changed_from_the_command_line(mix):
    changed = capacity.apply_sets(mix, ["rates.create=2000", 'shards={"COUNTS#ALL#{shard}": 16}'])
    assert changed["rates"]["create"] == 2000 and mix["rates"]["create"] == 1000
    keys = {(k["index"], k["key"]): k for k in capacity.model(changed, PROFILE)["keys"]}
    assert keys[("table", "COUNTS#ALL#{shard}")]["wcu"] == 2500 / 16 * 2


def test_docs_carry_the_current_report():
    mix = capacity.load(ROOT / "capacity" / "mix.json")
    profile = capacity.load(ROOT / "capacity" / "profile.json")
    current = capacity.report(mix, capacity.model(mix, profile))
    docs = (ROOT / "docs" / "capacity.md").read_text()
    start, end = "<!-- make capacity: start -->\n", "<!-- make capacity: end -->"
    assert start in docs and end in docs
    assert docs.split(start, 1)[1].split(end, 1)[0].strip() == current.strip(), \
        "docs/capacity.md is not what `make capacity` reports now: paste its output there"


def test_a_missing_shard_count_is_refused(mix):
    m = copy.deepcopy(mix)
    m["shards"] = {}
    with pytest.raises(SystemExit, match="shard count"):
        capacity.model(m, PROFILE)


def test_the_mix_shards_keys_as_the_code_does():
    import re
    mix = capacity.load(ROOT / "capacity" / "mix.json")
    keys = (ROOT / "shared" / "src" / "store" / "keys.rs").read_text()
    config = (ROOT / "shared" / "src" / "config.rs").read_text()
    index = int(re.search(r"pub const INDEX_SHARDS: usize = (\d+);", keys).group(1))
    counters = int(re.search(r"pub const COUNTER_SHARDS_DEFAULT: u32 = (\d+);", config).group(1))
    assert mix["shards"]["*"] == index
    assert mix["shards"]["COUNTS#ALL#{shard}"] == counters


def test_the_stream_consumer_by_hand(mix):
    counter = lambda key: write(key, 60, "update", transactional=True, item=f"{key} COUNTS")
    # Today's create: no counter in its transaction.
    create = copy.deepcopy(PROFILE["endpoints"]["create"])
    for r in create[0]["requests"]:
        r["writes"] = [w for w in r["writes"] if not w["key"].startswith("COUNTS#")]
    profile = {"endpoints": {
        "create": create,
        "count": [{"variant": "a delivery", "caller": "system", "changes": 90, "requests": [
            {"op": "GetItem", "reads": [read("STREAMBATCH#{key}", 0)], "writes": []},
            {"op": "TransactWriteItems", "reads": [], "writes": [
                write("STREAMBATCH#{key}", 150, transactional=True,
                      item="STREAMBATCH#{key} COUNTS"),
                counter("COUNTS#ALL#{shard}"),
                *[counter("COUNTS#CLIENT#{customer}") for _ in range(90)]]}]}],
    }}
    mix["rates"] = {"create": 900}
    mix["stream"] = {"endpoint": "count", "from": ["create"]}
    result = capacity.model(mix, profile)
    count = result["endpoints"]["count"]
    # 900 new tickets a second, 90 a delivery: 10 deliveries a second, each a marker read
    # (1 RCU) and a transaction of the marker, a global shard and 90 customers' counters,
    # each under 1 KB and doubled: (1 + 1 + 90) x 2 = 184 WCU.
    assert count["rate"] == 10 and count["wcuPerRequest"] == 184
    keys = {(k["index"], k["key"]): k for k in result["keys"]}
    # The busiest customer (10.2 %) is in a delivery of 90 with 1 - 0.898^90 (all but
    # certainly): about 10 writes a second on their counter, 2 WCU each.
    share = 1 / sum(1 / k for k in range(1, 10001))
    busiest = 10 * (1 - (1 - share) ** 90)
    assert math.isclose(keys[("table", "COUNTS#CLIENT#{customer}")]["wcu"], 2 * busiest)
    assert math.isclose(result["conflicts"]["COUNTS#CLIENT#{customer} COUNTS"]["rate"],
                        busiest)
    # A global shard takes 10 / 8 deliveries a second: a delivery meets another on it with
    # 1 - exp(-1.25 x 0.01); retried by the consumer, not a client request's failure.
    shard = result["conflicts"]["COUNTS#ALL#{shard} COUNTS"]
    assert math.isclose(shard["probability"], 1 - math.exp(-1.25 * 0.01))
    assert result["backgroundConflict"]["count"] > 0
    assert result["peakConflict"] == result["endpoints"]["create"]["conflict"] == 0, \
        "a create's transaction shares no item with another request"


def test_the_default_mix_meets_the_targets(capsys):
    """Issue 13's bar: every key at or under half its limits, and a client request's
    transaction cancelled at most 0.1 % of the time, for the committed profile and mix."""
    assert capacity.main(["--check"]) == 0, capsys.readouterr().err
