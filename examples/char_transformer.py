"""Train a small character-level transformer on a text shipped beside this script, then sample from it.

    pip install "pygrad[examples]"
    python examples/char_transformer.py              # about a minute on two cores
    python examples/char_transformer.py --steps 200  # a quick look

The text (``examples/data/gradients.txt``, about 3.5 kB) retells the backprop notes in
plain sentences. The model reads 64 characters and predicts each next one:

    token embedding + position embedding                        (T, d)
    [x + attn(layer_norm(x)), then x + mlp(layer_norm(x))] × 2   pre-norm blocks
    layer_norm → affine to the vocabulary                       (T, vocabulary)

where attn is causal multi-head self-attention (4 heads, ``scaled_dot_product_attention``
with ``is_causal=True``: position t reads positions ≤ t only) and mlp is
affine d→4d, GELU, affine 4d→d. The loss is the softmax cross-entropy of the next
character; AdamW (weight decay on the matrices only) follows a linear warm-up over the
first 10% of the steps and a cosine decay after it. The script prints samples before
and after training and saves the loss curve as a picture.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

import pygrad as pg
from pygrad import nn, optim
from pygrad.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "data", "gradients.txt")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions 0..t."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        B, T, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(B, T, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, T, d/h)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, d))


class Block(nn.Module):
    """A pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: pg.Tensor) -> pg.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Next-character model over a vocabulary of ``vocab`` characters and contexts of ``block`` characters."""

    def __init__(self, vocab: int, block: int = 64, d: int = 64, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.block = block
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(block, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx: pg.Tensor) -> pg.Tensor:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(pg.arange(T))  # int64 tensors: a compiled step follows their values
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def sample(model: CharTransformer, prompt: str, stoi: dict[str, int], itos: list[str], n: int,
           rng: np.random.Generator, temperature: float = 0.8) -> str:
    """Continue ``prompt`` by ``n`` characters drawn from the model's softmax at ``temperature``."""
    model.eval()
    idx = [stoi[c] for c in prompt if c in stoi] or [0]
    with pg.no_grad():
        for _ in range(n):
            context = pg.tensor(np.array([idx[-model.block:]], dtype=np.int64))
            logits = model(context).numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            idx.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return "".join(itos[i] for i in idx)


def make_step(model: CharTransformer, opt: optim.Optimizer, clip: float | None = 1.0):
    """One training step on a batch of contexts x (B, T) and their next characters y (B, T), int64
    tensors: the cross-entropy of the next character, backward, gradients clipped to a total norm of
    ``clip`` (None: not clipped), one step of ``opt``; returns the loss. The step compiles
    (``pygrad.compile(make_step(model, opt))``): every op of it, the clipping included, is recorded."""

    def step(x: pg.Tensor, y: pg.Tensor) -> pg.Tensor:
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss

    return step


def train(steps: int = 600, batch: int = 32, block: int = 64, d: int = 64, lr: float = 3e-3, seed: int = 0,
          progress: bool = True, compiled: bool = True) -> tuple[CharTransformer, list[float], dict[str, int],
                                                                  list[str]]:
    """Train on the shipped text; returns the model, the loss per step and the vocabulary maps. With
    ``compiled`` the step is recorded once by :func:`pygrad.compile` and replayed in C after that (the
    same numbers as the eager step, bit for bit)."""
    with open(TEXT, encoding="utf-8") as f:
        text = f.read()
    itos = sorted(set(text))
    stoi = {c: i for i, c in enumerate(itos)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    pg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CharTransformer(len(itos), block=block, d=d)
    decay = [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2
             and not name.startswith(("tok.", "pos."))]
    rest = [p for name, p in model.named_parameters() if all(p is not q for q in decay)]
    opt = optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                      lr=lr, betas=(0.9, 0.99))
    warm = max(1, steps // 10)
    schedule = optim.lr_scheduler.SequentialLR(opt, [
        optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warm),
        optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps - warm), eta_min=lr / 20),
    ], milestones=[warm])
    print(f"text: {len(text)} characters, vocabulary {len(itos)}; model: "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    print("sample before training:", repr(sample(model, "The ", stoi, itos, 60, rng)))
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, unit="step", desc="training")
        except ImportError:
            pass
    losses = []
    train_step = make_step(model, opt)
    if compiled and hasattr(pg, "compile"):  # the reference engine (pygrad.reference) has no compile
        train_step = pg.compile(train_step)
    for step in range(steps):
        starts = rng.integers(0, len(data) - block - 1, size=batch)
        x = pg.tensor(np.stack([data[s:s + block] for s in starts]))
        y = pg.tensor(np.stack([data[s + 1:s + block + 1] for s in starts]))
        loss = train_step(x, y)
        schedule.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update()
            if step % 20 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        elif (step + 1) % max(1, steps // 10) == 0:
            print(f"  step {step + 1}/{steps}  loss {losses[-1]:.3f}")
    if bar is not None:
        bar.close()
    return model, losses, stoi, itos


def plot(losses: list[float], vocab: int, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.6, alpha=0.5, label="per step")
    k = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(np.arange(k - 1, len(losses)), smooth, label=f"mean of {k}")
    ax.axhline(math.log(vocab), ls=":", c="gray", label="uniform guess")
    ax.set(xlabel="step", ylabel="cross-entropy (nats/char)", title="character transformer")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="pygrad-examples", help="directory for the loss picture")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--eager", action="store_true", help="run every step eagerly (no pygrad.compile)")
    args = parser.parse_args()
    start = time.perf_counter()
    model, losses, stoi, itos = train(args.steps, args.batch, seed=args.seed, progress=not args.no_progress,
                                      compiled=not args.eager)
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.1f} s; "
          f"final loss {np.mean(losses[-20:]):.3f} nats/char (uniform: {math.log(len(itos)):.3f})")
    rng = np.random.default_rng(args.seed + 1)
    for prompt in ("The gradient ", "A convolution ", "Attention "):
        print("sample:", repr(sample(model, prompt, stoi, itos, 160, rng)))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: no picture (pip install \"pygrad[examples]\")")
    else:
        os.makedirs(args.out, exist_ok=True)
        print(f"saved {plot(losses, len(itos), os.path.join(args.out, 'char_transformer_loss.png'))} (the loss curve)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
