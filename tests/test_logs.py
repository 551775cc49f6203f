"""The functions' logs: one JSON line per request with its request id, route, status and
latency; never a token, a message body or a filename."""

import json
import os
import time
import uuid


def request_lines():
    path = os.environ.get("API_LOG")
    assert path, "API_LOG is not set: run through `make test`"
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return text, lines


def test_requests_are_logged_as_json_without_secrets(alice):
    marker = f"secret-message-{uuid.uuid4().hex}"
    filename = f"secret-file-{uuid.uuid4().hex}.txt"
    t = alice.create(description=marker,
                     attachments=[{"filename": filename, "size": 3, "type": "text/plain"}])
    res = alice.reply(t["_id"], marker)
    assert res.status_code == 201
    assert alice.call("GET", f"/{t['_id']}", headers={"Authorization": "Bearer nope"}).status_code == 401
    time.sleep(1)
    text, lines = request_lines()
    assert marker not in text, "message bodies are never logged"
    assert filename not in text, "filenames are never logged"
    assert alice.token not in text and alice.token.split(".")[2] not in text, "nor tokens"
    requests_logged = [l["fields"] for l in lines if l.get("fields", {}).get("message") == "request"]
    assert requests_logged, "JSON request lines"
    for fields in requests_logged:
        assert {"request_id", "route", "method", "path", "status", "latency_ms"} <= set(fields)
    statuses = {(f["method"], f["status"]) for f in requests_logged if t["_id"] in f["path"]}
    assert ("POST", 201) in statuses and ("GET", 401) in statuses
