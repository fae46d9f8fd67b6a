"""A whole ConvNet training step, pygrad against PyTorch CPU: run with ``python bench/convnet_step.py``
(``--quick`` for fewer repeats). Asserts nothing.

Two networks, float32, the same layers on both engines with the same initial weights:

- the digits ConvNet of ``pygrad demo --model convnet`` (pygrad/demo_convnet.py): 1 x 8 x 8 images,
  [conv 3x3 - batchnorm - ReLU - max-pool 2] x 2 (16, 32 channels), affine 128 -> 64, ReLU,
  dropout 0.3, affine 64 -> 10; batches of 64 and 256;
- a CIFAR-shaped one: 3 x 32 x 32 images, the same pattern with 32 and 64 channels and an affine
  4096 -> 128 -> 10; batches of 64.

A step is zero_grad, forward, softmax cross-entropy, backward and an AdamW update, in training mode
(batch statistics, dropout on). Milliseconds per step, best of several interleaved rounds (the engines
alternate, so load from elsewhere on the machine hits both), at 1 and 2 threads, and PyTorch's time
over pygrad's (above 1: pygrad is faster).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import import_pygrad, interleaved, machine, md_table, threads, try_import  # noqa: E402

# (label, batch, in channels, image size, channels, hidden)
NETS = [
    ("digits ConvNet", 64, 1, 8, (16, 32), 64),
    ("digits ConvNet", 256, 1, 8, (16, 32), 64),
    ("CIFAR-shaped ConvNet", 64, 3, 32, (32, 64), 128),
]


def _layers(ns: Any, cin: int, size: int, chans: tuple[int, int], hidden: int) -> Any:
    """The network on the engine ``ns`` (pygrad or torch): both have the same names."""
    nn = ns.nn
    c1, c2 = chans
    flat = c2 * (size // 4) ** 2
    return nn.Sequential(
        nn.Conv2d(cin, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(hidden, 10),
    )


def _copy_weights(torch: Any, src: Any, dst: Any) -> None:
    """Give the torch model pygrad's initial parameters (pygrad's Linear keeps (in, out) weights)."""
    for (_, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        a = p.numpy()
        if a.shape != tuple(q.shape):
            a = a.T
        with torch.no_grad():
            q.copy_(torch.from_numpy(np.ascontiguousarray(a)))


def _steps(pg: Any, torch: Any, n: int, cin: int, size: int, chans: tuple[int, int],
           hidden: int) -> dict[str, Callable[[], None]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, size, size)).astype(np.float32)
    y = rng.integers(0, 10, n)
    pg.manual_seed(0)
    model = _layers(pg, cin, size, chans, hidden)
    opt = pg.optim.AdamW(model.parameters(), lr=1e-3)
    X = pg.tensor(x)  # noqa: N806
    F = pg.nn.functional  # noqa: N806

    def pg_step() -> None:
        opt.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        opt.step()

    fns = {"pygrad": pg_step}
    if torch is not None:
        tmodel = _layers(torch, cin, size, chans, hidden)
        _copy_weights(torch, model, tmodel)
        topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-3)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step() -> None:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()

        fns["torch"] = torch_step
    return fns


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    pg = import_pygrad()
    torch, why = try_import("torch")
    print(f"# A ConvNet training step (AdamW), pygrad {pg.__version__} against PyTorch "
          f"{torch.__version__ if torch else why}")
    print(f"host: {machine()}\n")
    rows = []
    for label, n, cin, size, chans, hidden in NETS:
        for t in (1, 2):
            with threads(t):
                fns = _steps(pg, torch, n, cin, size, chans, hidden)
                best = interleaved(fns, repeats=3 if quick else 10, inner=1 if size > 8 else 5, warmup=2)
            ms = {k: 1e3 * v for k, v in best.items()}
            ratio = f"{ms['torch'] / ms['pygrad']:.2f}" if "torch" in ms else "-"
            rows.append([label, str(n), str(t), f"{ms['pygrad']:.2f}",
                         f"{ms['torch']:.2f}" if "torch" in ms else "-", ratio])
    print(md_table(["network", "batch", "threads", "pygrad ms", "torch ms", "torch / pygrad"], rows,
                   right={1, 2, 3, 4, 5}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
