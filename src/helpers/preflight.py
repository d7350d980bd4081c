"""The checks before a run: everything a profile will need, in seconds, before hours of work.

``helpers run --params P --check`` runs them alone; every ``helpers run`` runs them first. Each
problem is one line naming the key (``chapters.02_train_resnet34.epochs``) or the path, and what
to do; all of them are reported at once.

What is checked:

- every parameter of every chapter: its type (against the chapter's own default), its range,
  names that refer to other parameters (``gallery`` against ``k_values`` and ``spaces``,
  ``compare_k`` against ``k_values``), and limits that depend on the data (t-SNE's perplexity
  against the number of galaxies);
- the data folder, its vote table and every image folder a chapter will read;
- the ImageNet weights when a profile asks for them, CUDA when it asks for mixed precision;
- the free disk space the image cache will take;
- a Dask scheduler, when one is named, answering on its port.
"""

from __future__ import annotations

import shutil
from typing import Any, get_args

from helpers import paths
from helpers.codes.novelty import MIN_EXAMPLES, NOVELTY_METHODS, RESEMBLANCE_METHODS
from helpers.codes.reduce import METHODS as SPACE_METHODS
from helpers.data.cutouts import STRETCHES
from helpers.data.dataset import ON_BAD_IMAGE
from helpers.data.labels import Agreement
from helpers.data.schema import IMAGE_SIZE, SOLUTIONS_CSV, TEST_IMAGES, TRAIN_IMAGES
from helpers.profiles import n_galaxies

# helpers.net's choices, retyped: importing helpers.net loads torch and fastai (seconds), which
# the checks do not need. tests/test_preflight.py checks that they equal the originals
# (helpers.net.network.ARCHS, HEADS and MIN_IMAGE_SIZE, augment.AUGMENTS, inference.LAYERS).
ARCHS = ("resnet18", "resnet34", "resnet50")
HEADS = ("linear", "tree")
MIN_IMAGE_SIZE = 32
AUGMENTS = ("none", "rotations", "nuisances")
LAYERS = ("body", "hidden")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _type_ok(value: Any, default: Any) -> bool:
    """Whether ``value`` has the kind of the chapter's default (None defaults accept anything)."""
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):  # a float may do (perplexity 30.5); the rules ask for whole numbers
        return _is_number(value)
    if isinstance(default, float):
        return _is_number(value) or value == "auto"
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    return True


def _int_at_least(low: int, *, none_ok: bool = False):
    def check(value: Any) -> str | None:
        if value is None and none_ok:
            return None
        if not _is_int(value) or value < low:
            return f"must be a whole number >= {low}" + (" (or null)" if none_ok else "")
        return None
    return check


def _number_in(low: float, high: float, *, none_ok: bool = False):
    def check(value: Any) -> str | None:
        if value is None and none_ok:
            return None
        if not _is_number(value) or not low <= value <= high:
            return f"must be a number in [{low}, {high}]" + (" (or null)" if none_ok else "")
        return None
    return check


def _choice(*choices: Any):
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {list(choices)}"
    return check


def _int_list(low: int):
    def check(value: Any) -> str | None:
        if not isinstance(value, list) or not value or not all(_is_int(v) and v >= low for v in value):
            return f"must be a non-empty list of whole numbers >= {low}"
        return None
    return check


def _spaces(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of chapter 4's maps (pca, lda, umap, tsne, or a name such as pca2)"
    bad = [v for v in value if not isinstance(v, str) or v.rstrip("0123456789") not in SPACE_METHODS]
    return f"names no map of chapter 4: {bad} (use pca, lda, umap, tsne or e.g. pca2)" if bad else None


def _lr(value: Any) -> str | None:
    return None if value is None or (_is_number(value) and 0 < value < 10) else \
        "must be a positive learning rate (e.g. 0.002) or null for the finder's suggestion"


# (chapter, parameter) -> check returning a problem or None
RULES = {
    ("01_labels", "on_bad_image"): _choice(*ON_BAD_IMAGE),
    ("01_labels", "label_threshold"): _number_in(0, 1, none_ok=True),
    ("01_labels", "agreement"): _choice(*get_args(Agreement)),
    ("01_labels", "examples_per_label"): _int_at_least(1),
    ("02_train_resnet34", "arch"): _choice(*ARCHS),
    ("02_train_resnet34", "image_size"): _int_at_least(MIN_IMAGE_SIZE),
    ("02_train_resnet34", "crop"): lambda v: None if _is_int(v) and 1 <= v <= IMAGE_SIZE else
        f"must be a whole number of pixels in 1-{IMAGE_SIZE} (the cutouts' side)",
    ("02_train_resnet34", "epochs"): _int_at_least(1),
    ("02_train_resnet34", "batch_size"): _int_at_least(1),
    ("02_train_resnet34", "lr"): _lr,
    ("02_train_resnet34", "valid_pct"): lambda v: None if _is_number(v) and 0 < v < 1 else
        "must be a share strictly between 0 and 1",
    ("02_train_resnet34", "n_train"): _int_at_least(10, none_ok=True),
    ("02_train_resnet34", "heads"): lambda v: None if isinstance(v, list) and v and
        all(h in HEADS for h in v) else f"must be a non-empty list of {' and/or '.join(map(repr, HEADS))}",
    ("02_train_resnet34", "augment"): _choice(*AUGMENTS),
    ("02_train_resnet34", "ablation"): lambda v: None if v is None or v in AUGMENTS
        else f"must be null (no comparison) or one of {', '.join(map(repr, AUGMENTS))}",
    ("03_extract_features", "layer"): _choice(*LAYERS),
    ("03_extract_features", "n_galaxies"): _int_at_least(10, none_ok=True),
    ("03_extract_features", "batch_size"): _int_at_least(1),
    ("04_reduce", "pca_input"): _int_at_least(2),
    ("04_reduce", "pca_components"): _int_at_least(2),
    ("04_reduce", "lda_components"): _int_at_least(2),
    ("04_reduce", "tsne_perplexity"): lambda v: None if _is_number(v) and v >= 2 else
        "must be a number >= 2",
    ("04_reduce", "tsne_learning_rate"): lambda v: None if v == "auto" or (_is_number(v) and v > 0) else
        "must be a positive number (scikit-learn's units) or 'auto'",
    ("04_reduce", "umap_neighbors"): _int_at_least(2),
    ("04_reduce", "umap_min_dist"): _number_in(0, 1),
    ("04_reduce", "umap_components"): _int_at_least(2),
    ("04_reduce", "trust_neighbors"): _int_at_least(1),
    ("05_cluster", "spaces"): _spaces,
    ("05_cluster", "elbow_max_k"): _int_at_least(2),
    ("05_cluster", "k_values"): _int_list(2),
    ("05_cluster", "dbscan_min_samples"): _int_at_least(2),
    ("05_cluster", "hdbscan_min_cluster_size"): _int_at_least(2),
    ("05_cluster", "gallery_central"): _int_at_least(1),
    ("05_cluster", "gallery_random"): _int_at_least(0),
    ("05_cluster", "thumbnail_size"): _int_at_least(16),
    ("05_cluster", "map_points"): _int_at_least(2, none_ok=True),
    ("05_cluster", "stability_seeds"): _int_at_least(2),
    ("06_compare", "compare_k"): _int_at_least(2),
    ("06_compare", "knn_k"): _int_at_least(1),
    ("06_compare", "folds"): _int_at_least(2),
    ("06_compare", "pixel_size"): _int_at_least(32),
    ("07_new_galaxies", "heldback_n"): _int_at_least(1),
    ("07_new_galaxies", "workers"): _int_at_least(1, none_ok=True),
    ("07_new_galaxies", "shard_size"): _int_at_least(1),
    ("07_new_galaxies", "vote_k"): _int_at_least(1),
    ("07_new_galaxies", "similar_k"): _int_at_least(1),
    ("07_new_galaxies", "fits_stretch"): _choice(*STRETCHES),
    ("08_mock_realism", "n_images"): _int_at_least(10),
    ("08_mock_realism", "examples"): _int_at_least(1),
    ("09_codes_at_work", "novelty_method"): _choice(*NOVELTY_METHODS),
    ("09_codes_at_work", "like_method"): _choice(*RESEMBLANCE_METHODS),
    ("09_codes_at_work", "examples"): _int_list(MIN_EXAMPLES),
    ("09_codes_at_work", "draws"): _int_at_least(1),
    ("09_codes_at_work", "top"): _int_at_least(1),
    ("09_codes_at_work", "oddest"): _int_at_least(1),
}


def check_parameters(profile, chapters: dict[str, dict[str, Any]],
                     defaults: dict[str, dict[str, Any]]) -> list[str]:
    """Problems with the values each chapter will run with (``chapters``: stem -> values;
    ``defaults``: stem -> the chapter's own defaults, whose types the values must have)."""
    problems = []
    for stem, values in chapters.items():
        for key, value in values.items():
            if key in ("data_dir", "run_dir"):
                continue
            where = f"{profile.path.name}: {stem}.{key} = {value!r}"
            default = defaults.get(stem, {}).get(key)
            if not _type_ok(value, default):
                problems.append(f"{where}: expected {type(default).__name__} like the chapter's default "
                                f"{default!r}")
                continue
            rule = RULES.get((stem, key))
            message = rule(value) if rule else None
            if message:
                problems.append(f"{where}: {message}")
    problems += _cross_checks(profile, chapters)
    return problems


def _cross_checks(profile, chapters: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    cluster = chapters.get("05_cluster", {})
    ks, spaces = cluster.get("k_values"), cluster.get("spaces")
    gallery = cluster.get("gallery")
    if isinstance(ks, list) and ks and isinstance(spaces, list) and isinstance(gallery, str):
        method, _, space = gallery.partition("_")
        known = {f"kmeans{k}" for k in ks}
        if method not in known or space not in spaces and space.rstrip("0123456789") not in SPACE_METHODS:
            problems.append(f"{profile.path.name}: 05_cluster.gallery = {gallery!r} names no clustering of "
                            f"chapter 5: use kmeans<k>_<space> with k in k_values {ks} and a space of "
                            f"{spaces}")
    compare_k = chapters.get("06_compare", {}).get("compare_k")
    if isinstance(ks, list) and ks and _is_int(compare_k) and compare_k not in ks:
        problems.append(f"{profile.path.name}: 06_compare.compare_k = {compare_k} is not among "
                        f"05_cluster.k_values {ks}: add it there or pick one of them")
    n = n_galaxies(profile)
    perplexity = chapters.get("04_reduce", {}).get("tsne_perplexity")
    coded = chapters.get("03_extract_features", {}).get("n_galaxies") or n
    if n and _is_number(perplexity) and coded and perplexity >= coded / 3:
        problems.append(f"{profile.path.name}: 04_reduce.tsne_perplexity = {perplexity} needs more than "
                        f"3 x {perplexity} galaxies; this run codes {coded}: lower it below {coded / 3:.0f}")
    neighbours = chapters.get("04_reduce", {}).get("umap_neighbors")
    if n and _is_int(neighbours) and coded and neighbours >= coded:
        problems.append(f"{profile.path.name}: 04_reduce.umap_neighbors = {neighbours} needs more galaxies "
                        f"than that; this run codes {coded}: lower it below {coded}")
    reduce = chapters.get("04_reduce", {})
    if _is_int(reduce.get("pca_components")) and _is_int(reduce.get("pca_input")) \
            and reduce["pca_components"] > reduce["pca_input"]:
        problems.append(f"{profile.path.name}: 04_reduce.pca_components = {reduce['pca_components']} is "
                        f"more than pca_input = {reduce['pca_input']}: lower it or raise pca_input")
    return problems


def check_resources(profile, chapters: dict[str, dict[str, Any]], *, download: bool = True) -> list[str]:
    """Problems with what the run reads or needs: folders, weights, CUDA, disk, a scheduler."""
    problems = []
    data = profile.data_dir
    if profile.mock is None and not (data / "mock.json").exists():  # a mock folder brings its own
        csv = data / SOLUTIONS_CSV
        if not csv.exists():
            problems.append(f"{paths.relative(csv)} is missing: download and unzip the Kaggle data "
                            "(README, 'Real data'), or point data_dir at it")
        if not (data / TRAIN_IMAGES).is_dir():
            problems.append(f"{paths.relative(data / TRAIN_IMAGES)}/ is missing: unzip images_training_rev1.zip "
                            f"in {paths.relative(data)}")
        reads_test = chapters.get("03_extract_features", {}).get("include_unlabelled") or (
            "07_new_galaxies" in chapters and chapters["07_new_galaxies"].get("new_images") is None)
        if reads_test and not (data / TEST_IMAGES).is_dir():
            problems.append(f"{paths.relative(data / TEST_IMAGES)}/ is missing (chapter 7 featurizes it"
                            + (", chapter 3 too" if chapters.get("03_extract_features", {}).get("include_unlabelled")
                               else "") + f"): unzip images_test_rev1.zip in {paths.relative(data)}, or set "
                            "07_new_galaxies.new_images to a folder of your own")
    new_images = chapters.get("07_new_galaxies", {}).get("new_images")
    if isinstance(new_images, str):
        from helpers.data import cutouts, store

        if store.is_url(new_images):
            pass  # checked when chapter 7 opens it (the store may need credentials from the environment)
        elif cutouts.is_manifest(new_images):
            if not paths.resolve(new_images).is_file():
                problems.append(f"{profile.path.name}: 07_new_galaxies.new_images = {new_images!r}: "
                                "the manifest does not exist")
        elif not paths.resolve(new_images).is_dir():
            problems.append(f"{profile.path.name}: 07_new_galaxies.new_images = {new_images!r} is not a "
                            "folder of cutouts nor a manifest (.csv / .parquet)")
    train = chapters.get("02_train_resnet34", {})
    if train.get("pretrained"):
        from helpers.errors import UserError
        from helpers.net.network import check_pretrained

        try:
            check_pretrained(train.get("arch", "resnet34"), download=download)
        except UserError as exc:
            problems.append(str(exc))
    if train.get("mixed_precision"):
        import torch

        if not torch.cuda.is_available():
            problems.append(f"{profile.path.name}: 02_train_resnet34.mixed_precision is true but this machine "
                            "has no CUDA GPU: set it to false (and channels_last) to run on the CPU")
    problems += _disk(profile, chapters)
    scheduler = chapters.get("07_new_galaxies", {}).get("scheduler")
    if scheduler:
        problems += _scheduler(profile, scheduler)
    return problems


def _disk(profile, chapters) -> list[str]:
    from helpers.data.imagecache import DEFAULT_CACHE_DIR

    n = n_galaxies(profile) or 0
    sizes = {int(chapters.get("02_train_resnet34", {}).get("image_size") or 64), 64}
    need = sum(n * s * s * 3 for s in sizes) * 1.1
    target = DEFAULT_CACHE_DIR
    while not target.exists():
        target = target.parent
    free = shutil.disk_usage(target).free
    if need > free:
        return [f"the image cache needs about {need / 1e9:.1f} GB in {paths.relative(DEFAULT_CACHE_DIR)} "
                f"({n:,} images at {sorted(sizes)} px) but only {free / 1e9:.1f} GB are free there"]
    return []


def _scheduler(profile, address: str) -> list[str]:
    from helpers.codes.survey import check_scheduler
    from helpers.errors import UserError

    try:
        check_scheduler(address)
    except UserError as exc:
        return [f"{profile.path.name}: 07_new_galaxies.scheduler: {exc}"]
    return []


def problems(profile, chapters: dict[str, dict[str, Any]], defaults: dict[str, dict[str, Any]], *,
             download: bool = True) -> list[str]:
    """Every problem found, parameters first. ``download=False`` never fetches ImageNet weights."""
    return check_parameters(profile, chapters, defaults) + check_resources(profile, chapters,
                                                                           download=download)


__all__ = ["problems", "check_parameters", "check_resources", "RULES"]

