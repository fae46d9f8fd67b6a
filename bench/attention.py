"""scaled_dot_product_attention forward, and forward + backward, float32, against PyTorch CPU at 1 and 2
threads: milliseconds per call and the ratio. Shapes of a small transformer (batch 8, 4 heads, 64 per head),
with and without the causal mask. Run with ``python -m bench.attention``.
"""

from __future__ import annotations

import numpy as np

from bench.common import import_pygrad, interleaved, machine, threads, try_import


def main() -> None:
    pg = import_pygrad()
    torch, why = try_import("torch")
    rng = np.random.default_rng(0)
    print(machine())
    print("| attention (B=8, H=4, d=64, float32) | L | causal | dropout | threads | pygrad fwd ms | torch fwd ms | "
          "pygrad fwd+bwd ms | torch fwd+bwd ms |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    F = pg.nn.functional
    for L in (128, 256):
        a = [rng.standard_normal((8, 4, L, 64)).astype(np.float32) for _ in range(3)]
        g = rng.standard_normal((8, 4, L, 64)).astype(np.float32)
        for causal, dp in ((False, 0.0), (True, 0.0), (False, 0.1)):
            pq = [pg.tensor(x, requires_grad=True) for x in a]
            pgrad = pg.tensor(g)

            def pf(pq=pq, causal=causal, dp=dp):
                return F.scaled_dot_product_attention(*pq, is_causal=causal, dropout_p=dp)

            def pfb(pq=pq, causal=causal, pgrad=pgrad, dp=dp):
                F.scaled_dot_product_attention(*pq, is_causal=causal, dropout_p=dp).backward(pgrad)

            fns = {"pf": pf, "pfb": pfb}
            if torch is not None:
                tq = [torch.from_numpy(x).requires_grad_() for x in a]
                tg = torch.from_numpy(g)

                def tf(tq=tq, causal=causal, dp=dp):
                    with torch.no_grad():
                        return torch.nn.functional.scaled_dot_product_attention(*tq, is_causal=causal, dropout_p=dp)

                def tfb(tq=tq, causal=causal, tg=tg, dp=dp):
                    torch.nn.functional.scaled_dot_product_attention(*tq, is_causal=causal, dropout_p=dp).backward(tg)

                fns.update(tf=tf, tfb=tfb)
            for n in (1, 2):
                with threads(n):
                    best = interleaved(fns, repeats=3, inner=1)
                t1 = f"{best['tf'] * 1e3:.1f}" if "tf" in best else f"- ({why})"
                t2 = f"{best['tfb'] * 1e3:.1f}" if "tfb" in best else "-"
                pf, pfb = best["pf"] * 1e3, best["pfb"] * 1e3
                print(f"| | {L} | {causal} | {dp} | {n} | {pf:.1f} | {t1} | {pfb:.1f} | {t2} |")


if __name__ == "__main__":
    main()
