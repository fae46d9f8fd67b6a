"""pygrad.save / pygrad.load: tensors, arrays and state dicts in a file that never runs code.

A saved file is a zip archive holding ``pygrad.json``, a manifest that
describes the saved object as plain data, and one ``.npy`` file per array.
Loading parses the JSON and reads the arrays with ``allow_pickle=False``, so
a file can hold nothing but numbers, strings and containers: unlike
``pickle`` (and ``torch.load`` before ``weights_only``), loading a file from
an untrusted source cannot execute code. Pickle files are refused with a
message that says so.

What can be saved: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities
included), ``str``, numpy scalars and arrays (of bool, integer or float
dtypes), Tensors of either engine (data, dtype, ``requires_grad``; never a
graph), and ``list``, ``tuple``, ``dict`` and ``OrderedDict`` of these (dict
keys: str, int, float, bool or None). That covers ``Module.state_dict()``,
``Optimizer.state_dict()`` and checkpoints made of them. An object seen
twice is stored once and loaded as one object, so tensors that were shared
stay shared.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections import OrderedDict
from typing import IO, Any, Union

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError

FORMAT = "pygrad-save"
VERSION = 1
MANIFEST = "pygrad.json"

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

_ARRAY_KINDS = "biuf"  # bool, signed, unsigned, float: never object, void, strings or datetimes
_KEY_TYPES = (str, int, float, bool, type(None))


def _engines() -> Any:
    from pygrad import _engines

    return _engines


def _float(v: float) -> Any:
    if math.isfinite(v):
        return v
    return {"float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}


class _Writer:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.memo: dict[int, int] = {}  # id(obj) -> ref number
        self.keep: list[Any] = []       # keeps memoised objects alive while saving
        self.n_arrays = 0

    def array(self, a: np.ndarray, where: str) -> int:
        if a.dtype.kind not in _ARRAY_KINDS:
            raise PygradTypeError(f"save: {where}: arrays of dtype {a.dtype} cannot be saved "
                                  "(bool, integer and float dtypes can)")
        i = self.n_arrays
        self.n_arrays += 1
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        self.zf.writestr(f"arrays/{i}.npy", buf.getvalue())
        return i

    def encode(self, obj: Any, where: str) -> Any:
        if isinstance(obj, np.generic):  # before float: np.float64 is a float
            if obj.dtype.kind not in _ARRAY_KINDS:
                raise PygradTypeError(f"save: {where}: numpy scalars of dtype {obj.dtype} cannot be saved")
            return {"scalar": self.array(np.asarray(obj), where)}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj if -(2**63) <= obj < 2**63 else {"bigint": str(obj)}
        if isinstance(obj, float):
            return _float(obj)
        key = id(obj)
        if key in self.memo:
            return {"ref": self.memo[key]}
        engine = _engines().name_of(obj)
        if engine is not None:
            engine = "reference" if engine == _engines().REFERENCE else "c"
            node: dict[str, Any] = {"tensor": self.array(np.array(obj.numpy(), copy=True), where),
                                    "engine": engine, "requires_grad": bool(obj.requires_grad)}
        elif isinstance(obj, np.ndarray):
            node = {"ndarray": self.array(obj, where)}
        elif isinstance(obj, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            node = {"list" if isinstance(obj, list) else "tuple": items}
        elif isinstance(obj, dict):
            pairs = []
            for k, v in obj.items():
                if not isinstance(k, _KEY_TYPES):
                    raise PygradTypeError(f"save: {where}: a dict key of type {type(k).__name__} cannot be saved "
                                          "(str, int, float, bool and None can)")
                pairs.append([self.encode(k, where), self.encode(v, f"{where}[{k!r}]")])
            node = {"odict" if isinstance(obj, OrderedDict) else "dict": pairs}
        else:
            raise PygradTypeError(
                f"save: {where}: an object of type {type(obj).__name__} cannot be saved; pygrad.save stores "
                "tensors, numpy arrays and scalars, numbers, strings, None, and lists, tuples and dicts of them "
                "(save a module's or optimizer's state_dict())")
        ref = len(self.memo)
        self.memo[key] = ref
        self.keep.append(obj)
        node["id"] = ref
        return node


def save(obj: Any, f: PathOrFile) -> None:
    """Write ``obj`` (tensors, arrays, numbers, strings and containers of them;
    typically a state dict) to ``f``, a path or a binary file object.

    Tensors keep their data, dtype and ``requires_grad``, never their graph.
    The file is a zip archive of a JSON manifest and ``.npy`` arrays; loading
    it never runs code (see :func:`load`)."""
    target: Any = os.fspath(f) if isinstance(f, (str, os.PathLike)) else f
    if not isinstance(target, str) and not hasattr(target, "write"):
        raise PygradTypeError(f"save: expected a path or a binary file object, got {type(f).__name__}")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        w = _Writer(zf)
        root = w.encode(obj, "obj")
        manifest = {"format": FORMAT, "version": VERSION, "arrays": w.n_arrays, "root": root}
        zf.writestr(MANIFEST, json.dumps(manifest, allow_nan=False))


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, n_arrays: int, engine: Any, name: str) -> None:
        self.zf = zf
        self.n_arrays = n_arrays
        self.engine = engine
        self.name = name
        self.refs: dict[int, Any] = {}

    def bad(self, why: str) -> PygradValueError:
        return PygradValueError(f"load: {self.name}: malformed pygrad file: {why}")

    def array(self, i: Any) -> np.ndarray:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.n_arrays:
            raise self.bad(f"array number {i!r} out of range")
        try:
            with self.zf.open(f"arrays/{i}.npy") as fh:
                a = np.load(io.BytesIO(fh.read()), allow_pickle=False)
        except KeyError:
            raise self.bad(f"arrays/{i}.npy is missing") from None
        except ValueError as exc:  # numpy refuses object arrays without allow_pickle
            raise self.bad(f"arrays/{i}.npy: {exc}") from None
        if not isinstance(a, np.ndarray) or a.dtype.kind not in _ARRAY_KINDS:
            raise self.bad(f"arrays/{i}.npy has dtype {getattr(a, 'dtype', '?')}")
        return a

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list) or not isinstance(node, dict):
            raise self.bad(f"unexpected {type(node).__name__} in the manifest")
        if "float" in node:
            table = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
            if node["float"] not in table:
                raise self.bad(f"bad float {node['float']!r}")
            return table[node["float"]]
        if "bigint" in node:
            try:
                return int(node["bigint"])
            except (TypeError, ValueError):
                raise self.bad(f"bad integer {node['bigint']!r}") from None
        if "scalar" in node:
            return self.array(node["scalar"])[()]
        if "ref" in node:
            if node["ref"] not in self.refs:
                raise self.bad(f"reference to object {node['ref']!r} before it was defined")
            return self.refs[node["ref"]]
        ref = node.get("id")
        if not isinstance(ref, int) or ref in self.refs:
            raise self.bad(f"bad object id {ref!r}")
        out: Any
        if "tensor" in node:
            data = self.array(node["tensor"])
            module = self.engine if self.engine is not None else _engines().resolve(node.get("engine"))
            out = module.tensor(data, dtype=data.dtype)
            if node.get("requires_grad"):
                out.requires_grad = True
        elif "ndarray" in node:
            out = self.array(node["ndarray"])
        elif "list" in node or "tuple" in node:
            items = node.get("list", node.get("tuple"))
            if not isinstance(items, list):
                raise self.bad("a list node without items")
            out = [self.decode(v) for v in items]
            if "tuple" in node:
                out = tuple(out)
        elif "dict" in node or "odict" in node:
            pairs = node.get("dict", node.get("odict"))
            if not isinstance(pairs, list) or any(not isinstance(p, list) or len(p) != 2 for p in pairs):
                raise self.bad("a dict node without key-value pairs")
            out = OrderedDict() if "odict" in node else {}
            for k, v in pairs:
                key = self.decode(k)
                if not isinstance(key, _KEY_TYPES):
                    raise self.bad(f"a dict key of type {type(key).__name__}")
                out[key] = self.decode(v)
        else:
            raise self.bad(f"unknown node {sorted(node)!r}")
        self.refs[ref] = out
        return out


def load(f: PathOrFile, engine: Any = None) -> Any:
    """Read what :func:`save` wrote. Tensors come back on the engine they were
    saved from, or on ``engine`` (``"c"``, ``"reference"`` or an engine module).

    Never runs code from the file: the manifest is JSON and the arrays are
    read with ``allow_pickle=False``. A pickle (from ``pickle.dump`` or
    ``torch.save``'s legacy format) or any other file raises ``ValueError``."""
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", type(f).__name__)
    module = _engines().resolve(engine) if engine is not None else None
    source: Any = os.fspath(f) if isinstance(f, (str, os.PathLike)) else f
    if not isinstance(source, str) and not hasattr(source, "read"):
        raise PygradTypeError(f"load: expected a path or a binary file object, got {type(f).__name__}")
    try:
        zf = zipfile.ZipFile(source, "r")
    except zipfile.BadZipFile:
        head = b""
        if isinstance(source, str):
            with open(source, "rb") as fh:
                head = fh.read(2)
        kind = "a pickle" if head[:1] == b"\x80" else "not a pygrad file"
        raise PygradValueError(f"load: {name}: {kind}; pygrad.load reads only files written by pygrad.save "
                               "and never unpickles (a pickle can run arbitrary code)") from None
    with zf:
        try:
            raw = zf.read(MANIFEST)
        except KeyError:
            raise PygradValueError(f"load: {name}: a zip archive without {MANIFEST}: not written by pygrad.save"
                                   ) from None
        try:
            manifest = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PygradValueError(f"load: {name}: malformed pygrad file: the manifest is not JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise PygradValueError(f"load: {name}: not a pygrad file (no '{FORMAT}' manifest)")
        if manifest.get("version") != VERSION:
            raise PygradValueError(f"load: {name}: format version {manifest.get('version')!r}; this pygrad reads "
                                   f"version {VERSION}")
        n = manifest.get("arrays")
        if not isinstance(n, int) or n < 0:
            raise PygradValueError(f"load: {name}: malformed pygrad file: bad array count {n!r}")
        return _Reader(zf, n, module, str(name)).decode(manifest.get("root"))
