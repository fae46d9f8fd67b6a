"""Autograd settings of the C engine: grad mode, anomaly detection, user-defined ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from pygrad import _engines
from pygrad._bindings import _wrap, custom_node, lib
from pygrad._creation import tensor
from pygrad._tensor import Tensor
from pygrad.errors import PygradTypeError

# ---------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return bool(lib.pg_grad_enabled())


class _GradMode:
    _flag = 0

    def __enter__(self) -> None:
        self._prev = lib.pg_set_grad_enabled(self._flag)

    def __exit__(self, *exc: object) -> None:
        lib.pg_set_grad_enabled(self._prev)

    def __call__(self, fn: Callable) -> Callable:
        import functools

        flag = self._flag

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = lib.pg_set_grad_enabled(flag)
            try:
                return fn(*args, **kwargs)
            finally:
                lib.pg_set_grad_enabled(prev)

        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator): ops inside record nothing, on this thread."""

    _flag = 0


class enable_grad(_GradMode):
    """Context manager (and decorator): turn grad mode back on inside a ``no_grad`` block."""

    _flag = 1


# ---------------------------------------------------------------------------
# anomaly detection
# ---------------------------------------------------------------------------


def is_anomaly_enabled() -> bool:
    """Whether ops on this thread check their results for NaN/inf."""
    return bool(lib.pg_detect_anomaly())


def set_detect_anomaly(mode: bool) -> bool:
    """Turn anomaly detection on or off for this thread; returns the previous mode.

    When on, every op checks its forward output, and during backward every
    node checks the gradients it produces, for NaN and infinity; the first
    non-finite value raises :class:`RuntimeError` naming the op, e.g.
    ``Function 'log' returned nan values in its 0th output ...`` or
    ``Function 'div_backward' returned inf values in its 1th output ...; the
    node was created by the forward op 'div'``. Each check is one extra pass
    over the result, so leave it off outside debugging.
    """
    return bool(lib.pg_set_detect_anomaly(bool(mode)))


class detect_anomaly:  # noqa: N801 - the name users know from PyTorch
    """Context manager (and decorator): anomaly detection on inside, on this thread.

    >>> with detect_anomaly():
    ...     loss = model(x)        # raises at the first op that makes a NaN/inf
    ...     loss.backward()        # raises at the first node whose gradient has one

    See :func:`set_detect_anomaly` for what is checked.
    """

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)
        self._saved: list[int] = []

    def __enter__(self) -> detect_anomaly:
        self._saved.append(lib.pg_set_detect_anomaly(self._mode))
        return self

    def __exit__(self, *exc: object) -> None:
        lib.pg_set_detect_anomaly(self._saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        import functools

        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = lib.pg_set_detect_anomaly(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                lib.pg_set_detect_anomaly(prev)

        return wrapper


def custom_op(inputs: Sequence[Tensor], value: Any, backward: Callable[[Tensor, list[bool]], Sequence[Any]]) -> Tensor:
    """Apply a user-defined op whose forward result ``value`` the caller computed.

    ``backward(g, needs)`` is called from the C backward sweep with the
    output's gradient (a Tensor) and one flag per input saying whether that
    input needs a gradient; it returns one gradient (a Tensor of the input's
    shape and dtype, or None) per input. Exceptions it raises reach the caller
    of ``backward()`` with their traceback. This is the hook behind
    user-defined gates (:mod:`pygrad.gates`).
    """
    ins = list(inputs)
    for t in ins:
        if not isinstance(t, Tensor):
            if _engines.is_tensor(t):
                raise _engines.mix_error("custom", _engines.C, t)
            raise PygradTypeError(f"custom: inputs must be Tensors, got {type(t).__name__}")
    v = value if isinstance(value, Tensor) else tensor(value)
    v = _wrap(lib.pg_tensor_clone(v._p))  # the output must not alias the caller's tensor

    def fn(g: Tensor, needs: list[bool]) -> list[Any]:
        grads = _engines.custom_grads(backward(g, needs), len(ins))
        return [None if gi is None else gi if isinstance(gi, Tensor) else tensor(gi, dtype=t.dtype)
                for gi, t in zip(grads, ins)]

    return custom_node(ins, v, fn)
