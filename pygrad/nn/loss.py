"""Loss modules: callable objects around :mod:`pygrad.nn.functional`'s losses.

    >>> criterion = nn.CrossEntropyLoss()
    >>> loss = criterion(model(X), y)        # 1/N Σᵢ -log softmax(sᵢ)[yᵢ]
"""

from __future__ import annotations

from typing import Any

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
    """Softmax cross-entropy of logits (N, C) and integer labels (N,): Lᵢ = log Σⱼ e^sⱼ - s_yᵢ."""

    def forward(self, logits: Any, labels: Any) -> Any:
        """The loss of logits (N, C) and labels (N,)."""
        return F.cross_entropy(logits, labels, self.reduction)


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
    """Binary cross-entropy of logits and targets in [0, 1]: -t log σ(x) - (1 - t) log σ(-x)."""

    def forward(self, logits: Any, target: Any) -> Any:
        """The loss of logits and targets of the same shape."""
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)


__all__ = ["CrossEntropyLoss", "SVMLoss", "MulticlassHingeLoss", "MSELoss", "BCEWithLogitsLoss"]
