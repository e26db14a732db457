"""Clerical review: the queue of pairs near the threshold, the side-by-side view, and the
judgements written back to the labels file that `read_labels` reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from matching.evaluate import LabelsError, label_sweep, read_labels, sweep
from matching.review import (
    marked_pairs,
    review_queue,
    side_by_side,
    threshold_chart,
    write_labels,
)

PAIRS = pl.DataFrame(
    {
        "unique_id_l": ["a", "a", "b", "c", "d", "e"],
        "unique_id_r": ["b", "c", "c", "d", "e", "f"],
        "match_probability": [0.99, 0.91, 0.88, 0.5, 0.895, 0.2],
    }
)
KNOWN = {"a", "b", "c", "d", "e", "f"}
MONDAY = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
TUESDAY = dt.datetime(2026, 11, 3, 14, 0, tzinfo=dt.UTC)


def _ids(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return list(frame.select("unique_id_l", "unique_id_r").iter_rows())


def test_queue_is_nearest_the_threshold_first() -> None:
    queue = review_queue(PAIRS, 0.9, size=3)
    assert _ids(queue) == [("d", "e"), ("a", "c"), ("b", "c")]
    assert queue["gap"].to_list() == pytest.approx([0.005, 0.01, 0.02])


def test_queue_leaves_out_pairs_already_judged_in_either_order() -> None:
    judged = pl.DataFrame(
        {"unique_id_l": ["e", "c"], "unique_id_r": ["d", "a"], "label": ["match", "unsure"]}
    )
    queue = review_queue(PAIRS, 0.9, judged, size=3)
    assert _ids(queue) == [("b", "c"), ("a", "b"), ("c", "d")]


def test_side_by_side_says_which_fields_agree() -> None:
    records = pl.DataFrame(
        {
            "unique_id": ["x", "y", "z"],
            "source": ["health", "police", "housing"],
            "first_name": ["ann", "anne", "bob"],
            "last_name": ["lee", "lee", "ray"],
            "dob": [dt.date(1990, 1, 2), None, dt.date(1950, 1, 1)],
            "not_shown": ["1", "2", "3"],
        }
    )
    view = side_by_side(records, "y", "x")
    assert view.rows() == [
        ("source", "police", "health", "differs"),
        ("first_name", "anne", "ann", "differs"),
        ("last_name", "lee", "lee", "same"),
        ("dob", None, "1990-01-02", ""),
    ]


def test_only_marked_pairs_become_labels() -> None:
    queue = review_queue(PAIRS, 0.9, size=3)
    marked = marked_pairs(queue, {"0": "match", "1": None, "2": "unsure"})
    assert marked.rows() == [("d", "e", "match"), ("b", "c", "unsure")]
    assert marked_pairs(queue, {}).height == 0


def test_written_labels_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "review" / "clerical.csv"
    judgements = pl.DataFrame(
        {"unique_id_l": ["d", "a"], "unique_id_r": ["e", "c"], "label": ["match", "non-match"]}
    )
    assert write_labels(path, judgements, "ann", MONDAY) == 2
    assert path.read_text().splitlines() == [
        "unique_id_l,unique_id_r,label,reviewer,reviewed_at",
        "d,e,match,ann,2026-11-02T09:30:00+00:00",
        "a,c,non-match,ann,2026-11-02T09:30:00+00:00",
    ]
    assert read_labels(str(path), KNOWN).rows() == [
        ("d", "e", "match", "ann", "2026-11-02T09:30:00+00:00"),
        ("a", "c", "non-match", "ann", "2026-11-02T09:30:00+00:00"),
    ]


def test_a_pair_judged_again_keeps_only_its_newest_label(tmp_path: Path) -> None:
    path = tmp_path / "clerical.csv"
    # A file the analyst started by hand, with a column of their own and no reviewer.
    path.write_text("unique_id_l,unique_id_r,label,note\na,c,match,same NHS number\nb,c,match,\n")
    again = pl.DataFrame(
        {"unique_id_l": ["c", "d"], "unique_id_r": ["a", "e"], "label": ["non-match", "unsure"]}
    )
    assert write_labels(path, again, "bob", TUESDAY) == 2
    written = pl.read_csv(path, infer_schema=False)
    assert written.columns == [
        "unique_id_l",
        "unique_id_r",
        "label",
        "reviewer",
        "reviewed_at",
        "note",
    ]
    assert written.select("unique_id_l", "unique_id_r", "label", "reviewer", "note").rows() == [
        ("b", "c", "match", None, None),
        ("c", "a", "non-match", "bob", None),
        ("d", "e", "unsure", "bob", None),
    ]
    # Once more, the same pair: still one row for it.
    write_labels(path, again.head(1).with_columns(pl.lit("match").alias("label")), "cy", TUESDAY)
    labels = read_labels(str(path), KNOWN, keep_unsure=True)
    assert labels.height == pl.read_csv(path).height == 3
    assert labels.filter(pl.col("unique_id_l") == "c").select("label", "reviewer").row(0) == (
        "match",
        "cy",
    )


@pytest.mark.parametrize(
    ("existing", "judgements", "message"),
    [
        (
            "unique_id_l,unique_id_r,label\na,b,match\n",
            pl.DataFrame({"unique_id_l": ["a"], "unique_id_r": ["c"], "label": ["probably"]}),
            "1 judgement(s) without both ids or with a label other than match",
        ),
        (
            "unique_id_l,unique_id_r,label\na,b,match\n",
            pl.DataFrame(
                {"unique_id_l": ["a"], "unique_id_r": [None], "label": ["match"]},
                schema={"unique_id_l": pl.String, "unique_id_r": pl.String, "label": pl.String},
            ),
            "1 judgement(s) without both ids",
        ),
        (
            "left,right,verdict\na,b,match\n",
            pl.DataFrame({"unique_id_l": ["a"], "unique_id_r": ["c"], "label": ["match"]}),
            "missing column(s) ['label', 'unique_id_l', 'unique_id_r']",
        ),
    ],
)
def test_nothing_is_written_when_something_is_wrong(
    tmp_path: Path, existing: str, judgements: pl.DataFrame, message: str
) -> None:
    path = tmp_path / "clerical.csv"
    path.write_text(existing)
    with pytest.raises(LabelsError) as err:
        write_labels(path, judgements, "ann", MONDAY)
    assert message in str(err.value) and str(path) in str(err.value)
    assert path.read_text() == existing
    assert [p.name for p in tmp_path.iterdir()] == ["clerical.csv"]


def test_threshold_chart_draws_each_measure_and_the_chosen_threshold() -> None:
    truth = pl.DataFrame(
        {"unique_id": ["a", "b", "c", "d", "e", "f"], "person_id": [1, 1, 1, 2, 2, 3]}
    )
    table = sweep(PAIRS, truth, [0.5, 0.9, 0.95])
    spec = threshold_chart(table, 0.9).to_dict()
    lines, rule = spec["layer"]
    assert lines["mark"]["type"] == "line" and rule["mark"]["type"] == "rule"
    assert lines["encoding"]["x"]["field"] == rule["encoding"]["x"]["field"] == "threshold"
    points = spec["datasets"][lines["data"]["name"]]
    assert {(p["measure"], p["threshold"]) for p in points} == {
        (m, t) for m in ("precision", "recall", "f1") for t in (0.5, 0.9, 0.95)
    }
    at = {p["measure"]: p["value"] for p in points if p["threshold"] == 0.9}
    assert at == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3)}
    assert spec["datasets"][rule["data"]["name"]] == [{"threshold": 0.9}]


def _spread(n: int = 2_000) -> pl.DataFrame:
    """Pairs scored evenly over 0 to 1, the higher the score the likelier one person."""
    p = [(i + 0.5) / n for i in range(n)]
    return pl.DataFrame(
        {
            "unique_id_l": [f"l{i}" for i in range(n)],
            "unique_id_r": [f"r{i}" for i in range(n)],
            "match_probability": p,
            # one person where the score passes a threshold of its own, varying over the range
            "label": ["match" if x > (i * 7919 % n) / n else "non-match" for i, x in enumerate(p)],
        }
    )


@pytest.mark.parametrize("sample", ["stratified", "random"])
def test_samples_judge_the_whole_range_so_the_labelled_curve_is_not_flat(sample: str) -> None:
    pairs = _spread()
    grid = [0.1, 0.3, 0.5, 0.7, 0.9, 0.95]
    nearest = review_queue(pairs, 0.9, size=60)
    spread = review_queue(pairs, 0.9, size=60, sample=sample, seed=1)
    assert nearest["match_probability"].is_between(0.88, 0.92).all()
    bands = (spread["match_probability"] * 10).floor().unique().len()
    assert bands == 10 if sample == "stratified" else bands >= 7
    if sample == "stratified":
        assert ((spread["match_probability"] * 10).floor().value_counts()["count"] == 6).all()

    def labelled(queue: pl.DataFrame) -> pl.DataFrame:
        return queue.join(pairs, on=["unique_id_l", "unique_id_r"]).select(
            "unique_id_l", "unique_id_r", "label"
        )

    flat = label_sweep(pairs, labelled(nearest), grid)
    curve = label_sweep(pairs, labelled(spread), grid)
    # Near the threshold every labelled pair is above 0.7 or below 0.95 alike: flat.
    assert flat.filter(pl.col("threshold") <= 0.7)["recall"].n_unique() == 1
    assert curve["recall"].n_unique() >= 4
    assert curve["recall"].is_sorted(descending=True)


def test_a_sample_is_the_same_for_the_same_seed_and_leaves_out_judged_pairs() -> None:
    pairs = _spread(500)
    first = review_queue(pairs, 0.9, size=20, sample="stratified", seed=3)
    assert first.equals(review_queue(pairs, 0.9, size=20, sample="stratified", seed=3))
    again = review_queue(pairs, 0.9, first, size=20, sample="stratified", seed=3)
    assert not set(_ids(first)) & set(_ids(again))
    assert first["match_probability"].is_sorted(descending=True)
    with pytest.raises(ValueError, match="sample must be one of nearest, stratified, random"):
        review_queue(pairs, 0.9, sample="worst")


def test_judging_some_sampled_pairs_leaves_the_rest_in_the_queue() -> None:
    pairs = _spread(500)
    first = review_queue(pairs, 0.9, size=20, sample="random", seed=2)
    again = review_queue(pairs, 0.9, first.head(5), size=20, sample="random", seed=2)
    assert set(_ids(first.tail(15))) <= set(_ids(again))
