"""Graph export: the recorded graph behind a C-engine tensor as plain data (for pygrad.viz)."""

from __future__ import annotations

from typing import Any

from pygrad._bindings import _NULL, OP_NAMES, _wrap, address, lib, own_node
from pygrad._tensor import Tensor


def graph_of(t: Tensor) -> list[dict[str, Any]]:
    """The recorded graph behind ``t``, for drawing: one dict per node
    reachable from t (t's own node first) with its ``id``, ``op`` name, its
    ``inputs`` as ``("node", id)``, ``("leaf", Tensor)`` or ``("const", None)``
    (an input that needs no gradient), and its ``output`` Tensor when that
    tensor is still alive (else None)."""
    root = lib.pg_tensor_node(t._p)
    if root == _NULL:
        return []
    root = own_node(root)
    key = address(root)
    seen = {key: root}
    stack, out = [root], []
    while stack:
        n = stack.pop()
        inputs: list[tuple[str, Any]] = []
        for i in range(lib.pg_node_n_inputs(n)):
            m = lib.pg_node_input_node(n, i)
            if m != _NULL:
                m = own_node(m)
                k = address(m)
                inputs.append(("node", k))
                if k not in seen:
                    seen[k] = m
                    stack.append(m)
                continue
            leaf = lib.pg_node_input_leaf(n, i)
            inputs.append(("leaf", _wrap(leaf)) if leaf != _NULL else ("const", None))
        o = lib.pg_node_output(n)
        out.append({"id": address(n), "op": OP_NAMES[lib.pg_node_op(n)], "inputs": inputs,
                    "output": _wrap(o) if o != _NULL else None})
    return out


def leaf_key(t: Tensor) -> int:
    """A key naming ``t``'s C tensor: equal for two wrappers of the same tensor."""
    return address(t._p)
