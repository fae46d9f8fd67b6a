"""Soak tests: memory stays flat over a training run and over repeated huge graphs.

- A small MLP (x @ W1 + b1, relu, @ W2 + b2, log_softmax, cross-entropy by
  indexing, SGD under no_grad) trains for a few thousand steps; the resident
  set size is sampled along the way and its slope over the second half of the
  run must be near zero, and the C object counts must end where they started
  (plus the parameters).
- A graph of 1,000,000 nodes (a chain with a shared leaf fanning out into
  every other node) is built, differentiated and freed three times; the live
  object counts return to the baseline each time and the RSS does not grow
  from one round to the next.

RSS is read from /proc/self/statm after glibc's malloc_trim(0) (so freed
heap is returned first). Each test runs in a fresh interpreter: in the
suite's own process the heap is already fragmented by the thousands of tests
before it, and the RSS of a round then moves by tens of MiB with where the
allocator happens to place things, not with what pygrad holds. Run with
``pytest -s`` to see the measurements.
Under a sanitizer build (PYGRAD_SANITIZED=1) freed memory sits in a
quarantine, so only the object counts are checked.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pygrad as pg

pytestmark = pytest.mark.slow

SANITIZED = os.environ.get("PYGRAD_SANITIZED") == "1"
HAVE_PROC = os.path.exists("/proc/self/statm")
MiB = 2**20


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None


LIBC = _libc()


def rss_bytes() -> int:
    """Resident set size, after handing freed heap back to the system."""
    if LIBC is not None:
        LIBC.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    return float(np.polyfit(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), 1)[0])


def mlp_step(params: list[pg.Tensor], x: pg.Tensor, labels: np.ndarray, lr: float) -> float:
    """One SGD step of a 2-layer MLP with a cross-entropy loss; returns the loss."""
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).relu()
    logp = (h @ w2 + b2).log_softmax(axis=1)
    loss = -logp[np.arange(len(labels)), labels].mean()
    loss.backward()
    with pg.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss.item()


def training_loop() -> None:
    rng = np.random.default_rng(0)
    n, d, hidden, classes = 64, 16, 32, 4
    centers = rng.standard_normal((classes, d)) * 0.5
    labels = rng.integers(0, classes, n)
    x = pg.tensor((centers[labels] + rng.standard_normal((n, d))).astype(np.float32))
    params = [pg.tensor(rng.standard_normal(s).astype(np.float32) * 0.3, requires_grad=True)
              for s in ((d, hidden), (hidden,), (hidden, classes), (classes,))]
    steps, every = 30_000, 500
    first = mlp_step(params, x, labels, 0.02)
    for _ in range(200):  # warm up the allocator and the interpreter's caches
        mlp_step(params, x, labels, 0.02)
    live0 = pg.live_objects()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    xs, ys, losses = [], [], []
    for step in range(1, steps + 1):
        loss = mlp_step(params, x, labels, 0.02)
        if step % every == 0:
            xs.append(step)
            ys.append(rss_bytes())
            losses.append(loss)
    elapsed = time.perf_counter() - t0
    live1 = pg.live_objects()
    half = len(xs) // 2
    s = slope(xs[half:], ys[half:])
    print(f"\nsoak/MLP: {steps} steps in {elapsed:.1f} s; RSS start {rss0 / MiB:.1f} MiB, end {ys[-1] / MiB:.1f} MiB, "
          f"max {max(ys) / MiB:.1f} MiB; slope over the second half {s:.1f} bytes/step; "
          f"loss {first:.3f} -> {losses[-1]:.3f}; live objects {live0} -> {live1}")
    assert live1 == live0, "C objects leaked by the training loop"
    assert losses[-1] < first * 0.5, "the model did not train"
    if not SANITIZED:
        # a leak of one small tensor per step would be >= 100 bytes/step; allow noise well below that
        assert s < 64, f"RSS grows by {s:.1f} bytes/step"
        assert max(ys) - rss0 < 32 * MiB


def run_in_child(body: str) -> None:
    """Run this module's ``body()`` in a fresh interpreter (a clean heap); fail with its output."""
    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(pg.__file__).resolve().parent.parent), str(here),
                                         env.get("PYTHONPATH", "")])
    code = f"import test_soak\ntest_soak.{body}()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800, env=env,
                       cwd=str(here))
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.skipif(not HAVE_PROC, reason="RSS is read from /proc/self/statm")
def test_million_node_graphs_are_freed_every_time() -> None:
    run_in_child("million_node_rounds")


@pytest.mark.skipif(not HAVE_PROC, reason="RSS is read from /proc/self/statm")
def test_training_loop_memory_is_flat() -> None:
    run_in_child("training_loop")


def million_node_rounds() -> None:
    base = pg.live_objects()
    rounds, pairs = 3, 500_000  # two nodes per pair: y = (y * c) + x
    rss = []
    for r in range(rounds):
        t0 = time.perf_counter()
        x = pg.tensor(np.array([0.5, -0.25]), requires_grad=True)
        y = x
        for _ in range(pairs):
            y = y * 0.999999 + x
        assert pg.live_objects()["nodes"] == base["nodes"] + 2 * pairs
        y.sum().backward()
        grad = x.grad.numpy().copy()
        del y
        after = pg.live_objects()
        del x
        rss.append(rss_bytes())
        print(f"\nsoak/graph round {r}: {2 * pairs} nodes built, differentiated and freed in "
              f"{time.perf_counter() - t0:.1f} s; RSS {rss[-1] / MiB:.1f} MiB; live {pg.live_objects()}")
        # dy/dx = sum_k c^k over the chain, the same for both elements
        c = 0.999999
        expected = (1 - c ** (pairs + 1)) / (1 - c)
        np.testing.assert_allclose(grad, [expected, expected], rtol=1e-6)
        assert after["nodes"] == base["nodes"], "graph nodes survived the release of the output"
        assert pg.live_objects() == base
    if not SANITIZED:
        growth = max(rss[1:]) - rss[0]
        assert growth < 16 * MiB, f"RSS grew by {growth / MiB:.1f} MiB between rounds"
