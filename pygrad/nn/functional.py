"""Losses, regularisation and activations as functions (``pygrad.nn.functional``).

Every function works on the tensors of either engine: it applies the ops of
the engine its first argument belongs to. Labels are integer class indices
(an int array or list, or a tensor of whole numbers). Each loss takes
``reduction``: ``"mean"`` (the default: the notes' L = 1/N Σᵢ Lᵢ), ``"sum"``,
or ``"none"`` (the per-example Lᵢ). An empty batch raises ValueError.

=========================================  =============================================
cross_entropy(s, y)                        Lᵢ = -log softmax(sᵢ)[yᵢ] = log Σⱼ e^sᵢⱼ - sᵢ,yᵢ
svm_loss(s, y, margin=Δ)                   Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ - s_yᵢ + Δ)
mse_loss(x, t)                             (x - t)²
nll_loss(logp, y, weight, ignore_index)    Lᵢ = -w_yᵢ logp[i, yᵢ]
binary_cross_entropy(p, t)                 -t log p - (1 - t) log(1 - p)
huber_loss(x, t, delta), smooth_l1_loss    ½d² near 0, linear far (one op with its reduction)
kl_div(logp, t)                            t (log t - logp)
binary_cross_entropy_with_logits(x, t)     -t log σ(x) - (1 - t) log(1 - σ(x))
l2_regularization(W, λ)                    λ R(W),  R(W) = Σ W²
l1_regularization(W, λ)                    λ R(W),  R(W) = Σ |W|
=========================================  =============================================

``pad(x, pad, mode="constant", value=0)`` pads with PyTorch's pad tuple (last
dim first) in constant, reflect, replicate or circular mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from pygrad import _engines, _recording
from pygrad._derived import pad
from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError

from ._backend import as_tensor_like, engine_of, is_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(op: str, x: Any) -> Any:
    if not is_tensor(x):
        raise PygradTypeError(f"{op}: expected a pygrad Tensor, got {type(x).__name__}")
    return x


def _reduce(op: str, losses: Any, reduction: str) -> Any:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_reduction(op: str, reduction: Any) -> None:
    if reduction not in _REDUCTIONS:
        raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _labels(op: str, labels: Any, scores: Any) -> np.ndarray:
    """Labels for (N, C) scores as an int64 array of N values in [0, C)."""
    arr = labels.numpy() if is_tensor(labels) else np.asarray(labels)
    if arr.dtype.kind not in "iuf":
        raise PygradTypeError(f"{op}: labels must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
        raise PygradTypeError(f"{op}: labels must be whole numbers, got non-integer values")
    if arr.ndim != 1:
        raise ShapeError(f"{op}: labels must be 1-d (one class index per row), got shape {arr.shape}")
    n, c = scores.shape
    if arr.size != n:
        raise ShapeError(f"{op}: scores of shape {scores.shape} need {n} labels, got {arr.size}")
    y = arr.astype(np.int64)
    bad = np.flatnonzero((y < 0) | (y >= c))
    if bad.size:
        i = int(bad[0])
        raise PygradIndexError(f"{op}: label {int(y[i])} at position {i} is out of range for {c} classes "
                               f"(scores of shape {scores.shape})")
    return y


def _scores(op: str, scores: Any) -> Any:
    s = _tensor(op, scores)
    if s.ndim != 2:
        raise ShapeError(f"{op}: scores must be 2-d (N, C), got shape {s.shape}")
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise PygradValueError(f"{op}: {'empty batch' if s.shape[0] == 0 else 'no classes'}: scores of shape "
                               f"{s.shape}")
    return s


# ---------------------------------------------------------------------------
# classification losses
# ---------------------------------------------------------------------------


def cross_entropy(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """Softmax cross-entropy: ``input`` the logits (N, C), ``target`` the labels, N ints in [0, C)
    (PyTorch's arguments and names; also
    PyTorch's other layouts: logits (C,) with a 0-d label, (N, C, d1, ...) with labels (N, d1, ...),
    and class probabilities, a float target of the logits' shape, see :func:`_soft_cross_entropy`).

    Lᵢ = -log( e^{s_yᵢ} / Σⱼ e^{sⱼ} ) = log Σⱼ e^{sⱼ - m} - (s_yᵢ - m), with m = maxⱼ sⱼ,
    so it stays finite for any finite logits. ∂Lᵢ/∂sⱼ = softmax(s)ⱼ - [j = yᵢ]. Rows
    labelled ``ignore_index`` count for nothing (the mean is over the others). Without
    ``weight`` or ``label_smoothing`` it is one fused op; with them it is the nll_loss op
    over ``log_softmax`` (class weights w: Lᵢ scaled by w_yᵢ, the mean divided by Σ w_yᵢ;
    smoothing ε: (1 - ε)·Lᵢ + ε/C·Σⱼ -wⱼ log softmax(s)ⱼ), exactly as PyTorch. Both read
    an int64 tensor of labels in place, so a compiled step follows it.
    The third positional argument may still be the reduction, as before.
    """
    if isinstance(weight, str):  # cross_entropy(logits, labels, "sum"): the older signature
        weight, reduction = None, weight
    x, labels = _tensor("cross_entropy", input), target
    t = labels if is_tensor(labels) else np.asarray(labels)
    if np.dtype(t.dtype).kind == "f" and tuple(t.shape) == tuple(x.shape) and x.ndim >= 1:
        return _soft_cross_entropy(x, t, weight, reduction, label_smoothing)
    _refuse_class_weights("cross_entropy", x, weight)
    if x.ndim != 2:
        x2, y2, out = _classes_last("cross_entropy", x, labels)
        loss = cross_entropy(x2, y2, weight, ignore_index, reduction, label_smoothing)
        return loss.reshape(out) if reduction == "none" else loss
    if weight is None and label_smoothing == 0.0:  # one fused op (rows labelled ignore_index count for nothing)
        return engine_of(x).cross_entropy(x, labels, reduction, ignore_index=ignore_index)
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise PygradValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    s = _scores("cross_entropy", x)
    return _nll("cross_entropy", s.log_softmax(axis=1), labels, weight, ignore_index, reduction, label_smoothing)


def _refuse_class_weights(op: str, x: Any, weight: Any) -> None:
    """PyTorch's refusal of class weights that require grad while grad mode is on, before any other
    check, naming the function its message names for x's layout (the nll_loss op refuses them too)."""
    _engines.refuse_grad_weight(op, "nll_loss2d_forward" if x.ndim > 2 else "nll_loss_forward", "weight", weight)


def _classes_last(op: str, x: Any, labels: Any) -> tuple[Any, Any, tuple[int, ...]]:
    """PyTorch's other class-index layouts as (M, C) scores and M labels: unbatched scores (C,) with a
    0-d label, and (N, C, d1, ...) with labels (N, d1, ...) (each position a row); also the shape of
    the ``reduction='none'`` losses."""
    if x.ndim == 0:
        raise ShapeError(f"{op}: expected scores (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    y = labels if is_tensor(labels) else np.asarray(labels)
    want = () if x.ndim == 1 else (x.shape[0],) + tuple(x.shape[2:])
    if tuple(y.shape) != want:
        raise ShapeError(f"{op}: scores of shape {tuple(x.shape)} need labels of shape {want}, got "
                         f"{tuple(y.shape)}")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    x2 = x.reshape((1, c)) if x.ndim == 1 else x.permute(0, *range(2, x.ndim), 1).reshape((-1, c))
    return x2, y.reshape((-1,)), want


def _soft_cross_entropy(x: Any, t: Any, weight: Any, reduction: str, label_smoothing: float) -> Any:
    """PyTorch's cross-entropy against class probabilities ``t`` (the scores' shape, classes in dim 1, or
    dim 0 unbatched): Lᵢ = -Σ_c w_c t'_ic log softmax(xᵢ)_c, t' = (1 - ε) t + ε/C; "mean" divides by the
    number of rows (not by the weights)."""
    op = "cross_entropy"
    _check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise PygradValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    E = engine_of(x)
    t = t if is_tensor(t) else E.tensor(t, dtype=x.dtype)
    cd = 0 if x.ndim == 1 else 1
    c = x.shape[cd]
    if label_smoothing > 0:
        t = t * (1.0 - label_smoothing) + label_smoothing / c
    prod = x.log_softmax(axis=cd) * t
    if weight is not None:
        w = weight if is_tensor(weight) else E.tensor(np.asarray(weight), dtype=x.dtype)
        if tuple(w.shape) != (c,):
            raise ShapeError(f"{op}: weight must have one entry per class ({c}), got shape {tuple(w.shape)}")
        prod = prod * w.reshape((c,) + (1,) * (x.ndim - cd - 1))
    losses = -prod.sum(axis=cd)
    return _reduce(op, losses, reduction)


def _label_array(labels: Any) -> np.ndarray:
    """The labels' values, for the checks made in Python (the nll_loss op checks them again at each run)."""
    return np.asarray(_values(labels) if is_tensor(labels) else labels)


def _weighted_labels(op: str, labels: Any, scores: Any, weight: Any, ignore_index: int) -> Any:
    """The labels checked (those not ``ignore_index`` in [0, C)), and the weight as a tensor (or None)."""
    arr = _label_array(labels)
    _labels(op, np.where(arr != ignore_index, arr, 0), scores)
    w = None
    if weight is not None:
        w = weight if is_tensor(weight) else engine_of(scores).tensor(np.asarray(weight), dtype=scores.dtype)
        if w.shape != (scores.shape[1],):
            raise ShapeError(f"{op}: weight must have one entry per class ({scores.shape[1]}), got shape {w.shape}")
    return w


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> Any:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at labels ``target``:
    Lᵢ = -w_yᵢ·input[i, yᵢ]; rows labelled ``ignore_index`` give 0; "mean" divides the sum
    by Σ w_yᵢ over the kept rows (PyTorch's rule: NaN when nothing is kept)."""
    _check_reduction("nll_loss", reduction)
    _refuse_class_weights("nll_loss", _tensor("nll_loss", input), weight)
    if input.ndim != 2:
        x2, y2, out = _classes_last("nll_loss", input, target)
        loss = nll_loss(x2, y2, weight, ignore_index, reduction)
        return loss.reshape(out) if reduction == "none" else loss
    s = _scores("nll_loss", input)
    return _nll("nll_loss", s, target, weight, ignore_index, reduction, 0.0)


def _nll(op: str, logp: Any, labels: Any, weight: Any, ignore_index: int, reduction: str,
         label_smoothing: float) -> Any:
    """The nll_loss op over log-probabilities (N, C): Lᵢ = -(1 - ε)·w_yᵢ·logp[i, yᵢ] - (ε/C)·Σⱼ wⱼ·logp[i, j]
    on the rows not labelled ``ignore_index`` (ε = 0: -w_yᵢ·logp[i, yᵢ]), the mean over Σ w_yᵢ of those
    rows. The labels are checked here (with these messages) and again by the op, which reads an int64
    tensor of labels in place (so a compiled step follows it). The weights are not differentiated: as
    PyTorch, the op refuses weights that require grad while grad mode is on."""
    w = _weighted_labels(op, labels, logp, weight, ignore_index)
    E = engine_of(logp)  # noqa: N806
    w = E.zeros((), dtype=logp.dtype) if w is None else w if w.dtype == logp.dtype else w.astype(logp.dtype)
    y = labels if is_tensor(labels) and labels.dtype.kind in "iu" else _label_array(labels).astype(np.int64)
    return logp._nll_loss(y, w, ignore_index, reduction, float(label_smoothing), op)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Any:
    """ℓ = -w·(t log p + (1 - t) log(1 - p)) of probabilities p = ``input`` in [0, 1], each log
    clamped at -100 as PyTorch does (so p = 0 or 1 gives a finite loss); ``weight`` broadcasts to
    the input's shape. One fused op (PyTorch's values and gradients: ∂ℓ/∂p = w(p - t)/max((1 - p)p,
    1e-12), ∂ℓ/∂t = -w logit p), which checks p in [0, 1] at every run: a value outside, or NaN,
    raises ValueError. Mixed float dtypes compute in the wider one. The weight is not differentiated:
    as PyTorch, one that requires grad is refused (RuntimeError) while grad mode is on."""
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    p, t = _pair(op, input, target)
    w = None if weight is None else _loss_weight(op, "weight", weight, p, tuple(p.shape))
    E = engine_of(p)  # noqa: N806
    if p.dtype in (E.float32, E.float64):  # one float dtype for the op (an int target is cast to it)
        dt = E.float64 if any(x is not None and x.dtype == E.float64 for x in (p, t, w)) else p.dtype
        p, t = (x if x.dtype == dt else x.astype(dt) for x in (p, t))
        w = w if w is None or w.dtype == dt else w.astype(dt)
    return p._binary_cross_entropy(t, w, reduction)


def _weighted_reduce(op: str, losses: Any, weight: Any, reduction: str, by_weight: bool) -> Any:
    """PyTorch 2.13's ``weight`` of the elementwise losses: each element's loss times its weight (a
    tensor or array of the losses' shape), then the reduction; "mean" is Σ wℓ / Σ w for mse_loss and
    l1_loss (``by_weight``) but the plain mean of wℓ for huber_loss, as PyTorch computes them."""
    if weight is None:
        return _reduce(op, losses, reduction)
    w = weight if is_tensor(weight) else engine_of(losses).tensor(np.asarray(weight, dtype=np.float64),
                                                                   dtype=losses.dtype)
    if engine_of(w) is not engine_of(losses):
        raise PygradTypeError(f"{op}: weight and input are tensors of different engines")
    if tuple(w.shape) != tuple(losses.shape):
        raise ShapeError(f"{op}: weight of shape {tuple(w.shape)} must have the input's shape "
                         f"{tuple(losses.shape)}")
    weighted = losses * w
    if reduction == "mean" and by_weight:
        return weighted.sum() / w.sum()
    return _reduce(op, weighted, reduction)


def _float_pair(x: Any, t: Any) -> tuple[Any, Any]:
    """x and t in the float dtype they meet in: float64 if either is, else float32 (integers and bools
    compute in float32, as x - t then a float op would)."""
    E = engine_of(x)  # noqa: N806
    dt = E.float64 if E.float64 in (x.dtype, t.dtype) else E.float32
    return tuple(v if v.dtype == dt else v.astype(dt) for v in (x, t))  # type: ignore[return-value]


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0, weight: Any = None) -> Any:
    """ℓ = ½d² for |d| < δ, else δ(|d| - ½δ), d = x - t (quadratic near 0, linear far), one op
    (``huber_loss``) fused with the reduction; times ``weight`` elementwise when given ("mean": the
    mean of wℓ, as PyTorch). ∂ℓ/∂x = clamp(d, -δ, δ) = -∂ℓ/∂t."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise PygradValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _float_pair(*_pair("huber_loss", input, target))
    if weight is None:
        return x._huber_loss(t, reduction, delta)
    return _weighted_reduce("huber_loss", x._huber_loss(t, "none", delta), weight, reduction, by_weight=False)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
    """ℓ = ½d²/β for |d| < β, else |d| - ½β (Huber divided by β; β = 0 is the L1 loss), one op
    (``huber_loss`` with ``smooth_l1``) fused with the reduction. ∂ℓ/∂x = clamp(d/β, -1, 1) (sign(d)
    for β = 0, 0 at 0) = -∂ℓ/∂t."""
    _check_reduction("smooth_l1_loss", reduction)
    if not beta >= 0:
        raise PygradValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    x, t = _float_pair(*_pair("smooth_l1_loss", input, target))
    return x._huber_loss(t, reduction, beta, smooth_l1=True)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Any:
    """KL divergence with ``input`` log-probabilities: ℓ = t (log t - input) (0 where t = 0), or
    eᵗ (t - input) for ``log_target``; reductions "mean" (over elements), "batchmean"
    (the sum over the batch size: the true KL), "sum", "none"."""
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise PygradValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
    x, t = _pair("kl_div", input, target)
    E = engine_of(x)
    if log_target:
        losses = t.exp() * (t - x)
    else:
        pos = t > 0
        safe = E.where(pos, t, 1.0)
        losses = E.where(pos, t * (safe.log() - x), 0.0)
    if reduction == "batchmean":
        return losses.sum() / float(x.shape[0] if x.ndim else 1)
    return _reduce("kl_div", losses, reduction)


def svm_loss(scores: Any, labels: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
    """The multiclass SVM ("hinge") loss of the notes (seed 001): scores (N, C), labels N ints.

        Lᵢ = Σ_{j ≠ yᵢ} max(0, sⱼ - s_yᵢ + Δ),   Δ = ``margin``

    ∂Lᵢ/∂sⱼ = [sⱼ - s_yᵢ + Δ > 0] for j ≠ yᵢ, and ∂Lᵢ/∂s_yᵢ = -Σ_{j≠yᵢ} [sⱼ - s_yᵢ + Δ > 0]
    (0 at the kink, as ReLU'(0)). PyTorch's ``multi_margin_loss`` also divides by C.
    """
    s = _scores("svm_loss", scores)
    _check_reduction("svm_loss", reduction)
    y = _labels("svm_loss", labels, s)
    E = engine_of(s)
    n, c = s.shape
    rows = np.arange(n)
    correct = s[rows, y].reshape(n, 1)  # s_yᵢ, (N, 1)
    margins = (s - correct + float(margin)).relu()  # max(0, sⱼ - s_yᵢ + Δ), (N, C)
    others = np.ones((n, c), dtype=bool)
    others[rows, y] = False  # the sum skips j = yᵢ
    losses = E.where(others, margins, 0.0).sum(axis=1)
    return _reduce("svm_loss", losses, reduction)


multiclass_hinge_loss = svm_loss


# ---------------------------------------------------------------------------
# regression and binary losses
# ---------------------------------------------------------------------------


def _pair(op: str, x: Any, target: Any) -> tuple[Any, Any]:
    x = _tensor(op, x)
    t = as_tensor_like(target, x, op)
    if engine_of(t) is not engine_of(x):
        raise PygradTypeError(f"{op}: input and target are tensors of different engines")
    if t.shape != x.shape:
        raise ShapeError(f"{op}: input of shape {x.shape} and target of shape {t.shape} differ")
    if x.size == 0:
        raise PygradValueError(f"{op}: empty batch: input of shape {x.shape}")
    return x, t


def mse_loss(input: Any, target: Any, reduction: str = "mean", weight: Any = None) -> Any:
    """Mean squared error: ℓ = (x - t)² elementwise, reduced; ∂ℓ/∂x = 2(x - t). With ``weight``
    (PyTorch 2.13) each ℓ is multiplied by its weight and "mean" is Σ wℓ / Σ w, as PyTorch."""
    _check_reduction("mse_loss", reduction)
    x, t = _pair("mse_loss", input, target)
    d = x - t
    return _weighted_reduce("mse_loss", d * d, weight, reduction, by_weight=True)


def _loss_weight(op: str, what: str, w: Any, x: Any, shape: tuple[int, ...]) -> Any:
    """A per-element (or per-class) loss weight as a tensor of x's engine and dtype that
    broadcasts to ``shape``."""
    t = w if is_tensor(w) else engine_of(x).tensor(np.asarray(w, dtype=np.float64), dtype=x.dtype)
    if engine_of(t) is not engine_of(x):
        raise PygradTypeError(f"{op}: {what} and input are tensors of different engines")
    try:
        if np.broadcast_shapes(tuple(t.shape), shape) != shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: {what} of shape {tuple(t.shape)} does not broadcast to the input's shape "
                         f"{shape}") from None
    return t


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Any:
    """Binary cross-entropy of a logit x and a target t in [0, 1], computed stably (PyTorch's
    arguments):

        ℓ = -w [p·t log σ(x) + (1 - t) log σ(-x)],   ∂ℓ/∂x = w [(p·t + 1 - t) σ(x) - p·t]

    with log σ(x) and log σ(-x) each by the ``logsigmoid`` op (never exp of a large number, no
    cancellation in either; the exact gradient at x = 0); ``weight`` w broadcasts to x's shape,
    ``pos_weight`` p (the positive examples' weight, one per class) broadcasts along x's last
    dimension; both 1 when None. Neither is differentiated: as PyTorch, one that requires grad is refused (RuntimeError)
    while grad mode is on. A string third argument is taken as ``reduction`` (the older signature).
    """
    op = "binary_cross_entropy_with_logits"
    if isinstance(weight, str):  # binary_cross_entropy_with_logits(x, t, "sum")
        weight, reduction = None, weight
    _check_reduction(op, reduction)
    for argument, w in (("weight", weight), ("pos_weight", pos_weight)):
        _engines.refuse_grad_weight(op, op, argument, w)
    x, t = _pair(op, input, target)
    log_p, log_q = x.logsigmoid(), (-x).logsigmoid()  # log σ(x), log σ(-x)
    pos = t if pos_weight is None else t * _loss_weight(op, "pos_weight", pos_weight, x, tuple(x.shape))
    losses = -(pos * log_p + (1.0 - t) * log_q)
    if weight is not None:
        losses = losses * _loss_weight(op, "weight", weight, x, tuple(x.shape))
    return _reduce(op, losses, reduction)


# ---------------------------------------------------------------------------
# regularisation: the λR(W) of L(W) = 1/N Σᵢ Lᵢ + λR(W)
# ---------------------------------------------------------------------------


def _params(op: str, params: Any, lam: float) -> list[Any]:
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)) or not lam >= 0:
        raise PygradValueError(f"{op}: the strength λ must be a number >= 0, got {lam!r}")
    ps = [params] if is_tensor(params) else list(params) if isinstance(params, Iterable) else None
    if not ps:
        raise PygradValueError(f"{op}: expected one or more tensors")
    for p in ps:
        _tensor(op, p)
    return ps


def l2_regularization(params: Any, lam: float) -> Any:
    """λ R(W) with R(W) = Σ_W Σ_kl W_kl² over the given tensors; ∂/∂W = 2λW."""
    ps = _params("l2_regularization", params, lam)
    total = (ps[0] * ps[0]).sum()
    for p in ps[1:]:
        total = total + (p * p).sum()
    return total * float(lam)


def l1_regularization(params: Any, lam: float) -> Any:
    """λ R(W) with R(W) = Σ_W Σ_kl |W_kl|; ∂/∂W = λ sign(W) (0 at 0)."""
    ps = _params("l1_regularization", params, lam)
    total = ps[0].abs().sum()
    for p in ps[1:]:
        total = total + p.abs().sum()
    return total * float(lam)


# ---------------------------------------------------------------------------
# activations and metrics
# ---------------------------------------------------------------------------


def _activate(op: str, input: Any, fn: Callable[[Any], Any], inplace: bool) -> Any:
    """fn(input), or with ``inplace`` (PyTorch's ``inplace=True``) written into ``input`` and
    returned as it: ``input``'s values are replaced (its version bumped) and, when the graph
    records, the in-place op stands for it from then on, its backward that of fn. As in
    PyTorch, a leaf that requires grad cannot be changed in place (an error says so), and a
    value saved for an earlier op's backward that is overwritten makes that backward raise."""
    t = _tensor(op, input)
    return t._inplace(f"{op}_", fn) if _inplace_flag(op, inplace) else fn(t)


def _inplace_flag(op: str, inplace: Any) -> bool:
    """PyTorch's ``inplace`` argument, checked (the functions' and the modules')."""
    if not isinstance(inplace, bool):
        raise PygradTypeError(f"{op}: inplace must be a bool, got {type(inplace).__name__}")
    return inplace


def relu(input: Any, inplace: bool = False) -> Any:
    """max(0, x)."""
    if inplace is False:  # the usual call: no closure
        return _tensor("relu", input).relu()
    return _activate("relu", input, lambda t: t.relu(), inplace)


def sigmoid(input: Any) -> Any:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return _tensor("sigmoid", input).sigmoid()


def tanh(input: Any) -> Any:
    """tanh x."""
    return _tensor("tanh", input).tanh()


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:
    """x for x > 0, else negative_slope·x."""
    return _activate("leaky_relu", input, lambda t: t.leaky_relu(negative_slope), inplace)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:
    """x for x > 0, else α(eˣ - 1)."""
    return _activate("elu", input, lambda t: t.elu(alpha), inplace)


def gelu(x: Any, approximate: str = "none") -> Any:
    """x·Φ(x) (``approximate="none"``, the erf form, one op), or PyTorch's tanh form
    ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`` (``approximate="tanh"``, composed)."""
    t = _tensor("gelu", x)
    if approximate == "none":
        return t.gelu()
    if approximate != "tanh":
        raise PygradValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    inner = (t + t * t * t * 0.044715) * float(np.sqrt(2.0 / np.pi))
    return t * 0.5 * (inner.tanh() + 1.0)


def silu(input: Any, inplace: bool = False) -> Any:
    """x·σ(x) (swish)."""
    return _activate("silu", input, lambda t: t.silu(), inplace)


def mish(input: Any, inplace: bool = False) -> Any:
    """x·tanh(softplus(x))."""
    return _activate("mish", input, lambda t: t.mish(), inplace)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """PyTorch's softplus: log(1 + e^{βx}) / β, computed stably, and x itself where βx > ``threshold``
    (the linear form, gradient 1 there), so a small threshold changes values as in PyTorch."""
    t = _tensor("softplus", x)
    if not beta > 0:
        raise PygradValueError(f"softplus: beta must be positive, got {beta}")
    y = t.softplus() if beta == 1.0 else (t * float(beta)).softplus() * (1.0 / float(beta))
    if beta == 1.0 and float(threshold) == 20.0:
        return y  # the softplus op is x itself past x > 20 already (docs/semantics.md)
    return engine_of(t).where(t * float(beta) > float(threshold), t, y)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Any:
    """x clipped to [min_val, max_val], one op (``hardtanh``); the gradient passes strictly inside
    (PyTorch's rule: 0 at the bounds, where clamp's is 1)."""
    t = _tensor("hardtanh", input)
    if not min_val <= max_val:
        raise PygradValueError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}")
    if inplace is False:  # the usual call: no closure
        return t._hardtanh(min_val, max_val)
    return _activate("hardtanh", t, lambda u: u._hardtanh(min_val, max_val), inplace)


def relu6(input: Any, inplace: bool = False) -> Any:
    """min(max(0, x), 6): hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Any, inplace: bool = False) -> Any:
    """clip(x/6 + 1/2, 0, 1)."""
    return _activate("hardsigmoid", input, lambda t: t.hardsigmoid(), inplace)


def logsigmoid(x: Any) -> Any:
    """log σ(x), computed stably."""
    return _tensor("logsigmoid", x).logsigmoid()


def prelu(x: Any, weight: Any) -> Any:
    """x for x > 0, else w_c·x (weight (1,) or (C,), C = x.shape[1])."""
    return engine_of(_tensor("prelu", x)).prelu(x, weight)


def maxout(x: Any, pieces: int) -> Any:
    """max over groups of ``pieces`` along the last axis: (..., C·pieces) → (..., C)."""
    return engine_of(_tensor("maxout", x)).maxout(x, pieces)


def softmax(input: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """e^{x - m} / Σ e^{x - m} along ``axis`` (PyTorch's keyword ``dim`` names it too)."""
    return _tensor("softmax", input).softmax(axis if dim is None else dim)


def log_softmax(input: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """(x - m) - log Σ e^{x - m} along ``axis`` (or ``dim``)."""
    return _tensor("log_softmax", input).log_softmax(axis if dim is None else dim)


def one_hot(labels: Any, num_classes: int = -1) -> Any:
    """int64 tensor of shape labels.shape + (num_classes,) with a 1 at each label, 0 elsewhere: the
    one_hot op, which reads the labels from their tensor and checks each is in [0, num_classes) at
    every run (so a compiled step follows new labels, and a label out of range raises ValueError
    naming it). ``num_classes=-1``: one more than the largest label, read from the labels in Python
    (a compiled step with it runs eagerly)."""
    t = _tensor("one_hot", labels)
    if t.dtype.kind not in "iu":
        raise PygradTypeError(f"one_hot: labels must be an integer tensor, got {t.dtype}")
    n = num_classes
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < -1 or (n == -1 and not t.size):
        raise PygradValueError(f"one_hot: num_classes must be a non-negative int (or -1 with labels), got "
                               f"{num_classes!r}")
    if n == -1:  # the class count is a value of the labels: read here, so a recording cannot follow it
        _recording.refuse("one_hot with num_classes=-1 (the class count is read from the labels' largest value; "
                          "pass num_classes)")
        n = max(int(_values(t).max()) + 1, 0)
    return t._one_hot(int(n))


# ---------------------------------------------------------------- convolution ---


def _conv_ints(op: str, what: str, v: Any, n: int, low: int) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= low (PyTorch's _pair / _single)."""
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    if len(t) != n or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in t):
        raise PygradValueError(f"{op}: {what} must be an int or {n} ints, got {v!r}")
    if any(a < low for a in t):
        raise PygradValueError(f"{op}: {what} must be >= {low}, got {v!r}")
    return tuple(int(a) for a in t)


def _conv_operands(op: str, nd: int, input: Any, weight: Any, groups: Any, layout: str) -> tuple[Any, Any, bool, int]:
    """The checks the convolutions share: input and weight of one engine and float dtype, a weight of
    ``nd + 2`` dims (``layout`` names its first two), a batched or unbatched input (made batched), and
    a positive int ``groups``. Returns ``(x, w, unbatched, groups)``."""
    x = _tensor(op, input)
    w = as_tensor_like(weight, x, op)
    if engine_of(w) is not engine_of(x):
        raise PygradTypeError(f"{op}: input and weight belong to different engines")
    for t in (x, w):
        if t.dtype not in (engine_of(x).float32, engine_of(x).float64):
            raise PygradTypeError(f"{op}: expected float32 or float64 input and weight, got {x.dtype} and {w.dtype}")
    if x.dtype != w.dtype:
        raise PygradTypeError(f"{op}: input and weight dtypes differ: {x.dtype} and {w.dtype}")
    if w.ndim != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 2}-d weight ({layout}, kernel...), got shape {w.shape}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) input, got shape "
                         f"{x.shape}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.reshape((1,) + tuple(x.shape))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise PygradValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    return x, w, unbatched, groups


def _conv(op: str, nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: int) -> Any:
    """conv1d (nd = 1) and conv2d (nd = 2), both on the conv2d op: a 1-d convolution is a 2-d one over a
    height-1 view. Every argument is checked here, so both engines raise the same errors."""
    x, w, unbatched, groups = _conv_operands(op, nd, input, weight, groups, "out_channels, in_channels/groups")
    s = _conv_ints(op, "stride", stride, nd, 1)
    d = _conv_ints(op, "dilation", dilation, nd, 1)
    k = tuple(w.shape[2:])
    c, o = x.shape[1], w.shape[0]
    if c % groups or o % groups:
        raise ShapeError(f"{op}: groups={groups} must divide in_channels and out_channels (input {x.shape}, weight "
                         f"{w.shape})")
    if w.shape[1] * groups != c:
        raise ShapeError(f"{op}: weight of shape {w.shape} with groups={groups} expects {w.shape[1] * groups} input "
                         f"channels, got input of shape {x.shape}")
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            if any(a != 1 for a in s):
                raise PygradValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                       f"(stride {stride!r})")
            pads = [((dd * (kk - 1)) // 2, dd * (kk - 1) - (dd * (kk - 1)) // 2) for dd, kk in zip(d, k)]
        else:
            raise PygradValueError(f"{op}: padding must be an int, {nd} ints, 'valid' or 'same', got {padding!r}")
    else:
        pads = [(a, a) for a in _conv_ints(op, "padding", padding, nd, 0)]
    size = tuple(x.shape[2:])
    if any(sz + a + b < dd * (kk - 1) + 1 for sz, (a, b), dd, kk in zip(size, pads, d, k)):
        raise ShapeError(f"{op}: the kernel {k} (dilation {d}) is larger than the padded input {size} (padding "
                         f"{[list(p) for p in pads]}), input of shape {x.shape}")
    if nd == 1:
        x4 = x.reshape(tuple(x.shape[:2]) + (1, x.shape[2]))
        w4 = w.reshape(tuple(w.shape[:2]) + (1, w.shape[2]))
        y = x4._conv2d(w4, (1, s[0]), (0, 0) + pads[0], (1, d[0]), groups)
        y = y.reshape((y.shape[0], y.shape[1], y.shape[3]))
    else:
        y = x._conv2d(w, s, pads[0] + pads[1], d, groups)
    if bias is not None:
        b = as_tensor_like(bias, x, op)
        if tuple(b.shape) != (o,):
            raise ShapeError(f"{op}: bias of shape {b.shape}, expected ({o},) for weight {w.shape}")
        y = y + b.reshape((1, o) + (1,) * nd)
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """2-d convolution (cross-correlation), PyTorch's ``conv2d``: input (N, C, H, W) or (C, H, W), weight
    (O, C/groups, KH, KW), bias (O,) -> (N, O, OH, OW),

        y[n, o, a, b] = bias[o] + Σ_{c, i, j} xpad[n, c, a·sh + i·dh, b·sw + j·dw] · w[o, c, i, j]

    (c over the channels of o's group), OH = ⌊(H + 2·ph - dh·(KH - 1) - 1) / sh⌋ + 1. ``stride``,
    ``padding`` and ``dilation`` are an int or a pair; ``padding`` may be ``'valid'`` (none) or ``'same'``
    (stride 1 only: the output has the input's size; an odd total puts the extra pad at the end).
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """1-d convolution, PyTorch's ``conv1d``: input (N, C, L) or (C, L), weight (O, C/groups, K), bias (O,)
    -> (N, O, OL); conv2d over a height-1 view, with the same arguments (ints or 1-tuples, 'valid', 'same')."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op: str, nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                    output_padding: Any, groups: int, dilation: Any) -> Any:
    """conv_transpose1d (nd = 1) and conv_transpose2d (nd = 2), both on the op conv2d_input_grad (the
    transposed convolution is the gradient of conv2d in its input). Every argument is checked here, so both
    engines raise the same errors."""
    x, w, unbatched, groups = _conv_operands(op, nd, input, weight, groups, "in_channels, out_channels/groups")
    s = _conv_ints(op, "stride", stride, nd, 1)
    d = _conv_ints(op, "dilation", dilation, nd, 1)
    p = _conv_ints(op, "padding", padding, nd, 0)
    op_ = _conv_ints(op, "output_padding", output_padding, nd, 0)
    if any(a >= max(ss, dd) for a, ss, dd in zip(op_, s, d)):
        raise PygradValueError(f"{op}: output_padding {op_} must be smaller than either stride {s} or dilation "
                               f"{d}")
    k = tuple(w.shape[2:])
    c = x.shape[1]
    if w.shape[0] % groups:
        raise ShapeError(f"{op}: groups={groups} must divide in_channels, the weight's first dim (weight "
                         f"{w.shape}, input {x.shape})")
    if w.shape[0] != c:
        raise ShapeError(f"{op}: weight of shape {w.shape} expects {w.shape[0]} input channels, got input of shape "
                         f"{x.shape}")
    if any(kk < 1 for kk in k) or any(sz < 1 for sz in x.shape[2:]):
        raise ShapeError(f"{op}: empty kernel or input plane: weight {w.shape}, input {x.shape}")
    # PyTorch's output size, and the conv2d whose input gradient this is: the same stride, dilation and
    # padding, except that the bottom/right pad shrinks by output_padding (the rows output_padding adds
    # are covered by the scatter), and rows past the scatter's reach are zero (pad below)
    size = tuple((n - 1) * ss - 2 * pp + dd * (kk - 1) + a + 1 for n, ss, pp, dd, kk, a in zip(x.shape[2:], s, p, d,
                                                                                                  k, op_))
    if min(size) < 1:
        raise ShapeError(f"{op}: the output of input {x.shape} with weight {w.shape}, stride {s}, padding {p}, "
                         f"output_padding {op_}, dilation {d} would be empty ({size})")
    inner = tuple(min(a, pp + ss - 1) for a, pp, ss in zip(op_, p, s))  # the output padding the conv reaches
    pads = tuple((pp, max(pp - a, 0)) for pp, a in zip(p, inner))
    conv_size = tuple(sz - (a - b) for sz, a, b in zip(size, op_, inner))
    if nd == 1:
        x4 = x.reshape(tuple(x.shape[:2]) + (1, x.shape[2]))
        w4 = w.reshape(tuple(w.shape[:2]) + (1, w.shape[2]))
        y = x4._conv2d_input_grad(w4, (1, conv_size[0]), (1, s[0]), (0, 0) + pads[0], (1, d[0]), groups)
        y = y.reshape((y.shape[0], y.shape[1], y.shape[3]))
    else:
        y = x._conv2d_input_grad(w, conv_size, s, pads[0] + pads[1], d, groups)
    extra = [a - b for a, b in zip(op_, inner)]
    if any(extra):
        y = pad(y, tuple(v for e in reversed(extra) for v in (0, e)))
    o = w.shape[1] * groups
    if bias is not None:
        b = as_tensor_like(bias, x, op)
        if tuple(b.shape) != (o,):
            raise ShapeError(f"{op}: bias of shape {b.shape}, expected ({o},) for weight {w.shape} with "
                             f"groups={groups}")
        y = y + b.reshape((1, o) + (1,) * nd)
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    """2-d transposed convolution, PyTorch's ``conv_transpose2d``: input (N, C_in, H, W) or (C_in, H, W),
    weight (C_in, C_out/groups, KH, KW), bias (C_out,) -> (N, C_out, OH, OW); the gradient of conv2d in its
    input (each input pixel scatters its weighted kernel into the output):

        y[n, o, a·sh - ph + i·dh, b·sw - pw + j·dw] += x[n, c, a, b] · w[c, o, i, j]   (+ bias[o])

    (o over the output channels of c's group; indices outside the output dropped),
    OH = (H - 1)·sh - 2·ph + dh·(KH - 1) + output_padding_h + 1. ``output_padding`` (smaller than the
    stride or the dilation) adds rows and columns at the bottom and right. Backward: dx = conv2d(g, w),
    dw = conv2d's weight gradient with the roles of x and g swapped.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    """1-d transposed convolution, PyTorch's ``conv_transpose1d``: input (N, C_in, L) or (C_in, L), weight
    (C_in, C_out/groups, K), bias (C_out,) -> (N, C_out, OL); conv_transpose2d over a height-1 view."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ---------------------------------------------------------------- pooling ---


def _pool_input(op: str, input: Any) -> tuple[Any, bool]:
    """A float (N, C, H, W) input, and whether it was unbatched (C, H, W) and got a batch of 1."""
    x = _tensor(op, input)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape {x.shape}")
    E = engine_of(x)  # noqa: N806
    if x.dtype not in (E.float32, E.float64):
        raise PygradTypeError(f"{op}: expected a float32 or float64 input, got {x.dtype}")
    if 0 in tuple(x.shape[-3:]):
        raise ShapeError(f"{op}: expected non-zero channels, height and width (only the batch may be empty), got "
                         f"shape {x.shape}")
    return (x.reshape((1,) + tuple(x.shape)), True) if x.ndim == 3 else (x, False)


def _pool_geometry(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                   ceil_mode: bool) -> tuple[Any, ...]:
    """PyTorch's pooling geometry: (k, s, p, d) pairs and the output's (OH, OW); checks them."""
    k = _conv_ints(op, "kernel_size", kernel_size, 2, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _conv_ints(op, "stride", stride, 2, 1)
    p = _conv_ints(op, "padding", padding, 2, 0)
    d = _conv_ints(op, "dilation", dilation, 2, 1)
    if any(pp > kk // 2 for pp, kk in zip(p, k)):
        raise PygradValueError(f"{op}: padding {p} should be at most half of the kernel size {k}")
    hw = tuple(x.shape[-2:])
    out = []
    for n, kk, ss, pp, dd in zip(hw, k, s, p, d):
        span = n + 2 * pp - dd * (kk - 1) - 1
        o = (span + (ss - 1 if ceil_mode else 0)) // ss + 1 if span >= 0 else 0
        if ceil_mode and o > 0 and (o - 1) * ss >= n + pp:  # the last window must start inside the input
            o -= 1
        out.append(o)
    if min(out) < 1:
        raise ShapeError(f"{op}: the output of an input of shape {x.shape} with kernel {k}, stride {s}, padding "
                         f"{p}, dilation {d} would be empty ({out[0]} x {out[1]})")
    return k, s, p, d, tuple(out)


def _unbatch(y: Any, unbatched: bool) -> Any:
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-d max pooling, PyTorch's ``max_pool2d``: (N, C, H, W) or (C, H, W) → (..., OH, OW),

        y[n, c, a, b] = max_{i < KH, j < KW} x[n, c, a·sh - ph + i·dh, b·sw - pw + j·dw]

    over the window's elements inside the input (padding never wins; ``stride`` defaults to
    ``kernel_size``); OH = ⌊(H + 2·ph - dh·(KH - 1) - 1) / sh⌋ + 1 (rounded up with ``ceil_mode``, a last
    window starting inside the input or its left padding). A NaN in a window is its maximum. Backward:
    dx[argmax] += dy, the window's first maximum on ties (as PyTorch). With ``return_indices`` also the
    int64 flat index (in the H·W plane) of each maximum. One fused op (``max_pool2d``)."""
    x, unbatched = _pool_input("max_pool2d", input)
    k, s, p, d, _ = _pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if return_indices:
        y, idx = x._max_pool2d(k, s, p, d, bool(ceil_mode), True)
        return _unbatch(y, unbatched), _unbatch(idx, unbatched)
    return _unbatch(x._max_pool2d(k, s, p, d, bool(ceil_mode)), unbatched)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Any:
    """2-d average pooling, PyTorch's ``avg_pool2d``: (N, C, H, W) or (C, H, W) → (..., OH, OW),

        y[n, c, a, b] = Σ_window x[n, c] / divisor(a, b)

    the window clipped to the input; the divisor is the window clipped to the padded input
    (``count_include_pad``), or to the input, or ``divisor_override``. Backward: dx[window] += dy / divisor
    (the op ``avg_pool2d_input_grad``, whose own gradient is the average again)."""
    x, unbatched = _pool_input("avg_pool2d", input)
    k, s, p, _, _ = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool) or
                                         not isinstance(divisor_override, (int, np.integer)) or divisor_override < 1):
        raise PygradValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    y = x._avg_pool2d(k, s, p, bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    return _unbatch(y, unbatched)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Any:
    """2-d adaptive average pooling, PyTorch's ``adaptive_avg_pool2d``: (N, C, H, W) or (C, H, W) →
    (..., OH, OW), ``output_size`` an int or a pair (None keeps that input size),

        y[n, c, a, b] = mean of x[n, c, ⌊aH/OH⌋ : ⌈(a+1)H/OH⌉, ⌊bW/OW⌋ : ⌈(b+1)W/OW⌉]

    Backward: dx[window] += dy / |window| (the op ``avg_pool2d_input_grad``)."""
    x, unbatched = _pool_input("adaptive_avg_pool2d", input)
    o = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(o) != 2:
        raise PygradValueError(f"adaptive_avg_pool2d: output_size must be an int or 2 values, got {output_size!r}")
    o = tuple(x.shape[2 + i] if v is None else v for i, v in enumerate(o))
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in o):
        raise PygradValueError(f"adaptive_avg_pool2d: output_size must be positive ints (or None), got "
                               f"{output_size!r}")
    return _unbatch(x._adaptive_avg_pool2d(tuple(int(v) for v in o)), unbatched)


_INTERP_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact", "area")
_INTERP_NDIM = {"nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "linear": (3,), "bilinear": (4,), "bicubic": (4,),
                "trilinear": (5,), "area": (3, 4, 5)}


def _interp_3d(x: Any, mode: str, out: list[int], scales: list[float], align: bool) -> Any:
    """A 5-d resampling (trilinear, nearest along each dim, or area) as two 2-d ones: (H, W) of the
    N·(C·D) planes, then D along the rows of the (N, C·OH·OW, D) transpose. PyTorch's order of operations:
    W, then H, then D, each output the 2-d samples of its (one or two) source depths, weighted; area: the
    mean over a box is the mean over its depths of the means over its (H, W) windows."""
    n, c, d = x.shape[:3]
    oh, ow = out[1], out[2]
    planes = x.reshape((n, c * d) + tuple(x.shape[3:]))
    if mode == "area":
        y = adaptive_avg_pool2d(planes, (oh, ow))
    else:
        y = planes._interpolate(mode, (oh, ow), tuple(scales[1:]), align)
    y = y.reshape((n, c, d, oh * ow)).permute(0, 1, 3, 2).reshape((n, c * oh * ow, d))
    if mode == "area":
        y = adaptive_avg_pool2d(y.reshape((n, c * oh * ow, 1, d)), (1, out[0])).reshape((n, c * oh * ow, out[0]))
    else:
        y = y._interpolate(mode, (out[0],), (scales[0],), align)
    return y.reshape((n, c, oh * ow, out[0])).permute(0, 1, 3, 2).reshape((n, c, out[0], oh, ow))


def _interp_size(x: Any, nd: int, size: Any, scale_factor: Any, recompute: Any) -> tuple[list[int], list[float]]:
    """PyTorch's output size and the scale factors the source maps use (0: from the sizes)."""
    if (size is None) == (scale_factor is None):
        raise PygradValueError("interpolate: exactly one of size and scale_factor must be given")
    if recompute and size is not None:
        raise PygradValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
    spatial = tuple(x.shape[2:])
    if size is not None:
        out = list(size) if isinstance(size, (tuple, list)) else [size] * nd
        if len(out) != nd or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in out):
            raise PygradValueError(f"interpolate: size must be {nd} positive int(s) for an input of shape "
                                   f"{x.shape}, got {size!r}")
        return [int(v) for v in out], [0.0] * nd
    sf = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * nd
    if len(sf) != nd or any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not v > 0
                            or not np.isfinite(v) for v in sf):
        raise PygradValueError(f"interpolate: scale_factor must be {nd} positive number(s) for an input of shape "
                               f"{x.shape}, got {scale_factor!r}")
    out = [int(np.floor(float(n) * float(f))) for n, f in zip(spatial, sf)]
    if min(out) < 1:
        raise PygradValueError(f"interpolate: scale_factor {scale_factor!r} gives an empty output for an input of "
                               f"shape {x.shape}")
    return out, ([0.0] * nd if recompute else [float(f) for f in sf])


def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Any:
    """Resampling, PyTorch's ``interpolate`` for (N, C, L) ('nearest', 'nearest-exact', 'linear'),
    (N, C, H, W) ('nearest', 'nearest-exact', 'bilinear', 'bicubic') and (N, C, D, H, W) ('nearest',
    'nearest-exact', 'trilinear'): the output size is ``size``, or ⌊in · scale_factor⌋. Per spatial dim,
    with s = 1/scale_factor (when given and not ``recompute_scale_factor``) or in/out, computed in the
    input's dtype as PyTorch's CPU kernels do:

        nearest        y[o] = x[min(⌊o·s⌋, in - 1)]
        nearest-exact  y[o] = x[min(⌊max(s·(o + ½) - ½, 0) + ½⌋, in - 1)]
        linear         y[o] = (1 - λ) x[i₀] + λ x[min(i₀ + 1, in - 1)],  i₀ = ⌊src⌋, λ = src - i₀,
                       src = max(s·(o + ½) - ½, 0), or o·(in - 1)/(out - 1) with ``align_corners``;
                       out = in copies
        cubic          y[o] = Σₜ wₜ x[clamp(i₀ - 1 + t, 0, in - 1)], t = 0..3, i₀, λ as linear but
                       src not raised to 0; w₀..w₃ = c₂(λ + 1), c₁(λ), c₁(1 - λ), c₂(2 - λ), Keys' cubic
                       convolution c₁(x) = ((a + 2)x - (a + 3))x² + 1, c₂(x) = ((ax - 5a)x + 8a)x - 4a,
                       a = -0.75

    bilinear (bicubic) applies linear (cubic) along W, then along H; trilinear (and nearest of a 5-d
    input) along W, H, then D, as two ops (the (H, W) planes, then D along the transposed rows). With
    ``antialias`` (bilinear and bicubic only), each output is a normalised filter over the inputs within
    its support instead:

        y[o] = Σⱼ f((j - c + ½)/max(s, 1)) x[j] / Σⱼ f(...),  c = s·(o + ½),
        j in [max(trunc(c - σ + ½), 0), min(trunc(c + σ + ½), in)),  σ = (1 or 2)·max(s, 1)

    f the triangle max(1 - |x|, 0) (bilinear, σ = max(s, 1)) or the cubic convolution with a = -0.5
    (bicubic, σ = 2·max(s, 1)): downsampling by s widens the filter by s, so every input contributes; a
    dim whose size does not change is copied. One fused op (``interpolate``, threaded over the N·C planes);
    its backward is the transposed resampling, a scatter-add (the op ``interpolate_input_grad``, whose own
    gradient is the resampling again, so double backward is exact).

    'area' (3-d, 4-d or 5-d) is adaptive average pooling to the output size, as in PyTorch
    (``adaptive_avg_pool2d``; a 3-d input runs as a height-1 image, a 5-d one as (H, W), then D)."""
    x = _tensor("interpolate", input)
    if mode not in _INTERP_MODES:
        raise PygradValueError(f"interpolate: mode must be one of {', '.join(_INTERP_MODES)}, got {mode!r}")
    nd = x.ndim - 2
    if antialias and mode not in ("bilinear", "bicubic"):
        raise PygradValueError(f"interpolate: antialias is for the bilinear and bicubic modes (4-d input), got mode "
                               f"{mode!r} and shape {x.shape}")
    if x.ndim not in _INTERP_NDIM[mode]:
        want = " or ".join(f"{d}-d" for d in _INTERP_NDIM[mode])
        raise ShapeError(f"interpolate: mode {mode!r} expects a {want} input (N, C, ...), got shape {x.shape}")
    E = engine_of(x)  # noqa: N806
    if x.dtype not in (E.float32, E.float64):
        raise PygradTypeError(f"interpolate: expected a float32 or float64 input, got {x.dtype}")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise PygradValueError("interpolate: align_corners can only be set with the interpolating modes "
                               "(linear, bilinear, bicubic, trilinear)")
    if 0 in tuple(x.shape[1:]):
        raise ShapeError(f"interpolate: expected non-zero channels and spatial sizes, got shape {x.shape}")
    out, scales = _interp_size(x, nd, size, scale_factor, recompute_scale_factor)
    if nd == 3:
        return _interp_3d(x, {"trilinear": "linear"}.get(mode, mode), out, scales, bool(align_corners))
    if mode == "area":
        if nd == 1:
            y = adaptive_avg_pool2d(x.reshape((x.shape[0], x.shape[1], 1, x.shape[2])), (1, out[0]))
            return y.reshape((x.shape[0], x.shape[1], out[0]))
        return adaptive_avg_pool2d(x, tuple(out))
    op_mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    return x._interpolate(op_mode + ("-aa" if antialias else ""), tuple(out), tuple(scales), bool(align_corners))


# ---------------------------------------------------------- normalisation ---


def _norm_float(op: str, x: Any) -> Any:
    x = _tensor(op, x)
    if np.dtype(x.dtype).kind != "f":
        raise PygradTypeError(f"{op}: expected a float input, got dtype {np.dtype(x.dtype)}")
    return x


def _norm_param(op: str, what: str, t: Any, x: Any, shape: tuple[int, ...]) -> None:
    """weight, bias or a running statistic: None or a tensor of the input's engine, dtype and ``shape``."""
    if t is None:
        return
    if not is_tensor(t):
        raise PygradTypeError(f"{op}: {what} must be a Tensor or None, got {type(t).__name__}")
    if engine_of(t) is not engine_of(x):
        raise PygradTypeError(f"{op}: {what} belongs to another engine than the input")
    if np.dtype(t.dtype) != np.dtype(x.dtype):
        raise PygradTypeError(f"{op}: {what} of dtype {np.dtype(t.dtype)}, expected the input's "
                              f"{np.dtype(x.dtype)}")
    if tuple(t.shape) != shape:
        raise ShapeError(f"{op}: {what} of shape {tuple(t.shape)}, expected {shape} for input {tuple(x.shape)}")


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """Batch normalisation, PyTorch's ``batch_norm``: input (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)),
    a mean and variance per channel c over (N, *)::

        y = (x - mean_c) / sqrt(var_c + eps) · weight_c + bias_c

    ``training``: the batch's statistics (the variance biased), and ``running_mean``/``running_var`` (C,)
    (if given) updated in place, not recorded: r = (1 - momentum) r + momentum s, with the unbiased variance
    (N·*/(N·* - 1) times the biased one). Otherwise the running statistics (required). weight, bias (C,)
    or None. One fused C kernel each way (backward: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat
    xhat)), dxhat = dy·w)."""
    op = "batch_norm"
    x = _norm_float(op, input)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input of 2 or more dims (N, C, *), got shape {tuple(x.shape)}")
    c = int(x.shape[1])
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _norm_param(op, what, t, x, (c,))
    if (running_mean is None) != (running_var is None):
        raise PygradValueError(f"{op}: running_mean and running_var must be given together")
    if not training and running_mean is None:
        raise PygradValueError(f"{op}: running_mean and running_var must be given when training is False")
    eps = float(eps)
    if training and not eps > 0:
        raise PygradValueError(f"{op}: eps must be positive during training, got {eps}")
    if not eps >= 0:
        raise PygradValueError(f"{op}: eps must be non-negative, got {eps}")
    cnt = x.numel() // c if c else 0
    if training and cnt == 1:
        raise PygradValueError(f"{op}: expected more than 1 value per channel when training, got input of "
                               f"shape {tuple(x.shape)}")
    return x._batch_norm(running_mean, running_var, weight, bias, bool(training), float(momentum), float(eps))


def _normalized_shape(op: str, normalized_shape: Any, x: Any) -> tuple[int, ...]:
    """layer_norm's and rms_norm's ``normalized_shape`` (an int or ints), checked against x's last dims."""
    dims = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    if not isinstance(dims, Iterable) or isinstance(dims, str) or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims):
        raise PygradTypeError(f"{op}: normalized_shape must be an int or a sequence of ints, got "
                              f"{normalized_shape!r}")
    ns = tuple(int(d) for d in dims)
    if not ns or len(ns) > x.ndim or tuple(x.shape[x.ndim - len(ns):]) != ns:
        raise ShapeError(f"{op}: normalized_shape {ns} does not match the last dims of input {tuple(x.shape)}")
    return ns


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Any:
    """Layer normalisation, PyTorch's ``layer_norm``: a mean and (biased) variance per leading index of
    x (..., *normalized_shape), over the last len(normalized_shape) dims::

        y = (x - mean) / sqrt(var + eps) · weight + bias      weight, bias: normalized_shape, or None

    One fused C kernel each way."""
    op = "layer_norm"
    x = _norm_float(op, input)
    ns = _normalized_shape(op, normalized_shape, x)
    for what, t in (("weight", weight), ("bias", bias)):
        _norm_param(op, what, t, x, ns)
    return x._layer_norm(ns, weight, bias, float(eps))


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Any:
    """Group normalisation, PyTorch's ``group_norm``: x (N, C, *), its C channels in ``num_groups`` groups,
    a mean and (biased) variance per (n, group) over the group's channels and *::

        y = (x - mean_ng) / sqrt(var_ng + eps) · weight_c + bias_c      weight, bias (C,) or None

    One fused C kernel each way."""
    op = "group_norm"
    x = _norm_float(op, input)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input of 2 or more dims (N, C, *), got shape {tuple(x.shape)}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise PygradTypeError(f"{op}: num_groups must be an int, got {num_groups!r}")
    g = int(num_groups)
    c = int(x.shape[1])
    if g < 1 or c % g:
        raise PygradValueError(f"{op}: expected the number of channels of input {tuple(x.shape)} to be "
                               f"divisible by num_groups, got num_groups={num_groups}")
    for what, t in (("weight", weight), ("bias", bias)):
        _norm_param(op, what, t, x, (c,))
    return x._group_norm(g, weight, bias, float(eps))


def accuracy(scores: Any, labels: Any) -> float:
    """The fraction of rows whose highest score is at the label (ties: the first maximum)."""
    s = scores.numpy() if is_tensor(scores) else np.asarray(scores)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ShapeError(f"accuracy: scores must be 2-d (N, C) with N > 0, got shape {s.shape}")
    y = np.asarray(labels.numpy() if is_tensor(labels) else labels).reshape(-1)
    if y.size != s.shape[0]:
        raise ShapeError(f"accuracy: scores of shape {s.shape} need {s.shape[0]} labels, got {y.size}")
    return float(np.mean(np.argmax(s, axis=1) == y))



# ------------------------------------------------------ dropout, embedding ---


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: Any = None) -> Any:
    """Dropout, PyTorch's ``F.dropout``: in training, y = x · keep / (1 - p) with each element kept with
    probability 1 - p; backward dx = g · keep / (1 - p) with the same mask. Identity (``input`` itself) when
    not ``training`` or p = 0; zeros for p = 1.

    The mask is a counter-based hash of (seed, flat index), the seed a 63-bit draw from ``generator`` (a
    ``numpy.random.Generator``, a pygrad keyword) or from the generator :func:`pygrad.manual_seed` seeds:
    the same seed gives the same mask on both engines. ``inplace=True`` writes the result into ``input``.
    """
    x = _tensor("dropout", input)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise PygradValueError(f"dropout: dropout probability has to be between 0 and 1, but got {p!r}")
    if x.dtype.kind != "f":
        raise PygradTypeError(f"dropout: expected a float32 or float64 tensor, got {x.dtype}")
    if not training or p == 0:
        return x
    return x._dropout(float(p), generator, bool(inplace))


def _values(t: Any) -> np.ndarray:
    """A tensor's values for a check made in Python, without telling pygrad.compile: for the reads
    of indices and labels that the op itself checks again (in C) at each replay of a compiled step."""
    return t._host_view()


def _indices(op: str, input: Any) -> np.ndarray:
    """An integer tensor, array or nested list of indices as an int64 array."""
    v = _values(input) if is_tensor(input) else np.asarray(input)
    if v.dtype.kind not in "iu":
        raise PygradTypeError(f"{op}: indices must be an integer tensor or array (int64 or int32), got {v.dtype}")
    return v.astype(np.int64, copy=False)


def embedding(input: Any, weight: Any, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Any:
    """Rows of ``weight`` (V, D) at integer indices ``input`` (any shape) -> (..., D), PyTorch's
    ``F.embedding``: y[i, :] = weight[input[i], :]; backward

        dweight[v, :] = Σ_{i: input[i] = v} s_v g[i, :]

    (a scatter-add; repeats add), the ``padding_idx`` row getting none (negative counts from the end);
    s_v = 1, or 1 / (the number of times v occurs in ``input``) with ``scale_grad_by_freq``.

    ``max_norm``: before the lookup, every row that ``input`` looks up whose ``norm_type``-norm exceeds
    ``max_norm`` is scaled in place (outside the graph, as PyTorch's ``embedding_renorm_``) by
    max_norm / (norm + 1e-7), so ``weight`` is modified (its version moves); the norm is a value of
    the weight's dtype, the scale is computed in double (as PyTorch). One op of the engine: under
    ``pygrad.compile`` it is part of the program, run on the indices of each call. ``sparse=True``
    (sparse gradients) is not supported: gradients are dense."""
    w = _tensor("embedding", weight)
    idx = _indices("embedding", input)
    if w.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-d (num_embeddings, embedding_dim), got shape {w.shape}")
    if sparse:
        raise PygradValueError("embedding: sparse=True (sparse gradients) is not supported; pygrad's gradients "
                               "are dense tensors")
    n = w.shape[0]
    pad = -1
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or \
                not -n <= padding_idx < n:
            raise PygradIndexError(f"embedding: padding_idx must be within num_embeddings {n}, got {padding_idx!r}")
        pad = int(padding_idx) % n
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise PygradIndexError(f"embedding: index {int(bad.flat[0])} is out of range for a table of {n} rows "
                               f"(weight {tuple(w.shape)})")
    src = input if is_tensor(input) and input.dtype.kind in "iu" else idx
    if max_norm is not None:
        src = _embedding_renorm(w, src, idx, max_norm, norm_type)
    # the op checks the indices' range again (in C at each replay of a compiled step, which follows an
    # int64 tensor's own buffer)
    return w._embedding(src, pad, bool(scale_grad_by_freq))


def _embedding_renorm(w: Any, src: Any, idx: np.ndarray, max_norm: Any, norm_type: Any) -> Any:
    """PyTorch's ``embedding_renorm_`` (one op of the engine, outside the graph): each distinct row of
    ``w`` that the indices look up whose ``norm_type``-norm exceeds ``max_norm`` is multiplied by
    max_norm / (norm + 1e-7), in place. ``src``: the indices as given when an integer tensor, else
    ``idx``, their int64 array. Returns the int64 tensor of the indices it read, for the lookup: a
    compiled step follows it (an int32 tensor's is its recorded cast), and replays the renorm on the
    values of each run."""
    for what, v in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or math.isnan(v):
            raise PygradValueError(f"embedding: {what} must be a number, got {v!r}")
    if max_norm < 0:
        raise PygradValueError(f"embedding: max_norm must be non-negative, got {max_norm!r}")
    if is_tensor(src):
        it = src if src.dtype == np.int64 else src.long()
    else:
        if _recording.RECORDING:  # their values would be constants of the program
            _recording.refuse("embedding indices that are not an int64 tensor (their values would be frozen)")
        it = engine_of(w).tensor(idx, dtype="int64")
    w._embedding_renorm_(it, float(max_norm), float(norm_type))
    return it



# ---------------------------------------------------------------- attention ---


def _attn_bias(E: Any, mask: Any, dtype: Any, shape: tuple[int, ...]) -> Any:
    """A mask as an additive float bias of ``shape`` (batch..., L, S): bool True = take part (0), False = −∞;
    a float mask is added as it is (and stays differentiable)."""
    if is_tensor(mask):
        t = mask
    else:
        arr = np.asarray(mask)
        if arr.dtype.kind not in "bf":
            raise PygradTypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {arr.dtype}")
        t = E.tensor(arr, dtype="bool" if arr.dtype.kind == "b" else dtype)
    if t.dtype.kind == "b":
        t = E.tensor(np.where(t.numpy(), 0.0, -np.inf), dtype=dtype)
    elif t.dtype.kind != "f":
        raise PygradTypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {t.dtype}")
    elif t.dtype != dtype:
        t = t.astype(dtype)
    try:
        np.broadcast_shapes(tuple(t.shape), shape)
    except ValueError:
        raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(t.shape)} does not broadcast "
                         f"to {shape}") from None
    if np.broadcast_shapes(tuple(t.shape), shape) != shape:
        raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(t.shape)} does not broadcast "
                         f"to {shape}")
    return t if tuple(t.shape) == shape else t.expand(*shape)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False, *,
                                 generator: Any = None) -> Any:
    """PyTorch's ``F.scaled_dot_product_attention``: query (..., L, E), key (..., S, E), value (..., S, Ev)
    -> (..., L, Ev) (batch dims broadcast),

        o = softmax(scale · q kᵀ + bias) v,   scale = 1/√E by default,

    bias from ``attn_mask`` (bool: True takes part, False is −∞; float: added; broadcast to (..., L, S))
    or ``is_causal`` (key j > query i masked, top-left aligned). Fused (the op
    ``scaled_dot_product_attention``): no L×S matrix is kept for backward. A row with every key masked out
    gives zeros (PyTorch's fused kernels; its math fallback gives NaN). ``dropout_p > 0`` drops attention
    weights (always, as PyTorch's functional form) inside the fused op: p̃ = p · keep / (1 − dropout_p),
    with :func:`dropout`'s mask over the (..., L, S) weights and its seed drawn from ``generator`` (or the
    generator :func:`pygrad.manual_seed` seeds) as :func:`dropout` draws one, so the same seed gives the
    result of ``dropout(softmax(s)) @ v`` on both engines. The backward regenerates the mask from the seed.
    ``enable_gqa`` (grouped-query attention, as PyTorch): key and value (..., Hkv, S, ·) with fewer heads
    than query (..., Hq, L, E), Hq a multiple of Hkv, each of their heads serving Hq/Hkv query heads in
    turn (``repeat_interleave`` along dim -3).
    """
    op = "scaled_dot_product_attention"
    q, k, v = _tensor(op, query), _tensor(op, key), _tensor(op, value)
    E = engine_of(q)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"{op}: query, key and value must have at least 2 dims, got {q.shape}, {k.shape}, {v.shape}")
    if attn_mask is not None and is_causal:
        raise PygradValueError(f"{op}: an explicit attn_mask should not be set when is_causal=True")
    if isinstance(dropout_p, bool) or not 0.0 <= float(dropout_p) <= 1.0:
        raise PygradValueError(f"{op}: dropout_p has to be between 0 and 1, but got {dropout_p!r}")
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and v.ndim >= 3 and not q.shape[-3] == k.shape[-3] == v.shape[-3]:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hk != hv or hq % hk:
            raise ShapeError(f"{op}: with enable_gqa, key {k.shape} and value {v.shape} must have the same number "
                             f"of heads (dim -3), dividing query's {q.shape}")
        k, v = k.repeat_interleave(hq // hk, dim=-3), v.repeat_interleave(hq // hk, dim=-3)
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ShapeError(f"{op}: the batch dims of query {q.shape}, key {k.shape} and value {v.shape} do not "
                         f"broadcast") from None
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"{op}: query {q.shape} and key {k.shape} must have the same last dim")
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"{op}: key {k.shape} and value {v.shape} must have as many rows")
    q, k, v = (t if tuple(t.shape[:-2]) == batch else t.expand(*(batch + tuple(t.shape[-2:]))) for t in (q, k, v))
    sc = 1.0 / float(np.sqrt(q.shape[-1])) if scale is None else float(scale)
    shape = batch + (q.shape[-2], k.shape[-2])
    bias = E.zeros((), dtype=q.dtype) if attn_mask is None else _attn_bias(E, attn_mask, q.dtype, shape)
    if dropout_p > 0:
        return q._sdpa_dropout(k, v, bias, sc, bool(is_causal), float(dropout_p), generator)
    return q._sdpa(k, v, bias, sc, bool(is_causal))


# ------------------------------------------------- more of PyTorch's functional ---
# Each is composed of the engines' differentiable ops, so gradients and double backward follow.


def _num(op: str, what: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise PygradTypeError(f"{op}: {what} must be a real number, got {v!r}")
    return float(v)


def _float_tensor(op: str, x: Any, what: str = "input") -> Any:
    if not is_tensor(x):
        raise PygradTypeError(f"{op}: {what} must be a pygrad Tensor, got {type(x).__name__}")
    if np.dtype(x.dtype).kind != "f":
        raise PygradTypeError(f"{op}: {what} must be a float32 or float64 tensor, got dtype {np.dtype(x.dtype)}")
    return x


def _operands(op: str, *named: tuple[str, Any]) -> list[Any]:
    """Float tensors of one engine and dtype whose shapes broadcast (a target may be an array)."""
    first = _float_tensor(op, named[0][1], named[0][0])
    out = [first]
    for what, t in named[1:]:
        t = as_tensor_like(t, first, op)
        if engine_of(t) is not engine_of(first):
            raise PygradTypeError(f"{op}: {what} belongs to another engine than {named[0][0]}")
        if np.dtype(t.dtype) != np.dtype(first.dtype):
            t = t.to(first.dtype) if np.dtype(t.dtype).kind in "iub" else _float_tensor(op, t, what)
            if np.dtype(t.dtype) != np.dtype(first.dtype):
                raise PygradTypeError(f"{op}: {what} of dtype {np.dtype(t.dtype)}, expected "
                                      f"{np.dtype(first.dtype)}")
        out.append(t)
    try:
        np.broadcast_shapes(*(tuple(t.shape) for t in out))
    except ValueError:
        shapes = ", ".join(f"{w} {tuple(t.shape)}" for (w, _), t in zip(named, out))
        raise ShapeError(f"{op}: the shapes of {shapes} do not broadcast") from None
    return out


def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """y = x Wᵀ + b, PyTorch's ``F.linear``: weight (out_features, in_features) (or (in_features,): a
    dot product), bias (out_features,) or None. (``nn.Linear`` stores W as (in, out) instead.)"""
    x, w = _float_tensor("linear", input), _float_tensor("linear", weight, "weight")
    if engine_of(w) is not engine_of(x) or np.dtype(w.dtype) != np.dtype(x.dtype):
        raise PygradTypeError(f"linear: weight ({np.dtype(w.dtype)}) must be a tensor of the input's engine and "
                              f"dtype ({np.dtype(x.dtype)})")
    if w.ndim not in (1, 2) or x.ndim < 1 or x.shape[-1] != w.shape[-1]:
        raise ShapeError(f"linear: input of shape {tuple(x.shape)} and weight of shape {tuple(w.shape)} do not "
                         f"match (weight is (out_features, in_features))")
    y = x.matmul(w.permute(1, 0) if w.ndim == 2 else w)
    if bias is not None:
        b = _float_tensor("linear", bias, "bias")
        if engine_of(b) is not engine_of(x) or np.dtype(b.dtype) != np.dtype(x.dtype):
            raise PygradTypeError("linear: bias must be a tensor of the input's engine and dtype")
        try:
            np.broadcast_shapes(tuple(y.shape), tuple(b.shape))
        except ValueError:
            raise ShapeError(f"linear: bias of shape {tuple(b.shape)} does not broadcast to the output's "
                             f"{tuple(y.shape)}") from None
        y = y + b
    return y


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Any:
    """y_o = Σᵢⱼ x1ᵢ W_oij x2ⱼ + b_o, PyTorch's ``F.bilinear``: input1 (..., in1), input2 (..., in2),
    weight (out, in1, in2), bias (out,) or None (an ``einsum``)."""
    x1, x2, w = (_float_tensor("bilinear", input1, "input1"), _float_tensor("bilinear", input2, "input2"),
                 _float_tensor("bilinear", weight, "weight"))
    E = engine_of(x1)  # noqa: N806
    for what, t in (("input2", x2), ("weight", w), ("bias", bias)):
        if t is not None and (not is_tensor(t) or engine_of(t) is not E or np.dtype(t.dtype) != np.dtype(x1.dtype)):
            raise PygradTypeError(f"bilinear: {what} must be a tensor of input1's engine and dtype")
    if w.ndim != 3 or x1.ndim < 1 or x2.ndim < 1 or x1.shape[-1] != w.shape[1] or x2.shape[-1] != w.shape[2] \
            or tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise ShapeError(f"bilinear: input1 {tuple(x1.shape)}, input2 {tuple(x2.shape)} and weight {tuple(w.shape)} "
                         f"do not match (weight is (out, in1, in2), the inputs (..., in1) and (..., in2))")
    y = E.einsum("...i,oij,...j->...o", x1, w, x2)
    if bias is not None:
        if tuple(bias.shape) != (w.shape[0],):
            raise ShapeError(f"bilinear: bias of shape {tuple(bias.shape)}, expected ({w.shape[0]},)")
        y = y + bias
    return y


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Any:
    """x / max(‖x‖_p, eps) along ``dim`` (the norm's gradient is 0 at 0)."""
    x = _float_tensor("normalize", input)
    if out is not None:
        raise PygradValueError("normalize: out= is not supported (pygrad ops return new tensors)")
    n = x.norm(p, dim, keepdim=True)
    return x / n.clamp(min=_num("normalize", "eps", eps))


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Any:
    """Σ (x1 / max(‖x1‖, eps)) (x2 / max(‖x2‖, eps)) along ``dim``, the inputs broadcast (PyTorch's
    computation: each norm clamped, then the product summed)."""
    a, b = _operands("cosine_similarity", ("x1", x1), ("x2", x2))
    eps = _num("cosine_similarity", "eps", eps)
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    a, b = a.broadcast_to(shape), b.broadcast_to(shape)
    na = a.norm(2, dim, keepdim=True).clamp(min=eps)
    nb = b.norm(2, dim, keepdim=True).clamp(min=eps)
    return ((a / na) * (b / nb)).sum(dim=dim)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Any:
    """‖x1 - x2 + eps‖_p over the last dim (the inputs broadcast)."""
    a, b = _operands("pairwise_distance", ("x1", x1), ("x2", x2))
    d = a - b + _num("pairwise_distance", "eps", eps)
    if d.ndim == 0:
        d = d.reshape(1)
    return d.norm(p, -1, keepdim=bool(keepdim))


def _loss_operands(op: str, reduction: str, *named: tuple[str, Any]) -> list[Any]:
    _check_reduction(op, reduction)
    ts = _operands(op, *named)
    if ts[0].numel() == 0:
        raise PygradValueError(f"{op}: empty batch: input of shape {tuple(ts[0].shape)}")
    return ts


def l1_loss(input: Any, target: Any, reduction: str = "mean", weight: Any = None) -> Any:
    """ℓ = |x - t| (gradient sign(x - t), 0 at 0), reduced; with ``weight`` each ℓ times its
    weight and "mean" Σ wℓ / Σ w, as PyTorch."""
    x, t = _loss_operands("l1_loss", reduction, ("input", input), ("target", target))
    return _weighted_reduce("l1_loss", (x - t).abs(), weight, reduction, by_weight=True)


def _softmax_dim(x: Any, dim: Any) -> int:
    """PyTorch's implicit dim when ``dim`` is None: 0 for 0-d, 1-d and 3-d input, else 1."""
    return (0 if x.ndim in (0, 1, 3) else 1) if dim is None else dim


def softmin(input: Any, dim: Any = None, dtype: Any = None) -> Any:
    """softmax(-x) along ``dim`` (None: PyTorch's implicit dim)."""
    x = _float_tensor("softmin", input)
    if dtype is not None:
        x = x.to(dtype)
    return (-x).softmax(_softmax_dim(x, dim))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Any:
    """scale·(max(0, x) + min(0, α(eˣ - 1))), α ≈ 1.6733, scale ≈ 1.0507: scale·elu(x, α)."""
    x = _float_tensor("selu", input)
    return _activate("selu", x, lambda t: t.elu(_SELU_ALPHA) * _SELU_SCALE, inplace)


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:
    """max(0, x) + min(0, α(e^{x/α} - 1)) = α·elu(x/α)."""
    x = _float_tensor("celu", input)
    a = _num("celu", "alpha", alpha)
    if a == 0:
        raise PygradValueError("celu: alpha must not be 0")
    return _activate("celu", x, lambda t: t.elu(1.0) if a == 1 else (t * (1.0 / a)).elu(1.0) * a, inplace)


def hardswish(input: Any, inplace: bool = False) -> Any:
    """x·relu6(x + 3)/6 = x·hardsigmoid(x)."""
    x = _float_tensor("hardswish", input)
    return _activate("hardswish", x, lambda t: t * t.hardsigmoid(), inplace)


def softsign(input: Any) -> Any:
    """x / (1 + |x|)."""
    x = _float_tensor("softsign", input)
    return x / (x.abs() + 1.0)


def glu(input: Any, dim: int = -1) -> Any:
    """a·σ(b), a and b the two halves of x along ``dim`` (of even size)."""
    x = _float_tensor("glu", input)
    if x.ndim == 0:
        raise ShapeError("glu: does not support 0-d tensors")
    n = x.shape[dim if -x.ndim <= dim < x.ndim else 0] if isinstance(dim, (int, np.integer)) else None
    if n is None or not -x.ndim <= dim < x.ndim:
        raise ShapeError(f"glu: dim {dim!r} is out of range for a tensor of shape {tuple(x.shape)}")
    if n % 2:
        raise ShapeError(f"glu: halving dim {dim} needs an even size, got {n} (shape {tuple(x.shape)})")
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Any:
    """x where x > threshold, else ``value``."""
    x = _float_tensor("threshold", input)
    th, v = _num("threshold", "threshold", threshold), _num("threshold", "value", value)
    return _activate("threshold", x, lambda t: engine_of(t).where(t > th, t, v), inplace)


_threshold = threshold  # for threshold_, whose parameter shadows the name


def tanhshrink(input: Any) -> Any:
    """x - tanh x."""
    x = _float_tensor("tanhshrink", input)
    return x - x.tanh()


def softshrink(input: Any, lambd: float = 0.5) -> Any:
    """x - λ for x > λ, x + λ for x < -λ, else 0."""
    x = _float_tensor("softshrink", input)
    lam = _num("softshrink", "lambd", lambd)
    if lam < 0:
        raise PygradValueError(f"softshrink: lambd must be non-negative, got {lam}")
    E = engine_of(x)  # noqa: N806
    return E.where(x > lam, x - lam, E.where(x < -lam, x + lam, 0.0))


def hardshrink(input: Any, lambd: float = 0.5) -> Any:
    """x where |x| > λ, else 0."""
    x = _float_tensor("hardshrink", input)
    lam = _num("hardshrink", "lambd", lambd)
    return engine_of(x).where(x.abs() > lam, x, 0.0)


def _one(op: str, what: str, v: Any, low: int) -> int:
    """A 1-d pooling argument: an int or a 1-tuple, at least ``low``."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise PygradValueError(f"{op}: {what} must be an int or 1 int, got {v!r}")
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise PygradValueError(f"{op}: {what} must be an int >= {low}, got {v!r}")
    return int(v)


def _pool1d_input(op: str, input: Any) -> Any:
    x = _tensor(op, input)
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected a 2-d (C, L) or 3-d (N, C, L) input, got shape {tuple(x.shape)}")
    return x.unsqueeze(-2)  # (..., C, 1, L): the 2-d op on a height-1 view


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-d max pooling, PyTorch's ``max_pool1d``: (N, C, L) or (C, L) → (..., OL), max_pool2d on a height-1
    view (``return_indices``: the int64 index in L of each maximum)."""
    op = "max_pool1d"
    x = _pool1d_input(op, input)
    k = _one(op, "kernel_size", kernel_size, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _one(op, "stride", stride, 1)
    p, d = _one(op, "padding", padding, 0), _one(op, "dilation", dilation, 1)
    r = max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Any:
    """1-d average pooling, PyTorch's ``avg_pool1d``: avg_pool2d on a height-1 view."""
    op = "avg_pool1d"
    x = _pool1d_input(op, input)
    k = _one(op, "kernel_size", kernel_size, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _one(op, "stride", stride, 1)
    p = _one(op, "padding", padding, 0)
    return avg_pool2d(x, (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Any:
    """1-d adaptive average pooling: y[..., a] = mean of x[..., ⌊aL/OL⌋ : ⌈(a+1)L/OL⌉] (adaptive_avg_pool2d
    on a height-1 view)."""
    x = _pool1d_input("adaptive_avg_pool1d", input)
    o = _one("adaptive_avg_pool1d", "output_size", output_size, 1)
    return adaptive_avg_pool2d(x, (1, o)).squeeze(-2)


def _channel_dropout(op: str, input: Any, p: Any, training: bool, inplace: bool, generator: Any,
                     ndims: tuple[int, ...], batched_ndim: int) -> Any:
    x = _tensor(op, input)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise PygradValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    if x.dtype.kind != "f":
        raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {x.dtype}")
    if x.ndim not in ndims:
        raise ShapeError(f"{op}: expected a {' or '.join(f'{n}-d' for n in ndims)} input, got shape "
                         f"{tuple(x.shape)}")
    if inplace:
        raise PygradValueError(f"{op}: inplace=True is not supported (the result is a new tensor)")
    if not training or p == 0:
        return x
    lead = 2 if x.ndim >= batched_ndim else 1  # (N, C, ...) or unbatched (C, ...)
    mshape = tuple(x.shape[:lead]) + (1,) * (x.ndim - lead)
    E = engine_of(x)  # noqa: N806
    mask = E.ones(*mshape, dtype=x.dtype)._dropout(float(p), generator, False)  # keep / (1 - p) per channel
    return x * mask


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,
              generator: Any = None) -> Any:
    """Channel dropout, PyTorch's ``dropout1d``: (N, C, L) or (C, L); in training each channel is zeroed
    with probability p and the rest scaled by 1/(1 - p) (one mask value per (n, c), drawn as
    :func:`dropout` draws, from ``generator`` or the generator ``manual_seed`` seeds); identity otherwise."""
    return _channel_dropout("dropout1d", input, p, training, inplace, generator, (2, 3), 3)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,
              generator: Any = None) -> Any:
    """Channel dropout, PyTorch's ``dropout2d``: (N, C, H, W) or (C, H, W); one mask value per (n, c) (a
    3-d input is taken as (N, C, L), PyTorch's current reading)."""
    return _channel_dropout("dropout2d", input, p, training, inplace, generator, (3, 4), 3)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,
              generator: Any = None) -> Any:
    """Channel dropout, PyTorch's ``dropout3d``: (N, C, D, H, W) or (C, D, H, W); one mask value per
    channel."""
    return _channel_dropout("dropout3d", input, p, training, inplace, generator, (4, 5), 5)


def _factor(op: str, what: str, r: Any) -> int:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise PygradValueError(f"{op}: {what} must be a positive int, got {r!r}")
    return int(r)


def pixel_shuffle(input: Any, upscale_factor: int) -> Any:
    """(*, C·r², H, W) → (*, C, H·r, W·r): y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]."""
    op = "pixel_shuffle"
    x = _tensor(op, input)
    r = _factor(op, "upscale_factor", upscale_factor)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ShapeError(f"{op}: expected an input of at least 3 dims whose channel dim (-3) is divisible by "
                         f"upscale_factor² = {r * r}, got shape {tuple(x.shape)}")
    *lead, c, h, w = x.shape
    n = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Any:
    """(*, C, H·r, W·r) → (*, C·r², H, W), the inverse of :func:`pixel_shuffle`."""
    op = "pixel_unshuffle"
    x = _tensor(op, input)
    r = _factor(op, "downscale_factor", downscale_factor)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ShapeError(f"{op}: expected an input of at least 3 dims whose height and width are divisible by "
                         f"downscale_factor = {r}, got shape {tuple(x.shape)}")
    *lead, c, h, w = x.shape
    n = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def rms_norm(input: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None) -> Any:
    """RMS normalisation, PyTorch's ``rms_norm``: y = x / √(mean(x²) + eps) · weight, the mean over the last
    len(normalized_shape) dims; ``eps`` None: the dtype's machine epsilon."""
    op = "rms_norm"
    x = _norm_float(op, input)
    ns = _normalized_shape(op, normalized_shape, x)
    _norm_param(op, "weight", weight, x, ns)
    e = float(np.finfo(x.dtype).eps) if eps is None else _num(op, "eps", eps)
    dims = tuple(range(x.ndim - len(ns), x.ndim))
    y = x * ((x * x).mean(dim=dims, keepdim=True) + e).rsqrt()
    return y if weight is None else y * weight


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0, reduction: str = "mean") -> Any:
    """ℓ = max(0, -y·(x1 - x2) + margin), y = ±1 (the three broadcast)."""
    op = "margin_ranking_loss"
    a, b, y = _loss_operands(op, reduction, ("input1", input1), ("input2", input2), ("target", target))
    return _reduce(op, (-y * (a - b) + _num(op, "margin", margin)).relu(), reduction)


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
    """ℓ = x where y = 1, max(0, margin - x) where y = -1 (PyTorch's form: the first term where y ≠ -1, the
    second where y ≠ 1)."""
    op = "hinge_embedding_loss"
    x, y = _loss_operands(op, reduction, ("input", input), ("target", target))
    E = engine_of(x)  # noqa: N806
    m = (-x + _num(op, "margin", margin)).relu()
    losses = E.where(y != 1.0, m, 0.0) + E.where(y != -1.0, x, 0.0)
    return _reduce(op, losses, reduction)


def soft_margin_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """ℓ = log(1 + e^{-y·x}) (a stable softplus), y = ±1."""
    op = "soft_margin_loss"
    x, y = _loss_operands(op, reduction, ("input", input), ("target", target))
    return _reduce(op, (-y * x).softplus(), reduction)


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Any:
    """ℓ = 1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1; inputs (N, D) with y (N,)
    or (D,) with a 0-d y; cos = Σ x1x2 / √((Σx1² + 1e-12)(Σx2² + 1e-12)) (PyTorch's)."""
    op = "cosine_embedding_loss"
    _check_reduction(op, reduction)
    a, b = _operands(op, ("input1", input1), ("input2", input2))
    y = as_tensor_like(target, a, op)
    if a.ndim not in (1, 2) or tuple(a.shape) != tuple(b.shape) or tuple(y.shape) != tuple(a.shape[:-1]):
        raise ShapeError(f"{op}: expected input1 and input2 of one shape (N, D) or (D,) and target (N,) or (), got "
                         f"{tuple(a.shape)}, {tuple(b.shape)} and {tuple(y.shape)}")
    y = y if np.dtype(y.dtype) == np.dtype(a.dtype) else y.to(a.dtype)
    E = engine_of(a)  # noqa: N806
    d = a.ndim - 1
    eps = 1e-12
    cos = (a * b).sum(dim=d) / (((a * a).sum(dim=d) + eps) * ((b * b).sum(dim=d) + eps)).sqrt()
    losses = E.where(y == 1.0, -cos + 1.0, 0.0) + E.where(y == -1.0, (cos - _num(op, "margin", margin)).relu(), 0.0)
    return _reduce(op, losses, reduction)


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, reduction: str = "mean") -> Any:
    """ℓ = max(0, d(a, p) - d(a, n) + margin), d = :func:`pairwise_distance` (p, eps); ``swap``: d(a, n)
    replaced by min(d(a, n), d(p, n))."""
    op = "triplet_margin_loss"
    a, pos, neg = _loss_operands(op, reduction, ("anchor", anchor), ("positive", positive), ("negative", negative))
    if not (a.ndim == pos.ndim == neg.ndim and a.ndim in (1, 2)):
        raise ShapeError(f"{op}: expected anchor, positive and negative of 1 or 2 dims alike, got shapes "
                         f"{tuple(a.shape)}, {tuple(pos.shape)} and {tuple(neg.shape)}")
    d_ap = pairwise_distance(a, pos, p, eps)
    d_an = pairwise_distance(a, neg, p, eps)
    if swap:
        d_an = d_an.minimum(pairwise_distance(pos, neg, p, eps))
    return _reduce(op, (d_ap - d_an + _num(op, "margin", margin)).relu(), reduction)


def poisson_nll_loss(input: Any, target: Any, log_input: bool = True, full: bool = False, size_average: Any = None,
                     eps: float = 1e-8, reduce: Any = None, reduction: str = "mean") -> Any:
    """Poisson negative log-likelihood: ℓ = eˣ - t·x (``log_input``) or x - t·log(x + eps); ``full`` adds
    Stirling's t·log t - t + ½log(2πt) where t > 1. (``size_average``/``reduce`` are not supported.)"""
    op = "poisson_nll_loss"
    if size_average is not None or reduce is not None:
        raise PygradValueError(f"{op}: size_average and reduce are deprecated; use reduction=")
    x, t = _loss_operands(op, reduction, ("input", input), ("target", target))
    losses = x.exp() - t * x if log_input else x - t * (x + _num(op, "eps", eps)).log()
    if full:
        tv = t.detach().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            st = np.where(tv > 1, tv * np.log(tv) - tv + 0.5 * np.log(2 * np.pi * tv), 0.0)
        E = engine_of(x)  # noqa: N806
        # Stirling's term depends on the target only (the target's gradient is not taken through it)
        losses = losses + E.tensor(np.asarray(st, dtype=x.dtype))
    return _reduce(op, losses, reduction)


def gaussian_nll_loss(input: Any, target: Any, var: Any, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Any:
    """Gaussian negative log-likelihood: ℓ = ½(log max(var, eps) + (x - t)² / max(var, eps)) (+ ½log 2π with
    ``full``); var of the input's shape, or with its last dim 1 or missing (one variance per row). The
    clamp is PyTorch's: it changes the value, not the gradient (var's gradient passes as if unclamped)."""
    op = "gaussian_nll_loss"
    _check_reduction(op, reduction)
    x, t = _operands(op, ("input", input), ("target", target))
    v = as_tensor_like(var, x, op)
    if engine_of(v) is not engine_of(x) or np.dtype(v.dtype) != np.dtype(x.dtype):
        raise PygradTypeError(f"{op}: var must be a tensor of the input's engine and dtype")
    if tuple(v.shape) != tuple(x.shape):
        if x.ndim and tuple(v.shape) == tuple(x.shape[:-1]):
            v = v.unsqueeze(-1)
        elif not (x.ndim and tuple(v.shape) == tuple(x.shape[:-1]) + (1,)):
            raise ShapeError(f"{op}: var of shape {tuple(v.shape)} does not match input of shape {tuple(x.shape)}")
    vv = v.detach().numpy()
    if (vv < 0).any():
        raise PygradValueError(f"{op}: var has negative entries")
    e = _num(op, "eps", eps)
    v = v + engine_of(x).tensor(np.maximum(vv, e) - vv, dtype=x.dtype)  # clamped value, identity gradient
    d = x - t
    losses = (v.log() + d * d / v) * 0.5
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return _reduce(op, losses, reduction)


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0, weight: Any = None,
                      reduction: str = "mean") -> Any:
    """PyTorch's multi-class margin loss of scores (N, C) (or (C,)) and labels: ℓᵢ = Σ_{j≠yᵢ}
    w_yᵢ·max(0, margin - x[yᵢ] + x[j])ᵖ / C, p 1 or 2. The class weights are not differentiated: as
    PyTorch, weights that require grad are refused (RuntimeError) while grad mode is on."""
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    _engines.refuse_grad_weight(op, op, "weight", weight)
    x = _float_tensor(op, input)
    if p not in (1, 2):
        raise PygradValueError(f"{op}: only p = 1 and p = 2 are supported, got {p!r}")
    one = x.ndim == 1
    s = _scores(op, x.reshape(1, -1) if one else x)
    y = _labels(op, np.asarray(target.numpy() if is_tensor(target) else target).reshape(-1), s)
    n, c = s.shape
    rows = np.arange(n)
    m = (s - s[rows, y].reshape(n, 1) + _num(op, "margin", margin)).relu()
    if p == 2:
        m = m * m
    others = np.ones((n, c), dtype=bool)
    others[rows, y] = False
    E = engine_of(s)  # noqa: N806
    if weight is not None:
        w = _float_tensor(op, weight, "weight")
        if tuple(w.shape) != (c,):
            raise ShapeError(f"{op}: weight of shape {tuple(w.shape)}, expected ({c},)")
        m = m * w[y].reshape(n, 1)
    losses = E.where(E.tensor(others), m, 0.0).sum(axis=1) * (1.0 / c)
    return _reduce(op, losses.reshape(()) if one else losses, reduction)


def multilabel_soft_margin_loss(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Any:
    """ℓᵢ = -mean_c w_c (y log σ(x) + (1 - y) log σ(-x)) of scores (N, C) and 0/1 targets (N, C)."""
    op = "multilabel_soft_margin_loss"
    x, t = _loss_operands(op, reduction, ("input", input), ("target", target))
    if tuple(t.shape) != tuple(x.shape):
        raise ShapeError(f"{op}: input {tuple(x.shape)} and target {tuple(t.shape)} must have one shape")
    losses = t * (-x).softplus() + (1.0 - t) * x.softplus()  # -(y log σ(x) + (1 - y) log σ(-x))
    if weight is not None:
        losses = losses * _float_tensor(op, weight, "weight")
    return _reduce(op, losses.mean(dim=-1), reduction)


def instance_norm(input: Any, running_mean: Any = None, running_var: Any = None, weight: Any = None, bias: Any = None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """Instance normalisation: each (n, c) of x (N, C, *) normalised over * with its own mean and (biased)
    variance, times weight_c plus bias_c: group_norm with one channel per group. Running statistics are not
    supported (PygradValueError)."""
    op = "instance_norm"
    x = _norm_float(op, input)
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise PygradValueError(f"{op}: running statistics are not supported (use_input_stats=True and no "
                               f"running_mean/running_var)")
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected an input of 3 or more dims (N, C, *), got shape {tuple(x.shape)}")
    return group_norm(x, int(x.shape[1]), weight, bias, eps)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Any:
    """y = x / (k + α·mean_{window} x²)^β, the window ``size`` channels around each (zero-padded, PyTorch's
    size//2 before and (size-1)//2 after)."""
    op = "local_response_norm"
    x = _float_tensor(op, input)
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected an input of 3 or more dims (N, C, *), got shape {tuple(x.shape)}")
    n = _factor(op, "size", size)
    sq = x * x
    widths = [0, 0] * (x.ndim - 2) + [n // 2, (n - 1) // 2]
    padded = pad(sq, tuple(widths))
    c = x.shape[1]
    acc = padded[:, 0:c]
    for i in range(1, n):
        acc = acc + padded[:, i:i + c]
    div = (acc * (_num(op, "alpha", alpha) / n) + _num(op, "k", k)) ** _num(op, "beta", beta)
    return x / div


def _lp_pool(op: str, nd: int, x: Any, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool) -> Any:
    p = _num(op, "norm_type", norm_type)
    if p == 0:
        raise PygradValueError(f"{op}: norm_type must not be 0")
    ks = _conv_ints(op, "kernel_size", kernel_size, nd, 1)
    st = ks if stride is None else _conv_ints(op, "stride", stride, nd, 1)
    if nd == 1:
        y = avg_pool1d(x ** p, ks, st, 0, ceil_mode)
    else:
        y = avg_pool2d(x ** p, ks, st, 0, ceil_mode)
    # PyTorch's (sign(y)·relu(|y|)·|window|)^(1/p): NaN for a negative sum of odd powers, as there
    return (y.sign() * y.abs().relu() * float(np.prod(ks))) ** (1.0 / p)


def lp_pool1d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Any:
    """Power-average pooling, PyTorch's ``lp_pool1d``: (Σ_window xᵖ)^(1/p) (p = ``norm_type``; no padding), on
    (N, C, L) or (C, L)."""
    return _lp_pool("lp_pool1d", 1, _float_tensor("lp_pool1d", input), norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Any:
    """Power-average pooling: (Σ_window xᵖ)^(1/p) (p = ``norm_type``), on (N, C, H, W) or (C, H, W)."""
    return _lp_pool("lp_pool2d", 2, _float_tensor("lp_pool2d", input), norm_type, kernel_size, stride, ceil_mode)


def _adaptive_windows(n: int, o: int) -> list[tuple[int, int]]:
    return [((i * n) // o, -(-((i + 1) * n) // o)) for i in range(o)]


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """2-d adaptive max pooling: y[n, c, a, b] = max of x[n, c] over rows [⌊aH/OH⌋, ⌈(a+1)H/OH⌉) and the
    columns alike (a NaN wins); the gradient goes to each window's first maximum (one gather). With
    ``return_indices`` also the int64 flat index in the H·W plane."""
    op = "adaptive_max_pool2d"
    x, unbatched = _pool_input(op, input)
    o = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(o) != 2:
        raise PygradValueError(f"{op}: output_size must be an int or 2 values, got {output_size!r}")
    o = tuple(x.shape[2 + i] if v is None else v for i, v in enumerate(o))
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in o):
        raise PygradValueError(f"{op}: output_size must be positive ints (or None), got {output_size!r}")
    N, C, H, W = (int(s) for s in x.shape)  # noqa: N806
    v = x.detach().numpy()
    idx = np.zeros((N, C, o[0], o[1]), dtype=np.int64)
    for a, (h0, h1) in enumerate(_adaptive_windows(H, o[0])):
        for b, (w0, w1) in enumerate(_adaptive_windows(W, o[1])):
            win = v[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            with np.errstate(invalid="ignore"):
                j = np.where(np.isnan(win).any(-1), np.isnan(win).argmax(-1), win.argmax(-1))
            idx[:, :, a, b] = (h0 + j // (w1 - w0)) * W + w0 + j % (w1 - w0)
    base = (np.arange(N * C, dtype=np.int64) * H * W).reshape(N, C, 1, 1)
    y = x.reshape(-1)._take_flat(np.ascontiguousarray(base + idx)).reshape(N, C, o[0], o[1])
    if return_indices:
        return _unbatch(y, unbatched), _unbatch(engine_of(x).tensor(idx), unbatched)
    return _unbatch(y, unbatched)


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """1-d adaptive max pooling on (N, C, L) or (C, L): adaptive_max_pool2d on a height-1 view."""
    x = _pool1d_input("adaptive_max_pool1d", input)
    o = _one("adaptive_max_pool1d", "output_size", output_size, 1)
    r = adaptive_max_pool2d(x, (1, o), return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Any:
    """Randomised leaky ReLU: x for x ≥ 0, else a·x with a ~ U(lower, upper) per element in training (drawn
    from the generator ``manual_seed`` seeds), a = (lower + upper)/2 otherwise."""
    op = "rrelu"
    x = _float_tensor(op, input)
    lo, hi = _num(op, "lower", lower), _num(op, "upper", upper)
    if not lo <= hi:
        raise PygradValueError(f"{op}: lower {lo} must not exceed upper {hi}")
    E = engine_of(x)  # noqa: N806
    if not training:
        return _activate(op, x, lambda t: t.leaky_relu((lo + hi) / 2), inplace)
    a = E.rand(*x.shape, dtype=x.dtype) * (hi - lo) + lo
    return _activate(op, x, lambda t: E.where(t >= 0, t, t * a), inplace)


# PyTorch's in-place forms: f_(x, ...) is f(x, ..., inplace=True), x changed and returned


def relu_(input: Any) -> Any:
    """:func:`relu` in place."""
    return relu(input, inplace=True)


def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Any:
    """:func:`leaky_relu` in place."""
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Any, alpha: float = 1.0) -> Any:
    """:func:`elu` in place."""
    return elu(input, alpha, inplace=True)


def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """:func:`hardtanh` in place."""
    return hardtanh(input, min_val, max_val, inplace=True)


def selu_(input: Any) -> Any:
    """:func:`selu` in place."""
    return selu(input, inplace=True)


def celu_(input: Any, alpha: float = 1.0) -> Any:
    """:func:`celu` in place."""
    return celu(input, alpha, inplace=True)


def threshold_(input: Any, threshold: float, value: float) -> Any:
    """:func:`threshold` in place."""
    return _threshold(input, threshold, value, inplace=True)


def rrelu_(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Any:
    """:func:`rrelu` in place."""
    return rrelu(input, lower, upper, training, inplace=True)


def max_pool2d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                            ceil_mode: bool = False, return_indices: bool = True) -> Any:
    """PyTorch's ``max_pool2d_with_indices``: :func:`max_pool2d` returning (values, indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                            ceil_mode: bool = False, return_indices: bool = True) -> Any:
    """PyTorch's ``max_pool1d_with_indices``: :func:`max_pool1d` returning (values, indices)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def gumbel_softmax(logits: Any, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Any:
    """softmax((logits + g) / τ) along ``dim``, g = -log(-log U) Gumbel noise (U from the generator
    ``manual_seed`` seeds); ``hard``: the one-hot of the argmax in the forward, the soft sample's gradient
    (y_hard - stop_gradient(y_soft) + y_soft)."""
    op = "gumbel_softmax"
    x = _float_tensor(op, logits)
    t = _num(op, "tau", tau)
    if not t > 0:
        raise PygradValueError(f"{op}: tau must be positive, got {t}")
    E = engine_of(x)  # noqa: N806
    u = np.clip(E.rand(*x.shape, dtype=E.float64).numpy(), np.finfo(np.float64).tiny, 1.0)
    g = E.tensor(-np.log(-np.log(u) + 0.0), dtype=x.dtype)
    y = ((x + g) * (1.0 / t)).softmax(dim)
    if not hard:
        return y
    d = dim % max(x.ndim, 1)
    onehot = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(onehot, np.expand_dims(y.detach().numpy().argmax(axis=d), d), 1.0, axis=d)
    return E.tensor(onehot) - y.detach() + y


__all__ = [
    "cross_entropy", "svm_loss", "multiclass_hinge_loss", "mse_loss", "binary_cross_entropy_with_logits",
    "l2_regularization", "l1_regularization", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "prelu", "maxout",
    "softmax", "log_softmax", "accuracy", "pad", "conv1d", "conv2d", "max_pool2d",
    "avg_pool2d", "batch_norm", "layer_norm", "group_norm", "dropout", "embedding", "scaled_dot_product_attention",
    "adaptive_avg_pool2d", "interpolate", "conv_transpose1d", "conv_transpose2d",
    "linear", "bilinear", "normalize", "cosine_similarity", "pairwise_distance", "l1_loss", "softmin", "selu", "celu",
    "hardswish", "softsign", "glu", "threshold", "tanhshrink", "softshrink", "hardshrink", "max_pool1d", "avg_pool1d",
    "adaptive_avg_pool1d", "dropout1d", "dropout2d", "dropout3d", "pixel_shuffle", "pixel_unshuffle", "rms_norm",
    "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss",
    "poisson_nll_loss", "gaussian_nll_loss", "multi_margin_loss", "multilabel_soft_margin_loss", "instance_norm",
    "local_response_norm", "lp_pool1d", "lp_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "rrelu",
    "gumbel_softmax", "relu_", "leaky_relu_", "elu_", "hardtanh_", "selu_", "celu_", "threshold_", "rrelu_",
    "max_pool2d_with_indices", "max_pool1d_with_indices",
]
