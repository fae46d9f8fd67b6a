"""pygrad.compile records the in-place updates the graph does not record (under
no_grad, or on tensors that do not require grad) as instructions of the
program: the hand-written update ``p -= lr * p.grad``, ``p.grad = None``,
``zero_()``, ``copy_``, ``fill_``, and the general in-place ops (``exp_``,
``clamp_``, ...) on values of the step. A replay calls the same entry points
on whatever tensor the target holds at run time, so parameters, buffers,
``.grad`` tensors and inputs change exactly as in the eager run. An in-place
update the graph records (grad mode, on a tensor of the graph) still runs
eagerly, with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad._compile import CompileWarning


def _no_warnings():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")
    return ctx


def _same(a, b) -> None:
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _micrograd_like(dtype: str, seed: int = 0):
    """An MLP with the update written by hand, as the notes' and micrograd's demos write it."""
    rng = np.random.default_rng(seed)
    params = []
    for i, o in ((2, 16), (16, 16), (16, 1)):
        params.append(pg.tensor(rng.uniform(-1, 1, (i, o)), dtype=dtype, requires_grad=True))
        params.append(pg.tensor(np.zeros(o), dtype=dtype, requires_grad=True))

    def step(x, neg_y, lr):
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k < len(params) - 2:
                h = h.relu()
        loss = (1 + neg_y * h).relu().mean() + 1e-4 * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        with pg.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss

    return step, params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hand_written_sgd_update_is_recorded_and_bit_identical(dtype: str) -> None:
    rng = np.random.default_rng(5)
    x = pg.tensor(rng.standard_normal((40, 2)), dtype=dtype)
    neg_y = pg.tensor(-np.sign(rng.standard_normal((40, 1))), dtype=dtype)
    eager, pe = _micrograd_like(dtype)
    compiled, pc = _micrograd_like(dtype)
    compiled = pg.compile(compiled)
    ctx = _no_warnings()
    try:
        le = [eager(x, neg_y, 0.5).item() for _ in range(30)]
        lc = [compiled(x, neg_y, 0.5).item() for _ in range(30)]
    finally:
        ctx.__exit__(None, None, None)
    assert compiled.records == 1
    assert "inplace" in compiled.program and "set_grad" in compiled.program
    assert le == lc
    _same([p.numpy() for p in pe], [p.numpy() for p in pc])
    assert le[-1] < le[0]  # it trains


def test_a_new_learning_rate_argument_records_again() -> None:
    x = pg.tensor(np.random.default_rng(6).standard_normal((10, 2)))
    neg_y = pg.tensor(np.ones((10, 1)))
    eager, pe = _micrograd_like("float64")
    compiled, pc = _micrograd_like("float64")
    compiled = pg.compile(compiled)
    for lr in (0.1, 0.1, 0.1, 0.2, 0.2, 0.2):
        assert eager(x, neg_y, lr).item() == compiled(x, neg_y, lr).item()
    assert compiled.records == 2
    _same([p.numpy() for p in pe], [p.numpy() for p in pc])


def _momentum_by_hand(seed: int = 1):
    rng = np.random.default_rng(seed)
    w = pg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    v = pg.zeros((4, 3), dtype="float64")
    state = [w, v]

    def step(x):
        w, v = state
        if w.grad is not None:
            w.grad.zero_()
        loss = ((x @ w).sigmoid() ** 2).sum()
        loss.backward()
        with pg.no_grad():
            v.mul_(0.9).add_(w.grad)
            w.add_(v, alpha=-0.05)
        return loss

    return step, state


def test_buffers_and_grads_updated_in_place_like_eager() -> None:
    xs = [pg.tensor(np.random.default_rng(k).standard_normal((6, 4))) for k in range(3)]
    eager, se = _momentum_by_hand()
    compiled, sc = _momentum_by_hand()
    compiled = pg.compile(compiled)
    for k in range(12):
        assert eager(xs[k % 3]).item() == compiled(xs[k % 3]).item()
        _same([se[0].numpy(), se[1].numpy(), se[0].grad.numpy()], [sc[0].numpy(), sc[1].numpy(), sc[0].grad.numpy()])
    assert compiled.records == 2  # the first call read w.grad as None and made it: the second records again
    text = compiled.program
    assert "*= 0.9" in text and "[...] = 0" in text  # v.mul_(0.9); w.grad.zero_()


def test_in_place_ops_on_values_of_the_step() -> None:
    def f(x):
        with pg.no_grad():
            y = x * 2.0
            y.exp_()
            y.clamp_(max=3.0)
            y.add_(1.0)
            y.relu_()
            z = x.clone()
            z.fill_(0.25)
            z.mul_(y)
            return y, z

    c = pg.compile(f)
    for k in range(5):
        x = pg.tensor(np.random.default_rng(k).standard_normal(3000), dtype="float32")
        got, want = c(x), f(x)
        _same([t.numpy() for t in got], [t.numpy() for t in want])
    assert c.records == 1


def test_copy_into_a_captured_buffer_and_updates_of_the_input() -> None:
    buf = pg.zeros(5, dtype="float64")
    buf_e = pg.zeros(5, dtype="float64")

    def make(b):
        def f(x):
            with pg.no_grad():
                b.copy_(x * 3.0)
                x.add_(1.0)  # the caller's tensor changes, as eagerly
                return b * 2.0
        return f

    eager, compiled = make(buf_e), pg.compile(make(buf))
    xe = pg.tensor(np.arange(5.0))
    xc = pg.tensor(np.arange(5.0))
    for _ in range(5):
        _same([eager(xe).numpy()], [compiled(xc).numpy()])
        _same([buf_e.numpy(), xe.numpy()], [buf.numpy(), xc.numpy()])
    assert compiled.records == 1
    np.testing.assert_array_equal(xc.numpy(), np.arange(5.0) + 5)


def test_an_in_place_update_of_a_graph_tensor_runs_eagerly() -> None:
    w = pg.tensor(np.ones(3), requires_grad=True)

    def f(x):
        h = x * w
        h.mul_(2.0)  # recorded by the graph: not replayable
        h.sum().backward()
        return w.grad

    c = pg.compile(f)
    x = pg.tensor(np.arange(3.0))
    with pytest.warns(CompileWarning, match="in-place update recorded in the graph"):
        for _ in range(3):
            c(x)
    assert c.records == 0
    np.testing.assert_array_equal(w.grad.numpy(), 3 * 2 * np.arange(3.0))
