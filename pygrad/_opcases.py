"""The shared op case table: one row per (op, shapes, call form).

Each case builds its output from input tensors with the public API of an
engine module ``m`` (``pygrad`` or ``pygrad.reference``), so the same table
drives the reference finite-difference test and the C-vs-reference parity
tests. ``op`` is the op-table name of the last op the case records
(``out.grad_fn.name == case.op``); constant masks, indices and conditions
live inside ``fn``.

Domains (how :func:`make_inputs` draws values):

- ``"any"``: standard normal;
- ``"positive"``: uniform in [0.5, 2] (log, sqrt, fractional powers);
- ``"away0"``: |x| in [0.2, 2] with random signs, all values of all inputs
  distinct and at least ``0.9 / n`` apart (n values in all), so kinks (relu,
  abs, clamp at 0) and ties (max, maximum) are never within reach of a
  finite-difference step;
- ``"unit"``: uniform in [-0.9, 0.9] (asin, acos: inside their domain, away
  from the infinite slopes at ±1);
- ``"halfpi"``: uniform in [-1.2, 1.2] (tan: away from its poles at ±π/2);
- ``"nonint"``: an integer in [-3, 2] plus a fraction in [0.1, 0.4] or
  [0.6, 0.9], so the jumps of floor, ceil, round, trunc and sign (at the
  integers and the halves) are never within reach of a finite-difference step.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

OP_NAMES: tuple[str, ...] = (
    "add", "sub", "mul", "div", "neg", "add_scalar", "mul_scalar", "pow_scalar", "pow",
    "exp", "log", "sqrt", "reciprocal", "abs", "maximum", "minimum", "clamp", "where",
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "matmul", "sum", "mean", "max", "min",
    "reshape", "permute", "getitem", "concatenate", "stack", "softmax", "log_softmax", "cast", "custom",
    "scatter_add", "prelu", "maxout", "cross_entropy", "sin", "cos", "div_scalar", "rdiv_scalar",
    "rpow_scalar",
    "tan", "atan", "sinh", "cosh", "asin", "acos", "log1p", "expm1", "log2", "log10", "exp2", "square",
    "rsqrt", "sign", "floor", "ceil", "round", "trunc", "erf", "silu", "logsigmoid", "softplus", "mish",
    "hardsigmoid", "gelu", "atan2", "fmod", "remainder", "floor_divide", "logsumexp", "cumsum", "index_map",
    "conv2d", "conv2d_input_grad", "conv2d_weight_grad", "batch_norm", "layer_norm", "group_norm",
    "dropout", "embedding",
    "scaled_dot_product_attention", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "avg_pool2d_input_grad", "interpolate", "interpolate_input_grad", "random", "bernoulli", "nll_loss",
    "one_hot", "binary_cross_entropy", "check_finite_norm", "cumprod", "pad", "tril", "triu", "hardtanh",
    "huber_loss", "norm",
)
"""Every op-table name (the names ``grad_fn.name`` reports), in table order."""

DOMAINS = ("any", "positive", "away0", "unit", "halfpi", "nonint")


@dataclass(frozen=True)
class OpCase:
    """One test case: ``fn(m, *xs)`` with ``xs`` tensors of ``shapes`` drawn from ``domain``."""

    op: str
    id: str
    fn: Callable
    shapes: tuple[tuple[int, ...], ...]
    domain: str = "any"


def make_inputs(case: OpCase, dtype: object, seed: int) -> list[np.ndarray]:
    """Input arrays for ``case`` (one per shape, of ``dtype``), deterministic in (case.id, seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(case.id.encode())])
    sizes = [math.prod(s) for s in case.shapes]
    total = sum(sizes)
    if case.domain == "any":
        flat = rng.standard_normal(total)
    elif case.domain == "positive":
        flat = rng.uniform(0.5, 2.0, total)
    elif case.domain == "away0":
        # magnitudes on a jittered grid over [0.2, 2): distinct, gaps >= spacing / 2
        spacing = 1.8 / max(total, 1)
        mags = 0.2 + spacing * (np.arange(total) + rng.uniform(0.25, 0.75, total))
        signs = rng.choice(np.array([-1.0, 1.0]), total)
        flat = rng.permutation(mags) * signs
    elif case.domain == "unit":
        flat = rng.uniform(-0.9, 0.9, total)
    elif case.domain == "halfpi":
        flat = rng.uniform(-1.2, 1.2, total)
    elif case.domain == "nonint":
        frac = rng.uniform(0.1, 0.4, total) + rng.choice(np.array([0.0, 0.5]), total)
        flat = rng.integers(-3, 3, total) + frac
    else:
        raise ValueError(f"make_inputs: unknown domain {case.domain!r}; expected one of {DOMAINS}")
    out = []
    start = 0
    for shape, size in zip(case.shapes, sizes):
        out.append(flat[start:start + size].reshape(shape).astype(dtype))
        start += size
    return out


def _flip(m, x):
    """The other float dtype of ``x`` (float32 <-> float64)."""
    return m.float64 if x.dtype == m.float32 else m.float32


# constants used inside the cases (never inputs)
_COND_23 = np.array([[True, False, True], [False, False, True]])
_MASK_34 = np.array([[True, False, False, True], [False, True, True, False], [True, True, False, False]])
_MASK_5 = np.array([False, True, True, False, True])


def _cube_op(m: Any, x: Any) -> Any:
    """A user-defined op through the engine's custom_op hook: y = x³, dy/dx = 3x²
    (the backward is written with Tensor ops, so it can be differentiated again)."""
    xv = x.numpy().copy()

    def backward(g: Any, needs: list[bool]) -> list[Any]:
        return [g * (x * x) * 3.0]

    return m.custom_op([x], xv ** 3, backward)


def _mix_op(m: Any, a: Any, b: Any) -> Any:
    """A two-input user op with broadcasting done by the user: y = a·b + a, row vector b."""
    av, bv = a.numpy().copy(), b.numpy().copy()

    def backward(g: Any, needs: list[bool]) -> list[Any]:
        return [g * (b + 1.0), (g * a).sum(axis=0)]

    return m.custom_op([a, b], av * bv + av, backward)


_SCATTER = np.array([[4, 0, 4], [1, 7, 2]])  # offsets into a (2, 4) result; 4 repeats


def _pad(m: Any) -> Any:
    """``pad`` of the engine ``m`` (it lives in ``m.nn.functional``, as PyTorch's)."""
    return m.nn.functional.pad


def _F(m: Any) -> Any:  # noqa: N802
    """``m.nn.functional`` of the engine ``m``."""
    return m.nn.functional


def _running(m: Any, like: Any, c: int) -> tuple[Any, Any]:
    """Running mean and variance (C,) of the engine ``m`` in ``like``'s dtype, fixed values."""
    mean = np.linspace(-0.5, 0.5, c)
    var = np.linspace(0.5, 1.5, c)
    return m.tensor(mean, dtype=like.dtype), m.tensor(var, dtype=like.dtype)


def _conv2d(m: Any) -> Any:
    """``conv2d`` of the engine ``m`` (``m.nn.functional``, as PyTorch's)."""
    return m.nn.functional.conv2d


def _conv1d(m: Any) -> Any:
    return m.nn.functional.conv1d


_PAD_ROW1 = np.array([[1.0], [0.0], [1.0], [1.0]])  # zeroes row 1 of a (4, 2) table

_SDPA_MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, True, True]])


def _sdpa(m: Any) -> Any:
    """``scaled_dot_product_attention`` of the engine ``m`` (``m.nn.functional``, as PyTorch's)."""
    return m.nn.functional.scaled_dot_product_attention


def _scatter_op(m: Any, x: Any) -> Any:
    """scatter_add of a (2, 3) source into a (2, 4) result, with a repeated offset."""
    return m.scatter_add(x, (2, 4), _SCATTER)

_CLASS_W3 = [0.5, 2.0, 1.5]
_LABELS_4 = np.array([0, 2, 1, 2])
_LABELS_5 = [4, 0, 0, 3, 1]
_LABELS_23 = np.array([[3, 0, 1], [1, 1, 2]])
_BCE_T6 = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.75])  # targets, 0 and 1 among them
_BCE_T234 = np.linspace(0.0, 1.0, 24).reshape(2, 3, 4)
_HUBER_T34 = np.linspace(-2.0, 2.0, 12).reshape(3, 4)  # targets for huber_loss
_HUBER_W34 = np.linspace(0.5, 2.0, 12).reshape(3, 4)   # elementwise weights
_BCE_W4 = [0.5, 2.0, 1.5, 0.25]  # weights (constants: the op does not differentiate them, as PyTorch)
_BCE_W21 = [[0.75], [1.5]]
_BCE_W234 = np.linspace(0.25, 2.0, 24).reshape(2, 3, 4)


CASES: list[OpCase] = [
    # add
    OpCase("add", "add-same", lambda m, a, b: a + b, ((2, 3), (2, 3))),
    OpCase("add", "add-bcast-row", lambda m, a, b: a + b, ((2, 3), (3,))),
    OpCase("add", "add-bcast-col", lambda m, a, b: a + b, ((2, 3), (2, 1))),
    OpCase("add", "add-bcast-both", lambda m, a, b: a + b, ((3, 1), (1, 4))),
    OpCase("add", "add-bcast-rank", lambda m, a, b: a + b, ((3,), (2, 4, 3))),
    OpCase("add", "add-0d-left", lambda m, a, b: a + b, ((), (2, 3))),
    OpCase("add", "add-0d-0d", lambda m, a, b: a + b, ((), ())),
    OpCase("add", "add-size1", lambda m, a, b: a + b, ((1, 3), (1, 1))),
    OpCase("add", "add-func-3d", lambda m, a, b: m.add(a, b), ((2, 3, 4), (3, 1))),
    OpCase("add", "add-self", lambda m, a: a + a, ((4,),)),
    OpCase("add", "add-mixed-dtype", lambda m, a, b: a.double() + b, ((2, 3), (3,))),
    OpCase("add", "add-ndarray-right", lambda m, a: a + np.linspace(-1.0, 1.0, 3), ((2, 3),)),
    OpCase("add", "add-ndarray-left", lambda m, a: np.linspace(-1.0, 1.0, 3) + a, ((2, 3),)),
    # sub
    OpCase("sub", "sub-same", lambda m, a, b: a - b, ((2, 3), (2, 3))),
    OpCase("sub", "sub-bcast", lambda m, a, b: a - b, ((4, 1), (3,))),
    OpCase("sub", "sub-0d-right", lambda m, a, b: a - b, ((2, 2), ())),
    OpCase("sub", "sub-func", lambda m, a, b: m.sub(a, b), ((3,), (2, 3))),
    OpCase("sub", "sub-ndarray-left", lambda m, a: np.full((2, 3), 0.5) - a, ((2, 3),)),
    # mul
    OpCase("mul", "mul-same", lambda m, a, b: a * b, ((2, 3), (2, 3))),
    OpCase("mul", "mul-bcast-row", lambda m, a, b: a * b, ((2, 3), (3,))),
    OpCase("mul", "mul-bcast-3d", lambda m, a, b: a * b, ((2, 1, 4), (3, 1))),
    OpCase("mul", "mul-0d-0d", lambda m, a, b: a * b, ((), ())),
    OpCase("mul", "mul-func", lambda m, a, b: m.mul(a, b), ((3,), (3,))),
    OpCase("mul", "mul-self", lambda m, a: a * a, ((3,),)),
    # div
    OpCase("div", "div-same", lambda m, a, b: a / b, ((2, 3), (2, 3)), "away0"),
    OpCase("div", "div-bcast-row", lambda m, a, b: a / b, ((2, 3), (3,)), "away0"),
    OpCase("div", "div-bcast-both", lambda m, a, b: a / b, ((3, 1), (1, 2)), "away0"),
    OpCase("div", "div-0d-right", lambda m, a, b: a / b, ((2, 2), ()), "away0"),
    OpCase("div", "div-func", lambda m, a, b: m.div(a, b), ((4,), (4,)), "away0"),
    # neg
    OpCase("neg", "neg-op", lambda m, a: -a, ((2, 3),)),
    OpCase("neg", "neg-func", lambda m, a: m.neg(a), ((4,),)),
    OpCase("neg", "neg-0d", lambda m, a: -a, ((),)),
    # add_scalar (x + c, c + x, x - c, c - x)
    OpCase("add_scalar", "add_scalar-right", lambda m, a: a + 2.0, ((2, 3),)),
    OpCase("add_scalar", "add_scalar-left", lambda m, a: 3.0 + a, ((3,),)),
    OpCase("add_scalar", "add_scalar-sub-scalar", lambda m, a: a - 2.0, ((2, 3),)),
    OpCase("add_scalar", "add_scalar-rsub-scalar", lambda m, a: 1.5 - a, ((4,),)),
    OpCase("add_scalar", "add_scalar-int", lambda m, a: a + 1, ((2, 2),)),
    OpCase("add_scalar", "add_scalar-func", lambda m, a: m.add(a, 0.25), ((3,),)),
    OpCase("add_scalar", "add_scalar-0d", lambda m, a: a + 0.5, ((),)),
    # mul_scalar (x * c, c * x)
    OpCase("mul_scalar", "mul_scalar-right", lambda m, a: a * 2.5, ((2, 3),)),
    OpCase("mul_scalar", "mul_scalar-left", lambda m, a: -1.5 * a, ((3,),)),
    OpCase("mul_scalar", "mul_scalar-func", lambda m, a: m.mul(2.0, a), ((4,),)),
    OpCase("mul_scalar", "mul_scalar-0d", lambda m, a: a * 0.75, ((),)),
    # div_scalar (x / c), rdiv_scalar (c / x): true divisions
    OpCase("div_scalar", "div_scalar-op", lambda m, a: a / 4.0, ((2, 3),)),
    OpCase("div_scalar", "div_scalar-third", lambda m, a: a / 3, ((5,),)),
    OpCase("div_scalar", "div_scalar-func", lambda m, a: m.div(a, 3.0), ((2, 2),)),
    OpCase("div_scalar", "div_scalar-0d", lambda m, a: a / -0.5, ((),)),
    OpCase("rdiv_scalar", "rdiv_scalar-op", lambda m, a: 3.0 / a, ((2, 3),), "away0"),
    OpCase("rdiv_scalar", "rdiv_scalar-func", lambda m, a: m.div(-2.0, a), ((4,),), "away0"),
    OpCase("rdiv_scalar", "rdiv_scalar-0d", lambda m, a: 1 / a, ((),), "away0"),
    # pow_scalar
    OpCase("pow_scalar", "pow_scalar-2", lambda m, a: a ** 2, ((2, 3),)),
    OpCase("pow_scalar", "pow_scalar-3", lambda m, a: a ** 3, ((4,),)),
    OpCase("pow_scalar", "pow_scalar-half", lambda m, a: a ** 0.5, ((2, 3),), "positive"),
    OpCase("pow_scalar", "pow_scalar-minus1", lambda m, a: a ** -1, ((2, 3),), "away0"),
    OpCase("pow_scalar", "pow_scalar-func", lambda m, a: m.pow(a, 2.0), ((3,),)),
    OpCase("pow_scalar", "pow_scalar-method", lambda m, a: a.pow(1.5), ((2, 2),), "positive"),
    OpCase("pow_scalar", "pow_scalar-0d", lambda m, a: a ** 2, ((),)),
    # pow (tensor ** tensor, positive base)
    OpCase("pow", "pow-same", lambda m, a, b: a ** b, ((2, 3), (2, 3)), "positive"),
    OpCase("pow", "pow-bcast", lambda m, a, b: a ** b, ((2, 3), (3,)), "positive"),
    OpCase("pow", "pow-func-0d-exp", lambda m, a, b: m.pow(a, b), ((3,), ()), "positive"),
    OpCase("pow", "pow-method", lambda m, a, b: a.pow(b), ((2, 1), (1, 3)), "positive"),
    # exp
    OpCase("exp", "exp-method", lambda m, a: a.exp(), ((2, 3),)),
    OpCase("exp", "exp-func-0d", lambda m, a: m.exp(a), ((),)),
    OpCase("exp", "exp-func-3d", lambda m, a: m.exp(a), ((2, 3, 2),)),
    # rpow_scalar (c ** x)
    OpCase("rpow_scalar", "rpow_scalar-op", lambda m, a: 2.0 ** a, ((4,),)),
    OpCase("rpow_scalar", "rpow_scalar-ten", lambda m, a: 10 ** a, ((2, 3),)),
    OpCase("rpow_scalar", "rpow_scalar-func", lambda m, a: m.pow(0.5, a), ((3,),)),
    OpCase("rpow_scalar", "rpow_scalar-0d", lambda m, a: 3.0 ** a, ((),)),
    # log, sqrt, reciprocal, abs
    OpCase("log", "log-method", lambda m, a: a.log(), ((2, 3),), "positive"),
    OpCase("log", "log-func", lambda m, a: m.log(a), ((5,),), "positive"),
    # sin, cos
    OpCase("sin", "sin-method", lambda m, a: a.sin(), ((2, 3),)),
    OpCase("sin", "sin-func-0d", lambda m, a: m.sin(a), ((),)),
    OpCase("sin", "sin-of-scaled", lambda m, a: (a * 4.0).sin(), ((3, 2, 2),)),
    OpCase("cos", "cos-method", lambda m, a: a.cos(), ((2, 3),)),
    OpCase("cos", "cos-func-1d", lambda m, a: m.cos(a), ((5,),)),
    OpCase("cos", "cos-of-sin", lambda m, a: m.cos(a.sin()), ((2, 2),)),
    # tan, atan, sinh, cosh
    OpCase("tan", "tan-method", lambda m, a: a.tan(), ((2, 3),), "halfpi"),
    OpCase("tan", "tan-func-0d", lambda m, a: m.tan(a), ((),), "halfpi"),
    OpCase("tan", "tan-of-sin", lambda m, a: m.tan(a.sin()), ((3, 2, 2),)),
    OpCase("atan", "atan-method", lambda m, a: a.atan(), ((2, 3),)),
    OpCase("atan", "atan-func-1d", lambda m, a: m.atan(a), ((5,),)),
    OpCase("atan", "atan-of-scaled", lambda m, a: (a * 3.0).atan(), ((3, 2, 2),)),
    OpCase("sinh", "sinh-method", lambda m, a: a.sinh(), ((2, 3),)),
    OpCase("sinh", "sinh-func-0d", lambda m, a: m.sinh(a), ((),)),
    OpCase("sinh", "sinh-of-atan", lambda m, a: m.sinh(a.atan()), ((3, 2, 2),)),
    OpCase("cosh", "cosh-method", lambda m, a: a.cosh(), ((2, 3),)),
    OpCase("cosh", "cosh-func-1d", lambda m, a: m.cosh(a), ((5,),)),
    OpCase("cosh", "cosh-of-sinh", lambda m, a: a.sinh().cosh(), ((2, 2),)),
    # asin, acos
    OpCase("asin", "asin-method", lambda m, a: a.asin(), ((2, 3),), "unit"),
    OpCase("asin", "asin-func-0d", lambda m, a: m.asin(a), ((),), "unit"),
    OpCase("asin", "asin-of-sin", lambda m, a: m.asin(a.sin() * 0.9), ((3, 2, 2),)),
    OpCase("acos", "acos-method", lambda m, a: a.acos(), ((2, 3),), "unit"),
    OpCase("acos", "acos-func-1d", lambda m, a: m.acos(a), ((5,),), "unit"),
    OpCase("acos", "acos-of-tanh", lambda m, a: m.acos(a.tanh() * 0.9), ((2, 2),)),
    # log1p, expm1, log2, log10, exp2
    OpCase("log1p", "log1p-method", lambda m, a: a.log1p(), ((2, 3),), "positive"),
    OpCase("log1p", "log1p-func-0d", lambda m, a: m.log1p(a), ((),), "positive"),
    OpCase("log1p", "log1p-of-tiny", lambda m, a: (a * 1e-3).log1p(), ((3, 2, 2),)),
    OpCase("expm1", "expm1-method", lambda m, a: a.expm1(), ((2, 3),)),
    OpCase("expm1", "expm1-func-1d", lambda m, a: m.expm1(a), ((5,),)),
    OpCase("expm1", "expm1-of-tiny", lambda m, a: (a * 1e-3).expm1(), ((3, 2, 2),)),
    OpCase("log2", "log2-method", lambda m, a: a.log2(), ((2, 3),), "positive"),
    OpCase("log2", "log2-func-0d", lambda m, a: m.log2(a), ((),), "positive"),
    OpCase("log2", "log2-of-exp", lambda m, a: m.log2(a.exp()), ((3, 2, 2),)),
    OpCase("log10", "log10-method", lambda m, a: a.log10(), ((2, 3),), "positive"),
    OpCase("log10", "log10-func-1d", lambda m, a: m.log10(a), ((5,),), "positive"),
    OpCase("log10", "log10-of-square", lambda m, a: (a * a + 0.5).log10(), ((2, 2),)),
    OpCase("exp2", "exp2-method", lambda m, a: a.exp2(), ((2, 3),)),
    OpCase("exp2", "exp2-func-0d", lambda m, a: m.exp2(a), ((),)),
    OpCase("exp2", "exp2-of-log2", lambda m, a: m.exp2(a.log2()), ((3, 2, 2),), "positive"),
    # square, rsqrt
    OpCase("square", "square-method", lambda m, a: a.square(), ((2, 3),)),
    OpCase("square", "square-func-0d", lambda m, a: m.square(a), ((),)),
    OpCase("square", "square-of-sin", lambda m, a: a.sin().square(), ((3, 2, 2),)),
    OpCase("rsqrt", "rsqrt-method", lambda m, a: a.rsqrt(), ((2, 3),), "positive"),
    OpCase("rsqrt", "rsqrt-func-1d", lambda m, a: m.rsqrt(a), ((5,),), "positive"),
    OpCase("rsqrt", "rsqrt-of-square", lambda m, a: (a.square() + 0.25).rsqrt(), ((2, 2),)),
    # sign, floor, ceil, round, trunc: zero gradient
    OpCase("sign", "sign-method", lambda m, a: a.sign(), ((2, 3),), "nonint"),
    OpCase("sign", "sign-of-scaled", lambda m, a: m.sign(a * 3.0), ((5,),), "nonint"),
    OpCase("floor", "floor-method", lambda m, a: a.floor(), ((2, 3),), "nonint"),
    OpCase("floor", "floor-func-0d", lambda m, a: m.floor(a), ((),), "nonint"),
    OpCase("floor", "floor-of-shifted", lambda m, a: (a - 1.0).floor(), ((3, 2, 2),), "nonint"),
    OpCase("ceil", "ceil-method", lambda m, a: a.ceil(), ((2, 3),), "nonint"),
    OpCase("ceil", "ceil-of-neg", lambda m, a: m.ceil(-a), ((5,),), "nonint"),
    OpCase("round", "round-method", lambda m, a: a.round(), ((2, 3),), "nonint"),
    OpCase("round", "round-func-0d", lambda m, a: m.round(a), ((),), "nonint"),
    OpCase("round", "round-of-shifted", lambda m, a: (a + 2.0).round(), ((3, 2, 2),), "nonint"),
    OpCase("trunc", "trunc-method", lambda m, a: a.trunc(), ((2, 3),), "nonint"),
    OpCase("trunc", "trunc-of-shifted", lambda m, a: m.trunc(a - 3.0), ((5,),), "nonint"),
    # erf, silu, logsigmoid, softplus
    OpCase("erf", "erf-method", lambda m, a: a.erf(), ((2, 3),)),
    OpCase("erf", "erf-func-0d", lambda m, a: m.erf(a), ((),)),
    OpCase("erf", "erf-of-scaled", lambda m, a: (a * 2.0).erf(), ((3, 2, 2),)),
    OpCase("silu", "silu-method", lambda m, a: a.silu(), ((2, 3),)),
    OpCase("silu", "silu-func-1d", lambda m, a: m.silu(a), ((5,),)),
    OpCase("silu", "silu-of-scaled", lambda m, a: (a * 4.0).silu(), ((3, 2, 2),)),
    OpCase("logsigmoid", "logsigmoid-method", lambda m, a: a.logsigmoid(), ((2, 3),)),
    OpCase("logsigmoid", "logsigmoid-func-0d", lambda m, a: m.logsigmoid(a), ((),)),
    OpCase("logsigmoid", "logsigmoid-of-large", lambda m, a: (a * 30.0).logsigmoid(), ((3, 2, 2),)),
    OpCase("softplus", "softplus-method", lambda m, a: a.softplus(), ((2, 3),)),
    OpCase("softplus", "softplus-func-1d", lambda m, a: m.softplus(a), ((5,),)),
    OpCase("softplus", "softplus-across-threshold", lambda m, a: (a * 15.0).softplus(), ((3, 2, 2),)),
    # mish, hardsigmoid, gelu
    OpCase("mish", "mish-method", lambda m, a: a.mish(), ((2, 3),)),
    OpCase("mish", "mish-func-0d", lambda m, a: m.mish(a), ((),)),
    OpCase("mish", "mish-of-scaled", lambda m, a: (a * 4.0).mish(), ((3, 2, 2),)),
    OpCase("hardsigmoid", "hardsigmoid-method", lambda m, a: a.hardsigmoid(), ((2, 3),)),
    OpCase("hardsigmoid", "hardsigmoid-func-1d", lambda m, a: m.hardsigmoid(a), ((5,),)),
    OpCase("hardsigmoid", "hardsigmoid-clipped", lambda m, a: (a * 2.0 + 2.25).hardsigmoid(), ((3, 2, 2),), "away0"),
    OpCase("gelu", "gelu-method", lambda m, a: a.gelu(), ((2, 3),)),
    OpCase("gelu", "gelu-func-0d", lambda m, a: m.gelu(a), ((),)),
    OpCase("gelu", "gelu-of-scaled", lambda m, a: (a * 3.0).gelu(), ((3, 2, 2),)),
    # atan2, fmod, remainder, floor_divide (a / b kept off the integers, where fmod jumps)
    OpCase("atan2", "atan2-bcast", lambda m, a, b: m.atan2(a, b), ((2, 3), (3,)), "away0"),
    OpCase("atan2", "atan2-method-scalar", lambda m, a: a.atan2(-0.5), ((4,),), "away0"),
    OpCase("fmod", "fmod-same", lambda m, a, b: m.fmod(a, b), ((2, 3), (2, 3)), "positive"),
    OpCase("fmod", "fmod-negative-numerator", lambda m, a, b: m.fmod(a * -3.0, b), ((5,), (5,)), "positive"),
    OpCase("remainder", "remainder-bcast", lambda m, a, b: m.remainder(a, b), ((2, 3), (3,)), "positive"),
    OpCase("remainder", "remainder-operator-neg", lambda m, a, b: (a * -3.0) % b, ((4,), (4,)), "positive"),
    OpCase("remainder", "remainder-scalar", lambda m, a: (a * 3.0) % 0.7, ((2, 2),), "positive"),
    OpCase("floor_divide", "floor_divide-operator", lambda m, a, b: (a * 3.0) // b, ((2, 3), (3,)), "positive"),
    OpCase("sqrt", "sqrt-method", lambda m, a: a.sqrt(), ((2, 3),), "positive"),
    OpCase("sqrt", "sqrt-func-0d", lambda m, a: m.sqrt(a), ((),), "positive"),
    OpCase("reciprocal", "reciprocal-method", lambda m, a: a.reciprocal(), ((2, 3),), "away0"),
    OpCase("reciprocal", "reciprocal-func", lambda m, a: m.reciprocal(a), ((4,),), "away0"),
    OpCase("abs", "abs-method", lambda m, a: a.abs(), ((2, 3),), "away0"),
    OpCase("abs", "abs-func-3d", lambda m, a: m.abs(a), ((2, 2, 3),), "away0"),
    # maximum / minimum
    OpCase("maximum", "maximum-same", lambda m, a, b: m.maximum(a, b), ((2, 3), (2, 3)), "away0"),
    OpCase("maximum", "maximum-bcast", lambda m, a, b: m.maximum(a, b), ((2, 3), (3,)), "away0"),
    OpCase("maximum", "maximum-method-bcast-both", lambda m, a, b: a.maximum(b), ((3, 1), (1, 4)), "away0"),
    OpCase("maximum", "maximum-scalar", lambda m, a: m.maximum(a, 0.0), ((2, 3),), "away0"),
    OpCase("minimum", "minimum-same", lambda m, a, b: m.minimum(a, b), ((2, 3), (2, 3)), "away0"),
    OpCase("minimum", "minimum-bcast", lambda m, a, b: m.minimum(a, b), ((4, 1), (3,)), "away0"),
    OpCase("minimum", "minimum-method-0d", lambda m, a, b: a.minimum(b), ((2, 3), ()), "away0"),
    # clamp
    OpCase("clamp", "clamp-both", lambda m, a: m.clamp(a, -0.5, 0.7), ((3, 4),), "away0"),
    OpCase("clamp", "clamp-min", lambda m, a: a.clamp(min=-0.3), ((2, 3),), "away0"),
    OpCase("clamp", "clamp-max", lambda m, a: a.clamp(max=0.4), ((2, 3),), "away0"),
    OpCase("clamp", "clamp-both-3d", lambda m, a: m.clamp(a, min=-1.05, max=0.95), ((2, 2, 3),), "away0"),
    # where (constant conditions)
    OpCase("where", "where-same", lambda m, a, b: m.where(_COND_23, a, b), ((2, 3), (2, 3))),
    OpCase("where", "where-bcast", lambda m, a, b: m.where(_COND_23, a, b), ((3,), (2, 1))),
    OpCase("where", "where-scalar-other", lambda m, a: m.where(_COND_23, a, 0.0), ((2, 3),)),
    OpCase("where", "where-bool-tensor", lambda m, a, b: m.where(m.tensor(_COND_23), a, b), ((2, 3), (2, 3))),
    OpCase("where", "where-from-compare", lambda m, a, b: m.where(a > 0.0, a, b * 0.5),
           ((2, 3), (2, 3)), "away0"),
    # sigmoid, tanh
    OpCase("sigmoid", "sigmoid-method", lambda m, a: a.sigmoid(), ((2, 3),)),
    OpCase("sigmoid", "sigmoid-func-0d", lambda m, a: m.sigmoid(a), ((),)),
    OpCase("sigmoid", "sigmoid-wide-range", lambda m, a: (a * 8.0).sigmoid(), ((3, 4),)),
    OpCase("tanh", "tanh-method", lambda m, a: a.tanh(), ((2, 3),)),
    OpCase("tanh", "tanh-func-3d", lambda m, a: m.tanh(a), ((2, 2, 2),)),
    # relu, leaky_relu, elu
    OpCase("relu", "relu-method", lambda m, a: a.relu(), ((2, 3),), "away0"),
    OpCase("relu", "relu-func-3d", lambda m, a: m.relu(a), ((2, 3, 2),), "away0"),
    OpCase("leaky_relu", "leaky_relu-default", lambda m, a: a.leaky_relu(), ((2, 3),), "away0"),
    OpCase("leaky_relu", "leaky_relu-slope", lambda m, a: m.leaky_relu(a, 0.2), ((5,),), "away0"),
    OpCase("elu", "elu-default", lambda m, a: a.elu(), ((2, 3),), "away0"),
    OpCase("elu", "elu-alpha", lambda m, a: m.elu(a, alpha=0.5), ((5,),), "away0"),
    # matmul
    OpCase("matmul", "matmul-1d-1d", lambda m, a, b: a @ b, ((3,), (3,))),
    OpCase("matmul", "matmul-1d-2d", lambda m, a, b: a @ b, ((3,), (3, 4))),
    OpCase("matmul", "matmul-2d-1d", lambda m, a, b: a @ b, ((2, 3), (3,))),
    OpCase("matmul", "matmul-2d-2d", lambda m, a, b: a @ b, ((2, 3), (3, 4))),
    OpCase("matmul", "matmul-batched", lambda m, a, b: a @ b, ((2, 2, 3), (2, 3, 4))),
    OpCase("matmul", "matmul-bcast-batch", lambda m, a, b: a @ b, ((2, 1, 2, 3), (3, 3, 4))),
    OpCase("matmul", "matmul-batched-2d", lambda m, a, b: m.matmul(a, b), ((4, 2, 3), (3, 2))),
    OpCase("matmul", "matmul-batched-1d", lambda m, a, b: a.matmul(b), ((2, 2, 3), (3,))),
    OpCase("matmul", "matmul-1d-batched", lambda m, a, b: a @ b, ((3,), (2, 3, 4))),
    # sum
    OpCase("sum", "sum-all", lambda m, a: a.sum(), ((2, 3),)),
    OpCase("sum", "sum-axis0", lambda m, a: a.sum(0), ((2, 3),)),
    OpCase("sum", "sum-axes02", lambda m, a: a.sum(axis=(0, 2)), ((2, 3, 4),)),
    OpCase("sum", "sum-neg-keepdims", lambda m, a: a.sum(axis=-1, keepdims=True), ((2, 3),)),
    OpCase("sum", "sum-dim-keepdim", lambda m, a: a.sum(dim=1, keepdim=True), ((2, 3, 2),)),
    OpCase("sum", "sum-func-neg-axes", lambda m, a: m.sum(a, axis=(-1, -2)), ((2, 3, 2),)),
    OpCase("sum", "sum-0d", lambda m, a: a.sum(), ((),)),
    OpCase("sum", "sum-size1-axis", lambda m, a: m.sum(a, 1), ((3, 1),)),
    # mean
    OpCase("mean", "mean-all", lambda m, a: a.mean(), ((2, 3),)),
    OpCase("mean", "mean-axis1", lambda m, a: a.mean(axis=1), ((2, 3),)),
    OpCase("mean", "mean-axes-keepdims", lambda m, a: a.mean(axis=(0, 2), keepdims=True), ((2, 3, 4),)),
    OpCase("mean", "mean-func-neg", lambda m, a: m.mean(a, axis=-2), ((2, 3, 2),)),
    # max / min (distinct values: no ties)
    OpCase("max", "max-all", lambda m, a: a.max(), ((2, 3),), "away0"),
    OpCase("max", "max-axis1", lambda m, a: a.max(axis=1), ((3, 4),), "away0"),
    OpCase("max", "max-axes-keepdims", lambda m, a: a.max(axis=(0, 2), keepdims=True), ((2, 3, 4),), "away0"),
    OpCase("max", "max-func-axis", lambda m, a: m.max(a, axis=-1), ((2, 5),), "away0"),
    OpCase("min", "min-all", lambda m, a: a.min(), ((2, 3),), "away0"),
    OpCase("min", "min-axis0", lambda m, a: a.min(axis=0), ((3, 4),), "away0"),
    OpCase("min", "min-func-neg-keepdims", lambda m, a: m.min(a, axis=-1, keepdims=True),
           ((2, 3, 2),), "away0"),
    # reshape
    OpCase("reshape", "reshape-ints", lambda m, a: a.reshape(3, 2), ((2, 3),)),
    OpCase("reshape", "reshape-tuple", lambda m, a: a.reshape((6,)), ((2, 3),)),
    OpCase("reshape", "reshape-infer", lambda m, a: a.reshape(-1, 2), ((2, 3, 2),)),
    OpCase("reshape", "reshape-func-infer", lambda m, a: m.reshape(a, (4, -1)), ((2, 3, 4),)),
    OpCase("reshape", "reshape-to-0d", lambda m, a: a.reshape(()), ((1,),)),
    OpCase("reshape", "reshape-from-0d", lambda m, a: a.reshape(1, 1), ((),)),
    # permute (transpose and .T are permutes)
    OpCase("permute", "permute-3d", lambda m, a: a.permute(2, 0, 1), ((2, 3, 4),)),
    OpCase("permute", "permute-func-tuple", lambda m, a: m.permute(a, (1, 0, 2)), ((2, 3, 2),)),
    OpCase("permute", "permute-neg-dims", lambda m, a: a.permute(-1, 0, 1), ((2, 3, 2),)),
    OpCase("permute", "transpose-method", lambda m, a: a.transpose(0, 2), ((2, 3, 4),)),
    OpCase("permute", "transpose-func-neg", lambda m, a: m.transpose(a, -1, -2), ((2, 3, 2),)),
    OpCase("permute", "T-2d", lambda m, a: a.T, ((2, 3),)),
    OpCase("permute", "T-3d", lambda m, a: a.T, ((2, 3, 4),)),
    # getitem
    OpCase("getitem", "getitem-int", lambda m, a: a[1], ((3, 4),)),
    OpCase("getitem", "getitem-neg-int", lambda m, a: a[-1], ((3, 4),)),
    OpCase("getitem", "getitem-ints-0d", lambda m, a: a[1, 2], ((3, 4),)),
    OpCase("getitem", "getitem-slice-step", lambda m, a: a[::2], ((5, 3),)),
    OpCase("getitem", "getitem-slice-reverse", lambda m, a: a[1:, ::-1], ((3, 4),)),
    OpCase("getitem", "getitem-none", lambda m, a: a[None, 1], ((3, 4),)),
    OpCase("getitem", "getitem-none-slice", lambda m, a: a[:, None, 1:3], ((3, 4),)),
    OpCase("getitem", "getitem-ellipsis", lambda m, a: a[..., 1], ((2, 3, 4),)),
    OpCase("getitem", "getitem-intarray-repeat", lambda m, a: a[np.array([0, 2, 0])], ((3, 4),)),
    OpCase("getitem", "getitem-list-repeat", lambda m, a: a[[1, 1, 1, 0]], ((3,),)),
    OpCase("getitem", "getitem-two-arrays", lambda m, a: a[[0, 1, 1], [2, 0, 2]], ((3, 4),)),
    OpCase("getitem", "getitem-slice-and-array", lambda m, a: a[:, [1, 1, 0]], ((2, 3),)),
    OpCase("getitem", "getitem-bool-mask", lambda m, a: a[_MASK_34], ((3, 4),)),
    OpCase("getitem", "getitem-bool-mask-rows", lambda m, a: a[_MASK_5], ((5, 2),)),
    OpCase("getitem", "getitem-bool-tensor", lambda m, a: a[m.tensor(_MASK_34)], ((3, 4),)),
    # concatenate / cat
    OpCase("concatenate", "concatenate-axis0", lambda m, a, b: m.concatenate([a, b], axis=0),
           ((2, 3), (1, 3))),
    OpCase("concatenate", "concatenate-3-axis1", lambda m, a, b, c: m.concatenate([a, b, c], axis=1),
           ((2, 1), (2, 3), (2, 2))),
    OpCase("concatenate", "concatenate-neg-axis-3d", lambda m, a, b: m.concatenate((a, b), axis=-1),
           ((2, 2, 3), (2, 2, 1))),
    OpCase("concatenate", "cat-1d", lambda m, a, b: m.cat([a, b]), ((2,), (3,))),
    OpCase("concatenate", "cat-3d-axis1", lambda m, a, b, c: m.cat([a, b, c], 1),
           ((2, 1, 2), (2, 2, 2), (2, 1, 2))),
    # stack
    OpCase("stack", "stack-axis0", lambda m, a, b: m.stack([a, b]), ((2, 3), (2, 3))),
    OpCase("stack", "stack-3-neg-axis", lambda m, a, b, c: m.stack([a, b, c], axis=-1),
           ((2, 3), (2, 3), (2, 3))),
    OpCase("stack", "stack-axis1", lambda m, a, b: m.stack((a, b), axis=1), ((3, 2), (3, 2))),
    OpCase("stack", "stack-0d", lambda m, a, b, c: m.stack([a, b, c]), ((), (), ())),
    # softmax / log_softmax
    OpCase("softmax", "softmax-last", lambda m, a: a.softmax(), ((2, 5),)),
    OpCase("softmax", "softmax-axis0", lambda m, a: m.softmax(a, axis=0), ((3, 4),)),
    OpCase("softmax", "softmax-3d-axis1", lambda m, a: m.softmax(a, 1), ((2, 3, 4),)),
    OpCase("softmax", "softmax-1d", lambda m, a: m.softmax(a), ((6,),)),
    OpCase("log_softmax", "log_softmax-last", lambda m, a: a.log_softmax(), ((2, 5),)),
    OpCase("log_softmax", "log_softmax-axis0", lambda m, a: m.log_softmax(a, axis=0), ((3, 4),)),
    OpCase("log_softmax", "log_softmax-3d-axis1", lambda m, a: m.log_softmax(a, 1), ((2, 3, 4),)),
    OpCase("log_softmax", "log_softmax-1d", lambda m, a: m.log_softmax(a), ((6,),)),
    # cast
    OpCase("cast", "cast-flip-astype", lambda m, a: a.astype(_flip(m, a)), ((2, 3),)),
    OpCase("cast", "cast-flip-to", lambda m, a: (a * 2.0).to(_flip(m, a)), ((4,),)),
    OpCase("cast", "cast-float-double", lambda m, a: a.float().double(), ((2, 3),)),
    OpCase("cast", "cast-double-float", lambda m, a: a.double().float(), ((3,),)),
    OpCase("custom", "custom-cube", _cube_op, ((2, 3),)),
    OpCase("custom", "custom-cube-scalar", _cube_op, ((),)),
    OpCase("custom", "custom-two-inputs", _mix_op, ((4, 3), (3,))),
    OpCase("scatter_add", "scatter_add-repeats", _scatter_op, ((2, 3),)),
    OpCase("scatter_add", "scatter_add-scalar", lambda m, x: m.scatter_add(x, (3,), [1]), ((),)),
    OpCase("scatter_add", "scatter_add-into-3d", lambda m, x: m.scatter_add(x, (2, 2, 2), [7, 0, 3, 0]), ((4,),)),
    # prelu (one shared slope, or one per channel on axis 1)
    OpCase("prelu", "prelu-shared", lambda m, a, w: m.prelu(a, w), ((2, 3), (1,)), "away0"),
    OpCase("prelu", "prelu-per-channel", lambda m, a, w: m.prelu(a, w), ((4, 3), (3,)), "away0"),
    OpCase("prelu", "prelu-per-channel-4d", lambda m, a, w: m.prelu(a, w), ((2, 3, 2, 2), (3,)), "away0"),
    OpCase("prelu", "prelu-1d-shared", lambda m, a, w: m.prelu(a, w), ((5,), (1,)), "away0"),
    OpCase("prelu", "prelu-0d-shared", lambda m, a, w: m.prelu(a, w), ((), (1,)), "away0"),
    OpCase("prelu", "prelu-of-product", lambda m, a, w: m.prelu(a * 2.0, w), ((3, 2), (2,)), "away0"),
    # maxout (groups of `pieces` along the last axis; distinct values: no ties)
    OpCase("maxout", "maxout-2x6-3", lambda m, a: m.maxout(a, 3), ((2, 6),), "away0"),
    OpCase("maxout", "maxout-3x4-2", lambda m, a: m.maxout(a, 2), ((3, 4),), "away0"),
    OpCase("maxout", "maxout-3d", lambda m, a: m.maxout(a, 2), ((2, 2, 6),), "away0"),
    OpCase("maxout", "maxout-1d-all", lambda m, a: m.maxout(a, 4), ((4,),), "away0"),
    OpCase("maxout", "maxout-pieces-1", lambda m, a: m.maxout(a, 1), ((2, 3),), "away0"),
    # cross_entropy (constant labels)
    OpCase("cross_entropy", "cross_entropy-mean", lambda m, a: m.cross_entropy(a, _LABELS_4), ((4, 3),)),
    OpCase("cross_entropy", "cross_entropy-sum", lambda m, a: m.cross_entropy(a, _LABELS_4, reduction="sum"),
           ((4, 3),)),
    OpCase("cross_entropy", "cross_entropy-none", lambda m, a: m.cross_entropy(a, _LABELS_4, reduction="none"),
           ((4, 3),)),
    OpCase("cross_entropy", "cross_entropy-list-labels", lambda m, a: m.cross_entropy(a, _LABELS_5), ((5, 5),)),
    OpCase("cross_entropy", "cross_entropy-tensor-labels",
           lambda m, a: m.cross_entropy(a, m.tensor(_LABELS_4)), ((4, 3),)),
    OpCase("cross_entropy", "cross_entropy-wide-logits", lambda m, a: m.cross_entropy(a * 30.0, [1, 0]),
           ((2, 4),)),
    OpCase("cross_entropy", "cross_entropy-one-class", lambda m, a: m.cross_entropy(a, [0, 0, 0]), ((3, 1),)),
    OpCase("cross_entropy", "cross_entropy-ignore-index", lambda m, a: _F(m).cross_entropy(a, [2, -100, 1, 0]),
           ((4, 3),)),
    OpCase("cross_entropy", "cross_entropy-ignore-index-none", lambda m, a: _F(m).cross_entropy(
        a, m.tensor([1, 2, 1, 0]), ignore_index=1, reduction="none"), ((4, 3),)),
    # nll_loss: class weights, an ignored label, label smoothing (cross_entropy's, over a log_softmax)
    OpCase("nll_loss", "nll_loss-mean", lambda m, a: _F(m).nll_loss(a.log_softmax(1), _LABELS_4), ((4, 3),)),
    OpCase("nll_loss", "nll_loss-weight-ignore-sum", lambda m, a: _F(m).nll_loss(
        a, m.tensor([0, 2, -100, 1]), weight=m.tensor(_CLASS_W3, dtype=a.dtype), reduction="sum"), ((4, 3),)),
    OpCase("nll_loss", "nll_loss-weight-none", lambda m, a: _F(m).nll_loss(
        a, [2, 2, 0], weight=m.tensor(_CLASS_W3, dtype=a.dtype), ignore_index=0, reduction="none"), ((3, 3),)),
    OpCase("nll_loss", "cross_entropy-weight-mean", lambda m, a: _F(m).cross_entropy(
        a, [1, 0, -100, 2, 1], weight=m.tensor(_CLASS_W3, dtype=a.dtype)), ((5, 3),)),
    OpCase("nll_loss", "cross_entropy-smoothing", lambda m, a: _F(m).cross_entropy(
        a, m.tensor(_LABELS_4), label_smoothing=0.2), ((4, 3),)),
    OpCase("nll_loss", "cross_entropy-smoothing-weight-ignore", lambda m, a: _F(m).cross_entropy(
        a, [3, 3, 1, 0], weight=m.tensor([0.5, 2.0, 1.0, 1.5], dtype=a.dtype), ignore_index=1,
        label_smoothing=0.3, reduction="sum"), ((4, 4),)),
    # one_hot has no gradient (an int64 result): its cases multiply it, as a float mask, into a
    # differentiable op, whose node is the output's (tests/ops/test_one_hot_bce.py checks it by hand)
    OpCase("one_hot", "one_hot-2d-labels", lambda m, a: a * _F(m).one_hot(m.tensor(_LABELS_23), 4).astype(a.dtype),
           ((2, 3, 4),)),
    OpCase("one_hot", "one_hot-int32-labels-sum", lambda m, a: (a * _F(m).one_hot(
        m.tensor(_LABELS_5, dtype=m.int32), 5).astype(a.dtype)).sum(1), ((5, 5),)),
    OpCase("one_hot", "one_hot-0d-label", lambda m, a: a * _F(m).one_hot(m.tensor(2), 3).astype(a.dtype), ((3,),)),
    OpCase("one_hot", "one_hot-empty", lambda m, a: a * _F(m).one_hot(m.tensor(np.zeros((0,), np.int64)), 3).astype(
        a.dtype), ((0, 3),)),
    # binary_cross_entropy of probabilities sigmoid(a): targets that require grad or are constants (0 and 1
    # included), constant weights broadcast or of the input's shape, every reduction
    OpCase("binary_cross_entropy", "bce-mean", lambda m, a, b: _F(m).binary_cross_entropy(a.sigmoid(), b.sigmoid()),
           ((2, 3), (2, 3))),
    OpCase("binary_cross_entropy", "bce-sum-weight-row", lambda m, a, b: _F(m).binary_cross_entropy(
        a.sigmoid(), b.sigmoid(), m.tensor(_BCE_W4, dtype=a.dtype), reduction="sum"), ((3, 4), (3, 4))),
    OpCase("binary_cross_entropy", "bce-none-weight-col", lambda m, a, b: _F(m).binary_cross_entropy(
        a.sigmoid(), b.sigmoid(), m.tensor(_BCE_W21, dtype=a.dtype), reduction="none"), ((2, 3), (2, 3))),
    OpCase("binary_cross_entropy", "bce-mean-weight-full-3d", lambda m, a: _F(m).binary_cross_entropy(
        a.sigmoid(), m.tensor(_BCE_T234, dtype=a.dtype), m.tensor(_BCE_W234, dtype=a.dtype)), ((2, 3, 4),)),
    OpCase("binary_cross_entropy", "bce-constant-target-0d-weight", lambda m, a: _F(m).binary_cross_entropy(
        a.sigmoid(), m.tensor(_BCE_T6, dtype=a.dtype), m.tensor(1.5, dtype=a.dtype), reduction="sum"), ((6,),)),
    OpCase("binary_cross_entropy", "bce-one-hot-target", lambda m, a: _F(m).binary_cross_entropy(
        a.sigmoid(), _F(m).one_hot(m.tensor(_LABELS_4), 3).astype(a.dtype)), ((4, 3),)),
    OpCase("binary_cross_entropy", "bce-0d", lambda m, a, b: _F(m).binary_cross_entropy(
        a.sigmoid(), b.sigmoid(), reduction="none"), ((), ())),
    OpCase("binary_cross_entropy", "bce-method-none", lambda m, a, b: a.sigmoid()._binary_cross_entropy(
        b.sigmoid(), None, "none"), ((5,), (5,))),
    # check_finite_norm: the identity on finite values (clip_grad_norm_'s check of its total norm)
    OpCase("check_finite_norm", "check_finite_norm-0d-norm", lambda m, a: ((a * a).sum() ** 0.5)._check_finite_norm(
        2.0), ((3, 4),)),
    OpCase("check_finite_norm", "check_finite_norm-2d-inf-order", lambda m, a: a._check_finite_norm(float("inf")),
           ((2, 3),)),
    # ops of pygrad._derived: composed of the rows above, cased here for parity, finite differences
    # and double backward (op: the last row each records)
    OpCase("logsumexp", "logsumexp-dim", lambda m, a: a.logsumexp(1), ((3, 4),)),
    OpCase("logsumexp", "logsumexp-all", lambda m, a: m.logsumexp(a), ((2, 3),)),
    OpCase("logsumexp", "logsumexp-tuple-keepdim", lambda m, a: m.logsumexp(a * 3.0, (0, 2), keepdim=True),
           ((2, 3, 2),)),
    OpCase("logsumexp", "logsumexp-0d", lambda m, a: a.logsumexp(0), ((),)),
    OpCase("logsumexp", "logsumexp-wide", lambda m, a: (a * 400.0).logsumexp(-1), ((2, 3),)),
    OpCase("cumsum", "cumsum-dim1", lambda m, a: a.cumsum(1), ((3, 4),)),
    OpCase("cumsum", "cumsum-dim0-3d", lambda m, a: m.cumsum(a, 0), ((3, 2, 2),)),
    OpCase("cumsum", "cumsum-neg-dim", lambda m, a: (a * a).cumsum(-1), ((5,),)),
    OpCase("cumsum", "cumsum-0d", lambda m, a: a.cumsum(0), ((),)),
    OpCase("reshape", "squeeze-dims", lambda m, a: a.squeeze((0, 2)), ((1, 3, 1),)),
    OpCase("reshape", "unsqueeze-flatten", lambda m, a: m.flatten(a.unsqueeze(1), 1), ((2, 3),)),
    OpCase("reshape", "unflatten", lambda m, a: a.unflatten(-1, (2, 3)), ((2, 6),)),
    OpCase("permute", "movedim", lambda m, a: m.movedim(a, 0, 2), ((2, 3, 4),)),
    OpCase("index_map", "expand", lambda m, a: a.expand(2, 3, -1), ((3, 1),)),
    OpCase("index_map", "broadcast_to", lambda m, a: m.broadcast_to(a, (2, 3)), ((3,),)),
    OpCase("index_map", "flip", lambda m, a: m.flip(a, (0, 1)), ((3, 4),)),
    OpCase("index_map", "roll", lambda m, a: a.roll((1, -1), (0, 1)), ((3, 4),)),
    OpCase("index_map", "repeat", lambda m, a: a.repeat(2, 1, 2), ((2, 3),)),
    OpCase("index_map", "tile", lambda m, a: m.tile(a, (2,)), ((3,),)),
    OpCase("getitem", "diagonal", lambda m, a: a.diagonal(1, 1, 2), ((2, 3, 4),)),
    OpCase("tril", "tril", lambda m, a: a.tril(), ((3, 4),)),
    OpCase("triu", "triu-k", lambda m, a: m.triu(a, -1), ((2, 3, 3),)),
    OpCase("pad", "pad-constant", lambda m, a: _pad(m)(a, (1, 2, 0, 1), value=0.5), ((2, 3),)),
    OpCase("index_map", "pad-reflect", lambda m, a: _pad(m)(a, (2, 1), mode="reflect"), ((2, 4),)),
    OpCase("index_map", "pad-replicate", lambda m, a: _pad(m)(a, (1, 1, 2, 0), mode="replicate"), ((2, 3),)),
    OpCase("add", "narrow-split-chunk", lambda m, a: a.narrow(1, 1, 2) * a.split(2, 1)[1] + a.chunk(2, 1)[0],
           ((3, 4),)),
    OpCase("stack", "unbind-stack", lambda m, a: m.stack(a.unbind(1)[::-1]), ((2, 3),)),
    OpCase("cast", "clone", lambda m, a: a.clone(), ((2, 3),)),
    OpCase("matmul", "dot", lambda m, a, b: m.dot(a, b), ((4,), (4,))),
    OpCase("mul", "outer", lambda m, a, b: m.outer(a, b), ((3,), (2,))),
    OpCase("matmul", "einsum-matmul", lambda m, a, b: m.einsum("ij,jk->ik", a, b), ((2, 3), (3, 4))),
    OpCase("matmul", "einsum-batch-ellipsis", lambda m, a, b: m.einsum("...ij,...kj->...ik", a, b),
           ((2, 2, 3), (2, 4, 3))),
    OpCase("sum", "einsum-trace", lambda m, a: m.einsum("ii", a), ((3, 3),)),
    OpCase("reshape", "einsum-three", lambda m, a, b, c: m.einsum("ij,jk,k->i", a, b, c), ((2, 3), (3, 4), (4,))),
    OpCase("reshape", "var", lambda m, a: a.var(1), ((3, 4),)),
    OpCase("mul_scalar", "var-correction0-keepdim", lambda m, a: m.var(a, (0, 1), correction=0, keepdim=True),
           ((2, 3, 2),)),
    OpCase("sqrt", "std", lambda m, a: a.std(), ((3, 4),)),
    OpCase("norm", "norm-2", lambda m, a: a.norm(dim=1), ((3, 4),)),
    OpCase("reshape", "norm-1", lambda m, a: m.norm(a, 1), ((3, 4),), "away0"),
    OpCase("reshape", "norm-inf", lambda m, a: a.norm(float("inf"), 0), ((3, 4),), "away0"),
    OpCase("reshape", "norm-3", lambda m, a: a.norm(3, (0, 1)), ((2, 3),), "away0"),
    OpCase("reshape", "prod", lambda m, a: a.prod(), ((2, 3),)),
    OpCase("reshape", "prod-dim-keepdim", lambda m, a: m.prod(a, 1, keepdim=True), ((3, 5),)),
    OpCase("cumprod", "cumprod", lambda m, a: a.cumprod(1), ((2, 5),)),
    OpCase("add", "logcumsumexp", lambda m, a: m.logcumsumexp(a * 3.0, 1), ((2, 5),)),
    OpCase("matmul", "mm", lambda m, a, b: m.mm(a, b), ((2, 3), (3, 4))),
    OpCase("matmul", "bmm", lambda m, a, b: a.bmm(b), ((2, 3, 4), (2, 4, 2))),
    OpCase("matmul", "mv", lambda m, a, b: m.mv(a, b), ((3, 4), (4,))),
    OpCase("add", "addmm", lambda m, a, b, c: m.addmm(a, b, c, beta=0.5, alpha=2.0), ((4,), (2, 3), (3, 4))),
    OpCase("mul", "t-mT", lambda m, a: a.t() * a.mT, ((3, 3),)),
    OpCase("max", "amax", lambda m, a: m.amax(a, 1), ((3, 4),), "away0"),
    OpCase("min", "amin-all", lambda m, a: a.amin(), ((2, 3),), "away0"),
    OpCase("where", "clamp_min-tensor", lambda m, a, b: a.clamp_min(b), ((3, 4), (4,)), "away0"),
    OpCase("add", "logaddexp", lambda m, a, b: m.logaddexp(a * 3.0, b), ((3, 4), (4,))),
    OpCase("mul", "hypot", lambda m, a, b: m.hypot(a, b), ((3, 4), (3, 4)), "away0"),
    OpCase("reshape", "diag-1d", lambda m, a: m.diag(a, 1), ((3,),)),
    OpCase("getitem", "diag-2d", lambda m, a: a.diag(-1), ((3, 4),)),
    OpCase("concatenate", "cross", lambda m, a, b: m.cross(a, b), ((4, 3), (4, 3))),
    OpCase("reshape", "index_add", lambda m, a, b: a.index_add(0, m.tensor(np.array([2, 0, 2])), b, alpha=0.5),
           ((3, 2), (3, 2))),
    OpCase("index_map", "repeat_interleave", lambda m, a: a.repeat_interleave(2, dim=1), ((2, 3),)),
    OpCase("getitem", "masked_select", lambda m, a: a.masked_select(m.tensor(np.arange(12).reshape(3, 4) % 3 == 0)),
           ((3, 4),)),
    OpCase("add", "linear", lambda m, a, b, c: m.nn.functional.linear(a, b, c), ((3, 4), (5, 4), (5,))),
    OpCase("reshape", "bilinear", lambda m, a, b, c: m.nn.functional.bilinear(a, b, c), ((3, 2), (3, 4), (5, 2, 4))),
    OpCase("div", "normalize", lambda m, a: m.nn.functional.normalize(a), ((3, 4),)),
    OpCase("sum", "cosine_similarity", lambda m, a, b: m.nn.functional.cosine_similarity(a, b), ((3, 4), (3, 4))),
    OpCase("add", "selu-celu", lambda m, a: m.nn.functional.selu(a) + m.nn.functional.celu(a, 0.7),
           ((3, 4),)),
    OpCase("mul", "hardswish-glu", lambda m, a: m.nn.functional.hardswish(a)[:2] * m.nn.functional.glu(a, 0),
           ((4, 3),)),
    OpCase("div", "softsign", lambda m, a: m.nn.functional.softsign(a), ((3, 4),)),
    OpCase("reshape", "max_pool1d", lambda m, a: m.nn.functional.max_pool1d(a, 3, 2, 1), ((2, 3, 7),), "away0"),
    OpCase("reshape", "avg_pool1d", lambda m, a: m.nn.functional.avg_pool1d(a, 3, 2, 1), ((2, 3, 7),)),
    OpCase("reshape", "pixel_shuffle", lambda m, a: m.nn.functional.pixel_shuffle(a, 2), ((2, 8, 2, 3),)),
    OpCase("mul", "rms_norm", lambda m, a, b: m.nn.functional.rms_norm(a, 4, b), ((3, 4), (4,))),
    # conv2d (the bias is an add), conv1d (a height-1 view), the two gradient ops as gates call them
    OpCase("conv2d", "conv2d", lambda m, a, b: _conv2d(m)(a, b), ((1, 2, 4, 5), (3, 2, 2, 3))),
    OpCase("add", "conv2d-bias-batch", lambda m, a, b, c: _conv2d(m)(a, b, c), ((2, 3, 4, 4), (2, 3, 3, 3), (2,))),
    OpCase("conv2d", "conv2d-stride-pad", lambda m, a, b: _conv2d(m)(a, b, stride=2, padding=1),
           ((2, 2, 5, 6), (3, 2, 3, 3))),
    OpCase("conv2d", "conv2d-pair-args", lambda m, a, b: _conv2d(m)(a, b, stride=(1, 2), padding=(2, 0),
                                                                     dilation=(2, 1)), ((1, 2, 5, 7), (2, 2, 2, 3))),
    OpCase("conv2d", "conv2d-same-even", lambda m, a, b: _conv2d(m)(a, b, padding="same", dilation=(1, 2)),
           ((1, 1, 4, 5), (2, 1, 2, 2))),
    OpCase("conv2d", "conv2d-groups", lambda m, a, b: _conv2d(m)(a, b, groups=2), ((2, 4, 4, 4), (6, 2, 2, 2))),
    OpCase("conv2d", "conv2d-depthwise", lambda m, a, b: _conv2d(m)(a, b, padding=1, groups=3),
           ((1, 3, 4, 4), (3, 1, 3, 3))),
    OpCase("reshape", "conv2d-unbatched", lambda m, a, b: _conv2d(m)(a, b), ((2, 3, 3), (2, 2, 2, 2))),
    OpCase("add", "conv1d", lambda m, a, b, c: _conv1d(m)(a, b, c, stride=2, padding=1), ((2, 3, 7), (4, 3, 3),
                                                                                               (4,))),
    OpCase("reshape", "conv1d-same-dilated", lambda m, a, b: _conv1d(m)(a, b, padding="same", dilation=2),
           ((1, 2, 6), (2, 2, 2))),
    OpCase("conv2d", "conv2d-empty-batch", lambda m, a, b: _conv2d(m)(a, b), ((0, 2, 3, 3), (2, 2, 2, 2))),
    # pooling: windows with padding, ceil_mode, dilation, overlapping and not; unbatched; the averages' gradient
    OpCase("max_pool2d", "max_pool2d", lambda m, a: m.nn.functional.max_pool2d(a, 3, 2, 1), ((2, 2, 5, 5),),
           "away0"),
    OpCase("max_pool2d", "max_pool2d-ceil-dilated",
           lambda m, a: m.nn.functional.max_pool2d(a, 2, 2, 1, 2, True), ((1, 2, 6, 5),), "away0"),
    OpCase("max_pool2d", "max_pool2d-2x2", lambda m, a: m.nn.functional.max_pool2d(a, 2), ((2, 3, 4, 6),), "away0"),
    OpCase("max_pool2d", "max_pool2d-overlap-rect", lambda m, a: m.nn.functional.max_pool2d(a, (3, 2), 1, (1, 0)),
           ((1, 2, 4, 5),), "away0"),
    OpCase("reshape", "max_pool2d-unbatched", lambda m, a: m.nn.functional.max_pool2d(a, 2, 1), ((2, 3, 3),),
           "away0"),
    OpCase("max_pool2d", "max_pool2d-empty-batch", lambda m, a: m.nn.functional.max_pool2d(a, 2), ((0, 2, 4, 4),)),
    OpCase("avg_pool2d", "avg_pool2d", lambda m, a: m.nn.functional.avg_pool2d(a, 3, 2, 1, True, False),
           ((2, 2, 6, 5),)),
    OpCase("avg_pool2d", "avg_pool2d-include-pad", lambda m, a: m.nn.functional.avg_pool2d(a, (2, 3), (1, 2), 1),
           ((1, 3, 5, 6),)),
    OpCase("avg_pool2d", "avg_pool2d-divisor", lambda m, a: m.nn.functional.avg_pool2d(a, 2, divisor_override=3),
           ((2, 1, 4, 4),)),
    OpCase("reshape", "avg_pool2d-unbatched", lambda m, a: m.nn.functional.avg_pool2d(a, 2, 1, ceil_mode=True),
           ((2, 3, 4),)),
    OpCase("adaptive_avg_pool2d", "adaptive_avg_pool2d", lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, (3, 2)),
           ((2, 2, 5, 7),)),
    OpCase("adaptive_avg_pool2d", "adaptive_avg_pool2d-1x1", lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, 1),
           ((2, 3, 4, 3),)),
    OpCase("adaptive_avg_pool2d", "adaptive_avg_pool2d-up", lambda m, a: m.nn.functional.adaptive_avg_pool2d(
        a, (None, 5)), ((1, 2, 3, 3),)),
    OpCase("avg_pool2d_input_grad", "avg_pool2d_input_grad",
           lambda m, a: a._avg_pool2d_input_grad((5, 6), (3, 2), (2, 2), (1, 1), True, False, 0), ((2, 2, 3, 4),)),
    OpCase("avg_pool2d_input_grad", "adaptive_avg_pool2d_input_grad",
           lambda m, a: a._adaptive_avg_pool2d_input_grad((5, 4)), ((1, 2, 3, 3),)),
    # resampling: every mode and dimensionality, sizes and kept scale factors, up and down, the gradient op
    OpCase("interpolate", "interpolate-bilinear",
           lambda m, a: m.nn.functional.interpolate(a, (5, 7), mode="bilinear"), ((2, 2, 3, 4),)),
    OpCase("interpolate", "interpolate-bilinear-corners",
           lambda m, a: m.nn.functional.interpolate(a, scale_factor=1.5, mode="bilinear", align_corners=True),
           ((1, 2, 3, 4),)),
    OpCase("interpolate", "interpolate-bilinear-down-scale",
           lambda m, a: m.nn.functional.interpolate(a, scale_factor=(0.6, 1.7), mode="bilinear"), ((2, 1, 7, 5),)),
    OpCase("interpolate", "interpolate-nearest", lambda m, a: m.nn.functional.interpolate(a, scale_factor=(2, 0.5)),
           ((1, 2, 3, 4),)),
    OpCase("interpolate", "interpolate-nearest-1d", lambda m, a: m.nn.functional.interpolate(a, 7), ((2, 2, 3),)),
    OpCase("interpolate", "interpolate-nearest-exact",
           lambda m, a: m.nn.functional.interpolate(a, (4, 9), mode="nearest-exact"), ((1, 2, 5, 4),)),
    OpCase("interpolate", "interpolate-linear", lambda m, a: m.nn.functional.interpolate(a, 7, mode="linear"),
           ((2, 3, 4),)),
    OpCase("interpolate", "interpolate-linear-corners-down",
           lambda m, a: m.nn.functional.interpolate(a, 3, mode="linear", align_corners=True), ((2, 1, 8),)),
    OpCase("interpolate", "interpolate-bilinear-same-height",
           lambda m, a: m.nn.functional.interpolate(a, (3, 2), mode="bilinear"), ((1, 2, 3, 5),)),
    OpCase("interpolate", "interpolate-empty-batch",
           lambda m, a: m.nn.functional.interpolate(a, scale_factor=2, mode="bilinear"), ((0, 2, 3, 3),)),
    OpCase("interpolate", "interpolate-bicubic",
           lambda m, a: m.nn.functional.interpolate(a, (7, 3), mode="bicubic"), ((2, 2, 4, 5),)),
    OpCase("interpolate", "interpolate-bicubic-corners-scale",
           lambda m, a: m.nn.functional.interpolate(a, scale_factor=(1.6, 0.7), mode="bicubic", align_corners=True),
           ((1, 2, 4, 6),)),
    OpCase("interpolate", "interpolate-bilinear-antialias-down",
           lambda m, a: m.nn.functional.interpolate(a, scale_factor=(0.4, 0.5), mode="bilinear", antialias=True),
           ((1, 2, 9, 8),)),
    OpCase("interpolate", "interpolate-bicubic-antialias",
           lambda m, a: m.nn.functional.interpolate(a, (3, 9), mode="bicubic", antialias=True), ((2, 1, 8, 5),)),
    OpCase("interpolate", "interpolate-bicubic-antialias-corners-width",
           lambda m, a: m.nn.functional.interpolate(a, (2, 6), mode="bicubic", antialias=True, align_corners=True),
           ((1, 2, 7, 6),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-bilinear",
           lambda m, a: a._interpolate_input_grad("linear", (3, 4), (0.0, 0.0), False), ((2, 2, 5, 7),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-nearest-scale",
           lambda m, a: a._interpolate_input_grad("nearest", (5,), (1.7,)), ((1, 3, 8),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-corners-down",
           lambda m, a: a._interpolate_input_grad("linear", (6, 5), None, True), ((1, 2, 4, 3),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-bicubic",
           lambda m, a: a._interpolate_input_grad("cubic", (3, 5), None, False), ((1, 2, 6, 4),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-bicubic-antialias",
           lambda m, a: a._interpolate_input_grad("cubic-aa", (9, 7), (0.4, 0.0), True), ((1, 2, 3, 2),)),
    OpCase("interpolate_input_grad", "interpolate_input_grad-bilinear-antialias",
           lambda m, a: a._interpolate_input_grad("linear-aa", (8, 3), None, False), ((2, 1, 3, 3),)),
    OpCase("conv2d_input_grad", "conv2d_input_grad",
           lambda m, a, b: a._conv2d_input_grad(b, (5, 6), (2, 2), (1, 1, 1, 1), (1, 1), 1),
           ((2, 3, 3, 3), (3, 2, 3, 3))),
    OpCase("conv2d_weight_grad", "conv2d_weight_grad",
           lambda m, a, b: a._conv2d_weight_grad(b, (2, 2), (1, 1), (0, 1, 1, 0), (2, 1), 2),
           ((2, 4, 4, 4), (2, 2, 3, 4))),
    # normalisation: training batch statistics, eval with running statistics, 2-d to 4-d, with and without
    # the affine pair
    OpCase("batch_norm", "batch_norm-train-4d", lambda m, a, w, b: _F(m).batch_norm(a, None, None, w, b, True),
           ((3, 2, 3, 2), (2,), (2,))),
    OpCase("batch_norm", "batch_norm-train-2d", lambda m, a: _F(m).batch_norm(a, None, None, training=True),
           ((5, 3),)),
    OpCase("batch_norm", "batch_norm-train-running",
           lambda m, a, w: _F(m).batch_norm(a, *_running(m, a, 3), w, None, True, 0.3, 1e-3), ((2, 3, 4), (3,))),
    OpCase("batch_norm", "batch_norm-eval", lambda m, a, w, b: _F(m).batch_norm(a, *_running(m, a, 2), w, b),
           ((2, 2, 3, 3), (2,), (2,))),
    OpCase("layer_norm", "layer_norm", lambda m, a, w, b: _F(m).layer_norm(a, (5,), w, b), ((3, 5), (5,), (5,))),
    OpCase("layer_norm", "layer_norm-2dims-plain", lambda m, a: _F(m).layer_norm(a, (3, 4), eps=1e-3),
           ((2, 2, 3, 4),)),
    OpCase("group_norm", "group_norm", lambda m, a, w, b: _F(m).group_norm(a, 2, w, b), ((2, 4, 3), (4,), (4,))),
    OpCase("group_norm", "group_norm-4d-per-channel", lambda m, a, w: _F(m).group_norm(a, 3, w),
           ((2, 3, 2, 2), (3,))),
    # dropout with a fixed seed (the masks agree bit for bit), embedding with repeats and a padding row
    OpCase("dropout", "dropout-seeded", lambda m, a: a._dropout_seeded(0.3, 1234567), ((4, 7),)),
    OpCase("dropout", "dropout-generator", lambda m, a: m.nn.functional.dropout(
        a, 0.5, generator=np.random.default_rng(3)), ((2, 3, 5),)),
    OpCase("mul", "dropout-composed", lambda m, a, b: a._dropout_seeded(0.2, 99) * b, ((3, 4), (4,))),
    OpCase("dropout", "dropout-empty", lambda m, a: a._dropout_seeded(0.5, 1), ((0, 3),)),
    # the random ops with a fixed seed: the values agree bit for bit (tests/ops/test_random_ops.py)
    OpCase("random", "randn-seeded", lambda m, a: a * a._random_like("normal", 12345), ((5, 7),)),
    OpCase("random", "rand-seeded", lambda m, a: a * a._random_like("uniform", 99), ((3, 4),)),
    OpCase("random", "randn-odd-0d", lambda m, a: a + a._random_like("normal", 3), ((),)),
    OpCase("bernoulli", "bernoulli-seeded", lambda m, a: a * a.sigmoid()._bernoulli_seeded(7), ((4, 6),)),
    OpCase("bernoulli", "bernoulli-empty", lambda m, a: a * a.sigmoid()._bernoulli_seeded(7), ((0, 2),)),
    OpCase("embedding", "embedding", lambda m, a: m.nn.functional.embedding(np.array([[0, 2, 2], [1, 2, 0]]), a),
           ((3, 4),)),
    # the padding row gets no gradient, so it is zeroed first (as nn.Embedding does) to keep finite
    # differences meaningful
    OpCase("embedding", "embedding-padding", lambda m, a: m.nn.functional.embedding(
        np.array([3, 1, 1, 0]), a * m.tensor(_PAD_ROW1, dtype=a.dtype), padding_idx=1), ((4, 2),)),
    OpCase("embedding", "embedding-scalar-index", lambda m, a: m.nn.functional.embedding(np.array(2), a), ((3, 5),)),
    # scale_grad_by_freq with distinct indices scales by 1, so finite differences hold; repeats are checked
    # against the reference engine (parity) and by hand in tests/ops/test_dropout_embedding.py
    OpCase("embedding", "embedding-freq", lambda m, a: m.nn.functional.embedding(
        np.array([2, 0, 3]), a, scale_grad_by_freq=True), ((4, 3),)),
    # attention: plain, causal (L > S too), bool and float masks (the float one differentiable), batch broadcast
    OpCase("scaled_dot_product_attention", "sdpa", lambda m, a, b, c: _sdpa(m)(a, b, c),
           ((2, 3, 4), (2, 5, 4), (2, 5, 3))),
    OpCase("scaled_dot_product_attention", "sdpa-causal", lambda m, a, b, c: _sdpa(m)(a, b, c, is_causal=True),
           ((1, 2, 5, 3), (1, 2, 4, 3), (1, 2, 4, 2))),
    OpCase("scaled_dot_product_attention", "sdpa-bool-mask", lambda m, a, b, c: _sdpa(m)(
        a, b, c, attn_mask=_SDPA_MASK, scale=0.7), ((2, 3, 4), (2, 4, 4), (2, 4, 2))),
    OpCase("scaled_dot_product_attention", "sdpa-float-mask", lambda m, a, b, c, d: _sdpa(m)(a, b, c, attn_mask=d),
           ((2, 3, 2), (2, 4, 2), (2, 4, 3), (3, 4))),
    OpCase("scaled_dot_product_attention", "sdpa-2d", lambda m, a, b, c: _sdpa(m)(a, b, c), ((4, 3), (6, 3), (6, 5))),
    OpCase("scaled_dot_product_attention", "sdpa-broadcast-batch", lambda m, a, b, c: _sdpa(m)(a, b, c),
           ((2, 3, 4), (1, 5, 4), (1, 5, 3))),
    # conv_transpose2d: the input gradient op (the bias an add; the output padding a dilation leaves out of
    # the scatter's reach a pad)
    OpCase("conv2d_input_grad", "conv_transpose2d-stride-outpad",
           lambda m, a, b: m.nn.functional.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1),
           ((2, 3, 3, 4), (3, 2, 3, 3))),
    OpCase("add", "conv_transpose2d-bias-groups-dilation",
           lambda m, a, b, c: m.nn.functional.conv_transpose2d(a, b, c, (1, 2), (1, 0), (0, 1), 2, (2, 1)),
           ((1, 4, 3, 3), (4, 1, 2, 3), (2,))),
    OpCase("pad", "conv_transpose1d-outpad-past-reach",
           lambda m, a, b: m.nn.functional.conv_transpose1d(a, b, output_padding=2, dilation=3),
           ((2, 2, 4), (2, 3, 2))),
    # the ops cumprod, pad (constant mode), tril and triu: more cases
    OpCase("cumprod", "cumprod-dim0-3d", lambda m, a: m.cumprod(a, 0), ((3, 2, 2),)),
    OpCase("cumprod", "cumprod-zeros", lambda m, a: m.cumprod(a.relu(), -1), ((3, 5),), "away0"),
    OpCase("cumprod", "cumprod-0d", lambda m, a: a.cumprod(0), ((),)),
    OpCase("pad", "pad-crop", lambda m, a: _pad(m)(a, (-1, 2, 1, -2)), ((4, 3),)),
    OpCase("pad", "pad-beyond-3d", lambda m, a: _pad(m)(a, (0, 0, 3, 4, 1, 0), value=-2.0), ((2, 1, 2),)),
    OpCase("pad", "pad-crop-all", lambda m, a: _pad(m)(a, (-2, -1), value=1.0), ((2, 3),)),
    OpCase("tril", "tril-beyond", lambda m, a: a.tril(7), ((2, 3),)),
    OpCase("triu", "triu-wide", lambda m, a: m.triu(a * a, 2), ((3, 5),)),
    # hardtanh (and relu6): 18 "away0" values lie on a grid whose cell edges include 0.5, 1.0 and 1.5, so no
    # value is near a bound
    OpCase("hardtanh", "hardtanh-default", lambda m, a: _F(m).hardtanh(a), ((3, 6),), "away0"),
    OpCase("hardtanh", "hardtanh-bounds-3d", lambda m, a: _F(m).hardtanh(a, -0.5, 1.5), ((2, 3, 3),), "away0"),
    OpCase("hardtanh", "relu6", lambda m, a: _F(m).relu6(a * 4.0), ((18,),), "away0"),
    OpCase("hardtanh", "hardtanh-method-0d", lambda m, a: a._hardtanh(-2.0, 2.0), ((),)),
    OpCase("hardtanh", "hardtanh-empty", lambda m, a: _F(m).hardtanh(a, 0.0, 1.0), ((0, 3),)),
    # huber_loss and smooth_l1_loss (the op with smooth_l1): C¹ at |d| = δ; the L1 case (β = 0) against a
    # constant target of 0, its input "away0" so d stays away from its kink
    OpCase("huber_loss", "huber-mean", lambda m, a, b: _F(m).huber_loss(a, b), ((3, 4), (3, 4))),
    OpCase("huber_loss", "huber-sum-delta-3d", lambda m, a, b: _F(m).huber_loss(a, b, "sum", delta=0.5),
           ((2, 3, 4), (2, 3, 4))),
    OpCase("huber_loss", "huber-none", lambda m, a, b: _F(m).huber_loss(a, b, reduction="none", delta=2.0),
           ((5,), (5,))),
    OpCase("huber_loss", "huber-constant-target", lambda m, a: _F(m).huber_loss(
        a, m.tensor(_HUBER_T34, dtype=a.dtype), delta=0.8), ((3, 4),)),
    OpCase("mul", "huber-weight-none", lambda m, a, b: _F(m).huber_loss(
        a, b, "none", weight=m.tensor(_HUBER_W34, dtype=a.dtype)), ((3, 4), (3, 4))),
    OpCase("huber_loss", "huber-0d", lambda m, a, b: _F(m).huber_loss(a, b), ((), ())),
    OpCase("huber_loss", "huber-method-none", lambda m, a, b: a._huber_loss(b, "none", 0.75), ((2, 3), (2, 3))),
    OpCase("huber_loss", "smooth_l1-mean", lambda m, a, b: _F(m).smooth_l1_loss(a, b), ((3, 4), (3, 4))),
    OpCase("huber_loss", "smooth_l1-beta-sum", lambda m, a, b: _F(m).smooth_l1_loss(a, b, "sum", beta=0.5),
           ((4, 3), (4, 3))),
    OpCase("huber_loss", "smooth_l1-l1", lambda m, a: _F(m).smooth_l1_loss(a, m.zeros(2, 5, dtype=a.dtype), "none",
                                                                           beta=0.0), ((2, 5),), "away0"),
    OpCase("huber_loss", "smooth_l1-method-mean", lambda m, a, b: a._huber_loss(b, "mean", 0.3, True), ((6,), (6,))),
    # norm (p = 2 and 'fro'): over all dims, one, several with keepdim, a 0-d input, an empty dim
    OpCase("norm", "norm-all", lambda m, a: a.norm(), ((2, 3),)),
    OpCase("norm", "norm-dims-keepdim", lambda m, a: m.norm(a, 2, (0, 2), keepdim=True), ((2, 3, 2),)),
    OpCase("norm", "norm-fro-dim0", lambda m, a: a.norm("fro", 0), ((3, 4),)),
    OpCase("norm", "norm-0d", lambda m, a: a.norm(), ((),), "away0"),
    OpCase("norm", "norm-empty-dim", lambda m, a: a.norm(dim=0), ((0, 3),)),
]
"""All cases; ids are unique."""
