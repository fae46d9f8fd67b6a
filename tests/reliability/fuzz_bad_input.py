"""Bad-input fuzzer: hostile calls to the public API, run in a child process.

tests/reliability/test_fuzz_bad_input.py runs ``python fuzz_bad_input.py`` and watches it:
a crash (the child dies from a signal) or a hang (no exit before the deadline,
or a single case outlasting PYGRAD_FUZZ_CASE_SECONDS, which kills the child
with SIGALRM) fails the test, and the case being run is read back from the
progress file the child rewrites before every case.

Each case (drawn by hypothesis) is one call, or a short scenario, with hostile
arguments: wrong types, mismatched and negative shapes, zero-size dims,
NaN/inf, sizes whose product overflows, 9-d tensors, detached tensors,
backward twice, in-place edits of saved tensors... It runs on the C engine and
on the reference engine. Every case must end, on the C engine, in a result or
in a pygrad exception (a ``pygrad.PygradError``; a plain ``TypeError`` is
accepted where Python's own operator protocol raises it), never in another
exception type, and both engines must agree: both raise, or both return equal
results (cases the numpy-based reference cannot represent, such as empty
tensors whose other dims multiply past 2^63, run on the C engine alone).
Allocations of 10^12 elements must raise MemoryError.

Environment: PYGRAD_FUZZ_EXAMPLES (cases, default 2500), PYGRAD_FUZZ_PROGRESS
(progress file), PYGRAD_FUZZ_CASE_SECONDS (default 20), PYGRAD_SANITIZED=1
(no address-space limit: sanitizers reserve a lot of it).
"""

from __future__ import annotations

import math
import operator
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pygrad
import pygrad.reference as ref
from pygrad import PygradError

EXAMPLES = int(os.environ.get("PYGRAD_FUZZ_EXAMPLES", "2500"))
PROGRESS = os.environ.get("PYGRAD_FUZZ_PROGRESS")
CASE_SECONDS = float(os.environ.get("PYGRAD_FUZZ_CASE_SECONDS", "20"))

@dataclass(frozen=True)
class Case:
    """One hostile call: ``run(m)`` on engine module ``m`` returns a comparable summary."""

    desc: str
    run: Callable[[Any], Any]
    must_raise: tuple[type[BaseException], ...] = ()  # e.g. (MemoryError,): raising anything else fails
    random_values: bool = False  # results hold random numbers: compare shapes and dtypes only
    reference: bool = True  # False: the reference (numpy) cannot represent the case; check the C engine alone

    def __repr__(self) -> str:
        return self.desc


# ---------------------------------------------------------------------------
# hostile ingredients
# ---------------------------------------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-30]
BIG_DIMS = [2**31, 2**31 + 1, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, 10**12, -(2**63)]
dims = st.one_of(st.integers(-2, 4), st.sampled_from(BIG_DIMS))
odd_scalars = st.sampled_from([None, "2", 1.5, True, 2**70, -(2**70), object(), [2], (2,), 1j, np.float64(2.0),
                               np.int64(3), np.nan, math.inf])
shape_like = st.one_of(st.lists(dims, max_size=10), st.lists(st.one_of(dims, odd_scalars), max_size=4))
# the documented spellings, and invalid ones (spellings numpy knows but pygrad does not document, such as
# "f8", are left out: the engines need not agree on them)
dtypes = st.sampled_from([None, "float32", "float64", np.float32, np.float64, np.dtype("float32"), "bool", np.bool_,
                          "int32", np.int64, "complex64", np.float16, "nonsense", 3, object()])
axis_like = st.one_of(st.none(), st.integers(-10, 10), st.sampled_from([2**40, -(2**63), 2**64, 1.0, "0", True]),
                      st.lists(st.integers(-4, 4), max_size=4).map(tuple), st.lists(st.integers(-4, 4), max_size=3))
numbers = st.one_of(st.sampled_from(SPECIALS + [2, -1, 0, 0.5, 3.0, 2**70, 1e308]),
                    st.floats(allow_nan=True, allow_infinity=True, width=64))


@st.composite
def arrays(draw: Any, max_ndim: int = 4) -> np.ndarray:
    """Small arrays with hostile shapes (zero-size dims, 0-d, 8-d and 9-d) and values."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        shape: tuple[int, ...] = tuple([1] * draw(st.sampled_from([8, 9])))
    else:
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=max_ndim)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float64, np.bool_]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    a = rng.standard_normal(shape)
    if a.size and draw(st.booleans()):
        flat = a.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[rng.integers(a.size)] = draw(st.sampled_from(SPECIALS))
    return (a > 0) if dtype is np.bool_ else a.astype(dtype)


def _tensor(m: Any, a: np.ndarray, requires_grad: bool) -> Any:
    return m.tensor(a, dtype=a.dtype, requires_grad=requires_grad and a.dtype != np.bool_)


operands = st.one_of(arrays().map(lambda a: ("tensor", a)), arrays().map(lambda a: ("ndarray", a)),
                     numbers.map(lambda v: ("scalar", v)),
                     st.sampled_from([("other", None), ("other", "x"), ("other", [1.0, 2.0]),
                                      ("other", [[1.0], [2.0, 3.0]]), ("other", object()), ("other", 1j),
                                      ("other", {"a": 1}), ("other", 10**400)]))


def _operand(m: Any, spec: tuple[str, Any], requires_grad: bool = False) -> Any:
    kind, v = spec
    return _tensor(m, v, requires_grad) if kind == "tensor" else v


# ---------------------------------------------------------------------------
# summaries: what two engines' results are compared by
# ---------------------------------------------------------------------------


def _values(a: np.ndarray) -> np.ndarray:
    """The values to compare (a sample of the first and last elements of big arrays)."""
    flat = a.reshape(-1)
    return np.array(a, copy=True) if flat.size <= 10**5 else np.concatenate([flat[:1000], flat[-1000:]])


def summary(x: Any) -> Any:
    """A plain-Python description of a result, engine-independent."""
    if isinstance(x, (pygrad.Tensor, ref.Tensor)):
        return ("tensor", tuple(x.shape), str(x.dtype), _values(x.numpy()),
                bool(x.requires_grad), None if x.grad is None else _values(x.grad.numpy()))
    if isinstance(x, (list, tuple)):
        return type(x)(summary(v) for v in x)
    return x


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype == np.bool_:
            return bool(np.array_equal(a, b))
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        with np.errstate(all="ignore"):
            return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _shapes_only(s: Any) -> Any:
    if isinstance(s, tuple) and s and s[0] == "tensor":
        return s[:3]
    if isinstance(s, (list, tuple)):
        return type(s)(_shapes_only(v) for v in s)
    return s


def outcome(case: Case, m: Any) -> tuple[str, Any]:
    """("ok", summary) or ("raised", exception)."""
    try:
        with np.errstate(all="ignore"):
            return "ok", summary(case.run(m))
    except Exception as exc:  # every exception is examined by the caller
        return "raised", exc


def check(case: Case) -> None:
    """Run one case on both engines and hold the C engine to the rules."""
    if PROGRESS:
        with open(PROGRESS, "w") as f:
            f.write(case.desc)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)  # default action: the child dies, the parent reports a hang
    try:
        kc, vc = outcome(case, pygrad)
        kr, vr = outcome(case, ref) if case.reference else (kc, vc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if kc == "raised":
        ok_type = isinstance(vc, PygradError) or type(vc) is TypeError
        assert ok_type, f"{case.desc}: the C engine raised {type(vc).__name__}: {vc} (expected a pygrad error)"
    if case.must_raise:
        assert kc == "raised" and isinstance(vc, case.must_raise), \
            f"{case.desc}: expected {case.must_raise}, got {kc} {vc!r}"
    if kc != kr:
        raise AssertionError(f"{case.desc}: C {kc} {vc!r}; reference {kr} {vr!r}")
    # both raised: with several faults in one call the engines may report different ones first (single
    # faults are held to the same exception type by tests/ops/test_errors.py)
    if kc == "ok":
        a, b = (_shapes_only(vc), _shapes_only(vr)) if case.random_values else (vc, vr)
        assert _same(a, b), f"{case.desc}: results differ:\nC:         {vc!r}\nreference: {vr!r}"


# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------


@st.composite
def creation_cases(draw: Any) -> Case:
    fname = draw(st.sampled_from(["zeros", "ones", "randn", "rand", "full"]))
    shape = draw(shape_like)
    dtype = draw(dtypes)
    packed = draw(st.booleans())
    if fname == "full":
        value = draw(numbers)
        return Case(f"full({shape!r}, {value!r}, dtype={dtype!r})", lambda m: m.full(shape, value, dtype=dtype))
    if packed:
        return Case(f"{fname}({tuple(shape)!r}, dtype={dtype!r})",
                    lambda m: getattr(m, fname)(tuple(shape), dtype=dtype), random_values=fname.startswith("rand"))
    return Case(f"{fname}(*{shape!r}, dtype={dtype!r})", lambda m: getattr(m, fname)(*shape, dtype=dtype),
                random_values=fname.startswith("rand"))


@st.composite
def tensor_data_cases(draw: Any) -> Case:
    data = draw(st.one_of(
        arrays(max_ndim=9),
        st.sampled_from([[1.0, [2.0, 3.0]], "abc", None, object(), 2**70, [2**70], [1j], np.array([1 + 2j]),
                         np.array(["a", "b"]), np.array([None, 1.0], dtype=object), np.arange(6, dtype=np.int64),
                         np.array([1e300, -1e300]), np.float16(2.5), [], [[]], [[], []], True, np.uint8(200),
                         np.zeros((0, 3)), np.zeros([1] * 9), np.zeros([2] * 8, dtype=np.float32)]),
        numbers))
    dtype = draw(dtypes)
    rg = draw(st.sampled_from([False, True, 1, None, "yes"]))
    fname = draw(st.sampled_from(["tensor", "tensor", "from_numpy", "Tensor"]))
    if fname == "Tensor":
        return Case(f"Tensor({data!r}, dtype={dtype!r}, requires_grad={rg!r})",
                    lambda m: m.Tensor(data, dtype=dtype, requires_grad=rg))
    if fname == "from_numpy":
        return Case(f"from_numpy({data!r})", lambda m: m.from_numpy(data))
    return Case(f"tensor({data!r}, dtype={dtype!r}, requires_grad={rg!r})",
                lambda m: m.tensor(data, dtype=dtype, requires_grad=rg))


UNARY = ["exp", "log", "sqrt", "reciprocal", "abs", "sigmoid", "tanh", "relu", "__neg__", "__abs__",
         "leaky_relu", "elu", "float", "double", "item", "tolist", "__float__", "__bool__", "__len__", "numel",
         "detach", "__repr__", "T", "retain_grad", "backward"]


@st.composite
def unary_cases(draw: Any) -> Case:
    a = draw(arrays())
    rg = draw(st.booleans())
    name = draw(st.sampled_from(UNARY))
    args = draw(st.lists(st.one_of(numbers, odd_scalars), max_size=1)) if name in ("leaky_relu", "elu") else []

    def run(m: Any) -> Any:
        x = _tensor(m, a, rg)
        attr = getattr(x, name)
        out = attr(*args) if callable(attr) else attr
        if isinstance(out, str):  # __repr__: only that it works
            return "repr"
        return out, x
    return Case(f"tensor({a!r}, requires_grad={rg}).{name}(*{args!r})", run)


@st.composite
def clamp_cases(draw: Any) -> Case:
    a = draw(arrays())
    lo, hi = draw(st.one_of(st.none(), numbers, odd_scalars)), draw(st.one_of(st.none(), numbers, odd_scalars))
    return Case(f"clamp(tensor({a!r}), {lo!r}, {hi!r})",
                lambda m: m.clamp(_tensor(m, a, True), lo, hi))


BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
          "@": operator.matmul, "<": operator.lt, "==": operator.eq, ">=": operator.ge}


@st.composite
def binary_cases(draw: Any) -> Case:
    x, y = draw(operands), draw(operands)
    if x[0] != "tensor" and y[0] != "tensor":
        x = ("tensor", draw(arrays()))
    kind = draw(st.sampled_from(sorted(BINARY) + ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "matmul"]))
    rg = draw(st.booleans())

    def run(m: Any) -> Any:
        a, b = _operand(m, x, rg), _operand(m, y, rg)
        out = BINARY[kind](a, b) if kind in BINARY else getattr(m, kind)(a, b)
        if rg and isinstance(out, (pygrad.Tensor, ref.Tensor)) and out.requires_grad and out.size:
            out.sum().backward()
        return out, a, b
    return Case(f"{x!r} {kind} {y!r} (requires_grad={rg})", run)


@st.composite
def where_cases(draw: Any) -> Case:
    c, x, y = draw(operands), draw(operands), draw(operands)
    return Case(f"where({c!r}, {x!r}, {y!r})", lambda m: m.where(_operand(m, c), _operand(m, x, True),
                                                                _operand(m, y)))


@st.composite
def axis_cases(draw: Any) -> Case:
    a = draw(arrays())
    axis = draw(axis_like)
    keep = draw(st.sampled_from([False, True, 1, None]))
    name = draw(st.sampled_from(["sum", "mean", "max", "min", "softmax", "log_softmax", "transpose", "permute"]))

    def run(m: Any) -> Any:
        x = _tensor(m, a, True)
        if name in ("softmax", "log_softmax"):
            out = getattr(x, name)(axis)
        elif name == "transpose":
            out = x.transpose(axis, keep)
        elif name == "permute":
            out = x.permute(*(axis if isinstance(axis, (tuple, list)) else (axis,)))
        else:
            out = getattr(x, name)(axis=axis, keepdims=keep)
        if out.requires_grad:
            out.backward(m.ones(out.shape, dtype=out.dtype))
        return out, x
    return Case(f"tensor({a!r}).{name}(axis={axis!r}, {keep!r})", run)


@st.composite
def reshape_cases(draw: Any) -> Case:
    a = draw(arrays())
    shape = draw(shape_like)
    packed = draw(st.booleans())

    def run(m: Any) -> Any:
        x = _tensor(m, a, True)
        return x.reshape(tuple(shape)) if packed else x.reshape(*shape)
    return Case(f"tensor({a!r}).reshape({shape!r}, packed={packed})", run)


keys = st.one_of(
    st.integers(-5, 5), st.sampled_from([2**70, -(2**63) - 1, 1.5, "a", None, Ellipsis, True, np.nan]),
    st.slices(6), st.sampled_from([slice(None, None, 0), slice(2**70, None), slice(None, -(2**70)), slice(1.5, 2)]),
    st.lists(st.integers(-5, 5), max_size=4), st.lists(st.booleans(), max_size=5).map(np.array),
    st.sampled_from([np.array([1.5]), np.array([np.nan]), np.array([[0, 1], [1, 0]]), np.array([], dtype=np.int64),
                     [[0, 1], [0]], np.array([1, 2], dtype=np.float64), np.array([True]), (Ellipsis, Ellipsis),
                     (None,) * 9, (0,) * 9, np.array(["a"])]),
)


def _is_array_like(key: Any) -> bool:
    try:
        np.asarray(key)
    except ValueError:  # ragged
        return False
    return True


@st.composite
def getitem_cases(draw: Any) -> Case:
    a = draw(arrays())
    # tuples nested inside an index tuple are not documented index entries: left out
    key = draw(st.one_of(keys, st.lists(keys.filter(lambda k: not isinstance(k, tuple)), max_size=5).map(tuple)))
    as_tensor = draw(st.booleans()) and isinstance(key, (list, np.ndarray)) and _is_array_like(key)

    def part(m: Any, k: Any) -> Any:
        # index tensors are float (pygrad has no integer dtype); float numpy arrays as keys are not documented
        return m.tensor(k) if isinstance(k, np.ndarray) and k.dtype.kind == "f" else k

    def run(m: Any) -> Any:
        x = _tensor(m, a, True)
        k = m.tensor(np.asarray(key)) if as_tensor else tuple(part(m, k) for k in key) if isinstance(key, tuple) \
            else part(m, key)
        out = x[k]
        if out.requires_grad and out.size:
            out.sum().backward()
        return out, x
    return Case(f"tensor({a!r})[{key!r}] (as tensor: {as_tensor})", run)


@st.composite
def join_cases(draw: Any) -> Case:
    parts = draw(st.lists(operands, max_size=4))
    axis = draw(axis_like)
    name = draw(st.sampled_from(["concatenate", "cat", "stack"]))
    as_tuple = draw(st.booleans())

    def run(m: Any) -> Any:
        ts = [_operand(m, p, True) for p in parts]
        out = getattr(m, name)(tuple(ts) if as_tuple else ts, axis=axis)
        if out.requires_grad and out.size:
            out.sum().backward()
        return out, ts
    return Case(f"{name}({parts!r}, axis={axis!r})", run)


@st.composite
def huge_cases(draw: Any) -> Case:
    """Allocations that cannot succeed: MemoryError, never a crash."""
    which = draw(st.sampled_from(["zeros", "ones", "full", "randn", "rand", "eye", "tensor_ops"]))
    n = draw(st.sampled_from([10**12, 2**42, 10**13]))
    if which == "full":
        return Case(f"full(({n},), 1.0)", lambda m: m.full((n,), 1.0), must_raise=(MemoryError,))
    if which == "eye":
        return Case(f"eye({n})", lambda m: m.eye(n), must_raise=(MemoryError,))
    if which == "tensor_ops":
        k = draw(st.sampled_from([2**20, 2**21]))

        def run(m: Any) -> Any:
            x = m.zeros(k, 1)
            return x * m.zeros(1, k)  # a (2^20, 2^20) result: 4 TiB
        return Case(f"zeros({k}, 1) * zeros(1, {k})", run, must_raise=(MemoryError,))
    split = draw(st.booleans())
    shape = (10**6, n // 10**6) if split else (n,)
    return Case(f"{which}{shape}", lambda m: getattr(m, which)(*shape), must_raise=(MemoryError,))


@st.composite
def overflow_cases(draw: Any) -> Case:
    """Shape products that overflow 64 bits, with and without a zero dim."""
    shape = draw(st.lists(st.sampled_from([2**31, 2**31 + 1, 2**40, 2**62, 0, 1, 3]), min_size=2, max_size=4))
    name = draw(st.sampled_from(["zeros", "softmax", "sum", "matmul", "cat", "permute", "exp", "getitem"]))

    def run(m: Any) -> Any:
        x = m.zeros(*shape, requires_grad=True)
        if name == "softmax":
            out = x.softmax(axis=-1)
        elif name == "sum":
            out = x.sum(axis=0)
        elif name == "matmul":
            out = x @ m.ones(shape[-1], 2)
        elif name == "cat":
            out = m.cat([x, x], axis=-1)
        elif name == "permute":
            out = x.T
        elif name == "exp":
            out = x.exp()
        elif name == "getitem":
            out = x[..., :1]
        else:
            out = x
        out.sum().backward()
        return tuple(out.shape), tuple(x.grad.shape)
    return Case(f"{name} on zeros{tuple(shape)}", run, reference=False)


SCENARIOS = ["backward_twice", "backward_nonscalar", "backward_bad_grad", "detached_backward", "saved_edit",
             "saved_edit_no_grad", "requires_grad_nonleaf", "grad_assign", "leaf_inplace", "retain_then_edit",
             "backward_bool", "retain_grad_plain", "backward_int_grad", "double_backward_leaf"]


@st.composite
def autograd_cases(draw: Any) -> Case:
    which = draw(st.sampled_from(SCENARIOS))
    a = draw(arrays())
    if a.dtype == np.bool_ and which != "backward_bool":
        a = a.astype(np.float64)
    other = draw(operands)

    def run(m: Any) -> Any:
        x = _tensor(m, a, True)
        if which == "backward_twice":
            y = (x * x).sum()
            y.backward()
            y.backward()
        elif which == "backward_nonscalar":
            (x * 2.0).backward()
        elif which == "backward_bad_grad":
            (x * 2.0).backward(_operand(m, other))
        elif which == "detached_backward":
            x.detach().sum().backward()
        elif which == "saved_edit":
            y = x * 1.0
            z = (y * y).sum()
            y.add_(1.0)
            z.backward()
        elif which == "saved_edit_no_grad":
            w = _tensor(m, a, False)
            z = (x * w).sum()
            w.mul_(2.0)
            z.backward()
        elif which == "requires_grad_nonleaf":
            (x * 2.0).requires_grad = False
        elif which == "grad_assign":
            x.grad = _operand(m, other)
        elif which == "leaf_inplace":
            x.add_(_operand(m, other))
        elif which == "retain_then_edit":
            z = (x.exp()).sum()
            z.backward(retain_graph=True)
            with m.no_grad():
                x.mul_(0.5)
            z.backward()
        elif which == "backward_bool":
            (x > 0).backward()
        elif which == "retain_grad_plain":
            m.tensor(a).retain_grad()
        elif which == "backward_int_grad":
            (x * 2.0).backward(np.ones(x.shape, dtype=np.int64))
        elif which == "double_backward_leaf":
            x.backward(m.ones(x.shape, dtype=x.dtype))
            x.backward(m.ones(x.shape, dtype=x.dtype))
        return x
    return Case(f"{which} on tensor({a!r}) with {other!r}", run)


@st.composite
def inplace_cases(draw: Any) -> Case:
    a = draw(arrays())
    rg = draw(st.booleans())
    no_grad = draw(st.booleans())
    other = draw(operands)
    name = draw(st.sampled_from(["add_", "sub_", "mul_", "fill_", "copy_", "zero_", "__iadd__", "__isub__",
                                 "__imul__"]))

    def run(m: Any) -> Any:
        x = _tensor(m, a, rg)
        y = x * 1.0 if draw_nonleaf else x
        arg = _operand(m, other)
        ctx = m.no_grad() if no_grad else m.enable_grad()
        with ctx:
            out = getattr(y, name)() if name == "zero_" else getattr(y, name)(arg)
        if out is NotImplemented:
            raise TypeError("NotImplemented")
        if y.requires_grad and y.size:
            y.sum().backward()
        return y, x
    draw_nonleaf = draw(st.booleans())
    return Case(f"tensor({a!r}, rg={rg}){' * 1.0' if draw_nonleaf else ''}.{name}({other!r}), no_grad={no_grad}",
                run)


@st.composite
def anomaly_cases(draw: Any) -> Case:
    a = draw(arrays())
    name = draw(st.sampled_from(["log", "sqrt", "exp", "reciprocal", "sigmoid", "softmax"]))

    def run(m: Any) -> Any:
        with m.detect_anomaly():
            x = _tensor(m, a, True)
            y = getattr(x, name)()
            if y.size:
                y.sum().backward()
        return y, x
    return Case(f"detect_anomaly: tensor({a!r}).{name}()", run)


all_cases = st.one_of(creation_cases(), tensor_data_cases(), unary_cases(), clamp_cases(), binary_cases(),
                      where_cases(), axis_cases(), reshape_cases(), getitem_cases(), join_cases(), huge_cases(),
                      overflow_cases(), autograd_cases(), inplace_cases(), anomaly_cases())


def main() -> int:
    if os.environ.get("PYGRAD_SANITIZED") != "1":
        # a fixed address-space limit: an allocation too large fails the same way on every machine
        limit = 8 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    count = 0

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=all_cases)
    def fuzz(case: Case) -> None:
        nonlocal count
        count += 1
        check(case)

    fuzz()
    print(f"{count} cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
