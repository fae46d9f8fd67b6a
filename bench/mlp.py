"""MLP training steps, float32: forward, cross-entropy loss, backward and an
SGD-with-momentum update (v = mu v + g; p -= lr v), for pygrad, PyTorch eager,
numpy with a hand-written backward, and a jitted JAX step when JAX is
installed. pygrad and PyTorch are written as their users write them (the
library's cross_entropy and optim.SGD); numpy and JAX compute the same by hand.

Networks: 64-256-256-10 on batches of 64 and 784-512-512-10 on batches of
256, ReLU between layers, loss = mean over the batch of -log_softmax(logits)
at the label. Every engine starts from the same weights and batch; their
losses after a few steps are compared (float32 tolerance). Run alone with
``python bench/mlp.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONFIGS = (((64, 256, 256, 10), 64), ((784, 512, 512, 10), 256))
LR = 0.01
MU = 0.9


def init(sizes: tuple[int, ...], batch: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """He-initialised weights and zero biases (float32), a random batch and its labels."""
    rng = np.random.default_rng(seed)
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    return params, x, labels


def matmul_flops(sizes: tuple[int, ...], batch: int) -> float:
    """Multiply-add flops of the matmuls of one step: forward, weight gradients,
    and input gradients of every layer but the first."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    fwd = sum(2.0 * batch * i * o for i, o in layers)
    return 2 * fwd + sum(2.0 * batch * i * o for i, o in layers[1:])


# ---------------------------------------------------------------- engines ---

# An engine: (run one step and return its loss as a float, run one step as fast as the engine can)
Engine = tuple[Callable[[], float], Callable[[], Any]]


def engine_pygrad(params0: list[np.ndarray], x0: np.ndarray, labels: np.ndarray) -> Engine:
    pg = common.import_pygrad()
    from pygrad.nn import functional as F  # noqa: N812 - the name users know

    params = [pg.tensor(p, requires_grad=True) for p in params0]
    opt = pg.optim.SGD(params, lr=LR, momentum=MU)
    x = pg.tensor(x0)
    n_layers = len(params) // 2

    def step() -> Any:
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = h.relu()
        loss = F.cross_entropy(h, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return lambda: float(step().item()), step


def engine_torch(params0: list[np.ndarray], x0: np.ndarray, labels: np.ndarray) -> Engine:
    import torch
    import torch.nn.functional as F  # noqa: N812

    params = [torch.tensor(p, requires_grad=True) for p in params0]
    opt = torch.optim.SGD(params, lr=LR, momentum=MU)
    x = torch.from_numpy(x0)
    lab = torch.from_numpy(labels)
    n_layers = len(params) // 2

    def step() -> Any:
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = h.relu()
        loss = F.cross_entropy(h, lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return lambda: float(step().item()), step


def engine_numpy(params0: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> Engine:
    params = [p.copy() for p in params0]
    vel = [np.zeros_like(p) for p in params0]
    rows = np.arange(len(labels))
    batch = len(labels)
    n_layers = len(params) // 2

    def step() -> float:
        acts = [x]
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = -(z[rows, labels] - np.log(s[:, 0])).mean()
        d = e / s  # d loss / d logits = (softmax - onehot) / batch
        d[rows, labels] -= 1
        d /= batch
        for i in reversed(range(n_layers)):
            gw, gb = acts[i].T @ d, d.sum(axis=0)
            if i > 0:
                d = (d @ params[2 * i].T) * (acts[i] > 0)
            for j, g in ((2 * i, gw), (2 * i + 1, gb)):
                vel[j] *= MU
                vel[j] += g
                params[j] -= LR * vel[j]
        return float(loss)

    return step, step


def engine_jax(params0: list[np.ndarray], x0: np.ndarray, labels: np.ndarray) -> Engine:
    import jax
    import jax.numpy as jnp

    n_layers = len(params0) // 2

    def loss_fn(params: list[Any], x: Any, lab: Any) -> Any:
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(logp[jnp.arange(lab.shape[0]), lab])

    @jax.jit
    def jstep(params: list[Any], vel: list[Any], x: Any, lab: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, lab)
        vel = [MU * v + g for v, g in zip(vel, grads)]
        params = [p - LR * v for p, v in zip(params, vel)]
        return params, vel, loss

    state = {"p": [jnp.asarray(p) for p in params0], "v": [jnp.zeros(p.shape, jnp.float32) for p in params0]}
    x = jnp.asarray(x0)
    lab = jnp.asarray(labels)

    def step() -> Any:
        state["p"], state["v"], loss = jstep(state["p"], state["v"], x, lab)
        return loss.block_until_ready()

    return lambda: float(step()), step


ENGINES = (
    ("pygrad", None, engine_pygrad),
    ("PyTorch eager", "torch", engine_torch),
    ("numpy (hand-written backward)", None, engine_numpy),
    ("JAX jit", "jax", engine_jax),
)


LAST: dict[tuple[str, str, int], float] = {}  # (sizes, engine, threads) -> best seconds per step


def run(quick: bool = False) -> str:
    """The MLP section as markdown."""
    tmax = common.max_threads()
    out = ["## MLP training steps (float32, SGD with momentum)", ""]
    notes: list[str] = []
    with common.LoadMeter() as meter:
        for sizes, batch in CONFIGS:
            params0, x0, labels = init(sizes, batch)
            flops = matmul_flops(sizes, batch)
            rows = []
            base: dict[int, float] = {}
            for t in sorted({tmax, 1}, reverse=True):
                with common.threads(t):
                    made: dict[str, Callable[[], Any]] = {}
                    losses: dict[str, list[float]] = {}
                    for name, module, make in ENGINES:
                        if module is not None:
                            mod, why = common.try_import(module)
                            if mod is None:
                                if t == tmax:
                                    rows.append([name, "—", why, "—", "—", "—"])
                                continue
                        if name == "JAX jit" and t != tmax:
                            continue  # XLA fixes its threads at import
                        checked, timed = make(params0, x0, labels)
                        losses[name] = [checked() for _ in range(3)]
                        made[name] = timed
                    one = common.interleaved({"pygrad": made["pygrad"]}, repeats=1)["pygrad"]
                    inner = common.inner_for(one, 0.05 if quick else 0.15)
                    best = common.interleaved(made, repeats=3 if quick else 10, inner=inner, warmup=2,
                                              settle=common.SETTLE)
                    ref = losses.get("numpy (hand-written backward)")
                    for name, secs in best.items():
                        LAST[("-".join(str(s) for s in sizes), name, t)] = secs
                        if name == "pygrad":
                            base[t] = secs
                        ok = ref is not None and np.allclose(losses[name], ref, rtol=2e-4, atol=1e-5)
                        threads = "XLA default (all cores)" if name == "JAX jit" else str(t)
                        rows.append([
                            name, threads, f"{secs * 1e3:.3f}", f"{flops / secs / 1e9:.1f}",
                            common.ratio(secs, base[t]), "yes" if ok else f"no: {losses[name]} vs {ref}",
                        ])
            title = "-".join(str(s) for s in sizes)
            out += [
                f"### {title}, batch {batch} ({flops / 1e6:.1f} MFLOP of matmul per step)",
                "",
                common.md_table(["engine", "threads", "ms / step", "matmul GFLOP/s", "time vs pygrad",
                                 "losses of 3 steps match numpy"], rows),
                "",
            ]
    notes += [
        "a step: forward, loss, backward, and p -= lr v after v = mu v + g for every parameter (lr 0.01, mu 0.9); "
        "pygrad and PyTorch through their cross_entropy and optim.SGD(momentum=0.9), numpy and JAX by hand; "
        "JAX jits the whole step (value_and_grad + update); the others run eagerly",
        "time vs pygrad = engine time / pygrad time at the same thread count (above 1: slower than pygrad)",
        "each figure is the best of the interleaved repeats, each repeat a run of back-to-back steps; each "
        f"engine's run starts {common.SETTLE} s after the previous engine's (idle OpenBLAS and OpenMP workers spin "
        "for a while after a call and would take a core from the next engine)",
        common.blas_threads_note(),
        meter.note(),
    ]
    out += [f"- {n}" for n in notes]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    print("# pygrad MLP training-step benchmark\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)), "\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
