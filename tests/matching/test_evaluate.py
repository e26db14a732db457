"""Linkage metrics on cases small enough to count by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from matching.evaluate import (
    LabelsError,
    NotLinkedYet,
    cluster_scores,
    evaluate_labels,
    label_cluster_scores,
    label_scores,
    label_sweep,
    pair_scores,
    read_labels,
    sweep,
)
from matching.tables import TABLES_DDL

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


def _linked_warehouse(path: Path, runs: bool = True) -> Path:
    """A warehouse holding five current records, their scored pairs and persons, and the
    runs that linked them, with a superseded record and person that must not count."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            """
            CREATE TABLE person_records (source VARCHAR, source_record_id VARCHAR, valid_to DATE);
            INSERT INTO person_records VALUES
                ('health', 'a1', NULL), ('health', 'a2', NULL), ('police', 'b1', NULL),
                ('police', 'b2', NULL), ('police', 'c1', NULL), ('police', 'old', '2026-11-02');
            """
        ).fetchall()
        con.execute(TABLES_DDL).fetchall()
        con.execute(
            """
            INSERT INTO linkage_pairs BY NAME
            SELECT * FROM (VALUES
                (DATE '2026-11-02', 'health:a1', 'health:a2', 0.97, 5.0, false),
                (DATE '2026-11-02', 'police:b1', 'police:b2', 0.92, 3.5, true),
                (DATE '2026-11-02', 'health:a1', 'police:c1', 0.85, 2.5, false)
            ) AS t(night, unique_id_l, unique_id_r, match_probability, match_weight,
                   refused_by_clustering);
            INSERT INTO persons VALUES
                ('health:a1', 'health', 'a1', 'P1', '2026-11-01', NULL),
                ('health:a2', 'health', 'a2', 'P1', '2026-11-01', NULL),
                ('police:b1', 'police', 'b1', 'P2', '2026-11-01', NULL),
                ('police:b2', 'police', 'b2', 'P3', '2026-11-01', NULL),
                ('police:b2', 'police', 'b2', 'P2', '2026-11-01', '2026-11-02'),
                ('police:c1', 'police', 'c1', 'P4', '2026-11-01', NULL);
            """
        ).fetchall()
        if runs:
            con.execute(
                """
                INSERT INTO linkage_runs (night, model, threshold, finished_at) VALUES
                    ('2026-11-01', 'linkage-v1', 0.8, '2026-11-01 02:00'),
                    ('2026-11-02', 'linkage-v1', 0.9, '2026-11-02 02:00');
                """
            ).fetchall()
    finally:
        con.close()
    return path


LABELS = (
    "unique_id_l,unique_id_r,label\n"
    "health:a2,health:a1,match\npolice:b1,police:b2,match\nhealth:a1,police:c1,non-match\n"
)


def test_the_newest_night_is_judged_against_labels(tmp_path: Path) -> None:
    warehouse = _linked_warehouse(tmp_path / "warehouse.duckdb")
    (tmp_path / "labels.csv").write_text(LABELS)
    report = evaluate_labels(warehouse, tmp_path / "labels.csv", thresholds=(0.5, 0.9))
    counts = [(s.true_positives, s.predicted, s.actual) for _, s in report.at_thresholds]
    assert counts == [(2, 3, 2), (2, 2, 2)]
    assert (report.night, report.threshold) == (dt.date(2026, 11, 2), 0.9)
    assert report.kept is not None and report.persons is not None
    # b1/b2 scored above the threshold, but clustering refused it: one kept link of two.
    assert (report.kept.true_positives, report.kept.predicted, report.kept.actual) == (1, 1, 2)
    # b2's current person is not b1's (its superseded row is).
    assert (report.persons.true_positives, report.persons.predicted) == (1, 1)
    lines = report.lines()
    assert lines[0] == "3 labelled pairs; newest night's 3 scored pairs"
    assert lines[1].startswith("  pairs at 0.5: precision 0.6667  recall 1.0000")
    assert lines[3].startswith(
        "  links kept at night 2026-11-02's threshold 0.9 (none the clustering refused): "
        "precision 1.0000  recall 0.5000"
    )
    assert lines[4].startswith("  persons (clusters) of night 2026-11-02: precision 1.0000")


def test_without_a_run_only_the_pairs_are_judged(tmp_path: Path) -> None:
    warehouse = _linked_warehouse(tmp_path / "warehouse.duckdb", runs=False)
    (tmp_path / "labels.csv").write_text(LABELS)
    report = evaluate_labels(warehouse, tmp_path / "labels.csv")
    assert report.kept is None and report.persons is None and report.night is None
    assert len(report.lines()) == 1 + 5


def test_nothing_linked_or_unknown_records_are_refused(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    (tmp_path / "labels.csv").write_text(
        "unique_id_l,unique_id_r,label\nhealth:a1,police:old,match\n"
    )
    with pytest.raises(NotLinkedYet, match="run `joinedup link run` first"):
        evaluate_labels(warehouse, tmp_path / "labels.csv")
    warehouse.unlink()
    _linked_warehouse(warehouse)
    with pytest.raises(LabelsError, match="1 row\\(s\\) name records the warehouse does not hold"):
        evaluate_labels(warehouse, tmp_path / "labels.csv")
