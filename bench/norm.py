"""batch_norm, layer_norm and group_norm against PyTorch CPU and the copy roofline: run with
``python bench/norm.py [--quick] [--float64] [--threads 1,2]`` (from any directory). Large tensors:
batch_norm with training statistics on (64, 64, 56, 56) and (64, 64, 32, 32), and with the running ones
(eval) on (64, 64, 56, 56); layer_norm on (8192, 1024) and the transformer's (8192, 768); group_norm (32
groups) on (32, 64, 56, 56); float32 (and float64 with --float64), on 1 thread and on every core;
forward alone, and forward + backward (``y.backward(dy)``, gradients to x, weight and bias). Prints
milliseconds, GB/s, pygrad's time over PyTorch's and the fraction of the copy roofline; asserts nothing.

GB/s counts the bytes the op must move: forward reads x and writes y (2 x the tensor's bytes), forward +
backward adds reading x and dy and writing dx (5 x in all); the statistics and the affine pair are
negligible. The roofline is numpy.copyto of a tensor of the same size into an existing array, split over
the same number of threads (bench/bandwidth.py's copy), timed in the same interleaved rounds as the ops:
the machine is shared and its bandwidth varies. Every figure is the best of the repeats.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bandwidth import copy_threads  # noqa: E402
from common import LoadMeter, import_pygrad, interleaved, machine, max_threads, threads, try_import  # noqa: E402


def _cases(quick: bool) -> list[tuple[str, tuple[int, ...], Callable[..., Any]]]:
    """(name, shape, apply(F, x, w, b, rm, rv)) for each op."""
    scale = 2 if quick else 1
    return [
        ("batch_norm (train)", (64 // scale, 64, 56, 56), lambda F, x, w, b, rm, rv: F.batch_norm(
            x, rm, rv, w, b, True, 0.1, 1e-5)),
        ("batch_norm (train)", (64 // scale, 64, 32, 32), lambda F, x, w, b, rm, rv: F.batch_norm(
            x, rm, rv, w, b, True, 0.1, 1e-5)),
        ("batch_norm (eval)", (64 // scale, 64, 56, 56), lambda F, x, w, b, rm, rv: F.batch_norm(
            x, rm, rv, w, b, False, 0.1, 1e-5)),
        ("layer_norm", (8192 // scale, 1024), lambda F, x, w, b, rm, rv: F.layer_norm(x, (1024,), w, b, 1e-5)),
        ("layer_norm", (8192 // scale, 768), lambda F, x, w, b, rm, rv: F.layer_norm(x, (768,), w, b, 1e-5)),
        ("group_norm (G=32)", (32 // scale, 64, 56, 56), lambda F, x, w, b, rm, rv: F.group_norm(
            x, 32, w, b, 1e-5)),
    ]


def _fns(pg: Any, torch: Any, shape: tuple[int, ...], apply: Callable[..., Any], rng: np.random.Generator,
         dtype: Any, backward: bool) -> dict[str, Callable[[], Any]]:
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[-1] if len(shape) == 2 else shape[1]
    w = rng.standard_normal(c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    fns: dict[str, Callable[[], Any]] = {}
    for name, lib, F in (("pygrad", pg, pg.nn.functional), ("torch", torch, torch.nn.functional if torch else None)):
        if lib is None:
            continue
        X = lib.tensor(x, requires_grad=backward)  # noqa: N806
        W, B = lib.tensor(w, requires_grad=backward), lib.tensor(b, requires_grad=backward)  # noqa: N806
        RM, RV = lib.tensor(np.zeros(c, dtype)), lib.tensor(np.ones(c, dtype))  # noqa: N806
        DY = lib.tensor(dy)  # noqa: N806

        if backward:
            def step(F: Any = F, X: Any = X, W: Any = W, B: Any = B, RM: Any = RM, RV: Any = RV,  # noqa: N803
                     DY: Any = DY) -> None:
                X.grad = W.grad = B.grad = None
                apply(F, X, W, B, RM, RV).backward(DY)
        else:
            def step(F: Any = F, X: Any = X, W: Any = W, B: Any = B, RM: Any = RM, RV: Any = RV,  # noqa: N803
                     DY: Any = DY) -> None:
                apply(F, X, W, B, RM, RV)
        fns[name] = step
    return fns


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench/norm.py")
    ap.add_argument("--quick", action="store_true", help="half the sizes, fewer repeats")
    ap.add_argument("--float64", action="store_true", help="float64 rows too")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1 and every core)")
    args = ap.parse_args(argv)
    pg = import_pygrad()
    torch, why = try_import("torch")
    rng = np.random.default_rng(0)
    counts = ([int(t) for t in args.threads.split(",")] if args.threads
              else sorted({1, max_threads()}))
    dtypes = [np.float32, np.float64] if args.float64 else [np.float32]
    repeats = 4 if args.quick else 10
    print(f"host: {machine()}")
    print(f"threads: {', '.join(map(str, counts))} (pygrad and PyTorch alike); "
          f"torch: {torch.__version__ if torch else why}")
    print()
    print("| op | dtype | shape | threads | pass | pygrad ms | pygrad GB/s | copy GB/s | pygrad of roofline "
          "| torch ms | torch of roofline | pygrad / torch time |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with LoadMeter() as meter:
        for dtype in dtypes:
            for name, shape, apply in _cases(args.quick):
                nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
                src = np.ones(int(np.prod(shape)), dtype)
                dst = np.empty_like(src)
                for nthr in counts:
                    for backward in (False, True):
                        fns = _fns(pg, torch, shape, apply, rng, dtype, backward)
                        fns["copy"] = lambda dst=dst, src=src, n=nthr: copy_threads(dst, src, n)
                        with threads(nthr):
                            best = interleaved(fns, repeats=repeats, inner=2)
                        moved = (5 if backward else 2) * nbytes
                        copy_gbs = 2 * nbytes / best["copy"] / 1e9
                        gbs = moved / best["pygrad"] / 1e9
                        row = [name, np.dtype(dtype).name, "x".join(map(str, shape)), str(nthr),
                               "fwd+bwd" if backward else "fwd", f"{best['pygrad'] * 1e3:.2f}", f"{gbs:.1f}",
                               f"{copy_gbs:.1f}", f"{gbs / copy_gbs:.0%}"]
                        if "torch" in best:
                            tg = moved / best["torch"] / 1e9
                            row += [f"{best['torch'] * 1e3:.2f}", f"{tg / copy_gbs:.0%}",
                                    f"{best['pygrad'] / best['torch']:.2f}"]
                        else:
                            row += ["-", "-", "-"]
                        print("| " + " | ".join(row) + " |", flush=True)
                        del fns
    print()
    print("- GB/s: forward 2 x, forward + backward 5 x the tensor's bytes over the best time; the roofline is "
          "numpy.copyto over the same threads, timed in the same interleaved rounds")
    print(f"- best of {repeats} interleaved repeats of 2 calls each")
    print(f"- {meter.note()}")


if __name__ == "__main__":
    main()
