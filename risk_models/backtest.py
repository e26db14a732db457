"""Backtest: what a model, at a threshold, would have flagged on past dates, and what happened.

For each as-of date in a range (weekly by default), every person linked on the newest night
is scored from the features they had at that date, and flagged two ways: at the operating
threshold, and the top `capacity` (what the teams can review in a night). The flags are
set against the outcome (a serious event in the horizon after the date): how many flags
were right (precision), how many of those who went on to a serious event were flagged
(recall), and how many flags would have been new since the date before.

A date is refused, before any is scored, when its outcome is not known yet (its horizon
runs past the newest linked night), when its features would be cut short (their longest
window starts before the warehouse's first event), or when it is not out of sample: the
model learned from the outcomes after its `learned_at` date and was calibrated on those
after its `judged_at` date (its `trained` metadata), so the first date it can be judged on
is `judged_at` plus its horizon, whose outcome window starts after every outcome it saw.

Each date's row counts that date's flags and outcomes. The totals count each person once:
a person flagged on several dates is one flag, right if a serious event followed their
first flag within the horizon; a person with a serious event after several dates is one
outcome, caught if they were flagged on a date whose horizon held it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import polars as pl

from common import ranking
from risk_models.features import (
    FeaturesConfig,
    build_features,
    feature_set,
    features_config,
    newest_night,
    require,
)
from risk_models.model import RiskModel, matrix
from risk_models.outcomes import OutcomeConfig, outcome_config, outcomes


class BacktestError(ValueError):
    """A backtest that cannot be run as asked; the message says why and what would do."""


@dataclass
class Flags:
    """What flagging one way would have meant on a date, or over all the dates."""

    flagged: int
    true_flags: int
    precision: float | None
    recall: float | None
    new: int | None  # flags not raised on the date before (None on the first date)


@dataclass
class DateResult:
    """One replayed as-of date."""

    as_of: dt.date
    persons: int
    outcomes: int
    at_threshold: Flags
    at_capacity: Flags


@dataclass
class Backtest:
    """Every replayed date and the totals over them."""

    model_version: str
    feature_set: str
    threshold: float
    capacity: int
    horizon_days: int
    night: dt.date
    dates: list[DateResult]
    total_threshold: Flags  # each person once (see the module's docstring)
    total_capacity: Flags
    persons: int  # distinct persons replayed on any date
    outcomes: int  # distinct persons with a serious event in the horizon after any date
    persons_flagged: int  # distinct persons flagged at the threshold on any date
    out_of_sample_from: dt.date  # the first as-of date after every outcome the model saw

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)

    def frame(self) -> pl.DataFrame:
        """One row per date, then a `total` row: the table printed and written as CSV."""
        rows = [
            _row(str(d.as_of), d.persons, d.outcomes, d.at_threshold, d.at_capacity)
            for d in self.dates
        ]
        rows.append(
            _row("total", self.persons, self.outcomes, self.total_threshold, self.total_capacity)
        )
        return pl.DataFrame(rows, schema=COLUMNS, orient="row")


COLUMNS: dict[str, Any] = {
    "as_of": pl.String,
    "persons": pl.Int64,
    "outcomes": pl.Int64,
    **{
        f"{cut}_{name}": kind
        for cut in ("threshold", "capacity")
        for name, kind in (
            ("flagged", pl.Int64),
            ("true_flags", pl.Int64),
            ("precision", pl.Float64),
            ("recall", pl.Float64),
            ("new", pl.Int64),
        )
    },
}


def _row(as_of: str, persons: int, found: int, t: Flags, c: Flags) -> tuple[Any, ...]:
    return (
        as_of,
        persons,
        found,
        *(t.flagged, t.true_flags, t.precision, t.recall, t.new),
        *(c.flagged, c.true_flags, c.precision, c.recall, c.new),
    )


def as_of_dates(start: dt.date, end: dt.date, every: int = 7) -> list[dt.date]:
    """`start`, then every `every` days while on or before `end`."""
    if every <= 0:
        raise BacktestError(f"every must be a number of days above 0, not {every}")
    if end < start:
        raise BacktestError(f"the range ends ({end}) before it starts ({start})")
    return [start + dt.timedelta(days=i) for i in range(0, (end - start).days + 1, every)]


def usable_dates(
    con: duckdb.DuckDBPyConnection,
    horizon_days: int,
    config: FeaturesConfig | None = None,
) -> tuple[dt.date, dt.date]:
    """The earliest and latest as-of dates a backtest can replay on this warehouse.

    The earliest is the first event plus the features' longest window; the latest is the
    newest linked night less the outcome horizon.
    """
    f = config or features_config()
    night = newest_night(con)
    require(con, {"events": ("date",)})
    first = con.execute("SELECT min(date) FROM events").fetchall()[0][0]
    if first is None:
        raise BacktestError("the warehouse holds no events: there is nothing to replay")
    return first + dt.timedelta(days=f.longest_window()), night - dt.timedelta(days=horizon_days)


def out_of_sample_from(model: RiskModel) -> dt.date:
    """The first as-of date whose outcome window starts after every outcome the model saw.

    The model learned from the outcomes in the horizon after `learned_at` and was
    calibrated on those in the horizon after `judged_at` (later), both in its `trained`
    metadata; the first date out of sample is `judged_at` plus that horizon.

    Raises:
        BacktestError: the model does not say which dates it learned and was calibrated on.
    """
    trained = model.trained
    try:
        learned = dt.date.fromisoformat(str(trained["learned_at"]))
        judged = dt.date.fromisoformat(str(trained["judged_at"]))
        horizon = int(trained["horizon_days"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BacktestError(
            f"model {trained.get('version', 'unversioned')}/{model.kind} does not say which "
            "dates it learned and was calibrated on (learned_at, judged_at and horizon_days "
            "in its model.json), so no date can be shown to be out of sample: backtest a "
            "model trained by `joinedup risk train`"
        ) from exc
    return max(learned, judged) + dt.timedelta(days=horizon)


def check_dates(
    con: duckdb.DuckDBPyConnection,
    dates: list[dt.date],
    horizon_days: int,
    config: FeaturesConfig | None = None,
    first_allowed: dt.date | None = None,
) -> None:
    """Refuse, naming them, dates whose outcome is not known yet, whose features would be
    cut short, or that come before `first_allowed` (the first out-of-sample date); say
    which dates can be replayed."""
    if not dates:
        raise BacktestError("no as-of dates to replay")
    earliest, latest = usable_dates(con, horizon_days, config)
    early = [d for d in dates if d < earliest]
    if first_allowed is not None and first_allowed > earliest:
        earliest = first_allowed
    usable = f"as-of dates from {earliest} to {latest} can be replayed"
    if earliest > latest:
        usable = "no as-of date can be replayed on this warehouse yet"
    late = [d for d in dates if d > latest]
    if late:
        raise BacktestError(
            f"as-of date {late[0]}{' and later' if len(late) > 1 else ''}: the "
            f"{horizon_days}-day outcome horizon runs past the newest linked night "
            f"({latest + dt.timedelta(days=horizon_days)}), so what happened is not known "
            f"yet; {usable}"
        )
    if early:
        raise BacktestError(
            f"as-of date {early[0]}{' and earlier' if len(early) > 1 else ''}: the features' "
            f"longest window would start before the warehouse's first event, so they would "
            f"be cut short; {usable}"
        )
    inside = [d for d in dates if first_allowed is not None and d < first_allowed]
    if inside:
        raise BacktestError(
            f"as-of date {inside[0]}{' and earlier' if len(inside) > 1 else ''}: its outcome "
            f"window overlaps the outcomes the model learned from or was calibrated on, so "
            f"it is not out of sample; the first as-of date out of sample is "
            f"{first_allowed}; {usable}"
        )


def _flags(
    flagged: pl.Series, outcome: pl.Series, previous: pl.Series | None, ids: pl.Series
) -> tuple[Flags, pl.Series]:
    n = int(flagged.sum())
    hits = int((flagged & outcome).sum())
    total = int(outcome.sum())
    chosen = ids.filter(flagged)
    new = None if previous is None else int((~chosen.is_in(previous.implode())).sum())
    return Flags(n, hits, hits / n if n else None, hits / total if total else None, new), chosen


def _once(replayed: pl.DataFrame, flag: str, parts: list[Flags]) -> Flags:
    """Totals over the dates with each person counted once (see the module's docstring).

    `replayed` holds a row per person and date: person_id, as_of, outcome and the flag.
    """
    first_flags = (
        replayed.filter(pl.col(flag))
        .sort("as_of")
        .group_by("person_id", maintain_order=True)
        .agg(pl.col("outcome").first())
    )
    n = first_flags.height
    hits = int(first_flags["outcome"].sum())
    had = replayed.filter(pl.col("outcome"))["person_id"].n_unique()
    caught = replayed.filter(pl.col("outcome") & pl.col(flag))["person_id"].n_unique()
    new = [p.new for p in parts if p.new is not None]
    return Flags(
        n, hits, hits / n if n else None, caught / had if had else None, sum(new) if new else None
    )


def backtest(
    con: duckdb.DuckDBPyConnection,
    model: RiskModel,
    dates: list[dt.date],
    threshold: float,
    capacity: int,
    horizon_days: int | None = None,
    outcome: OutcomeConfig | None = None,
    features: FeaturesConfig | None = None,
) -> Backtest:
    """Replay past as-of dates with a model and a threshold, against what happened.

    Args:
        con: the warehouse (read-only is enough; nothing is written).
        model: the candidate model; it must read the feature set of `features`.
        dates: the as-of dates to replay, each checked by `check_dates` first.
        threshold: the operating threshold, a probability strictly between 0 and 1.
        capacity: persons the teams can review in a night (the top ones are flagged).
        horizon_days: the outcome horizon (risk.yaml's `outcome.horizon_days` if None).
        outcome: the outcome settings (risk.yaml's `outcome:` if None).
        features: the feature settings (risk.yaml's `features:` if None).

    Raises:
        BacktestError: a threshold or capacity out of range, a model trained on another
            feature set, or a date that cannot be replayed.

    Examples:
        >>> dates = as_of_dates(dt.date(2026, 3, 1), dt.date(2026, 5, 1))  # doctest: +SKIP
        >>> backtest(con, model, dates, 0.15, 200).frame()  # doctest: +SKIP
    """
    if not 0.0 < threshold < 1.0:
        raise BacktestError(f"threshold must be a probability between 0 and 1, not {threshold}")
    if capacity <= 0:
        raise BacktestError(f"capacity must be a number of persons above 0, not {capacity}")
    f = features or features_config()
    if model.feature_set != feature_set(f):
        raise BacktestError(
            f"the model reads feature set {model.feature_set!r}, but the features are now "
            f"{feature_set(f)!r}: backtest a model trained on this feature set"
        )
    o = outcome or outcome_config()
    horizon = horizon_days if horizon_days is not None else o.horizon_days
    dates = sorted(set(dates))
    first_allowed = out_of_sample_from(model)
    check_dates(con, dates, horizon, f, first_allowed)
    night = newest_night(con)
    results: list[DateResult] = []
    replayed: list[pl.DataFrame] = []
    before: tuple[pl.Series, pl.Series] | None = None
    for as_of in dates:
        frame = build_features(con, as_of, night, f).join(
            outcomes(con, as_of, horizon, o), on="person_id", how="left", validate="1:1"
        )
        raw = model.raw(matrix(frame, model.features))
        probability = model.calibrated(raw)
        top = ranking.top(capacity, probability, raw, frame["person_id"].to_list())
        ids = frame["person_id"]
        happened = frame["outcome"].fill_null(False)
        at_threshold, flagged_t = _flags(
            pl.Series((probability >= threshold).tolist(), dtype=pl.Boolean),
            happened,
            before[0] if before else None,
            ids,
        )
        at_capacity, flagged_c = _flags(
            pl.Series(top.tolist(), dtype=pl.Boolean), happened, before[1] if before else None, ids
        )
        before = (flagged_t, flagged_c)
        replayed.append(
            pl.DataFrame(
                {
                    "person_id": ids,
                    "as_of": [as_of] * frame.height,
                    "outcome": happened,
                    "threshold": probability >= threshold,
                    "capacity": top,
                },
                schema_overrides={"as_of": pl.Date},
            )
        )
        results.append(
            DateResult(as_of, frame.height, int(happened.sum()), at_threshold, at_capacity)
        )
    every = pl.concat(replayed)
    return Backtest(
        model_version=str(model.trained.get("version", "unversioned")) + f"/{model.kind}",
        feature_set=model.feature_set,
        threshold=threshold,
        capacity=capacity,
        horizon_days=horizon,
        night=night,
        dates=results,
        total_threshold=_once(every, "threshold", [r.at_threshold for r in results]),
        total_capacity=_once(every, "capacity", [r.at_capacity for r in results]),
        persons=every["person_id"].n_unique(),
        outcomes=every.filter(pl.col("outcome"))["person_id"].n_unique(),
        persons_flagged=every.filter(pl.col("threshold"))["person_id"].n_unique(),
        out_of_sample_from=first_allowed,
    )
