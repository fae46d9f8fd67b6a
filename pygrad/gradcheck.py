"""Numeric gradients and gradient checks, for either engine.

:func:`numeric_grad` estimates ∂f/∂x by finite differences, one element at a
time; :func:`gradcheck` compares it with the gradient ``backward`` computes and
returns a :class:`GradcheckReport` (raising :class:`GradcheckError` on a
mismatch)::

    import pygrad as pg
    from pygrad.gradcheck import gradcheck

    x = pg.randn(3, dtype=pg.float64, requires_grad=True)
    w = pg.randn(3, dtype=pg.float64, requires_grad=True)
    print(gradcheck(lambda x, w: (x.tanh() * w).sum(), [x, w]))

Both functions work on Tensors of the C engine (``pygrad``) and of the
reference engine (``pygrad.reference``): they use only the Tensor API of the
engine their inputs belong to, and this module imports no engine itself.

Choice of the step h (see the notes on numeric gradients). With ε the machine
epsilon of the dtype and f evaluated to a relative accuracy of about ε:

- centered difference (f(x+h) − f(x−h)) / 2h: truncation error h²·|f'''|/6,
  rounding error ≈ ε·|f|/h; the sum is smallest for h ~ ε^(1/3)
  (6·10⁻⁶ in float64, 5·10⁻³ in float32), where the error is ~ ε^(2/3);
- one-sided difference (f(x+h) − f(x)) / h: truncation error h·|f''|/2, the
  same rounding error; best for h ~ ε^(1/2) (1.5·10⁻⁸ in float64), error ~ ε^(1/2).

So the centered difference is the default and is about ε^(-1/6) (~400× in
float64) more accurate. The default step for element xⱼ is
``default_h(dtype, method) · max(1, |xⱼ|)``: near a large xⱼ a step below
ε·|xⱼ| would vanish when added. The quotient divides by the step actually
taken, fl(xⱼ + h) − fl(xⱼ − h), not by 2h. In float32 even the best step
leaves errors of ~10⁻⁵ relative, too close to the tolerances to tell a wrong
gradient from rounding: check in float64.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradError, PygradTypeError, PygradValueError

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "GradcheckWarning",
    "InputCheck",
    "default_h",
    "gradcheck",
    "gradgradcheck",
    "numeric_grad",
]

_METHODS = ("central", "forward")

class GradcheckError(PygradError, AssertionError):
    """An analytic gradient disagrees with the numeric one.

    ``report`` is the full :class:`GradcheckReport`.
    """

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report


class GradcheckWarning(UserWarning):
    """A gradient check that cannot be conclusive (float32 inputs or output)."""


# ---------------------------------------------------------------------------
# engines
# ---------------------------------------------------------------------------


def _engine_of(who: str, values: Sequence[Any], engine: Any = None) -> ModuleType:
    """The engine of the Tensors among ``values`` (see :func:`pygrad._engines.common`).

    ``engine`` (a module or name) wins when given, and every Tensor must then
    belong to it; with no Tensors and no ``engine``, the engine ``import
    pygrad`` serves. Tensors of both engines raise TypeError.
    """
    return _engines.common(who, values, engine)


_is_tensor = _engines.is_tensor


def _scalar_of(who: str, out: Any) -> float:
    """The value of f's one-element output as a Python float."""
    if _is_tensor(out):
        if out.size != 1:
            raise PygradValueError(
                f"{who}: f must return a one-element Tensor (a scalar), got a Tensor of shape {out.shape}; "
                "to check a Tensor-valued g, check lambda *xs: (g(*xs) * v).sum() with a fixed random v")
        return float(np.asarray(out.numpy(), dtype=np.float64).reshape(-1)[0])
    if isinstance(out, (int, float, np.floating, np.integer)) and not isinstance(out, bool):
        return float(out)
    raise PygradTypeError(f"{who}: f must return a one-element Tensor, got {type(out).__name__}")


# ---------------------------------------------------------------------------
# numeric gradients
# ---------------------------------------------------------------------------


def default_h(dtype: Any, method: str = "central") -> float:
    """The base finite-difference step for ``dtype``: ε^(1/3) centered, ε^(1/2) one-sided.

    ε is the machine epsilon (2.2·10⁻¹⁶ for float64, 1.2·10⁻⁷ for float32).
    The step used for element xⱼ is ``default_h(dtype, method) · max(1, |xⱼ|)``.
    """
    _check_method("default_h", method)
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise PygradTypeError(f"default_h: cannot interpret {dtype!r} as a dtype") from None
    if d.kind != "f":
        raise PygradTypeError(f"default_h: expected a float dtype, got {d}")
    eps = float(np.finfo(d).eps)
    return eps ** (1.0 / 3.0) if method == "central" else math.sqrt(eps)


def _check_method(who: str, method: Any) -> None:
    if method not in _METHODS:
        raise PygradValueError(f"{who}: method must be 'central' or 'forward', got {method!r}")


def _check_h(who: str, h: Any) -> float | None:
    if h is None:
        return None
    if isinstance(h, bool) or not isinstance(h, (int, float, np.floating, np.integer)):
        raise PygradTypeError(f"{who}: h must be a positive float or None, got {type(h).__name__}")
    if not (math.isfinite(float(h)) and float(h) > 0):
        raise PygradValueError(f"{who}: h must be a positive finite float, got {h!r}")
    return float(h)


def _check_f(who: str, f: Any) -> None:
    if not callable(f):
        raise PygradTypeError(f"{who}: f must be callable, got {type(f).__name__}")


def _tensor_inputs(who: str, inputs: Any) -> list[Any]:
    """A single Tensor or a sequence of Tensors, as a list."""
    if _is_tensor(inputs):
        return [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise PygradTypeError(f"{who}: inputs must be a Tensor or a list/tuple of Tensors, got {type(inputs).__name__}")
    if not inputs:
        raise PygradValueError(f"{who}: inputs is empty; pass the Tensors f takes")
    for i, x in enumerate(inputs):
        if not _is_tensor(x):
            raise PygradTypeError(f"{who}: input {i} must be a pygrad Tensor, got {type(x).__name__}")
    return list(inputs)


def _check_float(who: str, i: int, x: Any) -> None:
    if np.dtype(x.dtype).kind != "f":
        raise PygradTypeError(f"{who}: input {i} has dtype {x.dtype}; only float32/float64 inputs have gradients")


def _numeric(who: str, f: Callable[..., Any], engine: ModuleType, arrays: list[np.ndarray], which: Sequence[int],
             h: float | None, method: str) -> dict[int, np.ndarray]:
    """Finite-difference gradients of f with respect to the inputs in ``which``.

    ``arrays`` hold the input values (each in its tensor's dtype). Each
    evaluation builds fresh tensors and runs f under ``no_grad``.
    """

    def evaluate(values: list[np.ndarray]) -> float:
        ts = [engine.tensor(a, dtype=a.dtype) for a in values]
        with engine.no_grad():
            out = f(*ts)
        return _scalar_of(who, out)

    f0 = evaluate(arrays)  # also checks f's output before the loop
    result = {}
    for i in which:
        base = arrays[i]
        dtype = base.dtype
        work = list(arrays)
        work[i] = base.copy()
        flat = work[i].reshape(-1)  # a view of the perturbed copy
        g = np.zeros(base.size, dtype=np.float64)
        rel = default_h(dtype, method) if h is None else None
        for j, xj in enumerate(base.reshape(-1)):
            step = h if rel is None else rel * max(1.0, abs(float(xj)))
            up = dtype.type(float(xj) + step)
            down = dtype.type(float(xj) - step) if method == "central" else xj
            taken = float(up) - float(down)  # the step actually representable in dtype
            if taken == 0.0:
                raise PygradValueError(
                    f"{who}: the step h={step:.3g} vanishes at input {i}, element {j} (x={float(xj):.6g}, {dtype}): "
                    "x + h rounds to x; use a larger h")
            flat[j] = up
            f_up = evaluate(work)
            if method == "central":
                flat[j] = down
                f_down = evaluate(work)
            else:
                f_down = f0
            flat[j] = xj
            g[j] = (f_up - f_down) / taken
        result[i] = g.reshape(base.shape).astype(dtype)
    return result


def numeric_grad(f: Callable[..., Any], inputs: Any, h: float | None = None,
                 method: str = "central") -> list[np.ndarray]:
    """Finite-difference estimate of ∂f/∂x for every input x of ``f``.

    ``f(*inputs)`` must return a one-element Tensor. For each element xⱼ::

        central:  ∂f/∂xⱼ ≈ (f(xⱼ + h) − f(xⱼ − h)) / 2h     error O(h²) + O(ε|f|/h)
        forward:  ∂f/∂xⱼ ≈ (f(xⱼ + h) − f(xⱼ)) / h          error O(h)  + O(ε|f|/h)

    f is evaluated under ``no_grad`` on fresh copies of the inputs (the
    inputs are not modified), 2n times (n + 1 for ``forward``) for n elements.
    ``h=None`` takes ``default_h(dtype, method) · max(1, |xⱼ|)`` per element
    (see the module docstring for why); a given ``h`` is an absolute step.

    Returns one numpy array per input, of that input's shape and dtype.
    Raises ``TypeError`` for inputs that are not float Tensors or a non-callable
    f, ``ValueError`` for a non-scalar output, a bad ``method`` or ``h``.
    """
    who = "numeric_grad"
    _check_f(who, f)
    xs = _tensor_inputs(who, inputs)
    engine = _engine_of(who, xs)
    _check_method(who, method)
    step = _check_h(who, h)
    for i, x in enumerate(xs):
        _check_float(who, i, x)
    arrays = [np.array(x.numpy(), copy=True) for x in xs]
    grads = _numeric(who, f, engine, arrays, range(len(xs)), step, method)
    return [grads[i] for i in range(len(xs))]


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


@dataclass
class InputCheck:
    """The comparison for one input of a :func:`gradcheck`.

    ``max_abs_err`` = maxⱼ |aⱼ − nⱼ| and ``max_rel_err`` = maxⱼ |aⱼ − nⱼ| / max(|aⱼ|, |nⱼ|)
    (0 where both are 0), with a the analytic and n the numeric gradient.
    ``worst_index`` is the element with the largest |aⱼ − nⱼ| / (atol + rtol·|nⱼ|)
    (the one furthest outside, or closest to, the tolerance), and
    ``analytic_at_worst`` / ``numeric_at_worst`` the two values there.
    An input that does not require grad is not checked (``checked=False``).
    """

    position: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    checked: bool
    ok: bool = True
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst_index: tuple[int, ...] | None = None
    analytic_at_worst: float = math.nan
    numeric_at_worst: float = math.nan
    analytic: np.ndarray | None = field(default=None, repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)


@dataclass
class GradcheckReport:
    """The result of :func:`gradcheck`: one :class:`InputCheck` per input and ``ok``.

    ``str(report)`` is a table with one row per input; ``bool(report)`` is ``ok``.
    """

    inputs: list[InputCheck]
    atol: float
    rtol: float
    h: float | None
    method: str
    ok: bool = True

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[InputCheck]:
        """The checked inputs whose gradients disagree."""
        return [c for c in self.inputs if c.checked and not c.ok]

    def __str__(self) -> str:
        step = "default h" if self.h is None else f"h={self.h:.3g}"
        head = (f"gradcheck {'passed' if self.ok else 'FAILED'}: {self.method} differences, {step}, "
                f"|analytic - numeric| <= {self.atol:.3g} + {self.rtol:.3g}·|numeric|")
        cols = ["input", "shape", "dtype", "max abs err", "max rel err", "worst index", "analytic", "numeric", "ok"]
        rows = []
        for c in self.inputs:
            if not c.checked:
                rows.append([c.name, str(c.shape), str(c.dtype), "-", "-", "-", "-", "-", "skipped"])
                continue
            worst = "-" if c.worst_index is None else str(c.worst_index)
            rows.append([c.name, str(c.shape), str(c.dtype), f"{c.max_abs_err:.3e}", f"{c.max_rel_err:.3e}", worst,
                         f"{c.analytic_at_worst:.8g}", f"{c.numeric_at_worst:.8g}", "ok" if c.ok else "FAIL"])
        widths = [max(len(r[k]) for r in [cols, *rows]) for k in range(len(cols))]
        lines = [head, "  ".join(h.ljust(w) for h, w in zip(cols, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines)


def _compare(check: InputCheck, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> None:
    """Fill ``check`` from the two gradients (both float64, same shape)."""
    check.analytic, check.numeric = analytic, numeric
    if analytic.size == 0:
        return
    err = np.abs(analytic - numeric)
    bad = ~np.isfinite(err)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), 0.0)
        ratio = err / (atol + rtol * np.abs(numeric))
    ratio = np.where(bad | ~np.isfinite(ratio), np.inf, ratio)
    k = int(np.argmax(ratio))
    check.worst_index = tuple(int(i) for i in np.unravel_index(k, analytic.shape))
    check.analytic_at_worst = float(analytic.reshape(-1)[k])
    check.numeric_at_worst = float(numeric.reshape(-1)[k])
    check.max_abs_err = float(np.inf) if bad.any() else float(err.max())
    check.max_rel_err = float(np.inf) if bad.any() else float(rel.max())
    check.ok = bool(not bad.any() and np.all(err <= atol + rtol * np.abs(numeric)))


def gradcheck(f: Callable[..., Any], inputs: Any, atol: float = 1e-5, rtol: float = 1e-3, h: float | None = None,
              raise_exception: bool = True, method: str = "central",
              names: Sequence[str] | None = None) -> GradcheckReport:
    """Compare the gradients ``backward`` computes for ``f`` with finite differences.

    ``f(*inputs)`` must return a one-element Tensor. Every input with
    ``requires_grad=True`` is checked (the others are passed through and
    skipped): the analytic gradient a (from ``backward`` on fresh copies of
    the inputs, so the inputs' ``.grad`` is untouched) and the numeric
    gradient n (:func:`numeric_grad` with ``h`` and ``method``) must satisfy,
    element by element::

        |a − n| ≤ atol + rtol·|n|

    Returns a :class:`GradcheckReport` (per input: max absolute and relative
    error, worst element, a and n there). On a mismatch it raises
    :class:`GradcheckError` (an ``AssertionError``) carrying the report, unless
    ``raise_exception=False``. ``names`` labels the inputs in the report
    (default ``input 0``, ``input 1``...). Float32 inputs or output give a
    :class:`GradcheckWarning`: only a float64 check is conclusive.
    Leaves that f closes over (not among ``inputs``) receive ``.grad`` from
    the analytic pass, as with any ``backward``.
    """
    who = "gradcheck"
    _check_f(who, f)
    xs = _tensor_inputs(who, inputs)
    engine = _engine_of(who, xs)
    _check_method(who, method)
    step = _check_h(who, h)
    for tol_name, tol in (("atol", atol), ("rtol", rtol)):
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not tol >= 0:
            raise PygradValueError(f"{who}: {tol_name} must be a non-negative float, got {tol!r}")
    if names is None:
        labels = [f"input {i}" for i in range(len(xs))]
    else:
        labels = [str(n) for n in names]
        if len(labels) != len(xs):
            raise PygradValueError(f"{who}: got {len(labels)} names for {len(xs)} inputs")
    which = [i for i, x in enumerate(xs) if x.requires_grad]
    if not which:
        raise PygradValueError(f"{who}: none of the {len(xs)} inputs requires grad; "
                               "set requires_grad=True on the ones to check")
    for i in which:
        _check_float(who, i, xs[i])

    # analytic gradients, on fresh leaves
    leaves = [engine.tensor(np.array(x.numpy(), copy=True), dtype=x.dtype, requires_grad=x.requires_grad)
              for x in xs]
    with engine.enable_grad():
        out = f(*leaves)
    if not _is_tensor(out):
        raise PygradTypeError(f"{who}: f must return a one-element Tensor, got {type(out).__name__}")
    _scalar_of(who, out)
    if out.requires_grad:
        out.backward()
    analytic = {}
    for i in which:
        g = leaves[i].grad
        analytic[i] = np.zeros(xs[i].shape) if g is None else np.asarray(g.numpy(), dtype=np.float64).copy()

    float32 = [labels[i] for i in which if xs[i].dtype == np.float32]
    if float32 or out.dtype == np.float32:
        what = f"inputs {', '.join(float32)}" if float32 else "the output"
        warnings.warn(f"gradcheck: {what} in float32: finite differences in float32 carry errors of ~1e-5 relative, "
                      "so the check is only meaningful in float64", GradcheckWarning, stacklevel=2)

    arrays = [np.array(x.numpy(), copy=True) for x in xs]
    numeric = _numeric(who, f, engine, arrays, which, step, method)

    checks = []
    for i, x in enumerate(xs):
        c = InputCheck(position=i, name=labels[i], shape=tuple(x.shape), dtype=np.dtype(x.dtype), checked=i in which)
        if c.checked:
            _compare(c, analytic[i], np.asarray(numeric[i], dtype=np.float64), float(atol), float(rtol))
        checks.append(c)
    report = GradcheckReport(inputs=checks, atol=float(atol), rtol=float(rtol), h=step, method=method,
                             ok=all(c.ok for c in checks))
    if not report.ok and raise_exception:
        raise GradcheckError(report)
    return report


# ---------------------------------------------------------------------------
# gradgradcheck
# ---------------------------------------------------------------------------


def gradgradcheck(f: Callable[..., Any], inputs: Any, grad_outputs: Any = None, atol: float = 1e-5, rtol: float = 1e-3,
                  h: float | None = None, raise_exception: bool = True, method: str = "central",
                  names: Sequence[str] | None = None, seed: int = 0) -> GradcheckReport:
    """Check second derivatives: the gradients of f's first derivatives, taken with
    ``create_graph=True`` and differentiated again, against finite differences of
    the first derivatives themselves.

    ``f(*inputs)`` returns a Tensor of any shape. With v = ``grad_outputs`` (one
    tensor or array of f's output shape; random normal when None) and random
    weights wᵢ of each checked input's shape (from ``seed``), the scalar

        G(x) = Σᵢ ⟨wᵢ, ∂⟨v, f(x)⟩/∂xᵢ⟩

    is built from the first derivatives (:func:`pygrad.autograd.grad`); its
    gradient by double backward (analytic) is compared with central
    differences of G, each evaluation of G computing first derivatives by one
    ordinary backward. Same tolerances, report and exceptions as
    :func:`gradcheck`, whose checks this runs on G.
    """
    from pygrad import autograd

    who = "gradgradcheck"
    _check_f(who, f)
    xs = _tensor_inputs(who, inputs)
    engine = _engine_of(who, xs)
    which = [i for i, x in enumerate(xs) if x.requires_grad]
    if not which:
        raise PygradValueError(f"{who}: none of the {len(xs)} inputs requires grad; "
                               "set requires_grad=True on the ones to check")
    for i in which:
        _check_float(who, i, xs[i])
    rng = np.random.default_rng(seed)
    with engine.no_grad():
        out0 = f(*[engine.tensor(np.array(x.numpy(), copy=True), dtype=x.dtype) for x in xs])
    if not _is_tensor(out0):
        raise PygradTypeError(f"{who}: f must return a Tensor, got {type(out0).__name__}")
    out_dtype = np.dtype(out0.dtype)
    if grad_outputs is None:
        v = rng.standard_normal(tuple(out0.shape)).astype(out_dtype)
    else:
        v = np.asarray(grad_outputs.numpy() if _is_tensor(grad_outputs) else grad_outputs, dtype=out_dtype)
        if v.shape != tuple(out0.shape):
            raise PygradValueError(f"{who}: grad_outputs has shape {v.shape} but f's output has shape "
                                   f"{tuple(out0.shape)}")
    w = {i: rng.standard_normal(tuple(xs[i].shape)).astype(np.dtype(xs[i].dtype)) for i in which}

    def first_derivatives(*args: Any) -> Any:
        analytic = any(args[i].requires_grad for i in which)
        with engine.enable_grad():
            if analytic:
                leaves = list(args)
            else:  # a finite-difference evaluation: first derivatives by an ordinary sweep
                leaves = [engine.tensor(np.array(a.numpy(), copy=True), dtype=a.dtype, requires_grad=i in which)
                          for i, a in enumerate(args)]
            out = f(*leaves)
            if not _is_tensor(out) or tuple(out.shape) != v.shape:
                raise PygradValueError(f"{who}: f's output changed shape between calls")
            if not out.requires_grad:
                return engine.tensor(0.0, dtype=out_dtype)
            gs = autograd.grad(out, [leaves[i] for i in which], engine.tensor(v, dtype=out.dtype),
                               create_graph=analytic, allow_unused=True)
            total = None
            for i, g in zip(which, gs):
                if g is None:
                    continue
                term = (g * engine.tensor(w[i], dtype=g.dtype)).sum()
                total = term if total is None else total + term
            return engine.tensor(0.0, dtype=out_dtype) if total is None else total

    return gradcheck(first_derivatives, xs, atol=atol, rtol=rtol, h=h, raise_exception=raise_exception,
                     method=method, names=names)
