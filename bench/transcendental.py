"""The transcendental kernels on 16M elements, one thread: exp, log, tanh,
sigmoid, sin, cos and gelu (exact) in float32 and float64, pygrad against numpy
(and PyTorch CPU when installed), with GB/s against the copy roofline.

Each row times, in the same interleaved rounds: pygrad's op (its result a
new tensor, whose buffer comes from pygrad's cache of freed blocks), numpy
the way a user writes it (``np.exp(a)``: a fresh result, which pays the
kernel zeroing its pages), numpy into an existing array (``np.exp(a,
out=c)``: the kernel alone), PyTorch (``torch.exp(t)``) and the copy roofline
(``numpy.copyto`` into an existing array). GB/s counts one read and one write
of each element. numpy has no sigmoid or gelu: they are written as numpy
users write them (``1/(1 + exp(-a))``; ``0.5 a (1 + erf(a/sqrt 2))`` with
scipy's erf, when scipy is installed). Run alone with ``python
bench/transcendental.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

N = 1 << 24
FUNCS = ("exp", "log", "tanh", "sigmoid", "sin", "cos", "gelu")
# the last run's figures: (dtype, func) -> {"pygrad" | "numpy" | "numpy_out" | "torch" | "copy": seconds}
LAST: dict[tuple[str, str], dict[str, float]] = {}


def _inputs(dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal values (the activations' range), and their absolute values for log."""
    a = np.random.default_rng(0).standard_normal(N).astype(dtype)
    return a, np.abs(a) + dtype(1e-3)


Call = Callable[[], Any]


def _numpy_calls(name: str, x: np.ndarray, out: np.ndarray) -> tuple[Call | None, Call | None]:
    """(numpy with a fresh result, numpy into out) for one function; None where numpy cannot."""
    if name in ("exp", "log", "tanh", "sin", "cos"):
        f = getattr(np, name)
        return (lambda: f(x)), (lambda: f(x, out=out))
    if name == "sigmoid":
        def into() -> None:
            np.negative(x, out=out)
            np.exp(out, out=out)
            np.add(out, 1, out=out)
            np.reciprocal(out, out=out)
        return (lambda: 1 / (1 + np.exp(-x))), into
    special, _ = common.try_import("scipy.special")
    if special is None:
        return None, None
    c = x.dtype.type(1 / math.sqrt(2))

    def gelu_into() -> None:
        np.multiply(x, c, out=out)
        special.erf(out, out=out)
        np.add(out, 1, out=out)
        np.multiply(out, x, out=out)
        np.multiply(out, 0.5, out=out)
    return (lambda: 0.5 * x * (1 + special.erf(x * c))), gelu_into


def _torch_call(torch: Any, name: str, t: Any) -> Callable[[], Any]:
    if name == "gelu":
        return lambda: torch.nn.functional.gelu(t)
    return lambda: getattr(torch, name)(t)


def run(quick: bool = False) -> str:
    """The section as markdown."""
    pg = common.import_pygrad()
    from pygrad import _runtime

    torch, torch_note = common.try_import("torch")
    repeats = 3 if quick else 7
    dtypes = (np.float32,) if quick else (np.float32, np.float64)
    out = [f"## Transcendental kernels ({N // (1 << 20)}M elements, one thread)", ""]
    with common.LoadMeter() as meter:
        for dtype in dtypes:
            dname = np.dtype(dtype).name
            es = np.dtype(dtype).itemsize
            a, pos = _inputs(dtype)
            dst = np.empty_like(a)
            rows = []
            for name in FUNCS:
                x = pos if name == "log" else a
                tx, op = pg.tensor(x), getattr(pg, name)
                fns: dict[str, Call] = {
                    "pygrad": lambda op=op, tx=tx: op(tx),
                    "copy": lambda x=x, dst=dst: np.copyto(dst, x),
                }
                new, into = _numpy_calls(name, x, dst)
                if new is not None:
                    fns["numpy"], fns["numpy_out"] = new, into
                if torch is not None:
                    fns["torch"] = _torch_call(torch, name, torch.from_numpy(x))
                with common.threads(1):
                    best = common.interleaved(fns, repeats=repeats)
                LAST[(dname, name)] = best
                ms = {k: v * 1e3 for k, v in best.items()}
                gbs = {k: 2 * N * es / v / 1e9 for k, v in best.items()}
                row = [name, common.fmt(ms["pygrad"]), common.fmt(ms.get("numpy")),
                       common.fmt(ms.get("numpy_out")), common.fmt(ms.get("torch")),
                       common.ratio(best.get("numpy"), best["pygrad"]),
                       common.ratio(best.get("numpy_out"), best["pygrad"]),
                       common.ratio(best.get("torch"), best["pygrad"]),
                       f"{gbs['pygrad']:.1f} ({gbs['pygrad'] / gbs['copy']:.0%})", f"{gbs['copy']:.1f}"]
                rows.append(row)
            header = ["function", "pygrad ms", "numpy ms", "numpy out= ms", "torch ms", "numpy / pygrad",
                      "numpy out= / pygrad", "torch / pygrad", "pygrad GB/s (of copy)", "copy GB/s"]
            out += [f"### {dname}", "", common.md_table(header, rows, right=set(range(1, len(header)))), ""]
    out += [
        f"- pygrad's kernels: {_runtime._vmath_kernel()} (chosen by the CPU's features; "
        "`pygrad._runtime._set_vmath_kernel` forces avx512, avx2 or scalar)",
        "- inputs: standard normal (log: their absolute values + 1e-3); every figure is the best of "
        f"{repeats} interleaved repeats; ratios above 1 mean pygrad is faster",
        "- numpy: a fresh result as users write it (pays page faults for 16M elements), and into an existing "
        "array (`out=`: the kernel alone); sigmoid is 1/(1 + exp(-a)), gelu 0.5 a (1 + erf(a/sqrt 2)) with "
        "scipy.special.erf",
        "- GB/s = 2 x element size x elements / time (one read, one write), against numpy.copyto into an existing "
        "array timed in the same rounds",
        f"- PyTorch: {'torch ' + torch.__version__ + ', 1 thread' if torch is not None else torch_note}",
        f"- {meter.note()}",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="float32 only, fewer repeats")
    args = parser.parse_args(argv)
    print("# pygrad transcendental kernels benchmark\n")
    print("\n".join(common.header_lines(sys.argv[1:] if argv is None else argv)), "\n")
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
