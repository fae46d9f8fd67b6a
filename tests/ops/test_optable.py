"""The Python op table (pygrad/_optable.py) lists exactly the C table's ops, and what is
built from it (gate classes, diagram symbols, one-line functions, __all__) is there on
both engines."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad._c as C
import pygrad.gates as CG
import pygrad.reference as ref
import pygrad.reference.gates as RG
from pygrad import _bindings, _optable, viz
from pygrad._optable import OPS

ENGINES = [C, ref]
IDS = ["c", "reference"]


def test_the_table_lists_exactly_the_c_ops_in_order() -> None:
    lib = _bindings.lib
    c_names = [_bindings.c_string(lib.pg_op_name(i)) for i in range(lib.pg_op_count())]
    assert [op.name for op in OPS] == c_names
    assert tuple(c_names) == C.OP_NAMES == ref.OP_NAMES
    assert len({op.name for op in OPS}) == len(OPS)


@pytest.mark.parametrize("e", ENGINES, ids=IDS)
def test_every_function_and_method_of_the_table_exists(e: Any) -> None:
    for op in OPS:
        for f in op.functions:
            assert callable(getattr(e, f)), (op.name, f)
        for m in op.methods:
            assert hasattr(e.Tensor, m), (op.name, m)


@pytest.mark.parametrize("ns", [CG, RG], ids=IDS)
def test_gate_classes_are_built_from_the_table(ns: Any) -> None:
    assert set(ns.GATES_BY_OP) == {op.name for op in OPS}
    assert ns.GATES_BY_OP["custom"] is ns.Gate
    for op in OPS:
        for spec in ((op.gate,) if op.gate else ()) + op.extra_gates:
            cls = getattr(ns, spec.name)
            assert cls.__doc__ == spec.formula and cls.op == op.name and cls.n_inputs == op.arity
        if op.gate is not None:
            assert ns.GATES_BY_OP[op.name].__name__ == op.gate.name


def test_viz_symbols_come_from_the_table() -> None:
    assert viz._SYMBOL is _optable.SYMBOLS
    assert _optable.SYMBOLS["mul"] == "*" and _optable.SYMBOLS["sigmoid"] == "σ"
    x = C.tensor([1.0, 2.0], requires_grad=True)
    assert 'label="σ"' in viz.draw(x.sigmoid().sum())


def test_all_of_both_engines_is_built_from_the_table() -> None:
    assert C.__all__ == _optable.c_all()
    assert ref.__all__ == _optable.reference_all()
    for name in set(_optable.FUNCTIONS):
        assert name in C.__all__ and name in ref.__all__
    for e in ENGINES:
        for name in e.__all__:
            assert getattr(e, name) is not None
    assert set(pygrad.__all__) >= set(_optable.FUNCTIONS)


ONE_LINERS = [(op, f) for op in OPS if op.one_liner for f in op.functions]


@pytest.mark.parametrize(("op", "fname"), ONE_LINERS, ids=[f for _, f in ONE_LINERS])
def test_one_line_functions_match_their_methods(op: _optable.Op, fname: str) -> None:
    fn = getattr(C, fname)
    assert fn.__name__ == fname and fn.__doc__ == op.doc
    params = list(inspect.signature(fn).parameters)
    assert params[0] == "x"
    assert params[1:] == list(inspect.signature(getattr(C.Tensor, op.methods[0])).parameters)[1:]
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, (2, 3))
    args: tuple[Any, ...] = (C.tensor(rng.uniform(0.5, 2.0, (3, 2)), dtype=C.float64),) if fname == "matmul" else (
        (C.tensor(rng.uniform(0.5, 2.0, (2, 3)), dtype=C.float64),) if op.arity == 2 else ())
    kw = {"min": 0.8} if fname == "clamp" else {}
    x = C.tensor(a, dtype=C.float64)
    np.testing.assert_array_equal(fn(x, *args, **kw).numpy(), getattr(x, op.methods[0])(*args, **kw).numpy())
    r = getattr(ref, fname)(ref.tensor(a, dtype=ref.float64), *[ref.tensor(t.numpy()) for t in args], **kw)
    np.testing.assert_allclose(fn(x, *args, **kw).numpy(), r.numpy(), rtol=1e-12)


def test_one_line_binary_functions_give_a_scalar_the_other_dtype() -> None:
    t = C.tensor([1.0, 3.0], dtype=C.float64)
    for fn in (C.maximum, C.minimum):
        assert fn(2.0, t).dtype == np.float64
    np.testing.assert_array_equal(C.maximum(2.0, t).numpy(), [2.0, 3.0])
    assert C.sum(C.ones(2, 3), dim=1, keepdim=True).shape == (2, 1)
    with pytest.raises(TypeError, match="exp: unsupported operand type list"):
        C.exp([1.0])


def _public(obj: Any) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_both_engines_expose_the_same_public_names() -> None:
    """Generated from the classes and modules themselves: a method or function added to one
    engine only (Tensor.requires_grad_ and Tensor.view once were) fails here."""
    assert _public(C.Tensor) == _public(ref.Tensor)
    assert set(C.__all__) - set(_optable.C_ONLY_NAMES) == set(ref.__all__) - set(_optable.REFERENCE_ONLY_NAMES)
    import pygrad.optim as CO
    import pygrad.reference.optim as RO

    assert set(CO.__all__) == set(RO.__all__)
    for name in RO.__all__:
        if name == "lr_scheduler":  # a namespace of classes on both sides
            assert {n for n in dir(CO.lr_scheduler) if n[0].isupper()} == \
                {n for n in dir(RO.lr_scheduler) if n[0].isupper()}
            continue
        assert _public(getattr(CO, name)) == _public(getattr(RO, name)), name
