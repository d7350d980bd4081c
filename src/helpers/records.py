"""What each chapter keeps: its part of ``metrics.json``, its headlines and the book's glued values.

The bookkeeping at the end of a chapter lives here, one function per chapter, so that the
chapter closes with two short lines::

    kept = records.compare(...)              # a helpers.study.Kept
    study.close_chapter(chapter, "compare", kept)

- ``record``: everything ``metrics.json`` keeps of the chapter (scores with their intervals);
- ``headlines``: the numbers (and verdicts) the nbval replay compares with the committed run,
  each within its measured tolerance (``notebooks/tolerances.yml``; a test checks that every
  headline has one);
- ``glued``: the values the chapter's summary and the book's pages quote
  (``{glue:text}`name```), formatted here so that no number is typed into prose.
"""

from __future__ import annotations

from helpers.scores import Estimate, verdict
from helpers.sentences import label_truth_sentence
from helpers.study import Kept


def _round(values: dict, digits: int = 4) -> dict:
    return {k: round(float(v), digits) for k, v in values.items()}


def labels(table, report, counts, changed, recovery) -> Kept:
    """Chapter 1: the labels, how many changed from the seed's rule, and (mock) the truth."""
    accuracy = recovery.accuracy
    record = {
        "galaxies": int(len(table)), "images_checked": report.n_images,
        "skipped": len(report.skipped_ids), "converted": len(report.converted_ids),
        "label_counts": {k: int(v) for k, v in counts.items()},
        "changed_from_seed_rule": changed.count,
        "truth_accuracy": None if accuracy is None else round(accuracy, 4),
    }
    headlines = {} if accuracy is None else {"truth_accuracy": round(accuracy, 4)}
    glued = {"n_galaxies": int(len(table)), "top_label": counts.idxmax(),
             "truth_sentence": label_truth_sentence(accuracy), "n_changed": changed.count}
    return Kept(record, headlines, glued)


def claimed_verdicts(section: str, differences: dict[str, Estimate], *,
                     higher_is_better: bool = True) -> dict[str, str]:
    """The verdicts of ``differences`` that the book claims (``claims`` in the tolerances)."""
    from helpers import replay

    return {name: verdict(differences[name], higher_is_better=higher_is_better)
            for name in replay.claimed(section) if name in differences}


__all__ = ["labels", "claimed_verdicts"]
