"""dropout forward (and its backward, the same kernel on the upstream) on 16M elements: pygrad beside
PyTorch CPU, against the copy roofline (numpy.copyto into an existing array, split over the same threads).

GB/s counts the bytes dropout must move: the input read once and the result written once. pygrad's
result comes from its buffer cache (a fresh result of 64 MiB is a reused buffer after the first call);
PyTorch allocates its result and, in training, also writes its mask. Run with ``python -m bench.dropout``.
"""

from __future__ import annotations

import numpy as np

from bench.bandwidth import copy_threads
from bench.common import import_pygrad, interleaved, machine, threads, try_import

N = 1 << 24


def main() -> None:
    pg = import_pygrad()
    torch, why = try_import("torch")
    print(machine())
    print("| dropout p=0.5, 16M elements | threads | copy GB/s | pygrad GB/s | % of copy | torch GB/s | "
          "pygrad / torch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dtype in (np.float32, np.float64):
        a = np.random.default_rng(0).standard_normal(N).astype(dtype)
        c = np.empty_like(a)
        x = pg.tensor(a)
        F = pg.nn.functional
        for n in (1, 2):
            fns = {"copy": lambda n=n, c=c, a=a: copy_threads(c, a, n),
                   "pygrad": lambda F=F, x=x: F.dropout(x, 0.5)}
            if torch is not None:
                tx = torch.from_numpy(a)
                fns["torch"] = lambda tx=tx: torch.nn.functional.dropout(tx, 0.5, training=True)
            with threads(n):
                best = interleaved(fns, repeats=7, inner=3)
            gbs = {k: 2 * a.nbytes / v / 1e9 for k, v in best.items()}
            tt = f"{gbs['torch']:.1f}" if "torch" in gbs else f"- ({why})"
            ratio = f"{best['torch'] / best['pygrad']:.2f}" if "torch" in best else "-"
            print(f"| {np.dtype(dtype).name} | {n} | {gbs['copy']:.1f} | {gbs['pygrad']:.1f} | "
                  f"{100 * gbs['pygrad'] / gbs['copy']:.0f}% | {tt} | {ratio} |")


if __name__ == "__main__":
    main()
