"""pygrad.data's PyTorch utilities: Subset, ConcatDataset, random_split, SequentialSampler,
RandomSampler, and DataLoader's collate_fn / num_workers / pin_memory arguments."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
from pygrad.data import (
    ConcatDataset,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    random_split,
)
from pygrad.errors import PygradTypeError, PygradValueError


def _ds(n=10, start=0):
    return TensorDataset(np.arange(start, start + n, dtype=np.float64)[:, None], np.arange(start, start + n))


def test_subset_and_concat():
    s = Subset(_ds(), [7, 2, -1])
    assert len(s) == 3 and [int(s[i][1]) for i in range(3)] == [7, 2, 9]
    c = ConcatDataset([_ds(3), _ds(4, start=100), s])
    assert len(c) == 10 and c.cumulative_sizes == [3, 7, 10]
    assert [int(c[i][1]) for i in range(10)] == [0, 1, 2, 100, 101, 102, 103, 7, 2, 9]
    assert int(c[-1][1]) == 9
    with pytest.raises(PygradValueError, match="Subset: index 10 is out of range for a dataset of 10 items"):
        Subset(_ds(), [10])
    with pytest.raises(PygradValueError, match="ConcatDataset: index 10 is out of range for 10 items"):
        c[10]
    with pytest.raises(PygradValueError, match="ConcatDataset: give at least one dataset"):
        ConcatDataset([])


def test_random_split_disjoint_and_reproducible():
    parts = random_split(_ds(10), [6, 4], generator=np.random.default_rng(0))
    idx = [sorted(int(p[i][1]) for i in range(len(p))) for p in parts]
    assert [len(p) for p in parts] == [6, 4] and sorted(idx[0] + idx[1]) == list(range(10))
    again = random_split(_ds(10), [6, 4], generator=0)
    assert [p.indices for p in again] == [p.indices for p in random_split(_ds(10), [6, 4], generator=0)]
    # fractions: floors, then the remainder round-robin from the first part (PyTorch's rule)
    assert [len(p) for p in random_split(_ds(11), [0.5, 0.3, 0.2], generator=1)] == [6, 3, 2]
    for bad, msg in (([5, 4], "sum to 9, the dataset has 10 items"), ([5, -1, 6], "non-negative ints"),
                     ([0.5, 0.6], "non-negative ints or fractions")):
        with pytest.raises(PygradValueError, match=msg):
            random_split(_ds(10), bad)


def test_samplers_and_the_loader():
    ds = _ds(7)
    assert list(SequentialSampler(ds)) == list(range(7)) and len(SequentialSampler(ds)) == 7
    rs = RandomSampler(ds, generator=3)
    a, b = list(rs), list(rs)
    assert sorted(a) == list(range(7)) and a != b  # a new order per pass
    rr = RandomSampler(ds, replacement=True, num_samples=20, generator=np.random.default_rng(0))
    draws = list(rr)
    assert len(draws) == 20 == len(rr) and all(0 <= i < 7 for i in draws)
    with pytest.raises(PygradValueError, match="needs replacement=True"):
        RandomSampler(ds, num_samples=3)
    loader = DataLoader(ds, batch_size=3, sampler=SequentialSampler(ds), num_workers=2, pin_memory=True)
    batches = list(loader)
    assert len(batches) == 3 and batches[0][1].tolist() == [0, 1, 2] and batches[2][1].tolist() == [6]
    assert isinstance(batches[0][0], pygrad.Tensor)


def test_collate_fn():
    texts = ["ab", "abcd", "a"]

    class Words:
        def __len__(self):
            return len(texts)

        def __getitem__(self, i):
            return np.array([ord(ch) for ch in texts[i]])

    def pad(items):  # variable-length items padded to the longest, as a text loader does
        n = max(len(it) for it in items)
        return np.stack([np.pad(it, (0, n - len(it))) for it in items])

    out = list(DataLoader(Words(), batch_size=2, collate_fn=pad))
    assert out[0].shape == (2, 4) and out[1].tolist() == [[97]]
    with pytest.raises(PygradTypeError, match="collate_fn must be callable"):
        DataLoader(Words(), collate_fn=3)
    with pytest.raises(PygradValueError, match="num_workers must be a non-negative int"):
        DataLoader(Words(), num_workers=-1)
