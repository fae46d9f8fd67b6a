"""Losses and regularisation of pygrad.nn.functional, on both engines, against numbers
worked out by hand (the notes' fruit table) or with independent numpy formulas."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import PygradError, ShapeError
from pygrad.nn import functional as F

ENGINES = [pytest.param(pg, id="c"), pytest.param(ref, id="reference")]


@pytest.fixture(params=ENGINES)
def m(request):
    return request.param


# ---------------------------------------------------------------------------
# the multiclass SVM loss: the notes' fruit table (seed 001)
# ---------------------------------------------------------------------------

# One row per example (the notes print them as columns), classes (apple, banana, pear).
FRUIT_SCORES = np.array([
    [1.87, 1.3, 0.56],   # an apple
    [-0.4, 1.1, 1.35],   # a banana
    [0.1, -0.3, 1.1],    # a pear
])
FRUIT_LABELS = np.array([0, 1, 2])
# Recomputed by hand, Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ - s_yᵢ + 1):
#   apple:  max(0, 1.3 - 1.87 + 1) + max(0, 0.56 - 1.87 + 1) = max(0, 0.43) + max(0, -0.31) = 0.43
#           (the notes print 0.33: 1.3 - 1.87 + 1 is 0.43)
#   banana: max(0, -0.4 - 1.1 + 1) + max(0, 1.35 - 1.1 + 1) = max(0, -0.5) + max(0, 1.25) = 1.25
#           (the notes print max(0, -0.4) for the first term; it is -0.5, and the loss 1.25 stands)
#   pear:   max(0, 0.1 - 1.1 + 1) + max(0, -0.3 - 1.1 + 1) = max(0, 0) + max(0, -0.4) = 0
FRUIT_LOSSES = [0.43, 1.25, 0.0]


def test_fruit_table_per_example_losses(m) -> None:
    s = m.tensor(FRUIT_SCORES)
    per = F.svm_loss(s, FRUIT_LABELS, reduction="none")
    np.testing.assert_allclose(per.numpy(), FRUIT_LOSSES, rtol=1e-12, atol=1e-15)
    # L = 1/N Σ Lᵢ = (0.43 + 1.25 + 0) / 3 = 0.56
    assert F.svm_loss(s, FRUIT_LABELS).item() == pytest.approx(0.56, rel=1e-12)
    assert F.svm_loss(s, FRUIT_LABELS, reduction="sum").item() == pytest.approx(1.68, rel=1e-12)
    assert m.nn.SVMLoss()(s, FRUIT_LABELS).item() == pytest.approx(0.56, rel=1e-12)


def test_fruit_table_doubled_scores_keep_the_pear_at_zero(m) -> None:
    # doubling the weights doubles the pear's scores: max(0, 0.2 - 2.2 + 1) + max(0, -0.6 - 2.2 + 1)
    # = max(0, -1) + max(0, -1.8) = 0 (the notes print -2 for the first margin: it is -1)
    s = m.tensor(2 * FRUIT_SCORES[2:])
    assert F.svm_loss(s, [2], reduction="none").numpy().tolist() == [0.0]


def test_fruit_table_gradient(m) -> None:
    s = m.tensor(FRUIT_SCORES, requires_grad=True)
    F.svm_loss(s, FRUIT_LABELS).backward()
    # ∂Lᵢ/∂sⱼ = [margin > 0] for j ≠ yᵢ, minus their count at yᵢ; over N = 3 for the mean.
    # apple: only banana's margin is positive; banana: only pear's; pear: its apple margin is
    # exactly 0 (the kink: ReLU'(0) = 0) and its banana margin negative, so no gradient.
    expect = np.array([[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]]) / 3
    np.testing.assert_allclose(s.grad.numpy(), expect, rtol=1e-15)


def test_svm_loss_margin_and_gradient_against_numpy(m, rng) -> None:
    s = rng.standard_normal((6, 4)) * 2
    y = rng.integers(0, 4, 6)
    delta = 0.5
    margins = s - s[np.arange(6), y][:, None] + delta
    margins[np.arange(6), y] = 0
    active = (margins > 0).astype(float)
    expect = np.maximum(margins, 0).sum(1)
    grad = active.copy()
    grad[np.arange(6), y] = -active.sum(1)
    st = m.tensor(s, requires_grad=True)
    out = F.svm_loss(st, y, margin=delta, reduction="none")
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-13)
    out.sum().backward()
    np.testing.assert_allclose(st.grad.numpy(), grad, rtol=1e-15)


# ---------------------------------------------------------------------------
# softmax cross-entropy
# ---------------------------------------------------------------------------


def _np_cross_entropy(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example losses -log(e^{s_y} / Σ e^{s}) and the gradient of their sum."""
    shifted = s - s.max(1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    losses = -np.log(p[np.arange(len(y)), y])
    grad = p.copy()
    grad[np.arange(len(y)), y] -= 1
    return losses, grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_against_numpy(m, rng, reduction: str) -> None:
    s = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    losses, grad = _np_cross_entropy(s, y)
    st = m.tensor(s, requires_grad=True)
    out = F.cross_entropy(st, y, reduction=reduction)
    scale = {"mean": 1 / 7, "sum": 1.0, "none": 1.0}[reduction]
    expect = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-13)
    out.sum().backward()
    np.testing.assert_allclose(st.grad.numpy(), grad * scale, rtol=1e-12, atol=1e-15)
    assert m.nn.CrossEntropyLoss(reduction=reduction)(st, y).numpy() == pytest.approx(expect, rel=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_many_rows_on_any_thread_count(rng, reduction: str, dtype: str) -> None:
    """Enough rows for the C kernels to split them over threads: numpy's values, and the
    same bits on one thread and on two."""
    s = rng.standard_normal((3001, 37)) * 3
    y = rng.integers(0, 37, 3001)
    losses, grad = _np_cross_entropy(s, y)
    scale = {"mean": 1 / 3001, "sum": 1.0, "none": 1.0}[reduction]
    expect = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    tol = 1e-12 if dtype == "float64" else 2e-5
    threads = pg.get_num_threads()
    got = []
    try:
        for nthr in (1, 2):
            pg.set_num_threads(nthr)
            st = pg.tensor(s, dtype=dtype, requires_grad=True)
            out = F.cross_entropy(st, y, reduction=reduction)
            (out * pg.tensor(np.ones(out.shape), dtype=dtype)).sum().backward()
            got.append((out.numpy().copy(), st.grad.numpy().copy()))
    finally:
        pg.set_num_threads(threads)
    np.testing.assert_allclose(got[0][0], expect, rtol=tol)
    np.testing.assert_allclose(got[0][1], grad * scale, rtol=tol, atol=tol * scale)
    for a, b in zip(got[0], got[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_finite_for_huge_logits(m, dtype: str) -> None:
    s = m.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype, requires_grad=True)
    out = F.cross_entropy(s, [1, 2])
    # row 0: log(1 + e^{-2e4} + e^{-1e4}) - (-1e4 - 1e4) = 2e4;  row 1: log(e^{-2e4} + 1 + 1) - 0 = log 2
    assert out.item() == pytest.approx((2e4 + math.log(2)) / 2, rel=1e-7 if dtype == "float32" else 1e-15)
    out.backward()
    # (softmax - onehot) / N: row 0 softmax (1, 0, 0), row 1 (0, ½, ½)
    np.testing.assert_allclose(s.grad.numpy(), np.array([[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]]) / 2, atol=1e-7)
    assert np.all(np.isfinite(s.grad.numpy()))


def test_cross_entropy_equals_the_composed_log_softmax(m, rng) -> None:
    s = m.tensor(rng.standard_normal((4, 3)))
    y = np.array([2, 0, 1, 1])
    composed = -s.log_softmax(axis=1)[np.arange(4), y].mean()
    assert F.cross_entropy(s, y).item() == pytest.approx(composed.item(), rel=1e-14)


def test_cross_entropy_equals_torch(rng) -> None:
    torch = pytest.importorskip("torch")
    s = rng.standard_normal((5, 4)) * 10
    y = rng.integers(0, 4, 5)
    ts = torch.tensor(s, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(ts, torch.tensor(y))
    tl.backward()
    ps = pg.tensor(s, requires_grad=True)
    pl = F.cross_entropy(ps, y)
    pl.backward()
    assert pl.item() == pytest.approx(tl.item(), rel=1e-13)
    np.testing.assert_allclose(ps.grad.numpy(), ts.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# MSE and binary cross-entropy with logits
# ---------------------------------------------------------------------------


def test_mse_loss(m, rng) -> None:
    x, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    xt = m.tensor(x, requires_grad=True)
    out = F.mse_loss(xt, t)  # a numpy target is converted to the input's dtype
    assert out.item() == pytest.approx(np.mean((x - t) ** 2), rel=1e-14)
    out.backward()
    np.testing.assert_allclose(xt.grad.numpy(), 2 * (x - t) / 6, rtol=1e-14)
    np.testing.assert_allclose(m.nn.MSELoss(reduction="none")(xt, m.tensor(t)).numpy(), (x - t) ** 2, rtol=1e-14)


def _np_bce(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """max(x, 0) - x t + log(1 + e^{-|x|}): the usual stable form."""
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def test_bce_with_logits(m, rng) -> None:
    x = np.concatenate([rng.standard_normal(6) * 4, [0.0, 40.0, -40.0, 1e4, -1e4]])
    t = np.concatenate([rng.uniform(0, 1, 6), [1.0, 0.0, 1.0, 0.0, 1.0]])
    xt = m.tensor(x, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(xt, t, reduction="none")
    np.testing.assert_allclose(out.numpy(), _np_bce(x, t), rtol=1e-12, atol=1e-15)
    out.sum().backward()
    sig = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    np.testing.assert_allclose(xt.grad.numpy(), sig - t, rtol=1e-12, atol=1e-15)  # σ(x) - t, also at x = 0
    assert xt.grad.numpy()[6] == pytest.approx(0.5 - 1.0)
    mean = m.nn.BCEWithLogitsLoss()(m.tensor(x), m.tensor(t)).item()
    assert mean == pytest.approx(_np_bce(x, t).mean(), rel=1e-12)


def test_bce_with_logits_equals_torch(rng) -> None:
    torch = pytest.importorskip("torch")
    x, t = rng.standard_normal((4, 3)) * 5, rng.uniform(0, 1, (4, 3))
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(t))
    tl.backward()
    px = pg.tensor(x, requires_grad=True)
    pl = F.binary_cross_entropy_with_logits(px, t)
    pl.backward()
    assert pl.item() == pytest.approx(tl.item(), rel=1e-13)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-16)


# ---------------------------------------------------------------------------
# loss weights that require grad: refused while grad mode is on, as PyTorch 2.13
# ---------------------------------------------------------------------------

WX = np.linspace(-1.5, 2.0, 12).reshape(4, 3)  # scores or logits (4, 3)
WX4 = np.linspace(-2.0, 1.0, 24).reshape(2, 3, 2, 2)  # scores (N, C, d1, d2)
WY, WY4 = np.array([0, 2, 1, 2]), np.array([[[0, 1], [2, 2]], [[1, 0], [0, 2]]])
WT = np.linspace(0.1, 0.9, 12).reshape(4, 3)  # binary targets
WEIGHTS = {(3,): np.array([0.5, 2.0, 1.25]), (4, 3): np.linspace(0.25, 3.0, 12).reshape(4, 3)}


def _weighted(ns, x, y, x4, y4, t, w):
    """The calls taking a weight, each one ``lambda`` of the namespace (pygrad, pygrad.reference or torch,
    all spelled alike), its inputs and the weight."""
    F = ns.nn.functional  # noqa: N806
    return {
        "cross_entropy": lambda: F.cross_entropy(x, y, w),
        "cross_entropy-smoothing-none": lambda: F.cross_entropy(x, y, w, label_smoothing=0.1, reduction="none"),
        "cross_entropy-ignore-sum": lambda: F.cross_entropy(x, y, w, ignore_index=1, reduction="sum"),
        "cross_entropy-unbatched": lambda: F.cross_entropy(x[1], y[1], w),
        "cross_entropy-nd": lambda: F.cross_entropy(x4, y4, w, label_smoothing=0.2),
        "CrossEntropyLoss": lambda: ns.nn.CrossEntropyLoss(weight=w, label_smoothing=0.05)(x, y),
        "nll_loss": lambda: F.nll_loss(x.log_softmax(1), y, w),
        "nll_loss-nd": lambda: F.nll_loss(x4.log_softmax(1), y4, w, reduction="none"),
        "NLLLoss": lambda: ns.nn.NLLLoss(weight=w, reduction="sum")(x.log_softmax(1), y),
        "bce_with_logits-weight": lambda: F.binary_cross_entropy_with_logits(x, t, w),
        "bce_with_logits-pos_weight": lambda: F.binary_cross_entropy_with_logits(x, t, pos_weight=w),
        "bce_with_logits-both": lambda: F.binary_cross_entropy_with_logits(x, t, w, reduction="none", pos_weight=w),
        "BCEWithLogitsLoss": lambda: ns.nn.BCEWithLogitsLoss(reduction="sum", pos_weight=w)(x, t),
        "multi_margin_loss": lambda: F.multi_margin_loss(x, y, weight=w),
        "MultiMarginLoss": lambda: ns.nn.MultiMarginLoss(p=2, margin=0.5, weight=w, reduction="none")(x, y),
    }


# name: (the op our message names, the function and argument PyTorch's names, the weight's shape)
WEIGHT_CASES = {
    "cross_entropy": ("cross_entropy", "nll_loss_forward", "weight", (3,)),
    "cross_entropy-smoothing-none": ("cross_entropy", "nll_loss_forward", "weight", (3,)),
    "cross_entropy-ignore-sum": ("cross_entropy", "nll_loss_forward", "weight", (3,)),
    "cross_entropy-unbatched": ("cross_entropy", "nll_loss_forward", "weight", (3,)),
    "cross_entropy-nd": ("cross_entropy", "nll_loss2d_forward", "weight", (3,)),
    "CrossEntropyLoss": ("cross_entropy", "nll_loss_forward", "weight", (3,)),
    "nll_loss": ("nll_loss", "nll_loss_forward", "weight", (3,)),
    "nll_loss-nd": ("nll_loss", "nll_loss2d_forward", "weight", (3,)),
    "NLLLoss": ("nll_loss", "nll_loss_forward", "weight", (3,)),
    "bce_with_logits-weight": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", "weight",
                               (4, 3)),
    "bce_with_logits-pos_weight": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
                                   "pos_weight", (3,)),
    "bce_with_logits-both": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", "weight",
                             (3,)),
    "BCEWithLogitsLoss": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", "pos_weight",
                          (3,)),
    "multi_margin_loss": ("multi_margin_loss", "multi_margin_loss", "weight", (3,)),
    "MultiMarginLoss": ("multi_margin_loss", "multi_margin_loss", "weight", (3,)),
}


def _weight_inputs(ns):
    """x (requires grad), the (N, C, d1, d2) scores, their labels and the binary targets, as ns's tensors."""
    return (ns.tensor(WX, requires_grad=True), ns.tensor(WY), ns.tensor(WX4, requires_grad=True), ns.tensor(WY4),
            ns.tensor(WT))


def _refusal(case: str) -> str:
    op, function, argument, shape = WEIGHT_CASES[case]
    shown = f"({shape[0]},)" if len(shape) == 1 else str(shape)
    return (rf"{op}: the function '{function}' is not differentiable with respect to argument '{argument}' "
            rf"\(of shape {re.escape(shown)}\)\. This input cannot have requires_grad True; pass "
            rf"{argument}\.detach\(\)")


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_loss_weight_that_requires_grad_is_refused(m, case: str) -> None:
    """As PyTorch 2.13: a class (or element) weight that requires grad is refused at the call while grad
    mode is on, in every layout and by the modules alike, with PyTorch's sentences, the weight's shape and
    the fix; under no_grad and inference mode it is a constant (the values of its detached twin)."""
    x, y, x4, y4, t = _weight_inputs(m)
    w = m.tensor(WEIGHTS[WEIGHT_CASES[case][3]], requires_grad=True)
    call = _weighted(m, x, y, x4, y4, t, w)[case]
    with pytest.raises(RuntimeError, match=_refusal(case)) as err:
        call()
    assert isinstance(err.value, PygradError)
    assert x.grad is None and x4.grad is None and w.grad is None
    want = _weighted(m, x, y, x4, y4, t, w.detach())[case]()
    assert want.requires_grad  # x's gradient still flows where the weight is constant
    for mode in (m.no_grad, m.inference_mode):
        with mode():
            got = call()
        assert not got.requires_grad and got.grad_fn is None
        np.testing.assert_array_equal(got.numpy(), want.detach().numpy())


def test_nll_loss_op_refuses_a_weight_that_requires_grad(m) -> None:
    """The op itself (which F.nll_loss and F.cross_entropy apply) refuses as the functions do."""
    x, y = m.tensor(WX, requires_grad=True), m.tensor(WY)
    w = m.tensor(WEIGHTS[(3,)], requires_grad=True)
    with pytest.raises(RuntimeError, match=_refusal("nll_loss")):
        x._nll_loss(y, w)
    with m.no_grad():
        got = x._nll_loss(y, w, reduction="sum")
    np.testing.assert_array_equal(got.numpy(), x._nll_loss(y, w.detach(), reduction="sum").detach().numpy())


@pytest.mark.parametrize("case", ["cross_entropy", "nll_loss", "bce_with_logits-pos_weight", "multi_margin_loss"])
def test_refusal_comes_before_the_weights_shape(m, case: str) -> None:
    """A weight that requires grad and has the wrong shape is refused for requiring grad, as PyTorch
    checks first; without grad it is the ShapeError it was."""
    x, y, x4, y4, t = _weight_inputs(m)
    w = m.tensor(np.ones(5), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"is not differentiable with respect to argument '\w+' \(of shape "
                                           r"\(5,\)\)"):
        _weighted(m, x, y, x4, y4, t, w)[case]()
    with pytest.raises(ShapeError, match=r"\(5,\)"):
        _weighted(m, x, y, x4, y4, t, w.detach())[case]()


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_loss_weight_refusal_is_pytorchs(case: str) -> None:
    """PyTorch 2.13 refuses each call with the function and argument our message names, in the sentences
    ours carries; under no_grad both take the weight, with the same values."""
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    for ns, out in ((pg, ours), (torch, theirs)):
        x, y, x4, y4, t = _weight_inputs(ns)
        call = _weighted(ns, x, y, x4, y4, t, ns.tensor(WEIGHTS[WEIGHT_CASES[case][3]], requires_grad=True))[case]
        with pytest.raises(RuntimeError) as err:
            call()
        with ns.no_grad():
            out.extend((str(err.value), call().numpy()))
    _, function, argument, _ = WEIGHT_CASES[case]
    assert theirs[0] == (f"The function '{function}' is not differentiable with respect to argument '{argument}'. "
                         "This input cannot have requires_grad True.")
    for sentence in (f"the function '{function}' is not differentiable with respect to argument '{argument}'",
                     "This input cannot have requires_grad True"):
        assert sentence in ours[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# regularisation λR(W)
# ---------------------------------------------------------------------------


def test_l2_and_l1_regularization(m, rng) -> None:
    W1, W2 = rng.standard_normal((3, 2)), rng.standard_normal(4)
    a, b = m.tensor(W1, requires_grad=True), m.tensor(W2, requires_grad=True)
    lam = 0.3
    r2 = F.l2_regularization([a, b], lam)
    assert r2.item() == pytest.approx(lam * (np.sum(W1 ** 2) + np.sum(W2 ** 2)), rel=1e-14)
    r2.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * lam * W1, rtol=1e-14)
    a.grad = None
    r1 = F.l1_regularization(a, lam)
    assert r1.item() == pytest.approx(lam * np.abs(W1).sum(), rel=1e-14)
    r1.backward()
    np.testing.assert_allclose(a.grad.numpy(), lam * np.sign(W1), rtol=1e-15)


def test_full_notes_loss_with_regularisation(m) -> None:
    """L(W) = 1/N Σᵢ Lᵢ + λR(W) for a linear classifier s = x W on the fruit table's scores."""
    W = m.tensor(np.eye(3), requires_grad=True)  # scores = x W = x: the fruit table itself
    x = m.tensor(FRUIT_SCORES)
    loss = F.svm_loss(x @ W, FRUIT_LABELS) + F.l2_regularization([W], 0.1)
    assert loss.item() == pytest.approx(0.56 + 0.1 * 3, rel=1e-12)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "exc", "pattern"), [
    (lambda m: F.svm_loss(m.ones(2, 3), [0, 3]), IndexError, r"svm_loss: label 3 at position 1 .* 3 classes"),
    (lambda m: F.svm_loss(m.ones(2, 3), [0]), ValueError, r"svm_loss: scores of shape \(2, 3\) need 2 labels"),
    (lambda m: F.svm_loss(m.ones(3), [0]), ValueError, r"svm_loss: scores must be 2-d .* \(3,\)"),
    (lambda m: F.svm_loss(m.zeros(0, 3), []), ValueError, r"svm_loss: empty batch: scores of shape \(0, 3\)"),
    (lambda m: F.svm_loss(m.ones(2, 3), [0.5, 1]), TypeError, r"svm_loss: labels must be whole numbers"),
    (lambda m: F.svm_loss(m.ones(2, 3), [0, 1], reduction="avg"), ValueError, r"svm_loss: reduction"),
    (lambda m: F.cross_entropy(m.ones(2, 3), [0, 5]), IndexError, r"cross_entropy: label 5"),
    (lambda m: F.cross_entropy(np.ones((2, 3)), [0, 1]), TypeError, r"cross_entropy: expected a pygrad Tensor"),
    (lambda m: F.cross_entropy(m.zeros(0, 3), []), ValueError, r"cross_entropy: empty batch"),
    (lambda m: F.mse_loss(m.ones(3), m.ones(3, 1)), ValueError, r"mse_loss: input of shape \(3,\) and target of "
                                                               r"shape \(3, 1\) differ"),
    (lambda m: F.mse_loss(m.zeros(0), m.zeros(0)), ValueError, r"mse_loss: empty batch"),
    (lambda m: F.binary_cross_entropy_with_logits(m.ones(2), [1.0]), ValueError,
     r"binary_cross_entropy_with_logits: input of shape \(2,\) and target of shape \(1,\)"),
    (lambda m: F.l2_regularization([], 0.1), ValueError, r"l2_regularization: expected one or more tensors"),
    (lambda m: F.l1_regularization([m.ones(2)], -1.0), ValueError, r"l1_regularization: the strength"),
    (lambda m: m.nn.CrossEntropyLoss(reduction="avg"), ValueError, r"CrossEntropyLoss: reduction"),
])
def test_bad_loss_input(m, call, exc, pattern: str) -> None:
    with pytest.raises(exc, match=pattern) as info:
        call(m)
    assert isinstance(info.value, PygradError)


def test_mixing_engines_in_a_loss_is_refused() -> None:
    with pytest.raises(TypeError, match="different engines"):
        F.mse_loss(pg.ones(2), ref.ones(2))


def test_accuracy() -> None:
    s = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert F.accuracy(pg.tensor(s), [1, 0, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ShapeError, match="accuracy"):
        F.accuracy(s, [1, 0])
