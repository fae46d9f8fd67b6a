"""The hardtanh op (nn.functional.hardtanh, relu6, nn.Hardtanh, nn.ReLU6): PyTorch's values and its
gradient rule at the bounds and at special values, on both engines and both float dtypes; the same
bits on 1 and 2 threads; a fused, recorded step under pygrad.compile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}
NAN, INF = float("nan"), float("inf")
# the bounds themselves, just inside and outside them, -0, +0, NaN and the infinities
SPECIAL = [NAN, -1.0, 1.0, -2.0, 2.0, 0.5, INF, -INF, -0.0, 0.0, np.nextafter(1.0, 0.0), np.nextafter(-1.0, 0.0),
           np.nextafter(1.0, 2.0), 6.0, 5.5, 7.0]


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def _run(m: Any, fn: Any, values: list[float], dtype: str) -> tuple[np.ndarray, np.ndarray]:
    x = m.tensor(np.array(values), dtype=dtype, requires_grad=True)
    g = np.arange(1.0, len(values) + 1.0)
    (fn(m.nn.functional, x) * m.tensor(g, dtype=dtype)).sum().backward()
    return fn(m.nn.functional, x).numpy(), x.grad.numpy()


CALLS = {
    "hardtanh": lambda F, x: F.hardtanh(x),
    "hardtanh-bounds": lambda F, x: F.hardtanh(x, -2.0, 0.5),
    "hardtanh-point": lambda F, x: F.hardtanh(x, 0.5, 0.5),
    "relu6": lambda F, x: F.relu6(x),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_special_values_against_torch(m: Any, call: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    y, g = _run(m, CALLS[call], SPECIAL, dtype)
    tx = torch.tensor(SPECIAL, dtype=getattr(torch, dtype), requires_grad=True)
    ty = CALLS[call](torch.nn.functional, tx)
    (ty * torch.arange(1.0, len(SPECIAL) + 1.0, dtype=tx.dtype)).sum().backward()
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.detach().numpy()))  # -0 stays -0
    # NaN: 0, as PyTorch's vector loop (its scalar loop, on a tensor's last elements, passes g)
    nan = np.isnan(SPECIAL)
    np.testing.assert_array_equal(g[~nan], tx.grad.numpy()[~nan])
    np.testing.assert_array_equal(g[nan], 0.0)


def test_the_gradient_is_zero_at_the_bounds_where_clamps_is_one(m: Any) -> None:
    x = m.tensor([-1.0, 1.0, 0.0, float("nan")], requires_grad=True)
    m.nn.functional.hardtanh(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0, 0.0])
    x.grad = None
    x.clamp(-1.0, 1.0)[:3].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0, 0.0])


def test_one_op_of_the_input_dtype(m: Any) -> None:
    for dtype in ("float32", "float64"):
        x = m.tensor([-3.0, 0.25, 9.0], dtype=dtype, requires_grad=True)
        y = m.nn.functional.relu6(x)
        assert y.grad_fn.name == "hardtanh" and y.dtype == x.dtype and y.shape == x.shape
    y = m.nn.functional.hardtanh(m.tensor([[3, -4], [0, 1]]))  # integers compute in float32
    assert y.dtype == m.float32 and y.tolist() == [[1.0, -1.0], [0.0, 1.0]]
    assert m.nn.functional.hardtanh(m.tensor(0.75), 0.0, 0.5).item() == 0.5  # 0-d
    assert m.nn.functional.hardtanh(m.zeros(0, 3)).shape == (0, 3)  # empty


def test_bounds_are_rounded_to_the_dtype(m: Any) -> None:
    x = m.tensor([0.1, 0.2], dtype="float32")
    y = m.nn.functional.hardtanh(x, 0.1, 0.15)
    np.testing.assert_array_equal(y.numpy(), np.array([0.1, 0.15], dtype=np.float32))


def test_modules_and_inplace(m: Any) -> None:
    nn = m.nn
    x = m.tensor(np.linspace(-8, 8, 9), requires_grad=True)
    h = x * 1.0
    out = nn.ReLU6(inplace=True)(h)
    assert out is h and h.grad_fn.name == "hardtanh"
    np.testing.assert_array_equal(out.numpy(), np.clip(np.linspace(-8, 8, 9), 0, 6))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0, 0, 1, 1, 0, 0])
    assert nn.Hardtanh(-0.5, 0.5)(m.tensor([2.0])).item() == 0.5
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, 0.0)


def test_float64_gradcheck() -> None:
    from pygrad.gradcheck import gradcheck

    rng = np.random.default_rng(0)
    v = rng.uniform(-3, 3, 40)
    v = v[np.abs(np.abs(v) - 1.0) > 1e-3]  # away from the kinks
    x = pygrad.tensor(v, dtype="float64", requires_grad=True)
    g = pygrad.tensor(rng.standard_normal(v.size), dtype="float64")
    assert gradcheck(lambda t: (pygrad.nn.functional.hardtanh(t) * g).sum(), (x,))
    w = 3 * v[np.abs(3 * v - 6.0) > 1e-3]
    gw = pygrad.tensor(rng.standard_normal(w.size), dtype="float64")
    assert gradcheck(lambda t: (pygrad.nn.functional.relu6(t) * gw).sum(),
                     (pygrad.tensor(w, dtype="float64", requires_grad=True),))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_same_bits_on_one_and_two_threads(dtype: str) -> None:
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(300_001) * 2).astype(dtype)
    a[::97] = np.nan
    g = rng.standard_normal(a.size).astype(dtype)
    runs = []
    old = pygrad.get_num_threads()
    try:
        for threads in (1, 2):
            pygrad.set_num_threads(threads)
            x = pygrad.tensor(a, requires_grad=True)
            y = pygrad.nn.functional.hardtanh(x, -0.75, 1.25)
            (y * pygrad.tensor(g)).sum().backward()
            runs.append((y.numpy(), x.grad.numpy()))
    finally:
        pygrad.set_num_threads(old)
    for u, v in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(u, v)
    want = pygrad.reference.nn.functional.hardtanh(pygrad.reference.tensor(a), -0.75, 1.25).numpy()
    np.testing.assert_array_equal(runs[0][0], want)


def test_a_compiled_step_fuses_it_and_gives_the_eager_bits() -> None:
    rng = np.random.default_rng(2)

    def step(x, w):
        x.grad = None
        y = pygrad.nn.functional.hardtanh(x * w + 0.25, -0.5, 0.75)
        z = pygrad.nn.functional.relu6(y * 8.0).sigmoid()
        loss = z.sum()
        loss.backward()
        return loss, x.grad

    args = [pygrad.tensor(rng.standard_normal(10_000), dtype="float32", requires_grad=True),
            pygrad.tensor(rng.uniform(0.5, 2, 10_000), dtype="float32")]
    eager = [t.numpy().copy() for t in step(*args)]
    f = pygrad.compile(step)
    outs = [[t.numpy().copy() for t in f(*args)] for _ in range(3)]
    assert f.records == 1 and "[fused" in f.program and "hardtanh" in f.program
    for out in outs:
        for u, v in zip(out, eager, strict=True):
            np.testing.assert_array_equal(u, v)
