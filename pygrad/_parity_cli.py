"""``python -m pygrad parity``: the built-in C-vs-reference parity suite.

Runs every op-table case of :mod:`pygrad._opcases` in float32 and float64,
every built-in gate, and a short training run on both engines, and prints one
table row per (op, dtype): cases, the largest relative error of values and of
gradients, and pass/fail. Exit status 0 only if everything passes.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections import defaultdict
from typing import Any

import numpy as np

from pygrad.testing import TOLERANCES, engines, run_on


def _rel_err(c: np.ndarray, r: np.ndarray) -> float:
    """max |c - r| / max(1, max |r|) (inf on a shape/dtype mismatch or a NaN disagreement)."""
    if c.shape != r.shape or c.dtype != r.dtype:
        return float("inf")
    if c.size == 0:
        return 0.0
    if c.dtype == np.bool_:
        return 0.0 if np.array_equal(c, r) else float("inf")
    c64, r64 = c.astype(np.float64), r.astype(np.float64)
    nan_c, nan_r = np.isnan(c64), np.isnan(r64)
    if np.any(nan_c != nan_r):
        return float("inf")
    ok = ~nan_r
    if not ok.any():
        return 0.0
    scale = max(1.0, float(np.max(np.abs(r64[ok]), initial=0.0)))
    with np.errstate(invalid="ignore"):
        return float(np.max(np.abs(c64[ok] - r64[ok]))) / scale


def _max_err(a: list[Any], b: list[Any]) -> float:
    worst = 0.0
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return float("inf")
        if x is not None:
            worst = max(worst, _rel_err(x, y))
    return worst if len(a) == len(b) else float("inf")


def _op_rows(dtypes: list[str], quick: bool) -> list[dict[str, Any]]:
    from pygrad._opcases import CASES, make_inputs

    c, r = engines()
    acc: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"cases": 0, "val": 0.0, "grad": 0.0})
    seen: set[str] = set()
    for case in CASES:
        if quick and case.op in seen:
            continue
        seen.add(case.op)
        for dtype in dtypes:
            seed = zlib.crc32(f"{case.id}/{dtype}".encode())
            arrays = make_inputs(case, dtype, seed)
            row = acc[(case.op, dtype)]
            row["cases"] += 1
            try:
                rc = run_on(c, lambda *xs, _f=case.fn: _f(c, *xs), arrays, True, seed)
                rr = run_on(r, lambda *xs, _f=case.fn: _f(r, *xs), arrays, True, seed)
            except Exception as exc:  # a crash in one engine is a failure of that case, not of the suite
                row["val"] = row["grad"] = float("inf")
                row.setdefault("error", f"{case.id}: {type(exc).__name__}: {exc}")
                continue
            row["val"] = max(row["val"], _max_err(rc["outputs"], rr["outputs"]))
            row["grad"] = max(row["grad"], _max_err(rc["grads"], rr["grads"]))
    return [{"name": op, "dtype": dt, **v} for (op, dt), v in acc.items()]


def _gate_rows(dtypes: list[str]) -> list[dict[str, Any]]:
    import pygrad.gates as G
    import pygrad.reference.gates as RG

    rows = []
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        worst_v = worst_g = 0.0
        n = 0
        for name in ("AddGate", "MultiplyGate", "MaxGate", "ExpGate", "ReciprocalGate", "SigmoidGate",
                     "TanhGate", "ReLUGate", "MatMulGate", "SumGate"):
            gc, gr = getattr(G, name)(), getattr(RG, name)()
            k = gc.n_inputs
            shapes = [(2, 3), (3, 2)] if name == "MatMulGate" else [(2, 3)] * k
            xs = [(rng.uniform(0.3, 2.0, s) * rng.choice([-1, 1], s)).astype(dtype) for s in shapes]
            zc, zr = gc.forward(*xs), gr.forward(*xs)
            dz = rng.standard_normal(np.shape(zc)).astype(dtype)
            dc, dr = gc.backward(dz), gr.backward(dz)
            dc, dr = (dc if isinstance(dc, tuple) else (dc,)), (dr if isinstance(dr, tuple) else (dr,))
            worst_v = max(worst_v, _rel_err(np.asarray(zc), np.asarray(zr)))
            worst_g = max(worst_g, _max_err([np.asarray(a) for a in dc], [np.asarray(b) for b in dr]))
            n += 1
        rows.append({"name": "gates", "dtype": dtype, "cases": n, "val": worst_v, "grad": worst_g})
    return rows


def _training_rows(steps: int) -> list[dict[str, Any]]:
    """A 2-layer MLP trained with SGD for ``steps`` steps on both engines, float64."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((32, 4))
    y = rng.integers(0, 3, 32)
    init = [rng.standard_normal((4, 16)) * 0.5, np.zeros(16), rng.standard_normal((16, 3)) * 0.5, np.zeros(3)]
    finals = []
    for m in engines():
        ps = [m.tensor(p, dtype="float64", requires_grad=True) for p in init]
        xt = m.tensor(X, dtype="float64")
        for _ in range(steps):
            h = (xt @ ps[0] + ps[1]).relu()
            logp = (h @ ps[2] + ps[3]).log_softmax(axis=1)
            loss = -logp[np.arange(32), y].mean()
            loss.backward()
            with m.no_grad():
                for p in ps:
                    p -= 0.1 * p.grad
                    p.grad = None
        finals.append([p.numpy().copy() for p in ps])
    return [{"name": "training (MLP, SGD)", "dtype": "float64", "cases": steps,
             "val": _max_err(finals[0], finals[1]), "grad": 0.0}]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Every row of the suite, each with ``ok`` set from the dtype's tolerance."""
    dtypes = ["float64"] if quick else ["float32", "float64"]
    rows = _op_rows(dtypes, quick) + _gate_rows(dtypes) + _training_rows(5 if quick else 50)
    for row in rows:
        tol = TOLERANCES[row["dtype"]][0] * (100 if row["name"].startswith("training") else 10)
        row["ok"] = row["val"] <= tol and row["grad"] <= tol
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    out = ["| op | dtype | cases | max rel err (values) | max rel err (grads) | result |",
           "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        out.append(f"| {r['name']} | {r['dtype']} | {r['cases']} | {r['val']:.2e} | {r['grad']:.2e} | "
                   f"{'pass' if r['ok'] else 'FAIL'} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m pygrad parity``; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m pygrad parity",
                                 description="Check the installed C engine against the reference engine.")
    ap.add_argument("--quick", action="store_true", help="one case per op, float64 only (a few seconds)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.quick)
    print(format_table(rows))
    failed = [r for r in rows if not r["ok"]]
    for r in failed:
        if "error" in r:
            print(f"error: {r['error']}", file=sys.stderr)
    n_cases = sum(r["cases"] for r in rows)
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed "
          f"({n_cases} cases, {time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0


def add_parser(subparsers: Any) -> None:
    """Register ``pygrad parity`` with the command dispatcher (pygrad/__main__.py)."""
    p = subparsers.add_parser("parity", help="check the C engine against the reference engine",
                              description="Run every op of the op table, the gates and a short training run "
                                          "on both engines and compare; exit status 0 only if all agree.")
    p.add_argument("--quick", action="store_true", help="one case per op, float64 only (a few seconds)")
    p.set_defaults(func=lambda args: main(["--quick"] if args.quick else []))


if __name__ == "__main__":
    sys.exit(main())
