"""The truth: error rates as configured, honest error flags, full coverage, risk that matters.

Tolerance for a configured rate p measured on n eligible records: four binomial standard
errors, sqrt(p(1-p)/n) * 4, plus 0.002 for rounding; a correct generator fails it about
once in 15,000 runs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from worldfiles import TEST_WORLD, Truth, extract, read_tsv

from world.errors import ALL_ERRORS, NAME_ERRORS
from world.vocab import load_vocab


def _within(k: int, n: int, p: float) -> tuple[bool, float, float]:
    tol = 4 * math.sqrt(p * (1 - p) / n) + 0.002
    return abs(k / n - p) <= tol, k / n, tol


@pytest.mark.parametrize("error", ALL_ERRORS)
def test_error_rate_is_met(truth: Truth, error: str) -> None:
    eligible = truth.records.filter(pl.col(f"eligible_{error}"))
    n, k = eligible.height, int(eligible[error].sum())
    assert n >= 150, f"too few records could carry {error} to measure it ({n})"
    ok, got, tol = _within(k, n, getattr(TEST_WORLD.errors, error))
    assert ok, f"{error}: {got:.4f} on {n} eligible records, configured ±{tol:.4f}"


def test_duplicate_rate_is_met(truth: Truth) -> None:
    firsts = truth.records.filter(pl.col("copy") == 0).height
    copies = truth.records.filter(pl.col("copy") == 1).height
    ok, got, tol = _within(copies, firsts, TEST_WORLD.errors.duplicate)
    assert ok, f"duplicates: {got:.4f} ±{tol:.4f}"


def _pupils_against_truth(world: Path, truth: Truth) -> pl.DataFrame:
    pupils = pl.read_csv(extract(world, 0, "education", "pupils.csv"), infer_schema=False)
    state = truth.state(0)
    prev = truth.addresses.select(
        pl.col("address_id").alias("prev_id"), pl.col("postcode").alias("prev_postcode")
    )
    hh = pl.read_parquet(world / "truth" / "households.parquet").select(
        "household_id", pl.col("previous_address_id").alias("prev_id")
    )
    return (
        pupils.join(truth.records, left_on="PupilID", right_on="source_record_id")
        .join(truth.persons.select("person_id", "first_name", "dob", "upn"), on="person_id")
        .join(state.select("person_id", "household_id", "last_name", "postcode"), on="person_id")
        .join(hh, on="household_id")
        .join(prev, on="prev_id")
    )


def test_error_flags_show_in_the_extract(world: Path, truth: Truth) -> None:
    df = _pupils_against_truth(world, truth)
    dob = pl.col("dob")
    name_errs = list(NAME_ERRORS)
    clean = df.filter(~pl.any_horizontal([pl.col(e) for e in ALL_ERRORS]))
    assert clean.height > 500
    assert (clean["LegalForename"] == clean["first_name"]).all()
    assert (clean["LegalSurname"] == clean["last_name"]).all()
    assert (clean["DOB"] == clean["dob"].dt.strftime("%Y-%m-%d")).all()
    assert (clean["Postcode"] == clean["postcode"]).all()
    assert (clean["UPN"] == clean["upn"]).all()

    checks = {
        "dob_missing": (pl.col("dob_missing"), pl.col("DOB").is_null()),
        "dob_partial": (
            pl.col("dob_partial") & ~pl.col("dob_missing"),
            pl.col("DOB") == pl.format("{}-01-01", dob.dt.year()),
        ),
        "dob_day_month_swap": (
            pl.col("dob_day_month_swap") & ~pl.col("dob_missing") & ~pl.col("dob_partial"),
            pl.col("DOB")
            == pl.date(dob.dt.year(), dob.dt.day(), dob.dt.month()).dt.strftime("%Y-%m-%d"),
        ),
        "name_swap": (
            pl.col("name_swap")
            & ~pl.any_horizontal([pl.col(e) for e in name_errs if e != "name_swap"]),
            (pl.col("LegalForename") == pl.col("last_name"))
            & (pl.col("LegalSurname") == pl.col("first_name")),
        ),
        "stale_address": (
            pl.col("stale_address") & ~pl.col("postcode_typo"),
            pl.col("Postcode") == pl.col("prev_postcode"),
        ),
        "blank_identifier": (pl.col("blank_identifier"), pl.col("UPN").is_null()),
    }
    for name, (flagged, shown) in checks.items():
        rows = df.filter(flagged)
        assert rows.height > 0, f"no pupil records carry {name} to check"
        assert rows.select(shown.all()).item(), f"{name} flagged but not shown in pupils.csv"

    nick = load_vocab().nicknames
    only_nick = df.filter(
        pl.col("nickname") & ~pl.any_horizontal([pl.col(e) for e in name_errs if e != "nickname"])
    )
    assert only_nick.height > 0
    for first, shown in only_nick.select("first_name", "LegalForename").iter_rows():
        assert shown in nick[first]
    typo_pc = df.filter(pl.col("postcode_typo") & ~pl.col("stale_address"))
    assert typo_pc.height > 0
    for a, b in typo_pc.select("Postcode", "postcode").iter_rows():
        assert sum(x != y for x, y in zip(a, b, strict=True)) == 1


def test_truth_covers_every_record_and_event(world: Path, truth: Truth) -> None:
    known = set(truth.records["source_record_id"])
    known_events = set(truth.event_records["event_id"])
    for night in range(TEST_WORLD.nights):
        ids: set[str] = set()
        events: set[int] = set()
        csc = pl.read_csv(
            extract(world, night, "childrens_social_care", "referrals.csv"), infer_schema=False
        )
        ids |= set(csc["Child ID"])
        events |= {int(r[3:]) for r in csc["Referral ID"]}
        asc = extract(world, night, "adult_social_care", "asc_export.xlsx")
        ids |= set(pl.read_excel(asc, sheet_name="Clients")["Client No"])
        events |= {int(r[3:]) for r in pl.read_excel(asc, sheet_name="Activity")["Activity ID"]}
        con = sqlite3.connect(extract(world, night, "housing", "housing.sqlite"))
        ids |= {r[0] for r in con.execute("SELECT person_ref FROM person")}
        events |= {int(r[0][3:]) for r in con.execute("SELECT case_ref FROM asb_case")}
        con.close()
        police = json.loads(extract(world, night, "police", "incidents.json").read_text())
        for inc in police["incidents"]:
            ids |= {n["nominalId"] for n in inc["nominals"]}
            events.add(int(inc["incidentRef"].rsplit("-", 1)[1]))
        ids |= set(
            pl.read_csv(extract(world, night, "education", "pupils.csv"), infer_schema=False)[
                "PupilID"
            ]
        )
        health = pl.read_csv(extract(world, night, "health", "attendances.csv"), infer_schema=False)
        ids |= set(health["LOCAL_PATIENT_ID"])
        events |= {int(r[3:]) for r in health["ATTENDANCE_ID"]}
        ids |= set(
            read_tsv(extract(world, night, "revenues_benefits", "ctax_accounts.tsv"))["PARTY_REF"]
        )
        ids |= set(
            read_tsv(extract(world, night, "revenues_benefits", "benefit_claims.tsv"))[
                "CLAIMANT_REF"
            ]
        )
        assert ids <= known, f"night {night}: {sorted(ids - known)[:5]} have no truth"
        assert events <= known_events, f"night {night}: events {sorted(events - known_events)[:5]}"
    assert truth.records["person_id"].null_count() == 0
    assert set(truth.records["person_id"]) <= set(truth.persons["person_id"])


def test_population_has_the_hard_cases(truth: Truth) -> None:
    p = truth.persons
    twins = p.filter(pl.col("twin_of").is_not_null()).join(
        p.select(
            pl.col("person_id").alias("twin_of"),
            pl.col("dob").alias("dob2"),
            pl.col("first_name").alias("first2"),
        ),
        on="twin_of",
    )
    assert twins.height >= 10
    assert (twins["dob"] == twins["dob2"]).all() and (twins["first_name"] != twins["first2"]).all()
    share_smith = (p["birth_surname"] == "Smith").mean()
    assert 0.005 < share_smith < 0.05
    assert p["birth_surname"].str.contains("-").sum() > 20
    assert p["birth_surname"].str.contains("'").sum() > 5
    assert p["first_name"].str.contains(r"[^\x00-\x7F]").sum() > 5
    groups = p["ethnicity"].value_counts()
    assert groups.height == 10


def test_risk_drives_the_events_partners_record(truth: Truth) -> None:
    latent = truth.persons.filter(pl.col("z_start").is_not_null())
    counts = truth.events.filter(pl.col("recorded")).group_by("person_id").len()
    df = latent.join(counts, on="person_id", how="left").with_columns(pl.col("len").fill_null(0))
    top = df.filter(pl.col("z_start") > df["z_start"].quantile(0.9))["len"].mean()
    bottom = df.filter(pl.col("z_start") < df["z_start"].quantile(0.1))["len"].mean()
    assert top > 3 * bottom
    oracle = truth.manifest["oracle_auc"]
    assert isinstance(oracle, float) and 0.75 < oracle < 0.99
    rate = truth.manifest["outcome_rate"]
    assert isinstance(rate, float) and 0.01 < rate < 0.08


def test_no_event_is_dated_after_its_night(world: Path, truth: Truth) -> None:
    last = TEST_WORLD.night_dates()[-1]
    seen = truth.event_records.join(
        truth.events.select("event_id", "date"), on="event_id", how="left"
    )
    recorded = seen.filter(pl.col("date").is_not_null())
    assert recorded["date"].max() <= last
    night_of = np.searchsorted(
        np.array([d.toordinal() for d in TEST_WORLD.night_dates()]),
        np.array([d.toordinal() for d in recorded["date"].to_list()]),
    )
    assert (recorded["seen_night"].to_numpy() == night_of).all()
    assert dt.date(2000, 1, 1) < recorded["date"].min()


def test_involvements_name_real_staff_and_match_the_extracts(world: Path) -> None:
    inv = pl.read_parquet(world / "truth" / "involvements.parquet")
    staff = set(pl.read_csv(world / "directory" / "professionals.csv")["email"])
    staff |= set(pl.read_csv(world / "directory" / "schools.csv")["dsl_email"])
    assert set(inv["email"]) <= staff
    assert set(inv["agency"]) == {
        "childrens_social_care",
        "adult_social_care",
        "housing",
        "police",
        "education",
        "health",
    }
    csc = pl.read_csv(
        extract(world, 0, "childrens_social_care", "referrals.csv"), infer_schema=False
    )
    shown = (
        csc.filter(pl.col("Allocated Social Worker").is_not_null())
        .select(
            pl.col("Child ID").alias("source_record_id"),
            pl.col("Allocated Social Worker").alias("professional"),
        )
        .unique()
    )
    truth = (
        inv.filter((pl.col("night") == 0) & (pl.col("agency") == "childrens_social_care"))
        .select("source_record_id", "professional")
        .unique()
    )
    assert shown.sort("source_record_id").equals(truth.sort("source_record_id"))


def test_the_audit_reports_what_the_truth_holds(world: Path, truth: Truth) -> None:
    from world.audit import error_rates, nightly_changes, partner_sizes

    rates = error_rates(world)
    typo = rates.filter(pl.col("error") == "typo").row(0, named=True)
    assert typo["eligible"] == truth.records.filter(pl.col("eligible_typo")).height
    assert typo["carried"] == int(truth.records["typo"].sum())
    changes = nightly_changes(world)
    assert changes.height == TEST_WORLD.nights - 1
    births = truth.life_events.filter(pl.col("kind") == "birth").height
    assert int(changes["born"].sum()) == births
    sizes = partner_sizes(world)
    assert sizes.height == TEST_WORLD.nights and "pupils" in sizes.columns
