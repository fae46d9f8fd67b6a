"""The transcendental kernels (csrc/kern_vmath.c): exp, log, tanh, sigmoid, sin,
cos, gelu and erf, and the derivatives of gelu and erf (through backward), each
within 2 ulp (float32) or 4 ulp (float64) of the correctly rounded result, with
libm's special values; a value that depends only on its own input (never on
its neighbours in a vector, nor on the number of threads).

Every kernel set this CPU runs (AVX-512, AVX2+FMA, and the scalar libm loops
kept as the fallback) is forced in turn through the public ops.

Oracles. float64: mpmath at 120 bits, rounded to float64 (correct rounding up
to a double rounding that never happens at that precision on these inputs).
float32: numpy's float64 function of the float32 input, rounded to float32;
numpy's float64 results are within a few float64 ulp (2^-50 relative) of the
exact value, so the rounded value is the correctly rounded float32 except
where the exact value lies within 2^-50 of a rounding boundary, which moves
it by one float32 ulp at most: the bound checked stays 2 ulp.

The error is the distance in ulps between the result and the correctly
rounded value: the count of representable numbers between them (both are
floats of the dtype, so it is an integer; the sign of zero counts as equal).
The sweeps are dense grids over each function's domain (where the result
goes from overflow to underflow), random bit patterns over every finite
input, and the edges (0, subnormals, the overflow and underflow thresholds).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import pygrad as pg
from pygrad import _runtime

mpmath = pytest.importorskip("mpmath")

KERNELS = []
for _name in ("avx512", "avx2", "scalar"):
    try:
        _runtime._set_vmath_kernel(_name)
    except ValueError:
        continue
    KERNELS.append(_name)
_runtime._set_vmath_kernel("auto")

MAX_ULP = {np.float32: 2, np.float64: 4}
FUNCS = ("exp", "log", "tanh", "sigmoid", "sin", "cos", "gelu", "erf")


@pytest.fixture(params=KERNELS)
def kernel(request):
    _runtime._set_vmath_kernel(request.param)
    yield request.param
    _runtime._set_vmath_kernel("auto")


def run(name: str, x: np.ndarray) -> np.ndarray:
    """pygrad's op `name` on x (no graph)."""
    return getattr(pg, name)(pg.tensor(x)).numpy()


# ---- oracles ----

_MP = {
    "exp": mpmath.exp,
    "log": mpmath.log,
    "tanh": mpmath.tanh,
    "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    # beyond |x| = 40 (mpmath's erfc refuses huge arguments): x, or -0 (float64 underflows from -38.6)
    "gelu": lambda v: (v if v > 0 else -mpmath.mpf(0)) if abs(v) > 40 else v * mpmath.erfc(-v / mpmath.sqrt(2)) / 2,
    "erf": mpmath.erf,
}


def _np64(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x < 0, e, 1.0) / (1.0 + e)
        if name == "gelu":
            return _gelu64(x)
        if name == "erf":
            return np.array([math.erf(v) for v in x.tolist()])
        return getattr(np, name)(x)


def _gelu64(x: np.ndarray) -> np.ndarray:
    """x erfc(-x/sqrt 2)/2 in float64 (math.erfc): the rounding of x/sqrt 2 costs up to
    2 z^2 2^-53 relative, below 2^-44 where float32's gelu does not underflow (|x| < 14.4)."""
    out = np.empty(len(x))
    for i, v in enumerate(x.tolist()):
        out[i] = math.nan if math.isnan(v) or v == -math.inf else 0.5 * v * math.erfc(-v * 0.7071067811865476)
    return out


def _mp64(name: str, x: np.ndarray) -> np.ndarray:
    f = _MP[name]
    out = np.empty(len(x))
    with mpmath.workprec(120):
        for i, v in enumerate(x.tolist()):
            if not math.isfinite(v) or (name == "log" and v <= 0) or (name == "gelu" and v == 0):
                out[i] = _np64(name, np.array([v]))[0]
            else:
                out[i] = float(f(mpmath.mpf(v)))
    return out


def correctly_rounded(name: str, x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float32:
        with np.errstate(all="ignore"):
            return _np64(name, x.astype(np.float64)).astype(np.float32)
    return _mp64(name, x)


def _ordered(a: np.ndarray) -> np.ndarray:
    """Integers in the order of the floats a (adjacent floats differ by 1; -0 == +0)."""
    itype = np.int32 if a.dtype == np.float32 else np.int64
    b = a.view(itype).astype(np.int64)
    return np.where(b < 0, -(b & np.int64(np.iinfo(itype).max)), b)


def ulp_distance(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Representable numbers between y and ref; 0 where both are NaN; huge where one is."""
    d = np.abs(_ordered(y) - _ordered(ref)).astype(np.float64)
    ny, nr = np.isnan(y), np.isnan(ref)
    d[ny & nr] = 0
    d[ny ^ nr] = np.inf
    return d


# ---- the inputs ----


def _random_finite(dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random bit patterns of finite numbers of dtype, both signs, every exponent."""
    if dtype == np.float32:
        bits = rng.integers(0, 0x7F800000, n, dtype=np.int64).astype(np.uint32)
    else:
        bits = rng.integers(0, 0x7FF0000000000000, n, dtype=np.int64).astype(np.uint64)
    x = bits.view(dtype).copy()
    x[rng.random(n) < 0.5] *= -1
    return x


def _edges(dtype) -> list[float]:
    fi = np.finfo(dtype)
    tiny, sub = float(fi.tiny), float(fi.smallest_subnormal)
    return [0.0, -0.0, sub, -sub, tiny, -tiny, 2 * sub, tiny / 3, float(fi.eps), 1.0, -1.0, 2.0, 0.5,
            float(fi.max), -float(fi.max), math.inf, -math.inf, math.nan]


# the interval where each function is not yet constant (overflow/underflow to
# inf, 0 or its limits), per dtype
DOMAIN = {
    ("exp", np.float32): (-104.0, 89.0),
    ("exp", np.float64): (-746.0, 710.0),
    ("tanh", np.float32): (-10.0, 10.0),
    ("tanh", np.float64): (-20.0, 20.0),
    ("sigmoid", np.float32): (-105.0, 18.0),
    ("sigmoid", np.float64): (-746.0, 38.0),
    ("sin", np.float32): (-20.0, 20.0),
    ("sin", np.float64): (-20.0, 20.0),
    ("cos", np.float32): (-20.0, 20.0),
    ("cos", np.float64): (-20.0, 20.0),
    ("gelu", np.float32): (-15.0, 6.0),
    ("gelu", np.float64): (-39.0, 9.0),
    ("erf", np.float32): (-4.5, 4.5),
    ("erf", np.float64): (-6.5, 6.5),
}


def sweep(name: str, dtype, dense: int, rand: int) -> np.ndarray:
    """A dense grid over the function's domain, near zero, random bit patterns, the edges."""
    rng = np.random.default_rng(zlib.crc32(f"{name} {np.dtype(dtype).name}".encode()))
    parts = [np.array(_edges(dtype), dtype=dtype)]
    if name == "log":
        # every binade, subnormals included: log-uniform positive numbers, and [0.5, 2] densely
        fi = np.finfo(dtype)
        lo, hi = math.log(float(fi.smallest_subnormal)), math.log(float(fi.max))
        parts.append(np.exp(rng.uniform(lo, hi, dense)).astype(dtype))
        parts.append(np.linspace(0.5, 2.0, dense, dtype=dtype))
        parts.append(np.abs(_random_finite(dtype, rand, rng)))
    else:
        lo, hi = DOMAIN[(name, dtype)]
        parts.append(np.linspace(lo, hi, dense, dtype=dtype))
        parts.append(np.linspace(-1.0, 1.0, dense // 4, dtype=dtype))  # the polynomial ranges
        parts.append((rng.uniform(-1, 1, dense // 8) * 2.0 ** rng.uniform(-30, 0, dense // 8)).astype(dtype))
        parts.append(_random_finite(dtype, rand, rng))
        if name in ("sin", "cos"):
            # the float32 native range and beyond (through float64, then libm), float64's reduction range
            parts.append(rng.uniform(-1e4, 1e4, dense // 4).astype(dtype))
            parts.append(rng.uniform(-2e6, 2e6, dense // 4).astype(dtype))
            # near multiples of pi/2, where the reduced argument cancels: within float32's native range
            # (2^13) and float64's (2^20)
            for kmax in (2**13, 2**20):
                k = rng.integers(-kmax, kmax, dense // 8)
                near = (k * (np.pi / 2)).astype(dtype)
                parts += [near, np.nextafter(near, dtype(np.inf)), np.nextafter(near, dtype(-np.inf))]
    return np.concatenate(parts).astype(dtype)


_REF_CACHE: dict = {}


def reference(name: str, dtype, x: np.ndarray) -> np.ndarray:
    key = (name, np.dtype(dtype).name, len(x))
    if key not in _REF_CACHE:
        _REF_CACHE[key] = correctly_rounded(name, x)
    return _REF_CACHE[key]


# ---- tests ----


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCS)
def test_ulp_error_over_the_domain(kernel, name, dtype):
    dense, rand = (200_000, 50_000) if dtype == np.float32 else (6_000, 3_000)
    x = sweep(name, dtype, dense, rand)
    ref = reference(name, dtype, x)
    y = run(name, x)
    assert y.dtype == dtype
    err = ulp_distance(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[dtype], (
        f"{kernel} {name} {np.dtype(dtype).name}: {err[worst]} ulp at x={x[worst]!r}: got {y[worst]!r}, "
        f"correctly rounded {ref[worst]!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCS)
def test_special_values_as_libm(kernel, name, dtype):
    """inf, -inf, NaN, +-0, subnormal inputs and results, overflow: the values (and the
    sign of zero) libm gives, through numpy's float64 functions rounded to the dtype."""
    fi = np.finfo(dtype)
    x = np.array(_edges(dtype) + [-1.0e-30, 1.0e-30, 1e30, -1e30], dtype=dtype)
    if name in ("exp", "sigmoid"):
        big = 89.0 if dtype == np.float32 else 709.8
        x = np.concatenate([x, np.array([big, -big, -745.2 if dtype == np.float64 else -103.9,
                                         -100.0, -90.0, 88.73, 88.72], dtype=dtype)])
    y = run(name, x)
    with np.errstate(all="ignore"):
        want = _np64(name, x.astype(np.float64)).astype(dtype)
    err = ulp_distance(y, want)
    bad = err > MAX_ULP[dtype]
    assert not bad.any(), f"{kernel} {name}: x={x[bad]!r} got {y[bad]!r} want {want[bad]!r}"
    # exact where libm's result is exact: infinities, NaN, zeros with their sign, and 1
    exact = ~np.isfinite(want) | (want == 0) | (np.abs(want) == 1)
    assert np.array_equal(y[exact], want[exact], equal_nan=True)
    assert np.array_equal(np.signbit(y[exact & (want == 0)]), np.signbit(want[exact & (want == 0)]))
    assert fi.dtype == y.dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCS)
def test_result_independent_of_position(kernel, name, dtype):
    """Lengths around the vector widths (tails run through padded copies): each element's
    result is the one it gets inside a long array."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.01, 3.0, 100).astype(dtype) if name == "log" else rng.uniform(-5, 5, 100).astype(dtype)
    whole = run(name, base)
    for n in list(range(1, 34)) + [47, 63, 64, 65]:
        for start in (0, 1, 5):
            part = run(name, base[start:start + n])
            np.testing.assert_array_equal(part, whole[start:start + n])


def _log_table_edges(dtype) -> np.ndarray:
    """The edges of log's table intervals (float64: 128 from 0.705078125, float32: 16 from
    0.703125, equal steps in the bits; the interval around 1 has invc = 1) and their
    neighbours, in several binades (the subnormal one included)."""
    if dtype == np.float64:
        t, step, count, it = 0x3FE6900000000000, 1 << 45, 128, np.uint64
    else:
        t, step, count, it = 0x3F340000, 1 << 19, 16, np.uint32
    z = (t + step * np.arange(count + 1, dtype=np.int64)).astype(it).view(dtype)
    z = np.concatenate([z, np.nextafter(z, dtype(0)), np.nextafter(z, dtype(4))])
    scales = [2.0**k for k in (-1, 0, 1, 7, -60, 100)] + [float(np.finfo(dtype).tiny) / 4]
    return np.concatenate([(z * dtype(s)).astype(dtype) for s in scales])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_log_table_edges_and_near_one(kernel, dtype):
    """log at its table's interval edges (either side of each edge uses another table
    entry) and densely around 1, where the result goes to 0 and the interval has invc = 1."""
    near_one = 1 + np.linspace(-2.0**-6, 2.0**-6, 4001)
    x = np.concatenate([_log_table_edges(dtype), near_one.astype(dtype),
                        np.nextafter(dtype(1), dtype(0)) - np.arange(64, dtype=dtype) * np.finfo(dtype).epsneg,
                        dtype(1) + np.arange(64, dtype=dtype) * np.finfo(dtype).eps])
    ref = correctly_rounded("log", x)
    y = run("log", x)
    err = ulp_distance(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[dtype], f"{kernel} log: {err[worst]} ulp at x={x[worst]!r}: got {y[worst]!r}"
    assert y[x == 1].tolist() == [0.0] * int((x == 1).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_exp_table_edges(kernel, dtype):
    """exp, and the functions built on it, where round(16 x / ln 2) changes (the table
    index and the reduced argument jump there), over the whole domain: exp and sigmoid
    at x, tanh at x/2 (its e^-2|x|)."""
    rng = np.random.default_rng(5)
    lo, hi = DOMAIN[("exp", dtype)]
    k = np.unique(rng.integers(int(lo * 16 / math.log(2)), int(hi * 16 / math.log(2)), 2000))
    mid = ((k + 0.5) * (math.log(2) / 16)).astype(dtype)
    x = np.concatenate([mid, np.nextafter(mid, dtype(-np.inf)), np.nextafter(mid, dtype(np.inf))])
    for name, arg in (("exp", x), ("sigmoid", x), ("tanh", (x / 2).astype(dtype))):
        ref = correctly_rounded(name, arg)
        err = ulp_distance(run(name, arg), ref)
        worst = int(np.argmax(err))
        assert err[worst] <= MAX_ULP[dtype], f"{kernel} {name}: {err[worst]} ulp at x={arg[worst]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_tanh_and_sigmoid_near_their_switches(kernel, dtype):
    """Densely where tanh changes formula (float32: |x| = 0.55, float64: 0.3), where it
    rounds to 1 (float32 clamps |x| at 9.1, float64's e^-2|x| vanishes by 20), and
    sigmoid around 0 (x < 0 divides e^x by 1 + e^x, x >= 0 divides 1 by 1 + e^-x)."""
    n = 200_001 if dtype == np.float32 else 4_001
    for name, centre, width in (("tanh", 0.55, 0.02), ("tanh", 0.3, 0.02), ("tanh", 9.0, 0.2),
                                ("tanh", 18.5, 1.0), ("sigmoid", 0.0, 0.5)):
        x = np.linspace(centre - width, centre + width, n).astype(dtype)
        c = dtype(centre)
        x = np.concatenate([x, np.array([c, np.nextafter(c, dtype(0)), np.nextafter(c, dtype(np.inf))], dtype=dtype)])
        x = np.concatenate([x, -x])
        ref = correctly_rounded(name, x)
        y = run(name, x)
        err = ulp_distance(y, ref)
        worst = int(np.argmax(err))
        assert err[worst] <= MAX_ULP[dtype], (
            f"{kernel} {name}: {err[worst]} ulp at x={x[worst]!r}: got {y[worst]!r}, want {ref[worst]!r}")
    first = [9.1, 9.2] if dtype == np.float32 else [19.1, 20.0, 20.5]  # tanh rounds to 1 from 9.01 / 19.06
    big = np.array(first + [30.0, 1e10, np.finfo(dtype).max, np.inf], dtype=dtype)
    assert run("tanh", big).tolist() == [1.0] * len(big)
    assert run("tanh", -big).tolist() == [-1.0] * len(big)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCS)
def test_special_lanes_leave_the_others_alone(kernel, name, dtype):
    """A vector holding a special value (0, a negative or subnormal number for log, inf,
    NaN) takes the kernels' slow path: every other element of it gets the result it gets
    among ordinary neighbours. (Not float32 sin and cos: there a lane beyond the native
    reduction range, inf and NaN included, sends its whole vector through float64.)"""
    if name in ("sin", "cos") and dtype == np.float32:
        pytest.skip("float32 sin/cos compute a vector with a lane beyond 2^13 in float64")
    rng = np.random.default_rng(6)
    base = rng.uniform(0.01, 3.0, 256) if name == "log" else rng.uniform(-5, 5, 256)
    base = base.astype(dtype)
    plain = run(name, base)
    specials = [0.0, -1.0, float(np.finfo(dtype).smallest_subnormal), math.inf, -math.inf, math.nan]
    for pos, v in zip((0, 17, 40, 77, 130, 255), specials):
        x = base.copy()
        x[pos] = v
        y = run(name, x)
        keep = np.arange(len(x)) != pos
        np.testing.assert_array_equal(y[keep], plain[keep], err_msg=f"{kernel} {name} with {v} at {pos}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, local", [("sin", np.cos), ("cos", lambda v: -np.sin(v))])
def test_backward_uses_the_kernels(kernel, name, local, dtype):
    """sin's and cos's backward evaluate cos and sin through the kernels: dx = g * local(x),
    also past float32's native reduction range and float64's (the libm lanes)."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-10, 10, 257), rng.uniform(-3e6, 3e6, 64)]).astype(dtype)
    g = rng.standard_normal(len(x)).astype(dtype)
    t = pg.tensor(x, requires_grad=True)
    getattr(pg, name)(t).backward(pg.tensor(g))
    want = g.astype(np.float64) * local(x.astype(np.float64))
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=tol, atol=tol * np.abs(g).max())


# ---- gelu's and erf's derivatives (their backward kernels), and independence of neighbours ----

GELU_ZERO = -0.75179152469356451  # gelu'(x) = 0 there


def run_grad(name: str, x: np.ndarray) -> np.ndarray:
    """d name(x)/dx by pygrad's backward kernel (an upstream gradient of ones: g * 1 * f'(x) is exact)."""
    t = pg.tensor(x, requires_grad=True)
    getattr(pg, name)(t).backward(pg.tensor(np.ones_like(x)))
    return t.grad.numpy()


def _mp_deriv(name: str, v: float):
    v = mpmath.mpf(v)
    if name == "erf":
        return 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-v * v)
    return mpmath.erfc(-v / mpmath.sqrt(2)) / 2 + v * mpmath.exp(-v * v / 2) / mpmath.sqrt(2 * mpmath.pi)


def _deriv64(name: str, x: np.ndarray) -> np.ndarray:
    """The derivative of float32 values in float64: erf' = 2/sqrt(pi) e^-x^2 (x^2 exact); gelu' =
    Phi(x) + x phi(x) by math.erfc (within 2^-45 relative where float32's gelu' is not 0 or 1,
    |x| < 15, apart from its zero, where the two terms cancel: points within 2^-8 of it by mpmath).
    NaN for NaN; gelu' NaN at +-inf (inf * 0), erf' 0."""
    out = np.empty(len(x))
    for i, v in enumerate(x.tolist()):
        if math.isnan(v) or (name == "gelu" and math.isinf(v)):
            out[i] = math.nan
        elif name == "erf":
            if abs(v) > 28:
                out[i] = 0.0
            else:
                out[i] = 2 / math.sqrt(math.pi) * math.exp(-v * v)
        elif abs(v - GELU_ZERO) < 2.0**-8:
            with mpmath.workprec(120):
                out[i] = float(_mp_deriv("gelu", v))
        else:
            out[i] = 0.5 * math.erfc(-v * 0.7071067811865476) + v * math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
    return out


def deriv_sweep(name: str, dtype, dense: int, rand: int) -> np.ndarray:
    """The function's sweep without infinities and NaN, every float32 within 2^-10 of gelu's zero."""
    x = sweep(name, dtype, dense, rand)
    x = x[np.isfinite(x)]
    if name == "gelu" and dtype == np.float32:
        z = np.float32(GELU_ZERO)
        n = int(2.0**-10 / np.spacing(z))
        below = np.nextafter(z, np.float32(-1)) - np.arange(n, dtype=np.float32) * np.spacing(z)
        above = z + np.arange(n, dtype=np.float32) * np.spacing(z)
        x = np.concatenate([x, below.astype(np.float32), above.astype(np.float32)])
    return x


@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_derivative_ulp_error_float32(kernel, name):
    """float32 gelu' and erf' within 2 ulp of the correctly rounded value: over the domain, near 0,
    random bit patterns, and every float32 within 2^-10 of gelu's zero (x = -0.7518)."""
    x = deriv_sweep(name, np.float32, 200_000, 50_000)
    key = (name + "'", "float32", len(x))
    if key not in _REF_CACHE:
        _REF_CACHE[key] = _deriv64(name, x.astype(np.float64)).astype(np.float32)
    ref = _REF_CACHE[key]
    y = run_grad(name, x)
    assert y.dtype == np.float32
    err = ulp_distance(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[np.float32], (
        f"{kernel} {name}': {err[worst]} ulp at x={x[worst]!r}: got {y[worst]!r}, correctly rounded {ref[worst]!r}")


@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_derivative_error_float64(kernel, name):
    """float64 erf' within 4 ulp of mpmath's value; float64 gelu' = Phi(x) + x phi(x) within 4 ulp of
    the larger of its two terms (relative accuracy is lost where they cancel, about its zero), where
    the result is a normal number (|x| < 37.5)."""
    x = deriv_sweep(name, np.float64, 6_000, 3_000)
    x = x[np.abs(x) < (37.0 if name == "gelu" else 40.0)]
    with mpmath.workprec(120):
        exact = [_mp_deriv(name, v) for v in x.tolist()]
        ref = np.array([float(v) for v in exact])
        if name == "gelu":
            scale = np.array([float(max(abs(mpmath.erfc(-mpmath.mpf(v) / mpmath.sqrt(2)) / 2),
                                        abs(e - mpmath.erfc(-mpmath.mpf(v) / mpmath.sqrt(2)) / 2)))
                              for v, e in zip(x.tolist(), exact)])
    y = run_grad(name, x)
    if name == "erf":
        err = ulp_distance(y, ref)
    else:
        err = np.abs(y - ref) / np.spacing(scale)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[np.float64], f"{kernel} {name}': {err[worst]} ulp at x={x[worst]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_derivative_special_values(kernel, name, dtype):
    """gelu'(+-0) = gelu'(subnormal) = 1/2, gelu'(+-inf) = NaN (Phi(x) + x phi(x) gives inf * 0),
    0 far below and 1 far above; erf'(0) = 2/sqrt(pi) rounded, erf'(+-inf) = 0; NaN stays NaN."""
    sub = float(np.finfo(dtype).smallest_subnormal)
    x = np.array([0.0, -0.0, sub, -sub, math.inf, -math.inf, math.nan, -1e30, 1e30, -40.0, 40.0], dtype=dtype)
    y = run_grad(name, x)
    if name == "gelu":
        want = [0.5, 0.5, 0.5, 0.5, math.nan, math.nan, math.nan, 0.0, 1.0, 0.0, 1.0]
    else:
        c = float(dtype(2 / math.sqrt(math.pi)))
        want = [c, c, c, c, 0.0, 0.0, math.nan, 0.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(y, np.array(want, dtype=dtype))


@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_derivative_against_central_differences(kernel, name):
    """float64: the backward kernel against central differences of the forward kernel."""
    x = np.linspace(-6.0, 6.0, 1201) + 1e-3
    h = 1e-5
    fd = (run(name, x + h) - run(name, x - h)) / (2 * h)
    np.testing.assert_allclose(run_grad(name, x), fd, rtol=1e-8, atol=1e-9)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("grad", [False, True], ids=["forward", "derivative"])
@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_value_independent_of_its_neighbours(kernel, name, grad, dtype):
    """Each element's result, bit for bit, whatever shares its vector: beside infinities, NaN,
    huge, tiny and subnormal numbers, values on either side of the kernels' switches (|x| = 1/4,
    1/2), at every stride and shuffled."""
    rng = np.random.default_rng(7)
    base = np.concatenate([rng.uniform(-6, 6, 56), rng.uniform(-0.6, 0.6, 4),
                           [GELU_ZERO, 0.0, -0.0, -14.0]]).astype(dtype)
    f = run_grad if grad else run
    plain = _bits(f(name, base))
    sub = float(np.finfo(dtype).smallest_subnormal)
    for filler in (math.inf, -math.inf, math.nan, 1e30, -1e30, 30.0, -30.0, sub, 0.2, -0.3, 0.7, 20.0):
        for stride in (2, 3, 17):
            x = np.full(len(base) * stride, filler, dtype=dtype)
            x[::stride] = base
            got = _bits(f(name, x)[::stride])
            bad = np.flatnonzero(got != plain)
            assert len(bad) == 0, f"{kernel} {name} grad={grad}: x={base[bad]!r} beside {filler}"
    perm = rng.permutation(len(base))
    np.testing.assert_array_equal(_bits(f(name, base[perm])), plain[perm])


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "derivative"])
@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_value_independent_of_the_thread_count(name, grad):
    """A large float32 tensor (split over the pool's threads) gives the same bits on 1 and 2 threads."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(400_003) * 4).astype(np.float32)
    x[rng.integers(0, len(x), 500)] = np.array([math.inf, -math.inf, math.nan, 1e30, -40.0] * 100, np.float32)
    f = run_grad if grad else run
    before = pg.get_num_threads()
    try:
        pg.set_num_threads(1)
        one = _bits(f(name, x))
        pg.set_num_threads(2)
        two = _bits(f(name, x))
    finally:
        pg.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_dispatch_picks_the_cpu_s_best():
    """auto runs the widest kernels this CPU has; names outside the list are refused."""
    _runtime._set_vmath_kernel("auto")
    assert _runtime._vmath_kernel() == KERNELS[0]
    with pytest.raises(ValueError, match="unknown"):
        _runtime._set_vmath_kernel("sse9")
    assert _runtime._vmath_kernel() == KERNELS[0]
