"""Linkage in the pipeline: the hard cases the design names, and ids that stay put."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from servers import free_port

from matching import changed_records, link_night, train_model
from matching.evaluate import cluster_scores
from matching.households import households
from matching.link import link, score_new
from matching.prepare import prepare
from pipelines.environment import models_dir
from pipelines.nightly import run_night
from world.config import NightlyRates, WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

WORLD = WorldConfig(
    people=6_000, seed=21, nights=3, nightly=NightlyRates(move=0.01, marriage=0.05, birth=0.003)
)
NIGHTS = WORLD.night_dates()


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A world ingested and linked night by night: (world folder, warehouse file)."""
    root = tmp_path_factory.mktemp("linked")
    world = generate(WORLD, root / "world").out
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))
    patch.setenv("JOINEDUP_WORLD", str(world))
    patch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    # The job's alerts step needs a mail relay named; nothing is scored, so none is sent.
    patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    try:
        with BackgroundServer(world, "tok") as server:
            patch.setenv("JOINEDUP_POLICE_URL", server.url)
            for night in NIGHTS:
                ok, lines = run_night(night)
                assert ok, lines
        warehouse = root / "warehouse.duckdb"
        model = train_model(warehouse, models_dir())
        for night in NIGHTS:
            link_night(warehouse, night, model, 0.9)
        yield world, warehouse
    finally:
        patch.undo()


def _persons(warehouse: Path, night: dt.date | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if night is None:
            found = con.sql("SELECT * FROM persons WHERE valid_to IS NULL").pl()
        else:
            found = con.sql(
                "SELECT * FROM persons WHERE valid_from <= ? AND"
                " (valid_to IS NULL OR valid_to > ?)",
                params=[night, night],
            ).pl()
    finally:
        con.close()
    return found


def _dated(warehouse: Path) -> pl.DataFrame:
    """The current records that carry a date of birth."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        dated: pl.DataFrame = con.sql(
            "SELECT source, source_record_id FROM person_records"
            " WHERE valid_to IS NULL AND dob IS NOT NULL"
        ).pl()
    finally:
        con.close()
    return dated


def _with_truth(world: Path, persons: pl.DataFrame) -> pl.DataFrame:
    truth = pl.read_parquet(world / "truth" / "records.parquet").select(
        "source_record_id", pl.col("person_id").alias("true_id")
    )
    people = pl.read_parquet(world / "truth" / "persons.parquet").select(
        pl.col("person_id").alias("true_id"), "first_name", "birth_surname", "dob", "twin_of"
    )
    return persons.join(truth, on="source_record_id").join(people, on="true_id")


def test_twins_at_one_address_stay_two_people(linked: tuple[Path, Path]) -> None:
    world, warehouse = linked
    df = _with_truth(world, _persons(warehouse))
    twins = df.filter(pl.col("twin_of").is_not_null())
    assert twins["true_id"].n_unique() >= 10
    shared = twins.join(twins, left_on=["person_id", "twin_of"], right_on=["person_id", "true_id"])
    assert shared.is_empty(), shared.head()


def test_namesakes_with_different_birthdays_stay_apart(linked: tuple[Path, Path]) -> None:
    world, warehouse = linked
    df = _with_truth(world, _persons(warehouse))
    namesakes = df.group_by("first_name", "birth_surname").agg(
        pl.col("true_id").n_unique().alias("people"), pl.col("person_id").n_unique().alias("ids")
    )
    common = namesakes.filter(pl.col("people") > 1)
    assert common.height > 5  # the world has its John Smiths
    # Records that carry a birth date: namesakes among them are never one person.
    dated = _dated(warehouse)
    merged = df.join(
        common.select("first_name", "birth_surname"), on=["first_name", "birth_surname"]
    ).join(dated, on=["source", "source_record_id"])
    per_id = merged.group_by("person_id").agg(pl.col("dob").n_unique().alias("birthdays"))
    assert per_id.filter(pl.col("birthdays") > 1).is_empty()


def test_a_woman_who_married_and_moved_is_one_person(linked: tuple[Path, Path]) -> None:
    world, warehouse = linked
    life = pl.read_parquet(world / "truth" / "life_events.parquet")
    names = pl.col("detail").str.split(" > ")
    married = life.filter(
        (pl.col("kind") == "marriage") & (names.list.first() != names.list.last())
    )["person_id"]
    # Her records that carry a date of birth: council tax holds none, so a council-tax
    # record under her new name at her new address has nothing to tie it to her past.
    dated = _dated(warehouse)
    df = (
        _with_truth(world, _persons(warehouse))
        .filter(pl.col("true_id").is_in(married.implode()))
        .join(dated, on=["source", "source_record_id"])
    )
    assert df["true_id"].n_unique() >= 10
    per_person = df.group_by("true_id").agg(pl.col("person_id").n_unique().alias("ids"))
    assert (per_person["ids"] == 1).all(), per_person.filter(pl.col("ids") > 1)


def test_ids_are_stable_across_a_rerun_and_a_new_night(linked: tuple[Path, Path]) -> None:
    _, warehouse = linked
    before = _persons(warehouse).select("unique_id", "person_id").sort("unique_id")
    model = sorted((warehouse.parent / "models").glob("*.json"))[-1]
    assert link_night(warehouse, NIGHTS[-1], model, 0.9).status == "already linked"
    again = link_night(warehouse, NIGHTS[-1], model, 0.9, again=True)
    assert again.status == "linked"
    after = _persons(warehouse).select("unique_id", "person_id").sort("unique_id")
    assert before.equals(after)
    first = _persons(warehouse, NIGHTS[-2]).select("unique_id", "person_id")
    last = _persons(warehouse, NIGHTS[-1]).select("unique_id", "person_id")
    kept = first.join(last, on="unique_id", suffix="_next")
    assert (kept["person_id"] == kept["person_id_next"]).mean() >= 0.995


def test_an_older_night_is_not_relinked_over_newer_ones(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    model, warehouse = _copy(linked, tmp_path / "older.duckdb")
    assert link_night(warehouse, NIGHTS[0], model, 0.9).status == "already linked"
    # Another threshold does not link it again over the nights after it either.
    assert link_night(warehouse, NIGHTS[0], model, 0.8, again=True).status == "already linked"
    con = duckdb.connect(str(warehouse))
    con.execute("DELETE FROM linkage_runs WHERE night = ?", [NIGHTS[0]]).fetchall()
    con.close()
    with pytest.raises(ValueError, match="nights link in order"):
        link_night(warehouse, NIGHTS[0], model, 0.9)


def test_households_group_the_people_at_one_address(linked: tuple[Path, Path]) -> None:
    world, warehouse = linked
    con = duckdb.connect(str(warehouse), read_only=True)
    homes = con.sql("SELECT * FROM households WHERE valid_to IS NULL").pl()
    con.close()
    persons = _with_truth(world, _persons(warehouse))
    # Each predicted person stands for the true person most of its records belong to.
    majority = (
        persons.group_by("person_id", "true_id")
        .len()
        .sort("len", descending=True)
        .group_by("person_id")
        .first()
        .select("person_id", "true_id")
    )
    residence = pl.read_parquet(world / "truth" / "residence.parquet")
    true_home = (
        residence.sort("night")
        .group_by("person_id")
        .last()
        .select(
            pl.col("person_id").alias("true_id"), pl.col("household_id").alias("true_household")
        )
    )
    df = homes.join(majority, on="person_id").join(true_home, on="true_id")
    scores = cluster_scores(
        df.select(
            pl.col("person_id").alias("unique_id"), pl.col("household_id").alias("cluster_id")
        ),
        df.select(
            pl.col("person_id").alias("unique_id"), pl.col("true_household").alias("person_id")
        ),
    )
    assert scores.precision >= 0.9 and scores.recall >= 0.85, scores.line()
    assert set(homes["basis"]) <= {"tenancy", "uprn", "address"}


def test_scoring_only_changes_scores_their_pairs_as_a_full_night_does(
    linked: tuple[Path, Path],
) -> None:
    _, warehouse = linked
    model = json.loads(sorted((warehouse.parent / "models").glob("*.json"))[-1].read_text())
    con = duckdb.connect(str(warehouse), read_only=True)
    at = "SELECT * FROM person_records WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    after = con.sql(at, params=[NIGHTS[-1], NIGHTS[-1]]).pl()
    changed = changed_records(con, NIGHTS[-1])
    con.close()
    assert changed
    full = link(after, model["splink_model"], 0.9).pairs
    # The pairs of changed records are scored exactly as the full night scores them: the
    # same pairs, the same weights (the comparisons are symmetric, so it does not matter
    # that the changed record is on the left).
    touched = pl.col("unique_id_l").is_in(list(changed)) | pl.col("unique_id_r").is_in(
        list(changed)
    )
    new = score_new(prepare(after), model["splink_model"], changed)
    side = ["unique_id_l", "unique_id_r"]
    compared = (
        full.filter(touched)
        .select(*side, "match_weight")
        .join(new.select(*side, "match_weight"), on=side, how="full", suffix="_new")
    )
    assert compared.height > 0
    assert compared["match_weight"].null_count() == compared["match_weight_new"].null_count() == 0
    assert (compared["match_weight"] - compared["match_weight_new"]).abs().max() < 1e-9


def _copy(linked: tuple[Path, Path], to: Path) -> tuple[Path, Path]:
    """The newest model, and a copy of the linked warehouse to change."""
    _, warehouse = linked
    shutil.copy(warehouse, to)
    return sorted((warehouse.parent / "models").glob("*.json"))[-1], to


def test_incremental_nights_give_the_persons_a_full_run_gives(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    model, copy = _copy(linked, tmp_path / "incremental.duckdb")
    con = duckdb.connect(str(copy))
    for table in ("persons", "person_history", "linkage_runs", "linkage_pairs", "households"):
        con.execute(f"DROP TABLE {table}").fetchall()
    con.close()
    link_night(copy, NIGHTS[0], model, 0.9)
    for night in NIGHTS[1:]:
        report = link_night(copy, night, model, 0.9, incremental=True)
        assert report.status == "linked"
    full = _persons(linked[1]).select("unique_id", "person_id")
    incremental = _persons(copy).select("unique_id", "person_id")
    both = full.join(incremental, on="unique_id", suffix="_inc")
    assert both.height == full.height == incremental.height
    assert (both["person_id"] == both["person_id_inc"]).mean() >= 0.995
    # Every stored link says whether the clustering refused it, as of the newest night,
    # after incremental nights and after full ones.
    wrongly_marked = (
        "SELECT count(*) FROM linkage_pairs AS p"
        " JOIN persons AS l ON l.unique_id = p.unique_id_l AND l.valid_to IS NULL"
        " JOIN persons AS r ON r.unique_id = p.unique_id_r AND r.valid_to IS NULL"
        " WHERE p.refused_by_clustering IS DISTINCT FROM"
        " (p.match_probability >= 0.9 AND l.person_id <> r.person_id)"
    )
    con = duckdb.connect(str(copy), read_only=True)
    wrong = con.sql(wrongly_marked).fetchall()[0][0]
    refused = con.sql("SELECT count(*) FROM linkage_pairs WHERE refused_by_clustering").fetchall()
    pairs = "SELECT unique_id_l, unique_id_r FROM linkage_pairs WHERE match_probability >= 0.5"
    stored_pairs = set(con.sql(pairs).fetchall())
    with duckdb.connect(str(linked[1]), read_only=True) as whole:
        full_pairs = set(whole.sql(pairs).fetchall())
        wrong_in_full = whole.sql(wrongly_marked).fetchall()[0][0]
        refused_in_full = whole.sql(
            "SELECT count(*) FROM linkage_pairs WHERE refused_by_clustering"
        ).fetchall()[0][0]
    # The households kept night by night are those a full placement of tonight's persons gives.
    columns = "person_id, household_id, basis, address_key, relationship"
    stored = con.sql(f"SELECT {columns} FROM households WHERE valid_to IS NULL").pl()
    records = con.sql(
        "SELECT *, source || ':' || source_record_id AS unique_id FROM person_records"
        " WHERE valid_to IS NULL"
    ).pl()
    persons = con.sql("SELECT unique_id, person_id FROM persons WHERE valid_to IS NULL").pl()
    changed_rows = con.sql("SELECT count(*) FROM households WHERE valid_to IS NOT NULL").fetchall()
    con.close()
    assert wrong == 0 and wrong_in_full == 0
    assert refused[0][0] > 0  # namesakes and household members the clustering kept apart
    assert refused_in_full > 0
    # The stored pairs are nearly those of a full night: pairs of unchanged records keep
    # the score of the night they were scored, and term frequencies move a little nightly.
    assert len(stored_pairs & full_pairs) >= 0.995 * max(len(full_pairs), len(stored_pairs))
    assert stored.sort("person_id").equals(households(persons, records))
    assert 0 < changed_rows[0][0] < stored.height  # rows are written when they change, not nightly


def test_households_written_whole_each_night_become_rows_valid_between_nights(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    model, copy = _copy(linked, tmp_path / "old-layout.duckdb")
    con = duckdb.connect(str(copy))
    # The layout before: every person's row again for every night linked.
    con.execute(
        "CREATE OR REPLACE TABLE households AS"
        " SELECT n.night, h.person_id, h.household_id, h.basis, h.address_key, h.relationship"
        " FROM households h, (SELECT DISTINCT night FROM linkage_runs) n"
        " WHERE h.valid_from <= n.night AND (h.valid_to IS NULL OR h.valid_to > n.night)"
    ).fetchall()
    by_night = con.sql("SELECT night, count(*) FROM households GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert link_night(copy, NIGHTS[-1], model, 0.9, again=True).status == "linked"
    con = duckdb.connect(str(copy), read_only=True)
    as_of = [
        (
            night,
            con.sql(
                "SELECT count(*) FROM households WHERE valid_from <= ?"
                " AND (valid_to IS NULL OR valid_to > ?)",
                params=[night, night],
            ).fetchall()[0][0],
        )
        for night, _ in by_night
    ]
    con.close()
    assert as_of == by_night
