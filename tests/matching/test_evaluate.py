"""Linkage metrics on cases small enough to count by hand."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from matching.evaluate import (
    LabelsError,
    cluster_scores,
    label_cluster_scores,
    label_scores,
    label_sweep,
    pair_scores,
    read_labels,
    sweep,
)

TRUTH = pl.DataFrame(
    {"unique_id": ["a1", "a2", "a3", "b1", "b2", "c1"], "person_id": [1, 1, 1, 2, 2, 3]}
)  # 3 + 1 = 4 true pairs


def test_perfect_clusters() -> None:
    s = cluster_scores(TRUTH.rename({"person_id": "cluster_id"}), TRUTH)
    assert (s.true_positives, s.predicted, s.actual) == (4, 4, 4)
    assert s.precision == s.recall == s.f1 == 1.0


def test_linking_nothing_scores_no_recall() -> None:
    singletons = TRUTH.with_columns(pl.col("unique_id").alias("cluster_id"))
    s = cluster_scores(singletons, TRUTH)
    assert s.recall == 0.0 and s.f1 == 0.0 and s.predicted == 0


def test_one_false_merge_and_one_miss() -> None:
    clusters = pl.DataFrame(
        {
            "unique_id": ["a1", "a2", "a3", "b1", "b2", "c1"],
            "cluster_id": ["x", "x", "y", "z", "z", "z"],
        }
    )
    s = cluster_scores(clusters, TRUTH)
    # predicted pairs: (a1,a2) + 3 in z = 4; true among them: (a1,a2), (b1,b2) = 2
    assert (s.true_positives, s.predicted, s.actual) == (2, 4, 4)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(0.5)


def test_pair_scores_and_sweep() -> None:
    pairs = pl.DataFrame(
        {
            "unique_id_l": ["a1", "a1", "b1", "a3"],
            "unique_id_r": ["a2", "a3", "b2", "c1"],
            "match_probability": [0.99, 0.6, 0.95, 0.7],
        }
    )
    s = pair_scores(pairs, TRUTH, 0.9)
    assert (s.true_positives, s.predicted, s.actual) == (2, 2, 4)
    table = sweep(pairs, TRUTH, [0.5, 0.9])
    assert table["predicted"].to_list() == [4, 2]
    assert table["recall"].to_list() == [0.75, 0.5]


def test_clerical_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "unique_id_l,unique_id_r,label\na2,a1,match\nb1,b2,Match\na3,c1,non-match\na1,a3,match\n"
    )
    labels = read_labels(str(path), {"a1", "a2", "a3", "b1", "b2", "c1"})
    pairs = pl.DataFrame(
        {
            "unique_id_l": ["a1", "b1", "a3"],
            "unique_id_r": ["a2", "b2", "c1"],
            "match_probability": [0.99, 0.95, 0.92],
        }
    )
    s = label_scores(pairs, labels, 0.9)
    assert (s.true_positives, s.predicted, s.actual) == (2, 3, 3)
    # The persons: a1, a2 and a3 are one (so a1/a3 is found), b1 and b2 two, c1 alone.
    persons = pl.DataFrame(
        {
            "unique_id": ["a1", "a2", "a3", "b1", "b2", "c1"],
            "person_id": ["P1", "P1", "P1", "P2", "P3", "P4"],
        }
    )
    s = label_cluster_scores(persons, labels)
    assert (s.true_positives, s.predicted, s.actual) == (2, 2, 3)


def test_newest_label_of_a_pair_wins_and_unsure_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "unique_id_l,unique_id_r,label,reviewer,reviewed_at\n"
        "a1,a2,non-match,ann,2026-11-01T09:00:00+00:00\n"
        "b1,b2,match,ann,2026-11-01T09:01:00+00:00\n"
        "a3,c1,match,ann,2026-11-01T09:02:00+00:00\n"
        "a2,a1,match,bob,2026-11-02T10:00:00+00:00\n"
        "c1,a3,unsure,bob,2026-11-02T10:01:00+00:00\n"
    )
    known = {"a1", "a2", "a3", "b1", "b2", "c1"}
    every = read_labels(str(path), known, keep_unsure=True)
    assert every.select("unique_id_l", "unique_id_r", "label", "reviewer").rows() == [
        ("b1", "b2", "match", "ann"),
        ("a2", "a1", "match", "bob"),
        ("c1", "a3", "unsure", "bob"),
    ]
    decided = read_labels(str(path), known)
    assert sorted(decided["label"]) == ["match", "match"]
    pairs = pl.DataFrame(
        {
            "unique_id_l": ["a1", "a3"],
            "unique_id_r": ["a2", "c1"],
            "match_probability": [0.95, 0.97],
        }
    )
    # The unsure pair counts neither way, whether or not it was dropped on reading.
    for labels in (every, decided):
        s = label_scores(pairs, labels, 0.9)
        assert (s.true_positives, s.predicted, s.actual) == (1, 1, 2)
    table = label_sweep(pairs, decided, [0.9, 0.96])
    assert table["recall"].to_list() == [0.5, 0.0]
    assert table["precision"].to_list() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "unique_id_l,unique_id_r,label\na1,zz9,match\n",
            "name records the warehouse does not hold (row 2: a1 / zz9)",
        ),
        (
            "unique_id_l,unique_id_r,label\na1,a2,maybe\n",
            "rows 2: label must be 'match', 'non-match' or 'unsure'",
        ),
        ("left,right,label\na1,a2,match\n", "missing column(s) ['unique_id_l', 'unique_id_r']"),
        ("unique_id_l,unique_id_r,label\na1,a2,match\na2,a1,\n", "rows 3: label must be"),
        ("unique_id_l,unique_id_r,label\na1,,match\n", "(row 2: a1 / )"),
    ],
)
def test_bad_labels_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(LabelsError) as err:
        read_labels(str(path), {"a1", "a2"})
    assert message in str(err.value) and str(path) in str(err.value)
