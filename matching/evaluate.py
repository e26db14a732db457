"""How good is the linkage: precision, recall and F1 of pairs and of clusters, against labels.

Labels are either the truth of a synthetic world (a person id for every record) or an
analyst's clerical pairs. Cluster metrics count every pair of records placed in one
cluster: a matcher that links nothing scores recall 0, not a flattering B-cubed figure.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
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


def kept_pair_scores(pairs: pl.DataFrame, truth: pl.DataFrame, threshold: float) -> Scores:
    """The links the product keeps: pairs at the threshold that clustering did not refuse.

    This is the pairwise figure to quote; `pair_scores` gives the raw one, every pair at
    the threshold, beside it.

    Args:
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`, `refused_by_clustering`
            (as `matching.link.link` and the warehouse's `linkage_pairs` give them).
        truth: `unique_id`, `person_id` for every record.
        threshold: the threshold the clusters were made at (the refusals hold for it only).
    """
    if "refused_by_clustering" not in pairs.columns:
        raise ValueError("pairs need refused_by_clustering (from matching.link.link)")
    kept = pairs.filter(~pl.col("refused_by_clustering").fill_null(False))
    return pair_scores(kept, truth, threshold)


def _table(scores_at: Callable[[float], Scores], thresholds: list[float]) -> pl.DataFrame:
    rows = []
    for t in thresholds:
        s = scores_at(t)
        rows.append(
            {
                "threshold": t,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "predicted": s.predicted,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "threshold": pl.Float64,
            "precision": pl.Float64,
            "recall": pl.Float64,
            "f1": pl.Float64,
            "predicted": pl.Int64,
        },
    )


def sweep(pairs: pl.DataFrame, truth: pl.DataFrame, thresholds: list[float]) -> pl.DataFrame:
    """Pair scores across thresholds against the truth, for the analyst's threshold chart."""
    return _table(lambda t: pair_scores(pairs, truth, t), thresholds)


def label_sweep(pairs: pl.DataFrame, labels: pl.DataFrame, thresholds: list[float]) -> pl.DataFrame:
    """Pair scores across thresholds against clerical labels (labelled pairs only)."""
    return _table(lambda t: label_scores(pairs, labels, t), thresholds)


class LabelsError(ValueError):
    """A clerical labels file that cannot be used; the message says where and why."""


JUDGEMENTS = ("match", "non-match", "unsure")


def pair_key(left: str = "unique_id_l", right: str = "unique_id_r") -> list[pl.Expr]:
    """A pair's two ids in a fixed order (`pair_a` <= `pair_b`): (x, y) and (y, x) are one pair."""
    return [
        pl.min_horizontal(left, right).alias("pair_a"),
        pl.max_horizontal(left, right).alias("pair_b"),
    ]


def read_labels(path: str, known: set[str], *, keep_unsure: bool = False) -> pl.DataFrame:
    """An analyst's clerical labels: `unique_id_l`, `unique_id_r`, `label`, the newest per pair.

    `label` is match, non-match or unsure; other columns (such as `reviewer` and
    `reviewed_at`) are kept. A pair labelled more than once, in either order, keeps only
    its last row in the file: the newest judgement. Unsure pairs are dropped unless
    `keep_unsure`: they were looked at but say nothing about the model. Every id must name
    a record that exists; otherwise nothing is used and the error lists the wrong rows.
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
        pl.col("label").str.to_lowercase().str.strip_chars().fill_null(""),
        pl.col("unique_id_l", "unique_id_r").str.strip_chars().fill_null(""),
    )
    bad_label = labels.filter(~pl.col("label").is_in(JUDGEMENTS))
    if bad_label.height:
        rows = ", ".join(str(r) for r in bad_label["row"].head(5))
        raise LabelsError(f"{path}: rows {rows}: label must be 'match', 'non-match' or 'unsure'")
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
    newest = (
        labels.with_columns(pair_key())
        .unique(["pair_a", "pair_b"], keep="last", maintain_order=True)
        .drop("row", "pair_a", "pair_b")
    )
    return newest if keep_unsure else newest.filter(pl.col("label") != "unsure")


def label_scores(pairs: pl.DataFrame, labels: pl.DataFrame, threshold: float) -> Scores:
    """Scored pairs at a threshold against clerical labels (match and non-match pairs only)."""
    linked = pairs.filter(pl.col("match_probability") >= threshold).select(pair_key())
    return _judged(linked, labels)


def label_cluster_scores(persons: pl.DataFrame, labels: pl.DataFrame) -> Scores:
    """Persons against clerical labels: a labelled pair is linked when its two records
    are one person.

    Args:
        persons: `unique_id`, `person_id` of the night's records.
        labels: as `read_labels` gives them.
    """
    ids = persons.select("unique_id", "person_id")
    together = (
        labels.join(ids.rename({"unique_id": "unique_id_l"}), on="unique_id_l")
        .join(ids.rename({"unique_id": "unique_id_r"}), on="unique_id_r", suffix="_r")
        .filter(pl.col("person_id") == pl.col("person_id_r"))
        .select(pair_key())
    )
    return _judged(together, labels)


def _judged(linked: pl.DataFrame, labels: pl.DataFrame) -> Scores:
    """Linked pairs (`pair_a`, `pair_b`) against the match and non-match labels."""
    judged = (
        labels.filter(pl.col("label").is_in(["match", "non-match"]))
        .select(*pair_key(), (pl.col("label") == "match").alias("match"))
        .join(
            linked.unique().with_columns(pl.lit(True).alias("linked")),
            on=["pair_a", "pair_b"],
            how="left",
        )
        .with_columns(pl.col("linked").fill_null(False))
    )
    return Scores(
        true_positives=int((judged["match"] & judged["linked"]).sum()),
        predicted=int(judged["linked"].sum()),
        actual=int(judged["match"].sum()),
    )


class NotLinkedYet(ValueError):
    """The warehouse holds no linked night to judge."""


# What `link evaluate` reads: the current records' ids, the newest night's scored pairs
# and persons, and the threshold that night was linked at.
CURRENT_IDS = """
SELECT source || ':' || source_record_id AS unique_id
FROM person_records
WHERE valid_to IS NULL
"""
SCORED_PAIRS = "SELECT * FROM linkage_pairs"
CURRENT_PERSONS = "SELECT unique_id, person_id FROM persons WHERE valid_to IS NULL"
NEWEST_RUN = """
SELECT night, threshold
FROM linkage_runs
ORDER BY night DESC, finished_at DESC
LIMIT 1
"""

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class LabelledNight:
    """The newest linked night judged against clerical labels."""

    labelled: int
    scored: int
    at_thresholds: tuple[tuple[float, Scores], ...]
    night: dt.date | None = None  # the newest night linked, None if no run is recorded
    threshold: float | None = None  # the threshold it was linked at
    kept: Scores | None = None  # the links kept at that threshold
    persons: Scores | None = None  # the night's persons, as pairs within a cluster
    run: Path | None = None  # a `link files` out folder judged instead of a night

    def lines(self) -> list[str]:
        """Report lines: the pairs at each threshold, then the links kept and the persons."""
        whose = f"run {self.run}" if self.run is not None else f"night {self.night}"
        scored = f"{whose}'s" if self.run is not None else "newest night's"
        lines = [f"{self.labelled:,} labelled pairs; {scored} {self.scored:,} scored pairs"]
        lines += [f"  pairs at {t}: {s.line()}" for t, s in self.at_thresholds]
        if self.kept is not None:
            lines.append(
                f"  links kept at {whose}'s threshold {self.threshold} (none the "
                f"clustering refused): {self.kept.line()}"
            )
        if self.persons is not None:
            lines.append(f"  persons (clusters) of {whose}: {self.persons.line()}")
        return lines


def evaluate_labels(
    warehouse: Path, labels_path: Path, thresholds: Sequence[float] = THRESHOLDS
) -> LabelledNight:
    """Judge the newest night's pairs, the links kept and the persons against clerical labels.

    Args:
        warehouse: the DuckDB warehouse, opened read-only.
        labels_path: a CSV of `unique_id_l`, `unique_id_r`, `label` (see `read_labels`).
        thresholds: the match probabilities at which every scored pair is judged.

    Raises:
        NotLinkedYet: the warehouse has no linkage tables yet.
        LabelsError: the labels cannot be read or name records the warehouse lacks.
    """
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        known = {r[0] for r in con.execute(CURRENT_IDS).fetchall()}
        pairs = con.sql(SCORED_PAIRS).pl()
        persons = con.sql(CURRENT_PERSONS).pl()
        run = con.execute(NEWEST_RUN).fetchall()
    except duckdb.CatalogException as exc:
        raise NotLinkedYet("no linked night to evaluate: run `joinedup link run` first") from exc
    finally:
        con.close()
    labels = read_labels(str(labels_path), known)
    at_thresholds = tuple((t, label_scores(pairs, labels, t)) for t in thresholds)
    if not run:
        return LabelledNight(labels.height, pairs.height, at_thresholds)
    night, threshold = run[0]
    kept = pairs.filter(~pl.col("refused_by_clustering").fill_null(False))
    return LabelledNight(
        labels.height,
        pairs.height,
        at_thresholds,
        night,
        threshold,
        label_scores(kept, labels, threshold),
        label_cluster_scores(persons, labels),
    )


class NotARun(ValueError):
    """A folder that is not the output of `joinedup link files`."""


def read_run(folder: Path) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """A `link files` out folder: its summary, scored pairs and clusters.

    Raises:
        NotARun: a file the run writes is missing or cannot be read.
    """
    try:
        summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
        pairs = pl.read_csv(folder / "pairs.csv", infer_schema_length=None).with_columns(
            pl.col("unique_id_l", "unique_id_r").cast(pl.String),
            pl.col("match_probability").cast(pl.Float64),
            pl.col("refused_by_clustering").cast(pl.Boolean),
        )
        clusters = pl.read_csv(folder / "clusters.csv", infer_schema=False)
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise NotARun(
            f"{folder}: not the output of `joinedup link files` (summary.json, pairs.csv "
            f"and clusters.csv): {exc}"
        ) from exc
    return summary, pairs, clusters


def evaluate_run(
    folder: Path, labels_path: Path | None = None, thresholds: Sequence[float] = THRESHOLDS
) -> LabelledNight:
    """Judge a `link files` run's pairs, links kept and clusters against clerical labels.

    Args:
        folder: the run's out folder.
        labels_path: a CSV of `unique_id_l`, `unique_id_r`, `label`; by default the labels
            the run's config names (`linkage.labels`).
        thresholds: the match probabilities at which every scored pair is judged.

    Raises:
        NotARun: the folder is not a run's output.
        LabelsError: no labels given or named by the run, or they cannot be used.
    """
    summary, pairs, clusters = read_run(folder)
    if labels_path is None:
        named = summary.get("labels_file")
        if not named:
            raise LabelsError(f"{folder}: the run's config names no linkage.labels; give --labels")
        labels_path = Path(named)
    labels = read_labels(str(labels_path), set(clusters["unique_id"]))
    at_thresholds = tuple((t, label_scores(pairs, labels, t)) for t in thresholds)
    threshold = float(summary["threshold"])
    kept = pairs.filter(~pl.col("refused_by_clustering").fill_null(False))
    return LabelledNight(
        labels.height,
        pairs.height,
        at_thresholds,
        threshold=threshold,
        kept=label_scores(kept, labels, threshold),
        persons=label_cluster_scores(
            clusters.select("unique_id", pl.col("cluster_id").alias("person_id")), labels
        ),
        run=folder,
    )


def blocking_recall(
    prepared: pl.DataFrame, model: dict[str, Any], true_pairs: pl.DataFrame
) -> pl.DataFrame:
    """How many known true pairs each of the model's blocking rules brings together.

    A pair no rule brings together is never scored, so no threshold can link it: the
    last row's `cumulative` is the most recall the model can have on these pairs.

    Args:
        prepared: the linkage input (`matching.prepare.prepare`).
        model: the model's JSON, whose `blocking_rules_to_generate_predictions` are read.
        true_pairs: `unique_id_l`, `unique_id_r` of pairs known to be one person.

    Returns:
        `rule`, `pairs` (of the true pairs it brings together), `share`, and `cumulative`
        (the share that this rule or one before it brings together), one row a rule.
    """
    rules = [
        r["blocking_rule"] if isinstance(r, dict) else str(r)
        for r in model.get("blocking_rules_to_generate_predictions", [])
    ]
    con = duckdb.connect()
    try:
        con.register("records", prepared.to_arrow())
        con.register("pairs", true_pairs.select("unique_id_l", "unique_id_r").to_arrow())
        joined = (
            "FROM pairs p JOIN records l ON l.unique_id = p.unique_id_l"
            " JOIN records r ON r.unique_id = p.unique_id_r"
        )

        def count(where: str) -> int:
            found = con.execute(f"SELECT count(*) {joined} WHERE {where}").fetchone()
            return int(found[0]) if found else 0

        total = count("true")
        rows = []
        for i, rule in enumerate(rules):
            # A blank on either side agrees with nothing, as in Splink's blocking.
            found = count(f"coalesce(({rule}), false)")
            cumulative = count(" OR ".join(f"coalesce(({x}), false)" for x in rules[: i + 1]))
            rows.append((rule, found, found / max(total, 1), cumulative / max(total, 1)))
    finally:
        con.close()
    return pl.DataFrame(rows, schema=["rule", "pairs", "share", "cumulative"], orient="row")
