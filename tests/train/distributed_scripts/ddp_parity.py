"""Train a small MLP data-parallel (under mpiexec) or on one process with the whole batch.

    mpiexec -n R python ddp_parity.py OUT_DIR     # writes OUT_DIR/rank<r>.npz: final parameters per variant

:func:`train` is also what the test calls in its own process (``ddp=False``)
for the single-process result to compare with: the whole (padded) batch of
every step, which is the union of the ranks' shards under DistributedSampler.
"""

from __future__ import annotations

import sys

import numpy as np

import pygrad as pg
from pygrad import nn, optim
from pygrad.data import DistributedSampler
from pygrad.nn import functional as F

N_SAMPLES = 10  # per step; with 3 ranks the shards are padded to 4 + 4 + 4 (PyTorch's rule)
STEPS = 20
VARIANTS = ("sgd", "adam", "sgd-accumulate")


def train(variant: str, world: int, rank: int, ddp: bool, steps: int = STEPS, n: int = N_SAMPLES
          ) -> dict[str, np.ndarray]:
    """Final parameters after ``steps`` steps; ``ddp``: this process is rank ``rank`` of a
    DistributedDataParallel run, else one process trains on the union of the shards."""
    model = nn.MLP([5, 16, 16, 3], activation="tanh", generator=rank + 1 if ddp else 1, dtype="float64")
    net = model
    if ddp:
        from pygrad.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, bucket_cap_mb=0.001)  # a few small buckets
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    if variant == "adam":
        opt = optim.Adam(model.parameters(), lr=0.01)
    else:
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(steps):
        rng = np.random.default_rng(100 + step)
        X, y = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
        samplers = [DistributedSampler(n, world, r, shuffle=True, seed=3) for r in range(world)]
        for s in samplers:
            s.set_epoch(step)
        shards = [list(s) for s in samplers]
        halves = 2 if variant == "sgd-accumulate" else 1
        opt.zero_grad()
        for h in range(halves):
            part = [sh[h * len(sh) // halves:(h + 1) * len(sh) // halves] for sh in shards]
            idx = part[rank] if ddp else sum(part, [])
            xb, yb = pg.tensor(X[idx], dtype="float64"), y[idx]
            if ddp and h < halves - 1:
                with net.no_sync():
                    loss = F.cross_entropy(net(xb), yb) + F.l2_regularization(weights, 1e-3)
                    loss.backward()
            else:
                loss = F.cross_entropy(net(xb), yb) + F.l2_regularization(weights, 1e-3)
                loss.backward()
        opt.step()
    return {name: np.array(p.numpy(), copy=True) for name, p in model.named_parameters()}


def main(out_dir: str) -> None:
    import pygrad.distributed as dist

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    result = {}
    for variant in VARIANTS:
        for name, a in train(variant, world, rank, ddp=True).items():
            result[f"{variant}/{name}"] = a
    np.savez(f"{out_dir}/rank{rank}.npz", **result)


if __name__ == "__main__":
    main(sys.argv[1])
