"""Layers: ``Linear``, ``MLP``, ``Maxout`` and the activation modules.

Weights follow the notes' orientation: a Linear layer computes y = x W + b
with W of shape (in_features, out_features), so a batch x is (N, in) and the
scores are (N, out), as in CS231n's ``X.dot(W)``. (PyTorch stores the
transpose.) Layers that own parameters create them with an engine: the one
``import pygrad`` serves by default (the C engine, or the reference engine
under ``PYGRAD_BACKEND=python``); ``engine="reference"`` or the classes of
:mod:`pygrad.reference.nn` build them on the reference engine. In float32
unless ``dtype`` says otherwise, initialised by a named scheme of
:mod:`pygrad.nn.init` from ``generator`` (an int seed or a numpy Generator;
None: the engine's generator, seeded by ``manual_seed``).

Activation functions and their derivatives (seed 004):

=============  ======================================  ============================
ReLU           max(0, x)                                1 if x > 0 else 0
LeakyReLU      x if x > 0 else s·x                      1 or s
PReLU          x if x > 0 else a·x, a learned           1 or a;  ∂/∂a = x (x ≤ 0)
ELU            x if x > 0 else α(eˣ - 1)                1 or α·eˣ
Sigmoid        σ(x) = 1 / (1 + e⁻ˣ)                     σ(1 - σ)
Tanh           tanh x                                   1 - tanh² x
Maxout         maxₖ (x Wₖ + bₖ)                         routes to the maximal piece
=============  ======================================  ============================
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any, Callable, Union

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError, ShapeError

from . import init as _init
from ._backend import engine_of, generator, is_tensor, label, resolve
from .functional import _inplace_flag
from .module import Module, Sequential

Engine = Union[ModuleType, str, None]
Generator = Union[np.random.Generator, int, None]


def _size(layer: str, what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PygradValueError(f"{layer}: {what} must be a positive int, got {n!r}")
    return int(n)


def _input(layer: str, x: Any, E: ModuleType, dtype: Any) -> Any:
    """``x`` as a tensor of the layer's engine (arrays are converted to the layer's dtype)."""
    if not is_tensor(x):
        if isinstance(x, (np.ndarray, list, tuple)):
            return E.tensor(np.asarray(x), dtype=dtype)
        raise PygradTypeError(f"{layer}: expected a Tensor or an array, got {type(x).__name__}")
    if engine_of(x) is not E:
        raise PygradTypeError(
            f"{layer}: the input is a {label(engine_of(x))} tensor but the layer's parameters are "
            f"{label(E)} tensors")
    return x


class _Activation(Module):
    """An elementwise function without parameters."""

    def _arg(self, x: Any) -> Any:
        if is_tensor(x):
            return x
        return _input(type(self).__name__, x, resolve(None), None)

    def _apply_fn(self, x: Any, op: str, fn: Any) -> Any:
        """fn(x), or written into x when the layer was made with ``inplace=True`` (see
        :func:`pygrad.nn.functional.relu`)."""
        x = self._arg(x)
        return x._inplace(f"{op}_", fn) if getattr(self, "inplace", False) else fn(x)


class ReLU(_Activation):
    """y = max(0, x); dy/dx = 1 for x > 0, else 0 (0 at the kink). ``inplace=True``: y is
    written into x (PyTorch's flag; see :func:`pygrad.nn.functional.relu`)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace_flag("ReLU", inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, x: Any) -> Any:
        """max(0, x), elementwise."""
        if not self.inplace:  # the usual call: no closure
            return self._arg(x).relu()
        return self._apply_fn(x, "relu", lambda t: t.relu())


class Sigmoid(_Activation):
    """y = σ(x) = 1 / (1 + e⁻ˣ); dy/dx = σ(x)(1 - σ(x))."""

    def forward(self, x: Any) -> Any:
        """σ(x), elementwise."""
        return self._arg(x).sigmoid()


class Tanh(_Activation):
    """y = tanh x; dy/dx = 1 - tanh² x."""

    def forward(self, x: Any) -> Any:
        """tanh x, elementwise."""
        return self._arg(x).tanh()


class LeakyReLU(_Activation):
    """y = x for x > 0, else s·x (s = ``negative_slope``); dy/dx = 1 or s."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = _inplace_flag("LeakyReLU", inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        """x or s·x, elementwise."""
        return self._apply_fn(x, "leaky_relu", lambda t: t.leaky_relu(self.negative_slope))


class ELU(_Activation):
    """y = x for x > 0, else α(eˣ - 1); dy/dx = 1 or α·eˣ."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.inplace = _inplace_flag("ELU", inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        """x or α(eˣ - 1), elementwise."""
        return self._apply_fn(x, "elu", lambda t: t.elu(self.alpha))


class PReLU(Module):
    """y = x for x > 0, else a·x, with the slope a learned (a parameter ``weight``).

    ``num_parameters=1`` shares one slope; ``num_parameters=C`` learns one per
    channel, the channel being axis 1 of the input (N, C, ...). Initial slope
    ``init``. ∂y/∂x = 1 or a; ∂y/∂a = x where x ≤ 0, else 0.
    """

    _default_engine: str | None = None  # None: the engine import pygrad serves

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = None,
                 engine: Engine = None) -> None:
        super().__init__()
        self._E = resolve(engine, self._default_engine)
        self.num_parameters = _size("PReLU", "num_parameters", num_parameters)
        self.weight = self._E.tensor(np.full(self.num_parameters, float(init)), dtype=dtype or "float32",
                                     requires_grad=True)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"

    def forward(self, x: Any) -> Any:
        """x or a_c·x, elementwise (c the channel, axis 1)."""
        return self._E.prelu(_input("PReLU", x, self._E, self.weight.dtype), self.weight)


class Linear(Module):
    """y = x W + b: W (in_features, out_features), b (out_features,).

    x: (..., in_features) → y: (..., out_features). ∂L/∂W = xᵀ·∂L/∂y,
    ∂L/∂b = Σ_batch ∂L/∂y, ∂L/∂x = ∂L/∂y·Wᵀ. ``init`` names the weight scheme
    (:mod:`pygrad.nn.init`); the bias starts at 0 (drawn from the same scheme
    for ``init="uniform"``, PyTorch's default).
    """

    _default_engine: str | None = None  # None: the engine import pygrad serves

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, init: str = "kaiming_normal",
                 dtype: Any = None, generator: Generator = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.in_features = n_in = _size("Linear", "in_features", in_features)
        self.out_features = n_out = _size("Linear", "out_features", out_features)
        scheme = _init.get(init)
        rng = _rng(generator)
        dt = dtype or "float32"
        self.weight = E.tensor(scheme((n_in, n_out), n_in, n_out, generator=rng, engine=E), dtype=dt,
                               requires_grad=True)
        if bias:
            b = scheme((n_out,), n_in, n_out, generator=rng, engine=E) if init == "uniform" else np.zeros(n_out)
            self.bias = E.tensor(b, dtype=dt, requires_grad=True)
        else:
            self.bias = None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, x: Any) -> Any:
        """x W + b: (..., in_features) → (..., out_features)."""
        x = _input("Linear", x, self._E, self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear: input of shape {x.shape} does not have {self.in_features} features "
                             f"in its last dim")
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d: weight (out_channels, in_channels/groups, *kernel_size) and bias
    (out_channels,) drawn as PyTorch draws them: kaiming_uniform(a=√5) for the weight, which is
    U(-1/√fan_in, 1/√fan_in), and the same bound for the bias, fan_in = in_channels/groups · Π kernel_size."""

    _default_engine: str | None = None
    _nd = 2
    _name = "Conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 dtype: Any = None, generator: Generator = None, engine: Engine = None) -> None:
        super().__init__()
        name, nd = self._name, self._nd
        self._E = E = resolve(engine, self._default_engine)
        self.in_channels = c = _size(name, "in_channels", in_channels)
        self.out_channels = o = _size(name, "out_channels", out_channels)
        self.groups = g = _size(name, "groups", groups)
        if c % g or o % g:
            raise PygradValueError(f"{name}: groups={g} must divide in_channels={c} and out_channels={o}")
        ks = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * nd
        if len(ks) != nd:
            raise PygradValueError(f"{name}: kernel_size must be an int or {nd} ints, got {kernel_size!r}")
        self.kernel_size = tuple(_size(name, "kernel_size", k) for k in ks)
        if padding_mode != "zeros":
            raise PygradValueError(f"{name}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        self.stride, self.padding, self.dilation, self.padding_mode = stride, padding, dilation, padding_mode
        fan_in = (c // g) * int(np.prod(self.kernel_size))
        rng = _rng(generator)
        dt = dtype or "float32"
        shape = (o, c // g) + self.kernel_size
        # kaiming_uniform with a = √5: gain √(2 / (1 + a²)) = √(1/3), so the bound is 1/√fan_in
        w = _init.kaiming_uniform(shape, fan_in, gain=(1.0 / 3.0) ** 0.5, generator=rng, engine=E)
        self.weight = E.tensor(w, dtype=dt, requires_grad=True)
        if bias:
            self.bias = E.tensor(_init.uniform((o,), fan_in, generator=rng, engine=E), dtype=dt, requires_grad=True)
        else:
            self.bias = None
        from . import functional as F

        # checked now, as PyTorch does: ints or n-tuples, 'valid' or 'same' (stride 1)
        st = F._conv_ints(name, "stride", stride, nd, 1)
        F._conv_ints(name, "dilation", dilation, nd, 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise PygradValueError(f"{name}: padding must be an int, {nd} ints, 'valid' or 'same', got "
                                       f"{padding!r}")
            if padding == "same" and any(a != 1 for a in st):
                raise PygradValueError(f"{name}: padding='same' is not supported for strided convolutions")
        else:
            F._conv_ints(name, "padding", padding, nd, 0)
        self._fn = F.conv2d if nd == 2 else F.conv1d

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups}, "
                f"bias={self.bias is not None}")

    def forward(self, x: Any) -> Any:
        """The convolution of x ((N, C, *spatial) or unbatched (C, *spatial)) with the layer's weight and bias."""
        x = _input(self._name, x, self._E, self.weight.dtype)
        return self._fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-d convolution, PyTorch's ``nn.Conv2d``: (N, C_in, H, W) → (N, C_out, OH, OW) by
    :func:`pygrad.nn.functional.conv2d`; weight (C_out, C_in/groups, KH, KW), bias (C_out,)."""

    _nd = 2
    _name = "Conv2d"


class Conv1d(_ConvNd):
    """1-d convolution, PyTorch's ``nn.Conv1d``: (N, C_in, L) → (N, C_out, OL) by
    :func:`pygrad.nn.functional.conv1d`; weight (C_out, C_in/groups, K), bias (C_out,)."""

    _nd = 1
    _name = "Conv1d"


class ConvTranspose2d(Module):
    """2-d transposed convolution, PyTorch's ``nn.ConvTranspose2d``: (N, C_in, H, W) → (N, C_out, OH, OW) by
    :func:`pygrad.nn.functional.conv_transpose2d`; weight (C_in, C_out/groups, KH, KW), bias (C_out,), drawn
    as PyTorch draws them: U(-1/√fan_in, 1/√fan_in) with fan_in = C_out/groups · KH · KW (the weight's
    second dim times the kernel, PyTorch's fan of that layout). ``forward(x, output_size=None)``: an
    ``output_size`` ((OH, OW), or with the batch and channel dims) picks the output padding."""

    _default_engine: str | None = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", *, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        name = "ConvTranspose2d"
        self._E = E = resolve(engine, self._default_engine)
        self.in_channels = c = _size(name, "in_channels", in_channels)
        self.out_channels = o = _size(name, "out_channels", out_channels)
        self.groups = g = _size(name, "groups", groups)
        if c % g or o % g:
            raise PygradValueError(f"{name}: groups={g} must divide in_channels={c} and out_channels={o}")
        ks = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        if len(ks) != 2:
            raise PygradValueError(f"{name}: kernel_size must be an int or 2 ints, got {kernel_size!r}")
        self.kernel_size = tuple(_size(name, "kernel_size", k) for k in ks)
        if padding_mode != "zeros":
            raise PygradValueError(f"{name}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        from . import functional as F

        # checked now, as PyTorch does
        self.stride = F._conv_ints(name, "stride", stride, 2, 1)
        self.padding = F._conv_ints(name, "padding", padding, 2, 0)
        self.output_padding = F._conv_ints(name, "output_padding", output_padding, 2, 0)
        self.dilation = F._conv_ints(name, "dilation", dilation, 2, 1)
        if any(a >= max(s, d) for a, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise PygradValueError(f"{name}: output_padding {self.output_padding} must be smaller than either "
                                   f"stride {self.stride} or dilation {self.dilation}")
        self.padding_mode = padding_mode
        fan_in = (o // g) * int(np.prod(self.kernel_size))
        rng = _rng(generator)
        dt = dtype or "float32"
        shape = (c, o // g) + self.kernel_size
        w = _init.kaiming_uniform(shape, fan_in, gain=(1.0 / 3.0) ** 0.5, generator=rng, engine=E)
        self.weight = E.tensor(w, dtype=dt, requires_grad=True)
        if bias:
            self.bias = E.tensor(_init.uniform((o,), fan_in, generator=rng, engine=E), dtype=dt, requires_grad=True)
        else:
            self.bias = None

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")

    def _output_padding(self, x: Any, output_size: Any) -> tuple[int, ...]:
        """PyTorch's rule: the output padding that makes the output ``output_size``, which must lie between
        the smallest size and that plus stride - 1."""
        name = "ConvTranspose2d"
        if output_size is None:
            return self.output_padding
        size = tuple(int(v) for v in output_size)
        if len(size) == x.ndim:
            size = size[-2:]
        if len(size) != 2:
            raise PygradValueError(f"{name}: output_size must have 2 or {x.ndim} elements, got {output_size!r}")
        out = []
        for n, want, s, p, d, k in zip(x.shape[-2:], size, self.stride, self.padding, self.dilation,
                                       self.kernel_size):
            low = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not low <= want <= low + s - 1:
                raise PygradValueError(f"{name}: requested an output size of {size}, but valid sizes range from "
                                       f"{low} to {low + s - 1} in each spatial dim (for an input of shape "
                                       f"{x.shape})")
            out.append(want - low)
        return tuple(out)

    def forward(self, x: Any, output_size: Any = None) -> Any:
        """The transposed convolution of x ((N, C_in, H, W) or unbatched (C_in, H, W)) with the layer's weight
        and bias."""
        from .functional import conv_transpose2d

        x = _input("ConvTranspose2d", x, self._E, self.weight.dtype)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(x, output_size), self.groups, self.dilation)


class MaxPool2d(Module):
    """2-d max pooling, PyTorch's ``nn.MaxPool2d``: :func:`pygrad.nn.functional.max_pool2d` with the
    arguments given here (``stride`` defaults to ``kernel_size``). No parameters."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, x: Any) -> Any:
        """The maximum of each window (and its index with ``return_indices``)."""
        from .functional import max_pool2d

        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool2d(Module):
    """2-d average pooling, PyTorch's ``nn.AvgPool2d``: :func:`pygrad.nn.functional.avg_pool2d` with the
    arguments given here. No parameters."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: Any) -> Any:
        """The mean of each window."""
        from .functional import avg_pool2d

        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)


class AdaptiveAvgPool2d(Module):
    """2-d adaptive average pooling, PyTorch's ``nn.AdaptiveAvgPool2d``:
    :func:`pygrad.nn.functional.adaptive_avg_pool2d` to ``output_size`` (an int or a pair, None keeping
    that input size). No parameters."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x: Any) -> Any:
        """The mean of each adaptive window."""
        from .functional import adaptive_avg_pool2d

        return adaptive_avg_pool2d(x, self.output_size)


class Upsample(Module):
    """Resampling, PyTorch's ``nn.Upsample``: :func:`pygrad.nn.functional.interpolate` with ``size`` or
    ``scale_factor``, ``mode`` ('nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear')
    and ``align_corners``. No parameters."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"

    def forward(self, x: Any) -> Any:
        """x resampled."""
        from .functional import interpolate

        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)


class Embedding(Module):
    """A lookup table: y = weight[idx], weight (num_embeddings, embedding_dim) drawn from
    N(0, 1) (PyTorch's default), idx an integer tensor or array of any shape.

    idx: (...) → y: (..., embedding_dim). The backward is a scatter-add of the upstream
    rows into ∂L/∂weight (repeated indices add). With ``padding_idx`` that row starts at
    zero and gets no gradient (its value is still returned). ``max_norm``, ``norm_type`` and
    ``scale_grad_by_freq`` are F.embedding's (rows looked up whose norm exceeds max_norm are
    scaled by max_norm / (norm + 1e-7) in place, outside the graph, by one op that pygrad.compile
    records; each row's gradient divided by its count in the batch); ``sparse=True`` is not
    supported.
    ``_weight`` (PyTorch's): a (num_embeddings, embedding_dim) tensor to use as the table
    itself (sharing its data, its padding row left as it is), frozen (no gradient) with
    ``_freeze``; :meth:`from_pretrained` is the usual way to give one.
    """

    _default_engine: str | None = None

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, *, dtype: Any = None,
                 generator: Generator = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.num_embeddings = n = _size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = d = _size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or \
                    not -n <= padding_idx < n:
                raise PygradValueError(f"Embedding: padding_idx must be an int in [-{n}, {n}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        if sparse:
            raise PygradValueError("Embedding: sparse=True (sparse gradients) is not supported; pygrad's gradients "
                                   "are dense tensors")
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type, self.scale_grad_by_freq, self.sparse = float(norm_type), bool(scale_grad_by_freq), False
        if _weight is not None:
            if not is_tensor(_weight) or engine_of(_weight) is not E:
                raise PygradTypeError(f"Embedding: _weight must be a {label(E)} tensor, got {type(_weight).__name__}")
            if tuple(_weight.shape) != (n, d):
                raise ShapeError(f"Embedding: _weight of shape {tuple(_weight.shape)} does not match "
                                 f"num_embeddings={n}, embedding_dim={d}")
            if np.dtype(_weight.dtype).kind != "f":
                raise PygradTypeError(f"Embedding: _weight must be a float tensor, got dtype {_weight.dtype}")
            self.weight = _weight.detach().requires_grad_(not _freeze)
            return
        rng = _rng(generator)
        w = rng.standard_normal((n, d)) if rng is not None else np.asarray(E.randn(n, d, dtype="float64").numpy())
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight = E.tensor(w, dtype=dtype or "float32", requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """PyTorch's ``nn.Embedding.from_pretrained``: a layer whose table is ``embeddings`` (a 2-d
        float tensor, its data shared; a numpy array is copied into a tensor of its dtype), with no
        gradient when ``freeze`` (the default)."""
        if isinstance(embeddings, np.ndarray):
            E = resolve(None, cls._default_engine)
            embeddings = E.tensor(embeddings)
        if not is_tensor(embeddings):
            raise PygradTypeError(f"Embedding.from_pretrained: expected a 2-d tensor, got {type(embeddings).__name__}")
        if embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-d, got shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze, engine=engine_of(embeddings))

    def extra_repr(self) -> str:
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            extra += f", max_norm={self.max_norm}" + ("" if self.norm_type == 2.0 else f", norm_type={self.norm_type}")
        if self.scale_grad_by_freq:
            extra += ", scale_grad_by_freq=True"
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"

    def forward(self, idx: Any) -> Any:
        """The rows of ``weight`` at the integer indices ``idx`` (the embedding op)."""
        from .functional import embedding

        return embedding(idx, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq)

class _OutProj(Module):
    """MultiheadAttention's output projection in PyTorch's layout: y = x Wᵀ + b, W (out, in)."""

    def __init__(self, weight: Any, bias: Any) -> None:
        super().__init__()
        self.weight = weight
        self.bias = bias

    def forward(self, x: Any) -> Any:
        y = x.matmul(self.weight.transpose(0, 1))
        return y if self.bias is None else y + self.bias


def _key_mask_bias(E: ModuleType, mask: Any, dtype: Any, what: str) -> Any:
    """A MultiheadAttention mask as an additive float tensor: bool True = masked out (−∞), as PyTorch's
    ``nn.MultiheadAttention`` (the opposite of scaled_dot_product_attention's bool mask); float: added."""
    if is_tensor(mask):
        if mask.dtype.kind == "b":
            return E.tensor(np.where(mask.numpy(), -np.inf, 0.0), dtype=dtype)
        if mask.dtype.kind != "f":
            raise PygradTypeError(f"MultiheadAttention: {what} must be bool or float, got {mask.dtype}")
        return mask if mask.dtype == dtype else mask.astype(dtype)
    arr = np.asarray(mask)
    if arr.dtype.kind not in "bf":
        raise PygradTypeError(f"MultiheadAttention: {what} must be bool or float, got {arr.dtype}")
    return E.tensor(np.where(arr, -np.inf, 0.0) if arr.dtype.kind == "b" else arr, dtype=dtype)


class MultiheadAttention(Module):
    """PyTorch's ``nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
    add_zero_attn=False, kdim=None, vdim=None, batch_first=False)`` with its parameters and their layouts:
    ``in_proj_weight`` (3E, E) and
    ``in_proj_bias`` (3E,) (or ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight``
    (E, vdim) when kdim or vdim differ from E), ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,):

        qₕ = (query W_qᵀ + b_q) split in heads, likewise kₕ, vₕ;  oₕ = softmax(qₕ kₕᵀ/√d + mask) vₕ;
        out = concat(oₕ) W_oᵀ + b_o,   d = E / num_heads.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights or None)``; inputs (L, N, E)
    ((N, L, E) with ``batch_first``) or unbatched (L, E). Bool masks mean True = not allowed (PyTorch's rule
    for this module), float masks are added. ``need_weights=False`` runs the fused
    scaled_dot_product_attention; with weights, the attention matrix is formed (and averaged over heads by
    default). Dropout on the attention weights in training mode.

    ``add_bias_kv``: parameters ``bias_k`` and ``bias_v`` (1, 1, E) (Glorot-normal), one more key and value
    row after the projections (k = [k; b_k], v = [v; b_v], for every batch element), seen by every query;
    ``add_zero_attn``: one more key and value of zeros per head after that (a logit of 0 for every query).
    Each adds a column to the attention (S + 1), which the masks let through.
    """

    _default_engine: str | None = None

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, *,
                 dtype: Any = None, generator: Generator = None, engine: Engine = None) -> None:
        super().__init__()
        name = "MultiheadAttention"
        self._E = E = resolve(engine, self._default_engine)
        self.embed_dim = e = _size(name, "embed_dim", embed_dim)
        self.num_heads = h = _size(name, "num_heads", num_heads)
        if e % h:
            raise PygradValueError(f"{name}: embed_dim {e} must be divisible by num_heads {h}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise PygradValueError(f"{name}: dropout probability has to be between 0 and 1, but got {dropout!r}")
        self.kdim = e if kdim is None else _size(name, "kdim", kdim)
        self.vdim = e if vdim is None else _size(name, "vdim", vdim)
        self.head_dim = e // h
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self._qkv_same_embed_dim = self.kdim == e and self.vdim == e
        rng = _rng(generator)
        dt = dtype or "float32"

        def param(a: np.ndarray) -> Any:
            return E.tensor(a, dtype=dt, requires_grad=True)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(_init.xavier_uniform((3 * e, e), e, 3 * e, generator=rng, engine=E))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = param(_init.xavier_uniform((e, e), e, e, generator=rng, engine=E))
            self.k_proj_weight = param(_init.xavier_uniform((e, self.kdim), self.kdim, e, generator=rng, engine=E))
            self.v_proj_weight = param(_init.xavier_uniform((e, self.vdim), self.vdim, e, generator=rng, engine=E))
        self.in_proj_bias = param(np.zeros(3 * e)) if bias else None
        self.out_proj = _OutProj(param(_init.uniform((e, e), e, generator=rng, engine=E)),
                                 param(np.zeros(e)) if bias else None)
        if add_bias_kv:
            self.bias_k = param(_init.xavier_normal((1, 1, e), e, e, generator=rng, engine=E))
            self.bias_v = param(_init.xavier_normal((1, 1, e), e, e, generator=rng, engine=E))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"

    def _project(self, x: Any, i: int) -> Any:
        e = self.embed_dim
        w = self.in_proj_weight[i * e:(i + 1) * e] if self.in_proj_weight is not None else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]
        y = x.matmul(w.transpose(0, 1))
        return y if self.in_proj_bias is None else y + self.in_proj_bias[i * e:(i + 1) * e]

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False) -> Any:
        """(output, attention weights or None); see the class docstring for shapes and masks."""
        from .functional import dropout as _dropout
        from .functional import scaled_dot_product_attention

        name = "MultiheadAttention"
        dt = (self.in_proj_weight if self.in_proj_weight is not None else self.q_proj_weight).dtype
        E = self._E
        q, k, v = (_input(name, t, E, dt) for t in (query, key, value))
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ShapeError(f"{name}: query {q.shape}, key {k.shape} and value {v.shape} must all be 3-d "
                             f"(batched) or 2-d (unbatched)")
        batched = q.ndim == 3
        if not batched:
            q, k, v = (t.reshape(t.shape[0], 1, t.shape[1]) for t in (q, k, v))
        elif self.batch_first:
            q, k, v = (t.transpose(0, 1) for t in (q, k, v))
        # now (L, N, E), (S, N, kdim), (S, N, vdim)
        (lq, n, eq), (s, nk, ek), (sv, nv, ev) = q.shape, k.shape, v.shape
        if eq != self.embed_dim or ek != self.kdim or ev != self.vdim or nk != n or nv != n or sv != s:
            raise ShapeError(f"{name}: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} do not fit embed_dim {self.embed_dim}, kdim {self.kdim}, "
                             f"vdim {self.vdim}")
        if is_causal and attn_mask is None:
            raise PygradValueError(f"{name}: need attn_mask if specifying the is_causal hint")
        h, d = self.num_heads, self.head_dim

        def heads(t: Any, rows: int) -> Any:  # (rows, N, E) -> (N, H, rows, d)
            return t.reshape(rows, n, h, d).permute(1, 2, 0, 3)

        kproj, vproj = self._project(k, 1), self._project(v, 2)
        extra = 0  # key and value rows past the S given: bias_k/bias_v, then zeros
        if self.bias_k is not None:
            kproj = E.cat([kproj, self.bias_k.expand(1, n, self.embed_dim)], axis=0)
            vproj = E.cat([vproj, self.bias_v.expand(1, n, self.embed_dim)], axis=0)
            extra += 1
        qh, kh, vh = heads(self._project(q, 0), lq), heads(kproj, s + extra), heads(vproj, s + extra)
        if self.add_zero_attn:
            zeros = E.zeros(n, h, 1, d, dtype=dt)
            kh, vh = E.cat([kh, zeros], axis=2), E.cat([vh, zeros], axis=2)
            extra += 1
        bias = None
        if attn_mask is not None:
            am = _key_mask_bias(E, attn_mask, dt, "attn_mask")
            if tuple(am.shape) == (lq, s):
                bias = am
            elif tuple(am.shape) == (n * h, lq, s):
                bias = am.reshape(n, h, lq, s)
            else:
                raise ShapeError(f"{name}: attn_mask of shape {tuple(am.shape)}, expected ({lq}, {s}) or "
                                 f"({n * h}, {lq}, {s})")
        if key_padding_mask is not None:
            kp = _key_mask_bias(E, key_padding_mask, dt, "key_padding_mask")
            if tuple(kp.shape) != ((n, s) if batched else (s,)):
                raise ShapeError(f"{name}: key_padding_mask of shape {tuple(kp.shape)}, expected "
                                 f"{(n, s) if batched else (s,)}")
            kp = kp.reshape(n, 1, 1, s)
            bias = kp if bias is None else bias + kp
        if bias is not None and extra:  # the added keys are open to every query
            bias = E.cat([bias, E.zeros(*bias.shape[:-1], extra, dtype=bias.dtype)], axis=-1)
        p_drop = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            sc = qh.matmul(kh.transpose(-1, -2)) * (1.0 / float(np.sqrt(d)))
            if bias is not None:
                sc = sc + bias
            attn = sc.softmax(-1)  # (N, H, L, S)
            weights = attn.mean(axis=1) if average_attn_weights else attn
            if p_drop > 0:
                attn = _dropout(attn, p_drop)
            o = attn.matmul(vh)
        else:
            o = scaled_dot_product_attention(qh, kh, vh, attn_mask=bias, dropout_p=p_drop)
        o = o.permute(2, 0, 1, 3).reshape(lq, n, self.embed_dim)  # (L, N, E)
        out = self.out_proj(o)
        if not batched:
            out = out.reshape(lq, self.embed_dim)
            if weights is not None:
                weights = weights.reshape(*weights.shape[1:])
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


class Maxout(Module):
    """z = maxₖ (x Wₖ + bₖ), k = 1..pieces: ``pieces`` linear maps, their elementwise max.

    x: (..., in_features) → (..., out_features). The pieces live side by side in
    ``weight`` (in_features, out_features·pieces) and ``bias`` (out_features·pieces,):
    unit c takes the max of columns c·pieces … c·pieces + pieces - 1. With two
    pieces it contains ReLU (one piece at 0) and leaky ReLU; the gradient flows
    only through the maximal piece ("max routes").
    """

    _default_engine: str | None = None  # None: the engine import pygrad serves

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, *,
                 init: str = "xavier_normal", dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.in_features = n_in = _size("Maxout", "in_features", in_features)
        self.out_features = n_out = _size("Maxout", "out_features", out_features)
        self.pieces = k = _size("Maxout", "pieces", pieces)
        scheme = _init.get(init)
        rng = _rng(generator)
        dt = dtype or "float32"
        self.weight = E.tensor(scheme((n_in, n_out * k), n_in, n_out, generator=rng, engine=E), dtype=dt,
                               requires_grad=True)
        self.bias = E.tensor(np.zeros(n_out * k), dtype=dt, requires_grad=True) if bias else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"

    def forward(self, x: Any) -> Any:
        """maxₖ (x Wₖ + bₖ): (..., in_features) → (..., out_features)."""
        x = _input("Maxout", x, self._E, self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(f"Maxout: input of shape {x.shape} does not have {self.in_features} features "
                             f"in its last dim")
        z = x @ self.weight
        if self.bias is not None:
            z = z + self.bias
        return self._E.maxout(z, self.pieces)



class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d (PyTorch's ``_BatchNorm``): weight (C,) ones and bias (C,) zeros
    when ``affine`` (no bias with ``bias=False``); buffers running_mean (C,) zeros, running_var (C,) ones and
    num_batches_tracked (0-d int64) when ``track_running_stats`` (else None). In training the batch's
    statistics normalise and the running ones are updated with ``momentum`` (None: the cumulative average,
    factor 1/num_batches_tracked); in eval the running statistics normalise (the batch's when not tracked)."""

    _default_engine: str | None = None
    _name = "BatchNorm"
    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype: Any = None,
                 engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.num_features = c = _size(self._name, "num_features", num_features)
        self.eps, self.momentum = float(eps), None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self._dtype = dt = dtype or "float32"
        if self.affine:
            self.weight = E.tensor(np.ones(c), dtype=dt, requires_grad=True)
            self.bias = E.tensor(np.zeros(c), dtype=dt, requires_grad=True) if bias else None
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", E.tensor(np.zeros(c), dtype=dt))
            self.register_buffer("running_var", E.tensor(np.ones(c), dtype=dt))
            self.register_buffer("num_batches_tracked", E.tensor(0, dtype=E.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch tracked."""
        if self.track_running_stats:
            E, c = self._E, self.num_features
            self.running_mean = E.tensor(np.zeros(c), dtype=self._dtype)
            self.running_var = E.tensor(np.ones(c), dtype=self._dtype)
            self.num_batches_tracked = E.tensor(0, dtype=E.int64)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")

    def forward(self, x: Any) -> Any:
        """F.batch_norm with the batch's statistics (training, or no running ones) or the running ones."""
        from .functional import batch_norm

        x = _input(self._name, x, self._E, self._dtype)
        if x.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise PygradValueError(f"{self._name}: expected {want} input (got {x.ndim}D input of shape "
                                   f"{tuple(x.shape)})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with self._E.no_grad():
                self.num_batches_tracked.add_(1)  # in place, as PyTorch (the buffer keeps its identity)
            if self.momentum is None:  # the cumulative average needs the count's value
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L), PyTorch's ``nn.BatchNorm1d``: statistics per channel
    over N (and L); see :func:`pygrad.nn.functional.batch_norm`."""

    _name = "BatchNorm1d"
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), PyTorch's ``nn.BatchNorm2d``: statistics per channel over
    (N, H, W); see :func:`pygrad.nn.functional.batch_norm`."""

    _name = "BatchNorm2d"
    _dims = (4,)


class LayerNorm(Module):
    """Layer normalisation, PyTorch's ``nn.LayerNorm``: statistics over the last dims, ``normalized_shape``;
    weight ones and bias zeros of that shape when ``elementwise_affine`` (no bias when ``bias`` is False).
    See :func:`pygrad.nn.functional.layer_norm`."""

    _default_engine: str | None = None

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 *, dtype: Any = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(_size("LayerNorm", "normalized_shape", d) for d in ns)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        self._dtype = dt = dtype or "float32"
        self.weight = E.tensor(np.ones(self.normalized_shape), dtype=dt, requires_grad=True) \
            if self.elementwise_affine else None
        self.bias = E.tensor(np.zeros(self.normalized_shape), dtype=dt, requires_grad=True) \
            if self.elementwise_affine and bias else None

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

    def forward(self, x: Any) -> Any:
        """F.layer_norm over the last len(normalized_shape) dims."""
        from .functional import layer_norm

        return layer_norm(_input("LayerNorm", x, self._E, self._dtype), self.normalized_shape, self.weight,
                          self.bias, self.eps)


class GroupNorm(Module):
    """Group normalisation, PyTorch's ``nn.GroupNorm``: the channels of (N, C, *) in ``num_groups`` groups,
    statistics per (sample, group); weight ones and bias zeros (C,) when ``affine`` (no bias with ``bias=False``).
    See :func:`pygrad.nn.functional.group_norm`."""

    _default_engine: str | None = None

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
                 bias: bool = True, dtype: Any = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.num_groups = g = _size("GroupNorm", "num_groups", num_groups)
        self.num_channels = c = _size("GroupNorm", "num_channels", num_channels)
        if c % g:
            raise PygradValueError(f"GroupNorm: num_channels={c} must be divisible by num_groups={g}")
        self.eps, self.affine = float(eps), bool(affine)
        self._dtype = dt = dtype or "float32"
        self.weight = E.tensor(np.ones(c), dtype=dt, requires_grad=True) if self.affine else None
        self.bias = E.tensor(np.zeros(c), dtype=dt, requires_grad=True) if self.affine and bias else None

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"

    def forward(self, x: Any) -> Any:
        """F.group_norm with this layer's groups, weight and bias."""
        from .functional import group_norm

        return group_norm(_input("GroupNorm", x, self._E, self._dtype), self.num_groups, self.weight, self.bias,
                          self.eps)


class MaxPool1d(Module):
    """1-d max pooling, PyTorch's ``nn.MaxPool1d``: :func:`pygrad.nn.functional.max_pool1d`. No parameters."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, x: Any) -> Any:
        from .functional import max_pool1d

        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool1d(Module):
    """1-d average pooling, PyTorch's ``nn.AvgPool1d``: :func:`pygrad.nn.functional.avg_pool1d`. No
    parameters."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: Any) -> Any:
        from .functional import avg_pool1d

        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AdaptiveAvgPool1d(Module):
    """1-d adaptive average pooling, PyTorch's ``nn.AdaptiveAvgPool1d``. No parameters."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x: Any) -> Any:
        from .functional import adaptive_avg_pool1d

        return adaptive_avg_pool1d(x, self.output_size)


class RMSNorm(Module):
    """RMS normalisation, PyTorch's ``nn.RMSNorm(normalized_shape, eps=None, elementwise_affine=True)``:
    x / √(mean(x²) + eps) · weight over the last dims (weight ones of ``normalized_shape`` when
    ``elementwise_affine``; ``eps`` None: the dtype's machine epsilon). See
    :func:`pygrad.nn.functional.rms_norm`."""

    _default_engine: str | None = None

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True, *,
                 dtype: Any = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(_size("RMSNorm", "normalized_shape", d) for d in ns)
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self._dtype = dt = dtype or "float32"
        self.weight = E.tensor(np.ones(self.normalized_shape), dtype=dt, requires_grad=True) \
            if self.elementwise_affine else None

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

    def forward(self, x: Any) -> Any:
        from .functional import rms_norm

        return rms_norm(_input("RMSNorm", x, self._E, self._dtype), self.normalized_shape, self.weight, self.eps)


class ConvTranspose1d(Module):
    """1-d transposed convolution, PyTorch's ``nn.ConvTranspose1d``: (N, C_in, L) → (N, C_out, OL) by
    :func:`pygrad.nn.functional.conv_transpose1d`; weight (C_in, C_out/groups, K), bias (C_out,), drawn as
    PyTorch draws them: U(-1/√fan_in, 1/√fan_in), fan_in = C_out/groups · K. ``forward(x, output_size=None)``:
    an ``output_size`` picks the output padding."""

    _default_engine: str | None = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", *, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        name = "ConvTranspose1d"
        self._E = E = resolve(engine, self._default_engine)
        self.in_channels = c = _size(name, "in_channels", in_channels)
        self.out_channels = o = _size(name, "out_channels", out_channels)
        self.groups = g = _size(name, "groups", groups)
        if c % g or o % g:
            raise PygradValueError(f"{name}: groups={g} must divide in_channels={c} and out_channels={o}")
        from . import functional as F

        self.kernel_size = F._conv_ints(name, "kernel_size", kernel_size, 1, 1)
        if padding_mode != "zeros":
            raise PygradValueError(f"{name}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        self.stride = F._conv_ints(name, "stride", stride, 1, 1)
        self.padding = F._conv_ints(name, "padding", padding, 1, 0)
        self.output_padding = F._conv_ints(name, "output_padding", output_padding, 1, 0)
        self.dilation = F._conv_ints(name, "dilation", dilation, 1, 1)
        if self.output_padding[0] >= max(self.stride[0], self.dilation[0]):
            raise PygradValueError(f"{name}: output_padding {self.output_padding} must be smaller than either "
                                   f"stride {self.stride} or dilation {self.dilation}")
        self.padding_mode = padding_mode
        fan_in = (o // g) * self.kernel_size[0]
        rng = _rng(generator)
        dt = dtype or "float32"
        w = _init.kaiming_uniform((c, o // g) + self.kernel_size, fan_in, gain=(1.0 / 3.0) ** 0.5, generator=rng,
                                  engine=E)
        self.weight = E.tensor(w, dtype=dt, requires_grad=True)
        self.bias = E.tensor(_init.uniform((o,), fan_in, generator=rng, engine=E), dtype=dt, requires_grad=True) \
            if bias else None

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")

    def forward(self, x: Any, output_size: Any = None) -> Any:
        from .functional import conv_transpose1d

        name = "ConvTranspose1d"
        x = _input(name, x, self._E, self.weight.dtype)
        op = self.output_padding
        if output_size is not None:
            size = tuple(int(v) for v in (output_size if isinstance(output_size, (tuple, list)) else (output_size,)))
            want = size[-1]
            n, s, p, d, k = x.shape[-1], self.stride[0], self.padding[0], self.dilation[0], self.kernel_size[0]
            low = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not low <= want <= low + s - 1:
                raise PygradValueError(f"{name}: requested an output size of {want}, but valid sizes range from "
                                       f"{low} to {low + s - 1} (for an input of shape {tuple(x.shape)})")
            op = (want - low,)
        return conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                self.dilation)


class Bilinear(Module):
    """PyTorch's ``nn.Bilinear(in1_features, in2_features, out_features, bias=True)``:
    y_o = x1ᵀ W_o x2 + b_o, weight (out, in1, in2) and bias (out,) from U(-1/√in1, 1/√in1), as PyTorch. See
    :func:`pygrad.nn.functional.bilinear`."""

    _default_engine: str | None = None

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = None, generator: Generator = None, engine: Engine = None) -> None:
        super().__init__()
        self._E = E = resolve(engine, self._default_engine)
        self.in1_features = a = _size("Bilinear", "in1_features", in1_features)
        self.in2_features = b = _size("Bilinear", "in2_features", in2_features)
        self.out_features = o = _size("Bilinear", "out_features", out_features)
        rng = _rng(generator)
        dt = dtype or "float32"
        self.weight = E.tensor(_init.uniform((o, a, b), a, generator=rng, engine=E), dtype=dt, requires_grad=True)
        self.bias = E.tensor(_init.uniform((o,), a, generator=rng, engine=E), dtype=dt, requires_grad=True) \
            if bias else None

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")

    def forward(self, input1: Any, input2: Any) -> Any:
        from .functional import bilinear

        return bilinear(_input("Bilinear", input1, self._E, self.weight.dtype),
                        _input("Bilinear", input2, self._E, self.weight.dtype), self.weight, self.bias)



class _InstanceNorm(Module):
    _default_engine: str | None = None
    _ndim = 3

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, *, bias: bool = True, dtype: Any = None,
                 engine: Engine = None) -> None:
        super().__init__()
        name = type(self).__name__
        self._E = E = resolve(engine, self._default_engine)
        self.num_features = c = _size(name, "num_features", num_features)
        if track_running_stats:
            raise PygradValueError(f"{name}: track_running_stats=True is not supported")
        self.eps, self.momentum, self.affine = float(eps), momentum, bool(affine)
        self.track_running_stats = False
        self._dtype = dt = dtype or "float32"
        self.weight = E.tensor(np.ones(c), dtype=dt, requires_grad=True) if self.affine else None
        self.bias = E.tensor(np.zeros(c), dtype=dt, requires_grad=True) if self.affine and bias else None

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"

    def forward(self, x: Any) -> Any:
        """Each channel of each sample normalised over its spatial dims (an unbatched input gets a batch of 1)."""
        from .functional import instance_norm

        name = type(self).__name__
        x = _input(name, x, self._E, self._dtype)
        if x.ndim not in (self._ndim - 1, self._ndim):
            raise ShapeError(f"{name}: expected a {self._ndim - 1}-d or {self._ndim}-d input, got shape {x.shape}")
        unbatched = x.ndim == self._ndim - 1
        if unbatched:
            x = x.reshape((1,) + tuple(x.shape))
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}: expected {self.num_features} channels, got input of shape {x.shape}")
        y = instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return y.reshape(tuple(y.shape[1:])) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """PyTorch's ``nn.InstanceNorm1d(num_features, eps=1e-5, momentum=0.1, affine=False,
    track_running_stats=False)`` on (N, C, L) or (C, L): :func:`pygrad.nn.functional.instance_norm`;
    weight ones and bias zeros (C,) when ``affine`` (no bias with ``bias=False``). Running statistics are
    not supported."""

    _ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """PyTorch's ``nn.InstanceNorm2d`` on (N, C, H, W) or (C, H, W) (see :class:`InstanceNorm1d`)."""

    _ndim = 4


class AdaptiveMaxPool1d(Module):
    """1-d adaptive max pooling, PyTorch's ``nn.AdaptiveMaxPool1d``. No parameters."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x: Any) -> Any:
        """The maximum of each adaptive window."""
        from .functional import adaptive_max_pool1d

        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """2-d adaptive max pooling, PyTorch's ``nn.AdaptiveMaxPool2d``. No parameters."""

    def forward(self, x: Any) -> Any:
        """The maximum of each adaptive window."""
        from .functional import adaptive_max_pool2d

        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


class LPPool1d(Module):
    """Power-average pooling, PyTorch's ``nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)``."""

    _fn = "lp_pool1d"

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self) -> str:
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}"

    def forward(self, x: Any) -> Any:
        """(Σ_window xᵖ)^(1/p)."""
        from . import functional as F

        return getattr(F, self._fn)(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(LPPool1d):
    """Power-average pooling, PyTorch's ``nn.LPPool2d``."""

    _fn = "lp_pool2d"


class LocalResponseNorm(Module):
    """PyTorch's ``nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0)``:
    :func:`pygrad.nn.functional.local_response_norm`. No parameters."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, float(alpha), float(beta), float(k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def forward(self, x: Any) -> Any:
        """x / (k + α·mean_window x²)^β."""
        from .functional import local_response_norm

        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)


class RReLU(Module):
    """Randomised leaky ReLU, PyTorch's ``nn.RReLU(lower=1/8, upper=1/3)``: random slopes in ``train()``, their
    mean in ``eval()`` (:func:`pygrad.nn.functional.rrelu`)."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper = float(lower), float(upper)
        self.inplace = _inplace_flag("RReLU", inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        """x for x ≥ 0, else a·x."""
        from .functional import rrelu

        return rrelu(x, self.lower, self.upper, self.training, self.inplace)


def _rng(seed: Generator) -> np.random.Generator | None:
    return generator(seed)


ACTIVATIONS: dict[str, Callable[..., Module]] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "prelu": PReLU, "sigmoid": Sigmoid, "tanh": Tanh,
}
"""The activations ``MLP(activation=...)`` accepts by name."""

_DEFAULT_INIT = {"sigmoid": "xavier_normal", "tanh": "xavier_normal"}


class MLP(Sequential):
    """A multilayer perceptron: Linear layers with an activation between them.

    ``sizes`` = [d₀, d₁, …, d_L] gives Linear(d₀, d₁), act, Linear(d₁, d₂), act, …,
    Linear(d_{L-1}, d_L): the last layer's outputs are left linear (scores).
    ``activation``: a name of :data:`ACTIVATIONS` or a callable returning a
    Module. ``init`` defaults to Kaiming (He) for the ReLU family and to Xavier
    for sigmoid and tanh. One ``generator`` seeds every layer in turn.
    """

    _default_engine: str | None = None  # None: the engine import pygrad serves
    _linear: type[Linear] = Linear
    _prelu: type[PReLU] = PReLU

    def __init__(self, sizes: Sequence[int], activation: str | Callable[[], Module] = "relu", *,
                 init: str | None = None, bias: bool = True, dtype: Any = None, generator: Generator = None,
                 engine: Engine = None) -> None:
        super().__init__()
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise PygradValueError("MLP: sizes must be a list of at least two layer widths, e.g. [2, 100, 3]")
        widths = [_size("MLP", "every width", n) for n in sizes]
        E = resolve(engine, self._default_engine)
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise PygradValueError(f"MLP: unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
            name = activation
            cls = self._prelu if name == "prelu" else ACTIVATIONS[name]

            def make() -> Module:
                return cls(dtype=dtype, engine=E) if name == "prelu" else cls()
        elif callable(activation):
            name, make = "custom", activation
        else:
            raise PygradTypeError(f"MLP: activation must be a name or a callable, got {activation!r}")
        scheme = init or _DEFAULT_INIT.get(name, "kaiming_normal")
        rng = _rng(generator)  # one stream for all layers: an int seed must not repeat per layer
        self.sizes = widths
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            self.append(self._linear(a, b, bias, init=scheme, dtype=dtype, generator=rng, engine=E))
            if i < len(widths) - 2:
                self.append(make())

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def bound_to(engine: str, module: str) -> dict[str, type[Module]]:
    """Linear, PReLU, Maxout, Embedding, Conv1d, Conv2d, ConvTranspose2d, the normalisation layers,
    MultiheadAttention, MLP and the transformer layers building their parameters on ``engine`` by default
    (an engine module's name), as classes of ``module`` (so that they pickle by name): the layers of
    ``pygrad._c.nn`` and ``pygrad.reference.nn``."""
    out: dict[str, type[Module]] = {}
    for base in (Linear, PReLU, Maxout, Embedding, Conv1d, Conv2d, ConvTranspose2d, BatchNorm1d, BatchNorm2d,
                 LayerNorm, GroupNorm, MultiheadAttention, RMSNorm, ConvTranspose1d, Bilinear, InstanceNorm1d,
                 InstanceNorm2d, MLP):
        extra: dict[str, Any] = {"__doc__": base.__doc__, "__module__": module, "_default_engine": engine}
        if base is MLP:
            extra.update(_linear=out["Linear"], _prelu=out["PReLU"])
        out[base.__name__] = type(base.__name__, (base,), extra)
    from .transformer import Transformer, TransformerDecoderLayer, TransformerEncoderLayer

    for base in (TransformerEncoderLayer, TransformerDecoderLayer, Transformer):
        out[base.__name__] = type(base.__name__, (base,), {"__doc__": base.__doc__, "__module__": module,
                                                           "_default_engine": engine})
    return out


__all__ = ["Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
           "LayerNorm",
           "GroupNorm", "MultiheadAttention", "AdaptiveAvgPool2d", "Upsample",
           "MLP", "Maxout", "PReLU", "Embedding", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh",
           "ACTIVATIONS", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "RMSNorm", "ConvTranspose1d", "Bilinear",
           "InstanceNorm1d", "InstanceNorm2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d",
           "LocalResponseNorm", "RReLU", "bound_to"]
