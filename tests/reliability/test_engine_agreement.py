"""The two engines agree where they once differed (issue: Reliability II, finding 10),
and basic indexing costs O(result) (finding 15)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as pr
from pygrad import _args
from pygrad.errors import PygradIndexError, PygradTypeError

ENGINES = [pytest.param(pg, id="c"), pytest.param(pr, id="reference")]


@pytest.mark.parametrize("E", ENGINES)
def test_in_place_add_of_a_value_computed_from_the_same_non_leaf(E) -> None:
    a = E.tensor([1.0, 2.0], requires_grad=True)
    c = a * 1.0
    c += c + 1  # c_new = 2c + 1: d/da = 2 (PyTorch: 2)
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])
    b = E.tensor([1.0, 2.0], requires_grad=True)
    d = b * 3.0
    e = d + 5  # uses d before the in-place change
    d += d
    (e + d).sum().backward()  # e = 3b + 5, d = 6b
    np.testing.assert_array_equal(b.grad.numpy(), [9.0, 9.0])


@pytest.mark.parametrize("E", ENGINES)
@pytest.mark.parametrize("key", [1.0, [1.0], np.array([0.0, 1.0]), np.array([]), (0, 1.0), "a", [0.5]],
                         ids=["float", "float-list", "float-array", "empty-float-array", "tuple", "str", "half"])
def test_float_indices_raise_index_error_as_in_pytorch(E, key) -> None:
    x = E.ones(3, 2)
    with pytest.raises(PygradIndexError, match="getitem"):
        x[key]


@pytest.mark.parametrize("E", ENGINES)
def test_index_tensors_of_whole_numbers_are_accepted(E) -> None:
    x = E.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    np.testing.assert_array_equal(x[E.tensor([2.0, 0.0])].numpy(), [[5, 6], [1, 2]])
    np.testing.assert_array_equal(x[[]].numpy().shape, (0, 2))
    with pytest.raises(PygradIndexError, match="whole numbers"):
        x[E.tensor([0.5])]
    with pytest.raises(PygradIndexError, match="out of range"):
        x[2**63]
    with pytest.raises(PygradIndexError, match="out of range"):
        x[0, -(2**64)]
    with pytest.raises(PygradTypeError, match="getitem"):
        x[[[0, 1], [1]]]


@pytest.mark.parametrize("E", ENGINES)
def test_requires_grad_and_view_on_both_engines(E) -> None:
    t = E.zeros(2, 3)
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    v = t.view(3, 2)
    assert v.shape == (3, 2) and t.view(-1).shape == (6,)


# ---- finding 15: integer and slice keys cost O(result) ----


def _peak_bytes(f) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("key", [7, -3, slice(5, 9), slice(None, None, 250_000), (None, 123_456)],
                         ids=["int", "negative", "slice", "strided", "newaxis"])
def test_basic_keys_build_offsets_of_the_result_size(key) -> None:
    shape = (1_000_000,)
    off = _args._index_offsets(shape, key)
    np.testing.assert_array_equal(off, np.arange(shape[0])[key])
    # the offsets of a 1e6-element tensor took 8 MB (and more temporaries) before
    assert _peak_bytes(lambda: _args._index_offsets(shape, key)) < 4096


def test_basic_keys_of_an_n_d_tensor_cost_o_result() -> None:
    shape = (100, 100, 100)
    for key in [(3, 4), (Ellipsis, 5), (slice(None), 2, slice(1, 3)), (1, None, slice(None, None, -7))]:
        expected = np.arange(10**6).reshape(shape)[key]
        np.testing.assert_array_equal(_args._index_offsets(shape, key), expected)
        # a few arrays of the result's size, not the 8 MB offsets of the whole tensor
        assert _peak_bytes(lambda key=key: _args._index_offsets(shape, key)) < 4 * expected.nbytes + 4096, key


def test_iterating_a_long_tensor_is_linear_in_memory() -> None:
    x = pg.arange(200_000.0)
    assert _peak_bytes(lambda: x[123_456]) < 64 * 1024
    assert x[123_456].item() == 123_456.0 and x[-1].item() == 199_999.0
    assert [v.item() for v in pg.arange(5.0)] == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("E", ENGINES)
def test_numpy_writes_are_unversioned_and_in_place_ops_are_checked(E) -> None:
    """The documented .numpy() rule (docs/semantics.md): a write through the view is not
    seen by autograd (as in PyTorch); the versioned in-place ops make backward raise."""
    x = E.tensor([1.0, 2.0], requires_grad=True)
    w = E.tensor([3.0, 4.0])
    y = (x * w).sum()
    w.numpy()[:] = [10.0, 20.0]  # not versioned: the gradient uses the new values
    assert w.version == 0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 20.0])
    v = E.tensor([3.0, 4.0])
    z = (x * v).sum()
    v.copy_(E.tensor([10.0, 20.0]))
    with pytest.raises(RuntimeError, match="modified|in[- ]place"):
        z.backward()
