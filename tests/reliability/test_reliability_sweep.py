"""Reliability of the backward sweep: threads, re-entrancy, caller-provided gradients.

- A leaf's ``.grad`` is accumulated under a per-leaf lock: two threads
  backpropagating into one leaf lose no update, and ``W.grad = None`` in one
  thread while another accumulates into ``W.grad`` frees nothing in use.
- Two threads sweeping one graph: each node is claimed by one sweep at a
  time; without ``retain_graph`` exactly one succeeds, with it both sum.
- The sweep never writes into a tensor it still reads or that the caller
  passed in: ``(x + x).backward(x.grad)`` is ``x.grad + 2 x.grad``.
- A backward re-entering a graph that is being swept raises; saved values are
  checked when each node runs; unbounded nested backward raises.
- ``graph_of`` never revives a tensor whose last reference is gone.
- ``backward(create_graph=True)`` adding to a ``.grad`` that holds a graph warns once.

The crash cases run in a child process with a time limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import pygrad as pg


def run_child(code: str, timeout: float = 120.0, cache_bytes: str | None = "0", leaks: bool = False) -> None:
    """Runs code in a fresh interpreter; fails on a crash, a hang or a non-zero exit.

    Large blocks are mapped and unmapped one by one (no reuse by malloc), so a
    write into a freed gradient buffer faults instead of corrupting the heap."""
    env = dict(os.environ)
    # the pygrad under test, imported from outside the source tree (whose pygrad/ may have no extension)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(pg.__file__).resolve().parent.parent),
                                         *filter(None, [env.get("PYTHONPATH")])])
    env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    if cache_bytes is not None:
        env["PYGRAD_CACHE_BYTES"] = cache_bytes
    if leaks:  # a child that leaks on purpose: the sanitized run's leak checker would report it
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        pytest.fail(f"child did not finish within {timeout} s")
    assert r.returncode == 0, (f"child exited with {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n"
                              f"stderr:\n{r.stderr[-3000:]}")


# ---- findings 2 and 3: accumulation into a shared leaf ----

@pytest.mark.slow
def test_two_threads_accumulating_into_one_leaf_lose_no_update() -> None:
    n, passes = 1 << 18, 150
    w = pg.tensor(np.zeros(n), requires_grad=True)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(passes):
                (w * 1.0).sum().backward()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    g = w.grad.numpy()
    short = int(np.count_nonzero(g != 2 * passes))
    assert short == 0, f"{short} of {n} elements lost an update"


@pytest.mark.slow
def test_clearing_grad_while_another_thread_accumulates_into_it() -> None:
    run_child("""
        import threading
        import numpy as np
        import pygrad as pg
        n = 1 << 18
        w = pg.tensor(np.zeros(n), requires_grad=True)
        stop = False
        def clear():
            while not stop:
                w.grad = None
                g = w.grad
                if g is not None:
                    v = g.numpy()
                    assert v.shape == (n,)
        t = threading.Thread(target=clear)
        t.start()
        try:
            for _ in range(300):
                (w * 1.0).sum().backward()
                (w * 1.0).sum().backward()
        finally:
            stop = True
            t.join()
        w.grad = None
        (w * 2.0).sum().backward()
        assert (w.grad.numpy() == 2.0).all()
    """)


# ---- finding 4: two threads sweeping the same graph ----

_TWO_SWEEPS = """
    import threading
    import numpy as np
    import pygrad as pg
    RETAIN = {retain}
    def chain(x):  # every gradient is a short dyadic fraction: sums in any order are exact
        h = x
        for i in range(16):
            h = h * 0.5 + x * x
        return h.sum()
    x1 = pg.tensor(np.full(1 << 17, 0.5), requires_grad=True)
    chain(x1).backward()
    one = x1.grad.numpy().copy()
    for rep in range(30):
        x = pg.tensor(np.full(1 << 17, 0.5), requires_grad=True)
        y = chain(x)
        barrier = threading.Barrier(2)
        ok, errors = [], []
        def work():
            barrier.wait()
            try:
                y.backward(retain_graph=RETAIN)
                ok.append(1)
            except Exception as e:
                errors.append(e)
        ts = [threading.Thread(target=work) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        g = x.grad.numpy()
        if RETAIN:
            assert len(ok) == 2, errors
            bad = int(np.count_nonzero(g != one + one))
            assert bad == 0, f"pass {{rep}}: {{bad}} elements differ"
        else:
            assert len(ok) == 1, f"pass {{rep}}: {{len(ok)}} sweeps succeeded {{errors}}"
            assert isinstance(errors[0], RuntimeError) and "second time" in str(errors[0]), errors
            bad = int(np.count_nonzero(g != one))
            assert bad == 0, f"pass {{rep}}: {{bad}} elements differ"
"""


@pytest.mark.slow
def test_two_threads_backward_through_one_graph_without_retain_graph() -> None:
    run_child(_TWO_SWEEPS.format(retain=False), cache_bytes=None)


@pytest.mark.slow
def test_two_threads_backward_through_one_graph_with_retain_graph() -> None:
    run_child(_TWO_SWEEPS.format(retain=True), cache_bytes=None)


# ---- finding 5: the caller's gradient is never written into ----

@pytest.mark.parametrize("engine", ["pygrad", "reference"])
def test_backward_of_the_leafs_own_grad_through_two_branches(engine: str) -> None:
    m = pg if engine == "pygrad" else pg.reference
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.grad = m.tensor([3.0, 3.0])
    (x + x).backward(x.grad)
    np.testing.assert_array_equal(x.grad.numpy(), [9.0, 9.0])


def test_the_callers_gradient_is_left_unchanged() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = pg.tensor([3.0, 3.0])
    seed = x.grad
    (x * 2.0 + x).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [12.0, 12.0])
    np.testing.assert_array_equal(seed.numpy(), [3.0, 3.0])
    g = pg.tensor([1.0, 1.0])
    y = pg.tensor([0.0, 0.0], requires_grad=True)
    (y + y + y).backward(g)
    (y + y).backward(g)
    np.testing.assert_array_equal(y.grad.numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


def test_a_user_backward_returning_the_leafs_grad() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = pg.tensor([3.0, 3.0])
    y = pg.custom_op([x, x], x.detach() * 2.0, lambda g, needs: [x.grad, x.grad])
    y.backward(pg.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [9.0, 9.0])


# ---- finding 9: re-entrant sweeps, saved versions per node, recursion ----

def test_nested_backward_through_the_graph_being_swept_raises() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    inner: list[BaseException] = []

    def bwd(g: pg.Tensor, needs: list[bool]) -> list[pg.Tensor]:
        try:
            with pg.enable_grad():
                (h * 1.0).sum().backward(retain_graph=True)
        except RuntimeError as e:
            inner.append(e)
            raise
        return [g * 3.0]

    y = pg.custom_op([h], h.detach() * 3.0, bwd)
    with pytest.raises(RuntimeError, match="being swept"):
        (y * 6.0).sum().backward(retain_graph=True)
    assert inner and "being swept" in str(inner[0])


def test_nested_backward_through_another_graph_is_allowed() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    z = pg.tensor([5.0], requires_grad=True)

    def bwd(g: pg.Tensor, needs: list[bool]) -> list[pg.Tensor]:
        with pg.enable_grad():
            (z * z).sum().backward()
        return [g * 3.0]

    y = pg.custom_op([x], x.detach() * 3.0, bwd)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(z.grad.numpy(), [10.0])


def test_in_place_change_to_a_saved_value_during_the_sweep_is_detected() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    a = pg.tensor([1.0, 1.0])
    h = x * a  # saves a

    def bwd(g: pg.Tensor, needs: list[bool]) -> list[pg.Tensor]:
        with pg.no_grad():
            a.add_(1.0)
        return [g]

    y = pg.custom_op([h], h.detach(), bwd)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("kind", ["custom_op", "gate"])
def test_unbounded_nested_backward_raises(kind: str) -> None:
    """The engine stops nested sweeps at a fixed depth, before Python's own
    recursion limit could strike inside the callback machinery."""
    run_child(f"""
        import numpy as np
        import pygrad as pg
        import sys
        KIND = {kind!r}
        class Again(pg.gates.Gate):
            def forward(self, x):
                return x
            def backward(self, dz):
                with pg.enable_grad():
                    make().sum().backward()
                return dz
        def make():
            x = pg.tensor([1.0], requires_grad=True)
            if KIND == "gate":
                return Again()(x)
            def bwd(g, needs):
                with pg.enable_grad():
                    make().sum().backward()
                return [g]
            return pg.custom_op([x], x.detach(), bwd)
        try:
            make().sum().backward()
        except pg.errors.PygradRuntimeError as e:
            assert "nested" in str(e), str(e)
        else:
            sys.exit("backward returned normally")
        y = (pg.tensor([2.0], requires_grad=True) * 3.0).sum()
        y.backward()  # the engine is usable afterwards
    """, timeout=120.0, cache_bytes=None)


# ---- finding 11: graph_of never revives a dead tensor ----

def test_graph_of_from_a_release_callback_does_not_revive_a_dead_output() -> None:
    run_child("""
        import pygrad as pg
        from pygrad._graph import graph_of
        seen = []
        class Canary:
            def __init__(self, h, k):
                self.h, self.k = h, k
            def __call__(self, g, needs):
                return [g]
            def __del__(self):
                self.h = None  # h's last reference: queued for release, not yet freed
                nodes = graph_of(self.k)
                seen.extend(n["output"] for n in nodes if n["op"] == "mul_scalar")
        a = pg.tensor([1.0, 2.0], requires_grad=True)
        h = a * 2.0
        k = h + 1.0
        c = pg.custom_op([a], a.detach(), Canary(h, k))
        del h
        del c  # the custom node's release drops the Canary while the release list drains
        assert len(seen) == 1, seen
        assert seen[0] is None, "graph_of handed out a tensor whose last reference was dropped"
        x = [pg.tensor([float(i)]) * 3.0 for i in range(100)]
        assert [v.item() for v in x] == [3.0 * i for i in range(100)]
    """)


# ---- finding 14: create_graph and the .grad cycle ----

def test_create_graph_without_clearing_grad_warns_once_and_the_idiom_frees_everything() -> None:
    """A leaf's recorded .grad refers back to the leaf (as in PyTorch): a
    cycle through C that Python's collector cannot see. A backward that adds
    to such a .grad warns (once per process); clearing .grad frees it all.
    In a child: the leaking half leaks on purpose."""
    run_child("""
        import warnings
        import numpy as np
        import pygrad as pg
        def live():
            c = pg.live_objects()
            return c["tensors"], c["nodes"], c["bytes"]
        def step(clear):
            x = pg.tensor(np.linspace(-1.0, 1.0, 512), requires_grad=True)
            for _ in range(2):
                (x ** 3).sum().backward(create_graph=True)
                assert x.grad.grad_fn is not None
                if clear:
                    g = x.grad
                    (g * g).sum().backward()  # the documented double-backward use
                    x.grad = None
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            step(True)
            before = live()
            for _ in range(20):
                step(True)
            assert live() == before, (live(), before)  # the idiom leaks nothing
            assert not w, [str(m.message) for m in w]
            for _ in range(5):
                step(False)
            leaked = live()
        assert len(w) == 1 and "reference cycle" in str(w[0].message), [str(m.message) for m in w]
        # what the warning says: without clearing, every step keeps its leaf and graph
        assert leaked[0] >= before[0] + 5 and leaked[1] >= before[1] + 5, (leaked, before)
        assert leaked[2] >= before[2] + 5 * 512 * 8, (leaked, before)
    """, cache_bytes=None, leaks=True)
