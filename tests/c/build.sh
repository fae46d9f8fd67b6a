#!/usr/bin/env sh
# build.sh: compiles tests/c/test_pygrad.c with the engine's sources into one
# executable. Usage: tests/c/build.sh OUTPUT [extra compiler flags...]
#   tests/c/build.sh /tmp/test_pygrad                       # plain (-O1 -g)
#   tests/c/build.sh /tmp/test_pygrad_asan -fsanitize=address,undefined -fno-omit-frame-pointer
# CC overrides the compiler (default: cc). The flags follow pybind/build_ffi.py
# (C11, warnings on, no FMA contraction), with warnings as errors.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUTPUT [CFLAGS...]}
shift
exec "${CC:-cc}" -std=c11 -O1 -g -Wall -Wextra -Werror -ffp-contract=off -fno-strict-aliasing -fno-math-errno \
    -D_POSIX_C_SOURCE=200809L -I"$root/csrc" "$@" \
    -o "$out" "$here/test_pygrad.c" "$root"/csrc/*.c -lm -lpthread
