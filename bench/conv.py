"""conv2d forward + backward against PyTorch CPU: run with ``python -m bench.conv`` from the
repository root. N = 64 images of 32 x 32, 3 x 3 kernels, padding 1, float32, two layers of a small
CNN (3 -> 32 and 32 -> 64 channels), at 1 and 2 threads. Prints milliseconds per step (forward,
then backward of sum(y * v) to the input and the weight) and pygrad's time over PyTorch's; asserts
nothing.

pygrad lowers the convolution onto its packed GEMM with im2col / col2im one image at a time;
PyTorch's CPU path (oneDNN / its own im2col) is the peer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import import_pygrad, interleaved, threads, try_import


def _steps(pg: Any, torch: Any, rng: np.random.Generator, cin: int, cout: int) -> dict[str, Callable[[], None]]:
    """One training step's convolution on each engine: forward, then backward of sum(y * v)."""
    x = rng.standard_normal((64, cin, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    v = rng.standard_normal((64, cout, 32, 32)).astype(np.float32)
    X, W, V = pg.tensor(x, requires_grad=True), pg.tensor(w, requires_grad=True), pg.tensor(v)  # noqa: N806

    def step_pg() -> None:
        X.grad = None
        W.grad = None
        (pg.nn.functional.conv2d(X, W, padding=1) * V).sum().backward()

    fns = {"pygrad": step_pg}
    if torch is not None:
        tx, tw, tv = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True), torch.tensor(v)

        def step_torch() -> None:
            tx.grad = None
            tw.grad = None
            (torch.nn.functional.conv2d(tx, tw, padding=1) * tv).sum().backward()

        fns["torch"] = step_torch
    return fns


def main() -> None:
    pg = import_pygrad()
    torch, why = try_import("torch")
    rng = np.random.default_rng(0)
    print("| conv2d fwd+bwd (N=64, 32x32, 3x3, pad 1, float32) | threads | pygrad ms | torch ms | pygrad / torch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for cin, cout in [(3, 32), (32, 64)]:
        fns = _steps(pg, torch, rng, cin, cout)
        for n in (1, 2):
            with threads(n):
                best = interleaved(fns, repeats=5, inner=2)
            tt = f"{best['torch'] * 1e3:.1f}" if "torch" in best else f"- ({why})"
            ratio = f"{best['pygrad'] / best['torch']:.2f}" if "torch" in best else "-"
            print(f"| {cin} -> {cout} | {n} | {best['pygrad'] * 1e3:.1f} | {tt} | {ratio} |")


if __name__ == "__main__":
    main()
