"""scaled_dot_product_attention and nn.MultiheadAttention on both engines: against a plain numpy
softmax(q kᵀ) v with hand-written gradients, against PyTorch (when installed), by float64 finite differences
(gradcheck, gradgradcheck), fully masked rows (zeros, as PyTorch's fused kernels), dropout inside the fused op
against the composed dropout(softmax(s)) @ v with the same seed, and MultiheadAttention with PyTorch's
parameters copied in."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def np_attention(q, k, v, bias, scale, g):
    """o = softmax(scale q kᵀ + bias) v and the gradients of Σ o·g, written out with numpy."""
    s = scale * q @ np.swapaxes(k, -1, -2) + bias
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
    o = p @ v
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return o, scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, dv, ds


def _run(m, q, k, v, g, dtype="float64", **kw):
    ts = [m.tensor(a, dtype=dtype, requires_grad=True) for a in (q, k, v)]
    o = m.nn.functional.scaled_dot_product_attention(*ts, **kw)
    (o * m.tensor(g, dtype=dtype)).sum().backward()
    return o.numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", ["plain", "causal", "causal-tall", "bool", "float", "scale"])
def test_sdpa_against_numpy(m, dtype, form):
    rng = np.random.default_rng(hash(form) % 2**32)
    lq, s = (7, 4) if form == "causal-tall" else (5, 6)
    q, k = rng.standard_normal((2, 3, lq, 4)), rng.standard_normal((2, 3, s, 4))
    v, g = rng.standard_normal((2, 3, s, 3)), rng.standard_normal((2, 3, lq, 3))
    bias, kw, scale = np.zeros((lq, s)), {}, 0.5
    if form.startswith("causal"):
        bias = np.triu(np.full((lq, s), -np.inf), 1)
        kw = {"is_causal": True}
    elif form == "bool":
        mask = rng.random((lq, s)) < 0.6
        mask[:, 2] = True
        bias = np.where(mask, 0.0, -np.inf)
        kw = {"attn_mask": mask}
    elif form == "float":
        bias = rng.standard_normal((3, lq, s))
        kw = {"attn_mask": bias}
    elif form == "scale":
        kw = {"scale": 1.7}
    scale = kw.get("scale", 0.5)
    o, dq, dk, dv, _ = np_attention(q, k, v, bias, scale, g)
    po, (pq, pk, pv) = _run(m, q, k, v, g, dtype, **kw)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for a, b in ((po, o), (pq, dq), (pk, dk), (pv, dv)):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lq,s,causal", [(150, 97, False), (150, 97, True), (70, 200, True), (129, 129, False),
                                         (150, 600, False)])
def test_sdpa_blocks_of_query_rows(dtype, lq, s, causal):
    """Lengths around the kernel's query blocks (64 rows, more while 32K scores fit), causal (rows seeing
    fewer keys than the block's widest row) or not, a bool mask that masks every key of a row in a later
    block, against numpy."""
    rng = np.random.default_rng(lq * 1000 + s)
    q, k = rng.standard_normal((2, lq, 16)), rng.standard_normal((2, s, 16))
    v, g = rng.standard_normal((2, s, 24)), rng.standard_normal((2, lq, 24))
    mask = rng.random((lq, s)) < 0.8
    mask[:, 0] = True
    mask[lq - 3] = False  # a row with no key taking part: zeros, zero gradients
    mbias = np.where(mask, 0.0, -np.inf)
    bias = mbias + np.triu(np.full((lq, s), -np.inf), 1) if causal else mbias
    live = np.isfinite(bias).any(-1)
    o, dq, dk, dv, _ = np_attention(q, k, v, np.where(live[:, None], bias, 0.0), 0.25, g)
    o, dq = np.where(live[:, None], o, 0.0), np.where(live[:, None], dq, 0.0)
    # a dead row's gradient reaches nothing: recompute dk, dv without it
    _, _, dk, dv, _ = np_attention(q, k, v, np.where(live[:, None], bias, 0.0), 0.25, g * live[:, None])
    # the op itself, so that the mask and the causal flag meet in the kernel
    ts = [pygrad.tensor(a, dtype=dtype, requires_grad=True) for a in (q, k, v)]
    out = ts[0]._sdpa(ts[1], ts[2], pygrad.tensor(np.broadcast_to(mbias, (2, lq, s)), dtype=dtype), 0.25, causal)
    (out * pygrad.tensor(g, dtype=dtype)).sum().backward()
    po, (pq, pk, pv) = out.numpy(), [t.grad.numpy() for t in ts]
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for a, b in ((po, o), (pq, dq), (pk, dk), (pv, dv)):
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_array_equal(po[:, lq - 3], 0)


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_float_mask_gradient_and_broadcast(m):
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((1, 5, 3)), rng.standard_normal((1, 5, 2))
    bias, g = rng.standard_normal((4, 5)), rng.standard_normal((2, 4, 2))
    tb = m.tensor(bias, dtype="float64", requires_grad=True)
    ts = [m.tensor(a, dtype="float64", requires_grad=True) for a in (q, k, v)]
    o = m.nn.functional.scaled_dot_product_attention(*ts, attn_mask=tb)
    (o * m.tensor(g, dtype="float64")).sum().backward()
    kb, vb = np.broadcast_to(k, (2, 5, 3)), np.broadcast_to(v, (2, 5, 2))
    want, dq, dk, dv, ds = np_attention(q, kb, vb, bias, 1 / np.sqrt(3), g)
    np.testing.assert_allclose(o.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(ts[1].grad.numpy(), dk.sum(0, keepdims=True), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ts[2].grad.numpy(), dv.sum(0, keepdims=True), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), ds.sum(0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_fully_masked_row_is_zero(m):
    """PyTorch 2.13's fused attention gives zeros (and zero gradients) for a row with no key taking part."""
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    mask = np.ones((3, 4), bool)
    mask[1] = False
    xs = [m.tensor(a, dtype="float64", requires_grad=True) for a in (q, k, v)]
    o = m.nn.functional.scaled_dot_product_attention(*xs, attn_mask=mask)
    np.testing.assert_array_equal(o.numpy()[1], np.zeros(2))
    want, *_ = np_attention(q, k, v, np.where(mask, 0.0, -np.inf), 1 / np.sqrt(2), np.ones((3, 2)))
    np.testing.assert_allclose(o.numpy()[[0, 2]], want[[0, 2]], rtol=1e-12)
    (gq,) = [None]
    o.sum().backward(create_graph=True)
    gq = xs[0].grad
    np.testing.assert_array_equal(gq.numpy()[1], np.zeros(2))
    assert np.isfinite(gq.numpy()).all() and np.isfinite(xs[1].grad.numpy()).all()
    xs[0].grad = None
    (gq * gq).sum().backward()  # double backward through the rule: finite, zero on the masked row
    assert np.isfinite(xs[0].grad.numpy()).all()
    np.testing.assert_array_equal(xs[0].grad.numpy()[1], np.zeros(2))


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_gradcheck_and_double_backward(m):
    rng = np.random.default_rng(3)
    xs = [m.tensor(rng.standard_normal(s), dtype="float64", requires_grad=True)
          for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3), (3, 4))]
    w = m.tensor(rng.standard_normal((2, 3, 3)), dtype="float64")

    def f(q, k, v, b):
        return (m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=b) * w).sum()

    def fc(q, k, v, b):
        return (m.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.8) * w).sum()

    assert gradcheck(f, xs)
    assert gradgradcheck(f, xs)
    assert gradcheck(fc, xs[:3] + [xs[3]])
    assert gradgradcheck(fc, xs[:3] + [xs[3]])


def _composed(m, q, k, v, bias, scale, causal, p, seed):
    """dropout(softmax(scale q kᵀ + bias (+ causal −∞))) @ v made of the engine's plain ops, the mask of seed."""
    s = q.matmul(k.transpose(-1, -2)) * scale + bias
    if causal:
        lq, lk = s.shape[-2:]
        s = s + m.tensor(np.triu(np.full((lq, lk), -np.inf), 1), dtype=q.dtype)
    return s.softmax(-1)._dropout_seeded(p, seed).matmul(v)


_DROP_CASES = [(pygrad, 5, 7, False, 0.3), (ref, 5, 7, False, 0.3), (ref, 6, 4, True, 0.6),
               (pygrad, 150, 97, False, 0.5), (pygrad, 150, 97, True, 0.1), (pygrad, 70, 200, True, 0.9),
               (pygrad, 129, 129, False, 0.25)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m,lq,s,causal,p", _DROP_CASES,
                         ids=[f"{'c' if c[0] is pygrad else 'ref'}-{c[1]}x{c[2]}-{c[3]}" for c in _DROP_CASES])
def test_sdpa_dropout_fused_against_composed(m, dtype, lq, s, causal, p):
    """Dropout inside the fused op (each query block draws its rows' part of the mask; the backward
    regenerates it) against dropout(softmax(s)) @ v with the same seed: values and every gradient (a float
    mask's too); the C engine's cases have lengths around its query blocks."""
    rng = np.random.default_rng(lq + s)
    arrs = [rng.standard_normal(sh) for sh in ((2, lq, 8), (2, s, 8), (2, s, 6), (2, lq, s))]
    g = m.tensor(rng.standard_normal((2, lq, 6)), dtype=dtype)
    seed = 1234567 + lq

    def run(fused):
        ts = [m.tensor(a, dtype=dtype, requires_grad=True) for a in arrs]
        q, k, v, b = ts
        o = q._sdpa(k, v, b, 0.3, causal, p, seed) if fused else _composed(m, q, k, v, b, 0.3, causal, p, seed)
        (o * g).sum().backward()
        return [o.numpy()] + [t.grad.numpy() for t in ts]

    tol = dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    got, want = run(True), run(False)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, **tol)
    # the mask did something: not the result without dropout, and about p of the weights dropped
    q, k, v, b = (m.tensor(a, dtype=dtype) for a in arrs)
    assert not np.allclose(got[0], q._sdpa(k, v, b, 0.3, causal).numpy(), **tol)


def test_sdpa_dropout_engines_agree():
    """The same seed gives the same mask on both engines (dropout's hash over the (..., L, S) weights)."""
    rng = np.random.default_rng(9)
    arrs = [rng.standard_normal(sh) for sh in ((3, 2, 6, 4), (3, 2, 9, 4), (3, 2, 9, 5))]
    g = rng.standard_normal((3, 2, 6, 5))
    out = []
    for m in (pygrad, ref):
        ts = [m.tensor(a, requires_grad=True) for a in arrs]
        o = m.nn.functional.scaled_dot_product_attention(*ts, dropout_p=0.35, is_causal=True,
                                                         generator=np.random.default_rng(21))
        (o * m.tensor(g)).sum().backward()
        out.append([o.numpy()] + [t.grad.numpy() for t in ts])
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_dropout_gradcheck_and_double_backward(m):
    """With a fixed seed the dropped attention is a smooth function: float64 finite differences, first and
    second order (the rule applies the same mask)."""
    rng = np.random.default_rng(5)
    xs = [m.tensor(rng.standard_normal(s), dtype="float64", requires_grad=True)
          for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3), (2, 3, 4))]
    w = m.tensor(rng.standard_normal((2, 3, 3)), dtype="float64")

    def f(q, k, v, b):
        return (q._sdpa(k, v, b, 0.8, False, 0.4, 77) * w).sum()

    def fc(q, k, v, b):
        return (q._sdpa(k, v, m.zeros((), dtype="float64"), 0.8, True, 0.4, 78) * w).sum()

    assert gradcheck(f, xs)
    assert gradgradcheck(f, xs)
    assert gradcheck(fc, xs)
    assert gradgradcheck(fc, xs)


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_dropout_everything_and_nothing(m):
    """dropout_p = 1 drops every weight: zeros and zero gradients; a different seed draws a different mask."""
    rng = np.random.default_rng(6)
    ts = [m.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 2))]
    F = m.nn.functional
    o = F.scaled_dot_product_attention(*ts, dropout_p=1.0)
    o.sum().backward()
    np.testing.assert_array_equal(o.numpy(), 0)
    for t in ts:
        np.testing.assert_array_equal(t.grad.numpy(), 0)
    a = F.scaled_dot_product_attention(*ts, dropout_p=0.5, generator=np.random.default_rng(1)).numpy()
    b = F.scaled_dot_product_attention(*ts, dropout_p=0.5, generator=np.random.default_rng(2)).numpy()
    assert not np.allclose(a, b)


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_dropout_composed_path(m):
    rng = np.random.default_rng(4)
    q, k, v = (m.tensor(rng.standard_normal(s), dtype="float64") for s in ((2, 3, 4), (2, 5, 4), (2, 5, 2)))
    F = m.nn.functional
    o = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, generator=np.random.default_rng(8))
    p = (q.matmul(k.transpose(-1, -2)) * 0.5).softmax(-1)
    want = F.dropout(p, 0.4, generator=np.random.default_rng(8)).matmul(v)
    np.testing.assert_allclose(o.numpy(), want.numpy(), rtol=1e-12)
    assert not np.allclose(o.numpy(), F.scaled_dot_product_attention(q, k, v).numpy())


@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_errors(m):
    F = m.nn.functional
    with pytest.raises(PygradValueError, match="scaled_dot_product_attention: dropout_p"):
        F.scaled_dot_product_attention(m.ones(2, 3), m.ones(4, 3), m.ones(4, 2), dropout_p=1.5)
    with pytest.raises(PygradValueError, match="scaled_dot_product_attention: dropout_p has to be between 0 and 1"):
        m.ones(2, 3)._sdpa(m.ones(4, 3), m.ones(4, 2), m.zeros(()), 1.0, False, -0.5, 3)
    with pytest.raises(PygradTypeError, match="scaled_dot_product_attention: attn_mask must be bool or float"):
        F.scaled_dot_product_attention(m.ones(2, 3), m.ones(4, 3), m.ones(4, 2), attn_mask=np.ones((2, 4), int))
    with pytest.raises(ShapeError, match="scaled_dot_product_attention: attn_mask of shape"):
        F.scaled_dot_product_attention(m.ones(2, 3), m.ones(4, 3), m.ones(4, 2), attn_mask=np.ones((5, 4), bool))


def test_sdpa_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 2, 6, 4)), rng.standard_normal((2, 2, 9, 4)), rng.standard_normal((2, 2, 9, 5))
    g = rng.standard_normal((2, 2, 6, 5))
    mask = rng.random((6, 9)) < 0.5
    mask[0] = False  # a fully masked row: zeros on both
    for kw in ({}, {"is_causal": True}, {"attn_mask": mask}, {"attn_mask": rng.standard_normal((2, 1, 6, 9))}):
        tk = {a: torch.tensor(b) if a == "attn_mask" else b for a, b in kw.items()}
        ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        to = torch.nn.functional.scaled_dot_product_attention(*ts, **tk)
        (to * torch.tensor(g)).sum().backward()
        for m in (pygrad, ref):
            po, grads = _run(m, q, k, v, g, **kw)
            np.testing.assert_allclose(po, to.detach().numpy(), rtol=1e-10, atol=1e-12)
            for a, t in zip(grads, ts):
                np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-9, atol=1e-11)


# ------------------------------------------------------- MultiheadAttention ---


def _copy_params(m, mod, tmod):
    for name, prm in tmod.named_parameters():
        obj = mod
        *path, last = name.split(".")
        for part in path:
            obj = getattr(obj, part)
        setattr(obj, last, m.tensor(prm.detach().numpy(), dtype="float64", requires_grad=True))


def _assert_grads_like_torch(mod, t):
    """Every parameter's gradient of the pygrad module as its namesake's in the torch module."""
    for name, prm in t.named_parameters():
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part)
        np.testing.assert_allclose(obj.grad.numpy(), prm.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize(("batch_first", "kdim", "need_weights", "average"),
                         [(False, None, True, True), (True, None, False, True), (True, 6, True, False),
                          (False, 5, False, True)])
def test_multihead_attention_against_torch(m, batch_first, kdim, need_weights, average):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    e, h, lq, s, n = 8, 2, 4, 5, 3
    t = torch.nn.MultiheadAttention(e, h, batch_first=batch_first, kdim=kdim, vdim=kdim, dtype=torch.float64)
    mod = m.nn.MultiheadAttention(e, h, batch_first=batch_first, kdim=kdim, vdim=kdim, dtype="float64")
    _copy_params(m, mod, t)
    kd = kdim or e
    q = rng.standard_normal((n, lq, e) if batch_first else (lq, n, e))
    k = rng.standard_normal((n, s, kd) if batch_first else (s, n, kd))
    v = rng.standard_normal(k.shape)
    kpm = rng.random((n, s)) < 0.3
    kpm[:, 0] = False
    am = rng.random((lq, s)) < 0.3
    am[:, 1] = False
    to, tw = t(torch.tensor(q), torch.tensor(k), torch.tensor(v), key_padding_mask=torch.tensor(kpm),
               attn_mask=torch.tensor(am), need_weights=need_weights, average_attn_weights=average)
    po, pw = mod(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need_weights,
                 average_attn_weights=average)
    np.testing.assert_allclose(po.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert (pw is None) == (tw is None)
    if tw is not None:
        np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(to.shape)
    (to * torch.tensor(g)).sum().backward()
    (po * m.tensor(g, dtype="float64")).sum().backward()
    _assert_grads_like_torch(mod, t)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize(("bias_kv", "zero_attn", "masks", "need_weights"),
                         [(True, False, True, True), (False, True, True, False), (True, True, False, True),
                          (True, True, True, False)])
def test_multihead_attention_bias_kv_and_zero_attn_against_torch(m, bias_kv, zero_attn, masks, need_weights):
    """add_bias_kv (a learnt key and value row) and add_zero_attn (a zero one per head): one more
    attention column each, open under both masks; outputs, weights and every gradient (bias_k and
    bias_v included) as PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    e, h, lq, s, n = 8, 2, 4, 5, 3
    t = torch.nn.MultiheadAttention(e, h, add_bias_kv=bias_kv, add_zero_attn=zero_attn, dtype=torch.float64)
    mod = m.nn.MultiheadAttention(e, h, add_bias_kv=bias_kv, add_zero_attn=zero_attn, dtype="float64")
    assert sorted(n_ for n_, _ in mod.named_parameters()) == sorted(n_ for n_, _ in t.named_parameters())
    _copy_params(m, mod, t)
    q, k = rng.standard_normal((lq, n, e)), rng.standard_normal((s, n, e))
    v = rng.standard_normal(k.shape)
    kw = {}
    if masks:
        kpm = rng.random((n, s)) < 0.3
        kpm[:, 0] = False
        am = rng.random((lq, s)) < 0.3
        am[:, 1] = False
        kw = {"key_padding_mask": kpm, "attn_mask": am}
    to, tw = t(torch.tensor(q), torch.tensor(k), torch.tensor(v), need_weights=need_weights,
               **{key: torch.tensor(val) for key, val in kw.items()})
    po, pw = mod(q, k, v, need_weights=need_weights, **kw)
    np.testing.assert_allclose(po.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    if need_weights:
        assert pw.shape == (n, lq, s + bias_kv + zero_attn)
        np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(to.shape)
    (to * torch.tensor(g)).sum().backward()
    (po * m.tensor(g, dtype="float64")).sum().backward()
    _assert_grads_like_torch(mod, t)


@pytest.mark.parametrize("m", ENGINES)
def test_multihead_attention_zero_attn_by_hand(m):
    """With add_zero_attn and one key, each query sees two logits: q·k/√d and 0 (the zero key), so the
    output before out_proj is softmax([q·k/√d, 0])[0] · v per head; checked with identity projections."""
    e, h = 2, 1
    mod = m.nn.MultiheadAttention(e, h, bias=False, add_zero_attn=True, dtype="float64")
    with m.no_grad():
        mod.in_proj_weight.copy_(m.tensor(np.vstack([np.eye(2)] * 3)))
        mod.out_proj.weight.copy_(m.tensor(np.eye(2)))
    q, k, v = np.array([[[1.0, 2.0]]]), np.array([[[0.5, -1.0]]]), np.array([[[3.0, 4.0]]])
    out, w = mod(q, k, v)
    logit = float(q[0, 0] @ k[0, 0]) / np.sqrt(2.0)
    a = np.exp(logit) / (np.exp(logit) + 1.0)
    np.testing.assert_allclose(out.numpy()[0, 0], a * v[0, 0], rtol=1e-12)
    np.testing.assert_allclose(w.numpy()[0, 0], [a, 1 - a], rtol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
def test_multihead_attention_unbatched_matches_batched(m):
    rng = np.random.default_rng(7)
    mod = m.nn.MultiheadAttention(6, 3, dtype="float64", generator=np.random.default_rng(0))
    x = rng.standard_normal((4, 6))
    o1, w1 = mod(x, x, x)
    o2, w2 = mod(x[:, None], x[:, None], x[:, None])
    assert o1.shape == (4, 6) and w1.shape == (4, 4)
    np.testing.assert_allclose(o1.numpy(), o2.numpy()[:, 0], rtol=1e-12)
    np.testing.assert_allclose(w1.numpy(), w2.numpy()[0], rtol=1e-12)
    np.testing.assert_allclose(w1.numpy().sum(-1), np.ones(4), rtol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
def test_multihead_attention_dropout_and_errors(m):
    mod = m.nn.MultiheadAttention(4, 2, dropout=0.5, dtype="float64", generator=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((3, 2, 4))
    mod.eval()
    a, _ = mod(x, x, x)
    b, _ = mod(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mod.train()
    c, _ = mod(x, x, x, need_weights=False)
    assert not np.allclose(a.numpy(), c.numpy())
    with pytest.raises(PygradValueError, match="MultiheadAttention: embed_dim 5 must be divisible by num_heads 2"):
        m.nn.MultiheadAttention(5, 2)
    with pytest.raises(ShapeError, match="MultiheadAttention: query"):
        mod(x[..., :3], x, x)
    with pytest.raises(PygradValueError, match="need attn_mask"):
        mod(x, x, x, is_causal=True)
    with pytest.raises(ShapeError, match="MultiheadAttention: attn_mask of shape"):
        mod(x, x, x, attn_mask=np.zeros((2, 2), bool))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sdpa_nan_scores_make_their_rows_nan(dtype):
    """A NaN score makes its query row NaN (as softmax does), also when every other key of the row is
    masked out; rows without NaN are untouched; a fully masked row stays zeros."""
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((1, 4, 8)), rng.standard_normal((1, 6, 8)), rng.standard_normal((1, 6, 3))
    bias = np.zeros((1, 4, 6))
    bias[0, 1, 2] = np.nan  # row 1: a NaN among live keys
    bias[0, 2, :] = -np.inf
    bias[0, 2, 4] = np.nan  # row 2: a NaN, every other key masked
    bias[0, 3, :] = -np.inf  # row 3: fully masked
    t = [pygrad.tensor(a, dtype=dtype) for a in (q, k, v)]
    out = t[0]._sdpa(t[1], t[2], pygrad.tensor(bias, dtype=dtype), 0.5, False).numpy()
    assert np.isnan(out[0, 1]).all() and np.isnan(out[0, 2]).all()
    np.testing.assert_array_equal(out[0, 3], np.zeros(3))
    s = 0.5 * q[0, 0] @ k[0].T
    p = np.exp(s - s.max())
    np.testing.assert_allclose(out[0, 0], p / p.sum() @ v[0], rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)



@pytest.mark.parametrize("m", ENGINES)
def test_sdpa_grouped_query_attention(m):
    """enable_gqa: each of Hkv key/value heads serves Hq/Hkv consecutive query heads (PyTorch's rule),
    so the result is attention against the repeated heads, and their gradients sum over each group."""
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 6, 4, 3)), rng.standard_normal((2, 2, 5, 3)), rng.standard_normal((2, 2, 5, 3))
    g = rng.standard_normal((2, 6, 4, 3))
    o, (dq, dk, dv) = _run(m, q, k, v, g, is_causal=True, enable_gqa=True)
    bias = np.where(np.triu(np.ones((4, 5), bool), 1), -np.inf, 0.0)
    wo, wdq, wdk, wdv, _ = np_attention(q, np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1), bias, 1 / np.sqrt(3), g)
    np.testing.assert_allclose(o, wo, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dq, wdq, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dk, wdk.reshape(2, 2, 3, 5, 3).sum(2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dv, wdv.reshape(2, 2, 3, 5, 3).sum(2), rtol=1e-10, atol=1e-12)
    with pytest.raises(ShapeError, match="enable_gqa"):
        _run(m, q, np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1), g, enable_gqa=True)  # 4 heads: 6 % 4


def test_sdpa_grouped_query_attention_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 4, 3, 2)), rng.standard_normal((2, 2, 5, 2)), rng.standard_normal((2, 2, 5, 3))
    want = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                            enable_gqa=True)
    for m in (pygrad, ref):
        got = m.nn.functional.scaled_dot_product_attention(m.tensor(q), m.tensor(k), m.tensor(v), enable_gqa=True)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
