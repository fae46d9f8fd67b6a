"""Everyday ops of a training script on one large tensor, pygrad beside PyTorch CPU (and numpy where
it has the op): run with ``python -m bench.everyday [--threads N] [--only NAME ...]`` from the
repository root. Activations, powers, reductions with indices, softmax and the losses, where with a
scalar, on a 4096 x 1024 float32 tensor; forward alone, and forward + backward (``out.sum()``'s
gradient to every input that requires grad). Prints milliseconds and pygrad's time over PyTorch's
(below 1: pygrad is faster), marking rows where pygrad takes more than 1.5x; asserts nothing.

The rows are the ops a sweep found running a scalar libm call, a branch or a generic loop per
element; it keeps them honest, and finds the next ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import import_pygrad, interleaved, machine, threads, try_import


def _rows(lib: Any, F: Any, X: Any, Y: Any, R: Any, L: Any) -> list[tuple[str, Callable[[], Any]]]:  # noqa: N803
    """(name, the op on this library's tensors)"""
    where = lib.where
    return [
        ("relu", lambda: F.relu(X)),
        ("leaky_relu(0.1)", lambda: F.leaky_relu(X, 0.1)),
        ("elu", lambda: F.elu(X)),
        ("silu", lambda: F.silu(X)),
        ("gelu", lambda: F.gelu(X)),
        ("softplus", lambda: F.softplus(X)),
        ("logsigmoid", lambda: F.logsigmoid(X)),
        ("hardtanh", lambda: F.hardtanh(X)),
        ("relu6", lambda: F.relu6(X)),
        ("tanh", lambda: X.tanh()),
        ("sigmoid", lambda: X.sigmoid()),
        ("sqrt(|x|)", lambda: X.abs().sqrt()),
        ("x ** 2", lambda: X ** 2),
        ("x ** 3", lambda: X ** 3),
        ("x + row", lambda: X + R),
        ("where(x > 0, x, 0.0)", lambda: where(X > 0, X, 0.0)),
        ("max()", lambda: X.max()),
        ("amax(1)", lambda: X.amax(1)),
        ("max(1) values, indices", lambda: X.max(1)[0]),
        ("argmax(1)", lambda: X.argmax(1)),
        ("softmax(1)", lambda: X.softmax(1)),
        ("log_softmax(1)", lambda: X.log_softmax(1)),
        ("softmax(0)", lambda: X.softmax(0)),
        ("cross_entropy", lambda: F.cross_entropy(X, L)),
        ("mse_loss", lambda: F.mse_loss(X, Y)),
        ("smooth_l1_loss", lambda: F.smooth_l1_loss(X, Y)),
        ("huber_loss", lambda: F.huber_loss(X, Y)),
        ("norm()", lambda: X.norm()),
        ("norm(dim=1)", lambda: X.norm(dim=1)),
        ("layer_norm", lambda: F.layer_norm(X, (1024,))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help="row names to run")
    args = ap.parse_args()
    pg = import_pygrad()
    torch, _ = try_import("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 1024)).astype(np.float32)
    y = rng.standard_normal((4096, 1024)).astype(np.float32)
    row = rng.standard_normal(1024).astype(np.float32)
    lab = rng.integers(0, 1024, 4096)
    libs = {"pygrad": (pg, pg.nn.functional)}
    if torch is not None:
        torch.set_num_threads(args.threads)
        libs["torch"] = (torch, torch.nn.functional)
    made = {}
    for name, (lib, F) in libs.items():  # noqa: N806
        X, Y, R = (lib.tensor(a, requires_grad=True) for a in (x, y, row))  # noqa: N806
        made[name] = (X, Y, R, _rows(lib, F, X, Y, R, lib.tensor(lab)))
    print(machine())
    print(f"\n4096 x 1024 float32, {args.threads} thread(s); best of 5 interleaved rounds\n")
    print("| op | pygrad fwd ms | torch fwd ms | fwd ratio | pygrad fwd+bwd ms | torch fwd+bwd ms | fwd+bwd ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = [n for n, _ in made["pygrad"][3]]
    with threads(args.threads):
        for k, name in enumerate(names):
            if args.only and name not in args.only:
                continue
            fwd, both = {}, {}
            for lib_name, (X, Y, R, rows) in made.items():  # noqa: N806
                f = rows[k][1]

                def step(f: Callable[[], Any] = f, ins: tuple[Any, ...] = (X, Y, R)) -> None:
                    for t in ins:
                        t.grad = None
                    out = f()
                    if out.requires_grad:
                        out.sum().backward()

                fwd[lib_name], both[lib_name] = f, step
            t_f = interleaved(fwd, repeats=5, inner=2)
            t_b = interleaved(both, repeats=5, inner=2)
            cells = [name]
            for t in (t_f, t_b):
                p, q = t["pygrad"] * 1e3, t.get("torch", float("nan")) * 1e3
                cells += [f"{p:.2f}", f"{q:.2f}", f"{p / q:.2f}" + (" <" if p > 1.5 * q else "")]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
