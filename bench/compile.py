"""pygrad.compile: a recorded training step replayed in C, against the same step run eagerly
and against JAX's jitted step.

Cases (each training step: zero_grad, forward, loss, backward, optimizer step):

- micrograd's demo built scalar by scalar from 0-d tensors (bench/demo.py's
  model: MLP(2, [16, 16, 1]) on 100 two-moons points, max-margin loss plus
  L2), with ``optim.SGD(lr=1.0)``; micrograd itself beside it when installed,
  timed with the garbage collector off;
- the same demo vectorised (matmuls over the batch), beside a jitted JAX step;
- MLPs 64-256-256-10 (batch 64) and 784-512-512-10 (batch 256), cross-entropy,
  SGD with momentum, float32, beside bench/mlp.py's jitted JAX step; the
  larger one also as a fraction of the FMA peak (bench/peak.c) over its
  matmul flops;
- the large MLP's compiled step again on one thread, timed in CPU time
  (time.thread_time, robust to other work on a shared machine), as a fraction
  of the one-thread FMA peak;
- two chains of 10 elementwise ops on 16M float32 elements under no_grad (the
  compiled chain runs as one blocked pass): cheap arithmetic, and one with a
  sigmoid and a tanh among them.

Reported: the eager call, the compiled call and JAX's (best over interleaved
rounds, the collector off; the scalar demo's each in rounds of its own; the
others' timed blocks each start 0.15 s after the previous one, so that threads
another engine left spinning (JAX's pool, OpenBLAS's) are asleep, and after
0.1 s of untimed calls of the same step, as in a training loop, where each
step finds its engine's threads awake), their
ratios, and the time of the recording call (and of JAX's first, compiling
call) beside one eager call. Every compiled
run's result is checked equal to the eager run's (bit for bit) over the same
calls. Run with ``python bench/compile.py [--quick]``; it prints a table and
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gc
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


def _chain(pg: Any, transcendental: bool) -> Callable[[], Callable[..., Any]]:
    x0 = np.random.default_rng(0).standard_normal(16 * 2**20).astype(np.float32)

    def build() -> tuple[Callable[..., Any], tuple[Any, ...]]:
        def chain(x: Any) -> Any:
            with pg.no_grad():
                y = (x * 1.5 + 0.25).relu()
                y = y * y + x
                y = y.sigmoid() if transcendental else y * 0.5
                y = (y * 0.5).tanh() if transcendental else (y * 0.5).clamp(0.0, 4.0)
                y = (y - x).abs()
                return y + 1.0

        return chain, (pg.tensor(x0),)

    return build


def _jax_chain(transcendental: bool) -> tuple[Callable[[], Any], float] | None:
    jax, _ = common.try_import("jax")
    if jax is None:
        return None
    import jax.numpy as jnp

    @jax.jit
    def chain(x: Any) -> Any:
        y = jax.nn.relu(x * 1.5 + 0.25)
        y = y * y + x
        y = jax.nn.sigmoid(y) if transcendental else y * 0.5
        y = jnp.tanh(y * 0.5) if transcendental else jnp.clip(y * 0.5, 0.0, 4.0)
        return jnp.abs(y - x) + 1.0

    x = jnp.asarray(np.random.default_rng(0).standard_normal(16 * 2**20).astype(np.float32))
    t0 = time.perf_counter()
    chain(x).block_until_ready()
    return (lambda: chain(x).block_until_ready()), time.perf_counter() - t0


def _jax_vector_demo() -> tuple[Callable[[], Any], float] | None:
    jax, _ = common.try_import("jax")
    if jax is None:
        return None
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    X, y = demo.make_moons()
    layers0 = demo.init()

    def loss_fn(params: list[Any], x: Any, neg_y: Any) -> Any:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = jax.nn.relu(h)
        return jax.nn.relu(1 + neg_y * h).mean() + demo.ALPHA * sum((p * p).sum() for p in params)

    @jax.jit
    def step(params: list[Any], x: Any, neg_y: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, neg_y)
        return [p - demo.LR * g for p, g in zip(params, grads)], loss

    state = {"p": [jnp.asarray(a) for wb in layers0 for a in wb]}
    x, neg_y = jnp.asarray(X), jnp.asarray(-y[:, None])

    def run() -> Any:
        state["p"], loss = step(state["p"], x, neg_y)
        return loss.block_until_ready()

    t0 = time.perf_counter()
    run()
    return run, time.perf_counter() - t0


def _jax_mlp(sizes: tuple[int, ...], batch: int) -> tuple[Callable[[], Any], float] | None:
    jax, _ = common.try_import("jax")
    if jax is None:
        return None
    import mlp

    params0, x0, labels = mlp.init(sizes, batch)
    _, step = mlp.engine_jax(params0, x0, labels)
    t0 = time.perf_counter()
    step()
    return step, time.perf_counter() - t0


def _micrograd_step() -> Callable[[], Any] | None:
    mg, _ = common.try_import("micrograd")
    if mg is None:
        return None
    X, y = demo.make_moons()
    return demo.engine_micrograd(demo.init(), X, y)[1]


def _one_thread_cpu(pg: Any, build: Callable[[], Any], repeats: int) -> float:
    """Best CPU seconds per call of the compiled step on one thread (time.thread_time: what other
    processes on a shared machine take is not counted, unlike wall time)."""
    step, args = build()
    fn = pg.compile(step)
    old = pg.get_num_threads()
    pg.set_num_threads(1)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        fn(*args)
        fn(*args)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.thread_time()
            for _ in range(5):
                fn(*args)
            best = min(best, (time.thread_time() - t0) / 5)
    finally:
        pg.set_num_threads(old)
        if gc_was_enabled:
            gc.enable()
    return best


def _same(a: Any, b: Any) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.numpy(), b.numpy()))


def run(quick: bool = False) -> str:
    pg = common.import_pygrad()
    big = (784, 512, 512, 10)
    cases = [("micrograd demo, scalar by scalar (0-d tensors)", _scalar_demo(pg), None),
             ("micrograd demo, vectorised", _vector_demo(pg), _jax_vector_demo),
             ("MLP 64-256-256-10, batch 64, SGD momentum", _mlp(pg, (64, 256, 256, 10), 64),
              lambda: _jax_mlp((64, 256, 256, 10), 64)),
             ("MLP 784-512-512-10, batch 256, SGD momentum", _mlp(pg, big, 256), lambda: _jax_mlp(big, 256)),
             ("10 elementwise ops, 16M float32 (arithmetic)", _chain(pg, False), lambda: _jax_chain(False)),
             ("10 elementwise ops, 16M float32 (with sigmoid, tanh)", _chain(pg, True), lambda: _jax_chain(True))]
    repeats = 3 if quick else 7
    rows, notes = [], []
    for name, build, jax_build in cases:
        eager_step, args = build()
        compiled_step, cargs = build()
        compiled_step = pg.compile(compiled_step)
        t0 = time.perf_counter()
        eager_step(*args)
        t_eager1 = time.perf_counter() - t0
        t_record, calls = 0.0, 0
        while not compiled_step.records and calls < 2:  # the first call records, or (an optimizer that
            t0 = time.perf_counter()                    # makes state) is a warm-up and the second records
            compiled_step(*cargs)
            t_record = time.perf_counter() - t0
            calls += 1
        for _ in range(calls - 1):  # the eager model as many steps on
            eager_step(*args)
        same = all(_same(eager_step(*args), compiled_step(*cargs)) for _ in range(3))
        if not same:
            notes.append(f"{name}: the compiled results differ from the eager ones")
        if compiled_step.records != 1:
            notes.append(f"{name}: compile did not record (the step ran eagerly)")
        fns = {"eager": lambda f=eager_step, a=args: f(*a), "compiled": lambda f=compiled_step, a=cargs: f(*a)}
        jx = jax_build() if jax_build else None
        if jx is not None:
            fns["jax"] = jx[0]
        inner = 1 if "scalar" in name or "16M" in name else 5
        if "scalar" in name:
            # each in rounds of its own, as micrograd is: the eager scalar step frees some
            # 200k small blocks, which glibc's malloc sorts at later allocations, ~10 ms
            # that land in whatever runs next (a compiled call after it, in its guard)
            best = {k: common.interleaved({k: f}, repeats=repeats, inner=inner)[k] for k, f in fns.items()}
        else:
            best = common.interleaved(fns, repeats=repeats, inner=inner, settle=common.SETTLE, warm=0.1)
        rows.append((name, best["eager"], best["compiled"], best.get("jax"), t_record, jx[1] if jx else None,
                     t_eager1))
    cpu1 = _one_thread_cpu(pg, cases[3][1], 3 * repeats)
    mg = _micrograd_step()
    mg_time = common.interleaved({"mg": mg}, repeats=repeats)["mg"] if mg else None
    probe = common.PeakProbe()
    peaks = probe.measure(common.max_threads(), 0.1 if quick else 0.3)
    peak, peak1 = peaks.get(("float32", common.max_threads())), peaks.get(("float32", 1))
    probe.close()
    out = ["# pygrad.compile: compiled step against the eager step and JAX's jitted step", "",
           f"- {common.machine()}", f"- best of {repeats} interleaved rounds, Python's garbage collector off",
           "", "| step | eager ms | compiled ms | eager / compiled | JAX jit ms | JAX / compiled | recording ms "
           "| JAX compile ms | first eager call ms |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, e, c, j, r, jc, e1 in rows:
        jcell = f"{j * 1e3:.3f} | {j / c:.2f}x" if j else "— | —"
        jccell = f"{jc * 1e3:.1f}" if jc else "—"
        out.append(f"| {name} | {e * 1e3:.3f} | {c * 1e3:.3f} | {e / c:.2f}x | {jcell} | {r * 1e3:.1f} | {jccell} "
                   f"| {e1 * 1e3:.1f} |")
    if mg_time is not None:
        out.append(f"| micrograd's own demo step (collector off) | {mg_time * 1e3:.3f} | — | compiled scalar step "
                   f"{mg_time / rows[0][2]:.1f}x faster | — | — | — | — | — |")
    else:
        out.append("| micrograd's own demo step | not installed | — | — | — | — | — | — | — |")
    import mlp

    flops = mlp.matmul_flops(big, 256)
    c_big = rows[3][2]
    frac = f" = {flops / c_big / 1e9 / peak:.0%} of the float32 FMA peak ({peak:.0f} GFLOP/s)" if peak else ""
    notes.append(f"MLP 784-512-512-10 compiled: {flops / c_big / 1e9:.0f} GFLOP/s over its matmuls{frac}")
    # the probe times wall clock: on a loaded machine it reads low, and a fraction of it means nothing
    frac1 = ("" if not peak1 else f" (the peak probe read {peak1:.0f} GFLOP/s on one thread, below this: it was "
             "disturbed by other work)" if flops / cpu1 / 1e9 > peak1
             else f" = {flops / cpu1 / 1e9 / peak1:.0%} of the one-thread float32 FMA peak ({peak1:.0f} GFLOP/s)")
    notes.append(f"MLP 784-512-512-10 compiled on one thread: {cpu1 * 1e3:.3f} ms of CPU time a step (thread_time), "
                 f"{flops / cpu1 / 1e9:.0f} GFLOP/s over its matmuls{frac1}")
    out += [""] + [f"- {n}" for n in notes]
    if not any("differ" in n or "did not record" in n for n in notes):
        out.append("- every compiled call's result equals the eager call's, bit for bit")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    print(run(ap.parse_args(argv).quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
