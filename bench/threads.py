"""1 thread against 2 on memory-bound kernels, by size: run with ``python -m bench.threads`` (or
``python bench/threads.py``) from the repository root.

For each size (4k .. 4M elements) and float dtype: ``x + y``, ``x * y``, ``relu(x)``, a broadcast
``x + b`` (b one value per channel of an N x C x 8 x 8 tensor), ``x.sum()``, and the bias gradient's
column sums ``g.sum(axis=(0, 2, 3))`` of an N x C x 8 x 8 ``g``. pygrad alone, at 1 and at 2
threads, interleaved in one process (a 1-thread call, then a 2-thread call, ...; the thread count is
switched between calls), best of several rounds: microseconds per call (the Python call included)
and the 2-thread time over the 1-thread time (> 1: 2 threads are slower). Two modes:

- ``hot``: the calls back to back, as in a loop of one op;
- ``gap``: an idle pause before every call (longer than the pool's idle spin), so the kernel's
  workers are asleep when it starts, as between the ops of a training step with Python in between.

Asserts nothing. ``--quick`` cuts the sizes and repeats.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import import_pygrad, machine  # noqa: E402

SIZES = [4096, 16384, 65536, 131072, 262144, 524288, 1048576, 4194304]
QUICK_SIZES = [16384, 131072, 1048576]
GAP = 0.5e-3  # seconds of idle before a call in the "gap" mode (the pool spins for 0.1 ms)


def _ops(pg: Any, n: int, dtype: str) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    c = 32
    rows = max(1, n // (c * 64))
    x = pg.tensor(rng.standard_normal(n).astype(dtype))
    y = pg.tensor(rng.standard_normal(n).astype(dtype))
    g4 = pg.tensor(rng.standard_normal((rows, c, 8, 8)).astype(dtype))
    b = pg.tensor(rng.standard_normal((c, 1, 1)).astype(dtype))
    relu = pg.nn.functional.relu
    return {
        "add": lambda: x + y,
        "mul": lambda: x * y,
        "relu": lambda: relu(x),
        "bcast add": lambda: g4 + b,
        "sum": lambda: x.sum(),
        "bias sum": lambda: g4.sum(axis=(0, 2, 3)),
    }


def _time(pg: Any, fn: Callable[[], Any], repeats: int, inner: int, gap: bool) -> dict[int, float]:
    best = {1: float("inf"), 2: float("inf")}
    clock = time.perf_counter
    for t in (1, 2):
        pg.set_num_threads(t)
        fn()
    for _ in range(repeats):
        for t in (1, 2):
            pg.set_num_threads(t)
            if gap:
                total = 0.0
                for _ in range(inner):
                    time.sleep(GAP)
                    t0 = clock()
                    fn()
                    total += clock() - t0
            else:
                fn()
                t0 = clock()
                for _ in range(inner):
                    fn()
                total = clock() - t0
            best[t] = min(best[t], total / inner)
    return best


def main(quick: bool = False) -> None:
    pg = import_pygrad()
    old = pg.get_num_threads()
    sizes = QUICK_SIZES if quick else SIZES
    repeats = 5 if quick else 9
    print(f"host: {machine()}")
    print()
    for mode in ("hot", "gap"):
        print(f"| {mode} | elements | dtype | " + " | ".join(f"{op} 1t / 2t µs (2t/1t)" for op in _OPS) + " |")
        print("| --- | ---: | --- |" + " ---: |" * len(_OPS))
        gc.disable()
        try:
            for n in sizes:
                for dtype in ("float32", "float64"):
                    ops = _ops(pg, n, dtype)
                    cells = []
                    for name in _OPS:
                        inner = 20 if mode == "gap" else max(5, min(2000, int(2e6 // n)))
                        best = _time(pg, ops[name], repeats, inner, mode == "gap")
                        cells.append(f"{best[1] * 1e6:.0f} / {best[2] * 1e6:.0f} ({best[2] / best[1]:.2f})")
                    print(f"| {mode} | {n} | {dtype} | " + " | ".join(cells) + " |")
        finally:
            gc.enable()
            pg.set_num_threads(old)
        print()


_OPS = ["add", "mul", "relu", "bcast add", "sum", "bias sum"]

if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
