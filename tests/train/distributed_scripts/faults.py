"""Faults that must not hang or corrupt: ``mpiexec -n R python faults.py CASE [OUT_DIR]``.

raise       rank 1 raises while the others wait in an all_reduce: every rank must be aborted
mismatch    the ranks pass different shapes / dtypes / roots / a bad argument on one rank only:
            every rank raises a clear error (reported as "rank r: CASE: Error: message"), then
            they carry on with a matching collective to show nothing was left half-done
ddp         DistributedDataParallel over models whose parameters differ in shape across ranks

The reports go to OUT_DIR/rank<r>.txt (stdout without OUT_DIR): the ranks' lines
would interleave on a shared stdout.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import pygrad as pg
import pygrad.distributed as dist
from pygrad.distributed import ReduceOp


def main(case: str, out_dir: str | None) -> None:
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    sink = open(f"{out_dir}/rank{rank}.txt", "w") if out_dir else sys.stdout  # noqa: SIM115

    def report(line: str) -> None:
        print(line, file=sink, flush=True)

    if case == "raise":
        if rank == 1:
            time.sleep(0.5)
            raise RuntimeError("rank 1 fails on purpose")
        dist.all_reduce(pg.ones(4))  # never completes: rank 1 does not join
        print(f"rank {rank}: the all_reduce returned although rank 1 failed", flush=True)
        return
    if case == "mismatch":
        attempts = {
            "all_reduce shape": lambda: dist.all_reduce(pg.zeros(2 + rank)),
            "all_reduce dtype": lambda: dist.all_reduce(pg.zeros(3, dtype="float64" if rank else "float32")),
            "all_reduce op": lambda: dist.all_reduce(pg.zeros(3), op=ReduceOp.MAX if rank else ReduceOp.SUM),
            "broadcast root": lambda: dist.broadcast(pg.zeros(3), src=rank),
            "all_gather shape": lambda: dist.all_gather([pg.zeros(2, 2) for _ in range(world)],
                                                        pg.zeros(2, 2) if rank else pg.zeros(4)),
            "bad argument on rank 1 only": lambda: dist.all_reduce(
                pg.tensor(np.ones(3, dtype=bool)) if rank == 1 else pg.zeros(3), op=ReduceOp.AVG),
        }
        for name, call in attempts.items():
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - report whatever it was
                report(f"rank {rank}: {name}: {type(exc).__name__}: {exc}")
            else:
                report(f"rank {rank}: {name}: no error")
        t = pg.full((5,), float(rank))
        dist.all_reduce(t)
        report(f"rank {rank}: afterwards all_reduce gives {t.numpy().tolist()}")
        return
    if case == "ddp":
        from pygrad import nn
        from pygrad.nn.parallel import DistributedDataParallel

        try:
            DistributedDataParallel(nn.MLP([3, 4 + rank, 2]))
        except Exception as exc:  # noqa: BLE001
            report(f"rank {rank}: ddp: {type(exc).__name__}: {exc}")
        else:
            report(f"rank {rank}: ddp: no error")
        return
    raise SystemExit(f"unknown case {case!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
