"""Linkage metrics on cases small enough to count by hand."""

from __future__ import annotations

import polars as pl
import pytest

from matching.evaluate import cluster_scores, pair_scores, sweep

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
