"""conv_transpose1d / conv_transpose2d and nn.ConvTranspose2d on both engines: against a plain numpy scatter
loop, against PyTorch (when installed), by float64 finite differences (gradcheck) and second derivatives
(gradgradcheck); bad inputs raise errors naming the op and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def loop_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """y[n, g·og + o, a·sh - ph + i·dh, c·sw - pw + j·dw] += x[n, g·cg + ci, a, c] w[g·cg + ci, o, i, j], one
    loop per index; positions outside the output dropped."""
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (eh, ew), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + eh + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ew + 1
    cg = cin // groups
    y = np.zeros((n, og * groups, oh, ow))
    for a in range(n):
        for c in range(cin):
            g = c // cg
            for o in range(og):
                for i in range(h):
                    for j in range(wd):
                        for ki in range(kh):
                            for kj in range(kw):
                                yy, xx = i * sh - ph + ki * dh, j * sw - pw + kj * dw
                                if 0 <= yy < oh and 0 <= xx < ow:
                                    y[a, g * og + o, yy, xx] += x[a, c, i, j] * w[c, o, ki, kj]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


# (input shape, weight shape, bias, stride, padding, output_padding, groups, dilation)
CASES = [
    ((1, 1, 3, 3), (1, 1, 3, 3), True, 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 2, 3, 2), True, 2, 1, 1, 1, 1),
    ((2, 4, 3, 4), (4, 3, 3, 3), False, (2, 3), (1, 0), (1, 2), 2, 1),
    ((1, 2, 5, 4), (2, 2, 2, 3), True, 1, (0, 1), 0, 1, (2, 1)),
    ((2, 3, 3, 3), (3, 1, 3, 3), True, 2, 1, 0, 3, 1),          # depthwise
    ((1, 2, 3, 4), (2, 3, 2, 2), True, 1, 0, 1, 1, 2),          # output_padding >= stride (< dilation)
    ((1, 2, 4, 3), (2, 2, 3, 2), False, (1, 2), (0, 1), (2, 1), 1, (3, 2)),  # past the scatter's reach
    ((2, 2, 3, 3), (2, 2, 1, 1), True, 3, 0, 2, 1, 1),          # 1x1 kernel, gaps between the pixels
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv_transpose2d_matches_a_numpy_loop(engine, dtype, case) -> None:
    xs, ws, has_b, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * groups) if has_b else None
    X = engine.tensor(x, dtype=dtype, requires_grad=True)
    W = engine.tensor(w, dtype=dtype, requires_grad=True)
    B = engine.tensor(b, dtype=dtype, requires_grad=True) if has_b else None
    y = engine.nn.functional.conv_transpose2d(X, W, B, stride, padding, out_pad, groups, dilation)
    want = loop_conv_transpose2d(x, w, b, stride, padding, out_pad, groups, dilation)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert y.shape == want.shape and y.dtype == X.dtype
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)
    # bilinear: the gradients of Σ y·v paired with x and with w both give Σ v·(y - bias)
    v = rng.standard_normal(want.shape)
    (y * engine.tensor(v, dtype=dtype)).sum().backward()
    lin = float(np.sum(v * (want - (0 if b is None else b.reshape(1, -1, 1, 1)))))
    rt = 1e-3 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(float(np.sum(X.grad.numpy() * x)), lin, rtol=rt, atol=rt)
    np.testing.assert_allclose(float(np.sum(W.grad.numpy() * w)), lin, rtol=rt, atol=rt)
    if has_b:
        np.testing.assert_allclose(B.grad.numpy(), v.sum(axis=(0, 2, 3)), rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv_transpose2d_against_pytorch(case) -> None:
    torch = pytest.importorskip("torch")
    xs, ws, has_b, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * groups) if has_b else None
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if has_b else None
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride, padding, out_pad, groups, dilation)
    v = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(v)).sum().backward()
    for engine in (pygrad, ref):
        for dtype, tol in (("float64", 1e-10), ("float32", 2e-4)):
            X = engine.tensor(x, dtype=dtype, requires_grad=True)
            W = engine.tensor(w, dtype=dtype, requires_grad=True)
            B = engine.tensor(b, dtype=dtype, requires_grad=True) if has_b else None
            y = engine.nn.functional.conv_transpose2d(X, W, B, stride, padding, out_pad, groups, dilation)
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
            (y * engine.tensor(v, dtype=dtype)).sum().backward()
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=10 * tol)
            np.testing.assert_allclose(W.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=10 * tol)
            if has_b:
                np.testing.assert_allclose(B.grad.numpy(), tb.grad.numpy(), rtol=tol, atol=10 * tol)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engines_agree(engine) -> None:
    """C against reference on a strided, grouped, dilated case, values and gradients, float64."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(6)
    out = []
    for e in (pygrad, ref):
        X, W, B = (e.tensor(a, dtype="float64", requires_grad=True) for a in (x, w, b))
        y = e.nn.functional.conv_transpose2d(X, W, B, (2, 1), (1, 0), (1, 0), 2, (1, 2))
        (y * y).sum().backward()
        out.append([y.numpy(), X.grad.numpy(), W.grad.numpy(), B.grad.numpy()])
    for a, c in zip(*out):
        np.testing.assert_allclose(a, c, rtol=1e-11, atol=1e-11)


CASES1D = [
    ((2, 3, 5), (3, 2, 3), True, 2, 1, 1, 1, 1),
    ((1, 4, 6), (4, 1, 2), False, 1, 0, 1, 2, 2),
    ((3, 4), (3, 2, 3), True, 3, 1, 2, 1, 1),                   # unbatched (C, L)
]


@pytest.mark.parametrize("case", CASES1D, ids=[str(i) for i in range(len(CASES1D))])
def test_conv_transpose1d_against_the_2d_loop_and_pytorch(case) -> None:
    xs, ws, has_b, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * groups) if has_b else None
    xb = x if len(xs) == 3 else x[None]
    want = loop_conv_transpose2d(xb[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding), (0, out_pad),
                                 groups, (1, dilation))[:, :, 0, :]
    want = want if len(xs) == 3 else want[0]
    for engine in (pygrad, ref):
        X = engine.tensor(x, dtype="float64")
        W = engine.tensor(w, dtype="float64")
        B = engine.tensor(b, dtype="float64") if has_b else None
        y = engine.nn.functional.conv_transpose1d(X, W, B, stride, padding, out_pad, groups, dilation)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.conv_transpose1d(torch.tensor(x), torch.tensor(w), None if b is None else
                                              torch.tensor(b), stride, padding, out_pad, groups, dilation)
    np.testing.assert_allclose(ty.numpy(), want, rtol=1e-10, atol=1e-10)


GRAD_CASES = [
    ((1, 2, 3, 3), (2, 2, 2, 2), 2, 0, 1, 1, 1),
    ((2, 4, 3, 2), (4, 1, 3, 2), (1, 2), (1, 0), (0, 1), 2, (2, 1)),
    ((1, 2, 3, 3), (2, 1, 2, 2), 1, 0, 1, 1, 2),                # output_padding from the dilation
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", GRAD_CASES, ids=[str(i) for i in range(len(GRAD_CASES))])
def test_gradcheck_and_gradgradcheck_float64(engine, case) -> None:
    xs, ws, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(12)
    x = engine.tensor(rng.standard_normal(xs), dtype="float64", requires_grad=True)
    w = engine.tensor(rng.standard_normal(ws), dtype="float64", requires_grad=True)
    b = engine.tensor(rng.standard_normal(ws[1] * groups), dtype="float64", requires_grad=True)
    F = engine.nn.functional
    y0 = F.conv_transpose2d(x, w, b, stride, padding, out_pad, groups, dilation)
    v = engine.tensor(rng.standard_normal(y0.shape), dtype="float64")

    def f(a, c, d):
        return (F.conv_transpose2d(a, c, d, stride, padding, out_pad, groups, dilation) * v).sum()

    def sq(a, c, d):  # not bilinear in the output: second derivatives that are not zero
        y = F.conv_transpose2d(a, c, d, stride, padding, out_pad, groups, dilation)
        return (y * y * v).sum()

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(sq, (x, w, b))


@pytest.mark.parametrize("engine", ENGINES)
def test_conv_transpose2d_undoes_the_shape_of_conv2d(engine) -> None:
    """conv_transpose2d(·, w) is the adjoint of conv2d(·, w) with the same arguments:
    <conv2d(u, w), z> = <u, conv_transpose2d(z, w)>, and output_padding recovers the input size."""
    rng = np.random.default_rng(3)
    u = engine.tensor(rng.standard_normal((2, 3, 8, 7)), dtype="float64")
    w = engine.tensor(rng.standard_normal((4, 3, 3, 3)), dtype="float64")
    F = engine.nn.functional
    y = F.conv2d(u, w, stride=2, padding=1)
    z = engine.tensor(rng.standard_normal(y.shape), dtype="float64")
    back = F.conv_transpose2d(z, w, stride=2, padding=1, output_padding=(1, 0))
    assert back.shape == u.shape
    np.testing.assert_allclose(float((y * z).sum().item()), float((u * back).sum().item()), rtol=1e-10)


BAD = [
    # (x shape, w shape, kwargs, error, words in the message)
    ((2, 5), (4, 3, 3, 3), {}, ShapeError, ["conv_transpose2d", "3-d (unbatched) or 4-d", "(2, 5)"]),
    ((2, 3, 5, 5), (3, 3, 3), {}, ShapeError, ["conv_transpose2d", "4-d weight", "(3, 3, 3)"]),
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, ShapeError, ["conv_transpose2d", "(4, 2, 3, 3)", "(2, 3, 5, 5)", "channels"]),
    ((2, 4, 5, 5), (4, 2, 3, 3), {"groups": 3}, ShapeError, ["conv_transpose2d", "groups=3", "divide"]),
    ((2, 4, 5, 5), (4, 2, 3, 3), {"groups": 0}, PygradValueError, ["conv_transpose2d", "groups"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"output_padding": 1}, PygradValueError,
     ["conv_transpose2d", "output_padding (1, 1)", "stride (1, 1)", "dilation (1, 1)"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"output_padding": (0, 2), "stride": 2}, PygradValueError,
     ["conv_transpose2d", "output_padding (0, 2)", "smaller"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"padding": -1}, PygradValueError, ["conv_transpose2d", "padding", ">= 0"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"stride": 0}, PygradValueError, ["conv_transpose2d", "stride", ">= 1"]),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"dilation": (1, 2, 3)}, PygradValueError, ["conv_transpose2d", "2 ints"]),
    ((1, 1, 2, 2), (1, 1, 3, 3), {"padding": 3}, ShapeError, ["conv_transpose2d", "would be empty", "(1, 1, 2, 2)"]),
    ((1, 1, 0, 2), (1, 1, 3, 3), {}, ShapeError, ["conv_transpose2d", "empty", "(1, 1, 0, 2)"]),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"bias": np.zeros(2)}, ShapeError, ["conv_transpose2d", "bias", "(3,)"]),
    ((1, 4, 4, 4), (4, 3, 3, 3), {"bias": np.zeros(3), "groups": 2}, ShapeError,
     ["conv_transpose2d", "bias", "(6,)", "groups=2"]),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bad", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_raise_naming_the_op_and_shapes(engine, bad) -> None:
    xs, ws, kw, err, words = bad
    x, w = engine.zeros(*xs), engine.zeros(*ws)
    with pytest.raises(err) as info:
        engine.nn.functional.conv_transpose2d(x, w, **kw)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_dtypes_engines_and_conv_transpose1d_messages(engine) -> None:
    F = engine.nn.functional
    with pytest.raises(PygradTypeError, match="conv_transpose2d: expected float32 or float64"):
        F.conv_transpose2d(engine.zeros(1, 1, 3, 3, dtype="int64"), engine.zeros(1, 1, 2, 2, dtype="int64"))
    with pytest.raises(PygradTypeError, match="conv_transpose2d: input and weight dtypes differ"):
        F.conv_transpose2d(engine.zeros(1, 1, 3, 3), engine.zeros(1, 1, 2, 2, dtype="float64"))
    with pytest.raises(ShapeError, match=r"conv_transpose1d: expected a 3-d weight .* \(2, 1, 3, 3\)"):
        F.conv_transpose1d(engine.zeros(1, 2, 5), engine.zeros(2, 1, 3, 3))
    with pytest.raises(PygradValueError, match="conv_transpose1d: output_padding"):
        F.conv_transpose1d(engine.zeros(1, 2, 5), engine.zeros(2, 1, 3), stride=2, output_padding=2)
    other = ref if engine is pygrad else pygrad
    with pytest.raises(PygradTypeError, match="conv_transpose2d"):
        F.conv_transpose2d(engine.zeros(1, 1, 3, 3), other.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batch_and_channels(engine) -> None:
    F = engine.nn.functional
    x = engine.zeros(0, 2, 3, 3, requires_grad=True)
    w = engine.tensor(np.ones((2, 3, 2, 2)), dtype="float32", requires_grad=True)
    y = F.conv_transpose2d(x, w, stride=2)
    assert y.shape == (0, 3, 6, 6)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 3, 3)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 3, 2, 2)))
    y = F.conv_transpose2d(engine.zeros(1, 0, 3, 3), engine.zeros(0, 2, 2, 2))
    np.testing.assert_array_equal(y.numpy(), np.zeros((1, 2, 4, 4)))


@pytest.mark.parametrize("engine", ENGINES)
def test_conv_transpose_module(engine) -> None:
    m = engine.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, generator=0)
    assert m.weight.shape == (4, 3, 3, 3) and m.bias.shape == (6,)
    bound = 1.0 / np.sqrt(3 * 9)  # fan_in: the weight's second dim times the kernel
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    assert np.abs(m.weight.numpy()).max() > 0.8 * bound
    x = engine.tensor(np.random.default_rng(0).standard_normal((2, 4, 5, 5)), dtype="float32")
    want = loop_conv_transpose2d(x.numpy(), m.weight.numpy(), m.bias.numpy(), 2, 1, 1, 2, 1)
    y = m(x)
    assert y.shape == (2, 6, 10, 10)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-4)
    assert m(x[0]).shape == (6, 10, 10)
    again = engine.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, generator=0)
    np.testing.assert_array_equal(again.weight.numpy(), m.weight.numpy())
    assert len(list(m.parameters())) == 2 and "output_padding=(1, 1)" in repr(m)
    # output_size picks the output padding, as PyTorch's forward(x, output_size)
    m2 = engine.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, bias=False, generator=1)
    assert m2(x).shape == (2, 2, 9, 9)
    assert m2(x, output_size=(10, 9)).shape == (2, 2, 10, 9)
    assert m2(x, output_size=(2, 2, 9, 10)).shape == (2, 2, 9, 10)
    with pytest.raises(PygradValueError, match="ConvTranspose2d: requested an output size of .*11"):
        m2(x, output_size=(11, 9))
    with pytest.raises(PygradValueError, match="ConvTranspose2d: groups=4 must divide"):
        engine.nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(PygradValueError, match="ConvTranspose2d: output_padding"):
        engine.nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)
    with pytest.raises(PygradTypeError, match="ConvTranspose2d"):
        m((ref if engine is pygrad else pygrad).zeros(1, 4, 5, 5))


def test_conv_transpose_module_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    t = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, groups=2, dilation=(1, 2))
    m = pygrad.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, groups=2, dilation=(1, 2), generator=0)
    assert tuple(t.weight.shape) == m.weight.shape
    # both draw U(-1/√fan_in, 1/√fan_in), fan_in = 3·3·2 = 18
    assert float(t.weight.detach().abs().max()) <= 1 / np.sqrt(18)
    assert float(np.abs(m.weight.numpy()).max()) <= 1 / np.sqrt(18)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(m.weight.numpy()))
        t.bias.copy_(torch.tensor(m.bias.numpy()))
    x = np.random.default_rng(2).standard_normal((2, 4, 4, 5)).astype(np.float32)
    for size in (None, (10, 12)):
        want = t(torch.tensor(x), output_size=size).detach().numpy()
        np.testing.assert_allclose(m(x, output_size=size).numpy(), want, rtol=1e-5, atol=1e-5)
