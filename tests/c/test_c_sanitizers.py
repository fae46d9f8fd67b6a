"""The C API tested from C: tests/c/test_pygrad.c under sanitizers and valgrind.

The C test program (built by tests/c/build.sh from csrc/ and the test file,
without Python) calls every pg_ function of csrc/pygrad.h on good and bad
input and prints "N passed, M failed". Here it is built and run

- with AddressSanitizer + UndefinedBehaviorSanitizer (leak detection on):
  no sanitizer report, no leak, 0 failed;
- plainly, and under ``valgrind --leak-check=full`` when valgrind is installed;
- once with a deliberately failing check, to see the harness report it.

Skipped (with the reason) only when no C compiler is found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDIR = ROOT / "tests" / "c"
HEADER = ROOT / "csrc" / "pygrad.h"
TEST_C = CDIR / "test_pygrad.c"
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
MIN_CHECKS = 1000  # the program makes ~1500 checks; far fewer means it stopped early
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


CC = _compiler()
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc, gcc or clang) on PATH")


def _build(out: Path, *flags: str) -> Path:
    r = subprocess.run(["sh", str(CDIR / "build.sh"), str(out), *flags], capture_output=True, text=True,
                       env={**os.environ, "CC": CC or "cc"}, timeout=300)
    assert r.returncode == 0, f"build failed:\n{r.stdout}\n{r.stderr}"
    return out


def _summary(stdout: str) -> tuple[int, int]:
    lines = stdout.strip().splitlines()
    assert lines, "the test program printed nothing"
    m = SUMMARY.match(lines[-1])
    assert m, f"last line is not 'N passed, M failed': {lines[-1]!r}"
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("c_tests")


@pytest.fixture(scope="module")
def asan_exe(build_dir: Path) -> Path:
    """The harness under ASan + UBSan, built once for every test of this file that runs it."""
    return _build(build_dir / "test_pygrad_asan", *SANITIZE)


@pytest.fixture(scope="module")
def plain_exe(build_dir: Path) -> Path:
    """The harness without sanitizers, built once."""
    return _build(build_dir / "test_pygrad")


def test_every_public_function_is_exercised() -> None:
    """Each pg_ function declared in the header's API section is called by the C test."""
    text = HEADER.read_text()
    api = text[text.index("/* PG_CDEF_BEGIN */"):text.index("/* PG_CDEF_END */")]
    api = re.sub(r"/\*.*?\*/", "", api, flags=re.S)
    declared = set(re.findall(r"\b(pg_[a-z0-9_]+)\s*\(", api))
    assert len(declared) > 70
    source = TEST_C.read_text()
    # the entry points of ops.def's "math" family are called by test_math_family through the op list
    ops_def = re.sub(r"/\*.*?\*/", "", (ROOT / "csrc" / "ops.def").read_text(), flags=re.S)
    math = {f"pg_{name}" for name in re.findall(r"^X\(\s*\w+\s*,\s*(\w+)\s*,[^)]*,\s*math\s*\)", ops_def, re.M)}
    assert "pg_exp" in math and "test_math_family();" in source
    missing = sorted(name for name in declared - math if not re.search(rf"\b{name}\s*\(", source))
    assert not missing, f"pg_ functions the C test never calls: {missing}"


@needs_cc
def test_c_api_under_address_and_undefined_sanitizers(asan_exe: Path) -> None:
    exe = asan_exe
    env = {
        **os.environ,
        # allocator_may_return_null: the program checks that a 10^12-element
        # tensor fails with PG_ERR_MEMORY, which needs malloc to return NULL
        "ASAN_OPTIONS": "detect_leaks=1:allocator_may_return_null=1:abort_on_error=0",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    r = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=300)
    reports = [line for line in r.stderr.splitlines()
               if "runtime error:" in line or "ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line
               or "SUMMARY:" in line]
    assert not reports, "sanitizer reports:\n" + r.stderr[-6000:]
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    passed, failed = _summary(r.stdout)
    assert failed == 0 and passed >= MIN_CHECKS, r.stderr[-3000:]


@needs_cc
def test_c_api_plain_build(plain_exe: Path) -> None:
    r = subprocess.run([str(plain_exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    passed, failed = _summary(r.stdout)
    assert failed == 0 and passed >= MIN_CHECKS


@needs_cc
def test_the_harness_reports_a_failure(plain_exe: Path) -> None:
    r = subprocess.run([str(plain_exe)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PG_TEST_SELF_CHECK": "1"})
    assert r.returncode == 1
    passed, failed = _summary(r.stdout)
    assert failed == 1 and passed >= MIN_CHECKS
    assert "FAILED: !\"the harness counts a failing check\"" in r.stderr


@needs_cc
@pytest.mark.parametrize("mode", [1, 2], ids=["cached-buffer", "past-the-request"])
def test_asan_still_sees_touches_of_cached_buffers(asan_exe: Path, mode: int) -> None:
    """The buffer cache keeps freed large buffers instead of freeing them; under ASan it poisons
    them (and the tail of a size class past the request), so such touches are still reported."""
    r = subprocess.run([str(asan_exe)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0", "PG_TEST_USE_AFTER_FREE": str(mode)})
    assert r.returncode != 0
    assert "ERROR: AddressSanitizer: use-after-poison" in r.stderr, r.stderr[-3000:]
    assert "touch_freed_buffer" in r.stderr, r.stderr[-3000:]


@needs_cc
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_c_api_under_valgrind(plain_exe: Path) -> None:
    r = subprocess.run(["valgrind", "--leak-check=full", "--error-exitcode=1", str(plain_exe)],
                       capture_output=True, text=True, timeout=600)
    failing = "\n".join(line for line in r.stdout.splitlines() if "FAILED" in line or " failed" in line)
    assert r.returncode == 0, f"exit {r.returncode}\nfailing checks:\n{failing}\nvalgrind:\n{r.stderr[-6000:]}"
    assert "ERROR SUMMARY: 0 errors" in r.stderr, r.stderr[-6000:]
    assert "definitely lost" not in r.stderr or "definitely lost: 0 bytes" in r.stderr
    passed, failed = _summary(r.stdout)
    assert failed == 0 and passed >= MIN_CHECKS
