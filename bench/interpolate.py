"""interpolate forward and forward + backward against PyTorch CPU and the copy roofline: run with
``python -m bench.interpolate`` from the repository root (``--quick``: fewer repeats). Input 32 x 64 x 56 x 56
float32, every core. Prints per case and pass the best time (interleaved rounds), its GB/s, pygrad's time
over PyTorch's, and the fraction of the copy roofline pygrad reaches; asserts nothing.

GB/s counts the bytes the pass must move, every buffer once: forward reads x and writes y; forward +
backward also reads dy and writes dx (2 x (x + y)). The roofline is numpy.copyto between two buffers of
y's size, split over as many Python threads as cores: 2 x nbytes / time; the fraction is the roofline's
time for the pass's bytes over pygrad's time (pygrad stores a forward output of 16 MiB or more with
streaming stores, which skip reading y's lines before writing them, and numpy.copyto does not: the
fraction can pass 100%). The backward runs as ``autograd.grad(y, x, dy)`` after a
fresh forward. The row "bilinear 2x, composed" is interpolate as it was before it was an op: two gathers
(index_map) and two constant weights per spatial dim, eight recorded ops. The bicubic and antialias rows
move more than their bytes' worth of arithmetic (four taps per dim, or a filter window as wide as the
downsampling), so their fraction of the roofline is lower. ``--only TEXT`` runs the cases whose name
contains TEXT.
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

SHAPE = (32, 64, 56, 56)


def _composed_bilinear2x(pg: Any, x: Any) -> Any:
    """The composition of gathers interpolate(x, scale_factor=2, mode='bilinear') was before."""
    y = x
    for d in (0, 1):
        n = x.shape[2 + d]
        src = np.maximum(0.5 * (np.arange(2 * n) + 0.5) - 0.5, 0.0)
        i0 = np.minimum(src.astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        l1 = np.clip(src - i0, 0.0, 1.0)
        shape = [1, 1, 1, 1]
        shape[2 + d] = 2 * n
        maps = [np.arange(k) for k in y.shape]
        m0, m1 = list(maps), list(maps)
        m0[2 + d], m1[2 + d] = i0, i1
        y = (y._index_map(m0) * pg.tensor((1.0 - l1).reshape(shape), dtype=x.dtype)
             + y._index_map(m1) * pg.tensor(l1.reshape(shape), dtype=x.dtype))
    return y


# name, pygrad forward, torch forward (each of (engine module, x))
CASES: list[tuple[str, Callable[[Any, Any], Any], Callable[[Any, Any], Any] | None]] = [
    ("bilinear 2x", lambda m, x: m.nn.functional.interpolate(x, scale_factor=2, mode="bilinear"),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")),
    ("bilinear 2x, composed", _composed_bilinear2x, None),
    ("bilinear 2x align_corners", lambda m, x: m.nn.functional.interpolate(x, scale_factor=2, mode="bilinear",
                                                                           align_corners=True),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)),
    ("nearest 2x", lambda m, x: m.nn.functional.interpolate(x, scale_factor=2),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=2)),
    ("bilinear 0.5x", lambda m, x: m.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear"),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear")),
    ("bicubic 2x", lambda m, x: m.nn.functional.interpolate(x, scale_factor=2, mode="bicubic"),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=2, mode="bicubic")),
    ("bicubic 2x align_corners", lambda m, x: m.nn.functional.interpolate(x, scale_factor=2, mode="bicubic",
                                                                          align_corners=True),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True)),
    ("bicubic 0.5x", lambda m, x: m.nn.functional.interpolate(x, scale_factor=0.5, mode="bicubic"),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=0.5, mode="bicubic")),
    ("bilinear 0.5x antialias", lambda m, x: m.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear",
                                                                         antialias=True),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)),
    ("bicubic 0.5x antialias", lambda m, x: m.nn.functional.interpolate(x, scale_factor=0.5, mode="bicubic",
                                                                        antialias=True),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=0.5, mode="bicubic", antialias=True)),
    ("bilinear 0.25x antialias", lambda m, x: m.nn.functional.interpolate(x, scale_factor=0.25, mode="bilinear",
                                                                          antialias=True),
     lambda t, x: t.nn.functional.interpolate(x, scale_factor=0.25, mode="bilinear", antialias=True)),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="interpolate against PyTorch and the copy roofline")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 9")
    parser.add_argument("--only", default="", help="only the cases whose name contains this text")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 9
    pg = import_pygrad()
    torch, why = try_import("torch")
    n_thr = max_threads()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    X = pg.tensor(x, requires_grad=True)  # noqa: N806
    if torch is not None:
        torch.set_num_threads(n_thr)
        tx = torch.tensor(x, requires_grad=True)
    header("case", SHAPE, x, n_thr, torch, why)
    with threads(n_thr):
        for name, fwd, tfwd in CASES:
            if args.only not in name:
                continue
            y = fwd(pg, X)
            ybytes = y.numpy().nbytes
            big = max(ybytes, x.nbytes) // 4
            src, dst = np.ones(big, np.float32), np.empty(big, np.float32)
            dy = pg.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            fns: dict[str, Callable[[], Any]] = {
                "copy": lambda src=src, dst=dst: copy_threads(dst, src, n_thr),
                "pg_fwd": lambda fwd=fwd: fwd(pg, X),
                "pg_both": lambda fwd=fwd, dy=dy: pg.autograd.grad(fwd(pg, X), X, dy),
            }
            if torch is not None and tfwd is not None:
                tdy = torch.tensor(dy.numpy())
                fns["t_fwd"] = lambda tfwd=tfwd: tfwd(torch, tx)
                fns["t_both"] = lambda tfwd=tfwd, tdy=tdy: torch.autograd.grad(tfwd(torch, tx), tx, tdy)
            best = interleaved(fns, repeats=repeats)
            copy_gbs = 2 * big * 4 / best["copy"] / 1e9
            for pname, pk, tk, nbytes in (("forward", "pg_fwd", "t_fwd", x.nbytes + ybytes),
                                          ("forward + backward", "pg_both", "t_both", 2 * (x.nbytes + ybytes))):
                row(name, pname, best[pk], nbytes, best.get(tk), nbytes, copy_gbs)
            print(f"|  | copy roofline ({2 * big * 4 / 1e6:.0f} MB moved) | {best['copy'] * 1e3:.2f} | "
                  f"{copy_gbs:.1f} |  |  |  |  |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
