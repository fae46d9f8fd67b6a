"""Property-based parity: random expression DAGs on the C engine and on the reference.

Hypothesis builds a random program step by step: leaves of random
(broadcast-compatible) shapes, then ops drawn from the whole op table through
the public API (operators, methods and module functions), each applied to
values already built (so values fan out) or to fresh leaves where the op needs
a partner of a particular shape. Every step runs on both engines at once and
the results are compared with a tolerance derived from the dtypes and
magnitudes involved; at the end a random linear function of a few values is
differentiated on both engines and every leaf's gradient is compared.

Inputs are kept where the mathematics is well conditioned: operands of log,
sqrt, pow and division are mapped to positive values first (x*x + 1/4), values
above 1e3 are dropped from the pool, and an example where the two engines take
different branches at a kink (relu at 0, ties of max...) because of a rounding
difference is rejected, not failed: there the engines agree on the rule but
not on which side of the kink a value fell.

Deterministic by default (``derandomize=True``): PYGRAD_HYPOTHESIS_EXAMPLES
sets the number of examples per test (default 1500 per dtype);
PYGRAD_HYPOTHESIS_SEED=<int> switches to random generation from that seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import pygrad
import pygrad.reference as ref
from pygrad import _optable

EXAMPLES = int(os.environ.get("PYGRAD_HYPOTHESIS_EXAMPLES", "1500"))
SEED = os.environ.get("PYGRAD_HYPOTHESIS_SEED")

SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=SEED is None,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _seeded(fn: Callable) -> Callable:
    return hypothesis_seed(int(SEED))(fn) if SEED is not None else fn


EPS = {np.dtype(np.float32): float(np.finfo(np.float32).eps), np.dtype(np.float64): float(np.finfo(np.float64).eps)}
# tolerance = TOL_ULPS * eps * scale, where scale bounds the magnitudes that went into a value
TOL_ULPS_VALUE = 2000.0
TOL_ULPS_GRAD = 20000.0
MAX_ABS = 1e3
MAX_NUMEL = 256
MAX_NDIM = 5


@dataclass
class Value:
    """One value of the program on both engines, with what its tolerance needs."""

    c: Any                 # pygrad.Tensor
    r: Any                 # pygrad.reference.Tensor
    eps: float             # the coarsest dtype epsilon it depends on
    scale: float           # bound on the magnitudes that flowed into it (>= 1)
    leaf: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.r.shape)

    @property
    def a(self) -> np.ndarray:
        return self.r.numpy()


@dataclass
class Program:
    """The state of one example: the pool of values, the leaves, the draw source."""

    data: Any
    rng: np.random.Generator
    dtype: np.dtype
    pool: list[Value] = field(default_factory=list)
    leaves: list[Value] = field(default_factory=list)
    ops_used: list[str] = field(default_factory=list)

    def draw(self, strategy: st.SearchStrategy) -> Any:
        return self.data.draw(strategy)

    def pick(self, cond: Callable[[Value], bool] = lambda v: True) -> Value | None:
        ok = [v for v in self.pool if cond(v)]
        return self.draw(st.sampled_from(ok)) if ok else None

    def leaf(self, shape: tuple[int, ...], dtype: Any = None) -> Value:
        d = np.dtype(dtype or self.dtype)
        arr = self.rng.uniform(-2.0, 2.0, size=shape).astype(d)
        c = pygrad.tensor(arr, dtype=d, requires_grad=True)
        r = ref.tensor(arr, dtype=d, requires_grad=True)
        v = Value(c, r, EPS[d], max(1.0, float(np.max(np.abs(arr), initial=0.0))), leaf=True)
        self.leaves.append(v)
        self.pool.append(v)
        return v


def _close(c: np.ndarray, r: np.ndarray, tol: float, what: str) -> None:
    assert c.shape == r.shape, f"{what}: shape {c.shape} (C) vs {r.shape} (reference)"
    assert c.dtype == r.dtype, f"{what}: dtype {c.dtype} (C) vs {r.dtype} (reference)"
    if c.dtype == np.bool_:
        np.testing.assert_array_equal(c, r, err_msg=what)
        return
    np.testing.assert_allclose(c, r, rtol=tol, atol=tol, err_msg=what)


def _same_error(ec: BaseException, er: BaseException, what: str) -> None:
    kinds = (MemoryError, IndexError, TypeError, ValueError, RuntimeError)
    kc = next((k for k in kinds if isinstance(ec, k)), type(ec))
    kr = next((k for k in kinds if isinstance(er, k)), type(er))
    assert kc is kr, f"{what}: C raised {ec!r}, reference raised {er!r}"


def apply(p: Program, name: str, fn: Callable, *args: Value, scale: float | None = None) -> Value | None:
    """Run ``fn(m, *tensors)`` on both engines; compare; add the result to the pool.

    Returns None (and adds nothing) when both engines refuse the arguments the
    same way, or when the result is out of the well-conditioned range.
    """
    try:
        oc = fn(pygrad, *[a.c for a in args])
    except Exception as exc:  # both engines must refuse alike
        try:
            fn(ref, *[a.r for a in args])
        except Exception as exc_r:
            _same_error(exc, exc_r, name)
            return None
        raise AssertionError(f"{name}: C raised {exc!r}, the reference did not") from exc
    orr = fn(ref, *[a.r for a in args])
    r = orr.numpy()
    eps = max([a.eps for a in args] + [EPS.get(np.dtype(r.dtype), 0.0)])
    base = max([a.scale for a in args] + [1.0])
    # the scale of the finite values: an infinite one would make the tolerance infinite (and the check
    # vacuous); infinities and NaNs must then match position by position
    big = float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0)) if r.dtype != np.bool_ else 1.0
    s = max(base, big, scale or 0.0)
    _close(oc.numpy(), r, TOL_ULPS_VALUE * eps * s, f"{name} forward ({', '.join(str(a.shape) for a in args)})")
    p.ops_used.append(name)
    if r.dtype == np.bool_ or r.size > MAX_NUMEL or r.ndim > MAX_NDIM:
        return None
    if not np.all(np.isfinite(r)) or np.max(np.abs(r), initial=0.0) > MAX_ABS:
        return None
    v = Value(oc, orr, eps, s)
    p.pool.append(v)
    return v


def agree(c_mask: Any, r_mask: Any) -> None:
    """Reject the example when the engines fall on different sides of a kink."""
    if not np.array_equal(np.asarray(c_mask), np.asarray(r_mask)):
        reject()


def positive(p: Program, v: Value) -> Value:
    """v itself if it is safely positive, else x*x + 1/4 (smooth, >= 1/4)."""
    if np.min(v.a, initial=1.0) > 0.2:
        return v
    sq = apply(p, "mul", lambda m, x: x * x, v)
    out = apply(p, "add_scalar", lambda m, x: x + 0.25, sq) if sq is not None else None
    if out is None:  # the square left the range: start from a fresh leaf
        return apply(p, "add_scalar", lambda m, x: x * x + 0.25, p.leaf(v.shape, v.r.dtype)) or v
    return out


def partner_shape(p: Program, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: a suffix of it, some dims set to 1, maybe a new leading dim."""
    k = p.draw(st.integers(0, len(shape)))
    out = [d if not p.draw(st.booleans()) or d == 1 else 1 for d in shape[len(shape) - k:]]
    if len(shape) < 3 and p.draw(st.integers(0, 4)) == 0:
        out = [p.draw(st.integers(1, 3))] + [1] * (len(shape) - len(out)) + out
    return tuple(out)


def broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def partner(p: Program, x: Value, *, same_shape: bool = False) -> Value:
    """Another pool value that fits x (broadcasts, or has x's shape), or a fresh leaf."""
    if same_shape:
        y = p.pick(lambda v: v.shape == x.shape)
        return y if y is not None and p.draw(st.booleans()) else p.leaf(x.shape)
    y = p.pick(lambda v: broadcasts(v.shape, x.shape) and math.prod(np.broadcast_shapes(v.shape, x.shape)) <= MAX_NUMEL)
    if y is not None and p.draw(st.integers(0, 2)) > 0:
        return y
    return p.leaf(partner_shape(p, x.shape))


# ---------------------------------------------------------------------------
# one builder per op of the op table
# ---------------------------------------------------------------------------


def _binary(name: str, op: Callable, fname: str) -> Callable[[Program], Value | None]:
    def build(p: Program) -> Value | None:
        x = p.pick()
        y = partner(p, x)
        if p.draw(st.booleans()):
            x, y = y, x
        form = p.draw(st.integers(0, 2))
        if form == 0:
            return apply(p, name, lambda m, a, b: op(a, b), x, y)
        if form == 1:
            return apply(p, name, lambda m, a, b: getattr(m, fname)(a, b), x, y)
        # a numpy array operand (converted by tensor()), no gradient to it
        arr = y.a.copy()
        return apply(p, name, lambda m, a: op(a, arr), x)
    return build


def b_div(p: Program) -> Value | None:
    x = p.pick()
    y = positive(p, partner(p, x))
    if p.draw(st.booleans()):
        y = apply(p, "neg", lambda m, a: -a, y) or y
    return apply(p, "div", lambda m, a, b: a / b if p.draw(st.booleans()) else m.div(a, b), x, y)


def b_neg(p: Program) -> Value | None:
    x = p.pick()
    return apply(p, "neg", (lambda m, a: -a) if p.draw(st.booleans()) else (lambda m, a: m.neg(a)), x)


def b_add_scalar(p: Program) -> Value | None:
    x = p.pick()
    c = p.draw(st.sampled_from([0.5, -1.25, 2.0, 3]))
    form = p.draw(st.sampled_from(["x+c", "c+x", "x-c", "c-x", "add"]))
    fns = {"x+c": lambda m, a: a + c, "c+x": lambda m, a: c + a, "x-c": lambda m, a: a - c,
           "c-x": lambda m, a: c - a, "add": lambda m, a: m.add(a, c)}
    return apply(p, "add_scalar", fns[form], x)


def b_mul_scalar(p: Program) -> Value | None:
    x = p.pick()
    c = p.draw(st.sampled_from([0.5, -1.5, 2.0, 3]))
    form = p.draw(st.sampled_from(["x*c", "c*x", "mul"]))
    fns = {"x*c": lambda m, a: a * c, "c*x": lambda m, a: c * a, "mul": lambda m, a: m.mul(c, a)}
    return apply(p, "mul_scalar", fns[form], x)


def b_div_scalar(p: Program) -> Value | None:
    x = p.pick()
    c = p.draw(st.sampled_from([0.5, -1.5, 3.0, 7]))
    return apply(p, "div_scalar", (lambda m, a: a / c) if p.draw(st.booleans()) else (lambda m, a: m.div(a, c)), x)


def b_rdiv_scalar(p: Program) -> Value | None:
    x = positive(p, p.pick())
    c = p.draw(st.sampled_from([0.5, -1.5, 3.0, 1]))
    return apply(p, "rdiv_scalar", (lambda m, a: c / a) if p.draw(st.booleans()) else (lambda m, a: m.div(c, a)), x)


def b_rpow_scalar(p: Program) -> Value | None:
    x = p.pick()
    if np.max(np.abs(x.a), initial=0) > 6:
        x = apply(p, "tanh", lambda m, a: a.tanh(), x) or x
    c = p.draw(st.sampled_from([2.0, 0.5, 10, 3.0]))
    return apply(p, "rpow_scalar", (lambda m, a: c ** a) if p.draw(st.booleans()) else (lambda m, a: m.pow(c, a)), x)


def b_pow_scalar(p: Program) -> Value | None:
    x = p.pick()
    e = p.draw(st.sampled_from([2, 3, 2.0, 0.5, -1.0, 1.5, -0.5]))
    if not float(e).is_integer() or e < 0:
        x = positive(p, x)
    if e == 3 and np.max(np.abs(x.a), initial=0) > 8:
        return None
    return apply(p, "pow_scalar", (lambda m, a: a ** e) if p.draw(st.booleans()) else (lambda m, a: m.pow(a, e)), x)


def b_pow(p: Program) -> Value | None:
    x = positive(p, p.pick())
    y = partner(p, x)
    y = apply(p, "tanh", lambda m, a: a.tanh(), y) or y  # exponent in (-1, 1): results stay moderate
    return apply(p, "pow", (lambda m, a, b: a ** b) if p.draw(st.booleans()) else (lambda m, a, b: a.pow(b)), x, y)


def _unary(name: str, domain: str = "any") -> Callable[[Program], Value | None]:
    def build(p: Program) -> Value | None:
        x = p.pick()
        if domain == "positive":
            x = positive(p, x)
        if name == "exp" and np.max(x.a, initial=0) > 6:
            x = apply(p, "tanh", lambda m, a: a.tanh(), x) or x
        if name in ("relu", "leaky_relu", "elu"):
            agree(x.c.numpy() > 0, x.a > 0)
        if name == "abs":
            agree(np.sign(x.c.numpy()), np.sign(x.a))
        if name in ("leaky_relu", "elu"):
            k = p.draw(st.sampled_from([0.01, 0.2, 1.0, 1.5]))
            if p.draw(st.booleans()):
                return apply(p, name, lambda m, a: getattr(a, name)(k), x)
            return apply(p, name, lambda m, a: getattr(m, name)(a, k), x)
        if p.draw(st.booleans()):
            return apply(p, name, lambda m, a: getattr(a, name)(), x)
        return apply(p, name, lambda m, a: getattr(m, name)(a), x)
    return build


def b_maximum(p: Program, name: str = "maximum") -> Value | None:
    x = p.pick()
    y = partner(p, x) if p.draw(st.integers(0, 3)) else x  # x with itself: an exact tie everywhere
    if p.draw(st.integers(0, 4)) == 0:
        c = float(p.draw(st.sampled_from([0.0, 0.5, -1.0])))
        agree(np.sign(x.c.numpy() - c), np.sign(x.a - c))
        return apply(p, name, lambda m, a: getattr(m, name)(a, c), x)
    shape = np.broadcast_shapes(x.shape, y.shape)
    cx, cy = np.broadcast_to(x.c.numpy(), shape), np.broadcast_to(y.c.numpy(), shape)
    rx, ry = np.broadcast_to(x.a, shape), np.broadcast_to(y.a, shape)
    agree(np.sign(cx.astype(np.float64) - cy), np.sign(rx.astype(np.float64) - ry))
    if p.draw(st.booleans()):
        return apply(p, name, lambda m, a, b: getattr(m, name)(a, b), x, y)
    return apply(p, name, lambda m, a, b: getattr(a, name)(b), x, y)


def b_clamp(p: Program) -> Value | None:
    x = p.pick()
    lo = float(p.draw(st.sampled_from([-1.5, -0.5, 0.0, 0.25])))
    hi = lo + float(p.draw(st.sampled_from([0.5, 1.0, 2.5])))
    which = p.draw(st.sampled_from(["both", "min", "max"]))
    lo_, hi_ = (lo if which != "max" else None), (hi if which != "min" else None)
    for bound in (lo_, hi_):
        if bound is not None:
            agree(np.sign(x.c.numpy() - bound), np.sign(x.a - bound))
    if p.draw(st.booleans()):
        return apply(p, "clamp", lambda m, a: m.clamp(a, lo_, hi_), x)
    return apply(p, "clamp", lambda m, a: a.clamp(min=lo_, max=hi_), x)


def b_where(p: Program) -> Value | None:
    x = p.pick()
    y = partner(p, x)
    shape = np.broadcast_shapes(x.shape, y.shape)
    if p.draw(st.booleans()):  # a condition from a comparison on the engines' own values
        a = p.pick(lambda v: broadcasts(v.shape, shape) and np.broadcast_shapes(v.shape, shape) == shape) or x
        c = float(p.draw(st.sampled_from([0.0, 0.5])))
        agree(a.c.numpy() > c, a.a > c)
        return apply(p, "where", lambda m, cond, u, w: m.where(cond > c, u, w), a, x, y)
    mask = p.rng.random(partner_shape(p, shape)) < 0.5
    if p.draw(st.booleans()):
        return apply(p, "where", lambda m, u, w: m.where(m.tensor(mask), u, w), x, y)
    return apply(p, "where", lambda m, u, w: m.where(mask, u, w), x, y)


def b_matmul(p: Program) -> Value | None:
    x = p.pick(lambda v: 1 <= len(v.shape) <= 3)
    if x is None:
        return None
    k = x.shape[-1]
    y = p.pick(lambda v: 1 <= len(v.shape) <= 3 and v.shape[-2 if len(v.shape) > 1 else 0] == k
               and v is not x)
    if y is None or p.draw(st.booleans()):
        n = p.draw(st.integers(1, 3))
        kind = p.draw(st.sampled_from(["vec", "mat", "batched"]))
        y = p.leaf((k,) if kind == "vec" else (k, n) if kind == "mat" else (p.draw(st.integers(1, 2)), k, n))
    ax, ay = np.abs(x.a).astype(np.float64), np.abs(y.a).astype(np.float64)
    try:
        bound = float(np.max(ax @ ay, initial=0.0))
    except ValueError:
        bound = 0.0
    form = p.draw(st.integers(0, 2))
    fn = [lambda m, a, b: a @ b, lambda m, a, b: m.matmul(a, b), lambda m, a, b: a.matmul(b)][form]
    return apply(p, "matmul", fn, x, y, scale=bound)


def _axis_arg(p: Program, ndim: int) -> Any:
    if ndim == 0 or p.draw(st.integers(0, 3)) == 0:
        return None
    axes = p.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    axes = [a - ndim if p.draw(st.booleans()) else a for a in axes]
    return axes[0] if len(axes) == 1 and p.draw(st.booleans()) else tuple(axes)


def _reduction(name: str) -> Callable[[Program], Value | None]:
    def build(p: Program) -> Value | None:
        x = p.pick(lambda v: math.prod(v.shape) > 0)
        if x is None:
            return None
        axis = _axis_arg(p, len(x.shape))
        keep = p.draw(st.booleans())
        if name in ("max", "min"):
            red = np.max if name == "max" else np.min
            cv = x.c.numpy()
            agree(cv == red(cv, axis=axis, keepdims=True), x.a == red(x.a, axis=axis, keepdims=True))
        bound = float(np.max(np.sum(np.abs(x.a).astype(np.float64), axis=axis), initial=0.0))
        form = p.draw(st.integers(0, 2))
        if form == 0:
            fn = lambda m, a: getattr(a, name)(axis=axis, keepdims=keep)  # noqa: E731
        elif name in ("max", "min"):  # one int dim= gives (values, indices): the reduction takes axis=
            fn = lambda m, a: getattr(m, name)(a, axis=axis, keepdims=keep)  # noqa: E731
        elif form == 1:
            fn = lambda m, a: getattr(m, name)(a, axis, keep)  # noqa: E731
        else:
            fn = lambda m, a: getattr(a, name)(dim=axis, keepdim=keep)  # noqa: E731
        return apply(p, name, fn, x, scale=bound if name in ("sum", "mean") else None)
    return build


def b_reshape(p: Program) -> Value | None:
    x = p.pick()
    n = math.prod(x.shape)
    factors: list[int] = []
    rest = n
    for q in (2, 3, 5, 7):
        while rest > 1 and rest % q == 0:
            factors.append(q)
            rest //= q
    if rest > 1:
        factors.append(rest)
    k = p.draw(st.integers(0 if n == 1 else 1, 4))
    dims = [1] * k
    for f in factors:
        dims[p.draw(st.integers(0, k - 1))] *= f
    if n == 0:
        dims = [0] + dims[1:]
    elif k and p.draw(st.booleans()):
        dims[p.draw(st.integers(0, k - 1))] = -1
    shape = tuple(dims)
    if p.draw(st.booleans()):
        return apply(p, "reshape", lambda m, a: a.reshape(shape), x)
    return apply(p, "reshape", lambda m, a: m.reshape(a, shape), x)


def b_permute(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) >= 1)
    if x is None:
        return None
    nd = len(x.shape)
    perm = [int(i) for i in p.rng.permutation(nd)]
    form = p.draw(st.integers(0, 3))
    if form == 0:
        return apply(p, "permute", lambda m, a: a.permute(*perm), x)
    if form == 1:
        return apply(p, "permute", lambda m, a: m.permute(a, [d - nd for d in perm]), x)
    if form == 2:
        return apply(p, "permute", lambda m, a: a.T, x)
    d0, d1 = p.draw(st.integers(0, nd - 1)), p.draw(st.integers(-nd, nd - 1))
    return apply(p, "permute", lambda m, a: a.transpose(d0, d1), x)


def _index_key(p: Program, shape: tuple[int, ...]) -> Any:
    parts: list[Any] = []
    used_array = False
    for n in shape:
        kind = p.draw(st.sampled_from(["int", "slice", "slice", "full", "array", "mask", "none"]))
        if kind == "none":
            parts.append(None)
            kind = "full"
        if kind == "int" and n > 0:
            parts.append(p.draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = p.draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            stop = p.draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            step = p.draw(st.sampled_from([None, 1, 2, -1, -2]))
            parts.append(slice(start, stop, step))
        elif kind == "array" and n > 0 and not used_array:
            used_array = True
            idx = p.rng.integers(-n, n, size=p.draw(st.integers(1, 4)))
            parts.append(idx if p.draw(st.booleans()) else idx.tolist())
        elif kind == "mask" and n > 0 and not used_array:
            used_array = True
            parts.append(p.rng.random(n) < 0.6)
        else:
            parts.append(slice(None))
    if parts and p.draw(st.integers(0, 3)) == 0:
        k = p.draw(st.integers(0, len(parts)))
        parts = [Ellipsis] + parts[k:]
    if len(parts) == 1 and p.draw(st.booleans()):
        return parts[0]
    return tuple(parts)


def b_getitem(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) >= 1)
    if x is None:
        return None
    key = _index_key(p, x.shape)
    return apply(p, "getitem", lambda m, a: a[key], x)


def b_concatenate(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) >= 1)
    if x is None:
        return None
    nd = len(x.shape)
    axis = p.draw(st.integers(-nd, nd - 1))
    parts = [x]
    for _ in range(p.draw(st.integers(1, 2))):
        if p.draw(st.integers(0, 3)) == 0:
            parts.append(x)  # the same value twice
            continue
        shape = list(x.shape)
        shape[axis] = p.draw(st.integers(1, 3))
        y = p.pick(lambda v, s=tuple(shape): v.shape == s)
        parts.append(y if y is not None else p.leaf(tuple(shape)))
    fname = p.draw(st.sampled_from(["concatenate", "cat"]))
    return apply(p, "concatenate", lambda m, *ts: getattr(m, fname)(list(ts), axis=axis), *parts)


def b_stack(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) < MAX_NDIM)
    nd = len(x.shape)
    axis = p.draw(st.integers(-nd - 1, nd))
    parts = [x] + [partner(p, x, same_shape=True) for _ in range(p.draw(st.integers(1, 2)))]
    return apply(p, "stack", lambda m, *ts: m.stack(tuple(ts), axis=axis), *parts)


def _softmax(name: str) -> Callable[[Program], Value | None]:
    def build(p: Program) -> Value | None:
        x = p.pick(lambda v: len(v.shape) >= 1)
        if x is None:
            return None
        nd = len(x.shape)
        axis = p.draw(st.integers(-nd, nd - 1))
        if p.draw(st.booleans()):
            return apply(p, name, lambda m, a: getattr(a, name)(axis=axis), x)
        return apply(p, name, lambda m, a: getattr(m, name)(a, dim=axis), x)
    return build


def b_logsumexp(p: Program) -> Value | None:
    x = p.pick()
    nd = len(x.shape)
    dims = p.draw(st.one_of(st.none(), st.lists(st.integers(0, nd - 1), unique=True).map(tuple))) if nd else None
    keepdim = p.draw(st.booleans())
    return apply(p, "logsumexp", lambda m, a: a.logsumexp(dims, keepdim), x)


def b_cumsum(p: Program) -> Value | None:
    x = p.pick()
    n = max(len(x.shape), 1)
    dim = p.draw(st.integers(-n, n - 1))
    return apply(p, "cumsum", lambda m, a: m.cumsum(a, dim), x)


def b_index_map(p: Program) -> Value | None:
    """flip, roll, repeat or expand: the ops that move data with index_map."""
    x = p.pick()
    nd = len(x.shape)
    form = p.draw(st.sampled_from(["flip", "roll", "repeat", "expand"]))
    if form == "flip":
        dims = p.draw(st.lists(st.integers(0, nd - 1), unique=True)) if nd else []
        return apply(p, "index_map", lambda m, a: a.flip(tuple(dims)), x)
    if form == "roll":
        k = p.draw(st.integers(-5, 5))
        return apply(p, "index_map", lambda m, a: a.roll(k, 0 if nd else None), x)
    if form == "repeat":
        reps = p.draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd + 1))
        return apply(p, "index_map", lambda m, a: a.repeat(*reps), x)
    shape = (2,) + tuple(x.shape)
    return apply(p, "index_map", lambda m, a: a.expand(*shape), x)


def _conv_setup(p: Program) -> tuple[Any, ...]:
    """A random conv2d geometry: input (N, C, H, W), weight (O, C/G, KH, KW), stride, padding, dilation,
    groups, and the output's (OH, OW)."""
    g = p.draw(st.integers(1, 2))
    n, c, o = p.draw(st.integers(1, 2)), g * p.draw(st.integers(1, 2)), g * p.draw(st.integers(1, 2))
    kh, kw = p.draw(st.integers(1, 3)), p.draw(st.integers(1, 3))
    s = (p.draw(st.integers(1, 2)), p.draw(st.integers(1, 2)))
    d = (p.draw(st.integers(1, 2)), p.draw(st.integers(1, 2)))
    pad = tuple(p.draw(st.integers(0, 1)) for _ in range(4))
    h = d[0] * (kh - 1) + 1 + p.draw(st.integers(0, 3))
    w = d[1] * (kw - 1) + 1 + p.draw(st.integers(0, 3))
    oh = (h + pad[0] + pad[1] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (w + pad[2] + pad[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    return (n, c, h, w), (o, c // g, kh, kw), s, pad, d, g, (oh, ow)


def _conv_bound(a: Value, b: Value) -> float:
    return float(np.max(np.abs(a.a), initial=0.0)) * float(np.sum(np.abs(b.a))) + 1.0


def b_conv2d(p: Program) -> Value | None:
    """conv2d through pygrad.nn.functional, on a picked 4-d value or a fresh leaf."""
    x = p.pick(lambda v: len(v.shape) == 4 and min(v.shape) >= 1 and v.shape[2] <= 6 and v.shape[3] <= 6)
    if x is None:
        xs, ws, s, pad, d, g, _ = _conv_setup(p)
        x = p.leaf(xs)
        w = p.leaf(ws)
        return apply(p, "conv2d", lambda m, a, b: a._conv2d(b, s, pad, d, g), x, w, scale=_conv_bound(x, w))
    kh, kw = p.draw(st.integers(1, x.shape[2])), p.draw(st.integers(1, x.shape[3]))
    w = p.leaf((p.draw(st.integers(1, 3)), x.shape[1], kh, kw))
    padding = p.draw(st.sampled_from([0, 1, "same", "valid"]))
    return apply(p, "conv2d", lambda m, a, b: m.nn.functional.conv2d(a, b, padding=padding), x, w,
                 scale=_conv_bound(x, w))


def b_conv2d_input_grad(p: Program) -> Value | None:
    xs, ws, s, pad, d, g, ohw = _conv_setup(p)
    gy = p.leaf((xs[0], ws[0]) + ohw)
    w = p.leaf(ws)
    return apply(p, "conv2d_input_grad", lambda m, a, b: a._conv2d_input_grad(b, xs[2:], s, pad, d, g), gy, w,
                 scale=_conv_bound(gy, w))


def b_conv2d_weight_grad(p: Program) -> Value | None:
    xs, ws, s, pad, d, g, ohw = _conv_setup(p)
    x = p.leaf(xs)
    gy = p.leaf((xs[0], ws[0]) + ohw)
    return apply(p, "conv2d_weight_grad", lambda m, a, b: a._conv2d_weight_grad(b, ws[2:], s, pad, d, g), x, gy,
                 scale=_conv_bound(x, gy) * ohw[0] * ohw[1])



def b_norm(name: str) -> Callable[[Program], Value | None]:
    """batch_norm (training or eval), layer_norm or group_norm on a fresh leaf (N, C, *) with a fresh affine
    pair; eps 0.1 keeps rstd bounded whatever the draw."""

    def build(p: Program) -> Value | None:
        nd = p.draw(st.integers(2, 4))
        g = p.draw(st.integers(1, 2))
        shape = (p.draw(st.integers(2, 3)), g * p.draw(st.integers(1, 2))) + tuple(
            p.draw(st.integers(1, 3)) for _ in range(nd - 2))
        x = p.leaf(shape)
        if name == "layer_norm":
            k = p.draw(st.integers(1, nd - 1))
            ns = shape[nd - k:]
            w, b = p.leaf(ns), p.leaf(ns)
            return apply(p, name, lambda m, a, c, e: m.nn.functional.layer_norm(a, ns, c, e, 0.1), x, w, b)
        w, b = p.leaf(shape[1:2]), p.leaf(shape[1:2])
        if name == "group_norm":
            return apply(p, name, lambda m, a, c, e: m.nn.functional.group_norm(a, g, c, e, 0.1), x, w, b)
        train = p.draw(st.booleans())
        rm = np.linspace(-1.0, 1.0, shape[1])
        rv = np.linspace(0.5, 2.0, shape[1])

        def f(m: Any, a: Any, c: Any, e: Any) -> Any:
            run = (m.tensor(rm, dtype=a.dtype), m.tensor(rv, dtype=a.dtype))
            return m.nn.functional.batch_norm(a, *run, c, e, train, 0.1, 0.1)

        return apply(p, name, f, x, w, b)

    return build


def b_dropout(p: Program) -> Value | None:
    """dropout with a drawn p and seed: the same mask on both engines."""
    x = p.pick()
    prob = p.draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
    seed = p.draw(st.integers(0, 2**63 - 1))
    return apply(p, "dropout", lambda m, a: a._dropout_seeded(prob, seed), x)


def b_random(p: Program) -> Value | None:
    """a picked value times (or plus) rand/randn samples of a drawn seed in its shape: the same bits on
    both engines; the gradient flows through the product only."""
    x = p.pick()
    kind = p.draw(st.sampled_from(["uniform", "normal"]))
    seed = p.draw(st.integers(0, 2**63 - 1))
    return apply(p, "random", lambda m, a: a * a._random_like(kind, seed), x)


def b_bernoulli(p: Program) -> Value | None:
    """a picked value masked by bernoulli samples of sigmoid(value) with a drawn seed."""
    x = p.pick()
    seed = p.draw(st.integers(0, 2**63 - 1))
    return apply(p, "bernoulli", lambda m, a: a * a.sigmoid()._bernoulli_seeded(seed), x)


def b_embedding(p: Program) -> Value | None:
    """embedding of a picked 2-d value (or a fresh table) at drawn indices, maybe with a padding row."""
    w = p.pick(lambda v: len(v.shape) == 2 and v.shape[0] >= 1)
    if w is None:
        w = p.leaf((p.draw(st.integers(1, 4)), p.draw(st.integers(1, 3))))
    n = w.shape[0]
    shape = tuple(p.draw(st.lists(st.integers(0, 3), max_size=2)))
    idx = np.array(p.draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape)))), dtype=np.int64).reshape(shape)
    pad = p.draw(st.one_of(st.none(), st.integers(0, n - 1)))
    return apply(p, "embedding", lambda m, a: m.nn.functional.embedding(idx, a, padding_idx=pad), w)


def b_sdpa(p: Program) -> Value | None:
    """scaled_dot_product_attention of fresh q, k, v (a picked value as q when it fits), maybe causal or
    with a bool mask."""
    q = p.pick(lambda v: 2 <= len(v.shape) <= 3 and min(v.shape) >= 1 and v.shape[-1] <= 4)
    if q is None:
        q = p.leaf(tuple(p.draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))))
    batch, e = tuple(q.shape[:-2]), q.shape[-1]
    s = p.draw(st.integers(1, 4))
    k = p.leaf(batch + (s, e))
    v = p.leaf(batch + (s, p.draw(st.integers(1, 3))))
    form = p.draw(st.sampled_from(["plain", "causal", "mask"]))
    if form == "mask":  # every row keeps its first key: no NaN rows
        mask = np.array(p.draw(st.lists(st.booleans(), min_size=q.shape[-2] * s, max_size=q.shape[-2] * s)))
        mask = mask.reshape(q.shape[-2], s)
        mask[:, 0] = True
        return apply(p, "scaled_dot_product_attention",
                     lambda m, a, b, c: m.nn.functional.scaled_dot_product_attention(a, b, c, attn_mask=mask), q, k, v)
    causal = form == "causal"
    return apply(p, "scaled_dot_product_attention",
                 lambda m, a, b, c: m.nn.functional.scaled_dot_product_attention(a, b, c, is_causal=causal), q, k, v)


def _pool_setup(p: Program) -> tuple[Any, ...]:
    """A random pooling geometry: kernel, stride, padding (at most half the kernel), ceil_mode."""
    k = (p.draw(st.integers(1, 3)), p.draw(st.integers(1, 3)))
    s = (p.draw(st.integers(1, 3)), p.draw(st.integers(1, 3)))
    pad = (p.draw(st.integers(0, k[0] // 2)), p.draw(st.integers(0, k[1] // 2)))
    return k, s, pad, p.draw(st.booleans())


def _pool_input(p: Program) -> Value:
    """A picked 3-d (unbatched) or 4-d value with small planes, or a fresh 4-d leaf."""
    x = p.pick(lambda v: len(v.shape) in (3, 4) and min(v.shape[-3:]) >= 1 and max(v.shape[-2:]) <= 8)
    if x is not None:
        return x
    return p.leaf((p.draw(st.integers(1, 2)), p.draw(st.integers(1, 3)), p.draw(st.integers(1, 6)),
                   p.draw(st.integers(1, 6))))


def b_max_pool2d(p: Program) -> Value | None:
    x = _pool_input(p)
    k, s, pad, ceil = _pool_setup(p)
    d = (p.draw(st.integers(1, 2)), p.draw(st.integers(1, 2)))
    try:  # the engines must pick the same maximum of each window (values may differ by rounding)
        ic = pygrad.nn.functional.max_pool2d(x.c, k, s, pad, d, ceil, True)[1].numpy()
        ir = ref.nn.functional.max_pool2d(x.r, k, s, pad, d, ceil, True)[1].numpy()
        agree(ic, ir)
    except (ValueError, TypeError):
        pass  # both refuse: apply checks they do alike
    return apply(p, "max_pool2d", lambda m, a: m.nn.functional.max_pool2d(a, k, s, pad, d, ceil), x)


def b_avg_pool2d(p: Program) -> Value | None:
    x = _pool_input(p)
    k, s, pad, ceil = _pool_setup(p)
    cip = p.draw(st.booleans())
    div = p.draw(st.sampled_from([None, 1, 3]))
    return apply(p, "avg_pool2d", lambda m, a: m.nn.functional.avg_pool2d(a, k, s, pad, ceil, cip, div), x)


def b_adaptive_avg_pool2d(p: Program) -> Value | None:
    x = _pool_input(p)
    out = (p.draw(st.sampled_from([None, 1, 2, 3, 5])), p.draw(st.integers(1, 4)))
    return apply(p, "adaptive_avg_pool2d", lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, out), x)


def b_avg_pool2d_input_grad(p: Program) -> Value | None:
    n, c, h, w = (p.draw(st.integers(1, 2)), p.draw(st.integers(1, 2)), p.draw(st.integers(1, 6)),
                  p.draw(st.integers(1, 6)))
    if p.draw(st.booleans()):  # the adaptive average's transpose
        gy = p.leaf((n, c, p.draw(st.integers(1, 4)), p.draw(st.integers(1, 4))))
        return apply(p, "avg_pool2d_input_grad", lambda m, a: a._adaptive_avg_pool2d_input_grad((h, w)), gy)
    k, s, pad, ceil = _pool_setup(p)
    oh, ow = (ref.ops.pool_out(n_, k_, s_, p_, 1, ceil) for n_, k_, s_, p_ in zip((h, w), k, s, pad))
    if oh < 1 or ow < 1:
        return None
    cip = p.draw(st.booleans())
    gy = p.leaf((n, c, oh, ow))
    return apply(p, "avg_pool2d_input_grad",
                 lambda m, a: a._avg_pool2d_input_grad((h, w), k, s, pad, ceil, cip, 0), gy)


def _interp_setup(p: Program, nd: int) -> tuple[str, tuple[float, ...], bool, tuple[int, ...]]:
    """A random resampling: mode, kept scale factors (0: none), align_corners, output spatial sizes."""
    modes = ["nearest", "linear", "nearest-exact"] + (["cubic", "linear-aa", "cubic-aa"] if nd == 2 else [])
    mode = p.draw(st.sampled_from(modes))  # cubic and the antialiased modes: (H, W) only
    scale = tuple(p.draw(st.sampled_from([0.0, 0.5, 1.3, 2.0, 2.7])) for _ in range(nd))
    align = mode not in ("nearest", "nearest-exact") and p.draw(st.booleans())
    size = tuple(p.draw(st.integers(1, 7)) for _ in range(nd))
    return mode, scale, align, size


def b_interpolate(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) in (3, 4) and min(v.shape[1:]) >= 1 and max(v.shape[2:]) <= 8)
    if x is None:
        nd = p.draw(st.integers(1, 2))
        x = p.leaf((p.draw(st.integers(1, 2)), p.draw(st.integers(1, 3)))
                   + tuple(p.draw(st.integers(1, 6)) for _ in range(nd)))
    mode, scale, align, size = _interp_setup(p, len(x.shape) - 2)
    return apply(p, "interpolate", lambda m, a: a._interpolate(mode, size, scale, align), x)


def b_interpolate_input_grad(p: Program) -> Value | None:
    nd = p.draw(st.integers(1, 2))
    mode, scale, align, size = _interp_setup(p, nd)
    gy = p.leaf((p.draw(st.integers(1, 2)), p.draw(st.integers(1, 2))) + tuple(p.draw(st.integers(1, 7))
                                                                            for _ in range(nd)))
    return apply(p, "interpolate_input_grad", lambda m, a: a._interpolate_input_grad(mode, size, scale, align), gy)


def b_cast(p: Program) -> Value | None:
    x = p.pick()
    other = pygrad.float64 if x.r.dtype == np.float32 else pygrad.float32
    form = p.draw(st.sampled_from(["astype", "to", "method"]))
    if form == "method":
        return apply(p, "cast", (lambda m, a: a.double()) if other == pygrad.float64 else (lambda m, a: a.float()), x)
    return apply(p, "cast", lambda m, a: getattr(a, form)(other.name), x)


def b_custom(p: Program) -> Value | None:
    """A user-defined op: y = x³ computed in numpy, backward 3x²·g written with Tensor ops."""
    x = p.pick()
    if np.max(np.abs(x.a), initial=0) > 4:
        x = apply(p, "tanh", lambda m, a: a.tanh(), x) or x

    def fn(m: Any, a: Any) -> Any:
        av = a.numpy().copy()
        return m.custom_op([a], av ** 3, lambda g, needs: [g * (a * a) * 3.0])

    return apply(p, "custom", fn, x)


def b_scatter_add(p: Program) -> Value | None:
    x = p.pick()
    n = math.prod(x.shape)
    size = max(1, n + p.draw(st.integers(-1, 2)))
    offsets = p.rng.integers(0, size, size=n)  # repeats add
    return apply(p, "scatter_add", lambda m, a: m.scatter_add(a, (size,), offsets), x)


def b_prelu(p: Program) -> Value | None:
    x = p.pick()
    agree(x.c.numpy() > 0, x.a > 0)
    per_channel = len(x.shape) >= 2 and x.shape[1] > 0 and p.draw(st.booleans())
    w = p.leaf((x.shape[1],) if per_channel else (1,))
    return apply(p, "prelu", lambda m, a, b: m.prelu(a, b), x, w)


def b_maxout(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) >= 1 and v.shape[-1] > 0)
    if x is None:
        return None
    last = x.shape[-1]
    pieces = p.draw(st.sampled_from([k for k in range(1, last + 1) if last % k == 0]))
    groups = x.shape[:-1] + (last // pieces, pieces)
    cv, rv = x.c.numpy().reshape(groups), x.a.reshape(groups)
    agree(cv == cv.max(axis=-1, keepdims=True), rv == rv.max(axis=-1, keepdims=True))
    return apply(p, "maxout", lambda m, a: m.maxout(a, pieces), x)


def b_cross_entropy(p: Program) -> Value | None:
    x = p.pick(lambda v: len(v.shape) == 2 and v.shape[0] > 0 and v.shape[1] > 0)
    if x is None:
        x = p.leaf((p.draw(st.integers(1, 4)), p.draw(st.integers(1, 5))))
    labels = p.rng.integers(0, x.shape[1], size=x.shape[0])
    reduction = p.draw(st.sampled_from(["mean", "sum", "none"]))
    return apply(p, "cross_entropy", lambda m, a: m.cross_entropy(a, labels, reduction), x)


def b_nll_loss(p: Program) -> Value | None:
    """nll_loss of a picked (N, C) value at drawn labels, some ignored, maybe class weights and smoothing."""
    x = p.pick(lambda v: len(v.shape) == 2 and v.shape[0] > 0 and v.shape[1] > 0)
    if x is None:
        x = p.leaf((p.draw(st.integers(1, 4)), p.draw(st.integers(1, 5))))
    n, c = x.shape
    labels = np.where(p.rng.random(n) < 0.25, -100, p.rng.integers(0, c, size=n))
    weight = p.rng.uniform(0.5, 2.0, size=c) if p.draw(st.booleans()) else None
    smoothing = p.draw(st.sampled_from([0.0, 0.0, 0.1]))
    reduction = p.draw(st.sampled_from(["mean", "sum", "none"]))
    if reduction == "mean" and np.all(labels == -100):
        labels[0] = 0

    def fn(m, a):
        w = None if weight is None else m.tensor(weight, dtype=a.dtype)
        if smoothing:
            return m.nn.functional.cross_entropy(a, labels, weight=w, label_smoothing=smoothing, reduction=reduction)
        return m.nn.functional.nll_loss(a, labels, weight=w, reduction=reduction)

    return apply(p, "nll_loss", fn, x)


def b_one_hot(p: Program) -> Value | None:
    """a picked value (..., C) times the one-hot rows of drawn labels (...,) in [0, C), sometimes one out of
    range (both engines refuse it alike), int64 or int32."""
    x = p.pick(lambda v: len(v.shape) >= 1)
    if x is None:
        x = p.leaf((p.draw(st.integers(0, 3)), p.draw(st.integers(1, 4))))
    c = x.shape[-1]
    labels = p.rng.integers(0, max(c, 1), size=x.shape[:-1])
    if labels.size and p.draw(st.integers(0, 9)) == 0:
        labels.reshape(-1)[0] = p.draw(st.sampled_from([-1, c]))
    dtype = p.draw(st.sampled_from(["int64", "int32"]))
    return apply(p, "one_hot", lambda m, a: a * m.nn.functional.one_hot(
        m.tensor(labels, dtype=dtype), c).astype(a.dtype), x)


def b_binary_cross_entropy(p: Program) -> Value | None:
    """binary_cross_entropy of sigmoid(4 tanh(a picked value)) and a target (the sigmoid of another value of
    its shape, or constants in [0, 1] with 0 and 1 among them), maybe a weight over its last dims. The
    probability stays within [0.018, 0.982]: sigmoid of a value of 27 is 1 - 1.6e-12, where one ulp of
    difference between the engines' sigmoids moves log(1 - p) by 7e-5, beyond any ulp tolerance."""
    x = p.pick()
    shape = x.shape
    other = p.pick(lambda v: v.shape == shape and v is not x)
    tgt = None if other is not None and p.draw(st.booleans()) else np.round(p.rng.uniform(0, 1, shape), 1)
    wshape = shape[len(shape) - p.draw(st.integers(0, len(shape))):]
    weight = p.rng.uniform(0.5, 2.0, wshape) if p.draw(st.booleans()) else None
    reduction = p.draw(st.sampled_from(["mean", "sum", "none"]))

    def fn(m, a, *b):
        t = b[0].sigmoid() if b else m.tensor(tgt, dtype=a.dtype)
        w = None if weight is None else m.tensor(weight, dtype=a.dtype)
        return m.nn.functional.binary_cross_entropy((a.tanh() * 4.0).sigmoid(), t, w, reduction=reduction)

    return apply(p, "binary_cross_entropy", fn, x, *(() if tgt is not None else (other,)))


def b_division(name: str) -> Callable[[Program], Value | None]:
    """fmod, remainder, floor_divide: a positive divisor, either sign for it by a neg."""
    ops = {"fmod": lambda m, a, b: m.fmod(a, b), "remainder": lambda m, a, b: a % b,
           "floor_divide": lambda m, a, b: a // b}

    def build(p: Program) -> Value | None:
        x = p.pick()
        y = positive(p, partner(p, x))
        if p.draw(st.booleans()):
            y = apply(p, "neg", lambda m, a: -a, y) or y
        return apply(p, name, ops[name], x, y)
    return build


def b_cumprod(p: Program) -> Value | None:
    """A running product along a dim, sometimes through an exact zero (the gradient divides by nothing)."""
    x = p.pick()
    n = max(len(x.shape), 1)
    dim = p.draw(st.integers(-n, n - 1))
    zero = p.draw(st.booleans())
    return apply(p, "cumprod", lambda m, a: (a.relu() if zero else a).cumprod(dim), x)


def b_pad(p: Program) -> Value | None:
    """Constant padding of the last dims: pads that grow, crop (at most the dim in all) or go past the tensor."""
    x = p.pick()
    shape = x.shape
    k = p.draw(st.integers(0, len(shape)))
    pads: list[int] = []
    for n in reversed(shape[len(shape) - k:]):
        lo = p.draw(st.integers(-n, 3))
        hi = p.draw(st.integers(-(n - max(-lo, 0)), 3))
        pads += [lo, hi]
    value = p.draw(st.sampled_from([None, 0.0, -1.5, 2.0]))
    return apply(p, "pad", lambda m, a: m.nn.functional.pad(a, tuple(pads), value=value), x)


def b_tri(name: str) -> Any:
    def build(p: Program) -> Value | None:
        """tril / triu of a value of at least 2 dims, diagonals inside and beyond the matrix."""
        x = p.pick()
        if len(x.shape) < 2:
            return None
        k = p.draw(st.integers(-5, 5))
        return apply(p, name, lambda m, a: getattr(a, name)(k), x)
    return build


def b_hardtanh(p: Program) -> Value | None:
    """hardtanh of a picked value with drawn bounds (lo = hi included), relu6 of it scaled, or the method."""
    x = p.pick()
    form = p.draw(st.sampled_from(["hardtanh", "relu6", "method"]))
    if form == "relu6":
        lo, hi, k = 0.0, 6.0, 4.0
    else:
        lo = float(p.draw(st.sampled_from([-1.5, -1.0, -0.25, 0.0])))
        hi, k = lo + float(p.draw(st.sampled_from([0.0, 0.5, 1.0, 2.5]))), 1.0
    for bound in (lo, hi):
        agree(np.sign(x.c.numpy() * k - bound), np.sign(x.a * k - bound))
    if form == "relu6":
        return apply(p, "hardtanh", lambda m, a: m.nn.functional.relu6(a * k), x)
    if form == "method":
        return apply(p, "hardtanh", lambda m, a: a._hardtanh(lo, hi), x)
    return apply(p, "hardtanh", lambda m, a: m.nn.functional.hardtanh(a, lo, hi), x)


def b_huber_loss(p: Program) -> Value | None:
    """huber_loss or smooth_l1_loss (β = 0 included) of a picked value and a target (another value of its
    shape, or constants), every reduction, maybe by the op method; also a weighted huber_loss."""
    x = p.pick()
    shape = x.shape
    if math.prod(shape) == 0:
        return None
    other = p.pick(lambda v: v.shape == shape and v is not x)
    tgt = None if other is not None and p.draw(st.booleans()) else np.round(p.rng.uniform(-2, 2, shape), 1)
    kind = p.draw(st.sampled_from(["huber", "smooth_l1", "l1", "weighted"]))
    delta = 0.0 if kind == "l1" else float(p.draw(st.sampled_from([0.25, 1.0, 1.5])))
    reduction = p.draw(st.sampled_from(["mean", "sum", "none"]))
    method = p.draw(st.booleans())
    weight = p.rng.uniform(0.5, 2.0, shape) if kind == "weighted" else None

    def fn(m, a, *b):
        t = b[0] if b else m.tensor(tgt, dtype=a.dtype)
        F = m.nn.functional
        if kind == "weighted":
            return F.huber_loss(a, t, reduction, delta, weight=m.tensor(weight, dtype=a.dtype))
        if method:
            return a._huber_loss(t, reduction, delta, kind != "huber")
        if kind == "huber":
            return F.huber_loss(a, t, reduction, delta)
        return F.smooth_l1_loss(a, t, reduction, delta)

    args = (x,) if tgt is not None else (x, other)
    if kind == "l1":  # the kink of |d| at 0
        ct = np.asarray(tgt) if tgt is not None else other.c.numpy()
        rt = np.asarray(tgt) if tgt is not None else other.a
        agree(np.sign(x.c.numpy() - ct.astype(x.a.dtype)), np.sign(x.a - rt.astype(x.a.dtype)))
    return apply(p, "mul" if kind == "weighted" and reduction == "none" else
                 "mean" if kind == "weighted" and reduction == "mean" else
                 "sum" if kind == "weighted" else "huber_loss", fn, *args)


def b_vector_norm(p: Program) -> Value | None:
    """The 2-norm of a picked value over all dims, some (keepdim or not), as p=2 or 'fro'; rejected where a
    norm nears 0 (its gradient x/‖x‖ is a kink there)."""
    x = p.pick(lambda v: math.prod(v.shape) > 0)
    if x is None:
        return None
    dim = _axis_arg(p, len(x.shape))
    keep = p.draw(st.booleans())
    order = p.draw(st.sampled_from([2, 2.0, "fro"]))
    axes = None if dim is None else dim
    if np.min(np.sqrt(np.sum(x.a.astype(np.float64) ** 2, axis=axes)), initial=1.0) < 0.05:
        reject()
    if p.draw(st.booleans()):
        return apply(p, "norm", lambda m, a: a.norm(order, dim, keep), x)
    return apply(p, "norm", lambda m, a: m.norm(a, order, dim=dim, keepdim=keep), x)


def b_check_finite_norm(p: Program) -> Value | None:
    """clip_grad_norm_'s check of a picked value (as a norm of order 1, 2 or inf), sometimes made
    non-finite first (plus NaN or inf: both engines refuse it alike)."""
    x = p.pick()
    order = p.draw(st.sampled_from([1.0, 2.0, float("inf")]))
    bad = p.draw(st.sampled_from([None, None, None, float("nan"), float("inf")])) if x.a.size else None
    return apply(p, "check_finite_norm", lambda m, a: (a if bad is None else a + bad)._check_finite_norm(order), x)


BUILDERS: dict[str, Callable[[Program], Value | None]] = {
    "custom": b_custom,
    "scatter_add": b_scatter_add,
    "prelu": b_prelu,
    "maxout": b_maxout,
    "cross_entropy": b_cross_entropy,
    "add": _binary("add", lambda a, b: a + b, "add"),
    "sub": _binary("sub", lambda a, b: a - b, "sub"),
    "mul": _binary("mul", lambda a, b: a * b, "mul"),
    "div": b_div,
    "neg": b_neg,
    "add_scalar": b_add_scalar,
    "mul_scalar": b_mul_scalar,
    "pow_scalar": b_pow_scalar,
    "div_scalar": b_div_scalar,
    "rdiv_scalar": b_rdiv_scalar,
    "rpow_scalar": b_rpow_scalar,
    "pow": b_pow,
    "exp": _unary("exp"),
    "sqrt": _unary("sqrt", "positive"),
    "reciprocal": _unary("reciprocal", "positive"),
    "abs": _unary("abs"),
    "maximum": b_maximum,
    "minimum": lambda p: b_maximum(p, "minimum"),
    "clamp": b_clamp,
    "where": b_where,
    "sigmoid": _unary("sigmoid"),
    "tanh": _unary("tanh"),
    "relu": _unary("relu"),
    "leaky_relu": _unary("leaky_relu"),
    "elu": _unary("elu"),
    "matmul": b_matmul,
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "max": _reduction("max"),
    "min": _reduction("min"),
    "reshape": b_reshape,
    "permute": b_permute,
    "getitem": b_getitem,
    "concatenate": b_concatenate,
    "stack": b_stack,
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "cast": b_cast,
    "atan2": _binary("atan2", lambda a, b: a.atan2(b), "atan2"),
    "fmod": b_division("fmod"),
    "remainder": b_division("remainder"),
    "floor_divide": b_division("floor_divide"),
    "logsumexp": b_logsumexp,
    "cumsum": b_cumsum,
    "index_map": b_index_map,
    "conv2d": b_conv2d,
    "conv2d_input_grad": b_conv2d_input_grad,
    "conv2d_weight_grad": b_conv2d_weight_grad,
    "batch_norm": b_norm("batch_norm"),
    "layer_norm": b_norm("layer_norm"),
    "group_norm": b_norm("group_norm"),
    "dropout": b_dropout, "random": b_random, "bernoulli": b_bernoulli,
    "embedding": b_embedding,
    "nll_loss": b_nll_loss,
    "one_hot": b_one_hot,
    "binary_cross_entropy": b_binary_cross_entropy,
    "check_finite_norm": b_check_finite_norm,
    "scaled_dot_product_attention": b_sdpa,
    "max_pool2d": b_max_pool2d,
    "avg_pool2d": b_avg_pool2d,
    "adaptive_avg_pool2d": b_adaptive_avg_pool2d,
    "avg_pool2d_input_grad": b_avg_pool2d_input_grad,
    "interpolate": b_interpolate,
    "interpolate_input_grad": b_interpolate_input_grad,
    "cumprod": b_cumprod,
    "pad": b_pad,
    "tril": b_tri("tril"),
    "triu": b_tri("triu"),
    "hardtanh": b_hardtanh,
    "huber_loss": b_huber_loss,
    "norm": b_vector_norm,
}
for _row in _optable.ELEMENTWISE:  # log, sin, cos ...: a plain builder from the op table's row
    BUILDERS.setdefault(_row.name, _unary(_row.name, _row.domain))
OP_LIST = sorted(BUILDERS)


def test_every_op_of_the_table_has_a_builder() -> None:
    assert set(BUILDERS) == set(pygrad.OP_NAMES)


def run_program(data: Any, dtype: np.dtype) -> Program:
    """Build, compare and differentiate one random program."""
    p = Program(data, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed")), dtype)
    base = tuple(data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=3), label="base shape"))
    for _ in range(data.draw(st.integers(1, 3), label="leaves")):
        p.leaf(partner_shape(p, base) if p.pool else base)
    for _ in range(data.draw(st.integers(3, 10), label="steps")):
        name = data.draw(st.sampled_from(OP_LIST), label="op")
        BUILDERS[name](p)
    # backward from a random linear function of the last value and a few others
    sinks = [p.pool[-1]] + data.draw(st.lists(st.sampled_from(p.pool), max_size=2), label="sinks")
    total_c, total_r, scale, eps = None, None, 1.0, 0.0
    for v in sinks:
        w = p.rng.standard_normal(v.shape).astype(v.r.dtype)
        tc, tr = (v.c * pygrad.tensor(w)).sum(), (v.r * ref.tensor(w)).sum()
        total_c = tc if total_c is None else total_c + tc
        total_r = tr if total_r is None else total_r + tr
        scale = max(scale, v.scale * float(np.sum(np.abs(w), initial=0.0)))
        eps = max(eps, v.eps)
    _close(total_c.numpy(), total_r.numpy(), TOL_ULPS_VALUE * eps * scale, "loss")
    total_c.backward()
    total_r.backward()
    for i, leaf in enumerate(p.leaves):
        gc, gr = leaf.c.grad, leaf.r.grad
        assert (gc is None) == (gr is None), f"leaf {i}: gradient on one engine only (ops {p.ops_used})"
        if gr is None:
            continue
        g = gr.numpy()
        gscale = max(1.0, float(np.max(np.abs(g), initial=0.0)))
        _close(gc.numpy(), g, TOL_ULPS_GRAD * max(eps, leaf.eps) * gscale,
               f"gradient of leaf {i} {leaf.shape} (ops {p.ops_used})")
    return p


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@SETTINGS
@_seeded
@given(data=st.data())
def test_random_programs_agree(dtype: str, data: Any) -> None:
    p = run_program(data, np.dtype(dtype))
    event(f"ops applied: {min(len(p.ops_used), 12) // 4 * 4}+")
