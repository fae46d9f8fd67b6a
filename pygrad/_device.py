"""Devices, for code written for PyTorch: pygrad runs on the CPU, so ``device("cpu")`` is the only
device a tensor can be on. ``device("cuda")`` can be named (scripts build it before asking where to
run), but moving a tensor or a module there raises, saying so; ``pygrad.cuda.is_available()`` is
False, so ``device("cuda" if pygrad.cuda.is_available() else "cpu")`` picks the CPU. Imports
nothing of the engines: both use it.
"""

from __future__ import annotations

from typing import Any

from pygrad.errors import PygradRuntimeError, PygradTypeError, PygradValueError

_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla")


class device:  # noqa: N801 - PyTorch's name
    """A device name: ``device("cpu")``, ``device("cpu", 0)``, ``device("cuda:1")`` (PyTorch's forms).
    ``type`` and ``index`` as in PyTorch; equal to another device or a string of the same type and
    index (no index matches any)."""

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise PygradTypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {type!r}")
        name, _, idx = type.partition(":")
        if name not in _KNOWN:
            raise PygradValueError(f"device: unknown device type {name!r} (expected one of {', '.join(_KNOWN)})")
        if idx:
            if index is not None:
                raise PygradValueError(f"device: {type!r} has an index already; got index={index!r} too")
            if not idx.isdigit():
                raise PygradValueError(f"device: invalid device index in {type!r}")
            index = int(idx)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise PygradValueError(f"device: index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("device is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (PygradValueError, PygradTypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index is None or other.index is None or self.index == other.index)

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (device, (self.type, self.index))


CPU = device("cpu")


def check(op: str, dev: Any) -> None:
    """Raises unless ``dev`` (a device or a string) is the CPU."""
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise PygradRuntimeError(f"{op}: pygrad runs on the CPU only; cannot use device {str(d)!r}")


def is_device(x: Any) -> bool:
    """A device, or a string naming one."""
    if isinstance(x, device):
        return True
    if isinstance(x, str):
        try:
            device(x)
        except (PygradValueError, PygradTypeError):
            return False
        return True
    return False


class _Cuda:
    """``pygrad.cuda``: what PyTorch's ``torch.cuda`` answers on a machine without a GPU."""

    @staticmethod
    def is_available() -> bool:
        """False: pygrad runs on the CPU."""
        return False

    @staticmethod
    def device_count() -> int:
        """0."""
        return 0

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Nothing to seed (PyTorch ignores it without a GPU too)."""

    @staticmethod
    def manual_seed_all(seed: int) -> None:
        """Nothing to seed."""

    @staticmethod
    def synchronize(device: Any = None) -> None:
        """Nothing to wait for."""

    def __repr__(self) -> str:
        return "pygrad.cuda (no GPU: pygrad runs on the CPU)"


cuda = _Cuda()
