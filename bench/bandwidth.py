"""Memory bandwidth of elementwise ops and reductions on 16M elements, for
pygrad (1 thread and every core) and numpy, against the copy roofline.

GB/s counts the bytes an op must move: each operand read once and the result
written once (element size x elements x operands); write-allocate reads and
the page zeroing of a fresh result are not counted, so ops that allocate
their result (``a + b``) cannot reach the roofline, for numpy as for pygrad.
The roofline is numpy.copyto into an existing array: on one thread, and on
as many threads as cores, each copying its share (numpy releases the GIL for
the copy). Run alone with ``python bench/bandwidth.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

N = 1 << 24
# the last run's figures: (dtype, op) -> {"numpy" | "pygrad<threads>" | "copy<threads>": GB/s}, and each op's kind
LAST: dict[str, dict] = {"gbs": {}, "kind": {}}


def copy_threads(dst: np.ndarray, src: np.ndarray, n: int) -> None:
    """numpy.copyto of src into dst split over n Python threads."""
    size = len(src)
    bounds = [(size * i // n, size * (i + 1) // n) for i in range(n)]
    workers = [threading.Thread(target=np.copyto, args=(dst[a:b], src[a:b])) for a, b in bounds[1:]]
    for w in workers:
        w.start()
    a, b = bounds[0]
    np.copyto(dst[a:b], src[a:b])
    for w in workers:
        w.join()


def ops(dtype: np.dtype) -> list[tuple[str, int, Callable[[], Any], Callable[[], Any], str]]:
    """(name, operands moved per element, numpy call, pygrad call, kind) for one dtype."""
    pg = common.import_pygrad()
    rng = np.random.default_rng(0)
    a = rng.standard_normal(N).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    c = np.empty_like(a)
    d = a.copy()
    m = a.reshape(4096, -1)
    ta, tb, tc, td = pg.tensor(a), pg.tensor(b), pg.tensor(c), pg.tensor(d)
    tm = pg.tensor(m)
    s = 1.0000001
    return [
        ("copy: dst[:] = a", 2, lambda: np.copyto(c, a), lambda: tc.copy_(ta), "in place"),
        ("a += b", 3, lambda: np.add(d, b, out=d), lambda: td.add_(tb), "in place"),
        ("a *= s", 2, lambda: np.multiply(d, s, out=d), lambda: td.mul_(s), "in place"),
        ("a + b", 3, lambda: a + b, lambda: ta + tb, "new result"),
        ("a * s", 2, lambda: a * s, lambda: ta * s, "new result"),
        ("relu(a)", 2, lambda: np.maximum(a, 0), lambda: ta.relu(), "new result"),
        ("exp(a)", 2, lambda: np.exp(a), lambda: ta.exp(), "new result, compute-bound"),
        ("sum(a)", 1, lambda: a.sum(), lambda: ta.sum(), "reduction"),
        ("sum(m, axis=0)", 1, lambda: m.sum(axis=0), lambda: tm.sum(axis=0), "reduction"),
        ("sum(m, axis=1)", 1, lambda: m.sum(axis=1), lambda: tm.sum(axis=1), "reduction"),
    ]


def run(quick: bool = False) -> str:
    """The bandwidth section as markdown."""
    pg = common.import_pygrad()
    tmax = common.max_threads()
    counts = sorted({1, tmax})
    repeats = 4 if quick else 12
    out = [f"## Elementwise and reduction bandwidth ({N // (1 << 20)}M elements)", ""]
    with common.LoadMeter() as meter:
        for dtype in (np.float32,) if quick else (np.float32, np.float64):
            dname = np.dtype(dtype).name
            es = np.dtype(dtype).itemsize
            src = np.random.default_rng(1).standard_normal(N).astype(dtype)
            dst = np.empty_like(src)
            rows = []
            roofs: dict[int, list[float]] = {t: [] for t in counts}
            for name, k, fn_np, fn_pg, kind in ops(dtype):
                # the op and the copy rooflines in the same interleaved rounds: the memory bandwidth
                # this machine gets varies with what else runs on its host
                fns: dict[str, Callable[[], Any]] = {"numpy": fn_np}
                for t in counts:
                    fns[f"copy{t}"] = lambda t=t, dst=dst, src=src: copy_threads(dst, src, t)
                    fns[f"pygrad{t}"] = lambda t=t, f=fn_pg: (pg.set_num_threads(t), f())
                with common.threads(tmax):
                    best = common.interleaved(fns, repeats=repeats)
                res = {key: (2 if key.startswith("copy") else k) * N * es / v / 1e9 for key, v in best.items()}
                LAST["gbs"][(dname, name)] = res
                LAST["kind"][name] = kind
                for t in counts:
                    roofs[t].append(res[f"copy{t}"])
                row = [name, kind, str(k * es), f"{res['numpy']:.1f} ({res['numpy'] / res['copy1']:.0%})"]
                row += [f"{res[f'pygrad{t}']:.1f} ({res[f'pygrad{t}'] / res[f'copy{t}']:.0%})" for t in counts]
                row.append(common.ratio(res[f"pygrad{tmax}"], res["numpy"]))
                rows.append(row)
            header = ["op", "kind", "bytes/element", "numpy GB/s (of 1-thread copy)"]
            header += [f"pygrad {t} thread{'s' if t > 1 else ''} GB/s (of {t}-thread copy)" for t in counts]
            header.append(f"pygrad {tmax}T / numpy")
            ranges = ", ".join(f"{t} thread{'s' if t > 1 else ''} {min(v):.1f}-{max(v):.1f} GB/s"
                               for t, v in roofs.items())
            out += [f"### {dname}: copy roofline (numpy.copyto) {ranges}", "",
                    common.md_table(header, rows, right=set(range(2, len(header)))), ""]
    out += [
        "- GB/s = bytes/element x elements / best time; bytes/element counts each operand read and the result "
        "written once; a copy moves 2 x element size",
        "- every row times its op and the copy roofline (numpy.copyto into an existing array, on 1 thread and split "
        "over Python threads) in the same interleaved rounds and is judged against that row's roofline; the "
        "heading gives the range of the roofline over the rows",
        f"- m is a (4096, {N // 4096}) view of the same data; s = 1.0000001; numpy runs elementwise ops on one "
        "thread",
        f"- pygrad splits work over threads from {2 * 32768} elements; every figure is the best of {repeats} "
        "interleaved repeats",
        f"- {meter.note()}",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="float32 only, fewer repeats")
    args = parser.parse_args(argv)
    print("# pygrad bandwidth benchmark\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)), "\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
