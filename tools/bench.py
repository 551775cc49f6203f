"""`make bench`: each function's release binary run against a local Lambda Runtime API (this
file), with moto as DynamoDB and S3. Reports per function: binary and zip size, cold start
(process start to first response, median of COLD_STARTS), init and per-invocation work in
instructions (callgrind: stable on a noisy machine), peak RSS over a burst of WARM invocations,
and warm latency (median, p99). Writes target/bench/results.json and results.md.

Run by tools/bench.sh, which builds the binaries and starts moto; not meant to be run alone."""

import http.server
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOST_DIR = pathlib.Path(os.environ.get("BENCH_HOST_DIR", ROOT / "target" / "lambda-host"))
ARM_DIR = ROOT / "target" / "lambda"
OUT = pathlib.Path(os.environ.get("BENCH_OUT", ROOT / "target" / "bench"))
COLD_STARTS = int(os.environ.get("COLD_STARTS", "25"))
WARM = int(os.environ.get("WARM", "1000"))
CALLGRIND_WARM = int(os.environ.get("CALLGRIND_WARM", "50"))
# The arm64 binaries (what deploys) run here under qemu's user-mode emulator (tools/bench.sh
# installs it), for what only they can tell: how much of their own file and of the libraries
# they keep resident (docs/performance.md, "Memory on arm64"). ARM64_WARM requests each: the
# emulator is some 20 times slower. They are static (tools/build.sh); a dynamically linked one
# would take its libraries from ARM64_ROOT (qemu's -L; Debian's libc6-arm64-cross), when there.
QEMU = "qemu-aarch64"
ARM64_ROOT = pathlib.Path(os.environ.get("BENCH_ARM64_ROOT", "/usr/aarch64-linux-gnu"))
ARM64_WARM = int(os.environ.get("ARM64_WARM", "300"))
# The floor: hello world on lambda_http 1.x (tools/bench-floor), built with the same profile in
# the same run; every function's figures are also given as ratios to it, which survive a noisy
# machine better than milliseconds do.
FLOOR = "bench-floor"
FUNCTIONS = ["create-ticket", "get-ticket", "list-threads", "list-tickets", "add-thread",
             "update-status",
             "update-ticket", "confirm-attachment", "escalate-tickets", "renew-upload",
             "expire-uploads"]
# Functions whose writes grow the table. moto copies every table at the start of each
# transaction (to roll back), so its time per write grows with what is stored: the harness
# empties moto and seeds anew every BATCH of their invocations, while the function process
# itself keeps running through all of them.
GROWING = {"create-ticket", "add-thread", "update-status", "update-ticket"}
BATCH = 100
TOOLS = ROOT / "target" / "debug" / "tickets-dev"
CUSTOMER = {"sub": "bench-customer"}
AGENT = {"sub": "bench-agent", "cognito:groups": "[agents]"}


class RuntimeApi:
    """The Lambda Runtime API (2018-06-01) for one function process at a time: hands out the
    queued events on /next and records when each answer arrives."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = queue.Queue()
        self.nexts = queue.Queue()
        self.handed = {}
        self.waiting = 0
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b"{}")
                api.nexts.put(time.perf_counter())
                with api.lock:
                    api.waiting += 1
                try:
                    event = api.events.get()
                finally:
                    with api.lock:
                        api.waiting -= 1
                if event is None:  # the harness is done with this process
                    self.close_connection = True
                    return self.reply(500, b'{"errorMessage":"stop"}')
                request_id = str(uuid.uuid4())
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.end_headers()
                api.handed[request_id] = time.perf_counter()
                self.wfile.write(body)
                self.wfile.flush()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                now = time.perf_counter()
                m = re.search(r"/runtime/invocation/([^/]+)/(response|error)$", self.path)
                if m:
                    api.answers.put((now, api.handed.pop(m.group(1), now), m.group(2), body))
                elif self.path.endswith("/runtime/init/error"):
                    api.answers.put((now, now, "init-error", body))
                self.reply(202, b'{"status":"OK"}')

            def reply(self, status, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a stopped process's poll

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stops serving; a poll still waiting here gets an answer and goes."""
        self.server.shutdown()
        self.server.server_close()
        self.release_waiters()

    def release_waiters(self):
        """After a process is gone, its long-polling /next may still wait here: answer it, so
        that it cannot take the next process's event."""
        while True:
            with self.lock:
                waiting = self.waiting
            if not waiting:
                return
            self.events.put(None)
            time.sleep(0.01)

    def answer(self, timeout=30):
        at, handed, kind, body = self.answers.get(timeout=timeout)
        if kind != "response":
            raise RuntimeError(f"function answered {kind}: {body[:300]!r}")
        return at, handed, json.loads(body)


def function_env(api, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    if os.environ.get("BENCH_ENDPOINT_URL"):
        # Over TLS, as in AWS (tools/tlsproxy.py in front of moto; tools/bench.sh).
        env["AWS_ENDPOINT_URL"] = os.environ["BENCH_ENDPOINT_URL"]
        env["AWS_CA_BUNDLE"] = os.environ["BENCH_CA_BUNDLE"]
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "CURSOR_SECRET": "bench-cursor-secret-0123456789",
        "AUTH_MODE": "apigateway",
        # The bench writes far more than a caller's minute allows; every write still takes
        # from the quota (its UpdateItem is measured), it just never runs out.
        "CUSTOMER_WRITES_PER_MINUTE": "100000",
        "AGENT_WRITES_PER_MINUTE": "100000",
    })
    return env


def start(api, name, prefix=(), binary=None):
    """Starts the function's host build (or BINARY) behind PREFIX against API."""
    log = open(OUT / f"{name}.log", "ab")
    t0 = time.perf_counter()
    proc = subprocess.Popen([*prefix, str(binary or HOST_DIR / name / "bootstrap")],
                            env=function_env(api, name),
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, t0


def stop(proc):
    proc.kill()
    proc.wait()


def with_claims(event, claims, ticket_id=None, body=None):
    e = json.loads(json.dumps(event))
    e["requestContext"]["authorizer"]["jwt"]["claims"] = {
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/bench", "exp": "1893456000", **claims}
    e["headers"] = {k: v for k, v in e["headers"].items() if k not in ("idempotency-key", "if-match")}
    if ticket_id:
        e["rawPath"] = re.sub(r"/v2/support-tickets/[^/]+", f"/v2/support-tickets/{ticket_id}",
                              e["rawPath"])
        e["requestContext"]["http"]["path"] = e["rawPath"]
        e["pathParameters"]["id"] = ticket_id
    if body is not None:
        e["body"] = json.dumps(body)
    return e


def sample(name):
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def invoke_once(name, events):
    """Starts the function, answers `events` in order, returns the answers' bodies."""
    api = RuntimeApi()
    proc, _ = start(api, name)
    try:
        out = []
        for e in events:
            api.events.put(e)
            out.append(api.answer()[2])
        return out
    finally:
        stop(proc)
        api.close()


def reset_aws():
    """Empties moto (its reset API) and creates the table and bucket again."""
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=60).read()
    for command in ("create-table", "create-bucket"):
        subprocess.run([str(TOOLS), command], check=True, capture_output=True)


def seed():
    """Three tickets of the bench customer (created through create-ticket itself), the first
    with a file still pending; their ids and that attachment's."""
    create = with_claims(sample("create-ticket"), CUSTOMER, body={
        "title": "Benchmark ticket", "description": "Seeded by make bench.", "priority": "medium",
        "category": "technical"})
    with_file = json.loads(json.dumps(create))
    with_file["body"] = json.dumps({**json.loads(create["body"]), "attachments": [
        {"filename": "trace.log", "size": 2048, "type": "text/plain"}]})
    answers = invoke_once("create-ticket", [with_file, create, create])
    ids = []
    for a in answers:
        assert a["statusCode"] == 201, a
        ids.append(json.loads(a["body"])["data"]["_id"])
    attachment = json.loads(answers[0]["body"])["data"]["attachments"][0]["_id"]
    return ids, attachment


def renewal(ticket_id, attachment_id):
    e = with_claims(sample("renew-upload"), CUSTOMER, ticket_id)
    e["rawPath"] = re.sub(r"/attachments/[^/]+/", f"/attachments/{attachment_id}/", e["rawPath"])
    e["requestContext"]["http"]["path"] = e["rawPath"]
    e["pathParameters"]["attachmentId"] = attachment_id
    return e


def workloads(seeded):
    """Each function's stream of events; writes alternate so every one changes something."""
    (reading, threads, changing), attachment = seeded
    create_body = {"title": "Benchmark ticket", "description": "Created by make bench.",
                   "priority": "low", "category": "general",
                   "attachments": [{"filename": "trace.log", "size": 2048, "type": "text/plain"}]}
    return {
        FLOOR: [sample("get-ticket")],
        "create-ticket": [with_claims(sample("create-ticket"), CUSTOMER, body=create_body)],
        "get-ticket": [with_claims(sample("get-ticket"), CUSTOMER, reading)],
        "list-threads": [with_claims(sample("list-threads"), CUSTOMER, reading)],
        "list-tickets": [with_claims(sample("list-tickets"), CUSTOMER)],
        "add-thread": [with_claims(sample("add-thread"), CUSTOMER, threads,
                                   body={"message": "One more detail from the benchmark."})],
        "update-status": [with_claims(sample("update-status"), AGENT, changing, body={"status": s})
                          for s in ("in_progress", "pending")],
        "update-ticket": [with_claims(sample("update-ticket"), AGENT, changing, body={"priority": p})
                          for p in ("high", "low")],
        "confirm-attachment": [sample("confirm-attachment")],
        "escalate-tickets": [sample("escalate-tickets")],
        "renew-upload": [renewal(reading, attachment)],
        "expire-uploads": [sample("expire-uploads")],
    }


def ok_answer(name, answer):
    if "statusCode" in answer:
        assert answer["statusCode"] < 300, (name, answer)


def cold_starts(name, events):
    """Spawn to first /next (init), spawn to first answer (cold start), and the first
    invocation alone (event handed out to answer): what a cold start's request waits beyond a
    warm one's is the first invocation minus the warm median (warm_burst)."""
    inits, firsts, invocations = [], [], []
    log = OUT / f"{name}.log"
    before = log.stat().st_size if log.exists() else 0  # seeding's own lines
    for i in range(COLD_STARTS):
        api = RuntimeApi()
        proc, t0 = start(api, name)
        try:
            t_next = api.nexts.get(timeout=30)
            api.events.put(events[i % len(events)])
            at, handed, answer = api.answer()
            ok_answer(name, answer)
        finally:
            stop(proc)
            api.close()
        inits.append((t_next - t0) * 1000)
        firsts.append((at - t0) * 1000)
        invocations.append((at - handed) * 1000)
    return {"init_ms_median": statistics.median(inits), "cold_start_ms_median": statistics.median(firsts),
            "cold_start_ms_min": min(firsts), "cold_start_ms_max": max(firsts),
            "first_invocation_ms_median": statistics.median(invocations),
            **warm_ups(log, before)}


def warm_ups(log, skip):
    """The connection each cold start made during init (its own log line: App::connect), in
    ms: part of init, and here mostly moto's answer; the floor makes none."""
    ms = []
    text = log.read_bytes()[skip:].decode(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        if "connected during init" not in line:
            continue
        try:
            ms.append(float(json.loads(line)["fields"]["ms"]))
        except (ValueError, KeyError):
            pass
    return {"warm_up_ms_median": statistics.median(ms)} if ms else {}


def status_kib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def warm_burst(name, events):
    """WARM invocations of one process, one after another, in batches of BATCH (between
    which a growing function's moto is emptied and seeded again)."""
    api = RuntimeApi()
    proc, _ = start(api, name)
    try:
        api.events.put(events[0])
        ok_answer(name, api.answer()[2])
        latencies = []
        for done in range(0, WARM, BATCH):
            if done and name in GROWING:
                reset_aws()
                events = workloads(seed())[name]
            batch = min(BATCH, WARM - done)
            for i in range(batch):
                api.events.put(events[i % len(events)])
            for _ in range(batch):
                at, handed, answer = api.answer()
                ok_answer(name, answer)
                latencies.append((at - handed) * 1000)
        api.nexts.get(timeout=30)
        peak = status_kib(proc.pid, "VmHWM")
        cpu_ms = cpu_time_ms(proc.pid)
        where = resident(pathlib.Path(f"/proc/{proc.pid}/smaps").read_text())
    finally:
        stop(proc)
        api.close()
    latencies.sort()
    return {"warm_ms_median": statistics.median(latencies),
            "warm_ms_p99": latencies[int(len(latencies) * 0.99) - 1],
            "peak_rss_mib": peak / 1024,
            "resident_mib": where,
            # user + system time of the whole burst, per invocation (the first one included)
            "cpu_ms_per_invocation": cpu_ms / (WARM + 1)}


def resident(smaps):
    """Where a process's resident memory is (MiB by kind), from its /proc/PID/smaps text: the
    program's own code (its executable mapping), the rest of the program's own mappings
    (read-only data, relocated pointers, writable data), shared libraries (libc, libm, the
    loader: every mapping of a file other than the program) and anonymous memory (the
    allocator's heap, thread stacks). Taken at the end of the warm burst, so the sum is the
    resident size then, at most the peak."""
    def kind(perms, path):
        if path.endswith("/bootstrap"):
            return "own code" if "x" in perms else "own data"
        # any other file; then anonymous, [heap], [stack], [vdso]...
        return "libraries" if path.startswith("/") else "heap and stacks"
    return rss_by(smaps, kind, ["own code", "own data", "libraries", "heap and stacks"])


def rss_by(smaps, kind, kinds):
    """Resident MiB of /proc/PID/smaps text by KIND(perms, path) of each mapping (None: not
    counted), for each of KINDS."""
    kib = dict.fromkeys(kinds, 0)
    current = None
    for line in smaps.splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and ":" not in parts[0] and len(parts) >= 5:
            current = kind(parts[1], parts[5] if len(parts) > 5 else "")
        elif parts[:1] == ["Rss:"] and current:
            kib[current] += int(parts[1])
    return {k: v / 1024 for k, v in kib.items()}


def resident_arm64(smaps, root):
    """What an arm64 program keeps resident of its own file and of its libraries, from the
    /proc/PID/smaps text of the qemu-aarch64 process that runs it: the emulator maps the
    program and the libraries from ROOT (qemu's -L) into its own address space, where its own
    code and memory sit beside them. The program's anonymous memory (its heap and stacks) is
    not told apart from the emulator's and is not counted (the same allocator and the same
    data: the host build's figure stands in for it)."""
    libraries = str(root).rstrip("/") + "/"
    return rss_by(smaps, lambda perms, path: "own" if path.endswith("/bootstrap")
                  else "libraries" if path.startswith(libraries) else None, ["own", "libraries"])


def arm64_burst(name, events):
    """ARM64_WARM warm invocations of the arm64 binary under qemu-aarch64 (drive()), then what
    it keeps resident of its file and libraries; None when qemu or the binary is missing."""
    binary = ARM_DIR / name / "bootstrap"
    if not (shutil.which(QEMU) and binary.exists()):
        return None
    prefix = [QEMU, "-L", str(ARM64_ROOT)] if (ARM64_ROOT / "lib").is_dir() else [QEMU]
    return drive(name, events, ARM64_WARM, prefix, binary, lambda pid: resident_arm64(
        pathlib.Path(f"/proc/{pid}/smaps").read_text(), ARM64_ROOT))


def cpu_time_ms(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000 / ticks  # utime + stime


def drive(name, events, answered, prefix=(), binary=None, at_end=None):
    """Runs one function (its host build or BINARY, behind `prefix`, a command such as
    valgrind's) from process start until it asks for the event after `answered` answers (a
    growing function's moto emptied and seeded again every BATCH, as in the warm burst); then
    `at_end(pid)`, whose value is returned, and the process is stopped with SIGTERM, which
    callgrind survives to write its profile."""
    api = RuntimeApi()
    proc, _ = start(api, name, prefix, binary)
    try:
        api.nexts.get(timeout=300)
        for i in range(answered):
            if i and i % BATCH == 0 and name in GROWING:
                reset_aws()
                events = workloads(seed())[name]
            api.events.put(events[i % len(events)])
            ok_answer(name, api.answer(timeout=300)[2])
            api.nexts.get(timeout=300)
        result = at_end(proc.pid) if at_end else None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        return result
    finally:
        if proc.poll() is None:
            stop(proc)
        api.close()


def callgrind(name, events, answered, options=()):
    """drive() under callgrind. Returns the profile's path."""
    out = OUT / f"callgrind.{name}.{answered}.out"
    drive(name, events, answered, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *options])
    return out


def instructions(name, events, answered):
    """Instructions (callgrind) from process start until the event after `answered` answers."""
    out = callgrind(name, events, answered)
    text = out.read_text(errors="replace")
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not m:
        raise RuntimeError(f"no totals in {out}")
    return int(m.group(1))


def size(path):
    return path.stat().st_size if path.exists() else None


def main():
    names = sys.argv[1:]
    if names[:1] == ["--list"]:  # what tools/bench.sh builds
        print("\n".join([FLOOR, *(names[1:] or FUNCTIONS)]))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.glob("*.log"):
        f.unlink()
    results = {}
    for name in [FLOOR, *(names or FUNCTIONS)]:
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        reset_aws()
        loads = workloads(seed())
        r = {
            "binary_bytes_arm64": size(ARM_DIR / name / "bootstrap"),
            "zip_bytes_arm64": size(ARM_DIR / name / "bootstrap.zip"),
            "binary_bytes_host": size(HOST_DIR / name / "bootstrap"),
        }
        r.update(cold_starts(name, loads[name]))
        r.update(warm_burst(name, loads[name]))
        if name in GROWING:
            reset_aws()
            loads = workloads(seed())
        r["arm64_resident_mib"] = arm64_burst(name, loads[name])
        r["first_minus_warm_ms"] = r["first_invocation_ms_median"] - r["warm_ms_median"]
        if name in GROWING:  # the burst left moto re-seeded: fresh tickets for the next runs
            reset_aws()
            loads = workloads(seed())
        if os.environ.get("CALLGRIND", "1") == "1":
            init = instructions(name, loads[name], 0)
            first = instructions(name, loads[name], 1)
            warm = instructions(name, loads[name], 1 + CALLGRIND_WARM)
            r.update({"init_instructions": init, "first_invocation_instructions": first - init,
                      "warm_invocation_instructions": (warm - first) // CALLGRIND_WARM})
        results[name] = r
        print(f"[bench] {name}: {json.dumps(r)}", file=sys.stderr, flush=True)
    machine = {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "cores": os.cpu_count(),
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "backend": "TLS (tools/tlsproxy.py) to moto" if os.environ.get("BENCH_ENDPOINT_URL") else "plain HTTP to moto",
    }
    (OUT / "results.json").write_text(json.dumps({"machine": machine, "functions": results}, indent=1))
    text = table(results, machine) + "\n" + power(results)
    (OUT / "results.md").write_text(text)
    print(text)


def mb(n):
    return f"{n / 1e6:.2f}" if n else "n/a"


def ratio(value, floor):
    return f"{value / floor:.2f}" if value is not None and floor else "n/a"


def table(results, machine):
    floor = results.get(FLOOR, {})
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['rustc']}, {machine['date']}; backend: {machine['backend']}.",
             "",
             "| function | arm64 binary MB | arm64 zip MB | init ms | × floor | of it, connecting ms | cold start ms | × floor | 1st invocation − warm ms | init instr. (M) | 1st invocation instr. (M) | warm invocation instr. (k) | peak RSS MiB | × floor | warm ms median | warm ms p99 | CPU ms / invocation |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        has = "init_instructions" in r
        lines.append("| {} | {} | {} | {:.2f} | {} | {} | {:.1f} | {} | {:+.2f} | {} | {} | {} | {:.1f} | {} | {:.2f} | {:.2f} | {:.3f} |".format(
            name, mb(r["binary_bytes_arm64"]), mb(r["zip_bytes_arm64"]),
            r["init_ms_median"], ratio(r["init_ms_median"], floor.get("init_ms_median")),
            f"{r['warm_up_ms_median']:.2f}" if "warm_up_ms_median" in r else "–",
            r["cold_start_ms_median"], ratio(r["cold_start_ms_median"], floor.get("cold_start_ms_median")),
            r["first_minus_warm_ms"],
            f"{r['init_instructions'] / 1e6:.1f}" if has else "n/a",
            f"{r['first_invocation_instructions'] / 1e6:.2f}" if has else "n/a",
            f"{r['warm_invocation_instructions'] / 1e3:.0f}" if has else "n/a",
            r["peak_rss_mib"], ratio(r["peak_rss_mib"], floor.get("peak_rss_mib")),
            r["warm_ms_median"], r["warm_ms_p99"], r["cpu_ms_per_invocation"]))
    kinds = list(next(iter(results.values()))["resident_mib"])
    lines += ["", "Resident memory by kind after the warm burst (MiB; /proc/PID/smaps; docs/performance.md, "
              "Memory), and the arm64 binary's own file and libraries under qemu-aarch64 (after "
              f"{ARM64_WARM} requests) with the host's heap and stacks added: the arm64 estimate:", "",
              "| function | " + " | ".join(kinds) + " | sum | peak | arm64 own | arm64 libraries | arm64 estimate |",
              "|---|" + "---|" * (len(kinds) + 5)]
    for name, r in results.items():
        where, arm = r["resident_mib"], r.get("arm64_resident_mib")
        arm_cells = (f"{arm['own']:.2f} | {arm['libraries']:.2f} | "
                     f"{arm['own'] + arm['libraries'] + where['heap and stacks']:.2f}"
                     if arm else "n/a | n/a | n/a")
        lines.append(f"| {name} | " + " | ".join(f"{where[k]:.2f}" for k in kinds)
                     + f" | {sum(where.values()):.2f} | {r['peak_rss_mib']:.2f} | {arm_cells} |")
    return "\n".join(lines) + "\n"


# Lambda's price for arm64 in us-east-1 (per GB-second, first tier; per request) and its CPU
# rule: a whole vCPU at 1,769 MB, in proportion below it.
PRICE_GB_SECOND = 0.0000133334
PRICE_REQUEST = 0.20 / 1e6
FULL_CPU_MB = 1769
MEMORY_SIZES = (128, 256, 512)
# The DynamoDB round trips a warm request waits on one after another (docs/performance.md,
# Round trips; counted by e2e/test_round_trips.py) and what one costs in the same region.
ROUND_TRIPS = {"create-ticket": 2, "get-ticket": 2, "list-threads": 2, "list-tickets": 1,
               "add-thread": 2, "update-status": 2, "update-ticket": 2,
               "confirm-attachment": 2, "escalate-tickets": 2, "renew-upload": 1,
               "expire-uploads": 2}
ROUND_TRIP_MS = 4.0


def estimate(cpu_ms, waits, memory):
    """Duration (ms) and cost per million invocations at `memory` MB: the CPU work stretched
    by the share of a vCPU that much memory gets, plus the waits, billed per started ms."""
    duration = cpu_ms * max(1.0, FULL_CPU_MB / memory) + waits
    billed = -(-duration // 1)
    return duration, 1e6 * (billed / 1000 * memory / 1024 * PRICE_GB_SECOND + PRICE_REQUEST)


def power(results):
    """What AWS Lambda Power Tuning would show, estimated: each function's warm request at
    128, 256 and 512 MB from its instructions and its round trips. A request's CPU time is its
    warm instructions times this run's CPU time per instruction, pooled over the functions
    (their CPU time over the burst, user and system, against their instructions): the
    instructions order the functions the same on any machine, busy or not, and the pooled rate
    (this machine's core taken as a vCPU) gives them a scale. Without instructions (CALLGRIND=0),
    each function's own CPU time."""
    measured = [r for name, r in results.items() if name in ROUND_TRIPS]
    counted = all("warm_invocation_instructions" in r for r in measured) and measured
    per_instruction = (sum(r["cpu_ms_per_invocation"] for r in measured)
                       / sum(r["warm_invocation_instructions"] for r in measured)) if counted else None
    basis = (f"CPU ms from the instructions at {per_instruction * 1e6:.3f} ms per million, this "
             "run's CPU time over its instructions" if counted
             else "CPU ms: each function's CPU time per invocation")
    lines = [f"Estimated warm request at each memory size ({basis}; "
             f"× 1,769 / MB below a full vCPU, plus round trips × {ROUND_TRIP_MS:.0f} ms; "
             "arm64 price, us-east-1):", "",
             "| function | warm instr. (k) | CPU ms | round trips | " + " | ".join(
                 f"{m} MB ms | {m} MB $/M" for m in MEMORY_SIZES) + " |",
             "|---|---|---|---|" + "---|---|" * len(MEMORY_SIZES)]
    for name, r in results.items():
        if name not in ROUND_TRIPS:
            continue
        cpu_ms = (r["warm_invocation_instructions"] * per_instruction if counted
                  else r["cpu_ms_per_invocation"])
        cells = []
        for m in MEMORY_SIZES:
            duration, cost = estimate(cpu_ms, ROUND_TRIPS[name] * ROUND_TRIP_MS, m)
            cells.append(f"{duration:.1f} | {cost:.2f}")
        instr = f"{r['warm_invocation_instructions'] / 1e3:.0f}" if counted else "n/a"
        lines.append(f"| {name} | {instr} | {cpu_ms:.3f} | {ROUND_TRIPS[name]} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
