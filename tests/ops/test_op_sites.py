"""Every op is in every place docs/adding-an-op.md lists: a missing site fails here, naming the file to edit."""

from __future__ import annotations

import re
from pathlib import Path

import pygrad
import pygrad.reference as ref
from pygrad import _opcases, _optable

ROOT = Path(__file__).resolve().parents[2]


def test_c_op_list_and_python_op_table_agree() -> None:
    # csrc/ops.def (through the compiled table) and pygrad/_optable.py, row for row
    assert tuple(pygrad.OP_NAMES) == tuple(op.name for op in _optable.OPS), \
        "pygrad/_optable.py needs one row per line of csrc/ops.def, in the same order"


def test_every_op_has_a_reference_twin() -> None:
    assert tuple(ref.OP_NAMES) == tuple(pygrad.OP_NAMES), \
        "pygrad/reference/ops.py needs an Op class per op, listed in OPS in op-id order"


def test_every_elementwise_op_has_its_reference_rule_and_c_entry_point() -> None:
    for row in _optable.ELEMENTWISE:
        assert hasattr(ref.OPS[row.name], "rule"), f"pygrad/reference/ops.py: {row.name} needs a rule()"
        for engine in (pygrad, ref):
            assert callable(getattr(engine.Tensor, row.name)) and callable(getattr(engine, row.name))


def test_every_op_has_parity_cases() -> None:
    assert tuple(_opcases.OP_NAMES) == tuple(pygrad.OP_NAMES), "pygrad/_opcases.py: OP_NAMES lists the op table"
    covered = {case.op for case in _opcases.CASES}
    missing = [name for name in pygrad.OP_NAMES if name not in covered]
    assert not missing, f"pygrad/_opcases.py needs OpCases for {missing}"


def test_every_gate_exists() -> None:
    import pygrad.gates as gates

    for op in _optable.OPS:
        for g in (op.gate, *op.extra_gates):
            if g is not None:
                for module in (gates, ref.gates):
                    cls = getattr(module, g.name, None)
                    assert isinstance(cls, type) and callable(cls.forward) and callable(cls.backward), \
                        f"{g.name} missing from {module.__name__}"


def test_every_op_function_is_documented_in_semantics() -> None:
    text = (ROOT / "docs" / "semantics.md").read_text()
    section = text.split("## Operations", 1)[1].split("\n## ", 1)[0]
    words = {w for span in re.findall(r"`([^`]*)`", section) for w in re.findall(r"[A-Za-z_]\w*", span)}
    undocumented = [f for f in _optable.FUNCTIONS if f not in words and f != "custom_op"]
    assert not undocumented, f"docs/semantics.md's Operations section should describe {undocumented}"


def test_the_math_family_of_the_c_op_list_is_the_elementwise_rows() -> None:
    # csrc/ops.def's family "math" (checked from C by test_math_family) == _optable's elementwise rows
    ops_def = re.sub(r"/\*.*?\*/", "", (ROOT / "csrc" / "ops.def").read_text(), flags=re.S)
    math = re.findall(r"^X\(\s*\w+\s*,\s*(\w+)\s*,[^)]*,\s*math\s*\)", ops_def, re.M)
    assert math == [row.name for row in _optable.ELEMENTWISE], \
        "an op of family math in csrc/ops.def is elementwise=True in pygrad/_optable.py, and the reverse"
