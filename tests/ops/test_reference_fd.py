"""Check the reference engine's gradients against centered finite differences.

For every case of the op table, in float64: loss = Σ out · dout with a random
upstream ``dout``; the gradient of each input from ``backward`` must match
(f(x + h) - f(x - h)) / 2h, evaluated element by element on the reference
forward with numpy. A few forward values are checked against plain numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad.reference as ref
from pygrad._opcases import CASES, OP_NAMES, OpCase, make_inputs

H = 1e-6
RTOL = 1e-6
ATOL = 1e-7

# A cast to float32 rounds its input (relative error up to 6e-8), so a step of
# 1e-6 would mostly measure rounding. A cast is linear, so a larger step has no
# truncation error; the remaining rounding noise is ~ 6e-8 |x| / (2h).
# The random ops and one_hot have no gradient: their cases multiply a sample (a one-hot mask) into a
# differentiable op, whose node is the output's (tests/ops/test_random_ops.py checks the samples
# themselves, tests/ops/test_one_hot_bce.py the one-hot rows).
GRAD_CASES = [c for c in CASES if c.op not in ("random", "bernoulli", "one_hot")]

CAST_H = 1e-3
CAST_RTOL = 1e-3
CAST_ATOL = 1e-5


def _loss(case: OpCase, arrays: list[np.ndarray], dout: np.ndarray) -> float:
    """Σ fn(xs) · dout in float64, without recording."""
    out = case.fn(ref, *[ref.tensor(a) for a in arrays])
    return float(np.sum(np.asarray(out.numpy(), dtype=np.float64) * dout))


def _numeric_grads(case: OpCase, arrays: list[np.ndarray], dout: np.ndarray, h: float) -> list[np.ndarray]:
    """Centered differences of the loss with respect to every input element."""
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[i][j] += h
            minus[i][j] -= h
            g[j] = (_loss(case, plus, dout) - _loss(case, minus, dout)) / (2 * h)
        grads.append(g)
    return grads


def test_every_op_has_a_case() -> None:
    covered = {c.op for c in CASES}
    assert set(OP_NAMES) <= covered, sorted(set(OP_NAMES) - covered)
    assert covered <= set(OP_NAMES), sorted(covered - set(OP_NAMES))
    assert set(OP_NAMES) == set(ref.OP_NAMES)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_gradient_matches_finite_differences(case: OpCase) -> None:
    arrays = make_inputs(case, np.float64, seed=0)
    xs = [ref.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(ref, *xs)
    assert out.grad_fn is not None and out.grad_fn.name == case.op

    rng = np.random.default_rng(7)
    dout = rng.standard_normal(out.shape)
    loss = (out * ref.tensor(dout, dtype=out.dtype)).sum()
    loss.backward()

    h, rtol, atol = (CAST_H, CAST_RTOL, CAST_ATOL) if case.op == "cast" else (H, RTOL, ATOL)
    # the loss the numeric gradient differentiates sees dout rounded to out's dtype
    dout_used = dout.astype(out.dtype).astype(np.float64)
    numeric = _numeric_grads(case, arrays, dout_used, h)
    for x, a, g in zip(xs, arrays, numeric):
        assert x.grad is not None
        assert x.grad.shape == a.shape and x.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad.numpy(), g, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_float32_stays_float32(case: OpCase) -> None:
    """In float32 every gradient comes back float32 and of its input's shape."""
    arrays = make_inputs(case, np.float32, seed=1)
    xs = [ref.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(ref, *xs)
    assert out.grad_fn is not None and out.grad_fn.name == case.op
    out.backward(ref.ones(out.shape, dtype=out.dtype))
    for x in xs:
        assert x.grad is not None
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_make_inputs_is_deterministic_and_respects_domains() -> None:
    for case in CASES:
        a = make_inputs(case, np.float32, seed=3)
        b = make_inputs(case, np.float32, seed=3)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert [x.shape for x in a] == list(case.shapes)
        flat = np.concatenate([x.ravel() for x in a]) if a else np.zeros(0)
        if case.domain == "positive":
            assert np.all((flat >= 0.5) & (flat <= 2.0))
        if case.domain == "away0":
            assert np.all((np.abs(flat) >= 0.2) & (np.abs(flat) <= 2.0))
            assert len(np.unique(flat)) == flat.size


# ------------------------------------------------------------ forward values ---


def test_forward_exp_matches_numpy() -> None:
    a = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(ref.exp(ref.tensor(a)).numpy(), np.exp(a), rtol=1e-15)
    a32 = a.astype(np.float32)
    out = ref.tensor(a32).exp()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), np.exp(a32), rtol=1e-6)


@pytest.mark.parametrize(
    "sa, sb", [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 4))]
)
def test_forward_matmul_matches_numpy(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = ref.tensor(a) @ ref.tensor(b)
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(out.numpy(), np.matmul(a, b), rtol=1e-12)


def test_forward_softmax_matches_numpy() -> None:
    a = np.random.default_rng(2).standard_normal((2, 3, 4)) * 30
    for axis in (0, 1, -1):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        expect = e / e.sum(axis=axis, keepdims=True)
        np.testing.assert_allclose(ref.softmax(ref.tensor(a), axis=axis).numpy(), expect, rtol=1e-12)
        np.testing.assert_allclose(
            ref.log_softmax(ref.tensor(a), axis=axis).numpy(), np.log(expect), rtol=1e-9, atol=1e-12
        )
    big = ref.tensor([1000.0, 1001.0, 1002.0]).softmax()
    assert np.all(np.isfinite(big.numpy()))


@pytest.mark.parametrize(
    "key",
    [1, -1, (1, 2), slice(None, None, 2), (slice(1, None), slice(None, None, -1)), (None, 1),
     (Ellipsis, 1), np.array([0, 2, 0]), ([0, 1, 1], [2, 0, 2]), (slice(None), [1, 1, 0]),
     np.array([True, False, True])],
    ids=repr,
)
def test_forward_getitem_matches_numpy(key: object) -> None:
    a = np.arange(12.0).reshape(3, 4)
    out = ref.tensor(a)[key]
    np.testing.assert_array_equal(out.numpy(), a[key])
    assert out.numpy().flags.c_contiguous
    assert not np.shares_memory(out.numpy(), a)
