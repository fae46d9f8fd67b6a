"""Run every benchmark section (or some) and print one markdown report.

    python bench/run.py [--quick] [--only SECTION ...]
    python -m bench [--quick] [--only SECTION ...]

Sections: overhead (per-op overhead, bench/overhead.py), demo (micrograd's
demo step), mlp (MLP training steps), gemm (GEMM GFLOP/s against the FMA
peak), bandwidth (elementwise and reductions against the copy roofline),
transcendental (exp, log, tanh, sigmoid, sin, cos, gelu on one thread against
numpy and PyTorch), distributed (all_reduce against mpi4py and the data-parallel MLP step, under
mpiexec; needs the distributed extra, reported as not run without it).
pygrad and every installed peer run in the same process; a missing peer is
reported, not fatal. The report ends with the performance targets, each
computed from this run's figures. Nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bandwidth  # noqa: E402
import common  # noqa: E402
import demo  # noqa: E402
import distributed  # noqa: E402
import gemm  # noqa: E402
import mlp  # noqa: E402
import overhead  # noqa: E402
import transcendental  # noqa: E402

OVERHEAD: dict[str, overhead.Result] = {}  # engine -> this run's result


def overhead_section(quick: bool) -> str:
    """bench/overhead.py's table, as a section of this report."""
    n = 1000
    repeats, warmup = (5, 1) if quick else (20, 3)
    overhead.NOTES.clear()
    results = [
        overhead.run_engine(overhead.engine_pygrad, "pygrad (C engine)", n, repeats, warmup),
        overhead.run_engine(overhead.engine_reference, "pygrad.reference (Python)", n, repeats, warmup),
        overhead.run_engine(lambda: overhead.engine_torch(1), "PyTorch eager CPU", n, repeats, warmup),
        overhead.run_engine(overhead.engine_numpy, "numpy (forward only)", n, repeats, warmup),
        overhead.run_engine(lambda: overhead.engine_micrograd(n), "micrograd (1 scalar)", n, repeats, warmup),
    ]
    OVERHEAD.clear()
    OVERHEAD.update({r.name: r for r in results})
    notes = [f"{r.name}: result differs from float64 numpy: {r.check}" for r in results if r.check]
    if not notes:
        notes.append(f"every engine's value and gradient match a float64 numpy run (rtol {overhead.tolerance(n):.2g})")
    notes += overhead.NOTES
    return "\n".join([
        "## Per-op overhead (bench/overhead.py)",
        "",
        overhead.table(results),
        "",
        f"- chain of {n} ops cycling x*{overhead.MUL}, x+{overhead.ADD}, relu(x) on a float32 tensor of "
        f"{len(overhead.START)} elements (micrograd: one scalar), then sum() and backward(); median of {repeats} "
        "repeats; ratio = engine time / pygrad time",
        *[f"- {note}" for note in notes],
    ])


SECTIONS: dict[str, Callable[[bool], str]] = {
    "overhead": overhead_section,
    "demo": demo.run,
    "mlp": mlp.run,
    "gemm": gemm.run,
    "bandwidth": bandwidth.run,
    "transcendental": transcendental.run,
    "distributed": distributed.run,
}


def targets() -> str:
    """The performance targets, judged on this run's GEMM and bandwidth figures."""
    rows = []
    tmax = common.max_threads()
    gf, peak = gemm.LAST["gflops"], gemm.LAST["peak"]
    big = [(dn, n) for (dn, n, t) in gf if n >= 512 and t == tmax]

    def gemm_row(label: str, dname: str, want: float, what: str) -> None:
        vals = []
        for dn, n in big:
            if dn != dname:
                continue
            g = gf[(dn, n, tmax)]
            if what == "peak" and peak.get((dn, n, tmax)):
                vals.append((g["pygrad"] / peak[(dn, n, tmax)], n))
            elif what == "numpy" and "numpy" in g:
                vals.append((g["pygrad"] / g["numpy"], n))
        if not vals:
            rows.append([label, "not measured", "—"])
            return
        worst, n = min(vals)
        shown = ", ".join(f"n={m}: {v:.0%}" if what == "peak" else f"n={m}: {v:.2f}x" for v, m in sorted(
            vals, key=lambda x: x[1]))
        rows.append([label, shown, "met" if worst >= want else f"missed at n={n}"])

    if gf:
        gemm_row(f"float32 GEMM, n >= 512, {tmax} threads: >= 80% of FMA peak", "float32", 0.80, "peak")
        gemm_row(f"float32 GEMM, n >= 512, {tmax} threads: >= 1.5x numpy", "float32", 1.5, "numpy")
        gemm_row(f"float64 GEMM, n >= 512, {tmax} threads: >= 75% of FMA peak", "float64", 0.75, "peak")
    gbs = bandwidth.LAST["gbs"]
    if gbs:
        for t in sorted({1, tmax}):
            for kinds, label, want in (
                (("in place",), "memory-bound elementwise ops (copy, a += b, a *= s)", 0.9),
                (("new result",), "memory-bound elementwise ops that allocate their result (a + b, a * s, relu)",
                 0.9),
                (("reduction",), "reductions (no target; for reference)", None),
            ):
                vals = [(r[f"pygrad{t}"] / r[f"copy{t}"], f"{op} {dname}") for (dname, op), r in gbs.items()
                        if bandwidth.LAST["kind"][op] in kinds and f"pygrad{t}" in r]
                if not vals:
                    continue
                worst, which = min(vals)
                shown = ", ".join(f"{name}: {v:.0%}" for v, name in vals)
                status = "—" if want is None else "met" if worst >= want else f"missed: {which}"
                goal = "" if want is None else f": >= {want:.0%} of the copy roofline"
                rows.append([f"{label}, {t} thread{'s' if t > 1 else ''}{goal}", shown, status])
    if transcendental.LAST:
        vals = [(r["numpy"] / r["pygrad"], f"{name} {dname}") for (dname, name), r in transcendental.LAST.items()
                if "numpy" in r]
        worst, which = min(vals)
        rows.append(["transcendental kernels (exp log tanh sigmoid sin cos gelu), 1 thread: >= 2x numpy",
                     ", ".join(f"{name}: {v:.2f}x" for v, name in vals),
                     "met" if worst >= 2 else f"missed: {which}"])
    rows += step_targets()
    if not rows:
        return ""
    return "\n".join(["## Targets", "", common.md_table(["target", "this run", "status"], rows, right=set()), "",
                      "- an op that allocates its result takes a buffer freed earlier from pygrad's cache "
                      "(docs/memory.md); exp is compute-bound and not judged against the roofline"])


def _judge(ok: bool, miss: str) -> str:
    return "met" if ok else f"missed: {miss}"


def step_targets() -> list[list[str]]:
    """Per-op overhead, the micrograd demo and the MLP steps, judged on this run."""
    rows = []
    pg = OVERHEAD.get("pygrad (C engine)")
    torch = next((r for name, r in OVERHEAD.items() if name.startswith("PyTorch eager")), None)
    if pg and pg.forward and pg.backward:
        for what, mine, want, times in (("forward", pg.forward, 0.4, 5), ("backward", pg.backward, 0.05, 40)):
            theirs = getattr(torch, what) if torch else None
            ratio = theirs / mine if theirs else None
            shown = f"{mine:.3f} µs/op" + (f", {ratio:.1f}x faster than PyTorch eager" if ratio else "")
            ok_abs, ok_rel = mine <= want, ratio is None or ratio >= times
            miss = ", ".join(m for m, bad in ((f"{mine / want:.1f}x the µs", not ok_abs),
                                              (f"{ratio:.1f}x of {times}x" if ratio else "", not ok_rel)) if bad)
            rows.append([f"per-op overhead, {what}: <= {want} µs/op and >= {times}x faster than PyTorch eager",
                         shown, _judge(ok_abs and ok_rel, miss)])
    d = demo.LAST
    vec, tv = d.get("pygrad, vectorised"), d.get("PyTorch eager, vectorised")
    if vec and tv:
        r = tv / vec
        rows.append(["micrograd demo step, vectorised: >= 4x faster than PyTorch eager", f"{r:.2f}x",
                     _judge(r >= 4, f"{r:.2f}x of 4x")])
    sc, mg = d.get("pygrad, scalar by scalar (0-d tensors)"), d.get("micrograd (Value per scalar)")
    if sc and mg:
        r = mg / sc
        rows.append(["micrograd demo step, scalar by scalar: >= 30x faster than micrograd", f"{r:.2f}x",
                     _judge(r >= 30, f"{r:.2f}x of 30x")])
    tmax = common.max_threads()
    for sizes in sorted({k[0] for k in mlp.LAST}, key=len):
        mine, theirs = mlp.LAST.get((sizes, "pygrad", tmax)), mlp.LAST.get((sizes, "PyTorch eager", tmax))
        if mine and theirs:
            r = theirs / mine
            rows.append([f"MLP step {sizes}, {tmax} threads: >= 2.5x faster than PyTorch eager", f"{r:.2f}x",
                         _judge(r >= 2.5, f"{r:.2f}x of 2.5x")])
        jax = mlp.LAST.get((sizes, "JAX jit", tmax))
        if mine and jax and sizes.startswith("784"):
            r = jax / mine
            rows.append([f"MLP step {sizes}: not slower than JAX jit", f"{r:.2f}x JAX's speed",
                         _judge(r >= 1, f"{r:.2f}x")])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pygrad benchmarks against their peers (markdown report)")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    chosen = args.only or list(SECTIONS)
    print("# pygrad benchmarks\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)))
    for name in SECTIONS:
        if name in chosen:
            print()
            print(SECTIONS[name](args.quick), flush=True)
    summary = targets()
    if summary:
        print()
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
