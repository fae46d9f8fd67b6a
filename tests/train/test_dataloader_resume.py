"""DataLoader: the Dataset protocol, a numpy Generator, and exact resume from state_dict
(between epochs and in the middle of one)."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import numpy as np
import pytest

import pygrad
from pygrad import data


class Squares(data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return np.array([i, i * i], dtype=np.float32), i % 3


def _batches(loader: Any, k: int | None = None) -> list[list[float]]:
    """The batches of one epoch (the first k only: a loop that stops there)."""
    out = []
    for b in (loader if k is None else itertools.islice(loader, k)):
        x = b[0] if isinstance(b, tuple) else b
        out.append(np.asarray(x.numpy() if hasattr(x, "numpy") else x).ravel().tolist())
    return out


def test_dataset_protocol_batches_fields() -> None:
    loader = data.DataLoader(Squares(10), batch_size=4)
    xb, yb = next(iter(loader))
    assert isinstance(xb, pygrad.Tensor) and xb.shape == (4, 2) and xb.numpy()[3].tolist() == [3.0, 9.0]
    assert isinstance(yb, np.ndarray) and yb.tolist() == [0, 1, 2, 0]
    assert len(loader) == 3
    td = data.TensorDataset(np.arange(6).reshape(3, 2), np.array([1, 0, 1]))
    assert [y.tolist() for _, y in data.DataLoader(td, batch_size=2)] == [[1, 0], [1]]
    with pytest.raises(ValueError, match="y must be None"):
        data.DataLoader(Squares(3), y=[1, 2, 3])
    with pytest.raises(ValueError, match=r"y must be None .*pass batch_size=2, or use pygrad.utils.data.DataLoader"):
        data.DataLoader(Squares(3), 2)  # PyTorch's positional batch_size
    with pytest.raises(ValueError, match="differ"):
        data.TensorDataset(np.zeros(3), np.zeros(4))


def test_generator_argument() -> None:
    X = np.arange(20.0)
    a = _batches(data.DataLoader(X, batch_size=5, shuffle=True, generator=np.random.default_rng(7)))
    b = _batches(data.DataLoader(X, batch_size=5, shuffle=True, generator=7))
    assert a == b and sorted(sum(a, [])) == X.tolist() and a != _batches(data.DataLoader(X, batch_size=5))
    with pytest.raises(ValueError, match="seed or generator"):
        data.DataLoader(X, seed=1, generator=2)
    with pytest.raises(TypeError, match="generator"):
        data.DataLoader(X, generator="x")


@pytest.mark.parametrize("stop_after", [0, 2, 4])
def test_exact_resume(stop_after: int) -> None:
    X = np.arange(17.0)
    ref = data.DataLoader(X, batch_size=4, shuffle=True, seed=3)
    epochs = [_batches(ref) for _ in range(3)]
    run = data.DataLoader(X, batch_size=4, shuffle=True, seed=3)
    seen = _batches(run)                     # epoch 0 in full
    seen += _batches(run, stop_after)        # part of epoch 1 (stop_after batches: 0 .. all)
    state = pickle.loads(pickle.dumps(run.state_dict()))
    fresh = data.DataLoader(X, batch_size=4, shuffle=True, seed=99)
    fresh.load_state_dict(state)
    rest = _batches(fresh) + _batches(fresh)
    assert seen + rest == epochs[0] + epochs[1] + epochs[2]


def test_resume_state_errors() -> None:
    loader = data.DataLoader(np.arange(8.0), batch_size=4)
    with pytest.raises(ValueError, match="state_dict"):
        loader.load_state_dict({"x": 1})
    with pytest.raises(ValueError, match="batches_done"):
        loader.load_state_dict({"rng_state": loader.state_dict()["rng_state"], "batches_done": 9})


def test_a_loaded_state_is_saved_again_before_iterating() -> None:
    """load_state_dict, then state_dict before the next batch (a checkpoint right after a resume):
    the position loaded is the position saved."""
    X = np.arange(20.0)
    a = data.DataLoader(X, batch_size=3, shuffle=True, seed=1)
    _batches(a, 2)
    sd = a.state_dict()
    b = data.DataLoader(X, batch_size=3, shuffle=True, seed=5)
    b.load_state_dict(sd)
    sd2 = b.state_dict()
    assert sd2["batches_done"] == 2
    c = data.DataLoader(X, batch_size=3, shuffle=True, seed=9)
    c.load_state_dict(sd2)
    d = data.DataLoader(X, batch_size=3, shuffle=True, seed=9)
    d.load_state_dict(sd)
    rest = _batches(d)
    assert len(rest) == len(d) - 2 and _batches(c) == rest


def test_dict_items_collate_to_a_dict_of_batches() -> None:
    class Dicts(data.Dataset):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"x": np.array([i, -i], dtype=np.float32), "y": i % 2}

    xb = next(iter(data.DataLoader(Dicts(), batch_size=3)))
    assert list(xb) == ["x", "y"] and isinstance(xb["x"], pygrad.Tensor)
    assert xb["x"].numpy().tolist() == [[0, 0], [1, -1], [2, -2]] and xb["y"].tolist() == [0, 1, 0]


class _CountingSampler:
    """A sampler with its own state_dict (as PyTorch's stateful samplers): a rotation that moves on
    by 3 each epoch."""

    def __init__(self, n: int) -> None:
        self.n, self.shift = n, 0

    def __iter__(self) -> Any:
        order = [(i + self.shift) % self.n for i in range(self.n)]
        self.shift += 3
        return iter(order)

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict[str, int]:
        return {"shift": self.shift}

    def load_state_dict(self, st: dict[str, int]) -> None:
        self.shift = st["shift"]


@pytest.mark.parametrize("kind", ["random", "own_state_dict"])
def test_resume_is_exact_with_a_stateful_sampler(kind: str) -> None:
    """A sampler that draws its order (RandomSampler's numpy Generator, or a sampler's own
    state_dict) is saved at the epoch's start: resumed in the middle of the third epoch, a fresh
    loader with a fresh sampler yields the rest of that epoch and the next ones as the original."""
    def make(seed: int) -> Any:
        ds = Squares(11)
        smp = data.RandomSampler(ds, generator=seed) if kind == "random" else _CountingSampler(11)
        return data.DataLoader(ds, batch_size=3, sampler=smp)

    a = make(0)
    _batches(a)
    _batches(a)
    first = _batches(a, 2)  # two batches into the third epoch
    state = pickle.loads(pickle.dumps(a.state_dict()))
    assert "sampler_state" in state
    b = make(99)  # another seed: only the loaded state can make it agree
    b.load_state_dict(state)
    rest = _batches(b)
    assert len(rest) == len(a) - 2
    c = make(0)  # the original, run again to the same point, then on
    _batches(c)
    _batches(c)
    third = _batches(c)
    assert third[:2] == first and third[2:] == rest
    assert _batches(b) == _batches(c)  # and the epoch after
