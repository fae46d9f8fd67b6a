"""Bad-input fuzzing, observed from outside: tests/reliability/fuzz_bad_input.py runs in a child process.

The child draws thousands of hostile calls (see that file) and checks each
outcome itself. Here the child is only watched: it must exit 0 and print
"N cases passed". If it dies from a signal (a crash in C, or SIGALRM when one
case outlasts its time limit) or does not finish before the deadline, the
test fails and reports the case that was running, read from the progress
file the child rewrites before every case.

PYGRAD_FUZZ_EXAMPLES sets the number of cases (default 2500).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pygrad

HERE = Path(__file__).resolve().parent
DEADLINE = float(os.environ.get("PYGRAD_FUZZ_DEADLINE", "600"))


@pytest.mark.skipif(sys.platform == "win32", reason="the child uses resource limits and SIGALRM (POSIX)")
def test_hostile_calls_end_in_exceptions_or_results(tmp_path: Path) -> None:
    progress = tmp_path / "current_case.txt"
    env = dict(os.environ)
    # the child imports the pygrad under test, wherever it is installed
    env["PYTHONPATH"] = os.pathsep.join([str(Path(pygrad.__file__).resolve().parent.parent), str(HERE),
                                         env.get("PYTHONPATH", "")])
    env["PYGRAD_FUZZ_PROGRESS"] = str(progress)
    # one BLAS thread: per-thread buffers on a many-core machine would eat into the child's address-space limit
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYGRAD_FUZZ_EXAMPLES", "2500")
    cmd = [sys.executable, str(HERE / "fuzz_bad_input.py")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        case = progress.read_text() if progress.exists() else "(none started)"
        pytest.fail(f"the fuzzer hung (no exit within {DEADLINE:.0f} s); the running case was:\n{case}")
    case = progress.read_text() if progress.exists() else "(none started)"
    if r.returncode < 0:
        sig = signal.Signals(-r.returncode).name
        what = "a case outlasted its time limit (hang)" if sig == "SIGALRM" else "the child crashed"
        pytest.fail(f"{what}: killed by {sig} while running:\n{case}\n\nstderr:\n{r.stderr[-4000:]}")
    assert r.returncode == 0, f"the fuzzer found a bad outcome:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith("cases passed") and int(last.split()[0]) >= int(env["PYGRAD_FUZZ_EXAMPLES"]) // 2, last
    print(f"bad-input fuzzer: {last}")


def test_the_watcher_sees_a_crash(tmp_path: Path) -> None:
    """A child that dies from a signal is reported as a crash, not as a pass."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # a preloaded ASan would catch the signal
    r = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == -signal.SIGSEGV
