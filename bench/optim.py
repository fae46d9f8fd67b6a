"""One optimizer step on a parameter of 1M float32 elements (its gradient set once): pygrad's fused C
kernel (``pygrad.optim``), the numpy rule of the reference engine (``pygrad.reference.optim``: float64
numpy arrays, the state kept in float32; until the five below had kernels, the C engine ran the same
rule for Adamax, NAdam, RAdam, Adadelta and Rprop), and PyTorch CPU with ``foreach=False`` (its
single-tensor rule), at 1 and 2 threads.

Milliseconds per step, best of interleaved rounds, and the ratios. Run with ``python -m bench.optim
[--quick] [--cpu]``; it is not part of ``python -m bench``. ``--cpu`` times the calling thread's CPU
time (``time.thread_time``) at 1 thread only: on a shared, loaded host it leaves out the time the
process waits for a core, which wall-clock times include.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from bench.common import import_pygrad, interleaved, machine, threads, try_import

N = 1 << 20
CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 1e-3, "momentum": 0.9}), ("Adagrad", {}), ("RMSprop", {}), ("Adam", {}), ("AdamW", {}),
    ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Adadelta", {}), ("Rprop", {}),
]


def cpu_interleaved(fns: dict[str, Callable[[], Any]], repeats: int, inner: int) -> dict[str, float]:
    """As bench.common.interleaved, with the calling thread's CPU time for the clock."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in fns.items():
                t0 = time.thread_time()
                for _ in range(inner):
                    fn()
                best[name] = min(best[name], (time.thread_time() - t0) / inner)
    finally:
        gc.enable()
    return best


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    cpu = "--cpu" in argv
    pg = import_pygrad()
    import pygrad.reference as ref

    torch, why = try_import("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(N).astype(np.float32)
    g0 = (rng.standard_normal(N) * 1e-3).astype(np.float32)
    print(machine())
    clock = "CPU time of the calling thread" if cpu else "wall clock"
    print(f"one step on {N} float32 elements (milliseconds, {clock}; torch: foreach=False)\n")
    print("| optimizer | threads | pygrad C | numpy rule | torch | numpy / C | torch / C |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (1,) if quick or cpu else (1, 2):
        for name, kw in CASES:
            fns = {}
            w = pg.tensor(w0, requires_grad=True)
            w.grad = pg.tensor(g0)
            fns["c"] = getattr(pg.optim, name)([w], **kw).step
            r = ref.tensor(w0, requires_grad=True)
            r.grad = ref.tensor(g0)
            fns["numpy"] = getattr(ref.optim, name)([r], **kw).step
            if torch is not None:
                t = torch.tensor(w0, requires_grad=True)
                t.grad = torch.tensor(g0)
                fns["torch"] = getattr(torch.optim, name)([t], foreach=False, **kw).step
            with threads(n):
                if cpu:
                    best = cpu_interleaved(fns, repeats=5 if quick else 15, inner=3)
                else:
                    best = interleaved(fns, repeats=3 if quick else 7, inner=3)
            ms = {k: 1e3 * v for k, v in best.items()}
            tt = f"{ms['torch']:.2f}" if "torch" in ms else f"- ({why})"
            tr = f"{best['torch'] / best['c']:.2f}" if "torch" in best else "-"
            print(f"| {name} | {n} | {ms['c']:.2f} | {ms['numpy']:.2f} | {tt} | {best['numpy'] / best['c']:.1f} | "
                  f"{tr} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
