"""Tensor hooks, engine-neutral bookkeeping: the hooks of one tensor and the
handle that removes one of them (PyTorch's ``RemovableHandle``).

Each engine calls the hooks from its own backward sweep: the C engine through
one callback (``pygrad._bindings``), the reference engine directly. This
module holds no numeric code and imports no engine.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable

_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` unregisters the hook
    (idempotent); also a context manager that removes it on exit."""

    __slots__ = ("_table", "id")

    def __init__(self, table: dict[int, Callable], key: int) -> None:
        self._table = table
        self.id = key

    def remove(self) -> None:
        """Unregister the hook; a second call does nothing."""
        self._table.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class HookSet:
    """One tensor's hooks, in registration order: ``grad`` (``fn(grad) ->
    Tensor | None``) and ``post`` (``fn(tensor)``, leaves only)."""

    __slots__ = ("grad", "post", "owner", "__weakref__")

    def __init__(self, owner: Any) -> None:
        self.grad: dict[int, Callable] = {}
        self.post: dict[int, Callable] = {}
        self.owner = weakref.ref(owner)  # the Python tensor the first hook was registered on

    def add(self, table: dict[int, Callable], fn: Callable, what: str) -> RemovableHandle:
        if not callable(fn):
            from pygrad.errors import PygradTypeError

            raise PygradTypeError(f"{what}: expected a callable, got {type(fn).__name__}")
        key = next(_ids)
        table[key] = fn
        return RemovableHandle(table, key)

    def run_grad(self, grad: Any, check: Callable[[Any, Any], Any]) -> Any:
        """Each grad hook in turn on the gradient; a returned value replaces it
        (``check(new, old)`` validates it and returns the tensor to use)."""
        for fn in list(self.grad.values()):
            r = fn(grad)
            if r is not None:
                grad = check(r, grad)
        return grad

    def run_post(self, tensor: Any) -> None:
        for fn in list(self.post.values()):
            fn(tensor)
