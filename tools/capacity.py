"""The capacity model: what a traffic mix does to the table's partitions, built from the requests
the functions really send (capacity/profile.json, recorded by e2e/test_capacity.py through the
local proxy's trace). No AWS, no emulator: arithmetic on the recorded requests.

    python3 tools/capacity.py [--mix capacity/mix.json] [--profile capacity/profile.json]
                              [--set rates.create=2000 ...] [--json] [--check]

For every partition key pattern of the table and of each index it reports the write and read
units a second that the hottest key of that pattern takes at the mix, against DynamoDB's
per-partition limits; for every item that several requests write, the probability that a
transaction on it is cancelled by another; the rate at which the first key saturates; and each
endpoint's cost per million requests. `--check` exits 1 unless every key is within the mix's
target share of its limits and every conflict probability within its target.

How a recorded access becomes load (DynamoDB's documented accounting):
- a read: its bytes rounded up to 4 KB, one unit each when strongly consistent, half otherwise
  (index reads are always eventually consistent); at least one 4 KB step per request;
- a table write: its larger image rounded up to 1 KB, twice that inside a transaction;
- an index write: the index entry rounded up to 1 KB (a changed index key: a delete in the old
  partition and a put in the new one), not doubled by the transaction that caused it;
- a key pattern's hottest key takes the share the mix gives it: `{customer}` the busiest
  customer's (Zipf), `{agent}` one agent's, `{shard}` one shard's, `{priority}` and
  `{category}` the commonest value's, `{month}` and fixed keys all of it; `{ticket}` and
  `{key}` are per ticket or per request: their hottest key is one ticket at the mix's
  `hotTicket` rates. The busiest customer's writes past their quota (`quota`) are refused
  after taking from it: on their keys only the quota item sees those.
- conflicts: a transaction is cancelled when another request writes one of its items while it
  is in flight (`transactionWindowMs`); with writes to an item arriving at rate r (Poisson),
  that happens with probability 1 - exp(-r w), and for a request writing several items,
  1 - exp(-w * sum of their rates).
"""

import argparse
import copy
import json
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")


# ------------------------------------------------------------------ units

def read_units(access):
    steps = max(1, math.ceil(access["bytes"] / 4096))
    units = steps * (1.0 if access["consistent"] else 0.5)
    return units * (2 if access["transactional"] else 1)


def write_units(access):
    units = max(1, math.ceil(access["bytes"] / 1024))
    return units * (2 if access["transactional"] else 1)


# ------------------------------------------------------------------ the mix

def zipf_top_share(n, s):
    """The share of all activity that the busiest of n customers has (Zipf, exponent s)."""
    return 1.0 / sum(1.0 / k**s for k in range(1, n + 1))


def shares(mix):
    """The share of a pattern's traffic its hottest key takes, per placeholder."""
    return {
        "customer": zipf_top_share(mix["customers"], mix["zipf"]),
        "agent": 1.0 / mix["agents"],
        "priority": max(mix["priorities"].values()),
        "category": max(mix["categories"].values()),
        "month": 1.0,
        "day": 1.0,
    }


def key_share(pattern, mix, share):
    """(share of the pattern's traffic on its hottest key, what kind of key it is): "shared"
    for keys many requests reach, "ticket" for a ticket's own partition (its hottest key is the
    mix's hot ticket), "request" for keys of one request only (idempotency records)."""
    names = PLACEHOLDER.findall(pattern)
    if "key" in names:
        return 0.0, "request"
    if "ticket" in names:
        return 0.0, "ticket"
    total = 1.0
    for name in names:
        if name == "shard":
            shards = mix["shards"].get(pattern, mix["shards"].get("*"))
            if not shards:
                raise SystemExit(f"capacity: the mix names no shard count for {pattern}")
            total /= shards
        elif name in share:
            total *= share[name]
        else:
            raise SystemExit(f"capacity: no share for {{{name}}} in {pattern}")
    return total, "shared"


def requests_per_second(mix, profile):
    """(endpoint, variant, rate a second) for every recorded variant the mix sends."""
    out = []
    for endpoint, rate in mix["rates"].items():
        variants = profile["endpoints"].get(endpoint)
        if not variants:
            raise SystemExit(f"capacity: the profile records no {endpoint}")
        weights = mix["variants"].get(endpoint) or {variants[0]["variant"]: 1.0}
        recorded = {v["variant"]: v for v in variants}
        missing = set(weights) - set(recorded)
        if missing:
            raise SystemExit(f"capacity: {endpoint} variants not recorded: {sorted(missing)}")
        total = sum(weights.values())
        for name, weight in weights.items():
            out.append((endpoint, recorded[name], rate * weight / total))
    stream = mix.get("stream")
    if stream:
        # The stream's consumer: every write of a ticket item is a change it folds, in
        # batches of the recorded delivery's size.
        changes = sum(mix["rates"].get(e, 0.0) for e in stream["from"])
        [variant] = profile["endpoints"][stream["endpoint"]]
        out.append((stream["endpoint"], variant, changes / variant["changes"]))
    return out


# ------------------------------------------------------------------ the model

# The endpoints that reach an existing ticket's own partition, and those of them that write it.
TICKET_READERS = ("get", "reply", "status")
TICKET_WRITERS = ("reply", "status")
# The endpoints whose calls take from the caller's write quota.
WRITES = ("create", "reply", "status")


def model(mix, profile):
    share = shares(mix)
    hot = mix["hotTicket"]
    window = mix["transactionWindowMs"] / 1000.0
    flows = requests_per_second(mix, profile)
    reaching = sum(rate for e, _, rate in flows if e in TICKET_READERS)
    writing = sum(rate for e, _, rate in flows if e in TICKET_WRITERS)
    # The busiest customer's writes beyond their quota are refused after the quota item is
    # written, before anything else: past it, only the quota item takes their load.
    own_writes = sum(rate for e, v, rate in flows if e in WRITES and v["caller"] == "customer")
    quota = mix["quota"]["customerWritesPerMinute"] / 60.0
    admitted = min(1.0, quota / (own_writes * share["customer"])) if own_writes else 1.0

    def on_hottest(kind, endpoint, rate, s, write=False, variant=None, pattern=""):
        """Requests a second of this flow on the hottest key of its pattern."""
        if kind == "shared":
            if ("{customer}" in pattern and not pattern.startswith("QUOTA#")
                    and endpoint in WRITES and variant["caller"] == "customer"):
                return rate * s * admitted
            if "{customer}" in pattern and variant.get("changes"):
                # A batch of n changes writes each customer in it once: the busiest is in
                # a batch with probability 1 - (1 - share)^n, spread over its n slots.
                n = variant["changes"]
                return rate * (1 - (1 - share["customer"]) ** n) / n
            return rate * s
        if kind == "ticket" and endpoint in TICKET_READERS:
            # The hot ticket's requests, shared out among the endpoints as the mix has them.
            if write:
                return hot["writesPerMinute"] / 60.0 * rate / writing if endpoint in \
                    TICKET_WRITERS else 0.0
            return hot["requestsPerSecond"] * rate / reaching
        return 0.0

    keys = {}       # (index, pattern) -> {"wcu", "rcu", "kind"}
    items = {}      # item pattern -> {"rate", "transactional", "kind", "writers"}
    endpoints = {}  # endpoint -> totals
    for endpoint, variant, rate in flows:
        e = endpoints.setdefault(endpoint, {"rate": 0.0, "rcu": 0.0, "wcu": 0.0,
                                            "requests": 0.0, "exposed": []})
        e["rate"] += rate
        for r in variant["requests"]:
            e["requests"] += rate
            for a in r["reads"] + r["writes"]:
                write = "kind" in a
                units = write_units(a) if write else read_units(a)
                e["wcu" if write else "rcu"] += rate * units
                s, kind = key_share(a["key"], mix, share)
                k = keys.setdefault((a["index"], a["key"]), {"wcu": 0.0, "rcu": 0.0, "kind": kind})
                k["wcu" if write else "rcu"] += units * on_hottest(
                    kind, endpoint, rate, s, variant=variant, pattern=a["key"])
                if write and a["index"] is None:
                    # An item with an id of its own in its sort key (a thread, an attachment)
                    # or put only where none exists (a new ticket) is new with each request:
                    # no other request can write it meanwhile.
                    new_item = a["kind"] == "put" and a.get("conditional")
                    ikind = "request" if "{id}" in a["item"] or new_item else kind
                    item = a["item"] + (" (new)" if new_item and ikind != kind else "")
                    it = items.setdefault(item, {"rate": 0.0, "transactional": False,
                                                 "kind": ikind, "writers": set()})
                    it["rate"] += on_hottest(ikind, endpoint, rate, s, write=True,
                                             variant=variant, pattern=a["key"])
                    it["transactional"] |= a["transactional"]
                    it["writers"].add(endpoint)
                    if a["transactional"]:
                        e["exposed"].append((item, rate))
    # A transaction is cancelled when another write reaches one of its items meanwhile: only
    # items that some transaction writes count.
    conflicts = {}
    for name, it in items.items():
        if it["transactional"]:
            conflicts[name] = {"rate": it["rate"],
                               "probability": 1 - math.exp(-it["rate"] * window),
                               "writers": sorted(it["writers"]), "kind": it["kind"]}
    for name, e in endpoints.items():
        exposed = e.pop("exposed")
        # Per request: the writes that reach its items meanwhile, but never more than the
        # transactions of all the endpoints that write them (one other transaction touching
        # several of its items cancels it once: a stream batch shares its busiest customers'
        # counters with nearly every other batch, and is cancelled by each at most once).
        items = {item for item, _ in exposed}
        per_request = sum(rate * conflicts[item]["rate"] for item, rate in exposed) / e["rate"]
        writers = {w for item in items for w in conflicts[item]["writers"]}
        if not any(conflicts[item]["kind"] == "ticket" for item in items):
            per_request = min(per_request, sum(endpoints[w]["rate"] for w in writers))
        e["conflict"] = 1 - math.exp(-per_request * window) if e["rate"] else 0.0
    background = {mix["stream"]["endpoint"]} if mix.get("stream") else set()
    # A client request's transaction is cancelled when another write reaches one of its
    # items: only the items client requests write in transactions are the target's.
    client_items = {name for name, c in conflicts.items()
                    if set(c["writers"]) - background}
    limits = mix["limits"]
    rows = [{"index": index or "table", "key": pattern, "wcu": k["wcu"], "rcu": k["rcu"],
             "writeShare": k["wcu"] / limits["wcu"], "readShare": k["rcu"] / limits["rcu"],
             "kind": k["kind"]}
            for (index, pattern), k in keys.items()]
    rows.sort(key=lambda r: (-max(r["writeShare"], r["readShare"]), r["index"], r["key"]))
    prices = mix["prices"]
    lam = mix["lambda"]
    for e in endpoints.values():
        e["rcuPerRequest"] = e["rcu"] / e["rate"]
        e["wcuPerRequest"] = e["wcu"] / e["rate"]
        e["requestsPerCall"] = e.pop("requests") / e["rate"]
        e["dynamodbPerMillion"] = 1e6 * (e["rcuPerRequest"] * prices["readRequestUnit"]
                                         + e["wcuPerRequest"] * prices["writeRequestUnit"])
        e["perMillion"] = e["dynamodbPerMillion"] + 1e6 * (
            prices["httpApiRequest"] + prices["lambdaRequest"]
            + prices["lambdaGbSecond"] * lam["memoryMb"] / 1024 * lam["durationMs"] / 1000)
    peak = max(max(r["writeShare"], r["readShare"]) for r in rows)
    hottest = rows[0]
    return {
        "keys": rows,
        "conflicts": dict(sorted(conflicts.items(), key=lambda kv: -kv[1]["probability"])),
        "endpoints": endpoints,
        "saturation": {"index": hottest["index"], "key": hottest["key"], "scale": 1 / peak,
                       "creates": mix["rates"].get("create", 0.0) / peak,
                       "requests": sum(mix["rates"].values()) / peak},
        "peakShare": peak,
        "peakConflict": max((e["conflict"] for name, e in endpoints.items()
                             if name not in background), default=0.0),
        "backgroundConflict": {name: endpoints[name]["conflict"] for name in background},
        "clientItems": sorted(client_items),
        "busiestCustomer": {"share": share["customer"], "writes": own_writes * share["customer"],
                            "admitted": admitted},
    }


# ------------------------------------------------------------------ the report

def pct(x):
    return f"{100 * x:.1f} %" if x >= 0.001 else f"{100 * x:.2f} %"


LABELS = {"shared": "", "ticket": " (the hot ticket)", "request": " (one request's)"}


def report(mix, result):
    target = mix["target"]
    lines = []
    rates = ", ".join(f"{v:,.0f} {k}/s" for k, v in mix["rates"].items())
    lines += [f"Mix: {rates}; {mix['customers']:,} customers (Zipf s={mix['zipf']}), "
              f"{mix['agents']} agents; per-partition limits {mix['limits']['wcu']:,} WCU/s "
              f"and {mix['limits']['rcu']:,} RCU/s; target: every key under "
              f"{target['keyShare']:.0%} of its limits, conflicts under "
              f"{pct(target['conflict'])}.", ""]
    busy = result["busiestCustomer"]
    lines += [f"The busiest customer makes {pct(busy['share'])} of customers' requests: "
              f"{busy['writes']:,.1f} writes/s, of which their quota of "
              f"{mix['quota']['customerWritesPerMinute']} a minute admits {pct(busy['admitted'])}.",
              ""]
    sat = result["saturation"]
    lines += [f"Peak: {pct(result['peakShare'])} of a partition's limit on `{sat['key']}` "
              f"({sat['index']}); the first key saturates at {sat['scale']:.2f}x this mix "
              f"({sat['creates']:,.0f} creates/s, {sat['requests']:,.0f} requests/s in all). "
              f"Highest probability that a client request's transaction is cancelled: "
              f"{pct(result['peakConflict'])}."
              + "".join(f" The stream consumer ({name}) retries {pct(p)} of its batches."
                        for name, p in result["backgroundConflict"].items()), ""]
    lines += ["| table or index | partition key (hottest) | WCU/s | of 1,000 | RCU/s | of 3,000 |",
              "|---|---|---:|---:|---:|---:|"]
    for r in result["keys"]:
        name = f"`{r['key']}`" + LABELS[r["kind"]]
        flag = " **over**" if max(r["writeShare"], r["readShare"]) > target["keyShare"] else ""
        lines.append(f"| {r['index']} | {name} | {r['wcu']:,.0f} | {pct(r['writeShare'])}{flag} "
                     f"| {r['rcu']:,.0f} | {pct(r['readShare'])} |")
    lines += ["", "| item written in transactions | writes/s on the hottest | written by "
              "| P(cancelled) |", "|---|---:|---|---:|"]
    for name, c in result["conflicts"].items():
        client = name in result["clientItems"]
        flag = " **over**" if client and c["probability"] > target["conflict"] else ""
        flag += "" if client else " (consumer, retried)"
        lines.append(f"| `{name}`{LABELS[c['kind']]} | {c['rate']:,.2f} | {', '.join(c['writers'])} "
                     f"| {pct(c['probability'])}{flag} |")
    p = mix["prices"]
    lines += ["", f"| endpoint | rate/s | DynamoDB requests | RCU | WCU | P(transaction "
              f"cancelled) | DynamoDB $ per million | all $ per million |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in result["endpoints"].items():
        lines.append(f"| {name} | {e['rate']:,.0f} | {e['requestsPerCall']:.2f} | "
                     f"{e['rcuPerRequest']:.2f} | {e['wcuPerRequest']:.2f} | {pct(e['conflict'])} "
                     f"| {e['dynamodbPerMillion']:.2f} | {e['perMillion']:.2f} |")
    hour = sum(e["rate"] * e["perMillion"] for e in result["endpoints"].values()) * 3600 / 1e6
    dynamodb = sum(e["rate"] * e["dynamodbPerMillion"]
                   for e in result["endpoints"].values()) * 3600 / 1e6
    lines += ["", f"The mix costs ${hour:,.0f} an hour (DynamoDB ${dynamodb:,.0f} of it; storage,"
              f" streams and logs not included)."]
    lines += ["", f"Prices ({p['source']}): ${p['writeRequestUnit'] * 1e6:.3f} per million write "
              f"request units, ${p['readRequestUnit'] * 1e6:.3f} per million read request units, "
              f"HTTP API ${p['httpApiRequest'] * 1e6:.2f} and Lambda ${p['lambdaRequest'] * 1e6:.2f}"
              f" per million requests, Lambda ${p['lambdaGbSecond']:.10f} per GB-second "
              f"({mix['lambda']['memoryMb']} MB, {mix['lambda']['durationMs']} ms a call)."]
    return "\n".join(lines) + "\n"


def load(path):
    return json.loads(pathlib.Path(path).read_text())


def apply_sets(mix, sets):
    mix = copy.deepcopy(mix)
    for s in sets:
        path, _, value = s.partition("=")
        node = mix
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = json.loads(value)
    return mix


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mix", default=ROOT / "capacity" / "mix.json")
    ap.add_argument("--profile", default=ROOT / "capacity" / "profile.json")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=JSON")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    mix = apply_sets(load(args.mix), args.set)
    result = model(mix, load(args.profile))
    if args.json:
        print(json.dumps(result, indent=1, default=sorted))
    else:
        print(report(mix, result), end="")
    if args.check:
        target = mix["target"]
        if result["peakShare"] > target["keyShare"] or result["peakConflict"] > target["conflict"]:
            print("capacity: the mix exceeds the targets", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
