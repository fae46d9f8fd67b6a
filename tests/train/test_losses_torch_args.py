"""nll_loss, cross_entropy with weight / ignore_index / label_smoothing, binary_cross_entropy,
huber_loss, smooth_l1_loss, kl_div and their modules: values and gradients against PyTorch
(when installed) and against hand-computed numpy, on both engines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference
from pygrad.errors import ShapeError

ENGINES = {"c": pygrad, "reference": pygrad.reference}
rng = np.random.default_rng(0)
S = rng.standard_normal((6, 4))
Y = np.array([0, 3, 1, 3, 2, 0])
W = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def _np_logsoftmax(s: np.ndarray) -> np.ndarray:
    z = s - s.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_nll_and_cross_entropy_by_hand(m: Any) -> None:
    lp = _np_logsoftmax(S)
    keep = Y != 3
    nll = -lp[np.arange(6), Y] * W[Y] * keep
    want = nll.sum() / (W[Y] * keep).sum()
    F = m.nn.functional
    got = F.cross_entropy(m.tensor(S), m.tensor(Y), weight=m.tensor(W), ignore_index=3)
    assert got.item() == pytest.approx(want, rel=1e-12)
    got2 = F.nll_loss(m.tensor(lp), m.tensor(Y), weight=W, ignore_index=3, reduction="sum")
    assert got2.item() == pytest.approx(nll.sum(), rel=1e-12)
    eps = 0.2
    smooth = -(lp.sum(axis=1) * keep).sum() / keep.sum()
    plain = (-lp[np.arange(6), Y] * keep).sum() / keep.sum()
    got3 = F.cross_entropy(m.tensor(S), m.tensor(Y), ignore_index=3, label_smoothing=eps)
    assert got3.item() == pytest.approx((1 - eps) * plain + eps / 4 * smooth, rel=1e-12)
    assert F.cross_entropy(m.tensor(S), Y, "sum").item() == pytest.approx(-lp[np.arange(6), Y].sum(), rel=1e-12)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(m.tensor(S), Y, weight=m.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(m.tensor(S), Y, label_smoothing=1.5)


def test_regression_losses_by_hand(m: Any) -> None:
    F = m.nn.functional
    x, t = np.array([0.0, 0.5, -2.0, 3.0]), np.array([0.2, 0.5, 1.0, 0.0])
    d = x - t
    hub = np.where(np.abs(d) <= 1.5, 0.5 * d * d, 1.5 * (np.abs(d) - 0.75))
    assert F.huber_loss(m.tensor(x), m.tensor(t), delta=1.5).item() == pytest.approx(hub.mean())
    sl1 = np.where(np.abs(d) < 0.5, 0.5 * d * d / 0.5, np.abs(d) - 0.25)
    assert F.smooth_l1_loss(m.tensor(x), m.tensor(t), "sum", beta=0.5).item() == pytest.approx(sl1.sum())
    p = np.array([0.0, 0.3, 1.0, 0.9])
    with np.errstate(divide="ignore"):
        bce = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))
        assert F.binary_cross_entropy(m.tensor(p), m.tensor(t)).item() == pytest.approx(bce.mean())
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(m.tensor([1.5]), m.tensor([1.0]))
    lq = np.log(np.array([[0.2, 0.8], [0.5, 0.5]]))
    tt = np.array([[0.0, 1.0], [0.25, 0.75]])
    kl = np.where(tt > 0, tt * (np.log(np.where(tt > 0, tt, 1)) - lq), 0)
    assert F.kl_div(m.tensor(lq), m.tensor(tt), reduction="batchmean").item() == pytest.approx(kl.sum() / 2)
    assert F.kl_div(m.tensor(lq), m.tensor(np.log(tt + 1e-30)), "sum", log_target=True).item() == \
        pytest.approx(kl.sum(), rel=1e-6)


CASES = {
    "ce-weight-ignore-smooth": lambda F, s, y, w: F.cross_entropy(s, y, weight=w, ignore_index=3, label_smoothing=0.1),
    "ce-smooth-sum": lambda F, s, y, w: F.cross_entropy(s, y, reduction="sum", label_smoothing=0.3),
    "ce-weight-none": lambda F, s, y, w: F.cross_entropy(s, y, weight=w, reduction="none").sum(),
    "nll": lambda F, s, y, w: F.nll_loss(F.log_softmax(s, 1), y, weight=w),
    "bce": lambda F, s, y, w: F.binary_cross_entropy(s.sigmoid(), (s * 0.3).sigmoid().detach()),
    "huber": lambda F, s, y, w: F.huber_loss(s, s.detach() * 0.0 + 0.5, delta=0.7),
    "smooth_l1": lambda F, s, y, w: F.smooth_l1_loss(s, s.detach() * 0.0 - 0.2, beta=0.4),
    "kl": lambda F, s, y, w: F.kl_div(F.log_softmax(s, 1), F.softmax(s * 0.5, 1).detach(), reduction="batchmean"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_pytorch(case: str) -> None:
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    ts = torch.tensor(S, requires_grad=True)
    want = CASES[case](tf, ts, torch.tensor(Y), torch.tensor(W))
    want.backward()
    for mod in ENGINES.values():
        ps = mod.tensor(S, requires_grad=True)
        got = CASES[case](mod.nn.functional, ps, mod.tensor(Y), mod.tensor(W))
        got.backward()
        assert got.item() == pytest.approx(want.item(), rel=1e-10), case
        np.testing.assert_allclose(ps.grad.numpy(), ts.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_modules(m: Any) -> None:
    nn = m.nn
    s, y = m.tensor(S), m.tensor(Y)
    assert nn.CrossEntropyLoss(weight=m.tensor(W), label_smoothing=0.1)(s, y).item() == pytest.approx(
        m.nn.functional.cross_entropy(s, y, weight=m.tensor(W), label_smoothing=0.1).item())
    assert nn.CrossEntropyLoss("sum")(s, y).item() == pytest.approx(m.nn.functional.cross_entropy(s, y, "sum").item())
    assert nn.NLLLoss(ignore_index=0)(s.log_softmax(1), y).item() == pytest.approx(
        m.nn.functional.nll_loss(s.log_softmax(1), y, ignore_index=0).item())
    for mod, f in ((nn.HuberLoss(delta=2.0), lambda a, b: m.nn.functional.huber_loss(a, b, delta=2.0)),
                   (nn.SmoothL1Loss(beta=0.5), lambda a, b: m.nn.functional.smooth_l1_loss(a, b, beta=0.5)),
                   (nn.BCELoss(), m.nn.functional.binary_cross_entropy),
                   (nn.KLDivLoss("batchmean"), lambda a, b: m.nn.functional.kl_div(a, b, "batchmean"))):
        a, b = s.sigmoid(), (s * 0.5).sigmoid()
        assert mod(a, b).item() == pytest.approx(f(a, b).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_other_layouts_by_hand(m: Any, reduction: str) -> None:
    """(N, C, d) scores with (N, d) labels, unbatched (C,) scores with a 0-d label, and class
    probabilities: each the (N·d, C) case row by row, as PyTorch defines them."""
    F = m.nn.functional
    x = rng.standard_normal((2, 4, 3))  # N=2, C=4, d=3
    y = np.array([[0, 3, 1], [3, 2, 0]])
    rows, labels = x.transpose(0, 2, 1).reshape(-1, 4), y.reshape(-1)
    lp = _np_logsoftmax(rows)
    keep = labels != 3
    per = -lp[np.arange(6), labels] * W[labels] * keep
    want = {"mean": per.sum() / (W[labels] * keep).sum(), "sum": per.sum(), "none": per.reshape(2, 3)}[reduction]
    xt = m.tensor(x, requires_grad=True)
    got = F.cross_entropy(xt, m.tensor(y), weight=m.tensor(W), ignore_index=3, reduction=reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    got_nll = F.nll_loss(m.tensor(lp.reshape(2, 3, 4).transpose(0, 2, 1)), y, weight=W, ignore_index=3,
                         reduction=reduction)
    np.testing.assert_allclose(got_nll.numpy(), want, rtol=1e-12)
    # the gradient: softmax - onehot per kept row, scaled by its weight (and the mean's denominator)
    g = rng.standard_normal(np.shape(want))
    (got * m.tensor(g)).sum().backward()
    scale = (np.broadcast_to(g, (2, 3)).reshape(-1) if reduction == "none" else np.full(6, float(g))) * W[labels] * keep
    if reduction == "mean":
        scale = scale / (W[labels] * keep).sum()
    dr = (np.exp(lp) - np.eye(4)[labels]) * scale[:, None]
    np.testing.assert_allclose(xt.grad.numpy(), dr.reshape(2, 3, 4).transpose(0, 2, 1), rtol=1e-10, atol=1e-14)
    # unbatched
    u = F.cross_entropy(m.tensor(S[1]), np.array(3), reduction=reduction)
    assert u.shape == () and u.item() == pytest.approx(-_np_logsoftmax(S[1:2])[0, 3], rel=1e-12)
    # class probabilities with smoothing and weights: the mean divides by the number of rows
    p = rng.random((6, 4))
    p /= p.sum(axis=1, keepdims=True)
    ps = p * 0.9 + 0.1 / 4
    per = -(_np_logsoftmax(S) * ps * W).sum(axis=1)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    got = F.cross_entropy(m.tensor(S), m.tensor(p), weight=m.tensor(W), reduction=reduction, label_smoothing=0.1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"cross_entropy: scores of shape \(2, 4, 3\) need labels of shape \(2, 3\)"):
        F.cross_entropy(m.tensor(x), np.zeros((2, 4), dtype=np.int64))


def test_other_layouts_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    x = rng.standard_normal((3, 5, 2, 2))
    y = rng.integers(0, 5, (3, 2, 2))
    y[0, 0, 0] = -100
    p = rng.random((3, 5, 2, 2))
    w = rng.random(5) + 0.5
    for target, kw in ((y, {}), (y, {"weight": w, "label_smoothing": 0.2}), (p, {"weight": w, "label_smoothing": 0.3})):
        for red in ("mean", "sum", "none"):
            tk = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
            xt = torch.tensor(x, requires_grad=True)
            want = TF.cross_entropy(xt, torch.tensor(target), reduction=red, **tk)
            xp = pygrad.tensor(x, requires_grad=True)
            got = pygrad.nn.functional.cross_entropy(xp, pygrad.tensor(target), reduction=red, **kw)
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10)
            g = rng.standard_normal(tuple(want.shape))
            (want * torch.tensor(g)).sum().backward()
            (got * pygrad.tensor(g)).sum().backward()
            np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_default_ignore_index_labels_are_ignored(m: Any) -> None:
    """cross_entropy(x, y) with -100 among the labels (the default ignore_index): those rows count for
    nothing, as PyTorch's; another negative label is still out of range."""
    F = m.nn.functional
    y = np.array([0, -100, 1, -100, 2, 3])
    lp = _np_logsoftmax(S)
    keep = y != -100
    want = -lp[np.arange(6)[keep], y[keep]].mean()
    assert F.cross_entropy(m.tensor(S), m.tensor(y)).item() == pytest.approx(want, rel=1e-12)
    with pytest.raises(IndexError, match="label -1"):
        F.cross_entropy(m.tensor(S), m.tensor(np.array([0, -1, 1, 2, 2, 3])))


def _bce_logits_by_hand(x: np.ndarray, t: np.ndarray, w: Any, pw: Any) -> np.ndarray:
    ls_pos = -np.logaddexp(0.0, -x)  # log σ(x)
    ls_neg = -np.logaddexp(0.0, x)  # log σ(-x)
    p = 1.0 if pw is None else pw
    out = -(p * t * ls_pos + (1 - t) * ls_neg)
    return out * (1.0 if w is None else w)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weight_and_pos_weight(m: Any, reduction: str) -> None:
    """weight broadcasts to the input, pos_weight along its last (class) dimension; values against
    numpy by hand and against PyTorch, gradients against PyTorch."""
    x = rng.standard_normal((5, 3)) * 4
    t = rng.uniform(0, 1, (5, 3))
    w, pw = rng.uniform(0.5, 2, (5, 1)), np.array([1.0, 3.0, 0.25])
    F = m.nn.functional
    xt = m.tensor(x, requires_grad=True)
    got = F.binary_cross_entropy_with_logits(xt, m.tensor(t), weight=m.tensor(w), reduction=reduction,
                                             pos_weight=pw)
    want = _bce_logits_by_hand(x, t, w, pw)
    want = want.mean() if reduction == "mean" else want.sum() if reduction == "sum" else want
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    mod = m.nn.BCEWithLogitsLoss(weight=m.tensor(w), reduction=reduction, pos_weight=m.tensor(pw))
    np.testing.assert_allclose(mod(m.tensor(x), m.tensor(t)).numpy(), want, rtol=1e-12)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(t), weight=torch.tensor(w),
                                                              reduction=reduction, pos_weight=torch.tensor(pw))
    np.testing.assert_allclose(got.numpy(), tl.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tl.shape)
    (got * m.tensor(g)).sum().backward()
    (tl * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_bce_with_logits_arguments(m: Any) -> None:
    F = m.nn.functional
    x, t = m.tensor(rng.standard_normal((4, 3))), m.tensor(rng.uniform(0, 1, (4, 3)))
    # the older positional reduction still works
    assert F.binary_cross_entropy_with_logits(x, t, "sum").item() == pytest.approx(
        F.binary_cross_entropy_with_logits(x, t, reduction="sum").item(), rel=1e-15)
    assert m.nn.BCEWithLogitsLoss("sum").reduction == "sum"
    with pytest.raises(ShapeError, match=r"pos_weight of shape \(2,\) does not broadcast to the input's shape "
                                         r"\(4, 3\)"):
        F.binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(2))
    with pytest.raises(ShapeError, match=r"weight of shape \(4, 3, 2\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, t, weight=np.ones((4, 3, 2)))
    p = m.tensor(rng.uniform(0.05, 0.95, (4, 3)))
    w = rng.uniform(0.5, 2, (4, 3))
    np.testing.assert_allclose(m.nn.BCELoss(weight=m.tensor(w))(p, t).numpy(),
                               F.binary_cross_entropy(p, t, m.tensor(w)).numpy(), rtol=1e-15)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_loss_weight(m: Any, name: str, reduction: str) -> None:
    """PyTorch 2.13's weight of mse_loss, l1_loss and huber_loss: each element's loss times its
    weight, then the reduction ("mean": Σ wℓ / Σ w for mse and l1, the mean of wℓ for huber, as
    PyTorch); against the unweighted losses times the weights and against PyTorch, gradients
    included; a weight of another shape is refused."""
    F = m.nn.functional
    x, t = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3))
    w = rng.uniform(0, 2, (4, 3))
    xt = m.tensor(x, requires_grad=True)
    got = getattr(F, name)(xt, m.tensor(t), reduction=reduction, weight=m.tensor(w))
    per = getattr(F, name)(m.tensor(x), m.tensor(t), reduction="none").numpy() * w
    mean = per.mean() if name == "huber_loss" else per.sum() / w.sum()
    want = mean if reduction == "mean" else per.sum() if reduction == "sum" else per
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    with pytest.raises(ShapeError, match=rf"{name}: weight of shape \(3,\) must have the input's shape \(4, 3\)"):
        getattr(F, name)(xt, m.tensor(t), weight=np.ones(3))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tl = getattr(torch.nn.functional, name)(tx, torch.tensor(t), reduction=reduction, weight=torch.tensor(w))
    np.testing.assert_allclose(got.numpy(), tl.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tl.shape)
    (got * m.tensor(g)).sum().backward()
    (tl * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
