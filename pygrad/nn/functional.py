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
huber_loss(x, t, delta), smooth_l1_loss    ½d² near 0, linear far
kl_div(logp, t)                            t (log t - logp)
binary_cross_entropy_with_logits(x, t)     -t log σ(x) - (1 - t) log(1 - σ(x))
l2_regularization(W, λ)                    λ R(W),  R(W) = Σ W²
l1_regularization(W, λ)                    λ R(W),  R(W) = Σ |W|
=========================================  =============================================

``pad(x, pad, mode="constant", value=0)`` pads with PyTorch's pad tuple (last
dim first) in constant, reflect, replicate or circular mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

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


def cross_entropy(logits: Any, labels: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """Softmax cross-entropy: logits (N, C), labels N ints in [0, C) (PyTorch's arguments).

    Lᵢ = -log( e^{s_yᵢ} / Σⱼ e^{sⱼ} ) = log Σⱼ e^{sⱼ - m} - (s_yᵢ - m), with m = maxⱼ sⱼ,
    so it stays finite for any finite logits. ∂Lᵢ/∂sⱼ = softmax(s)ⱼ - [j = yᵢ]. Without
    ``weight``, ``ignore_index`` or ``label_smoothing`` in use it is one fused op; with
    them it is :func:`nll_loss` of ``log_softmax`` (class weights w: Lᵢ scaled by w_yᵢ,
    the mean divided by Σ w_yᵢ; rows labelled ``ignore_index`` count for nothing;
    smoothing ε: (1 - ε)·Lᵢ + ε/C·Σⱼ -wⱼ log softmax(s)ⱼ), exactly as PyTorch.
    The third positional argument may still be the reduction, as before.
    """
    if isinstance(weight, str):  # cross_entropy(logits, labels, "sum"): the older signature
        weight, reduction = None, weight
    x = _tensor("cross_entropy", logits)
    fused = weight is None and label_smoothing == 0.0 and (
        ignore_index < 0 or not np.any(_label_array(labels) == ignore_index))
    if fused:
        return engine_of(x).cross_entropy(x, labels, reduction)
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise PygradValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    s = _scores("cross_entropy", x)
    logp = s.log_softmax(axis=1)
    loss = nll_loss(logp, labels, weight=weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return loss
    n, c = s.shape
    y, keep, w = _weighted_labels("cross_entropy", labels, s, weight, ignore_index)
    E = engine_of(s)
    per_class = logp if w is None else logp * w.reshape(1, c)
    smooth = -E.where(E.tensor(keep.reshape(n, 1)), per_class, 0.0).sum(axis=1)
    if reduction == "mean":
        denom = float(keep.sum()) if w is None else w[E.tensor(y[keep])].sum()
        smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / c)


def _label_array(labels: Any) -> np.ndarray:
    return np.asarray(labels.numpy() if is_tensor(labels) else labels)


def _weighted_labels(op: str, labels: Any, scores: Any, weight: Any, ignore_index: int
                     ) -> tuple[np.ndarray, np.ndarray, Any]:
    """Labels as int64 (ignored rows set to class 0), the kept-row mask, and the weight tensor (or None)."""
    arr = _label_array(labels)
    keep = arr != ignore_index
    y = _labels(op, np.where(keep, arr, 0), scores)
    w = None
    if weight is not None:
        w = weight if is_tensor(weight) else engine_of(scores).tensor(np.asarray(weight), dtype=scores.dtype)
        if w.shape != (scores.shape[1],):
            raise ShapeError(f"{op}: weight must have one entry per class ({scores.shape[1]}), got shape {w.shape}")
    return y, keep, w


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> Any:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at labels ``target``:
    Lᵢ = -w_yᵢ·input[i, yᵢ]; rows labelled ``ignore_index`` give 0; "mean" divides the sum
    by Σ w_yᵢ over the kept rows (PyTorch's rule: NaN when nothing is kept)."""
    _check_reduction("nll_loss", reduction)
    s = _scores("nll_loss", input)
    n, c = s.shape
    y, keep, w = _weighted_labels("nll_loss", target, s, weight, ignore_index)
    E = engine_of(s)
    picked = s[np.arange(n), y]
    wy = E.tensor(keep.astype(np.float64), dtype=s.dtype) if w is None else \
        w[E.tensor(y)] * E.tensor(keep.astype(np.float64), dtype=s.dtype)
    losses = -picked * wy
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / wy.sum()


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Any:
    """ℓ = -w·(t log p + (1 - t) log(1 - p)) of probabilities p = ``input`` in [0, 1], each log
    clamped at -100 as PyTorch does (so p = 0 or 1 gives a finite loss)."""
    _check_reduction("binary_cross_entropy", reduction)
    p, t = _pair("binary_cross_entropy", input, target)
    pv = p.detach().numpy()
    if np.any((pv < 0) | (pv > 1)):
        raise PygradValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; use "
                               "binary_cross_entropy_with_logits for logits")
    losses = -(t * p.log().clamp(min=-100.0) + (1.0 - t) * (1.0 - p).log().clamp(min=-100.0))
    if weight is not None:
        losses = losses * weight
    return _reduce("binary_cross_entropy", losses, reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Any:
    """ℓ = ½d² for |d| ≤ δ, else δ(|d| - ½δ), d = x - t (quadratic near 0, linear far)."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise PygradValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _pair("huber_loss", input, target)
    d = x - t
    a = d.abs()
    E = engine_of(x)
    losses = E.where(a <= delta, d * d * 0.5, (a - 0.5 * delta) * float(delta))
    return _reduce("huber_loss", losses, reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
    """ℓ = ½d²/β for |d| < β, else |d| - ½β (Huber divided by β; β = 0 is the L1 loss)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise PygradValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    x, t = _pair("smooth_l1_loss", input, target)
    d = x - t
    a = d.abs()
    if beta == 0:
        return _reduce("smooth_l1_loss", a, reduction)
    E = engine_of(x)
    losses = E.where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce("smooth_l1_loss", losses, reduction)


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


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error: ℓ = (x - t)² elementwise, reduced; ∂ℓ/∂x = 2(x - t)."""
    _check_reduction("mse_loss", reduction)
    x, t = _pair("mse_loss", input, target)
    d = x - t
    return _reduce("mse_loss", d * d, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """Binary cross-entropy of a logit x and a target t in [0, 1], computed stably:

        ℓ = -t log σ(x) - (1 - t) log σ(-x),   ∂ℓ/∂x = σ(x) - t

    with [log σ(-x), log σ(x)] = log_softmax([0, x]) (never exp of a large number,
    and the exact gradient at x = 0).
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x, t = _pair("binary_cross_entropy_with_logits", logits, target)
    E = engine_of(x)
    pair = E.stack([E.zeros(*x.shape, dtype=x.dtype), x], axis=-1)  # (..., 2): [0, x]
    logs = E.log_softmax(pair, axis=-1)  # [log σ(-x), log σ(x)]
    losses = -(t * logs[..., 1] + (1.0 - t) * logs[..., 0])
    return _reduce("binary_cross_entropy_with_logits", losses, reduction)


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


def relu(x: Any) -> Any:
    """max(0, x)."""
    return _tensor("relu", x).relu()


def sigmoid(x: Any) -> Any:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return _tensor("sigmoid", x).sigmoid()


def tanh(x: Any) -> Any:
    """tanh x."""
    return _tensor("tanh", x).tanh()


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x for x > 0, else negative_slope·x."""
    return _tensor("leaky_relu", x).leaky_relu(negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, else α(eˣ - 1)."""
    return _tensor("elu", x).elu(alpha)


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


def silu(x: Any) -> Any:
    """x·σ(x) (swish)."""
    return _tensor("silu", x).silu()


def mish(x: Any) -> Any:
    """x·tanh(softplus(x))."""
    return _tensor("mish", x).mish()


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """log(1 + e^{βx}) / β, computed stably for every x (so ``threshold``, PyTorch's switch to
    the linear form above βx > threshold, is accepted and changes nothing but rounding)."""
    t = _tensor("softplus", x)
    if beta == 1.0:
        return t.softplus()
    if not beta > 0:
        raise PygradValueError(f"softplus: beta must be positive, got {beta}")
    return (t * float(beta)).softplus() * (1.0 / float(beta))


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """x clipped to [min_val, max_val]; the gradient passes strictly inside (PyTorch's rule)."""
    t = _tensor("hardtanh", x)
    if not min_val <= max_val:
        raise PygradValueError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}")
    mod = engine_of(t)
    return mod.where(t <= min_val, float(min_val), mod.where(t >= max_val, float(max_val), t))


def relu6(x: Any) -> Any:
    """min(max(0, x), 6): hardtanh(x, 0, 6)."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Any) -> Any:
    """clip(x/6 + 1/2, 0, 1)."""
    return _tensor("hardsigmoid", x).hardsigmoid()


def logsigmoid(x: Any) -> Any:
    """log σ(x), computed stably."""
    return _tensor("logsigmoid", x).logsigmoid()


def prelu(x: Any, weight: Any) -> Any:
    """x for x > 0, else w_c·x (weight (1,) or (C,), C = x.shape[1])."""
    return engine_of(_tensor("prelu", x)).prelu(x, weight)


def maxout(x: Any, pieces: int) -> Any:
    """max over groups of ``pieces`` along the last axis: (..., C·pieces) → (..., C)."""
    return engine_of(_tensor("maxout", x)).maxout(x, pieces)


def softmax(x: Any, axis: int = -1) -> Any:
    """e^{x - m} / Σ e^{x - m} along ``axis``."""
    return _tensor("softmax", x).softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """(x - m) - log Σ e^{x - m} along ``axis``."""
    return _tensor("log_softmax", x).log_softmax(axis)


def one_hot(labels: Any, num_classes: int = -1) -> Any:
    """int64 tensor of shape labels.shape + (num_classes,) with a 1 at each label
    (``num_classes=-1``: one more than the largest label)."""
    t = _tensor("one_hot", labels)
    if t.dtype.kind not in "iu":
        raise PygradTypeError(f"one_hot: labels must be an integer tensor, got {t.dtype}")
    v = t.numpy()
    if v.size and v.min() < 0:
        raise PygradValueError(f"one_hot: labels must be non-negative, got {int(v.min())}")
    n = int(v.max()) + 1 if num_classes == -1 and v.size else num_classes
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 or (num_classes == -1 and not v.size):
        raise PygradValueError(f"one_hot: num_classes must be a non-negative int (or -1 with labels), got "
                               f"{num_classes!r}")
    if v.size and v.max() >= n:
        raise PygradValueError(f"one_hot: label {int(v.max())} is out of range for {n} classes")
    E = engine_of(t)
    return (t.reshape(tuple(t.shape) + (1,)) == E.arange(int(n))).long()


# ---------------------------------------------------------------- convolution ---


def _conv_ints(op: str, what: str, v: Any, n: int, low: int) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= low (PyTorch's _pair / _single)."""
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    if len(t) != n or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in t):
        raise PygradValueError(f"{op}: {what} must be an int or {n} ints, got {v!r}")
    if any(a < low for a in t):
        raise PygradValueError(f"{op}: {what} must be >= {low}, got {v!r}")
    return tuple(int(a) for a in t)


def _conv(op: str, nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: int) -> Any:
    """conv1d (nd = 1) and conv2d (nd = 2), both on the conv2d op: a 1-d convolution is a 2-d one over a
    height-1 view. Every argument is checked here, so both engines raise the same errors."""
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
        raise ShapeError(f"{op}: expected a {nd + 2}-d weight (out_channels, in_channels/groups, kernel...), got "
                         f"shape {w.shape}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) input, got shape "
                         f"{x.shape}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.reshape((1,) + tuple(x.shape))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise PygradValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
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
        raise ShapeError(f"{op}: expected a {nd + 2}-d weight (in_channels, out_channels/groups, kernel...), got "
                         f"shape {w.shape}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) input, got shape "
                         f"{x.shape}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.reshape((1,) + tuple(x.shape))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise PygradValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
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


def _pool_geometry(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                   ceil_mode: bool) -> tuple[Any, ...]:
    """PyTorch's pooling geometry: (k, s, p, d) pairs and the output's (OH, OW); checks them."""
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape {x.shape}")
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


def _pool_windows(x: Any, k: Any, s: Any, p: Any, d: Any, ohw: Any, fill: float) -> tuple[Any, np.ndarray, Any]:
    """x padded by p (and at the end as far as ceil_mode's last windows reach) with ``fill``, and the flat
    offsets into it of every window element: (N·C·OH·OW, KH·KW) int64."""
    n = int(np.prod(x.shape[:-2], dtype=np.int64))
    h, w = x.shape[-2:]
    ends = [max(pp, (o - 1) * ss + dd * (kk - 1) + 1 - nn - pp) for o, ss, dd, kk, nn, pp in zip(ohw, s, d, k,
                                                                                                  (h, w), p)]
    hp, wp = h + p[0] + ends[0], w + p[1] + ends[1]
    xp = pad(x.reshape((n, h, w)), (p[1], ends[1], p[0], ends[0]), value=fill)
    rows = (np.arange(ohw[0]) * s[0])[:, None] + np.arange(k[0]) * d[0]  # (OH, KH)
    cols = (np.arange(ohw[1]) * s[1])[:, None] + np.arange(k[1]) * d[1]  # (OW, KW)
    plane = (rows[:, None, :, None] * wp + cols[None, :, None, :]).reshape(ohw[0] * ohw[1], k[0] * k[1])
    off = (np.arange(n, dtype=np.int64) * (hp * wp))[:, None, None] + plane[None]
    return xp, off.reshape(-1, k[0] * k[1]), (hp, wp)


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-d max pooling, PyTorch's ``max_pool2d``: (N, C, H, W) or (C, H, W) → (..., OH, OW), the maximum of
    each window (padding counts as -inf; ``stride`` defaults to ``kernel_size``). The gradient goes to the
    window's maximum, the first one on ties (as PyTorch). With ``return_indices`` also the int64 flat
    index (in the H·W plane) of each maximum. Made of ops: the window maxima are found without recording,
    then the chosen elements are gathered (one getitem op: double backward is exact)."""
    x = _tensor("max_pool2d", input)
    k, s, p, d, ohw = _pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    E = engine_of(x)  # noqa: N806
    xp, off, (hp, wp) = _pool_windows(x, k, s, p, d, ohw, float("-inf"))
    with E.no_grad():
        first = xp.detach()._take_flat(off).argmax(-1).numpy()  # the first maximum of each window
    sel = np.take_along_axis(off, first.reshape(-1, 1), 1)[:, 0]
    shape = tuple(x.shape[:-2]) + ohw
    y = xp.reshape((-1,))._take_flat(sel).reshape(shape)
    if not return_indices:
        return y
    local = sel % (hp * wp)
    idx = (local // wp - p[0]) * x.shape[-1] + (local % wp - p[1])
    return y, E.tensor(idx.reshape(shape), dtype=E.int64)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Any:
    """2-d average pooling, PyTorch's ``avg_pool2d``: (N, C, H, W) or (C, H, W) → (..., OH, OW), each
    window's sum over its count: the window clipped to the padded input (``count_include_pad``) or to the
    input. Made of ops (pad, gather, sum, a constant scale): linear, so double backward is exact."""
    x = _tensor("avg_pool2d", input)
    k, s, p, d, ohw = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    E = engine_of(x)  # noqa: N806
    xp, off, _ = _pool_windows(x, k, s, p, d, ohw, 0.0)
    counts = []
    for o, ss, kk, nn, pp in zip(ohw, s, k, x.shape[-2:], p):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, nn + pp)
        counts.append(end - start if count_include_pad else np.minimum(end, nn) - np.maximum(start, 0))
    scale = 1.0 / (counts[0][:, None] * counts[1][None, :]).astype(np.float64)
    shape = tuple(x.shape[:-2]) + ohw
    win = xp.reshape((-1,))._take_flat(off.reshape(-1)).reshape(shape + (k[0] * k[1],))
    return win.sum(-1) * E.tensor(scale, dtype=x.dtype)


def accuracy(scores: Any, labels: Any) -> float:
    """The fraction of rows whose highest score is at the label (ties: the first maximum)."""
    s = scores.numpy() if is_tensor(scores) else np.asarray(scores)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ShapeError(f"accuracy: scores must be 2-d (N, C) with N > 0, got shape {s.shape}")
    y = np.asarray(labels.numpy() if is_tensor(labels) else labels).reshape(-1)
    if y.size != s.shape[0]:
        raise ShapeError(f"accuracy: scores of shape {s.shape} need {s.shape[0]} labels, got {y.size}")
    return float(np.mean(np.argmax(s, axis=1) == y))


__all__ = [
    "cross_entropy", "svm_loss", "multiclass_hinge_loss", "mse_loss", "binary_cross_entropy_with_logits",
    "l2_regularization", "l1_regularization", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "prelu", "maxout",
    "softmax", "log_softmax", "accuracy", "pad", "conv1d", "conv2d", "max_pool2d",
    "avg_pool2d", "conv_transpose1d", "conv_transpose2d",
]
