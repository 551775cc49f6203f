"""`make hot-text`: writes tools/hot-text.ld, the linker script that puts the code the functions
run (init and their requests, as tools/bench.py drives them) together at the start of the
program's text, before the code they never run.

Why: the kernel maps a binary's code into a process 64 KiB around every page it faults in
(fault-around), from the page cache. Code that runs is spread over almost all of a function's
6 MB of text, so nearly all of it ends up resident: peak RSS is mostly code that never runs.
Grouped, the code that runs fits in about a third of the pages (docs/performance.md, "Memory").

How: each measured function (tools/bench.py's FUNCTIONS, a host release build with glibc and
symbols: tools/build.sh --trace) runs under callgrind through the harness for init and REQUESTS
requests; every function of its own binary that executed becomes a pattern for the linker.
Then it runs natively for NATIVE_REQUESTS requests with tools/hot-text-trap.c preloaded, which
records every page of its code that executes: code callgrind does not see (valgrind's CPU
lacks some of this one's features; at its speed a socket never has to be waited for) runs
too, and every function on such a page that the profile does not name is added after the
profiled ones of its set (which of a page's functions ran is not known; over-inclusion costs a
little memory). The patterns are ordered by the set of functions that run them (script():
code all of them run first, every function's code in few runs), hottest first within a set:
one function's code then lies in fewer 64-KiB windows than when the code of all of them
alternates in one order by heat.
Patterns must also match the static musl builds, arm64 (what deploys) and this machine's (what
make bench measures), which the trace cannot run (a static program takes no preloaded library):
rustc's (legacy) symbol names end in a hash that differs between targets (cargo's
metadata hashes the target), so the hash becomes a wildcard, as do LLVM's `.llvm.N` and `.N`
suffixes and, in the standard library's v0 names, crate disambiguators and back-references.
Without its hash a name covers every instance of a generic function (they differ only in the
hash), so a pattern may group more than ran; it never matches less than the symbol it came
from: a wrong guess costs memory, never correctness, and code that is not matched stays where
the linker would have put it. (v0 mangling names instances apart, but on arm64 it made
get-ticket 0.9 MB larger and its requests 5 % more instructions: docs/performance.md.)

Run by tools/bench.sh --hot-text, which builds and starts what it needs; the script is
committed, and every release build of a function links with it (tools/link-layout.rs).
Re-run it when the code a request runs has changed much: a stale script still links, it just
groups less."""

import collections
import importlib.util
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench", HERE / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SCRIPT = HERE / "hot-text.ld"
TRAP = HERE / "hot-text-trap.c"
REQUESTS = 20
# Natively (tools/hot-text-trap.c) a request is fast, and some code runs only now and then
# (a socket not ready yet): more requests.
NATIVE_REQUESTS = 100
# Patterns are cut after this many characters (names of trait impls on generic types run to
# hundreds): the script stays small, and a cut pattern only matches more.
LONGEST = 160


def executed(profile):
    """Instructions per function of the binary itself (not libc's, not valgrind's) in a
    callgrind profile written with --demangle=no. Valgrind takes a program's code to be its
    `.text` section: a binary already linked with the layout has most of its code in
    `.text.hot`, which callgrind puts in an object named "???" (under the right function
    names), so that counts as the binary's too; main() keeps only names the binary defines."""
    objects, functions = {}, {}  # callgrind's name compression: "fn=(12) name", then "fn=(12)"
    tables = {"ob": objects, "cob": objects, "fn": functions, "cfn": functions}
    cost = collections.Counter()
    own = fn = None
    after_call = False
    for line in profile.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key in tables:
            m = re.match(r"\((\d+)\)(?: (.*))?$", value)
            if m and m.group(2) is not None:
                tables[key][m.group(1)] = m.group(2)
            value = tables[key].get(m.group(1)) if m else value
            if key == "ob":
                own = value.endswith("/bootstrap") or value == "???"
            elif key == "fn":
                fn = re.sub(r"'\d+$", "", value)  # callgrind's recursion depth: f'2
        elif key == "calls":
            after_call = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            parts = line.split()
            if after_call:
                after_call = False
            elif own and fn and len(parts) >= 2:
                cost[fn] += int(parts[1])
    return cost


def pattern(symbol):
    """A section-name pattern that matches SYMBOL's function in a build for any target."""
    s = symbol
    while True:  # LLVM's suffixes on local symbols: ".llvm.N", and ".N" after LTO
        cut = re.sub(r"(\.llvm)?\.\d+$", "", s)
        if cut == s:
            break
        s = cut
    s = re.sub(r"17h[0-9a-f]{16}E$", "", s)  # the hash at the end of a (legacy) Rust name
    if s.startswith("_R"):
        # v0 names (the standard library's, built by the Rust project): crate disambiguators,
        # and the back-references that point into the name past them
        s = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", s)
        s = re.sub(r"B[0-9A-Za-z]*_", "B*_", s)
    s = re.sub(r"[?\[\]\\]", "*", s)[:LONGEST]
    return re.sub(r"\*+", "*", s.rstrip("*") + "*")


def native_pages(name, events, library):
    """The pages of the function's own code that a native run (init and NATIVE_REQUESTS
    requests) executed, as addresses in the binary (tools/hot-text-trap.c)."""
    binary = bench.HOST_DIR / name / "bootstrap"
    trace = bench.OUT / f"hot-text.{name}.pages"
    trace.unlink(missing_ok=True)
    bench.drive(name, events, NATIVE_REQUESTS, trapped(library, trace, binary))
    return traced_pages(trace, binary)


def trapped(library, trace, binary):
    """The command prefix that runs BINARY with the trap library writing to TRACE."""
    return ["env", f"LD_PRELOAD={library}", f"HOT_TEXT_TRACE={trace}",
            f"HOT_TEXT_PROGRAM={pathlib.Path(binary).resolve()}"]


def traced_pages(trace, binary):
    """The pages of a trace (run-time addresses) as addresses in BINARY."""
    lines = pathlib.Path(trace).read_text().splitlines()
    if not lines:
        raise SystemExit(f"{trace}: empty (the trap library did not run)")
    start, _, offset = (int(x, 16) for x in lines[0].split())
    # the executable segment's address in the binary (lld and ld: one segment R E)
    segments = subprocess.run(["readelf", "-lW", str(binary)], capture_output=True, text=True,
                              check=True).stdout
    load = next(line.split() for line in segments.splitlines()
                if line.split()[:1] == ["LOAD"] and "E" in line.split()[6:-1])
    file_offset, vaddr = int(load[1], 16), int(load[2], 16)
    return {int(p, 16) - start + offset - file_offset + vaddr for p in lines[1:]}


def functions(binary):
    """The function symbols of BINARY (with symbols: a host build of tools/build.sh --trace):
    name -> (address, size)."""
    out = subprocess.run(["nm", "--defined-only", "--no-demangle", "-S", str(binary)],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            found[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return found


def functions_on(symbols, pages, page_size=4096):
    """The function symbols (of functions()) that overlap any of PAGES."""
    found = set()
    for name, (at, size) in symbols.items():
        first, last = at // page_size, (at + max(size, 1) - 1) // page_size
        if any(page * page_size in pages for page in range(first, last + 1)):
            found.add(name)
    return found


def script(users, weight, names):
    """The linker script: every pattern of USERS (pattern -> the functions that ran it), in
    the order of the sets of NAMES (the measured functions, most important first) that run
    them, read as binary numbers with the first function as the highest bit, largest first:
    the code all of them run comes first, and every function's code lies in few runs (all of
    the first function's in one, the second's in two, ...), where in an order by heat the code
    of all of them alternates. Within one set, hottest first (by WEIGHT)."""
    bit = {name: 1 << (len(names) - 1 - i) for i, name in enumerate(names)}
    ordered = sorted(users, key=lambda p: (-sum(bit[n] for n in users[p]), -weight[p], p))
    lines = [
        "/* Generated by tools/hottext.py (make hot-text): the functions' executed code first,",
        "   the code all of them run first; see that file for why and how. Inserted before",
        "   .text, so the rest of the program is laid out as the linker's own script does. */",
        "SECTIONS",
        "{",
        "  .text.hot :",
        "  {",
        # ring's assembly (SHA-256, AES-GCM, P-256: every request's TLS and signing) sits in
        # its objects' plain .text, which no symbol names.
        "    *libring*(.text)",
    ]
    lines += [f"    *(.text*.{p})" for p in ordered]
    lines += ["  }", "}", "INSERT BEFORE .text;", ""]
    return "\n".join(lines)


def add(users, weight, name, symbols):
    """Adds SYMBOLS (symbol -> weight) as run by function NAME."""
    for symbol, n in symbols.items():
        if not re.fullmatch(r"[A-Za-z0-9_.$]+", symbol):
            continue  # callgrind's own entries, such as "(below main)"
        p = pattern(symbol)
        users[p].add(name)
        weight[p] += n


def main():
    names = sys.argv[1:] or bench.FUNCTIONS
    bench.OUT.mkdir(parents=True, exist_ok=True)
    library = bench.OUT / "hot-text-trap.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(TRAP)], check=True)
    users, weight = collections.defaultdict(set), collections.Counter()
    for name in names:
        print(f"[hot-text] {name}", file=sys.stderr, flush=True)
        bench.reset_aws()
        loads = bench.workloads(bench.seed())
        profile = bench.callgrind(name, loads[name], REQUESTS, ["--demangle=no"])
        defined = functions(bench.HOST_DIR / name / "bootstrap")
        cost = collections.Counter({f: n for f, n in executed(profile).items() if f in defined})
        if not cost:
            raise SystemExit(f"{profile}: no function of the binary executed (stripped build?)")
        # each function's share, so that one with long requests does not decide the order
        whole = sum(cost.values())
        add(users, weight, name, {symbol: n * 1_000_000 // whole + 1 for symbol, n in cost.items()})
        # What ran natively but not under callgrind: every function on a page it executed
        # that the profile does not name (which of a page's functions ran is not known).
        bench.reset_aws()
        loads = bench.workloads(bench.seed())
        pages = native_pages(name, loads[name], library)
        profiled = {pattern(symbol) for symbol in cost}
        extra = {symbol: 0 for symbol in functions_on(defined, pages)
                 if pattern(symbol) not in profiled}
        add(users, weight, name, extra)
        print(f"[hot-text] {name}: {len(cost)} functions executed under callgrind; natively "
              f"{len(pages)} pages, {len(extra)} functions on them not in the profile",
              file=sys.stderr, flush=True)
    text = script(users, weight, names)
    SCRIPT.write_text(text)
    print(f"[hot-text] {SCRIPT}: {len(users)} patterns", file=sys.stderr)


if __name__ == "__main__":
    main()
