"""The world's answer to the product's alerts: what follow-up did, with a planted effect.

A world is made before the product runs, so what happens after an alert cannot be in
its extracts. Instead each person's future is fixed when the world is asked, from the
world's seed and nobody's alerts: an exponential "hazard budget" E and a uniform U. Their
hazard of a serious event over the window is the world's own,
``SERIOUS_PER_YEAR * exp(SERIOUS_BETA * z_end)`` a year, and from the day they are followed
up (their first alert plus the config's `followup.lag_days`) it is multiplied by
`followup.hazard_ratio`. They have a serious event in the window when their cumulative
hazard reaches E, and a partner records it when U falls below the recorded share.

Because E and U do not depend on who was alerted, the same person has the same future
under any set of alerts except for the planted effect: each person's two potential
outcomes, and so the true effect of following them up, are known exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from world.config import WorldConfig
from world.generate import load_config
from world.risk import RECORDED_SHARE, SERIOUS_BETA, SERIOUS_PER_YEAR, SERIOUS_RECORDED_SHARE

# Mixed into the world's seed, so the future is drawn apart from everything already made.
_STREAM = 16
_EPOCH = dt.date(1970, 1, 1)


class FollowUpError(ValueError):
    """The world cannot answer as asked; the message says why."""


def world_config(world_dir: Path) -> WorldConfig:
    """The settings a world was made with, from its manifest (`world.generate.load_config`)."""
    try:
        cfg = load_config(world_dir)
    except (OSError, ValueError) as exc:
        raise FollowUpError(f"{world_dir}: cannot read the world's settings: {exc}") from exc
    if cfg is None:
        raise FollowUpError(f"{world_dir}: made by an older joinedup; make the world again")
    return cfg


def answer(
    world_dir: Path,
    alerted: pl.DataFrame,
    start: dt.date,
    days: int,
    hazard_ratio: float | None = None,
) -> pl.DataFrame:
    """Each world person's serious events in the window (start, start + days].

    Args:
        world_dir: the world folder.
        alerted: `truth_id` (the world's person_id) and `alerted_on` (Date), the persons
            the product's alerts reached and the first night each was alerted.
        start: the night the window starts after (the study's index night).
        days: the window's length.
        hazard_ratio: the effect of follow-up as if the world had been made with this
            `followup.hazard_ratio` (the world's own if None): alerts do not depend on
            it, so one world and its alerts answer for several planted effects.

    Returns:
        One row per world person with a latent risk: truth_id, followed_up_on (null when
        not alerted), serious (Boolean: an event happened), recorded (Boolean: a partner
        recorded it), p_untreated and p_treated (the probability of a *recorded* event in
        the window without follow-up, and with follow-up from `followed_up_on`, or from
        the start plus the lag for persons not alerted) and effect (their difference).
    """
    cfg = world_config(world_dir)
    people = pl.read_parquet(
        world_dir / "truth" / "persons.parquet", columns=["person_id", "ethnicity", "z_end"]
    ).sort("person_id")
    rng = np.random.default_rng([cfg.seed, _STREAM])
    budget = rng.exponential(1.0, people.height)
    u = rng.random(people.height)
    people = people.with_columns(pl.Series("budget", budget), pl.Series("u", u)).filter(
        pl.col("z_end").is_not_null()
    )
    first = alerted.group_by("truth_id").agg(pl.col("alerted_on").min())
    lag = dt.timedelta(days=cfg.followup.lag_days)
    frame = people.join(
        first.rename({"truth_id": "person_id"}), on="person_id", how="left"
    ).with_columns((pl.col("alerted_on") + lag).alias("followed_up_on"))

    per_day = SERIOUS_PER_YEAR * np.exp(SERIOUS_BETA * frame["z_end"].to_numpy()) / 365.25
    day0 = (start - _EPOCH).days
    followed = frame["followed_up_on"].cast(pl.Int32).to_numpy(allow_copy=True)
    is_followed = ~frame["followed_up_on"].is_null().to_numpy() & (
        np.nan_to_num(followed, nan=day0 + days) < day0 + days
    )
    when = np.where(
        frame["followed_up_on"].is_null().to_numpy(), day0 + lag.days, np.nan_to_num(followed)
    )
    before = np.clip(when - day0, 0, days)
    hr = cfg.followup.hazard_ratio if hazard_ratio is None else hazard_ratio
    untreated = per_day * days
    treated = per_day * (before + hr * (days - before))
    share = np.full(frame.height, SERIOUS_RECORDED_SHARE)
    seldom = cfg.under_reach.ethnicity
    if seldom is not None:
        mine = frame["ethnicity"].to_numpy().astype(str) == seldom
        share[mine] *= cfg.under_reach.recorded_share / RECORDED_SHARE
    hazard = np.where(is_followed, treated, untreated)
    serious = hazard >= frame["budget"].to_numpy()
    p0 = share * (1 - np.exp(-untreated))
    p1 = share * (1 - np.exp(-treated))
    return frame.select(
        pl.col("person_id").alias("truth_id"),
        pl.when(pl.Series(is_followed)).then(pl.col("followed_up_on")).alias("followed_up_on"),
        pl.Series("serious", serious),
        pl.Series("recorded", serious & (frame["u"].to_numpy() < share)),
        pl.Series("p_untreated", p0),
        pl.Series("p_treated", p1),
        pl.Series("effect", p1 - p0),
    )
