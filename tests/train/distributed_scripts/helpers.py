"""Rank-aware helpers and DistributedDataParallel details: ``mpiexec -n R python helpers.py OUT_DIR``.

Each rank checks what it can itself (a failed check raises, which aborts every
rank) and rank 0 writes OUT_DIR/report.txt for the test to read.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import pygrad as pg
import pygrad.distributed as dist
from pygrad import nn
from pygrad.nn.parallel import DistributedDataParallel


class TwoHeads(nn.Module):
    """A model with a parameter its forward does not always use."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4, generator=seed, dtype="float64")
        self.head = nn.Linear(4, 2, generator=seed + 1, dtype="float64")
        self.spare = nn.Linear(4, 2, generator=seed + 2, dtype="float64")

    def forward(self, x, use_spare=False):
        h = self.body(x).tanh()
        return self.spare(h) if use_spare else self.head(h)


def main(out_dir: str) -> None:
    dist.init_process_group()
    dist.init_process_group()  # idempotent
    rank, world = dist.get_rank(), dist.get_world_size()
    lines = []

    # print0 prints on rank 0 only
    dist.print0(f"print0 from rank {rank}")

    # save from rank 0, readable by every rank after the barrier inside save()
    model = TwoHeads(seed=rank)
    ddp = DistributedDataParallel(model)
    path = os.path.join(out_dir, "model")
    written = dist.save(ddp, path)
    assert (written is not None) == (rank == 0), written
    state = pg.load(path)
    assert sorted(state) == sorted(n for n, _ in ddp.named_parameters()), list(state)
    assert all(n.startswith("module.") for n in state)
    for n, p in ddp.named_parameters():  # rank 0's parameters everywhere after wrapping
        np.testing.assert_array_equal(state[n], p.numpy())
    lines.append(f"saved {len(state)} arrays")

    # main_process_first: rank 0 writes, the others read afterwards
    with dist.main_process_first():
        cache = os.path.join(out_dir, "cache.txt")
        if rank == 0:
            with open(cache, "w") as f:
                f.write("made by rank 0")
        else:
            assert open(cache).read() == "made by rank 0"

    # an unused parameter gets an averaged zero gradient; used ones the average of the ranks' gradients
    x = pg.tensor(np.full((2, 3), rank + 1.0))
    ddp(x).sum().backward()
    assert np.all(model.spare.weight.grad.numpy() == 0)
    g = model.head.weight.grad.numpy().copy()
    mine = TwoHeads(seed=0)  # the same weights as rank 0, no wrapper: this rank's own gradient
    for (_, a), (_, b) in zip(mine.named_parameters(), model.named_parameters()):
        a.numpy()[...] = b.numpy()
    mine(x).sum().backward()
    own = mine.head.weight.grad
    total = pg.tensor(own.numpy().copy())
    dist.all_reduce(total, op=dist.ReduceOp.AVG)
    np.testing.assert_allclose(g, total.numpy(), rtol=1e-14, atol=1e-14)
    # the same with one bucket per parameter (the all-reduces pipelined along the sweep): the unused
    # parameters end with no gradient or a zero one, the used ones with the average
    tiny = DistributedDataParallel(TwoHeads(seed=rank), bucket_cap_mb=1e-6)
    assert len(tiny._buckets) == 6
    tiny(x).sum().backward()
    inner = tiny.module
    for p in (inner.spare.weight, inner.spare.bias):
        assert p.grad is None or np.all(p.grad.numpy() == 0)
    np.testing.assert_allclose(inner.head.weight.grad.numpy(), total.numpy(), rtol=1e-14, atol=1e-14)
    lines.append("unused parameter: zero gradient")

    # two forwards, one backward: each forward's graph averages its own part
    model.zero_grad()
    mine.zero_grad()
    x2 = pg.tensor(np.full((2, 3), -0.5 * rank))
    (ddp(x).sum() + (ddp(x2) * ddp(x2)).sum()).backward()
    (mine(x).sum() + (mine(x2) * mine(x2)).sum()).backward()
    for (name, a), (_, b) in zip(mine.named_parameters(), model.named_parameters()):
        want = pg.tensor(np.zeros(a.shape) if a.grad is None else a.grad.numpy().copy())  # spare: unused
        dist.all_reduce(want, op=dist.ReduceOp.AVG)
        np.testing.assert_allclose(b.grad.numpy(), want.numpy(), rtol=1e-13, atol=1e-14, err_msg=name)
    lines.append("three forwards, one backward: averaged")

    # a parameter added after wrapping is named
    model.extra = pg.zeros(2, requires_grad=True)
    try:
        ddp(x)
    except RuntimeError as exc:
        assert "'extra'" in str(exc) and "after" in str(exc), exc
        lines.append("late parameter: named")
    del model.extra

    # eval / no_grad: no communication, plain outputs
    with pg.no_grad():
        y = ddp(x)
    assert not y.requires_grad
    lines.append("no_grad forward: plain")

    # async collectives: start several, wait later
    ts = [pg.full((1000,), float(rank + i)) for i in range(3)]
    works = [dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True) for t in ts]
    b = pg.full((5,), float(rank))
    wb = dist.broadcast(b, src=world - 1, async_op=True)
    for w in works + [wb]:
        w.wait()
        assert w.is_completed()
    for i, t in enumerate(ts):
        assert np.all(t.numpy() == sum(r + i for r in range(world)))
    assert np.all(b.numpy() == world - 1)
    lines.append("async collectives: done")

    if rank == 0:
        with open(os.path.join(out_dir, "report.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    dist.barrier()


if __name__ == "__main__":
    main(sys.argv[1])
