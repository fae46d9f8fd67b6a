"""The one_hot and binary_cross_entropy ops on both engines: against values worked out by hand,
finite differences (pygrad.gradcheck, float64) and PyTorch (when installed); their inputs checked at
every call (labels in [0, C), probabilities in [0, 1]), with messages naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck
from pygrad.nn import functional as F  # noqa: N812 - the name users know

ENGINES = [pytest.param(pg, id="c"), pytest.param(ref, id="reference")]


@pytest.fixture(params=ENGINES)
def m(request):
    return request.param


# ---------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_one_hot_rows_by_hand(m, dtype) -> None:
    y = m.tensor([[2, 0], [1, 2], [0, 0]], dtype=dtype)
    oh = F.one_hot(y, 4)
    assert oh.dtype == m.int64 and oh.shape == (3, 2, 4)
    assert oh.tolist() == [[[0, 0, 1, 0], [1, 0, 0, 0]], [[0, 1, 0, 0], [0, 0, 1, 0]],
                           [[1, 0, 0, 0], [1, 0, 0, 0]]]
    assert not oh.requires_grad and oh.grad_fn is None
    # a 0-d label gives one row; num_classes=-1 is one more than the largest label
    assert F.one_hot(m.tensor(1, dtype=dtype), 3).tolist() == [0, 1, 0]
    assert F.one_hot(y).shape == (3, 2, 3)
    assert F.one_hot(y, np.int64(3)).tolist() == F.one_hot(y).tolist()


def test_one_hot_empty_labels(m) -> None:
    e = F.one_hot(m.zeros(0, 2, dtype="int64"), 3)
    assert e.shape == (0, 2, 3) and e.dtype == m.int64
    assert F.one_hot(m.zeros(0, dtype="int64"), 0).shape == (0, 0)
    with pytest.raises(PygradValueError, match=r"one_hot: num_classes must be a non-negative int \(or -1 with "
                                               r"labels\), got -1"):
        F.one_hot(m.zeros(0, dtype="int64"))


def test_one_hot_label_out_of_range_names_it(m) -> None:
    with pytest.raises(ValueError, match=r"one_hot: label 4 at position 3 is out of range for 4 classes "
                                         r"\(labels of shape \(2, 2\)\)"):
        F.one_hot(m.tensor([[0, 1], [3, 4]]), 4)
    with pytest.raises(ValueError, match="one_hot: label -1 at position 0 is out of range for 2 classes"):
        F.one_hot(m.tensor([-1, 1], dtype="int32"), 2)
    # num_classes=-1 with a negative label: the largest is then the count less one
    with pytest.raises(ValueError, match="one_hot: label -3 at position 0 is out of range for 2 classes"):
        F.one_hot(m.tensor([-3, 1]))


def test_one_hot_as_a_float_mask_is_differentiable_through_the_product(m) -> None:
    x = m.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = m.tensor([3, 0, 2])
    picked = (x * F.one_hot(y, 4).astype(x.dtype)).sum(1)
    np.testing.assert_array_equal(picked.numpy(), [3.0, 4.0, 10.0])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(4)[[3, 0, 2]])


@pytest.mark.parametrize("shape,classes", [((5,), 3), ((2, 3), 4), ((), 2), ((0, 4), 6), ((2, 1, 3), 1)])
def test_one_hot_against_pytorch(m, shape, classes) -> None:
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(len(shape) + classes).integers(0, classes, size=shape)
    want = torch.nn.functional.one_hot(torch.tensor(y), classes).numpy()
    got = F.one_hot(m.tensor(y), classes)
    assert got.numpy().dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    if y.size:  # num_classes=-1 as PyTorch infers it
        np.testing.assert_array_equal(F.one_hot(m.tensor(y)).numpy(), torch.nn.functional.one_hot(torch.tensor(y))
                                      .numpy())


# ---------------------------------------------------------------------------
# binary_cross_entropy
# ---------------------------------------------------------------------------

L2, L3, L4 = np.log(2.0), np.log(3.0), np.log(4.0)
P22 = np.array([[0.25, 0.5], [1.0, 0.0]])  # p = 1 and p = 0: the clamps at -100
T22 = np.array([[1.0, 0.5], [0.0, 0.0]])
W2 = np.array([1.0, 3.0])  # broadcast along the rows
# l = w ((t - 1) max(log(1 - p), -100) - t max(log p, -100)), by hand
LOSS22 = np.array([[L4, 3.0 * L2], [100.0, 0.0]])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_bce_by_hand(m, reduction) -> None:
    p = m.tensor(P22, requires_grad=True)
    t = m.tensor(T22, requires_grad=True)
    w = m.tensor(W2)
    loss = F.binary_cross_entropy(p, t, w, reduction=reduction)
    assert loss.grad_fn.name == "binary_cross_entropy"
    want = {"none": LOSS22, "sum": LOSS22.sum(), "mean": LOSS22.mean()}[reduction]
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-15)
    g = np.array([[1.0, -2.0], [0.5, 3.0]]) if reduction == "none" else np.array(1.0)
    loss.backward(m.tensor(g))
    c = g / 4.0 if reduction == "mean" else g * np.ones((2, 2))
    # dp = g (p - t) / max((1 - p) p, 1e-12) w: -0.75 / 0.1875 = -4 at p = 0.25, 1 / 1e-12 at p = 1
    np.testing.assert_allclose(p.grad.numpy(), c * np.array([[-4.0, 0.0], [1e12, 0.0]]) * W2, rtol=1e-15)
    # dt = -logit(p) g w, unclamped: inf at p = 0, -inf at p = 1
    np.testing.assert_allclose(t.grad.numpy(), c * np.array([[L3, 0.0], [-np.inf, np.inf]]) * W2, rtol=1e-15)
    assert w.grad is None


def test_bce_float32_stays_float32(m) -> None:
    p = m.tensor(P22, dtype="float32", requires_grad=True)
    loss = F.binary_cross_entropy(p, m.tensor(T22, dtype="float32"), reduction="sum")
    assert loss.dtype == m.float32
    np.testing.assert_allclose(loss.item(), L4 + L2 + 100.0, rtol=1e-6)
    loss.backward()
    assert p.grad.dtype == m.float32
    np.testing.assert_allclose(p.grad.numpy(), [[-4.0, 0.0], [np.float32(1) / np.float32(1e-12), 0.0]], rtol=1e-6)


@pytest.mark.parametrize("wshape", [None, (), (4,), (3, 1), (3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_gradcheck_float64(m, wshape, reduction) -> None:
    rng = np.random.default_rng(len(wshape or ()) * 3 + len(reduction))
    p = m.tensor(rng.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    t = m.tensor(rng.uniform(0.0, 1.0, (3, 4)), requires_grad=True)
    w = None if wshape is None else m.tensor(rng.uniform(0.5, 2.0, wshape))  # a constant, as PyTorch's
    v = m.tensor(rng.standard_normal((3, 4) if reduction == "none" else ()))

    def f(*xs):
        return (F.binary_cross_entropy(*xs, w, reduction=reduction) * v).sum()

    gradcheck(f, [p, t], atol=1e-7, rtol=1e-6)
    gradgradcheck(lambda *xs: F.binary_cross_entropy(*xs, w, reduction=reduction), [p, t], atol=1e-6, rtol=1e-5)


_NOT_DIFFERENTIABLE = (r"binary_cross_entropy: the function 'binary_cross_entropy' is not differentiable with respect "
                       r"to argument 'weight' \(of shape \(2,\)\)\. This input cannot have requires_grad True; pass "
                       r"weight\.detach\(\)")


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_bce_refuses_a_weight_that_requires_grad(m, reduction) -> None:
    """As PyTorch 2.13: a weight that requires grad is refused at the call while grad mode is on (whether
    or not the input requires grad; F, nn.BCELoss and the op alike), and taken under no_grad."""
    p, t = m.tensor(P22, requires_grad=True), m.tensor(T22)
    w = m.tensor(W2, requires_grad=True)
    for call in (lambda: F.binary_cross_entropy(p, t, w, reduction=reduction),
                 lambda: F.binary_cross_entropy(p.detach(), t, w, reduction=reduction),
                 lambda: F.binary_cross_entropy(p.float(), t.float(), w, reduction=reduction),  # w cast first
                 lambda: m.nn.BCELoss(weight=w, reduction=reduction)(p, t),
                 lambda: p._binary_cross_entropy(t, w, reduction)):
        with pytest.raises(RuntimeError, match=_NOT_DIFFERENTIABLE):
            call()
    assert p.grad is None and w.grad is None
    with m.no_grad():
        got = F.binary_cross_entropy(p, t, w, reduction=reduction)
    want = F.binary_cross_entropy(p, t, w.detach(), reduction=reduction)
    np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
    assert got.grad_fn is None


def test_bce_weight_refusal_is_pytorchs() -> None:
    torch = pytest.importorskip("torch")
    w = torch.tensor(W2, requires_grad=True)
    with pytest.raises(RuntimeError) as want:
        torch.nn.functional.binary_cross_entropy(torch.tensor(P22), torch.tensor(T22), w)
    with pytest.raises(RuntimeError) as got:
        F.binary_cross_entropy(pg.tensor(P22), pg.tensor(T22), pg.tensor(W2, requires_grad=True))
    # PyTorch's sentences, each found in ours
    for sentence in ("is not differentiable with respect to argument 'weight'",
                     "This input cannot have requires_grad True"):
        assert sentence in str(want.value) and sentence in str(got.value)


def test_bce_empty(m) -> None:
    """The op on an empty input: an empty result, 0 for the sum, NaN for the mean (PyTorch's values); the
    functional refuses an empty batch as the other losses do."""
    e = m.zeros(0, 3, dtype="float64", requires_grad=True)
    assert e._binary_cross_entropy(e.detach(), None, "none").shape == (0, 3)
    s = e._binary_cross_entropy(e.detach(), None, "sum")
    assert s.item() == 0.0
    s.backward()
    assert e.grad.shape == (0, 3)
    assert np.isnan(e._binary_cross_entropy(e.detach(), None, "mean").item())
    with pytest.raises(PygradValueError, match="binary_cross_entropy: empty batch"):
        F.binary_cross_entropy(e, e.detach())


def test_bce_refuses_probabilities_outside_unit_interval(m) -> None:
    for bad, shown in ((1.0 + 1e-7, "1"), (-1e-300, "-1e-300"), (float("nan"), "nan"), (float("inf"), "inf")):
        with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\]; use "
                                             r"binary_cross_entropy_with_logits for logits \(got " + shown):
            F.binary_cross_entropy(m.tensor([0.5, bad], dtype="float64"), m.tensor([1.0, 0.0], dtype="float64"))
    # the target is checked too, as PyTorch 2.13 checks it; soft targets inside [0, 1] pass
    for bad, shown in ((1.5, "1.5"), (-0.25, "-0.25"), (float("nan"), "nan")):
        with pytest.raises(ValueError, match=r"binary_cross_entropy: target must hold values in \[0, 1\] \(got "
                                             + shown + r" at flat index 1\)"):
            F.binary_cross_entropy(m.tensor([0.5, 0.5]), m.tensor([0.0, bad]))
    np.testing.assert_allclose(F.binary_cross_entropy(m.tensor([0.5]), m.tensor([0.25])).item(), np.log(2))


def test_bce_dtypes_and_weights(m) -> None:
    p32 = m.tensor([0.2, 0.9], dtype="float32")
    # mixed float dtypes compute in the wider one; an integer target takes the input's
    assert F.binary_cross_entropy(p32, m.tensor([1.0, 0.0], dtype="float64")).dtype == m.float64
    got = F.binary_cross_entropy(p32, F.one_hot(m.tensor(1), 2), reduction="none")
    assert got.dtype == m.float32
    np.testing.assert_allclose(got.numpy(), [-np.log(0.8), -np.log(0.9)], rtol=1e-6)
    # a weight given as an array or a number; one that does not broadcast to the input's shape is refused
    p = m.tensor(np.full((2, 3), 0.5))
    t = m.tensor(np.ones((2, 3)))
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, np.array([1.0, 2.0, 3.0]), "sum").item(), 12 * L2)
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, 2.0, "sum").item(), 12 * L2)
    with pytest.raises(ShapeError, match=r"binary_cross_entropy: weight of shape \(2, 1, 3\) does not broadcast to "
                                         r"the input's shape \(2, 3\)"):
        F.binary_cross_entropy(p, t, np.ones((2, 1, 3)))
    # nn.BCELoss is the op
    assert m.nn.BCELoss(reduction="sum")(p, t).grad_fn is None  # nothing requires grad
    q = m.tensor(np.full((2, 3), 0.5), requires_grad=True)
    assert m.nn.BCELoss(weight=m.tensor([1.0, 2.0, 3.0]))(q, t).grad_fn.name == "binary_cross_entropy"


def _torch_case(torch, dtype, wshape, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, (3, 4))
    p[0, :2] = [0.0, 1.0]  # the clamped ends
    t = np.round(rng.uniform(0.0, 1.0, (3, 4)), 1)
    t[0, :2] = [0.0, 1.0]  # finite gradients there (g · 0 / 1e-12 and the like)
    w = None if wshape is None else rng.uniform(0.5, 2.0, wshape)
    return p.astype(dtype), t.astype(dtype), None if w is None else w.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("wshape", [None, (), (4,), (3, 1), (3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_against_pytorch(m, dtype, wshape, reduction) -> None:
    torch = pytest.importorskip("torch")
    p, t, w = _torch_case(torch, dtype, wshape, 7)
    tp, tt = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    want = torch.nn.functional.binary_cross_entropy(tp, tt, None if w is None else torch.tensor(w),
                                                    reduction=reduction)
    g = np.random.default_rng(3).standard_normal(tuple(want.shape)).astype(dtype)
    want.backward(torch.tensor(g))
    xp, xt = m.tensor(p, requires_grad=True), m.tensor(t, requires_grad=True)
    got = F.binary_cross_entropy(xp, xt, None if w is None else m.tensor(w), reduction=reduction)
    got.backward(m.tensor(g))
    rtol = 1e-6 if dtype == "float32" else 1e-13
    assert got.dtype == getattr(m, dtype) and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=rtol, atol=0)
    np.testing.assert_allclose(xp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=0)
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_target_gradient_at_the_ends_is_pytorchs(m, dtype) -> None:
    """At p = 0 and p = 1 PyTorch's dt = -logit(p) is ±inf (no clamp), and dp is (p - t)/1e-12."""
    torch = pytest.importorskip("torch")
    p, t = np.array([0.0, 1.0, 0.0, 1.0, 1e-30], dtype), np.array([0.3, 0.3, 0.0, 1.0, 0.5], dtype)
    tp, tt = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(tp, tt, reduction="sum").backward()
    xp, xt = m.tensor(p, requires_grad=True), m.tensor(t, requires_grad=True)
    F.binary_cross_entropy(xp, xt, reduction="sum").backward()
    np.testing.assert_array_equal(xt.grad.numpy()[:4], tt.grad.numpy()[:4])
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(xp.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
