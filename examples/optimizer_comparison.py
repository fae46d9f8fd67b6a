"""Compare the optimizers on one problem: the same network, the same initial weights, the
same data (the 3-class spiral), full-batch steps, each optimizer at a learning rate that
suits it.

    python examples/optimizer_comparison.py               # a table of the loss over the steps
    python examples/optimizer_comparison.py --out pics    # and a plot of the curves (matplotlib)

SGD follows the gradient; momentum accumulates a decaying sum of past gradients;
Nesterov applies the gradient step after the momentum step as a correction; AdaGrad
divides each coordinate's step by the root of its accumulated squared gradients;
RMSProp uses a running average instead of the sum; Adam keeps running averages of
the gradient and of its square, with bias correction.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import pygrad as pg
from pygrad import data, nn, optim
from pygrad.nn import functional as F

OPTIMIZERS = [
    ("SGD", optim.SGD, {"lr": 0.5}),
    ("SGD + momentum", optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    ("SGD + Nesterov", optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("AdaGrad", optim.Adagrad, {"lr": 0.1}),
    ("RMSProp", optim.RMSprop, {"lr": 0.005}),
    ("Adam", optim.Adam, {"lr": 0.01}),
]


def compare(steps: int = 300, seed: int = 0) -> dict[str, list[float]]:
    """The loss after every step, for each optimizer (same model, data and start)."""
    X, y = data.spiral(100, 3, seed=seed)
    Xt = pg.tensor(X, dtype="float32")
    curves = {}
    for name, cls, kw in OPTIMIZERS:
        model = nn.MLP([2, 50, 3], generator=seed)  # the same initial weights for everyone
        opt = cls(model.parameters(), **kw)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(Xt), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves[name] = losses
    return curves


def table(curves: dict[str, list[float]]) -> str:
    """The loss at a few points of the run, one row per optimizer."""
    steps = len(next(iter(curves.values())))
    marks = sorted({max(1, steps // 10), max(1, steps // 4), max(1, steps // 2), steps})
    head = f"{'optimizer':<16}" + "".join(f"{'step ' + str(s):>12}" for s in marks)
    rows = [head, "-" * len(head)]
    for name, losses in curves.items():
        rows.append(f"{name:<16}" + "".join(f"{losses[s - 1]:>12.4f}" for s in marks))
    return "\n".join(rows)


def plot(curves: dict[str, list[float]], path: str) -> str:
    """Loss curves on a log scale (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, losses in curves.items():
        ax.plot(np.arange(1, len(losses) + 1), losses, label=name)
    ax.set(xlabel="step", ylabel="training loss (cross-entropy)", yscale="log", title="optimizers on the spiral")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for the plot (text table only without it)")
    args = parser.parse_args()
    curves = compare(args.steps, args.seed)
    print(table(curves))
    if args.out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: the table above is the result")
            return
        os.makedirs(args.out, exist_ok=True)
        print("saved", plot(curves, os.path.join(args.out, "optimizers.png")))


if __name__ == "__main__":
    main()
