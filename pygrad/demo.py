"""``python -m pygrad demo``: train a two-layer network on CS231n's spiral data.

Three arms of 100 points each that no linear classifier can separate; a
network x → ReLU(x W₁ + b₁) W₂ + b₂ with 100 hidden units, trained on the
softmax cross-entropy plus λ·Σ W² (L2 on the weights) with Adam (or SGD with
momentum) on minibatches, separates them. The demo shows a progress bar
(tqdm, when installed; periodic lines otherwise), prints the final training
and validation accuracy (the validation set is a fresh draw of the spiral)
and, with matplotlib installed, saves the loss curve and the decision
boundary as PNG files.

:func:`train_spiral` is the whole training run, usable from Python.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import pygrad
from pygrad import data, nn, optim
from pygrad.nn import functional as F

OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "adam": ("Adam", {"lr": 1e-2}),
    "sgd": ("SGD", {"lr": 0.1, "momentum": 0.9}),
}
"""The optimizer choices of the demo: name -> (pygrad.optim class, default arguments)."""


@dataclass
class DemoResult:
    """What :func:`train_spiral` produced.

    ``losses`` / ``accuracies``: per epoch, the mean minibatch loss and the
    fraction of training points classified right during that epoch;
    ``train_accuracy`` / ``val_accuracy``: of the final model on the whole
    training set and on the validation set; ``seconds``: the training loop's
    wall time.
    """

    model: nn.Module
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    train_accuracy: float
    val_accuracy: float
    seconds: float
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)


def _progress(epochs: int, mode: str, log: Callable[[str], None]) -> tuple[Any, Callable[[int, float, float], None]]:
    """An epoch iterator and a reporter: tqdm's bar when available (mode "auto"),
    periodic lines otherwise (mode "plain"), or nothing (mode "none")."""
    if mode == "auto":
        try:
            from tqdm.auto import tqdm
        except ImportError:
            mode = "plain"
        else:
            bar = tqdm(range(epochs), desc="training", unit="epoch", leave=True)

            def report_bar(epoch: int, loss: float, acc: float) -> None:
                if epoch % 5 == 0 or epoch == epochs:
                    bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}", refresh=False)

            return bar, report_bar
    every = max(1, epochs // 10)

    def report_plain(epoch: int, loss: float, acc: float) -> None:
        if mode == "plain" and (epoch % every == 0 or epoch == epochs or epoch == 1):
            log(f"  epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {loss:.4f}  accuracy {acc:.3f}")

    return range(epochs), report_plain


def train_spiral(epochs: int = 300, seed: int = 0, n_per_class: int = 100, n_classes: int = 3, hidden: int = 100,
                 reg: float = 1e-4, batch_size: int = 32, optimizer: str = "adam", lr: float | None = None,
                 progress: str = "auto", log: Callable[[str], None] = print, distributed: bool = False
                 ) -> DemoResult:
    """Train ``MLP([2, hidden, n_classes])`` on ``spiral(n_per_class, n_classes, seed=seed)``.

    Loss per minibatch: 1/B Σᵢ -log softmax(sᵢ)[yᵢ] + reg·(‖W₁‖² + ‖W₂‖²). The
    validation set is ``spiral(..., seed=seed + 1)``. ``progress``: ``"auto"``
    (tqdm if installed, else lines), ``"plain"`` (lines) or ``"none"``.

    ``distributed``: data-parallel over the ranks of ``pygrad.distributed`` (run
    under ``mpiexec``; needs the ``distributed`` extra): the model is wrapped in
    DistributedDataParallel, each rank takes its DistributedSampler shard in
    batches of ``batch_size // world size`` (the global batch stays
    ``batch_size``), the per-epoch figures are summed over the ranks, and only
    rank 0 reports progress.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"demo: unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    X, y = data.spiral(n_per_class, n_classes, seed=seed)
    X_val, y_val = data.spiral(n_per_class, n_classes, seed=seed + 1)
    model = nn.MLP([2, hidden, n_classes], activation="relu", generator=seed)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    cls, kw = OPTIMIZERS[optimizer]
    opt = getattr(optim, cls)(model.parameters(), **{**kw, **({"lr": lr} if lr is not None else {})})
    net, sampler, totals = model, None, None
    if distributed:
        import pygrad.distributed as dist
        from pygrad.nn.parallel import DistributedDataParallel

        dist.init_process_group()
        net = DistributedDataParallel(model)
        sampler = data.DistributedSampler(len(X), shuffle=True, seed=seed)
        loader = data.DataLoader(X, y, batch_size=max(1, batch_size // dist.get_world_size()), sampler=sampler,
                                 dtype="float32")
        totals = pygrad.zeros(3, dtype="float64")  # loss sum, right answers, samples: summed over the ranks
        if not dist.is_main_process():
            progress = "none"
    else:
        loader = data.DataLoader(X, y, batch_size=batch_size, shuffle=True, seed=seed, dtype="float32")
    epochs_iter, report = _progress(epochs, progress, log)
    losses, accuracies = [], []
    start = time.perf_counter()
    for epoch in epochs_iter:
        total, right, seen = 0.0, 0, 0
        if sampler is not None:
            sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            scores = net(xb)
            loss = F.cross_entropy(scores, yb) + F.l2_regularization(weights, reg)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            right += int(np.sum(np.argmax(scores.numpy(), axis=1) == yb))
            seen += len(yb)
        if totals is not None:
            totals.numpy()[:] = (total, right, seen)
            dist.all_reduce(totals)
            total, right, seen = totals.numpy().tolist()
        losses.append(total / seen)
        accuracies.append(right / seen)
        report(epoch + 1, losses[-1], accuracies[-1])
    seconds = time.perf_counter() - start
    if hasattr(epochs_iter, "close"):
        epochs_iter.close()
    with pygrad.no_grad():
        train_acc = F.accuracy(model(pygrad.tensor(X, dtype="float32")), y)
        val_acc = F.accuracy(model(pygrad.tensor(X_val, dtype="float32")), y_val)
    return DemoResult(model, X, y, X_val, y_val, train_acc, val_acc, seconds, losses, accuracies)


def plot_loss(result: DemoResult, path: str) -> str:
    """Save the per-epoch loss and training accuracy to ``path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = np.arange(1, len(result.losses) + 1)
    a.plot(epochs, result.losses)
    a.set(xlabel="epoch", ylabel="loss", title="cross-entropy + L2", yscale="log")
    b.plot(epochs, result.accuracies)
    b.set(xlabel="epoch", ylabel="training accuracy", title="accuracy during the epoch", ylim=(0, 1.02))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_boundary(result: DemoResult, path: str) -> str:
    """Save the decision regions of the trained model over the training points to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = result.X, result.y
    lo, hi = X.min(0) - 0.2, X.max(0) + 0.2
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    with pygrad.no_grad():
        regions = np.argmax(result.model(pygrad.tensor(grid, dtype="float32")).numpy(), axis=1).reshape(gx.shape)
    k = int(y.max()) + 1
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, regions, levels=np.arange(k + 1) - 0.5, cmap="Spectral", alpha=0.6)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=14, cmap="Spectral", edgecolors="k", linewidths=0.4)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal",
           title=f"decision boundary (train accuracy {100 * result.train_accuracy:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", help="train a two-layer network on the spiral data (or a ConvNet on the digits)",
        description="Train a two-layer ReLU network (softmax cross-entropy + L2) on CS231n's 3-class spiral, "
                    "print the training and validation accuracy and, with matplotlib, save the loss curve and "
                    "the decision boundary. With --model convnet: train a ConvNet (conv-batchnorm-relu-pool "
                    "twice, affine, dropout, affine) on the 8x8 digits and print its test accuracy.")
    p.add_argument("--model", choices=("mlp", "convnet"), default="mlp",
                   help="mlp: the two-layer network on the spiral (default); convnet: the ConvNet on the "
                        "8x8 digits (needs scikit-learn, in the test and examples extras)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the data (default 300 for mlp, 15 for convnet)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the initial weights and the shuffling")
    p.add_argument("--out", default="pygrad-demo", metavar="DIR",
                   help="directory for the pictures (default ./pygrad-demo)")
    p.add_argument("--no-plots", action="store_true", help="do not save pictures")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam",
                   help="Adam (lr 0.01, the default) or SGD with momentum 0.9 (lr 0.1)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's above)")
    p.add_argument("--hidden", type=_positive_int, default=100, help="hidden units (default 100)")
    p.add_argument("--reg", type=float, default=1e-4, help="L2 strength λ on the weights (default 1e-4)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="minibatch size (default 32)")
    p.add_argument("--no-progress", action="store_true", help="print periodic lines instead of a progress bar")
    p.add_argument("--distributed", action="store_true",
                   help="train data-parallel over the MPI ranks (run under `mpiexec -n N`; needs "
                        "pip install \"pygrad[distributed]\"); rank 0 prints")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the demo with parsed arguments; returns the exit status."""
    if getattr(args, "model", "mlp") == "convnet":
        if getattr(args, "distributed", False):
            print("pygrad demo: --distributed trains the mlp model only")
            return 2
        from pygrad import demo_convnet

        try:
            demo_convnet.report(args.epochs or 15, args.seed, None if args.no_plots else args.out,
                                "plain" if args.no_progress else "auto", print)
        except ImportError as exc:
            print(str(exc))
            return 1
        sys.stdout.flush()
        return 0
    say, main = print, True
    if getattr(args, "distributed", False):
        import pygrad.distributed as dist

        dist.init_process_group()
        say, main = dist.print0, dist.is_main_process()
        if dist.get_world_size() > 1:
            pygrad.set_num_threads(1)  # one thread per rank: the ranks share the cores
        say(f"pygrad demo: data-parallel over {dist.get_world_size()} processes (MPI ranks)")
    if args.epochs is None:
        args.epochs = 300
    _report(args, say, main)
    return 0


def _report(args: argparse.Namespace, print: Callable[..., None], main: bool) -> None:  # noqa: A002
    """The demo's run, printing with ``print`` (rank 0's only, when distributed); ``main``: save the pictures."""
    print(f"pygrad demo: a two-layer network on the spiral data (3 classes x 100 points, seed {args.seed})")
    cls, kw = OPTIMIZERS[args.optimizer]
    lr = args.lr if args.lr is not None else kw["lr"]
    print(f"  model MLP [2, {args.hidden}, 3] with ReLU; loss softmax cross-entropy + {args.reg:g} * L2; "
          f"{cls} lr {lr:g}, batches of {args.batch_size}, {args.epochs} epochs")
    result = train_spiral(epochs=args.epochs, seed=args.seed, hidden=args.hidden, reg=args.reg,
                          batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                          progress="plain" if args.no_progress else "auto",
                          log=print, distributed=getattr(args, "distributed", False))
    print(f"final training loss {result.losses[-1]:.4f}")
    print(f"train accuracy: {100 * result.train_accuracy:.1f}% ({len(result.y)} points)")
    print(f"validation accuracy: {100 * result.val_accuracy:.1f}% ({len(result.y_val)} fresh points)")
    print(f"training took {result.seconds:.2f} s")
    if not args.no_plots and main:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no pictures (pip install \"pygrad[examples]\")")
        else:
            os.makedirs(args.out, exist_ok=True)
            print(f"saved loss curve: {plot_loss(result, os.path.join(args.out, 'spiral_loss.png'))}")
            print(f"saved decision boundary: {plot_boundary(result, os.path.join(args.out, 'spiral_boundary.png'))}")
    sys.stdout.flush()
