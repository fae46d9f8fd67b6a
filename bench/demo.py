"""micrograd's demo, one training step: MLP(2, [16, 16, 1]) on 100 two-moons
points, max-margin loss mean(relu(1 - y score)) + 1e-4 * sum of squared
parameters, backward, and an SGD step (p -= lr grad, lr = 1.0, as the demo's
first step), in float64 as micrograd computes.

Engines: micrograd (one Value per scalar), pygrad built scalar by scalar
from 0-d tensors exactly as micrograd builds it, pygrad vectorised (matmuls
on the whole batch), PyTorch vectorised. The two moons are generated here
with numpy (the demo uses scikit-learn's make_moons). All engines start
from the same weights; their losses and updated parameters are compared.
Run alone with ``python bench/demo.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SIZES = (2, 16, 16, 1)
ALPHA = 1e-4
LR = 1.0


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 1337) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's make_moons: X (n, 2), y in {-1, +1}."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    X = X + rng.normal(scale=noise, size=X.shape)
    return X, y * 2 - 1


def init(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """micrograd's initialisation: weights uniform in [-1, 1], biases 0; W has shape (fan_in, fan_out)."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-1, 1, (i, o)), np.zeros(o)) for i, o in zip(SIZES[:-1], SIZES[1:])]


def flat(layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Parameters in micrograd's order (per layer, per neuron: its weights, then its bias)."""
    return np.concatenate([np.concatenate([W.T, b[:, None]], 1).ravel() for W, b in layers])


# An engine: (run one step, return (loss, parameters in micrograd's order)), run one step
Engine = tuple[Callable[[], tuple[float, np.ndarray]], Callable[[], Any]]


def engine_micrograd(layers0: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray) -> Engine:
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(SIZES[0], list(SIZES[1:]))
    for layer, (W, b) in zip(model.layers, layers0):
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.w):
                w.data = float(W[i, j])
            neuron.b.data = float(b[j])

    def step() -> float:
        inputs = [list(map(Value, row)) for row in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= LR * p.grad
        return total.data

    def checked() -> tuple[float, np.ndarray]:
        loss = step()
        return loss, np.array([p.data for p in model.parameters()])

    return checked, step


def engine_pygrad_scalar(layers0: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray) -> Engine:
    pg = common.import_pygrad()
    f64 = pg.float64
    # neurons[l][j] = (weights, bias) of neuron j of layer l, each a 0-d tensor
    neurons = [[([pg.tensor(W[i, j], dtype=f64, requires_grad=True) for i in range(W.shape[0])],
                 pg.tensor(b[j], dtype=f64, requires_grad=True)) for j in range(W.shape[1])] for W, b in layers0]
    params = [p for layer in neurons for w, b in layer for p in (*w, b)]

    def model(x: list[Any]) -> Any:
        for li, layer in enumerate(neurons):
            out = []
            for w, b in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), b)
                out.append(act.relu() if li < len(neurons) - 1 else act)
            x = out
        return x[0]

    def step() -> Any:
        inputs = [[pg.tensor(v, dtype=f64) for v in row] for row in X]
        scores = [model(row) for row in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = None
        total.backward()
        with pg.no_grad():
            for p in params:
                p -= LR * p.grad
        return total

    def checked() -> tuple[float, np.ndarray]:
        loss = step().item()
        return loss, np.array([p.item() for p in params])

    return checked, step


def engine_pygrad_vector(layers0: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray) -> Engine:
    pg = common.import_pygrad()
    layers = [(pg.tensor(W, requires_grad=True), pg.tensor(b, requires_grad=True)) for W, b in layers0]
    params = [p for wb in layers for p in wb]
    x = pg.tensor(X)
    neg_y = pg.tensor(-y[:, None])

    def step() -> Any:
        h = x
        for i, (W, b) in enumerate(layers):
            h = h @ W + b
            if i < len(layers) - 1:
                h = h.relu()
        data_loss = (1 + neg_y * h).relu().mean()
        reg_loss = ALPHA * sum((p * p).sum() for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = None
        total.backward()
        with pg.no_grad():
            for p in params:
                p -= LR * p.grad
        return total

    def checked() -> tuple[float, np.ndarray]:
        loss = step().item()
        return loss, flat([(W.numpy(), b.numpy()) for W, b in layers])

    return checked, step


def engine_torch(layers0: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray) -> Engine:
    import torch

    layers = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in layers0]
    params = [p for wb in layers for p in wb]
    x = torch.from_numpy(X)
    neg_y = torch.from_numpy(-y[:, None])

    def step() -> Any:
        h = x
        for i, (W, b) in enumerate(layers):
            h = h @ W + b
            if i < len(layers) - 1:
                h = h.relu()
        data_loss = (1 + neg_y * h).relu().mean()
        reg_loss = ALPHA * sum((p * p).sum() for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        return total

    def checked() -> tuple[float, np.ndarray]:
        loss = step().item()
        return loss, flat([(W.detach().numpy(), b.detach().numpy()) for W, b in layers])

    return checked, step


ENGINES = (
    ("micrograd (Value per scalar)", "micrograd", engine_micrograd),
    ("pygrad, scalar by scalar (0-d tensors)", None, engine_pygrad_scalar),
    ("pygrad, vectorised", None, engine_pygrad_vector),
    ("PyTorch eager, vectorised", "torch", engine_torch),
)


LAST: dict[str, float] = {}  # engine -> best seconds per step


def run(quick: bool = False) -> str:
    """The demo section as markdown."""
    X, y = make_moons()
    layers0 = init()
    rows = []
    made: dict[str, Callable[[], Any]] = {}
    results: dict[str, tuple[float, np.ndarray]] = {}
    missing: list[list[str]] = []
    with common.LoadMeter() as meter:
        for name, module, make in ENGINES:
            if module is not None:
                mod, why = common.try_import(module)
                if mod is None:
                    missing.append([name, why, "—", "—", "—"])
                    continue
            checked, timed = make(layers0, X, y)
            results[name] = checked()
            made[name] = timed
        slow = {k: v for k, v in made.items() if "vectorised" not in k}
        fast = {k: v for k, v in made.items() if "vectorised" in k}
        best = common.interleaved(slow, repeats=2 if quick else 5)
        one = common.interleaved(fast, repeats=1)
        inner = common.inner_for(max(one.values()), 0.05)
        best.update(common.interleaved(fast, repeats=3 if quick else 10, inner=inner, warmup=3))
    LAST.clear()
    LAST.update(best)
    ref_name = "pygrad, vectorised"
    ref_loss, ref_params = results[ref_name]
    scalar = best.get("pygrad, scalar by scalar (0-d tensors)")
    for name, *_ in ENGINES:
        if name not in best:
            continue
        loss, params = results[name]
        ok = np.isclose(loss, ref_loss, rtol=1e-10) and np.allclose(params, ref_params, rtol=1e-9, atol=1e-12)
        rows.append([name, f"{best[name] * 1e3:.3f}", common.ratio(best[name], scalar),
                     common.ratio(best[name], best[ref_name]), f"{loss:.10f}" + ("" if ok else " (differs)")])
    rows += missing
    return "\n".join([
        "## micrograd demo: one training step",
        "",
        common.md_table(["engine", "ms / step", "time vs pygrad scalar", "time vs pygrad vectorised",
                         "loss before the step"], rows),
        "",
        "- step = forward on all 100 points, loss, backward, SGD update of all 337 parameters; float64",
        "- every engine's loss and updated parameters agree with pygrad vectorised's (rtol 1e-9) unless marked",
        f"- threads: pygrad and PyTorch at their defaults ({common.import_pygrad().get_num_threads()} for pygrad); "
        "the tensors here are far below the sizes where pygrad's kernels use more than one",
        f"- scalar engines: best of {2 if quick else 5} steps; vectorised: best of the repeats of back-to-back steps",
        f"- {meter.note()}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    print("# pygrad micrograd-demo benchmark\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)), "\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
