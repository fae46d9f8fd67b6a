"""Containers, shape layers, more activations and ``Parameter`` (PyTorch's names).

Engine-neutral like the rest of :mod:`pygrad.nn`: each layer applies the ops
of the engine its input belongs to.

==============================  =================================================
Parameter(t, requires_grad)     t as a leaf that requires grad (shares t's storage)
Identity()                      y = x
Flatten(start_dim=1, end_dim)   y = x with dims start..end merged into one
Unflatten(dim, sizes)           y = x with dim split into ``sizes``
ModuleList(modules)             a list of sub-modules, registered by index
ModuleDict(modules)             a dict of sub-modules, registered by key
GELU(approximate)               x·Φ(x), or the tanh form
SiLU(), Mish()                  x·σ(x), x·tanh(softplus(x))
Softplus(beta, threshold)       log(1 + e^{βx}) / β
Hardtanh(min_val, max_val)      x clipped; ReLU6() = Hardtanh(0, 6)
Hardsigmoid()                   clip(x/6 + 1/2, 0, 1)
==============================  =================================================
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError

from . import functional as F
from ._backend import is_tensor
from .module import Module


class _ParameterMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:  # a parameter is a leaf tensor that requires grad
        return is_tensor(obj) and obj.requires_grad and obj.is_leaf


class Parameter(metaclass=_ParameterMeta):
    """``Parameter(t)`` is ``t`` as a leaf that requires grad, sharing t's storage
    (``t.detach()`` with ``requires_grad`` set), as ``torch.nn.Parameter``;
    assigned to a Module attribute it registers as a parameter. ``isinstance(x,
    Parameter)`` holds for every leaf tensor that requires grad."""

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Any:  # type: ignore[misc]
        if data is None:
            raise PygradTypeError("Parameter: give the tensor to wrap (pygrad has no default empty tensor)")
        if not is_tensor(data):
            raise PygradTypeError(f"Parameter: expected a pygrad Tensor, got {type(data).__name__}")
        if requires_grad and data.dtype.kind != "f":
            raise PygradTypeError(f"Parameter: only float tensors can require grad, got {data.dtype}")
        p = data.detach()
        p.requires_grad = bool(requires_grad)
        return p


class Identity(Module):
    """y = x (any arguments to the constructor are ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        """x itself."""
        return x


class Dropout(Module):
    """PyTorch's ``nn.Dropout(p=0.5, inplace=False)``: in training mode y = x · keep / (1 - p), each element
    kept with probability 1 - p (a fresh mask per call, from the generator :func:`pygrad.manual_seed` seeds);
    in eval mode y = x. See :func:`pygrad.nn.functional.dropout`."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise PygradValueError(f"Dropout: dropout probability has to be between 0 and 1, but got {p!r}")
        self.p, self.inplace = float(p), bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, x: Any) -> Any:
        """dropout(x, p, training=self.training)."""
        from .functional import dropout

        return dropout(x, self.p, self.training, self.inplace)


def _dim(layer: str, d: Any, ndim: int) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise PygradTypeError(f"{layer}: dims must be ints, got {d!r}")
    if not -ndim <= d < ndim:
        raise ShapeError(f"{layer}: dim {d} is out of range for {ndim} dims")
    return d % ndim


class Flatten(Module):
    """Merge dims ``start_dim`` .. ``end_dim`` into one (the default keeps the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x: Any) -> Any:
        """x reshaped with the dims merged."""
        if not is_tensor(x):
            raise PygradTypeError(f"Flatten: expected a pygrad Tensor, got {type(x).__name__}")
        if x.ndim == 0:
            return x.reshape(1)
        a, b = _dim("Flatten", self.start_dim, x.ndim), _dim("Flatten", self.end_dim, x.ndim)
        if a > b:
            raise PygradValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim}")
        n = 1
        for s in x.shape[a:b + 1]:
            n *= s
        return x.reshape(tuple(x.shape[:a]) + (n,) + tuple(x.shape[b + 1:]))


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size: Iterable[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

    def forward(self, x: Any) -> Any:
        """x reshaped with the dim split."""
        d = _dim("Unflatten", self.dim, x.ndim)
        sizes = list(self.unflattened_size)
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        if sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[d]) or \
                (-1 in sizes and (known == 0 or x.shape[d] % known)):
            raise ShapeError(f"Unflatten: cannot split dim {d} of size {x.shape[d]} into {self.unflattened_size}")
        sizes = [x.shape[d] // known if s == -1 else s for s in sizes]
        return x.reshape(tuple(x.shape[:d]) + tuple(sizes) + tuple(x.shape[d + 1:]))


class ModuleList(Module):
    """A list of sub-modules (registered as "0", "1", ...): index, iterate, append, extend, insert."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _check(self, m: Any) -> Module:
        if not isinstance(m, Module):
            raise PygradTypeError(f"ModuleList: expected a Module, got {type(m).__name__}")
        return m

    def _rebuild(self, mods: list[Module]) -> None:
        for k in list(self._modules):
            delattr(self, k)
        for i, m in enumerate(mods):
            setattr(self, str(i), m)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        setattr(self, str(len(self._modules)), self._check(module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, self._check(module))
        self._rebuild(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, i: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])
        try:
            return mods[i]
        except (IndexError, TypeError):
            raise PygradIndexError(f"ModuleList: index {i!r} out of range for {len(mods)} modules") from None

    def __setitem__(self, i: int, module: Module) -> None:
        mods = list(self._modules.values())
        try:
            mods[i] = self._check(module)
        except IndexError:
            raise PygradIndexError(f"ModuleList: index {i!r} out of range for {len(mods)} modules") from None
        self._rebuild(mods)

    def __delitem__(self, i: int | slice) -> None:
        mods = list(self._modules.values())
        del mods[i]
        self._rebuild(mods)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your own forward()")


class ModuleDict(Module):
    """A dict of sub-modules registered under their keys (insertion order kept)."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise PygradValueError(f"ModuleDict: keys must be non-empty strings without dots, got {key!r}")
        if not isinstance(module, Module):
            raise PygradTypeError(f"ModuleDict: expected a Module, got {type(module).__name__}")
        setattr(self, key, module)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise PygradIndexError(f"ModuleDict: no module {key!r}") from None

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise PygradIndexError(f"ModuleDict: no module {key!r}")
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def keys(self) -> list[str]:
        return list(self._modules)

    def values(self) -> list[Module]:
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        return list(self._modules.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) the given modules."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for k, m in OrderedDict(pairs).items():
            self[k] = m

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(): pick its modules in your own forward()")


class GELU(Module):
    """x·Φ(x) (``approximate="none"``) or 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) (``"tanh"``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise PygradValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def forward(self, x: Any) -> Any:
        return F.gelu(x, self.approximate)


class _InplaceFlag(Module):
    """A parameterless activation with PyTorch's ``inplace`` flag (the result written into the
    input; see :func:`pygrad.nn.functional.relu`)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = F._inplace_flag(type(self).__name__, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_InplaceFlag):
    """x·σ(x)."""

    def forward(self, x: Any) -> Any:
        return F.silu(x, self.inplace)


class Mish(_InplaceFlag):
    """x·tanh(softplus(x))."""

    def forward(self, x: Any) -> Any:
        return F.mish(x, self.inplace)


class Softplus(Module):
    """log(1 + e^{βx}) / β."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

    def forward(self, x: Any) -> Any:
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(_InplaceFlag):
    """x clipped to [min_val, max_val]; the gradient passes strictly inside."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        if not min_val <= max_val:
            raise PygradValueError(f"Hardtanh: min_val {min_val} is greater than max_val {max_val}")
        self.min_val, self.max_val = float(min_val), float(max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)


class ReLU6(Hardtanh):
    """min(max(0, x), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)


class Hardsigmoid(_InplaceFlag):
    """clip(x/6 + 1/2, 0, 1)."""

    def forward(self, x: Any) -> Any:
        return F.hardsigmoid(x, self.inplace)


__all__ = ["Parameter", "Identity", "Dropout",
           "Flatten", "Unflatten", "ModuleList", "ModuleDict", "GELU", "SiLU", "Mish",
           "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid"]


# ------------------------------------------------------------- more of PyTorch's modules ---


class ParameterList(Module):
    """A list of parameters, registered as "0", "1", ... (in ``parameters()`` and ``state_dict``), as
    ``torch.nn.ParameterList``; a tensor that is not yet a parameter is wrapped by :class:`Parameter`."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    @staticmethod
    def _param(v: Any) -> Any:
        if not is_tensor(v):
            raise PygradTypeError(f"ParameterList: expected a pygrad Tensor, got {type(v).__name__}")
        return v if isinstance(v, Parameter) else Parameter(v)

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` at the end; returns self."""
        setattr(self, str(len(self._parameters)), self._param(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every tensor of ``values``; returns self."""
        for v in values:
            self.append(v)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._parameters.values()))

    def __getitem__(self, i: int) -> Any:
        ps = list(self._parameters.values())
        if isinstance(i, slice):
            return ParameterList(ps[i])
        try:
            return ps[i]
        except (IndexError, TypeError):
            raise PygradIndexError(f"ParameterList: index {i!r} out of range for {len(ps)} parameters") from None

    def __setitem__(self, i: int, value: Any) -> None:
        n = len(self._parameters)
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            raise PygradIndexError(f"ParameterList: index {i!r} out of range for {n} parameters")
        setattr(self, str(i % n), self._param(value))

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter of shape {tuple(p.shape)} ({p.dtype})" for k, p in self._parameters.items())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterList has no forward(): use its parameters in your own forward()")


class ParameterDict(Module):
    """A dict of parameters registered under their keys (in ``parameters()`` and ``state_dict``), as
    ``torch.nn.ParameterDict``; a tensor that is not yet a parameter is wrapped by :class:`Parameter`."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise PygradValueError(f"ParameterDict: keys must be non-empty strings without dots, got {key!r}")
        if not is_tensor(value):
            raise PygradTypeError(f"ParameterDict: expected a pygrad Tensor, got {type(value).__name__}")
        if key in self._modules or key in self.__dict__.get("_buffers", {}) or hasattr(type(self), key) or \
                (key in self.__dict__ and key not in self._parameters):
            raise PygradValueError(f"ParameterDict: key {key!r} is already an attribute of the module")
        setattr(self, key, value if isinstance(value, Parameter) else Parameter(value))

    def __getitem__(self, key: str) -> Any:
        try:
            return self._parameters[key]
        except KeyError:
            raise PygradIndexError(f"ParameterDict: no parameter {key!r}") from None

    def __delitem__(self, key: str) -> None:
        if key not in self._parameters:
            raise PygradIndexError(f"ParameterDict: no parameter {key!r}")
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def keys(self) -> list[str]:
        return list(self._parameters)

    def values(self) -> list[Any]:
        return list(self._parameters.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._parameters.items())

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add (or replace) the given parameters."""
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        for k, v in OrderedDict(pairs).items():
            self[k] = v

    def pop(self, key: str) -> Any:
        p = self[key]
        del self[key]
        return p

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter of shape {tuple(p.shape)} ({p.dtype})" for k, p in self._parameters.items())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterDict has no forward(): use its parameters in your own forward()")


class _ChannelDropout(Module):
    _fn = "dropout1d"

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise PygradValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, "
                                   f"but got {p!r}")
        self.p, self.inplace = float(p), bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, x: Any) -> Any:
        return getattr(F, self._fn)(x, self.p, self.training, self.inplace)


class Dropout1d(_ChannelDropout):
    """PyTorch's ``nn.Dropout1d``: whole channels of (N, C, L) or (C, L) zeroed in training mode
    (:func:`pygrad.nn.functional.dropout1d`); identity in eval mode."""

    _fn = "dropout1d"


class Dropout2d(_ChannelDropout):
    """PyTorch's ``nn.Dropout2d``: whole channels of (N, C, H, W) zeroed in training mode
    (:func:`pygrad.nn.functional.dropout2d`); identity in eval mode."""

    _fn = "dropout2d"


class Dropout3d(_ChannelDropout):
    """PyTorch's ``nn.Dropout3d``: whole channels of (N, C, D, H, W) zeroed in training mode."""

    _fn = "dropout3d"


class _Dim(Module):
    _fn = "softmax"

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x: Any) -> Any:
        return getattr(F, self._fn)(x, dim=F._softmax_dim(F._tensor(type(self).__name__, x), self.dim))


class Softmax(_Dim):
    """softmax along ``dim`` (None: PyTorch's implicit dim: 0 for 0-, 1- and 3-d input, else 1)."""

    _fn = "softmax"


class LogSoftmax(_Dim):
    """log_softmax along ``dim`` (None: PyTorch's implicit dim)."""

    _fn = "log_softmax"


class Softmin(_Dim):
    """softmax(-x) along ``dim`` (None: PyTorch's implicit dim)."""

    _fn = "softmin"


class SELU(_InplaceFlag):
    """scale·elu(x, α), α ≈ 1.6733, scale ≈ 1.0507 (:func:`pygrad.nn.functional.selu`)."""

    def forward(self, x: Any) -> Any:
        return F.selu(x, self.inplace)


class CELU(_InplaceFlag):
    """max(0, x) + min(0, α(e^{x/α} - 1)) (:func:`pygrad.nn.functional.celu`)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha == 0:
            raise PygradValueError(f"CELU: alpha must be a non-zero number, got {alpha!r}")
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        return F.celu(x, self.alpha, self.inplace)


class Hardswish(_InplaceFlag):
    """x·relu6(x + 3)/6."""

    def forward(self, x: Any) -> Any:
        return F.hardswish(x, self.inplace)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x: Any) -> Any:
        return F.softsign(x)


class Tanhshrink(Module):
    """x - tanh x."""

    def forward(self, x: Any) -> Any:
        return F.tanhshrink(x)


class GLU(Module):
    """a·σ(b), a and b the halves of x along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x: Any) -> Any:
        return F.glu(x, self.dim)


class Threshold(_InplaceFlag):
    """x where x > threshold, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.threshold, self.value = float(threshold), float(value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> Any:
        return F.threshold(x, self.threshold, self.value, self.inplace)


class LogSigmoid(Module):
    """log σ(x) = -log(1 + e⁻ˣ), computed stably; d/dx = 1 - σ(x) = σ(-x)."""

    def forward(self, x: Any) -> Any:
        return F.logsigmoid(x)


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W) at each position (PyTorch's ``nn.Softmax2d``)."""

    def forward(self, x: Any) -> Any:
        t = F._tensor("Softmax2d", x)
        if t.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-d or 4-d input (C, H, W) or (N, C, H, W), got shape "
                             f"{tuple(t.shape)}")
        return F.softmax(t, dim=-3)


class UpsamplingNearest2d(Module):
    """PyTorch's ``nn.UpsamplingNearest2d``: :func:`pygrad.nn.functional.interpolate` in mode 'nearest'."""

    _mode, _align = "nearest", None

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__()
        self.size, self.scale_factor = size, scale_factor

    def extra_repr(self) -> str:
        return f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"

    def forward(self, x: Any) -> Any:
        return F.interpolate(x, self.size, self.scale_factor, self._mode, self._align)


class UpsamplingBilinear2d(UpsamplingNearest2d):
    """PyTorch's ``nn.UpsamplingBilinear2d``: interpolate in mode 'bilinear' with ``align_corners=True``."""

    _mode, _align = "bilinear", True


class Softshrink(Module):
    """x ∓ λ outside [-λ, λ], 0 inside."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        if not float(lambd) >= 0:
            raise PygradValueError(f"Softshrink: lambd must be non-negative, got {lambd!r}")
        self.lambd = float(lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"

    def forward(self, x: Any) -> Any:
        return F.softshrink(x, self.lambd)


class Hardshrink(Module):
    """x where |x| > λ, else 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = float(lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"

    def forward(self, x: Any) -> Any:
        return F.hardshrink(x, self.lambd)


class PixelShuffle(Module):
    """(*, C·r², H, W) → (*, C, H·r, W·r) (:func:`pygrad.nn.functional.pixel_shuffle`)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = F._factor("PixelShuffle", "upscale_factor", upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"

    def forward(self, x: Any) -> Any:
        return F.pixel_shuffle(x, self.upscale_factor)


class PixelUnshuffle(Module):
    """(*, C, H·r, W·r) → (*, C·r², H, W) (:func:`pygrad.nn.functional.pixel_unshuffle`)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = F._factor("PixelUnshuffle", "downscale_factor", downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"

    def forward(self, x: Any) -> Any:
        return F.pixel_unshuffle(x, self.downscale_factor)


class _Pad(Module):
    _nd, _mode = 1, "constant"

    def __init__(self, padding: Any, value: float = 0.0) -> None:
        super().__init__()
        name = type(self).__name__
        n = 2 * self._nd
        if isinstance(padding, (tuple, list)):
            p = tuple(padding)
            if len(p) != n:
                raise PygradValueError(f"{name}: padding must be an int or {n} ints, got {padding!r}")
        else:
            p = (padding,) * n
        if any(isinstance(v, bool) or not isinstance(v, int) for v in p):
            raise PygradTypeError(f"{name}: padding must be ints, got {padding!r}")
        self.padding, self.value = p, float(value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")

    def forward(self, x: Any) -> Any:
        x = F._tensor(type(self).__name__, x)
        if x.ndim not in (self._nd + 1, self._nd + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self._nd + 1}-d or {self._nd + 2}-d input, got "
                             f"shape {tuple(x.shape)}")
        if self._mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self._mode)


class ConstantPad1d(_Pad):
    """The last dim padded with ``value``: padding an int or (left, right)."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(_Pad):
    """The last two dims padded with ``value``: padding an int or (left, right, top, bottom)."""

    _nd = 2

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad3d(_Pad):
    """The last three dims padded with ``value``."""

    _nd = 3

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ZeroPad1d(_Pad):
    """The last dim padded with zeros."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(_Pad):
    """The last two dims padded with zeros: padding an int or (left, right, top, bottom)."""

    _nd = 2

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad1d(_Pad):
    """The last dim padded with its mirror image (the edge not repeated)."""

    _mode = "reflect"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReflectionPad2d(_Pad):
    """The last two dims padded with their mirror image (the edge not repeated)."""

    _nd, _mode = 2, "reflect"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReplicationPad1d(_Pad):
    """The last dim padded by repeating its edge."""

    _mode = "replicate"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReplicationPad2d(_Pad):
    """The last two dims padded by repeating their edges."""

    _nd, _mode = 2, "replicate"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class CosineSimilarity(Module):
    """cosine_similarity(x1, x2, dim, eps) (:func:`pygrad.nn.functional.cosine_similarity`)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, float(eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"

    def forward(self, x1: Any, x2: Any) -> Any:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """pairwise_distance(x1, x2, p, eps, keepdim) (:func:`pygrad.nn.functional.pairwise_distance`)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = float(p), float(eps), bool(keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"

    def forward(self, x1: Any, x2: Any) -> Any:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
