"""Every collective, on every dtype pygrad has, 0-d / empty / ordinary / large tensors, every op.

    mpiexec -n R python collectives.py [--large]

Each rank knows what every rank contributes (a function of the rank), so it
checks its own result against numpy; any mismatch raises, which aborts every
rank (non-zero exit). Prints one line "rank r: N checks passed" per rank.
"""

from __future__ import annotations

import sys

import numpy as np

import pygrad as pg
import pygrad.distributed as dist
from pygrad.distributed import ReduceOp

SHAPES = [(), (0,), (3, 0, 2), (7,), (2, 3, 4)]
OPS = [ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT]


def dtypes() -> list[np.dtype]:
    """The dtypes this pygrad's tensors have (int64 only once the engine has it)."""
    out = []
    for dt in (np.float32, np.float64, np.int64, np.bool_):
        try:
            if pg.tensor(np.zeros(2, dtype=dt), dtype=None).numpy().dtype == dt:
                out.append(np.dtype(dt))
        except Exception:  # noqa: BLE001 - a dtype the engine does not have
            pass
    return out


def value(rank: int, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    """What rank ``rank`` contributes: small exact numbers (products stay exact)."""
    n = int(np.prod(shape, dtype=np.int64))
    base = (np.arange(n) * 7 + rank * 3) % 5
    if dt == np.bool_:
        return ((base + rank) % 2 == 0).reshape(shape)
    return ((base - 2) * (rank + 1) % 4 + 1).astype(dt).reshape(shape) * (-1 if rank % 2 else 1)


def expect(op: ReduceOp, parts: list[np.ndarray]) -> np.ndarray:
    s = np.stack(parts)
    if s.dtype == np.bool_:
        return s.any(0) if op in (ReduceOp.SUM, ReduceOp.MAX) else s.all(0)
    return {ReduceOp.SUM: s.sum(0), ReduceOp.AVG: s.sum(0) / len(parts), ReduceOp.MAX: s.max(0),
            ReduceOp.MIN: s.min(0), ReduceOp.PRODUCT: s.prod(0)}[op].astype(s.dtype)


def same(what: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
        raise AssertionError(f"{what}: got {got!r}, expected {want!r}")


def main(large: bool) -> None:
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    checks = 0
    for dt in dtypes():
        for shape in SHAPES:
            parts = [value(r, shape, dt) for r in range(world)]
            for op in OPS:
                for async_op in (False, True):
                    what = f"all_reduce {op.name} {dt} {shape} async={async_op}"
                    t = pg.tensor(parts[rank])
                    if op is ReduceOp.AVG and dt.kind != "f":
                        try:
                            dist.all_reduce(t, op=op, async_op=async_op)
                        except TypeError as exc:
                            assert "AVG" in str(exc), exc
                            checks += 1
                            continue
                        raise AssertionError(f"{what}: no TypeError")
                    w = dist.all_reduce(t, op=op, async_op=async_op)
                    if async_op:
                        assert w.wait() and w.is_completed()
                    same(what, t.numpy(), expect(op, parts))
                    checks += 1
            for src in range(world):
                t = pg.tensor(parts[rank])
                dist.broadcast(t, src=src)
                same(f"broadcast src={src} {dt} {shape}", t.numpy(), parts[src])
                checks += 1
            out = [pg.tensor(np.zeros_like(parts[0])) for _ in range(world)]
            dist.all_gather(out, pg.tensor(parts[rank]), async_op=True).wait()
            for r in range(world):
                same(f"all_gather {dt} {shape} [{r}]", out[r].numpy(), parts[r])
            checks += 1
            # reduce_scatter: rank r ends with op over ranks of input_list[r]
            inputs = [[value(r * world + j, shape, dt) for j in range(world)] for r in range(world)]
            o = pg.tensor(np.zeros_like(parts[0]))
            dist.reduce_scatter(o, [pg.tensor(a) for a in inputs[rank]], op=ReduceOp.MAX)
            want = expect(ReduceOp.MAX, [inputs[r][rank] for r in range(world)])
            same(f"reduce_scatter {dt} {shape}", o.numpy(), want)
            dst = world - 1
            gl = [pg.tensor(np.zeros_like(parts[0])) for _ in range(world)] if rank == dst else None
            dist.gather(pg.tensor(parts[rank]), gl, dst=dst)
            if rank == dst:
                for r in range(world):
                    same(f"gather {dt} {shape} [{r}]", gl[r].numpy(), parts[r])
            t = pg.tensor(np.zeros_like(parts[0]))
            dist.scatter(t, [pg.tensor(p) for p in parts] if rank == 0 else None, src=0)
            same(f"scatter {dt} {shape}", t.numpy(), parts[rank])
            checks += 4
    if large:  # 64 MB per tensor
        for dt in (np.float32, np.float64):
            n = (64 << 20) // np.dtype(dt).itemsize
            t = pg.full((n,), float(rank + 1), dtype=str(np.dtype(dt)))
            dist.all_reduce(t, op=ReduceOp.SUM)
            a = t.numpy()
            assert a.shape == (n,) and a[0] == a[-1] == a[n // 2] == world * (world + 1) / 2, (a[0], a[-1])
            dist.all_reduce(t, op=ReduceOp.AVG)
            assert a[0] == a[-1] == world * (world + 1) / 2
            b = pg.full((n,), float(rank), dtype=str(np.dtype(dt)))
            dist.broadcast(b, src=world - 1)
            assert b.numpy()[0] == b.numpy()[-1] == world - 1
            out = [pg.zeros(n // world, dtype=str(np.dtype(dt))) for _ in range(world)]
            dist.all_gather(out, pg.full((n // world,), float(rank), dtype=str(np.dtype(dt))))
            assert [o.numpy()[-1] for o in out] == list(range(world))
            checks += 4
    bar = pg.tensor(np.array(rank, dtype=np.float64))
    dist.barrier()
    dist.all_reduce(bar, op=ReduceOp.MAX)
    print(f"rank {rank}: {checks} checks passed on {[str(d) for d in dtypes()]}", flush=True)


if __name__ == "__main__":
    main("--large" in sys.argv)
