"""The local end-to-end latency of `make dev`'s stack: HTTP requests to cargo lambda watch
(debug builds, local tokens), through the local AWS proxy to moto. Run by tools/bench.sh."""

import json
import os
import pathlib
import statistics
import time

import jwt
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
N = int(os.environ.get("E2E_REQUESTS", "300"))
BASE = os.environ["API_URL"].rstrip("/") + "/v2/support-tickets"
SECRET = os.environ.get("LOCAL_JWT_SECRET") or "local-development-secret"


def timed(session, method, url, **kw):
    t = time.perf_counter()
    res = session.request(method, url, timeout=30, **kw)
    assert res.status_code < 300, (res.status_code, res.text[:300])
    return (time.perf_counter() - t) * 1000, res


def summary(ms):
    ms = sorted(ms)
    return {"median_ms": statistics.median(ms), "p99_ms": ms[int(len(ms) * 0.99) - 1], "n": len(ms)}


def main():
    token = jwt.encode({"sub": "bench-e2e", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    _, res = timed(s, "POST", BASE, json={"title": "Benchmark", "description": "make bench",
                                          "priority": "low", "category": "general"})
    tid = res.json()["data"]["_id"]
    results = {}
    for label, method, url, body in [("get-ticket", "GET", f"{BASE}/{tid}", None),
                                     ("list-tickets", "GET", f"{BASE}?limit=10", None),
                                     ("add-thread", "POST", f"{BASE}/{tid}/threads", {"message": "more"})]:
        timed(s, method, url, json=body)
        results[label] = summary([timed(s, method, url, json=body)[0] for _ in range(N)])
    (OUT / "e2e.json").write_text(json.dumps(results, indent=1))
    lines = ["", "Local end to end (`make dev` stack: cargo lambda watch, debug builds, proxy, moto):", "",
             "| request | median ms | p99 ms | n |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['median_ms']:.1f} | {v['p99_ms']:.1f} | {v['n']} |" for k, v in results.items()]
    with open(OUT / "results.md", "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
