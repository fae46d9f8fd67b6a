"""pygrad.compile: a recorded training step replayed in C, against the same step run eagerly.

Cases (each step: zero_grad, forward, loss, backward, optimizer step):

- micrograd's demo built scalar by scalar from 0-d tensors (bench/demo.py's
  model: MLP(2, [16, 16, 1]) on 100 two-moons points, max-margin loss plus
  L2), with the update written as ``optim.SGD(lr=1.0)`` (the hand-written
  ``p -= lr * p.grad`` is an in-place update, which compile does not record
  yet); micrograd itself beside it when installed, timed with the garbage
  collector off;
- the same demo vectorised (matmuls over the batch);
- an MLP 64-256-256-10, batch 64, cross-entropy, SGD with momentum.

Reported: the eager step, the compiled step (best over interleaved rounds,
the collector off), their ratio, and the time of the recording call beside one
eager step. Every compiled run's losses are checked equal to the eager run's
(bit for bit) over the same steps. Run with ``python bench/compile.py
[--quick]``; it prints a table and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import demo  # noqa: E402


def _scalar_demo(pg: Any) -> Callable[[], Callable[..., Any]]:
    X, y = demo.make_moons()
    layers0 = demo.init()
    f64 = pg.float64

    def build() -> tuple[Callable[..., Any], tuple[Any, ...]]:
        neurons = [[([pg.tensor(W[i, j], dtype=f64, requires_grad=True) for i in range(W.shape[0])],
                     pg.tensor(b[j], dtype=f64, requires_grad=True)) for j in range(W.shape[1])] for W, b in layers0]
        params = [p for layer in neurons for w, b in layer for p in (*w, b)]
        opt = pg.optim.SGD(params, lr=demo.LR)

        def model(x: list[Any]) -> Any:
            for li, layer in enumerate(neurons):
                out = []
                for w, b in layer:
                    act = sum((wi * xi for wi, xi in zip(w, x)), b)
                    out.append(act.relu() if li < len(neurons) - 1 else act)
                x = out
            return x[0]

        def step(inputs: Any) -> Any:
            scores = [model(row) for row in inputs]
            losses = [(1 + -float(yi) * si).relu() for yi, si in zip(y, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = demo.ALPHA * sum(p * p for p in params)
            total = data_loss + reg_loss
            opt.zero_grad()
            total.backward()
            opt.step()
            return total

        inputs = tuple(tuple(pg.tensor(v, dtype=f64) for v in row) for row in X)
        return step, (inputs,)

    return build


def _vector_demo(pg: Any) -> Callable[[], Callable[..., Any]]:
    X, y = demo.make_moons()
    layers0 = demo.init()

    def build() -> tuple[Callable[..., Any], tuple[Any, ...]]:
        layers = [(pg.tensor(W, requires_grad=True), pg.tensor(b, requires_grad=True)) for W, b in layers0]
        params = [p for wb in layers for p in wb]
        opt = pg.optim.SGD(params, lr=demo.LR)

        def step(x: Any, neg_y: Any) -> Any:
            h = x
            for i, (W, b) in enumerate(layers):
                h = h @ W + b
                if i < len(layers) - 1:
                    h = h.relu()
            total = (1 + neg_y * h).relu().mean() + demo.ALPHA * sum((p * p).sum() for p in params)
            opt.zero_grad()
            total.backward()
            opt.step()
            return total

        return step, (pg.tensor(X), pg.tensor(-y[:, None]))

    return build


def _mlp(pg: Any, sizes: tuple[int, ...], batch: int) -> Callable[[], Callable[..., Any]]:
    from pygrad.nn import functional as F

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    Y = rng.integers(0, sizes[-1], batch)

    def build() -> tuple[Callable[..., Any], tuple[Any, ...]]:
        model = pg.nn.MLP(list(sizes), dtype="float32", generator=0)
        opt = pg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, (pg.tensor(X), pg.tensor(Y))

    return build


def _micrograd_step() -> Callable[[], Any] | None:
    mg, _ = common.try_import("micrograd")
    if mg is None:
        return None
    X, y = demo.make_moons()
    return demo.engine_micrograd(demo.init(), X, y)[1]


def run(quick: bool = False) -> str:
    pg = common.import_pygrad()
    cases = [("micrograd demo, scalar by scalar (0-d tensors)", _scalar_demo(pg)),
             ("micrograd demo, vectorised", _vector_demo(pg)),
             ("MLP 64-256-256-10, batch 64, SGD momentum", _mlp(pg, (64, 256, 256, 10), 64))]
    repeats = 3 if quick else 7
    rows, notes = [], []
    for name, build in cases:
        eager_step, args = build()
        compiled_step, cargs = build()
        compiled_step = pg.compile(compiled_step)
        t0 = time.perf_counter()
        eager_step(*args)
        t_eager1 = time.perf_counter() - t0
        compiled_step(*cargs)  # the warm-up call (eager)
        t0 = time.perf_counter()
        compiled_step(*cargs)  # records
        t_record = time.perf_counter() - t0
        eager_step(*args)
        same = all(eager_step(*args).item() == compiled_step(*cargs).item() for _ in range(3))
        if not same:
            notes.append(f"{name}: the compiled losses differ from the eager ones")
        if compiled_step.records != 1:
            notes.append(f"{name}: compile did not record (the step ran eagerly)")
        fns = {"eager": lambda f=eager_step, a=args: f(*a), "compiled": lambda f=compiled_step, a=cargs: f(*a)}
        best = common.interleaved(fns, repeats=repeats, inner=1 if "scalar" in name else 5)
        rows.append((name, best["eager"], best["compiled"], t_record, t_eager1))
    mg = _micrograd_step()
    mg_time = common.interleaved({"mg": mg}, repeats=repeats)["mg"] if mg else None
    out = ["# pygrad.compile: compiled step against the eager step", "",
           f"- {common.machine()}", f"- best of {repeats} interleaved rounds, Python's garbage collector off",
           "", "| step | eager ms | compiled ms | speed-up | recording ms | first eager step ms |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, e, c, r, e1 in rows:
        out.append(f"| {name} | {e * 1e3:.3f} | {c * 1e3:.3f} | {e / c:.1f}x | {r * 1e3:.1f} | {e1 * 1e3:.1f} |")
    if mg_time is not None:
        out.append(f"| micrograd's own demo step (collector off) | {mg_time * 1e3:.3f} | — | compiled scalar step "
                   f"{mg_time / rows[0][2]:.1f}x faster | — | — |")
    else:
        out.append("| micrograd's own demo step | not installed | — | — | — | — |")
    out += [""] + [f"- {n}" for n in notes or ["every compiled step's loss equals the eager step's, bit for bit"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    print(run(ap.parse_args(argv).quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
