"""Bad arguments raise pygrad errors naming the argument and the rule, with the same
exception type on both engines (issue: Reliability II, finding 16). Before, these raised
raw numpy/zipfile/OverflowError exceptions, passed silently, or made the import fail."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from test_regressions import run_child

import pygrad as pg
import pygrad.nn as nn
import pygrad.optim as optim
import pygrad.reference as pr
import pygrad.reference.optim as roptim
from pygrad.errors import PygradError, PygradIndexError, PygradTypeError, PygradValueError, ShapeError

WITH_OPTIM = [pytest.param(pg, optim, id="c"), pytest.param(pr, roptim, id="reference")]
NAN, INF = float("nan"), float("inf")

CASES = [
    ("arange-nan", lambda E, O: E.arange(NAN), PygradValueError, r"arange: cannot make a range from 0.0 to nan"),
    ("arange-stop-nan", lambda E, O: E.arange(0, NAN), PygradValueError, r"arange: cannot make a range"),
    ("arange-inf", lambda E, O: E.arange(INF), PygradValueError, r"arange: cannot make a range from 0.0 to inf"),
    ("arange-huge-int", lambda E, O: E.arange(10**400), PygradValueError, r"arange: start of 1329 bits does not fit"),
    ("arange-str", lambda E, O: E.arange("3"), PygradTypeError, r"arange: start must be a real number"),
    ("maxout-2**63", lambda E, O: E.maxout(E.ones(2, 4), 2**63), ShapeError,
     r"maxout: the last dim of shape \(2, 4\) is not divisible by pieces = 9223372036854775808"),
    ("getitem-2**63", lambda E, O: E.ones(3)[2**63], PygradIndexError, r"getitem: index 9223372036854775808 is out"),
    ("sgd-lr-10**400", lambda E, O: O.SGD([E.ones(2, requires_grad=True)], lr=10**400), PygradValueError,
     r"SGD: invalid learning rate of 1329 bits: it does not fit a float"),
    ("adam-eps-10**400", lambda E, O: O.Adam([E.ones(2, requires_grad=True)], eps=10**400), PygradValueError,
     r"Adam: invalid eps of 1329 bits"),
    ("sgd-lr-str", lambda E, O: O.SGD([E.ones(2, requires_grad=True)], lr="0.1"), PygradTypeError,
     r"SGD: learning rate must be a real number, got str"),
    ("load-1e300-into-float32",
     lambda E, O: nn.Linear(2, 1, engine=E).load_state_dict({"weight": np.full((2, 1), 1e300), "bias": np.zeros(1)}),
     PygradValueError, r"Linear.load_state_dict: 'weight' holds 1e\+300, which overflows the parameter's dtype"),
    ("load-strings",
     lambda E, O: nn.Linear(2, 1, engine=E).load_state_dict({"weight": np.full((2, 1), "a"), "bias": np.zeros(1)}),
     PygradTypeError, r"Linear.load_state_dict: 'weight' has dtype <U1; expected numbers"),
]


@pytest.mark.parametrize(("E", "O"), WITH_OPTIM)
@pytest.mark.parametrize(("case", "f", "err", "match"), CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_raise_pygrad_errors(E, O, case, f, err, match) -> None:
    with pytest.raises(err, match=match) as info:
        f(E, O)
    assert isinstance(info.value, PygradError)


@pytest.mark.parametrize("E", [pg, pr], ids=["c", "reference"])
def test_load_state_dict_keeps_values_that_fit_and_nan(E) -> None:
    m = nn.Linear(2, 1, engine=E)
    m.load_state_dict({"weight": np.array([[np.nan], [-np.inf]]), "bias": np.array([3e38])})
    np.testing.assert_array_equal(m.weight.numpy(), [[np.nan], [-np.inf]])
    assert m.bias.numpy()[0] == np.float32(3e38)


def _malformed(tmp_path, kind: str) -> str:
    p = str(tmp_path / f"{kind}.npz")
    if kind == "garbage":
        with open(p, "wb") as f:
            f.write(b"not a numpy file at all")
    elif kind == "bad-zip":
        with open(p, "wb") as f:
            f.write(b"PK\x03\x04" + b"\x00" * 40)
    elif kind == "single-array":
        with open(p, "wb") as f:
            np.save(f, np.zeros(3))
    elif kind == "pickled":
        np.savez(p, weight=np.array([object()], dtype=object))
    elif kind == "damaged-member":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("weight.npy", b"\x93NUMPY garbage")
    return p


@pytest.mark.parametrize("E", [pg, pr], ids=["c", "reference"])
@pytest.mark.parametrize("kind", ["garbage", "bad-zip", "single-array", "pickled", "damaged-member"])
def test_module_load_of_a_malformed_file(E, kind, tmp_path) -> None:
    p = _malformed(tmp_path, kind)
    with pytest.raises(PygradValueError, match=r"Linear.load: .* (is not|holds a single array|is damaged)"):
        nn.Linear(2, 1, engine=E).load(p)
    with pytest.raises(FileNotFoundError):
        nn.Linear(2, 1, engine=E).load(os.path.join(str(tmp_path), "missing.npz"))


def test_a_cache_size_of_thousands_of_digits_warns_and_keeps_the_default() -> None:
    out = run_child("""
        import os, warnings
        os.environ["PYGRAD_CACHE_BYTES"] = "9" * 5000
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import pygrad as pg
            limit = pg.get_cache_limit()  # the C engine loads on first use
        print(any("PYGRAD_CACHE_BYTES" in str(x.message) for x in w), limit == pg.get_cache_limit() > 0)
        print((pg.ones(3) * 2).tolist())
    """)
    assert out.split("\n")[:2] == ["True True", "[2.0, 2.0, 2.0]"]
