"""Pooling forward and backward against PyTorch CPU and the copy roofline: run with ``python -m bench.pool``
from the repository root (``--quick``: fewer repeats). Input 64 x 64 x 56 x 56 float32 (a ResNet stage),
every core (``--threads N``: N threads). Prints per op and pass the best time, its GB/s, pygrad's time over
PyTorch's, and the fraction of the copy roofline pygrad reaches; asserts nothing.

GB/s counts the bytes each engine's algorithm must move, every buffer once: forward reads x and writes y
(PyTorch's max_pool2d also writes its int64 indices when x requires grad: counted for PyTorch); backward
reads dy and writes dx, and pygrad's max_pool2d also reads x (it finds each window's maximum again instead
of keeping indices), PyTorch's reads its indices. The roofline is numpy.copyto between two buffers of x's
size, split over as many Python threads as cores (numpy lets the GIL go): 2 x nbytes / time. The fraction
is the roofline's time for pygrad's bytes over pygrad's time. The backward is timed alone, as
``autograd.grad(y, x, dy, retain_graph=True)`` on a recorded forward.

Both sides count the bytes an algorithm cannot avoid, not the traffic a store adds: where memcpy writes
through the caches (glibc does below its non-temporal threshold, a fraction of the last-level cache, so on
hosts with a large one at this size), each destination line is read before it is written, and the copy
moves 3 x nbytes for the 2 x nbytes it is credited with. pygrad streams outputs of 16 MiB and more (dx of
every backward here, y of the same-size average) past the caches, and the strided max pools' outputs of
8 MiB and more, so those passes can exceed 100%; the strided average's forward writes a quarter of x through
the caches and pays that read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.bandwidth import copy_threads
from bench.common import import_pygrad, interleaved, max_threads, threads, try_import
from bench.roofline import header, row

SHAPE = (64, 64, 56, 56)

# name, pygrad forward, torch forward (each of (functional module, x)), and whether torch keeps int64 indices
CASES: list[tuple[str, Callable[[Any, Any], Any], bool]] = [
    ("max_pool2d 2x2/2", lambda F, x: F.max_pool2d(x, 2, 2), True),
    ("max_pool2d 3x3/2 pad 1", lambda F, x: F.max_pool2d(x, 3, 2, 1), True),
    ("avg_pool2d 2x2/2", lambda F, x: F.avg_pool2d(x, 2, 2), False),
    ("avg_pool2d 3x3/1 pad 1", lambda F, x: F.avg_pool2d(x, 3, 1, 1), False),
    ("adaptive_avg_pool2d 1x1", lambda F, x: F.adaptive_avg_pool2d(x, 1), False),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="pooling against PyTorch and the copy roofline")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for every engine and the copy (default: every core)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    pg = import_pygrad()
    torch, why = try_import("torch")
    n_thr = args.threads if args.threads > 0 else max_threads()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    nbytes = x.nbytes
    dst = np.empty_like(x).reshape(-1)
    src = x.reshape(-1)
    X = pg.tensor(x, requires_grad=True)  # noqa: N806
    if torch is not None:
        torch.set_num_threads(n_thr)
        tx = torch.tensor(x, requires_grad=True)
    header("op", SHAPE, x, n_thr, torch, why)
    with threads(n_thr):
        for name, fwd, torch_idx in CASES:
            F = pg.nn.functional  # noqa: N806
            y = fwd(F, X)
            ybytes = y.numpy().nbytes
            dy = pg.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            fns: dict[str, Callable[[], Any]] = {
                "copy": lambda: copy_threads(dst, src, n_thr),
                "pg_fwd": lambda fwd=fwd: fwd(pg.nn.functional, X),
                "pg_bwd": lambda y=y, dy=dy: pg.autograd.grad(y, X, dy, retain_graph=True),
            }
            if torch is not None:
                ty = fwd(torch.nn.functional, tx)
                tdy = torch.tensor(dy.numpy())
                fns["t_fwd"] = lambda fwd=fwd: fwd(torch.nn.functional, tx)
                fns["t_bwd"] = lambda ty=ty, tdy=tdy: torch.autograd.grad(ty, tx, tdy, retain_graph=True)
            best = interleaved(fns, repeats=repeats)
            copy_gbs = 2 * nbytes / best["copy"] / 1e9
            idx = ybytes * 2 if torch_idx else 0  # int64 indices: twice a float32 output
            passes = [
                ("forward", "pg_fwd", "t_fwd", nbytes + ybytes, nbytes + ybytes + idx),
                ("backward", "pg_bwd", "t_bwd", ybytes + nbytes + (nbytes if torch_idx else 0),
                 ybytes + nbytes + idx),
            ]
            for pname, pk, tk, pbytes, tbytes in passes:
                row(name, pname, best[pk], pbytes, best.get(tk), tbytes, copy_gbs)
            print(f"|  | copy roofline | {best['copy'] * 1e3:.2f} | {copy_gbs:.1f} |  |  |  |  |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
