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

from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError

from . import init as _init
from ._backend import engine_of, generator, is_tensor, label, resolve
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


class ReLU(_Activation):
    """y = max(0, x); dy/dx = 1 for x > 0, else 0 (0 at the kink)."""

    def forward(self, x: Any) -> Any:
        """max(0, x), elementwise."""
        return self._arg(x).relu()


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

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, x: Any) -> Any:
        """x or s·x, elementwise."""
        return self._arg(x).leaky_relu(self.negative_slope)


class ELU(_Activation):
    """y = x for x > 0, else α(eˣ - 1); dy/dx = 1 or α·eˣ."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def forward(self, x: Any) -> Any:
        """x or α(eˣ - 1), elementwise."""
        return self._arg(x).elu(self.alpha)


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
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: Any) -> Any:
        """The mean of each window."""
        from .functional import avg_pool2d

        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class Embedding(Module):
    """A lookup table: y = weight[idx], weight (num_embeddings, embedding_dim) drawn from
    N(0, 1) (PyTorch's default), idx an integer tensor or array of any shape.

    idx: (...) → y: (..., embedding_dim). The backward is a scatter-add of the upstream
    rows into ∂L/∂weight (repeated indices add). With ``padding_idx`` that row starts at
    zero and gets no gradient (its value is still returned).
    """

    _default_engine: str | None = None

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
                 dtype: Any = None, generator: Generator = None, engine: Engine = None) -> None:
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
        rng = _rng(generator)
        w = rng.standard_normal((n, d)) if rng is not None else np.asarray(E.randn(n, d, dtype="float64").numpy())
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight = E.tensor(w, dtype=dtype or "float32", requires_grad=True)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"

    def forward(self, idx: Any) -> Any:
        """The rows of ``weight`` at the integer indices ``idx``."""
        E = self._E
        t = idx if is_tensor(idx) else E.tensor(np.asarray(idx))
        if t.dtype.kind not in "iu":
            raise PygradTypeError(f"Embedding: indices must be an integer tensor or array, got {t.dtype}")
        v = t.numpy()
        if v.size and (v.min() < 0 or v.max() >= self.num_embeddings):
            bad = v[(v < 0) | (v >= self.num_embeddings)].flat[0]
            raise PygradIndexError(f"Embedding: index {bad} is out of range for {self.num_embeddings} embeddings")
        out = self.weight[t]
        if self.padding_idx is not None:  # the padding row's value, without its gradient
            keep = (t != self.padding_idx).reshape(tuple(t.shape) + (1,))
            out = E.where(keep, out, out.detach())
        return out


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
    """Linear, PReLU, Maxout, Embedding, Conv1d, Conv2d, ConvTranspose2d and MLP building their parameters on
    ``engine`` by default (an engine module's name), as classes of ``module`` (so that they pickle by name):
    the layers of ``pygrad._c.nn`` and ``pygrad.reference.nn``."""
    out: dict[str, type[Module]] = {}
    for base in (Linear, PReLU, Maxout, Embedding, Conv1d, Conv2d, MLP, ConvTranspose2d):
        extra: dict[str, Any] = {"__doc__": base.__doc__, "__module__": module, "_default_engine": engine}
        if base is MLP:
            extra.update(_linear=out["Linear"], _prelu=out["PReLU"])
        out[base.__name__] = type(base.__name__, (base,), extra)
    return out


__all__ = ["Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
           "MLP", "Maxout", "PReLU", "Embedding", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh",
           "ACTIVATIONS",
           "bound_to"]
