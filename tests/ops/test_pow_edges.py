"""Gradients at the edges of pow follow the mathematical limits, as PyTorch does.

- ``d/dx x**0`` is 0 everywhere, also at x = 0 (was ``0 * 0**-1 = nan``); so is
  ``d/dx x**y`` where y = 0, also at x = y = 0.
- ``d/dy x**y`` at x = 0 is 0 for y >= 0 (0**y is constant there) and ``-inf``
  for y < 0 (``0**y * log 0 = inf * -inf``; was 0); the same for ``d/dx c**x``
  with c = 0.

Both engines, the fused backward kernels and the differentiable rules
(``create_graph=True``). With PyTorch installed, the same values are checked
against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

ENGINES = [pygrad, ref]
IDS = ["c", "reference"]
DTYPES = ["float32", "float64"]
INF = float("inf")


def grads(e: Any, f: Any, values: list[list[float]], dtype: str, create_graph: bool) -> list[np.ndarray]:
    ts = [e.tensor(v, dtype=dtype, requires_grad=True) for v in values]
    f(*ts).sum().backward(create_graph=create_graph)
    return [t.grad.numpy().astype(np.float64) for t in ts]


CASES = [
    # (name, f, inputs, expected gradients)
    ("x**0", lambda x: x ** 0, [[0.0, 2.0, -3.0]], [[0.0, 0.0, 0.0]]),
    ("x**0.0 (pow)", lambda x: pygrad_pow(x, 0.0), [[0.0, -1.0]], [[0.0, 0.0]]),
    ("x**y at y=0", lambda x, y: x ** y, [[0.0, 0.0, 0.0, 1.0], [0.0, 2.0, -1.0, 0.0]],
     [[0.0, 0.0, -INF, 0.0], [0.0, 0.0, -INF, 0.0]]),
    ("c**x with c=0", lambda x: 0.0 ** x, [[0.0, 1.0, -1.0, -2.5]], [[0.0, 0.0, -INF, -INF]]),
]


def pygrad_pow(x: Any, c: float) -> Any:
    return x ** c


@pytest.mark.parametrize("create_graph", [False, True], ids=["fused", "rule"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("e", ENGINES, ids=IDS)
@pytest.mark.parametrize(("name", "f", "inputs", "want"), CASES, ids=[c[0] for c in CASES])
def test_pow_gradients_at_the_edges(e: Any, dtype: str, create_graph: bool, name: str, f: Any,
                                    inputs: list[list[float]], want: list[list[float]]) -> None:
    got = grads(e, f, inputs, dtype, create_graph)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.array(w), err_msg=name)


@pytest.mark.parametrize(("name", "f", "inputs", "want"), CASES, ids=[c[0] for c in CASES])
def test_edges_match_pytorch(name: str, f: Any, inputs: list[list[float]], want: list[list[float]]) -> None:
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    f(*ts).sum().backward()
    for t, w in zip(ts, want):
        np.testing.assert_array_equal(t.grad.numpy(), np.array(w), err_msg=name)
