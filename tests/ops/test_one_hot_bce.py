"""The one_hot op on both engines: against rows worked out by hand and against PyTorch (when
installed); its labels checked at every call, with messages naming the label and the class count."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import PygradValueError
from pygrad.nn import functional as F  # noqa: N812 - the name users know

ENGINES = [pytest.param(pg, id="c"), pytest.param(ref, id="reference")]


@pytest.fixture(params=ENGINES)
def m(request):
    return request.param


# ---------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_one_hot_rows_by_hand(m, dtype) -> None:
    y = m.tensor([[2, 0], [1, 2], [0, 0]], dtype=dtype)
    oh = F.one_hot(y, 4)
    assert oh.dtype == m.int64 and oh.shape == (3, 2, 4)
    assert oh.tolist() == [[[0, 0, 1, 0], [1, 0, 0, 0]], [[0, 1, 0, 0], [0, 0, 1, 0]],
                           [[1, 0, 0, 0], [1, 0, 0, 0]]]
    assert not oh.requires_grad and oh.grad_fn is None
    # a 0-d label gives one row; num_classes=-1 is one more than the largest label
    assert F.one_hot(m.tensor(1, dtype=dtype), 3).tolist() == [0, 1, 0]
    assert F.one_hot(y).shape == (3, 2, 3)
    assert F.one_hot(y, np.int64(3)).tolist() == F.one_hot(y).tolist()


def test_one_hot_empty_labels(m) -> None:
    e = F.one_hot(m.zeros(0, 2, dtype="int64"), 3)
    assert e.shape == (0, 2, 3) and e.dtype == m.int64
    assert F.one_hot(m.zeros(0, dtype="int64"), 0).shape == (0, 0)
    with pytest.raises(PygradValueError, match=r"one_hot: num_classes must be a non-negative int \(or -1 with "
                                               r"labels\), got -1"):
        F.one_hot(m.zeros(0, dtype="int64"))


def test_one_hot_label_out_of_range_names_it(m) -> None:
    with pytest.raises(ValueError, match=r"one_hot: label 4 at position 3 is out of range for 4 classes "
                                         r"\(labels of shape \(2, 2\)\)"):
        F.one_hot(m.tensor([[0, 1], [3, 4]]), 4)
    with pytest.raises(ValueError, match="one_hot: label -1 at position 0 is out of range for 2 classes"):
        F.one_hot(m.tensor([-1, 1], dtype="int32"), 2)
    # num_classes=-1 with a negative label: the largest is then the count less one
    with pytest.raises(ValueError, match="one_hot: label -3 at position 0 is out of range for 2 classes"):
        F.one_hot(m.tensor([-3, 1]))


def test_one_hot_as_a_float_mask_is_differentiable_through_the_product(m) -> None:
    x = m.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = m.tensor([3, 0, 2])
    picked = (x * F.one_hot(y, 4).astype(x.dtype)).sum(1)
    np.testing.assert_array_equal(picked.numpy(), [3.0, 4.0, 10.0])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(4)[[3, 0, 2]])


@pytest.mark.parametrize("shape,classes", [((5,), 3), ((2, 3), 4), ((), 2), ((0, 4), 6), ((2, 1, 3), 1)])
def test_one_hot_against_pytorch(m, shape, classes) -> None:
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(len(shape) + classes).integers(0, classes, size=shape)
    want = torch.nn.functional.one_hot(torch.tensor(y), classes).numpy()
    got = F.one_hot(m.tensor(y), classes)
    assert got.numpy().dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    if y.size:  # num_classes=-1 as PyTorch infers it
        np.testing.assert_array_equal(F.one_hot(m.tensor(y)).numpy(), torch.nn.functional.one_hot(torch.tensor(y))
                                      .numpy())
