"""The gate interface of the CS231n notes, built once per engine.

``build(engine)`` returns the gate classes whose default engine is
``engine`` (``pygrad._c`` or ``pygrad.reference``); :mod:`pygrad.gates` and
:mod:`pygrad.reference.gates` are its two instances. A gate runs on the engine
of its Tensor inputs (:mod:`pygrad._engines`), the default engine serving
inputs given as numbers or arrays; Tensors of both engines raise TypeError.
Gates hold no numeric
code: a built-in gate runs its engine's op (forward kernel) and that op's
recorded backward (backward kernel); a user-defined gate runs the user's
numpy ``forward``/``backward`` and takes part in autograd through the
engine's ``custom_op`` hook.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from pygrad import _engines, _optable
from pygrad.errors import PygradRuntimeError, PygradTypeError, PygradValueError, ShapeError

_FLOAT, _ARRAY, _TENSOR = "float", "array", "tensor"


def build(engine: Any) -> SimpleNamespace:  # noqa: C901 - one namespace of small classes
    """The gate classes whose default engine is ``engine``: one per row of :mod:`pygrad._optable`."""

    def engine_for(who: str, values: Any) -> Any:
        """The engine of the Tensors among ``values`` (``engine`` when there are none)."""
        return _engines.common(who, values, default=engine)

    def kind_of(x: Any) -> str:
        if _engines.is_tensor(x):
            return _TENSOR
        if isinstance(x, np.ndarray):
            return _ARRAY
        if isinstance(x, (numbers.Real, np.generic)) and not isinstance(x, bool):
            return _FLOAT
        raise PygradTypeError(f"gate: inputs must be Python numbers, numpy arrays or Tensors, got {type(x).__name__}")

    def to_leaf(x: Any, requires_grad: bool, eng: Any) -> Any:
        """A fresh leaf of ``eng`` holding x's values; Python numbers compute in float64."""
        if _engines.is_tensor(x):
            t = eng.tensor(x.numpy(), dtype=x.dtype)
        elif isinstance(x, (numbers.Real, np.generic)) and not isinstance(x, np.ndarray):
            t = eng.tensor(np.float64(x))
        else:
            arr = np.asarray(x)
            t = eng.tensor(arr, dtype=arr.dtype if arr.dtype in (np.float32, np.float64, np.bool_) else None)
        if requires_grad and t.dtype != np.bool_:
            t.requires_grad = True
        return t

    def as_input(x: Any, eng: Any) -> Any:
        """Tensors pass through (they keep their graph); others become float64/array tensors of ``eng``."""
        return x if _engines.is_tensor(x) else to_leaf(x, False, eng)

    def convert(t: Any, kind: str) -> Any:
        """A result in the kind the caller gave: float in, float out."""
        if kind == _TENSOR:
            return t.detach()
        arr = t.numpy().copy()
        if kind == _FLOAT and arr.size == 1:
            return float(arr.reshape(-1)[0])
        return arr

    class Gate:
        """A node of a circuit: ``forward`` computes the output, ``backward``
        turns the upstream gradient into one gradient per input (local ×
        upstream).

        Subclass it and write ``forward(*arrays)`` and ``backward(dz)`` with
        numpy to define your own gate; calling the gate on Tensors
        (``MyGate()(x)``) then records it in the graph, and autograd calls
        your ``backward`` from the backward sweep. ``backward`` returns one
        gradient per input (a tuple, or a single array for one input), each of
        its input's shape; ``None`` means no gradient.
        """

        def forward(self, *inputs: Any) -> Any:
            raise NotImplementedError(f"{type(self).__name__}: a user-defined gate must implement forward()")

        def backward(self, dz: Any) -> Any:
            raise NotImplementedError(f"{type(self).__name__}: a user-defined gate must implement backward()")

        @property
        def name(self) -> str:
            """The gate's class name (used in messages and circuit diagrams)."""
            return type(self).__name__

        def __call__(self, *inputs: Any) -> Any:
            """Apply the gate inside a Tensor expression (recorded for autograd on the inputs' engine)."""
            eng = engine_for(self.name, inputs)
            ts = [as_input(x, eng) for x in inputs]
            gate = copy.copy(self)  # per-call state: the same gate object may appear twice in a graph
            value = np.asarray(gate.forward(*[t.numpy().copy() for t in ts]))
            floats = [t.dtype for t in ts if t.dtype != np.bool_]
            dtype = (np.float64 if np.float64 in floats else np.float32) if floats else np.float32
            if value.dtype.kind not in "biuf":
                raise PygradTypeError(f"{self.name}.forward returned an array of dtype {value.dtype}")
            shapes = [t.shape for t in ts]
            name = self.name

            def grads_of(g: Any, needs: list[bool]) -> list[Any]:
                if eng.is_grad_enabled():  # only a create_graph sweep runs backward with grad mode on
                    raise PygradRuntimeError(
                        f"{name}: a gate whose backward is written with numpy cannot be differentiated twice "
                        "(backward(create_graph=True)); write the backward with pygrad ops through custom_op")
                out = gate.backward(g.numpy().copy())
                grads = list(out) if isinstance(out, (tuple, list)) else [out]
                if len(grads) != len(shapes):
                    raise PygradValueError(
                        f"{name}.backward returned {len(grads)} gradient(s) for {len(shapes)} input(s)")
                result = []
                for i, (gi, shape, t) in enumerate(zip(grads, shapes, ts)):
                    if gi is None or not needs[i]:
                        result.append(None)
                        continue
                    arr = np.asarray(gi)
                    if arr.shape != shape:
                        raise ShapeError(
                            f"{name}.backward returned a gradient of shape {arr.shape} for input {i} of shape {shape}")
                    result.append(eng.tensor(arr, dtype=t.dtype))
                return result

            return eng.custom_op(ts, eng.tensor(value, dtype=dtype), grads_of)

        def __repr__(self) -> str:
            return f"{self.name}()"

    class _OpGate(Gate):
        """A built-in gate: one op of the engine's op table.

        ``forward(*inputs)`` runs the op's forward kernel on fresh leaves and
        keeps the recorded node; ``backward(dz)`` runs the op's backward kernel
        on it (``retain_graph``, so it may be called again). Inputs may be
        Python numbers (computed in float64), numpy arrays or Tensors; results
        come back in the kind given.
        """

        op: str = ""
        n_inputs: int = 1
        differentiable: tuple[bool, ...] = ()

        def _apply(self, eng: Any, *ts: Any) -> Any:
            raise NotImplementedError

        def __call__(self, *inputs: Any) -> Any:
            self._check_arity(inputs)
            eng = engine_for(self.name, inputs)
            ts = [as_input(x, eng) for x in inputs]
            return self._apply(eng, *ts)

        def _check_arity(self, inputs: Sequence[Any]) -> None:
            if self.n_inputs >= 0 and len(inputs) != self.n_inputs:
                raise PygradTypeError(f"{self.name}: takes {self.n_inputs} input(s), got {len(inputs)}")
            if self.n_inputs < 0 and not inputs:
                raise PygradTypeError(f"{self.name}: takes at least one input")

        def _diff(self, i: int) -> bool:
            return self.differentiable[i] if i < len(self.differentiable) else True

        def forward(self, *inputs: Any) -> Any:
            """z = op(*inputs), with the C (or reference) forward kernel."""
            self._check_arity(inputs)
            kinds = [kind_of(x) for x in inputs]
            eng = engine_for(self.name, inputs)
            leaves = [to_leaf(x, self._diff(i), eng) for i, x in enumerate(inputs)]
            with eng.enable_grad():
                out = self._apply(eng, *leaves)
            self._kinds, self._leaves, self._out, self._eng = kinds, leaves, out, eng
            kind = _TENSOR if _TENSOR in kinds else _ARRAY if _ARRAY in kinds else _FLOAT
            return convert(out, kind)

        def backward(self, dz: Any = 1.0) -> Any:
            """Local gradient × upstream ``dz`` for each input (one value for one input)."""
            out = getattr(self, "_out", None)
            if out is None:
                raise PygradRuntimeError(f"{self.name}.backward called before forward")
            eng = self._eng
            g = dz.numpy() if _engines.is_tensor(dz) else np.asarray(dz, dtype=out.dtype)
            if g.shape != out.shape:
                if g.size == 1 and out.size == 1:
                    g = g.reshape(out.shape)
                else:
                    raise ShapeError(f"{self.name}.backward: the upstream gradient has shape {g.shape} "
                                     f"but the gate's output has shape {out.shape}")
            if out.dtype == np.bool_ or not out.requires_grad:
                raise PygradRuntimeError(
                    f"{self.name}.backward: the output does not depend differentiably on the inputs")
            for t in self._leaves:
                if t.requires_grad:
                    t.grad = None
            out.backward(eng.tensor(g, dtype=out.dtype), retain_graph=True)
            grads = []
            for t, kind in zip(self._leaves, self._kinds):
                if not t.requires_grad:
                    grads.append(None)
                    continue
                gt = t.grad if t.grad is not None else eng.zeros(t.shape, dtype=t.dtype)
                grads.append(convert(gt, kind))
            return grads[0] if len(grads) == 1 else tuple(grads)

    ns: dict[str, Any] = {"Gate": Gate}
    by_op: dict[str, type] = {}

    def gate(name: str, op: str, n: int, fn: Any, doc: str, params: Sequence[str] = (),
             defaults: Sequence[Any] = (), differentiable: tuple[bool, ...] = ()) -> None:
        """Define one built-in gate class."""

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            values = dict(zip(params[len(params) - len(defaults):], defaults))
            if len(args) > len(params):
                raise PygradTypeError(f"{name}: takes {len(params)} parameter(s), got {len(args)}")
            values.update(zip(params, args))
            for k, v in kwargs.items():
                if k not in params:
                    raise PygradTypeError(f"{name}: unexpected parameter {k!r}")
                values[k] = v
            missing = [p for p in params if p not in values]
            if missing:
                raise PygradTypeError(f"{name}: missing parameter(s) {', '.join(missing)}")
            self.params = values

        def _apply(self: Any, eng: Any, *ts: Any) -> Any:
            return fn(eng, *ts, **self.params)

        def __repr__(self: Any) -> str:
            return f"{name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

        cls = type(name, (_OpGate,), {
            "__init__": __init__, "_apply": _apply, "__repr__": __repr__, "__doc__": doc,
            "op": op, "n_inputs": n, "differentiable": differentiable,
        })
        ns[name] = cls
        by_op.setdefault(op, cls)

    for op in _optable.OPS:
        for spec in ((op.gate,) if op.gate is not None else ()) + op.extra_gates:
            gate(spec.name, op.name, op.arity, spec.apply, spec.formula, spec.params, spec.defaults,
                 spec.differentiable)
    by_op["custom"] = Gate

    class GraphNode:
        """A value in a :class:`ComputationalGraph`: an input or a gate applied to earlier nodes."""

        __slots__ = ("name", "gate", "inputs", "value", "grad", "_index")

        def __init__(self, name: str, gate: Any, inputs: tuple[GraphNode, ...], index: int) -> None:
            self.name, self.gate, self.inputs, self._index = name, gate, inputs, index
            self.value: Any = None
            self.grad: Any = None

        @property
        def is_input(self) -> bool:
            """True for the graph's named inputs."""
            return self.gate is None

        def __repr__(self) -> str:
            what = "input" if self.gate is None else f"{self.gate.name}({', '.join(i.name for i in self.inputs)})"
            return f"<{self.name} = {what}>"

    class ComputationalGraph:
        """A DAG of gates, as in the notes::

            g = ComputationalGraph()
            x, y, z = g.input("x"), g.input("y"), g.input("z")
            q = g.add(AddGate(), x, y, name="q")
            f = g.add(MultiplyGate(), q, z, name="f")
            g.forward({"x": -2.0, "y": 5.0, "z": -4.0})   # -12.0
            g.backward()                                    # {"x": -4.0, "y": -4.0, "z": 3.0}

        ``forward`` applies the gates in topological order on the engine's
        tape; ``backward`` is one reverse sweep of that tape, gradients adding
        where a node fans out. The last node added is the output unless
        :meth:`set_output` says otherwise.
        """

        def __init__(self) -> None:
            self._nodes: list[GraphNode] = []
            self._names: dict[str, GraphNode] = {}
            self._output: GraphNode | None = None
            self._kinds: dict[str, str] = {}
            self._out_tensor: Any = None
            self._eng = engine

        def _new(self, name: str | None, gate: Any, inputs: tuple[GraphNode, ...]) -> GraphNode:
            name = name if name is not None else f"n{len(self._nodes)}"
            if name in self._names:
                raise PygradValueError(f"ComputationalGraph: the name {name!r} is already used")
            for i in inputs:
                if not isinstance(i, GraphNode) or self._names.get(i.name) is not i:
                    raise PygradTypeError(f"ComputationalGraph: {i!r} is not a node of this graph")
            node = GraphNode(name, gate, inputs, len(self._nodes))
            self._nodes.append(node)
            self._names[name] = node
            return node

        def input(self, name: str) -> GraphNode:
            """A named input; its gradient comes back under this name."""
            return self._new(name, None, ())

        def add(self, gate: Any, *inputs: GraphNode, name: str | None = None) -> GraphNode:
            """The node ``gate(*inputs)``; a node may feed several gates (fan-out)."""
            if not isinstance(gate, Gate):
                raise PygradTypeError(f"ComputationalGraph.add: expected a Gate, got {type(gate).__name__}")
            return self._new(name, gate, tuple(inputs))

        def set_output(self, node: GraphNode) -> None:
            """Choose the node whose value forward returns and backward differentiates."""
            if self._names.get(getattr(node, "name", None)) is not node:
                raise PygradTypeError("ComputationalGraph.set_output: not a node of this graph")
            self._output = node

        @property
        def nodes(self) -> list[GraphNode]:
            """The nodes in the order they were added."""
            return list(self._nodes)

        def nodes_topologically_sorted(self) -> list[GraphNode]:
            """Every node after all of its inputs (Kahn's algorithm; insertion order breaks ties)."""
            pending = {id(n): len(n.inputs) for n in self._nodes}
            users: dict[int, list[GraphNode]] = {id(n): [] for n in self._nodes}
            for n in self._nodes:
                for i in n.inputs:
                    users[id(i)].append(n)
            ready = [n for n in self._nodes if not n.inputs]
            order: list[GraphNode] = []
            while ready:
                ready.sort(key=lambda n: n._index, reverse=True)
                n = ready.pop()
                order.append(n)
                for u in users[id(n)]:
                    pending[id(u)] -= 1
                    if pending[id(u)] == 0:
                        ready.append(u)
            return order

        def forward(self, inputs: dict[str, Any]) -> Any:
            """Evaluate every gate in topological order; return the output's value."""
            if not self._nodes:
                raise PygradValueError("ComputationalGraph.forward: the graph is empty")
            names = [n.name for n in self._nodes if n.is_input]
            missing = [k for k in names if k not in inputs]
            extra = [k for k in inputs if k not in names]
            if missing or extra:
                raise PygradValueError(f"ComputationalGraph.forward: missing inputs {missing}, unknown inputs {extra}")
            out_node = self._output or self._nodes[-1]
            self._kinds = {k: kind_of(v) for k, v in inputs.items()}
            eng = self._eng = engine_for("ComputationalGraph.forward", inputs.values())
            with eng.enable_grad():
                for n in self.nodes_topologically_sorted():
                    if n.is_input:
                        n.value = to_leaf(inputs[n.name], True, eng)
                    else:
                        n.value = n.gate(*[i.value for i in n.inputs])
                        if n.value.requires_grad:
                            n.value.retain_grad()
                    n.grad = None
            self._out_tensor = out_node.value
            kinds = set(self._kinds.values())
            kind = _TENSOR if _TENSOR in kinds else _ARRAY if _ARRAY in kinds else _FLOAT
            return convert(out_node.value, kind)

        def backward(self, dz: Any = None) -> dict[str, Any]:
            """One reverse sweep from the output; the inputs' gradients by name, in the kind given."""
            out = self._out_tensor
            if out is None:
                raise PygradRuntimeError("ComputationalGraph.backward called before forward")
            eng = self._eng
            g = None if dz is None else eng.tensor(np.asarray(dz.numpy() if _engines.is_tensor(dz) else dz),
                                                    dtype=out.dtype)
            out.backward(g)
            result = {}
            for n in self._nodes:
                t = n.value
                n.grad = t.grad if t is not None and t.requires_grad else None
                if n is (self._output or self._nodes[-1]) and n.grad is None:
                    n.grad = g if g is not None else eng.ones(t.shape, dtype=t.dtype)
                if n.is_input:
                    gt = n.grad if n.grad is not None else eng.zeros(t.shape, dtype=t.dtype)
                    result[n.name] = convert(gt, self._kinds[n.name])
            self._out_tensor = None  # the tape was released by the sweep
            return result

    ns.update({"GraphNode": GraphNode, "ComputationalGraph": ComputationalGraph, "GATES_BY_OP": by_op})
    return SimpleNamespace(**ns)
