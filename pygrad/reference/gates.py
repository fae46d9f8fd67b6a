"""The gate interface on the reference engine: the same classes as
:mod:`pygrad.gates`, running the reference ops."""

from __future__ import annotations

import pygrad.reference as _engine
from pygrad._gates import build as _build

_ns = _build(_engine)
globals().update({k: v for k, v in vars(_ns).items()})

__all__ = sorted(vars(_ns))
