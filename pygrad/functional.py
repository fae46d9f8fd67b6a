"""Function transforms: grad, value_and_grad, jacobian, hessian, hvp, stationary points.

The functional counterpart of ``Tensor.backward``, for either engine::

    import numpy as np
    import pygrad as pg
    from pygrad.functional import grad, hessian

    f = lambda x, y: x * x * y + y                 # ∇f = (2xy, x² + 1)
    dx, dy = grad(f, argnums=(0, 1))(pg.tensor(3.0), pg.tensor(-2.0))   # -12, 10
    hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]))             # [[6, 0], [0, 12]]

Each function works on Tensors of the C engine (``pygrad``) or of the reference
engine (``pygrad.reference``), using only the Tensor API of the engine its
inputs belong to; array-likes are converted with the engine named by
``engine=`` (default ``pygrad``). This module imports no engine itself.

Results: :func:`grad` and :func:`value_and_grad` return Tensors (of the
arguments' shapes and dtypes) so that they compose, e.g. ``grad(grad(f))``
with ``create_graph=True``; :func:`jacobian`, :func:`hessian` and :func:`hvp`
return numpy arrays, ready for linear algebra. Jacobians and Hessians are
*flattened*: for x of shape S and f(x) of shape T, ``jacobian`` is
(prod T) × (prod S), row i holding ∂ f(x).flat[i] / ∂ x.flat; reshape with
``J.reshape(T + S)`` for the unflattened form.

How they are computed: by reverse sweeps of one recorded forward pass. A
Jacobian is m backward sweeps (upstream = the i-th unit vector, with
``retain_graph=True``) through a single forward evaluation of f; a Hessian
is one backward with ``create_graph=True``, which records g = ∇f as a graph,
then the Jacobian of g by n sweeps of that graph (double backward); a
Hessian-vector product is one sweep of that graph with upstream v.

Arguments are differentiated through fresh leaf copies, so the caller's
tensors and their ``.grad`` are not modified; Tensors that f closes over and
that require grad receive ``.grad`` as in any ``backward`` call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Union

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError

_engine_of = _engines.common
_is_tensor = _engines.is_tensor

__all__ = [
    "StationaryPoint",
    "classify_stationary_point",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "value_and_grad",
]

Argnums = Union[int, Sequence[int]]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _check_f(who: str, f: Any) -> None:
    if not callable(f):
        raise PygradTypeError(f"{who}: f must be callable, got {type(f).__name__}")


def _float_tensor(who: str, what: str, x: Any, engine: ModuleType) -> Any:
    """x as a float Tensor of ``engine`` (Tensors pass through; array-likes follow ``engine.tensor``)."""
    if not _is_tensor(x):
        if isinstance(x, (str, bytes)) or x is None:
            raise PygradTypeError(f"{who}: {what} must be a Tensor or an array of floats, got {type(x).__name__}")
        try:
            x = engine.tensor(x)
        except (TypeError, ValueError) as exc:
            raise PygradTypeError(f"{who}: {what} must be a Tensor or an array of floats: {exc}") from None
    if np.dtype(x.dtype).kind != "f":
        raise PygradTypeError(f"{who}: {what} has dtype {x.dtype}; only float32/float64 tensors have gradients")
    return x


def _fresh_leaf(engine: ModuleType, x: Any) -> Any:
    """A new leaf holding a copy of x's values, requiring grad."""
    return engine.tensor(np.array(x.numpy(), copy=True), dtype=x.dtype, requires_grad=True)


def _prepare(who: str, f: Any, x: Any, engine: Any) -> tuple[ModuleType, Any]:
    """Check f and x; return the engine and a fresh leaf with x's values."""
    _check_f(who, f)
    eng = _engine_of(who, [x], engine)
    return eng, _fresh_leaf(eng, _float_tensor(who, "x", x, eng))


def _output(who: str, out: Any, engine: ModuleType, scalar: bool) -> Any:
    """Check what f returned: a float Tensor of ``engine`` (with one element if ``scalar``)."""
    if not _is_tensor(out):
        raise PygradTypeError(f"{who}: f must return a Tensor, got {type(out).__name__}")
    if not isinstance(out, engine.Tensor):
        raise PygradTypeError(f"{who}: f returned a Tensor of another engine than its input ({engine.__name__})")
    if np.dtype(out.dtype).kind != "f":
        raise PygradTypeError(f"{who}: f returned a Tensor of dtype {out.dtype}; it must be float32 or float64")
    if scalar and out.size != 1:
        raise PygradValueError(
            f"{who}: f must return a one-element Tensor (a scalar), got a Tensor of shape {out.shape}; "
            "use jacobian() for a vector-valued f")
    return out


def _argnums(who: str, argnums: Any, n_args: int) -> tuple[list[int], bool]:
    """The argument positions to differentiate, and whether a single int was given."""
    single = isinstance(argnums, int) and not isinstance(argnums, bool)
    nums = [argnums] if single else argnums
    if not isinstance(nums, (list, tuple)) or not nums:
        raise PygradTypeError(f"{who}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    out = []
    for a in nums:
        if isinstance(a, bool) or not isinstance(a, int):
            raise PygradTypeError(f"{who}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
        if not -n_args <= a < n_args:
            raise PygradValueError(f"{who}: argnums {a} is out of range for {n_args} positional argument(s)")
        out.append(a % n_args)
    if len(set(out)) != len(out):
        raise PygradValueError(f"{who}: argnums {argnums!r} repeats an argument")
    return out, single


def _grad_array(leaf: Any) -> np.ndarray:
    """A copy of leaf.grad as a flat numpy array (zeros when no gradient arrived)."""
    g = leaf.grad
    if g is None:
        return np.zeros(leaf.size, dtype=leaf.dtype)
    return np.array(g.numpy(), copy=True).reshape(-1)


def _unit_sweeps(engine: ModuleType, out: Any, leaf: Any) -> np.ndarray:
    """The (out.size, leaf.size) Jacobian of ``out`` w.r.t. ``leaf`` from one reverse sweep per output element.

    Row i is the gradient reaching ``leaf`` from the upstream eᵢ (the i-th unit
    vector in out's shape); the graph is retained between sweeps and released
    by the last one.
    """
    m, n = out.size, leaf.size
    jac = np.zeros((m, n), dtype=np.result_type(leaf.dtype, out.dtype))
    if m == 0 or n == 0 or not out.requires_grad:
        return jac
    seed = np.zeros(out.shape, dtype=out.dtype)
    flat = seed.reshape(-1)
    for i in range(m):
        flat[i] = 1.0
        leaf.grad = None
        out.backward(engine.tensor(seed, dtype=out.dtype), retain_graph=i < m - 1)
        flat[i] = 0.0
        jac[i] = _grad_array(leaf)
    leaf.grad = None
    return jac


def _first_grad_graph(who: str, f: Callable[[Any], Any], x: Any, engine: Any) -> tuple[ModuleType, Any, Any, Any]:
    """One forward of f and one backward with ``create_graph=True``.

    Returns (engine, leaf, f(leaf), g) where g = ∇f(leaf) is a Tensor that
    carries the graph of its own computation (None when f does not depend on x).
    """
    eng, leaf = _prepare(who, f, x, engine)
    with eng.enable_grad():
        y = _output(who, f(leaf), eng, scalar=True)
        if not y.requires_grad:
            return eng, leaf, y, None
        y.backward(retain_graph=True, create_graph=True)
    g = leaf.grad
    leaf.grad = None
    return eng, leaf, y, g


def _hessian_of(who: str, f: Callable[[Any], Any], x: Any, engine: Any) -> tuple[float, np.ndarray, np.ndarray]:
    """(f(x), ∇f(x) flattened, ∇²f(x) as n × n)."""
    eng, leaf, y, g = _first_grad_graph(who, f, x, engine)
    n = leaf.size
    value = float(np.asarray(y.numpy(), dtype=np.float64).reshape(-1)[0])
    if g is None:
        return value, np.zeros(n, dtype=leaf.dtype), np.zeros((n, n), dtype=leaf.dtype)
    grad_flat = np.array(g.numpy(), copy=True).reshape(-1)
    if not g.requires_grad:  # ∇f does not depend on x: f is linear in x
        return value, grad_flat, np.zeros((n, n), dtype=leaf.dtype)
    with eng.enable_grad():
        hess = _unit_sweeps(eng, g, leaf)
    return value, grad_flat, hess


# ---------------------------------------------------------------------------
# grad, value_and_grad
# ---------------------------------------------------------------------------


def _value_and_grads(who: str, f: Callable[..., Any], args: tuple[Any, ...], argnums: Any, create_graph: bool,
                     engine: Any) -> tuple[Any, Any]:
    """f(*args) and its gradients with respect to the arguments in ``argnums``."""
    nums, single = _argnums(who, argnums, len(args))
    eng = _engine_of(who, args, engine)
    call = list(args)
    diff = []  # (leaf, grad to restore afterwards, whether it is the caller's own tensor)
    for i in nums:
        a = _float_tensor(who, f"argument {i}", args[i], eng)
        if create_graph and a is args[i] and a.requires_grad:
            # Differentiate the caller's tensor itself, so the gradient stays
            # connected to it: this is what makes grad(grad(f)) work.
            if a.is_leaf:
                diff.append((a, a.grad, True))
            else:
                a.retain_grad()
                diff.append((a, None, True))
        else:
            a = _fresh_leaf(eng, a)
            diff.append((a, None, False))
        call[i] = a
    grads = []
    try:
        with eng.enable_grad():
            out = _output(who, f(*call), eng, scalar=True)
            for leaf, _, _ in diff:
                if leaf.is_leaf:
                    leaf.grad = None
            if out.requires_grad:
                out.backward(retain_graph=create_graph, create_graph=create_graph)
        for leaf, _, _ in diff:
            g = leaf.grad
            grads.append(eng.zeros(leaf.shape, dtype=leaf.dtype) if g is None else g)
    finally:
        for leaf, saved, own in diff:
            if own and leaf.is_leaf:
                leaf.grad = saved
    value = out if create_graph else out.detach()
    return value, (grads[0] if single else tuple(grads))


def grad(f: Callable[..., Any], argnums: Argnums = 0, create_graph: bool = False, *,
         engine: Any = None) -> Callable[..., Any]:
    """The gradient function of a scalar-valued f: ``grad(f)(*args) = ∇ₓ f(*args)``.

    ``argnums`` picks the argument(s) x to differentiate (an int gives one
    Tensor back, a tuple gives a tuple); each gradient has its argument's shape
    and dtype: (∂f/∂x)ⱼ = ∂f/∂xⱼ. f must return a one-element Tensor.
    Differentiated arguments may be Tensors or float arrays (converted with
    ``engine``, default the engine of the Tensor arguments, else ``pygrad``).

    With ``create_graph=True`` the returned gradients record their own
    computation (double backward), so they can be differentiated again: e.g.
    ``grad(lambda x: grad(f, create_graph=True)(x).sum())`` is the row sums of
    the Hessian. Under ``create_graph=True`` an argument that already requires
    grad is differentiated in place (its ``.grad`` is restored afterwards), so
    the gradient is connected to it; for a non-leaf argument the sweep also
    reaches the leaves it was computed from, as ``backward`` does.
    """
    _check_f("grad", f)

    def grad_f(*args: Any) -> Any:
        return _value_and_grads("grad", f, args, argnums, create_graph, engine)[1]

    grad_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    grad_f.__doc__ = f"The gradient of {getattr(f, '__name__', 'f')} with respect to argument(s) {argnums}."
    return grad_f


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0, create_graph: bool = False, *,
                   engine: Any = None) -> Callable[..., tuple[Any, Any]]:
    """Like :func:`grad`, but the function returns ``(f(*args), ∇ₓ f(*args))`` from one forward pass.

    The value is a one-element Tensor (detached unless ``create_graph``).
    """
    _check_f("value_and_grad", f)

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        return _value_and_grads("value_and_grad", f, args, argnums, create_graph, engine)

    value_and_grad_f.__name__ = f"value_and_grad_{getattr(f, '__name__', 'f')}"
    return value_and_grad_f


# ---------------------------------------------------------------------------
# jacobian, hessian, hvp
# ---------------------------------------------------------------------------


def jacobian(f: Callable[[Any], Any], x: Any, *, engine: Any = None) -> np.ndarray:
    """The Jacobian J of f: Rⁿ → Rᵐ at x, flattened to an m × n numpy array.

    J[i, j] = ∂ f(x).flat[i] / ∂ x.flat[j], with n = x.size and m = f(x).size
    (``J.reshape(f(x).shape + x.shape)`` unflattens it). For example the
    Jacobian of W·x + b is W, and that of an elementwise σ(x) is diag(σ'(x)).

    f is evaluated once; row i is one reverse sweep of the recorded graph with
    the unit upstream eᵢ (m sweeps in all). An output element that does not
    depend on x gives a row of zeros. The dtype is that of the gradients.
    """
    eng, leaf = _prepare("jacobian", f, x, engine)
    with eng.enable_grad():
        out = _output("jacobian", f(leaf), eng, scalar=False)
    return _unit_sweeps(eng, out, leaf)


def hessian(f: Callable[[Any], Any], x: Any, *, engine: Any = None) -> np.ndarray:
    """The Hessian H = ∇²f(x) of a scalar-valued f, flattened to an n × n numpy array.

    H[i, j] = ∂²f / ∂x.flat[i] ∂x.flat[j], n = x.size; for x of shape S,
    ``H.reshape(S + S)`` unflattens it (e.g. (2, 2, 2, 2) for a 2 × 2 x).

    Exact, by double backward: one backward with ``create_graph=True``
    records g = ∇f(x) as a graph, then row i of H is one reverse sweep of
    that graph with the unit upstream eᵢ (the Jacobian of g).
    """
    return _hessian_of("hessian", f, x, engine)[2]


def hvp(f: Callable[[Any], Any], x: Any, v: Any, *, engine: Any = None) -> np.ndarray:
    """The Hessian-vector product ∇²f(x)·v, without forming the Hessian.

    H·v = ∇ₓ(∇f(x) · v) (H is symmetric): one backward with
    ``create_graph=True`` records g = ∇f(x), then one reverse sweep of g with
    upstream v. ``v`` (Tensor or array) must have x's shape; the result is a
    numpy array of that shape.
    """
    who = "hvp"
    _check_f(who, f)
    eng = _engine_of(who, [x, v], engine)
    x_shape = tuple(_float_tensor(who, "x", x, eng).shape)
    try:
        v_arr = np.asarray(v.numpy() if _is_tensor(v) else v, dtype=np.float64)
    except (TypeError, ValueError):
        raise PygradTypeError(f"hvp: v must be a Tensor or an array of floats, got {type(v).__name__}") from None
    if v_arr.shape != x_shape:
        raise ShapeError(f"hvp: v has shape {v_arr.shape} but x has shape {x_shape}; they must match")
    eng, leaf, _, g = _first_grad_graph(who, f, x, eng)
    if g is None or not g.requires_grad:
        return np.zeros(x_shape, dtype=leaf.dtype)
    with eng.enable_grad():
        g.backward(eng.tensor(v_arr, dtype=g.dtype))
    return _grad_array(leaf).reshape(x_shape)


# ---------------------------------------------------------------------------
# stationary points
# ---------------------------------------------------------------------------


@dataclass
class StationaryPoint:
    """What the second-order test says about x as a stationary point of f.

    ``label`` is ``"minimum"`` (all Hessian eigenvalues > tol), ``"maximum"``
    (all < −tol), ``"saddle"`` (some > tol and some < −tol) or
    ``"inconclusive"`` (‖∇f(x)‖ > grad_tol, so x is not stationary; or an
    eigenvalue within tol of 0 without eigenvalues of both signs, where the
    second-order test says nothing). ``reason`` says which.
    """

    label: str
    eigenvalues: np.ndarray
    grad_norm: float
    value: float
    tol: float
    grad_tol: float
    reason: str
    hessian: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        eig = ", ".join(f"{e:.6g}" for e in self.eigenvalues)
        return (f"{self.label}: f = {self.value:.6g}, |grad f| = {self.grad_norm:.3g}, "
                f"Hessian eigenvalues [{eig}] ({self.reason})")


def classify_stationary_point(f: Callable[[Any], Any], x: Any, tol: float | None = None,
                              grad_tol: float | None = None, *, engine: Any = None) -> StationaryPoint:
    """Classify x by the second-order test: the eigenvalues λ of the Hessian ∇²f(x).

    At a stationary point (∇f(x) = 0): all λ > 0 → minimum, all λ < 0 →
    maximum, λ of both signs → saddle; a λ ≈ 0 otherwise leaves it
    inconclusive. λ comes from ``numpy.linalg.eigvalsh`` of the symmetrised
    Hessian (H + Hᵀ)/2.

    ``tol`` is how close to 0 an eigenvalue counts as zero; default
    √ε · max(1, max|λ|). ``grad_tol`` bounds ‖∇f(x)‖ for x to count as
    stationary; default √ε · max(1, |f(x)|) (ε of x's dtype). A larger
    gradient gives ``"inconclusive"`` whatever the eigenvalues.
    """
    who = "classify_stationary_point"
    for name, t in (("tol", tol), ("grad_tol", grad_tol)):
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not t >= 0):
            raise PygradValueError(f"{who}: {name} must be a non-negative float or None, got {t!r}")
    value, g, hess = _hessian_of(who, f, x, engine)
    eps = float(np.finfo(hess.dtype).eps)
    h64 = np.asarray(hess, dtype=np.float64)
    eig = np.linalg.eigvalsh((h64 + h64.T) / 2.0) if h64.size else np.zeros(0)
    grad_norm = float(np.linalg.norm(np.asarray(g, dtype=np.float64)))
    if tol is None:
        tol = math.sqrt(eps) * max(1.0, float(np.max(np.abs(eig))) if eig.size else 1.0)
    if grad_tol is None:
        grad_tol = math.sqrt(eps) * max(1.0, abs(value))
    pos, neg = int(np.sum(eig > tol)), int(np.sum(eig < -tol))
    if not grad_norm <= grad_tol:
        label, reason = "inconclusive", f"not a stationary point: |grad f| = {grad_norm:.3g} > {grad_tol:.3g}"
    elif pos and neg:
        label, reason = "saddle", f"{pos} positive and {neg} negative eigenvalue(s)"
    elif eig.size and pos == eig.size:
        label, reason = "minimum", "the Hessian is positive definite"
    elif eig.size and neg == eig.size:
        label, reason = "maximum", "the Hessian is negative definite"
    else:
        label, reason = "inconclusive", f"{eig.size - pos - neg} eigenvalue(s) within {tol:.3g} of zero"
    return StationaryPoint(label=label, eigenvalues=eig, grad_norm=grad_norm, value=value, tol=float(tol),
                           grad_tol=float(grad_tol), reason=reason, hessian=hess)
