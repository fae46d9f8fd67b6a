"""The notes' gate interface, on the engine of the inputs (the C engine for numbers and arrays).

Every op of the C op table has a gate class (``AddGate``, ``MultiplyGate``,
``MaxGate``, ``ExpGate``, ``ReciprocalGate``, ``AddConstantGate(c)``,
``ScaleGate(a)``, ``SigmoidGate``, ``MatMulGate``, ``SumGate`` ...)::

    g = MultiplyGate()
    z = g.forward(-2.0, 3.0)     # -6.0, with the C forward kernel
    dx, dy = g.backward(1.0)     # (3.0, -2.0): local × upstream, C backward kernel

Subclass :class:`Gate` with numpy ``forward``/``backward`` to write your own
gate; ``MyGate()(tensor)`` records it so autograd calls your ``backward``
from the C sweep. :class:`ComputationalGraph` builds circuits of gates.
``GATES_BY_OP`` maps each op-table name to its gate class.
"""

from __future__ import annotations

from pygrad import _engines
from pygrad._gates import build as _build

_ns = _build(_engines.default())  # a gate runs on its inputs' engine; numbers and arrays go to this one
globals().update({k: v for k, v in vars(_ns).items()})

__all__ = sorted(vars(_ns))
