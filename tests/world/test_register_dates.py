"""When partners' records start, and registers that follow risk as it was on their own dates.

A record's start (`since` in the truth) is what a partner would give as its own: a
school's entry date, a tenancy or liability start, a claim's start. Benefit claims start
at a rate that follows the claimant's latent risk on the day, and attendance follows a
pupil's risk on the night with a lasting difference of their own: neither is a threshold
on risk at the end of the world, which would let a model learn the generator.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
from worldfiles import TEST_WORLD, Truth, extract, read_tsv

from world.records import _claim_days

NIGHTS = TEST_WORLD.nights


def _night_date(world: Path, night: int) -> dt.date:
    manifest = json.loads((world / "world.json").read_text())
    return dt.date.fromisoformat(manifest["nights"][night]["date"])


def _started(frame: pl.DataFrame, id_col: str, date_col: str, fmt: str) -> pl.DataFrame:
    return frame.select(
        pl.col(id_col).alias("source_record_id"),
        pl.col(date_col).str.to_date(fmt, strict=True).alias("start"),
    )


def test_partners_give_each_record_its_start_as_the_truth_holds_it(
    world: Path, truth: Truth
) -> None:
    last = NIGHTS - 1
    date = _night_date(world, last)
    pupils = pl.read_csv(extract(world, last, "education", "pupils.csv"), infer_schema=False)
    ctax = read_tsv(extract(world, last, "revenues_benefits", "ctax_accounts.tsv"))
    claims = read_tsv(extract(world, last, "revenues_benefits", "benefit_claims.tsv"))
    with sqlite3.connect(extract(world, last, "housing", "housing.sqlite")) as db:
        housing = pl.DataFrame(
            db.execute("SELECT person_ref, created_on FROM person").fetchall(),
            schema=["person_ref", "created_on"],
            orient="row",
        )
    shown = {
        "pupils": _started(pupils, "PupilID", "EntryDate", "%Y-%m-%d"),
        "ctax_parties": _started(ctax, "PARTY_REF", "LIABLE_FROM", "%Y%m%d"),
        "benefit_claimants": _started(claims, "CLAIMANT_REF", "CLAIM_START", "%Y%m%d"),
        "housing_people": _started(housing, "person_ref", "created_on", "%Y-%m-%d"),
    }
    for register, frame in shown.items():
        assert frame.height > 100, register
        assert frame["start"].null_count() == 0, register
        assert frame["start"].max() <= date, register
        got = frame.join(
            truth.records.filter(pl.col("register") == register).select(
                "source_record_id", "since"
            ),
            on="source_record_id",
        )
        assert got.height == frame.height, register
        assert (got["start"] == got["since"]).all(), register


def test_a_record_made_by_an_event_starts_on_its_first_recorded_event(truth: Truth) -> None:
    events = truth.events.filter(pl.col("recorded") & (pl.col("source") == "police"))
    first = events.group_by("person_id").agg(pl.col("date").min().alias("first"))
    nominals = truth.records.filter(pl.col("register") == "police_nominals")
    got = nominals.join(first, on="person_id")
    assert got.height == nominals.height > 100
    assert (got["since"] == got["first"]).all()


def test_a_pupil_enters_the_roll_at_four_and_a_claimant_claims_as_an_adult(truth: Truth) -> None:
    people = truth.persons.select("person_id", "dob")
    pupils = truth.records.filter(pl.col("register") == "pupils").join(people, on="person_id")
    age = (pl.col("since") - pl.col("dob")).dt.total_days() / 365.25
    assert pupils.select(age.is_between(3.99, 4.01).all()).item()
    claims = truth.records.filter(pl.col("register") == "benefit_claimants").join(
        people, on="person_id"
    )
    assert claims.select((age >= 17.99).all()).item()


def test_a_claim_follows_risk_as_it_was_on_the_day() -> None:
    n = 4_000
    start, shift_day, end = 0, 1_000, 2_000
    rng = np.random.default_rng(3)

    def claims(z_start: float, shift: float) -> np.ndarray:
        latent = pl.DataFrame(
            {
                "z_start": np.full(n, z_start),
                "risk_shift": np.full(n, shift),
                "shift_date": pl.Series(np.full(n, shift_day), dtype=pl.Int32).cast(pl.Date),
            }
        )
        return _claim_days(rng, latent, np.full(n, -20 * 366), start, end)

    # Risk that rises on a day: nobody claims before it, and most claim after it.
    rising = claims(-8.0, 12.0)
    made = rising[rising < end]
    assert made.size > n * 0.9 and made.min() >= shift_day
    # Risk that falls on a day: claims come before it and almost none after it.
    falling = claims(4.0, -12.0)
    made = falling[falling < end]
    assert made.size > n * 0.9 and (made < shift_day).mean() > 0.999
    # Unchanging risk: a claim is a chance, not a threshold; higher risk, more claims.
    low, high = claims(-1.0, 0.0), claims(1.0, 0.0)
    assert 0 < (low < end).mean() < (high < end).mean() < 1


def test_claims_and_attendance_follow_risk_but_are_not_thresholds_on_it(
    world: Path, truth: Truth
) -> None:
    first_adults = truth.records.filter(pl.col("register") == "ctax_parties").select("person_id")
    z = truth.persons.select("person_id", "z_end").drop_nulls()
    claimants = truth.records.filter(pl.col("register") == "benefit_claimants")["person_id"]
    frame = z.join(first_adults.unique(), on="person_id").with_columns(
        pl.col("person_id").is_in(claimants.implode()).alias("claims")
    )
    claiming = frame.filter(pl.col("claims"))["z_end"]
    others = frame.filter(~pl.col("claims"))["z_end"]
    assert claiming.mean() > others.mean() + 0.5
    # The two overlap widely: no cut on risk separates them.
    assert claiming.min() < others.quantile(0.5) < others.max()
    assert (others > claiming.quantile(0.5)).sum() > claiming.len()

    pupils = pl.read_csv(
        extract(world, NIGHTS - 1, "education", "pupils.csv"),
        schema_overrides={"PupilID": pl.String},
    ).join(
        truth.records.select("source_record_id", "person_id"),
        left_on="PupilID",
        right_on="source_record_id",
    )
    got = pupils.join(z, on="person_id")
    r = np.corrcoef(got["AttendancePct"].to_numpy(), got["z_end"].to_numpy())[0, 1]
    assert -0.8 < r < -0.3, r
