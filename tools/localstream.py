"""The table's stream for the local stack: what Lambda's event source mappings do in AWS for
the stream's consumers (template.yaml's DynamoDB events: `count-tickets`, `publish-events`),
each reading the stream on its own, done against moto's DynamoDB Streams and `cargo lambda
watch`'s invoke API.

Every shard of the table's latest stream is read from its start (TRIM_HORIZON); records that
match the event's `FilterCriteria` (read from template.yaml) are delivered in batches of at
most its `BatchSize`, gathered for up to its `MaximumBatchingWindowInSeconds`, in order, one batch per shard at a time (ParallelizationFactor 1). A
batch answered with `batchItemFailures` is delivered again from the first failed sequence
number, and one that fails as a whole (an error, no answer) again from its start, after a
pause, as the mapping retries. Started by tools/localproxy.py beside its S3 notifications.

DynamoDB's TTL, which moto does not run: `TtlSweeper` deletes the items whose `expiresAt`
(the table's TTL attribute) has passed (tools/moto_server.py tells which, reading the table in
place), each under the condition that it still has, as the TTL process does some time after expiry (here every SWEEP_SECONDS, or at once on `POST /__ttl` to
the proxy); the stream's records of those deletions carry the `userIdentity` that AWS gives
TTL deletions (`Service` / `dynamodb.amazonaws.com`), which event filters can match.
"""

import json
import sys
import threading
import time
import urllib.request

POLL_SECONDS = 0.25
RETRY_SECONDS = 1.0
READ_LIMIT = 100
SWEEP_SECONDS = 60
TTL_ATTRIBUTE = "expiresAt"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
# (PK, SK, expiresAt) of the items the sweeper deleted, with when: their stream records are
# TTL's. Forgotten after FORGET_SECONDS.
SWEPT = {}
SWEPT_LOCK = threading.Lock()
FORGET_SECONDS = 600


def _swept_key(item):
    return tuple(json.dumps(item.get(k), sort_keys=True) for k in ("PK", "SK", TTL_ATTRIBUTE))


def ttl_identity(record):
    """The record as the stream shows it: with TTL's userIdentity if the sweeper deleted it."""
    if record.get("eventName") != "REMOVE":
        return record
    with SWEPT_LOCK:
        swept = _swept_key(record["dynamodb"].get("OldImage", {})) in SWEPT
    return {**record, "userIdentity": TTL_IDENTITY} if swept else record


class TtlSweeper:
    def __init__(self, upstream, table, serial):
        self.upstream, self.table = upstream, table
        self.lock = threading.Lock()
        # The proxy's lock that passes DynamoDB requests to moto one at a time: a deletion
        # is atomic only if moto is not also applying another request.
        self.serial = serial

    def sweep(self):
        """Deletes what has expired; how many items went."""
        with self.lock:
            now = int(time.time())
            deleted = 0
            url = f"{self.upstream}/__ttl/expired?table={self.table}&now={now}"
            with urllib.request.urlopen(url, timeout=60) as res:
                expired = json.loads(res.read())
            for item in expired:
                with SWEPT_LOCK:
                    SWEPT[_swept_key(item)] = time.time()
                try:
                    with self.serial:
                        _call(self.upstream, "DynamoDB_20120810.DeleteItem", {
                            "TableName": self.table,
                            "Key": {"PK": item["PK"], "SK": item["SK"]},
                            "ConditionExpression": "#ttl < :now",
                            "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                            "ExpressionAttributeValues": {":now": {"N": str(now)}}})
                    deleted += 1
                except OSError:
                    pass  # no longer expired (a restore removed its expiry meanwhile)
            with SWEPT_LOCK:
                for key, at in list(SWEPT.items()):
                    if time.time() - at > FORGET_SECONDS:
                        del SWEPT[key]
            if deleted:
                print(f"ttl: {deleted} expired items deleted", file=sys.stderr, flush=True)
            return deleted

    def run(self):
        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                self.sweep()
            except Exception as e:  # the table may not exist yet
                print(f"ttl: {e}", file=sys.stderr, flush=True)


def _call(upstream, target, body):
    req = urllib.request.Request(
        upstream + "/", data=json.dumps(body).encode(), method="POST",
        headers={"x-amz-target": target, "content-type": "application/x-amz-json-1.0",
                 # moto tells services apart by the credential scope; nothing checks the rest.
                 "authorization": "AWS4-HMAC-SHA256 Credential=local-stream-bridge/20260101/"
                                  "us-east-1/dynamodb/aws4_request, SignedHeaders=host, "
                                  "Signature=local"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"{}")


def invoke(functions, function, event, source, timeout=60):
    """Invokes a function through `cargo lambda watch`'s invoke API as an event source does:
    its answer, or None when the invocation failed (no answer, or the function's error)."""
    url = f"{functions}/2015-03-31/functions/{function}/invocations"
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            answer = json.loads(res.read() or b"{}")
    except (OSError, ValueError) as e:
        print(f"{source}: {function} failed: {e}", file=sys.stderr, flush=True)
        return None
    if not isinstance(answer, dict) or "errorType" in answer:
        print(f"{source}: {function} failed: {answer}", file=sys.stderr, flush=True)
        return None
    return answer


def matches(pattern, value):
    """EventBridge-style content filtering, for the subset a template uses here: nested
    objects whose leaves are lists of exact values or `{"prefix": …}`."""
    if isinstance(pattern, list):
        return any(value == p or (isinstance(p, dict) and isinstance(value, str)
                                  and "prefix" in p and value.startswith(p["prefix"]))
                   for p in pattern)
    if not isinstance(value, dict):
        return False
    return all(k in value and matches(p, value[k]) for k, p in pattern.items())


def mappings(template_path):
    """(function, batch size, batching window, filter patterns) of each of the template's
    DynamoDB stream events."""
    import localiam  # the template as SAM reads it (its YAML tags)
    template = localiam.load_template(template_path)
    out = []
    for res in template["Resources"].values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                props = event["Properties"]
                patterns = [json.loads(f["Pattern"])
                            for f in props.get("FilterCriteria", {}).get("Filters", [])]
                binary = res["Metadata"]["BuildProperties"]["Binary"]
                window = props.get("MaximumBatchingWindowInSeconds", 0)
                out.append((binary, props.get("BatchSize", 100), window, patterns))
    return out


class Bridge:
    def __init__(self, upstream, functions, table, function, batch_size, window, patterns):
        self.upstream, self.functions, self.table = upstream, functions, table
        self.function, self.batch_size, self.patterns = function, batch_size, patterns
        self.window = window
        # Per shard, where the next read starts: ("AFTER_SEQUENCE_NUMBER", the last record
        # delivered), ("AT_SEQUENCE_NUMBER", a record to deliver again), or none yet (the
        # start). A fresh iterator is asked for on every poll: moto replaces a table's stream
        # shard object when it undoes a cancelled transaction, and an old iterator would read
        # the replaced one for ever.
        self.position = {}
        self.stream = None

    def deliver(self, records):
        """Invokes the function with a batch; the sequence number to deliver again from, if
        any."""
        event = {"Records": [{**r, "eventSourceARN": self.stream} for r in records]}
        answer = invoke(self.functions, self.function, event, "stream")
        if answer is None:
            return records[0]["dynamodb"]["SequenceNumber"]
        failures = answer.get("batchItemFailures") or []
        return failures[0].get("itemIdentifier") if failures else None

    def shard_iterator(self, shard):
        body = {"StreamArn": self.stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
        if shard in self.position:
            kind, sequence = self.position[shard]
            body.update(ShardIteratorType=kind, SequenceNumber=sequence)
        return _call(self.upstream, "DynamoDBStreams_20120810.GetShardIterator",
                     body)["ShardIterator"]

    def poll(self):
        table = _call(self.upstream, "DynamoDB_20120810.DescribeTable",
                      {"TableName": self.table})["Table"]
        stream = table.get("LatestStreamArn")
        if not stream:
            return
        if stream != self.stream:
            self.stream, self.position = stream, {}
        shards = _call(self.upstream, "DynamoDBStreams_20120810.DescribeStream",
                       {"StreamArn": stream})["StreamDescription"]["Shards"]
        for shard in shards:
            sid = shard["ShardId"]
            # Lambda's poller reads the shard in pages (of up to 1,000 records) and filters them
            # before it batches: a consumer whose filter matches few records (purge-tickets,
            # BatchSize 10) is not held back by reading the others `BatchSize` at a time.
            # Pages of 100 here: moto serialises whole pages (images of 60 KB threads), and
            # 1,000-record pages for every consumer four times a second overloaded it.
            out = _call(self.upstream, "DynamoDBStreams_20120810.GetRecords",
                        {"ShardIterator": self.shard_iterator(sid), "Limit": READ_LIMIT})
            read = [ttl_identity(r) for r in out.get("Records", [])]
            records = [r for r in read
                       if not self.patterns or any(matches(p, r) for p in self.patterns)]
            if records:
                # A batch waits for more up to the batching window, unless it is full.
                oldest = records[0]["dynamodb"].get("ApproximateCreationDateTime", 0)
                if len(records) < self.batch_size and time.time() - oldest < self.window:
                    continue
                again = None
                for i in range(0, len(records), self.batch_size):
                    again = self.deliver(records[i:i + self.batch_size])
                    if again:
                        break
                if again:
                    # Delivered again from the failed record on the next poll, after a pause.
                    self.position[sid] = ("AT_SEQUENCE_NUMBER", again)
                    time.sleep(RETRY_SECONDS)
                    continue
            if read:
                self.position[sid] = ("AFTER_SEQUENCE_NUMBER",
                                      read[-1]["dynamodb"]["SequenceNumber"])

    def run(self):
        while True:
            try:
                self.poll()
            except Exception as e:  # the table may not exist yet; moto may be restarting
                print(f"stream: {e}", file=sys.stderr, flush=True)
                time.sleep(RETRY_SECONDS)
            time.sleep(POLL_SECONDS)


def start(upstream, functions, table, template_path, serial):
    """The stream's bridges and the TTL sweeper (None without a table)."""
    if not table:
        return [], None
    bridges = [Bridge(upstream, functions, table, *found) for found in mappings(template_path)]
    for bridge in bridges:
        threading.Thread(target=bridge.run, daemon=True).start()
    sweeper = TtlSweeper(upstream, table, serial)
    threading.Thread(target=sweeper.run, daemon=True).start()
    return bridges, sweeper
