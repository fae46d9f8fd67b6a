"""Everything the build needs is in pyproject.toml, except the cffi hook."""

from setuptools import setup

setup(cffi_modules=["pybind/build_ffi.py:ffibuilder"])
