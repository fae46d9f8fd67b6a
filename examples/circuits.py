"""Draw the lecture notes' two circuits with their forward values and gradients.

    python examples/circuits.py [OUTDIR]

Writes f=(x+y)z and the 2-d sigmoid neuron (built from primitive gates) as
Graphviz DOT files, and as PNG and SVG when Graphviz's `dot` is installed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pygrad import viz
from pygrad.gates import (
    AddConstantGate,
    AddGate,
    ComputationalGraph,
    ExpGate,
    MultiplyGate,
    ReciprocalGate,
    ScaleGate,
)


def add_mul_circuit() -> ComputationalGraph:
    """f(x, y, z) = (x + y) z, evaluated at x=-2, y=5, z=-4."""
    g = ComputationalGraph()
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    q = g.add(AddGate(), x, y, name="q")
    g.add(MultiplyGate(), q, z, name="f")
    g.forward({"x": -2.0, "y": 5.0, "z": -4.0})
    g.backward()
    return g


def sigmoid_neuron_circuit() -> ComputationalGraph:
    """f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) from primitive gates, w=(2,-3,-3), x=(-1,-2)."""
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = (g.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    a = g.add(MultiplyGate(), w0, x0, name="w0*x0")
    b = g.add(MultiplyGate(), w1, x1, name="w1*x1")
    s = g.add(AddGate(), a, b, name="s")
    d = g.add(AddGate(), s, w2, name="dot")
    n = g.add(ScaleGate(-1.0), d, name="-dot")
    e = g.add(ExpGate(), n, name="exp")
    p = g.add(AddConstantGate(1.0), e, name="1+exp")
    g.add(ReciprocalGate(), p, name="f")
    g.forward({"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0})
    g.backward()
    return g


def main(outdir: str = "circuits") -> list[Path]:
    """Write both circuits into ``outdir``; return the files written."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, graph in (("add_mul", add_mul_circuit()), ("sigmoid_neuron", sigmoid_neuron_circuit())):
        path = out / f"{name}.dot"
        viz.draw(graph, path)
        written.append(path)
        if shutil.which("dot"):
            for fmt in ("png", "svg"):
                viz.draw(graph, out / f"{name}.{fmt}")
                written.append(out / f"{name}.{fmt}")
    return written


if __name__ == "__main__":
    for p in main(*sys.argv[1:2]):
        print(p)
