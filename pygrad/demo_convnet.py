"""``pygrad demo --model convnet``: a CS231n-style ConvNet on the 8×8 handwritten digits.

The network is the one the notes build up to, twice over:

    [conv 3×3 → batchnorm → ReLU → max-pool 2×2] × 2 → affine → ReLU → dropout → affine

on 1797 images of 8×8 pixels (scikit-learn's copy of the UCI digits), 75% for
training and 25% for testing. The pixels are standardised with the training
set's mean and standard deviation; the loss is the softmax cross-entropy;
AdamW with weight decay 1e-4 follows the one-cycle learning-rate schedule
(warm-up to ``lr``, then cosine decay), stepped once per batch of 64.

    conv(1→16)   8×8 → BN → ReLU → pool → 16×4×4
    conv(16→32)  4×4 → BN → ReLU → pool → 32×2×2 → flatten (128)
    affine 128→64 → ReLU → dropout(0.3) → affine 64→10

Batch normalisation uses the batch's statistics in training and its running
averages in evaluation; dropout is the identity in evaluation; ``model.train()``
and ``model.eval()`` switch both. :func:`train_convnet` is the whole run, usable
from Python; ``examples/convnet_digits.py`` calls it from the command line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import pygrad
from pygrad import data, nn, optim
from pygrad.nn import functional as F


def digits_convnet(channels: tuple[int, int] = (16, 32), hidden: int = 64, dropout: float = 0.3) -> nn.Sequential:
    """The ConvNet for 1×8×8 images and 10 classes (its parameters drawn from pygrad's
    global generator: call ``pygrad.manual_seed`` first for a repeatable start)."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 2 * 2, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


@dataclass
class ConvNetResult:
    """What :func:`train_convnet` produced: the trained model (in eval mode), per-epoch
    mean training loss, training accuracy (during the epoch, dropout on) and test
    accuracy, the final test accuracy and the training loop's wall time."""

    model: nn.Module
    test_accuracy: float
    seconds: float
    n_test: int = 0
    losses: list[float] = field(default_factory=list)
    train_accuracies: list[float] = field(default_factory=list)
    test_accuracies: list[float] = field(default_factory=list)


def load_digits_images(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as float32 images (N, 1, 8, 8) standardised by the training set's mean
    and standard deviation, split 75/25 with ``seed``: ``(X_train, X_test, y_train, y_test)``."""
    X, y = data.digits()
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_fraction=0.25, seed=seed)
    mean, std = X_train.mean(), X_train.std()

    def images(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32).reshape(-1, 1, 8, 8)

    return images(X_train), images(X_test), y_train, y_test


def _evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with pygrad.no_grad():
        acc = F.accuracy(model(pygrad.tensor(X)), y)
    model.train()
    return acc


def train_convnet(epochs: int = 15, seed: int = 0, batch_size: int = 64, lr: float = 1e-2,
                  weight_decay: float = 1e-4, progress: str = "auto", log: Callable[[str], None] = print
                  ) -> ConvNetResult:
    """Train :func:`digits_convnet` on the digits (split and initialised with ``seed``) and
    return the model and its curves. ``progress``: ``"auto"`` (a tqdm bar if installed,
    else lines), ``"plain"`` (lines) or ``"none"``."""
    from pygrad.demo import _progress

    X_train, X_test, y_train, y_test = load_digits_images(seed)
    pygrad.manual_seed(seed)
    model = digits_convnet()
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loader = data.DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    schedule = optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=len(loader))
    epochs_iter, report = _progress(epochs, progress, log)
    result = ConvNetResult(model, 0.0, 0.0, len(y_test))
    start = time.perf_counter()
    model.train()
    for epoch in epochs_iter:
        total, right = 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            scores = model(xb)
            loss = F.cross_entropy(scores, yb)
            loss.backward()
            opt.step()
            schedule.step()
            total += loss.item() * len(yb)
            right += int(np.sum(np.argmax(scores.numpy(), axis=1) == yb))
        result.losses.append(total / len(y_train))
        result.train_accuracies.append(right / len(y_train))
        result.test_accuracies.append(_evaluate(model, X_test, y_test))
        report(epoch + 1, result.losses[-1], result.test_accuracies[-1])
    result.seconds = time.perf_counter() - start
    if hasattr(epochs_iter, "close"):
        epochs_iter.close()
    model.eval()
    result.test_accuracy = result.test_accuracies[-1] if epochs else _evaluate(model, X_test, y_test)
    return result


def plot_curves(result: ConvNetResult, path: str) -> str:
    """Save the per-epoch loss and the training/test accuracy to ``path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = np.arange(1, len(result.losses) + 1)
    a.plot(epochs, result.losses)
    a.set(xlabel="epoch", ylabel="loss", title="softmax cross-entropy (training)", yscale="log")
    b.plot(epochs, result.train_accuracies, label="training (dropout on)")
    b.plot(epochs, result.test_accuracies, label="test")
    b.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.5, 1.005))
    b.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(epochs: int, seed: int, out: str | None, progress: str, print: Callable[..., Any]) -> ConvNetResult:  # noqa: A002
    """Train, print the figures and (with matplotlib, unless ``out`` is None) save the curves."""
    import os

    print(f"pygrad demo: a ConvNet on the 8x8 digits (1797 images, 75% train / 25% test, seed {seed})")
    print("  model [conv3x3 - batchnorm - relu - maxpool2] x 2 (16, 32 channels) - affine 128->64 - relu - "
          "dropout 0.3 - affine 64->10")
    print(f"  loss softmax cross-entropy; AdamW lr 1e-2 (one-cycle), weight decay 1e-4, batches of 64, "
          f"{epochs} epochs")
    result = train_convnet(epochs=epochs, seed=seed, progress=progress, log=print)
    print(f"final training loss {result.losses[-1]:.4f}" if result.losses else "no epochs run")
    print(f"test accuracy: {100 * result.test_accuracy:.1f}% ({result.n_test} images)")
    print(f"training took {result.seconds:.2f} s")
    if out is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no pictures (pip install \"pygrad[examples]\")")
        else:
            os.makedirs(out, exist_ok=True)
            print(f"saved {plot_curves(result, os.path.join(out, 'convnet_curves.png'))} (loss and accuracy per epoch)")
    return result
