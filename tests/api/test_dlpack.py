"""DLPack both ways (Tensor.__dlpack__ / __dlpack_device__, from_dlpack) and __array__,
on both engines, with numpy, PyTorch and JAX: shared memory checked by writing
through one side and reading through the other, lifetimes by weak references
to the producer's buffer."""

from __future__ import annotations

import copy
import gc
import pickle
import subprocess
import sys
import threading
import weakref
from typing import Any

import numpy as np
import pytest

import pygrad._c as C
import pygrad.reference as ref

ENGINES = [C, ref]
IDS = ["c", "reference"]
SHARED = [np.float32, np.float64, np.int64, np.int32, np.bool_]
WIDENED = [(np.int8, np.int64), (np.uint8, np.int64), (np.int16, np.int64), (np.float16, np.float32)]


def _values(dtype: Any, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    n = int(np.prod(shape))
    if np.dtype(dtype) == np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    return (np.arange(n) * 3 - 4).astype(dtype).reshape(shape)


def _addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(params=ENGINES, ids=IDS)
def E(request: pytest.FixtureRequest) -> Any:  # noqa: N802 - the engine module, as in the other API tests
    return request.param


class _Producer:
    """A DLPack producer whose buffer can be watched with a weak reference."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def __dlpack__(self, **kw: Any) -> Any:
        return self.arr.__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.arr.__dlpack_device__()


# ---------------------------------------------------------------------------
# numpy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", SHARED, ids=lambda d: np.dtype(d).name)
def test_numpy_to_pygrad_shares_memory(E: Any, dtype: Any) -> None:
    a = _values(dtype)
    t = E.from_dlpack(a)
    assert t.dtype == np.dtype(dtype) and t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), a)
    assert _addr(t.numpy()) == _addr(a)
    a[1, 2] = 1  # write through the producer, read through the tensor
    assert t.numpy()[1, 2] == 1
    t.numpy()[0, 0] = 0  # and the other way
    assert a[0, 0] == 0


@pytest.mark.parametrize("dtype", SHARED, ids=lambda d: np.dtype(d).name)
def test_pygrad_to_numpy_shares_memory(E: Any, dtype: Any) -> None:
    t = E.tensor(_values(dtype))
    assert t.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(t)
    assert a.dtype == np.dtype(dtype) and a.shape == (2, 3)
    np.testing.assert_array_equal(a, _values(dtype))
    assert _addr(a) == _addr(t.numpy())
    t.numpy()[1, 1] = 1
    assert a[1, 1] == 1
    a[0, 1] = 0
    assert t.numpy()[0, 1] == 0


def test_in_place_op_writes_the_producers_buffer(E: Any) -> None:
    a = np.array([1.0, 2.0, 3.0])
    t = E.from_dlpack(a)
    t.mul_(2.0)
    np.testing.assert_array_equal(a, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal((t + 1).numpy(), [3.0, 5.0, 7.0])


@pytest.mark.parametrize("max_version", [None, (1, 0)])
def test_capsules_versioned_and_legacy(E: Any, max_version: Any) -> None:
    a = np.arange(4.0)
    capsule = a.__dlpack__(max_version=max_version)
    t = E.from_dlpack(capsule)
    assert _addr(t.numpy()) == _addr(a)
    out = E.ones(3).__dlpack__(max_version=max_version)
    name = "dltensor_versioned" if max_version else "dltensor"
    assert f'"{name}"' in repr(out)
    np.testing.assert_array_equal(np.from_dlpack(_Capsule(out)), [1.0, 1.0, 1.0])


class _Capsule:
    def __init__(self, c: Any) -> None:
        self.c = c

    def __dlpack__(self, **kw: Any) -> Any:
        return self.c


def test_byte_offset_0d_and_empty(E: Any) -> None:
    base = np.arange(10.0)
    t = E.from_dlpack(base[3:7])  # a view into the middle: DLPack's byte offset
    np.testing.assert_array_equal(t.numpy(), [3.0, 4.0, 5.0, 6.0])
    assert _addr(t.numpy()) == _addr(base) + 3 * 8
    base[4] = -1
    assert t.numpy()[1] == -1
    z = E.from_dlpack(np.array(2.5, dtype=np.float32))
    assert z.shape == () and z.item() == 2.5
    back = np.from_dlpack(E.tensor(7.0))
    assert back.shape == () and back == 7.0
    e = E.from_dlpack(np.zeros((0, 3), dtype=np.int32))
    assert e.shape == (0, 3) and e.dtype == np.int32
    assert np.from_dlpack(E.zeros(2, 0)).shape == (2, 0)


def test_non_contiguous_copies(E: Any) -> None:
    a = np.arange(6.0).reshape(2, 3)
    t = E.from_dlpack(a.T)
    np.testing.assert_array_equal(t.numpy(), a.T)
    assert not np.shares_memory(t.numpy(), a)
    a[0, 0] = 100  # a copy: the tensor keeps the old value
    assert t.numpy()[0, 0] == 0


def test_read_only_copies(E: Any) -> None:
    a = np.arange(3.0)
    a.flags.writeable = False  # numpy's versioned capsule says so
    t = E.from_dlpack(a)
    np.testing.assert_array_equal(t.numpy(), [0.0, 1.0, 2.0])
    assert not np.shares_memory(t.numpy(), a)


@pytest.mark.parametrize(("src", "dst"), WIDENED, ids=lambda d: np.dtype(d).name)
def test_other_dtypes_widen_like_tensor(E: Any, src: Any, dst: Any) -> None:
    a = np.array([1, 2, 3], dtype=src)
    t = E.from_dlpack(a)
    assert t.dtype == np.dtype(dst)
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
    assert t.dtype == E.tensor(a).dtype


def test_errors(E: Any) -> None:
    with pytest.raises(TypeError, match="from_dlpack: .*complex64"):
        E.from_dlpack(np.ones(2, dtype=np.complex64))
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__.*got list"):
        E.from_dlpack([1.0, 2.0])

    class OnGPU(_Producer):
        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 1)

    with pytest.raises(BufferError, match=r"from_dlpack: the tensor is on a CUDA device \(2, 1\)"):
        E.from_dlpack(OnGPU(np.ones(2)))
    x = E.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="__dlpack__: cannot export a tensor that requires grad.*detach"):
        x.__dlpack__()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.from_dlpack(x)
    np.testing.assert_array_equal(np.from_dlpack(x.detach()), [1.0, 1.0])
    with pytest.raises(BufferError, match="stream=None"):
        E.ones(2).__dlpack__(stream=1)
    with pytest.raises(BufferError, match="device"):
        E.ones(2).__dlpack__(dl_device=(2, 0))


def test_dlpack_copy_keyword(E: Any) -> None:
    t = E.ones(3)
    shared = np.from_dlpack(t, copy=False)
    copied = np.from_dlpack(t, copy=True)
    t.numpy()[0] = 5
    assert shared[0] == 5 and copied[0] == 1


# ---------------------------------------------------------------------------
# __array__ (numpy 2's copy keyword)
# ---------------------------------------------------------------------------


def test_array_protocol(E: Any) -> None:
    t = E.tensor([1.0, 2.0])
    view = np.asarray(t)
    assert np.shares_memory(view, t.numpy())
    assert np.shares_memory(np.asarray(t, copy=False), t.numpy())
    assert np.shares_memory(np.asarray(t, dtype=np.float32, copy=False), t.numpy())
    assert not np.shares_memory(np.asarray(t, copy=True), t.numpy())
    assert not np.shares_memory(np.array(t), t.numpy())
    converted = np.asarray(t, dtype=np.float64)
    assert converted.dtype == np.float64 and not np.shares_memory(converted, t.numpy())
    np.testing.assert_array_equal(converted, [1.0, 2.0])
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(t, dtype=np.float64, copy=False)


# ---------------------------------------------------------------------------
# lifetimes
# ---------------------------------------------------------------------------


def _watched(values: np.ndarray) -> tuple[_Producer, weakref.ref]:
    p = _Producer(values)
    return p, weakref.ref(values)


def test_producer_deleted_first(E: Any) -> None:
    p, alive = _watched(np.arange(5.0))
    t = E.from_dlpack(p)
    del p
    gc.collect()
    assert alive() is not None  # the tensor holds the buffer
    np.testing.assert_array_equal((t * 2).numpy(), [0.0, 2.0, 4.0, 6.0, 8.0])
    v = t.reshape(5, 1)  # a view shares the storage
    del t
    gc.collect()
    assert alive() is not None
    assert v.numpy()[4, 0] == 4.0
    del v
    gc.collect()
    assert alive() is None  # released exactly when the last view went


def test_consumer_deleted_first(E: Any) -> None:
    p, alive = _watched(np.arange(3.0))
    t = E.from_dlpack(p)
    del t
    gc.collect()
    assert alive() is not None  # the producer still holds it
    del p
    gc.collect()
    assert alive() is None


def test_exported_tensor_deleted_first(E: Any) -> None:
    t = E.arange(4.0)
    a = np.from_dlpack(t)
    del t
    gc.collect()
    np.testing.assert_array_equal(a + 1, [1.0, 2.0, 3.0, 4.0])
    b = E.from_dlpack(E.from_dlpack(a))  # pygrad to pygrad, through numpy's memory
    del a
    gc.collect()
    np.testing.assert_array_equal(b.numpy(), [0.0, 1.0, 2.0, 3.0])


def test_released_on_another_thread(E: Any) -> None:
    p, alive = _watched(np.arange(1000.0))
    box = [E.from_dlpack(p)]
    del p
    gc.collect()
    out: list[float] = []

    def drop() -> None:
        t = box.pop()
        out.append(float(t.sum().item()))
        del t  # the last reference dies on this thread

    th = threading.Thread(target=drop)
    th.start()
    th.join()
    gc.collect()
    assert out == [499500.0]
    assert alive() is None


def test_many_threads_import_and_release(E: Any) -> None:
    bufs = [np.full(64, float(i)) for i in range(8)]
    refs = [weakref.ref(b) for b in bufs]
    sums: list[float] = [0.0] * 8

    def work(i: int, buf: np.ndarray) -> None:
        for _ in range(50):
            t = E.from_dlpack(_Producer(buf))
            sums[i] = float((t * 1.0).sum().item())
            del t

    ths = [threading.Thread(target=work, args=(i, bufs[i])) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert sums == [64.0 * i for i in range(8)]
    del bufs, ths
    gc.collect()
    assert all(r() is None for r in refs)


# ---------------------------------------------------------------------------
# autograd, copying, pickle, fork
# ---------------------------------------------------------------------------


def test_imported_tensor_in_autograd(E: Any) -> None:
    a = np.array([0.5, -1.0, 2.0])
    x = E.from_dlpack(a)
    x.requires_grad_()
    y = (x * x * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * a**2, rtol=1e-12)
    (x * x).sum().backward()  # accumulates, never into the producer's buffer
    np.testing.assert_allclose(x.grad.numpy(), 3 * a**2 + 2 * a, rtol=1e-12)
    np.testing.assert_array_equal(a, [0.5, -1.0, 2.0])
    assert not np.shares_memory(x.grad.numpy(), a)


def test_copy_deepcopy_pickle_copy_values(E: Any) -> None:
    a = np.arange(4.0, dtype=np.float32)
    t = E.from_dlpack(a)
    for c in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert type(c) is type(t) and c.dtype == np.float32
        np.testing.assert_array_equal(c.numpy(), a)
        assert not np.shares_memory(c.numpy(), a)
    np.testing.assert_array_equal(copy.copy(t).numpy(), a)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_fork_child_uses_and_releases_an_imported_tensor(tmp_path: Any) -> None:
    code = (
        "import gc, os, numpy as np, pygrad as pg\n"
        "a = np.arange(6.0); t = pg.from_dlpack(a)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = float(t.sum().item()) == 15.0\n"
        "    del t; gc.collect()\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "assert os.waitstatus_to_exitcode(status) == 0, status\n"
        "t.numpy()[0] = 9; assert a[0] == 9\n"
        "del t; gc.collect(); print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

TORCH_DTYPES = ["float32", "float64", "int64", "int32", "bool"]


@pytest.mark.parametrize("name", TORCH_DTYPES)
def test_torch_both_ways(E: Any, name: str) -> None:
    torch = pytest.importorskip("torch")
    src = torch.from_numpy(_values(getattr(np, name if name != "bool" else "bool_")))
    t = E.from_dlpack(src)
    assert t.dtype == np.dtype(name if name != "bool" else np.bool_)
    np.testing.assert_array_equal(t.numpy(), src.numpy())
    assert _addr(t.numpy()) == src.data_ptr()
    back = torch.from_dlpack(t)
    assert back.dtype == src.dtype and back.data_ptr() == src.data_ptr()
    if name != "bool":
        src[0, 0] = 11
        assert t.numpy()[0, 0] == 11
        t.numpy()[1, 2] = 12
        assert src[1, 2].item() == 12


def test_torch_shares_pygrad_memory(E: Any) -> None:
    torch = pytest.importorskip("torch")
    t = E.arange(6.0).reshape(2, 3)
    tt = torch.from_dlpack(t)
    assert tt.data_ptr() == _addr(t.numpy())
    tt[0, 0] = 9
    assert t.numpy()[0, 0] == 9
    t.numpy()[1, 1] = -5
    assert tt[1, 1].item() == -5
    del t
    gc.collect()
    assert tt.sum().item() == 9 + 1 + 2 + 3 - 5 + 5
    with pytest.raises(RuntimeError, match="detach"):
        torch.from_dlpack(E.ones(2, requires_grad=True))


def test_torch_lifetime_and_strides(E: Any) -> None:
    torch = pytest.importorskip("torch")
    x = torch.arange(12.0).reshape(3, 4)
    t = E.from_dlpack(x.T)  # strided: copied, values right
    np.testing.assert_array_equal(t.numpy(), x.T.numpy())
    assert not np.shares_memory(t.numpy(), x.numpy())
    u = E.from_dlpack(x[1:])  # a contiguous slice: shared at its offset
    assert _addr(u.numpy()) == x.data_ptr() + 4 * 4
    del x
    gc.collect()
    np.testing.assert_array_equal(u.numpy(), np.arange(4.0, 12.0).reshape(2, 4))
    with pytest.raises(TypeError, match="bfloat16"):
        E.from_dlpack(torch.ones(2, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="complex64"):
        E.from_dlpack(torch.ones(2, dtype=torch.complex64))
    h = E.from_dlpack(torch.ones(2, dtype=torch.float16))
    assert h.dtype == np.float32
    with pytest.raises((RuntimeError, BufferError), match="detach"):
        E.from_dlpack(torch.ones(2, requires_grad=True))


def test_torch_gradient_through_imported_tensor(E: Any) -> None:
    torch = pytest.importorskip("torch")
    xt = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    x = E.from_dlpack(xt).requires_grad_()
    (x.tanh() * x).sum().backward()
    xr = xt.clone().requires_grad_()
    (xr.tanh() * xr).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xr.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------
# JAX (CPU)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["float32", "int32", "bool"])
def test_jax_both_ways(E: Any, name: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    values = _values(np.bool_ if name == "bool" else getattr(np, name))
    j = jnp.asarray(values)
    t = E.from_dlpack(j)
    assert t.dtype == values.dtype
    np.testing.assert_array_equal(t.numpy(), values)
    assert _addr(t.numpy()) == j.unsafe_buffer_pointer()  # JAX's buffer itself
    del j
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), values)
    src = E.tensor(values)
    back = jnp.from_dlpack(src)
    np.testing.assert_array_equal(np.asarray(back), values)
    if E is C:  # JAX copies buffers not aligned to 64 bytes (the C engine's are; numpy's often not)
        assert back.unsafe_buffer_pointer() == _addr(src.numpy())
    del src
    gc.collect()
    np.testing.assert_array_equal(np.asarray(back), values)


def test_from_dlpack_copy_keyword(E: Any) -> None:
    a = np.arange(4.0)
    c = E.from_dlpack(a, copy=True)
    assert not np.shares_memory(c.numpy(), a)
    np.testing.assert_array_equal(c.numpy(), a)
    s = E.from_dlpack(a, copy=False)
    assert np.shares_memory(s.numpy(), a)
    with pytest.raises(BufferError, match=r"from_dlpack: strided data .*copy=False"):
        E.from_dlpack(a.reshape(2, 2).T, copy=False)
    with pytest.raises(BufferError, match="from_dlpack: int8 data .*copy=False"):
        E.from_dlpack(np.ones(2, dtype=np.int8), copy=False)
    t = E.from_dlpack(np.ones(2, dtype=np.int8), copy=True)
    assert t.dtype == np.int64

