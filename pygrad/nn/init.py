"""Seeded weight initialisation: Kaiming (He) and Xavier (Glorot), normal or uniform.

Each function returns a float64 numpy array of ``shape``; layers turn it into a
parameter. ``generator`` is a numpy ``Generator`` or an int seed; with None the
samples come from the engine's own generator (``pygrad.randn`` / ``pygrad.rand``,
seeded by ``pygrad.manual_seed``), so one seed reproduces a model on both engines.

With fan_in inputs and fan_out outputs per unit:

===================  ===============================================
kaiming_normal       N(0, σ²),  σ = gain / √fan_in          (gain √2: ReLU)
kaiming_uniform      U(-b, b),  b = gain · √(3 / fan_in)
xavier_normal        N(0, σ²),  σ = gain · √(2 / (fan_in + fan_out))
xavier_uniform       U(-b, b),  b = gain · √(6 / (fan_in + fan_out))
uniform              U(-b, b),  b = 1 / √fan_in             (PyTorch's Linear default)
===================  ===============================================
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Callable

import numpy as np

from pygrad.errors import PygradValueError

from ._backend import resolve

Shape = tuple[int, ...]


def _normal(shape: Shape, generator: np.random.Generator | None, engine: ModuleType | str | None) -> np.ndarray:
    if generator is not None:
        return generator.standard_normal(shape)
    return np.array(resolve(engine).randn(*shape, dtype="float64").numpy())


def _unit(shape: Shape, generator: np.random.Generator | None, engine: ModuleType | str | None) -> np.ndarray:
    """U(-1, 1) samples."""
    if generator is not None:
        u = generator.random(shape)
    else:
        u = np.array(resolve(engine).rand(*shape, dtype="float64").numpy())
    return 2.0 * u - 1.0


def _fan(fan: int, what: str) -> int:
    if not fan >= 1:
        raise PygradValueError(f"init: {what} must be >= 1, got {fan}")
    return fan


def kaiming_normal(shape: Shape, fan_in: int, fan_out: int = 1, *, gain: float = math.sqrt(2.0),
                   generator: np.random.Generator | None = None,
                   engine: ModuleType | str | None = None) -> np.ndarray:
    """N(0, (gain / √fan_in)²): keeps the activations' variance through ReLU layers (He et al.)."""
    return _normal(shape, generator, engine) * (gain / math.sqrt(_fan(fan_in, "fan_in")))


def kaiming_uniform(shape: Shape, fan_in: int, fan_out: int = 1, *, gain: float = math.sqrt(2.0),
                    generator: np.random.Generator | None = None,
                    engine: ModuleType | str | None = None) -> np.ndarray:
    """U(-b, b) with b = gain·√(3 / fan_in) (the variance of kaiming_normal)."""
    return _unit(shape, generator, engine) * (gain * math.sqrt(3.0 / _fan(fan_in, "fan_in")))


def xavier_normal(shape: Shape, fan_in: int, fan_out: int, *, gain: float = 1.0,
                  generator: np.random.Generator | None = None,
                  engine: ModuleType | str | None = None) -> np.ndarray:
    """N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out)) (Glorot & Bengio; tanh, sigmoid)."""
    fans = _fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")
    return _normal(shape, generator, engine) * (gain * math.sqrt(2.0 / fans))


def xavier_uniform(shape: Shape, fan_in: int, fan_out: int, *, gain: float = 1.0,
                   generator: np.random.Generator | None = None,
                   engine: ModuleType | str | None = None) -> np.ndarray:
    """U(-b, b) with b = gain·√(6 / (fan_in + fan_out))."""
    fans = _fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")
    return _unit(shape, generator, engine) * (gain * math.sqrt(6.0 / fans))


def uniform(shape: Shape, fan_in: int, fan_out: int = 1, *, generator: np.random.Generator | None = None,
            engine: ModuleType | str | None = None) -> np.ndarray:
    """U(-1/√fan_in, 1/√fan_in), PyTorch's default for Linear weights and biases."""
    return _unit(shape, generator, engine) / math.sqrt(_fan(fan_in, "fan_in"))


INITS: dict[str, Callable[..., np.ndarray]] = {
    "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "uniform": uniform,
}
"""The schemes a layer's ``init=`` accepts, by name."""


def get(name: str) -> Callable[..., np.ndarray]:
    """The scheme called ``name`` (ValueError listing the choices otherwise)."""
    if name not in INITS:
        raise PygradValueError(f"init: unknown scheme {name!r}; choose one of {sorted(INITS)}")
    return INITS[name]
