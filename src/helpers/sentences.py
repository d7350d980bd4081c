"""The sentences the book states, built from the run's numbers (never typed into prose).

Every chapter glues a few sentences for its summary and for the book's findings page. They all
live here, so that one rule holds throughout: **a difference is claimed only where the 95%
interval of the paired difference excludes zero**, and, where the run-to-run spread of the
difference is known (``notebooks/tolerances.yml``), only where it is more than twice that
spread (:func:`helpers.scores.robust`); otherwise the sentence gives the interval and draws no
verdict.

- :func:`compare_sentence`: two scores on the same galaxies (chapters 2, 3, 6);
- :func:`ranking_sentence`: several maps by trustworthiness (chapter 4);
- :func:`stability_sentence`: clusterings across seeds (chapter 5);
- :func:`family_sentence`, :func:`clustering_truth_sentence`: clusterings against the label
  families and the mock's truth (chapter 6);
- :func:`label_truth_sentence`: the vote labels against the mock's truth (chapter 1);
- :func:`stress_sentence`, :func:`growth_sentence`: the network when the pictures change
  (chapter 2);
- :func:`heldback_sentence`: new galaxies against the mock's truth (chapter 7);
- :func:`search_sentence`: the codes at work, a search against its baselines (chapter 9).
"""

from __future__ import annotations

import numpy as np

from helpers.scores import VERDICTS, Estimate, robust, verdict


def compare_sentence(name_a: str, a: Estimate, name_b: str, b: Estimate, diff: Estimate, *,
                     what: str = "accuracy", spec: str = ".1%", higher_is_better: bool = True,
                     singular: bool = False, spread: float | None = None) -> str:
    """One sentence comparing two scores on the same galaxies, claiming a difference only where
    the paired interval ``diff`` (a - b) excludes zero and, when the difference's run-to-run
    ``spread`` is given, only where it is more than twice that; otherwise the sentence gives the
    interval and says why it draws no verdict.

    >>> a, b = Estimate(0.7, 0.66, 0.74, 400), Estimate(0.5, 0.45, 0.55, 400)
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.2, 0.15, 0.25, 400))
    'the codes do better than raw pixels: accuracy 70.0% [66.0%, 74.0%] against 50.0% [45.0%, 55.0%]'
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.02, -0.01, 0.05, 400))[:60]
    'the codes and raw pixels are not told apart: accuracy 70.0% '
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.05, 0.02, 0.08, 400),
    ...                  spread=0.04)[-77:]
    'a second training moves this difference by up to 4.0%, so no verdict is drawn'
    """
    scores = f"{what} {a.format(spec)} against {b.format(spec)}"
    said = verdict(diff, higher_is_better=higher_is_better)
    if said == VERDICTS[2]:
        return (f"{name_a} and {name_b} are not told apart: {scores} (the 95% interval of the "
                f"difference, {diff.format(spec)}, includes zero)")
    if not robust(diff, spread):
        return (f"{name_a} and {name_b} differ by {diff.format(spec)} on this run ({scores}); a "
                f"second training moves this difference by up to {spread:{spec}}, so no verdict is drawn")
    verb = "does" if singular else "do"  # name_a is one thing ("the network") or several ("the codes")
    return f"{name_a} {verb} {said} than {name_b}: {scores}"


def ranking_sentence(values: dict[str, float], spread: dict[str, float], *,
                     what: str = "keep neighbourhoods", spec: str = ".3f") -> str:
    """Which of ``values`` (higher is better) stand apart from the best, counting as tied every
    one within twice the run-to-run spread (``spread``: each value's tolerance) of the two: a
    ranking another training would not repeat is not stated.

    >>> ranking_sentence({"PCA": 0.97, "t-SNE": 0.99, "UMAP": 0.985},
    ...                  {"PCA": 0.09, "t-SNE": 0.005, "UMAP": 0.005})
    'PCA, t-SNE and UMAP keep neighbourhoods equally well within twice their run-to-run spread (PCA 0.970, t-SNE 0.990, UMAP 0.985)'
    >>> ranking_sentence({"PCA": 0.90, "t-SNE": 0.99}, {"PCA": 0.005, "t-SNE": 0.005})
    't-SNE keeps neighbourhoods best (PCA 0.900, t-SNE 0.990)'
    """
    top = max(values, key=values.get)
    tied = [k for k, v in values.items() if values[top] - v <= 2 * max(spread[top], spread[k])]
    shown = ", ".join(f"{k} {v:{spec}}" for k, v in values.items())
    if len(tied) == 1:
        verb = what.replace("keep ", "keeps ", 1) if what.startswith("keep ") else what
        return f"{top} {verb} best ({shown})"
    names = ", ".join(tied[:-1]) + f" and {tied[-1]}"
    behind = [k for k in values if k not in tied]
    rest = f"; {', '.join(behind)} less well" if behind else ""
    return f"{names} {what} equally well within twice their run-to-run spread{rest} ({shown})"


def stability_sentence(mean_ari: dict[str, float]) -> str:
    """How much each clustering changes between seeds (the mean ARI between every pair of seeds).

    >>> stability_sentence({"kmeans8 on pca7": 0.97, "HDBSCAN on UMAP-7": 0.6})
    'kmeans8 on pca7 barely changes (mean ARI between seeds 0.97); HDBSCAN on UMAP-7 changes noticeably (0.60).'
    """
    parts = []
    for i, (name, value) in enumerate(mean_ari.items()):
        kind = ("barely changes" if value >= 0.9 else "changes noticeably" if value >= 0.5
                else "is largely an accident of the seed")
        parts.append(f"{name} {kind} ({'mean ARI between seeds ' if i == 0 else ''}{value:.2f})")
    return "; ".join(parts) + "."


def family_sentence(scores: dict[str, dict[str, float]], differences: dict[str, Estimate]) -> str:
    """What the density clusterings' AMI against the label families (rather than the labels) says,
    claiming a level only where the paired interval of the difference excludes zero.

    >>> s = {"hdbscan_tsne2": {"labels": 0.30, "families": 0.45}}
    >>> family_sentence(s, {"hdbscan_tsne2": Estimate(0.15, 0.10, 0.20, 900)})[-68:]
    'hdbscan_tsne2 (difference 0.150 [0.100, 0.200]) sit at the families.'
    """
    if not scores:
        return "No density clustering was made."
    mean_l = float(np.mean([v["labels"] for v in scores.values()]))
    mean_f = float(np.mean([v["families"] for v in scores.values()]))
    groups = {"families": [], "labels": [], "unresolved": []}
    for name, diff in differences.items():
        key = "families" if diff.low > 0 else "labels" if diff.high < 0 else "unresolved"
        groups[key].append(f"{name} (difference {diff})")
    parts = []
    if groups["families"]:
        parts.append(f"{', '.join(groups['families'])} sit at the families.")
    if groups["labels"]:
        parts.append(f"{', '.join(groups['labels'])} follow the finer labels more closely than the families.")
    if groups["unresolved"]:
        parts.append(f"For {', '.join(groups['unresolved'])} the 95% interval of the difference "
                     "includes zero: the level is not resolved.")
    return (f"Scored on the unseen galaxies against the families of labels instead of the labels, the "
            f"density clusterings reach a mean AMI of {mean_f:.2f} (against {mean_l:.2f}). " + " ".join(parts))


def clustering_truth_sentence(clustering_ami: float | None, votes_ami: float | None) -> str:
    """The best clustering's AMI against the mock's truth, beside the vote labels' own
    (``None``: data without truth).

    >>> clustering_truth_sentence(0.41, 0.55)[:60]
    'Against the drawn morphology of the mock, the same clusterin'
    >>> clustering_truth_sentence(None, None)
    'This data has no ground truth beyond the votes.'
    """
    if clustering_ami is None:
        return "This data has no ground truth beyond the votes."
    relation = ("more closely than the vote labels do (votes are noisy, so a clustering can beat them)"
                if clustering_ami > votes_ami else "less closely than the vote labels do")
    return (f"Against the drawn morphology of the mock, the same clustering reaches an AMI of "
            f"{clustering_ami:.2f} on the unseen galaxies, {relation} ({votes_ami:.2f}).")


def label_truth_sentence(accuracy: float | None) -> str:
    """Chapter 1's sentence on the vote labels against the mock's truth (``None``: real data).

    >>> label_truth_sentence(0.8123)
    'the labels match the drawn morphology for 81.2% of the mock galaxies'
    """
    if accuracy is None:
        return "the real data has no ground truth to check them against"
    return f"the labels match the drawn morphology for {accuracy:.1%} of the mock galaxies"


def stress_sentence(name_a: str, name_b: str, clean: tuple[Estimate, Estimate, Estimate],
                    stressed: tuple[Estimate, Estimate, Estimate]) -> str:
    """Two networks on the hold-out images as drawn and on the stressed ones: each of ``clean``
    and ``stressed`` is (RMSE of a, RMSE of b, paired difference a - b); lower is better.

    >>> e = Estimate(0.12, 0.11, 0.13, 400)
    >>> stress_sentence("A", "B", (e, e, Estimate(0.0, -0.01, 0.01, 400)),
    ...                 (e, e, Estimate(-0.02, -0.03, -0.01, 400)))[-60:]
    'RMSE 0.1200 [0.1100, 0.1300] against 0.1200 [0.1100, 0.1300]'
    """
    def said(scores, what):
        return compare_sentence(name_a, scores[0], name_b, scores[1], scores[2], what=what,
                                spec=".4f", higher_is_better=False, singular=True)

    return ("on the hold-out images as drawn, " + said(clean, "RMSE")
            + "; on the stressed images, " + said(stressed, "mean RMSE"))


def growth_sentence(name: str, clean: Estimate, stressed: Estimate, rise: Estimate) -> str:
    """How one network's error moves from the images as drawn to the stressed ones, claimed
    only where the paired interval of the rise (stressed - clean) excludes zero.

    >>> growth_sentence("the network", Estimate(0.11, 0.10, 0.12, 400), Estimate(0.12, 0.11, 0.13, 400),
    ...                 Estimate(0.01, 0.005, 0.015, 400))[:58]
    'the hold-out RMSE of the network rises when the pictures c'
    """
    said = ("rises" if rise.low > 0 else "falls") if rise.excludes(0) else "does not change measurably"
    return (f"the hold-out RMSE of {name} {said} when the pictures change beyond its training "
            f"range: {clean.format('.4f')} on the images as drawn, a mean of "
            f"{stressed.format('.4f')} over the five stresses (difference {rise.format('.4f')})")


def heldback_sentence(scores: dict[str, Estimate]) -> str:
    """Chapter 7's sentence on the held-back mock galaxies (``{}``: nothing to score).

    >>> e = {"vs_truth": Estimate(0.71, 0.66, 0.76, 300), "vote_labels_vs_truth": Estimate(0.8, 0.75, 0.84, 300),
    ...      "majority": Estimate(0.2, 0.16, 0.25, 300)}
    >>> heldback_sentence(e)[:84]
    'Against the drawn morphology of these held-back mock galaxies the predicted label is'
    """
    if not scores:
        return "These galaxies have no truth to score the predictions against."
    return (f"Against the drawn morphology of these held-back mock galaxies the predicted label is "
            f"right {scores['vs_truth'].format('.0%')} of the time (95% interval; the held-back "
            f"galaxies' own vote labels: {scores['vote_labels_vs_truth'].format('.0%')}; always the "
            f"most common label: {scores['majority'].format('.0%')}).")


def search_sentence(what: str, codes: Estimate, others: dict[str, tuple[Estimate, Estimate]],
                    spread: dict[str, float | None], *, spec: str = ".3f") -> str:
    """A search on the codes set against each baseline (``others``: name -> (its score, the
    paired difference codes - it)), each part worded by :func:`compare_sentence`.

    >>> e = Estimate(0.7, 0.66, 0.74, 400)
    >>> search_sentence("AUC", e, {"raw pixels": (Estimate(0.6, 0.55, 0.65, 400),
    ...                                            Estimate(0.1, 0.05, 0.15, 400))}, {"raw pixels": 0.02})
    'the codes do better than raw pixels: AUC 0.700 [0.660, 0.740] against 0.600 [0.550, 0.650]'
    """
    return "; ".join(compare_sentence("the codes", codes, name, score, diff, what=what, spec=spec,
                                      spread=spread.get(name))
                     for name, (score, diff) in others.items())


__all__ = ["search_sentence", "compare_sentence", "ranking_sentence", "stability_sentence", "family_sentence",
           "clustering_truth_sentence", "label_truth_sentence", "stress_sentence", "growth_sentence",
           "heldback_sentence"]
