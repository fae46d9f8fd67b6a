"""True division and pow are exact: bit-identical to numpy, on both engines.

``x / c`` was ``x * (1/c)``, ``c / x`` was ``c * (1/x)`` and ``c ** x`` was
``exp(x log c)``: ``1e-310 / 1e-310`` gave inf, ``0 / 1e-310`` nan, float32
``1e-30 / 1e-39`` inf, ``x / 3`` was an ulp off in a third of the elements,
``10 ** t(3.)`` was ``1000.0000000000007`` and ``inf ** t(0.)`` nan. They are
ops of their own now (div_scalar, rdiv_scalar, rpow_scalar).

Each case runs 10,000 values drawn from every corner of the dtype (random bit
patterns: subnormals, huge and tiny values; ordinary magnitudes; zeros of both
signs, infinities, NaN) against numpy with NEP 50's rule (a Python scalar takes
the tensor's dtype). Division is compared with numpy's array division (IEEE,
correctly rounded). pow is compared with numpy's scalar power, which calls the
C library's ``pow``/``powf`` as pygrad's kernels do: numpy's vectorised array
loop uses its own approximations on AVX-512 machines (SVML), which differ from
the correctly rounded result by an ulp in a few percent of the elements. The
exponents 2, -1, 0.5 and 1 of ``x ** c`` are the correctly rounded ``x * x``,
``1 / x`` and ``sqrt x`` (numpy's array power takes them so too; the C
library's pow rounds some exact ties of ``x * x`` the other way). float32's
``x ** 3``, ``x ** 4`` and ``x ** -2`` are correctly rounded too (through
double; the C library's powf differs on exact ties), checked against the exact
values by fractions.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

N = 10_000
ENGINES = [pygrad, ref]
ENGINE_IDS = ["c", "reference"]
DTYPES = [np.float32, np.float64]
SCALARS = [3, 0.1, -7.5, 10, 2.0, 1e-310, 1e-39, 1e-30, 0.0, -0.0, float("inf"), float("nan"), 1e300]
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, 0.5, 3.0]


def values(dtype: Any, seed: int) -> np.ndarray:
    """N values of dtype: half random bit patterns, a third ordinary magnitudes, the rest specials
    and the smallest subnormals, shuffled."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    uint = np.uint32 if dt.itemsize == 4 else np.uint64
    n_bits, n_plain = N // 2, N // 3
    bits = rng.integers(0, np.iinfo(uint).max, n_bits, dtype=uint, endpoint=True).view(dt)
    plain = (rng.standard_normal(n_plain) * 10.0 ** rng.integers(-6, 7, n_plain)).astype(dt)
    tiny = np.finfo(dt).smallest_subnormal
    rest = N - n_bits - n_plain
    specials = np.array(SPECIALS + [tiny, -tiny, tiny * 3, np.finfo(dt).max, np.finfo(dt).tiny], dtype=dt)
    out = np.concatenate([bits, plain, rng.choice(specials, rest)]).astype(dt)
    return rng.permutation(out)


def scalar_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ** b elementwise with numpy's scalar power (the C library's pow)."""
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        return np.array([u ** v for u, v in zip(a.flat, b.flat)], dtype=a.dtype).reshape(a.shape)


def _correctly_rounded_f32(x: np.ndarray, c: int) -> np.ndarray:
    """float32 x ** c rounded once from the exact value (fractions), ties to even; the IEEE special
    values at 0, ±inf and NaN."""
    out = np.empty_like(x)
    big = Fraction(2**128 - 2**103)  # the largest float's midpoint with 2^128: inf from there on
    with np.errstate(all="ignore"):
        for i, u in enumerate(x.flat):
            if u == 0 or not np.isfinite(u):
                out.flat[i] = np.float32(np.float64(u) ** c)
                continue
            v = Fraction(float(u)) ** c
            if abs(v) >= big:
                out.flat[i] = np.inf if v > 0 else -np.inf
                continue
            lo = np.float32(float(v))
            near = [w for w in (np.nextafter(lo, np.float32(-np.inf)), lo, np.nextafter(lo, np.float32(np.inf)))
                    if np.isfinite(w)]
            dist = [abs(Fraction(float(w)) - v) for w in near]
            best = min(dist)
            ties = [w for w, d in zip(near, dist) if d == best]
            out.flat[i] = next((w for w in ties if not np.array(w).view(np.uint32) & 1), ties[0])
    return out


def _fast_power(x: np.ndarray, c: float) -> np.ndarray:
    """x ** c as numpy's array power takes the exponents 2, -1, 0.5 and 1 (x * x, 1 / x, sqrt x and x:
    correctly rounded, where the C library's pow rounds some exact ties of x * x the other way), with
    pow's values at -0 and -inf for 0.5; the C library's pow for every other exponent."""
    if x.dtype == np.float32 and c in (3, 4, -2):
        return _correctly_rounded_f32(x, int(c))
    with np.errstate(all="ignore"):
        if c == 2:
            return x * x
        if c == -1:
            return x.dtype.type(1) / x
        if c == 1:
            return x.copy()
        if c == 0.5:
            return np.where(x == -np.inf, np.inf, np.sqrt(x) + x.dtype.type(0)).astype(x.dtype)
    with np.errstate(over="ignore"):
        return scalar_pow(x, np.array(c, dtype=x.dtype))


def assert_bits_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    uint = np.uint32 if got.dtype.itemsize == 4 else np.uint64
    differ = (nan_g != nan_w) | (~nan_w & (got.view(uint) != want.view(uint)))
    if differ.any():
        i = int(np.flatnonzero(differ)[0])
        raise AssertionError(f"{what}: {int(differ.sum())} of {differ.size} elements differ from numpy, "
                             f"e.g. element {i}: got {got.flat[i]!r}, numpy {want.flat[i]!r}")


def run(e: Any, f: Any, *arrays: np.ndarray) -> np.ndarray:
    return f(*[e.tensor(a, dtype=a.dtype.name) for a in arrays]).numpy()


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_tensor_by_scalar_and_scalar_by_tensor_division(e: Any, dtype: Any) -> None:
    x = values(dtype, 1)
    with np.errstate(all="ignore"):
        for c in SCALARS:
            assert_bits_equal(run(e, lambda t, c=c: t / c, x), x / dtype(c), f"x / {c!r}")
            assert_bits_equal(run(e, lambda t, c=c: c / t, x), dtype(c) / x, f"{c!r} / x")


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_tensor_by_tensor_division(e: Any, dtype: Any) -> None:
    x, y = values(dtype, 2), values(dtype, 3)
    with np.errstate(all="ignore"):
        assert_bits_equal(run(e, lambda a, b: a / b, x, y), x / y, "x / y")
        assert_bits_equal(run(e, lambda a, b: e.div(a, b), y, x), y / x, "div(y, x)")


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_tensor_to_scalar_and_scalar_to_tensor_power(e: Any, dtype: Any) -> None:
    x = values(dtype, 4)
    for c in SCALARS + [0.5, -1, -2, 1.5, 1, 4]:
        with np.errstate(over="ignore"):  # 1e300 is inf in float32, as numpy converts it
            cs = np.array(c, dtype=dtype)
        assert_bits_equal(run(e, lambda t, c=c: t ** c, x), _fast_power(x, c), f"x ** {c!r}")
        assert_bits_equal(run(e, lambda t, c=c: c ** t, x), scalar_pow(cs, x), f"{c!r} ** x")


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_tensor_to_tensor_power(e: Any, dtype: Any) -> None:
    x, y = values(dtype, 5), values(dtype, 6)
    small = (np.random.default_rng(7).standard_normal(N) * 4).astype(dtype)  # exponents of every sign
    assert_bits_equal(run(e, lambda a, b: a ** b, x, y), scalar_pow(x, y), "x ** y")
    assert_bits_equal(run(e, lambda a, b: e.pow(a, b), x, small), scalar_pow(x, small), "pow(x, moderate y)")


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_the_reported_cases(e: Any) -> None:
    f64 = {"dtype": "float64"}
    assert e.tensor([1e-310], **f64).__truediv__(1e-310).numpy()[0] == 1.0
    assert (e.tensor([0.0], **f64) / 1e-310).numpy()[0] == 0.0
    assert (e.tensor([1e-30], dtype="float32") / 1e-39).numpy()[0] == np.float32(1e-30) / np.float32(1e-39)
    assert (10 ** e.tensor(3.0, **f64)).item() == 1000.0
    assert (float("inf") ** e.tensor(0.0)).item() == 1.0
    third = np.arange(1, 1001, dtype=np.float64)
    np.testing.assert_array_equal((e.tensor(third, **f64) / 3).numpy(), third / 3)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradients_of_the_scalar_divisions_and_powers(e: Any) -> None:
    x = e.tensor([0.5, 2.0, -4.0], dtype="float64", requires_grad=True)
    ((x / 4.0).sum() + (3.0 / x).sum() + (2.0 ** x).sum()).backward()
    v = np.array([0.5, 2.0, -4.0])
    np.testing.assert_allclose(x.grad.numpy(), 1 / 4.0 - 3.0 / v ** 2 + 2.0 ** v * np.log(2.0), rtol=1e-14)
