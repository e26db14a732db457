"""How good is the linkage: precision, recall and F1 of pairs and of clusters, against labels.

Labels are either the truth of a synthetic world (a person id for every record) or an
analyst's clerical pairs. Cluster metrics count every pair of records placed in one
cluster: a matcher that links nothing scores recall 0, not a flattering B-cubed figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1, with the counts behind them."""

    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        """Share of predicted links that are true."""
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true links that were predicted."""
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        """One line for a report."""
        return (
            f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}  "
            f"({self.true_positives:,} of {self.predicted:,} predicted, "
            f"{self.actual:,} true)"
        )


def _pairs_within(sizes: pl.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def cluster_scores(clusters: pl.DataFrame, truth: pl.DataFrame) -> Scores:
    """Pairs of records in one cluster against pairs of records of one true person.

    Args:
        clusters: `unique_id`, `cluster_id` for every record.
        truth: `unique_id`, `person_id` for every record.
    """
    both = clusters.select("unique_id", "cluster_id").join(
        truth.select("unique_id", "person_id"), on="unique_id", how="inner"
    )
    together = both.group_by("cluster_id", "person_id").len()["len"]
    return Scores(
        true_positives=_pairs_within(together),
        predicted=_pairs_within(both.group_by("cluster_id").len()["len"]),
        actual=_pairs_within(both.group_by("person_id").len()["len"]),
    )


def pair_scores(pairs: pl.DataFrame, truth: pl.DataFrame, threshold: float) -> Scores:
    """Scored pairs at or above a threshold against every true pair (blocked or not).

    Args:
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`.
        truth: `unique_id`, `person_id` for every record.
        threshold: the match probability at which a pair counts as a link.
    """
    ids = truth.select("unique_id", "person_id")
    linked = (
        pairs.filter(pl.col("match_probability") >= threshold)
        .join(ids.rename({"unique_id": "unique_id_l", "person_id": "person_l"}), on="unique_id_l")
        .join(ids.rename({"unique_id": "unique_id_r", "person_id": "person_r"}), on="unique_id_r")
    )
    return Scores(
        true_positives=int((linked["person_l"] == linked["person_r"]).sum()),
        predicted=linked.height,
        actual=_pairs_within(ids.group_by("person_id").len()["len"]),
    )


def sweep(pairs: pl.DataFrame, truth: pl.DataFrame, thresholds: list[float]) -> pl.DataFrame:
    """Pair scores across thresholds, for the analyst's threshold chart."""
    rows = []
    for t in thresholds:
        s = pair_scores(pairs, truth, t)
        rows.append(
            {
                "threshold": t,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "predicted": s.predicted,
            }
        )
    return pl.DataFrame(rows)


class LabelsError(ValueError):
    """A clerical labels file that cannot be used; the message says where and why."""


def read_labels(path: str, known: set[str]) -> pl.DataFrame:
    """An analyst's clerical labels: `unique_id_l`, `unique_id_r`, `label` (match/non-match).

    Every id must name a record that exists; otherwise nothing is scored and the error
    lists the rows that are wrong.
    """
    try:
        labels = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise LabelsError(f"{path}: cannot read the labels: {exc}") from exc
    missing = {"unique_id_l", "unique_id_r", "label"} - set(labels.columns)
    if missing:
        raise LabelsError(
            f"{path}: missing column(s) {sorted(missing)}; expected unique_id_l, unique_id_r, label"
        )
    labels = labels.with_row_index("row", offset=2).with_columns(
        pl.col("label").str.to_lowercase().str.strip_chars()
    )
    bad_label = labels.filter(~pl.col("label").is_in(["match", "non-match"]))
    if bad_label.height:
        rows = ", ".join(str(r) for r in bad_label["row"].head(5))
        raise LabelsError(f"{path}: rows {rows}: label must be 'match' or 'non-match'")
    unknown = labels.filter(
        ~pl.col("unique_id_l").is_in(list(known)) | ~pl.col("unique_id_r").is_in(list(known))
    )
    if unknown.height:
        shown = "; ".join(
            f"row {r}: {a} / {b}"
            for r, a, b in unknown.select("row", "unique_id_l", "unique_id_r").head(5).iter_rows()
        )
        raise LabelsError(
            f"{path}: {unknown.height} row(s) name records the warehouse does not "
            f"hold ({shown}); ids are source:source_record_id"
        )
    return labels.drop("row")


def label_scores(pairs: pl.DataFrame, labels: pl.DataFrame, threshold: float) -> Scores:
    """Scored pairs at a threshold against clerical labels (labelled pairs only)."""
    linked = (
        pairs.filter(pl.col("match_probability") >= threshold)
        .select(
            pl.min_horizontal("unique_id_l", "unique_id_r").alias("a"),
            pl.max_horizontal("unique_id_l", "unique_id_r").alias("b"),
        )
        .with_columns(pl.lit(True).alias("linked"))
    )
    judged = (
        labels.select(
            pl.min_horizontal("unique_id_l", "unique_id_r").alias("a"),
            pl.max_horizontal("unique_id_l", "unique_id_r").alias("b"),
            (pl.col("label") == "match").alias("match"),
        )
        .join(linked, on=["a", "b"], how="left")
        .with_columns(pl.col("linked").fill_null(False))
    )
    return Scores(
        true_positives=int((judged["match"] & judged["linked"]).sum()),
        predicted=int(judged["linked"].sum()),
        actual=int(judged["match"].sum()),
    )
