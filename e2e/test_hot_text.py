"""The layout that groups the code the functions run (tools/hottext.py, tools/hot-text.ld;
docs/performance.md, "Memory"): its patterns match the symbols they came from also in a build
for another target, the profile reader counts only the binary's own code, and every function's
release build links with the committed script. No stack needed."""

import fnmatch
import os
import pathlib
import re
import signal
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import hottext  # noqa: E402

# One function as rustc 1.95 names it in an x86_64 build and in an arm64 build (another hash:
# cargo's metadata for the crate includes the target).
X86 = "_ZN18aws_smithy_runtime6client8defaults15default_plugins17heeb687692739917eE"
ARM = "_ZN18aws_smithy_runtime6client8defaults15default_plugins17h0a1b2c3d4e5f6789E"
OTHER = "_ZN18aws_smithy_runtime6client8defaults23default_plugins_for_sts17heeb687692739917eE"


def section_matches(pattern, symbol, prefix=".text."):
    # lld's glob: * is any run of characters; the script's patterns are `.text*.<pattern>`
    return fnmatch.fnmatchcase(prefix + symbol, f".text*.{pattern}")


def test_a_pattern_matches_its_symbol_in_a_build_for_another_target():
    p = hottext.pattern(X86)
    assert section_matches(p, X86)
    assert section_matches(p, ARM)
    # LLVM puts code it thinks cold in .text.unlikely.<name>
    assert section_matches(p, ARM, prefix=".text.unlikely.")
    # another function is not matched (the length prefixes keep one name from being the
    # beginning of another)
    assert not section_matches(p, OTHER)


def test_llvm_suffixes_become_wildcards_and_glob_characters_do_not_survive():
    assert section_matches(hottext.pattern("ring_core_0_17_14__gcm_init_clmul.llvm.1234"),
                           "ring_core_0_17_14__gcm_init_clmul.llvm.98")
    # a local symbol numbered after LTO keeps no hash either
    numbered = X86 + ".6385"
    assert section_matches(hottext.pattern(numbered), ARM + ".17")
    assert not set(hottext.pattern("a[b]?c\\d")) & set("[]?\\")


# The standard library comes built by the Rust project with v0 names: crate disambiguators
# (and so the back-references' offsets) differ between targets.
STD_X86 = ("_RINvMNtCsgEmfK2I1SDS_4core5sliceSh11copy_withinINtNtNtB5_3ops5range14Range"
           "InclusivejEECsfEOYDRpO4Ta_11miniz_oxide")
STD_ARM = ("_RINvMNtCs9zKq1Lm2N4Pw7_4core5sliceSh11copy_withinINtNtNtB6_3ops5range14Range"
           "InclusivejEECsA1b2C3d4E5f6g_11miniz_oxide")
STD_OTHER = ("_RINvMNtCsgEmfK2I1SDS_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejE"
             "ECsfEOYDRpO4Ta_11miniz_oxide")


def test_the_standard_librarys_v0_names_match_across_targets():
    p = hottext.pattern(STD_X86)
    assert section_matches(p, STD_X86)
    assert section_matches(p, STD_ARM)
    assert not section_matches(p, STD_OTHER)  # another instance: other type arguments


def test_long_names_are_cut_and_still_match():
    long = "_ZN5tokio" + "Ab" * 200 + "17heeb687692739917eE"
    p = hottext.pattern(long)
    assert len(p) <= hottext.LONGEST + 1 and p.endswith("*")
    assert section_matches(p, long)


PROFILE = """version: 1
creator: callgrind-3.22.0
events: Ir
ob=(1) /tmp/x/get-ticket/bootstrap
fl=(1) ???
fn=(1) _ZN10get_ticket4main17h92c179fe96946ec2E
0 100
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) ???
cfn=(2) memcpy
calls=3 0
0 5000
fn=(3) hot_helper
0 40
+2 2
ob=(2)
fn=(2)
0 900
ob=(1)
fn=(3)
0 8
ob=(4) ???
fn=(4) _ZN10get_ticket6handle17h92c179fe96946ec2E
0 70
fn=(5) _ZN10get_ticket6handle17h92c179fe96946ec2E'2
0 1
totals: 6121
"""


def test_the_profile_reader_counts_the_binarys_own_code_and_not_calls_into_others(tmp_path):
    profile = tmp_path / "callgrind.out"
    profile.write_text(PROFILE)
    cost = hottext.executed(profile)
    # main's 100 (the 5000 of its call to memcpy is memcpy's, in libc); the helper 40 + 2 + 8;
    # libc's own memcpy (900) is not the binary's
    # and code in .text.hot, which valgrind does not place in the binary ("???"), at any
    # depth of recursion
    assert dict(cost) == {"_ZN10get_ticket4main17h92c179fe96946ec2E": 100, "hot_helper": 50,
                          "_ZN10get_ticket6handle17h92c179fe96946ec2E": 71}


def test_the_script_puts_the_code_all_run_first_and_each_functions_together():
    from collections import Counter, defaultdict
    users, weight = defaultdict(set), Counter()
    hottext.add(users, weight, "get-ticket", {"_ZN7runtime4next17h92c179fe96946ec2E": 5,
                                              "_ZN3get4cold17h92c179fe96946ec2E": 1,
                                              "_ZN3get3hot17h92c179fe96946ec2E": 9,
                                              "_ZN6shared4read17h92c179fe96946ec2E": 1,
                                              "(below main)": 50})
    hottext.add(users, weight, "list-tickets", {"_ZN7runtime4next17h0a1b2c3d4e5f6789E": 5,
                                                "_ZN4list3hot17h92c179fe96946ec2E": 99,
                                                "_ZN6shared4read17h92c179fe96946ec2E": 1})
    hottext.add(users, weight, "add-thread", {"_ZN7runtime4next17h0a1b2c3d4e5f6789E": 5,
                                              "_ZN3add3hot17h92c179fe96946ec2E": 7})
    hottext.add(users, weight, "get-ticket", {"_ZN3get3hot17h0000000000000000E": 0})
    assert "(below main)" not in str(dict(users)), "callgrind's own entries are no functions"
    body = hottext.script(users, weight, ["get-ticket", "list-tickets", "add-thread"]).splitlines()
    order = [line.strip() for line in body if line.strip().startswith("*(.text*.")]
    # the runtime, run by all, first (one pattern for both targets' hashes); then all of
    # get-ticket's code together (what it shares with list-tickets next to list-tickets'
    # own), hottest first within one set of functions; then list-tickets', then add-thread's
    assert order == ["*(.text*._ZN7runtime4next*)", "*(.text*._ZN6shared4read*)",
                     "*(.text*._ZN3get3hot*)", "*(.text*._ZN3get4cold*)",
                     "*(.text*._ZN4list3hot*)", "*(.text*._ZN3add3hot*)"]
    assert body[-1] == "INSERT BEFORE .text;"


TRAPPED_PROGRAM = r"""
#include <stdio.h>
__attribute__((noinline, aligned(4096))) int ran(int x) { return x * 3 + 1; }
__attribute__((noinline, aligned(4096))) int never(int x) { return x * 5 + 2; }
__attribute__((noinline, aligned(4096))) int also_ran(int x) { return x * 7 + 3; }
int main(int argc, char **argv) {
    (void)argv;
    int (*volatile f)(int) = argc > 5 ? never : ran;
    printf("%d\n", also_ran(f(argc)));
    return 0;
}
"""


def build_trap(tmp_path):
    library = tmp_path / "trap.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(hottext.TRAP)],
                   check=True)
    source = tmp_path / "program.c"
    source.write_text(TRAPPED_PROGRAM)
    program = tmp_path / "program"
    subprocess.run(["cc", "-O1", "-o", str(program), str(source)], check=True)
    return library, program


def test_the_native_trace_finds_the_functions_that_ran_and_not_the_others(tmp_path):
    library, program = build_trap(tmp_path)
    trace = tmp_path / "pages"
    out = subprocess.run([*hottext.trapped(library, trace, program), str(program)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "31\n", out  # the program runs on, unchanged
    pages = hottext.traced_pages(trace, program)
    found = hottext.functions_on(hottext.functions(program), pages)
    assert {"ran", "also_ran", "main"} <= found
    assert "never" not in found


def test_the_trap_leaves_other_programs_and_real_crashes_alone(tmp_path):
    library, program = build_trap(tmp_path)
    trace = tmp_path / "pages"
    # another program than the one named: not trapped, no trace
    env = dict(os.environ, LD_PRELOAD=str(library), HOT_TEXT_TRACE=str(trace),
               HOT_TEXT_PROGRAM=str(program))
    assert subprocess.run(["true"], env=env, timeout=30).returncode == 0
    assert not trace.exists()
    # the program's own segmentation fault is still one (not a loop in the handler)
    crash = tmp_path / "crash.c"
    crash.write_text("int main(void) { volatile int *p = 0; return *p; }\n")
    crasher = tmp_path / "crash"
    subprocess.run(["cc", "-O0", "-o", str(crasher), str(crash)], check=True)
    out = subprocess.run([*hottext.trapped(library, trace, crasher), str(crasher)], timeout=30)
    assert out.returncode == -signal.SIGSEGV
    assert len(trace.read_text().splitlines()) > 1, "its pages up to the crash were traced"


def test_every_release_build_links_with_the_committed_script():
    script = (ROOT / "tools" / "hot-text.ld").read_text()
    assert script.count("{") == script.count("}")
    patterns = re.findall(r"^\s+\*\(\.text\*\.(.+)\)$", script, re.M)
    # the profile of every measured function: their handlers' code, the runtime's, the SDK's
    assert len(patterns) > 1000
    for crate in ("_ZN10get_ticket", "_ZN12list_tickets", "_ZN10add_thread",
                  "_ZN18aws_smithy_runtime", "_ZN14lambda_runtime"):
        assert any(crate in p for p in patterns), crate
    # every function (and the bench's floor) links with the script through the build script
    for manifest in [*ROOT.glob("functions/*/Cargo.toml"), ROOT / "tools/bench-floor/Cargo.toml"]:
        package = tomllib.loads(manifest.read_text())["package"]
        assert (manifest.parent / package.get("build", "build.rs")).resolve() == \
            ROOT / "tools" / "link-layout.rs", manifest
    layout = (ROOT / "tools" / "link-layout.rs").read_text()
    assert 'cargo:rustc-link-arg-bins=-Wl,-T,{}' in layout
    assert 'cargo:rerun-if-changed={}' in layout


def test_every_function_gives_back_the_loaders_relocation_tables_first():
    """shared/src/memory.rs (docs/performance.md, Memory): first thing in every main."""
    mains = sorted(ROOT.glob("functions/*/src/main.rs"))
    assert len(mains) > 20
    for main in mains:
        body = main.read_text().split("fn main()", 1)[1]
        call = body.find("support_tickets::memory::release_startup_pages();")
        assert call != -1, main
        assert call < body.find("support_tickets::logging::init();"), main
