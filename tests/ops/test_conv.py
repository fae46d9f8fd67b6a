"""conv1d / conv2d and their modules on both engines, against a plain numpy loop, against PyTorch (when
installed), by float64 finite differences (gradcheck) and second derivatives (gradgradcheck); bad inputs
raise errors naming the op and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def _pairs(v, n=2):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def loop_conv2d(x, w, b, stride, padding, dilation, groups):
    """y[n, o, i, j] = b[o] + Σ x[n, c, i·sh + ki·dh - pt, j·sw + kj·dw - pl] w[o, c - g·cg, ki, kj], one loop
    per index; padding (top, bottom, left, right)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = padding
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for a in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(oh):
                for j in range(ow):
                    s = 0.0 if b is None else float(b[oc])
                    for ci in range(cg):
                        for ki in range(kh):
                            for kj in range(kw):
                                yy, xx = i * sh + ki * dh - pt, j * sw + kj * dw - pl
                                if 0 <= yy < h and 0 <= xx < wd:
                                    s += float(x[a, g * cg + ci, yy, xx]) * float(w[oc, ci, ki, kj])
                    y[a, oc, i, j] = s
    return y


def _same(k, d):
    total = d * (k - 1)
    return total // 2, total - total // 2


def _pad4(padding, kernel, dilation):
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return _same(kernel[0], dilation[0]) + _same(kernel[1], dilation[1])
    ph, pw = _pairs(padding)
    return (ph, ph, pw, pw)


# (input shape, weight shape, bias, stride, padding, dilation, groups)
CASES2D = [
    ((1, 1, 5, 5), (1, 1, 3, 3), True, 1, 0, 1, 1),
    ((2, 3, 6, 5), (4, 3, 3, 2), True, 1, 1, 1, 1),
    ((3, 2, 7, 7), (5, 2, 3, 3), False, 2, 1, 1, 1),
    ((2, 2, 8, 6), (3, 2, 2, 3), True, (2, 1), (0, 2), (2, 1), 1),
    ((2, 4, 6, 6), (6, 2, 3, 3), True, 1, "same", 1, 2),
    ((1, 3, 5, 6), (3, 1, 3, 3), False, 1, 1, 1, 3),            # depthwise
    ((2, 3, 6, 6), (6, 1, 3, 3), True, 1, "same", 2, 3),        # depthwise, 2 per channel, dilated
    ((1, 2, 5, 4), (2, 2, 2, 2), True, 1, "same", 1, 1),        # even kernel: the extra pad at the end
    ((2, 2, 4, 4), (2, 2, 4, 4), True, 1, "valid", 1, 1),       # the kernel covers the input
    ((2, 2, 3, 3), (3, 2, 1, 1), False, 3, 2, 1, 1),            # stride past the padded edge
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES2D, ids=[str(i) for i in range(len(CASES2D))])
def test_conv2d_matches_a_numpy_loop(engine, dtype, case) -> None:
    xs, ws, has_b, stride, padding, dilation, groups = case
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if has_b else None
    X = engine.tensor(x, dtype=dtype, requires_grad=True)
    W = engine.tensor(w, dtype=dtype, requires_grad=True)
    B = engine.tensor(b, dtype=dtype, requires_grad=True) if has_b else None
    y = engine.nn.functional.conv2d(X, W, B, stride, padding, dilation, groups)
    want = loop_conv2d(x, w, b, _pairs(stride), _pad4(padding, ws[2:], _pairs(dilation)), _pairs(dilation), groups)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert y.shape == want.shape and y.dtype == X.dtype
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)
    # gradients: the loop's finite differences are the oracle of gradcheck below; here the gradient of
    # Σ y·v must equal the adjoint identity <v, conv(x, w)> = <conv_t(v, w), x> = <dw, w> (conv is bilinear)
    v = rng.standard_normal(want.shape)
    (y * engine.tensor(v, dtype=dtype)).sum().backward()
    lin = float(np.sum(v * (want - (0 if b is None else b.reshape(1, -1, 1, 1)))))
    np.testing.assert_allclose(float(np.sum(X.grad.numpy() * x)), lin, rtol=1e-3 if dtype == "float32" else 1e-9)
    np.testing.assert_allclose(float(np.sum(W.grad.numpy() * w)), lin, rtol=1e-3 if dtype == "float32" else 1e-9)
    if has_b:
        np.testing.assert_allclose(B.grad.numpy(), v.sum(axis=(0, 2, 3)), rtol=tol, atol=tol)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES2D, ids=[str(i) for i in range(len(CASES2D))])
def test_conv2d_against_pytorch(case) -> None:
    torch = pytest.importorskip("torch")
    xs, ws, has_b, stride, padding, dilation, groups = case
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if has_b else None
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if has_b else None
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    v = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(v)).sum().backward()
    for engine in (pygrad, ref):
        for dtype, tol in (("float64", 1e-10), ("float32", 2e-4)):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            W = engine.tensor(w, dtype=dtype, requires_grad=True)
            B = engine.tensor(b, dtype=dtype, requires_grad=True) if has_b else None
            y = engine.nn.functional.conv2d(X, W, B, stride, padding, dilation, groups)
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(W.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=10 * tol)
            if has_b:
                np.testing.assert_allclose(B.grad.numpy(), tb.grad.numpy(), rtol=tol, atol=10 * tol)


CASES1D = [
    ((2, 3, 9), (4, 3, 3), True, 1, 0, 1, 1),
    ((1, 4, 10), (6, 2, 2), False, 2, 1, 1, 2),
    ((2, 2, 7), (2, 1, 3), True, 1, "same", 2, 2),
    ((2, 2, 6), (3, 2, 2), True, 1, "same", 1, 1),
    ((3, 5), (2, 3, 2), True, (2,), (1,), (1,), 1),            # unbatched (C, L)
]


@pytest.mark.parametrize("case", CASES1D, ids=[str(i) for i in range(len(CASES1D))])
def test_conv1d_against_pytorch_and_the_2d_loop(case) -> None:
    xs, ws, has_b, stride, padding, dilation, groups = case
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if has_b else None
    xb = x if len(xs) == 3 else x[None]
    s, d = _pairs(stride, 1)[0], _pairs(dilation, 1)[0]
    pad = (0, 0) + (_same(ws[2], d) if padding == "same" else (_pairs(padding, 1)[0],) * 2)
    want = loop_conv2d(xb[:, :, None, :], w[:, :, None, :], b, (1, s), pad, (1, d), groups)[:, :, 0, :]
    want = want if len(xs) == 3 else want[0]
    for engine in (pygrad, ref):
        X = engine.tensor(x, requires_grad=True, dtype="float64")
        W = engine.tensor(w, requires_grad=True, dtype="float64")
        B = engine.tensor(b, dtype="float64") if has_b else None
        y = engine.nn.functional.conv1d(X, W, B, stride, padding, dilation, groups)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                                    stride, padding, dilation, groups)
    np.testing.assert_allclose(ty.numpy(), want, rtol=1e-10, atol=1e-10)


GRAD_CASES = [
    ((1, 2, 4, 4), (2, 2, 2, 2), 1, 1, 1, 1),
    ((2, 4, 5, 4), (4, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),
    ((1, 3, 4, 4), (3, 1, 3, 3), 1, "same", 1, 3),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", GRAD_CASES, ids=[str(i) for i in range(len(GRAD_CASES))])
def test_gradcheck_and_gradgradcheck_float64(engine, case) -> None:
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(11)
    x = engine.tensor(rng.standard_normal(xs), dtype="float64", requires_grad=True)
    w = engine.tensor(rng.standard_normal(ws), dtype="float64", requires_grad=True)
    b = engine.tensor(rng.standard_normal(ws[0]), dtype="float64", requires_grad=True)
    F = engine.nn.functional
    v = engine.tensor(rng.standard_normal(F.conv2d(x, w, b, stride, padding, dilation, groups).shape))

    def f(a, c, d):
        return (F.conv2d(a, c, d, stride, padding, dilation, groups) * v).sum()

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


@pytest.mark.parametrize("engine", ENGINES)
def test_double_backward_of_the_input_gradient_is_the_weight_pairing(engine) -> None:
    """d/dw Σ (∂L/∂x · u) for L = Σ conv(x, w)·v is conv_w(u, v): the second-order graph through the
    gradient ops, checked against the numpy loop's adjoint (bilinear, so exact)."""
    rng = np.random.default_rng(2)
    x = engine.tensor(rng.standard_normal((1, 2, 4, 4)), dtype="float64", requires_grad=True)
    w = engine.tensor(rng.standard_normal((3, 2, 2, 2)), dtype="float64", requires_grad=True)
    v = rng.standard_normal((1, 3, 3, 3))
    u = rng.standard_normal((1, 2, 4, 4))
    y = engine.nn.functional.conv2d(x, w)
    (gx,) = pygrad.autograd.grad((y * engine.tensor(v)).sum(), (x,), create_graph=True)
    (gw,) = pygrad.autograd.grad((gx * engine.tensor(u)).sum(), (w,))
    # Σ gx·u = Σ_v conv(u, w)·v, so its gradient in w is Σ over windows of u against v
    want = np.zeros((3, 2, 2, 2))
    for o in range(3):
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    want[o, c, i, j] = np.sum(v[0, o] * u[0, c, i:i + 3, j:j + 3])
    np.testing.assert_allclose(gw.numpy(), want, rtol=1e-10, atol=1e-10)


def test_the_engines_agree_on_threads() -> None:
    """Batch and channels large enough for the kernels to split work; one thread against two."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((4, 8, 12, 12)), rng.standard_normal((16, 8, 3, 3))
    n = pygrad.get_num_threads()
    out = []
    for t in (1, 2):
        pygrad.set_num_threads(t)
        X, W = pygrad.tensor(x, requires_grad=True), pygrad.tensor(w, requires_grad=True)
        y = pygrad.nn.functional.conv2d(X, W, padding=1)
        y.sum().backward()
        out.append((y.numpy(), X.grad.numpy(), W.grad.numpy()))
    pygrad.set_num_threads(n)
    want = loop_conv2d(x[:1], w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_allclose(out[0][0][:1], want, rtol=1e-10, atol=1e-10)
    for a, b in zip(out[0], out[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


BAD = [
    # (x shape, w shape, kwargs, error, words in the message)
    ((2, 5), (4, 3, 3, 3), {}, ShapeError, ["conv2d", "3-d (unbatched) or 4-d", "(2, 5)"]),
    ((1, 2, 3, 4, 5), (4, 2, 3, 3), {}, ShapeError, ["conv2d", "(1, 2, 3, 4, 5)"]),
    ((2, 3, 5, 5), (4, 3, 3), {}, ShapeError, ["conv2d", "4-d weight", "(4, 3, 3)"]),
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, ShapeError, ["conv2d", "(4, 2, 3, 3)", "(2, 3, 5, 5)", "channels"]),
    ((2, 4, 5, 5), (6, 2, 3, 3), {"groups": 3}, ShapeError, ["conv2d", "groups=3", "divide"]),
    ((2, 4, 5, 5), (6, 2, 3, 3), {"groups": 0}, PygradValueError, ["conv2d", "groups"]),
    ((1, 1, 2, 2), (1, 1, 3, 3), {}, ShapeError, ["conv2d", "larger than the padded input", "(3, 3)"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"dilation": 2}, ShapeError, ["conv2d", "larger than the padded input"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"padding": -1}, PygradValueError, ["conv2d", "padding", ">= 0"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"stride": 0}, PygradValueError, ["conv2d", "stride", ">= 1"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"stride": (1, 2, 3)}, PygradValueError, ["conv2d", "stride", "2 ints"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"padding": "full"}, PygradValueError, ["conv2d", "'valid' or 'same'"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"padding": "same", "stride": 2}, PygradValueError, ["conv2d", "strided"]),
    ((1, 2, 4, 4), (3, 2, 3, 3), {"bias": np.zeros(2)}, ShapeError, ["conv2d", "bias", "(3,)"]),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bad", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_raise_naming_the_op_and_shapes(engine, bad) -> None:
    xs, ws, kw, err, words = bad
    x, w = engine.zeros(*xs), engine.zeros(*ws)
    with pytest.raises(err) as info:
        engine.nn.functional.conv2d(x, w, **kw)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_dtypes_and_conv1d_messages(engine) -> None:
    F = engine.nn.functional
    with pytest.raises(PygradTypeError, match="conv2d: expected float32 or float64"):
        F.conv2d(engine.zeros(1, 1, 3, 3, dtype="int64"), engine.zeros(1, 1, 2, 2, dtype="int64"))
    with pytest.raises(PygradTypeError, match="conv2d: input and weight dtypes differ"):
        F.conv2d(engine.zeros(1, 1, 3, 3), engine.zeros(1, 1, 2, 2, dtype="float64"))
    with pytest.raises(ShapeError, match=r"conv1d: expected a 3-d weight .* \(2, 1, 3, 3\)"):
        F.conv1d(engine.zeros(1, 1, 5), engine.zeros(2, 1, 3, 3))
    with pytest.raises(ShapeError, match="conv1d: the kernel"):
        F.conv1d(engine.zeros(1, 1, 2), engine.zeros(2, 1, 3))
    other = ref if engine is pygrad else pygrad
    with pytest.raises(PygradTypeError, match="conv2d"):
        F.conv2d(engine.zeros(1, 1, 3, 3), other.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_the_gradient_ops_check_their_shapes(engine) -> None:
    g, w, x = engine.zeros(1, 2, 3, 3), engine.zeros(2, 1, 2, 2), engine.zeros(1, 2, 4, 4)
    with pytest.raises(ShapeError, match=r"conv2d_input_grad: gradient of shape \(1, 2, 3, 3\)"):
        g._conv2d_input_grad(w, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 2)
    with pytest.raises(ShapeError, match=r"conv2d_weight_grad: gradient of shape \(1, 2, 4, 4\)"):
        x._conv2d_weight_grad(x, (2, 2), (1, 1), (0, 0, 0, 0), (1, 1), 2)
    with pytest.raises(PygradValueError, match="conv2d: padding"):
        x._conv2d(w, (1, 1), (0, -1, 0, 0), (1, 1), 2)
    assert g._conv2d_input_grad(w, (4, 4), (1, 1), (0, 0, 0, 0), (1, 1), 2).shape == (1, 2, 4, 4)
    assert x._conv2d_weight_grad(g, (2, 2), (1, 1), (0, 0, 0, 0), (1, 1), 2).shape == (2, 1, 2, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_inputs(engine) -> None:
    F = engine.nn.functional
    x = engine.zeros(0, 2, 4, 4, requires_grad=True)
    w = engine.tensor(np.ones((3, 2, 2, 2)), dtype="float32", requires_grad=True)
    y = F.conv2d(x, w)
    assert y.shape == (0, 3, 3, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 4, 4)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((3, 2, 2, 2)))
    # zero input channels: a sum over nothing
    y = F.conv2d(engine.zeros(1, 0, 3, 3), engine.zeros(2, 0, 2, 2))
    np.testing.assert_array_equal(y.numpy(), np.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize("engine", ENGINES)
def test_conv_modules(engine) -> None:
    m = engine.nn.Conv2d(3, 8, 3, padding=1, generator=0)
    assert m.weight.shape == (8, 3, 3, 3) and m.bias.shape == (8,)
    bound = 1.0 / np.sqrt(27)
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    assert np.abs(m.weight.numpy()).max() > 0.8 * bound  # drawn over the whole range
    x = engine.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 5)), dtype="float32")
    want = loop_conv2d(x.numpy(), m.weight.numpy(), m.bias.numpy(), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_allclose(m(x).numpy(), want, rtol=1e-4, atol=1e-4)
    again = engine.nn.Conv2d(3, 8, 3, padding=1, generator=0)
    np.testing.assert_array_equal(again.weight.numpy(), m.weight.numpy())
    assert len(list(m.parameters())) == 2
    m1 = engine.nn.Conv1d(4, 6, 3, stride=2, groups=2, bias=False, generator=1)
    assert m1.weight.shape == (6, 2, 3) and m1.bias is None
    assert m1(engine.zeros(2, 4, 9)).shape == (2, 6, 4)
    assert "kernel_size=(3,)" in repr(m1)
    with pytest.raises(PygradValueError, match="Conv2d: groups=2 must divide"):
        engine.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(PygradValueError, match="Conv2d: padding='same'"):
        engine.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(PygradTypeError, match="Conv2d"):
        m((ref if engine is pygrad else pygrad).zeros(1, 3, 5, 5))


def test_conv_module_init_matches_pytorch_bounds() -> None:
    torch = pytest.importorskip("torch")
    t = torch.nn.Conv2d(4, 6, (3, 2), groups=2)
    m = pygrad.nn.Conv2d(4, 6, (3, 2), groups=2, generator=0)
    tb = float(t.weight.detach().abs().max())
    # both draw U(-1/√fan_in, 1/√fan_in), fan_in = 2·3·2 = 12
    assert tb <= 1 / np.sqrt(12) and float(np.abs(m.weight.numpy()).max()) <= 1 / np.sqrt(12)
    assert tuple(t.weight.shape) == m.weight.shape
