"""Threads: independent models trained in parallel, and kernels running without the GIL.

- Four Python threads each train their own small model (own data, own
  parameters, the same code); the final parameters and every loss are
  bit-identical to training the four models one after another.
- Two threads doing large matmuls (1024x1024 float64) run at the same time:
  the engine lets the GIL go around its pooled kernels (pg_set_blocking_hooks),
  so while both threads are inside the kernel the process burns CPU time
  faster than wall time passes. The check is CPU time / wall time over the concurrent section
  (about 2 with the GIL released, at most 1 with it held), which measures
  concurrency rather than speed. It is the suite's one timing-based check,
  so it is judged against a yardstick measured just before: two threads
  hashing a large buffer with hashlib, which releases the GIL. The matmul
  threads must reach at least half of the yardstick's parallelism; when the
  yardstick itself shows none (a busy machine, or one core), the test is
  retried and then skipped. Per-thread call intervals are printed (pytest -s).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import pygrad as pg

pytestmark = pytest.mark.slow


def train(seed: int, steps: int = 300) -> tuple[list[bytes], list[float]]:
    """Train a small MLP from ``seed``; return the final parameters' bytes and the losses."""
    rng = np.random.default_rng(seed)
    n, d, hidden, classes = 32, 8, 16, 3
    x = pg.tensor(rng.standard_normal((n, d)))
    labels = rng.integers(0, classes, n)
    params = [pg.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)
              for s in ((d, hidden), (hidden,), (hidden, classes), (classes,))]
    losses = []
    for _ in range(steps):
        w1, b1, w2, b2 = params
        h = (x @ w1 + b1).tanh()
        loss = -(h @ w2 + b2).log_softmax(axis=1)[np.arange(n), labels].mean()
        loss.backward()
        with pg.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
        losses.append(loss.item())
    return [p.numpy().tobytes() for p in params], losses


def test_four_threads_train_bit_identically_to_sequential_runs() -> None:
    seeds = [11, 22, 33, 44]
    sequential = {s: train(s) for s in seeds}
    results: dict[int, tuple[list[bytes], list[float]]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(seeds))

    def worker(seed: int) -> None:
        try:
            barrier.wait()
            results[seed] = train(seed)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for s in seeds:
        params, losses = results[s]
        assert params == sequential[s][0], f"model {s}: parameters differ from the sequential run"
        assert losses == sequential[s][1], f"model {s}: losses differ from the sequential run"
        assert losses[-1] < losses[0]
    assert sequential[11][1] != sequential[22][1]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _two_threads(work: Callable[[int], None]) -> tuple[float, float, list[list[tuple[float, float]]]]:
    """Run ``work(k)`` in threads k = 0, 1 started together; return wall time, CPU time, and each
    thread's (start, end) times of its calls."""
    intervals: list[list[tuple[float, float]]] = [[], []]
    barrier = threading.Barrier(3)

    def worker(k: int) -> None:
        barrier.wait()
        for _ in range(REPS):
            s = time.perf_counter()
            work(k)
            intervals[k].append((s, time.perf_counter()))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    barrier.wait()
    w0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    return time.perf_counter() - w0, time.process_time() - c0, intervals


REPS = 2


@pytest.mark.skipif(_cores() < 2, reason="needs at least 2 cores to run two kernels at once")
def test_kernels_run_with_the_gil_released() -> None:
    n = 1024
    rng = np.random.default_rng(0)
    mats = [(pg.tensor(rng.standard_normal((n, n))), pg.tensor(rng.standard_normal((n, n)))) for _ in range(2)]
    blob = b"pygrad" * (8 * 2**20)  # hashlib releases the GIL on large buffers: the yardstick

    def matmul(k: int) -> None:
        mats[k][0] @ mats[k][1]

    def digest(k: int) -> None:
        for _ in range(4):
            hashlib.sha256(blob).digest()

    for attempt in range(3):
        bw, bc, _ = _two_threads(digest)
        wall, cpu, intervals = _two_threads(matmul)
        baseline, ratio = bc / bw, cpu / wall
        t0 = min(s for iv in intervals for s, _ in iv)
        shown = "; ".join(f"thread {k}: " + ", ".join(f"[{s - t0:.2f}, {e - t0:.2f}]" for s, e in iv)
                          for k, iv in enumerate(intervals))
        print(f"\nGIL check, attempt {attempt}: two threads in matmul: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"(CPU/wall {ratio:.2f}; two threads hashing, which releases the GIL: {baseline:.2f}); "
              f"matmul intervals (s): {shown}")
        if baseline < 1.3:
            continue  # the machine gives this process no second core right now: measure again
        assert ratio >= 1.0 + 0.5 * (baseline - 1.0), (
            f"two threads in matmul used {ratio:.2f} s of CPU per s of wall time, where two threads of a "
            f"GIL-releasing hash used {baseline:.2f}: the matmul held the GIL")
        return
    pytest.skip("no parallelism observable on this machine right now (a GIL-releasing baseline ran serially)")
