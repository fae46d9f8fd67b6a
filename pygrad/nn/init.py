"""Seeded weight initialisation: Kaiming (He) and Xavier (Glorot), normal or uniform.

PyTorch's in-place initialisers (``uniform_``, ``normal_``, ``trunc_normal_``, ``constant_``,
``ones_``, ``zeros_``, ``eye_``, ``xavier_uniform_``, ``xavier_normal_``, ``kaiming_uniform_``,
``kaiming_normal_``, ``orthogonal_``, with ``calculate_gain``) fill a tensor in place, outside the
graph, and return it; they are at the end of this file.

The functions without a trailing underscore return a float64 numpy array of ``shape``; layers turn it into a
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
from typing import Any, Callable

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError

from ._backend import engine_of, is_tensor, resolve

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


# ---------------------------------------------------------------- PyTorch's in-place initialisers
#
# torch.nn.init's functions: each fills a tensor (a parameter, usually) in place, outside the graph,
# and returns it. ``generator`` is a numpy Generator (or None: the engine's own, seeded by
# ``pygrad.manual_seed``). Samples are drawn in float64 and rounded once to the tensor's dtype.


def _tensor_arg(op: str, tensor: Any) -> Any:
    if not is_tensor(tensor):
        raise PygradTypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    if np.dtype(tensor.dtype).kind != "f":
        raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {tensor.dtype}")
    return tensor


def _fill(tensor: Any, values: np.ndarray) -> Any:
    """tensor's values := values, outside the graph; returns tensor."""
    E = engine_of(tensor)  # noqa: N806
    with E.no_grad():
        tensor.copy_(E.tensor(np.asarray(values, dtype=np.float64).reshape(tuple(tensor.shape)), dtype=tensor.dtype))
    return tensor


def _gen(op: str, generator: Any) -> np.random.Generator | None:
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    raise PygradTypeError(f"{op}: generator must be a numpy.random.Generator or None, got {type(generator).__name__}")


def _number(op: str, what: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or math.isnan(v):
        raise PygradValueError(f"{op}: {what} must be a number, got {v!r}")
    return float(v)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain: 1 for linear, conv and sigmoid, 5/3 for tanh, √2 for relu,
    √(2 / (1 + slope²)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
              "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _number("calculate_gain", "negative_slope", param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise PygradValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in·k and out·k, k the kernel's size."""
    if tensor.ndim < 2:
        raise PygradValueError(f"init: fan in and fan out need a tensor of at least 2 dims, got shape "
                               f"{tuple(tensor.shape)}")
    receptive = math.prod(tuple(tensor.shape)[2:])
    return int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive


def _fan_of(op: str, tensor: Any, mode: str) -> int:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise PygradValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def _engine_normal(tensor: Any, g: np.random.Generator | None) -> np.ndarray:
    return _normal(tuple(tensor.shape), g, engine_of(tensor))


def _engine_unit(tensor: Any, g: np.random.Generator | None) -> np.ndarray:
    return _unit(tuple(tensor.shape), g, engine_of(tensor))


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Any:
    """Fill with U(a, b) samples."""
    t = _tensor_arg("uniform_", tensor)
    a, b = _number("uniform_", "a", a), _number("uniform_", "b", b)
    if not a <= b:
        raise PygradValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    u = (_engine_unit(t, _gen("uniform_", generator)) + 1.0) / 2.0
    return _fill(t, a + (b - a) * u)


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Any:
    """Fill with N(mean, std²) samples."""
    t = _tensor_arg("normal_", tensor)
    mean, std = _number("normal_", "mean", mean), _number("normal_", "std", std)
    if std < 0:
        raise PygradValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(t, mean + std * _engine_normal(t, _gen("normal_", generator)))


def trunc_normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Any = None) -> Any:
    """Fill with N(mean, std²) samples redrawn until they fall in [a, b] (a and b absolute values, as
    PyTorch's)."""
    t = _tensor_arg("trunc_normal_", tensor)
    mean, std = _number("trunc_normal_", "mean", mean), _number("trunc_normal_", "std", std)
    a, b = _number("trunc_normal_", "a", a), _number("trunc_normal_", "b", b)
    if not a < b or std < 0:
        raise PygradValueError(f"trunc_normal_: expected a < b and std >= 0, got a={a}, b={b}, std={std}")
    if std == 0:
        if not a <= mean <= b:
            raise PygradValueError(f"trunc_normal_: std 0 and mean {mean} outside [{a}, {b}]")
        return _fill(t, np.full(tuple(t.shape), mean))
    g = _gen("trunc_normal_", generator)
    n = int(np.prod(tuple(t.shape)))
    out = np.empty(0)
    for _ in range(1000):
        if out.size >= n:
            break
        draw = mean + std * _normal((max(2 * (n - out.size), 16),), g, engine_of(t))
        out = np.concatenate([out, draw[(draw >= a) & (draw <= b)]])
    else:
        raise PygradValueError(f"trunc_normal_: [{a}, {b}] holds almost no mass of N({mean}, {std}²)")
    return _fill(t, out[:n])


def constant_(tensor: Any, val: float) -> Any:
    """Fill with ``val``."""
    t = _tensor_arg("constant_", tensor)
    return _fill(t, np.full(tuple(t.shape), _number("constant_", "val", val)))


def ones_(tensor: Any) -> Any:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Any) -> Any:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor: Any) -> Any:
    """A 2-d tensor becomes the identity (ones on the diagonal, zeros elsewhere)."""
    t = _tensor_arg("eye_", tensor)
    if t.ndim != 2:
        raise PygradValueError(f"eye_: expected a 2-d tensor, got shape {tuple(t.shape)}")
    return _fill(t, np.eye(*tuple(t.shape)))


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
    """U(-b, b), b = gain·√(6 / (fan_in + fan_out))."""
    t = _tensor_arg("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    bound = _number("xavier_uniform_", "gain", gain) * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(t, bound * _engine_unit(t, _gen("xavier_uniform_", generator)))


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
    """N(0, σ²), σ = gain·√(2 / (fan_in + fan_out))."""
    t = _tensor_arg("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    std = _number("xavier_normal_", "gain", gain) * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(t, std * _engine_normal(t, _gen("xavier_normal_", generator)))


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Any:
    """U(-b, b), b = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a), fan by ``mode``."""
    t = _tensor_arg("kaiming_uniform_", tensor)
    fan = _fan_of("kaiming_uniform_", t, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return _fill(t, bound * _engine_unit(t, _gen("kaiming_uniform_", generator)))


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Any:
    """N(0, σ²), σ = gain / √fan, gain = calculate_gain(nonlinearity, a), fan by ``mode``."""
    t = _tensor_arg("kaiming_normal_", tensor)
    fan = _fan_of("kaiming_normal_", t, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return _fill(t, std * _engine_normal(t, _gen("kaiming_normal_", generator)))


def orthogonal_(tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
    """A (semi-)orthogonal matrix (the tensor flattened to (rows, rest)) from the QR decomposition of a
    normal sample, signs fixed by R's diagonal, times ``gain``."""
    t = _tensor_arg("orthogonal_", tensor)
    if t.ndim < 2:
        raise PygradValueError(f"orthogonal_: expected a tensor of at least 2 dims, got shape {tuple(t.shape)}")
    rows = int(t.shape[0])
    cols = int(np.prod(tuple(t.shape))) // rows if rows else 0
    flat = _normal((rows, cols), _gen("orthogonal_", generator), engine_of(t))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(t, _number("orthogonal_", "gain", gain) * q)
