"""Bad input: every case raises the documented builtin exception (which is also a
``pygrad.PygradError``) with a message naming the op and the shapes or dtypes.

Each error case runs on the C engine (type and message) and, when
``pygrad.reference`` imports and implements the op, on the reference engine
(same builtin type). The end of the file covers inputs that must *not* raise:
NaNs, empty tensors, out-of-range slices.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np
import pytest

import pygrad as pg
from pygrad import PygradError, PygradTypeError, PygradValueError, ShapeError, _optable

Pattern = Union[str, "re.Pattern[str]"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _engine(name: str) -> Any:
    """The module under test: the C engine, or the reference (skipped if it cannot be imported)."""
    if name == "c":
        return pg
    try:
        return importlib.import_module("pygrad.reference")
    except Exception as exc:  # the reference may be incomplete or broken while it is written
        pytest.skip(f"pygrad.reference cannot be imported: {exc!r}")


def _sdpa(m):
    return m.nn.functional.scaled_dot_product_attention


def op(name: str) -> re.Pattern[str]:
    """The op's name as a whole word."""
    return re.compile(rf"\b{re.escape(name)}\b")


def any_of(*names: str) -> re.Pattern[str]:
    """One of several whole words."""
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")


def _all_of(patterns: tuple[Pattern, ...]) -> str:
    """A regex that ``re.search`` finds iff every pattern (a literal string or a
    compiled regex) occurs somewhere in the message, in any order."""
    parts = [p.pattern if isinstance(p, re.Pattern) else re.escape(p) for p in patterns]
    return "(?s)" + "".join(f"(?=.*?{p})" for p in parts)


@contextlib.contextmanager
def expect_error(m: Any, exc: type[BaseException], *message: Pattern, kind: type = PygradError):
    """The block must raise ``exc`` (a builtin type).

    C engine: the exception is also a ``kind`` (a pygrad class) and its message
    contains every pattern. Reference engine: the same builtin type and a
    ``PygradError``; a reference that lacks the op skips the check.
    """
    try:
        with pytest.raises(exc, match=_all_of(message) if m is pg and message else None) as info:
            yield info
    except (AttributeError, NotImplementedError) as err:
        if m is pg:
            raise
        pytest.skip(f"pygrad.reference does not implement this yet: {err!r}")
    assert isinstance(info.value, kind if m is pg else PygradError), type(info.value).__mro__


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Any], Any]          # does the bad thing with engine module m
    exc: type[BaseException]           # the builtin exception type
    message: tuple[Pattern, ...]       # what the C engine's message must contain
    kind: type = PygradError           # the pygrad class the C engine must raise
    c_bug: str | None = None           # known C engine bug: the C check is xfail
    ref_bug: str | None = None         # known reference bug: the reference check is xfail
    ref_skip: str | None = None        # not a reference check (the engines differ by design)


def _params(cases: list[Case]) -> list[Any]:
    out = []
    for c in cases:
        c_marks = [pytest.mark.xfail(reason=f"engine bug: {c.c_bug}", strict=True)] if c.c_bug else []
        out.append(pytest.param(c, "c", id=f"{c.id}-c", marks=c_marks))
        if c.ref_skip:
            continue
        r_marks = [pytest.mark.xfail(reason=f"reference bug: {c.ref_bug}", strict=True)] if c.ref_bug else []
        out.append(pytest.param(c, "reference", id=f"{c.id}-reference", marks=r_marks))
    return out


ENGINES = [pytest.param("c", id="c"), pytest.param("reference", id="reference")]


# ---------------------------------------------------------------------------
# the table of bad inputs
# ---------------------------------------------------------------------------


def _a23(m: Any) -> Any:
    return m.ones(2, 3)


def _b4(m: Any) -> Any:
    return m.ones(4)


def _backward_twice(m: Any) -> None:
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _backward_third_time(m: Any) -> None:
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    y.backward()


def _set_requires_grad(flag: bool) -> Callable[[Any], None]:
    def run(m: Any) -> None:
        y = m.tensor([1.0, 2.0], requires_grad=True) * 2.0
        y.requires_grad = flag

    return run


def _made_under_no_grad(m: Any) -> Any:
    x = m.ones(3, requires_grad=True)
    with m.no_grad():
        return (x * x).sum()


def _bool_requires_grad_attr(m: Any) -> None:
    b = m.tensor([True, False])
    b.requires_grad = True


SHAPE_CASES = [
    Case("add-op", lambda m: _a23(m) + _b4(m), ValueError, (op("add"), "(2, 3)", "(4,)"), ShapeError),
    Case("add-fn", lambda m: m.add(_a23(m), _b4(m)), ValueError, (op("add"), "(2, 3)", "(4,)"), ShapeError),
    Case("sub", lambda m: _a23(m) - _b4(m), ValueError, (op("sub"), "(2, 3)", "(4,)"), ShapeError),
    Case("mul", lambda m: _a23(m) * _b4(m), ValueError, (op("mul"), "(2, 3)", "(4,)"), ShapeError),
    Case("div", lambda m: _a23(m) / _b4(m), ValueError, (op("div"), "(2, 3)", "(4,)"), ShapeError),
    Case("maximum", lambda m: m.maximum(_a23(m), _b4(m)), ValueError, (op("maximum"), "(2, 3)", "(4,)"),
         ShapeError),
    Case("minimum", lambda m: m.minimum(_b4(m), _a23(m)), ValueError, (op("minimum"), "(2, 3)", "(4,)"),
         ShapeError),
    Case("where-y", lambda m: m.where(_a23(m) > 0, _a23(m), _b4(m)), ValueError,
         (op("where"), "(2, 3)", "(4,)"), ShapeError),
    Case("where-cond", lambda m: m.where(_b4(m) > 0, _a23(m), _a23(m)), ValueError,
         (op("where"), "(2, 3)", "(4,)"), ShapeError),
    Case("add-ndarray", lambda m: _a23(m) + np.ones(4), ValueError, (op("add"), "(2, 3)", "(4,)"), ShapeError),
    Case("radd-ndarray", lambda m: np.ones(4) + _a23(m), ValueError, (op("add"), "(2, 3)", "(4,)"), ShapeError),
    Case("mul-ndarray", lambda m: m.mul(_a23(m), np.ones(4)), ValueError, (op("mul"), "(2, 3)", "(4,)"),
         ShapeError),
    Case("matmul-inner", lambda m: _a23(m) @ m.ones(4, 5), ValueError, (op("matmul"), "(2, 3)", "(4, 5)"),
         ShapeError),
    Case("matmul-inner-1d", lambda m: m.ones(3) @ m.ones(4), ValueError, (op("matmul"), "(3,)", "(4,)"),
         ShapeError),
    Case("matmul-batch", lambda m: m.ones(2, 2, 3) @ m.ones(3, 3, 4), ValueError,
         (op("matmul"), "(2, 2, 3)", "(3, 3, 4)"), ShapeError),
    Case("matmul-0d-left", lambda m: m.tensor(2.0) @ m.ones(3), ValueError, (op("matmul"), "()", "(3,)"),
         ShapeError),
    Case("matmul-0d-right", lambda m: m.matmul(m.ones(3), m.tensor(2.0)), ValueError,
         (op("matmul"), "()", "(3,)"), ShapeError),
    Case("reshape-numel", lambda m: _a23(m).reshape(4, 2), ValueError, (op("reshape"), "(2, 3)", "(4, 2)"),
         ShapeError),
    Case("reshape-two-minus-one", lambda m: _a23(m).reshape(-1, -1), ValueError,
         (op("reshape"), "(-1, -1)"), ShapeError),
    Case("reshape-negative", lambda m: m.ones(6).reshape(-2, -3), ValueError, (op("reshape"), "-2"), ShapeError),
    Case("permute-repeated", lambda m: _a23(m).permute(0, 0), ValueError, (op("permute"), "(2, 3)"), ShapeError),
    Case("permute-out-of-range", lambda m: _a23(m).permute(0, 2), ValueError, (op("permute"), "(2, 3)"),
         ShapeError),
    Case("permute-too-few", lambda m: _a23(m).permute(0), ValueError, (op("permute"), "(2, 3)"), ShapeError),
    Case("permute-too-many", lambda m: _a23(m).permute(1, 0, 2), ValueError, (op("permute"), "(2, 3)"),
         ShapeError),
    Case("concatenate-shapes", lambda m: m.concatenate([_a23(m), m.ones(2, 4)]), ValueError,
         (op("concatenate"), "(2, 3)", "(2, 4)"), ShapeError),
    Case("concatenate-0d", lambda m: m.concatenate([m.tensor(1.0), m.tensor(2.0)]), ValueError,
         (op("concatenate"), re.compile(r"zero-dim|0-d|\(\)")), ShapeError),
    Case("concatenate-axis", lambda m: m.concatenate([_a23(m), _a23(m)], axis=2), ValueError,
         (op("concatenate"), "2"), ShapeError),
    Case("stack-shapes", lambda m: m.stack([_a23(m), m.ones(3, 2)]), ValueError,
         (op("stack"), "(2, 3)", "(3, 2)"), ShapeError),
    Case("stack-axis", lambda m: m.stack([_a23(m), _a23(m)], axis=3), ValueError, (op("stack"), "3"), ShapeError),
]


AXIS_CASES = [
    Case("transpose-axis", lambda m: _a23(m).transpose(0, 2), ValueError, (op("transpose"), "2", "(2, 3)"),
         ShapeError),
    Case("sum-axis", lambda m: _a23(m).sum(axis=2), ValueError, (op("sum"), "2", "(2, 3)"), ShapeError),
    Case("mean-axis-tuple", lambda m: _a23(m).mean(axis=(0, 2)), ValueError, (op("mean"), "2", "(2, 3)"),
         ShapeError),
    Case("max-negative-axis", lambda m: _a23(m).max(axis=-3), ValueError, (op("max"), "-3", "(2, 3)"),
         ShapeError),
    Case("softmax-axis", lambda m: _a23(m).softmax(axis=-3), ValueError, (op("softmax"), "-3", "(2, 3)"),
         ShapeError),
    Case("log-softmax-axis", lambda m: m.log_softmax(_a23(m), axis=2), ValueError,
         (op("log_softmax"), "2", "(2, 3)"), ShapeError),
    Case("logsumexp-dim", lambda m: _a23(m).logsumexp(2), ValueError, (op("logsumexp"), "2", "(2, 3)"),
         ShapeError),
    Case("logsumexp-repeated-dim", lambda m: m.logsumexp(_a23(m), (1, -1)), ValueError,
         (op("logsumexp"), "twice", "(2, 3)"), ShapeError),
    Case("logsumexp-bool", lambda m: m.tensor(np.array([True])).logsumexp(0), TypeError,
         (op("logsumexp"), "bool"), PygradTypeError),
    Case("cumsum-dim", lambda m: m.cumsum(_a23(m), -3), ValueError, (op("cumsum"), "-3", "(2, 3)"), ShapeError),
    Case("cumsum-dim-type", lambda m: _a23(m).cumsum(0.5), TypeError, (op("cumsum"), "0.5"), PygradTypeError),
    Case("sum-axis-0d", lambda m: m.tensor(1.0).sum(axis=0), ValueError, (op("sum"), "0"), ShapeError),
    Case("sum-repeated-axis", lambda m: _a23(m).sum(axis=(0, 0)), ValueError, (op("sum"), "(0, 0)", "repeated"),
         ShapeError),
    Case("sum-repeated-negative-axis", lambda m: _a23(m).sum(axis=(1, -1)), ValueError,
         (op("sum"), "(1, -1)", "repeated"), ShapeError),
    Case("cumprod-dim", lambda m: m.cumprod(_a23(m), 2), ValueError, (op("cumprod"), "2", "(2, 3)"), ShapeError),
    Case("cumprod-int", lambda m: m.tensor(np.array([1, 2])).cumprod(0), TypeError, (op("cumprod"), "int64"),
         PygradTypeError),
    Case("pad-crop-too-much", lambda m: m.nn.functional.pad(_a23(m), (-2, -2)), ValueError,
         (op("pad"), "crop", "(2, 3)"), ShapeError),
    Case("pad-odd-length", lambda m: m.nn.functional.pad(_a23(m), (1, 2, 3)), ValueError, (op("pad"), "(2, 3)"),
         ShapeError),
    Case("tril-1d", lambda m: m.ones(3).tril(), ValueError, (op("tril"), "(3,)"), ShapeError),
    Case("triu-diagonal-type", lambda m: _a23(m).triu(0.5), TypeError, (op("triu"), "0.5"), PygradTypeError),
]

INDEX_CASES = [
    Case("int", lambda m: m.ones(3)[5], IndexError, (op("getitem"), "5", "(3,)")),
    Case("negative-int", lambda m: m.ones(3)[-4], IndexError, (op("getitem"), "-4", "(3,)")),
    Case("second-axis", lambda m: _a23(m)[0, 5], IndexError, (op("getitem"), "5", "(2, 3)")),
    Case("int-array", lambda m: m.ones(3)[np.array([0, 3])], IndexError, (op("getitem"), "3", "(3,)")),
    Case("int-list", lambda m: m.ones(3)[[0, 3]], IndexError, (op("getitem"), "3", "(3,)")),
    Case("too-many-indices", lambda m: m.ones(3)[0, 0], IndexError, (op("getitem"), "too many", "(3,)")),
    Case("bool-mask-length", lambda m: m.ones(3)[np.array([True, False])], IndexError, (op("getitem"), "(3,)")),
]

AUTOGRAD_CASES = [
    Case("backward-nonscalar", lambda m: (m.ones(2, 3, requires_grad=True) * 2.0).backward(), RuntimeError,
         (op("backward"), "(2, 3)")),
    Case("backward-grad-shape", lambda m: (m.ones(2, 3, requires_grad=True) * 2.0).backward(m.ones(3)),
         ValueError, (op("backward"), "(3,)", "(2, 3)")),
    Case("backward-twice", _backward_twice, RuntimeError, ("second time", "retain_graph")),
    Case("backward-third-time", _backward_third_time, RuntimeError, ("second time", "retain_graph")),
    Case("backward-no-grad", lambda m: m.ones(3).sum().backward(), RuntimeError,
         (op("backward"), "require")),
    Case("backward-made-under-no-grad", lambda m: _made_under_no_grad(m).backward(), RuntimeError,
         (op("backward"), "require")),
    Case("non-leaf-requires-grad-false", _set_requires_grad(False), RuntimeError, ("requires_grad", "leaf")),
    Case("bool-requires-grad-ctor", lambda m: m.tensor([True, False], requires_grad=True), TypeError,
         ("requires_grad", "bool")),
    Case("bool-requires-grad-attr", _bool_requires_grad_attr, TypeError, ("requires_grad", "bool")),
    Case("retain-grad-without-grad", lambda m: m.ones(3).retain_grad(), RuntimeError, (op("retain_grad"),)),
]


def _leaf(m: Any) -> Any:
    return m.tensor([1.0, 2.0, 3.0], requires_grad=True)


_INPLACE = any_of("add_", "sub_", "mul_", "fill_", "zero_", "copy_")

INPLACE_CASES = [
    Case("add_", lambda m: _leaf(m).add_(1.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("add_-tensor", lambda m: _leaf(m).add_(m.ones(3)), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("sub_", lambda m: _leaf(m).sub_(1.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("mul_", lambda m: _leaf(m).mul_(2.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("zero_", lambda m: _leaf(m).zero_(), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("fill_", lambda m: _leaf(m).fill_(5.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("copy_", lambda m: _leaf(m).copy_(m.zeros(3)), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("iadd", lambda m: operator.iadd(_leaf(m), 1.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("isub", lambda m: operator.isub(_leaf(m), 1.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
    Case("imul", lambda m: operator.imul(_leaf(m), 2.0), RuntimeError, (_INPLACE, "requires grad", "no_grad")),
]

TYPE_CASES = [
    Case("tensor-from-str", lambda m: m.tensor("abc"), TypeError, (op("tensor"), re.compile(r"<U3|\bstr\b"))),
    Case("tensor-from-dict", lambda m: m.tensor({"a": 1}), TypeError, (op("tensor"), any_of("object", "dict"))),
    Case("tensor-from-complex-array", lambda m: m.tensor(np.array([1 + 2j])), TypeError,
         (op("tensor"), "complex")),
    Case("tensor-from-complex-scalar", lambda m: m.tensor(1 + 2j), TypeError, (op("tensor"), "complex")),
    Case("tensor-from-object-array", lambda m: m.tensor(np.array([1.0, None], dtype=object)), TypeError,
         (op("tensor"), "object")),
    Case("tensor-from-str-array", lambda m: m.tensor(np.array(["a", "b"])), TypeError,
         (op("tensor"), re.compile(r"<U1|\bstr"))),
    Case("tensor-int16-dtype", lambda m: m.tensor([1.0], dtype="int16"), TypeError, ("int16",)),
    Case("int-requires-grad", lambda m: m.tensor([1, 2], requires_grad=True), TypeError, ("int64", "float")),
    Case("int-tensor-nan", lambda m: m.tensor([float("nan")], dtype="int64"), ValueError, ("NaN", "int64")),
    Case("int-negative-power", lambda m: m.tensor([2, 3]) ** -1, ValueError, (op("pow"), "negative")),
    Case("bool-sub", lambda m: m.tensor([True]) - m.tensor([False]), TypeError, (op("sub"), "bool")),
    Case("bitwise-float", lambda m: m.tensor([1.0]) & m.tensor([True]), TypeError,
         (op("bitwise_and"), "float32")),
    Case("full-int-overflow", lambda m: m.full((2,), 2**40, dtype="int32"), ValueError, ("int32",)),
    Case("reshape-float", lambda m: _a23(m).reshape(2.0, 3), TypeError, (op("reshape"), re.compile(r"2\.0|float"))),
    Case("sum-axis-str", lambda m: _a23(m).sum(axis="a"), TypeError, (op("sum"), re.compile(r"'a'|\bstr\b"))),
    Case("sum-axis-float", lambda m: _a23(m).sum(axis=1.0), TypeError, (op("sum"), re.compile(r"1\.0|float"))),
    Case("transpose-float", lambda m: _a23(m).transpose(0, 1.5), TypeError,
         (op("transpose"), re.compile(r"1\.5|float"))),
    Case("where-float-cond", lambda m: m.where(m.ones(3), m.ones(3), m.zeros(3)), TypeError,
         (op("where"), "float32")),
    Case("concatenate-not-a-list", lambda m: m.concatenate(m.ones(3)), TypeError, (op("concatenate"),)),
]

VALUE_CASES = [
    Case("item-non-scalar", lambda m: _a23(m).item(), ValueError, (op("item"), "(2, 3)")),
    Case("item-empty", lambda m: m.zeros(0).item(), ValueError, (op("item"), "(0,)")),
    Case("clamp-no-bounds", lambda m: m.clamp(m.ones(3)), ValueError, (op("clamp"), "min", "max")),
    Case("clamp-no-bounds-method", lambda m: m.ones(3).clamp(), ValueError, (op("clamp"), "min", "max")),
    Case("clamp-nan-bound", lambda m: m.ones(3).clamp(min=math.nan), ValueError, (op("clamp"), "NaN")),
    Case("hardtanh-bounds", lambda m: m.nn.functional.hardtanh(m.ones(3), 2.0, 1.0), ValueError,
         (op("hardtanh"), "min_val 2.0", "max_val 1.0")),
    Case("hardtanh-bounds-op", lambda m: m.ones(3)._hardtanh(0.5, -0.5), ValueError,
         (op("hardtanh"), "min_val 0.5", "max_val -0.5")),
    Case("hardtanh-nan-bound-op", lambda m: m.ones(3)._hardtanh(math.nan, 1.0), ValueError,
         (op("hardtanh"), "min_val nan")),
    Case("hardtanh-bound-type-op", lambda m: m.ones(3)._hardtanh("a", 1.0), TypeError,
         (op("hardtanh"), "min_val", "str")),
    Case("hardtanh-not-a-tensor", lambda m: m.nn.functional.relu6([1.0, 2.0]), TypeError,
         (op("hardtanh"), "list")),
    Case("concatenate-empty", lambda m: m.concatenate([]), ValueError, (op("concatenate"),)),
    Case("stack-empty", lambda m: m.stack([]), ValueError, (op("stack"),)),
    Case("max-empty", lambda m: m.zeros(0).max(), ValueError, (op("max"), "(0,)")),
    Case("min-empty", lambda m: m.zeros(0).min(), ValueError, (op("min"), "(0,)")),
    Case("max-empty-axis", lambda m: m.zeros(3, 0).max(axis=1), ValueError, (op("max"), "(3, 0)")),
    Case("arange-zero-step", lambda m: m.arange(0, 10, 0), ValueError, (op("arange"), "step")),
]

_SHAPE_40 = "(1099511627776, 1099511627776)"

CREATION_CASES = [
    Case("zeros-1e12", lambda m: m.zeros(10**12), MemoryError,
         (any_of("zeros", "tensor"), "(1000000000000,)")),
    Case("zeros-2^40-squared", lambda m: m.zeros(2**40, 2**40), MemoryError,
         (any_of("zeros", "tensor"), _SHAPE_40)),
    Case("ones-2^40-squared", lambda m: m.ones((2**40, 2**40)), MemoryError,
         (any_of("ones", "tensor"), _SHAPE_40)),
    Case("randn-2^40-squared", lambda m: m.randn(2**40, 2**40), MemoryError, (op("randn"), _SHAPE_40)),
    Case("zeros-negative", lambda m: m.zeros(-1), ValueError, (any_of("zeros", "tensor"), "(-1,)"), ShapeError),
    Case("zeros-negative-2d", lambda m: m.zeros(2, -3), ValueError, (any_of("zeros", "tensor"), "(2, -3)"),
         ShapeError),
    Case("full-negative", lambda m: m.full((-1,), 1.0), ValueError, (any_of("full", "tensor"), "(-1,)"),
         ShapeError),
    Case("randn-negative", lambda m: m.randn(-1), ValueError, (op("randn"), "(-1,)"), ShapeError),
    Case("rand-negative", lambda m: m.rand(2, -1), ValueError, (op("rand"), "(2, -1)"), ShapeError),
    Case("eye-negative", lambda m: m.eye(-1), ValueError, (op("eye"), "-1"), ShapeError),
    Case("zeros-9-dims", lambda m: m.zeros(*[1] * 9), ValueError, (any_of("zeros", "tensor"), "8"), ShapeError),
    Case("tensor-9-dims", lambda m: m.tensor(np.zeros([1] * 9)), ValueError, (op("tensor"), "8"), ShapeError),
    Case("reshape-9-dims", lambda m: m.ones(1).reshape(*[1] * 9), ValueError, (op("reshape"), "8"), ShapeError),
    Case("getitem-9-dims", lambda m: m.ones(*[1] * 8)[None], ValueError, (op("getitem"), "9"), ShapeError),
    Case("stack-9-dims", lambda m: m.stack([m.ones(*[1] * 8)] * 2), ValueError, (op("stack"), "8"), ShapeError),
]


NN_CASES = [
    Case("prelu-weight-size", lambda m: m.prelu(_a23(m), _b4(m)), ValueError, (op("prelu"), "(4,)", "(2, 3)"),
         ShapeError),
    Case("prelu-weight-2d", lambda m: m.prelu(_a23(m), m.ones(3, 1)), ValueError,
         (op("prelu"), "(3, 1)", "(2, 3)"), ShapeError),
    Case("prelu-channels-of-1d", lambda m: m.prelu(m.ones(3), m.ones(3)), ValueError,
         (op("prelu"), "(3,)", "channel"), ShapeError),
    Case("prelu-bool-weight", lambda m: m.prelu(_a23(m), m.tensor([True])), TypeError, (op("prelu"), "bool")),
    Case("maxout-indivisible", lambda m: m.maxout(m.ones(2, 7), 3), ValueError, (op("maxout"), "(2, 7)", "3"),
         ShapeError),
    Case("maxout-0d", lambda m: m.maxout(m.tensor(1.0), 1), ValueError, (op("maxout"), "()"), ShapeError),
    Case("maxout-zero-pieces", lambda m: m.maxout(m.ones(2, 4), 0), ValueError, (op("maxout"), "0")),
    Case("maxout-float-pieces", lambda m: m.maxout(m.ones(2, 4), 2.0), TypeError, (op("maxout"), "2.0")),
    Case("cross-entropy-label-too-big", lambda m: m.cross_entropy(_a23(m), [0, 3]), IndexError,
         (op("cross_entropy"), "label 3", "(2, 3)")),
    Case("cross-entropy-negative-label", lambda m: m.cross_entropy(_a23(m), [-1, 0]), IndexError,
         (op("cross_entropy"), "label -1", "(2, 3)")),
    Case("cross-entropy-label-count", lambda m: m.cross_entropy(_a23(m), [0, 1, 2]), ValueError,
         (op("cross_entropy"), "(2, 3)", "got 3"), ShapeError),
    Case("cross-entropy-1d-logits", lambda m: m.cross_entropy(m.ones(3), [0]), ValueError,
         (op("cross_entropy"), "(3,)"), ShapeError),
    Case("cross-entropy-empty-batch", lambda m: m.cross_entropy(m.zeros(0, 3), []), ValueError,
         (op("cross_entropy"), "empty", "(0, 3)")),
    Case("cross-entropy-no-classes", lambda m: m.cross_entropy(m.zeros(2, 0), [0, 0]), ValueError,
         (op("cross_entropy"), "(2, 0)")),
    Case("cross-entropy-float-labels", lambda m: m.cross_entropy(_a23(m), [0.5, 1.0]), TypeError,
         (op("cross_entropy"), "whole")),
    Case("cross-entropy-bool-labels", lambda m: m.cross_entropy(_a23(m), np.array([True, False])), TypeError,
         (op("cross_entropy"), "bool")),
    Case("cross-entropy-2d-labels", lambda m: m.cross_entropy(_a23(m), [[0], [1]]), ValueError,
         (op("cross_entropy"), "(2, 1)"), ShapeError),
    Case("cross-entropy-reduction", lambda m: m.cross_entropy(_a23(m), [0, 1], reduction="avg"), ValueError,
         (op("cross_entropy"), "reduction", "'avg'")),
    Case("dropout-p-too-big", lambda m: m.nn.functional.dropout(m.ones(3), 1.5), ValueError,
         (op("dropout"), "between 0 and 1", "1.5")),
    Case("dropout-p-nan", lambda m: m.ones(3)._dropout_seeded(float("nan"), 1), ValueError,
         (op("dropout"), "nan")),
    Case("dropout-int-input", lambda m: m.ones(3, dtype="int64")._dropout_seeded(0.5, 1), TypeError,
         (op("dropout"), "int64")),
    Case("embedding-index-out-of-range", lambda m: m.ones(4, 2)._embedding(np.array([1, 4]), -1), IndexError,
         (op("embedding"), "index 4", "4 rows")),
    Case("embedding-negative-index", lambda m: m.ones(4, 2)._embedding(np.array([-2]), -1), IndexError,
         (op("embedding"), "index -2")),
    Case("embedding-1d-weight", lambda m: m.ones(4)._embedding(np.array([0]), -1), ValueError,
         (op("embedding"), "2-d", "(4,)"), ShapeError),
    Case("embedding-int-weight", lambda m: m.ones(4, 2, dtype="int64")._embedding(np.array([0]), -1), TypeError,
         (op("embedding"), "int64")),
    Case("embedding-float-indices", lambda m: m.nn.functional.embedding(np.array([0.5]), m.ones(4, 2)), TypeError,
         (op("embedding"), "integer")),
    Case("embedding-empty-table", lambda m: m.nn.functional.embedding([0], m.ones(0, 2)), IndexError,
         (op("embedding"), "index 0", "0 rows")),
    Case("one-hot-label-too-big", lambda m: m.nn.functional.one_hot(m.tensor([[0, 1], [5, 2]]), 5), ValueError,
         (op("one_hot"), "label 5", "position 2", "5 classes")),
    Case("one-hot-negative-label", lambda m: m.nn.functional.one_hot(m.tensor([0, -2]), 3), ValueError,
         (op("one_hot"), "label -2", "3 classes")),
    Case("one-hot-int32-label", lambda m: m.tensor([1, 3], dtype="int32")._one_hot(3), ValueError,
         (op("one_hot"), "label 3", "3 classes")),
    Case("one-hot-no-classes", lambda m: m.nn.functional.one_hot(m.tensor([0]), 0), ValueError,
         (op("one_hot"), "label 0", "0 classes")),
    Case("one-hot-float-labels", lambda m: m.nn.functional.one_hot(m.tensor([0.0, 1.0]), 2), TypeError,
         (op("one_hot"), "integer", "float32")),
    Case("one-hot-float-labels-op", lambda m: m.tensor([0.0, 1.0])._one_hot(2), TypeError,
         (op("one_hot"), "integer", "float32")),
    Case("one-hot-bool-labels", lambda m: m.nn.functional.one_hot(m.tensor([True]), 2), TypeError,
         (op("one_hot"), "integer", "bool")),
    Case("one-hot-num-classes", lambda m: m.nn.functional.one_hot(m.tensor([0]), -2), ValueError,
         (op("one_hot"), "num_classes", "-2")),
    Case("one-hot-num-classes-float", lambda m: m.nn.functional.one_hot(m.tensor([0]), 2.0), ValueError,
         (op("one_hot"), "num_classes", "2.0")),
    Case("one-hot-infer-from-empty", lambda m: m.nn.functional.one_hot(m.zeros(0, dtype="int64")), ValueError,
         (op("one_hot"), "num_classes", "-1")),
    Case("one-hot-negative-num-classes-op", lambda m: m.tensor([0])._one_hot(-1), ValueError,
         (op("one_hot"), "num_classes", "-1")),
    Case("one-hot-too-many-dims", lambda m: m.zeros(*(1,) * 8, dtype="int64")._one_hot(2), ValueError,
         (op("one_hot"), "8 dims"), ShapeError),
    Case("bce-input-above-one", lambda m: m.nn.functional.binary_cross_entropy(m.tensor([0.5, 1.5]),
                                                                                m.tensor([1.0, 0.0])), ValueError,
         (op("binary_cross_entropy"), "probabilities in [0, 1]", "binary_cross_entropy_with_logits", "1.5")),
    Case("bce-input-negative", lambda m: m.nn.functional.binary_cross_entropy(m.tensor([[-0.25]]),
                                                                             m.tensor([[1.0]]), reduction="sum"),
         ValueError, (op("binary_cross_entropy"), "probabilities", "-0.25")),
    Case("bce-input-nan", lambda m: m.nn.functional.binary_cross_entropy(m.tensor([0.5, float("nan")]),
                                                                        m.tensor([1.0, 0.0])), ValueError,
         (op("binary_cross_entropy"), "probabilities", "nan", "flat index 1")),
    Case("bce-input-nan-op", lambda m: m.tensor([float("nan")], dtype="float64")._binary_cross_entropy(
        m.tensor([1.0], dtype="float64")), ValueError, (op("binary_cross_entropy"), "probabilities")),
    Case("bce-target-shape", lambda m: m.nn.functional.binary_cross_entropy(m.full((2, 3), 0.5), m.ones(3)),
         ValueError, (op("binary_cross_entropy"), "(2, 3)", "(3,)"), ShapeError),
    Case("bce-target-shape-op", lambda m: m.full((2, 3), 0.5)._binary_cross_entropy(m.ones(3)), ValueError,
         (op("binary_cross_entropy"), "(2, 3)", "(3,)"), ShapeError),
    Case("bce-weight-shape", lambda m: m.nn.functional.binary_cross_entropy(m.full((2, 3), 0.5), m.ones(2, 3),
                                                                           weight=m.ones(2)), ValueError,
         (op("binary_cross_entropy"), "weight", "(2,)", "(2, 3)"), ShapeError),
    Case("bce-weight-shape-op", lambda m: m.full((2, 3), 0.5)._binary_cross_entropy(m.ones(2, 3), m.ones(4, 2, 3)),
         ValueError, (op("binary_cross_entropy"), "weight", "(4, 2, 3)"), ShapeError),
    Case("bce-int-input", lambda m: m.nn.functional.binary_cross_entropy(m.tensor([0, 1]), m.tensor([0, 1])),
         TypeError, (op("binary_cross_entropy"), "int64")),
    Case("bce-mixed-dtypes-op", lambda m: m.full((2,), 0.5)._binary_cross_entropy(m.ones(2, dtype="float64")),
         TypeError, (op("binary_cross_entropy"), "float32", "float64")),
    Case("bce-reduction", lambda m: m.nn.functional.binary_cross_entropy(m.full((2,), 0.5), m.ones(2),
                                                                        reduction="avg"), ValueError,
         (op("binary_cross_entropy"), "reduction", "'avg'")),
    Case("bce-empty", lambda m: m.nn.functional.binary_cross_entropy(m.zeros(0), m.zeros(0)), ValueError,
         (op("binary_cross_entropy"), "empty")),
    Case("huber-target-shape", lambda m: m.nn.functional.huber_loss(m.ones(2, 3), m.ones(3)), ValueError,
         (op("huber_loss"), "(2, 3)", "(3,)"), ShapeError),
    Case("huber-target-shape-op", lambda m: m.ones(2, 3)._huber_loss(m.ones(3, 2)), ValueError,
         (op("huber_loss"), "(2, 3)", "(3, 2)"), ShapeError),
    Case("smooth_l1-target-shape-op", lambda m: m.ones(4)._huber_loss(m.ones(5), "sum", 0.5, True), ValueError,
         (op("smooth_l1_loss"), "(4,)", "(5,)"), ShapeError),
    Case("huber-mixed-dtypes-op", lambda m: m.ones(2)._huber_loss(m.ones(2, dtype="float64")), TypeError,
         (op("huber_loss"), "float32", "float64", "promote")),
    Case("huber-int-op", lambda m: m.tensor([1, 2])._huber_loss(m.tensor([1, 2])), TypeError,
         (op("huber_loss"), "int64")),
    Case("huber-reduction", lambda m: m.nn.functional.huber_loss(m.ones(2), m.ones(2), "avg"), ValueError,
         (op("huber_loss"), "reduction", "'avg'")),
    Case("huber-reduction-op", lambda m: m.ones(2)._huber_loss(m.ones(2), "avg"), ValueError,
         (op("huber_loss"), "reduction", "'avg'")),
    Case("smooth_l1-reduction", lambda m: m.nn.functional.smooth_l1_loss(m.ones(2), m.ones(2), reduction=None),
         ValueError, (op("smooth_l1_loss"), "reduction", "None")),
    Case("huber-delta", lambda m: m.nn.functional.huber_loss(m.ones(2), m.ones(2), delta=0.0), ValueError,
         (op("huber_loss"), "delta must be positive", "0.0")),
    Case("huber-delta-op", lambda m: m.ones(2)._huber_loss(m.ones(2), "mean", -1.5), ValueError,
         (op("huber_loss"), "delta must be positive", "-1.5")),
    Case("huber-delta-nan-op", lambda m: m.ones(2)._huber_loss(m.ones(2), "mean", math.nan), ValueError,
         (op("huber_loss"), "delta", "nan")),
    Case("smooth_l1-beta", lambda m: m.nn.functional.smooth_l1_loss(m.ones(2), m.ones(2), beta=-0.5), ValueError,
         (op("smooth_l1_loss"), "beta must be >= 0", "-0.5")),
    Case("smooth_l1-beta-nan", lambda m: m.nn.functional.smooth_l1_loss(m.ones(2), m.ones(2), beta=math.nan),
         ValueError, (op("smooth_l1_loss"), "beta must be >= 0", "nan")),
    Case("smooth_l1-beta-nan-op", lambda m: m.ones(2)._huber_loss(m.ones(2), "sum", math.nan, True), ValueError,
         (op("smooth_l1_loss"), "beta", "nan")),
    Case("huber-empty", lambda m: m.nn.functional.huber_loss(m.zeros(0, 2), m.zeros(0, 2)), ValueError,
         (op("huber_loss"), "empty")),
    Case("smooth_l1-not-a-tensor", lambda m: m.nn.functional.smooth_l1_loss([1.0], m.ones(1)), TypeError,
         (op("smooth_l1_loss"), "list")),
    Case("norm-int", lambda m: m.tensor([3, 4]).norm(), TypeError, (op("norm"), "int64")),
    Case("norm-int-op", lambda m: m.tensor([3, 4])._norm2((0,), False), TypeError, (op("norm"), "int64")),
    Case("norm-dim", lambda m: m.ones(2, 3).norm(dim=2), ValueError, (op("norm"), "2"), ShapeError),
    Case("bce-weight-requires-grad", lambda m: m.nn.functional.binary_cross_entropy(
        m.full((2,), 0.5), m.ones(2), weight=m.ones(2, requires_grad=True)), RuntimeError,
         (op("binary_cross_entropy"), "not differentiable with respect to argument 'weight'", "(2,)")),
    Case("check-finite-norm-nan", lambda m: m.tensor(float("nan"))._check_finite_norm(2.0), RuntimeError,
         ("clip_grad_norm_", "order 2.0", "non-finite (nan)", "error_if_nonfinite=False")),
    Case("check-finite-norm-inf-at-1", lambda m: m.tensor([1.0, -float("inf")])._check_finite_norm(float("inf")),
         RuntimeError, ("order inf", "non-finite (-inf)")),
    Case("check-finite-norm-int", lambda m: m.tensor([1, 2])._check_finite_norm(2.0), TypeError,
         (op("check_finite_norm"), "int64")),
    Case("sdpa-last-dims", lambda m: _sdpa(m)(m.ones(2, 3), m.ones(4, 5), m.ones(4, 2)), ValueError,
         (op("scaled_dot_product_attention"), "(2, 3)", "(4, 5)"), ShapeError),
    Case("sdpa-value-rows", lambda m: _sdpa(m)(m.ones(2, 3), m.ones(4, 3), m.ones(5, 2)), ValueError,
         (op("scaled_dot_product_attention"), "(4, 3)", "(5, 2)"), ShapeError),
    Case("sdpa-1d", lambda m: _sdpa(m)(m.ones(3), m.ones(4, 3), m.ones(4, 2)), ValueError,
         (op("scaled_dot_product_attention"), "(3,)"), ShapeError),
    Case("sdpa-batch", lambda m: _sdpa(m)(m.ones(2, 2, 3), m.ones(3, 4, 3), m.ones(3, 4, 2)), ValueError,
         (op("scaled_dot_product_attention"), "broadcast"), ShapeError),
    Case("sdpa-mask-shape", lambda m: _sdpa(m)(m.ones(2, 3), m.ones(4, 3), m.ones(4, 2), attn_mask=np.ones((3, 4),
                                                                                                       bool)),
         ValueError, (op("scaled_dot_product_attention"), "(3, 4)", "(2, 4)"), ShapeError),
    Case("sdpa-mask-and-causal", lambda m: _sdpa(m)(m.ones(2, 3), m.ones(4, 3), m.ones(4, 2),
                                                    attn_mask=np.ones((2, 4), bool), is_causal=True), ValueError,
         (op("scaled_dot_product_attention"), "is_causal")),
    Case("sdpa-int", lambda m: _sdpa(m)(m.ones(2, 3, dtype="int64"), m.ones(4, 3), m.ones(4, 2)), TypeError,
         (op("scaled_dot_product_attention"), "int64")),
    Case("sdpa-mixed-dtypes", lambda m: _sdpa(m)(m.ones(2, 3, dtype="float64"), m.ones(4, 3), m.ones(4, 2)),
         TypeError, (op("scaled_dot_product_attention"), "float64", "float32")),
]


def _nf(m: Any) -> Any:
    return m.nn.functional


def _x234(m: Any) -> Any:
    return m.ones(2, 3, 4)


NORM_CASES = [
    Case("batch_norm-weight-size", lambda m: _nf(m).batch_norm(_x234(m), None, None, m.ones(4), training=True),
         ValueError, (op("batch_norm"), "weight", "(4,)", "(3,)", "(2, 3, 4)"), ShapeError),
    Case("batch_norm-bias-2d", lambda m: _nf(m).batch_norm(_x234(m), None, None, None, m.ones(3, 1), True),
         ValueError, (op("batch_norm"), "bias", "(3, 1)"), ShapeError),
    Case("batch_norm-running-size", lambda m: _nf(m).batch_norm(_x234(m), m.zeros(2), m.ones(2)), ValueError,
         (op("batch_norm"), "running_mean", "(2,)", "(3,)"), ShapeError),
    Case("batch_norm-running-dtype", lambda m: _nf(m).batch_norm(_x234(m), m.zeros(3, dtype=m.float64),
                                                                 m.ones(3, dtype=m.float64)), TypeError,
         (op("batch_norm"), "running_mean", "float64", "float32")),
    Case("batch_norm-weight-dtype", lambda m: _nf(m).batch_norm(_x234(m), None, None,
                                                                m.ones(3, dtype=m.float64), training=True),
         TypeError, (op("batch_norm"), "weight", "float64")),
    Case("batch_norm-int-input", lambda m: _nf(m).batch_norm(m.tensor([[1, 2], [3, 4]]), None, None,
                                                             training=True), TypeError, (op("batch_norm"), "int64")),
    Case("batch_norm-1d", lambda m: _nf(m).batch_norm(m.ones(3), None, None, training=True), ValueError,
         (op("batch_norm"), "(3,)"), ShapeError),
    Case("batch_norm-one-value-per-channel", lambda m: _nf(m).batch_norm(m.ones(1, 3), None, None, training=True),
         ValueError, (op("batch_norm"), "more than 1 value per channel", "(1, 3)")),
    Case("batch_norm-eval-without-running", lambda m: _nf(m).batch_norm(_x234(m), None, None), ValueError,
         (op("batch_norm"), "running_mean")),
    Case("batch_norm-eps-zero-training", lambda m: _nf(m).batch_norm(_x234(m), None, None, training=True, eps=0.0),
         ValueError, (op("batch_norm"), "eps")),
    Case("layer_norm-shape", lambda m: _nf(m).layer_norm(_x234(m), (3,)), ValueError,
         (op("layer_norm"), "(3,)", "(2, 3, 4)"), ShapeError),
    Case("layer_norm-weight", lambda m: _nf(m).layer_norm(_x234(m), (3, 4), m.ones(4)), ValueError,
         (op("layer_norm"), "weight", "(4,)", "(3, 4)"), ShapeError),
    Case("layer_norm-bias-dtype", lambda m: _nf(m).layer_norm(_x234(m), 4, None, m.ones(4, dtype=m.float64)),
         TypeError, (op("layer_norm"), "bias", "float64")),
    Case("group_norm-indivisible", lambda m: _nf(m).group_norm(_x234(m), 2), ValueError,
         (op("group_norm"), "(2, 3, 4)", "num_groups=2")),
    Case("group_norm-weight", lambda m: _nf(m).group_norm(_x234(m), 3, m.ones(2)), ValueError,
         (op("group_norm"), "weight", "(2,)", "(3,)"), ShapeError),
    Case("group_norm-not-a-tensor", lambda m: _nf(m).group_norm([[1.0, 2.0]], 1), TypeError,
         (op("group_norm"), "list")),
]


def _x44(m: Any) -> Any:
    return m.ones(1, 2, 4, 4)


def _fn(m: Any) -> Any:
    return m.nn.functional


# pooling and resampling: through nn.functional (both engines check in Python) and the ops themselves
POOL_CASES = [
    Case("max-pool-kernel-larger", lambda m: _fn(m).max_pool2d(_x44(m), 5), ValueError,
         (op("max_pool2d"), "(1, 2, 4, 4)", "empty"), ShapeError),
    Case("max-pool-padding-over-half", lambda m: _fn(m).max_pool2d(_x44(m), 3, padding=2), ValueError,
         (op("max_pool2d"), "(2, 2)", "half"), PygradValueError),
    Case("max-pool-2d-input", lambda m: _fn(m).max_pool2d(m.ones(4, 4), 2), ValueError,
         (op("max_pool2d"), "(4, 4)"), ShapeError),
    Case("max-pool-int-input", lambda m: _fn(m).max_pool2d(m.ones(1, 1, 4, 4, dtype=m.int64), 2), TypeError,
         (op("max_pool2d"), "int64"), PygradTypeError),
    Case("max-pool-empty-plane", lambda m: _fn(m).max_pool2d(m.ones(1, 2, 0, 4), 2), ValueError,
         (op("max_pool2d"), "(1, 2, 0, 4)"), ShapeError),
    Case("max-pool-zero-stride", lambda m: _fn(m).max_pool2d(_x44(m), 2, 0), ValueError,
         (op("max_pool2d"), "stride"), PygradValueError),
    Case("max-pool-op-kernel-larger", lambda m: _x44(m)._max_pool2d((5, 5), (1, 1), (0, 0), (1, 1), False),
         ValueError, (op("max_pool2d"), "(5, 5)", "(1, 2, 4, 4)"), ShapeError),
    Case("max-pool-op-padding", lambda m: _x44(m)._max_pool2d((2, 2), (1, 1), (0, 2), (1, 1), False), ValueError,
         (op("max_pool2d"), "(0, 2)", "half"), PygradValueError),
    Case("max-pool-op-3d", lambda m: m.ones(2, 4, 4)._max_pool2d((2, 2), (1, 1), (0, 0), (1, 1), False),
         ValueError, (op("max_pool2d"), "(2, 4, 4)"), ShapeError),
    Case("max-pool-op-bool", lambda m: m.ones(1, 1, 2, 2, dtype=m.bool_)._max_pool2d((2, 2), (1, 1), (0, 0),
                                                                                     (1, 1), False),
         TypeError, (op("max_pool2d"), "bool"), PygradTypeError),
    Case("avg-pool-divisor", lambda m: _fn(m).avg_pool2d(_x44(m), 2, divisor_override=0), ValueError,
         (op("avg_pool2d"), "divisor_override"), PygradValueError),
    Case("avg-pool-kernel-larger", lambda m: _fn(m).avg_pool2d(_x44(m), (2, 7), padding=(1, 1)), ValueError,
         (op("avg_pool2d"), "(1, 2, 4, 4)", "empty"), ShapeError),
    Case("avg-pool-op-kernel-larger", lambda m: _x44(m)._avg_pool2d((2, 7), (1, 1), (0, 1), False, True, 0),
         ValueError, (op("avg_pool2d"), "(2, 7)", "(1, 2, 4, 4)"), ShapeError),
    Case("avg-pool-input-grad-shape", lambda m: _x44(m)._avg_pool2d_input_grad((4, 4), (2, 2), (2, 2), (0, 0),
                                                                               False, True, 0),
         ValueError, (op("avg_pool2d_input_grad"), "(1, 2, 4, 4)", "(1, 2, 2, 2)"), ShapeError),
    Case("adaptive-pool-size", lambda m: _fn(m).adaptive_avg_pool2d(_x44(m), (0, 2)), ValueError,
         (op("adaptive_avg_pool2d"), "(0, 2)"), PygradValueError),
    Case("adaptive-pool-op-size", lambda m: _x44(m)._adaptive_avg_pool2d((2, 0)), ValueError,
         (op("adaptive_avg_pool2d"), "(2, 0)", "(1, 2, 4, 4)"), PygradValueError),
    Case("adaptive-pool-5d", lambda m: _fn(m).adaptive_avg_pool2d(m.ones(1, 1, 1, 2, 2), 1), ValueError,
         (op("adaptive_avg_pool2d"), "(1, 1, 1, 2, 2)"), ShapeError),
    Case("adaptive-pool-int", lambda m: _x44(m).long()._adaptive_avg_pool2d((2, 2)), TypeError,
         (op("adaptive_avg_pool2d"), "int64"), PygradTypeError),
    Case("interpolate-both-sizes", lambda m: _fn(m).interpolate(_x44(m), 2, 2.0), ValueError,
         (op("interpolate"), "exactly one"), PygradValueError),
    Case("interpolate-mode", lambda m: _fn(m).interpolate(_x44(m), 2, mode="lanczos"), ValueError,
         (op("interpolate"), "'lanczos'"), PygradValueError),
    Case("interpolate-bicubic-3d", lambda m: _fn(m).interpolate(m.ones(1, 2, 4), 8, mode="bicubic"), ValueError,
         (op("interpolate"), "'bicubic'", "(1, 2, 4)"), ShapeError),
    Case("interpolate-antialias-nearest", lambda m: _fn(m).interpolate(_x44(m), 2, antialias=True), ValueError,
         (op("interpolate"), "antialias", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-bilinear-3d", lambda m: _fn(m).interpolate(m.ones(1, 2, 4), 8, mode="bilinear"), ValueError,
         (op("interpolate"), "(1, 2, 4)"), ShapeError),
    Case("interpolate-align-nearest", lambda m: _fn(m).interpolate(_x44(m), 8, align_corners=True), ValueError,
         (op("interpolate"), "align_corners"), PygradValueError),
    Case("interpolate-size-length", lambda m: _fn(m).interpolate(_x44(m), (2, 2, 2)), ValueError,
         (op("interpolate"), "(2, 2, 2)", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-int", lambda m: _fn(m).interpolate(_x44(m).long(), 8), TypeError,
         (op("interpolate"), "int64"), PygradTypeError),
    Case("interpolate-nearest-exact-2d", lambda m: _fn(m).interpolate(m.ones(4, 4), 8, mode="nearest-exact"),
         ValueError, (op("interpolate"), "(4, 4)"), ShapeError),
    Case("interpolate-zero-channels", lambda m: _fn(m).interpolate(m.ones(1, 0, 4), 8), ValueError,
         (op("interpolate"), "(1, 0, 4)"), ShapeError),
    Case("interpolate-zero-scale", lambda m: _fn(m).interpolate(_x44(m), scale_factor=0.1), ValueError,
         (op("interpolate"), "empty", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-op-5d", lambda m: m.ones(1, 1, 2, 2, 2)._interpolate("nearest", (3, 3, 3)), ValueError,
         (op("interpolate"), "(1, 1, 2, 2, 2)"), ShapeError),
    Case("interpolate-op-size-length", lambda m: _x44(m)._interpolate("linear", (3,)), ValueError,
         (op("interpolate"), "(3,)", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-op-size-zero", lambda m: _x44(m)._interpolate("linear", (3, 0)), ValueError,
         (op("interpolate"), "(3, 0)", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-op-mode", lambda m: _x44(m)._interpolate("bicubic", (3, 3)), ValueError,
         (op("interpolate"), "'bicubic'"), PygradValueError),
    Case("interpolate-op-align-nearest", lambda m: _x44(m)._interpolate("nearest", (3, 3), None, True), ValueError,
         (op("interpolate"), "align_corners", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-op-scale", lambda m: _x44(m)._interpolate("nearest", (3, 3), (1.0, -2.0)), ValueError,
         (op("interpolate"), "-2", "(1, 2, 4, 4)"), PygradValueError),
    Case("interpolate-op-bool", lambda m: m.ones(1, 1, 3, dtype=m.bool_)._interpolate("nearest", (4,)), TypeError,
         (op("interpolate"), "bool"), PygradTypeError),
    Case("interpolate-input-grad-2d", lambda m: m.ones(3, 4)._interpolate_input_grad("linear", (2,)), ValueError,
         (op("interpolate_input_grad"), "gradient", "(3, 4)"), ShapeError),
    Case("interpolate-input-grad-size", lambda m: m.ones(1, 1, 4)._interpolate_input_grad("linear", (0,)),
         ValueError, (op("interpolate_input_grad"), "(0,)", "(1, 1, 4)"), PygradValueError),
]


ALL_CASES = {
    "shape": SHAPE_CASES,
    "axis": AXIS_CASES,
    "index": INDEX_CASES,
    "autograd": AUTOGRAD_CASES,
    "inplace-leaf": INPLACE_CASES,
    "type": TYPE_CASES,
    "value": VALUE_CASES,
    "creation": CREATION_CASES,
    "nn": NN_CASES,
    "norm": NORM_CASES,
    "pool": POOL_CASES,
}


@pytest.mark.parametrize(("case", "engine_name"), [
    pytest.param(*p.values, id=f"{group}/{p.id}", marks=p.marks)
    for group, cases in ALL_CASES.items()
    for p in _params(cases)
])
def test_bad_input_raises(case: Case, engine_name: str) -> None:
    m = _engine(engine_name)
    with expect_error(m, case.exc, *case.message, kind=case.kind):
        case.run(m)


# ---------------------------------------------------------------------------
# error cases that need more than one line
# ---------------------------------------------------------------------------


def _versions(v0: int, v1: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(rf"\b{v0}\b"), re.compile(rf"\b{v1}\b")


@pytest.mark.parametrize("engine_name", ENGINES)
def test_inplace_edit_of_saved_input_then_backward(engine_name: str) -> None:
    m = _engine(engine_name)
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = m.tensor([4.0, 5.0, 6.0])
    loss = (x * w).sum()  # mul saves w: d loss/dx = w
    saved = w.version
    w.add_(1.0)
    assert w.version == saved + 1
    with expect_error(m, RuntimeError, op("mul"), "version", *_versions(saved, w.version)):
        loss.backward()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_inplace_edit_of_saved_leaf_under_no_grad_then_backward(engine_name: str) -> None:
    m = _engine(engine_name)
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    saved = x.version
    with m.no_grad():
        x.mul_(2.0)
    assert x.version == saved + 1
    with expect_error(m, RuntimeError, op("mul"), "version", *_versions(saved, x.version)):
        loss.backward()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_inplace_edit_of_saved_output_then_backward(engine_name: str) -> None:
    m = _engine(engine_name)
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()  # exp saves its output: dy/dx = y
    loss = y.sum()
    saved = y.version
    with m.no_grad():
        y.add_(1.0)
    with expect_error(m, RuntimeError, op("exp"), "version", *_versions(saved, y.version)):
        loss.backward()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_recorded_inplace_edit_of_saved_non_leaf_then_backward(engine_name: str) -> None:
    m = _engine(engine_name)
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    loss = (y * y).sum()  # mul saves y
    saved = y.version
    y += 1.0
    with expect_error(m, RuntimeError, op("mul"), "version", *_versions(saved, y.version)):
        loss.backward()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_failed_backward_leaves_grad_untouched(engine_name: str) -> None:
    m = _engine(engine_name)
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 3.0
    with expect_error(m, ValueError, op("backward")):
        y.backward(m.ones(2))
    assert x.grad is None
    y.backward(m.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


# ---------------------------------------------------------------------------
# inputs that must not raise
# ---------------------------------------------------------------------------


def test_slice_past_the_end_is_fine() -> None:
    x = pg.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x[1:10].numpy(), [2.0, 3.0])
    assert x[5:].shape == (0,)
    np.testing.assert_array_equal(x[-10:2].numpy(), [1.0, 2.0])


def test_nan_propagates_through_exp_without_error() -> None:
    x = pg.tensor(np.array([math.nan, 0.0]), requires_grad=True)
    y = x.exp()
    assert math.isnan(y.numpy()[0])
    assert y.numpy()[1] == 1.0  # exp(0) is exactly 1
    y.sum().backward()
    g = x.grad.numpy()
    assert math.isnan(g[0])  # d/dx e^x = e^x = nan
    assert g[1] == 1.0


def test_nan_in_max_gives_nan_without_error() -> None:
    x = pg.tensor([1.0, math.nan, 3.0], requires_grad=True)
    m = x.max()
    assert math.isnan(m.item())
    m.backward()  # must not raise
    assert x.grad.shape == (3,)
    rows = pg.tensor(np.array([[1.0, 2.0], [math.nan, 0.0]])).max(axis=1).numpy()
    assert rows[0] == 2.0 and math.isnan(rows[1])
    elementwise = pg.maximum(pg.tensor([math.nan, 1.0]), pg.tensor([0.0, 2.0])).numpy()
    assert math.isnan(elementwise[0]) and elementwise[1] == 2.0
    assert math.isnan(pg.tensor([1.0, math.nan]).sum().item())


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_sum_of_empty_is_zero(shape: tuple[int, ...]) -> None:
    assert pg.zeros(shape).sum().item() == 0.0
    assert pg.zeros(shape, dtype=pg.float64).sum().item() == 0.0


def test_sum_over_an_empty_axis_is_zeros() -> None:
    np.testing.assert_array_equal(pg.zeros(3, 0).sum(axis=1).numpy(), np.zeros(3))
    assert pg.zeros(3, 0).sum(axis=0).shape == (0,)


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_mean_of_empty_is_nan(shape: tuple[int, ...]) -> None:
    assert math.isnan(pg.zeros(shape).mean().item())


def test_mean_over_an_empty_axis_is_nan() -> None:
    out = pg.zeros(3, 0).mean(axis=1).numpy()
    assert out.shape == (3,) and np.isnan(out).all()


def test_max_over_a_nonempty_axis_of_an_empty_tensor_is_empty() -> None:
    assert pg.zeros(3, 0).max(axis=0).shape == (0,)


@pytest.mark.parametrize("dtype", [pg.float32, pg.float64])
def test_matmul_with_zero_inner_dim_gives_zeros(dtype: Any) -> None:
    out = pg.ones(2, 0, dtype=dtype) @ pg.ones(0, 3, dtype=dtype)
    assert out.shape == (2, 3) and out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3)))


def test_backward_through_matmul_with_zero_inner_dim() -> None:
    a = pg.ones(2, 0, dtype=pg.float64, requires_grad=True)
    b = pg.ones(0, 3, dtype=pg.float64, requires_grad=True)
    bias = pg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    out = a @ b + bias  # == bias broadcast to (2, 3)
    np.testing.assert_array_equal(out.numpy(), [[1.0, 2.0, 3.0]] * 2)
    out.backward(pg.tensor(np.arange(6.0).reshape(2, 3)))
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)
    np.testing.assert_array_equal(bias.grad.numpy(), [3.0, 5.0, 7.0])


def test_backward_through_elementwise_ops_on_empty_tensors() -> None:
    x = pg.zeros(3, 0, requires_grad=True)
    y = (x.exp() * 2.0 + 1.0).tanh()
    assert y.shape == (3, 0)
    y.sum().backward()
    assert x.grad.shape == (3, 0) and x.grad.dtype == pg.float32


def test_backward_through_shape_ops_on_empty_tensors() -> None:
    x = pg.zeros(3, 0, requires_grad=True)
    w = pg.tensor([[1.0, 2.0]] * 3, requires_grad=True)
    y = pg.concatenate([x, w], axis=1)  # (3, 2)
    z = (y.reshape(2, 3).T * 2.0).sum() + x.softmax(axis=1).sum() + x[1:, :].sum()
    z.backward()
    assert x.grad.shape == (3, 0)
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 2.0))


def test_backward_through_mean_of_empty() -> None:
    x = pg.zeros(0, requires_grad=True)
    y = x.mean()
    assert math.isnan(y.item())
    y.backward()
    assert x.grad.shape == (0,)


@pytest.mark.parametrize("engine", ["c", "ref"])
def test_clamp_with_min_above_max_gives_max_and_no_gradient(engine):
    """numpy/PyTorch rule: min(max(x, lo), hi), so lo > hi gives hi everywhere."""
    m = _engine(engine)
    x = m.tensor([0.0, 1.5, 3.0], requires_grad=True)
    y = x.clamp(2.0, 1.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("engine", ["c", "ref"])
def test_clamp_sends_no_gradient_through_nan(engine, dtype):
    """NaN stays NaN and sends no gradient, as PyTorch's clamp_backward ((x >= lo) & (x <= hi)); the
    bounds count as inside; one-sided clamps too; over a size the C loops take in vectors."""
    m = _engine(engine)
    base = np.array([np.nan, 1.0, 2.0, 0.5, 3.0, -np.inf, np.inf, np.nan], dtype=dtype)
    v = np.tile(base, 40)
    for lo, hi, want in ((1.0, 2.0, [0, 1, 1, 0, 0, 0, 0, 0]), (1.0, None, [0, 1, 1, 0, 1, 0, 1, 0]),
                         (None, 2.0, [0, 1, 1, 1, 0, 1, 0, 0])):
        x = m.tensor(v, dtype=dtype, requires_grad=True)
        y = x.clamp(lo, hi)
        assert np.isnan(y.numpy()[::8]).all() and np.isnan(y.numpy()[7::8]).all()
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.tile(np.array(want, dtype=dtype), 40))


@pytest.mark.parametrize("engine", ["c", "ref"])
def test_requires_grad_true_on_a_non_leaf_is_a_no_op(engine):
    """A non-leaf already requires grad; setting True again changes nothing (PyTorch)."""
    m = _engine(engine)
    x = m.ones(2, requires_grad=True)
    y = x * 2.0
    y.requires_grad = True
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


# ---- every plain elementwise op of the op table (pygrad._optable, elementwise=True) ----

_ELEMENTWISE = [row.name for row in _optable.ELEMENTWISE]


@pytest.mark.parametrize("name", _ELEMENTWISE)
@pytest.mark.parametrize("bad", ["a", None, [1.0], object()], ids=["str", "None", "list", "object"])
def test_elementwise_ops_reject_non_tensors_alike_on_both_engines(name: str, bad: Any) -> None:
    import pygrad.reference as ref

    kinds = []
    for engine in (pg, ref):
        with pytest.raises(TypeError) as info:
            getattr(engine, name)(bad)
        assert isinstance(info.value, PygradError)
        assert str(info.value).startswith(f"{name}: unsupported operand type {type(bad).__name__}")
        kinds.append(type(info.value))
    assert kinds[0] is kinds[1]


@pytest.mark.parametrize("name", _ELEMENTWISE)
def test_elementwise_ops_keep_nan_inf_and_empty_tensors(name: str) -> None:
    import pygrad.reference as ref

    with np.errstate(all="ignore"):
        arr = np.array([np.nan, np.inf, -np.inf, 0.5])
        np_fn = getattr(np, name, None)  # numpy's IEEE results; the reference's where numpy has no such function
        want = np_fn(arr) if np_fn is not None else getattr(ref, name)(ref.tensor(arr)).numpy()
        for engine in (pg, ref):
            x = engine.tensor(arr, dtype="float64")
            # the same NaN and inf; finite values within a few ulp (libm and numpy may differ in the last bit)
            got = getattr(engine, name)(x).numpy()
            np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float64).eps, atol=0)
            empty = engine.zeros(0, 3, requires_grad=True)
            y = getattr(empty, name)()
            assert y.shape == (0, 3)
            y.sum().backward()
            assert empty.grad.shape == (0, 3)
