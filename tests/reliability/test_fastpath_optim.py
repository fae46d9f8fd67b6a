"""SGD's update (csrc/optim.c) bit for bit against its formula evaluated in numpy, on parameter sizes around
the vector widths (8 and 16 floats, a line of each buffer at a time, the scalar tail), in float32 and
float64, with every option that takes the update off its fastest loop, and 1 and 2 threads.

The formula (docs: the update in double precision, each stored value rounded to the parameter's dtype):

    d = sign * g + wd * p                 (sign -1 with maximize)
    b = mu * b + (1 - dampening) * d      (b = d at the first step)
    p = p - lr * (d + mu * b  if nesterov else  b)
"""

from __future__ import annotations

import numpy as np
import pytest
from _audit import restore_threads  # noqa: F401  (an autouse fixture)

import pygrad as pg


def np_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """The trajectory of SGD in double precision, each stored value rounded to p's dtype."""
    dt = p.dtype
    p = p.copy()
    b = None
    for g in grads:
        d = (-1.0 if maximize else 1.0) * g.astype(np.float64)
        if weight_decay:
            d = d + weight_decay * p.astype(np.float64)
        if momentum:
            if b is None:
                b = d.astype(dt)
            else:
                b = (momentum * b.astype(np.float64) + (1.0 - dampening) * d).astype(dt)
            upd = d + momentum * b.astype(np.float64) if nesterov else b.astype(np.float64)
        else:
            upd = d
        p = (p.astype(np.float64) - lr * upd).astype(dt)
    return p


SIZES = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 511, 512, 513, 1000, 4099, 70001]
OPTIONS = [
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "dampening": 0.25},
    {"momentum": 0.9, "weight_decay": 1e-2},
    {"momentum": 0.9, "maximize": True},
    {},
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", OPTIONS, ids=[",".join(k for k in o) or "plain" for o in OPTIONS])
def test_sgd_matches_its_formula_bit_for_bit(kw, dtype, threads) -> None:
    pg.set_num_threads(threads)
    rng = np.random.default_rng(7)
    for n in SIZES:
        p0 = rng.standard_normal(n).astype(dtype)
        grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
        p = pg.tensor(p0, requires_grad=True)
        opt = pg.optim.SGD([p], lr=0.1, **kw)
        for g in grads:
            p.grad = pg.tensor(g)
            opt.step()
        want = np_sgd(p0, grads, 0.1, **kw)
        got = p.numpy()
        assert got.tobytes() == want.tobytes(), (
            f"n={n} {kw} {np.dtype(dtype).name}: {int((got != want).sum())} differ, max |diff| "
            f"{np.abs(got.astype(np.float64) - want).max()}")


def test_sgd_nan_and_inf_gradients_reach_only_their_elements() -> None:
    n = 37
    p = pg.tensor(np.ones(n, np.float32), requires_grad=True)
    opt = pg.optim.SGD([p], lr=0.1, momentum=0.9)
    for k in range(3):
        g = np.ones(n, np.float32)
        if k == 2:
            g[16] = np.nan
            g[36] = np.inf
        p.grad = pg.tensor(g)
        opt.step()
    v = p.numpy()
    assert np.isnan(v[16]) and np.isneginf(v[36])
    assert np.isfinite(np.delete(v, [16, 36])).all()
