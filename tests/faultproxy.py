"""A small HTTP proxy between the functions and the emulator that can hold back chosen
DynamoDB operations, so the tests can make requests race for real (both read before either
writes) instead of hoping the scheduler does.

    python tests/faultproxy.py LISTEN_PORT UPSTREAM_URL

Control (only from this machine): `POST /__faults` with
`{"delayMs": {"TransactWriteItems": 500}, "fail": {"Query": "InternalServerError"}}`; `{}` clears.
A failed operation is answered here as DynamoDB would (`InternalServerError` with 500, any other
error type, such as `ProvisionedThroughputExceededException`, with 400), without reaching moto.
Everything else is forwarded unchanged.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = {"delayMs": {}, "fail": {}}
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
LOCK = threading.Lock()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

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

    def _forward(self):
        body = self._body()
        if self.path == "/__faults":
            return self._control(body)
        target = (self.headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
        with LOCK:
            delay = FAULTS["delayMs"].get(target, 0)
            failure = FAULTS["fail"].get(target)
        if delay:
            time.sleep(delay / 1000)
        if failure:
            return self._fail(failure)
        up = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        conn.request(self.command, self.path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def _fail(self, error_type):
        status = 500 if error_type == "InternalServerError" else 400
        data = json.dumps({
            "__type": ERROR_PREFIX + error_type,
            "message": "injected fault on table secret-internal-table-name",
        }).encode()
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2]
    Proxy.upstream = upstream
    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
