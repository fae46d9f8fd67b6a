"""The package's seams, checked on the source: one module imports the compiled
extension and owns cffi's ``ffi``; only the C engine's own modules call ``lib``."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "pygrad"

# The C engine: the modules that call the C API through pygrad._bindings.lib.
C_ENGINE = {"_bindings.py", "_c.py", "_args.py", "_tensor.py", "_creation.py", "_functions.py", "_autograd.py",
            "_runtime.py", "_graph.py", "optim/_fused.py", "_compile.py"}


def _sources() -> dict[str, ast.Module]:
    return {str(p.relative_to(PKG)): ast.parse(p.read_text(), str(p)) for p in sorted(PKG.rglob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    """Every module an import statement names (``from a import b`` gives ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_only_bindings_imports_the_extension() -> None:
    importers = {name for name, tree in _sources().items() if "pygrad._pygrad" in _imports(tree)}
    assert importers == {"_bindings.py"}


def test_only_bindings_touches_ffi() -> None:
    users = {name for name, tree in _sources().items()
             if any(isinstance(n, ast.Name) and n.id == "ffi" for n in ast.walk(tree))}
    assert users == {"_bindings.py"}


def test_only_the_c_engine_reaches_the_bindings() -> None:
    users = {name for name, tree in _sources().items()
             if any(m == "pygrad._bindings" or m.startswith("pygrad._bindings.") for m in _imports(tree))}
    assert users - {"_bindings.py"} <= C_ENGINE, users - C_ENGINE
    for name, tree in _sources().items():
        if name in C_ENGINE:
            continue
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "lib" not in names, f"{name} uses lib"


def test_viz_draws_a_c_graph_without_the_bindings() -> None:
    import pygrad as pg
    from pygrad import viz

    if pg.backend() != "c":
        return
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    dot = viz.draw(y, names={"x": x})
    assert '"leaf0" [shape=plaintext, label="x"]' in dot
    assert dot.count("label=\"x\"") == 1  # x feeds mul twice but is one leaf
