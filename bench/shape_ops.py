"""The shape ops and reductions of pygrad._derived and the logsumexp/cumsum ops
against numpy and PyTorch (forward only, float32, one thread): run with
``python -m bench.shape_ops`` from the repository root. Prints a table of
milliseconds per call and pygrad's time over numpy's; asserts nothing.

It answers one question for each op made of other ops: is the composition
(a numpy-computed offset table and the C gather; a tree of products; a few
elementwise ops), and for the ops of their own (pad's constant mode, tril/triu,
cumsum/cumprod, logsumexp) far from a single pass over the data? And,
for the copies (clone, basic indexing, the index_map moves) and where and
the comparisons: are they at numpy's speed?
"""

from __future__ import annotations

import numpy as np

from bench.common import import_pygrad, interleaved, threads, try_import


def main() -> None:
    pg = import_pygrad()
    torch, _ = try_import("torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    x, y = pg.tensor(a), pg.tensor(b)
    c, cn = x < y, a < b
    t = torch.from_numpy(a.copy()) if torch is not None else None
    u = torch.from_numpy(b.copy()) if torch is not None else None
    ct = t < u if torch is not None else None
    F = pg.nn.functional  # noqa: N806
    TF = torch.nn.functional if torch is not None else None  # noqa: N806
    rows = [
        ("clone()", lambda: x.clone(), lambda: a.copy(), lambda: t.clone()),
        ("x[:, 100:900]", lambda: x[:, 100:900], lambda: a[:, 100:900].copy(), lambda: t[:, 100:900].contiguous()),
        ("x[::2, ::-1]", lambda: x[::2, ::-1], lambda: a[::2, ::-1].copy(), lambda: t[::2].flip(1)),
        ("x[..., 5]", lambda: x[..., 5], lambda: a[..., 5].copy(), lambda: t[..., 5].contiguous()),
        ("x < y", lambda: x < y, lambda: a < b, lambda: t < u),
        ("where(x < y, x, y)", lambda: pg.where(c, x, y), lambda: np.where(cn, a, b), lambda: torch.where(ct, t, u)),
        ("flip(0)", lambda: x.flip(0), lambda: np.flip(a, 0).copy(), lambda: t.flip(0)),
        ("roll(7, 1)", lambda: x.roll(7, 1), lambda: np.roll(a, 7, 1), lambda: t.roll(7, 1)),
        ("repeat(2, 2)", lambda: x.repeat(2, 2), lambda: np.tile(a, (2, 2)), lambda: t.repeat(2, 2)),
        ("tril()", lambda: x.tril(), lambda: np.tril(a), lambda: t.tril()),
        ("triu(1)", lambda: x.triu(1), lambda: np.triu(a, 1), lambda: t.triu(1)),
        ("diagonal()", lambda: x.diagonal(), lambda: np.diagonal(a).copy(), lambda: t.diagonal().clone()),
        ("pad reflect (4, 4)", lambda: F.pad(x, (4, 4), mode="reflect"),
         lambda: np.pad(a, ((0, 0), (4, 4)), mode="reflect"), lambda: TF.pad(t[None], (4, 4), mode="reflect")),
        ("pad constant (4, 4)", lambda: F.pad(x, (4, 4)), lambda: np.pad(a, ((0, 0), (4, 4))),
         lambda: TF.pad(t, (4, 4))),
        ("pad constant (4, 4, 4, 4)", lambda: F.pad(x, (4, 4, 4, 4)), lambda: np.pad(a, 4),
         lambda: TF.pad(t, (4, 4, 4, 4))),
        ("pad crop (-4, 4)", lambda: F.pad(x, (-4, 4)), lambda: np.pad(a[:, 4:], ((0, 0), (0, 4))),
         lambda: TF.pad(t, (-4, 4))),
        ("expand (4, 1024, 1024)", lambda: x.expand(4, -1, -1),
         lambda: np.broadcast_to(a, (4, 1024, 1024)).copy(), lambda: t.expand(4, -1, -1).contiguous()),
        ("logsumexp(1)", lambda: x.logsumexp(1), lambda: np.log(np.exp(a).sum(1)), lambda: t.logsumexp(1)),
        ("cumsum(1)", lambda: x.cumsum(1), lambda: np.cumsum(a, 1), lambda: t.cumsum(1)),
        ("cumprod(1)", lambda: x.cumprod(1), lambda: np.cumprod(a, 1), lambda: t.cumprod(1)),
        ("cumprod(0)", lambda: x.cumprod(0), lambda: np.cumprod(a, 0), lambda: t.cumprod(0)),
        ("prod(1)", lambda: x.prod(1), lambda: np.prod(a, 1), lambda: t.prod(1)),
        ("var(1)", lambda: x.var(1), lambda: np.var(a, 1, ddof=1), lambda: t.var(1)),
        ("norm(dim=1)", lambda: x.norm(dim=1), lambda: np.linalg.norm(a, axis=1), lambda: t.norm(dim=1)),
        ("norm(dim=0)", lambda: x.norm(dim=0), lambda: np.linalg.norm(a, axis=0), lambda: t.norm(dim=0)),
        ("norm(1, dim=1)", lambda: x.norm(1, dim=1), lambda: np.linalg.norm(a, 1, axis=1), lambda: t.norm(1, dim=1)),
        ("topk(8, 1) (numpy: argpartition)", lambda: x.topk(8, 1), lambda: np.argpartition(a, -8, 1)[:, -8:],
         lambda: t.topk(8, 1)),
        ("x[idx] (512 rows)", lambda: x[ip], lambda: a[ix], lambda: t[it]),
        ("x.t().contiguous()", lambda: x.t().contiguous(), lambda: a.T.copy(), lambda: t.t().contiguous()),
        ("flip(1)", lambda: x.flip(1), lambda: np.flip(a, 1).copy(), lambda: t.flip(1)),
        ("einsum bij,bjk (8x128)", lambda: pg.einsum("bij,bjk->bik", x8, y8),
         lambda: np.matmul(a8, b8), lambda: torch.einsum("bij,bjk->bik", t8, u8)),
    ]
    ix = rng.integers(0, 1024, 512)
    ip = pg.tensor(ix)
    it = torch.from_numpy(ix) if torch is not None else None
    a8 = rng.standard_normal((8, 128, 128)).astype(np.float32)
    b8 = rng.standard_normal((8, 128, 128)).astype(np.float32)
    x8, y8 = pg.tensor(a8), pg.tensor(b8)
    t8 = torch.from_numpy(a8) if torch is not None else None
    u8 = torch.from_numpy(b8) if torch is not None else None
    print("| op (1024 x 1024 float32, 1 thread) | pygrad ms | numpy ms | torch ms | pygrad / numpy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with threads(1):
        if torch is not None:
            torch.set_num_threads(1)
        for name, fp, fn, ft in rows:
            fns = {"pygrad": fp, "numpy": fn}
            if torch is not None:
                fns["torch"] = ft
            best = interleaved(fns, repeats=5, inner=3)
            tt = f"{best['torch'] * 1e3:.2f}" if "torch" in best else "-"
            print(f"| {name} | {best['pygrad'] * 1e3:.2f} | {best['numpy'] * 1e3:.2f} | {tt} | "
                  f"{best['pygrad'] / best['numpy']:.2f} |")


if __name__ == "__main__":
    main()
