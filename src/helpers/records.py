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


ARCH_NAMES = {"resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50"}


def train(*, arch: str, saved: str, planned: dict, settings: dict, split, sample, scored,
          stressed, trained) -> Kept:
    """Chapter 2: the networks' hold-out RMSE beside the mean prediction, the stress test, and
    what was trained how. ``settings``: image_size, pretrained, augment, epochs, lr, crop."""
    from helpers.net import augment as nuisances

    networks = scored.networks
    test = stressed.test
    ablation = next((aug for _, (_, aug) in planned.items() if aug != settings["augment"]), None)
    record = {
        "arch": arch, "head_saved": saved, **settings, "ablation": ablation,
        "train_galaxies": len(split.train), "holdout_galaxies": len(split.valid),
        "unused_galaxies": int(len(sample.every_id) - len(sample.ids)),
        "holdout_rmse": {name: e.to_dict(5) for name, e in networks.items()},
        "holdout_rmse_all": {label: e.to_dict(5) for label, e in scored.estimates.items()},
        "head_difference": scored.head_difference.to_dict(5) if scored.head_difference else None,
        "stress_test": {
            "conditions": nuisances.STRESSES,
            "rmse": {name: {cond: e.to_dict(5) for cond, e in col.items()}
                     for name, col in test.table.items()},
            "mean_stressed_rmse": {name: e.to_dict(5) for name, e in test.stressed.items()},
            "difference": stressed.difference.to_dict(5) if stressed.difference else None},
        "versus_mean_prediction": scored.versus_mean.to_dict(5),
        "mean_prediction_rmse": round(scored.mean_rmse, 5),
        "training_seconds": {name: round(value, 1) for name, value in trained.seconds.items()},
    }
    headlines = {
        "holdout_rmse": {name: round(e.value, 5) for name, e in networks.items()},
        "mean_prediction_rmse": round(scored.mean_rmse, 5),
        "stressed_rmse": {name.replace(", ", "_"): round(e.value, 5) for name, e in test.stressed.items()},
        "margins": {"mean_prediction": round(scored.versus_mean.value, 5)},
        "verdicts": claimed_verdicts("train", {"mean_prediction": scored.versus_mean},
                                     higher_is_better=False),
    }
    if scored.head_difference is not None:
        headlines["head_difference"] = round(scored.head_difference.value, 5)
    if stressed.difference is not None:
        headlines["stress_difference"] = round(stressed.difference.value, 5)
    glued = {"rmse_saved": networks[saved].format(".4f"), "rmse_mean": f"{scored.mean_rmse:.4f}",
             "saved_head": saved, "arch": ARCH_NAMES.get(arch, arch), "augment": settings["augment"],
             "n_train": len(split.train), "n_holdout": len(split.valid), "epochs": settings["epochs"],
             "head_sentence": scored.head_sentence, "augment_sentence": stressed.sentence}
    return Kept(record, headlines, glued)


def features(agreement, *, layer: str, galaxies, codes) -> Kept:
    """Chapter 3: the codes, and how often neighbours share a label (trained and untrained)."""
    from helpers import replay, sentences

    out, inside, floor = (agreement.estimates[k] for k in (agreement.OUT, agreement.IN, agreement.FLOOR))
    spread = replay.tolerance_for("features", "margins.untrained", replay.load_tolerances())
    sentence = sentences.compare_sentence("the trained network's codes", out, "the untrained network's",
                                          floor, agreement.gain, what="neighbour agreement on unseen galaxies",
                                          spread=spread)
    record = {
        "layer": layer, "galaxies": int(len(galaxies)),
        "unlabelled": int(galaxies["label"].isna().sum()), "dimensions": int(codes.shape[1]),
        "unseen_galaxies": agreement.unseen,
        "knn5_agreement": {name: e.to_dict() for name, e in agreement.estimates.items()},
        "knn5_gain_over_untrained": agreement.gain.to_dict(), "knn5_chance": round(agreement.chance, 4),
    }
    headlines = {"knn5_agreement": {"unseen": round(out.value, 4), "train": round(inside.value, 4),
                                    "untrained": round(floor.value, 4)},
                 "margins": {"untrained": round(agreement.gain.value, 4)},
                 "verdicts": claimed_verdicts("features", {"untrained": agreement.gain})}
    glued = {"n_codes": int(len(galaxies)), "n_unseen": agreement.unseen,
             "knn_agreement": out.format(".1%"), "knn_agreement_train": inside.format(".1%"),
             "knn_chance": f"{agreement.chance:.1%}", "knn_sentence": sentence}
    return Kept(record, headlines, glued)


def reduce(views, trust: dict[str, float], ranking: str, *, settings: dict, galaxies: int) -> Kept:
    """Chapter 4: the maps' trustworthiness, the PCA variance, the settings later chapters reuse."""
    share = views.variance
    k = settings["pca_components"]
    record = {
        "galaxies": galaxies, "pca_input": settings["pca_input"],
        "pca_variance_2": round(float(share[:2].sum()), 4), f"pca_variance_{k}": round(float(share[:k].sum()), 4),
        "lda_components": views.lda_used, "tsne_kl": round(views.kl, 4),
        "tsne_perplexity": settings["tsne_perplexity"], "tsne_learning_rate": settings["tsne_learning_rate"],
        "settings": {key: v for key, v in settings.items() if key != "pca_components"},
        "trustworthiness": _round(trust), "maps": sorted(views.maps),
    }
    from helpers.codes.reduce import usable_perplexity

    record["tsne_perplexity_used"] = usable_perplexity(galaxies, settings["tsne_perplexity"])
    headlines = {"trustworthiness": {name.lower().replace("-", ""): round(v, 4) for name, v in trust.items()},
                 "pca_variance_2": round(float(share[:2].sum()), 4)}
    glued = {"n_galaxies": galaxies, "pca2_variance": f"{share[:2].sum():.0%}", "ranking": ranking,
             **{f"trust_{name.lower().replace('-', '')}": f"{value:.3f}" for name, value in trust.items()}}
    return Kept(record, headlines, glued)


def cluster(clusterings: dict, curve: dict, density: dict, stability, *, gallery: str,
            space: dict, settings: dict) -> Kept:
    """Chapter 5: the clusterings, DBSCAN's eps, HDBSCAN's clusters, the stability over seeds.

    Only k-means on PCA is a headline: how stable UMAP's clusterings are across seeds itself
    moves a lot with the network's codes (0.52 and 0.995 for HDBSCAN in two trainings that
    differed only in their CPU kernels), so it is shown, not compared."""
    from helpers.codes.cluster import summaries
    from helpers.sentences import stability_sentence

    table = summaries(clusterings)
    dbscan = table.loc["dbscan_tsne2"]
    record = {
        "galaxies": int(len(next(iter(clusterings.values())))), "spaces": sorted(space),
        "dbscan_eps": round(curve["eps"], 4), **settings,
        "summaries": {name: _round(row) for name, row in table.iterrows()},
        "seed_stability": {name: row.to_dict() for name, row in stability.iterrows()},
    }
    headlines = {"stability_mean_ari": {name.split(" (")[0].replace(" ", "_"): round(float(v), 4)
                                        for name, v in stability["mean_ari"].items() if "pca" in name}}
    glued = {"n_clusterings": len(clusterings), "dbscan_eps": f"{curve['eps']:.2f}",
             "dbscan_clusters": int(dbscan["clusters"]), "dbscan_noise": f"{dbscan['noise']:.0%}",
             "hdbscan_clusters": int(table.loc["hdbscan_tsne2", "clusters"]), "gallery_name": gallery,
             "stability_seeds": settings["stability_seeds"],
             "stability_sentence": stability_sentence(stability["mean_ari"].to_dict())}
    return Kept(record, headlines, glued)


def compare(found, said: dict, vs, families, blind_across: dict, *, knn_k: int) -> Kept:
    """Chapter 6: the probes against their baselines (the verdicts), the clusterings against the
    labels, the families and the truth, and the reductions against each other."""
    from helpers.codes.compare import CODES_PROBE, MAJORITY, PREDICTED
    from helpers.sentences import clustering_truth_sentence, family_sentence

    acc = found.accuracy
    knn, linear = acc[("CNN codes", "k-NN")], acc[CODES_PROBE]
    differences = {key: diff for key, (diff, _) in said.items()}
    best = vs.best
    truth_ami = None if vs.vs_truth is None else float(vs.vs_truth.loc[best, "AMI"])
    votes_ami = None if vs.votes_vs_truth is None else vs.votes_vs_truth["AMI"]
    record = {
        "probe_galaxies": int(len(found.truth) + found.n_train),
        "unseen_scored": int(len(found.truth)), "probe_training_galaxies": found.n_train,
        "probes_unseen": {f"{i} / {p}": {"accuracy": acc[(i, p)].to_dict(),
                                         "balanced": found.balanced[(i, p)].to_dict()} for i, p in acc},
        "probes_in_sample": {f"CNN codes / {p}": round(v, 4) for p, v in found.in_sample.items()},
        "majority_accuracy": acc[MAJORITY].to_dict(), "knn_accuracy": knn.to_dict(),
        "linear_probe_accuracy": linear.to_dict(),
        "codes_vs_baselines": {key: diff.to_dict() for key, diff in differences.items()},
        "vs_labels_unseen": {n: _round(r) for n, r in vs.vs_labels.iterrows()},
        "vs_labels_in_sample": {n: round(float(r["AMI"]), 4) for n, r in vs.vs_labels_train.iterrows()},
        "best_vs_labels": best, "best_ami_unseen": vs.best_ami.to_dict(), "best_ari_unseen": vs.best_ari.to_dict(),
        "density_vs_families": {n: {**_round(v), "difference": families.differences[n].to_dict()}
                                for n, v in families.scores.items()},
        "across_reductions_label_blind": _round(blind_across),
    }
    if vs.vs_truth is not None:
        record["vs_truth_unseen"] = {n: _round(r) for n, r in vs.vs_truth.iterrows()}
        record["votes_vs_truth_unseen"] = _round(vs.votes_vs_truth)
    headlines = {
        "linear_probe": {"unseen": round(linear.value, 4), "in_sample": round(found.in_sample["linear probe"], 4)},
        "knn": {"unseen": round(knn.value, 4), "in_sample": round(found.in_sample["k-NN"], 4)},
        "baselines": {"raw_pixels": round(acc[found.best("raw pixels")].value, 4),
                      "untrained": round(acc[found.best("untrained network")].value, 4),
                      "predicted_fractions": round(acc[PREDICTED].value, 4),
                      "majority": round(acc[MAJORITY].value, 4)},
        "best_clustering": {"ami_unseen": round(vs.best_ami.value, 4), "ari_unseen": round(vs.best_ari.value, 4)},
        "across_reductions_ami": round(blind_across["AMI"], 4),
        "margins": {key: round(diff.value, 4) for key, diff in differences.items()},
        "verdicts": claimed_verdicts("compare", differences),
    }
    glued = {
        "n_labelled": int(len(found.truth)), "n_probe_train": found.n_train, "knn_k": knn_k,
        "knn_accuracy": knn.format(".1%"), "probe_accuracy": linear.format(".1%"),
        "probe_balanced": found.balanced[CODES_PROBE].format(".1%"),
        "probe_in_sample": f"{found.in_sample['linear probe']:.1%}",
        "pixel_accuracy": acc[found.best("raw pixels")].format(".1%"),
        "untrained_accuracy": acc[found.best("untrained network")].format(".1%"),
        "tree_accuracy": acc[PREDICTED].format(".1%"), "majority": acc[MAJORITY].format(".1%"),
        "verdict_pixels": said["raw_pixels"][1], "verdict_untrained": said["untrained"][1],
        "verdict_fractions": said["predicted_fractions"][1], "verdict_majority": said["majority"][1],
        "best_clustering": best, "best_ami": vs.best_ami.format(".2f"), "best_ari": vs.best_ari.format(".2f"),
        "best_purity": f"{vs.vs_labels.loc[best, 'purity']:.0%}",
        "best_ami_train": f"{vs.vs_labels_train.loc[best, 'AMI']:.2f}",
        "across_ami": f"{blind_across['AMI']:.2f}",
        "family_sentence": family_sentence(families.scores, families.differences),
        "truth_sentence": clustering_truth_sentence(truth_ami, votes_ami),
    }
    return Kept(record, headlines, glued)


def new(scored, summary: dict, *, n_codes: int, vote_k: int) -> Kept:
    """Chapter 7: the new galaxies, their predicted labels and (mock) how often they are right."""
    from helpers.sentences import heldback_sentence

    found = scored.scores
    record = {"images": int(summary["images"]), "codes": n_codes, "unreadable": int(summary["bad"]),
              "vote_k": vote_k, "predicted_counts": scored.result["predicted"].value_counts().to_dict(),
              **{k: e.to_dict() for k, e in found.items()}}
    headlines = {}
    if found:
        record["versus_majority"] = scored.versus_majority.to_dict()
        headlines = {"vs_truth": round(found["vs_truth"].value, 4),
                     "vs_vote_label": round(found["vs_vote_label"].value, 4),
                     "baselines": {"majority": round(found["majority"].value, 4)},
                     "margins": {"majority": round(scored.versus_majority.value, 4)},
                     "verdicts": claimed_verdicts("new", {"majority": scored.versus_majority})}
    glued = {"n_new": n_codes, "score_sentence": heldback_sentence(found)}
    return Kept(record, headlines, glued)


def realism(table, *, measured: int, real: int) -> Kept:
    """Chapter 8: the KS distance of each image statistic from the real cutouts'."""
    worst = table["ks"].idxmax()
    record = {"images": measured, "real_images": real, "ks": table["ks"].round(4).to_dict(), "worst": worst}
    headlines = {"worst_ks": round(float(table["ks"].max()), 4)}
    glued = {"n_measured": measured, "worst_statistic": worst, "worst_ks": f"{table['ks'].max():.2f}",
             "median_ks": f"{table['ks'].median():.2f}"}
    return Kept(record, headlines, glued)


def at_work(found, search, *, n_examples: int, galaxies: int, method: str, like_method: str) -> Kept:
    """Chapter 9: how well novelty and "more like these" find what the mock drew as odd, on the
    codes against raw pixels and the untrained network (unseen galaxies)."""
    from helpers import replay, sentences

    if not found.auc:
        none = "the real data has no truth to score it against"
        return Kept({"galaxies": galaxies, "novelty_method": method, "like_method": like_method}, {},
                    {"novelty_sentence": none, "like_sentence": none, "auc_codes": "-", "n_odd_unseen": 0})
    tolerances = replay.load_tolerances()
    names = {"raw_pixels": "raw pixels", "untrained": "the untrained network"}
    spread = {names[k]: replay.tolerance_for("at_work", f"margins.{k}", tolerances) for k in names}
    novelty_said = sentences.search_sentence(
        "AUC on unseen galaxies", found.auc["codes"],
        {names[k]: (found.auc[k], found.differences[k]) for k in names}, spread)
    features = [f for f in ("ring", "merger") if (f, n_examples, "codes") in search.precision]
    precision = {f: search.precision[(f, n_examples, "codes")] for f in features}
    versus = {f: search.differences[(f, n_examples, "raw pixels")] for f in features}
    like_said = "; ".join(
        f"for {f}s, " + sentences.search_sentence(
            f"precision among the top {search.counted}", precision[f],
            {"raw pixels": (search.precision[(f, n_examples, "raw pixels")], versus[f])},
            {"raw pixels": replay.tolerance_for("at_work", f"margins.{f}", tolerances)})
        for f in features)
    margins = {**{k: found.differences[k] for k in names}, **versus}
    record = {"galaxies": galaxies, "novelty_method": method, "like_method": like_method,
              "odd_unseen": found.odd, "scored_unseen": found.scored,
              "auc": {k: e.to_dict() for k, e in found.auc.items()},
              "auc_differences": {k: e.to_dict() for k, e in found.differences.items()},
              "precision": {f"{f} {n} {r}": e.to_dict() for (f, n, r), e in search.precision.items()},
              "precision_differences": {f"{f} {n} codes - {r}": e.to_dict()
                                        for (f, n, r), e in search.differences.items()}}
    headlines = {"auc": {k: round(e.value, 4) for k, e in found.auc.items()},
                 "precision": {f: round(e.value, 4) for f, e in precision.items()},
                 "baselines": {f: round(search.precision[(f, n_examples, "raw pixels")].value, 4)
                               for f in features},
                 "margins": {k: round(e.value, 4) for k, e in margins.items()},
                 "verdicts": claimed_verdicts("at_work", margins)}
    glued = {"novelty_sentence": novelty_said, "like_sentence": like_said,
             "auc_codes": found.auc["codes"].format(".3f"), "n_odd_unseen": found.odd}
    return Kept(record, headlines, glued)


def claimed_verdicts(section: str, differences: dict[str, Estimate], *,
                     higher_is_better: bool = True) -> dict[str, str]:
    """The verdicts of ``differences`` that the book claims (``claims`` in the tolerances)."""
    from helpers import replay

    return {name: verdict(differences[name], higher_is_better=higher_is_better)
            for name in replay.claimed(section) if name in differences}


__all__ = ["labels", "train", "features", "reduce", "cluster", "compare", "new", "realism", "at_work",
           "claimed_verdicts"]
