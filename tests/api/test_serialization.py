"""pygrad.save / pygrad.load: round trips on both engines, shared objects, and files that must be refused."""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad import nn, optim


@pytest.mark.parametrize("engine", [pygrad, ref], ids=["c", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensor_round_trip_keeps_data_dtype_and_requires_grad(tmp_path, engine, dtype, rng):
    data = rng.standard_normal((3, 4)).astype(dtype)
    x = engine.tensor(data, requires_grad=True)
    y = engine.tensor(data[0] > 0)
    path = tmp_path / "t.pg"
    pygrad.save({"x": x, "y": y}, path)
    back = pygrad.load(path)
    assert type(back["x"]) is type(x) and type(back["y"]) is type(y)
    assert back["x"].dtype == x.dtype and back["x"].requires_grad and back["x"].is_leaf
    np.testing.assert_array_equal(back["x"].numpy(), data)
    np.testing.assert_array_equal(back["y"].numpy(), data[0] > 0)
    assert not back["y"].requires_grad


def test_a_non_leaf_tensor_is_saved_without_its_graph(tmp_path):
    x = pygrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    pygrad.save(y, tmp_path / "y.pg")
    back = pygrad.load(tmp_path / "y.pg")
    assert back.is_leaf and back.grad_fn is None and back.requires_grad
    np.testing.assert_array_equal(back.numpy(), [3.0, 6.0])
    (back * back).sum().backward()  # a fresh leaf: gradient 2 * back
    np.testing.assert_allclose(back.grad.numpy(), [6.0, 12.0])


def test_engine_argument_moves_tensors_to_the_other_engine(tmp_path):
    pygrad.save([pygrad.tensor([1.5, -2.0])], tmp_path / "a.pg")
    (back,) = pygrad.load(tmp_path / "a.pg", engine="reference")
    assert isinstance(back, ref.Tensor)
    np.testing.assert_array_equal(back.numpy(), np.float32([1.5, -2.0]))


def test_plain_values_containers_and_special_floats_round_trip():
    obj = {
        "none": None, "t": True, "i": -7, "big": 2**80, "f": 0.1, "nan": math.nan, "inf": -math.inf,
        "s": "naïve", "list": [1, [2, (3, 4.0)]], "tup": ("a", None), 3: "int key", 2.5: "float key",
        "np64": np.float64(2.25), "np32": np.float32(0.5), "npi": np.int64(-3), "arr": np.arange(6).reshape(2, 3),
        "od": OrderedDict([("z", 1), ("a", 2)]),
    }
    buf = io.BytesIO()
    pygrad.save(obj, buf)
    buf.seek(0)
    back = pygrad.load(buf)
    assert back["none"] is None and back["t"] is True and back["i"] == -7 and back["big"] == 2**80
    assert back["f"] == 0.1 and math.isnan(back["nan"]) and back["inf"] == -math.inf and back["s"] == "naïve"
    assert back["list"] == [1, [2, (3, 4.0)]] and back["tup"] == ("a", None)
    assert back[3] == "int key" and back[2.5] == "float key"
    assert type(back["np64"]) is np.float64 and back["np64"] == 2.25
    assert type(back["np32"]) is np.float32 and type(back["npi"]) is np.int64 and back["npi"] == -3
    np.testing.assert_array_equal(back["arr"], np.arange(6).reshape(2, 3))
    assert back["arr"].dtype == np.arange(6).dtype
    assert type(back["od"]) is OrderedDict and list(back["od"]) == ["z", "a"]


def test_shared_objects_stay_shared(tmp_path):
    w = pygrad.tensor([1.0, 2.0])
    inner = [1, 2]
    pygrad.save({"a": w, "b": w, "l1": inner, "l2": inner}, tmp_path / "s.pg")
    back = pygrad.load(tmp_path / "s.pg")
    assert back["a"] is back["b"] and back["l1"] is back["l2"]


def test_module_and_optimizer_checkpoint_restores_training_exactly(tmp_path, rng):
    def make():
        model = nn.MLP([3, 5, 2], generator=0)
        return model, optim.Adam(model.parameters(), lr=1e-2)

    x = pygrad.tensor(rng.standard_normal((8, 3)))
    labels = np.arange(8) % 2

    def step(model, opt):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss.item()

    model, opt = make()
    for _ in range(3):
        step(model, opt)
    pygrad.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}, tmp_path / "ckpt.pg")
    want = [step(model, opt) for _ in range(3)]

    model2, opt2 = make()
    ckpt = pygrad.load(tmp_path / "ckpt.pg")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    assert ckpt["epoch"] == 3
    got = [step(model2, opt2) for _ in range(3)]
    assert got == want  # same numbers in the same order: bit for bit


def test_unsupported_objects_raise_type_error_naming_the_place(tmp_path):
    with pytest.raises(TypeError, match=r"save: obj\['f'\]: an object of type function cannot be saved"):
        pygrad.save({"f": lambda: 0}, tmp_path / "x.pg")
    with pytest.raises(TypeError, match="arrays of dtype object cannot be saved"):
        pygrad.save(np.array([{}], dtype=object), tmp_path / "x.pg")
    with pytest.raises(TypeError, match="a dict key of type tuple cannot be saved"):
        pygrad.save({(1, 2): 3}, tmp_path / "x.pg")


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickles_are_refused_and_never_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="a pickle; pygrad.load reads only files written by pygrad.save"):
        pygrad.load(path)
    assert "must never run" not in capsys.readouterr().out


def test_a_pickle_inside_a_pygrad_archive_is_refused(tmp_path):
    path = tmp_path / "evil.pg"
    buf = io.BytesIO()
    np.save(buf, np.array([_Boom()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pygrad.json", json.dumps({"format": "pygrad-save", "version": 1, "arrays": 1,
                                               "root": {"ndarray": 0, "id": 0}}))
        zf.writestr("arrays/0.npy", buf.getvalue())
    with pytest.raises(ValueError, match=r"malformed pygrad file: arrays/0.npy"):
        pygrad.load(path)


@pytest.mark.parametrize("manifest, message", [
    (b"not json", "the manifest is not JSON"),
    (json.dumps({"format": "other"}).encode(), "not a pygrad file"),
    (json.dumps({"format": "pygrad-save", "version": 99, "arrays": 0, "root": 1}).encode(), "format version 99"),
    (json.dumps({"format": "pygrad-save", "version": 1, "arrays": 0, "root": {"ndarray": 0, "id": 0}}).encode(),
     "array number 0 out of range"),
    (json.dumps({"format": "pygrad-save", "version": 1, "arrays": 0, "root": {"ref": 5}}).encode(),
     "reference to object 5 before it was defined"),
    (json.dumps({"format": "pygrad-save", "version": 1, "arrays": 0, "root": {"what": 1, "id": 0}}).encode(),
     "unknown node"),
    (json.dumps({"format": "pygrad-save", "version": 1, "arrays": 0, "root": [1, 2]}).encode(),
     "unexpected list in the manifest"),
])
def test_malformed_files_raise_value_error(tmp_path, manifest, message):
    path = tmp_path / "bad.pg"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pygrad.json", manifest)
    with pytest.raises(ValueError, match=message):
        pygrad.load(path)


def test_other_files_are_refused(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a pygrad file"):
        pygrad.load(tmp_path / "a.txt")
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("x", "y")
    with pytest.raises(ValueError, match="a zip archive without pygrad.json"):
        pygrad.load(tmp_path / "z.zip")
    with pytest.raises(TypeError, match="expected a path or a binary file object"):
        pygrad.load(3)
