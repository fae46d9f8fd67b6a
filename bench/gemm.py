"""GEMM throughput: C = A B for square n x n matrices, float32 and float64,
on 1 thread and on every core, for pygrad's matmul, numpy's and PyTorch's,
each also as a fraction of the machine's FMA peak (bench/peak.c); and the
float32 products of one training step of the MLP 784-512-512-10 at batch 256
(each layer's forward product and its backward's dW = X^T dY, dX = dY W^T).

GFLOP/s = 2 n^3 / (best seconds per product); every engine allocates its
result, as users call it (``a @ b``). Run alone with
``python bench/gemm.py [--quick] [--back-to-back [SECONDS]]``; ``python -m
bench`` runs it with the other sections. On more than one thread each timed
block starts after a pause (common.SETTLE), so it includes the engine's threads
waking; ``--back-to-back`` adds, after the pause, SECONDS (default
BACK_TO_BACK) of untimed calls of the same engine before every timed block, of
every engine alike: the figures are then those of products run back to back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SIZES = (64, 128, 256, 512, 1024, 2048)
# the last run's figures: (dtype, n, threads) -> {engine: GFLOP/s}, and -> the peak measured with them
LAST: dict[str, dict] = {"gflops": {}, "peak": {}}
QUICK_SIZES = (64, 256, 512, 1024)
# --back-to-back's default: seconds of untimed calls before each timed block
BACK_TO_BACK = 0.05
# the MLP 784-512-512-10's layers at batch 256: (batch, in, out, whether the layer's input needs a gradient)
MLP_LAYERS = ((256, 784, 512, False), (256, 512, 512, True), (256, 512, 10, True))


def engines(n: int, dtype: np.dtype, rng: np.random.Generator) -> tuple[dict[str, Callable[[], Any]], dict[str, str]]:
    """The product to time per engine, and why a peer is missing."""
    pg = common.import_pygrad()
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    ta, tb = pg.tensor(a), pg.tensor(b)
    fns: dict[str, Callable[[], Any]] = {"pygrad": lambda: ta @ tb, "numpy": lambda: a @ b}
    missing = {}
    torch, why = common.try_import("torch")
    if torch is None:
        missing["PyTorch"] = why
    else:
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        fns["PyTorch"] = lambda: torch.mm(xa, xb)
    return fns, missing


def mlp_engines(m: int, k: int, n: int, xgrad: bool,
                rng: np.random.Generator) -> tuple[dict[str, Callable[[], Any]], int]:
    """One layer's products, Y = X W [m, n] and its backward (dW = X^T dY, and dX = dY W^T when
    xgrad), per engine; and their multiply-adds."""
    pg = common.import_pygrad()
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    g = rng.standard_normal((m, n)).astype(np.float32)
    x, w, gt = pg.tensor(a, requires_grad=xgrad), pg.tensor(b, requires_grad=True), pg.tensor(g)

    def pygrad_step() -> None:
        x.grad = None
        w.grad = None
        (x @ w).backward(gt)

    def numpy_step() -> None:
        _ = a @ b, a.T @ g
        if xgrad:
            _ = g @ b.T

    fns: dict[str, Callable[[], Any]] = {"pygrad": pygrad_step, "numpy": numpy_step}
    torch, _why = common.try_import("torch")
    if torch is not None:
        xa, wb = torch.from_numpy(a).requires_grad_(xgrad), torch.from_numpy(b).requires_grad_()
        gy = torch.from_numpy(g)

        def torch_step() -> None:
            xa.grad = None
            wb.grad = None
            torch.mm(xa, wb).backward(gy)

        fns["PyTorch"] = torch_step
    return fns, m * k * n * (3 if xgrad else 2)


def check(n: int, dtype: np.dtype, rng: np.random.Generator) -> str:
    """pygrad's product against float64 numpy, with the dot-product error bound."""
    pg = common.import_pygrad()
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    got = (pg.tensor(a) @ pg.tensor(b)).numpy().astype(np.float64)
    want = a.astype(np.float64) @ b.astype(np.float64)
    bound = 2 * n * np.finfo(dtype).eps / 2 * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    return "" if np.all(np.abs(got - want) <= bound) else f"pygrad's {n}x{n} {np.dtype(dtype).name} product is off"


def run(quick: bool = False, warm: float = 0.0) -> str:
    """The GEMM section as markdown; ``warm`` > 0: each timed block after that many seconds of untimed calls
    of the same engine (--back-to-back)."""
    rng = np.random.default_rng(0)
    tmax = common.max_threads()
    thread_counts = sorted({1, tmax})
    sizes = QUICK_SIZES if quick else SIZES
    out = ["## GEMM GFLOP/s", ""]
    notes: list[str] = []
    problems = []
    results: list[tuple[str, int, int, dict[str, float], float | None]] = []
    mlp_results: list[tuple[str, int, dict[str, float], float | None]] = []
    missing: dict[str, str] = {}
    probe = common.PeakProbe()
    with common.LoadMeter() as meter:
        best_peak = probe.measure(tmax, 0.1 if quick else 0.3)
        for dtype in (np.float32, np.float64):
            dname = np.dtype(dtype).name
            for t in thread_counts:
                with common.threads(t):
                    for n in sizes:
                        fns, missing = engines(n, dtype, rng)
                        row_peak: list[float] = []

                        def peak(t: int = t, dname: str = dname, row_peak: list[float] = row_peak) -> None:
                            v = probe.measure(t, 0.02, exact=True).get((dname, t))
                            if v:
                                row_peak.append(v)

                        one = common.interleaved({"pygrad": fns["pygrad"]}, repeats=1)["pygrad"]
                        inner = common.inner_for(one, 0.02 if quick else 0.05)
                        best = common.interleaved(fns, repeats=3 if quick else 7, inner=inner, warmup=0,
                                                  each_round=peak if probe.exe is not None else None,
                                                  settle=common.SETTLE if t > 1 else 0.0, warm=warm)
                        gf = {k: 2.0 * n**3 / v / 1e9 for k, v in best.items()}
                        results.append((dname, n, t, gf, max(row_peak) if row_peak else None))
            if dtype == np.float32:
                for t in thread_counts:
                    with common.threads(t):
                        for m, k, n, xgrad in MLP_LAYERS:
                            fns, macs = mlp_engines(m, k, n, xgrad, rng)
                            row_peak: list[float] = []

                            def peak(t: int = t, row_peak: list[float] = row_peak) -> None:
                                v = probe.measure(t, 0.02, exact=True).get(("float32", t))
                                if v:
                                    row_peak.append(v)

                            one = common.interleaved({"pygrad": fns["pygrad"]}, repeats=1)["pygrad"]
                            inner = common.inner_for(one, 0.02 if quick else 0.05)
                            best = common.interleaved(fns, repeats=3 if quick else 7, inner=inner, warmup=0,
                                                      each_round=peak if probe.exe is not None else None,
                                                      settle=common.SETTLE if t > 1 else 0.0, warm=warm)
                            gf = {e: 2.0 * macs / v / 1e9 for e, v in best.items()}
                            mlp_results.append((f"{m}x{k} @ {k}x{n}" + ("" if xgrad else ", no dX"), t, gf,
                                                max(row_peak) if row_peak else None))
            problem = check(257, dtype, rng)
            if problem:
                problems.append(problem)
    probe.close()
    for dname in ("float32", "float64"):
        rows = []
        for dn, n, t, gf, pk in results:
            if dn != dname:
                continue

            rows.append([
                str(n), str(t), fmt_peak(pk), cell(gf, pk, "pygrad"), cell(gf, pk, "numpy"), cell(gf, pk, "PyTorch"),
                common.ratio(gf.get("pygrad"), gf.get("numpy")), common.ratio(gf.get("pygrad"), gf.get("PyTorch")),
            ])
        out += [
            f"### {dname}",
            "",
            common.md_table(
                ["n", "threads", "peak GFLOP/s", "pygrad GFLOP/s (of peak)", "numpy (of peak)", "PyTorch (of peak)",
                 "pygrad / numpy", "pygrad / PyTorch"], rows),
            "",
        ]
    rows = []
    for name, t, gf, pk in mlp_results:
        rows.append([name, str(t), fmt_peak(pk), cell(gf, pk, "pygrad"), cell(gf, pk, "numpy"), cell(gf, pk, "PyTorch"),
                     common.ratio(gf.get("pygrad"), gf.get("numpy")),
                     common.ratio(gf.get("pygrad"), gf.get("PyTorch"))])
    if rows:
        out += [
            "### float32, the MLP 784-512-512-10's products at batch 256",
            "",
            "Each row: a layer's forward product Y = X W and its backward, dW = X^T dY and (but for the first "
            "layer, whose input needs no gradient) dX = dY W^T; GFLOP/s over the three (or two) products.",
            "",
            common.md_table(
                ["layer", "threads", "peak GFLOP/s", "pygrad GFLOP/s (of peak)", "numpy (of peak)",
                 "PyTorch (of peak)", "pygrad / numpy", "pygrad / PyTorch"], rows),
            "",
        ]
    for name, why in missing.items():
        notes.append(f"{name}: {why}")
    notes.append(probe.note + (f", {probe.isa}" if probe.exe else ""))
    if best_peak:
        peaks = ", ".join(f"{dt} {t} thread{'s' if t > 1 else ''}: {v:.0f}" for (dt, t), v in sorted(best_peak.items()))
        notes.append(f"peak column: the best of short FMA probes (3 x 20 ms each) run in the same interleaved rounds "
                     f"as the row's products (the peak a virtual machine gets moves with its host's load); a longer "
                     f"probe at the start of the section gave {peaks} GFLOP/s")
    notes += [common.blas_threads_note(), "PyTorch: torch.set_num_threads",
              f"on more than one thread each engine's timed block starts {common.SETTLE} s after the previous one: "
              "OpenBLAS's idle workers spin for about 0.1 s after a numpy matmul and would take a core from the "
              "next engine",
              *([f"back to back: each timed block follows {warm} s of untimed calls of the same engine (after the "
                 "pause), every engine alike"] if warm else []),
              "GFLOP/s = 2 n^3 / best time of a product, result allocation included (as users call a @ b)"]
    notes.append("pygrad's products match float64 numpy within the dot-product error bound"
                 if not problems else "; ".join(problems))
    notes.append(meter.note())
    LAST["gflops"] = {(dn, n, t): gf for dn, n, t, gf, _ in results}
    LAST["peak"] = {(dn, n, t): pk for dn, n, t, _, pk in results if pk}
    out += [f"- {n}" for n in notes]
    return "\n".join(out)


def cell(gf: dict[str, float], pk: float | None, name: str) -> str:
    """An engine's GFLOP/s and its fraction of the peak, or an em dash."""
    if name not in gf:
        return "—"
    return f"{gf[name]:.1f}" + (f" ({gf[name] / pk:.0%})" if pk else "")


def fmt_peak(v: float | None) -> str:
    """A peak figure, or an em dash."""
    return "—" if v is None else f"{v:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--back-to-back", type=float, nargs="?", const=BACK_TO_BACK, default=0.0, metavar="SECONDS",
                        help="before each timed block, SECONDS of untimed calls of the same engine (default "
                             f"{BACK_TO_BACK}): products back to back rather than after a pause")
    args = parser.parse_args(argv)
    print("# pygrad GEMM benchmark\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)), "\n")
    print(run(args.quick, args.back_to_back))
    return 0


if __name__ == "__main__":
    sys.exit(main())
