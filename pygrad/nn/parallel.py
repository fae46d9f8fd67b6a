"""``DistributedDataParallel``: one model replica per rank, gradients averaged across ranks.

    import pygrad.distributed as dist
    from pygrad.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group()
    model = DDP(nn.MLP([784, 512, 512, 10]))       # rank 0's parameters copied to every rank
    for xb, yb in loader:                           # each rank its own shard (DistributedSampler)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()                             # the gradients are now averaged over the ranks
        opt.step()

How the averaging is wired in (until tensors have gradient hooks): the
forward runs the wrapped module with each parameter replaced by a
differentiable stand-in (a ``pygrad.custom_op`` identity), the parameters
grouped in buckets of about ``bucket_cap_mb`` in reverse order of
registration (the order their gradients become ready in). The stand-ins of
a bucket hang off one bucket node, which the sweep reaches only once every
stand-in of the bucket has passed its gradient on, i.e. as soon as the
bucket's gradients are complete: that node *starts* the bucket's
all-reduce (non-blocking) and *finishes* the previous bucket's, handing
those parameters their averaged gradients (the nodes are chained so that
each one delivers its predecessor's bucket; a last node delivers the last
bucket). So ``loss.backward()`` alone leaves averaged gradients, and each
bucket's message is in flight while the sweep computes the next bucket's
gradients; only the last bucket's all-reduce is waited for right away.
(How much of the transfer MPI actually advances in the background depends
on the MPI library: MPICH progresses it when polled, which the stand-ins do
as they pass by, or continuously with ``MPIR_CVAR_ASYNC_PROGRESS=1``.)

``no_sync()`` skips the averaging (gradient accumulation); the next
backward outside it averages everything accumulated, as in PyTorch (its
bucket nodes add each parameter's accumulated ``.grad`` to the bucket and
replace it by the average, one bucket at a time, without pipelining).
Every rank's forward must use the same parameters: a bucket with no used
parameter before the first used one is skipped (its parameters keep no
gradient), and ranks that differ there would pair different buckets. Gradients that reach a parameter outside the
wrapped forward (an L2 penalty on ``model.parameters()``) are not averaged;
they are the same on every rank, so the result is the same. Works with every
optimizer: they see plain (averaged) ``.grad`` values, identical on every
rank.

Buffers (a module's ``buffers()``, once modules have them) are broadcast
from rank 0 when wrapped and, with ``broadcast_buffers``, before every
forward, as in PyTorch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

import pygrad
from pygrad.errors import PygradTypeError
from pygrad.nn.module import Module

try:
    from pygrad import distributed as _dist
    from pygrad.distributed import collectives as _coll
except ImportError as _exc:  # pragma: no cover - exercised by a test in a subprocess
    raise ImportError(
        "pygrad.nn.parallel needs mpi4py and an MPI library, which are not installed; install the optional "
        "extra with `pip install \"pygrad[distributed]\"` (or `pip install mpi4py mpich`)") from _exc


class _Bucket:
    """A group of parameters of one dtype whose gradients travel in one all-reduce.

    A flat staging buffer of (sum of the parameters' sizes,) elements holds
    parameter i's gradient at ``[offsets[i], offsets[i] + sizes[i])``. Each
    forward takes its own buffer (from ``free``, where a finished backward
    puts it back), so two forwards before one backward do not share one.
    """

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.sizes = [int(np.prod(p.shape, dtype=np.int64)) for p in params]
        self.offsets = [int(o) for o in np.cumsum([0] + self.sizes[:-1])]
        self.dtype = params[0].numpy().dtype
        self.total = sum(self.sizes)
        self.free: list[np.ndarray] = []

    def slot(self, buf: np.ndarray, i: int) -> np.ndarray:
        """Parameter i's part of ``buf``, flat."""
        return buf[self.offsets[i]:self.offsets[i] + self.sizes[i]]


class DistributedDataParallel(Module):
    """Data parallelism over the ranks of ``pygrad.distributed``: wrap the model, train as usual.

    ``module``: the model (its parameters are overwritten with rank 0's when
    wrapped). ``bucket_cap_mb``: the size of a gradient bucket (25 MB by
    default, as in PyTorch). The wrapped model is ``.module``; ``parameters()``
    and ``state_dict()`` are its own (names prefixed ``module.``, as in
    PyTorch). Needs :func:`pygrad.distributed.init_process_group` first.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise PygradTypeError(f"DistributedDataParallel: expected a pygrad.nn.Module, got {type(module).__name__}")
        if not _dist.is_initialized():
            raise pygrad.PygradRuntimeError("DistributedDataParallel: the process group is not initialized; call "
                                            "pygrad.distributed.init_process_group() first")
        if not bucket_cap_mb > 0:
            raise pygrad.PygradValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        object.__setattr__(self, "bucket_cap_mb", float(bucket_cap_mb))
        object.__setattr__(self, "_require_sync", True)
        object.__setattr__(self, "_unsynced", False)  # a backward under no_sync() left local gradients
        params = list(module.parameters())
        buffers = list(module.buffers()) if hasattr(module, "buffers") else []
        self._verify(params + buffers)
        object.__setattr__(self, "_bufs", buffers if broadcast_buffers else [])
        for t in params + buffers:  # zero-copy: straight into the C buffers
            _coll.broadcast(t, src=0)
        object.__setattr__(self, "_buckets", self._make_buckets(params))

    # ---- setup ----
    @staticmethod
    def _verify(params: list[Any]) -> None:
        """Every rank must hold the same parameters and buffers (count, dtypes, shapes), else every rank raises."""
        desc = "; ".join(f"{p.numpy().dtype} {tuple(p.shape)}" for p in params)
        _coll._agree("DistributedDataParallel", f"{len(params)} parameters and buffers: {desc}", None,
                     "every rank must wrap the same model: the same parameters, dtypes and shapes")

    def _make_buckets(self, params: list[Any]) -> list[_Bucket]:
        cap = self.bucket_cap_mb * 2**20
        buckets: list[_Bucket] = []
        open_: dict[Any, tuple[list[Any], int]] = {}  # dtype -> (params, bytes) of the bucket being filled
        for p in reversed(params):  # gradients become ready roughly in reverse order of use
            a = p.numpy()
            members, size = open_.get(a.dtype, ([], 0))
            members.append(p)
            size += a.nbytes
            if size >= cap:
                buckets.append(_Bucket(members))
                members, size = [], 0
            open_[a.dtype] = (members, size)
        buckets.extend(_Bucket(members) for members, _ in open_.values() if members)
        return buckets

    # ---- the forward with stand-ins ----
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's forward; while grad mode is on (and outside ``no_sync``), its
        backward averages the parameters' gradients over the ranks."""
        if _dist.get_world_size() == 1:
            return self.module(*args, **kwargs)
        for t in self._bufs:  # e.g. running statistics: rank 0's
            _coll.broadcast(t, src=0)
        if not pygrad.is_grad_enabled():
            return self.module(*args, **kwargs)
        if not self._require_sync:
            object.__setattr__(self, "_unsynced", True)
            return self.module(*args, **kwargs)
        include_local = self._unsynced
        object.__setattr__(self, "_unsynced", False)
        stand_in: dict[int, Any] = {}
        if include_local:  # after no_sync(): each bucket reduces and delivers in one step
            for b in self._buckets:
                stand_in.update(self._bucket_stand_ins(b, include_local))
        else:
            stand_in = self._pipelined_stand_ins()
        slots = [(m, name, p) for m in self.module.modules() for name, p in m._parameters.items()]
        for _, name, p in slots:
            if id(p) not in stand_in:
                raise pygrad.PygradRuntimeError(
                    f"DistributedDataParallel: parameter {name!r} {tuple(p.shape)} was added to the model after "
                    "it was wrapped; wrap the model once it is complete")
        try:
            for m, name, p in slots:
                object.__setattr__(m, name, stand_in[id(p)])  # bypass registration: the parameter stays
            return self.module(*args, **kwargs)
        finally:
            for m, name, p in slots:
                object.__setattr__(m, name, p)

    def _pipelined_stand_ins(self) -> dict[int, Any]:
        """Stand-ins whose bucket all-reduces overlap the rest of the backward sweep.

        Buckets B_0 … B_{K-1} in the order their gradients become ready. Node
        N_k hangs B_k's stand-ins off itself and takes as inputs N_{k+1} and
        B_{k-1}'s parameters; a final node F (N_K) takes B_{K-1}'s parameters.
        The sweep reaches N_k once B_k's gradients are complete (its stand-ins)
        and once N_{k-1} has run (N_k is an input of N_{k-1}); N_k then *starts*
        B_k's all-reduce and *finishes* B_{k-1}'s, handing those parameters
        their averaged gradients. So B_k's message is in flight while the sweep
        computes B_{k+1}'s gradients; only the last bucket's is waited for at
        once (in F).
        """
        buckets = self._buckets
        K = len(buckets)
        size = _dist.get_world_size()
        bufs = [b.free.pop() if b.free else np.empty(b.total, dtype=b.dtype) for b in buckets]
        ready = [[False] * len(b.params) for b in buckets]
        reqs: list[Any] = [None] * K
        started = [False] * K
        zero = np.zeros(1)

        def start(k: int) -> None:
            b, buf = buckets[k], bufs[k]
            for i, ok in enumerate(ready[k]):
                if not ok:  # a parameter the forward did not use
                    b.slot(buf, i)[:] = 0
            started[k] = True
            reqs[k] = _coll.iall_reduce_array(buf)

        def finish(k: int) -> list[Any]:
            if not started[k]:  # no gradient reached B_k's node: its parameters were all unused
                start(k)
            if reqs[k] is not None:
                reqs[k].Wait()
                reqs[k] = None
            b, buf = buckets[k], bufs[k]
            np.divide(buf, size, out=buf)
            out = [pygrad.tensor(b.slot(buf, i).reshape(p.shape), dtype=p.dtype) for i, p in enumerate(b.params)]
            b.free.append(buf)
            return out

        def node_backward(k: int) -> Any:
            def backward(g: Any, needs: list[bool]) -> list[Any]:
                start(k)
                return [zero] + (finish(k - 1) if k >= 1 else [])

            return backward

        def stash(k: int, i: int) -> Any:
            b, buf = buckets[k], bufs[k]

            def stand_in_backward(g: Any, needs: list[bool]) -> list[Any]:
                b.slot(buf, i)[:] = g.numpy().reshape(-1)
                ready[k][i] = True
                if k >= 1 and reqs[k - 1] is not None:
                    reqs[k - 1].Test()  # let MPI move the previous bucket along
                return [zero]

            return stand_in_backward

        node = pygrad.custom_op(buckets[K - 1].params, zero, lambda g, needs: finish(K - 1))
        stand_in: dict[int, Any] = {}
        for k in range(K - 1, -1, -1):
            node = pygrad.custom_op([node] + (buckets[k - 1].params if k >= 1 else []), zero, node_backward(k))
            for i, p in enumerate(buckets[k].params):
                stand_in[id(p)] = pygrad.custom_op([node], p.detach(), stash(k, i))
        return stand_in

    def _bucket_stand_ins(self, b: _Bucket, include_local: bool) -> dict[int, Any]:
        """Build the bucket node over b's parameters and one stand-in per parameter hanging off it."""
        buf = b.free.pop() if b.free else np.empty(b.total, dtype=b.dtype)
        ready = [False] * len(b.params)

        def bucket_backward(g: Any, needs: list[bool]) -> list[Any]:
            # every stand-in of the bucket has written its gradient into buf (or was unused: zeros)
            for i, ok in enumerate(ready):
                if not ok:
                    b.slot(buf, i)[:] = 0
            local = [p.grad.numpy().reshape(-1) if include_local and p.grad is not None else None
                     for p in b.params]
            for i, gl in enumerate(local):  # after no_sync(): average what was accumulated, too
                if gl is not None:
                    b.slot(buf, i)[:] += gl
            _coll.all_reduce_array(buf, average=True)
            out = []
            for i, p in enumerate(b.params):
                if local[i] is not None:  # averaged with the rest: the result replaces it
                    p.grad = None
                out.append(pygrad.tensor(b.slot(buf, i).reshape(p.shape), dtype=p.dtype))
            ready[:] = [False] * len(ready)
            b.free.append(buf)
            return out

        def stash(i: int) -> Any:
            zero = np.zeros(1, dtype=b.dtype)

            def stand_in_backward(g: Any, needs: list[bool]) -> list[Any]:
                b.slot(buf, i)[:] = g.numpy().reshape(-1)
                ready[i] = True
                return [zero]

            return stand_in_backward

        node = pygrad.custom_op(b.params, np.zeros(1, dtype=b.dtype), bucket_backward)
        return {id(p): pygrad.custom_op([node], p.detach(), stash(i)) for i, p in enumerate(b.params)}

    # ---- gradient accumulation ----
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside this block, backward leaves each rank's own gradients (no communication); the
        first backward after it averages everything accumulated. For gradient accumulation::

            with model.no_sync():
                model(x1).sum().backward()   # local
            model(x2).sum().backward()       # averaged: (g1 + g2) over the ranks
        """
        before = self._require_sync
        object.__setattr__(self, "_require_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_require_sync", before)

    def extra_repr(self) -> str:
        return f"world_size={_dist.get_world_size()}, buckets={len(self._buckets)}"
