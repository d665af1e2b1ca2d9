#!/usr/bin/env bash
# Here, before a device call: download into .whl/ what the GPU machine lacks for
# scripts/gpu_bench.sh (it has JAX, numpy, h5py, ml-dtypes, rich, absl-py and packaging, not
# Keras, namex or optree). x86-64 CPython 3.12 wheels, the versions this project tests with.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
rm -rf .whl
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    "keras==$(version keras)" \
    "optree==$(version optree)" \
    "namex==$(version namex)"
du -sh .whl
