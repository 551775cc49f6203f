"""The local stand-in for what AWS does around DynamoDB and S3, in front of moto:

- S3 event notifications: after an object is PUT under `tickets/`, the same ObjectCreated
  event that the bucket sends in AWS is delivered to the `confirm-attachment` function
  through `cargo lambda watch`'s invoke API (asynchronously, as S3 does);
- the table's stream: tools/localstream.py polls moto's DynamoDB Streams and delivers the
  records to `count-tickets` and `publish-events` as the template's event source mappings do;
- events and webhooks: tools/localqueues.py makes the template's queues, bus, archive and
  rules in moto, and hands queue messages to `deliver-webhooks` as Lambda's SQS event
  sources do;
- faults for the tests: chosen DynamoDB operations held back or failed, so requests can race
  for real (both read before either writes) and failures can be provoked;
- DynamoDB's idempotent transactions: a TransactWriteItems repeated with the ClientRequestToken
  of one that succeeded (the SDK's own retry of a write whose answer was lost) is answered
  with that success and changes nothing, as DynamoDB does for ten minutes; moto ignores the
  token and would apply it again (its conditions then fail on its own first write);
- DynamoDB's atomicity: moto applies concurrent requests to one table without isolation (a
  cancelled transaction restores a copy of the whole table taken when it began, undoing what
  other requests wrote meanwhile; concurrent ADDs can be lost). DynamoDB requests are passed
  to moto one at a time, so each is atomic as in DynamoDB; the functions still race with each
  other between their requests, as they do in AWS.

    python tools/localproxy.py LISTEN_PORT UPSTREAM_URL [FUNCTIONS_URL]

Control (only from this machine): `POST /__faults` with
`{"delayMs": {"TransactWriteItems": 500}, "fail": {"Query": "InternalServerError"}}`; `{}` clears.
A failure is an error type, or `{"error": type, "times": n, "reason": code, "function": name}`
to fail only the next n calls (all without `times`), of that function only (without
`function`: any but the event consumers, which run in the background), after passing the first `"after": m` of them (a failure part-way through); `GET /__faults` shows what is left. It is answered here as DynamoDB would (`InternalServerError`
with 500; `TransactionCanceledException` with the cancellation reason `reason`, by default
`TransactionConflict`; any other type, such as
`ProvisionedThroughputExceededException`, with 400), without reaching moto; the type `drop`
closes the connection without an answer, and `land-then-drop` passes the request to moto and
then closes the connection without its answer (a write that landed, its answer lost).

- IAM (tools/localiam.py): a request signed with a function's own key is checked against that
  function's role in template.yaml and refused as AWS refuses it (DynamoDB's
  AccessDeniedException, S3's 403); S3 answers a read of a missing key with 403 instead of 404
  unless the caller may list the bucket, as S3 does; an unsigned S3 request other than a CORS
  preflight is refused. `GET /__iam` returns what each function used and was refused;
  `POST /__iam` with `{"template": PATH}` checks against another template until `{}` restores
  template.yaml (refusals meanwhile are kept apart, under `deniedUnderTest`).

- The capacity trace (tools/localtrace.py): every DynamoDB request a function makes, with the
  partitions, item sizes and index entries it reads and writes; `GET /__trace?since=N` reads it
  (`next` is where the following read starts), `DELETE /__trace` forgets it.

- DynamoDB's TTL (tools/localstream.py): expired items are deleted every minute, as TTL
  does some time after expiry; `POST /__ttl` deletes them now.

Everything else is forwarded unchanged.
"""

import contextlib
import datetime
import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import localiam
import localqueues
import localstream
import localtrace

FAULTS = {"delayMs": {}, "fail": {}}
# The functions that consume events in the background (the template's stream and queue
# sources): faults reach them only when they name them.
CONSUMERS = set()
# Requests seen, per DynamoDB operation or S3 method: `GET /__stats` reads, `DELETE` resets.
STATS = {}
DYNAMODB = threading.Lock()
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
LOCK = threading.Lock()
# The roles requests are checked against, and per function what it used and was refused.
IAM = {"roles": None, "default": None, "usage": {}}
# TransactWriteItems that succeeded, by ClientRequestToken: DynamoDB makes a repeat within ten
# minutes idempotent (moto ignores the token).
TOKENS = {}
TOKEN_SECONDS = 600
# What each DynamoDB request of a function cost (tools/localtrace.py), in order: `GET /__trace?since=N`
# reads the records from the N-th on, `DELETE` forgets them. The capacity model's input.
TRACE = {"records": [], "first": 0, "tables": None}
TRACE_KEPT = 20000
TRACED = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "TransactWriteItems",
          "PutItem", "UpdateItem", "DeleteItem"}
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection",
               "server", "date"}


def client_request_token(target, body):
    """The idempotency token of a TransactWriteItems request, if it has one."""
    if target != "TransactWriteItems":
        return None
    try:
        return json.loads(body or b"{}").get("ClientRequestToken")
    except ValueError:
        return None


def s3_event(bucket, key, size, etag):
    """An ObjectCreated:Put notification, shaped as S3 sends it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "confirm-attachment",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}",
                       "ownerIdentity": {"principalId": "local"}},
            "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": size,
                       "eTag": etag.strip('"'), "sequencer": f"{time.time_ns():X}"},
        },
    }]}


# S3 hands notifications to Lambda's asynchronous queue, which runs them as the function's
# concurrency allows; a burst of uploads (hundreds of seeded files) must not become as many
# simultaneous invocations, which `cargo lambda watch` has been seen to stall under (every
# function's requests waited then). So they go through a queue and a few deliverers.
NOTIFICATIONS = queue.Queue()
NOTIFIERS = 4
_notifiers = []


def notify_later(functions_url, event):
    with LOCK:
        while len(_notifiers) < NOTIFIERS:
            t = threading.Thread(target=_deliver_notifications, daemon=True)
            t.start()
            _notifiers.append(t)
    NOTIFICATIONS.put((functions_url, event))


def _deliver_notifications():
    while True:
        functions_url, event = NOTIFICATIONS.get()
        notify(functions_url, event)


def notify(functions_url, event):
    url = f"{functions_url}/2015-03-31/functions/confirm-attachment/invocations"
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    for attempt in range(5):
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                res.read()
                return
        except OSError as e:  # S3 retries failed deliveries too
            print(f"notify attempt {attempt + 1} failed: {e}", file=sys.stderr, flush=True)
            time.sleep(0.5 * (attempt + 1))


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None
    functions = None
    sweeper = None

    def _created_object(self, status, headers):
        """(bucket, key) of a successful single PUT of an object under tickets/, path-style."""
        url = urllib.parse.urlsplit(self.path)
        if self.command != "PUT" or status != 200 or "x-amz-target" in self.headers:
            return None
        query = urllib.parse.parse_qs(url.query)
        if {"uploadId", "partNumber", "tagging", "cors", "acl"} & set(query):
            return None
        parts = urllib.parse.unquote(url.path).lstrip("/").split("/", 1)
        if len(parts) != 2 or not parts[1].startswith("tickets/"):
            return None
        return parts[0], parts[1]

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _control(self, body):
        global FAULTS
        if self.command == "GET":
            with LOCK:
                data = json.dumps(FAULTS).encode()
            return self._answer(200, "application/json", data)
        with LOCK:
            FAULTS = json.loads(body or b"{}")
            FAULTS.setdefault("delayMs", {})
            FAULTS.setdefault("fail", {})
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def _stats(self):
        with LOCK:
            data = json.dumps(STATS).encode()
            if self.command == "DELETE":
                STATS.clear()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _ttl(self):
        """Runs DynamoDB's TTL now (tools/localstream.py): how many expired items went."""
        sweeper = getattr(Proxy, "sweeper", None)
        data = json.dumps({"deleted": sweeper.sweep() if sweeper else 0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _trace(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        since = int(query.get("since", ["0"])[0])
        with LOCK:
            if self.command == "DELETE":
                TRACE["first"] += len(TRACE["records"])
                TRACE["records"] = []
            start = max(since - TRACE["first"], 0)
            data = json.dumps({"next": TRACE["first"] + len(TRACE["records"]),
                               "records": TRACE["records"][start:]}).encode()
        return self._answer(200, "application/json", data)

    def _traced(self, target, body):
        """The function that signed a DynamoDB request the trace records, and the body."""
        if target not in TRACED or TRACE["tables"] is None:
            return None, None
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        function = localiam.identity(self.headers, query)
        if function is None:
            return None, None
        try:
            return function, json.loads(body or b"{}")
        except ValueError:
            return None, None

    def _iam_control(self, body):
        if self.command == "POST":
            path = json.loads(body or b"{}").get("template")
            roles = IAM["default"] if path is None else localiam.Roles(
                path, IAM["default"].table, IAM["default"].local_bucket)
            with LOCK:
                IAM["roles"] = roles
            return self._answer(204, "application/json", b"")
        with LOCK:
            data = json.dumps({"template": IAM["roles"].template, "usage": {
                f: {k: sorted(v) if isinstance(v, set) else v for k, v in u.items()}
                for f, u in IAM["usage"].items()}}).encode()
        return self._answer(200, "application/json", data)

    def _answer(self, status, content_type, data):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authorize(self, service, target, body, url, query):
        """(refusal, on_missing): the refusal to answer with, or None when the request may go
        on; and what a 404 from S3 means for this caller: "hide" (answer 403), a callback that
        records the use of ListBucket, or None."""
        s3 = not target
        if s3 and self.command == "OPTIONS":
            return None, None  # a CORS preflight: answered by the bucket's CORS rules alone
        function = localiam.identity(self.headers, query)
        if function is None:
            if s3 and not localiam.signed(self.headers, query):
                return localiam.denied_s3(), None
            return None, None
        if s3:
            actions = localiam.s3_actions(self.command, url.path, query, self.headers, body)
        elif service == "cognito-idp":
            actions = localiam.cognito_actions(target, body)
        elif service == "sqs":
            actions = localiam.sqs_actions(target, body)
        elif service == "events":
            actions = localiam.events_actions(target, body)
        else:
            actions = localiam.dynamodb_actions(target, body)
        with LOCK:
            roles = IAM["roles"]
            under_test = roles is not IAM["default"]
            usage = IAM["usage"].setdefault(function, {"used": set(), "denied": [],
                                                       "deniedUnderTest": []})
            for action, resource in actions:
                if not roles.allows(function, action, resource):
                    usage["deniedUnderTest" if under_test else "denied"].append(
                        f"{action} on {resource}")
                    print(f"IAM: {function} may not {action} on {resource}", file=sys.stderr,
                          flush=True)
                    refusal = (localiam.denied_s3() if s3
                               else localiam.denied_json(function, action, resource))
                    return refusal, None
                usage["used"].add(action)
            if not (s3 and self.command in ("GET", "HEAD")):
                return None, None
            bucket = f"arn:aws:s3:::{url.path.lstrip('/').split('/', 1)[0]}"
            may_list = roles.allows(function, "s3:ListBucket", bucket)
        # On a 404: S3 tells a missing key only to whoever may list the bucket (then that
        # grant was used); to anyone else it answers 403.
        return None, (lambda: usage["used"].add("s3:ListBucket")) if may_list else "hide"

    def _forward(self):
        body = self._body()
        if self.path == "/__faults":
            return self._control(body)
        if self.path == "/__stats":
            return self._stats()
        if self.path == "/__iam":
            return self._iam_control(body)
        if self.path.split("?")[0] == "/__trace":
            return self._trace()
        if self.path == "/__ttl" and self.command == "POST":
            return self._ttl()
        target = (self.headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
        service = localiam.json_service(self.headers.get("x-amz-target") or "")
        name = f"{service or 'dynamodb'}:{target}" if target else f"s3:{self.command}"
        caller = localiam.identity(self.headers, urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.path).query))
        with LOCK:
            # What the tests count is what their own requests cost: the event consumers'
            # background work is left out.
            if caller not in CONSUMERS:
                STATS[name] = STATS.get(name, 0) + 1
        with LOCK:
            delay = FAULTS["delayMs"].get(target, 0)
            failure = FAULTS["fail"].get(target)
            reason = "TransactionConflict"
            named = failure.get("function") if isinstance(failure, dict) else None
            if named not in (None, caller):
                failure = None  # meant for another function's requests
            elif named is None and caller in CONSUMERS:
                # A fault that names no function is meant for the request a test makes: the
                # event consumers (stream, queues), which run whenever anything changes, only
                # meet the faults that name them.
                failure = None
            if isinstance(failure, dict) and failure.get("after", 0) > 0:
                failure["after"] -= 1  # this call passes; a later one fails
                failure = None
            if isinstance(failure, dict):
                reason = failure.get("reason", reason)
                if failure.get("times", 1) > 0:
                    if "times" in failure:
                        failure["times"] -= 1
                    failure = failure["error"]
                else:
                    failure = None
        if delay:
            time.sleep(delay / 1000)
        if failure == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if failure and failure != "land-then-drop":
            return self._fail(failure, reason)
        url = urllib.parse.urlsplit(self.path)
        refusal, on_missing = (None, None) if url.path.startswith("/moto-api") else \
            self._authorize(service, target, body, url,
                            urllib.parse.parse_qs(url.query, keep_blank_values=True))
        if refusal:
            return self._answer(*refusal)
        up = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        dynamodb = (self.headers.get("x-amz-target") or "").startswith("DynamoDB_")
        token = client_request_token(target, body)
        with DYNAMODB if dynamodb else contextlib.nullcontext():
            seen = TOKENS.get(token) if token else None
            if seen and seen["body"] == body and time.time() - seen["at"] < TOKEN_SECONDS:
                # DynamoDB answers a repeat of a transaction that succeeded with the same
                # success and changes nothing (the SDK sends one token for all its attempts).
                conn.close()
                return self._answer(seen["status"], seen["type"], seen["data"])
            if seen and time.time() - seen["at"] < TOKEN_SECONDS:
                conn.close()
                return self._fail("IdempotentParameterMismatchException")
            traced, parsed = self._traced(target, body) if dynamodb else (None, None)
            auth = self.headers.get("authorization") or ""
            befores = traced and localtrace.before_images(TRACE["tables"], target, parsed, auth)
            conn.request(self.command, self.path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
            if traced and res.status == 200:
                entry = localtrace.record(TRACE["tables"], traced, target, parsed,
                                          json.loads(data or b"{}"), befores, auth)
                with LOCK:
                    TRACE["records"].append(entry)
                    if len(TRACE["records"]) > TRACE_KEPT:
                        TRACE["records"].pop(0)
                        TRACE["first"] += 1
            if token and res.status == 200:
                TOKENS[token] = {"at": time.time(), "body": body, "status": res.status,
                                 "type": res.getheader("content-type"), "data": data}
        if failure == "land-then-drop":
            # The request took effect, but its answer is lost (a client timeout): the client
            # sends it again.
            conn.close()
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if on_missing == "hide" and res.status == 404:
            conn.close()
            return self._answer(*localiam.denied_s3())
        if callable(on_missing) and res.status == 404:
            with LOCK:
                on_missing()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                self.send_header(k, v)
        # A HEAD answer has no body but tells the object's length: pass that on unchanged.
        length = res.getheader("content-length") if self.command == "HEAD" else None
        self.send_header("content-length", length or str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()
        created = self._created_object(res.status, res.getheaders())
        if created and self.functions:
            size = int(self.headers.get("content-length") or 0)
            event = s3_event(created[0], created[1], size, res.getheader("etag") or "")
            notify_later(self.functions, event)

    def _fail(self, error_type, reason="TransactionConflict"):
        status = 500 if error_type == "InternalServerError" else 400
        error = {
            "__type": ERROR_PREFIX + error_type,
            "message": "injected fault on table secret-internal-table-name",
        }
        if error_type == "TransactionCanceledException":
            error["message"] = f"Transaction cancelled [{reason}]"
            error["CancellationReasons"] = [{"Code": reason, "Message": "injected"}]
        data = json.dumps(error).encode()
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2]
    Proxy.upstream = upstream
    Proxy.functions = sys.argv[3] if len(sys.argv) > 3 else None
    TRACE["tables"] = localtrace.Tables(upstream)
    template_path = localiam.ROOT / "template.yaml"
    CONSUMERS.update(m[0] for m in localstream.mappings(template_path))
    CONSUMERS.update(m[0] for m in localqueues.mappings(localiam.load_template(template_path)))
    if Proxy.functions:
        _, Proxy.sweeper = localstream.start(upstream, Proxy.functions,
                                             os.environ.get("TABLE_NAME"),
                                             localiam.ROOT / "template.yaml", DYNAMODB)
        localqueues.start(upstream, Proxy.functions, localiam.ROOT / "template.yaml")
    template = localiam.ROOT / "template.yaml"
    IAM["roles"] = IAM["default"] = localiam.Roles(
        template, os.environ["TABLE_NAME"], os.environ.get("BUCKET_NAME", ""))
    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
