"""The notes' three ways to find good weights, raced on one linear classifier for the
same wall-clock time each (seed 004, "Strategy 1, 2, 3"):

1. random search: draw random weights, keep the best seen;
2. numeric gradient: estimate ∂L/∂W by centered differences (f(W + h) - f(W - h)) / 2h,
   one pair of loss evaluations per weight, then step against it;
3. analytic gradient: backpropagation gives the whole gradient in one backward pass.

    python examples/three_strategies.py                  # 2 s per strategy
    python examples/three_strategies.py --seconds 5 --out pics

The classifier is s = [x, 1] W (the bias folded into W) on 10 overlapping Gaussian
classes in 30 dimensions, with the multiclass SVM loss plus λ Σ W². Strategies 2 and 3 take the same
steps; the numeric one spends 2·|W| loss evaluations on each, so in equal time it gets
far fewer done.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np

import pygrad as pg
from pygrad.nn import functional as F

LAM = 1e-3
LR = 0.05
H = 1e-5


def make_data(n: int = 1000, dim: int = 30, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around random centres; a column of ones carries the bias."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 0.6
    y = rng.integers(0, classes, n)
    X = centres[y] + rng.standard_normal((n, dim))
    return np.column_stack([X, np.ones(n)]), y


def loss_of(X: np.ndarray, y: np.ndarray) -> Callable[[pg.Tensor], pg.Tensor]:
    """W ↦ L(W) = 1/N Σᵢ Σ_{j≠yᵢ} max(0, sⱼ - s_yᵢ + 1) + λ Σ W², s = X W."""
    Xt = pg.tensor(X)

    def loss(W: pg.Tensor) -> pg.Tensor:
        return F.svm_loss(Xt @ W, y) + F.l2_regularization(W, LAM)

    return loss


def random_search(loss, shape, seconds: float, rng) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    best_W, best = np.zeros(shape), float("inf")
    trace, it, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        W = rng.standard_normal(shape) * 0.1
        with pg.no_grad():
            value = loss(pg.tensor(W)).item()
        if value < best:
            best_W, best = W, value
        it += 1
        trace.append((time.perf_counter() - start, best))
    return best_W, it, trace


def numeric_gradient(loss, W: np.ndarray) -> np.ndarray:
    """(L(W + h eₖ) - L(W - h eₖ)) / 2h for every weight k."""
    grad = np.zeros_like(W)
    with pg.no_grad():
        for k in np.ndindex(W.shape):
            old = W[k]
            W[k] = old + H
            plus = loss(pg.tensor(W)).item()
            W[k] = old - H
            minus = loss(pg.tensor(W)).item()
            W[k] = old
            grad[k] = (plus - minus) / (2 * H)
    return grad


def numeric_descent(loss, shape, seconds: float) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    W = np.zeros(shape)
    trace, it, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        W -= LR * numeric_gradient(loss, W)
        it += 1
        with pg.no_grad():
            trace.append((time.perf_counter() - start, loss(pg.tensor(W)).item()))
    return W, it, trace


def analytic_descent(loss, shape, seconds: float) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    W = pg.zeros(*shape, dtype=pg.float64, requires_grad=True)
    opt = pg.optim.SGD([W], lr=LR)
    trace, it, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        opt.zero_grad()
        value = loss(W)
        value.backward()
        opt.step()
        it += 1
        trace.append((time.perf_counter() - start, value.item()))
    return W.numpy().copy(), it, trace


def gradient_check(seed: int = 0) -> float:
    """max |numeric - analytic| / max(|numeric| + |analytic|, 1e-8) at a random W: the
    numeric gradient is too slow to train with but checks the analytic one."""
    X, y = make_data(seed=seed)
    loss = loss_of(X, y)
    W0 = np.random.default_rng(seed + 1).standard_normal((X.shape[1], int(y.max()) + 1)) * 0.1
    W = pg.tensor(W0, requires_grad=True)
    loss(W).backward()
    analytic, numeric = W.grad.numpy(), numeric_gradient(loss, W0.copy())
    return float(np.max(np.abs(numeric - analytic) / np.maximum(np.abs(numeric) + np.abs(analytic), 1e-8)))


def race(seconds: float = 2.0, seed: int = 0) -> list[tuple[str, int, float, float, list[tuple[float, float]]]]:
    """Each strategy for ``seconds``: (name, iterations, final loss, accuracy, trace of (time, loss))."""
    X, y = make_data(seed=seed)
    loss = loss_of(X, y)
    shape = (X.shape[1], int(y.max()) + 1)
    rng = np.random.default_rng(seed)
    results = []
    for name, run in [("random search", lambda: random_search(loss, shape, seconds, rng)),
                      ("numeric gradient", lambda: numeric_descent(loss, shape, seconds)),
                      ("analytic gradient", lambda: analytic_descent(loss, shape, seconds))]:
        W, it, trace = run()
        with pg.no_grad():
            final = loss(pg.tensor(W)).item()
        results.append((name, it, final, F.accuracy(X @ W, y), trace))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget of each strategy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for a plot of the loss over time (matplotlib)")
    args = parser.parse_args()
    results = race(args.seconds, args.seed)
    print(f"{args.seconds:g} s each; a linear SVM classifier with {LAM:g}·ΣW²; at W = 0 every margin is 1, "
          f"so the loss starts at C - 1 = 9")
    print(f"{'strategy':<20}{'iterations':>12}{'loss':>10}{'accuracy':>10}")
    for name, it, final, acc, _ in results:
        print(f"{name:<20}{it:>12}{final:>10.4f}{100 * acc:>9.1f}%")
    print(f"gradient check (numeric vs analytic at a random W): max relative error {gradient_check(args.seed):.1e}")
    if args.out:
        try:
            import matplotlib
        except ImportError:
            print("matplotlib is not installed: the table above is the result")
            return
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, _, _, _, trace in results:
            t, v = zip(*trace) if trace else ((), ())
            ax.plot(t, v, label=name)
        ax.set(xlabel="seconds", ylabel="loss", yscale="log", title="loss after equal time")
        ax.legend()
        fig.tight_layout()
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "three_strategies.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        print("saved", path)


if __name__ == "__main__":
    main()
