"""Autograd settings of the C engine: grad mode, anomaly detection, user-defined ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from pygrad import _engines
from pygrad._bindings import _wrap, autograd_run, custom_node, lib  # noqa: F401 - autograd_run re-exported
from pygrad._creation import tensor
from pygrad._tensor import Tensor
from pygrad.errors import PygradTypeError

# ---------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return bool(lib.pg_grad_enabled())


class _ModeContext:
    """Base of the grad-mode contexts: a context manager, and a decorator used
    with or without parentheses (``@no_grad`` and ``@no_grad()``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        bare = len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], bool)
        if cls._bare_decorator and bare:
            return cls()(args[0])  # @no_grad without parentheses
        return super().__new__(cls)

    _bare_decorator = True

    def _enter(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _exit(self, prev: tuple[int, ...]) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        self.__dict__.setdefault("_saved", []).append(self._enter())

    def __exit__(self, *exc: object) -> None:
        self._exit(self._saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        import functools

        if not callable(fn):
            raise PygradTypeError(f"{type(self).__name__}: can only decorate a callable, got {type(fn).__name__}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit(prev)

        return wrapper


class _GradMode(_ModeContext):
    _flag = 0

    def _enter(self) -> tuple[int, ...]:
        return (lib.pg_set_grad_enabled(self._flag),)

    def _exit(self, prev: tuple[int, ...]) -> None:
        lib.pg_set_grad_enabled(prev[0])


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator (``@no_grad`` or ``@no_grad()``): ops inside
    record nothing, on this thread."""

    _flag = 0


class enable_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: grad mode back on inside a ``no_grad`` block."""

    _flag = 1


class set_grad_enabled(_ModeContext):  # noqa: N801 - PyTorch's name
    """Set grad mode on this thread to ``mode``, at once: ``set_grad_enabled(False)``
    as a function call; as a context manager (``with set_grad_enabled(mode):``)
    or decorator it restores the previous mode on exit."""

    _bare_decorator = False

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, int)):
            raise PygradTypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self._mode = bool(mode)
        self._prev = bool(lib.pg_set_grad_enabled(self._mode))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        lib.pg_set_grad_enabled(self._prev)

    def _enter(self) -> tuple[int, ...]:
        return (lib.pg_set_grad_enabled(self._mode),)

    def _exit(self, prev: tuple[int, ...]) -> None:
        lib.pg_set_grad_enabled(prev[0])

    def __call__(self, fn: Callable) -> Callable:
        lib.pg_set_grad_enabled(self._prev)  # the decorator form changes nothing until called
        return super().__call__(fn)


class inference_mode(_ModeContext):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: grad mode off, and every tensor made inside is
    an inference tensor (``t.is_inference()``), which recorded ops refuse to save
    for backward (clone it outside to use it in autograd). ``inference_mode(False)``
    changes nothing."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)

    def _enter(self) -> tuple[int, ...]:
        if not self._mode:
            return ()
        return (lib.pg_set_inference_mode(1), lib.pg_set_grad_enabled(0))

    def _exit(self, prev: tuple[int, ...]) -> None:
        if prev:
            lib.pg_set_inference_mode(prev[0])
            lib.pg_set_grad_enabled(prev[1])


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside :class:`inference_mode`."""
    return bool(lib.pg_inference_mode())


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
