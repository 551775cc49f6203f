"""The layout that groups the code the functions run (tools/hottext.py, tools/hot-text.ld;
docs/performance.md, "Memory"): its patterns match the symbols they came from also in a build
for another target, the profile reader counts only the binary's own code, and every release
build links with the committed script. No stack needed."""

import fnmatch
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import hottext  # noqa: E402

# One generic instance as rustc 1.95 names it (v0) in an x86_64 build, and the same instance in
# an arm64 build: other crate disambiguators, hence other back-reference offsets.
X86 = ("_RINvMNtCsgEmfK2I1SDS_4core5sliceSh11copy_withinINtNtNtB5_3ops5range14Range"
       "InclusivejEECsfEOYDRpO4Ta_11miniz_oxide")
ARM = ("_RINvMNtCs9zKq1Lm2N4Pw7_4core5sliceSh11copy_withinINtNtNtB6_3ops5range14Range"
       "InclusivejEECsA1b2C3d4E5f6g_11miniz_oxide")
OTHER = ("_RINvMNtCsgEmfK2I1SDS_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejE"
         "ECsfEOYDRpO4Ta_11miniz_oxide")


def section_matches(pattern, symbol, prefix=".text."):
    # lld's glob: * is any run of characters; the script's patterns are `.text*.<pattern>`
    return fnmatch.fnmatchcase(prefix + symbol, f".text*.{pattern}")


def test_a_pattern_matches_its_symbol_in_a_build_for_another_target():
    p = hottext.pattern(X86)
    assert section_matches(p, X86)
    assert section_matches(p, ARM)
    assert section_matches(p, ARM, prefix=".text.unlikely.")
    # another instance of the same generic function (other type arguments) is told apart
    assert not section_matches(p, OTHER)


def test_legacy_and_llvm_suffixes_become_wildcards():
    legacy = "_ZN9hashbrown3raw21RawTable$LT$T$C$A$GT$14reserve_rehash17h046d7629463370faE"
    p = hottext.pattern(legacy)
    assert section_matches(p, legacy)
    assert section_matches(p, legacy.replace("046d7629463370fa", "ffffffffffffffff"))
    assert section_matches(hottext.pattern("ring_core_0_17_14__gcm_init_clmul.llvm.1234"),
                           "ring_core_0_17_14__gcm_init_clmul.llvm.98")
    assert not set(hottext.pattern("a[b]?c\\d")) & set("[]?\\")


def test_long_names_are_cut_and_still_match():
    long = "_RNvXs_NtCs1_5tokio" + "Ab" * 200
    p = hottext.pattern(long)
    assert len(p) <= hottext.LONGEST + 1 and p.endswith("*")
    assert section_matches(p, long)


PROFILE = """version: 1
creator: callgrind-3.22.0
events: Ir
ob=(1) /tmp/x/get-ticket/bootstrap
fl=(1) ???
fn=(1) _RNvCs1_10get_ticket4main
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
totals: 6050
"""


def test_the_profile_reader_counts_the_binarys_own_code_and_not_calls_into_others(tmp_path):
    profile = tmp_path / "callgrind.out"
    profile.write_text(PROFILE)
    cost = hottext.executed(profile)
    # main's 100 (the 5000 of its call to memcpy is memcpy's, in libc); the helper 40 + 2 + 8;
    # libc's own memcpy (900) is not the binary's
    assert dict(cost) == {"_RNvCs1_10get_ticket4main": 100, "hot_helper": 50}


def test_the_script_lists_the_hottest_first_and_inserts_before_text():
    from collections import Counter
    text = hottext.script(Counter({"cold": 1, "_RNvCs1_3hot4main": 10}))
    body = text.splitlines()
    hot = next(i for i, l in enumerate(body) if "3hot4main" in l)
    cold = next(i for i, l in enumerate(body) if l.strip() == "*(.text*.cold*)")
    assert hot < cold
    assert text.rstrip().endswith("INSERT BEFORE .text;")


def test_every_release_build_links_with_the_committed_script():
    script = (ROOT / "tools" / "hot-text.ld").read_text()
    assert script.count("{") == script.count("}")
    patterns = re.findall(r"^\s+\*\(\.text\*\.(.+)\)$", script, re.M)
    # the profile of every measured function: their handlers' code, the runtime's, the SDK's
    assert len(patterns) > 1000
    for crate in ("10get_ticket", "12list_tickets", "10add_thread", "18aws_smithy_runtime",
                  "14lambda_runtime"):
        assert any(crate in p for p in patterns), crate
    # arm64, what deploys (make build, sam build): v0 names from .cargo/config.toml
    config = tomllib.loads((ROOT / ".cargo" / "config.toml").read_text())
    assert "symbol-mangling-version=v0" in config["target"]["aarch64-unknown-linux-gnu"]["rustflags"]
    # this machine's release builds (make bench, make hot-text): the same names
    assert "_RUSTFLAGS=-C symbol-mangling-version=v0" in (ROOT / "tools" / "build.sh").read_text()
    # every function (and the bench's floor) links with the script through the build script
    for manifest in [*ROOT.glob("functions/*/Cargo.toml"), ROOT / "tools/bench-floor/Cargo.toml"]:
        package = tomllib.loads(manifest.read_text())["package"]
        assert (manifest.parent / package.get("build", "build.rs")).resolve() == \
            ROOT / "tools" / "link-layout.rs", manifest
    layout = (ROOT / "tools" / "link-layout.rs").read_text()
    assert 'cargo:rustc-link-arg-bins=-Wl,-T,{}' in layout
    assert 'cargo:rerun-if-changed={}' in layout
