"""`make hot-text`: writes tools/hot-text.ld, the linker script that puts the code the functions
run (init and their requests, as tools/bench.py drives them) together at the start of the
program's text, before the code they never run.

Why: the kernel maps a binary's code into a process 64 KiB around every page it faults in
(fault-around), from the page cache. Code that runs is spread over almost all of a function's
6 MB of text, so nearly all of it ends up resident: peak RSS is mostly code that never runs.
Grouped, the code that runs fits in about a third of the pages (docs/performance.md, "Memory").

How: each measured function (tools/bench.py's FUNCTIONS, a host release build with symbols:
tools/build.sh --host) runs under callgrind through the harness for init and REQUESTS
requests; every function of its own binary that executed becomes a pattern for the linker.
Patterns must also match the arm64 build, which is what deploys and which this machine cannot
run: rustc's (legacy) symbol names end in a hash that differs between targets (cargo's
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
import sys

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench", HERE / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SCRIPT = HERE / "hot-text.ld"
REQUESTS = 20
# Patterns are cut after this many characters (names of trait impls on generic types run to
# hundreds): the script stays small, and a cut pattern only matches more.
LONGEST = 160


def executed(profile):
    """Instructions per function of the binary itself (not libc's, not valgrind's) in a
    callgrind profile written with --demangle=no."""
    names = {}  # callgrind's name compression: "fn=(12) name" once, then "fn=(12)"
    cost = collections.Counter()
    own = fn = None
    after_call = False

    def name(value, table):
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1))

    objects = {}
    for line in profile.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            own = name(line[3:], objects).endswith("/bootstrap")
        elif line.startswith("fn="):
            fn = name(line[3:], names)
        elif line.startswith(("cfn=", "cfi=", "cfl=")):
            if line.startswith("cfn="):
                name(line[4:], names)
        elif line.startswith("cob="):
            name(line[4:], objects)
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
            elif own and fn:
                parts = line.split()
                if len(parts) >= 2:
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


def script(costs):
    ordered = []
    seen = set()
    for symbol, _ in costs.most_common():
        if not re.fullmatch(r"[A-Za-z0-9_.$]+", symbol):
            continue  # callgrind's own entries, such as "(below main)"
        p = pattern(symbol)
        if p not in seen:
            seen.add(p)
            ordered.append(p)
    lines = [
        "/* Generated by tools/hottext.py (make hot-text): the functions' executed code first,",
        "   hottest first; see that file for why and how. Inserted before .text, so the rest",
        "   of the program is laid out as the linker's own script does. */",
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


def main():
    names = sys.argv[1:] or bench.FUNCTIONS
    bench.OUT.mkdir(parents=True, exist_ok=True)
    total = collections.Counter()
    for name in names:
        print(f"[hot-text] {name}", file=sys.stderr, flush=True)
        bench.reset_aws()
        loads = bench.workloads(bench.seed())
        profile = bench.callgrind(name, loads[name], REQUESTS, ["--demangle=no"])
        cost = executed(profile)
        if not cost:
            raise SystemExit(f"{profile}: no function of the binary executed (stripped build?)")
        # each function's share, so that one with long requests does not decide the order
        whole = sum(cost.values())
        for symbol, n in cost.items():
            total[symbol] += n * 1_000_000 // whole + 1
        print(f"[hot-text] {name}: {len(cost)} functions executed", file=sys.stderr, flush=True)
    text = script(total)
    SCRIPT.write_text(text)
    print(f"[hot-text] {SCRIPT}: {text.count(chr(10)) - 11} patterns", file=sys.stderr)


if __name__ == "__main__":
    main()
