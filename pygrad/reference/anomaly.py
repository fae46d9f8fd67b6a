"""Anomaly detection for the reference engine (same switch and messages as the C engine).

With the per-thread flag on, every op's forward output (``tensor._apply``) and
every gradient a node's backward produces for an input that needs one
(``autograd.run_backward``) is checked for NaN and infinity; the first
non-finite value raises :class:`pygrad.PygradRuntimeError` with the message
the C engine writes, word for word.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from pygrad.errors import PygradRuntimeError

F = TypeVar("F", bound=Callable[..., Any])


class _AnomalyMode(threading.local):
    """Per-thread anomaly flag (off by default in every thread)."""

    def __init__(self) -> None:
        self.enabled = False


_MODE = _AnomalyMode()


def is_anomaly_enabled() -> bool:
    """Whether ops on this thread check their results for NaN/inf."""
    return _MODE.enabled


def set_detect_anomaly(mode: bool) -> bool:
    """Turn anomaly detection on or off for this thread; returns the previous mode."""
    prev = _MODE.enabled
    _MODE.enabled = bool(mode)
    return prev


class detect_anomaly:  # noqa: N801 - the name users know from PyTorch
    """Context manager (and decorator): anomaly detection on inside, on this thread."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)
        self._saved: list[bool] = []

    def __enter__(self) -> detect_anomaly:
        self._saved.append(set_detect_anomaly(self._mode))
        return self

    def __exit__(self, *exc: object) -> None:
        set_detect_anomaly(self._saved.pop())

    def __call__(self, func: F) -> F:
        """Use as ``@detect_anomaly()``: run ``func`` with anomaly detection on."""
        mode = self._mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(mode):
                return func(*args, **kwargs)

        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = getattr(func, "__doc__", None)
        return wrapper  # type: ignore[return-value]


def _first_nonfinite(a: np.ndarray) -> tuple[int, str] | None:
    """(flat index, "nan" or "inf") of the first non-finite element of a float array, or None."""
    if a.dtype.kind != "f":
        return None
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size == 0:
        return None
    i = int(bad[0])
    return i, "nan" if np.isnan(a.reshape(-1)[i]) else "inf"


def check_forward(name: str, out: np.ndarray) -> None:
    """Raise if anomaly detection is on and the output of op ``name`` is not all finite."""
    if not _MODE.enabled:
        return
    found = _first_nonfinite(out)
    if found is not None:
        at, kind = found
        raise PygradRuntimeError(
            f"Function '{name}' returned {kind} values in its 0th output (output of shape "
            f"{tuple(out.shape)}, first at flat index {at}); anomaly detection is on"
        )


def check_backward(name: str, grads: list[tuple[int, np.ndarray]]) -> None:
    """Raise if anomaly detection is on and a gradient (input index, array) of node ``name`` is not finite."""
    if not _MODE.enabled:
        return
    for i, g in grads:
        found = _first_nonfinite(g)
        if found is not None:
            at, kind = found
            raise PygradRuntimeError(
                f"Function '{name}_backward' returned {kind} values in its {i}th output (the gradient of "
                f"input {i}, of shape {tuple(g.shape)}, first at flat index {at}); the node was created "
                f"by the forward op '{name}'; anomaly detection is on"
            )
