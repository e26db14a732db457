"""The analyst's review of the linkage: a threshold chart, and clerical review of the pairs
nearest the threshold or sampled across the range of scores, with each judgement written
back to the clerical labels file.

The labels file is the one `read_labels` reads (`unique_id_l`, `unique_id_r`, `label`),
with who judged the pair and when. A pair judged again keeps only its newest label, so
the file never holds one pair twice and the next evaluation uses the latest judgement.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import altair as alt
import polars as pl

from matching.evaluate import JUDGEMENTS, LabelsError, pair_key

LABEL_COLUMNS = ("unique_id_l", "unique_id_r", "label", "reviewer", "reviewed_at")

# What a clerical reviewer compares, in the order they read it.
FIELDS = (
    "source",
    "first_name",
    "middle_name",
    "last_name",
    "dob",
    "sex",
    "address",
    "address_line",
    "postcode",
    "town",
    "uprn",
    "nhs_number",
    "upn",
    "ni_number",
)


def records_of_run(pairs: pl.DataFrame) -> pl.DataFrame:
    """The records of a `link files` run, as its `pairs.csv` gives their compared values:
    one row a record (`unique_id` and any of `FIELDS`), for `side_by_side`."""
    fields = [f for f in ("source_record_id", *FIELDS) if f"{f}_l" in pairs.columns]
    sides = [
        pairs.select(
            pl.col(f"unique_id_{side}").cast(pl.String).alias("unique_id"),
            *(pl.col(f"{f}_{side}").cast(pl.String).alias(f) for f in fields),
        )
        for side in ("l", "r")
    ]
    return pl.concat(sides).unique("unique_id", keep="first", maintain_order=True)


def threshold_chart(table: pl.DataFrame, threshold: float) -> alt.LayerChart:
    """Precision, recall and F1 against threshold, with a rule at the chosen threshold.

    Args:
        table: `threshold`, `precision`, `recall`, `f1`, as `sweep` or `label_sweep` give.
        threshold: the threshold the analyst has chosen.
    """
    long = table.unpivot(
        on=["precision", "recall", "f1"], index="threshold", variable_name="measure"
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("threshold:Q", title="threshold (match probability)"),
            y=alt.Y("value:Q", title="score", scale=alt.Scale(zero=False)),
            color=alt.Color("measure:N", sort=["precision", "recall", "f1"]),
            tooltip=["threshold:Q", "measure:N", alt.Tooltip("value:Q", format=".4f")],
        )
    )
    rule = (
        alt.Chart(pl.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[4, 4], color="grey")
        .encode(x="threshold:Q")
    )
    chart: alt.LayerChart = (lines + rule).properties(width=560, height=300)
    return chart


SAMPLES = ("nearest", "stratified", "random")
BANDS = 10  # of match probability, for a stratified sample


def review_queue(
    pairs: pl.DataFrame,
    threshold: float,
    judged: pl.DataFrame | None = None,
    size: int = 20,
    sample: str = "nearest",
    seed: int = 0,
) -> pl.DataFrame:
    """`size` scored pairs that no clerical label judges yet, for clerical review.

    Labels of only the pairs nearest the threshold say nothing of precision and recall
    away from it (the labelled curve is flat): a stratified or random sample judges the
    whole range of scores.

    Args:
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`.
        threshold: the match probability the "nearest" queue is centred on.
        judged: labelled pairs (`unique_id_l`, `unique_id_r`), in either order, to leave out.
        size: how many pairs to return.
        sample: "nearest" (to the threshold, nearest first), "stratified" (as many from
            each tenth of the probability range as it holds, up to size / 10, the rest at
            random) or "random" (uniform over the unjudged pairs); the last two by
            descending probability.
        seed: the random sample's seed, so the same queue comes back for the same labels.

    Raises:
        ValueError: `sample` is not one of `SAMPLES`.
    """
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {', '.join(SAMPLES)}, not {sample!r}")
    queue = pairs.select("unique_id_l", "unique_id_r", "match_probability").with_columns(pair_key())
    if judged is not None and judged.height:
        queue = queue.join(judged.select(pair_key()), on=["pair_a", "pair_b"], how="anti")
    queue = queue.with_columns((pl.col("match_probability") - threshold).abs().alias("gap")).sort(
        "gap", "pair_a", "pair_b"
    )
    if sample == "nearest":
        return queue.head(size).drop("pair_a", "pair_b")
    # Each pair's place in the draw hangs on its own ids and the seed only, so judging some
    # pairs leaves the others where they were.
    shuffled = queue.sort(pl.struct("pair_a", "pair_b").hash(seed), "pair_a", "pair_b")
    if sample == "stratified":
        per_band = max(size // BANDS, 1)
        band = (pl.col("match_probability") * BANDS).floor().clip(0, BANDS - 1)
        first = shuffled.filter(pl.int_range(pl.len()).over(band) < per_band)
        rest = shuffled.join(first.select("pair_a", "pair_b"), on=["pair_a", "pair_b"], how="anti")
        shuffled = pl.concat([first, rest])
    return (
        shuffled.head(size)
        .sort("match_probability", "pair_a", "pair_b", descending=[True, False, False])
        .drop("pair_a", "pair_b")
    )


def side_by_side(records: pl.DataFrame, left: str, right: str) -> pl.DataFrame:
    """Two records field by field (`field`, `left`, `right`, `same`), for a clerical reviewer.

    Args:
        records: one row per record, keyed by `unique_id`, with any of `FIELDS`.
        left: the unique id of one record of the pair.
        right: the unique id of the other.
    """
    fields = [f for f in FIELDS if f in records.columns]
    both = records.filter(pl.col("unique_id").is_in([left, right])).select(
        "unique_id", *(pl.col(f).cast(pl.String) for f in fields)
    )

    def values(uid: str) -> list[str | None]:
        row = both.filter(pl.col("unique_id") == uid)
        return list(row.row(0)[1:]) if row.height else [None] * len(fields)

    view = pl.DataFrame(
        {"field": fields, "left": values(left), "right": values(right)},
        schema={"field": pl.String, "left": pl.String, "right": pl.String},
    )
    return view.with_columns(
        pl.when(pl.col("left").is_null() | pl.col("right").is_null())
        .then(pl.lit(""))
        .when(pl.col("left") == pl.col("right"))
        .then(pl.lit("same"))
        .otherwise(pl.lit("differs"))
        .alias("same")
    )


def marked_pairs(queue: pl.DataFrame, marks: Mapping[str, str | None]) -> pl.DataFrame:
    """The queue's pairs the analyst has marked, as labels (`unique_id_l`, `unique_id_r`, `label`).

    Args:
        queue: the pairs under review, as `review_queue` gives them.
        marks: the analyst's judgement of each pair, keyed by its position in the queue
            (`"0"`, `"1"`...); None or an empty value for a pair not yet judged.
    """
    rows = [
        (left, right, marks[str(i)])
        for i, (left, right) in enumerate(queue.select("unique_id_l", "unique_id_r").iter_rows())
        if marks.get(str(i))
    ]
    return pl.DataFrame(rows, schema=["unique_id_l", "unique_id_r", "label"], orient="row").cast(
        pl.String
    )


def write_labels(
    path: Path,
    judgements: pl.DataFrame,
    reviewer: str,
    reviewed_at: dt.datetime | None = None,
) -> int:
    """Add judgements to the clerical labels CSV; a pair judged again keeps only its newest label.

    The file is created if it does not exist. Its rows and columns are kept, except the
    older rows of a pair judged again (in either order), and it is replaced whole, so a
    failed write leaves the old file as it was.

    Args:
        path: the clerical labels CSV.
        judgements: `unique_id_l`, `unique_id_r`, `label` (match, non-match or unsure).
        reviewer: who judged the pairs.
        reviewed_at: when; now (UTC) if not given.

    Returns:
        How many judgements were written.

    Raises:
        LabelsError: the existing file cannot be read or lacks the label columns, or a
            judgement lacks an id or is not match, non-match or unsure; nothing is written.
    """
    bad = judgements.filter(
        ~pl.col("label").is_in(JUDGEMENTS).fill_null(False)
        | pl.col("unique_id_l").is_null()
        | pl.col("unique_id_r").is_null()
    )
    if bad.height:
        raise LabelsError(
            f"{path}: {bad.height} judgement(s) without both ids or with a label other than "
            "match, non-match or unsure; nothing written"
        )
    when = (reviewed_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    new = judgements.select(
        pl.col("unique_id_l", "unique_id_r", "label").cast(pl.String),
        pl.lit(reviewer, pl.String).alias("reviewer"),
        pl.lit(when, pl.String).alias("reviewed_at"),
    )
    old = _existing(path)
    columns = [*LABEL_COLUMNS, *(c for c in old.columns if c not in LABEL_COLUMNS)]
    merged = (
        pl.concat([old, new], how="diagonal")
        .with_columns(pair_key())
        .unique(["pair_a", "pair_b"], keep="last", maintain_order=True)
        .select(columns)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        merged.write_csv(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return new.height


def _existing(path: Path) -> pl.DataFrame:
    """The labels file as it is, every value a string; empty if there is none yet."""
    if not path.exists() or path.stat().st_size == 0:
        return pl.DataFrame(schema=dict.fromkeys(LABEL_COLUMNS, pl.String))
    try:
        old = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LabelsError(f"{path}: cannot read the labels to add to them: {exc}") from exc
    missing = {"unique_id_l", "unique_id_r", "label"} - set(old.columns)
    if missing:
        raise LabelsError(
            f"{path}: missing column(s) {sorted(missing)}; expected unique_id_l, unique_id_r, "
            "label; nothing written"
        )
    return old
