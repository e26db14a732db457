"""Latent risk, the events it drives, and the outcome every model is judged against.

Each person has a latent risk z (ward deprivation + household + individual), which for
some people shifts once on a date in the history (risk rising or stepping down). Every
kind of event a partner records happens as a Poisson process whose rate is
``base * exp(beta * z)``; a serious safeguarding event happens the same way with its own
rate. The oracle knows z and so the true probability of a serious event in the outcome
window after the last night: its AUC is the ceiling for any model that sees only extracts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from world.config import WorldConfig
from world.population import Population

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class EventKind:
    """One kind of event a partner records, and how risk drives it."""

    source: str
    kind: str
    per_year: float  # rate at z = 0
    beta: float  # log-rate per unit of latent risk
    min_age: float
    max_age: float
    tenants_only: bool = False
    older_boost: float = 1.0  # rate multiplier at 65 and over


EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind("childrens_social_care", "referral", 0.03, 1.3, 0, 18),
    EventKind("adult_social_care", "contact", 0.006, 0.7, 18, 120, older_boost=6.0),
    EventKind("adult_social_care", "safeguarding_concern", 0.003, 1.2, 18, 120, older_boost=3.0),
    EventKind("housing", "rent_arrears_action", 0.10, 0.9, 18, 120, tenants_only=True),
    EventKind("housing", "asb_complaint", 0.03, 1.0, 10, 120, tenants_only=True),
    EventKind("housing", "homelessness_application", 0.004, 1.3, 18, 120),
    EventKind("police", "domestic_abuse", 0.01, 1.6, 16, 120),
    EventKind("police", "missing_episode", 0.01, 1.6, 10, 18),
    EventKind("police", "asb", 0.015, 1.0, 10, 120),
    EventKind("police", "crime_victim", 0.02, 0.4, 0, 120),
    EventKind("education", "suspension", 0.03, 1.3, 5, 16),
    EventKind("health", "ae_attendance", 0.40, 0.5, 0, 120),
    EventKind("health", "self_harm", 0.004, 1.6, 11, 120),
    EventKind("health", "mental_health_contact", 0.04, 1.1, 12, 120),
    EventKind("revenues_benefits", "council_tax_reminder", 0.06, 0.9, 18, 120),
)
SERIOUS_PER_YEAR = 0.022
SERIOUS_BETA = 1.5
RECORDED_SHARE = 0.92  # the rest happen but no partner writes them down
SERIOUS_RECORDED_SHARE = 0.8
# Recording bias: police log extra low-level ASB for these groups, whatever their risk.
POLICE_ASB_BIAS_GROUPS = ("black_african", "black_caribbean", "mixed")
POLICE_ASB_BIAS_PER_YEAR = 0.01
# A pupil's attendance in points: what their latent risk on the day gives, plus a lasting
# difference of their own with this standard deviation (world/partners/education.py).
ATTENDANCE_NOISE_SD = 5.0


@dataclass(frozen=True)
class RiskWorld:
    """Latent risk per person, the true events, and the outcome."""

    latent: pl.DataFrame
    events: pl.DataFrame
    serious: pl.DataFrame
    oracle_auc: float
    outcome_rate: float


def _poisson_times(
    rng: np.random.Generator, rate_per_day: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Event times in [start, end) for each row, given a constant daily rate per row."""
    counts = rng.poisson(rate_per_day * np.maximum(end - start, 0))
    rows = np.repeat(np.arange(len(counts)), counts)
    days = start[rows] + rng.random(len(rows)) * (end - start)[rows]
    return rows, np.floor(days).astype(np.int64)


def _piecewise(
    rng: np.random.Generator,
    per_year: np.ndarray,
    beta: float,
    z0: np.ndarray,
    shift: np.ndarray,
    change: np.ndarray,
    start: int,
    end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Event times for a rate exp(beta*z) whose z shifts once at each row's change day."""
    s = np.full(len(z0), start, dtype=float)
    e = np.full(len(z0), end, dtype=float)
    c = np.clip(change, start, end).astype(float)
    r1, d1 = _poisson_times(rng, per_year * np.exp(beta * z0) / 365.25, s, c)
    r2, d2 = _poisson_times(rng, per_year * np.exp(beta * (z0 + shift)) / 365.25, c, e)
    return np.concatenate([r1, r2]), np.concatenate([d1, d2])


def simulate_risk(cfg: WorldConfig, rng: np.random.Generator, pop: Population) -> RiskWorld:
    """Draw latent risk, every event partners could record, and serious events with outcome."""
    people = pop.people.join(pop.households.select("household_id", "address_id"), on="household_id")
    people = people.join(pop.addresses.select("address_id", "ward"), on="address_id")
    n = people.height
    wards = np.unique(people["ward"].to_numpy().astype(str))
    ward_dep = dict(zip(wards, rng.normal(0, 0.35, len(wards)), strict=True))
    n_house = pop.households.height
    house_u = rng.normal(0, 0.9, n_house)
    hh = people["household_id"].to_numpy()
    dep = np.array([ward_dep[w] for w in people["ward"].to_numpy().astype(str)])
    z0 = -0.3 + dep + house_u[hh] + rng.normal(0, 0.6, n)
    tenant_hh = rng.random(n_house) < 1 / (1 + np.exp(-(-1.5 + 0.9 * house_u)))
    tenant = tenant_hh[hh]

    first = (cfg.first_night - _EPOCH).days
    start = first - cfg.history_days
    last = first + cfg.nights - 1
    end = last + cfg.outcome_days
    shifted = rng.random(n) < 0.2
    shift = np.where(shifted, rng.normal(0, 1.0, n), 0.0)
    change = np.where(shifted, rng.integers(start, last + 1, n), end)
    dob = people["dob"].cast(pl.Int64).to_numpy()
    ethnicity = people["ethnicity"].to_numpy().astype(str)

    parts: list[pl.DataFrame] = []
    for k in EVENT_KINDS:
        rate = np.full(n, k.per_year)
        rate = np.where((first - dob) / 365.25 >= 65, rate * k.older_boost, rate)
        if k.tenants_only:
            rate = np.where(tenant, rate, 0.0)
        rows, days = _piecewise(rng, rate, k.beta, z0, shift, change, start, last + 1)
        age = (days - dob[rows]) / 365.25
        ok = (age >= k.min_age) & (age < k.max_age)
        rows, days = rows[ok], days[ok]
        z_then = z0[rows] + np.where(days >= change[rows], shift[rows], 0.0)
        severity = 1 + (rng.random(len(rows)) < 1 / (1 + np.exp(-(z_then - 1)))).astype(int)
        severity += (severity == 2) & (rng.random(len(rows)) < 0.3)
        parts.append(
            pl.DataFrame(
                {
                    "person_id": rows,
                    "source": k.source,
                    "kind": k.kind,
                    "day": days,
                    "severity": severity,
                    "bias": False,
                }
            )
        )
    biased = np.isin(ethnicity, POLICE_ASB_BIAS_GROUPS)
    rows, days = _poisson_times(
        rng,
        np.where(biased, POLICE_ASB_BIAS_PER_YEAR / 365.25, 0.0),
        np.full(n, start, float),
        np.full(n, last + 1, float),
    )
    ok = (days - dob[rows]) / 365.25 >= 10
    parts.append(
        pl.DataFrame(
            {
                "person_id": rows[ok],
                "source": "police",
                "kind": "asb",
                "day": days[ok],
                "severity": 1,
                "bias": True,
            }
        )
    )

    s_rows, s_days = _piecewise(
        rng, np.full(n, SERIOUS_PER_YEAR), SERIOUS_BETA, z0, shift, change, start, end + 1
    )
    s_ok = s_days >= dob[s_rows]
    serious = pl.DataFrame({"person_id": s_rows[s_ok], "day": s_days[s_ok]}).sort(
        "person_id", "day"
    )
    # Serious events before the last night were seen by someone and recorded by them.
    seen = serious.filter(pl.col("day") <= last).with_columns(
        pl.Series(rng.random(serious.filter(pl.col("day") <= last).height)).alias("u")
    )
    age_then = (seen["day"].to_numpy() - dob[seen["person_id"].to_numpy()]) / 365.25
    seen = (
        seen.with_columns(
            pl.Series(
                "source",
                np.where(
                    age_then < 18,
                    "childrens_social_care",
                    np.where(seen["u"].to_numpy() < 0.5, "adult_social_care", "police"),
                ),
            ),
            pl.Series(
                "kind",
                np.where(
                    age_then < 18,
                    "child_protection_plan",
                    np.where(
                        seen["u"].to_numpy() < 0.5, "safeguarding_enquiry", "serious_incident"
                    ),
                ),
            ),
            pl.lit(3).alias("severity"),
            pl.lit(False).alias("bias"),
        )
        .filter(pl.col("u") < SERIOUS_RECORDED_SHARE / RECORDED_SHARE)
        .drop("u")
    )
    parts.append(seen.select(parts[0].columns))

    events = pl.concat(parts, how="vertical_relaxed")
    # One draw per event whatever is planted, so planting changes only the planted group.
    u = rng.random(events.height)
    share = np.full(events.height, RECORDED_SHARE)
    seldom = cfg.under_reach.ethnicity
    if seldom is not None:
        in_group = ethnicity[events["person_id"].to_numpy()] == seldom
        share[in_group] = cfg.under_reach.recorded_share
    events = events.with_columns(pl.Series("recorded", u < share))
    events = events.sort("day", "person_id", "source", "kind").with_row_index("event_id")
    events = events.with_columns(
        pl.col("event_id").cast(pl.Int64), pl.col("day").cast(pl.Int32).cast(pl.Date).alias("date")
    ).drop("day")

    z_end = z0 + shift
    p_true = 1 - np.exp(
        -SERIOUS_PER_YEAR * np.exp(SERIOUS_BETA * z_end) * cfg.outcome_days / 365.25
    )
    window = serious.filter((pl.col("day") > last) & (pl.col("day") <= end))
    outcome = np.zeros(n, dtype=bool)
    outcome[window["person_id"].unique().to_numpy()] = True
    latent = pl.DataFrame(
        {
            "person_id": np.arange(n),
            "z_start": z0,
            "z_end": z_end,
            "risk_shift": shift,
            "shift_date": pl.Series(change, dtype=pl.Int32).cast(pl.Date),
            "shifted": shifted,
            "social_tenant": tenant,
            "true_probability": p_true,
            "outcome": outcome,
        }
    )
    # Drawn from a stream of its own, so adding it left every other draw of a seed as it was.
    extra = np.random.default_rng([cfg.seed, 19])
    latent = latent.with_columns(
        pl.Series("attendance_noise", extra.normal(0.0, ATTENDANCE_NOISE_SD, n)),
        pl.when(pl.col("shifted")).then(pl.col("shift_date")).alias("shift_date"),
    ).drop("shifted")
    auc = float(roc_auc_score(outcome, p_true)) if 0 < outcome.sum() < n else float("nan")
    return RiskWorld(
        latent=latent,
        events=events,
        serious=serious.with_columns(pl.col("day").cast(pl.Int32).cast(pl.Date).alias("date")).drop(
            "day"
        ),
        oracle_auc=auc,
        outcome_rate=float(outcome.mean()),
    )
