"""The sentences the book states (helpers.sentences): each claims only what its numbers allow."""

import pytest

from helpers import sentences
from helpers.scores import Estimate

A, B = Estimate(0.70, 0.66, 0.74, 400), Estimate(0.50, 0.45, 0.55, 400)


@pytest.mark.parametrize(("diff", "spread", "said"), [
    (Estimate(0.20, 0.15, 0.25, 400), None, "the codes do better than raw pixels: accuracy 70.0%"),
    (Estimate(0.20, 0.15, 0.25, 400), 0.05, "the codes do better than raw pixels"),
    (Estimate(-0.20, -0.25, -0.15, 400), 0.05, "the codes do worse than raw pixels"),
    (Estimate(0.02, -0.01, 0.05, 400), 0.05, "the codes and raw pixels are not told apart"),
    (Estimate(0.08, 0.05, 0.11, 400), 0.05, "the codes and raw pixels differ by 8.0% [5.0%, 11.0%] on this run"),
])
def test_a_comparison_claims_a_verdict_only_beyond_its_interval_and_twice_its_spread(diff, spread, said):
    text = sentences.compare_sentence("the codes", A, "raw pixels", B, diff, spread=spread)
    assert text.startswith(said), text
    assert ("no verdict is drawn" in text) == said.endswith("on this run")


def test_lower_is_better_and_one_thing_takes_does():
    text = sentences.compare_sentence("the tree head", Estimate(0.09, 0.085, 0.095, 400), "the linear head",
                                      Estimate(0.1, 0.095, 0.105, 400), Estimate(-0.01, -0.015, -0.005, 400),
                                      what="RMSE", spec=".3f", higher_is_better=False, singular=True)
    assert text.startswith("the tree head does better than the linear head: RMSE 0.090")


def test_a_ranking_ties_what_lies_within_twice_the_spread():
    text = sentences.ranking_sentence({"PCA": 0.913, "t-SNE": 0.989, "UMAP": 0.985},
                                      {"PCA": 0.09, "t-SNE": 0.005, "UMAP": 0.005})
    assert text.startswith("PCA, t-SNE and UMAP keep neighbourhoods equally well")
    text = sentences.ranking_sentence({"PCA": 0.913, "t-SNE": 0.989, "UMAP": 0.985},
                                      {"PCA": 0.01, "t-SNE": 0.005, "UMAP": 0.005})
    assert text.startswith("t-SNE and UMAP keep neighbourhoods equally well") and "; PCA less well" in text
    assert sentences.ranking_sentence({"a": 0.9, "b": 0.5}, {"a": 0.01, "b": 0.01}).startswith("a keeps")


def test_stability_family_and_truth_sentences_follow_their_numbers():
    text = sentences.stability_sentence({"k-means": 0.95, "HDBSCAN": 0.6, "DBSCAN": 0.2})
    assert "k-means barely changes" in text and "HDBSCAN changes noticeably" in text
    assert "DBSCAN is largely an accident of the seed" in text
    fam = sentences.family_sentence({"h": {"labels": 0.3, "families": 0.4}, "d": {"labels": 0.3, "families": 0.3}},
                                    {"h": Estimate(0.1, 0.05, 0.15, 900), "d": Estimate(0.0, -0.02, 0.02, 900)})
    assert "h (difference" in fam and "sit at the families" in fam and "For d (difference" in fam
    assert sentences.family_sentence({}, {}) == "No density clustering was made."
    assert "more closely than the vote labels" in sentences.clustering_truth_sentence(0.6, 0.5)
    assert "less closely" in sentences.clustering_truth_sentence(0.4, 0.5)
    assert sentences.label_truth_sentence(None).startswith("the real data has no ground truth")


def test_the_stress_sentences_claim_a_change_only_where_resolved():
    e = Estimate(0.12, 0.11, 0.13, 400)
    assert "does not change measurably" in sentences.growth_sentence("it", e, e, Estimate(0.0, -0.001, 0.001, 400))
    assert "falls" in sentences.growth_sentence("it", e, e, Estimate(-0.01, -0.02, -0.005, 400))
    text = sentences.stress_sentence("A", "B", (e, e, Estimate(0.0, -0.01, 0.01, 400)),
                                     (e, e, Estimate(-0.02, -0.03, -0.01, 400)))
    assert "A and B are not told apart" in text and "A does better than B: mean RMSE" in text


def test_heldback_sentence():
    scores = {"vs_truth": Estimate(0.71, 0.66, 0.76, 300), "vote_labels_vs_truth": Estimate(0.8, 0.75, 0.84, 300),
              "majority": Estimate(0.2, 0.16, 0.25, 300)}
    assert "right 71% [66%, 76%] of the time" in sentences.heldback_sentence(scores)
    assert sentences.heldback_sentence({}).startswith("These galaxies have no truth")
