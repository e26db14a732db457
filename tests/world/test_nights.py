"""Successive nights differ as configured: people move, are born, die and marry; partners
add, correct and delete records and events; and each extract shows exactly those changes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
from worldfiles import TEST_WORLD, Truth, extract, read_tsv

NIGHTS = range(1, TEST_WORLD.nights)


def _close(k: int, n: int, p: float) -> bool:
    return abs(k / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 0.002


def _live(records: pl.DataFrame, night: int) -> pl.DataFrame:
    return records.filter((pl.col("first_night") <= night) & (pl.col("end_night") > night))


def test_record_deletions_and_corrections_follow_the_rates(truth: Truth) -> None:
    live = deleted = had_errors = corrected = 0
    for night in NIGHTS:
        before = _live(truth.records, night - 1)
        live += before.height
        deleted += int((before["deleted_night"] == night).sum())
        erring = before.filter(
            pl.col("corrected_night").is_not_null() & (pl.col("corrected_night") >= night)
        )
        had_errors += erring.height
        corrected += int((erring["corrected_night"] == night).sum())
    assert _close(deleted, live, TEST_WORLD.nightly.deletion), deleted / live
    assert _close(corrected, had_errors, TEST_WORLD.nightly.correction), corrected / had_errors


def test_life_events_follow_the_rates(truth: Truth) -> None:
    ev = truth.life_events
    for night in NIGHTS:
        assert ev.filter((pl.col("night") == night) & (pl.col("kind") == "birth")).height > 0
        assert ev.filter((pl.col("night") == night) & (pl.col("kind") == "move")).height > 0
    moved_households = (
        truth.residence.filter(pl.col("night") > 0)
        .join(
            ev.filter(pl.col("kind") == "move").select("person_id", "night"),
            on=["person_id", "night"],
        )
        .group_by("night")
        .agg(pl.col("household_id").n_unique())
    )
    start_households = truth.residence.filter(pl.col("night") == 0)["household_id"].n_unique()
    total_moves = int(moved_households["household_id"].sum())
    assert _close(total_moves, start_households * len(NIGHTS), TEST_WORLD.nightly.move)
    married = ev.filter(pl.col("kind") == "marriage")
    assert married.height > 0
    assert married["detail"].str.contains(" > ").all()


def test_extract_shows_added_and_deleted_records(world: Path, truth: Truth) -> None:
    ctax = truth.records.filter(pl.col("register") == "ctax_parties")
    for night in NIGHTS:
        before = set(
            read_tsv(extract(world, night - 1, "revenues_benefits", "ctax_accounts.tsv"))[
                "PARTY_REF"
            ]
        )
        after = set(
            read_tsv(extract(world, night, "revenues_benefits", "ctax_accounts.tsv"))["PARTY_REF"]
        )
        gone = set(ctax.filter(pl.col("end_night") == night)["source_record_id"])
        new = set(ctax.filter(pl.col("first_night") == night)["source_record_id"])
        assert before - after == gone and len(gone) > 0
        assert after - before == new


def test_property_registers_follow_a_move_at_once(world: Path, truth: Truth) -> None:
    ctax = truth.records.filter(pl.col("register") == "ctax_parties")
    assert (ctax["lag"] == 0).all() and not ctax["stale_address"].any()


def test_extract_shows_corrections(world: Path, truth: Truth) -> None:
    typos = truth.records.filter((pl.col("register") == "ctax_parties") & pl.col("typo"))
    seen = 0
    for night in NIGHTS:
        fixed = typos.filter(
            (pl.col("corrected_night") == night)
            & (pl.col("end_night") > night)
            & (pl.col("first_night") < night)
        )
        a = read_tsv(extract(world, night - 1, "revenues_benefits", "ctax_accounts.tsv"))
        b = read_tsv(extract(world, night, "revenues_benefits", "ctax_accounts.tsv"))
        both = (
            fixed.select("source_record_id")
            .join(
                a.select("PARTY_REF", "PARTY_NAME"),
                left_on="source_record_id",
                right_on="PARTY_REF",
            )
            .join(
                b.select("PARTY_REF", pl.col("PARTY_NAME").alias("after")),
                left_on="source_record_id",
                right_on="PARTY_REF",
            )
        )
        assert (both["PARTY_NAME"] != both["after"]).all()
        seen += both.height
    assert seen > 0


def test_movers_addresses_update_with_their_lag(world: Path, truth: Truth) -> None:
    night = TEST_WORLD.nights - 1
    movers = truth.life_events.filter((pl.col("night") == night) & (pl.col("kind") == "move"))
    now = truth.state(night).select("person_id", pl.col("postcode").alias("new"))
    was = truth.state(night - 1).select("person_id", pl.col("postcode").alias("old"))
    recs = (
        truth.records.filter(
            (pl.col("register") == "pupils")
            & (pl.col("first_night") < night)
            & (pl.col("end_night") > night)
            & ~pl.col("stale_address")
            & ~pl.col("postcode_typo")
        )
        .join(movers.select("person_id"), on="person_id")
        .join(now, on="person_id")
        .join(was, on="person_id")
    )
    shown = pl.read_csv(
        extract(world, night, "education", "pupils.csv"), infer_schema=False
    ).select(pl.col("PupilID").alias("PARTY_REF"), pl.col("Postcode").alias("POSTCODE"))
    df = recs.join(shown, left_on="source_record_id", right_on="PARTY_REF").filter(
        pl.col("new") != pl.col("old")
    )
    prompt = df.filter(pl.col("lag") == 0)
    never = df.filter(pl.col("lag") == -1)
    assert prompt.height > 0 and never.height > 0
    assert (prompt["POSTCODE"] == prompt["new"]).all()
    # A record that never learns keeps the address of the night it was made.
    made = pl.concat(
        [
            truth.state(n).select(
                "person_id",
                pl.lit(n, pl.Int64).alias("first_night"),
                pl.col("postcode").alias("at_creation"),
            )
            for n in range(night)
        ]
    )
    never = never.join(made, on=["person_id", "first_night"])
    assert (never["POSTCODE"] == never["at_creation"]).all()


def test_new_surnames_reach_prompt_partners(world: Path, truth: Truth) -> None:
    changed = truth.surnames.filter(pl.col("night") > 0).join(
        truth.life_events.filter(pl.col("kind") == "marriage").select("person_id", "night"),
        on=["person_id", "night"],
    )
    assert changed.height > 0
    last = TEST_WORLD.nights - 1
    recs = truth.records.filter(
        (pl.col("register") == "ctax_parties")
        & (pl.col("lag") == 0)
        & (pl.col("end_night") > last)
        & ~pl.any_horizontal(
            "typo",
            "transposition",
            "name_swap",
            "spelling_variant",
            "surname_part",
            "accent_dropped",
        )
    ).join(changed.select("person_id", "last_name"), on="person_id")
    shown = read_tsv(extract(world, last, "revenues_benefits", "ctax_accounts.tsv"))
    df = recs.join(shown, left_on="source_record_id", right_on="PARTY_REF")
    assert df.height > 0
    assert all(
        name.startswith(s.upper() + ",")
        for name, s in df.select("PARTY_NAME", "last_name").iter_rows()
    )


def test_births_arrive_as_birth_notifications(world: Path, truth: Truth) -> None:
    for night in NIGHTS:
        born = truth.life_events.filter((pl.col("night") == night) & (pl.col("kind") == "birth"))
        health = pl.read_csv(extract(world, night, "health", "attendances.csv"), infer_schema=False)
        notes = health.filter(pl.col("SERVICE") == "MATERNITY")
        babies = truth.records.filter(pl.col("register") == "patients").join(
            born.select("person_id"), on="person_id"
        )
        shown = set(notes["LOCAL_PATIENT_ID"]) & set(babies["source_record_id"])
        assert len(shown) >= 0.9 * born.height > 0


def test_event_rows_are_added_amended_and_deleted(world: Path, truth: Truth) -> None:
    er = truth.event_records.filter(pl.col("register") == "patients")
    added = deleted = 0
    for night in NIGHTS:
        a = pl.read_csv(extract(world, night - 1, "health", "attendances.csv"), infer_schema=False)
        b = pl.read_csv(extract(world, night, "health", "attendances.csv"), infer_schema=False)
        ids_a = {int(x[3:]) for x in a["ATTENDANCE_ID"]}
        ids_b = {int(x[3:]) for x in b["ATTENDANCE_ID"]}
        gone = ids_a - ids_b
        truly_deleted = set(er.filter(pl.col("deleted_night") == night)["event_id"])
        assert gone >= (truly_deleted & ids_a)
        added += len(ids_b - ids_a)
        deleted += len(gone)
    assert added > 0 and deleted > 0


def test_amended_events_show_their_new_grading(world: Path, truth: Truth) -> None:
    police = truth.event_records.filter(pl.col("register") == "police_nominals").join(
        truth.events.select("event_id", "severity"), on="event_id"
    )
    seen = 0
    for night in NIGHTS:
        amended = police.filter(
            (pl.col("amended_night") == night)
            & (pl.col("seen_night") < night)
            & (pl.col("deleted_night") > night)
            & (pl.col("severity") < 3)
        )

        def grading(n: int) -> dict[int, str]:
            body = json.loads(extract(world, n, "police", "incidents.json").read_text())
            return {
                int(i["incidentRef"].rsplit("-", 1)[1]): i["riskGrading"] for i in body["incidents"]
            }

        before, after = grading(night - 1), grading(night)
        for event_id in amended["event_id"]:
            if event_id in before and event_id in after:
                assert before[event_id] != after[event_id]
                seen += 1
    assert seen > 0
