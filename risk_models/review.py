"""The analyst's review of a trained risk model: judge it again, and backtest it.

`evaluate_risk` re-judges a saved model on the persons it was judged on when trained (the
held-out half of the persons as at its judging date, whose outcomes it never saw), at
another threshold or capacity, and against a world's truth; it writes a fresh report
beside the model's own. `backtest_risk` replays past as-of dates with the model and a
threshold (`risk_models.backtest`) and writes `backtest.json` and `backtest.csv`.

Every request is checked before anything is read or written: a model that is not there or
reads another feature set, a threshold outside (0, 1), a capacity under 1, dates that
cannot be replayed. Each is one `RiskError`-like message a person can act on.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import numpy as np
import polars as pl
from pydantic import ValidationError

from common import version_number, versions
from risk_models import drift
from risk_models.backtest import Backtest, BacktestError, as_of_dates, backtest
from risk_models.evaluate import (
    Evaluation,
    EvaluationError,
    GroupBounds,
    capacity_cost,
    evaluate,
    group_lines,
)
from risk_models.features import FeaturesError, build_features, describe, newest_night
from risk_models.model import RiskModel, RiskModelError, matrix, top_reasons
from risk_models.night import RiskError, scoring_model
from risk_models.outcomes import oracle_auc, training_examples, truth_outcomes
from risk_models.report import ModelCard, write_report
from risk_models.scoring import ModelSettings, RiskSettings, risk_settings
from risk_models.training import PREFIX, audit_columns, held_out_split, latest_risk_model

# What a bad request to the risk stage raises: each says what is wrong and what would do.
RISK_ERRORS = (RiskError, FeaturesError, RiskModelError, EvaluationError, BacktestError)


def operating(
    threshold: float | None = None,
    capacity: int | None = None,
    settings: RiskSettings | None = None,
) -> ModelSettings:
    """risk.yaml's `model:` settings with another threshold or capacity, validated."""
    base = (settings or risk_settings()).model
    changes: dict[str, Any] = {}
    if threshold is not None:
        changes["threshold"] = threshold
    if capacity is not None:
        changes |= {"capacity": capacity, "capacity_from": "--capacity"}
    try:
        return ModelSettings.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        expected = {
            "threshold": "a probability above 0 and below 1",
            "capacity": "a number of persons above 0",
        }.get(field, exc.errors()[0]["msg"])
        raise RiskError(f"{field} must be {expected}, not {changes.get(field)}") from exc


def model_folder(models: Path, version: str | None = None) -> Path:
    """A trained model's folder in the models folder by its version (`risk-v3`), or the
    newest trained (the analyst's review of a new version before it is promoted).

    Raises:
        RiskError: no such version, or its training did not finish (no `model.json`).
    """
    if version is None:
        found = latest_risk_model(models)
        if found is None:
            raise RiskError("no trained risk model: run `joinedup risk train` first")
        return found
    folder = models / version
    if version_number(version, PREFIX) is None or not folder.is_dir():
        known = [p.name for _, p in versions(models, PREFIX)]
        raise RiskError(
            f"no risk model {version!r} in {models}; "
            f"trained: {', '.join(known) or 'none (run `joinedup risk train`)'}"
        )
    if not (folder / "model.json").is_file():
        raise RiskError(
            f"{version} in {models} is not a complete trained model (no model.json: its "
            "training did not finish); train again with `joinedup risk train`"
        )
    return folder


@dataclass
class HeldOut:
    """A saved model's held-out persons: their features, the model's scores, what happened."""

    folder: Path
    model: RiskModel
    judged_at: dt.date
    night: dt.date
    features: pl.DataFrame
    probability: np.ndarray
    outcome: np.ndarray
    audit: pl.DataFrame

    @property
    def name(self) -> str:
        """The model's version and kind, e.g. `risk-v2/boosted`."""
        return f"{self.folder.name}/{self.model.kind}"


def held_out(warehouse: Path, folder: Path, kind: str | None = None) -> HeldOut:
    """The persons a saved model was judged on when trained, scored by it again.

    They are the held-out half of the persons as at the model's judging date, with their
    outcome over its horizon, as the warehouse now holds them.
    """

    model = scoring_model(folder, kind)
    try:
        judged_at = dt.date.fromisoformat(str(model.trained["judged_at"]))
        horizon = int(model.trained["horizon_days"])
    except (KeyError, ValueError) as exc:
        raise RiskError(f"{folder}: the model does not say when it was judged ({exc})") from exc
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        night = newest_night(con)
        examples = training_examples(con, [judged_at], horizon)
    finally:
        con.close()
    _, persons = held_out_split(examples)
    return HeldOut(
        folder,
        model,
        judged_at,
        night,
        persons,
        model.probability(matrix(persons, model.features)),
        persons["outcome"].cast(pl.Boolean).to_numpy(),
        audit_columns(persons),
    )


def rejudge(
    held: HeldOut,
    threshold: float,
    capacity: int,
    ceiling: float | None = None,
    bounds: GroupBounds | None = None,
) -> Evaluation:
    """The held-out persons judged at a threshold and a capacity."""
    return evaluate(
        held.probability,
        held.outcome,
        held.audit,
        threshold,
        capacity,
        ceiling,
        raw=held.model.raw(matrix(held.features, held.model.features)),
        person_id=held.features["person_id"].to_list(),
        bounds=bounds,
    )


def reason_counts(held: HeldOut, threshold: float) -> pl.DataFrame:
    """How often each feature is among the reasons of the held-out persons flagged at a
    threshold: feature, as_first (the top reason), among_top_3. Counts under 10 are
    suppressed (null), as every aggregate of persons is."""
    flagged = held.features.filter(pl.Series((held.probability >= threshold).tolist()))
    first: Counter[str] = Counter()
    any_of: Counter[str] = Counter()
    for reasons in top_reasons(held.model, flagged, describe):
        if reasons:
            first[reasons[0]["feature"]] += 1
        any_of.update(r["feature"] for r in reasons)
    rows = sorted(any_of, key=lambda f: (-first[f], -any_of[f], f))
    return pl.DataFrame(
        {
            "feature": rows,
            "as_first": [first[f] if first[f] >= 10 else None for f in rows],
            "among_top_3": [any_of[f] if any_of[f] >= 10 else None for f in rows],
        },
        schema={"feature": pl.String, "as_first": pl.Int64, "among_top_3": pl.Int64},
    )


def sweep(held: HeldOut, thresholds: list[float]) -> pl.DataFrame:
    """Precision, recall and flags of the held-out persons at each threshold."""
    rows = []
    for t in thresholds:
        flagged = held.probability >= t
        hits = int((flagged & held.outcome).sum())
        n = int(flagged.sum())
        rows.append((t, n, hits, hits / n if n else None, hits / int(held.outcome.sum())))
    return pl.DataFrame(
        rows,
        schema={
            "threshold": pl.Float64,
            "flagged": pl.Int64,
            "true_flags": pl.Int64,
            "precision": pl.Float64,
            "recall": pl.Float64,
        },
        orient="row",
    )


def sweep_chart(table: pl.DataFrame, threshold: float) -> alt.LayerChart:
    """Precision and recall against the threshold, with a rule at the chosen one."""
    long = table.unpivot(on=["precision", "recall"], index="threshold", variable_name="measure")
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("threshold:Q", title="threshold (probability)"),
            y=alt.Y("value:Q", title="share", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("measure:N", sort=["precision", "recall"]),
            tooltip=["threshold:Q", "measure:N", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    rule = (
        alt.Chart(pl.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[4, 4], color="grey")
        .encode(x="threshold:Q")
    )
    chart: alt.LayerChart = (lines + rule).properties(width=520, height=280)
    return chart


def calibration_chart(rows: list[dict[str, float]]) -> alt.LayerChart:
    """Observed against predicted rate in each calibration bin, beside the diagonal."""
    table = pl.DataFrame(rows)
    top = max([0.05, *table["predicted"], *table["observed"]]) * 1.05
    diagonal = (
        alt.Chart(pl.DataFrame({"predicted": [0.0, top], "observed": [0.0, top]}))
        .mark_line(strokeDash=[4, 4], color="grey")
        .encode(x="predicted:Q", y="observed:Q")
    )
    points = (
        alt.Chart(table)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "predicted:Q", title="mean predicted probability", scale=alt.Scale(domain=[0, top])
            ),
            y=alt.Y("observed:Q", title="observed rate", scale=alt.Scale(domain=[0, top])),
            tooltip=[
                "persons:Q",
                alt.Tooltip("predicted:Q", format=".4f"),
                alt.Tooltip("observed:Q", format=".4f"),
            ],
        )
    )
    chart: alt.LayerChart = (diagonal + points).properties(width=320, height=320)
    return chart


def reasons_chart(counts: pl.DataFrame) -> alt.Chart:
    """How often each feature is the top reason of a flag (suppressed counts left out)."""
    shown = counts.filter(pl.col("as_first").is_not_null())
    chart: alt.Chart = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("as_first:Q", title="flags with this top reason"),
            y=alt.Y("feature:N", sort="-x", title=None),
            tooltip=["feature:N", "as_first:Q", "among_top_3:Q"],
        )
        .properties(width=420)
    )
    return chart


def saved_evaluation(folder: Path, kind: str | None = None) -> dict[str, Any]:
    """A trained model's own evaluation (its `evaluation.json`), with `truth` added from the
    world's, when it was judged against one."""

    if kind is None:
        try:
            kind = str(json.loads((folder / "model.json").read_text())["scores_with"])
        except (OSError, ValueError, KeyError) as exc:
            raise RiskError(f"{folder}: not a trained risk model ({exc})") from exc
    file = folder / kind / "evaluation.json"
    try:
        found: dict[str, Any] = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise RiskError(f"{file}: cannot read the model's evaluation ({exc})") from exc
    truth = folder / kind / "truth" / "evaluation.json"
    found["truth"] = json.loads(truth.read_text()) if truth.is_file() else None
    found["kind"] = kind
    return found


def figures(
    e: Evaluation,
    threshold: float,
    capacity: int,
    bounds: GroupBounds | None = None,
    capacity_from: str = "risk.yaml",
) -> list[str]:
    """An evaluation's headline figures, one line each."""
    lines = [
        f"{e.persons:,} persons, {e.outcomes:,} with a serious event; AUC {e.auc:.3f}, "
        f"average precision {e.average_precision:.3f}, calibration error (ECE) {e.ece:.4f}"
    ]
    for label, cut in (
        (f"at threshold {threshold}", e.threshold),
        (f"at capacity {capacity:,}", e.capacity),
    ):
        lines.append(
            f"{label}: {cut.flagged:,} flagged, {cut.true_flags:,} rightly "
            f"(precision {cut.precision:.3f}); recall {cut.recall:.3f}"
        )
    lines.append(capacity_cost(e, capacity_from))
    if e.oracle_auc:
        lines.append(f"AUC {e.auc / e.oracle_auc:.1%} of the oracle's {e.oracle_auc:.3f}")
    if bounds is not None:
        lines += group_lines(e, bounds)
    return lines


@dataclass
class ReviewReport:
    """What a re-judging found and wrote."""

    lines: list[str]
    written: list[Path]


def drift_since(warehouse: Path, version: str) -> str:
    """In words, how far the newest night the model scored has moved from its reference."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        have = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'risk_drift'"
        ).fetchall()[0][0]
        moved = (
            con.sql(
                "SELECT night, name, psi, reference_date FROM risk_drift WHERE model_version = ?"
                " AND night = (SELECT max(night) FROM risk_drift WHERE model_version = ?)"
                " ORDER BY psi DESC",
                params=[version, version],
            ).pl()
            if have
            else pl.DataFrame()
        )
    finally:
        con.close()
    if not moved.height:
        return "not measured: no night scored by this model with a reference to compare"
    brief = drift.summary(moved.select("name", "psi"), str(moved["reference_date"][0]))
    return f"night {moved['night'][0]}: {brief.line()}"


def evaluate_risk(
    warehouse: Path,
    folder: Path,
    kind: str | None = None,
    threshold: float | None = None,
    capacity: int | None = None,
    world: Path | None = None,
    out: Path | None = None,
) -> ReviewReport:
    """Re-judge a saved model on its held-out persons (and a world's truth) and write a
    fresh report: `evaluation.json` and `.html` in `out`, by default
    `<model>/<kind>/reviews/t<threshold>-c<capacity>/`."""
    everything = risk_settings()
    settings = operating(threshold, capacity, everything)
    bounds = everything.fairness.bounds()

    held = held_out(warehouse, folder, kind)
    e = rejudge(held, settings.threshold, settings.capacity, bounds=bounds)
    truth_view = None
    if world is not None:
        ceiling = oracle_auc(world)
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            tonight = build_features(con, held.night, held.night)
            truth = tonight.join(truth_outcomes(world, con, held.night), on="person_id")
        finally:
            con.close()
        raw = held.model.raw(matrix(truth, held.model.features))
        truth_view = evaluate(
            held.model.calibrated(raw),
            truth["outcome"].cast(pl.Boolean).to_numpy(),
            audit_columns(truth),
            settings.threshold,
            settings.capacity,
            ceiling,
            raw=raw,
            person_id=truth["person_id"].to_list(),
            bounds=bounds,
        )
    saved = saved_evaluation(folder, held.model.kind)
    card = ModelCard(**saved["model_card"])
    context: dict[str, Any] = {
        **saved.get("context", {}),
        "trained": str(held.model.trained.get("trained_at", "not recorded")),
        "drift since": drift_since(warehouse, held.name),
        "held-out persons": f"{e.persons:,}, as at {held.judged_at}, as linked on {held.night}",
        "operating threshold": settings.threshold,
        "capacity a night": settings.capacity,
        "capacity from": settings.capacity_from,
        "re-judged": dt.datetime.now().isoformat(timespec="seconds"),
    }
    out = (
        out or folder / held.model.kind / "reviews" / f"t{settings.threshold}-c{settings.capacity}"
    )
    written = list(write_report(out, card, e, context))
    lines = [
        f"{held.name} re-judged on its held-out persons as at {held.judged_at}, as linked on "
        f"{held.night}:"
    ]
    lines += [
        f"  {line}"
        for line in figures(
            e, settings.threshold, settings.capacity, bounds, settings.capacity_from
        )
    ]
    if truth_view is not None:
        written += write_report(
            out / "truth",
            card,
            truth_view,
            {**context, "judged on": f"the world's truth after {held.night}"},
        )
        lines.append(f"against the world's truth after {held.night}:")
        lines += [
            f"  {x}"
            for x in figures(
                truth_view, settings.threshold, settings.capacity, bounds, settings.capacity_from
            )
        ]
    return ReviewReport(lines, written)


@dataclass
class BacktestReport:
    """A backtest's result, its printed table, and the files written."""

    result: Backtest
    lines: list[str]
    written: list[Path]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def backtest_table(result: Backtest) -> list[str]:
    """The backtest as a table of text lines: one a date, then the totals."""
    head = (
        f"{'as of':<10} {'persons':>8} {'outcomes':>8} | "
        f"{'flagged':>7} {'true':>5} {'prec.':>6} {'recall':>6} {'new':>5} | "
        f"{'flagged':>7} {'true':>5} {'prec.':>6} {'recall':>6} {'new':>5}"
    )
    title = (
        f"{'':<28} | {'at threshold ' + str(result.threshold):<33} | "
        f"top {result.capacity:,} a night"
    )
    lines = [title, head]
    for row in result.frame().iter_rows(named=True):
        cells = [f"{row['as_of']:<10} {row['persons']:>8,} {row['outcomes']:>8,}"]
        for cut in ("threshold", "capacity"):
            cells.append(
                f"{row[f'{cut}_flagged']:>7,} {row[f'{cut}_true_flags']:>5,} "
                f"{_share(row[f'{cut}_precision']):>6} {_share(row[f'{cut}_recall']):>6} "
                f"{_count(row[f'{cut}_new']):>5}"
            )
        lines.append(" | ".join(cells))
    return lines


def backtest_risk(
    warehouse: Path,
    folder: Path,
    start: dt.date,
    end: dt.date,
    every: int = 7,
    kind: str | None = None,
    threshold: float | None = None,
    capacity: int | None = None,
    out: Path | None = None,
) -> BacktestReport:
    """Backtest a saved model (its folder) from `start` to `end`; write `backtest.json`
    and `.csv` to `out` (the model's folder by default)."""
    settings = operating(threshold, capacity)
    dates = as_of_dates(start, end, every)

    model = scoring_model(folder, kind)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        result = backtest(con, model, dates, settings.threshold, settings.capacity)
    finally:
        con.close()
    out = out or folder
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_csv = out / "backtest.json", out / "backtest.csv"
    as_json.write_text(json.dumps(result.as_dict(), indent=1, default=str))
    result.frame().write_csv(as_csv)
    t = result.total_threshold
    lines = [
        f"backtest of {result.model_version}: {len(result.dates)} as-of dates every {every} "
        f"days from {result.dates[0].as_of} to {result.dates[-1].as_of}; outcome over "
        f"{result.horizon_days} days; persons as linked on {result.night}",
        *backtest_table(result),
        f"at threshold {result.threshold}: {result.persons_flagged:,} distinct persons "
        f"flagged; {t.true_flags:,} of {t.flagged:,} flags were right "
        f"(precision {_share(t.precision)})",
    ]
    lines.append(
        f"every date is out of sample (from {result.out_of_sample_from}, after every outcome "
        f"{result.model_version} learned from or was calibrated on); the total row counts "
        f"each person once: {result.persons:,} persons, {result.outcomes:,} with a serious "
        "event; a flag is right if one followed the person's first flag"
    )
    return BacktestReport(result, lines, [as_json, as_csv])
