"""Whether ``pygrad.compile`` is recording on this thread, for the hooks in the
rest of the package (``Tensor.item`` ..., ``Optimizer.step``). A leaf module:
it imports nothing of pygrad, so any module can import it.

``RECORDING`` counts the threads recording now; the hooks test it first, so
when nothing is compiled each costs one global lookup.
"""

from __future__ import annotations

import threading
from typing import Any

RECORDING = 0
local = threading.local()  # .rec: the recording in progress on this thread (pygrad._compile._Recording)


def refuse(what: str) -> None:
    """Python read tensor values (``.item()`` ...) while recording: the step cannot
    be replayed (the recording raises at once under fullgraph=True)."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.refuse(what)


def note_update(opt: Any, p: Any, group: dict[str, Any]) -> None:
    """``Optimizer.step`` is about to update p: the program's next optimizer update is it."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.updates.append((opt, p, group))


def note_seed(generator: Any) -> None:
    """A random op (dropout) drew its seed from ``generator`` (None: the generator behind
    ``manual_seed``): each replay draws the next seed from it, as the eager call does."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.seeds.append(generator)
