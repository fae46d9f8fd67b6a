"""C engine vs reference engine, op by op.

Every case of pygrad/_opcases.py runs on both engines in float32 and float64:
forward values and the gradient of every input (backward from a random
upstream gradient, i.e. of sum(out * dout)) must agree. The cases are keyed
by the C op table's row names, so a new row without cases fails
test_every_op_has_cases.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad._opcases import CASES, OP_NAMES, make_inputs

# relative tolerance, scaled by the largest reference magnitude (cancellation in
# sums and matmuls makes per-element relative error meaningless near zero)
RTOL = {"float32": 2e-5, "float64": 1e-12}


def _close(c: np.ndarray, r: np.ndarray, dtype: str, what: str) -> None:
    assert c.shape == r.shape, f"{what}: shape {c.shape} (C) vs {r.shape} (reference)"
    assert c.dtype == r.dtype, f"{what}: dtype {c.dtype} (C) vs {r.dtype} (reference)"
    if c.dtype == np.bool_:
        np.testing.assert_array_equal(c, r, err_msg=what)
        return
    rtol = RTOL[dtype]
    scale = float(np.max(np.abs(r[np.isfinite(r)]), initial=1.0))
    np.testing.assert_allclose(c, r, rtol=rtol, atol=rtol * scale, err_msg=what)


def test_every_op_has_cases() -> None:
    assert set(pygrad.OP_NAMES) == set(OP_NAMES), "pygrad._opcases.OP_NAMES must list the C op table"
    covered = {c.op for c in CASES}
    missing = set(pygrad.OP_NAMES) - covered
    assert not missing, f"ops of the C op table without parity cases: {sorted(missing)}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parity(case, dtype: str) -> None:
    seed = zlib.crc32(f"{case.id}/{dtype}".encode())
    arrays = make_inputs(case, dtype, seed)
    xc = [pygrad.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    xr = [ref.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    oc = case.fn(pygrad, *xc)
    orr = case.fn(ref, *xr)
    _close(oc.numpy(), orr.numpy(), dtype, f"{case.id} forward")
    # backward from a random upstream gradient
    dout = np.random.default_rng(seed + 1).standard_normal(oc.shape).astype(oc.dtype)
    (oc * pygrad.tensor(dout)).sum().backward()
    (orr * ref.tensor(dout)).sum().backward()
    for i, (a, b) in enumerate(zip(xc, xr)):
        ga, gb = a.grad, b.grad
        assert (ga is None) == (gb is None), f"{case.id}: input {i} grad is None on one engine only"
        if ga is not None:
            _close(ga.numpy(), gb.numpy(), dtype, f"{case.id} grad of input {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_dtype_and_shape_match_inputs(dtype: str) -> None:
    """A gradient has the shape and dtype of what it differentiates (DESIGN rule)."""
    for case in CASES:
        arrays = make_inputs(case, dtype, 7)
        xs = [pygrad.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
        out = case.fn(pygrad, *xs)
        if out.dtype == np.bool_:
            continue
        out.sum().backward()
        for x in xs:
            if x.grad is not None:
                assert x.grad.shape == x.shape, case.id
                assert x.grad.dtype == x.dtype, case.id
