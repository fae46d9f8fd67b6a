"""The C library's layers: the call graph between csrc/*.c files has no cycle and
calls only go down (foundation -> kernels -> tape -> ops), and each op of the op
list (csrc/ops.def) has its row in its family's file.

Each source is compiled to an object; its defined and undefined global symbols
(nm) give the file-level graph: file A uses file B when A refers to a symbol B
defines. One reference is not an edge: pg_optable, the op table, through which
the tape and the ops reach an op's kernels at run time by op id (dispatch, the
point of the table), and which therefore refers to every op's row itself. The
layers are declared here and in csrc/README.md; a new .c file must be given one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

# Lower number = lower layer. A file may use files of its own layer (without a
# cycle) and of the layers below, never above.
FOUNDATION, KERNELS, TAPE, OPS, TABLE, PROGRAM = range(6)
LAYER_NAMES = {FOUNDATION: "foundation", KERNELS: "kernels", TAPE: "tape", OPS: "ops", TABLE: "op table",
               PROGRAM: "program"}
LAYERS = {
    "errors": FOUNDATION,
    "alloc": FOUNDATION,
    "threads": FOUNDATION,
    "nditer": KERNELS,
    "gemm": KERNELS,
    "kern_ewise": KERNELS,
    "kern_reduce": KERNELS,
    "kern_vmath": KERNELS,
    "tensor": TAPE,
    "anomaly": TAPE,
    "autograd": TAPE,
    "rules_util": OPS,
    "ops_unary": OPS,
    "ops_math": OPS,
    "ops_binary": OPS,
    "ops_compare": OPS,
    "ops_inplace": OPS,
    "ops_reduce": OPS,
    "ops_shape": OPS,
    "ops_index": OPS,
    "ops_matmul": OPS,
    "ops_softmax": OPS,
    "ops_nn": OPS,
    "ops_custom": OPS,
    "ops_conv": OPS,
    "ops_norm": OPS,
    "ops_dropout": OPS,
    "ops_embedding": OPS,
    "ops_attn": OPS,
    "ops_pool": OPS,
    "ops_interp": OPS,
    "ops_random": OPS,
    "optim": OPS,
    "optable": TABLE,
    "program": PROGRAM,
}
DISPATCH = {"pg_optable"}


def _tool(*names: str) -> str | None:
    for name in names:
        if name and shutil.which(name):
            return name
    return None


CC = _tool(os.environ.get("CC", ""), "cc", "gcc", "clang")
NM = _tool("nm", "llvm-nm")
pytestmark = pytest.mark.skipif(CC is None or NM is None, reason="needs a C compiler and nm")


def _sources() -> list[Path]:
    return sorted(CSRC.glob("*.c"))


@pytest.fixture(scope="module")
def symbols(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[set[str], set[str]]]:
    """file stem -> (defined global symbols, undefined symbols) of its object."""
    out = tmp_path_factory.mktemp("objs")
    table: dict[str, tuple[set[str], set[str]]] = {}
    for src in _sources():
        obj = out / (src.stem + ".o")
        subprocess.run(
            [CC, "-std=c11", "-O0", "-c", "-D_POSIX_C_SOURCE=200809L", "-I", str(CSRC), str(src), "-o", str(obj)],
            check=True, capture_output=True, timeout=300,
        )
        text = subprocess.run([NM, str(obj)], check=True, capture_output=True, text=True).stdout
        defined, undefined = set(), set()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDRBCGSV":  # global text, data, rodata, bss, common
                defined.add(parts[2])
            elif len(parts) == 2 and parts[0] == "U":
                undefined.add(parts[1])
        table[src.stem] = (defined, undefined)
    return table


@pytest.fixture(scope="module")
def graph(symbols: dict[str, tuple[set[str], set[str]]]) -> dict[str, dict[str, list[str]]]:
    """file -> {file it uses: [symbols]}, without the dispatch through the op table."""
    owner = {sym: f for f, (defined, _) in symbols.items() for sym in defined}
    edges: dict[str, dict[str, list[str]]] = {f: {} for f in symbols}
    for f, (_, undefined) in symbols.items():
        for sym in sorted(undefined - DISPATCH):
            g = owner.get(sym)
            if g is not None and g != f:
                edges[f].setdefault(g, []).append(sym)
    return edges


def test_every_file_has_a_layer() -> None:
    stems = {p.stem for p in _sources()}
    assert stems - set(LAYERS) == set(), "give each new csrc/*.c a layer in tests/c/test_c_layers.py and csrc/README.md"
    assert set(LAYERS) - stems == set(), "a file of LAYERS no longer exists"


def test_the_readme_lists_every_file_in_its_layer() -> None:
    text = (CSRC / "README.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    for stem, layer in LAYERS.items():
        row = next((ln for ln in rows if f"`{stem}.c`" in ln), None)
        assert row is not None, f"csrc/README.md's table of layers does not list {stem}.c"
        assert row.split("|")[1].strip() == LAYER_NAMES[layer], f"csrc/README.md puts {stem}.c in another layer"


def test_calls_only_go_down(graph: dict[str, dict[str, list[str]]]) -> None:
    upward = [
        f"{f}.c ({LAYER_NAMES[LAYERS[f]]}) uses {g}.c ({LAYER_NAMES[LAYERS[g]]}): {', '.join(syms)}"
        for f, uses in graph.items()
        for g, syms in uses.items()
        if LAYERS[g] > LAYERS[f]
    ]
    assert upward == []


def _find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """A cycle of the graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if state.get(start):
            continue
        path, stack = [start], [iter(graph[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph.get(nxt, {})))
    return None


def test_the_file_graph_has_no_cycle(graph: dict[str, dict[str, list[str]]]) -> None:
    cycle = _find_cycle(graph)
    assert cycle is None, "cycle: " + " -> ".join(
        f"{a}.c [{graph[a][b][0]}]" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}.c"


def test_the_checks_see_real_edges_and_cycles(graph: dict[str, dict[str, list[str]]]) -> None:
    # known uses show up: the tape accumulates with a raw kernel, ops run on the tape
    assert "pg__add_into" in graph["autograd"].get("kern_ewise", [])
    assert "pg__apply" in graph["ops_matmul"].get("autograd", [])
    assert _find_cycle({"a": {"b": ["f"]}, "b": {"c": ["g"]}, "c": {"a": ["h"]}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": ["f"]}, "b": {}, "c": {"a": ["h"], "b": ["g"]}}) is None


def _ops_def() -> list[tuple[str, str, str]]:
    text = re.sub(r"/\*.*?\*/", "", (CSRC / "ops.def").read_text(), flags=re.S)
    return re.findall(r"^\s*X\(\s*(\w+)\s*,\s*(\w+)\s*,[^,]+,[^,]+,\s*(\w+)\s*\)", text, re.M)


def test_each_op_row_is_in_its_family_file(symbols: dict[str, tuple[set[str], set[str]]]) -> None:
    rows = _ops_def()
    assert len(rows) > 30
    for _, name, family in rows:
        defined = symbols.get(f"ops_{family}", (set(), set()))[0]
        assert f"pg_op_{name}" in defined, f"ops.def puts {name} in ops_{family}.c, but its row is not there"


def test_the_public_header_keeps_an_includers_macro_x(tmp_path: Path) -> None:
    """pygrad.h expands the op list with a macro X; an includer's own X survives."""
    src = tmp_path / "user.c"
    src.write_text('#define X 42\n#include "pygrad.h"\nint x_after = X;\nint n_ops = PG_OP_COUNT;\n')
    subprocess.run([CC, "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", "-I", str(CSRC), str(src),
                    "-o", str(tmp_path / "user.o")], check=True, capture_output=True, timeout=120)


def test_the_enum_follows_the_op_list() -> None:
    """The ids Python sees are the op list's order, the names its name column."""
    from pygrad import _pygrad  # the compiled extension

    rows = _ops_def()
    assert _pygrad.lib.pg_op_count() == len(rows) == _pygrad.lib.PG_OP_COUNT
    for i, (enum_name, name, _) in enumerate(rows):
        assert getattr(_pygrad.lib, f"PG_OP_{enum_name}") == i
        assert _pygrad.ffi.string(_pygrad.lib.pg_op_name(i)).decode() == name
