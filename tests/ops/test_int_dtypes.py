"""Integer and bool tensors: creation, promotion, weak scalars, arithmetic with
wrap-around, comparisons, bitwise and logical ops, reductions, casts, indexing.

Each case runs on both engines and is checked against numpy computed
independently here (and, where PyTorch is installed, the result dtypes of a
grid of operand pairs against PyTorch's type promotion)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def same(t: Any, values: Any, dtype: Any) -> None:
    assert t.dtype == np.dtype(dtype), f"dtype {t.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_array_equal(t.numpy(), np.asarray(values, dtype=dtype))


# ---- creation ----


def test_creation_infers_pytorch_dtypes(m: Any) -> None:
    assert m.tensor(3).dtype == m.int64
    assert m.tensor([1, 2, 3]).dtype == m.int64
    assert m.tensor([[1, 2], [3, 4.0]]).dtype == m.float32
    assert m.tensor([True, False]).dtype == m.bool_
    assert m.tensor(np.array([1, 2], dtype=np.int32)).dtype == m.int32
    assert m.tensor(np.array([1, 2], dtype=np.int16)).dtype == m.int64
    assert m.tensor(np.array([1, 2], dtype=np.uint8)).dtype == m.int64
    assert m.from_numpy(np.arange(3)).dtype == m.int64
    assert m.arange(5).dtype == m.int64 and m.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert m.arange(1, 10, 3).tolist() == [1, 4, 7]
    assert m.arange(0, 1, 0.25).dtype == m.float32
    assert m.arange(5.0).dtype == m.float32
    assert m.full((2,), 7).dtype == m.int64 and m.full((2,), 7).tolist() == [7, 7]
    assert m.full((2,), True).dtype == m.bool_
    assert m.full((2,), 1.5).dtype == m.float32
    assert m.zeros(2).dtype == m.float32 and m.zeros(2, dtype=m.int32).dtype == m.int32
    assert m.ones(2, dtype="int64").tolist() == [1, 1]
    assert m.long is m.int64 and m.double is m.float64


def test_int64_values_are_exact_beyond_2_to_53(m: Any) -> None:
    big = 2**62 + 1
    assert m.tensor([big]).tolist() == [big]
    assert m.full((1,), big).tolist() == [big]
    assert (m.tensor([big]) + 2).tolist() == [big + 2]
    assert m.tensor(big).item() == big and isinstance(m.tensor(big).item(), int)


def test_randint_is_in_range_and_seeded(m: Any) -> None:
    m.manual_seed(3)
    a = m.randint(-3, 5, (1000,))
    m.manual_seed(3)
    b = m.randint(-3, 5, size=(1000,))
    assert a.dtype == m.int64 and a.tolist() == b.tolist()
    v = a.numpy()
    assert v.min() == -3 and v.max() == 4
    assert m.randint(4, (2, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="empty range"):
        m.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="randint"):
        m.randint(0.5, 3, (2,))


def test_randint_agrees_across_engines() -> None:
    pygrad.manual_seed(11)
    pygrad.reference.manual_seed(11)
    assert pygrad.randint(0, 100, (50,)).tolist() == pygrad.reference.randint(0, 100, (50,)).tolist()


def test_integer_tensors_cannot_require_grad(m: Any) -> None:
    for make in (lambda: m.tensor([1, 2], requires_grad=True), lambda: m.arange(3, requires_grad=True),
                 lambda: m.zeros(2, dtype=m.int32, requires_grad=True)):
        with pytest.raises(TypeError, match="only float tensors can require grad"):
            make()
    t = m.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True


def test_bad_integer_data(m: Any) -> None:
    with pytest.raises(ValueError, match="NaN"):
        m.tensor([1.0, float("nan")], dtype=m.int64)
    with pytest.raises(ValueError, match="int64"):
        m.tensor([2**64])
    with pytest.raises(ValueError, match="int32"):
        m.full((1,), 2**31, dtype=m.int32)
    with pytest.raises(TypeError, match="int16"):
        m.zeros(2, dtype=np.int16)


# ---- arithmetic and promotion ----

NP = {"int64": np.int64, "int32": np.int32, "bool": np.bool_, "float32": np.float32, "float64": np.float64}
VALUES = {"int64": [3, -2, 0], "int32": [5, -7, 1], "bool": [True, False, True],
          "float32": [1.5, -0.25, 2.0], "float64": [0.5, 3.0, -1.0]}


def _make(m: Any, name: str, zero_d: bool = False) -> Any:
    v = VALUES[name][0] if zero_d else VALUES[name]
    return m.tensor(np.array(v, dtype=NP[name]))


def _expected_dtype(a: str, b: str, op: str, b_zero_d: bool = False) -> np.dtype:
    """PyTorch's rule, written out: higher kind wins; within a kind the tensor with dims wins over a
    0-d one, else the wider dtype; div is true division; pow of bools is int64."""
    kind = {"bool": 0, "int32": 1, "int64": 1, "float32": 2, "float64": 2}
    if kind[a] != kind[b]:
        r = a if kind[a] > kind[b] else b
    elif b_zero_d:
        r = a
    else:
        r = a if np.dtype(NP[a]).itemsize >= np.dtype(NP[b]).itemsize else b
    if op == "div" and kind[r] < 2:
        r = "float32"
    if op == "pow" and r == "bool":
        r = "int64"
    return np.dtype(NP[r])


OPS = {"add": lambda x, y: x + y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y, "sub": lambda x, y: x - y}


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NP, NP)))
@pytest.mark.parametrize("op", ["add", "mul", "div", "sub"])
def test_binary_promotion_grid(m: Any, a: str, b: str, op: str) -> None:
    x, y = _make(m, a), _make(m, b)
    if op == "sub" and a == b == "bool":
        with pytest.raises(TypeError, match="bool"):
            x - y
        return
    want = _expected_dtype(a, b, op)
    r = OPS[op](x, y)
    assert r.dtype == want
    xa = np.array(VALUES[a], dtype=NP[a]).astype(want)
    ya = np.array(VALUES[b], dtype=NP[b]).astype(want)
    with np.errstate(all="ignore"):
        expect = {"add": np.add, "mul": np.multiply, "div": np.true_divide, "sub": np.subtract}[op](xa, ya)
    np.testing.assert_array_equal(r.numpy(), expect.astype(want))


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NP, NP)))
def test_zero_d_operand_does_not_widen_within_its_kind(m: Any, a: str, b: str) -> None:
    r = _make(m, a) + _make(m, b, zero_d=True)
    assert r.dtype == _expected_dtype(a, b, "add", b_zero_d=True)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NP, NP)))
def test_promotion_grid_matches_pytorch(a: str, b: str) -> None:
    torch = pytest.importorskip("torch")
    tnames = {"int64": torch.int64, "int32": torch.int32, "bool": torch.bool, "float32": torch.float32,
              "float64": torch.float64}
    for zero_d in (False, True):
        tb = torch.tensor(VALUES[b][0] if zero_d else VALUES[b], dtype=tnames[b])
        ta = torch.tensor(VALUES[a], dtype=tnames[a])
        for op, f in (("add", lambda x, y: x + y), ("mul", lambda x, y: x * y), ("div", lambda x, y: x / y)):
            r = f(_make(pygrad, a), _make(pygrad, b, zero_d))
            assert str(r.dtype) == str(f(ta, tb).dtype).removeprefix("torch."), (a, b, op, zero_d)


SCALARS = [2, -3, 2.5, True, np.float64(0.5), np.int64(4), np.float32(1.5), np.bool_(True)]


@pytest.mark.parametrize("dt", list(NP))
@pytest.mark.parametrize("c", SCALARS, ids=repr)
def test_scalars_are_weak(m: Any, dt: str, c: Any) -> None:
    x = _make(m, dt)
    kind = {"bool": 0, "int32": 1, "int64": 1, "float32": 2, "float64": 2}
    ck = 0 if isinstance(c, (bool, np.bool_)) else 1 if isinstance(c, (int, np.integer)) else 2
    want = NP[dt] if ck <= kind[dt] else (np.bool_, np.int64, np.float32)[ck]
    for r in (x * c, c * x, x + c):
        assert r.dtype == np.dtype(want), (dt, c, r.dtype)
    xa = np.array(VALUES[dt], dtype=NP[dt]).astype(want)
    np.testing.assert_array_equal((x * c).numpy(), (xa * np.array(c).astype(want)).astype(want))


def test_float64_numpy_scalar_keeps_a_float32_model_float32(m: Any) -> None:
    w = m.tensor([1.0, 2.0], requires_grad=True)
    y = w * np.float64(0.5) + np.float64(1.0)
    assert y.dtype == m.float32
    y.sum().backward()
    assert w.grad.dtype == m.float32 and w.grad.tolist() == [0.5, 0.5]


def test_integer_arithmetic_wraps_around(m: Any) -> None:
    imax, imin = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    assert (m.tensor([imax]) + 1).tolist() == [imin]
    assert (m.tensor([imin]) - 1).tolist() == [imax]
    assert (m.tensor([imax]) * 2).tolist() == [-2]
    i32 = m.tensor(np.array([2**31 - 1], dtype=np.int32))
    assert (i32 + 1).dtype == m.int32 and (i32 + 1).tolist() == [-(2**31)]
    assert (-m.tensor([imin])).tolist() == [imin]


def test_integer_power(m: Any) -> None:
    x = m.tensor([2, -3, 0, 1, -1, 5])
    same(x ** 2, [4, 9, 0, 1, 1, 25], np.int64)
    same(2 ** m.tensor([0, 1, 10]), [1, 2, 1024], np.int64)
    # a negative tensor exponent truncates 1 / x^|p| toward zero
    same(x ** m.tensor([-1, -1, 3, -4, -3, -2]), [0, 0, 0, 1, -1, 0], np.int64)
    same(m.tensor([3]) ** m.tensor([40]), [3**40 % 2**64 - 2**64 if 3**40 % 2**64 >= 2**63 else 3**40 % 2**64],
         np.int64)
    assert (x ** 0.5).dtype == m.float32
    with pytest.raises(ValueError, match="negative integer powers"):
        x ** -1


def test_division_is_true_division(m: Any) -> None:
    same(m.tensor([1, -7, 6]) / 2, [0.5, -3.5, 3.0], np.float32)
    same(m.tensor([1, -7, 6]) / m.tensor([4, 2, 3]), [0.25, -3.5, 2.0], np.float32)
    same(3 / m.tensor([2, 4]), [1.5, 0.75], np.float32)


def test_neg_abs_maximum_minimum_where_of_integers(m: Any) -> None:
    x, y = m.tensor([3, -2, 7]), m.tensor([1, 5, -9])
    same(-x, [-3, 2, -7], np.int64)
    same(abs(x), [3, 2, 7], np.int64)
    same(m.maximum(x, y), [3, 5, 7], np.int64)
    same(m.minimum(x, 0), [0, -2, 0], np.int64)
    same(m.where(x > 0, x, y), [3, 5, 7], np.int64)
    same(m.where(x > 0, x, 0.5), [3.0, 0.5, 7.0], np.float32)


def test_float_ops_of_integers_are_float32(m: Any) -> None:
    x = m.tensor([0, 1, 2])
    e = x.exp()
    assert e.dtype == m.float32
    np.testing.assert_allclose(e.numpy(), np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    assert m.sqrt(x).dtype == m.float32 and x.sigmoid().dtype == m.float32
    same(m.tensor([[1, 2]]) @ m.tensor([[3], [4]]), [[11.0]], np.float32)
    same(x.mean(), 1.0, np.float32)


def test_float_leaf_times_integers_gets_a_float_gradient(m: Any) -> None:
    w = m.tensor([1.0, 1.0, 1.0], requires_grad=True)
    k = m.tensor([2, -1, 4])
    (w * k).sum().backward()
    same(w.grad, [2.0, -1.0, 4.0], np.float32)
    assert not k.requires_grad and k.grad is None


# ---- comparisons, bitwise and logical ----


def test_comparisons_of_integers(m: Any) -> None:
    x = m.tensor([1, 2, 3])
    same(x > 1, [False, True, True], np.bool_)
    same(x < 2.5, [True, True, False], np.bool_)
    same(x == 2.0, [False, True, False], np.bool_)
    same(x >= m.tensor([1.5, 2.0, 2.5]), [False, True, True], np.bool_)
    same(m.tensor(np.array([1, 2], dtype=np.int32)) == m.tensor([1, 3]), [True, False], np.bool_)
    big = 2**62 + 1
    same(m.tensor([big - 1, big]) == big, [False, True], np.bool_)


def test_bitwise_and_logical_ops(m: Any) -> None:
    a, b = m.tensor([True, True, False, False]), m.tensor([True, False, True, False])
    same(a & b, [True, False, False, False], np.bool_)
    same(a | b, [True, True, True, False], np.bool_)
    same(a ^ b, [False, True, True, False], np.bool_)
    same(~a, [False, False, True, True], np.bool_)
    same(a & True, [True, True, False, False], np.bool_)
    i, j = m.tensor([12, -1, 5]), m.tensor([10, 6, 3])
    same(i & j, [8, 6, 1], np.int64)
    same(i | j, [14, -1, 7], np.int64)
    same(i ^ j, [6, -7, 6], np.int64)
    same(~i, [-13, 0, -6], np.int64)
    same(i & 4, [4, 4, 4], np.int64)
    same(a & m.tensor([1, 1, 1, 1]), [1, 1, 0, 0], np.int64)
    same(m.bitwise_and(i, j), [8, 6, 1], np.int64)
    same(m.bitwise_not(a), [False, False, True, True], np.bool_)
    f = m.tensor([0.0, 2.0, -1.0])
    same(m.logical_and(f, m.tensor([1, 0, 3])), [False, False, True], np.bool_)
    same(m.logical_or(f, 0), [False, True, True], np.bool_)
    same(m.logical_xor(f, True), [True, False, False], np.bool_)
    same(m.logical_not(f), [True, False, False], np.bool_)
    with pytest.raises(TypeError, match="bitwise_and.*float32"):
        f & a
    with pytest.raises(TypeError, match="float32"):
        _ = ~f


# ---- reductions and casts ----


def test_reductions_of_integers_and_bools(m: Any) -> None:
    x = m.tensor(np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int32))
    same(x.sum(), 5, np.int64)
    same(x.sum(dim=1), [2, 3], np.int64)
    same(x.sum(axis=0, keepdims=True), [[5, 3, -3]], np.int64)
    same(x.max(), 5, np.int32)
    same(x.min(axis=1), [-2, -6], np.int32)
    same(x.min(dim=1).values, [-2, -6], np.int32)
    same(x.min(dim=1).indices, [1, 2], np.int64)
    same(x.mean(dim=0), [2.5, 1.5, -1.5], np.float32)
    b = m.tensor([[True, False], [True, True]])
    same(b.sum(), 3, np.int64)
    same(b.sum(dim=0), [2, 1], np.int64)
    same(b.max(axis=1), [True, True], np.bool_)
    same(b.min(dim=1).values, [False, True], np.bool_)
    same(m.tensor([2**62, 2**62]).sum(), -(2**63), np.int64)  # wraps, as in PyTorch
    same(m.zeros((0, 3), dtype=m.int64).sum(dim=0), [0, 0, 0], np.int64)
    with pytest.raises(ValueError):
        m.zeros((0,), dtype=m.int64).max()


def test_casts(m: Any) -> None:
    f = m.tensor(np.array([2.7, -2.7, float("nan"), 1e300, -0.5]))
    same(f.long(), [2, -2, np.iinfo(np.int64).min, np.iinfo(np.int64).min, 0], np.int64)
    same(f.int(), [2, -2, np.iinfo(np.int32).min, np.iinfo(np.int32).min, 0], np.int32)
    same(f.bool(), [True, True, True, True, True], np.bool_)
    same(m.tensor([2**32 + 1, -1]).int(), [1, -1], np.int32)
    same(m.tensor([0, 3]).bool(), [False, True], np.bool_)
    same(m.tensor([True, False]).long(), [1, 0], np.int64)
    same(m.tensor([3, 4]).to(m.float64), [3.0, 4.0], np.float64)
    same(m.tensor([3, 4]).float(), [3.0, 4.0], np.float32)
    assert m.tensor([1.5]).is_floating_point() and not m.tensor([1]).is_floating_point()


def test_cast_of_a_float_that_requires_grad_to_int_cuts_the_graph(m: Any) -> None:
    w = m.tensor([1.7, 2.2], requires_grad=True)
    k = w.long()
    assert k.dtype == m.int64 and not k.requires_grad and k.tolist() == [1, 2]
    (w * k).sum().backward()
    same(w.grad, [1.0, 2.0], np.float32)


# ---- indexing and Python protocol ----


def test_indexing_with_integer_and_bool_tensors(m: Any) -> None:
    x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    i = m.tensor([1, 0, 1])
    r = x[i]
    same(r, [[4, 5, 6], [1, 2, 3], [4, 5, 6]], np.float32)
    r.sum().backward()
    same(x.grad, [[1, 1, 1], [2, 2, 2]], np.float32)
    same(x[x > 2.5], [3, 4, 5, 6], np.float32)
    same(x[:, m.tensor(np.array([2, 0], dtype=np.int32))], [[3, 1], [6, 4]], np.float32)
    n = m.arange(6).reshape(2, 3)
    same(n[m.tensor([1])], [[3, 4, 5]], np.int64)
    same(n[n > 2], [3, 4, 5], np.int64)


def test_python_protocol_of_integer_tensors(m: Any) -> None:
    t = m.tensor(3)
    assert t.item() == 3 and isinstance(t.item(), int)
    assert list(range(t)) == [0, 1, 2]
    assert [10, 20, 30, 40][m.tensor(2)] == 30
    assert int(m.tensor([7])) == 7
    with pytest.raises(TypeError, match="integer"):
        [1, 2][m.tensor(1.0)]
    assert m.tensor([1, 2]).tolist() == [1, 2] and all(isinstance(v, int) for v in m.tensor([1, 2]).tolist())
    assert "int64" in repr(m.tensor([1, 2]))


def test_engines_agree_on_mixed_programs() -> None:
    """A small program over integer, bool and float tensors gives the same values on both engines."""
    outs = []
    for mod in (pygrad, pygrad.reference):
        x = mod.tensor(np.arange(12).reshape(3, 4))
        b = x > 5
        w = mod.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
        y = (x * 3 - 7) ** 2
        z = (w * y + b).sum(dim=1) / x.sum()
        z.sum().backward()
        outs.append((y.numpy().copy(), z.numpy().copy(), w.grad.numpy().copy()))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
