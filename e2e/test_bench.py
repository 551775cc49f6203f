"""tools/bench.py's memory breakdown (`make bench`'s "Resident memory by kind" table): which
mapping counts as what. No stack needed."""

import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import bench  # noqa: E402

SMAPS = """\
55d0c0000000-55d0c0400000 r--p 00000000 fd:01 42 /var/task/bootstrap
Size:               4096 kB
Rss:                1000 kB
55d0c0400000-55d0c0a00000 r-xp 00400000 fd:01 42 /var/task/bootstrap
Rss:                3000 kB
VmFlags: rd ex mr mw me
55d0c0a00000-55d0c0a10000 rw-p 00a00000 fd:01 42 /var/task/bootstrap
Rss:                  24 kB
55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0 [heap]
Rss:                   8 kB
48f43400000-48f83400000 rw-p 00000000 00:00 0
Rss:                1180 kB
7f4353000000-7f4353200000 r-xp 00028000 fd:01 7 /usr/lib64/libc.so.6
Rss:                1240 kB
7f4353300000-7f4353310000 r--p 00000000 fd:01 8 /usr/lib64/ld-linux-x86-64.so.2
Rss:                  16 kB
7ffca64ec000-7ffca650d000 rw-p 00000000 00:00 0 [stack]
Rss:                 108 kB
7ffca6600000-7ffca6602000 r-xp 00000000 00:00 0 [vdso]
Rss:                   4 kB
"""


def test_resident_memory_is_split_by_kind_of_mapping():
    where = bench.resident(SMAPS)
    assert where == {
        "own code": 3000 / 1024,  # only the program's executable mapping
        "own data": (1000 + 24) / 1024,  # its read-only and writable mappings
        "libraries": (1240 + 16) / 1024,  # any other file
        "heap and stacks": (8 + 1180 + 108 + 4) / 1024,  # anonymous, [heap], [stack], [vdso]
    }


def test_the_kinds_add_up_to_a_live_process_resident_size():
    smaps = pathlib.Path("/proc/self/smaps")
    smaps.read_text()  # the first read grows this process; then it stays
    before = bench.status_kib("self", "VmRSS") / 1024
    where = bench.resident(smaps.read_text())
    after = bench.status_kib("self", "VmRSS") / 1024
    # this process has no /bootstrap: its code counts as a library (the python binary)
    assert where["own code"] == where["own data"] == 0
    assert where["libraries"] > 0 and where["heap and stacks"] > 0
    assert before - 0.25 <= sum(where.values()) <= after + 0.25


RESULTS = {
    "bench-floor": {"cpu_ms_per_invocation": 0.4, "warm_invocation_instructions": 181_000},
    "get-ticket": {"cpu_ms_per_invocation": 1.5, "warm_invocation_instructions": 1_000_000},
    "update-status": {"cpu_ms_per_invocation": 2.5, "warm_invocation_instructions": 3_000_000},
}


def rows(text):
    return {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| function"))}


def test_the_memory_size_estimate_comes_from_the_instructions():
    table = rows(bench.power(RESULTS))
    assert "bench-floor" not in table  # the floor makes no round trips to estimate
    # the run's CPU time per instruction, pooled: (1.5 + 2.5) ms over 4 M instructions
    assert table["get-ticket"][:3] == ["1000", "1.000", "2"]
    assert table["update-status"][:3] == ["3000", "3.000", "2"]
    # 128 MB: CPU stretched by 1,769 / 128, plus two round trips of 4 ms; billed per started ms
    duration, cost = bench.estimate(1.0, 8.0, 128)
    assert abs(duration - (1769 / 128 + 8)) < 1e-9
    assert table["get-ticket"][3:5] == [f"{duration:.1f}", f"{cost:.2f}"]
    # at or above a full vCPU the CPU time is not stretched
    assert bench.estimate(1.0, 8.0, 2048)[0] == 9.0


def test_without_instructions_the_estimate_uses_each_functions_cpu_time():
    measured = {k: {"cpu_ms_per_invocation": v["cpu_ms_per_invocation"]} for k, v in RESULTS.items()}
    table = rows(bench.power(measured))
    assert table["get-ticket"][:3] == ["n/a", "1.500", "2"]
    assert table["update-status"][:3] == ["n/a", "2.500", "2"]


def test_the_results_show_where_each_functions_memory_is():
    row = {"binary_bytes_arm64": 7e6, "zip_bytes_arm64": 3e6, "init_ms_median": 15.0,
           "cold_start_ms_median": 28.0, "first_minus_warm_ms": 0.5, "peak_rss_mib": 8.2,
           "warm_ms_median": 9.0, "warm_ms_p99": 15.0, "cpu_ms_per_invocation": 1.3,
           "resident_mib": bench.resident(SMAPS)}
    machine = {"cpu": "test", "cores": 2, "rustc": "rustc", "date": "today", "backend": "TLS"}
    first, second = _all_rows(bench.table({"get-ticket": row}, machine), "get-ticket")
    assert first[11:13] == ["8.2", "n/a"]  # peak RSS (no floor in this run: no ratio)
    # the second table: own code, own data, libraries, heap and stacks, their sum, the peak
    assert second[:6] == ["2.93", "1.00", "1.23", "1.27", "6.43", "8.20"]


def _all_rows(text, name):
    return [[c.strip() for c in line.strip("|").split("|")][1:] for line in text.splitlines()
            if line.startswith(f"| {name} |")]


QEMU_SMAPS = """\
5500000000-5500460000 r--p 00000000 fd:01 42 /work/target/lambda/get-ticket/bootstrap
Rss:                4200 kB
5500470000-5500480000 rw-p 00460000 fd:01 42 /work/target/lambda/get-ticket/bootstrap
Rss:                  40 kB
5501000000-5501200000 r--p 00000000 fd:01 9 /usr/aarch64-linux-gnu/lib/libc.so.6
Rss:                1200 kB
5502000000-5502040000 r--p 00000000 fd:01 10 /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
Rss:                 160 kB
55d0c0000000-55d0c0400000 r-xp 00000000 fd:01 3 /usr/bin/qemu-aarch64
Rss:                2100 kB
7f1155200000-7f115d1ff000 rwxp 00000000 00:00 0
Rss:               14336 kB
7f4353000000-7f4353200000 r-xp 00028000 fd:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1240 kB
4ded6400000-4df16400000 rw-p 00000000 00:00 0
Rss:                1128 kB
"""


def test_under_qemu_only_the_programs_file_and_its_arm64_libraries_count():
    where = bench.resident_arm64(QEMU_SMAPS, "/usr/aarch64-linux-gnu")
    # the emulator maps the guest's code without execute permission: every mapping of the
    # program's file is its own; the emulator, its translation cache, its own libc and all
    # anonymous memory are not counted
    assert where == {"own": (4200 + 40) / 1024, "libraries": (1200 + 160) / 1024}
    assert bench.resident_arm64(QEMU_SMAPS, "/usr/aarch64-linux-gnu/")["libraries"] == where["libraries"]


def test_the_arm64_estimate_adds_the_hosts_heap_and_stacks():
    row = {"binary_bytes_arm64": 7e6, "zip_bytes_arm64": 3e6, "init_ms_median": 15.0,
           "cold_start_ms_median": 28.0, "first_minus_warm_ms": 0.5, "peak_rss_mib": 8.2,
           "warm_ms_median": 9.0, "warm_ms_p99": 15.0, "cpu_ms_per_invocation": 1.3,
           "resident_mib": bench.resident(SMAPS),
           "arm64_resident_mib": bench.resident_arm64(QEMU_SMAPS, "/usr/aarch64-linux-gnu")}
    machine = {"cpu": "test", "cores": 2, "rustc": "rustc", "date": "today", "backend": "TLS"}
    _, second = _all_rows(bench.table({"get-ticket": row}, machine), "get-ticket")
    # own 4.14 + libraries 1.33 + the host's heap and stacks 1.27
    assert second[-3:] == ["4.14", "1.33", "6.74"]
    row["arm64_resident_mib"] = None  # no qemu on the machine
    _, second = _all_rows(bench.table({"get-ticket": row}, machine), "get-ticket")
    assert second[-3:] == ["n/a", "n/a", "n/a"]


def test_every_function_is_also_given_as_a_ratio_to_the_floor():
    """The issue's floor: init, cold start and peak RSS divided by the floor's of the same run."""
    base = {"binary_bytes_arm64": 7e6, "zip_bytes_arm64": 3e6, "first_minus_warm_ms": 0.5,
            "warm_ms_median": 9.0, "warm_ms_p99": 15.0, "cpu_ms_per_invocation": 1.3,
            "resident_mib": bench.resident(SMAPS)}
    results = {
        bench.FLOOR: {**base, "init_ms_median": 2.5, "cold_start_ms_median": 4.0, "peak_rss_mib": 4.0},
        "get-ticket": {**base, "init_ms_median": 10.0, "cold_start_ms_median": 20.0,
                       "peak_rss_mib": 8.0},
    }
    machine = {"cpu": "test", "cores": 2, "rustc": "rustc", "date": "today", "backend": "TLS"}
    first, _ = _all_rows(bench.table(results, machine), "get-ticket")
    assert first[2:4] == ["10.00", "4.00"]  # init ms, × floor
    assert first[5:7] == ["20.0", "5.00"]  # cold start ms, × floor
    assert first[11:13] == ["8.0", "2.00"]  # peak RSS MiB, × floor
    floor, _ = _all_rows(bench.table(results, machine), bench.FLOOR)
    assert floor[3] == floor[6] == floor[12] == "1.00"


def build_commands(*args):
    """What tools/build.sh would run (BUILD_DRY_RUN): the cargo lambda command lines."""
    out = subprocess.run(["bash", "tools/build.sh", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, BUILD_DRY_RUN="1"))
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.startswith("cargo lambda build")]


def test_the_bench_measures_static_musl_builds_and_the_trace_takes_glibc():
    # what deploys: arm64, static (musl)
    deployed, = build_commands("get-ticket")
    assert "--target aarch64-unknown-linux-musl" in deployed and "--lambda-dir target/lambda " in deployed
    # what make bench runs natively: the same kind of program, this machine's architecture
    host, = build_commands("--host", "get-ticket")
    assert f"--target {platform.machine()}-unknown-linux-musl" in host
    assert "--lambda-dir target/lambda-host " in host
    # make hot-text's page trace preloads a library: glibc, its own directory
    trace, = build_commands("--trace", "get-ticket")
    assert "--target" not in trace and "--lambda-dir target/lambda-trace " in trace
    assert len(build_commands("--host", "get-ticket", "list-tickets")) == 2
    script = (ROOT / "tools" / "bench.sh").read_text()
    hot_text = script[script.index("if [ $hot_text = 1 ]; then"):]
    hot_text = hot_text[:hot_text.index("fi\n")]
    assert "tools/build.sh --trace" in hot_text and "lambda-trace" in hot_text
    assert "tools/build.sh --host" in hot_text.split("else")[1]
    assert 'BENCH_HOST_DIR="$ROOT/target/lambda-trace"' in hot_text
