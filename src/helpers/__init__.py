"""galactic-clustering helpers: data layer, mock Galaxy Zoo, labels, runner."""

import os as _os

# Pin torch's CPU kernels before anything imports torch, so that a run repeats bit for bit on
# any x86-64 machine with the same thread count (why: helpers.study.CPU_KERNELS). Kernels,
# Dask workers and subprocesses started from here inherit the setting.
for _key, _value in {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}.items():
    _os.environ.setdefault(_key, _value)
