"""The reference op table: one small class per op, forward beside backward.

Ops work on plain ``numpy.ndarray`` values; they know nothing of tensors or
graphs. The autograd layer (``tensor.py``) validates arguments, calls
:meth:`Op.run` once, keeps the arrays the op asks to save, and later calls
:meth:`Op.backward` with the upstream gradient ``g`` (shape of the output).
``backward`` returns one gradient per input, each of that input's shape and
dtype (``None`` for inputs that have no gradient, such as a ``where``
condition).

All arithmetic stays in the inputs' dtype: float32 is never widened
internally, and Python scalars are converted to the array dtype first.
This module is not a kernel library: it is written for clarity, not speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from pygrad.errors import PygradMemoryError, PygradRuntimeError, ShapeError

Array = np.ndarray
Grads = Sequence["np.ndarray | None"]


def sum_to_shape(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` over broadcast dimensions so that it has ``shape``.

    ``g`` has the broadcast shape of an op's inputs; leading extra dims and
    dims where ``shape`` has size 1 (but ``g`` does not) are summed away.
    """
    g = np.asarray(g)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = list(range(lead))
    for i, size in enumerate(shape):
        if size == 1 and g.shape[lead + i] != 1:
            axes.append(lead + i)
    return np.sum(g, axis=tuple(axes), keepdims=True).reshape(shape)


def _scalar(dtype: np.dtype, value: float) -> np.generic:
    """``value`` converted to a numpy scalar of ``dtype``."""
    return dtype.type(value)


def int_power(x: Array, p: Array) -> Array:
    """``x ** p`` of integer arrays with wrap-around; a negative p gives the
    truncated 1 / x^|p| (1 for x = 1, ±1 for x = -1, else 0), as the C engine."""
    x, p = np.broadcast_arrays(np.asarray(x), np.asarray(p))
    out = np.empty(x.shape, dtype=x.dtype)
    flat = out.reshape(-1)
    bits = np.dtype(x.dtype).itemsize * 8
    for i, (u, v) in enumerate(zip(x.flat, p.flat)):
        u, v = int(u), int(v)
        if v < 0:
            r = 1 if u == 1 else ((-1 if v % 2 else 1) if u == -1 else 0)
        else:
            r = pow(u, v, 1 << bits)
        r &= (1 << bits) - 1
        flat[i] = r - (1 << bits) if r >> (bits - 1) else r
    return out


def to_dtype(x: Array, dtype: np.dtype) -> Array:
    """``x`` converted to ``dtype`` as the C engine converts: to bool, nonzero;
    float to integer, truncation toward zero, with NaN and values out of the
    integer type's range giving its minimum; integer narrowing wraps."""
    dtype = np.dtype(dtype)
    if dtype.kind == "i" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            bad = ~((x >= float(info.min)) & (x < -float(info.min)))
            safe = np.where(bad, 0, x)
            out = np.trunc(safe).astype(dtype)
        out[bad] = info.min
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


def power(x: Array, p: Array) -> Array:
    """``x ** p`` elementwise with the C library's ``pow`` (numpy's scalar power).

    numpy's array loop is vectorised with its own approximations on some CPUs
    (AVX-512: up to an ulp or two from the correctly rounded result); its
    scalar power calls the C library, as the C engine's kernels do, so the two
    engines agree bit for bit. Slow, but this module is the oracle.
    """
    x, p = np.broadcast_arrays(np.asarray(x), np.asarray(p))
    out = np.empty(x.shape, dtype=np.result_type(x, p))
    flat = out.reshape(-1)
    with np.errstate(all="ignore"):
        for i, (u, v) in enumerate(zip(x.flat, p.flat)):
            flat[i] = u ** v
    return out


_LN2 = 0.693147180559945309417232121458176568
_LN10 = 2.30258509299404568401799145468436421
_2_SQRTPI = 1.12837916709551257389615890312154517  # 2/sqrt(pi)
_SQRT1_2 = 0.707106781186547524400844362104849039  # 1/sqrt(2)
_1_SQRT2PI = 0.398942280401432677939946059934381868  # 1/sqrt(2 pi)

_erf_f64 = np.vectorize(math.erf, otypes=[np.float64])


def _erf(x: Array) -> Array:
    """erf elementwise (numpy has none): math.erf in float64, rounded to x's dtype."""
    return np.asarray(_erf_f64(x), dtype=x.dtype)


def _sigmoid(x: Array) -> Array:
    """sigmoid(x) without overflow, as :class:`Sigmoid` computes it."""
    one = _scalar(x.dtype, 1)
    e = np.exp(-np.abs(x))  # exp(-x) for x >= 0, exp(x) for x < 0
    return np.where(x >= _scalar(x.dtype, 0), one / (one + e), e / (one + e))


def _hardsigmoid_inside(x: Array) -> Array:
    """Where hardsigmoid has slope 1/6: -3 < x < 3."""
    return (x > _scalar(x.dtype, -3)) & (x < _scalar(x.dtype, 3))


def _softplus(x: Array) -> Array:
    """log(1 + e^x) without overflow: max(x, 0) + log1p(exp(-|x|)) (NaN stays NaN)."""
    return np.where(x > _scalar(x.dtype, 0), x, _scalar(x.dtype, 0)) + np.log1p(np.exp(-np.abs(x)))


class Op:
    """One row of the op table.

    Class attributes: ``name`` (op-table name), ``save_inputs`` /
    ``save_output`` (what backward reads; the autograd layer records the
    versions of the tensors holding them), ``is_view`` (output shares the
    input's memory and version counter).
    """

    name: ClassVar[str] = "op"
    save_inputs: ClassVar[bool] = False
    save_output: ClassVar[bool] = False
    is_view: ClassVar[bool] = False

    def __init__(self) -> None:
        self.in_shapes: tuple[tuple[int, ...], ...] = ()
        self.in_dtypes: tuple[np.dtype, ...] = ()

    def run(self, xs: Sequence[Array]) -> Array:
        """Remember the input shapes and dtypes, then call :meth:`forward`."""
        self.in_shapes = tuple(x.shape for x in xs)
        self.in_dtypes = tuple(x.dtype for x in xs)
        return np.asarray(self.forward(*xs))

    forward: Callable[..., Array]
    """Compute the output from the input arrays (one positional argument per input)."""

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        """Turn the upstream gradient ``g`` into one gradient per input.

        ``xs`` holds the saved inputs (``None`` entries unless
        ``save_inputs``), ``y`` the saved output (``None`` unless
        ``save_output``).
        """
        raise NotImplementedError

    # An elementwise op (a row with ``elementwise=True`` in pygrad._optable) also has
    #     def rule(self, g: Tensor, x: Tensor, y: Tensor | None) -> Tensor
    # its backward written with differentiable Tensor ops (used by backward(create_graph=True));
    # ``y`` is the output when ``save_output``. The other ops' rules are in rules.py.


# ---------------------------------------------------------------- binary ---


class Add(Op):
    """out = a + b (broadcast); da = g, db = g (summed to shape)."""

    name = "add"

    def forward(self, a: Array, b: Array) -> Array:
        return a + b

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return sum_to_shape(g, self.in_shapes[0]), sum_to_shape(g, self.in_shapes[1])


class Sub(Op):
    """out = a - b (broadcast); da = g, db = -g."""

    name = "sub"

    def forward(self, a: Array, b: Array) -> Array:
        return a - b

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return sum_to_shape(g, self.in_shapes[0]), sum_to_shape(-g, self.in_shapes[1])


class Mul(Op):
    """out = a * b (broadcast); da = g * b, db = g * a."""

    name = "mul"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return a * b

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        return sum_to_shape(g * b, self.in_shapes[0]), sum_to_shape(g * a, self.in_shapes[1])


class Div(Op):
    """out = a / b (broadcast); da = g / b, db = -g * a / b²."""

    name = "div"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return a / b

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        da = g / b
        db = -g * a / (b * b)
        return sum_to_shape(da, self.in_shapes[0]), sum_to_shape(db, self.in_shapes[1])


class Pow(Op):
    """out = x ** p (both tensors, broadcast).

    dx = g * p * x^(p-1), and 0 where p == 0 (x^0 is 1 everywhere, also at x = 0);
    dp = g * out * log(x), and 0 where x == 0 and p >= 0 (at x == 0, p < 0 it is
    inf * -inf = -inf, the limit). PyTorch's rules.
    """

    name = "pow"
    save_inputs = True
    save_output = True

    def forward(self, x: Array, p: Array) -> Array:
        return int_power(x, p) if np.asarray(x).dtype.kind == "i" else power(x, p)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, p = xs
        one = _scalar(x.dtype, 1)
        zero = _scalar(x.dtype, 0)
        dx = np.where(p == zero, zero, g * p * power(x, p - one))
        dp = np.where((x == zero) & (p >= zero), zero, g * power(x, p) * np.log(x))
        return sum_to_shape(dx, self.in_shapes[0]), sum_to_shape(dp, self.in_shapes[1])


class Maximum(Op):
    """out = max(a, b) elementwise; on a == b each side gets g / 2."""

    name = "maximum"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.maximum(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        return _tie_split(g, a > b, a == b, b > a, self.in_shapes)


class Atan2(Op):
    """out = atan2(a, b); da = g b / (a² + b²), db = -g a / (a² + b²)."""

    name = "atan2"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.arctan2(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        r2 = a * a + b * b
        return sum_to_shape(g * b / r2, self.in_shapes[0]), sum_to_shape(-g * a / r2, self.in_shapes[1])


class Fmod(Op):
    """out = fmod(a, b) (the sign of a); da = g, db = -g trunc(a / b)."""

    name = "fmod"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.fmod(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        return sum_to_shape(g, self.in_shapes[0]), sum_to_shape(-g * np.trunc(a / b), self.in_shapes[1])


class Remainder(Op):
    """out = a - b floor_divide(a, b) (Python's %, the sign of b); da = g, db = -g floor_divide(a, b)."""

    name = "remainder"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.remainder(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        return sum_to_shape(g, self.in_shapes[0]), sum_to_shape(-g * np.floor_divide(a, b), self.in_shapes[1])


class FloorDivide(Op):
    """out = floor(a / b) (numpy's floor division); piecewise constant: zero gradients."""

    name = "floor_divide"

    def forward(self, a: Array, b: Array) -> Array:
        return np.floor_divide(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        out = np.broadcast_shapes(*self.in_shapes)
        z = np.zeros(out, dtype=g.dtype)
        return sum_to_shape(z, self.in_shapes[0]), sum_to_shape(z, self.in_shapes[1])


class Minimum(Op):
    """out = min(a, b) elementwise; on a == b each side gets g / 2."""

    name = "minimum"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.minimum(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        return _tie_split(g, a < b, a == b, b < a, self.in_shapes)


def _tie_split(
    g: Array, a_wins: Array, tie: Array, b_wins: Array, shapes: tuple[tuple[int, ...], ...]
) -> Grads:
    """Route ``g`` to the winner of maximum/minimum; a tie gives ``g / 2`` to each."""
    zero = _scalar(g.dtype, 0)
    half = g * _scalar(g.dtype, 0.5)
    da = np.where(a_wins, g, np.where(tie, half, zero))
    db = np.where(b_wins, g, np.where(tie, half, zero))
    return sum_to_shape(da, shapes[0]), sum_to_shape(db, shapes[1])


class Where(Op):
    """out = cond ? x : y (broadcast); dx = g where cond, dy = g where not cond.

    Inputs are ``(cond, x, y)``; ``cond`` is a bool array and gets no gradient.
    """

    name = "where"
    save_inputs = True

    def forward(self, cond: Array, x: Array, y: Array) -> Array:
        return np.where(cond, x, y)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        cond = xs[0]
        zero = _scalar(g.dtype, 0)
        dx = sum_to_shape(np.where(cond, g, zero), self.in_shapes[1])
        dy = sum_to_shape(np.where(cond, zero, g), self.in_shapes[2])
        return None, dx, dy


class Matmul(Op):
    """out = a @ b with numpy ``matmul`` rules.

    1-d operands are promoted ((k,) -> (1, k) on the left, (k, 1) on the
    right) and the added dim removed from the result; batch dims broadcast.
    da = g @ bᵀ, db = aᵀ @ g on the promoted shapes, summed over broadcast
    batch dims.
    """

    name = "matmul"
    save_inputs = True

    def forward(self, a: Array, b: Array) -> Array:
        return np.matmul(a, b)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        a, b = xs
        a2 = a if a.ndim > 1 else a[np.newaxis, :]  # (..., m, k)
        b2 = b if b.ndim > 1 else b[:, np.newaxis]  # (..., k, n)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = np.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))  # (..., m, n)
        da2 = np.matmul(g2, np.swapaxes(b2, -1, -2))  # (..., m, k)
        db2 = np.matmul(np.swapaxes(a2, -1, -2), g2)  # (..., k, n)
        da = sum_to_shape(da2, a2.shape).reshape(a.shape)
        db = sum_to_shape(db2, b2.shape).reshape(b.shape)
        return da, db


# ---------------------------------------------------------- with scalars ---


class AddScalar(Op):
    """out = x + c (c a Python scalar, converted to x's dtype); dx = g."""

    name = "add_scalar"

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Array) -> Array:
        return x + _scalar(x.dtype, self.c)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g,)


class MulScalar(Op):
    """out = x * c (c a Python scalar, converted to x's dtype); dx = g * c."""

    name = "mul_scalar"

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Array) -> Array:
        return x * _scalar(x.dtype, self.c)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * _scalar(g.dtype, self.c),)


def _nearest_f32(v: Fraction) -> np.float32:
    """The float32 nearest to the exact value v (ties to even), inf past the largest float's midpoint
    with 2^128."""
    if abs(v) >= Fraction(2**128 - 2**103):
        return np.float32(np.inf if v > 0 else -np.inf)
    f = np.float32(float(v))
    cands = [c for c in (f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf)))
             if np.isfinite(c)]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - v), int(np.array(c).view(np.int32)) & 1))


def _ipow_f32(x: Array, e: int) -> Array:
    """float32 ``x ** e`` for e = 3, 4, -2, correctly rounded, as the C engine takes it: through double,
    where ``x * x`` is exact and the last operation rounds once; the elements whose double may round to
    the wrong float (on a midpoint of two floats, or outside float's normal range) exactly, by
    fractions."""
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        p = xd * xd
        d = p * xd if e == 3 else p * p if e == 4 else 1.0 / p
        out = d.astype(np.float32)
    b = np.ascontiguousarray(d).view(np.uint64)
    ex = (b >> np.uint64(52)) & np.uint64(0x7FF)
    rare = ((b & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)) | (((ex < 897) | (ex >= 1150)) & (d != 0))
    rare &= np.isfinite(xd) & (xd != 0)
    flat, xf = out.reshape(-1), xd.reshape(-1)
    for i in np.flatnonzero(rare.reshape(-1)):
        flat[i] = _nearest_f32(Fraction(float(xf[i])) ** e)
    return out


def _pow_scalar(x: Array, p: float) -> Array:
    """``x ** p`` as the C engine's pow_scalar takes it: the correctly rounded ``x * x``, ``1 / x`` and
    ``sqrt(x)`` (with pow's +0 at -0 and +inf at -inf) for p = 2, -1 and 0.5 (numpy's array power
    does the same), x for p = 1, float32's correctly rounded x³, x⁴ and x⁻² (:func:`_ipow_f32`), the
    C library's pow otherwise."""
    if x.dtype == np.float32 and p in (3, 4, -2):
        return _ipow_f32(x, int(p))
    with np.errstate(all="ignore"):
        if p == 2:
            return x * x
        if p == 1:
            return x.copy()
        if p == -1:
            return np.ones_like(x) / x
        if p == 0.5:
            return np.where(x == -np.inf, np.inf, np.sqrt(x) + x.dtype.type(0)).astype(x.dtype)
    return power(x, _scalar(x.dtype, p))


class PowScalar(Op):
    """out = x ** p (p a Python scalar); dx = p * x^(p-1) * g, and 0 for p = 0.

    ``p`` and ``p - 1`` are computed in double and then converted to x's dtype; x^(p-1) is taken as
    the forward takes a power (:func:`_pow_scalar`).
    """

    name = "pow_scalar"
    save_inputs = True

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Array) -> Array:
        return _pow_scalar(x, self.p)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        if self.p == 0:
            return (np.zeros_like(x),)
        p = _scalar(x.dtype, self.p)
        return (g * p * _pow_scalar(x, self.p - 1.0),)


class DivScalar(Op):
    """out = x / c (c a Python scalar, converted to x's dtype: a true division); dx = g / c."""

    name = "div_scalar"

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Array) -> Array:
        return x / _scalar(x.dtype, self.c)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g / _scalar(g.dtype, self.c),)


class RDivScalar(Op):
    """y = c / x (c a Python scalar, converted to x's dtype); dx = -c/x² * g = -g * (y / x)."""

    name = "rdiv_scalar"
    save_inputs = True
    save_output = True

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Array) -> Array:
        return _scalar(x.dtype, self.c) / x

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (-g * (y / xs[0]),)


class RPowScalar(Op):
    """y = c ** x (c a Python scalar, converted to x's dtype; with pow, not exp(x log c));
    dx = g * y * log c, and 0 where c == 0 and x >= 0 (PyTorch's rule)."""

    name = "rpow_scalar"
    save_inputs = True
    save_output = True

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: Array) -> Array:
        return power(_scalar(x.dtype, self.c), x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        c = _scalar(x.dtype, self.c)
        d = g * y * np.log(c)
        if self.c == 0:
            d = np.where(x >= 0, _scalar(x.dtype, 0), d)
        return (d,)


# ---------------------------------------------------------------- unary ---


class Neg(Op):
    """out = -x; dx = -g."""

    name = "neg"

    def forward(self, x: Array) -> Array:
        return -x

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (-g,)


class Exp(Op):
    """y = exp(x); dx = g * y."""

    name = "exp"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.exp(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * y,)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * y


class Log(Op):
    """y = log(x); dx = g / x."""

    name = "log"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.log(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g / xs[0],)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / x


class Sin(Op):
    """y = sin x; dx = g cos x."""

    name = "sin"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * np.cos(xs[0]),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * x.cos()


class Cos(Op):
    """y = cos x; dx = -g sin x."""

    name = "cos"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.cos(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (-(g * np.sin(xs[0])),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return -(g * x.sin())


class Tan(Op):
    """y = tan x; dx = g (1 + y²)."""

    name = "tan"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.tan(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * (_scalar(y.dtype, 1) + y * y),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * (y * y + 1.0)


class Atan(Op):
    """y = atan x; dx = g / (1 + x²)."""

    name = "atan"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.arctan(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g / (_scalar(x.dtype, 1) + x * x),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / (x * x + 1.0)


class Sinh(Op):
    """y = sinh x; dx = g cosh x."""

    name = "sinh"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.sinh(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * np.cosh(xs[0]),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * x.cosh()


class Cosh(Op):
    """y = cosh x; dx = g sinh x."""

    name = "cosh"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.cosh(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * np.sinh(xs[0]),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * x.sinh()


class Asin(Op):
    """y = asin x; dx = g / sqrt(1 - x²)."""

    name = "asin"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.arcsin(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g / np.sqrt(_scalar(x.dtype, 1) - x * x),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / (1.0 - x * x).sqrt()


class Acos(Op):
    """y = acos x; dx = -g / sqrt(1 - x²)."""

    name = "acos"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.arccos(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (-g / np.sqrt(_scalar(x.dtype, 1) - x * x),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return -(g / (1.0 - x * x).sqrt())


class Log1p(Op):
    """y = log(1 + x); dx = g / (x + 1)."""

    name = "log1p"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.log1p(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g / (x + _scalar(x.dtype, 1)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / (x + 1.0)


class Expm1(Op):
    """y = exp(x) - 1; dx = g (y + 1)."""

    name = "expm1"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.expm1(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * (y + _scalar(y.dtype, 1)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * (y + 1.0)


class Log2(Op):
    """y = log2(x); dx = g / (x ln 2)."""

    name = "log2"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.log2(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g / (x * _scalar(x.dtype, _LN2)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / (x * _LN2)


class Log10(Op):
    """y = log10(x); dx = g / (x ln 10)."""

    name = "log10"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.log10(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g / (x * _scalar(x.dtype, _LN10)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g / (x * _LN10)


class Exp2(Op):
    """y = 2^x; dx = g y ln 2."""

    name = "exp2"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.exp2(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * y * _scalar(y.dtype, _LN2),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * (y * _LN2)


class Square(Op):
    """y = x²; dx = g 2x."""

    name = "square"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return x * x

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g * (_scalar(x.dtype, 2) * x),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * (x * 2.0)


class Rsqrt(Op):
    """y = 1 / sqrt(x); dx = -g y³ / 2."""

    name = "rsqrt"
    save_output = True

    def forward(self, x: Array) -> Array:
        return _scalar(x.dtype, 1) / np.sqrt(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (_scalar(y.dtype, -0.5) * g * (y * y * y),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return (g * (y * y * y)) * -0.5


class Sign(Op):
    """y = np.sign(x); dx = 0 (piecewise constant)."""

    name = "sign"

    def forward(self, x: Array) -> Array:
        return np.sign(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.zeros_like(g),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * 0.0


class Floor(Op):
    """y = np.floor(x); dx = 0 (piecewise constant)."""

    name = "floor"

    def forward(self, x: Array) -> Array:
        return np.floor(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.zeros_like(g),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * 0.0


class Ceil(Op):
    """y = np.ceil(x); dx = 0 (piecewise constant)."""

    name = "ceil"

    def forward(self, x: Array) -> Array:
        return np.ceil(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.zeros_like(g),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * 0.0


class Round(Op):
    """y = np.rint(x); dx = 0 (piecewise constant)."""

    name = "round"

    def forward(self, x: Array) -> Array:
        return np.rint(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.zeros_like(g),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * 0.0


class Trunc(Op):
    """y = np.trunc(x); dx = 0 (piecewise constant)."""

    name = "trunc"

    def forward(self, x: Array) -> Array:
        return np.trunc(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.zeros_like(g),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * 0.0


class Erf(Op):
    """y = erf(x); dx = g 2/sqrt(pi) exp(-x²)."""

    name = "erf"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return _erf(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        return (g * _scalar(x.dtype, _2_SQRTPI) * np.exp(-x * x),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * ((-(x * x)).exp() * _2_SQRTPI)


class Silu(Op):
    """y = x sigmoid(x); dx = g s (1 + x (1 - s)), s = sigmoid(x)."""

    name = "silu"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return x * _sigmoid(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        s, one = _sigmoid(x), _scalar(x.dtype, 1)
        return (g * s * (one + x * (one - s)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        s = x.sigmoid()
        return g * (s * (x * (1.0 - s) + 1.0))


class Logsigmoid(Op):
    """y = log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)); dx = g sigmoid(-x)."""

    name = "logsigmoid"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.minimum(x, _scalar(x.dtype, 0)) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * _sigmoid(-xs[0]),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        return g * (-x).sigmoid()


class Softplus(Op):
    """y = log1p(exp(x)), x for x > 20; dx = g e^x / (e^x + 1), g for x > 20 (PyTorch's threshold)."""

    name = "softplus"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        t = _scalar(x.dtype, 20)
        return np.where(x > t, x, np.log1p(np.exp(np.minimum(x, t))))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        t = _scalar(x.dtype, 20)
        z = np.exp(np.minimum(x, t))
        return (np.where(x > t, g, g * (z / (z + _scalar(x.dtype, 1)))),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        above = np.asarray(x.numpy() > 20, dtype=x.dtype)  # a constant: 1 above the threshold
        return g * (x.sigmoid() * (1.0 - above) + above)


class Mish(Op):
    """y = x tanh(sp), sp = log(1 + e^x) = max(x, 0) + log1p(exp(-|x|));
    dx = g (t + x sigmoid(x) (1 - t²)), t = tanh(sp)."""

    name = "mish"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return x * np.tanh(_softplus(x))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        t = np.tanh(_softplus(x))
        return (g * (t + x * _sigmoid(x) * (_scalar(x.dtype, 1) - t * t)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        t = x.softplus().tanh()
        return g * (t + (x * x.sigmoid()) * (1.0 - t * t))


class Hardsigmoid(Op):
    """y = min(max(x + 3, 0), 6) / 6; dx = g / 6 for -3 < x < 3, else 0 (0 at the kinks)."""

    name = "hardsigmoid"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        t = np.minimum(np.maximum(x + _scalar(x.dtype, 3), _scalar(x.dtype, 0)), _scalar(x.dtype, 6))
        return t / _scalar(x.dtype, 6)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.where(_hardsigmoid_inside(xs[0]), g * (_scalar(g.dtype, 1) / _scalar(g.dtype, 6)),
                         _scalar(g.dtype, 0)),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        xv = x.numpy()  # piecewise linear: the local derivative as a constant
        one_sixth = _scalar(xv.dtype, 1) / _scalar(xv.dtype, 6)
        return g * np.where(_hardsigmoid_inside(xv), one_sixth, _scalar(xv.dtype, 0))


class Gelu(Op):
    """y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (exact form);
    dx = g (Phi(x) + x phi(x)), phi(x) = exp(-x²/2) / sqrt(2 pi)."""

    name = "gelu"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        half, one = _scalar(x.dtype, 0.5), _scalar(x.dtype, 1)
        return x * half * (one + _erf(x * _scalar(x.dtype, _SQRT1_2)))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        half, one = _scalar(x.dtype, 0.5), _scalar(x.dtype, 1)
        cdf = half * (one + _erf(x * _scalar(x.dtype, _SQRT1_2)))
        pdf = np.exp(-half * x * x) * _scalar(x.dtype, _1_SQRT2PI)
        return (g * (cdf + x * pdf),)

    def rule(self, g: Any, x: Any, y: Any) -> Any:
        cdf = ((x * _SQRT1_2).erf() + 1.0) * 0.5
        pdf = ((x * x) * -0.5).exp() * _1_SQRT2PI
        return g * (cdf + x * pdf)


class Sqrt(Op):
    """y = sqrt(x); dx = g / (2 y) (+inf at x = 0, no special case)."""

    name = "sqrt"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.sqrt(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g / (_scalar(y.dtype, 2) * y),)


class Reciprocal(Op):
    """y = 1 / x; dx = -g * y²."""

    name = "reciprocal"
    save_output = True

    def forward(self, x: Array) -> Array:
        return _scalar(x.dtype, 1) / x

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (-g * (y * y),)


class Abs(Op):
    """y = |x|; dx = g * sign(x) (0 at x = 0)."""

    name = "abs"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        return np.abs(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * np.sign(xs[0]),)


class Clamp(Op):
    """y = min(max(x, lo), hi) (a missing bound is skipped).

    dx = g where lo <= x <= hi (the bounds count as inside), else 0.
    """

    name = "clamp"
    save_inputs = True

    def __init__(self, lo: float | None, hi: float | None) -> None:
        super().__init__()
        self.lo = lo
        self.hi = hi

    def forward(self, x: Array) -> Array:
        y = x
        if self.lo is not None:
            y = np.maximum(y, _scalar(x.dtype, self.lo))
        if self.hi is not None:
            y = np.minimum(y, _scalar(x.dtype, self.hi))
        return np.array(y, copy=True)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= _scalar(x.dtype, self.lo)
        if self.hi is not None:
            inside &= x <= _scalar(x.dtype, self.hi)
        return (np.where(inside, g, _scalar(g.dtype, 0)),)


class Hardtanh(Op):
    """y = min(max(x, lo), hi) with lo <= hi (relu6: lo = 0, hi = 6), as x < lo ? lo : x, then that
    > hi ? hi : it (NaN stays NaN; -0 stays -0 at lo = 0).

    dx = g strictly inside, lo < x < hi, else 0 (at the bounds, as PyTorch's hardtanh_backward, and at
    NaN, as its vector loop; clamp counts the bounds as inside).
    """

    name = "hardtanh"
    save_inputs = True

    def __init__(self, lo: float, hi: float) -> None:
        super().__init__()
        self.lo = lo
        self.hi = hi

    def forward(self, x: Array) -> Array:
        lo, hi = _scalar(x.dtype, self.lo), _scalar(x.dtype, self.hi)
        y = np.where(x < lo, lo, x)
        return np.where(y > hi, hi, y)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        inside = (x > _scalar(x.dtype, self.lo)) & (x < _scalar(x.dtype, self.hi))
        return (np.where(inside, g, _scalar(g.dtype, 0)),)


class Sigmoid(Op):
    """y = 1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) for x < 0; dx = g * y * (1 - y)."""

    name = "sigmoid"
    save_output = True

    def forward(self, x: Array) -> Array:
        one = _scalar(x.dtype, 1)
        e = np.exp(-np.abs(x))  # exp(-x) for x >= 0, exp(x) for x < 0
        return np.where(x >= _scalar(x.dtype, 0), one / (one + e), e / (one + e))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * y * (_scalar(y.dtype, 1) - y),)


class Tanh(Op):
    """y = tanh(x); dx = g * (1 - y²)."""

    name = "tanh"
    save_output = True

    def forward(self, x: Array) -> Array:
        return np.tanh(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g * (_scalar(y.dtype, 1) - y * y),)


class Relu(Op):
    """y = x > 0 ? x : 0; dx = x > 0 ? g : 0."""

    name = "relu"
    save_inputs = True

    def forward(self, x: Array) -> Array:
        zero = _scalar(x.dtype, 0)
        return np.where(x > zero, x, zero)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        zero = _scalar(g.dtype, 0)
        return (np.where(xs[0] > zero, g, zero),)


class LeakyRelu(Op):
    """y = x > 0 ? x : s * x; dx = x > 0 ? g : s * g."""

    name = "leaky_relu"
    save_inputs = True

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: Array) -> Array:
        s = _scalar(x.dtype, self.slope)
        return np.where(x > _scalar(x.dtype, 0), x, s * x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        s = _scalar(g.dtype, self.slope)
        return (np.where(xs[0] > _scalar(g.dtype, 0), g, s * g),)


class Elu(Op):
    """y = x > 0 ? x : a * expm1(x); dx = x > 0 ? g : g * a * exp(x)."""

    name = "elu"
    save_inputs = True

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Array) -> Array:
        a = _scalar(x.dtype, self.alpha)
        with np.errstate(over="ignore"):
            return np.where(x > _scalar(x.dtype, 0), x, a * np.expm1(x))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        a = _scalar(x.dtype, self.alpha)
        return (np.where(x > _scalar(x.dtype, 0), g, g * (a * np.exp(x))),)


class Cast(Op):
    """y = x converted to ``dtype``; dx = g converted back to x's dtype."""

    name = "cast"

    def __init__(self, dtype: np.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: Array) -> Array:
        return to_dtype(x, self.dtype)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g.astype(self.in_dtypes[0]),)


# ----------------------------------------------------------- reductions ---


class Reduction(Op):
    """Base of the reductions over ``axes`` (a sorted tuple of non-negative axes)."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        super().__init__()
        self.axes = axes
        self.keepdims = keepdims

    def _keep(self, a: Array) -> Array:
        """``a`` (reduced shape) reshaped to keep the reduced axes as size 1."""
        shape = tuple(1 if i in self.axes else s for i, s in enumerate(self.in_shapes[0]))
        return np.reshape(a, shape)

    def _count(self) -> int:
        """Number of input elements reduced into each output element."""
        n = 1
        for i in self.axes:
            n *= self.in_shapes[0][i]
        return n


class Sum(Reduction):
    """y = Σ_axes x; dx = g broadcast back over the reduced axes."""

    name = "sum"

    def forward(self, x: Array) -> Array:  # bool and integer sums are int64 (PyTorch's rule)
        return np.sum(x, axis=self.axes, keepdims=self.keepdims, dtype=None if x.dtype.kind == "f" else np.int64)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.broadcast_to(self._keep(g), self.in_shapes[0]),)


class Mean(Reduction):
    """y = (Σ_axes x) / n with n the number of reduced elements (nan when n = 0); dx = g / n."""

    name = "mean"

    def forward(self, x: Array) -> Array:
        n = _scalar(x.dtype, self._count())
        return np.sum(x, axis=self.axes, keepdims=self.keepdims) / n

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        n = _scalar(g.dtype, self._count())
        return (np.broadcast_to(self._keep(g) / n, self.in_shapes[0]),)


class Extreme(Reduction):
    """max/min over axes; dx = (g / k) at each of the k tied extremes (the NaNs, if the extreme
    is NaN), 0 elsewhere."""

    save_inputs = True
    save_output = True

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x = xs[0]
        m = self._keep(y)
        hit = (x == m) | (np.isnan(x) & np.isnan(m))  # (x.shape) bool: the extremes (NaNs, if it is NaN)
        count = np.sum(hit, axis=self.axes, keepdims=True).astype(x.dtype)
        share = self._keep(g) / count  # g split equally among the ties
        return (np.where(hit, share, _scalar(x.dtype, 0)),)


class Max(Extreme):
    """y = max over axes (values only)."""

    name = "max"

    def forward(self, x: Array) -> Array:
        return np.max(x, axis=self.axes, keepdims=self.keepdims)


class Min(Extreme):
    """y = min over axes (values only)."""

    name = "min"

    def forward(self, x: Array) -> Array:
        return np.min(x, axis=self.axes, keepdims=self.keepdims)


class Softmax(Op):
    """y = exp(x - m) / Σ exp(x - m) along ``axis`` (m the max along axis).

    dx = y * (g - Σ_axis g * y).
    """

    name = "softmax"
    save_output = True

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Array) -> Array:
        if x.size == 0:
            return x.copy()
        m = np.max(x, axis=self.axis, keepdims=True)
        e = np.exp(x - m)
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (y * (g - np.sum(g * y, axis=self.axis, keepdims=True)),)


class LogSoftmax(Op):
    """y = (x - m) - log Σ exp(x - m) along ``axis``; dx = g - exp(y) * Σ_axis g."""

    name = "log_softmax"
    save_output = True

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Array) -> Array:
        if x.size == 0:
            return x.copy()
        m = np.max(x, axis=self.axis, keepdims=True)
        s = np.sum(np.exp(x - m), axis=self.axis, keepdims=True)
        return (x - m) - np.log(s)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g - np.exp(y) * np.sum(g, axis=self.axis, keepdims=True),)


# ------------------------------------------------------------ nn ops ---


class Prelu(Op):
    """y = x > 0 ? x : w_c * x, with c the channel (axis 1), or one shared slope.

    Inputs ``(x, w)``; ``w`` has shape (1,) or (C,) with C = x.shape[1].
    dx = x > 0 ? g : w_c * g (slope w_c at x = 0);
    dw_c = Σ over channel c of (x > 0 ? 0 : g * x).
    """

    name = "prelu"
    save_inputs = True

    def _slopes(self, w: Array, ndim: int) -> Array:
        """``w`` shaped to broadcast against x: a scalar, or (1, C, 1, ...)."""
        if w.shape[0] == 1:
            return w.reshape(())
        return w.reshape((1, w.shape[0]) + (1,) * (ndim - 2))

    def forward(self, x: Array, w: Array) -> Array:
        return np.where(x > _scalar(x.dtype, 0), x, self._slopes(w, x.ndim) * x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, w = xs
        zero = _scalar(g.dtype, 0)
        positive = x > zero
        dx = np.where(positive, g, self._slopes(w, x.ndim) * g)
        contrib = np.where(positive, zero, g * x)
        if w.shape[0] == 1:
            dw = np.sum(contrib).reshape(1)
        else:
            dw = np.sum(contrib, axis=tuple(a for a in range(x.ndim) if a != 1))
        return dx, dw.astype(w.dtype)


class Maxout(Op):
    """y[..., c] = max_k x[..., c * pieces + k]: x (..., C * pieces) -> (..., C).

    dx = g / k at each of the k elements of a group equal to its maximum, 0 elsewhere.
    """

    name = "maxout"
    save_inputs = True
    save_output = True

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def _groups(self, x: Array) -> Array:
        """x viewed as (..., C, pieces)."""
        return x.reshape(x.shape[:-1] + (x.shape[-1] // self.pieces, self.pieces))

    def forward(self, x: Array) -> Array:
        return np.max(self._groups(x), axis=-1)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        hit = self._groups(x) == y[..., np.newaxis]
        count = np.sum(hit, axis=-1, keepdims=True).astype(x.dtype)
        share = g[..., np.newaxis] / count
        return (np.where(hit, share, _scalar(x.dtype, 0)).reshape(x.shape),)


class CrossEntropy(Op):
    """Softmax cross-entropy of integer labels, with m_i = max_j x_ij:

    L_i = log Σ_j exp(x_ij - m_i) - (x_i,y_i - m_i), reduced by ``"mean"``,
    ``"sum"`` or ``"none"``; dx_ij = c_i (softmax(x_i)_j - [j == y_i]) with
    c_i = g_i, g or g / K. Rows labelled ``ignore_index`` (when not None) give
    L_i = 0 and dx_i = 0; K is the number of the other rows (N without one).
    """

    name = "cross_entropy"
    save_inputs = True

    def __init__(self, labels: Array, reduction: str, ignore_index: int | None = None) -> None:
        super().__init__()
        self.kept = np.ones(labels.shape, dtype=bool) if ignore_index is None else labels != ignore_index
        self.labels = np.where(self.kept, labels, 0)
        self.reduction = reduction

    def _shifted(self, x: Array) -> tuple[Array, Array]:
        """(x - m, Σ exp(x - m)) per row (an infinite max is replaced by 0)."""
        m = np.max(x, axis=1, keepdims=True)
        m = np.where(np.isinf(m), _scalar(x.dtype, 0), m)
        z = x - m
        return z, np.sum(np.exp(z), axis=1)

    def forward(self, x: Array) -> Array:
        z, s = self._shifted(x)
        losses = np.where(self.kept, np.log(s) - z[np.arange(x.shape[0]), self.labels], _scalar(x.dtype, 0))
        if self.reduction == "none":
            return losses
        total = np.sum(losses)
        return total / _scalar(x.dtype, np.count_nonzero(self.kept)) if self.reduction == "mean" else total

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        z, s = self._shifted(x)
        p = np.exp(z) / s[:, np.newaxis]
        p[np.arange(x.shape[0]), self.labels] -= _scalar(x.dtype, 1)
        if self.reduction == "none":
            c = g[:, np.newaxis]
        elif self.reduction == "sum":
            c = g
        else:
            c = g / _scalar(g.dtype, np.count_nonzero(self.kept))
        dx = c * p
        dx[~self.kept] = 0  # never multiplied (an infinite g_i of an ignored row gives 0, not NaN)
        return (dx,)


class NllLoss(Op):
    """Negative log-likelihood of log-probabilities x (N, C) at integer labels, with class
    weights w (all 1 when the weight input is 0-d) and label smoothing ε:

    L_i = -(1 - ε) w_yᵢ x_i,yᵢ - (ε / C) Σ_j w_j x_ij  (ε = 0: L_i = -w_yᵢ x_i,yᵢ)

    on the rows whose label is not ``ignore_index``, 0 on the others; "mean" divides Σ L_i by
    W = Σ_kept w_yᵢ. Linear in x: dx_ij = -c_i m_ij, m_ij = (ε / C) w_j + [j = y_i] (1 - ε) w_yᵢ
    on kept rows, c_i = g_i, g or g / W. The weight is a constant (no gradient)."""

    name = "nll_loss"
    save_inputs = True

    def __init__(self, labels: Array, ignore_index: int, reduction: str, smoothing: float) -> None:
        super().__init__()
        self.kept = labels != ignore_index
        self.labels = np.where(self.kept, labels, 0)
        self.reduction = reduction
        self.smoothing = float(smoothing)

    def _weights(self, x: Array, w: Array) -> Array:
        return np.ones(x.shape[1], dtype=x.dtype) if w.ndim == 0 else w

    def _denominator(self, w: Array) -> float:
        return float(np.sum(w[self.labels[self.kept]].astype(np.float64)))

    def local(self, x: Array, w: Array) -> Array:
        """m (N, C) as above: dx = -c m."""
        n, c = x.shape
        eps = self.smoothing
        wy = w[self.labels]
        if eps == 0:
            m = np.zeros(x.shape, dtype=x.dtype)
            m[np.arange(n), self.labels] = wy
        else:
            m = np.broadcast_to(_scalar(x.dtype, eps / c) * w, x.shape).copy()
            m[np.arange(n), self.labels] += _scalar(x.dtype, 1.0 - eps) * wy
        m[~self.kept] = 0
        return m

    def forward(self, x: Array, w: Array) -> Array:
        n, c = x.shape
        w = self._weights(x, w)
        eps = self.smoothing
        wy = w[self.labels]
        picked = wy * x[np.arange(n), self.labels]
        if eps == 0:
            losses = -picked
        else:
            b = np.zeros(n, dtype=x.dtype)
            for k in range(c):  # the C kernel's order: Σ_j in column order
                b = b + w[k] * x[:, k]
            losses = -(_scalar(x.dtype, 1.0 - eps) * picked) - _scalar(x.dtype, eps / c) * b
        losses = np.where(self.kept, losses, _scalar(x.dtype, 0))
        if self.reduction == "none":
            return losses
        total = float(np.sum(losses.astype(np.float64)))
        if self.reduction == "mean":
            total /= self._denominator(w)
        return np.asarray(total, dtype=x.dtype)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, w = xs
        w = self._weights(x, w)
        if self.reduction == "none":
            c = g[:, np.newaxis]
        elif self.reduction == "sum":
            c = g
        else:
            c = g / _scalar(g.dtype, self._denominator(w))
        n = x.shape[0]
        if self.smoothing == 0:  # only the label's entry is multiplied (an infinite g gives no NaN elsewhere)
            dx = np.zeros(x.shape, dtype=x.dtype)
            dx[np.arange(n), self.labels] = -(np.broadcast_to(c.reshape(-1), (n,)) * w[self.labels])
        else:
            dx = -(c * self.local(x, w))
        dx[~self.kept] = 0  # never multiplied (an infinite g_i of an ignored row gives 0, not NaN)
        return (dx, None)


class OneHot(Op):
    """y[..., c] = 1 where labels[...] = c, else 0: int64 of shape labels.shape + (C,), labels an
    integer array with values in [0, C) (checked by the caller); an integer result, no gradient."""

    name = "one_hot"

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)

    def forward(self, labels: Array) -> Array:
        classes = np.arange(self.num_classes, dtype=np.int64)
        return (labels.astype(np.int64)[..., np.newaxis] == classes).astype(np.int64)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (None,)


def _reduced_losses(losses: Array, reduction: str) -> Array:
    """Elementwise losses reduced as the fused loss ops reduce them: "none" as they are; "sum" and "mean"
    (over numel: NaN when empty) added in float64, the result in the losses' dtype."""
    if reduction == "none":
        return losses
    total = np.sum(losses.astype(np.float64))
    if reduction == "mean":
        with np.errstate(invalid="ignore"):  # 0 / 0 for an empty input: NaN
            total = total / np.float64(losses.size)
    return np.asarray(total, dtype=losses.dtype)


class BinaryCrossEntropy(Op):
    """PyTorch's binary cross-entropy of probabilities p in [0, 1] (checked by the caller) and targets t
    of p's shape, each loss times a weight w that broadcasts to p's shape:

    ℓ = w ((t - 1) max(log(1 - p), -100) - t max(log p, -100))

    reduced by ``"mean"`` (Σ ℓ / numel, added in float64), ``"sum"`` or ``"none"``. Backward, as PyTorch:
    dp = g (p - t) / max((1 - p) p, 1e-12) w, dt = -log(p / (1 - p)) g w (no clamp), each divided by
    numel for the mean; none to w (the caller refuses a w that requires grad, as PyTorch)."""

    name = "binary_cross_entropy"
    save_inputs = True

    def __init__(self, reduction: str) -> None:
        super().__init__()
        self.reduction = reduction

    @staticmethod
    def unweighted(p: Array, t: Array) -> Array:
        """(t - 1) max(log1p(-p), -100) - t max(log p, -100), in p's dtype."""
        one, floor = _scalar(p.dtype, 1), _scalar(p.dtype, -100)
        with np.errstate(divide="ignore"):  # log 0 = -inf, clamped
            a = np.maximum(np.log1p(-p), floor)
            b = np.maximum(np.log(p), floor)
        return (t - one) * a - t * b

    def _scaled(self, v: Array) -> Array:
        """v / numel for the mean, else v."""
        return v / _scalar(v.dtype, int(np.prod(self.in_shapes[0]))) if self.reduction == "mean" else v

    def forward(self, p: Array, t: Array, w: Array) -> Array:
        return _reduced_losses(self.unweighted(p, t) * w, self.reduction)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        p, t, w = xs
        one = _scalar(p.dtype, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            den = np.maximum((one - p) * p, _scalar(p.dtype, 1e-12))
            dp = self._scaled(g * (p - t) / den * w)
            dt = self._scaled(-np.log(p / (one - p)) * g * w)
        return dp, dt, None


def nonfinite_norm_message(norm_type: float, value: float) -> str:
    """clip_grad_norm_'s error for a total norm of order ``norm_type`` that is ``value`` (NaN or ±inf),
    in PyTorch's words (the C op's message, word for word)."""
    return (f"clip_grad_norm_: the total norm of order {float(norm_type)} for gradients from `parameters` is "
            f"non-finite ({abs(value) if math.isnan(value) else value}), so it cannot be clipped. To disable this "
            "error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")


class CheckFiniteNorm(Op):
    """y = x, a total norm of order ``norm_type``, refused (RuntimeError) when x holds a NaN or an
    infinity: ``nn.utils.clip_grad_norm_(..., error_if_nonfinite=True)``'s check, an op so that a
    compiled step checks at each run; dx = g."""

    name = "check_finite_norm"

    def __init__(self, norm_type: float) -> None:
        super().__init__()
        self.norm_type = norm_type

    def forward(self, x: Array) -> Array:
        flat = x.reshape(-1)
        bad = np.flatnonzero(~np.isfinite(flat))
        if bad.size:
            raise PygradRuntimeError(nonfinite_norm_message(self.norm_type, float(flat[bad[0]])))
        return x.copy()

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g,)


class HuberLoss(Op):
    """PyTorch's huber loss (``smooth_l1`` False: delta δ > 0) and smooth L1 loss (``smooth_l1``: beta
    β = ``delta`` >= 0) of an input x and a target t of one shape and dtype, with d = x - t, z = |d|:

    huber: ℓ = z < δ ? ½·z·z : δ·(z - ½·δ);  smooth_l1: ℓ = z < β ? ½·z·z / β : z - ½·β (β = 0: ℓ = z)

    in x's dtype (δ rounded to it), reduced by ``"mean"`` (Σ ℓ in float64 / numel), ``"sum"`` or
    ``"none"``. Backward: dx = u·c, dt = -dx, with u = clamp(d, -δ, δ) (huber), clamp(d / β, -1, 1)
    (smooth_l1), sign(d) with 0 at 0 and at NaN (β = 0), and c = g, or g / numel for the mean."""

    name = "huber_loss"
    save_inputs = True

    def __init__(self, reduction: str, delta: float, smooth_l1: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.delta = delta
        self.smooth_l1 = smooth_l1

    def losses(self, x: Array, t: Array) -> Array:
        """The elementwise ℓ, in x's dtype."""
        half, d = _scalar(x.dtype, 0.5), _scalar(x.dtype, self.delta)
        z = np.abs(x - t)
        if not self.smooth_l1:
            return np.where(z < d, half * z * z, d * (z - half * d))
        if self.delta == 0:
            return z
        with np.errstate(invalid="ignore"):
            return np.where(z < d, half * z * z / d, z - half * d)

    def local(self, x: Array, t: Array) -> Array:
        """u = dℓ/dd, in x's dtype."""
        d, one, zero = x - t, _scalar(x.dtype, 1), _scalar(x.dtype, 0)
        delta = _scalar(x.dtype, self.delta)
        if not self.smooth_l1:
            return np.where(d < -delta, -delta, np.where(d > delta, delta, d))
        if self.delta == 0:
            return np.where(d > zero, one, np.where(d < zero, -one, zero))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d < -delta, -one, np.where(d > delta, one, d / delta))

    def forward(self, x: Array, t: Array) -> Array:
        return _reduced_losses(self.losses(x, t), self.reduction)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, t = xs
        c = g / _scalar(g.dtype, x.size) if self.reduction == "mean" else g
        dx = self.local(x, t) * c
        return dx, -dx


# ---------------------------------------------------------------- shape ---


class Reshape(Op):
    """y = x viewed with ``shape`` (same memory); dx = g reshaped to x's shape."""

    name = "reshape"
    is_view = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Array) -> Array:
        return x.reshape(self.shape)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.reshape(g, self.in_shapes[0]),)


class Permute(Op):
    """y = x with axes reordered by ``perm`` (a contiguous copy); dx = g permuted back."""

    name = "permute"

    def __init__(self, perm: tuple[int, ...]) -> None:
        super().__init__()
        self.perm = perm

    def forward(self, x: Array) -> Array:
        return np.transpose(x, self.perm).copy()

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (np.transpose(g, np.argsort(self.perm)),)


class GetItem(Op):
    """y = x[key] with numpy indexing (a copy); dx = zeros, then dx[key] += g with
    repeated indices accumulating (``np.add.at``)."""

    name = "getitem"

    def __init__(self, key: Any) -> None:
        super().__init__()
        self.key = key

    def forward(self, x: Array) -> Array:
        return np.array(x[self.key], copy=True)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        dx = np.zeros(self.in_shapes[0], dtype=self.in_dtypes[0])
        np.add.at(dx, self.key, g)
        return (dx,)


class Concatenate(Op):
    """y = inputs joined along ``axis``; each dx_i = the slice of g it came from."""

    name = "concatenate"

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        return np.concatenate(xs, axis=self.axis)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        offsets = np.cumsum([s[self.axis] for s in self.in_shapes])[:-1]
        return np.split(g, offsets, axis=self.axis)


class Stack(Op):
    """y = inputs stacked along a new ``axis``; dx_i = g taken at index i of that axis."""

    name = "stack"

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        return np.stack(xs, axis=self.axis)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return [np.take(g, i, axis=self.axis) for i in range(len(self.in_shapes))]


class ScatterAdd(Op):
    """y = zeros(shape); y.flat[offsets[i]] += x.flat[i] (repeats add); dx = g.flat[offsets]."""

    name = "scatter_add"

    def __init__(self, shape: tuple[int, ...], offsets: Array) -> None:
        super().__init__()
        self.shape = shape
        self.offsets = offsets

    def forward(self, x: Array) -> Array:
        out = np.zeros(int(np.prod(self.shape, dtype=np.int64)), dtype=x.dtype)
        np.add.at(out, self.offsets, x.reshape(-1))
        return out.reshape(self.shape)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (g.reshape(-1)[self.offsets].reshape(self.in_shapes[0]),)


class Custom(Op):
    """A user-defined op: the forward value was computed by the caller;
    backward calls ``fn(g)`` (g a numpy array), which returns one gradient
    (array or None) per input."""

    name = "custom"

    def __init__(self, value: Array, fn: Callable[[Array], Sequence[Any]], tensor_fn: Any = None) -> None:
        super().__init__()
        self.value = value
        self.fn = fn
        self.tensor_fn = tensor_fn  # the caller's backward on Tensors, for create_graph

    def forward(self, *xs: Array) -> Array:
        return self.value

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        grads = list(self.fn(g))
        for i, (gi, shape, dtype) in enumerate(zip(grads, self.in_shapes, self.in_dtypes)):
            if gi is None:
                continue
            gi = np.asarray(gi)
            if gi.shape != shape or gi.dtype != dtype:
                raise ShapeError(
                    f"custom: the gradient for input {i} is {gi.dtype} {gi.shape} but the input is {dtype} {shape}")
            grads[i] = gi
        return grads


class LogSumExp(Reduction):
    """y = m + log Σ_axes exp(x - m), m the maximum (0 where not finite; -inf over no
    elements); dx = g·exp(x - y), the softmax of x times g."""

    name = "logsumexp"
    save_inputs = True
    save_output = True

    def forward(self, x: Array) -> Array:
        kept = tuple(1 if i in self.axes else s for i, s in enumerate(x.shape))
        if self._count() == 0:
            y = np.full(kept, -np.inf, dtype=x.dtype)
        else:
            m = np.max(x, axis=self.axes, keepdims=True)
            m = np.where(np.isinf(m), _scalar(x.dtype, 0), m)
            with np.errstate(divide="ignore"):
                y = m + np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True))
        return y if self.keepdims else np.reshape(y, tuple(s for i, s in enumerate(x.shape) if i not in self.axes))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self._keep(g) * np.exp(xs[0] - self._keep(y)),)


class Norm(Reduction):
    """y = √Σ_axes x², the sum in float64 (a float32 norm neither overflows nor underflows) and, for
    float64 x, taken again as m·√Σ (x/m)² with m = max |x| where Σ x² is infinite or below 2⁻⁹⁶⁰ (inf
    where an element is, 0 where all are 0); dx = x·(g / y), 0 where y = 0, and (x / y)·g where g / y
    overflows (y tiny; |x / y| <= 1)."""

    name = "norm"
    save_inputs = True
    save_output = True

    def forward(self, x: Array) -> Array:
        axes = self.axes
        x64 = x.astype(np.float64)
        s = np.sum(x64 * x64, axis=axes, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.sqrt(s)
            if x.dtype == np.float64:
                redo = np.isinf(s) | (s < 2.0 ** -960)
                if np.any(redo):
                    m = np.max(np.abs(x64), axis=axes, keepdims=True, initial=0.0)
                    q = np.sum((x64 / m) ** 2, axis=axes, keepdims=True)
                    scaled = np.where(np.isinf(m) | (m == 0), m, m * np.sqrt(q))
                    r = np.where(redo, scaled, r)
        y = r.astype(x.dtype)
        return y if self.keepdims else np.reshape(y, tuple(s for i, s in enumerate(x.shape) if i not in axes))

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        yk, gk = self._keep(y), self._keep(g)
        zero = yk == _scalar(y.dtype, 0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            s = np.where(zero, _scalar(y.dtype, 0), gk / np.where(zero, _scalar(y.dtype, 1), yk))
            over = np.isinf(s) & np.isfinite(gk)
            dx = xs[0] * s
            if np.any(over):
                dx = np.where(over, xs[0] / yk * gk, dx)
        return (dx,)


class CumSum(Op):
    """y_i = Σ_{j≤i} x_j along ``axis`` (``reverse``: Σ_{j≥i}); dx = the running sum of g the other way."""

    name = "cumsum"

    def __init__(self, axis: int, reverse: bool = False) -> None:
        super().__init__()
        self.axis = axis
        self.reverse = reverse

    @staticmethod
    def scan(a: Array, axis: int, reverse: bool) -> Array:
        if a.ndim == 0:
            return a.copy()
        if reverse:
            return np.flip(np.cumsum(np.flip(a, axis), axis=axis), axis)
        return np.cumsum(a, axis=axis)

    def forward(self, x: Array) -> Array:
        return self.scan(x, self.axis, self.reverse)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.scan(g, self.axis, not self.reverse),)


class IndexMap(Op):
    """y[i₀, ..., iₙ₋₁] = x[map₀[i₀], ..., mapₙ₋₁[iₙ₋₁]], one index vector per dim;
    dx[map₀[i₀], ...] += g[i₀, ...] (repeated indices add)."""

    name = "index_map"

    def __init__(self, maps: tuple[Array, ...]) -> None:
        super().__init__()
        self.maps = maps

    def forward(self, x: Array) -> Array:
        return x[np.ix_(*self.maps)] if self.maps else x.copy()

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        dx = np.zeros(self.in_shapes[0], dtype=g.dtype)
        if self.maps:
            np.add.at(dx, np.ix_(*self.maps), g)
        else:
            dx += g
        return (dx,)

    def offsets(self) -> Array:
        """The flat offset into x of every element of y."""
        shape = self.in_shapes[0]
        idx = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
        return idx[np.ix_(*self.maps)] if self.maps else idx


class CumProd(Op):
    """y_i = Π_{j≤i} x_j along ``axis``; dx_i = y_{i-1}·r_i with r_i = g_i + x_{i+1}·r_{i+1} (r_{n-1} = g_{n-1},
    y_{-1} = 1): Σ_{j≥i} g_j Π_{k≤j, k≠i} x_k without a division, exact with zeros in x."""

    name = "cumprod"
    save_inputs = True
    save_output = True

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Array) -> Array:
        return x.copy() if x.ndim == 0 else np.cumprod(x, axis=self.axis)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        if g.ndim == 0:
            return (g.copy(),)
        x, yy, gg = (np.moveaxis(a, self.axis, 0) for a in (xs[0], y, g))
        dx = np.empty_like(gg)
        n = gg.shape[0]
        r = np.zeros_like(gg[0])
        for j in range(n - 1, -1, -1):
            r = gg[j] + x[j + 1] * r if j < n - 1 else gg[j].copy()
            dx[j] = yy[j - 1] * r if j else r
        return (np.moveaxis(dx, 0, self.axis),)


class Pad(Op):
    """y[o] = x[o - lo] where every o_d - lo_d is in [0, x.shape[d]), ``value`` elsewhere (lo < 0 crops);
    dx = g cropped back (g[i + lo]), 0 where x was cropped."""

    name = "pad"

    def __init__(self, lo: Sequence[int], hi: Sequence[int], value: float) -> None:
        super().__init__()
        self.lo, self.hi, self.value = tuple(lo), tuple(hi), value

    def _slices(self, shape: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """The slices of x and of y that hold the same elements."""
        xs, ys = [], []
        for n, lo, hi in zip(shape, self.lo, self.hi):
            a, b = max(-lo, 0), n - max(-hi, 0)  # the part of x kept
            k = max(b - a, 0)
            xs.append(slice(a, a + k))
            ys.append(slice(max(lo, 0), max(lo, 0) + k))
        return tuple(xs), tuple(ys)

    def forward(self, x: Array) -> Array:
        shape = tuple(n + lo + hi for n, lo, hi in zip(x.shape, self.lo, self.hi))
        y = np.full(shape, self.value, dtype=x.dtype)
        xs, ys = self._slices(x.shape)
        y[ys] = x[xs]
        return y

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        dx = np.zeros(self.in_shapes[0], dtype=g.dtype)
        sx, sy = self._slices(self.in_shapes[0])
        dx[sx] = g[sy]
        return (dx,)


class Tril(Op):
    """y = x where j - i ≤ k in its last two dims, 0 elsewhere; dx = tril(g, k)."""

    name = "tril"
    upper = False

    def __init__(self, diagonal: int) -> None:
        super().__init__()
        self.diagonal = diagonal

    def forward(self, x: Array) -> Array:
        return np.triu(x, self.diagonal) if self.upper else np.tril(x, self.diagonal)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.forward(g),)


class Triu(Tril):
    """y = x where j - i ≥ k in its last two dims, 0 elsewhere; dx = triu(g, k)."""

    name = "triu"
    upper = True


class _ConvBase(Op):
    """Shared by the conv2d op and its two gradient ops: the parameters (stride and dilation (h, w),
    padding (top, bottom, left, right), groups) and the three products, written as a sum over kernel
    offsets (i, j) of strided windows of the padded input:

        y[n, o, a, b] = Σ_{c, i, j} xpad[n, c, a·sh + i·dh, b·sw + j·dw] w[o, c, i, j]   (per group)
    """

    save_inputs = True

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int, int, int], dilation: tuple[int, int],
                 groups: int) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def out_hw(self, h: int, w: int, kh: int, kw: int) -> tuple[int, int]:
        (sh, sw), (pt, pb, pl, pr), (dh, dw) = self.stride, self.padding, self.dilation
        return (h + pt + pb - dh * (kh - 1) - 1) // sh + 1, (w + pl + pr - dw * (kw - 1) - 1) // sw + 1

    def _windows(self, hp: int, wp: int, kh: int, kw: int, oh: int, ow: int):
        (sh, sw), (dh, dw) = self.stride, self.dilation
        for i in range(kh):
            for j in range(kw):
                yield i, j, (Ellipsis, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                             slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))

    def conv(self, x: Array, w: Array) -> Array:
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        g = self.groups
        oh, ow = self.out_hw(h, wd, kh, kw)
        pt, pb, pl, pr = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))).reshape(n, g, cg, h + pt + pb, wd + pl + pr)
        wg = w.reshape(g, o // g, cg, kh, kw)
        y = np.zeros((n, g, o // g, oh, ow), dtype=x.dtype)
        for i, j, win in self._windows(xp.shape[3], xp.shape[4], kh, kw, oh, ow):
            y += np.einsum("ngcab,goc->ngoab", xp[win], wg[..., i, j])
        return y.reshape(n, o, oh, ow)

    def conv_t(self, gy: Array, w: Array, h: int, wd: int) -> Array:
        """The adjoint of conv in x: Σ over windows of gy·w scattered back into the padded input."""
        n, o, oh, ow = gy.shape
        _, cg, kh, kw = w.shape
        g = self.groups
        pt, pb, pl, pr = self.padding
        dxp = np.zeros((n, g, cg, h + pt + pb, wd + pl + pr), dtype=gy.dtype)
        gg = gy.reshape(n, g, o // g, oh, ow)
        wg = w.reshape(g, o // g, cg, kh, kw)
        for i, j, win in self._windows(dxp.shape[3], dxp.shape[4], kh, kw, oh, ow):
            dxp[win] += np.einsum("ngoab,goc->ngcab", gg, wg[..., i, j])
        return dxp[..., pt:pt + h, pl:pl + wd].reshape(n, g * cg, h, wd)

    def conv_w(self, x: Array, gy: Array, kh: int, kw: int) -> Array:
        """The adjoint of conv in w: Σ_n, a, b gy[n, o, a, b] xpad[n, c, window (i, j)]."""
        n, c, h, wd = x.shape
        o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
        g = self.groups
        cg = c // g
        pt, pb, pl, pr = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))).reshape(n, g, cg, h + pt + pb, wd + pl + pr)
        gg = gy.reshape(n, g, o // g, oh, ow)
        dw = np.zeros((g, o // g, cg, kh, kw), dtype=x.dtype)
        for i, j, win in self._windows(xp.shape[3], xp.shape[4], kh, kw, oh, ow):
            dw[..., i, j] = np.einsum("ngoab,ngcab->goc", gg, xp[win])
        return dw.reshape(o, cg, kh, kw)


class Conv2d(_ConvBase):
    """y = conv(x, w): x (N, C, H, W), w (O, C/G, KH, KW) -> (N, O, OH, OW);
    dx = conv_t(g, w), dw = conv_w(x, g)."""

    name = "conv2d"

    def forward(self, x: Array, w: Array) -> Array:
        return self.conv(x, w)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, w = xs
        return self.conv_t(g, w, x.shape[2], x.shape[3]), self.conv_w(x, g, w.shape[2], w.shape[3])


class Conv2dInputGrad(_ConvBase):
    """dx = conv_t(gy, w) for an input (H, W), linear in both: d gy = conv(g, w), d w = conv_w(g, gy)."""

    name = "conv2d_input_grad"

    def __init__(self, input_size: tuple[int, int], *args: Any) -> None:
        super().__init__(*args)
        self.size = input_size

    def forward(self, gy: Array, w: Array) -> Array:
        return self.conv_t(gy, w, *self.size)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        gy, w = xs
        return self.conv(g, w), self.conv_w(g, gy, w.shape[2], w.shape[3])


class Conv2dWeightGrad(_ConvBase):
    """dw = conv_w(x, gy) for a kernel (KH, KW), linear in both: d x = conv_t(gy, g), d gy = conv(x, g)."""

    name = "conv2d_weight_grad"

    def __init__(self, kernel_size: tuple[int, int], *args: Any) -> None:
        super().__init__(*args)
        self.size = kernel_size

    def forward(self, x: Array, gy: Array) -> Array:
        return self.conv_w(x, gy, *self.size)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, gy = xs
        return self.conv_t(gy, g, x.shape[2], x.shape[3]), self.conv(x, g)



class _Norm(Op):
    """Shared by batch_norm, layer_norm and group_norm: x seen as the affine view A = (N, C, S) with w, b
    one value per channel (layer_norm: x (M, K) as (M, K, 1), w per element of the normalized shape), and
    as the statistics view V, whose dims ``axes`` are reduced (batch: (N, C, S) over 0 and 2; group:
    (N, G, C/G·S) over 2; layer: (M, 1, K) over 2)::

        mean = Σ x / cnt, var = Σ (x - mean)² / cnt (biased), rstd = 1 / sqrt(var + eps)
        xhat = (x - mean) rstd,  y = xhat w + b
        dxhat = g w,  dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))  (eval: rstd dxhat)
        dw = Σ g xhat,  db = Σ g   (over N and S)

    Inputs (x, w, b); ``mean`` and ``var`` (shape of V with the reduced dims 1) are kept from forward
    for backward. batch_norm's eval mode takes them from the running statistics instead."""

    save_inputs = True
    axes: tuple[int, ...] = (2,)

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.training = True
        self.mean: Array | None = None
        self.var: Array | None = None

    def views(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The affine view A and the statistics view V of an input of ``shape``."""
        raise NotImplementedError

    def forward(self, x: Array, w: Array, b: Array) -> Array:
        a, v = self.views(x.shape)
        xv = x.reshape(v)
        if self.training:
            self.mean = xv.mean(axis=self.axes, keepdims=True)
            self.var = np.square(xv - self.mean).mean(axis=self.axes, keepdims=True)
        rstd = 1 / np.sqrt(self.var + _scalar(x.dtype, self.eps))
        xhat = ((xv - self.mean) * rstd).reshape(a)
        return (xhat * w.reshape(1, a[1], 1) + b.reshape(1, a[1], 1)).reshape(x.shape)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        x, w, b = xs
        a, v = self.views(x.shape)
        rstd = 1 / np.sqrt(self.var + _scalar(x.dtype, self.eps))
        xhat = (x.reshape(v) - self.mean) * rstd
        ga = g.reshape(a)
        dw = (ga * xhat.reshape(a)).sum(axis=(0, 2)).reshape(w.shape)
        db = ga.sum(axis=(0, 2)).reshape(b.shape)
        dxh = (ga * w.reshape(1, a[1], 1)).reshape(v)
        if self.training:
            dx = rstd * (dxh - dxh.mean(axis=self.axes, keepdims=True)
                         - xhat * (dxh * xhat).mean(axis=self.axes, keepdims=True))
        else:
            dx = dxh * rstd
        return dx.reshape(x.shape), dw, db


class BatchNorm(_Norm):
    """batch_norm: a statistic per channel c of x (N, C, *), over (N, *)."""

    name = "batch_norm"
    axes = (0, 2)

    def views(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        a = (shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64)))
        return a, a


class LayerNorm(_Norm):
    """layer_norm: a statistic per leading index of x (..., *normalized_shape)."""

    name = "layer_norm"

    def __init__(self, normalized_ndim: int, eps: float) -> None:
        super().__init__(eps)
        self.nrm = normalized_ndim

    def views(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        m = int(np.prod(shape[:len(shape) - self.nrm], dtype=np.int64))
        k = int(np.prod(shape[len(shape) - self.nrm:], dtype=np.int64))
        return (m, k, 1), (m, 1, k)


class GroupNorm(_Norm):
    """group_norm: a statistic per (n, group) of x (N, C, *), over the group's C/G channels and *."""

    name = "group_norm"

    def __init__(self, num_groups: int, eps: float) -> None:
        super().__init__(eps)
        self.groups = num_groups

    def views(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n, c = shape[0], shape[1]
        s = int(np.prod(shape[2:], dtype=np.int64))
        return (n, c, s), (n, self.groups, c // self.groups * s)


def dropout_keep(seed: int, shape: tuple[int, ...]) -> Array:
    """The dropout mask's hash for flat indices 0..n-1, as uint32 (the C engine's pg__dropout_hash):

        h(i) = mix(mix(lo ^ k0) ^ (k1 + hi · 0x9e3779b9)),  i = hi·2³² + lo,  seed = k1·2³² + k0,
        mix(x): x ^= x >> 16; x *= 0x21f0aaad; x ^= x >> 15; x *= 0x735a2d97; x ^= x >> 15  (mod 2³²)
    """
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.uint64)
    lo = (i & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    hi = (i >> np.uint64(32)).astype(np.uint32)
    k0 = np.uint32(seed & 0xFFFFFFFF)
    k1 = np.uint32((seed >> 32) & 0xFFFFFFFF)

    def mix(x: Array) -> Array:
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x21F0AAAD)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(0x735A2D97)
        return x ^ (x >> np.uint32(15))

    with np.errstate(over="ignore"):
        return mix(mix(lo ^ k0) ^ (k1 + hi * np.uint32(0x9E3779B9))).reshape(shape)


def random_bits(seed: int, counters: Array) -> Array:
    """The random ops' 64 bits for each counter (the C engine's pg__rng_bits: SplitMix64's output c):

        bits(seed, c) = fmix64(key + (c + 1) · 0x9e3779b97f4a7c15),  key = fmix64(seed ^ 0x6a09e667f3bcc909),
        fmix64(z): z = (z ^ z >> 30) · 0xbf58476d1ce4e5b9; z = (z ^ z >> 27) · 0x94d049bb133111eb; z ^ z >> 31
    (mod 2⁶⁴); ``counters`` uint64."""
    return _keyed_bits(_rng_key(seed), counters)


def _fmix64(z: Array) -> Array:
    """SplitMix64's finaliser, mod 2⁶⁴ (uint64)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _rng_key(seed: int) -> np.uint64:
    """key = fmix64(seed ^ 0x6a09e667f3bcc909)."""
    return _fmix64(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) ^ np.uint64(0x6A09E667F3BCC909))


def _keyed_bits(key: np.uint64, counters: Array) -> Array:
    """fmix64(key + (c + 1) · 0x9e3779b97f4a7c15) for each counter c (uint64)."""
    with np.errstate(over="ignore"):
        return _fmix64(key + (counters + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15))


def _mul_wide(x: Array, span: int) -> tuple[Array, Array]:
    """The 128-bit products x · span (x uint64, span < 2⁶⁴) as (high, low) 64-bit halves, from 32-bit pieces."""
    m32 = np.uint64(0xFFFFFFFF)
    b0, b1 = np.uint64(span & 0xFFFFFFFF), np.uint64(span >> 32)
    a0, a1 = x & m32, x >> np.uint64(32)
    with np.errstate(over="ignore"):
        p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
        mid = (p00 >> np.uint64(32)) + (p01 & m32) + (p10 & m32)
        hi = p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))
        return hi, x * np.uint64(span)


def randint_values(seed: int, low: int, high: int, shape: tuple[int, ...], dtype: Any) -> Array:
    """randint of the C engine (pg_randint), bit for bit: with span = high − low and x = bits(i),

        y[i] = low + ⌊x · span / 2⁶⁴⌋, x drawn again as fmix64(key_j + (i + 1) · 0x9e3779b97f4a7c15),
        key_j = fmix64(key + j), at attempts j = 1, 2, … while (x · span) mod 2⁶⁴ < 2⁶⁴ mod span

    (Lemire's multiply-shift with rejection: exactly uniform), the int64 value converted to ``dtype``."""
    n = int(np.prod(shape, dtype=np.int64))
    span = high - low
    key = _rng_key(seed)
    i = np.arange(n, dtype=np.uint64)
    hi, lo = _mul_wide(_keyed_bits(key, i), span)
    t = np.uint64((2**64 - span) % span)
    redo, j = np.flatnonzero(lo < t), 1
    while redo.size:
        with np.errstate(over="ignore"):
            key_j = _fmix64(key + np.uint64(j))
        h, lo_j = _mul_wide(_keyed_bits(key_j, i[redo]), span)
        hi[redo] = h
        redo, j = redo[lo_j < t], j + 1
    with np.errstate(over="ignore"):
        v = (hi + np.uint64(low & 0xFFFFFFFFFFFFFFFF)).view(np.int64)
    return v.astype(np.dtype(dtype)).reshape(shape)


def _random_log(u: Array) -> Array:
    """log u for u in (0, 1], as the C engine computes it: u = m · 2^e with m in [√½, √2),
    log u = e · ln2 + 2 atanh s, s = (m − 1)/(m + 1), atanh s = s Σ_{j ≤ 11} s^2j / (2j + 1) (Horner)."""
    m, e = np.frexp(u)
    small = m < 0.70710678118654752440
    m = np.where(small, m * 2.0, m)
    e = np.where(small, e - 1, e)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    q = np.full_like(s, 2.0 / 23.0)
    for j in range(10, -1, -1):
        q = 2.0 / (2 * j + 1) + s2 * q
    fe = e.astype(np.float64)
    return fe * float.fromhex("0x1.62e42fefa3800p-1") + (fe * float.fromhex("0x1.ef35793c76730p-45") + s * q)


def _random_cossin(u: Array) -> tuple[Array, Array]:
    """(cos, sin)(2π u) for u in [0, 1), as the C engine computes them: q = rint(4u) quarter turns,
    x = (4u − q) · π/2 in [−π/4, π/4], Taylor polynomials to x¹⁸ (cos) and x¹⁷ (sin) (Horner)."""
    t = 4.0 * u
    q = np.rint(t)
    x = (t - q) * float.fromhex("0x1.921fb54442d18p+0")
    x2 = x * x
    pc = np.full_like(x, -1.0 / math.factorial(18))
    for n in range(8, 1, -1):
        pc = (-1) ** n / math.factorial(2 * n) + x2 * pc
    co = 1.0 - x2 * (0.5 - x2 * pc)
    ps = np.full_like(x, 1.0 / math.factorial(17))
    for n in range(7, 1, -1):
        ps = (-1) ** n / math.factorial(2 * n + 1) + x2 * ps
    si = x - x * x2 * (1.0 / 6.0 - x2 * ps)
    quad = q.astype(np.int64) & 3
    sel = [quad == 0, quad == 1, quad == 2]
    return np.select(sel, [co, -si, -co], si), np.select(sel, [si, co, -si], -co)


def random_values(kind: str, seed: int, shape: tuple[int, ...], dtype: Any) -> Array:
    """rand (``kind`` "uniform") and randn ("normal") values of the C engine's pg_random, bit for bit:

        uniform: (bits(i) >> 11) · 2⁻⁵³ (float64), (bits(i) >> 40) · 2⁻²⁴ (float32)
        normal:  pair k = ⌊i/2⌋: u1 = ((bits(2k) >> 11) + 1) · 2⁻⁵³ ∈ (0, 1], u2 = (bits(2k+1) >> 11) · 2⁻⁵³,
                 z[2k], z[2k+1] = √(−2 log u1) · (cos, sin)(2π u2) in float64, rounded once to float32"""
    n = int(np.prod(shape, dtype=np.int64))
    dt = np.dtype(dtype)
    if kind == "uniform":
        b = random_bits(seed, np.arange(n, dtype=np.uint64))
        if dt == np.float32:
            return ((b >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)).reshape(shape)
        return ((b >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(shape)
    k = np.arange((n + 1) // 2, dtype=np.uint64)
    u1 = ((random_bits(seed, 2 * k) >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53
    u2 = (random_bits(seed, 2 * k + np.uint64(1)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    r = np.sqrt(-2.0 * _random_log(u1))
    c, s = _random_cossin(u2)
    z = np.empty(2 * k.size)
    z[0::2], z[1::2] = r * c, r * s
    return z[:n].astype(dt).reshape(shape)


def bernoulli_values(p: Array, seed: int) -> Array:
    """The C engine's pg_bernoulli: y[i] = 1 if (bits(i) >> 11) · 2⁻⁵³ < p[i] else 0, in p's dtype."""
    b = random_bits(seed, np.arange(p.size, dtype=np.uint64))
    u = (b >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (u < p.reshape(-1).astype(np.float64)).astype(p.dtype).reshape(p.shape)


class Random(Op):
    """y = rand (``kind`` "uniform") or randn ("normal") values of ``seed`` (:func:`random_values`), or
    randint ("int") values in [low, high) (:func:`randint_values`), in ``shape`` and the dtype of the
    0-d input; no gradient."""

    name = "random"

    def __init__(self, kind: str, seed: int, shape: tuple[int, ...], low: int = 0, high: int = 1) -> None:
        super().__init__()
        self.kind, self.seed, self.shape = kind, int(seed), tuple(shape)
        self.low, self.high = int(low), int(high)

    def forward(self, x: Array) -> Array:
        if self.kind == "int":
            return randint_values(self.seed, self.low, self.high, self.shape, x.dtype)
        return random_values(self.kind, self.seed, self.shape, x.dtype)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (None,)


class Bernoulli(Op):
    """y[i] = 1 if u(seed, i) < p[i] else 0 (:func:`bernoulli_values`); piecewise constant: no gradient."""

    name = "bernoulli"

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = int(seed)

    def forward(self, p: Array) -> Array:
        return bernoulli_values(p, self.seed)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (None,)


class Dropout(Op):
    """y = x · keep / (1 - p), keep[i] = hash(seed, i) >= ⌊p · 2³²⌋ (zeros for p = 1);
    dx = g · keep / (1 - p): the same mask, regenerated from the seed."""

    name = "dropout"

    def __init__(self, p: float, seed: int) -> None:
        super().__init__()
        self.p, self.seed = float(p), int(seed)

    def apply(self, x: Array) -> Array:
        if self.p >= 1.0:
            return np.zeros_like(x)
        thr = np.uint32(int(self.p * 4294967296.0))
        keep = dropout_keep(self.seed, x.shape) >= thr
        return np.where(keep, x * x.dtype.type(1.0 / (1.0 - self.p)), x.dtype.type(0))

    def forward(self, x: Array) -> Array:
        return self.apply(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.apply(g),)


class Embedding(Op):
    """y[i, :] = w[idx[i], :]: w (V, D), idx (...) -> (..., D);
    dw[v, :] = Σ_{i: idx[i] = v} s_v g[i, :], nothing into the padding_idx row; s_v = 1, or
    1 / count(v) in idx with scale_grad_by_freq."""

    name = "embedding"

    def __init__(self, indices: Array, padding_idx: int, scale_grad_by_freq: bool = False) -> None:
        super().__init__()
        self.indices = np.asarray(indices, dtype=np.int64)
        self.padding_idx = int(padding_idx)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)

    def row_factors(self, dtype: Any) -> Array:
        """keep[i] for each index: 0 on the padding rows, s_v elsewhere (1 / count in ``dtype``)."""
        flat = self.indices.reshape(-1)
        f = np.ones(flat.size, dtype=dtype)
        if self.scale_grad_by_freq and flat.size:
            f = np.asarray(dtype.type(1) / np.bincount(flat)[flat].astype(dtype), dtype=dtype)
        return np.where(flat == self.padding_idx, dtype.type(0), f)

    def forward(self, w: Array) -> Array:
        return w[self.indices]

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        v, d = self.in_shapes[0]
        dw = np.zeros((v, d), dtype=g.dtype)
        flat = self.indices.reshape(-1)
        rows = g.reshape(-1, d)
        keep = flat != self.padding_idx
        if self.scale_grad_by_freq:
            rows = rows * self.row_factors(g.dtype)[:, None]
        np.add.at(dw, flat[keep], rows[keep])
        return (dw,)


def embedding_renorm(w: Array, indices: Array, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``embedding_renorm_`` on w (V, D), in place (no gradient goes through it):

        for each distinct v in indices:  n = ||w[v, :]||_p;  if n > max_norm: w[v, :] *= max_norm / (n + 1e-7)

    with n taken in double and rounded to w's dtype, and the scale computed in double and rounded to
    w's dtype (as csrc/ops_embedding.c). p = 2: sqrt(Σ x²); 1: Σ|x|; inf: max |x|; -inf: min |x|;
    0: the count of non-zeros; other p: (Σ |x|^p)^(1/p). A row holding a NaN has norm NaN: left as it is."""
    if w.shape[1] == 0:
        return
    dtype = w.dtype.type
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # |0|^p for p < 0, inf · 0
        for v in np.unique(indices):
            _renorm_row(w, int(v), max_norm, norm_type, dtype)


def _renorm_row(w: Array, v: int, max_norm: float, norm_type: float, dtype: Any) -> None:
    """Row v of :func:`embedding_renorm`: its norm, then the scale when the norm exceeds max_norm."""
    x = w[v].astype(np.float64)
    a = np.abs(x)
    if norm_type == 2:
        n = math.sqrt(np.sum(x * x))
    elif norm_type == 1:
        n = np.sum(a)
    elif norm_type == 0:
        n = np.count_nonzero(x)
    elif norm_type == math.inf:
        n = np.max(a)
    elif norm_type == -math.inf:
        n = np.min(a)
    else:
        n = np.sum(a ** norm_type) ** (1 / norm_type)
    n = float(dtype(n))  # the norm as a value of w's dtype
    if n > max_norm:
        w[v] = w[v] * dtype(max_norm / (n + 1e-7))


def _attn_probs(q: Array, k: Array, bias: Array, scale: float, causal: bool) -> Array:
    """p = softmax(scale · q kᵀ + bias) over the keys (−∞ at key j > query i when causal); zero rows where
    every key is masked out (PyTorch's fused result)."""
    s = scale * np.matmul(q, np.swapaxes(k, -1, -2)) + bias
    if causal:
        lq, lk = s.shape[-2:]
        s = np.where(np.arange(lk)[None, :] > np.arange(lq)[:, None], -np.inf, s)
    mx = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,), s.dtype)
    dead = mx == -np.inf
    with np.errstate(invalid="ignore"):
        e = np.exp(s - np.where(dead, 0.0, mx))
        return np.where(dead, 0.0, e / np.where(dead, 1.0, e.sum(axis=-1, keepdims=True)))


class ScaledDotProductAttention(Op):
    """o = softmax(scale · q kᵀ + bias) v (bias additive, −∞ masks; causal masks key j > query i);
    p the softmax: dv = pᵀ g, dp = g vᵀ, ds = p (dp − Σⱼ dp p), dq = scale ds k, dk = scale dsᵀ q, dbias = ds.
    With dropout (probability > 0) p is followed by :class:`Dropout` of ``seed`` over the (batch..., L, S)
    weights: o = p̃ v, dv = p̃ᵀ g, and dp is dropout's backward of g vᵀ."""

    name = "scaled_dot_product_attention"
    save_inputs = True

    def __init__(self, scale: float, causal: bool, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.scale, self.causal = float(scale), bool(causal)
        self.drop = Dropout(dropout, seed) if dropout > 0 else None

    def forward(self, q: Array, k: Array, v: Array, bias: Array) -> Array:
        p = _attn_probs(q, k, bias, self.scale, self.causal)
        if self.drop is not None:
            p = self.drop.apply(p.astype(q.dtype))
        return np.matmul(p, v).astype(q.dtype)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        q, k, v, bias = xs
        p = _attn_probs(q, k, bias, self.scale, self.causal)
        pd = p if self.drop is None else self.drop.apply(p.astype(q.dtype))
        dv = np.matmul(np.swapaxes(pd, -1, -2), g)
        dp = np.matmul(g, np.swapaxes(v, -1, -2))
        if self.drop is not None:
            dp = self.drop.apply(dp.astype(q.dtype))
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        dq = self.scale * np.matmul(ds, k)
        dk = self.scale * np.matmul(np.swapaxes(ds, -1, -2), q)
        dbias = ds if bias.ndim else ds.sum()
        return tuple(np.asarray(a, dtype=q.dtype) for a in (dq, dk, dv, dbias))


class _PoolBase(Op):
    """The pooling ops' geometry, as the C engine's: planes (N, C) of H x W, windows per output row and
    column. ``params``: kernel, stride, padding, dilation (pairs), ceil_mode, count_include_pad,
    divisor_override (0: none), and ``out`` the output size of the adaptive windows (None: fixed windows)."""

    def __init__(self, params: tuple[Any, ...], out: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.params, self.out = params, out

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        if self.out is not None:
            return self.out
        k, s, p, d, ceil = self.params[:5]
        return pool_out(h, k[0], s[0], p[0], d[0], ceil), pool_out(w, k[1], s[1], p[1], d[1], ceil)

    def avg_windows(self, n: int, on: int, dim: int) -> list[tuple[int, int, int]]:
        """(lo, hi, count) of each output row (dim 0) or column (dim 1) of an average."""
        if self.out is not None:  # PyTorch's adaptive windows [floor(o n / on), ceil((o + 1) n / on))
            return [(o * n // on, -(-(o + 1) * n // on), -(-(o + 1) * n // on) - o * n // on) for o in range(on)]
        k, s, p = self.params[0][dim], self.params[1][dim], self.params[2][dim]
        out = []
        for o in range(on):
            start = o * s - p
            end = min(start + k, n + p)
            lo, hi = max(start, 0), min(end, n)
            out.append((lo, hi, end - start if self.params[5] else hi - lo))
        return out

    def divisors(self, h: int, w: int, oh: int, ow: int) -> tuple[list[Any], list[Any], Array]:
        """The windows of each output row and column, and the divisor of each output (OH, OW)."""
        rows, cols = self.avg_windows(h, oh, 0), self.avg_windows(w, ow, 1)
        div = np.outer([c for *_, c in rows], [c for *_, c in cols]).astype(np.float64)
        if self.out is None and self.params[6]:
            div[:] = self.params[6]
        return rows, cols, div

    def avg(self, x: Array) -> Array:
        """y[..., a, b] = Σ x[..., window(a, b)] / divisor(a, b), window by window."""
        h, w = x.shape[2:]
        oh, ow = self.out_size(h, w)
        rows, cols, div = self.divisors(h, w, oh, ow)
        y = np.zeros(x.shape[:2] + (oh, ow), dtype=x.dtype)
        for a, (r0, r1, _) in enumerate(rows):
            for b, (c0, c1, _) in enumerate(cols):
                y[:, :, a, b] = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3)) / x.dtype.type(div[a, b])
        return y

    def avg_t(self, g: Array, h: int, w: int) -> Array:
        """dx[..., window(a, b)] += g[..., a, b] / divisor(a, b)."""
        rows, cols, div = self.divisors(h, w, g.shape[2], g.shape[3])
        dx = np.zeros(g.shape[:2] + (h, w), dtype=g.dtype)
        for a, (r0, r1, _) in enumerate(rows):
            for b, (c0, c1, _) in enumerate(cols):
                dx[:, :, r0:r1, c0:c1] += (g[:, :, a, b] / g.dtype.type(div[a, b]))[:, :, None, None]
        return dx


def pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: floor (or ceil) division; with ceil_mode the last window must start
    inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    if span < 0:
        return 0
    o = span // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


class MaxPool2d(_PoolBase):
    """y[n, c, a, b] = max of the window (a, b) of x[n, c] (NaN wins, the first maximum on ties);
    dx[n, c, argmax] += g[n, c, a, b]."""

    name = "max_pool2d"
    save_inputs = True

    def argmax(self, x: Array) -> tuple[Array, Array]:
        """Each window's maximum and its flat index in the H x W plane (-1: no element inside the input),
        taken element by element in row-major order as PyTorch does: v replaces m when v > m or v is NaN."""
        n, c, h, w = x.shape
        oh, ow = self.out_size(h, w)
        k, s, p, d = self.params[:4]
        y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
        idx = np.full((n, c, oh, ow), -1, dtype=np.int64)
        for a in range(oh):
            for b in range(ow):
                for i in range(k[0]):
                    iy = a * s[0] - p[0] + i * d[0]
                    for j in range(k[1]):
                        ix = b * s[1] - p[1] + j * d[1]
                        if not (0 <= iy < h and 0 <= ix < w):
                            continue
                        v = x[:, :, iy, ix]
                        take = (idx[:, :, a, b] < 0) | (v > y[:, :, a, b]) | np.isnan(v)
                        y[:, :, a, b] = np.where(take, v, y[:, :, a, b])
                        idx[:, :, a, b] = np.where(take, iy * w + ix, idx[:, :, a, b])
        return y, idx

    def forward(self, x: Array) -> Array:
        return self.argmax(x)[0]

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        (x,) = xs
        n, c, h, w = x.shape
        idx = self.argmax(x)[1].reshape(n * c, g.shape[2] * g.shape[3])
        dx = np.zeros((n * c, h * w), dtype=g.dtype)
        gg = g.reshape(idx.shape)
        for pl in range(n * c):
            ok = idx[pl] >= 0
            np.add.at(dx[pl], idx[pl][ok], gg[pl][ok])
        return (dx.reshape(x.shape),)


class AvgPool2d(_PoolBase):
    """y[n, c, a, b] = Σ_window x[n, c] / divisor(a, b); dx[window] += g / divisor."""

    name = "avg_pool2d"

    def forward(self, x: Array) -> Array:
        return self.avg(x)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.avg_t(g, *self.in_shapes[0][2:]),)


class AdaptiveAvgPool2d(AvgPool2d):
    """y[n, c, a, b] = the mean of x[n, c] over rows [⌊aH/OH⌋, ⌈(a+1)H/OH⌉) and the columns alike."""

    name = "adaptive_avg_pool2d"


class AvgPool2dInputGrad(_PoolBase):
    """dx = the transpose of avg_pool2d (or of adaptive_avg_pool2d) for an input (H, W); linear: d g = the
    average of the upstream."""

    name = "avg_pool2d_input_grad"

    def __init__(self, size: tuple[int, int], params: tuple[Any, ...], out: tuple[int, int] | None = None) -> None:
        super().__init__(params, out)
        self.size = size

    def forward(self, g: Array) -> Array:
        return self.avg_t(g, *self.size)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.avg(g),)


INTERP_MODES = ("nearest", "linear", "nearest-exact", "cubic", "linear-aa", "cubic-aa")
"""The resampling modes of interpolate's ops (linear is bilinear on a 4-d input; cubic and the
antialiased -aa modes take 4-d inputs only)."""


def _floor_index(v: Array, n: int) -> Array:
    """PyTorch's index of a source coordinate v >= 0 (float64): ⌊v⌋ taken in float32, capped at n - 1."""
    with np.errstate(over="ignore", invalid="ignore"):
        inside = v < n
        f = np.floor(np.where(inside, v, 0.0).astype(np.float32))
    return np.where(inside, np.minimum(f.astype(np.int64), n - 1), n - 1)


def interp_taps(mode: str, align_corners: bool, scale: float, n: int, on: int,
                dtype: Any) -> tuple[str, Array, Array, Array, Array]:
    """One spatial dim's resampling n -> on, in ``dtype``'s arithmetic (PyTorch's CPU kernels): the kind
    ('copy', 'gather' or 'linear') and per output index o the sources i0, i1 and weights l0, l1.

        s = 1/scale when scale > 0, else n/on ((n-1)/(on-1) with align_corners, 0 when on = 1)
        nearest        i0 = ⌊s·o⌋
        nearest-exact  i0 = ⌊max(s·(o + ½) - ½, 0) + ½⌋
        linear         src = max(s·(o + ½) - ½, 0) (s·o with align_corners), i0 = ⌊src⌋,
                       i1 = min(i0 + 1, n - 1), l1 = clamp(src - i0, 0, 1), l0 = 1 - l1; on = n copies

    every index capped at n - 1."""
    t = np.dtype(dtype).type
    o = np.arange(on, dtype=np.int64)
    of = o.astype(dtype)
    if mode == "linear":
        if on == n:
            return "copy", o, o, np.ones(on, dtype), np.zeros(on, dtype)
        if align_corners:
            s = t(n - 1) / t(on - 1) if on > 1 else t(0)
            src = s * of
        else:
            s = t(1.0 / scale) if scale > 0 else t(n) / t(on)
            src = s * (of + t(0.5)) - t(0.5)
        src = np.maximum(src, t(0))
        i0 = _floor_index(src.astype(np.float64), n)
        l1 = np.clip(src - i0.astype(dtype), t(0), t(1))
        return "linear", i0, np.minimum(i0 + 1, n - 1), t(1) - l1, l1
    s = t(1.0 / scale) if scale > 0 else t(n) / t(on)
    if mode == "nearest":
        i0 = _floor_index((s * of).astype(np.float64), n)
    else:
        src = np.maximum(s * (of + t(0.5)) - t(0.5), t(0))
        i0 = _floor_index(src.astype(np.float64) + 0.5, n)
    return ("copy" if on == n and (i0 == o).all() else "gather"), i0, i0, np.ones(on, dtype), np.zeros(on, dtype)


def _cubic1(x: Array, a: Any) -> Array:
    """Keys' cubic convolution on |x| <= 1: ((a + 2) x - (a + 3)) x² + 1."""
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic2(x: Array, a: Any) -> Array:
    """Keys' cubic convolution on 1 < |x| < 2: ((a x - 5a) x + 8a) x - 4a."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def interp_taps_k(mode: str, align_corners: bool, scale: float, n: int, on: int,
                  dtype: Any) -> tuple[str, Array, Array, Array, None]:
    """One spatial dim's cubic or antialiased resampling n -> on, in ``dtype``'s arithmetic (PyTorch's
    CPU kernels): the kind ('copy' or 'taps'), per output o its number of taps nt[o], their sources
    idx[o, t] and weights wt[o, t] (t < nt[o]; the rest padding), and None (the place of
    :func:`interp_taps`'s fifth item).

        s = 1/scale when scale > 0, else n/on ((n-1)/(on-1) with align_corners, 0 when on = 1)
        cubic     src = s·(o + ½) - ½ (s·o with align_corners), i = ⌊src⌋ (capped at n - 1),
                  λ = clamp(src - i, 0, 1); sources clamp(i - 1 + t, 0, n - 1), t = 0..3, weights
                  c₂(λ + 1), c₁(λ), c₁(1 - λ), c₂(2 - λ) with a = -0.75
        -aa       c = s·(o + ½), σ = (1 linear, 2 cubic)·max(s, 1); sources j in
                  [max(trunc(c - σ + ½), 0), min(trunc(c + σ + ½), n)), weights f((j - c + ½)/max(s, 1))
                  divided by their sum, f(x) = max(1 - |x|, 0) (linear) or c₁(|x|), c₂(|x|), 0 for
                  |x| < 1, < 2, beyond, with a = -0.5 (cubic); on = n copies

    c₁, c₂: Keys' cubic convolution (:func:`_cubic1`, :func:`_cubic2`)."""
    t = np.dtype(dtype).type
    o = np.arange(on, dtype=np.int64)
    of = o.astype(dtype)
    if align_corners:
        s = t(n - 1) / t(on - 1) if on > 1 else t(0)
    else:
        s = t(1.0 / scale) if scale > 0 else t(n) / t(on)
    if mode == "cubic":
        src = s * of if align_corners else s * (of + t(0.5)) - t(0.5)
        i = _floor_index(src.astype(np.float64), n)
        lam = np.clip(src - i.astype(dtype), t(0), t(1))
        a = t(-0.75)
        wt = np.stack([_cubic2(lam + t(1), a), _cubic1(lam, a), _cubic1(t(1) - lam, a),
                       _cubic2((t(1) - lam) + t(1), a)], axis=1).astype(dtype)
        idx = np.clip(i[:, None] - 1 + np.arange(4), 0, n - 1)
        return "taps", np.full(on, 4, np.int64), idx, wt, None
    if on == n:
        return "copy", np.ones(on, np.int64), o[:, None], np.ones((on, 1), dtype), None
    cubic = mode == "cubic-aa"
    support = (t(2) if cubic else t(1)) * (s if s >= 1 else t(1))
    inv = t(1) / s if s >= 1 else t(1)
    k = n if not float(support) < n else min(int(math.ceil(float(support))) * 2 + 1, n)
    if k * on > 1 << 30:  # only a kept scale far from the sizes' ratio asks for more, as in the C engine
        raise PygradMemoryError(f"interpolate: out of memory for the {on} x {k} taps of a map {n} -> {on}")
    c = s * (of + t(0.5))

    def trunc(v: Array) -> Array:
        v = v.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return np.where(v > 0, np.where(v < n, np.trunc(np.where(v < n, v, 0)), n), 0).astype(np.int64)

    lo = trunc(c - support + t(0.5))
    nt = np.clip(trunc(c + support + t(0.5)) - lo, 0, k)
    idx = lo[:, None] + np.arange(k)
    x = np.abs((idx.astype(dtype) - c[:, None] + t(0.5)) * inv)
    if cubic:
        a = t(-0.5)
        f = np.where(x < 1, _cubic1(x, a), np.where(x < 2, _cubic2(x, a), t(0)))
    else:
        f = np.where(x < 1, t(1) - x, t(0))
    f = np.where(np.arange(k) < nt[:, None], f, t(0)).astype(dtype)
    total = np.zeros(on, dtype)
    for j in range(k):  # summed in order, as PyTorch does
        total = total + f[:, j]
    wt = np.where(total[:, None] != 0, f / np.where(total != 0, total, t(1))[:, None], f).astype(dtype)
    return "taps", nt, np.minimum(idx, n - 1), wt, None


class _InterpBase(Op):
    """Resampling of (N, C, L) or (N, C, H, W) planes, one map per spatial dim (:func:`interp_taps`):
    ``mode``, ``scale`` (the kept scale factors, 0: none) and ``align_corners`` as the op's parameters."""

    def __init__(self, mode: str, scale: Sequence[float], align_corners: bool) -> None:
        super().__init__()
        self.mode, self.scale, self.align_corners = mode, tuple(float(s) for s in scale), bool(align_corners)

    def taps(self, small: Sequence[int], large: Sequence[int], dtype: Any) -> list[tuple[Any, ...]]:
        many = self.mode in ("cubic", "linear-aa", "cubic-aa")
        return [(interp_taps_k if many else interp_taps)(self.mode, self.align_corners, sc, n, on, dtype)
                for sc, n, on in zip(self.scale, small, large)]

    @staticmethod
    def _taps_resample(y: Array, axis: int, nt: Array, idx: Array, wt: Array) -> Array:
        """y along ``axis`` o -> Σ_{t < nt[o]} y[idx[o, t]] wt[o, t] (first product assigned, the others
        added, in t order)."""
        shape = [1] * y.ndim
        shape[axis] = -1
        out = np.zeros(y.shape[:axis] + (len(nt),) + y.shape[axis + 1:], dtype=y.dtype)
        for j in range(idx.shape[1]):
            term = np.take(y, idx[:, j], axis=axis) * wt[:, j].reshape(shape)
            out = np.where((j < nt).reshape(shape), term if j == 0 else out + term, out)
        return out

    def resample(self, x: Array, size: Sequence[int]) -> Array:
        """y = x resampled along W, then along H (2-d): per dim y[o] = x[i0] l0 + x[i1] l1, or
        Σ_t x[idx[o, t]] wt[o, t] (cubic, antialiased)."""
        y = x
        for ax, (kind, i0, i1, l0, l1) in reversed(list(enumerate(self.taps(x.shape[2:], size, x.dtype)))):
            if kind == "copy":
                continue
            axis = 2 + ax
            if kind == "taps":
                y = self._taps_resample(y, axis, i0, i1, l0)
                continue
            if kind == "gather":
                y = np.take(y, i0, axis=axis)
                continue
            shape = [1] * y.ndim
            shape[axis] = -1
            y = np.take(y, i0, axis=axis) * l0.reshape(shape) + np.take(y, i1, axis=axis) * l1.reshape(shape)
        return y

    def transpose(self, g: Array, size: Sequence[int]) -> Array:
        """dx = the adjoint of :meth:`resample` to spatial ``size``: along H, then W, dx[i0] += g l0,
        dx[i1] += g l1."""
        dx = g
        for ax, (kind, i0, i1, l0, l1) in enumerate(self.taps(size, g.shape[2:], g.dtype)):
            if kind == "copy":
                continue
            axis = 2 + ax
            out_shape = list(dx.shape)
            out_shape[axis] = size[ax]
            out = np.zeros(out_shape, dtype=g.dtype)
            moved = np.moveaxis(out, axis, 0)  # a view: add.at along the first axis
            src = np.moveaxis(dx, axis, 0)
            if kind == "taps":  # i0, i1, l0: nt, idx, wt
                w = (-1,) + (1,) * (src.ndim - 1)
                for j in range(i1.shape[1]):
                    live = j < i0
                    np.add.at(moved, i1[live, j], src[live] * l0[live, j].reshape(w))
            elif kind == "gather":
                np.add.at(moved, i0, src)
            else:
                w = (-1,) + (1,) * (src.ndim - 1)
                np.add.at(moved, i0, src * l0.reshape(w))
                np.add.at(moved, i1, src * l1.reshape(w))
            dx = out
        return dx


class Interpolate(_InterpBase):
    """y[n, c] = Ah x[n, c] Awᵀ: x resampled to ``size`` (nearest: one source per output index, linear:
    two, weighted 1 - l and l); dx = Ahᵀ g Aw."""

    name = "interpolate"

    def __init__(self, mode: str, size: Sequence[int], scale: Sequence[float], align_corners: bool) -> None:
        super().__init__(mode, scale, align_corners)
        self.size = tuple(int(v) for v in size)

    def forward(self, x: Array) -> Array:
        return self.resample(x, self.size)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.transpose(g, self.in_shapes[0][2:]),)


class InterpolateInputGrad(_InterpBase):
    """dx = Ahᵀ g Aw: the gradient of interpolate w.r.t. an input of spatial ``size``; linear: d g = the
    resampling of the upstream."""

    name = "interpolate_input_grad"

    def __init__(self, mode: str, size: Sequence[int], scale: Sequence[float], align_corners: bool) -> None:
        super().__init__(mode, scale, align_corners)
        self.size = tuple(int(v) for v in size)

    def forward(self, g: Array) -> Array:
        return self.transpose(g, self.size)

    def backward(self, g: Array, xs: Sequence[Any], y: Any) -> Grads:
        return (self.resample(g, self.in_shapes[0][2:]),)


OPS: dict[str, type[Op]] = {
    cls.name: cls
    for cls in (
        Add, Sub, Mul, Div, Neg, AddScalar, MulScalar, PowScalar, Pow, Exp, Log, Sqrt,
        Reciprocal, Abs, Maximum, Minimum, Clamp, Where, Sigmoid, Tanh, Relu, LeakyRelu,
        Elu, Matmul, Sum, Mean, Max, Min, Reshape, Permute, GetItem, Concatenate, Stack,
        Softmax, LogSoftmax, Cast, Custom, ScatterAdd, Prelu, Maxout, CrossEntropy, Sin, Cos, DivScalar,
        RDivScalar, RPowScalar,
        Tan, Atan, Sinh, Cosh, Asin, Acos, Log1p, Expm1, Log2, Log10, Exp2, Square, Rsqrt, Sign, Floor, Ceil,
        Round, Trunc, Erf, Silu, Logsigmoid, Softplus, Mish, Hardsigmoid, Gelu, Atan2, Fmod, Remainder,
        FloorDivide, LogSumExp, CumSum, IndexMap, Conv2d, Conv2dInputGrad, Conv2dWeightGrad,
        BatchNorm, LayerNorm, GroupNorm, Dropout, Embedding, ScaledDotProductAttention,
        MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AvgPool2dInputGrad, Interpolate, InterpolateInputGrad,
        Random, Bernoulli, NllLoss, OneHot, BinaryCrossEntropy, CheckFiniteNorm, CumProd, Pad, Tril, Triu,
        Hardtanh, HuberLoss, Norm,
    )
}
"""The op table: op-table name -> op class (the names ``grad_fn.name`` reports)."""

OP_NAMES: tuple[str, ...] = tuple(OPS)
"""Names of the op table's rows, in table order."""
