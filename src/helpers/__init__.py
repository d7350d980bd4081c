"""galactic-clustering helpers: the code behind the chapters, by the stage of the study it serves.

Data (chapter 1): :mod:`~helpers.schema` (the Galaxy Zoo questionnaire), :mod:`~helpers.dataset`
(reading and checking a Kaggle-layout folder), :mod:`~helpers.images` (every image read and cut
one way), :mod:`~helpers.imagecache`, :mod:`~helpers.labels` (one label per galaxy),
:mod:`~helpers.synth` (the mock Galaxy Zoo) and :mod:`~helpers.realism` (how real it looks).

The network (chapters 2-3): :mod:`~helpers.network` (architecture, save/load),
:mod:`~helpers.training`, :mod:`~helpers.augment`, :mod:`~helpers.inference` (predictions and
codes), :mod:`~helpers.metrics` (RMSE), :mod:`~helpers.features`.

The codes (chapters 3-7): :mod:`~helpers.neighbours` (the one k-NN engine),
:mod:`~helpers.reduce` (PCA, LDA, t-SNE, UMAP), :mod:`~helpers.cluster`, :mod:`~helpers.compare`,
:mod:`~helpers.evaluate` (the split, scores with intervals), :mod:`~helpers.place` (new galaxies
on the maps), :mod:`~helpers.similar`.

Survey scale: :mod:`~helpers.survey` (featurize on Dask), :mod:`~helpers.cutouts` (FITS,
manifests), :mod:`~helpers.store` (paths and URLs).

The book and the run: :mod:`~helpers.study` (what every chapter does first and last),
:mod:`~helpers.plots`, :mod:`~helpers.interactive`, :mod:`~helpers.artifacts`,
:mod:`~helpers.reference` (the replay's tolerances), :mod:`~helpers.runner`,
:mod:`~helpers.preflight`, :mod:`~helpers.progress`, :mod:`~helpers.cli`, :mod:`~helpers.paths`,
:mod:`~helpers.errors`, and two Sphinx extensions (:mod:`~helpers.sphinx_fixes`,
:mod:`~helpers.sphinx_maps`).
"""

import os as _os

# Pin torch's CPU kernels before anything imports torch, so that a run repeats bit for bit on
# any x86-64 machine with the same thread count (why: helpers.study.CPU_KERNELS). Kernels,
# Dask workers and subprocesses started from here inherit the setting.
for _key, _value in {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}.items():
    _os.environ.setdefault(_key, _value)
