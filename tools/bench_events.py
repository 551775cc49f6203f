"""Time from a committed write to the local webhook receiver (docs/events.md), through the
`make dev` stack: the table's stream (polled by the local bridge), publish-events, the bus,
the webhook queues (polled) and deliver-webhooks. Each of N replies is timed from its 201
(the write has committed) to the signed POST's arrival; the writes are spaced so that each
travels alone. Run by tools/bench.sh after tools/bench_e2e.py; results appended to
target/bench/results.md and written to target/bench/events.json."""

import json
import os
import pathlib
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
N = int(os.environ.get("EVENT_WRITES", "200"))
GAP_SECONDS = float(os.environ.get("EVENT_GAP_SECONDS", "0.3"))
API = os.environ["API_URL"].rstrip("/")
SECRET = os.environ.get("LOCAL_JWT_SECRET") or "local-development-secret"

ARRIVED = {}
LOCK = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        at = time.perf_counter()
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if body["type"] == "thread.added":
            with LOCK:
                ARRIVED.setdefault(body["data"]["thread"]["message"], at)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


def tok(sub, groups):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600, "cognito:groups": groups},
                      SECRET, algorithm="HS256")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    admin = {"Authorization": f"Bearer {tok('bench-ops', ['admins'])}"}
    hook = requests.post(f"{API}/v2/webhooks", headers=admin, timeout=30, json={
        "url": f"http://127.0.0.1:{server.server_address[1]}/bench", "events": ["thread.added"]})
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["data"]["_id"]
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {tok('bench-events', ['agents'])}"
    base = f"{API}/v2/support-tickets"
    res = s.post(base, timeout=30, json={"title": "Events benchmark", "description": "warm-up",
                                         "priority": "low", "category": "general"})
    tid = res.json()["data"]["_id"]
    deadline = time.time() + 60
    while "warm-up" not in ARRIVED and time.time() < deadline:  # the chain's cold starts
        time.sleep(0.2)
    committed = {}
    for i in range(N):
        message = f"bench {i}"
        r = s.post(f"{base}/{tid}/threads", json={"message": message}, timeout=30)
        committed[message] = time.perf_counter()
        assert r.status_code == 201, r.text
        time.sleep(GAP_SECONDS)
    deadline = time.time() + 60
    while time.time() < deadline:
        with LOCK:
            if all(m in ARRIVED for m in committed):
                break
        time.sleep(0.2)
    requests.delete(f"{API}/v2/webhooks/{hook_id}", headers=admin, timeout=30)
    ms = sorted((ARRIVED[m] - t) * 1000 for m, t in committed.items() if m in ARRIVED)
    lost = N - len(ms)
    result = {"n": N, "arrived": len(ms), "p50_ms": statistics.median(ms),
              "p95_ms": ms[int(len(ms) * 0.95) - 1], "max_ms": ms[-1]}
    (OUT / "events.json").write_text(json.dumps(result, indent=1))
    lines = ["", "Committed write to webhook receiver (`make dev` stack: stream bridge polling "
             "every 0.25 s, publish-events, moto's bus and queues, queue bridge polling every "
             "0.2 s, deliver-webhooks):", "",
             "| writes | arrived | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|",
             f"| {N} | {len(ms)} | {result['p50_ms']:.0f} | {result['p95_ms']:.0f} | "
             f"{result['max_ms']:.0f} |"]
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.md", "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert lost == 0, f"{lost} events never arrived"


if __name__ == "__main__":
    main()
