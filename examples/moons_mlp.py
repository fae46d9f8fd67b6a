"""A micrograd-style demo: an MLP separates the two moons, trained on the SVM (hinge)
loss with L2 regularisation and full-batch gradient descent with a decaying step.

    python examples/moons_mlp.py                 # 100 steps, prints loss and accuracy
    python examples/moons_mlp.py --out pics      # also saves the decision boundary (matplotlib)

The loss is the notes' L(W) = 1/N Σᵢ Σ_{j≠yᵢ} max(0, sⱼ - s_yᵢ + 1) + λ Σ W², with
two classes (so each example has a single margin), λ = 1e-4, and the step size
decays linearly from 1.0 to 0.1, as in micrograd's demo.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import pygrad as pg
from pygrad import data, nn, optim
from pygrad.nn import functional as F


def train(steps: int = 100, seed: int = 1337, n: int = 100, hidden: int = 16, log: bool = True
          ) -> tuple[nn.Module, np.ndarray, np.ndarray, float]:
    """Train MLP([2, hidden, hidden, 2]) on moons(n); returns (model, X, y, final accuracy)."""
    X, y = data.moons(n, noise=0.1, seed=seed)
    model = nn.MLP([2, hidden, hidden, 2], activation="relu", generator=seed)
    opt = optim.SGD(model.parameters(), lr=1.0)
    Xt = pg.tensor(X, dtype="float32")
    acc = 0.0
    for k in range(steps):
        scores = model(Xt)
        data_loss = F.svm_loss(scores, y)
        reg_loss = F.l2_regularization(list(model.parameters()), 1e-4)
        loss = data_loss + reg_loss
        acc = F.accuracy(scores, y)
        opt.zero_grad()
        loss.backward()
        for g in opt.param_groups:  # learning-rate decay 1.0 -> 0.1
            g["lr"] = 1.0 - 0.9 * k / steps
        opt.step()
        if log and (k % 10 == 0 or k == steps - 1):
            print(f"step {k:3d}  loss {loss.item():.4f}  accuracy {100 * acc:.0f}%")
    return model, X, y, F.accuracy(model(Xt), y)


def save_boundary(model: nn.Module, X: np.ndarray, y: np.ndarray, path: str) -> str:
    """Draw the decision regions and the points (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gx, gy = np.meshgrid(np.linspace(X[:, 0].min() - 1, X[:, 0].max() + 1, 200),
                         np.linspace(X[:, 1].min() - 1, X[:, 1].max() + 1, 200))
    with pg.no_grad():
        s = model(pg.tensor(np.column_stack([gx.ravel(), gy.ravel()]), dtype="float32")).numpy()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(gx, gy, np.argmax(s, 1).reshape(gx.shape), levels=[-0.5, 0.5, 1.5], cmap="coolwarm", alpha=0.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=20, cmap="coolwarm", edgecolors="k", linewidths=0.4)
    ax.set_title("moons: MLP trained on the SVM loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--out", default=None, help="directory for the decision-boundary picture")
    args = parser.parse_args()
    model, X, y, acc = train(args.steps, args.seed)
    print(f"final accuracy {100 * acc:.1f}% on {len(y)} points")
    if args.out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no picture")
            return
        os.makedirs(args.out, exist_ok=True)
        print("saved", save_boundary(model, X, y, os.path.join(args.out, "moons_boundary.png")))


if __name__ == "__main__":
    main()
