"""conv2d forward + backward against PyTorch CPU: run with ``python -m bench.conv`` (or ``python
bench/conv.py``) from the repository root. The layers of the issue's two targets, float32, 3 x 3
kernels, padding 1:

- CIFAR-shaped batches: N = 64 images of 32 x 32, 3 -> 32 and 32 -> 64 channels;
- the digits ConvNet (examples/convnet_digits.py): 8 x 8 images, N = 64, 128 and 256, 1 -> 16 and
  16 -> 32 channels; in the network the second layer sees 4 x 4 images (after a 2 x 2 pool), timed
  too at N = 64 and 256.

For each, at 1 and 2 threads: milliseconds per forward, and per step (forward, then backward of
sum(y * v) to the input and the weight), best of several interleaved rounds (pygrad and PyTorch
alternate, so load from elsewhere on the machine hits both), pygrad's step time over PyTorch's, and
pygrad's step as GFLOP/s and as a fraction of the FMA peak of that many threads (bench/peak.c): a
step is three products of 2·N·O·C·KH·KW·OH·OW flops (y, dx, dw), so the fraction counts im2col,
col2im and the elementwise work as GEMM time: it is a lower bound of the GEMM part's. Asserts nothing.

With ``--kernels``: the three products alone instead (the forward y = conv(x, w), the input gradient
dx = conv2d_input_grad(gy, w) and the weight gradient dw = conv2d_weight_grad(x, gy), each timed by
itself with no graph recorded, the best of several rounds of the thread's CPU time at 1 thread and of
wall time at 2), as GFLOP/s and as a fraction of the FMA peak (bench/peak.c, measured before the table
and after it: the higher figure is taken, so that load from elsewhere does not flatter the fractions;
``--peak=G`` takes G GFLOP/s per thread instead, for a machine whose load disturbs bench/peak.c's wall
clock more than the kernels' CPU time).
These are the GEMM part's fractions of the peak: the copies, the transposes and the sums of partial
results count against them.

pygrad computes float32 stride-1 convolutions of few input channels (1 to 4, the first layers here)
on AVX-512 CPUs straight from the tensors, with no copy, no col matrix and no transpose: masked loads
read each tap's 16 consecutive pixels in place (y and dw of images up to 8 x 8, and dx, whose result
has those few channels; there, dx by tiles of rows, each load of a source row (of two rows of 8 x 8
images) feeding the 3 result rows whose windows hold it). Other float32 stride-1 3 x 3 convolutions it
computes from zero-padded copies of the images with no col matrix: the weight gradient as one GEMM over
every image's pixels (the pixels broadcast, the upstream gradient's channels as vectors), the input
gradient (and y of images up to 8 x 8) as a direct convolution of 8-pixel by 32-channel register tiles;
other float32 stride-1 convolutions of images of 64 to 4096 output pixels as an implicit GEMM from
padded copies of the images (the weight gradient from 256 pixels on; so is the weight gradient of 1 to 4
input channels on images of 256 pixels or more, by tiles of 4 result channels by 6 taps over blocks of 64
pixel vectors, the upstream gradient read in place); the rest it lowers onto its packed
GEMM with im2col / col2im, small images unfolded in groups into one GEMM, the groups split between the
threads. In a network the first layer's dx is never computed (its input does not require grad); it is timed here all
the same.
PyTorch's CPU path (oneDNN / its own im2col) is the peer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LoadMeter,
    PeakProbe,
    import_pygrad,
    inner_for,
    interleaved,
    machine,
    threads,
    try_import,
)

# (label, N, C_in, C_out, H = W)
SHAPES = [
    ("CIFAR 3 -> 32", 64, 3, 32, 32),
    ("CIFAR 32 -> 64", 64, 32, 64, 32),
    ("digits 1 -> 16", 64, 1, 16, 8),
    ("digits 16 -> 32", 64, 16, 32, 8),
    ("digits 1 -> 16", 128, 1, 16, 8),
    ("digits 16 -> 32", 128, 16, 32, 8),
    ("digits 1 -> 16", 256, 1, 16, 8),
    ("digits 16 -> 32", 256, 16, 32, 8),
    ("digits 16 -> 32, 4 x 4", 64, 16, 32, 4),
    ("digits 16 -> 32, 4 x 4", 256, 16, 32, 4),
]


def _fns(pg: Any, torch: Any, rng: np.random.Generator, n: int, cin: int, cout: int,
         hw: int) -> tuple[dict[str, Callable[[], None]], dict[str, Callable[[], None]]]:
    """(forward, forward + backward) per engine; backward of sum(y * v) to the input and the weight."""
    x = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    v = rng.standard_normal((n, cout, hw, hw)).astype(np.float32)
    X, W, V = pg.tensor(x, requires_grad=True), pg.tensor(w, requires_grad=True), pg.tensor(v)  # noqa: N806
    conv = pg.nn.functional.conv2d

    def step_pg() -> None:
        X.grad = None
        W.grad = None
        (conv(X, W, padding=1) * V).sum().backward()

    def fwd_pg() -> None:
        with pg.no_grad():
            conv(X, W, padding=1)

    fwd, step = {"pygrad": fwd_pg}, {"pygrad": step_pg}
    if torch is not None:
        tx, tw, tv = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True), torch.tensor(v)
        tconv = torch.nn.functional.conv2d

        def step_torch() -> None:
            tx.grad = None
            tw.grad = None
            (tconv(tx, tw, padding=1) * tv).sum().backward()

        def fwd_torch() -> None:
            with torch.no_grad():
                tconv(tx, tw, padding=1)

        fwd["torch"], step["torch"] = fwd_torch, step_torch
    return fwd, step


def main(repeats: int = 7) -> None:
    pg = import_pygrad()
    torch, why = try_import("torch")
    rng = np.random.default_rng(0)
    probe = PeakProbe()
    peak = probe.measure(2, 0.3)
    print(f"host: {machine()}; torch {torch.__version__ if torch else why}")
    print()
    print("| conv2d 3x3 pad 1, float32 | N | threads | fwd pygrad ms | fwd torch ms | step pygrad ms | step torch ms "
          "| step pygrad / torch | pygrad GFLOP/s (of peak) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, n, cin, cout, hw in SHAPES:
        fwd, step = _fns(pg, torch, rng, n, cin, cout, hw)
        flops = 3 * 2.0 * n * cout * cin * 9 * hw * hw
        for t in (1, 2):
            with threads(t):
                one = interleaved({"pygrad": step["pygrad"]}, repeats=1)["pygrad"]
                inner = inner_for(one, 0.05)
                bf = interleaved(fwd, repeats=repeats, inner=inner)
                bs = interleaved(step, repeats=repeats, inner=inner)
            pk = peak.get(("float32", t))
            gf = flops / bs["pygrad"] / 1e9
            frac = f" ({gf / pk:.0%})" if pk else ""
            tf = f"{bf['torch'] * 1e3:.2f}" if "torch" in bf else "-"
            ts = f"{bs['torch'] * 1e3:.2f}" if "torch" in bs else f"- ({why})"
            ratio = f"{bs['pygrad'] / bs['torch']:.2f}" if "torch" in bs else "-"
            print(f"| {label} | {n} | {t} | {bf['pygrad'] * 1e3:.2f} | {tf} | {bs['pygrad'] * 1e3:.2f} | {ts} | "
                  f"{ratio} | {gf:.0f}{frac} |")
    probe.close()
    pk = ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.0f}" for (dt, t), v in sorted(peak.items())
                   if dt == "float32")
    print()
    print(f"- float32 FMA peak (bench/peak.c, GFLOP/s): {pk or 'not measured'}")
    print(f"- best of {repeats} interleaved rounds of about 50 ms each; pygrad / torch < 1 means pygrad is faster")


def _kernels(pg: Any, rng: np.random.Generator, n: int, cin: int, cout: int, hw: int) -> dict[str, Callable[[], None]]:
    """The three products of one layer alone, float32, 3 x 3 kernel, padding 1, no graph."""
    x = pg.tensor(rng.standard_normal((n, cin, hw, hw)).astype(np.float32))
    w = pg.tensor((rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32))
    g = pg.tensor(rng.standard_normal((n, cout, hw, hw)).astype(np.float32))
    one, pad = (1, 1), (1, 1, 1, 1)
    return {"fwd": lambda: x._conv2d(w, one, pad, one, 1),
            "dx": lambda: g._conv2d_input_grad(w, (hw, hw), one, pad, one, 1),
            "dw": lambda: x._conv2d_weight_grad(g, (3, 3), one, pad, one, 1)}


def _best(fn: Callable[[], None], clock: Callable[[], float], repeats: int, inner: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        for _ in range(inner):
            fn()
        best = min(best, (clock() - t0) / inner)
    return best


def kernels(repeats: int = 7, given: float | None = None) -> None:
    """GFLOP/s and fraction of the FMA peak of the forward, dx and dw products alone, per layer; given:
    the peak of one thread in GFLOP/s, instead of bench/peak.c's measurement."""
    import time

    pg = import_pygrad()
    rng = np.random.default_rng(0)
    probe = PeakProbe()
    peak = probe.measure(2, 0.3)
    rows = []
    with LoadMeter() as load:
        for label, n, cin, cout, hw in SHAPES:
            fns = _kernels(pg, rng, n, cin, cout, hw)
            flops = 2.0 * n * cout * cin * 9 * hw * hw
            for t in (1, 2):
                clock = time.thread_time if t == 1 else time.perf_counter
                with pg.no_grad(), threads(t):
                    secs = {k: _best(f, clock, 1, 1) for k, f in fns.items()}
                    secs = {k: _best(f, clock, repeats, inner_for(secs[k], 0.03)) for k, f in fns.items()}
                rows.append((label, n, t, {k: flops / s / 1e9 for k, s in secs.items()}))
    after = probe.measure(2, 0.3)
    probe.close()
    for key, v in after.items():
        peak[key] = max(v, peak.get(key, 0.0))
    if given:
        peak = {("float32", t): given * t for t in (1, 2)}
    print(f"host: {machine()}")
    print()
    print("| conv2d 3x3 pad 1, float32 | N | threads | fwd GFLOP/s (of peak) | dx GFLOP/s (of peak) "
          "| dw GFLOP/s (of peak) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, n, t, gf in rows:
        pk = peak.get(("float32", t))
        cells = [f"{gf[k]:.0f}" + (f" ({gf[k] / pk:.0%})" if pk else "") for k in ("fwd", "dx", "dw")]
        print(f"| {label} | {n} | {t} | " + " | ".join(cells) + " |")
    pk = ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.0f}" for (dt, t), v in sorted(peak.items())
                   if dt == "float32")
    print()
    how = "given" if given else "bench/peak.c, GFLOP/s, the higher of before and after"
    print(f"- float32 FMA peak ({how}): {pk or 'not measured'}")
    print(f"- best of {repeats} rounds of about 30 ms each: thread CPU time at 1 thread, wall time at 2")
    print(f"- {load.note()}")


if __name__ == "__main__":
    if "--kernels" in sys.argv[1:]:
        kernels(given=next((float(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--peak=")), None))
    else:
        main()
