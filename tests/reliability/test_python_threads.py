"""Threads: independent models trained in parallel, and kernels running without the GIL.

- Four Python threads each train their own small model (own data, own
  parameters, the same code); the final parameters and every loss are
  bit-identical to training the four models one after another.
- Two threads doing large matmuls (1024x1024 float64) run at the same time:
  the engine lets the GIL go around its pooled kernels (pg_set_blocking_hooks),
  so while both threads are inside the kernel the process burns CPU time
  faster than wall time passes. The check is CPU time / wall time over the concurrent section
  (about 2 with the GIL released, at most 1 with it held), which measures
  concurrency rather than speed. The verdict is the binding's release counter
  (deterministic: every matmul let the GIL go); the timing is judged against a
  yardstick measured right before and right after: two threads hashing a
  large buffer with hashlib, which releases the GIL. The matmul threads must
  reach at least half of the yardstick's parallelism; when the load hides it
  (three tries), the test skips with the numbers, never fails: a busy machine
  is not a bug. Per-thread call intervals are printed (pytest -s).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

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
    want = [a.numpy() @ b.numpy() for a, b in mats]
    blob = b"pygrad" * (8 * 2**20)  # hashlib releases the GIL on large buffers: the yardstick
    results: list[Any] = [None, None]

    def matmul(k: int) -> None:
        results[k] = mats[k][0] @ mats[k][1]

    def digest(k: int) -> None:
        for _ in range(4):
            hashlib.sha256(blob).digest()

    # The verdict that does not depend on the machine's load: the binding's counter of
    # GIL releases (pybind/module.c) says each matmul let the GIL go, from a thread holding it.
    lib = _binding_lib()
    if lib is not None:
        lib.pg_py_reset_gil_counts()
    _two_threads(matmul)
    for k in range(2):
        np.testing.assert_allclose(results[k].numpy(), want[k], rtol=1e-10, atol=1e-10)
    if lib is not None:
        released, kept = int(lib.pg_py_gil_count(0)), int(lib.pg_py_gil_count(1))
        assert released >= 2 * REPS and kept == 0, (released, kept)

    # The observation: CPU time per wall time of the two matmul threads, judged against the
    # yardstick measured right before and right after (the same moment, as far as the load
    # goes). A busy machine can starve either run; then it is measured again, and after three
    # tries the test skips (the counter above has already judged the release).
    seen = []
    for attempt in range(3):
        bw0, bc0, _ = _two_threads(digest)
        wall, cpu, intervals = _two_threads(matmul)
        bw1, bc1, _ = _two_threads(digest)
        baseline, ratio = min(bc0 / bw0, bc1 / bw1), cpu / wall
        t0 = min(s for iv in intervals for s, _ in iv)
        shown = "; ".join(f"thread {k}: " + ", ".join(f"[{s - t0:.2f}, {e - t0:.2f}]" for s, e in iv)
                          for k, iv in enumerate(intervals))
        print(f"\nGIL check, attempt {attempt}: two threads in matmul: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"(CPU/wall {ratio:.2f}; two threads hashing, which releases the GIL, before and after: "
              f"{bc0 / bw0:.2f}, {bc1 / bw1:.2f}); matmul intervals (s): {shown}")
        seen.append(f"{ratio:.2f} against {baseline:.2f}")
        if baseline >= 1.3 and ratio >= 1.0 + 0.5 * (baseline - 1.0):
            return
    pytest.skip("the machine's load hid the parallelism (CPU/wall of the matmul threads against the "
                f"GIL-releasing yardstick: {', '.join(seen)}); the release counter passed")


def _binding_lib() -> Any:
    """The compiled binding's lib (its GIL counters), or None on the reference engine."""
    if pg.backend() != "c":
        return None
    from pygrad import _pygrad

    return _pygrad.lib
