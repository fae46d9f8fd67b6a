"""A PyTorch training script, run unchanged on pygrad: only the import differs.

``train(T)`` below is written for PyTorch: integer labels, standardised
features (mean/std), an MLP with the tanh form of GELU, a label-smoothed
loss written with logsumexp and gather, gradient clipping, SGD with
momentum under a one-cycle schedule, and an evaluation with argmax, topk,
any and scatter_add. It runs on ``torch``, on ``pygrad`` (the C engine) and
on ``pygrad.reference`` from the same data and initial weights, and the
script prints how far apart the three end up::

    python examples/port_from_pytorch.py            # needs torch for the comparison

The new names it uses (pygrad has them since integer tensors, the index
ops and the shape ops arrived): int64 tensors, ``std``, ``clamp``,
``remainder`` (``%``), ``index_select``, ``gather``, ``unsqueeze``,
``squeeze``, ``logsumexp``, ``argmax``, ``topk``, ``any``, ``scatter_add``,
``nn.functional.gelu(approximate="tanh")``, ``nn.utils.clip_grad_norm_``,
``optim.lr_scheduler.OneCycleLR``.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Any

import numpy as np

N, D, H, C, BATCH = 512, 8, 32, 4, 64


def data_and_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The inputs every framework starts from (numpy, so that all three see the same numbers)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((C, D)) * 1.5
    y = rng.integers(0, C, N)
    X = centers[y] + rng.standard_normal((N, D)) * rng.uniform(0.5, 3.0, D)  # features of different scales
    return {
        "X": X.astype(np.float32), "y": y.astype(np.int64),
        "W1": (rng.standard_normal((D, H)) * np.sqrt(2.0 / D)).astype(np.float32), "b1": np.zeros(H, np.float32),
        "W2": (rng.standard_normal((H, C)) * np.sqrt(1.0 / H)).astype(np.float32), "b2": np.zeros(C, np.float32),
    }


def train(T: ModuleType, init: dict[str, np.ndarray], steps: int = 80) -> dict[str, Any]:
    """The PyTorch program. ``T`` is ``torch`` or ``pygrad`` (or ``pygrad.reference``)."""
    F = T.nn.functional
    X = T.tensor(init["X"])
    y = T.tensor(init["y"])                                        # int64 labels
    X = (X - X.mean(dim=0, keepdim=True)) / X.std(dim=0, keepdim=True)
    X = X.clamp(-3.0, 3.0)
    params = [T.tensor(init[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params
    opt = T.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = T.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=steps)
    losses = []
    for step in range(steps):
        idx = (T.arange(BATCH) + step * BATCH) % N                  # the next batch, wrapping around
        xb, yb = X.index_select(0, idx), y.gather(0, idx)
        logits = F.gelu(xb @ W1 + b1, approximate="tanh") @ W2 + b2
        logp = logits - logits.logsumexp(dim=1, keepdim=True)
        nll = -logp.gather(1, yb.unsqueeze(1)).squeeze(1)
        loss = (0.9 * nll - 0.1 * logp.mean(dim=1)).mean()          # label smoothing 0.1
        opt.zero_grad()
        loss.backward()
        T.nn.utils.clip_grad_norm_(params, max_norm=2.0)
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
    with T.no_grad():
        logits = F.gelu(X @ W1 + b1, approximate="tanh") @ W2 + b2
        pred = logits.argmax(dim=1)
        top2 = logits.topk(2, dim=1).indices
        in_top2 = (top2 == y.unsqueeze(1)).any(dim=1)
        counts = T.zeros(C, dtype=T.int64).scatter_add(0, pred, T.ones(N, dtype=T.int64))
    return {
        "losses": np.array(losses),
        "accuracy": float((pred == y).float().mean().item()),
        "top2": float(in_top2.float().mean().item()),
        "counts": np.asarray(counts.numpy()),
        "params": [np.array(p.detach().numpy(), copy=True) for p in params],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=80)
    args = ap.parse_args()
    init = data_and_weights()
    runs = {}
    for name in ("torch", "pygrad", "pygrad.reference"):
        try:
            runs[name] = train(importlib.import_module(name), init, args.steps)
        except ImportError:
            print(f"{name}: not installed, skipped")
    for name, r in runs.items():
        print(f"{name:17s} loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}  accuracy {r['accuracy']:.3f}  "
              f"top-2 {r['top2']:.3f}  predictions per class {r['counts'].tolist()}")
    if "torch" in runs:
        for name in ("pygrad", "pygrad.reference"):
            if name in runs:
                dl = np.abs(runs[name]["losses"] - runs["torch"]["losses"]).max()
                dp = max(np.abs(a - b).max() for a, b in zip(runs[name]["params"], runs["torch"]["params"]))
                print(f"{name} vs torch: max |loss difference| {dl:.2e}, max |parameter difference| {dp:.2e}")


if __name__ == "__main__":
    main()
