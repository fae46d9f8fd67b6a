"""PyTorch's transformer modules, composed of MultiheadAttention, Linear, LayerNorm and Dropout.

Not a fused kernel: each layer applies its sub-modules in order, so both engines run it and autograd
differentiates it op by op. The sub-modules carry PyTorch's names and layouts (``self_attn``, ``linear1``,
``dropout``, ``linear2``, ``norm1`` … ``dropout3``, ``multihead_attn``; ``layers.0`` …; ``encoder`` and
``decoder``; ``linear1.weight`` is (dim_feedforward, d_model) as in PyTorch), so a PyTorch ``state_dict``
converted to numpy loads into the pygrad module and back.

With sa(x) = dropout1(self_attn(x, x, x)), mha(x, m) = dropout2(multihead_attn(x, m, m)) and
ff(x) = dropout₂₍₃₎(linear2(dropout(activation(linear1(x))))):

==========================================  ============================================================
TransformerEncoderLayer                     x = norm1(x + sa(x));  x = norm2(x + ff(x))
TransformerEncoderLayer(norm_first=True)    x = x + sa(norm1(x));  x = x + ff(norm2(x))
TransformerDecoderLayer                     x = norm1(x + sa(x));  x = norm2(x + mha(x, m));
                                            x = norm3(x + ff(x))
TransformerDecoderLayer(norm_first=True)    x = x + sa(norm1(x));  x = x + mha(norm2(x), m);
                                            x = x + ff(norm3(x))
TransformerEncoder(layer, n, norm)          x = norm(layerₙ(… layer₁(x)))   (norm=None: no final norm)
TransformerDecoder(layer, n, norm)          x = norm(layerₙ(… layer₁(x, m), m))
Transformer(...)                            decoder(tgt, encoder(src))
==========================================  ============================================================

Shapes: (S, N, E) sequences, (N, S, E) with ``batch_first``, or unbatched (S, E); E = d_model. Masks follow
:class:`~pygrad.nn.MultiheadAttention`: attention masks (L, S) or (N·nhead, L, S), key padding masks (N, S)
(or (S,) unbatched); bool True = not allowed, float masks are added to the scores.
"""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any, Callable, Union

import numpy as np

from pygrad import _recording
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError

from . import functional as F
from . import init as _init
from ._backend import engine_of, generator, is_tensor, resolve
from .containers import Dropout, ModuleList
from .layers import LayerNorm, MultiheadAttention, _input, _size
from .module import Module

Engine = Union[ModuleType, str, None]
Generator = Union[np.random.Generator, int, None]
Activation = Union[str, Callable[[Any], Any]]


class _Linear(Module):
    """The feed-forward Linear of the transformer layers in PyTorch's layout: y = x Wᵀ + b with W
    (out_features, in_features) and b (out_features,), both U(-1/√in, 1/√in) as PyTorch's ``nn.Linear``,
    so that PyTorch's ``linear1.weight`` copies in as it is (:class:`pygrad.nn.Linear` keeps W as
    (in, out))."""

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: Any, rng: Any,
                 E: ModuleType) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = E.tensor(_init.uniform((out_features, in_features), in_features, generator=rng, engine=E),
                               dtype=dtype, requires_grad=True)
        self.bias = E.tensor(_init.uniform((out_features,), in_features, generator=rng, engine=E), dtype=dtype,
                             requires_grad=True) if bias else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, x: Any) -> Any:
        """x Wᵀ + b: (..., in_features) → (..., out_features)."""
        y = x.matmul(self.weight.transpose(0, 1))
        return y if self.bias is None else y + self.bias


def _activation(layer: str, activation: Any) -> Any:
    """PyTorch's rule: "relu" → F.relu, "gelu" → F.gelu, a callable (function or Module) as it is."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise PygradValueError(f"{layer}: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise PygradTypeError(f"{layer}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


def _dropout_p(layer: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise PygradValueError(f"{layer}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _heads(layer: str, d_model: Any, nhead: Any) -> tuple[int, int]:
    d, h = _size(layer, "d_model", d_model), _size(layer, "nhead", nhead)
    if d % h:
        raise PygradValueError(f"{layer}: d_model {d} must be divisible by nhead {h}")
    return d, h


def _sequence(layer: str, what: str, x: Any, E: ModuleType, dtype: Any, d_model: int,
              batch_first: bool) -> tuple[Any, int, int]:
    """``x`` as a tensor of the layer's engine, checked: (x, batch size N (1 unbatched), sequence length)."""
    x = _input(layer, x, E, dtype)
    if x.ndim not in (2, 3):
        want = "(N, S, E)" if batch_first else "(S, N, E)"
        raise ShapeError(f"{layer}: {what} must be 3-d {want} (batched) or 2-d (S, E) (unbatched), got shape "
                         f"{tuple(x.shape)}")
    if x.shape[-1] != d_model:
        raise ShapeError(f"{layer}: {what} of shape {tuple(x.shape)} does not have d_model={d_model} features in "
                         f"its last dim")
    if x.ndim == 2:
        return x, 1, x.shape[0]
    return (x, x.shape[0], x.shape[1]) if batch_first else (x, x.shape[1], x.shape[0])


def _mask(layer: str, what: str, mask: Any, want: list[tuple[int, ...]], E: ModuleType) -> Any:
    """``mask`` checked for dtype (bool or float) and shape (one of ``want``); a constant tensor of the other
    engine is passed on as its values."""
    if mask is None:
        return None
    if is_tensor(mask):
        shape, dt = tuple(mask.shape), mask.dtype
    else:
        try:
            mask = np.asarray(mask)
        except (TypeError, ValueError) as exc:
            raise PygradTypeError(f"{layer}: {what} is not an array: {exc}") from None
        shape, dt = mask.shape, mask.dtype
    if np.dtype(dt).kind not in "bf":
        raise PygradTypeError(f"{layer}: only bool and floating types of {what} are supported, got {dt}")
    if shape not in want:
        raise ShapeError(f"{layer}: {what} of shape {shape}, expected {' or '.join(str(w) for w in want)}")
    if is_tensor(mask) and engine_of(mask) is not E and not mask.requires_grad:
        mask = mask.numpy()
    return mask


def _attn_masks(layer: str, what: str, mask: Any, kpm_what: str, kpm: Any, n: int, h: int, lq: int, s: int,
                batched: bool, E: ModuleType) -> tuple[Any, Any]:
    return (_mask(layer, what, mask, [(lq, s), (n * h, lq, s)], E),
            _mask(layer, kpm_what, kpm, [(n, s)] if batched else [(s,)], E))


def _causal_hint(layer: str, is_causal: Any, hint: str, mask: Any, what: str) -> bool:
    if is_causal and mask is None:
        raise PygradValueError(f"{layer}: {hint}=True needs {what} (the hint does not build the mask; "
                               f"Transformer.generate_square_subsequent_mask(S) makes one)")
    return bool(is_causal)


def _seq_len(x: Any, batch_first: bool) -> int | None:
    shape = tuple(x.shape) if is_tensor(x) else np.shape(x)
    if len(shape) == 2:
        return shape[0]
    if len(shape) == 3:
        return shape[1] if batch_first else shape[0]
    return None


def _detect_is_causal_mask(mask: Any, is_causal: bool | None, size: int | None) -> bool:
    """PyTorch's rule: an explicit ``is_causal`` is returned as is; None: whether ``mask`` is the (size, size)
    causal mask (−∞ above the diagonal, 0 elsewhere; or True above the diagonal for a bool mask)."""
    if is_causal is not None or mask is None:
        return is_causal is True
    if _recording.RECORDING:  # under pygrad.compile: reading the mask would stop the recording, and the hint
        return False          # changes no value here (the layers apply the mask as given, causal or not)
    a = mask.numpy() if is_tensor(mask) else np.asarray(mask)
    sz = size if size is not None else (a.shape[-2] if a.ndim >= 2 else -1)
    if a.shape != (sz, sz):
        return False
    upper = np.triu(np.ones((sz, sz), dtype=bool), 1)
    return bool((a == upper).all()) if a.dtype.kind == "b" else bool((a == np.where(upper, -np.inf, 0.0)).all())


def _batch_first(layer: Any) -> bool:
    return bool(getattr(getattr(layer, "self_attn", None), "batch_first", False))


def _clones(layer: str, module: Any, n: Any) -> ModuleList:
    if not isinstance(module, Module):
        raise PygradTypeError(f"{layer}: expected a Module to repeat, got {type(module).__name__}")
    return ModuleList([copy.deepcopy(module) for _ in range(_size(layer, "num_layers", n))])


class _Layer(Module):
    """What the encoder and decoder layers share: their arguments' checks and the self-attention block."""

    _default_engine: str | None = None

    def _checked(self, d_model: Any, nhead: Any, dim_feedforward: Any, dropout: Any, activation: Activation,
                 dtype: Any, generator: Generator, engine: Engine) -> tuple[Any, ...]:
        """(engine, d_model, nhead, dim_feedforward, dropout, activation, generator, dtype), checked."""
        name = type(self).__name__
        self._E = E = resolve(engine, self._default_engine)
        d, h = _heads(name, d_model, nhead)
        return (E, d, h, _size(name, "dim_feedforward", dim_feedforward), _dropout_p(name, dropout),
                _activation(name, activation), _rng(generator), dtype or "float32")

    def _sa_block(self, x: Any, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Any:
        """sa(x) = dropout1(self_attn(x, x, x))."""
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)


class TransformerEncoderLayer(_Layer):
    """PyTorch's ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``: self-attention
    and a feed-forward network, each with a residual connection and a LayerNorm.

        post-norm (norm_first=False):  x = norm1(x + sa(x));   x = norm2(x + ff(x))
        pre-norm  (norm_first=True):   x = x + sa(norm1(x));   x = x + ff(norm2(x))
        sa(x) = dropout1(self_attn(x, x, x, attn_mask=src_mask, key_padding_mask=src_key_padding_mask))
        ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))

    Sub-modules: ``self_attn`` (MultiheadAttention(d_model, nhead, dropout, bias, batch_first)),
    ``linear1`` (weight (dim_feedforward, d_model), PyTorch's layout), ``dropout``, ``linear2``,
    ``norm1``, ``norm2`` (LayerNorm(d_model, layer_norm_eps, bias)), ``dropout1``, ``dropout2``.
    ``activation``: "relu", "gelu" or a callable (a Module one is registered as a sub-module).
    ``dtype``, ``generator`` (one stream for every sub-module, in PyTorch's order) and ``engine`` as the
    other layers of :mod:`pygrad.nn`.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src (S, N, E), (N, S, E)
    with ``batch_first``, or (S, E); src_mask (S, S) or (N·nhead, S, S); src_key_padding_mask (N, S) (or
    (S,)). ``is_causal`` is a hint, as in PyTorch: it needs ``src_mask`` and the mask is what is applied.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Activation = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, *, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        E, d, h, ff, p, act, rng, dt = self._checked(d_model, nhead, dim_feedforward, dropout, activation, dtype,
                                                     generator, engine)
        self.self_attn = MultiheadAttention(d, h, dropout=p, bias=bias, batch_first=batch_first, dtype=dt,
                                            generator=rng, engine=E)
        self.linear1 = _Linear(d, ff, bias, dt, rng, E)
        self.dropout = Dropout(p)
        self.linear2 = _Linear(ff, d, bias, dt, rng, E)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E)
        self.norm2 = LayerNorm(d, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E)
        self.dropout1 = Dropout(p)
        self.dropout2 = Dropout(p)
        self.activation_relu_or_gelu = 1 if act is F.relu else 2 if act is F.gelu else 0
        self.activation = act

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:
        """The layer's output, src's shape; see the class docstring for the formula and the masks."""
        name = type(self).__name__
        sa = self.self_attn
        x, n, s = _sequence(name, "src", src, self._E, self.linear1.weight.dtype, sa.embed_dim, sa.batch_first)
        src_mask, src_key_padding_mask = _attn_masks(name, "src_mask", src_mask, "src_key_padding_mask",
                                                     src_key_padding_mask, n, sa.num_heads, s, s, x.ndim == 3,
                                                     self._E)
        is_causal = _causal_hint(name, is_causal, "is_causal", src_mask, "src_mask")
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _ff_block(self, x: Any) -> Any:
        """ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))."""
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(_Layer):
    """PyTorch's ``nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``:
    self-attention over the target, attention from the target to the encoder's output (the memory m), and a
    feed-forward network, each with a residual connection and a LayerNorm.

        post-norm:  x = norm1(x + sa(x));   x = norm2(x + mha(x, m));   x = norm3(x + ff(x))
        pre-norm:   x = x + sa(norm1(x));   x = x + mha(norm2(x), m);   x = x + ff(norm3(x))
        sa(x) = dropout1(self_attn(x, x, x, attn_mask=tgt_mask, key_padding_mask=tgt_key_padding_mask))
        mha(x, m) = dropout2(multihead_attn(x, m, m, attn_mask=memory_mask,
                                            key_padding_mask=memory_key_padding_mask))
        ff(x) = dropout3(linear2(dropout(activation(linear1(x)))))

    Sub-modules as :class:`TransformerEncoderLayer`'s plus ``multihead_attn``, ``norm3`` and ``dropout3``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``: tgt (T, N, E), memory
    (S, N, E) ((N, T, E) and (N, S, E) with ``batch_first``; (T, E) and (S, E) unbatched); tgt_mask (T, T)
    or (N·nhead, T, T); memory_mask (T, S) or (N·nhead, T, S); tgt_key_padding_mask (N, T);
    memory_key_padding_mask (N, S). The ``*_is_causal`` hints need their masks.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Activation = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, *, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        E, d, h, ff, p, act, rng, dt = self._checked(d_model, nhead, dim_feedforward, dropout, activation, dtype,
                                                     generator, engine)
        self.self_attn = MultiheadAttention(d, h, dropout=p, bias=bias, batch_first=batch_first, dtype=dt,
                                            generator=rng, engine=E)
        self.multihead_attn = MultiheadAttention(d, h, dropout=p, bias=bias, batch_first=batch_first, dtype=dt,
                                                 generator=rng, engine=E)
        self.linear1 = _Linear(d, ff, bias, dt, rng, E)
        self.dropout = Dropout(p)
        self.linear2 = _Linear(ff, d, bias, dt, rng, E)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E)
        self.norm2 = LayerNorm(d, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E)
        self.norm3 = LayerNorm(d, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E)
        self.dropout1 = Dropout(p)
        self.dropout2 = Dropout(p)
        self.dropout3 = Dropout(p)
        self.activation = act

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Any:
        """The layer's output, tgt's shape; see the class docstring for the formula and the masks."""
        name = type(self).__name__
        sa, E = self.self_attn, self._E
        dt = self.linear1.weight.dtype
        x, n, t = _sequence(name, "tgt", tgt, E, dt, sa.embed_dim, sa.batch_first)
        m, nm, s = _sequence(name, "memory", memory, E, dt, sa.embed_dim, sa.batch_first)
        if m.ndim != x.ndim or nm != n:
            raise ShapeError(f"{name}: tgt of shape {tuple(x.shape)} and memory of shape {tuple(m.shape)} must "
                             f"both be batched, with the same batch size, or both unbatched")
        batched, h = x.ndim == 3, sa.num_heads
        tgt_mask, tgt_key_padding_mask = _attn_masks(name, "tgt_mask", tgt_mask, "tgt_key_padding_mask",
                                                     tgt_key_padding_mask, n, h, t, t, batched, E)
        memory_mask, memory_key_padding_mask = _attn_masks(name, "memory_mask", memory_mask,
                                                           "memory_key_padding_mask", memory_key_padding_mask,
                                                           n, h, t, s, batched, E)
        tgt_is_causal = _causal_hint(name, tgt_is_causal, "tgt_is_causal", tgt_mask, "tgt_mask")
        memory_is_causal = _causal_hint(name, memory_is_causal, "memory_is_causal", memory_mask, "memory_mask")
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), m, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, m, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x: Any, mem: Any, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Any:
        """mha(x, m) = dropout2(multihead_attn(x, m, m))."""
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Any) -> Any:
        """ff(x) = dropout3(linear2(dropout(activation(linear1(x)))))."""
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """PyTorch's ``nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
    mask_check=True)``: ``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, …, equal
    at the start, trained apart) and an optional final ``norm``:

        x = norm(layerₙ(… layer₁(src, mask, src_key_padding_mask) …))

    ``enable_nested_tensor`` and ``mask_check`` are accepted and kept as attributes for PyTorch code, with no
    effect: they steer PyTorch's nested-tensor fast path for padded batches, and pygrad has no nested tensors
    (``use_nested_tensor`` is always False; padded positions are computed and masked out, which gives
    PyTorch's slow path's results).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: shapes as
    :class:`TransformerEncoderLayer`; ``is_causal=None`` sets the hint when ``mask`` is the causal mask of
    :meth:`Transformer.generate_square_subsequent_mask`.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm
        self.enable_nested_tensor = bool(enable_nested_tensor)
        self.use_nested_tensor = False
        self.mask_check = bool(mask_check)

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Any:
        """norm(layerₙ(… layer₁(src))): src's shape."""
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, _batch_first(self.layers[0])))
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """PyTorch's ``nn.TransformerDecoder(decoder_layer, num_layers, norm=None)``: ``num_layers`` deep copies
    of ``decoder_layer`` (``layers.0``, …) and an optional final ``norm``:

        x = norm(layerₙ(… layer₁(tgt, memory) …, memory))

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``: shapes as
    :class:`TransformerDecoderLayer`; ``tgt_is_causal=None`` sets the hint when ``tgt_mask`` is causal.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Any:
        """norm(layerₙ(… layer₁(tgt, memory) …, memory)): tgt's shape."""
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal,
                                               _seq_len(tgt, _batch_first(self.layers[0])))
        out = tgt
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """PyTorch's ``nn.Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None,
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``: an ``encoder``
    (TransformerEncoder of ``num_encoder_layers`` layers with a final LayerNorm) and a ``decoder``
    (TransformerDecoder likewise), or the given custom ones:

        memory = encoder(src, src_mask, src_key_padding_mask)
        out = decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)

    As PyTorch, every parameter of two or more dims (custom modules' too) is then redrawn xavier-uniform
    (from ``generator``); biases and norms keep their layers' initialisation.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)``: src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) with ``batch_first``), the
    output tgt's shape; masks as :class:`TransformerDecoderLayer`, src_mask (S, S).
    """

    _default_engine: str | None = None

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: Activation = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, *, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        rng, dt = _rng(generator), dtype or "float32"
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)
        kw = {"dtype": dt, "generator": rng, "engine": E}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*args, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*args, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt, engine=E))
        for p in self.parameters():
            if p.ndim > 1:
                _init.xavier_uniform_(p, generator=rng)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, bool(batch_first)

    def forward(self, src: Any, tgt: Any, src_mask: Any = None, tgt_mask: Any = None, memory_mask: Any = None,
                src_key_padding_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Any:
        """decoder(tgt, encoder(src)): tgt's shape."""
        ss = tuple(src.shape) if is_tensor(src) else np.shape(src)
        ts = tuple(tgt.shape) if is_tensor(tgt) else np.shape(tgt)
        if len(ss) == 3 and len(ts) == 3 and ss[0 if self.batch_first else 1] != ts[0 if self.batch_first else 1]:
            raise ShapeError(f"Transformer: the batch number of src {ss} and tgt {ts} must be equal")
        if not ss or not ts or ss[-1] != self.d_model or ts[-1] != self.d_model:
            raise ShapeError(f"Transformer: the feature number of src {ss} and tgt {ts} must be equal to "
                             f"d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None, *,
                                        engine: Engine = None) -> Any:
        """The (sz, sz) causal mask: −∞ above the diagonal (position i may not attend to j > i), 0 elsewhere;
        float32 unless ``dtype`` says otherwise, on ``engine`` (the default one for None). ``device`` is
        accepted for PyTorch code (pygrad runs on the CPU)."""
        n = _size("Transformer.generate_square_subsequent_mask", "sz", sz)
        E = resolve(engine, None)
        return E.tensor(np.triu(np.full((n, n), -np.inf), 1), dtype=dtype or "float32")


def _rng(seed: Generator) -> np.random.Generator | None:
    return generator(seed)


__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
           "Transformer"]
