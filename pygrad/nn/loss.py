"""Loss modules: callable objects around :mod:`pygrad.nn.functional`'s losses.

    >>> criterion = nn.CrossEntropyLoss()
    >>> loss = criterion(model(X), y)        # 1/N Σᵢ -log softmax(sᵢ)[yᵢ]
"""

from __future__ import annotations

from typing import Any

from pygrad.errors import PygradValueError

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) and integer labels (N,): Lᵢ = log Σⱼ e^sⱼ - s_yᵢ,
    with PyTorch's ``weight``, ``ignore_index`` and ``label_smoothing`` (class weights that require
    grad are refused while grad mode is on, as by PyTorch)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        if isinstance(weight, str):  # CrossEntropyLoss("sum"): the older signature
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, int(ignore_index), float(label_smoothing)

    def forward(self, logits: Any, labels: Any) -> Any:
        """The loss of logits (N, C) and labels (N,)."""
        return F.cross_entropy(logits, labels, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) and labels (N,), PyTorch's arguments (class
    weights that require grad are refused while grad mode is on, as by PyTorch)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, int(ignore_index)

    def forward(self, logp: Any, labels: Any) -> Any:
        return F.nll_loss(logp, labels, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities and targets in [0, 1], each element's loss times
    ``weight`` (broadcast to the input's shape) when given; a weight that requires grad is refused,
    as by PyTorch (the loss does not differentiate it)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, p: Any, target: Any) -> Any:
        return F.binary_cross_entropy(p, target, self.weight, reduction=self.reduction)


class HuberLoss(_Loss):
    """Huber loss: ½d² for |d| ≤ δ, else δ(|d| - ½δ)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, x: Any, target: Any) -> Any:
        return F.huber_loss(x, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """Smooth L1: ½d²/β for |d| < β, else |d| - ½β."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = float(beta)

    def forward(self, x: Any, target: Any) -> Any:
        return F.smooth_l1_loss(x, target, self.reduction, self.beta)


class KLDivLoss(Module):
    """KL divergence of log-probabilities and a target distribution (see ``functional.kl_div``)."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        self.reduction, self.log_target = reduction, bool(log_target)

    def forward(self, logp: Any, target: Any) -> Any:
        return F.kl_div(logp, target, self.reduction, self.log_target)


class SVMLoss(_Loss):
    """Multiclass SVM (hinge) loss of scores (N, C) and labels (N,): Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ - s_yᵢ + Δ)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"

    def forward(self, scores: Any, labels: Any) -> Any:
        """The loss of scores (N, C) and labels (N,)."""
        return F.svm_loss(scores, labels, self.margin, self.reduction)


MulticlassHingeLoss = SVMLoss


class MSELoss(_Loss):
    """Mean squared error (x - t)²."""

    def forward(self, input: Any, target: Any) -> Any:
        """The loss of an input and a target of the same shape."""
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits and targets in [0, 1]: -w [p·t log σ(x) + (1 - t) log σ(-x)],
    w = ``weight`` and p = ``pos_weight`` (one per class, along the last dimension), 1 when None
    (:func:`pygrad.nn.functional.binary_cross_entropy_with_logits`); either refused if it requires grad
    while grad mode is on, as by PyTorch."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        if isinstance(weight, str):  # BCEWithLogitsLoss("sum"): the older signature
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, logits: Any, target: Any) -> Any:
        """The loss of logits and targets of the same shape."""
        return F.binary_cross_entropy_with_logits(logits, target, self.weight, self.reduction, self.pos_weight)


__all__ = ["CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss", "BCEWithLogitsLoss", "NLLLoss", "BCELoss",
           "HuberLoss", "SmoothL1Loss", "KLDivLoss"]


class L1Loss(_Loss):
    """Mean absolute error |x - t|."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.l1_loss(input, target, self.reduction)


class _MarginLoss(_Loss):
    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MarginRankingLoss(_MarginLoss):
    """max(0, -y·(x1 - x2) + margin)."""

    def forward(self, input1: Any, input2: Any, target: Any) -> Any:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """x where y = 1, max(0, margin - x) where y = -1."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(margin, reduction)

    def forward(self, input: Any, target: Any) -> Any:
        return F.hinge_embedding_loss(input, target, self.margin, self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + e^{-y·x})."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.soft_margin_loss(input, target, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1."""

    def forward(self, input1: Any, input2: Any, target: Any) -> Any:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_MarginLoss):
    """max(0, d(a, p) - d(a, n) + margin), d the p-norm distance."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(margin, reduction)
        self.p, self.eps, self.swap = float(p), float(eps), bool(swap)

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Any:
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                     self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood: eˣ - t·x (``log_input``) or x - t·log(x + eps)."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average: Any = None, eps: float = 1e-8,
                 reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if size_average is not None or reduce is not None:
            raise PygradValueError("PoissonNLLLoss: size_average and reduce are deprecated; use reduction=")
        self.log_input, self.full, self.eps = bool(log_input), bool(full), float(eps)

    def forward(self, log_input: Any, target: Any) -> Any:
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood: ½(log v + (x - t)²/v), v = max(var, eps)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.full, self.eps = bool(full), float(eps)

    def forward(self, input: Any, target: Any, var: Any) -> Any:
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


__all__ += ["L1Loss", "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "CosineEmbeddingLoss",
            "TripletMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss"]


class MultiMarginLoss(_Loss):
    """PyTorch's multi-class margin loss: Σ_{j≠y} w_y·max(0, margin - x[y] + x[j])ᵖ / C."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if p not in (1, 2):
            raise PygradValueError(f"MultiMarginLoss: only p = 1 and p = 2 are supported, got {p!r}")
        self.p, self.margin, self.weight = p, float(margin), weight

    def forward(self, input: Any, target: Any) -> Any:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """-mean_c w_c (y log σ(x) + (1 - y) log σ(-x)) per sample."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Any, target: Any) -> Any:
        return F.multilabel_soft_margin_loss(input, target, self.weight, self.reduction)


__all__ += ["MultiMarginLoss", "MultiLabelSoftMarginLoss"]
