"""nn.TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder and Transformer
on both engines: PyTorch's state_dict loaded as it is (and ours into PyTorch's) with outputs, input gradients
and parameter gradients compared in float64 (when PyTorch is installed); without PyTorch, layers whose
attention and feed-forward weights are zero (the output written out by hand), the two engines against each
other, bad input with errors that name the layer, deep copies, and a few SGD steps that lower a toy loss."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad import nn
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.nn.transformer import _detect_is_causal_mask

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
pytestmark = [  # PyTorch's own advice on its mask dtypes and nested-tensor fast path: not about pygrad
    pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning"),
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning"),
]
D, H, FF = 8, 2, 16  # d_model, nhead, dim_feedforward: small enough for the shared machine


def _seq(rng: np.random.Generator, s: int, n: int, batch_first: bool) -> np.ndarray:
    return rng.standard_normal((n, s, D) if batch_first else (s, n, D))


def _ours_from_torch(t: Any, ours: Any) -> None:
    """PyTorch's state_dict, converted to numpy, loads into ours under the same names."""
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    assert list(sd) == list(ours.state_dict())
    ours.load_state_dict(sd)


def _compare(t: Any, ours: Any, m: Any, inputs: list[np.ndarray], kw_t: dict[str, Any], kw_p: dict[str, Any],
             rng: np.random.Generator) -> None:
    """Outputs, gradients of Σ out·g for every input and parameter, against PyTorch (float64)."""
    import torch

    ti = [torch.tensor(a, requires_grad=True) for a in inputs]
    pi = [m.tensor(a, dtype="float64", requires_grad=True) for a in inputs]
    to, po = t(*ti, **kw_t), ours(*pi, **kw_p)
    np.testing.assert_allclose(po.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(tuple(to.shape))
    (to * torch.tensor(g)).sum().backward()
    (po * m.tensor(g, dtype="float64")).sum().backward()
    for a, b in zip(pi, ti):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10)
    params = dict(ours.named_parameters())
    assert set(params) == {k for k, _ in t.named_parameters()}
    for k, prm in t.named_parameters():
        np.testing.assert_allclose(params[k].grad.numpy(), prm.grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=k)


def _causal(torch: Any, m: Any, s: int) -> tuple[Any, Any]:
    return (torch.nn.Transformer.generate_square_subsequent_mask(s, dtype=torch.float64),
            nn.Transformer.generate_square_subsequent_mask(s, dtype="float64", engine=m))


# ------------------------------------------------------------------------------------- against PyTorch ---


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize(("norm_first", "activation", "batch_first", "mask"), [
    (False, "relu", False, None), (True, "relu", False, None), (False, "gelu", True, "causal"),
    (True, "gelu", True, "padding"), (False, "relu", True, "both"), (True, "gelu", False, "causal"),
])
def test_encoder_layer_against_torch(m, norm_first, activation, batch_first, mask):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    s, n = 5, 3
    t = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.1, activation=activation, batch_first=batch_first,
                                         norm_first=norm_first, dtype=torch.float64).eval()
    ours = nn.TransformerEncoderLayer(D, H, FF, dropout=0.1, activation=activation, batch_first=batch_first,
                                      norm_first=norm_first, dtype="float64", engine=m).eval()
    _ours_from_torch(t, ours)
    kw_t: dict[str, Any] = {}
    kw_p: dict[str, Any] = {}
    if mask in ("causal", "both"):
        kw_t["src_mask"], kw_p["src_mask"] = _causal(torch, m, s)
        kw_t["is_causal"] = kw_p["is_causal"] = mask == "causal"
    if mask in ("padding", "both"):
        kpm = rng.random((n, s)) < 0.4
        kpm[:, 0] = False  # no row fully masked
        kw_t["src_key_padding_mask"], kw_p["src_key_padding_mask"] = torch.tensor(kpm), kpm
    _compare(t, ours, m, [_seq(rng, s, n, batch_first)], kw_t, kw_p, rng)


@pytest.mark.parametrize("m", ENGINES)
def test_encoder_layer_unbatched_no_bias_float_mask_against_torch(m):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    rng = np.random.default_rng(2)
    s = 4
    t = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, bias=False, layer_norm_eps=1e-3,
                                         dtype=torch.float64)
    ours = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, bias=False, layer_norm_eps=1e-3, dtype="float64",
                                      engine=m)
    _ours_from_torch(t, ours)
    am = rng.standard_normal((H, s, s))  # per-head float mask, added to the scores
    _compare(t, ours, m, [rng.standard_normal((s, D))], {"src_mask": torch.tensor(am)}, {"src_mask": am}, rng)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_two_layer_encoder_with_final_norm_against_torch(m, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    rng = np.random.default_rng(3)
    s, n = 5, 2
    tl = torch.nn.TransformerEncoderLayer(D, H, FF, activation="gelu", batch_first=batch_first,
                                          dtype=torch.float64)
    t = torch.nn.TransformerEncoder(tl, 2, torch.nn.LayerNorm(D, dtype=torch.float64),
                                    enable_nested_tensor=False).eval()
    with torch.no_grad():  # the two clones start equal: make them differ, as after training
        for prm in t.layers[1].parameters():
            prm.add_(0.1 * torch.randn_like(prm))
    pl = nn.TransformerEncoderLayer(D, H, FF, activation="gelu", batch_first=batch_first, dtype="float64",
                                    engine=m)
    ours = nn.TransformerEncoder(pl, 2, nn.LayerNorm(D, dtype="float64", engine=m), enable_nested_tensor=False)
    ours.eval()
    _ours_from_torch(t, ours)
    kpm = rng.random((n, s)) < 0.3
    kpm[:, -1] = False
    tm, pm = _causal(torch, m, s)  # is_causal=None: detected from the mask
    _compare(t, ours, m, [_seq(rng, s, n, batch_first)], {"mask": tm, "src_key_padding_mask": torch.tensor(kpm)},
             {"mask": pm, "src_key_padding_mask": kpm}, rng)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize(("norm_first", "batch_first"), [(False, False), (True, True)])
def test_decoder_layer_against_torch(m, norm_first, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    rng = np.random.default_rng(4)
    tl, sl, n = 4, 5, 2
    t = torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.2, norm_first=norm_first, batch_first=batch_first,
                                         dtype=torch.float64).eval()
    ours = nn.TransformerDecoderLayer(D, H, FF, dropout=0.2, norm_first=norm_first, batch_first=batch_first,
                                      dtype="float64", engine=m).eval()
    _ours_from_torch(t, ours)
    tm, pm = _causal(torch, m, tl)
    mkpm = rng.random((n, sl)) < 0.4
    mkpm[:, 0] = False
    tkpm = np.zeros((n, tl), bool)
    tkpm[0, -1] = True
    _compare(t, ours, m, [_seq(rng, tl, n, batch_first), _seq(rng, sl, n, batch_first)],
             {"tgt_mask": tm, "tgt_is_causal": False, "tgt_key_padding_mask": torch.tensor(tkpm),
              "memory_key_padding_mask": torch.tensor(mkpm)},
             {"tgt_mask": pm, "tgt_key_padding_mask": tkpm, "memory_key_padding_mask": mkpm}, rng)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_against_torch(m, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    rng = np.random.default_rng(5)
    sl, tl, n = 5, 4, 2
    t = torch.nn.Transformer(D, H, 1, 2, FF, dropout=0.1, batch_first=batch_first, dtype=torch.float64).eval()
    ours = nn.Transformer(D, H, 1, 2, FF, dropout=0.1, batch_first=batch_first, dtype="float64", engine=m,
                          generator=0).eval()
    _ours_from_torch(t, ours)
    tm, pm = _causal(torch, m, tl)
    mm = rng.random((tl, sl)) < 0.3
    mm[:, 0] = False
    _compare(t, ours, m, [_seq(rng, sl, n, batch_first), _seq(rng, tl, n, batch_first)],
             {"tgt_mask": tm, "memory_mask": torch.tensor(mm)}, {"tgt_mask": pm, "memory_mask": mm}, rng)


@pytest.mark.parametrize("m", ENGINES)
def test_our_state_dict_loads_into_torch(m):
    """The other direction: a pygrad Transformer's parameters, as torch tensors, load into PyTorch's and the
    two compute the same."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    ours = nn.Transformer(D, H, 2, 1, FF, dropout=0.0, norm_first=True, activation="gelu", dtype="float64",
                          engine=m, generator=7)
    t = torch.nn.Transformer(D, H, 2, 1, FF, dropout=0.0, norm_first=True, activation="gelu",
                             dtype=torch.float64)
    t.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    src, tgt = rng.standard_normal((5, 2, D)), rng.standard_normal((3, 2, D))
    np.testing.assert_allclose(ours(src, tgt).numpy(), t(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                               rtol=1e-10, atol=1e-11)


def test_default_initialisation_matches_torch_in_distribution():
    """Shapes and scales as PyTorch's: xavier-uniform in-projection, U(±1/√in) feed-forward, zero attention
    biases, unit norms."""
    torch = pytest.importorskip("torch")
    t = torch.nn.TransformerEncoderLayer(16, 4, 64)
    ours = nn.TransformerEncoderLayer(16, 4, 64, generator=0)
    tsd, psd = t.state_dict(), ours.state_dict()
    assert list(tsd) == list(psd)
    for k, v in tsd.items():
        a = psd[k]
        assert a.shape == tuple(v.shape) and a.dtype == np.float32, k
        assert np.abs(a).max() <= float(v.abs().max()) * 1.3 + 1e-6, k
        if k.startswith("norm") or k.endswith("in_proj_bias") or k.endswith("out_proj.bias"):
            np.testing.assert_array_equal(a, v.numpy())


# ------------------------------------------------------------------------------------- without PyTorch ---


def _zero_attention_and_ff(layer: Any, m: Any, c: np.ndarray, b: np.ndarray) -> None:
    """Every weight of the attention blocks and the feed-forward network zero; the attention output bias c
    and the feed-forward output bias b, so sa(·) = c and ff(·) = b."""
    sd = layer.state_dict()
    for k in sd:
        if not k.startswith("norm"):
            sd[k] = np.zeros_like(sd[k])
    for k in sd:
        if k.endswith("out_proj.bias"):
            sd[k] = c
    sd["linear2.bias"] = b
    layer.load_state_dict(sd)


def _np_layer_norm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)


@pytest.mark.parametrize("m", ENGINES)
def test_zero_weights_by_hand(m):
    """sa(·) = c and ff(·) = b: pre-norm gives x + c + b, post-norm layer_norm(layer_norm(x + c) + b), and a
    decoder layer one more term of each."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 2, D))
    mem = rng.standard_normal((3, 2, D))
    c, b = rng.standard_normal(D), rng.standard_normal(D)
    pre = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, norm_first=True, dtype="float64", engine=m)
    _zero_attention_and_ff(pre, m, c, b)
    np.testing.assert_allclose(pre(x).numpy(), x + c + b, rtol=1e-15, atol=1e-15)
    post = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, dtype="float64", engine=m)
    _zero_attention_and_ff(post, m, c, b)
    np.testing.assert_allclose(post(x).numpy(), _np_layer_norm(_np_layer_norm(x + c) + b), rtol=1e-12, atol=1e-12)
    enc = nn.TransformerEncoder(pre, 2, nn.LayerNorm(D, dtype="float64", engine=m))  # two copies, a final norm
    np.testing.assert_allclose(enc(x).numpy(), _np_layer_norm(x + 2 * (c + b)), rtol=1e-12, atol=1e-12)
    dec = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, norm_first=True, dtype="float64", engine=m)
    _zero_attention_and_ff(dec, m, c, b)
    np.testing.assert_allclose(dec(x, mem).numpy(), x + c + c + b, rtol=1e-15, atol=1e-15)
    dec.norm_first = False
    want = _np_layer_norm(_np_layer_norm(_np_layer_norm(x + c) + c) + b)
    np.testing.assert_allclose(dec(x, mem).numpy(), want, rtol=1e-12, atol=1e-12)


def test_engines_agree():
    """The same parameters on the C engine and the reference: the same outputs and gradients (training
    mode, dropout 0, masks)."""
    rng = np.random.default_rng(9)
    src, tgt = rng.standard_normal((2, 5, D)), rng.standard_normal((2, 4, D))
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    g = rng.standard_normal((2, 4, D))
    results = []
    for m in (pygrad, ref):
        model = nn.Transformer(D, H, 2, 2, FF, dropout=0.0, activation="gelu", batch_first=True, dtype="float64",
                               engine=m, generator=11)
        s, t = (m.tensor(a, dtype="float64", requires_grad=True) for a in (src, tgt))
        out = model(s, t, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, dtype="float64", engine=m),
                    src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
        (out * m.tensor(g, dtype="float64")).sum().backward()
        grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
        results.append((model.state_dict(), out.numpy(), s.grad.numpy(), t.grad.numpy(), grads))
    (sd_c, o_c, s_c, t_c, g_c), (sd_r, o_r, s_r, t_r, g_r) = results
    for k in sd_c:  # one generator seed: the same initial parameters on both engines
        np.testing.assert_array_equal(sd_c[k], sd_r[k], err_msg=k)
    np.testing.assert_allclose(o_c, o_r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s_c, s_r, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(t_c, t_r, rtol=1e-9, atol=1e-11)
    for k in g_c:
        np.testing.assert_allclose(g_c[k], g_r[k], rtol=1e-9, atol=1e-11, err_msg=k)


def test_names_match_pytorch():
    """Sub-module and parameter names as PyTorch's (so state_dicts interchange)."""
    dec = nn.TransformerDecoderLayer(D, H, FF, generator=0)
    assert list(dict(dec.named_children())) == [
        "self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "norm3", "dropout1",
        "dropout2", "dropout3"]
    assert dec.linear1.weight.shape == (FF, D) and dec.linear2.weight.shape == (D, FF)
    model = nn.Transformer(D, H, 2, 1, FF, generator=0)
    keys = list(model.state_dict())
    assert keys[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "encoder.layers.1.linear2.bias" in keys and "encoder.norm.weight" in keys
    assert "decoder.layers.0.multihead_attn.out_proj.weight" in keys and keys[-1] == "decoder.norm.bias"
    assert len(keys) == 2 * 12 + 2 + 18 + 2  # encoder layers, encoder norm, decoder layer, decoder norm


@pytest.mark.parametrize("m", ENGINES)
def test_clones_are_independent_and_copies_pickle(m):
    layer = nn.TransformerEncoderLayer(D, H, FF, activation="gelu", engine=m, generator=0)
    enc = nn.TransformerEncoder(layer, 3)
    assert enc.num_layers == 3 and len(enc.layers) == 3
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1 and w0 is not layer.linear1.weight
    np.testing.assert_array_equal(w0.numpy(), w1.numpy())
    with m.no_grad():
        w0.mul_(2.0)
    assert not np.array_equal(w0.numpy(), w1.numpy())
    x = np.random.default_rng(0).standard_normal((3, 2, D)).astype(np.float32)
    enc.eval()
    for other in (copy.deepcopy(enc), pickle.loads(pickle.dumps(enc))):
        np.testing.assert_array_equal(other(x).numpy(), enc(x).numpy())


def test_activation_module_and_callable():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 2, D))
    a = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation="gelu", dtype="float64", generator=1)
    b = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation=nn.GELU(), dtype="float64", generator=1)
    c = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation=lambda t: nn.functional.gelu(t),
                                   dtype="float64", generator=1)
    assert "activation" in dict(b.named_children())  # a Module activation is a sub-module, as in PyTorch
    np.testing.assert_allclose(b(x).numpy(), a(x).numpy(), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(c(x).numpy(), a(x).numpy(), rtol=1e-14, atol=1e-14)
    assert a.activation_relu_or_gelu == 2 and c.activation_relu_or_gelu == 0


@pytest.mark.parametrize("m", ENGINES)
def test_generate_square_subsequent_mask(m):
    mask = nn.Transformer.generate_square_subsequent_mask(3, engine=m)
    assert mask.dtype == m.float32
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert _detect_is_causal_mask(mask, None, 3)
    assert _detect_is_causal_mask(np.triu(np.ones((3, 3), bool), 1), None, 3)
    assert not _detect_is_causal_mask(mask, None, 4) and not _detect_is_causal_mask(mask, False, 3)
    assert not _detect_is_causal_mask(np.zeros((3, 3)), None, 3)


@pytest.mark.parametrize("m", ENGINES)
def test_causal_mask_hides_the_future(m):
    """With the causal mask, position i's output does not depend on inputs after i (also through two layers
    and a dropout-free training-mode pass)."""
    rng = np.random.default_rng(12)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, dtype="float64", engine=m,
                                                           generator=3), 2)
    x = rng.standard_normal((5, 1, D))
    y = x.copy()
    y[3:] += 1.0
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype="float64", engine=m)
    a, b = enc(x, mask=mask).numpy(), enc(y, mask=mask).numpy()
    np.testing.assert_allclose(a[:3], b[:3], rtol=1e-12, atol=1e-12)
    assert not np.allclose(a[3:], b[3:])


ERRORS = [
    (lambda m: nn.TransformerEncoderLayer(5, 2, engine=m), PygradValueError,
     "TransformerEncoderLayer: d_model 5 must be divisible by nhead 2"),
    (lambda m: nn.TransformerDecoderLayer(6, 4, engine=m), PygradValueError,
     "TransformerDecoderLayer: d_model 6 must be divisible by nhead 4"),
    (lambda m: nn.Transformer(10, 3, engine=m), PygradValueError, "TransformerEncoderLayer: d_model 10"),
    (lambda m: nn.TransformerEncoderLayer(D, H, activation="tanh", engine=m), PygradValueError,
     "TransformerEncoderLayer: activation should be relu/gelu, not tanh"),
    (lambda m: nn.TransformerEncoderLayer(D, H, activation=3, engine=m), PygradTypeError,
     "TransformerEncoderLayer: activation must be"),
    (lambda m: nn.TransformerEncoderLayer(D, H, dropout=1.5, engine=m), PygradValueError,
     "TransformerEncoderLayer: dropout probability"),
    (lambda m: nn.TransformerEncoderLayer(D, 0, engine=m), PygradValueError,
     "TransformerEncoderLayer: nhead must be a positive int"),
    (lambda m: nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, engine=m), 0), PygradValueError,
     "TransformerEncoder: num_layers must be a positive int"),
    (lambda m: nn.TransformerDecoder("layer", 2), PygradTypeError, "TransformerDecoder: expected a Module"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(m.ones(2, 3, 4, D)), ShapeError,
     r"TransformerEncoderLayer: src must be 3-d \(S, N, E\) \(batched\) or 2-d \(S, E\) \(unbatched\), got "
     r"shape \(2, 3, 4, 8\)"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D + 1)), ShapeError,
     r"TransformerEncoderLayer: src of shape \(3, 2, 9\) does not have d_model=8"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D), src_mask=np.zeros((3, 4))),
     ShapeError, r"TransformerEncoderLayer: src_mask of shape \(3, 4\), expected \(3, 3\) or \(4, 3, 3\)"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, batch_first=True, engine=m)(
        m.ones(2, 3, D), src_key_padding_mask=np.zeros((3, 2), bool)), ShapeError,
     r"TransformerEncoderLayer: src_key_padding_mask of shape \(3, 2\), expected \(2, 3\)"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D), src_mask=np.zeros((3, 3), int)),
     PygradTypeError, "TransformerEncoderLayer: only bool and floating types of src_mask"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D), is_causal=True),
     PygradValueError, "TransformerEncoderLayer: is_causal=True needs src_mask"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)("x"), PygradTypeError,
     "TransformerEncoderLayer: expected a Tensor"),
    (lambda m: nn.TransformerDecoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D), m.ones(4, 3, D)), ShapeError,
     r"TransformerDecoderLayer: tgt of shape \(3, 2, 8\) and memory of shape \(4, 3, 8\)"),
    (lambda m: nn.TransformerDecoderLayer(D, H, FF, engine=m)(m.ones(3, 2, D), m.ones(4, 2, D),
                                                              memory_mask=np.zeros((4, 3))), ShapeError,
     r"TransformerDecoderLayer: memory_mask of shape \(4, 3\), expected \(3, 4\) or \(4, 3, 4\)"),
    (lambda m: nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, FF, engine=m), 1)(
        m.ones(3, 2, D), m.ones(4, 2, D), memory_key_padding_mask=np.zeros((2, 3), bool)), ShapeError,
     r"TransformerDecoderLayer: memory_key_padding_mask of shape \(2, 3\), expected \(2, 4\)"),
    (lambda m: nn.Transformer(D, H, 1, 1, FF, engine=m)(m.ones(3, 2, D), m.ones(4, 3, D)), ShapeError,
     "Transformer: the batch number of src"),
    (lambda m: nn.Transformer(D, H, 1, 1, FF, engine=m)(m.ones(3, 2, D), m.ones(4, 2, D + 2)), ShapeError,
     "Transformer: the feature number of src"),
    (lambda m: nn.TransformerEncoderLayer(D, H, FF, engine=m)(
        (ref if m is pygrad else pygrad).ones(3, 2, D)), PygradTypeError, "TransformerEncoderLayer: the input is"),
]


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(m, i):
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=msg):
        fn(m)


@pytest.mark.parametrize("m", ENGINES)
def test_encoder_layer_trains(m):
    """A few SGD steps on a toy task (each output position: the mean of the sequence) lower the loss."""
    rng = np.random.default_rng(13)
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, engine=m, generator=0)
    head = nn.Linear(D, 1, engine=m, generator=1)
    opt = m.optim.SGD(list(layer.parameters()) + list(head.parameters()), lr=0.1)
    x = rng.standard_normal((8, 4, D)).astype(np.float32)
    y = m.tensor(np.repeat(x.mean(axis=(1, 2), keepdims=True), 4, axis=1))  # (8, 4, 1)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = ((head(layer(x)) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_encoder_with_a_causal_mask_and_no_hint_compiles(dtype):
    """TransformerEncoder(is_causal=None) reads the mask to set the hint eagerly; under pygrad.compile it
    does not (the hint changes no value), so a training step with fullgraph=True records and gives the
    eager step's bits."""
    s, n, d = 6, 3, 8
    rng = np.random.default_rng(11)
    x = pygrad.tensor(rng.standard_normal((n, s, d)), dtype=dtype)
    mask = nn.Transformer.generate_square_subsequent_mask(s, dtype=dtype)

    def build():
        pygrad.manual_seed(3)
        layer = nn.TransformerEncoderLayer(d, 2, 16, dropout=0.0, batch_first=True, dtype=dtype)
        enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        opt = pygrad.optim.SGD(enc.parameters(), lr=0.05)

        def step(x):
            opt.zero_grad()
            loss = (enc(x, mask=mask) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return enc, step

    (e_mod, eager), (c_mod, step) = build(), build()
    compiled = pygrad.compile(step, fullgraph=True)
    for _ in range(4):
        assert eager(x).numpy().tobytes() == compiled(x).numpy().tobytes()
    assert compiled.records == 1
    for p, q in zip(e_mod.parameters(), c_mod.parameters(), strict=True):
        assert p.numpy().tobytes() == q.numpy().tobytes()
