"""Anomaly detection: ``detect_anomaly()`` / ``set_detect_anomaly()`` in both engines.

With the mode on, the first op whose forward output holds a NaN/inf raises
RuntimeError naming the op ("Function 'log' returned nan values in its 0th
output ..."), and during backward the first node whose gradients hold one
raises naming the node's backward and the forward op that created it. The C
engine and the reference write the same messages; every op case of
pygrad/_opcases.py is run with a NaN fed in (forward) and with an infinite
upstream gradient (backward), and both engines must agree on whether and
what they report.
"""

from __future__ import annotations

import gc
import threading
import zlib
from types import ModuleType

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad._opcases import CASES, OpCase, make_inputs

ENGINES = {"c": pygrad, "reference": ref}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> ModuleType:
    """Each test runs on both engines."""
    return ENGINES[request.param]


def _raises(fn) -> str | None:
    """The message of the RuntimeError ``fn()`` raises, or None if it returns."""
    try:
        fn()
    except RuntimeError as exc:
        assert isinstance(exc, pygrad.PygradError)
        return str(exc)
    return None


def test_off_by_default_and_nan_propagates(m: ModuleType) -> None:
    assert not m.is_anomaly_enabled()
    x = m.tensor([1.0, -1.0], requires_grad=True)
    y = x.sqrt()
    assert np.isnan(y.numpy()[1])
    y.sum().backward()
    assert np.isnan(x.grad.numpy()[1])


def test_forward_names_the_op(m: ModuleType) -> None:
    x = m.tensor([1.0, -1.0, 2.0], requires_grad=True)
    with m.detect_anomaly():
        assert m.is_anomaly_enabled()
        msg = _raises(lambda: x.log())
    assert msg is not None
    assert msg.startswith("Function 'log' returned nan values in its 0th output")
    assert "(3,)" in msg and "flat index 1" in msg
    assert not m.is_anomaly_enabled()


def test_forward_reports_inf(m: ModuleType) -> None:
    x = m.tensor([1.0, 100.0], dtype="float32")
    with m.detect_anomaly():
        msg = _raises(lambda: x.exp())
    assert msg is not None and msg.startswith("Function 'exp' returned inf values in its 0th output")


def test_forward_checks_without_grad_too(m: ModuleType) -> None:
    x = m.tensor([0.0, 1.0])
    with m.no_grad(), m.detect_anomaly():
        msg = _raises(lambda: x.reciprocal())
    assert msg is not None and "'reciprocal' returned inf" in msg


def test_finite_results_pass(m: ModuleType) -> None:
    x = m.tensor([[0.5, 1.0], [2.0, 3.0]], requires_grad=True)
    with m.detect_anomaly():
        loss = (x.log().exp() @ x).softmax(axis=1).sum()
        loss.backward()
    np.testing.assert_allclose(loss.item(), 2.0, rtol=1e-6)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_backward_names_node_and_forward_op(m: ModuleType) -> None:
    # sqrt(0) = 0 is fine forward; its derivative 1/(2 sqrt x) is inf at 0
    x = m.tensor([4.0, 0.0, 1.0], dtype="float64", requires_grad=True)
    with m.detect_anomaly():
        y = (x.sqrt() * 3.0).sum()
        msg = _raises(lambda: y.backward())
    assert msg is not None
    assert msg.startswith("Function 'sqrt_backward' returned inf values in its 0th output")
    assert "created by the forward op 'sqrt'" in msg and "flat index 1" in msg


def test_backward_reports_the_input_index(m: ModuleType) -> None:
    # d(a/b)/db = -a/b^2 overflows float32 for a tiny b; d/da = 1/b stays finite
    a = m.tensor([1.0, 1.0], requires_grad=True)
    b = m.tensor([1.0, 1e-30], requires_grad=True)
    with m.detect_anomaly():
        y = (a / b).sum()
        msg = _raises(lambda: y.backward())
    assert msg is not None
    assert msg.startswith("Function 'div_backward' returned inf values in its 1th output (the gradient of input 1")


def test_backward_without_the_mode_does_not_check(m: ModuleType) -> None:
    x = m.tensor([0.0], requires_grad=True)
    with m.detect_anomaly():
        y = x.sqrt().sum()
    y.backward()  # the mode is read when the sweep runs
    assert np.isinf(x.grad.numpy()[0])


def test_set_detect_anomaly_returns_the_previous_mode(m: ModuleType) -> None:
    assert m.set_detect_anomaly(True) is False
    try:
        assert m.is_anomaly_enabled()
        assert m.set_detect_anomaly(False) is True
    finally:
        m.set_detect_anomaly(False)
    assert not m.is_anomaly_enabled()


def test_mode_restored_after_an_exception_and_nested(m: ModuleType) -> None:
    with pytest.raises(RuntimeError):
        with m.detect_anomaly():
            with m.detect_anomaly(False):
                assert not m.is_anomaly_enabled()
            assert m.is_anomaly_enabled()
            m.tensor([-1.0]).sqrt()
    assert not m.is_anomaly_enabled()


def test_decorator(m: ModuleType) -> None:
    @m.detect_anomaly()
    def f(x):
        assert m.is_anomaly_enabled()
        return x.log()

    with pytest.raises(RuntimeError, match="'log' returned nan"):
        f(m.tensor([-2.0]))
    assert not m.is_anomaly_enabled()


def test_mode_is_per_thread(m: ModuleType) -> None:
    seen: list[bool] = []
    with m.detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(m.is_anomaly_enabled()))
        t.start()
        t.join()
    assert seen == [False]


def test_bool_results_are_not_checked(m: ModuleType) -> None:
    x = m.tensor([np.nan, 1.0])
    with m.detect_anomaly():
        c = x > 0.0
    assert c.numpy().tolist() == [False, True]


def test_failed_checks_leak_nothing() -> None:
    gc.collect()  # earlier tests' cyclic garbage would otherwise be freed in the middle and count here
    before = pygrad.live_objects()
    x = pygrad.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    with pygrad.detect_anomaly():
        with pytest.raises(RuntimeError):
            x.log()
        y = (x.abs().sqrt() * x).sum()
        with pytest.raises(RuntimeError):
            y.backward()
    del x, y
    assert pygrad.live_objects() == before


# ---- both engines report the same thing, for every op case ----


def _inputs(case: OpCase, dtype: str) -> list[np.ndarray]:
    return make_inputs(case, dtype, zlib.crc32(f"anomaly/{case.id}".encode()))


def _forward_message(m: ModuleType, case: OpCase, arrays: list[np.ndarray], dtype: str) -> str | None:
    xs = [m.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    with m.detect_anomaly():
        return _raises(lambda: case.fn(m, *xs))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_engines_agree_on_nan_inputs(case: OpCase) -> None:
    """A NaN in the first element of the first non-empty input: both engines raise the same, or neither."""
    arrays = _inputs(case, "float64")
    for a in arrays:
        if a.size:
            a.reshape(-1)[0] = np.nan
            break
    got_c = _forward_message(pygrad, case, arrays, "float64")
    got_r = _forward_message(ref, case, arrays, "float64")
    assert got_c == got_r


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_engines_agree_on_an_infinite_upstream_gradient(case: OpCase) -> None:
    """backward(grad) with an inf in grad: both engines raise the same, or neither."""
    arrays = _inputs(case, "float64")
    msgs = []
    for m in (pygrad, ref):
        xs = [m.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
        out = case.fn(m, *xs)
        if out.dtype == m.bool_:
            pytest.skip("bool result")
        g = np.ones(out.shape)
        if g.size:
            g.reshape(-1)[-1] = np.inf
        with m.detect_anomaly():
            msgs.append(_raises(lambda m=m, out=out, g=g: out.backward(m.tensor(g))))
    assert msgs[0] == msgs[1]


def test_internal_casts_are_not_ops(m: ModuleType) -> None:
    """Promotions inside comparisons and unrecorded in-place updates are not checked."""
    a = m.tensor(np.array([np.inf, 1.0], dtype=np.float32))
    b = m.tensor(np.array([np.nan, 0.0]))  # float64
    w = m.zeros(2)
    with m.detect_anomaly():
        assert (a > b).numpy().tolist() == [False, True]
        assert (b < a).numpy().tolist() == [False, True]
        with m.no_grad():
            w += b
        w.add_(b)
    assert np.isnan(w.numpy()[0])
