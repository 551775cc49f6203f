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


def test_functions_connect_to_dynamodb_during_init(alice):
    """Each function instance opens its DynamoDB connection (TLS, credentials) before it asks
    for its first event, and says how long that took; none failed to (service::App::connect).
    """
    assert alice.call("GET").status_code == 200
    text, lines = request_lines()
    connected = [l["fields"] for l in lines
                 if l.get("fields", {}).get("message") == "connected during init"]
    assert connected, "functions connect during init"
    assert all(isinstance(f["ms"], (int, float)) and f["ms"] >= 0 for f in connected)
    assert "could not connect during init" not in text


def test_nothing_secret_is_logged_even_at_trace(tmp_path):
    """An operator may set the log level to TRACE, where lambda_runtime logs each raw event
    (the bearer token and the body): those libraries stop at DEBUG whatever the level."""
    import json
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tools"))
    from bench import RuntimeApi, function_env

    marker = f"secret-description-{uuid.uuid4().hex}"
    bearer = f"secret-token-{uuid.uuid4().hex}"
    event = json.loads((root / "events" / "create-ticket.json").read_text())
    event["headers"]["authorization"] = f"Bearer {bearer}"
    event["headers"].pop("idempotency-key", None)
    event["body"] = json.dumps({"title": "t", "description": marker, "priority": "low",
                                "category": "general"})
    api = RuntimeApi()
    env = function_env(api, "create-ticket")
    env.update({"AWS_LAMBDA_LOG_LEVEL": "TRACE", "AWS_ACCESS_KEY_ID": "local-fn-create-ticket",
                "AWS_ENDPOINT_URL": os.environ["FAULT_PROXY_URL"]})
    log = tmp_path / "create-ticket.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(root / "target" / "debug" / "create-ticket")], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            api.events.put(event)
            _, _, answer = api.answer(timeout=60)
        finally:
            proc.kill()
            proc.wait()
            api.close()
    assert answer["statusCode"] == 201, answer
    text = log.read_text(errors="replace")
    levels = {json.loads(l)["level"] for l in text.splitlines() if l.startswith("{")}
    assert {"DEBUG", "TRACE"} <= levels, f"verbose logging was on: {levels}"
    assert marker not in text, "the body is never logged"
    assert bearer not in text, "nor the token"
