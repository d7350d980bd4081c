"""galactic-clustering helpers: the code behind the chapters, in the order of the study's stages.

- :mod:`helpers.data` (chapter 1 and every reader of files): the Galaxy Zoo questionnaire
  (``schema``), reading and checking a Kaggle-layout folder (``dataset``), every image read and
  cut one way (``images``, ``imagecache``), survey cutouts and where files live (``cutouts``,
  ``store``), one label per galaxy (``labels``), the mock Galaxy Zoo (``synth``) and how real it
  looks (``realism``).
- :mod:`helpers.net` (chapters 2-3): the network's architecture and files (``network``), its
  training and augmentation (``training``, ``augment``), predictions and codes (``inference``),
  the RMSE of the vote fractions (``metrics``).
- :mod:`helpers.codes` (chapters 3-7 and survey scale): neighbours (``features``, and
  ``neighbours``, the one k-NN engine), maps (``reduce``: PCA, LDA, t-SNE, UMAP), clusterings
  (``cluster``) and their comparison (``compare``), new galaxies on the maps (``place``),
  similarity search (``similar``), unusual galaxies and galaxies like a group of examples
  (``novelty``) and featurizing surveys on Dask (``survey``).
- :mod:`helpers.book`: figures (``plots``), the interactive map (``interactive``), the rendering
  of the book by jupyter-book (``build``) and two Sphinx extensions loaded by ``_config.yml``
  (``sphinx_fixes``, ``sphinx_maps``).

Beside them, what every stage uses: the split and scores with intervals (``evaluate``), what
every chapter does first and last (``study``), atomic files and ``metrics.json``
(``artifacts``), the replay's tolerances (``replay``), progress on the terminal (``progress``,
which also relays a running chapter's lines), ``paths`` and ``errors``. Imports point down this
list: ``data`` needs none of the others, ``net`` only ``data``, ``codes`` both (and ``book`` only
for the ``similar`` command's picture sheet), ``book`` any.

Running the study, on top of all of them: a parameter profile and the parameters each chapter
declares (``profiles``), the time a chapter should take (``estimates``), the checks before a run
(``preflight``), one chapter executed with papermill (``chapters``), a whole run from the data to
the book (``runner``), and every command's arguments, printing and exit status (``cli``). Of
these, each imports only the ones before it (``runner`` also ``book.build``, which of them
imports only ``profiles``, for the list of chapters), so ``cli`` alone imports ``runner``.
"""
