"""The local stand-in for what AWS does around DynamoDB and S3, in front of moto:

- S3 event notifications: after an object is PUT under `tickets/`, the same ObjectCreated
  event that the bucket sends in AWS is delivered to the `confirm-attachment` function
  through `cargo lambda watch`'s invoke API (asynchronously, as S3 does);
- faults for the tests: chosen DynamoDB operations held back or failed, so requests can race
  for real (both read before either writes) and failures can be provoked;
- DynamoDB's atomicity: moto applies concurrent requests to one table without isolation (a
  cancelled transaction restores a copy of the whole table taken when it began, undoing what
  other requests wrote meanwhile; concurrent ADDs can be lost). DynamoDB requests are passed
  to moto one at a time, so each is atomic as in DynamoDB; the functions still race with each
  other between their requests, as they do in AWS.

    python tools/localproxy.py LISTEN_PORT UPSTREAM_URL [FUNCTIONS_URL]

Control (only from this machine): `POST /__faults` with
`{"delayMs": {"TransactWriteItems": 500}, "fail": {"Query": "InternalServerError"}}`; `{}` clears.
A failure is an error type, or `{"error": type, "times": n}` to fail only the next n calls. It is
answered here as DynamoDB would (`InternalServerError` with 500; `TransactionCanceledException`
with a `TransactionConflict` reason; any other type, such as
`ProvisionedThroughputExceededException`, with 400), without reaching moto; the type `drop`
closes the connection without an answer. Everything else is forwarded unchanged.
"""

import contextlib
import datetime
import http.client
import json
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = {"delayMs": {}, "fail": {}}
# Requests seen, per DynamoDB operation or S3 method: `GET /__stats` reads, `DELETE` resets.
STATS = {}
DYNAMODB = threading.Lock()
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
LOCK = threading.Lock()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection",
               "server", "date"}


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

    def _forward(self):
        body = self._body()
        if self.path == "/__faults":
            return self._control(body)
        if self.path == "/__stats":
            return self._stats()
        target = (self.headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
        name = f"dynamodb:{target}" if target else f"s3:{self.command}"
        with LOCK:
            STATS[name] = STATS.get(name, 0) + 1
        with LOCK:
            delay = FAULTS["delayMs"].get(target, 0)
            failure = FAULTS["fail"].get(target)
            if isinstance(failure, dict):
                if failure.get("times", 0) > 0:
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
        if failure:
            return self._fail(failure)
        up = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        dynamodb = (self.headers.get("x-amz-target") or "").startswith("DynamoDB_")
        with DYNAMODB if dynamodb else contextlib.nullcontext():
            conn.request(self.command, self.path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
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
            threading.Thread(target=notify, args=(self.functions, event), daemon=True).start()

    def _fail(self, error_type):
        status = 500 if error_type == "InternalServerError" else 400
        error = {
            "__type": ERROR_PREFIX + error_type,
            "message": "injected fault on table secret-internal-table-name",
        }
        if error_type == "TransactionCanceledException":
            error["message"] = "Transaction cancelled [TransactionConflict]"
            error["CancellationReasons"] = [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
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
    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
