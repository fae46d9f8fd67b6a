"""Circuit diagrams in the style of the lecture slides.

``draw(obj)`` returns Graphviz DOT text for a Tensor's recorded graph or for a
:class:`~pygrad.gates.ComputationalGraph`: gates as round nodes, values as
boxes, and every edge labelled with its forward value (green, above) and its
gradient (red, below), when known. With a ``path`` it also writes the file:
``.dot`` as text, any other format (svg, png, pdf) through Graphviz's ``dot``
program (Debian package ``graphviz``).

For a Tensor, values are shown for tensors that are still alive and
gradients for leaves and for tensors on which ``retain_grad()`` was called
before backward; a ComputationalGraph keeps both for every node.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from pygrad._engines import engine_of, is_tensor, name_of
from pygrad._optable import SYMBOLS
from pygrad.errors import PygradRuntimeError, PygradTypeError

_SYMBOL = SYMBOLS  # op name -> the symbol of its node (pygrad._optable)


def _fmt(t: Any) -> str:
    if t is None:
        return ""
    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]):.4g}"
    if a.size <= 4:
        return "[" + ", ".join(f"{float(v):.3g}" for v in a.reshape(-1)) + "]"
    return "×".join(str(d) for d in a.shape)


def _label(value: Any, grad: Any) -> str:
    v, g = _fmt(value), _fmt(grad)
    parts = []
    if v:
        parts.append(f'<font color="darkgreen">{v}</font>')
    if g:
        parts.append(f'<font color="red">{g}</font>')
    return "<" + "<br/>".join(parts) + ">" if parts else '""'


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _gate_symbol(gate: Any) -> str:
    name = type(gate).__name__
    params = getattr(gate, "params", {})
    if name == "AddConstantGate":
        return f"+{params['c']:g}"
    if name == "ScaleGate":
        return f"*{params['a']:g}"
    if name == "PowerGate":
        return f"^{params['p']:g}"
    return _SYMBOL.get(getattr(gate, "op", ""), name.removesuffix("Gate") or name)


def _dot_of_graph(g: Any) -> str:
    lines = ["digraph circuit {", "  rankdir=LR;", '  node [fontname="Helvetica"];', '  edge [fontname="Helvetica"];']
    nodes = g.nodes
    if not nodes:
        raise PygradTypeError("draw: the ComputationalGraph is empty")
    for n in nodes:
        if n.is_input:
            lines.append(f'  "{_esc(n.name)}" [shape=plaintext, label="{_esc(n.name)}"];')
        else:
            lines.append(f'  "{_esc(n.name)}" [shape=circle, label="{_esc(_gate_symbol(n.gate))}"];')
    for n in nodes:
        for i in n.inputs:
            lines.append(f'  "{_esc(i.name)}" -> "{_esc(n.name)}" [label={_label(i.value, i.grad)}];')
    out = g._output or nodes[-1]
    lines.append('  "__out" [shape=plaintext, label=""];')
    lines.append(f'  "{_esc(out.name)}" -> "__out" [label={_label(out.value, out.grad)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_of_tensor(t: Any, names: dict[str, Any] | None) -> str:
    eng = engine_of(t, "draw")
    nodes = eng._graph_of(t)
    by_tensor = {id(v): k for k, v in (names or {}).items()}
    lines = ["digraph circuit {", "  rankdir=LR;", '  node [fontname="Helvetica"];', '  edge [fontname="Helvetica"];']
    leaf_ids: dict[Any, str] = {}
    for n in nodes:
        lines.append(f'  "n{n["id"]}" [shape=circle, label="{_esc(_SYMBOL.get(n["op"], n["op"]))}"];')
    out_of = {n["id"]: n["output"] for n in nodes}
    for n in nodes:
        for j, (kind, ref) in enumerate(n["inputs"]):
            if kind == "node":
                src, value = f"n{ref}", out_of.get(ref)
                grad = value.grad if value is not None and value.requires_grad and not value.is_leaf else None
            elif kind == "leaf":
                key = eng._leaf_key(ref)
                if key not in leaf_ids:
                    leaf_ids[key] = f"leaf{len(leaf_ids)}"
                    name = next((k for k, v in (names or {}).items() if _same(eng, v, ref)), by_tensor.get(id(ref)))
                    label = name if name is not None else f"x{len(leaf_ids) - 1}"
                    lines.append(f'  "{leaf_ids[key]}" [shape=plaintext, label="{_esc(label)}"];')
                src, value, grad = leaf_ids[key], ref, ref.grad
            else:
                src = f"const{n['id']}_{j}"
                lines.append(f'  "{src}" [shape=plaintext, label="const"];')
                value = grad = None
            lines.append(f'  "{src}" -> "n{n["id"]}" [label={_label(value, grad)}];')
    if nodes:
        root = nodes[0]
        lines.append('  "__out" [shape=plaintext, label=""];')
        grad = t.grad if t.requires_grad and not t.is_leaf else None
        lines.append(f'  "n{root["id"]}" -> "__out" [label={_label(t, grad)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _same(eng: Any, a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same tensor of ``eng`` (two wrappers may share one C tensor)."""
    return a is b or (name_of(a) == name_of(b) == eng.__name__ and eng._leaf_key(a) == eng._leaf_key(b))


def to_dot(obj: Any, names: dict[str, Any] | None = None) -> str:
    """DOT text for a Tensor's graph or a ComputationalGraph.

    ``names`` maps labels to leaf tensors (``{"x": x, "w": w}``) for a Tensor's graph.
    """
    if hasattr(obj, "nodes_topologically_sorted"):
        return _dot_of_graph(obj)
    if is_tensor(obj):
        return _dot_of_tensor(obj, names)
    raise PygradTypeError(f"draw: expected a Tensor or a ComputationalGraph, got {type(obj).__name__}")


def draw(obj: Any, path: str | Path | None = None, format: str | None = None,  # noqa: A002
         names: dict[str, Any] | None = None) -> str:
    """Return the circuit's DOT text; with ``path``, also write it (format from
    the suffix unless given: ``dot`` as text, others rendered by Graphviz)."""
    dot = to_dot(obj, names)
    if path is None:
        return dot
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "dot").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot)
        return dot
    exe = shutil.which("dot")
    if exe is None:
        raise PygradRuntimeError(
            f"draw: writing {fmt} needs Graphviz's `dot` program (Debian package graphviz); "
            "draw(obj) without a path returns the DOT text")
    res = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=dot.encode(), capture_output=True, timeout=120)
    if res.returncode != 0:
        raise PygradRuntimeError(f"draw: dot failed: {res.stderr.decode(errors='replace').strip()}")
    return dot


__all__ = ["draw", "to_dot"]
