"""Whether ``pygrad.compile`` is recording on this thread, for the hooks in the
rest of the package (``Tensor.item`` ..., ``Optimizer.step``). A leaf module:
it imports nothing of pygrad, so any module can import it.

``RECORDING`` counts the threads recording now; the hooks test it first, so
when nothing is compiled each costs one global lookup.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

RECORDING = 0
local = threading.local()  # .rec: the recording in progress on this thread (pygrad._compile._Recording)


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _origin() -> str:
    """Where the refused call was made, for the message: the outermost public function of
    pygrad's that made it (``F.cross_entropy`` reading its labels with ``weight=``), if it was
    not the user's own call, and the user's line that led to it."""
    try:
        frame = sys._getframe(3)  # the frame that called the hook (Tensor.numpy ...) calling refuse
    except ValueError:
        return ""
    inner = None
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        name = frame.f_code.co_qualname
        public = not any(part.startswith("_") for part in name.split("."))
        if public and (inner is None or not name.endswith(".forward")):  # F.embedding over Embedding.forward
            inner = f"{frame.f_globals.get('__name__', 'pygrad')}.{name}"
        frame = frame.f_back
    where = f" at {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}" if frame is not None else ""
    return (f", made by {inner}" if inner else "") + where


def refuse(what: str) -> None:
    """Python read tensor values (``.item()`` ...) while recording: the step cannot
    be replayed (the recording raises at once under fullgraph=True). The message says
    where the call was made (see :func:`_origin`)."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.refuse(what + _origin())


def note_update(opt: Any, p: Any, group: dict[str, Any]) -> None:
    """``Optimizer.step`` is about to update p: the program's next optimizer update is it."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.updates.append((opt, p, group))


def note_no_grad() -> None:
    """Python read a ``.grad`` that is None: a step recorded at a first call that made the
    gradients then depends on their absence (``zero_grad(set_to_none=False)`` zeroes only
    the ones there are), and is recorded again at the next call."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.read_no_grad = True


def note_seed(generator: Any) -> None:
    """A random op (dropout) drew its seed from ``generator`` (None: the generator behind
    ``manual_seed``): each replay draws the next seed from it, as the eager call does."""
    rec = getattr(local, "rec", None)
    if rec is not None:
        rec.seeds.append(generator)
