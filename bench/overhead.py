"""Per-op overhead of pygrad against its peers, measured in one run.

Every engine runs the same chain of cheap elementwise ops on a tiny input, so
the time is almost all per-op overhead (dispatch, allocation, recording the
graph) and almost none arithmetic. The chain cycles through::

    y = y * 1.0001;  y = y + 0.001;  y = relu(y)

(relu rather than tanh because micrograd has no tanh; the values stay positive,
so relu is the identity here and the gradient is 1.0001 ** (number of muls)).
Tensor engines start from a float32 tensor of 4 elements that requires grad;
micrograd, whose ``Value`` is a scalar, runs the chain on one scalar; numpy
runs the forward chain only, with no autograd. After the chain comes
``.sum()`` (not timed) and ``.backward()`` (timed).

Reported per engine: forward µs per op (chain time / ops) and backward µs per
op (backward time / ops), each the median over the repeats after warm-up runs,
and the ratio of each to pygrad's (engine time / pygrad time: above 1 means
slower than pygrad). An engine that is not installed is reported as such.
Every engine's value and gradient are checked against a float64 numpy run of
the same chain, so a fast but wrong engine shows up in the notes.

Run from the repository root, against the in-place build if there is one (else
the installed pygrad)::

    python bench/overhead.py [--quick] [--ops N] [--repeats N] [--torch-threads N]

This prints a table; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.machinery
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

MUL = 1.0001
ADD = 0.001
START = (0.5, 1.0, 1.5, 2.0)
NOTES: list[str] = []


def autograd_chain(y: Any, n_ops: int) -> Any:
    """The op chain for engines with operators and a ``.relu()`` method."""
    for _ in range(n_ops // 3):
        y = y * MUL
        y = y + ADD
        y = y.relu()
    rest = n_ops % 3
    if rest >= 1:
        y = y * MUL
    if rest == 2:
        y = y + ADD
    return y


def numpy_chain(y: np.ndarray, n_ops: int) -> np.ndarray:
    """The same op chain on a numpy array."""
    maximum = np.maximum
    for _ in range(n_ops // 3):
        y = y * MUL
        y = y + ADD
        y = maximum(y, 0.0)
    rest = n_ops % 3
    if rest >= 1:
        y = y * MUL
    if rest == 2:
        y = y + ADD
    return y


def expected(n_ops: int) -> tuple[np.ndarray, np.ndarray]:
    """The chain's value (float64 numpy) and its exact gradient for the start values."""
    value = numpy_chain(np.array(START, dtype=np.float64), n_ops)
    n_mul = n_ops // 3 + (1 if n_ops % 3 else 0)
    return value, np.full(len(START), MUL**n_mul)


@dataclass
class Engine:
    """How to run the chain on one engine."""

    name: str
    leaf: Callable[[], Any]
    forward: Callable[[Any, int], Any]
    reduce: Callable[[Any], Any] | None = None
    backward: Callable[[Any], None] | None = None
    value: Callable[[Any], np.ndarray] = np.asarray
    grad: Callable[[Any], np.ndarray] = np.asarray
    elements: int = len(START)


@dataclass
class Result:
    """Median µs per op, or why there is none."""

    name: str
    forward: float | None = None
    backward: float | None = None
    status: str = ""
    check: str = ""


# ---------------------------------------------------------------- engines ---


def _import_pygrad() -> Any:
    """Import pygrad, preferring an in-place build in this checkout."""
    here = ROOT / "pygrad"
    built = any((here / f"_pygrad{suffix}").exists() for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    if built and str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import pygrad

    return pygrad


def _tensor_engine(name: str, module: Any) -> Engine:
    """pygrad and pygrad.reference share an API."""

    def leaf() -> Any:
        return module.tensor(list(START), dtype=module.float32, requires_grad=True)

    return Engine(
        name=name,
        leaf=leaf,
        forward=autograd_chain,
        reduce=lambda y: y.sum(),
        backward=lambda s: s.backward(),
        value=lambda y: np.array(y.numpy()),
        grad=lambda x: np.array(x.grad.numpy()),
    )


def engine_pygrad() -> Engine:
    return _tensor_engine("pygrad (C engine)", _import_pygrad())


def engine_reference() -> Engine:
    _import_pygrad()
    import pygrad.reference

    return _tensor_engine("pygrad.reference (Python)", pygrad.reference)


def engine_torch(threads: int) -> Engine:
    import torch

    torch.set_num_threads(threads)

    def leaf() -> Any:
        return torch.tensor(START, dtype=torch.float32, requires_grad=True)

    return Engine(
        name=f"PyTorch eager CPU ({threads} thread{'s' if threads != 1 else ''})",
        leaf=leaf,
        forward=autograd_chain,
        reduce=lambda y: y.sum(),
        backward=lambda s: s.backward(),
        value=lambda y: y.detach().numpy().copy(),
        grad=lambda x: x.grad.numpy().copy(),
    )


def engine_numpy() -> Engine:
    return Engine(
        name="numpy (forward only)",
        leaf=lambda: np.array(START, dtype=np.float32),
        forward=numpy_chain,
    )


def engine_micrograd(n_ops: int) -> Engine:
    from micrograd.engine import Value

    # micrograd sorts the graph with a recursive function, one frame per node.
    limit = n_ops + 500
    if sys.getrecursionlimit() < limit:
        sys.setrecursionlimit(limit)
        NOTES.append(
            f"micrograd: recursion limit raised to {limit} (its topological sort recurses once per node)"
        )
    return Engine(
        name="micrograd (1 scalar)",
        leaf=lambda: Value(START[0]),
        forward=autograd_chain,
        reduce=lambda y: y,
        backward=lambda s: s.backward(),
        value=lambda y: np.array([y.data]),
        grad=lambda x: np.array([x.grad]),
        elements=1,
    )


# ---------------------------------------------------------------- timing ---


def measure(engine: Engine, n_ops: int, repeats: int, warmup: int) -> Result:
    """Median forward and backward µs per op over ``repeats`` runs after ``warmup`` runs."""
    fwd_ns: list[int] = []
    bwd_ns: list[int] = []
    value = grad = None
    clock = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(warmup + repeats):
            x = engine.leaf()
            t0 = clock()
            y = engine.forward(x, n_ops)
            t1 = clock()
            if engine.backward is not None:
                s = engine.reduce(y)
                t2 = clock()
                engine.backward(s)
                t3 = clock()
                del s
            if i >= warmup:
                fwd_ns.append(t1 - t0)
                if engine.backward is not None:
                    bwd_ns.append(t3 - t2)
            value = engine.value(y)
            if engine.backward is not None:
                grad = engine.grad(x)
            del x, y
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    result = Result(engine.name, forward=statistics.median(fwd_ns) / n_ops / 1e3)
    if bwd_ns:
        result.backward = statistics.median(bwd_ns) / n_ops / 1e3
    result.check = check(engine, n_ops, value, grad)
    return result


def tolerance(n_ops: int) -> float:
    """Relative error float32 may pile up over the chain: about one rounding (2**-24) per op and constant."""
    return 1e-6 + n_ops * 2.0**-23


def check(engine: Engine, n_ops: int, value: Any, grad: Any) -> str:
    """Compare the last run's value and gradient with the float64 ones."""
    rtol = tolerance(n_ops)
    want_value, want_grad = expected(n_ops)
    k = engine.elements
    problems = []
    if value is None or value.shape != (k,) or not np.allclose(value, want_value[:k], rtol=rtol):
        problems.append(f"value {value} != {want_value[:k]}")
    if engine.backward is not None and (
        grad is None or grad.shape != (k,) or not np.allclose(grad, want_grad[:k], rtol=rtol)
    ):
        problems.append(f"grad {grad} != {want_grad[:k]}")
    return "; ".join(problems)


def run_engine(
    make: Callable[[], Engine], fallback_name: str, n_ops: int, repeats: int, warmup: int
) -> Result:
    """Set an engine up and measure it; a missing peer or a failure becomes a status."""
    try:
        engine = make()
    except ModuleNotFoundError:
        return Result(fallback_name, status="not installed")
    except ImportError as exc:
        return Result(fallback_name, status=f"import failed: {exc}")
    try:
        return measure(engine, n_ops, repeats, warmup)
    except Exception as exc:  # a failing engine is reported, not fatal
        traceback.print_exc(file=sys.stderr)
        return Result(engine.name, status=f"error: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- report ---


def _version(module: str, dist: str) -> str:
    """The version of a peer this run imported, or "not installed"."""
    if sys.modules.get(module) is None:
        return "not installed"
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return getattr(sys.modules[module], "__version__", "unknown version")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    logical = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    cores = f"{logical} logical cores" + (f" ({usable} usable)" if usable != logical else "")
    return f"{cpu_model()}, {cores}, {platform.system()} {platform.release()} {platform.machine()}"


def _fmt_time(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "—"


def _fmt_ratio(v: float | None, base: float | None) -> str:
    if v is None or base is None or base <= 0:
        return "—"
    return f"{v / base:.2f}x"


def table(results: list[Result]) -> str:
    base = results[0]
    rows = [
        "| engine | forward µs/op | backward µs/op | forward ratio vs pygrad | backward ratio vs pygrad |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.status:
            rows.append(f"| {r.name} | {r.status} | {r.status} | — | — |")
            continue
        bwd = _fmt_time(r.backward) if r.backward is not None else "n/a (no autograd)"
        rows.append(
            f"| {r.name} | {_fmt_time(r.forward)} | {bwd} | {_fmt_ratio(r.forward, base.forward)} "
            f"| {_fmt_ratio(r.backward, base.backward)} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-op overhead of pygrad and its peers (prints a table).")
    parser.add_argument("--quick", action="store_true", help="5 repeats, 1 warm-up (default: 20, 3)")
    parser.add_argument("--ops", type=int, default=1000, help="ops in the chain (default: 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (overrides --quick's count)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    args = parser.parse_args(argv)
    if args.ops < 1:
        parser.error("--ops must be at least 1")
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 20)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    warmup = 1 if args.quick else 3
    n = args.ops

    results = [
        run_engine(engine_pygrad, "pygrad (C engine)", n, repeats, warmup),
        run_engine(engine_reference, "pygrad.reference (Python)", n, repeats, warmup),
        run_engine(lambda: engine_torch(args.torch_threads), "PyTorch eager CPU", n, repeats, warmup),
        run_engine(engine_numpy, "numpy (forward only)", n, repeats, warmup),
        run_engine(lambda: engine_micrograd(n), "micrograd (1 scalar)", n, repeats, warmup),
    ]

    pygrad = sys.modules.get("pygrad")
    where = f"from {Path(pygrad.__file__).parent}" if pygrad is not None else "(not importable)"
    torch_info = _version("torch", "torch")
    if sys.modules.get("torch") is not None:
        torch_info += f" (torch.set_num_threads({sys.modules['torch'].get_num_threads()}))"
    now = datetime.datetime.now().astimezone()
    print("# pygrad per-op overhead\n")
    print(f"- date: {now:%Y-%m-%d %H:%M %Z}")
    print(f"- machine: {machine()}")
    print(
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_info}, "
        f"micrograd {_version('micrograd', 'micrograd')}"
    )
    print(f"- pygrad {getattr(pygrad, '__version__', '?')} {where}")
    print(
        f"- chain: {n} ops cycling x*{MUL}, x+{ADD}, relu(x) on a float32 tensor of {len(START)} elements "
        f"(micrograd: one float scalar), then sum() and backward()"
    )
    print(
        f"- median of {repeats} repeats after {warmup} warm-up run(s); µs/op = time / {n}; "
        "ratio = engine time / pygrad time (above 1: slower than pygrad)"
    )
    print(f"- command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print()
    print(table(results))
    notes = [f"{r.name}: result differs from float64 numpy: {r.check}" for r in results if r.check]
    if not notes:
        rtol = f"{tolerance(n):.2g}"
        notes.append(f"every measured engine's value and gradient match a float64 numpy run (rtol {rtol})")
    notes += NOTES
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
