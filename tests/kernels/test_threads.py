"""The kernels' thread pool: the setting, results that do not depend on the
number of threads, several Python threads using the pool at once, fork."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import pygrad as pg


@pytest.fixture(autouse=True)
def _restore_threads():
    before = pg.get_num_threads()
    yield
    pg.set_num_threads(before)


def test_default_is_at_least_one_and_settable():
    assert pg.get_num_threads() >= 1
    pg.set_num_threads(1)
    assert pg.get_num_threads() == 1
    pg.set_num_threads(3)
    assert pg.get_num_threads() == 3


@pytest.mark.parametrize("bad", [0, -1, 257, 10**30])
def test_bad_count_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: .*between 1 and 256, got") as info:
        pg.set_num_threads(bad)
    assert isinstance(info.value, pg.PygradError)


@pytest.mark.parametrize("bad", [1.5, "2", None, True])
def test_bad_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="set_num_threads: expected an int"):
        pg.set_num_threads(bad)


def _step(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, ...]:
    x = pg.tensor(a, requires_grad=True)
    w = pg.tensor(b, requires_grad=True)
    y = x @ w
    (y * pg.tensor(g)).sum().backward()
    return y.numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()


@pytest.mark.parametrize("shapes", [((131, 257), (257, 97)), ((1, 3000), (3000, 700)), ((900, 3000), (3000, 1))],
                         ids=["matrix", "row-vector", "column-vector"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nthreads", [2, 3, 8])
def test_results_do_not_depend_on_the_thread_count(rng, dtype, nthreads, shapes):
    sa, sb = shapes
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    g = rng.standard_normal((sa[0], sb[1])).astype(dtype)
    pg.set_num_threads(1)
    want = _step(a, b, g)
    pg.set_num_threads(nthreads)
    got = _step(a, b, g)
    for w, h in zip(want, got):
        np.testing.assert_array_equal(h, w)


@pytest.mark.parametrize("nthreads", [2, 8])
def test_python_threads_share_the_pool(rng, nthreads):
    """Six Python threads call matmul at once (cffi releases the GIL): every
    result is right, nothing deadlocks (each thread gets 120 s)."""
    a = rng.standard_normal((150, 140)).astype(np.float32)
    b = rng.standard_normal((140, 160)).astype(np.float32)
    g = rng.standard_normal((150, 160)).astype(np.float32)
    pg.set_num_threads(1)
    want = _step(a, b, g)
    pg.set_num_threads(nthreads)
    failures: list[str] = []

    def work() -> None:
        for _ in range(30):
            for w, h in zip(want, _step(a, b, g)):
                if not np.array_equal(w, h):
                    failures.append("a result differs")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert failures == []


def test_setting_the_count_while_kernels_run(rng):
    a = rng.standard_normal((200, 200)).astype(np.float32)
    want = (pg.tensor(a) @ pg.tensor(a)).numpy().copy()
    stop = threading.Event()
    failures: list[str] = []

    def work() -> None:
        while not stop.is_set():
            if not np.array_equal((pg.tensor(a) @ pg.tensor(a)).numpy(), want):
                failures.append("a result differs")

    t = threading.Thread(target=work)
    t.start()
    for n in [1, 2, 4, 1, 3, 2] * 5:
        pg.set_num_threads(n)
    stop.set()
    t.join(120)
    assert not t.is_alive()
    assert failures == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_split_kernel_is_whole_while_another_thread_holds_the_pool(rng, dtype):
    """batch_norm splits its channels into parts; while another Python thread's matmuls hold the
    pool it runs them all on its own thread: every result equals the one computed alone (forward
    and the gradients, which sum the parts' partial sums in order)."""
    x = rng.standard_normal((64, 32, 16, 16)).astype(dtype)
    w = rng.standard_normal(32).astype(dtype)
    b = rng.standard_normal(32).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    a = pg.tensor(rng.standard_normal((400, 400)).astype(np.float32))
    bn = pg.nn.functional.batch_norm
    pg.set_num_threads(2)

    def run() -> list[np.ndarray]:
        xs, ws, bs = (pg.tensor(v, requires_grad=True) for v in (x, w, b))
        y = bn(xs, None, None, ws, bs, training=True)
        (y * pg.tensor(g)).sum().backward()
        return [y.numpy().copy(), xs.grad.numpy().copy(), ws.grad.numpy().copy(), bs.grad.numpy().copy()]

    want = run()
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            a @ a

    t = threading.Thread(target=hog)
    t.start()
    try:
        for _ in range(40):
            for got, ref in zip(run(), want):
                np.testing.assert_array_equal(got, ref)
    finally:
        stop.set()
        t.join(120)
    assert not t.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_the_pool_started(rng):
    """A forked child has none of the parent's workers; its kernels still run."""
    a = rng.standard_normal((200, 150)).astype(np.float32)
    b = rng.standard_normal((150, 170)).astype(np.float32)
    pg.set_num_threads(2)
    want = (pg.tensor(a) @ pg.tensor(b)).numpy().copy()  # the pool is running now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+)
        pid = os.fork()
    if pid == 0:  # child: the exit status says whether the result was right
        status = 4
        try:
            status = 0 if np.array_equal((pg.tensor(a) @ pg.tensor(b)).numpy(), want) else 3
        finally:
            os._exit(status)
    deadline = time.monotonic() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child is stuck")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


ELEMENTWISE = {
    "add": lambda x, y: x + y,
    "mul_broadcast": lambda x, y: x * y[:1],
    "div": lambda x, y: x / (y * y + 1.0),
    "exp": lambda x, y: x.exp(),
    "tanh": lambda x, y: x.tanh(),
    "relu": lambda x, y: x.relu(),
    "scale": lambda x, y: x * 0.37,
    "sum": lambda x, y: x.sum(),
    "mean_0": lambda x, y: x.mean(axis=0),
    "sum_1": lambda x, y: x.sum(axis=1),
    "sum_02": lambda x, y: x.reshape(30, 300, 31).sum(axis=(0, 2)),
    "sum_023": lambda x, y: x.reshape(90, 31, 10, 10).sum(axis=(0, 2, 3)),
    "mean_023_keepdims": lambda x, y: x.reshape(90, 31, 10, 10).mean(axis=(0, 2, 3), keepdims=True),
    "max": lambda x, y: x.max(),
    "max_1": lambda x, y: x.max(axis=1),
    "softmax": lambda x, y: x.softmax(axis=1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_and_reductions_do_not_depend_on_the_thread_count(rng, name, dtype):
    """Sizes above the point where these kernels split over threads."""
    a = rng.standard_normal((900, 310)).astype(dtype)
    b = rng.standard_normal((900, 310)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        pg.set_num_threads(threads)
        x = pg.tensor(a, requires_grad=True)
        y = pg.tensor(b, requires_grad=True)
        z = ELEMENTWISE[name](x, y)
        g = pg.tensor(np.cos(np.arange(z.numel()).reshape(z.shape)).astype(dtype))
        (z * g).sum().backward()
        grads = [t.grad.numpy().copy() for t in (x, y) if t.grad is not None]
        results.append([z.numpy().copy(), *grads])
    for other in results[1:]:
        for want, got in zip(results[0], other):
            np.testing.assert_array_equal(got, want)


def test_in_place_updates_do_not_depend_on_the_thread_count(rng):
    a = rng.standard_normal(300_001)
    b = rng.standard_normal(300_001)
    results = []
    for threads in (1, 2):
        pg.set_num_threads(threads)
        t = pg.tensor(a)
        t.add_(pg.tensor(b), alpha=-0.1)
        t.mul_(1.5)
        t.add_(0.25)
        t.mul_(pg.tensor(b))
        results.append(t.numpy().copy())
    np.testing.assert_array_equal(results[1], results[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("shape", "axes"), [
    ((64, 32, 8, 8), (0, 2, 3)),      # a bias gradient
    ((2, 300, 1, 7, 5), (0, 3, 4)),   # size-1 dims among the kept ones
    ((1, 700, 97), (0, 2)),           # no leading reduced dim
    ((3, 1000, 33), (0, 2)),
    ((5, 6, 7, 8, 9), (0, 1, 4)),     # several leading and kept dims
])
def test_sums_over_outer_and_inner_dims(rng, shape, axes, dtype):
    """Sums over leading and trailing dims that keep the middle ones, on 1 and 2 threads: the
    same bits, and numpy's float64 sums within float rounding."""
    a = rng.standard_normal(shape).astype(dtype)
    want = a.astype(np.float64).sum(axis=axes)
    got = []
    for threads in (1, 2):
        pg.set_num_threads(threads)
        got.append(pg.tensor(a).sum(axis=axes).numpy().copy())
    np.testing.assert_array_equal(got[1], got[0])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[0], want, rtol=tol, atol=tol * np.sqrt(a.size // want.size))
