import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.data import labels
from helpers.data.schema import COLUMNS, LABELS, QUESTIONS, STAR_LABEL, UNCERTAIN_LABEL
from helpers.errors import ParameterError


def test_real_rows_get_their_expected_label(real_rows):
    out = labels.assign_labels(real_rows)
    assert list(out["GalaxyID"]) == list(real_rows["GalaxyID"])
    assert list(out["label"]) == list(real_rows["expected_label"])


def test_leaf_probability_is_the_leaf_column(real_rows):
    out = labels.assign_labels(real_rows).set_index("GalaxyID")
    rows = real_rows.set_index("GalaxyID")
    for gid, row in out.iterrows():
        leaf_column = labels.leaf_path(row["label"])[-1]
        assert row["leaf_probability"] == pytest.approx(rows.loc[gid, leaf_column], abs=2e-3)
    assert out.loc[100143, "leaf_probability"] == pytest.approx(0.5614, abs=1e-3)


def test_threshold_makes_the_near_tie_uncertain(real_rows):
    out = labels.assign_labels(real_rows, threshold=0.5, agreement="step").set_index("GalaxyID")
    # 100123: 46% smooth at Q1 is below a 50% step agreement
    assert out.loc[100123, "label"] == UNCERTAIN_LABEL
    # 135453: 54% star/artifact is a clear enough first step, and the path ends there
    assert out.loc[135453, "label"] == STAR_LABEL
    leaf = labels.assign_labels(real_rows, threshold=0.5, agreement="leaf")
    assert (leaf["label"] == UNCERTAIN_LABEL).sum() >= (out["label"] == UNCERTAIN_LABEL).sum()


def test_seed_rule_sends_stars_down_the_disk_branch(real_rows):
    seed = labels.assign_labels(real_rows, rule="seed").set_index("GalaxyID")
    assert seed.loc[135453, "label"].startswith("disk") or seed.loc[135453, "label"].startswith("edge-on")
    assert STAR_LABEL not in set(seed["label"])
    table = labels.compare_rules(real_rows)
    assert table.to_numpy().sum() == len(real_rows)
    assert table.loc[seed.loc[135453, "label"], STAR_LABEL] == 1


@pytest.mark.parametrize("kwargs, word", [
    ({"rule": "argmax"}, "rule"), ({"threshold": 1.5}, "threshold"), ({"agreement": "path"}, "agreement"),
])
def test_bad_parameters_are_named(real_rows, kwargs, word):
    with pytest.raises(ParameterError, match=word):
        labels.assign_labels(real_rows, **kwargs)


def test_missing_columns_are_named(real_rows):
    with pytest.raises(ParameterError, match="Class11.6"):
        labels.assign_labels(real_rows.drop(columns=["Class11.6"]))


def test_label_counts_keep_order_and_zeros():
    counts = labels.label_counts(pd.Series(["disk: spiral", STAR_LABEL, "disk: spiral"]))
    assert list(counts.index) == [*LABELS, UNCERTAIN_LABEL]
    assert counts["disk: spiral"] == 2 and counts["round: cigar-shaped"] == 0


def test_truth_recovery_counts_hits():
    lab = pd.DataFrame({"GalaxyID": [1, 2, 3, 4], "label": ["disk: spiral", STAR_LABEL, UNCERTAIN_LABEL,
                                                            "disk: no spiral"]})
    truth = pd.DataFrame({"GalaxyID": [1, 2, 3, 4], "true_label": ["disk: spiral", STAR_LABEL,
                                                                  "disk: spiral", "disk: spiral"]})
    numbers, table = labels.truth_recovery(lab, truth)
    assert numbers["accuracy"] == pytest.approx(0.5)
    assert numbers["accuracy_labelled"] == pytest.approx(2 / 3)
    assert numbers["coverage"] == pytest.approx(0.75)
    assert numbers["recall"]["disk: spiral"] == pytest.approx(1 / 3)
    assert table.loc["disk: spiral"].sum() == 3


# ---- property tests on generated tables -------------------------------------------------------

@st.composite
def vote_tables(draw, max_rows=25):
    """Cumulative tables built by walking the tree with random conditional fractions."""
    n = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    table = {}
    for q in QUESTIONS.values():
        k = len(q.answers)
        cond = rng.dirichlet(np.full(k, 0.5), size=n)
        # now and then a decisive question, with exact zeros as in the real table
        decisive = rng.random(n) < 0.2
        cond[decisive] = np.eye(k)[rng.integers(0, k, decisive.sum())]
        parent = np.ones(n) if q.parent is None else table[q.parent]
        for j, col in enumerate(q.columns):
            table[col] = cond[:, j] * parent
    frame = pd.DataFrame(table)[COLUMNS]
    frame.insert(0, "GalaxyID", np.arange(100000, 100000 + n))
    return frame


@settings(max_examples=60, deadline=None)
@given(vote_tables())
def test_every_galaxy_gets_one_label_with_a_valid_probability(frame):
    out = labels.assign_labels(frame)
    assert len(out) == len(frame)
    assert set(out["label"]) <= set(LABELS)
    assert ((out["leaf_probability"] >= 0) & (out["leaf_probability"] <= 1 + 1e-9)).all()
    assert (out["step_agreement"] >= out["leaf_probability"] - 1e-9).all()


@settings(max_examples=60, deadline=None)
@given(vote_tables(), st.floats(0, 1))
def test_threshold_only_moves_galaxies_to_uncertain(frame, threshold):
    plain = labels.assign_labels(frame)
    strict = labels.assign_labels(frame, threshold=threshold)
    moved = plain["label"] != strict["label"]
    assert (strict.loc[moved, "label"] == UNCERTAIN_LABEL).all()
    assert (plain.loc[moved, "leaf_probability"] < threshold).all()
    assert (strict.loc[~moved, "leaf_probability"] >= threshold).all()


@settings(max_examples=60, deadline=None)
@given(vote_tables())
def test_leaf_follows_the_largest_answer_at_each_step(frame):
    out = labels.assign_labels(frame)
    for i, label in enumerate(out["label"]):
        path = labels.leaf_path(label)
        row = frame.iloc[i]
        for col in path:
            q = QUESTIONS[int(col[5:].split(".")[0])]
            assert row[col] >= max(row[c] for c in q.columns) - 1e-12


@settings(max_examples=40, deadline=None)
@given(vote_tables())
def test_seed_rule_never_labels_stars(frame):
    assert STAR_LABEL not in set(labels.assign_labels(frame, rule="seed")["label"])
