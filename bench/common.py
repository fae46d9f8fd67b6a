"""Helpers shared by the benchmark sections: importing pygrad and its peers,
timing, thread control, machine facts, the FMA peak probe, markdown tables.

Timing rule: every figure is the best of several repeats, and the engines of
one comparison run interleaved (repeat 1 of every engine, then repeat 2, ...),
so a burst of load from elsewhere on the machine hits them alike and the
best repeat is the least disturbed one.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib
import importlib.machinery
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


# ------------------------------------------------------------------ imports ---


def import_pygrad() -> Any:
    """Import pygrad, preferring an in-place build in this checkout (else the installed one)."""
    here = ROOT / "pygrad"
    built = any((here / f"_pygrad{suffix}").exists() for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    if built and str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import pygrad

    return pygrad


def try_import(name: str) -> tuple[Any | None, str]:
    """(module, "") or (None, why it is missing): a missing peer is reported, not fatal."""
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError:
        return None, "not installed"
    except Exception as exc:  # a broken install is reported too
        return None, f"import failed: {type(exc).__name__}: {exc}"


def version(module: str, dist: str) -> str:
    """Version of an imported peer, or "not installed"."""
    if sys.modules.get(module) is None:
        return "not installed"
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return getattr(sys.modules[module], "__version__", "unknown version")


# ---------------------------------------------------------------- threads ---


def max_threads() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run pygrad, PyTorch and numpy's BLAS with n threads inside the block.

    numpy's BLAS is limited through threadpoolctl when it is installed (else
    it keeps its own setting; see blas_threads_note). JAX fixes its thread
    count at import and is not affected.
    """
    pg = import_pygrad()
    torch = sys.modules.get("torch")
    old_pg = pg.get_num_threads()
    old_torch = torch.get_num_threads() if torch is not None else None
    pg.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    limiter: Any = contextlib.nullcontext()
    tpc, _ = try_import("threadpoolctl")
    if tpc is not None:
        limiter = tpc.threadpool_limits(limits=n, user_api="blas")
    try:
        with limiter:
            yield
    finally:
        pg.set_num_threads(old_pg)
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)


def blas_threads_note() -> str:
    """How numpy's BLAS thread count is controlled in this run."""
    tpc, _ = try_import("threadpoolctl")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    forced = f"; OPENBLAS_CORETYPE={coretype} in the environment" if coretype else ""
    if tpc is None:
        return f"threadpoolctl is not installed: numpy's BLAS uses its default thread count throughout{forced}"
    libs = [f"{i.get('internal_api', '?')} {i.get('version', '')} ({i.get('architecture', '?')} kernels)"
            for i in tpc.threadpool_info() if i.get("user_api") == "blas"]
    return f"numpy's BLAS threads are set with threadpoolctl; {', '.join(libs) or 'no BLAS found'}{forced}"


# ----------------------------------------------------------------- timing ---


# OpenBLAS's idle workers yield-spin for about 0.1 s after a call (2^28 TSC
# cycles); meanwhile they take a core from whatever runs next in the process:
# pygrad's 2-thread GEMM right after a numpy matmul measured at half speed.
SETTLE = 0.15


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, inner: int = 1, warmup: int = 1,
                each_round: Callable[[], Any] | None = None, settle: float = 0.0,
                warm: float = 0.0) -> dict[str, float]:
    """Best seconds per call of each function: ``repeats`` rounds, each timing
    ``inner`` back-to-back calls of every function in turn (after ``warmup``
    untimed calls each); ``each_round`` (untimed) runs once at the start of
    every round; each timed block starts ``settle`` seconds after the previous
    one ends, so threads other engines left spinning are asleep (SETTLE), and,
    with ``warm``, after that many seconds of untimed calls of the same
    function, so the block times calls back to back with the engine's threads
    (and the machine's cores) already busy rather than waking. The garbage
    collector is off while timing."""
    best = {name: float("inf") for name in fns}
    gc_was_enabled = gc.isenabled()
    try:
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        gc.collect()
        gc.disable()
        clock = time.perf_counter
        for _ in range(repeats):
            if each_round is not None:
                each_round()
            for name, fn in fns.items():
                if settle:
                    time.sleep(settle)
                if warm:
                    w0 = clock()
                    while clock() - w0 < warm:
                        fn()
                t0 = clock()
                for _ in range(inner):
                    fn()
                t = (clock() - t0) / inner
                if t < best[name]:
                    best[name] = t
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def inner_for(seconds_per_call: float, target: float = 0.02) -> int:
    """Calls per timed round so that a round lasts about ``target`` seconds."""
    if seconds_per_call <= 0:
        return 1
    return max(1, min(100_000, int(target / seconds_per_call)))


# -------------------------------------------------------- machine and peak ---


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def clock_mhz() -> str:
    """The clock the kernel reports (nominal on most VMs; boost clocks are not visible)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            mhz = sorted({round(float(line.split(":")[1])) for line in f if line.startswith("cpu MHz")})
        if mhz:
            return "/".join(str(m) for m in mhz) + " MHz reported by /proc/cpuinfo"
    except (OSError, ValueError):
        pass
    return "clock not reported"


def machine() -> str:
    """CPU, cores and OS in one line."""
    logical = os.cpu_count() or 0
    usable = max_threads()
    cores = f"{logical} logical cores" + (f" ({usable} usable)" if usable != logical else "")
    return f"{cpu_model()}, {cores}, {platform.system()} {platform.release()} {platform.machine()}"


class PeakProbe:
    """bench/peak.c compiled with the system C compiler: the machine's fused
    multiply-add peak in GFLOP/s per (dtype, threads). ``exe`` is None (and
    ``note`` says why) when it cannot be built or run."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.exe: Path | None = None
        self.isa = "?"
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            self.note = "no C compiler found: fractions of peak are not shown"
            return
        exe = Path(self._tmp.name) / "peak"
        build = subprocess.run([cc, "-O2", "-o", str(exe), str(BENCH / "peak.c"), "-lpthread"],
                               capture_output=True, text=True)
        if build.returncode != 0:
            self.note = f"bench/peak.c did not compile with {cc}: {build.stderr.strip()[:200]}"
            return
        self.exe = exe
        self.note = f"FMA peak measured by bench/peak.c (FMAs on registers, compiled with {Path(cc).name} -O2)"

    def measure(self, threads: int, seconds: float, exact: bool = False) -> dict[tuple[str, int], float]:
        """GFLOP/s per (dtype, team size): team sizes 1..threads, or only ``threads`` when exact."""
        if self.exe is None:
            return {}
        args = [str(self.exe), str(threads), str(seconds)] + (["exact"] if exact else [])
        run = subprocess.run(args, capture_output=True, text=True)
        peak: dict[tuple[str, int], float] = {}
        for line in run.stdout.splitlines():
            m = re.match(r"isa=(\S+) dtype=(\S+) threads=(\d+) gflops=([\d.]+)", line)
            if m and (m.group(2), int(m.group(3))) not in peak:
                self.isa = m.group(1)
                peak[(m.group(2), int(m.group(3)))] = float(m.group(4))
        return peak

    def close(self) -> None:
        self._tmp.cleanup()


class LoadMeter:
    """CPU time other processes used while the block ran, as a share of all
    cores' time: the benchmark's own threads and children are subtracted."""

    def __init__(self) -> None:
        self.share: float | None = None

    @staticmethod
    def _stat() -> tuple[float, float] | None:
        try:
            with open("/proc/stat", encoding="utf-8") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return (sum(fields[:8]) - idle) / hz, sum(fields[:8]) / hz

    def __enter__(self) -> LoadMeter:
        self._t0, self._s0, self._own0 = time.perf_counter(), self._stat(), self._own()
        return self

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __exit__(self, *exc: object) -> None:
        s1 = self._stat()
        if self._s0 is None or s1 is None:
            return
        busy = s1[0] - self._s0[0]
        total = s1[1] - self._s0[1]
        own = self._own() - self._own0
        if total > 0:
            self.share = max(0.0, (busy - own) / total)

    def note(self) -> str:
        """A line for the report."""
        if self.share is None:
            return "load from other processes: not measurable here"
        warn = " (figures are disturbed: rerun on an idle machine)" if self.share > 0.1 else ""
        return f"other processes used {self.share:.0%} of the CPU time during this section{warn}"


# --------------------------------------------------------------- markdown ---


def md_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A markdown table; columns in ``right`` (default: all but the first) are right-aligned."""
    right = set(range(1, len(header))) if right is None else right
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(v: float | None, digits: int = 1) -> str:
    """A number, or an em dash when there is none."""
    return "—" if v is None or v != v else f"{v:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    """a / b as "1.23x", or an em dash."""
    if a is None or b is None or not b or a != a or b != b:
        return "—"
    r = a / b
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def header_lines(argv: list[str]) -> list[str]:
    """Date, machine, clock, versions, command: the lines every report starts with."""
    pg = import_pygrad()
    from pygrad import _runtime

    now = datetime.datetime.now().astimezone()
    import numpy as np

    for peer in ("torch", "micrograd", "jax"):
        try_import(peer)
    return [
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {machine()}",
        f"- clock: {clock_mhz()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {version('torch', 'torch')}, "
        f"micrograd {version('micrograd', 'micrograd')}, jax {version('jax', 'jax')}",
        f"- pygrad {getattr(pg, '__version__', '?')} from {Path(pg.__file__).parent}; GEMM kernel "
        f"{_runtime._gemm_kernel()}; {pg.get_num_threads()} threads by default",
        f"- command: python {' '.join([sys.argv[0], *argv])}",
    ]
