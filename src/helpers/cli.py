"""Command line: ``python -m helpers {validate,synth,run,...}``.

Each subcommand parses its arguments here and hands them to the module that does the work,
so that the notebooks and the command line call the same functions. Mistakes a user can make
end in one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.errors import ParameterError, UserError


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a Kaggle-layout Galaxy Zoo folder (table + images)",
        description="Check DATA_DIR/training_solutions_rev1.csv and DATA_DIR/images_training_rev1/. "
        "Also reports images_test_rev1/ when present (chapter 7 of the real-data profile reads it).",
        epilog="exit status: 0 usable and clean; 3 usable, with warnings (e.g. images converted to RGB; "
               "1 with --strict); 1 not usable; 2 a usage error (unknown option, missing argument); "
               "130 interrupted.",
    )
    p.add_argument("data_dir", type=Path)
    p.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                   help="per-image problems stop the run (error, default) or drop those galaxies (skip)")
    p.add_argument("--image-size", type=int, default=424,
                   help="expected width and height in pixels (0: accept any size)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="allowed deviation of the decision-tree sums (default 0.01)")
    p.add_argument("--no-images", action="store_true", help="check the table only")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("--json", type=Path, default=None, help="also write the full report as JSON")
    p.set_defaults(func=_run_validate)


def _run_validate(args: argparse.Namespace) -> int:
    """``python -m helpers validate DATA_DIR``: print the summary, return the exit status.

    0: usable and clean; 3: usable with warnings (1 with ``--strict``); 1: not usable.
    ``--json FILE`` also writes the full report (every problem).
    """
    from collections import Counter

    from helpers.data.dataset import WARNINGS_EXIT, check_test_folder, validate_dataset
    from helpers.data.schema import IMAGE_SIZE

    report = validate_dataset(
        args.data_dir,
        on_bad_image=getattr(args, "on_bad_image", "error"),
        image_size=getattr(args, "image_size", IMAGE_SIZE),
        tolerance=getattr(args, "tolerance", None),
        check_images=not getattr(args, "no_images", False),
    )
    strict = bool(getattr(args, "strict", False))
    print(f"checked {report.data_dir}")
    for line in report.summary_lines():
        print(line)
    code = report.exit_code
    test_line, test_bad = check_test_folder(Path(args.data_dir))
    print(test_line)
    if test_bad and code == 0:
        code = WARNINGS_EXIT
    if code == WARNINGS_EXIT and strict:
        code = 1
    shown = sum(min(3, n) for n in Counter(p.kind for p in report.problems).values())
    json_path = getattr(args, "json", None)
    if json_path is not None:
        _write_json(json_path, report.to_dict())
        print(f"full report: {json_path}")
    elif len(report.problems) > shown:
        print("(only the first examples are shown; --json FILE writes every problem)")
    if code == 0:
        print("ok: the data folder is usable")
    elif report.usable:
        print("usable, with warnings" + (" (treated as errors: --strict)" if strict else ""))
    else:
        print("not usable: fix the errors above")
    sys.stdout.flush()
    return code


def _write_json(path: Path, payload: dict) -> None:
    import contextlib
    import json
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.parent and not path.parent.is_dir():
            raise FileNotFoundError(f"folder {path.parent} does not exist")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ParameterError(f"cannot write --json {path}: {exc.strerror or exc}") from None


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a mock Galaxy Zoo (Kaggle layout + ground truth) from a seed",
        description="Write OUT_DIR/training_solutions_rev1.csv, OUT_DIR/images_training_rev1/*.jpg "
        "and OUT_DIR/ground_truth.csv, deterministically from --seed.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument("-n", "--n", type=int, required=True, help="number of labelled galaxies")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-test", type=int, default=0,
                   help="extra unlabelled galaxies in images_test_rev1/ (their truth is kept)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    """``python -m helpers synth OUT_DIR -n N --seed S``: write the mock, print a summary."""
    from helpers import progress
    from helpers.data.synth import write_mock

    progress.log_to("stdout")  # the command's output is a log: `synth ... > log` holds the progress
    info = write_mock(args.out_dir, args.n, args.seed, n_test=args.n_test, workers=args.workers,
                      overwrite=args.overwrite, progress=True)
    counts = ", ".join(f"{k} {v}" for k, v in info["label_counts"].items() if v)
    test = f" (+{info['n_test']} unlabelled test images)" if info["n_test"] else ""
    print(f"Wrote a mock Galaxy Zoo of {info['n']} galaxies{test} to {info['out_dir']} "
          f"(seed {info['seed']}, {info['workers']} workers) in {info['seconds']:.1f} s. "
          f"True labels: {counts}.")
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the chapters with papermill on a parameter profile, then build the book",
        epilog=EXIT_STATUS,
    )
    p.add_argument("--params", type=Path, default=Path("params/demo.yml"))
    p.add_argument("--only", nargs="*", default=None, help="chapter stems to run (default: all)")
    p.add_argument("--no-book", action="store_true", help="run the chapters, skip jupyter-book")
    p.add_argument("--committed", action="store_true",
                   help="run nothing: render the committed notebooks into _build/html")
    p.add_argument("--refresh", action="store_true",
                   help="write the executed notebooks back as the committed outputs")
    p.add_argument("--check", action="store_true",
                   help="run nothing: check the profile's parameters, data folders, weights, disk "
                        "space and scheduler, and exit (0: all good, 1: problems listed)")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="chapters run at the same time where one does not read another's results "
                        "(default 2; 1: one after the other; the results are the same)")
    p.set_defaults(func=_run_run)

    p = sub.add_parser("prepare", help="generate the profile's mock data if it is missing", epilog=EXIT_STATUS)
    p.add_argument("--params", type=Path, default=Path("params/demo.yml"))
    p.set_defaults(func=_run_prepare)


def _run_run(args: argparse.Namespace) -> int:
    """``python -m helpers run``: the chapters of a profile, then the book (or only the checks,
    or only the book of the committed notebooks)."""
    from helpers import progress

    progress.log_to("stdout")  # the run's output is a log, progress included
    if args.committed:
        from helpers.book.build import build_committed_book

        build_committed_book()
        return 0
    from helpers.runner import run

    _check_count(args.jobs, "--jobs", "chapters at a time")
    run(args.params, only=args.only, book=not args.no_book, refresh=args.refresh, check=args.check,
        jobs=args.jobs)
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    """``python -m helpers prepare``: make the profile's mock when it is missing, print its folder."""
    from helpers import paths, progress
    from helpers.profiles import load_profile
    from helpers.runner import prepare_data

    progress.log_to("stdout")
    print(paths.relative(prepare_data(load_profile(args.params))))
    return 0


def _add_featurize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "featurize",
        help="CNN codes of a folder of galaxy images, in shards on Dask (resumable)",
        description="Run a trained run's network over IMAGES in shards on a Dask cluster (a local "
                    "one sized to the machine by default) and write partitioned Parquet "
                    "(GalaxyID + codes) to OUT. Finished shards survive an interruption and are "
                    "skipped on the next run; unreadable images are listed in OUT/_bad_images.csv.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("--run", required=True,
                   help="run folder with model.json + model.safetensors (a path or URL)")
    p.add_argument("--images", required=True,
                   help="folder of <GalaxyID>.jpg images, or a manifest (.csv/.parquet) with an ID "
                        "and a path/URL column (JPEG, PNG or FITS cutouts); a path or an fsspec "
                        "URL (s3://bucket/prefix ...)")
    p.add_argument("--out", required=True,
                   help="output folder (part-NNNNN.parquet); a path or an fsspec URL")
    p.add_argument("--id-column", default="id", help="the manifest's ID column (default: id)")
    p.add_argument("--path-column", default="path",
                   help="the manifest's path-or-URL column (default: path)")
    p.add_argument("--fits-stretch", choices=["asinh", "linear"], default="asinh",
                   help="how FITS fluxes become 0-255 (default asinh; see helpers.data.cutouts)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://host:8786) of a trusted cluster; "
                        "'none': no Dask, one process; default: a local cluster")
    p.add_argument("--workers", type=int, default=None, help="local cluster processes (default: cores)")
    p.add_argument("--shard-size", type=int, default=512, help="images per task (default 512)")
    p.add_argument("--layer", choices=["body", "hidden"], default="body")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--overwrite", action="store_true",
                   help="start OUT again when it holds codes made from other inputs")
    p.set_defaults(func=_run_featurize)


def _run_featurize(args: argparse.Namespace) -> int:
    from helpers.codes.survey import featurize

    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers {args.workers}: use a positive number")
    featurize(args.run, args.images, args.out, scheduler=args.scheduler, workers=args.workers,
              shard_size=args.shard_size, layer=args.layer, batch_size=args.batch_size,
              overwrite=args.overwrite, id_column=args.id_column, path_column=args.path_column,
              fits_stretch=args.fits_stretch)
    return 0


def _add_similar(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similar",
        help="the galaxies most similar to a GalaxyID or an image (cosine on CNN codes)",
        description="Print the K galaxies of a feature set whose CNN codes are nearest the query's "
                    "(cosine similarity). QUERY is a GalaxyID of the feature set or the path of an "
                    "image (turned into a code by the run's network).",
        epilog=EXIT_STATUS,
    )
    p.add_argument("query", help="GalaxyID (or a manifest's ID), or the path or URL of a cutout")
    p.add_argument("-k", type=int, default=12, help="neighbours to return (default 12)")
    p.add_argument("--features", default="data/processed/demo/features.parquet",
                   help="features.parquet of a run, or a featurize output folder (path or URL)")
    p.add_argument("--run", default=None,
                   help="run folder (model, labels); default: the folder of --features")
    p.add_argument("--fits-stretch", choices=["asinh", "linear"], default="asinh",
                   help="how a FITS query becomes 0-255 (as featurize did)")
    p.add_argument("--engine", choices=["exact", "ann"], default="exact",
                   help="exact brute force (default) or pynndescent's approximate index")
    p.add_argument("--images", type=Path, action="append", default=None,
                   help="folder(s) of <GalaxyID>.jpg, for image paths and --sheet (repeatable)")
    p.add_argument("--sheet", type=Path, default=None, help="also draw the neighbours into this PNG")
    p.set_defaults(func=_run_similar)


def _run_similar(args: argparse.Namespace) -> int:
    import pandas as pd

    from helpers.codes.similar import sheet, similar

    table = similar(args.query, features=args.features, k=args.k, run=args.run, engine=args.engine,
                    images=args.images, fits_stretch=args.fits_stretch)
    with pd.option_context("display.width", 120, "display.max_colwidth", 60):
        print(table.drop(columns=["image_path"], errors="ignore").to_string(index=False))
    if args.sheet:
        query_image = None if args.query.isdigit() else args.query
        if query_image is None and args.images:
            from helpers.codes.similar import find_image

            query_image = find_image(int(args.query), [Path(f) for f in args.images])
        print(sheet(query_image, table, args.sheet, title=f"most similar to {args.query}"))
    return 0


CODES_HELP = ("a run folder (holding features.parquet), a run's features.parquet, or a featurize "
              "output folder; a path or an fsspec URL")


def _add_odd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "odd",
        help="the most unusual galaxies of a codes table (a novelty score for every galaxy)",
        description="Score every galaxy of CODES by how unlike the rest of the table it is "
                    "(helpers.codes.novelty; default: an isolation forest on the whitened codes), "
                    "write GalaxyID,novelty for all of them to --out, highest first, and print "
                    "the top N.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("codes", metavar="CODES", help=CODES_HELP)
    p.add_argument("-n", type=int, default=12, help="galaxies to print and draw (default 12)")
    p.add_argument("--out", type=Path, required=True, metavar="CSV",
                   help="CSV to write (GalaxyID,novelty)")
    p.add_argument("--method", choices=["iforest", "knn", "lof"], default="iforest",
                   help="isolation forest (default), distance to the k-th most similar galaxy, "
                        "or the local outlier factor")
    p.add_argument("-k", type=int, default=None,
                   help="neighbours of knn (default 20) and lof (default 10)")
    p.add_argument("--engine", choices=["exact", "ann"], default=None,
                   help="neighbour engine of knn and lof (default: exact up to 50,000 galaxies, "
                        "pynndescent's approximate index above, for k <= 20)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--images", type=Path, action="append", default=None, metavar="FOLDER",
                   help="folder(s) of <GalaxyID>.jpg, for --sheet (repeatable)")
    p.add_argument("--sheet", type=Path, default=None, metavar="PNG",
                   help="also draw the top N into this PNG")
    p.set_defaults(func=_run_odd)


def _check_count(value: int, option: str, what: str) -> None:
    if value < 1:
        raise ParameterError(f"{option} {value}: the number of {what} must be a whole number >= 1")


def _write_ranking(table, out: Path) -> None:
    from helpers.artifacts import write_atomic

    try:
        write_atomic(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    except OSError as exc:
        raise ParameterError(f"cannot write --out {out}: {exc.strerror or exc}") from None


def _print_top(table, labels, n: int) -> None:
    import pandas as pd

    top = table.head(n).copy()
    top.insert(0, "rank", range(1, len(top) + 1))
    if labels is not None:
        top["label"] = labels
    with pd.option_context("display.width", 120, "display.max_colwidth", 60):
        print(top.to_string(index=False))


def _run_odd(args: argparse.Namespace) -> int:
    from helpers.codes import novelty

    _check_count(args.n, "-n", "galaxies to show")
    if args.k is not None:
        _check_count(args.k, "-k", "neighbours")
    if args.threads is not None:
        _check_count(args.threads, "--threads", "threads")
    ids, codes, run = novelty.load_codes(args.codes)
    scores = novelty.novelty_scores(codes, args.method, k=args.k, engine=args.engine,
                                    n_jobs=args.threads)
    table = novelty.ranked(ids, scores, "novelty")
    _write_ranking(table, args.out)
    labels = novelty.run_labels(run, table["GalaxyID"].to_numpy()[:args.n])
    print(f"{len(table):,} galaxies scored ({args.method}), the most unusual first; all in {args.out}")
    _print_top(table, labels, args.n)
    if args.sheet:
        print(novelty.sheet(table.head(args.n), "novelty", args.sheet, args.images,
                            title=f"the {min(args.n, len(table))} most unusual galaxies ({args.method})"))
    return 0


def _add_like(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "like",
        help="galaxies like a handful of examples, taken as a group (rank a codes table)",
        description="Rank every galaxy of CODES by how much it resembles the example galaxies of "
                    "EXAMPLES as a group (helpers.codes.novelty; default: a logistic regression of "
                    "the examples against the rest), print the top N and, with --out, write "
                    "GalaxyID,score for every galaxy but the examples, highest first.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("examples", type=Path, metavar="EXAMPLES",
                   help="file of example GalaxyIDs: one a line, or a CSV with a GalaxyID column "
                        "(at least 3)")
    p.add_argument("codes", metavar="CODES", help=CODES_HELP)
    p.add_argument("-n", type=int, default=12, help="galaxies to print and draw (default 12)")
    p.add_argument("--out", type=Path, default=None, metavar="CSV",
                   help="CSV to write (GalaxyID,score)")
    p.add_argument("--method", choices=["logistic", "nearest", "centroid"], default="logistic",
                   help="logistic regression of the examples against the rest (default), mean "
                        "similarity to the 3 most similar examples, or similarity to their centroid")
    p.add_argument("--images", type=Path, action="append", default=None, metavar="FOLDER",
                   help="folder(s) of <GalaxyID>.jpg, for --sheet (repeatable)")
    p.add_argument("--sheet", type=Path, default=None, metavar="PNG",
                   help="also draw the examples and the top N into this PNG")
    p.set_defaults(func=_run_like)


def _run_like(args: argparse.Namespace) -> int:
    from helpers.codes import novelty

    _check_count(args.n, "-n", "galaxies to show")
    ids, codes, run = novelty.load_codes(args.codes)
    rows = novelty.read_examples(args.examples, ids)
    scores = novelty.resemblance(codes, rows, args.method)
    table = novelty.ranked(ids, scores, "score", leave_out=rows)
    if args.out:
        _write_ranking(table, args.out)
    labels = novelty.run_labels(run, table["GalaxyID"].to_numpy()[:args.n])
    where = f"; all in {args.out}" if args.out else ""
    print(f"{len(table):,} galaxies ranked by resemblance to {len(rows)} examples ({args.method}), "
          f"the most alike first{where}")
    _print_top(table, labels, args.n)
    if args.sheet:
        print(novelty.sheet(table.head(args.n), "score", args.sheet, args.images,
                            examples=ids[rows], title=f"most like {len(rows)} examples ({args.method})"))
    return 0


EXIT_STATUS = ("exit status: 0 success; 1 a problem named on stderr (bad data, parameters or files); "
               "2 a usage error (unknown option, missing argument); 130 interrupted (Ctrl-C), nothing "
               "half-written kept. validate also returns 3: usable, with warnings.")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0],
                                     epilog=EXIT_STATUS)
    parser.add_argument("--version", action="version",
                        version=f"galactic-clustering {version('galactic-clustering')}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_validate(sub)
    _add_synth(sub)
    _add_run(sub)
    _add_featurize(sub)
    _add_similar(sub)
    _add_odd(sub)
    _add_like(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # Ctrl-C stops us even if the
        signal.signal(signal.SIGINT, signal.default_int_handler)  # parent ignored SIGINT
    from helpers import progress

    args = build_parser().parse_args(argv)
    stream = progress.current_stream()  # a command may send progress to stdout: given back after
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept", file=sys.stderr)
        return 130
    finally:
        progress.log_to(stream)
