"""``Module``, the base of every layer and model, and ``Sequential``.

A Module holds parameters (leaf tensors that require grad, assigned as
attributes) and sub-modules (Modules assigned as attributes), and computes
``forward(*inputs)`` when called. Everything else follows from those two
registries: ``parameters()``, ``named_parameters()``, ``zero_grad()``,
``train()`` / ``eval()``, ``state_dict()`` / ``load_state_dict()`` and
``save()`` / ``load()`` (numpy ``.npz`` files). The code is the same for
both engines; it never imports one itself.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from pygrad import _copying
from pygrad.errors import PygradIndexError, PygradRuntimeError, PygradTypeError, PygradValueError, ShapeError

from ._backend import engine_of, is_tensor


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` could not match (empty lists when everything matched)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models.

    Subclasses call ``super().__init__()`` first, assign their parameters and
    sub-modules as attributes, and define :meth:`forward`::

        class TwoLayer(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(2, 100)
                self.fc2 = nn.Linear(100, 3)

            def forward(self, x):
                return self.fc2(self.fc1(x).relu())
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    # ---- registration ----
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise PygradRuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        modules = self.__dict__["_modules"]
        buffers = self.__dict__.setdefault("_buffers", OrderedDict())
        if name in buffers:  # assigning to a buffer keeps it a buffer (a tensor or None)
            if value is not None and not is_tensor(value):
                raise PygradTypeError(f"{type(self).__name__}: buffer {name!r} must be a tensor or None, "
                                      f"got {type(value).__name__}")
            buffers[name] = value
            object.__setattr__(self, name, value)
            return
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Module):
            modules[name] = value
        elif is_tensor(value) and value.requires_grad and value.is_leaf:
            params[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__["_parameters"].pop(name, None)
        self.__dict__["_modules"].pop(name, None)
        self.__dict__.get("_buffers", {}).pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register ``tensor`` (or None) as the buffer ``name``: state that is not a
        parameter (running averages ...), in :meth:`state_dict` unless not ``persistent``."""
        if not isinstance(name, str) or not name or "." in name:
            raise PygradValueError(f"{type(self).__name__}: buffer name must be a non-empty string without dots, "
                                   f"got {name!r}")
        if tensor is not None and not is_tensor(tensor):
            raise PygradTypeError(f"{type(self).__name__}: buffer {name!r} must be a tensor or None, "
                                  f"got {type(tensor).__name__}")
        if name in self._parameters or name in self._modules:
            raise PygradValueError(f"{type(self).__name__}: {name!r} is already a parameter or a module")
        self.__dict__.setdefault("_buffers", OrderedDict())[name] = tensor
        nonp = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            nonp.discard(name)
        else:
            nonp.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name: str, tensor: Any) -> None:
        """Register ``tensor`` (a leaf that requires grad) as the parameter ``name``."""
        if not (is_tensor(tensor) and tensor.requires_grad and tensor.is_leaf):
            raise PygradValueError(
                f"{type(self).__name__}: parameter {name!r} must be a leaf tensor that requires grad")
        setattr(self, name, tensor)

    # ---- copy, deepcopy, pickle: the engine module is stored by name (pygrad._copying) ----
    def __getstate__(self) -> dict[str, Any]:
        return _copying.module_getstate(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        _copying.module_setstate(self, state)

    # ---- calling ----
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hooks = self.__dict__.get("_forward_hooks")
        if not hooks:
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(hooks, args, kwargs)

    def _call_with_hooks(self, hooks: dict[int, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from pygrad import _recording

        if _recording.RECORDING:
            _recording.refuse(f"a forward hook of {type(self).__name__} (Python run at every call)")
        for pre, fn, with_kwargs in list(hooks.values()):
            if not pre:
                continue
            if with_kwargs:
                r = fn(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise PygradRuntimeError(f"{type(self).__name__}: a forward pre-hook with_kwargs must "
                                                 f"return None or (args, kwargs), got {type(r).__name__}")
                    args, kwargs = r
            else:
                r = fn(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for pre, fn, with_kwargs in list(hooks.values()):
            if pre:
                continue
            r = fn(self, args, kwargs, out) if with_kwargs else fn(self, args, out)
            if r is not None:
                out = r
        return out

    def _add_hook(self, pre: bool, hook: Any, with_kwargs: bool, prepend: bool) -> Any:
        from pygrad._hooks import RemovableHandle, _ids

        what = "register_forward_pre_hook" if pre else "register_forward_hook"
        if not callable(hook):
            raise PygradTypeError(f"{type(self).__name__}.{what}: expected a callable, got {type(hook).__name__}")
        hooks = self.__dict__.get("_forward_hooks")
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, "_forward_hooks", hooks)
        key = next(_ids)
        hooks[key] = (pre, hook, bool(with_kwargs))
        if prepend:
            hooks.move_to_end(key, last=False)
        # a program recorded by pygrad.compile never calls hooks: the version is part of its guards, so
        # a hook added later makes it record again (and a recording with a hook runs eagerly)
        object.__setattr__(self, "_forward_hooks_version", self.__dict__.get("_forward_hooks_version", 0) + 1)
        return RemovableHandle(hooks, key)

    def register_forward_pre_hook(self, hook: Any, *, prepend: bool = False, with_kwargs: bool = False) -> Any:
        """PyTorch's forward pre-hook: ``hook(module, args)`` runs before ``forward`` and may return new
        args (a tuple, or one value); with ``with_kwargs``, ``hook(module, args, kwargs)`` returns None or
        ``(args, kwargs)``. Hooks run in registration order (``prepend``: first). Returns a handle whose
        ``remove()`` unregisters it."""
        return self._add_hook(True, hook, with_kwargs, prepend)

    def register_forward_hook(self, hook: Any, *, prepend: bool = False, with_kwargs: bool = False) -> Any:
        """PyTorch's forward hook: ``hook(module, args, output)`` runs after ``forward`` and may return a
        new output (``hook(module, args, kwargs, output)`` with ``with_kwargs``). Returns a handle whose
        ``remove()`` unregisters it. A step compiled by ``pygrad.compile`` that calls a module with hooks
        runs eagerly."""
        return self._add_hook(False, hook, with_kwargs, prepend)

    # ---- traversal ----
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their attribute names."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first, with dotted names ("" for self)."""
        stack: list[tuple[str, Module]] = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, tensor)`` for every parameter (each tensor once, even if shared)."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, m in mods:
            for pname, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Any]:
        """Every parameter tensor (what an optimizer takes)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, tensor)`` for every buffer that is not None."""
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, m in mods:
            for bname, b in m.__dict__.get("_buffers", {}).items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        """Every buffer tensor."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _persistent_buffers(self) -> Iterator[tuple[str, Any]]:
        for mname, m in self.named_modules():
            nonp = m.__dict__.get("_non_persistent", set())
            for bname, b in m.__dict__.get("_buffers", {}).items():
                if b is not None and bname not in nonp:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def apply(self, fn: Any) -> Module:
        """``fn(m)`` for every sub-module and then this module, in PyTorch's order (each child's
        subtree in registration order, a module after its children; a module that two parents hold
        is met under each, as PyTorch's recursion meets it); returns self."""
        stack: list[tuple[Module, bool]] = [(self, False)]  # (module, its children already pushed)
        while stack:  # an explicit stack: no recursion, whatever the nesting
            m, expanded = stack.pop()
            if expanded:
                fn(m)
                continue
            stack.append((m, True))
            kids = {id(c): c for c in m._modules.values() if c is not None}  # children() meets each once
            stack.extend((c, False) for c in reversed(list(kids.values())))
        return self

    def num_parameters(self) -> int:
        """The number of scalar parameters."""
        return int(sum(p.size for p in self.parameters()))

    # ---- training helpers ----
    def zero_grad(self, set_to_none: bool = True) -> None:
        """``p.grad = None`` for every parameter (or fill the gradients with zeros)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (freezing a part of a model); returns self."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    # ---- devices and dtypes (PyTorch's names) ----
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """PyTorch's ``Module.to``: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``,
        with ``device=``, ``dtype=``, ``non_blocking=`` (ignored). The device must be the CPU (where the
        module already is: nothing changes). A float dtype casts every float parameter and buffer; a
        parameter cast becomes a new leaf tensor (its ``.grad`` cast too), so build optimizers after
        casting. Returns self."""
        from pygrad import _device

        dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        name = f"{type(self).__name__}.to"
        if kwargs:
            raise PygradTypeError(f"{name}: unexpected keyword argument {next(iter(kwargs))!r}")
        if len(args) > 2:
            raise PygradTypeError(f"{name}: expected at most 2 positional arguments, got {len(args)}")
        for a in args:
            if is_tensor(a):
                dtype = a.dtype
            elif _device.is_device(a):
                dev = a
            else:
                dtype = a
        if dev is not None:
            _device.check(name, dev)
        if dtype is None:
            return self
        try:
            d = np.dtype(dtype)
        except TypeError:
            raise PygradTypeError(f"{name}: cannot interpret {dtype!r} as a dtype") from None
        if d.kind != "f":
            raise PygradTypeError(f"{name}: only floating-point dtypes, got {d}")
        for m in self.modules():
            for pname, p in list(m._parameters.items()):
                if np.dtype(p.dtype).kind == "f" and np.dtype(p.dtype) != d:
                    q = p.detach().astype(d)
                    q.requires_grad = True
                    if p.grad is not None:
                        q.grad = p.grad.detach().astype(d)
                    setattr(m, pname, q)
            for bname, b in list(m.__dict__.get("_buffers", {}).items()):
                if b is not None and np.dtype(b.dtype).kind == "f" and np.dtype(b.dtype) != d:
                    setattr(m, bname, b.detach().astype(d))
        return self

    def float(self) -> Module:
        """``to(float32)``."""
        return self.to("float32")

    def double(self) -> Module:
        """``to(float64)``."""
        return self.to("float64")

    def cpu(self) -> Module:
        """Returns self: the module is on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Always raises: pygrad runs on the CPU."""
        raise PygradRuntimeError(f"{type(self).__name__}.cuda: pygrad runs on the CPU only "
                                 f"(pygrad.cuda.is_available() is False)")

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and all below it; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``."""
        return self.train(False)

    # ---- saving and loading ----
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """A copy of every parameter's and persistent buffer's values, by dotted name."""
        out = OrderedDict((name, np.array(p.numpy(), copy=True)) for name, p in self.named_parameters())
        out.update((name, np.array(b.numpy(), copy=True)) for name, b in self._persistent_buffers())
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy saved values into the parameters (shapes must match; values are cast to
        each parameter's dtype). With ``strict``, missing or unexpected names raise
        ValueError; otherwise they are returned."""
        name = type(self).__name__
        if not hasattr(state_dict, "keys"):
            raise PygradTypeError(f"{name}.load_state_dict: expected a mapping of names to arrays")
        params = dict(self.named_parameters())
        params.update(self._persistent_buffers())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if strict and (missing or unexpected):
            raise PygradValueError(
                f"{name}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {}
        for k, p in params.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            try:
                a = np.asarray(v.numpy() if is_tensor(v) else v)
            except (TypeError, ValueError) as exc:  # e.g. ragged lists
                raise PygradTypeError(f"{name}.load_state_dict: {k!r} is not an array of numbers: {exc}") from None
            if a.dtype.kind not in "biuf":
                raise PygradTypeError(f"{name}.load_state_dict: {k!r} has dtype {a.dtype}; expected numbers")
            if a.shape != p.shape:
                raise ShapeError(f"{name}.load_state_dict: {k!r} has shape {a.shape}, the parameter {p.shape}")
            with np.errstate(over="ignore", invalid="ignore"):
                overflow = np.isfinite(a) & ~np.isfinite(a.astype(p.dtype))
            if overflow.any():
                bad = a[overflow].flat[0]
                raise PygradValueError(f"{name}.load_state_dict: {k!r} holds {bad}, which overflows the "
                                       f"parameter's dtype {p.dtype} (finite values must stay finite)")
            arrays[k] = a
        for k, a in arrays.items():  # every shape checked before anything is written
            p = params[k]
            if p.dtype.kind != "f":  # an integer or bool buffer: never in a graph
                p.numpy()[...] = a
                continue
            E = engine_of(p)
            with E.no_grad():
                p.copy_(E.tensor(a, dtype=p.dtype))
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write :meth:`state_dict` to a numpy ``.npz`` file (the suffix is added if
        missing); returns the path written."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        np.savez(path, **self.state_dict())
        return path

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> IncompatibleKeys:
        """Read a file written by :meth:`save` into the parameters."""
        name = type(self).__name__
        path = os.fspath(path)
        try:
            data = np.load(path, allow_pickle=False)
        except OSError:
            raise  # a missing or unreadable file: the system's error (FileNotFoundError...)
        except Exception as exc:  # noqa: BLE001 - zipfile, numpy and pickle-refusal errors of a malformed file
            raise PygradValueError(f"{name}.load: {path!r} is not a file written by Module.save "
                                   f"(a numpy .npz of arrays): {type(exc).__name__}: {exc}") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise PygradValueError(f"{name}.load: {path!r} holds a single array, not a file written by Module.save "
                                   "(a numpy .npz of arrays)")
        with data:
            try:
                arrays = {k: data[k] for k in data.files}
            except Exception as exc:  # noqa: BLE001 - a damaged member
                raise PygradValueError(f"{name}.load: {path!r} is damaged or not a file written by Module.save: "
                                       f"{type(exc).__name__}: {exc}") from None
        return self.load_state_dict(arrays, strict=strict)

    # ---- printing ----
    def extra_repr(self) -> str:
        """The constructor arguments shown by ``repr`` (subclasses override)."""
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for k, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    The sub-modules are named "0", "1", ...; indexing gives a module (an int)
    or a Sequential (a slice).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        if not isinstance(module, Module):
            raise PygradTypeError(f"Sequential: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x: Any) -> Any:
        """x through every module in order."""
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, i: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        try:
            return mods[i]
        except (IndexError, TypeError):
            raise PygradIndexError(f"Sequential: index {i!r} out of range for {len(mods)} modules") from None
