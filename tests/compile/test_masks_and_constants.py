"""pygrad.compile records the values a step makes besides graph ops: comparisons and the
bitwise/logical ops on their masks (``h > 0``, ``m1 & ~m2``), replayed against each call's new
values, and the constants creation functions make inside the function (``zeros``, ``ones``,
``full``, the ``*_like`` functions, ``tensor`` of a Python number, ``arange``, ``eye``). Tensors
made from arrays or lists run eagerly, with a warning naming the reason: their values could change
between calls unseen. (``rand``, ``randn``, ``randint``, ``bernoulli`` are random ops of the engine,
recorded: tests/compile/test_compile_random.py.)
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import pygrad as pg
from pygrad._compile import CompileError, CompileWarning


def _model(dtype: str):
    rng = np.random.default_rng(0)
    w = pg.tensor(rng.standard_normal((4, 3)), dtype=dtype, requires_grad=True)
    opt = pg.optim.SGD([w], lr=0.05, momentum=0.9)

    def step(x):
        opt.zero_grad()
        h = x @ w
        m = (h > 0) & ~(h > 1.5) | (h == h.max())
        y = pg.where(m, h, pg.zeros(5, 3, dtype=dtype)) + pg.full((5, 3), 0.5, dtype=dtype) * pg.tensor(2.0)
        y = y + pg.ones_like(h) - pg.full_like(h, 0.25)
        e = pg.arange(3).astype(dtype) + pg.eye(3, dtype=dtype).sum(0)
        loss = (y * e).sum() + (h * (h < 0)).sum() + h.masked_fill(h >= 1.0, 0.0).sum()
        loss.backward()
        opt.step()
        return loss, m

    return step, w


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masks_and_constants_replay_bit_identical(dtype):
    eager, w_e = _model(dtype)
    step, w_c = _model(dtype)
    compiled = pg.compile(step)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(12):
            x = pg.tensor(rng.standard_normal((5, 4)), dtype=dtype)
            (le, me), (lc, mc) = eager(x), compiled(x)
            np.testing.assert_array_equal(lc.numpy(), le.numpy())
            np.testing.assert_array_equal(mc.numpy(), me.numpy())  # the mask follows each call's values
            assert mc.dtype == pg.bool_
            np.testing.assert_array_equal(w_c.numpy(), w_e.numpy())
    assert compiled.records == 1
    text = str(compiled.program)
    for needle in ("= gt(", "= lt(", "= ge(", "= eq(", "bitwise_and(", "bitwise_or(", "bitwise_not(",
                   "constant", "full "):
        assert needle in text, (needle, text)


def test_comparisons_of_two_tensors_ints_and_logical_ops():
    a0 = np.array([[1, 5, -2], [0, 3, 3]])

    def f(a, b):
        with pg.no_grad():
            lt, le, ne = a < b, a <= b, a != b
            bits = (a & 6) ^ (b | 1)
            return lt, le, ne, pg.logical_xor(lt, ne), ~le, bits, pg.logical_not(ne)

    c = pg.compile(f)
    for k in range(4):
        a = pg.tensor(a0 + k)
        b = pg.tensor(a0[::-1] * (k - 1))
        want = f(a, b)
        got = c(a, b)
        for u, v in zip(got, want, strict=True):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert c.records == 1


@pytest.mark.parametrize("make,reason", [
    (lambda h: h + pg.tensor(np.ones(3, np.float32)), "made outside the recorded ops"),
    (lambda h: h * pg.zeros(3, requires_grad=True), "requires_grad=True inside the function"),
])
def test_what_cannot_be_a_constant_runs_eagerly(make, reason):
    w = pg.ones(4, 3, requires_grad=True)

    def step(x):
        loss = make(x @ w).sum()
        loss.backward()
        return loss.detach()

    c = pg.compile(step)
    x = pg.ones(2, 4)
    with pytest.warns(CompileWarning, match=re.escape(reason)):
        for _ in range(3):
            c(x)
    assert c.records == 0
    strict = pg.compile(step, fullgraph=True)
    with pytest.raises(CompileError, match=re.escape(reason)):
        for _ in range(2):
            strict(x)
