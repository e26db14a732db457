"""Impact: did the people alerted do better than comparable people who were not?

Alerts fire when a person's score crosses a band's threshold, so the study compares
people on either side of it, and alerted people with matched people who were not:

- **The study** (`study_frame`): everyone scored on an index night N, with their score,
  whether an alert about them reached a team within `alert_days` of N (held over
  capacity does not count, nor a step-down), and three outcomes, each a recorded serious
  safeguarding event (risk.yaml's `outcome.types`): `earlier` in (N - 2d, N - d], `pre`
  in (N - d, N] and `post` in (N, N + d], for a window of d days. `post` is known only
  once N + d has been linked.
- **Regression discontinuity** (`regression_discontinuity`): a local-linear fit each side
  of the threshold on the model's raw score (log-odds), triangular weights within a bandwidth
  (a rule of thumb unless given), with the alert instrumented by being above the
  threshold (a fuzzy design: capacity and other triggers make it so), by two-stage
  least squares (linearmodels' IV2SLS) with robust errors. Its effect is on the
  probability of a recorded serious event in the window, for people at the threshold.
- **Difference-in-differences** (`difference_in_differences`): each alerted person with
  the not-alerted person nearest in score (within a caliper), and both periods (pre and
  post) in a panel with person and period effects (linearmodels' PanelOLS), errors
  clustered by person.
- **Checks**: the discontinuity at half and twice the bandwidth; placebo thresholds
  where nothing happens (below and above the real one); the discontinuity in `pre`,
  which an alert cannot have changed; the difference-in-differences between `earlier`
  and `pre`, before anyone was alerted; and the regression to the mean: how far the
  alerted people's events fell from pre to post by themselves, beside how far the
  comparison people's fell without an alert.

Every count published passes the disclosure rule; an estimate from fewer alerted people
than the rule would show is not published.
"""

from __future__ import annotations

import bisect
import datetime as dt
import html
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import sqlalchemy as sa
from linearmodels.iv import IV2SLS
from linearmodels.panel import PanelOLS

from alerts.store import ALERTS, open_store
from insight.charts import binned_chart
from insight.disclosure import DisclosureRule, protect
from risk_models.outcomes import OutcomeConfig, OutcomesError, outcome_config, outcomes

STEP_DOWN = "step_down"  # an alert to review and close, not to follow up


class ImpactError(ValueError):
    """The study cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Estimate:
    """One estimate of an effect on the probability of a serious event, with its interval."""

    name: str
    effect: float
    low: float
    high: float
    alerted: int | str  # alerted people it rests on, disclosure-controlled
    compared: int | str  # people it compares them with, disclosure-controlled
    note: str = ""
    bandwidth: float | None = None  # a discontinuity's, in log-odds of the raw score
    truth: float | None = None  # the planted effect for the same people, on a world

    def contains(self, value: float) -> bool:
        """Whether the 95% interval holds a value."""
        return self.low <= value <= self.high


@dataclass
class Discontinuity:
    """The discontinuity at one kind of threshold, with its checks."""

    threshold: str
    persons: int | str  # people in its study, disclosure-controlled
    estimate: Estimate | None
    first_stage: dict[str, float]
    bandwidths: list[Estimate] = field(default_factory=list)
    placebos: list[Estimate] = field(default_factory=list)
    bins: list[dict[str, Any]] = field(default_factory=list)  # for the chart, published


@dataclass
class Impact:
    """The study's estimates and checks, ready for JSON."""

    night: str
    window_days: int
    cutoff: float
    persons: int | str
    alerted: int | str
    discontinuities: list[Discontinuity] = field(default_factory=list)
    did: Estimate | None = None
    did_placebo: Estimate | None = None
    before_after: dict[str, Estimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)

    def estimates(self) -> list[Estimate]:
        """Every estimate the study made, checks included."""
        found = [e for d in self.discontinuities for e in (d.estimate, *d.bandwidths, *d.placebos)]
        found += [self.did, self.did_placebo, *self.before_after.values()]
        return [e for e in found if e is not None]


def alerts_reaching_teams(store_url: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """person_id and alerted_on: the first night in [start, end] a team was told of each.

    A team is told on an alert's `notify_night`: an alert held over capacity is told
    when it is released, or never. A step-down asks for a case to be closed, not
    followed up, so it does not count.
    """
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(ALERTS.c.person_id, sa.func.min(ALERTS.c.notify_night))
                .where(ALERTS.c.notify_night.between(start, end), ALERTS.c.kind != STEP_DOWN)
                .group_by(ALERTS.c.person_id)
            ).all()
    finally:
        engine.dispose()
    return pl.DataFrame(
        [(str(p), n) for p, n in rows],
        schema={"person_id": pl.String, "alerted_on": pl.Date},
        orient="row",
    )


def study_frame(
    warehouse: Path,
    alerted: pl.DataFrame,
    night: dt.date,
    days: int | None = None,
    post: pl.DataFrame | None = None,
    config: OutcomeConfig | None = None,
) -> pl.DataFrame:
    """Everyone scored on the index night: score, alerted, and the outcome of each period.

    Args:
        warehouse: the warehouse, with the night scored and the windows linked.
        alerted: `alerts_reaching_teams` for the days after the night.
        night: the index night N.
        days: the window d (risk.yaml's outcome horizon if None).
        post: person_id and post, the outcome after N, when it comes from elsewhere
            (a synthetic world's answer); read from the warehouse if None.
        config: the outcome settings (risk.yaml's if None).

    Raises:
        ImpactError: the night was not scored, or its window has not passed yet.
    """
    c = config or outcome_config()
    d = days or c.horizon_days
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        scores = con.sql(
            "SELECT person_id, score, raw_score FROM scores WHERE night = ?", params=[night]
        ).pl()
        if scores.is_empty():
            raise ImpactError(f"{warehouse}: no scores for {night}; score that night first")
        if scores["raw_score"].null_count():
            raise ImpactError(
                f"{warehouse}: the scores of {night} were made before scores kept the model's "
                "raw score; score that night again (joinedup risk score --again) to study it"
            )
        periods = {
            "earlier": night - dt.timedelta(days=2 * d),
            "pre": night - dt.timedelta(days=d),
        }
        if post is None:
            periods["post"] = night
        frame = scores
        for name, as_of in periods.items():
            try:
                found = outcomes(con, as_of, d, c)
            except OutcomesError as exc:
                raise ImpactError(f"the {name} period: {exc}") from exc
            frame = frame.join(
                found.select(pl.col("person_id").cast(pl.String), pl.col("outcome").alias(name)),
                on="person_id",
                how="left",
            )
    except duckdb.CatalogException as exc:
        raise ImpactError(f"{warehouse}: nothing scored yet ({exc})") from exc
    finally:
        con.close()
    if post is not None:
        frame = frame.join(post.select("person_id", "post"), on="person_id", how="left")
    studied: pl.DataFrame = frame.join(alerted, on="person_id", how="left").with_columns(
        pl.col("alerted_on").is_not_null().alias("alerted"),
        pl.col("earlier", "pre", "post").fill_null(False),
    )
    return studied


def rule_of_thumb(running: np.ndarray) -> float:
    """A bandwidth: 1.84 sd n^(-1/5) of the people within two log-odds of the threshold.

    Most people score far below any threshold, and a few far above, so the spread of
    everyone says nothing about the threshold's neighbourhood: only those near it count.
    """
    near = running[np.abs(running) < 2.0]
    if len(near) < 2:
        return 2.0
    return float(1.84 * np.std(near) * len(near) ** -0.2)


def _count(n: int, rule: DisclosureRule) -> int | str:
    return protect([[n]], rule).cells[0][0]


def _rd_fit(
    r: np.ndarray, y: np.ndarray, treated: np.ndarray, h: float, fuzzy: bool
) -> tuple[float, float, float, int, int, float]:
    """Effect, low, high, alerted and others within h, and the first stage's F (if fuzzy)."""
    keep = np.abs(r) < h
    r, y, treated = r[keep], y[keep], treated[keep]
    above = (r >= 0).astype(float)
    w = 1 - np.abs(r) / h
    exog = pd.DataFrame({"const": 1.0, "r": r, "r_above": r * above})
    if fuzzy:
        first = IV2SLS(treated, exog.assign(above=above), None, None, weights=w).fit(
            cov_type="robust"
        )
        f_stat = float(first.tstats["above"] ** 2)
        fit = IV2SLS(
            y, exog, pd.Series(treated, name="alerted"), pd.Series(above, name="above"), weights=w
        ).fit(cov_type="robust")
        name = "alerted"
    else:
        fit = IV2SLS(y, exog.assign(above=above), None, None, weights=w).fit(cov_type="robust")
        f_stat, name = math.nan, "above"
    ci = fit.conf_int().loc[name]
    return (
        float(fit.params[name]),
        float(ci["lower"]),
        float(ci["upper"]),
        int(treated.sum()),
        int(len(r) - treated.sum()),
        f_stat,
    )


def raw_threshold(frame: pl.DataFrame, cutoff: float) -> float:
    """The band threshold on the raw score: midway between the raw scores either side.

    The score shown is a step function of the model's raw score (its calibration), so
    a threshold on one is a threshold on the other, and the raw score is continuous.
    """
    below = frame.filter(pl.col("score") < cutoff)["raw_score"].max()
    above = frame.filter(pl.col("score") >= cutoff)["raw_score"].min()
    if below is None or above is None:
        raise ImpactError(f"nobody scored on one side of the threshold {cutoff}")
    return (float(below) + float(above)) / 2  # type: ignore[arg-type]


def _running(frame: pl.DataFrame) -> np.ndarray:
    """The running variable: the raw score (log-odds) less the threshold's."""
    r: np.ndarray = (frame["raw_score"] - frame["cut"]).to_numpy()
    return r


def regression_discontinuity(
    frame: pl.DataFrame,
    bandwidth: float | None = None,
    outcome: str = "post",
    rule: DisclosureRule | None = None,
    name: str = "regression discontinuity",
) -> tuple[Estimate | None, dict[str, float]]:
    """The fuzzy discontinuity at each person's threshold (`cut`), and its first stage.

    Returns:
        The estimate (None when the first stage is too weak to identify anything, F < 10,
        or fewer alerted people than the rule shows), and the first stage: the jump in
        the share alerted at the threshold, its F statistic and the bandwidth.
    """
    rule = rule or DisclosureRule()
    r = _running(frame)
    h = bandwidth or rule_of_thumb(r)
    y = frame[outcome].cast(pl.Float64).to_numpy()
    treated = frame["alerted"].cast(pl.Float64).to_numpy()
    keep = np.abs(r) < h
    if keep.sum() < 10 or (r[keep] >= 0).all() or (r[keep] < 0).all():
        return None, {"bandwidth": h, "jump": math.nan, "f": math.nan}
    effect, low, high, n_alerted, n_other, f_stat = _rd_fit(r, y, treated, h, fuzzy=True)
    jump = _rd_fit(r, treated, treated, h, fuzzy=False)[0]
    stage = {"bandwidth": h, "jump": jump, "f": f_stat}
    if not f_stat >= 10 or n_alerted <= rule.suppress_up_to:
        return None, stage
    est = Estimate(
        name,
        effect,
        low,
        high,
        _count(n_alerted, rule),
        _count(n_other, rule),
        note=f"first stage: the share alerted jumps by {jump:.2f} at the threshold",
        bandwidth=h,
    )
    return est, stage


def placebo_thresholds(
    frame: pl.DataFrame, bandwidth: float, rule: DisclosureRule | None = None
) -> list[Estimate]:
    """Jumps in the outcome at thresholds where nothing happens, one each side of the real one.

    Each uses only the people on its side of the real threshold, so the real jump cannot
    leak in; its interval should hold zero.
    """
    rule = rule or DisclosureRule()
    r = _running(frame)
    y = frame["post"].cast(pl.Float64).to_numpy()
    found = []
    for side, mask in (("below", r < 0), ("above", r >= 0)):
        near = r[mask & (np.abs(r) < 4 * bandwidth)]
        if len(near) < 20:
            continue
        fake = float(np.median(near))
        sub = mask & (np.abs(r - fake) < bandwidth)
        if (r[sub] >= fake).all() or (r[sub] < fake).all():
            continue
        zeros = np.zeros(int(sub.sum()))
        effect, low, high, _, n, _ = _rd_fit(r[sub] - fake, y[sub], zeros, bandwidth, False)
        found.append(
            Estimate(
                f"placebo threshold {side} the real one ({fake:+.2f} log-odds from it)",
                effect,
                low,
                high,
                0,
                _count(n, rule),
                note="a jump in the post outcome where no alert begins: should hold zero",
                bandwidth=bandwidth,
            )
        )
    return found


def outcome_bins(
    frame: pl.DataFrame, reach: float, rule: DisclosureRule, n: int = 20
) -> list[dict[str, Any]]:
    """The share with a post outcome in n bins of the running variable within `reach`.

    The counts (people with and without the outcome, per bin) pass the disclosure rule
    as one table, and each share is worked out from them as published: a bin with a
    hidden count has none.
    """
    r = _running(frame)
    y = frame["post"].to_numpy()
    edges = np.linspace(-reach, reach, n + 1)
    which = np.digitize(r, edges) - 1
    inside = (which >= 0) & (which < n)
    events = np.bincount(which[inside], weights=y[inside].astype(float), minlength=n)
    people = np.bincount(which[inside], minlength=n)
    published = protect([[int(e), int(p - e)] for e, p in zip(events, people, strict=True)], rule)
    bins = []
    for i in range(n):
        shown_events = published.cells[i][0]
        shown_people = published.row_totals[i]
        rate: float | str = "*"
        if isinstance(shown_events, int) and isinstance(shown_people, int) and shown_people:
            rate = shown_events / shown_people
        bins.append(
            {
                "low": float(edges[i]),
                "high": float(edges[i + 1]),
                "people": shown_people,
                "events": shown_events,
                "rate": rate,
            }
        )
    return bins


def discontinuity(frame: pl.DataFrame, threshold: str, rule: DisclosureRule) -> Discontinuity:
    """The discontinuity at the threshold in `cut`, at half and twice its bandwidth, checked."""
    est, stage = regression_discontinuity(frame, rule=rule, name=f"discontinuity {threshold}")
    h = stage["bandwidth"]
    found = Discontinuity(threshold, _count(frame.height, rule), est, stage)
    for factor in (0.5, 2.0):
        other, _ = regression_discontinuity(
            frame, h * factor, rule=rule, name=f"discontinuity {threshold}, bandwidth x{factor}"
        )
        if other is not None:
            found.bandwidths.append(other)
    found.placebos = placebo_thresholds(frame, h, rule)
    found.bins = outcome_bins(frame, 3 * h, rule)
    pre, _ = regression_discontinuity(
        frame, h, "pre", rule, f"discontinuity {threshold} in the pre period (placebo)"
    )
    if pre is not None:
        found.placebos.append(pre)
    return found


def _nearest(scores: np.ndarray, pool: np.ndarray, caliper: float, seed: int) -> np.ndarray:
    """For each score, the index into pool of the nearest unused one within the caliper (-1).

    Only the pool within the caliper of some score can ever be chosen, so only it is
    searched: on a council the pool is everyone not alerted, nearly all far below.
    """
    chosen = np.full(len(scores), -1)
    if not len(scores) or not len(pool):
        return chosen
    ranked = np.sort(scores)
    at = np.clip(np.searchsorted(ranked, pool), 1, len(ranked) - 1)
    gap = np.minimum(np.abs(pool - ranked[at - 1]), np.abs(pool - ranked[at]))
    near = np.flatnonzero(gap <= caliper)
    order = near[np.argsort(pool[near], kind="stable")]
    free = pool[order].tolist()
    index = order.tolist()
    for i in np.random.default_rng(seed).permutation(len(scores)):
        if not free:
            break
        at_i = bisect.bisect_left(free, scores[i])
        best = min(
            (j for j in (at_i - 1, at_i) if 0 <= j < len(free)),
            key=lambda j: abs(free[j] - scores[i]),
        )
        if abs(free[best] - scores[i]) <= caliper:
            chosen[i] = index[best]
            del free[best], index[best]
    return chosen


def matched_pairs(frame: pl.DataFrame, caliper: float = 0.05, seed: int = 0) -> pl.DataFrame:
    """Each alerted person and a not-alerted person alike in their past and score.

    Alike in the past: the same outcome in the period before the night (a serious event
    in `pre` or not), so the selection on a recent event that would make the alerted
    regress to the mean is matched (`earlier` is left free, for the placebo); alike in
    score: the nearest raw score (log-odds) within `caliper`, without replacement. The
    alerted with no one that near are left out (at the top, everyone is alerted).
    """
    parts = []
    for _, group in frame.group_by("pre", maintain_order=True):
        alerted = group.filter(pl.col("alerted"))
        pool = group.filter(~pl.col("alerted"))
        if alerted.is_empty() or pool.is_empty():
            continue
        chosen = _nearest(
            alerted["raw_score"].to_numpy(), pool["raw_score"].to_numpy(), caliper, seed
        )
        ok = chosen >= 0
        parts += [alerted.filter(pl.Series(ok)), pool[chosen[ok].tolist()]]
    if not parts:
        return frame.clear()
    pairs: pl.DataFrame = pl.concat(parts)
    return pairs


def difference_in_differences(
    pairs: pl.DataFrame,
    before: str = "pre",
    after: str = "post",
    rule: DisclosureRule | None = None,
    name: str = "difference-in-differences",
) -> Estimate | None:
    """Alerted against matched people, before and after: person and period effects."""
    rule = rule or DisclosureRule()
    n_alerted = int(pairs["alerted"].sum())
    if n_alerted <= rule.suppress_up_to:
        return None
    long = pl.concat(
        [
            pairs.select(
                pl.int_range(pl.len()).alias("unit"),
                "person_id",
                pl.lit(t).alias("period"),
                pl.col(col).cast(pl.Float64).alias("y"),
                (pl.col("alerted") & pl.lit(t == 1)).cast(pl.Float64).alias("treated_after"),
            )
            for t, col in ((0, before), (1, after))
        ]
    ).to_pandas()
    long = long.set_index(["unit", "period"])
    clusters = pd.Series(pd.factorize(long["person_id"])[0], index=long.index, name="person")
    fit = PanelOLS(long["y"], long[["treated_after"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", clusters=clusters
    )
    ci = fit.conf_int().loc["treated_after"]
    return Estimate(
        name,
        float(fit.params["treated_after"]),
        float(ci["lower"]),
        float(ci["upper"]),
        _count(n_alerted, rule),
        _count(pairs.height - n_alerted, rule),
        note=f"{before} to {after}, matched on the score; errors clustered by person",
    )


def _change(frame: pl.DataFrame, name: str, rule: DisclosureRule) -> Estimate:
    """The mean change from pre to post, with a normal interval: a before-and-after."""
    diff = (frame["post"].cast(pl.Float64) - frame["pre"].cast(pl.Float64)).to_numpy()
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
    alerted = int(frame["alerted"].sum())
    return Estimate(
        name,
        mean,
        mean - 1.96 * se,
        mean + 1.96 * se,
        _count(alerted, rule),
        _count(frame.height - alerted, rule),
    )


def impact(
    frame: pl.DataFrame,
    night: dt.date,
    cutoff: float,
    window_days: int,
    rule: DisclosureRule | None = None,
    truth: pl.DataFrame | None = None,
) -> Impact:
    """Every estimate and check of the study.

    Args:
        frame: `study_frame`.
        night: its index night.
        cutoff: the score at which alerts begin (the lowest alerting band's threshold).
        window_days: its window.
        rule: the disclosure rule.
        truth: on a synthetic world, person_id and effect (each person's true effect on
            the probability of a recorded serious event): each estimate then carries the
            truth for the same people.
    """
    rule = rule or DisclosureRule()
    result = Impact(
        night=night.isoformat(),
        window_days=window_days,
        cutoff=cutoff,
        persons=_count(frame.height, rule),
        alerted=_count(int(frame["alerted"].sum()), rule),
    )
    cut = raw_threshold(frame, cutoff)
    designs = {"at the band threshold": frame.with_columns(pl.lit(cut).alias("cut"))}
    for threshold, sample in designs.items():
        found = discontinuity(sample, threshold, rule)
        result.discontinuities.append(found)
        if found.estimate is None:
            stage = found.first_stage
            result.notes.append(
                f"no discontinuity {threshold}: the share alerted jumps by "
                f"{stage['jump']:.2f} there (F {stage['f']:.1f}, under 10), so it cannot "
                "tell the alert's effect apart"
            )
        if truth is not None:
            _with_truth(found, sample, truth)
    pairs = matched_pairs(frame)
    result.did = difference_in_differences(pairs, rule=rule)
    result.did_placebo = difference_in_differences(
        pairs, "earlier", "pre", rule, "difference-in-differences, earlier to pre (placebo)"
    )
    if pairs.height:
        alerted = _change(pairs.filter(pl.col("alerted")), "alerted, pre to post", rule)
        compared = _change(
            pairs.filter(~pl.col("alerted")), "matched comparison, pre to post", rule
        )
        result.before_after = {"alerted": alerted, "comparison": compared}
        result.notes.append(
            f"regression to the mean: the alerted people's serious events changed by "
            f"{alerted.effect:+.3f} from pre to post, the matched people's, never alerted, "
            f"by {compared.effect:+.3f}; a before-and-after of the alerted alone would "
            "count the second as the alert's doing"
        )
    if truth is not None:
        matched = pairs.filter(pl.col("alerted")).join(truth, on="person_id", how="left")
        planted = float(matched["effect"].fill_null(0.0).to_numpy().mean())
        result.did = _planted(result.did, planted)
        result.did_placebo = _planted(result.did_placebo, 0.0)
    return result


def _planted(est: Estimate | None, value: float) -> Estimate | None:
    return None if est is None else replace(est, truth=value)


def _with_truth(found: Discontinuity, sample: pl.DataFrame, truth: pl.DataFrame) -> None:
    """The planted effect at the threshold: the kernel-weighted mean of people's effects."""
    r = _running(sample)
    effect = sample.join(truth, on="person_id", how="left")["effect"].fill_null(0.0).to_numpy()

    def near(h: float | None) -> float:
        w = np.clip(1 - np.abs(r) / (h or found.first_stage["bandwidth"]), 0, None)
        return float((w * effect).sum() / w.sum())

    found.estimate = _planted(found.estimate, near(None))
    found.bandwidths = [replace(e, truth=near(e.bandwidth)) for e in found.bandwidths]
    found.placebos = [replace(e, truth=0.0) for e in found.placebos]


def world_answer(
    world_dir: Path,
    warehouse: Path,
    alerted: pl.DataFrame,
    night: dt.date,
    days: int,
    hazard_ratio: float | None = None,
) -> pl.DataFrame:
    """A synthetic world's answer to our alerts, on our person ids: post and effect.

    Our alerted persons reach the world persons behind their records (`truth_ids`); the
    world says who then had a recorded serious event in the window (`world.followup`),
    and what following each person up changed for them.
    """
    from risk_models.outcomes import truth_ids
    from world.followup import answer

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        ids = truth_ids(world_dir, con)
    finally:
        con.close()
    reached = alerted.join(ids, on="person_id", how="inner").select("truth_id", "alerted_on")
    said = answer(world_dir, reached, night, days, hazard_ratio)
    return ids.join(said, on="truth_id", how="inner").select(
        "person_id", pl.col("recorded").alias("post"), "effect"
    )


def alerting_threshold(selection_bands: list[str], bands: dict[str, float]) -> float:
    """The score at which alerts begin: the lowest threshold of the bands that alert."""
    known = [bands[b] for b in selection_bands if b in bands]
    if not known:
        raise ImpactError(
            f"the alerts config alerts on bands {selection_bands}, none of which risk.yaml "
            f"gives a threshold ({sorted(bands)}): no threshold to study"
        )
    return min(known)


def study(
    warehouse: Path,
    store_url: str,
    night: dt.date,
    cutoff: float,
    days: int | None = None,
    alert_days: int = 7,
    world: Path | None = None,
    hazard_ratio: float | None = None,
    rule: DisclosureRule | None = None,
) -> Impact:
    """The impact study of the people scored on a night, end to end.

    Args:
        warehouse: the warehouse, with the night scored.
        store_url: the operational store, holding the alerts.
        night: the index night.
        cutoff: `alerting_threshold`.
        days: the window (risk.yaml's outcome horizon if None).
        alert_days: an alert counts if a team was told of it within this many days.
        world: a synthetic world: the outcome after the night is its answer to our alerts,
            and each estimate carries the planted effect. Without one, the outcome is read
            from the warehouse, so the night plus the window must have been linked.
        hazard_ratio: with a world, the planted effect to answer with (the world's if None).
        rule: the disclosure rule.
    """
    d = days or outcome_config().horizon_days
    alerted = alerts_reaching_teams(store_url, night, night + dt.timedelta(days=alert_days))
    truth = None
    if world is not None:
        truth = world_answer(world, warehouse, alerted, night, d, hazard_ratio)
    frame = study_frame(
        warehouse, alerted, night, d, None if truth is None else truth.select("person_id", "post")
    )
    return impact(frame, night, cutoff, d, rule, truth)


def write_impact(result: Impact, out: Path) -> list[Path]:
    """Write `impact.json` and `impact.html` into a folder; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_html = out / "impact.json", out / "impact.html"
    as_json.write_text(json.dumps(result.as_dict(), indent=1, default=str))
    planted = any(e.truth is not None for e in result.estimates())
    head = (
        "<tr><th>estimate</th><th>effect</th><th>95% interval</th><th>alerted</th>"
        "<th>compared</th>" + ("<th>planted effect</th>" if planted else "") + "<th>note</th></tr>"
    )

    def row(e: Estimate) -> str:
        cells = [
            f"<th>{html.escape(e.name)}</th>",
            f"<td>{e.effect:+.3f}</td>",
            f"<td>{e.low:+.3f} to {e.high:+.3f}</td>",
            f"<td class='count'>{e.alerted}</td>",
            f"<td class='count'>{e.compared}</td>",
        ]
        if planted:
            cells.append(f"<td>{'' if e.truth is None else f'{e.truth:+.3f}'}</td>")
        cells.append(f"<td>{html.escape(e.note)}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    parts = [
        "<!doctype html><meta charset='utf-8'><title>joinedup impact</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>",
        f"<h1>Impact of the alerts of {result.night}</h1>",
        f"<p>People scored on {result.night}: <span class='count'>{result.persons}</span>; "
        f"alerted: <span class='count'>{result.alerted}</span>. Each effect is on the chance "
        f"of a recorded serious safeguarding event in the {result.window_days} days after "
        f"the night (+0.010 is one more person in a hundred); alerts begin at a score of "
        f"{result.cutoff}.</p>",
    ]
    for found in result.discontinuities:
        stage = found.first_stage
        parts.append(
            f"<h2>Discontinuity {html.escape(found.threshold)}</h2><p>people: "
            f"<span class='count'>{found.persons}</span>; bandwidth {stage['bandwidth']:.3f} "
            f"log-odds; the share alerted jumps by {stage['jump']:.2f} (F {stage['f']:.1f})</p>"
        )
        shown = [e for e in (found.estimate, *found.bandwidths, *found.placebos) if e]
        parts.append(f"<table>{head}{''.join(row(e) for e in shown)}</table>")
        if found.bins:
            chart = binned_chart(
                found.bins,
                "raw score less the threshold's (log-odds); alerts begin at 0",
                f"share with a serious event in {result.window_days} days",
            )
            parts.append(f"<figure>{chart}</figure>")
    parts.append("<h2>Difference-in-differences, and the regression to the mean</h2>")
    shown = [e for e in (result.did, result.did_placebo, *result.before_after.values()) if e]
    parts.append(f"<table>{head}{''.join(row(e) for e in shown)}</table>")
    parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    as_html.write_text("\n".join(parts), encoding="utf-8")
    return [as_json, as_html]
