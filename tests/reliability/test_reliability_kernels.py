"""Reliability of the kernels' machinery: fork safety of every lock.

A process forked while another thread holds a lock inherits it held, and
nobody in the child will ever release it. Each test runs in a fresh
interpreter (``run_child``, with a time limit): a thread holds one lock (or
keeps taking it) while the main thread forks; each forked child uses the
facility behind the lock and must exit 0 within its own time limit.

The locks: the Python layer's RNG lock (``pg.randn``/``pg.rand``; the only
``threading.Lock`` of ``pygrad/``), and the C library's pthread mutexes: the
thread pool's (``csrc/threads.c``: a job running on the pool) and the buffer
cache's (``csrc/alloc.c``). The child's pool starts empty and is recreated on
its first pooled kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pygrad as pg

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def run_child(code: str, timeout: float) -> str:
    """Run ``code`` in a fresh interpreter importing the pygrad under test; fail if it hangs or fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(pg.__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=str(Path(__file__).resolve().parent))
    except subprocess.TimeoutExpired:
        pytest.fail(f"child timed out after {timeout} s")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert r.stdout.strip().endswith("ok")
    return r.stdout

# Shared by the children: fork, run `use()` in the child, wait for it with a limit.
PRELUDE = """
import os, sys, threading, time
import numpy as np
import pygrad as pg

# Load the C engine (pygrad's names bind on first use) before any thread starts: a
# fork while another thread is inside an import leaves the child blocked on that
# module's import lock (CPython's, not pygrad's).
pg.zeros(1)

def fork_and_use(use, limit=20.0):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            use()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise SystemExit("the forked child hung")

def use_rng():
    a = pg.randn(3, 4)
    b = pg.rand(5)
    assert a.shape == (3, 4) and b.shape == (5,)

def use_pool():
    pg.set_num_threads(2)
    m = np.arange(256 * 256, dtype=np.float64).reshape(256, 256) % 7
    np.testing.assert_array_equal((pg.tensor(m) @ pg.tensor(m)).numpy(), m @ m)

def use_cache():
    for _ in range(3):
        t = pg.zeros(1 << 20, dtype="float64")  # 8 MiB: through the cache
        assert float((t + 1.0).sum().item()) == float(1 << 20)
        del t
"""


def test_fork_while_a_thread_holds_the_rng_lock() -> None:
    # the thread is inside randn's critical section when the main thread forks
    run_child(PRELUDE + """
from pygrad import _creation
inside = threading.Event()
def hold():
    with _creation._rng_lock:
        inside.set()
        time.sleep(0.5)
t = threading.Thread(target=hold)
t.start()
inside.wait()
fork_and_use(use_rng)
t.join()
use_rng()
print("ok")
""", timeout=60)


def test_fork_while_threads_call_randn() -> None:
    run_child(PRELUDE + """
stop = False
def loop():
    while not stop:
        pg.randn(300, 300)
        pg.rand(300, 300)
ts = [threading.Thread(target=loop) for _ in range(2)]
for t in ts:
    t.start()
for _ in range(20):
    fork_and_use(use_rng)
stop = True
for t in ts:
    t.join()
print("ok")
""", timeout=120)


def test_fork_while_a_job_runs_on_the_pool() -> None:
    # the thread's matmul holds the pool (and has let the GIL go) when the main thread forks
    pytest.importorskip("pygrad._pygrad")
    run_child(PRELUDE + """
from pygrad import _pygrad
lib = _pygrad.lib
pg.set_num_threads(2)
big = pg.tensor(np.ones((1024, 1024)))
stop = False
def loop():
    while not stop:
        big @ big
t = threading.Thread(target=loop)
lib.pg_py_reset_gil_counts()
t.start()
for _ in range(5):
    while lib.pg_py_gil_count(0) == 0:  # the thread is inside a pooled kernel
        time.sleep(0.001)
    fork_and_use(use_pool, limit=60)
    fork_and_use(use_cache, limit=60)
    lib.pg_py_reset_gil_counts()
stop = True
t.join()
print("ok")
""", timeout=300)


def test_fork_while_threads_allocate_through_the_cache() -> None:
    run_child(PRELUDE + """
stop = False
def loop():
    while not stop:
        for _ in range(10):
            t = pg.zeros(300_000, dtype="float64")  # 2.4 MiB: cached when freed
            del t
ts = [threading.Thread(target=loop) for _ in range(2)]
for t in ts:
    t.start()
for _ in range(20):
    fork_and_use(use_cache)
stop = True
for t in ts:
    t.join()
print("ok")
""", timeout=120)


def test_fork_while_threads_backpropagate_into_one_leaf() -> None:
    # the leaves' gradient locks and the sweep's claim lock: a child forked while
    # another thread holds one starts with them free, and can backpropagate
    run_child(PRELUDE + """
stop = False
w = pg.tensor(np.ones(4096), requires_grad=True)
def loop():
    while not stop:
        for _ in range(20):
            (w * 2.0).sum().backward()
            w.grad = None
ts = [threading.Thread(target=loop) for _ in range(2)]
for t in ts:
    t.start()
def use_grad():
    v = pg.tensor(np.ones(4096), requires_grad=True)
    (v * 3.0).sum().backward()
    assert float(v.grad.sum().item()) == 3.0 * 4096
    (w * 1.0).sum().backward()  # the shared leaf: its lock is free in the child
    assert w.grad is not None
for _ in range(30):
    fork_and_use(use_grad)
stop = True
for t in ts:
    t.join()
print("ok")
""", timeout=120)


def test_engine_is_importable_here() -> None:
    assert pg.randn(2).shape == (2,)
