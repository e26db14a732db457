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
