"""A matmul's backward makes dA = G B^T and dB = A^T G, products of the same size; on two
threads, from about 4M multiply-adds each, they run at once, one on each thread
(csrc/ops_matmul.c). The gradients must not depend on it: the same bits as on one thread
and on three, for each gradient alone and both."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg


def _grads(a, b, g, need):
    x = pg.tensor(a, requires_grad=need[0])
    w = pg.tensor(b, requires_grad=need[1])
    (x @ w * pg.tensor(g)).sum().backward()
    return [t.grad.numpy().copy() if t.requires_grad else None for t in (x, w)]


@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)], ids=["both", "dA", "dB"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((200, 300), (300, 150)), ((256, 784), (784, 512)), ((64, 4000), (4000, 20))],
                         ids=["mid", "mlp", "long-k"])
def test_backward_products_at_once_give_the_same_bits(shapes, dtype, need):
    rng = np.random.default_rng(7)
    (m, k), (_, n) = shapes
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    old = pg.get_num_threads()
    try:
        got = {}
        for t in (1, 2, 3):
            pg.set_num_threads(t)
            got[t] = _grads(a, b, g, need)
    finally:
        pg.set_num_threads(old)
    for t in (2, 3):
        for want, have in zip(got[1], got[t], strict=True):
            if want is None:
                assert have is None
            else:
                np.testing.assert_array_equal(have, want)
