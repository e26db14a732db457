"""Features and outcomes on a linked warehouse: no leakage, exact windows, households, errors."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from risk_models import features as features_module
from risk_models.features import (
    AUDIT_COLUMNS,
    FeaturesError,
    build_features,
    check,
    describe,
    feature_names,
    feature_set,
    features_config,
)
from risk_models.outcomes import (
    OutcomesError,
    oracle_auc,
    outcome_config,
    outcomes,
    training_examples,
    truth_outcomes,
)

if TYPE_CHECKING:
    from risk.conftest import LinkedWorld

AS_OF = dt.date(2026, 8, 1)
COUNTED = {"n_domestic_abuse", "n_events", "n_severe"}
_ids = itertools.count()


def _record(con: duckdb.DuckDBPyConnection, person_id: str, night: dt.date) -> tuple[str, str]:
    """One of the person's records (source, source_record_id) as linked on the night."""
    rows = con.execute(
        "SELECT source, source_record_id FROM persons WHERE person_id = ? AND valid_from <= ?"
        " AND (valid_to IS NULL OR valid_to > ?) ORDER BY 1, 2 LIMIT 1",
        [person_id, night, night],
    ).fetchall()
    return rows[0][0], rows[0][1]


def _plant_event(
    con: duckdb.DuckDBPyConnection,
    record: tuple[str, str],
    kind: str,
    date: dt.date,
    loaded: dt.date,
    severity: int | None = 3,
) -> None:
    """An event row for a record, as if a partner's extract of night `loaded` held it."""
    con.execute(
        "INSERT INTO events BY NAME SELECT ? AS source, ? AS event_id, ? AS source_record_id,"
        " ? AS type, ? AS date, ? AS severity, 'x' AS row_hash, ? AS valid_from,"
        " 'planted' AS loaded_by",
        [record[0], f"PLANTED{next(_ids)}", record[1], kind, date, severity, loaded],
    ).fetchall()


def _changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """person_id, feature, delta for every feature value that changed."""
    assert before["person_id"].to_list() == after["person_id"].to_list()
    names = feature_names()
    wide = pl.concat(
        [
            before.select("person_id"),
            after.select([(after[n] - before[n]).alias(n) for n in names]),
        ],
        how="horizontal",
    )
    return wide.unpivot(index="person_id", variable_name="feature", value_name="delta").filter(
        pl.col("delta") != 0
    )


def _span(con: duckdb.DuckDBPyConnection, night: dt.date, as_of: dt.date, test: str) -> int:
    """Days a yearly rate is taken over: up to history_days, back to the first such event."""
    first = con.execute(
        f"SELECT min(date) FROM events WHERE valid_from <= ? AND date <= ? AND {test}",
        [night, as_of],
    ).fetchall()[0][0]
    history = features_config().history_days
    assert history is not None
    return min(history, (as_of - first).days + 1)


def _quiet_adult(frame: pl.DataFrame) -> pl.DataFrame:
    """Adults of known age in a household of two or more with a child, no event for a year."""
    return frame.filter(
        (pl.col("age") >= 18)
        & (pl.col("age_unknown") == 0)
        & (pl.col("hh_has_child") == 1)
        & (pl.col("hh_size") >= 2)
        & (pl.col("days_since_last_event") > 365)
    ).sort("person_id")


@pytest.fixture(scope="module")
def night(linked_world: LinkedWorld) -> dt.date:
    return linked_world.nights[-1]


@pytest.fixture(scope="module")
def baseline(linked_world: LinkedWorld, night: dt.date) -> pl.DataFrame:
    con = linked_world.read()
    try:
        return build_features(con, AS_OF, night)
    finally:
        con.close()


def test_one_row_per_linked_person_with_fixed_columns(
    linked_world: LinkedWorld, baseline: pl.DataFrame, night: dt.date
) -> None:
    con = linked_world.read()
    try:
        persons = con.execute(
            "SELECT count(DISTINCT person_id) FROM persons WHERE valid_from <= ?"
            " AND (valid_to IS NULL OR valid_to > ?)",
            [night, night],
        ).fetchall()[0][0]
        tonight = build_features(con, night, night)
    finally:
        con.close()
    # Tonight everyone linked is scored; at a past date, those with a record by then.
    assert tonight.height == persons > 2_000
    assert persons > baseline.height > 1_000
    assert baseline["person_id"].is_in(tonight["person_id"].implode()).all()
    assert baseline["person_id"].is_unique().all()
    assert baseline.columns == ["person_id", "household_id", *feature_names(), *AUDIT_COLUMNS]
    assert baseline.select(feature_names()).null_count().sum_horizontal().item() == 0
    assert all(baseline[n].dtype == pl.Float64 for n in feature_names())
    # The model never sees sex, ethnicity or age band: they are audit columns only.
    assert not [n for n in feature_names() if "sex" in n or "ethnic" in n or "band" in n]
    assert set(baseline["audit_sex"].unique()) <= {"F", "M", "unknown"}
    assert baseline.filter(pl.col("hh_size") == 1)["hh_n_events_365d"].max() == 0


def test_an_event_after_the_as_of_date_changes_no_feature(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    some = baseline.sort("person_id").gather_every(97)["person_id"].to_list()
    config = features_config()
    for i, person in enumerate(some):
        record = _record(planted, person, night)
        kind = list(config.event_types)[i % len(config.event_types)]
        _plant_event(planted, record, kind, AS_OF + dt.timedelta(days=1 + i % 60), night)
    _plant_event(planted, _record(planted, some[0], night), "domestic_abuse", night, night)
    after = build_features(planted, AS_OF, night)
    assert after.equals(baseline)
    # The same rows dated on the as-of date are seen: the plant itself is not a no-op.
    planted.execute("UPDATE events SET date = ? WHERE loaded_by = 'planted'", [AS_OF]).fetchall()
    assert not build_features(planted, AS_OF, night).equals(baseline)


def test_an_event_on_the_as_of_date_changes_exactly_the_expected_features(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    person = _quiet_adult(baseline).row(0, named=True)
    _plant_event(
        planted, _record(planted, person["person_id"], night), "domestic_abuse", AS_OF, night
    )
    changes = _changes(baseline, build_features(planted, AS_OF, night))

    own = dict(
        changes.filter(pl.col("person_id") == person["person_id"])
        .select("feature", "delta")
        .iter_rows()
    )
    expected = {f"{k}_{w}d": 1.0 for k in COUNTED for w in (30, 90, 365)}
    expected |= {f"agencies_{w}d": 1.0 for w in (30, 90, 365)}
    expected |= {"trend_90d": 1.0, "days_since_last_event": -person["days_since_last_event"]}
    everything = 365 / _span(planted, night, AS_OF, "true")
    abuse = 365 / _span(planted, night, AS_OF, "type = 'domestic_abuse'")
    expected |= {"n_events_per_year": everything, "n_severe_per_year": everything}
    expected |= {"n_domestic_abuse_per_year": abuse}
    assert own == pytest.approx(
        expected
    )  # the person's own household and area features do not move

    members = baseline.filter(
        (pl.col("household_id") == person["household_id"])
        & (pl.col("person_id") != person["person_id"])
    )["person_id"].to_list()
    assert members
    household = {
        f"hh_n_{k}_{w}d": 1.0 for k in ("domestic_abuse", "events", "severe") for w in (90, 365)
    }
    household["hh_domestic_abuse_with_child_90d"] = 1.0
    for member in members:
        got = dict(
            changes.filter(
                (pl.col("person_id") == member) & (pl.col("feature") != "area_event_rate_365d")
            )
            .select("feature", "delta")
            .iter_rows()
        )
        assert got == household

    # Everyone else moves only in the area rate: by 1 / (the other persons in their area),
    # where their area holds the person.
    rest = changes.filter(~pl.col("person_id").is_in([person["person_id"], *members]))
    assert set(rest["feature"]) == {"area_event_rate_365d"}
    got = changes.filter(pl.col("feature") == "area_event_rate_365d").select("person_id", "delta")
    areas = _areas(planted, night, AS_OF, features_config().area.min_persons)
    home = areas.filter(pl.col("person_id") == person["person_id"]).row(0, named=True)
    want = areas.filter(
        (pl.col("person_id") != person["person_id"])
        & (
            (pl.col("area") == home["sector"])
            | (pl.col("area") == home["district"])
            | (pl.col("area") == "*")
        )
    ).select("person_id", (1 / (pl.col("n") - 1)).alias("delta"))
    assert (
        got.sort("person_id")["person_id"].to_list()
        == want.sort("person_id")["person_id"].to_list()
    )
    assert got.sort("person_id")["delta"].to_list() == pytest.approx(
        want.sort("person_id")["delta"].to_list()
    )


def _areas(
    con: duckdb.DuckDBPyConnection, night: dt.date, as_of: dt.date, least: int
) -> pl.DataFrame:
    """person_id, sector, district, and the area rated (a sector, a district or "*" for
    everyone) with n, its persons: worked out again here, in Polars, from the records that
    existed at the as-of date (partner's start date, first loaded, first event or first
    involvement by then), each as it stood then or as first loaded."""
    key = ["source", "source_record_id"]
    linked = con.sql(
        "SELECT source, source_record_id, person_id FROM persons"
        " WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)",
        params=[night],
    ).pl()
    versions = con.sql(
        "SELECT source, source_record_id, postcode, valid_from, valid_to FROM person_records"
        " WHERE valid_from <= $1",
        params=[night],
    ).pl()
    dated = pl.concat(
        [
            con.sql(
                f"SELECT source, source_record_id, {column} AS since FROM {table}"
                f" WHERE valid_from <= $1 AND {column} IS NOT NULL",
                params=[night],
            ).pl()
            for table, column in (
                ("person_records", "known_since"),
                ("events", "date"),
                ("involvements", "from_date"),
            )
        ]
    )
    loaded = versions.group_by(key).agg(pl.col("valid_from").min().alias("loaded"))
    existed = (
        loaded.join(dated.group_by(key).agg(pl.col("since").min()), on=key, how="left")
        .filter((pl.col("loaded") <= as_of) | (pl.col("since") <= as_of))
        .with_columns(
            read_at=pl.when(pl.col("loaded") > as_of).then("loaded").otherwise(pl.lit(as_of))
        )
    )
    rows = linked.join(existed, on=key).join(versions, on=key)
    rows = rows.filter(
        (pl.col("valid_from") <= pl.col("read_at"))
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("read_at")))
    )
    people = rows.select("person_id").unique()
    codes = rows.select(
        "person_id", pl.col("postcode").str.replace_all(" ", "").str.to_uppercase().alias("pc")
    )
    home = (
        codes.filter(pl.col("pc").str.contains(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"))
        .group_by("person_id", "pc")
        .len()
        .sort(["person_id", "len", "pc"], descending=[False, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
    )
    found = people.join(home, on="person_id", how="left").with_columns(
        district=pl.col("pc").str.head(-3),
        sector=pl.col("pc").str.head(-3) + " " + pl.col("pc").str.slice(-3, 1),
    )
    found = found.with_columns(
        n_sector=pl.len().over("sector"), n_district=pl.len().over("district"), n_all=pl.len()
    )
    sector = pl.col("sector").is_not_null() & (pl.col("n_sector") - 1 >= least)
    district = pl.col("district").is_not_null() & (pl.col("n_district") - 1 >= least)
    return found.select(
        "person_id",
        "sector",
        "district",
        pl.when(sector)
        .then("sector")
        .when(district)
        .then("district")
        .otherwise(pl.lit("*"))
        .alias("area"),
        pl.when(sector)
        .then("n_sector")
        .when(district)
        .then("n_district")
        .otherwise("n_all")
        .alias("n"),
    )


@pytest.mark.parametrize("ago", [0, 29, 30, 89, 90, 179, 180, 364, 365])
def test_window_edges(
    ago: int, planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    """A window of w days holds events 0 to w-1 days before the as-of date."""
    person = _quiet_adult(baseline).row(1, named=True)
    record = _record(planted, person["person_id"], night)
    _plant_event(planted, record, "rent_arrears_action", AS_OF - dt.timedelta(days=ago), night, 1)
    own = dict(
        _changes(baseline, build_features(planted, AS_OF, night))
        .filter(pl.col("person_id") == person["person_id"])
        .select("feature", "delta")
        .iter_rows()
    )
    for w in (30, 90, 365):
        for name in (f"n_rent_arrears_action_{w}d", f"n_events_{w}d", f"agencies_{w}d"):
            assert own.get(name, 0.0) == (1.0 if ago < w else 0.0), name
        assert f"n_severe_{w}d" not in own
    assert own.get("trend_90d", 0.0) == (1.0 if ago < 90 else -1.0 if ago < 180 else 0.0)
    assert own["days_since_last_event"] == ago - person["days_since_last_event"]


def test_yearly_rates_read_the_history_there_is(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    """A kind's rate counts its events over history_days, or back to its first event."""
    kind = "homelessness_application"
    person = _quiet_adult(baseline).filter(pl.col(f"n_{kind}_per_year") == 0).row(0, named=True)
    span = _span(planted, night, AS_OF, f"type = '{kind}'")
    assert 400 < span < 1800  # the test world holds two years of events before its nights
    everything = _span(planted, night, AS_OF, "true")
    record = _record(planted, person["person_id"], night)
    for ago in (10, 400, span + 5):  # the last is older than the kind's first event
        _plant_event(planted, record, kind, AS_OF - dt.timedelta(days=ago), night, 1)

    def own(**update: int | None) -> dict[str, float]:
        config = features_config().model_copy(update=update)
        frame = build_features(planted, AS_OF, night, config)
        return frame.filter(pl.col("person_id") == person["person_id"]).row(0, named=True)

    got = own()
    assert got[f"n_{kind}_365d"] == 1
    # The kind's span now reaches back to the oldest planted event, and so may all events'.
    assert got[f"n_{kind}_per_year"] == pytest.approx(3 * 365 / (span + 6))
    grown = _span(planted, night, AS_OF, "true")
    assert grown == max(everything, span + 6)
    before = person["n_events_per_year"] * everything / 365  # the person's events till now
    assert got["n_events_per_year"] == pytest.approx((before + 3) * 365 / grown)
    severe = person["n_severe_per_year"] * everything / grown  # planted graded 1, not severe
    assert got["n_severe_per_year"] == pytest.approx(severe)
    # A shorter history reads only the events it holds, over its own length.
    assert own(history_days=401)[f"n_{kind}_per_year"] == pytest.approx(2 * 365 / 401)
    assert own(history_days=400)[f"n_{kind}_per_year"] == pytest.approx(1 * 365 / 400)
    # Without history_days there are no rates at all.
    assert not any(n.endswith("_per_year") for n in own(history_days=None))


def test_rows_are_read_as_known_on_the_night(
    linked_world: LinkedWorld, planted: duckdb.DuckDBPyConnection
) -> None:
    first, last = linked_world.nights
    before = build_features(planted, first, first)
    person = _quiet_adult(before).row(0, named=True)["person_id"]
    # Loaded on the later night, dated before the first: unknown on the first night.
    _plant_event(planted, _record(planted, person, first), "missing_episode", first, last)
    assert build_features(planted, first, first).equals(before)
    later = build_features(planted, first, last)
    assert later.filter(pl.col("person_id") == person)["n_missing_episode_30d"].item() == 1


def _plant_record(
    con: duckdb.DuckDBPyConnection, person: str, source: str, dob: dt.date, loaded: dt.date
) -> tuple[str, str]:
    """A new record of a person, with a date of birth, first loaded on night `loaded`."""
    record = (source, f"PLANTED{next(_ids)}")
    con.execute(
        "INSERT INTO person_records BY NAME SELECT ? AS source, ? AS source_record_id,"
        " ? AS dob, 'x' AS row_hash, ? AS valid_from, 'planted' AS loaded_by",
        [*record, dob, loaded],
    ).fetchall()
    con.execute(
        "INSERT INTO persons VALUES (?, ?, ?, ?, ?, NULL)",
        [f"{record[0]}:{record[1]}", *record, person, loaded],
    ).fetchall()
    return record


def _of_unknown_age(
    con: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> tuple[str, str, dt.date]:
    """A person whose age is unknown at AS_OF, a source of theirs, and a birth date that
    makes them 30 then."""
    unknown = baseline.filter(pl.col("age_unknown") == 1).sort("person_id")["person_id"][0]
    return unknown, _record(con, unknown, night)[0], AS_OF.replace(year=AS_OF.year - 30)


def test_a_record_that_came_into_being_after_the_as_of_date_sets_no_feature(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    day = dt.timedelta(days=1)
    unknown, source, dob = _of_unknown_age(planted, baseline, night)
    # A new record of a person of unknown age, and a new person, each first loaded after
    # the as-of date with a first event after it: neither existed at the as-of date.
    known_later = _plant_record(planted, unknown, source, dob, night)
    _plant_event(planted, known_later, "emergency_attendance", AS_OF + 10 * day, night)
    newcomer = _plant_record(planted, "PLANTEDPERSON", source, dob, night)
    _plant_event(planted, newcomer, "domestic_abuse", AS_OF + day, night)
    assert build_features(planted, AS_OF, night).equals(baseline)
    # Tonight both records exist and are read.
    tonight = build_features(planted, night, night)
    assert tonight.filter(pl.col("person_id") == unknown)["age_unknown"].item() == 0
    assert "PLANTEDPERSON" in tonight["person_id"]
    # An event of the record dated on the as-of date shows it existed: it is read then.
    _plant_event(planted, known_later, "referral", AS_OF, night)
    after = build_features(planted, AS_OF, night)
    row = after.filter(pl.col("person_id") == unknown).row(0, named=True)
    assert (row["age_unknown"], row["age"], row["n_referral_30d"]) == (0.0, 30.0, 1.0)
    assert "PLANTEDPERSON" not in after["person_id"]


def test_a_record_its_partner_dates_before_the_as_of_date_is_read_then(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    day = dt.timedelta(days=1)
    unknown, source, dob = _of_unknown_age(planted, baseline, night)
    # First loaded tonight, with no event, but its partner says it started before the
    # as-of date (a school's entry date, a claim's start): it existed then.
    record = _plant_record(planted, unknown, source, dob, night)
    planted.execute(
        "UPDATE person_records SET known_since = ? WHERE source_record_id = ?",
        [AS_OF - 100 * day, record[1]],
    ).fetchall()
    row = build_features(planted, AS_OF, night).filter(pl.col("person_id") == unknown)
    assert (row["age_unknown"].item(), row["age"].item()) == (0.0, 30.0)
    # Dated a day after the as-of date, it did not.
    planted.execute(
        "UPDATE person_records SET known_since = ? WHERE source_record_id = ?",
        [AS_OF + day, record[1]],
    ).fetchall()
    assert build_features(planted, AS_OF, night).equals(baseline)


def test_a_record_is_read_as_it_stood_at_the_as_of_date(
    linked_world: LinkedWorld, planted: duckdb.DuckDBPyConnection
) -> None:
    first, last = linked_world.nights
    person = "PLANTEDPERSON"
    dob = first.replace(year=first.year - 30)
    record = _plant_record(planted, person, "health", dob, first)
    # The partner corrects the date of birth on the later night.
    planted.execute(
        "UPDATE person_records SET valid_to = ? WHERE source_record_id = ?", [last, record[1]]
    ).fetchall()
    planted.execute(
        "INSERT INTO person_records BY NAME SELECT ? AS source, ? AS source_record_id,"
        " ? AS dob, 'y' AS row_hash, ? AS valid_from, 'planted' AS loaded_by",
        [*record, dob.replace(year=dob.year - 10), last],
    ).fetchall()

    def age(as_of: dt.date) -> float:
        found = build_features(planted, as_of, last)
        return float(found.filter(pl.col("person_id") == person)["age"].item())

    assert age(first) == 30.0  # as loaded on the first night
    assert age(last) == 40.0  # as corrected
    # Before its first load, a record with no earlier event is not read at all.
    before = build_features(planted, first - dt.timedelta(days=1), last)
    assert person not in before["person_id"]


def test_open_involvements_at_the_as_of_date(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    person = baseline.sort("person_id")["person_id"][5]
    source, record = _record(planted, person, night)
    planted.execute(
        "DELETE FROM involvements WHERE source || ':' || source_record_id IN"
        " (SELECT unique_id FROM persons WHERE person_id = ?)",
        [person],
    ).fetchall()
    day = dt.timedelta(days=1)

    def involved() -> float:
        found = build_features(planted, AS_OF, night)
        return float(found.filter(pl.col("person_id") == person)["agencies_involved"].item())

    def plant(source: str, start: dt.date | None, end: dt.date | None, loaded: dt.date) -> None:
        planted.execute(
            "INSERT INTO involvements BY NAME SELECT ? AS source, ? AS source_record_id,"
            " ? AS from_date, ? AS to_date, ? AS record_key, 'x' AS row_hash,"
            " ? AS valid_from, 'planted' AS loaded_by",
            [source, record, start, end, f"K{next(_ids)}", loaded],
        ).fetchall()

    assert involved() == 0
    plant(source, AS_OF + day, None, night)  # starts after the as-of date
    plant(source, AS_OF - 10 * day, AS_OF, night)  # ended on it
    plant(source, None, None, night)  # no start date, first loaded after it
    assert involved() == 0
    plant(source, AS_OF, None, night)
    assert involved() == 1
    plant(source, None, None, AS_OF)  # same agency again: still one
    assert involved() == 1


def test_age_from_the_most_common_date_of_birth(
    planted: duckdb.DuckDBPyConnection, baseline: pl.DataFrame, night: dt.date
) -> None:
    unknown = baseline.filter(pl.col("age_unknown") == 1).sort("person_id")
    assert unknown["age"].unique().to_list() == [features_config().age_when_unknown]
    person = unknown["person_id"][0]
    source = _record(planted, person, night)[0]
    dob = AS_OF.replace(year=AS_OF.year - 30) + dt.timedelta(days=1)  # 30 tomorrow
    for n in range(2):
        planted.execute(
            "INSERT INTO person_records BY NAME SELECT ? AS source, ? AS source_record_id,"
            " ? AS dob, 'x' AS row_hash, ? AS valid_from, 'planted' AS loaded_by",
            [source, f"PLANTED{n}", dob, AS_OF],
        ).fetchall()
        planted.execute(
            "INSERT INTO persons VALUES (?, ?, ?, ?, ?, NULL)",
            [f"{source}:PLANTED{n}", source, f"PLANTED{n}", person, night],
        ).fetchall()
    row = build_features(planted, AS_OF, night).filter(pl.col("person_id") == person)
    assert row.select("age", "age_unknown", "audit_age_band").row(0) == (29.0, 0.0, "25-44")


def test_audit_columns_agree_with_the_world(
    linked_world: LinkedWorld, baseline: pl.DataFrame, night: dt.date
) -> None:
    con = linked_world.read()
    try:
        ours = truth_outcomes(linked_world.world, con, night)
        majority = con.sql(
            "SELECT source, source_record_id, person_id FROM persons WHERE valid_to IS NULL"
        ).pl()
    finally:
        con.close()
    records = pl.read_parquet(
        linked_world.world / "truth" / "records.parquet",
        columns=["partner", "source_record_id", "person_id"],
    ).rename({"partner": "source", "person_id": "truth_id"})
    truth = pl.read_parquet(
        linked_world.world / "truth" / "persons.parquet", columns=["person_id", "sex", "ethnicity"]
    ).rename({"person_id": "truth_id"})
    pairs = (
        majority.join(records, on=["source", "source_record_id"])
        .group_by("person_id")
        .agg(pl.col("truth_id").mode().min())
        .join(truth, on="truth_id")
        .join(baseline, on="person_id")
    )
    assert ours.height > 0.95 * baseline.height
    known = pairs.filter(pl.col("audit_sex") != "unknown")
    assert (known["audit_sex"] == known["sex"]).mean() > 0.98
    world_groups = {
        "white_other": "white_other_european",
        "asian_indian": "south_asian_indian",
        "asian_pakistani_bangladeshi": "south_asian_pakistani_bangladeshi",
        "arab_other": "arab_middle_eastern",
    }
    known = pairs.filter(pl.col("audit_ethnicity") != "unknown").with_columns(
        pl.col("audit_ethnicity").replace(world_groups)
    )
    assert known.height > 1000
    assert (known["audit_ethnicity"] == known["ethnicity"]).mean() > 0.98


def test_outcomes_respect_the_horizon(planted: duckdb.DuckDBPyConnection, night: dt.date) -> None:
    horizon = 30
    as_of = night - dt.timedelta(days=horizon + 5)
    before = outcomes(planted, as_of, horizon)
    quiet = before.filter(~pl.col("outcome"))["person_id"].to_list()
    edge, past, same_day = quiet[3], quiet[4], quiet[5]
    day = dt.timedelta(days=1)
    _plant_event(
        planted, _record(planted, edge, night), "serious_incident", as_of + horizon * day, night
    )
    _plant_event(
        planted,
        _record(planted, past, night),
        "child_protection_plan",
        as_of + (horizon + 1) * day,
        night,
    )
    _plant_event(planted, _record(planted, same_day, night), "safeguarding_enquiry", as_of, night)
    # Not an outcome type, inside the horizon.
    _plant_event(planted, _record(planted, past, night), "domestic_abuse", as_of + day, night)
    after = outcomes(planted, as_of, horizon)
    flipped = before.join(after, on="person_id").filter(
        pl.col("outcome") != pl.col("outcome_right")
    )
    assert flipped["person_id"].to_list() == [edge]
    with pytest.raises(OutcomesError, match="not known yet"):
        outcomes(planted, as_of + 6 * day, horizon)


def test_training_examples_stack_dates_and_refuse_unknown_outcomes(
    linked_world: LinkedWorld, night: dt.date
) -> None:
    con = linked_world.read()
    try:
        dates = [dt.date(2026, 1, 1), dt.date(2026, 4, 1)]
        examples = training_examples(con, dates, 120)
        assert examples.columns[0] == "as_of" and examples.columns[-1] == "outcome"
        assert examples["as_of"].unique().sort().to_list() == dates
        for date in dates:
            rows = examples.filter(pl.col("as_of") == date).drop("as_of")
            assert rows.drop("outcome").equals(build_features(con, date, night))
            assert rows.select("person_id", "outcome").equals(
                outcomes(con, date, 120).join(rows.select("person_id"), on="person_id")
            )
        with pytest.raises(OutcomesError, match="not known yet"):
            training_examples(con, [dates[0], night - dt.timedelta(days=100)], 120)
        with pytest.raises(OutcomesError, match="earliest usable as-of date"):
            training_examples(con, [dt.date(2025, 3, 1)], 120)
        with pytest.raises(OutcomesError, match="twice"):
            training_examples(con, [dates[0], dates[0]], 120)
    finally:
        con.close()


def test_truth_outcomes_on_our_person_ids(linked_world: LinkedWorld) -> None:
    con = linked_world.read()
    truth = truth_outcomes(linked_world.world, con)
    assert truth.columns == ["person_id", "outcome", "true_probability"]
    assert truth["person_id"].is_unique().all()
    oracle = oracle_auc(linked_world.world)
    assert roc_auc_score(truth["outcome"], truth["true_probability"]) == pytest.approx(
        oracle, abs=0.03
    )
    with pytest.raises(OutcomesError, match="not found"):
        truth_outcomes(linked_world.world / "nowhere", con)


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("DROP TABLE households", "table households"),
        ("ALTER TABLE person_records DROP COLUMN postcode", "person_records.postcode"),
        ("ALTER TABLE events DROP COLUMN severity", "events.severity"),
    ],
)
def test_a_missing_table_or_column_is_named(
    drop: str, named: str, planted: duckdb.DuckDBPyConnection
) -> None:
    planted.execute(drop).fetchall()
    with pytest.raises(FeaturesError, match=named):
        build_features(planted, AS_OF)


def test_nights_and_dates_that_cannot_be_used(linked_world: LinkedWorld, night: dt.date) -> None:
    con = linked_world.read()
    try:
        with pytest.raises(FeaturesError, match="has not been linked"):
            build_features(con, AS_OF, dt.date(2026, 1, 1))
        with pytest.raises(FeaturesError, match="after night"):
            build_features(con, night + dt.timedelta(days=1), night)
    finally:
        con.close()
    empty = duckdb.connect()
    with pytest.raises(FeaturesError, match="table persons"):
        build_features(empty, AS_OF)


def test_a_type_never_seen_is_a_warning_and_zeros(
    planted: duckdb.DuckDBPyConnection, night: dt.date
) -> None:
    config = features_config()
    extra = config.model_copy(
        update={"event_types": {**config.event_types, "self_harm": config.event_types["referral"]}}
    )
    planted.execute("DELETE FROM events WHERE type = 'emergency_attendance'").fetchall()
    warnings = check(planted, extra)
    assert [w for w in warnings if "never" in w] == [
        f"event type {t} is configured but the warehouse has never held one: its columns are 0"
        for t in ("emergency_attendance", "self_harm")
    ]
    found = build_features(planted, AS_OF, night, extra)
    assert found["n_self_harm_365d"].sum() == found["n_emergency_attendance_365d"].sum() == 0
    assert "n_self_harm_30d" in feature_names(extra)
    assert feature_set(extra) != feature_set(config)
    assert found.select(feature_names(config)).equals(
        build_features(planted, AS_OF, night, config).select(feature_names(config))
    )


def test_feature_set_versions_what_changes_values(tmp_path: Path) -> None:
    config = features_config()
    assert feature_set(config) == features_module.FEATURE_SET
    assert feature_set(config.model_copy(update={"windows": [30, 90, 180]})) != feature_set(config)
    assert feature_set(config.model_copy(update={"recency_cap_days": 365})) != feature_set(config)
    reworded = {**config.event_types, "referral": config.event_types["suspension"]}
    assert feature_set(config.model_copy(update={"event_types": reworded})) == feature_set(config)
    assert len(feature_names()) == len(set(feature_names()))


def test_settings_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    shipped = (features_module.RISK_CONFIG).read_text(encoding="utf-8")
    path.write_text(shipped.replace("abuse_type: domestic_abuse", "abuse_type: shouting"))
    with pytest.raises(FeaturesError, match=r"risk.yaml:\d+: features: .*shouting"):
        features_config(path)
    path.write_text(shipped.replace("windows: [30, 90, 365]", "windows: [90, 30]"))
    with pytest.raises(FeaturesError, match=r"features.windows: .*ascending"):
        features_config(path)
    path.write_text(shipped + "\nscores: {}\n")
    with pytest.raises(FeaturesError, match="scores: unknown key; expected one of features"):
        features_config(path)
    path.write_text(shipped.replace("horizon_days: 182", "horizon_days: 0"))
    with pytest.raises(FeaturesError, match=r"outcome\.horizon_days"):
        outcome_config(path)
    assert outcome_config().types == [
        "child_protection_plan",
        "safeguarding_enquiry",
        "serious_incident",
    ]


@pytest.mark.parametrize(
    ("feature", "value", "words"),
    [
        ("n_domestic_abuse_90d", 3, "3 police call-outs for domestic abuse in the last 90 days"),
        ("n_domestic_abuse_30d", 1, "1 police call-out for domestic abuse in the last 30 days"),
        ("n_referral_365d", 0, "no referrals to children's social care in the last 12 months"),
        ("agencies_90d", 4, "4 agencies recorded events in the last 90 days"),
        ("agencies_involved", 1, "1 agency working with the person"),
        (
            "n_referral_per_year",
            1.0,
            "1.0 referral to children's social care a year on average, over up to 5 years"
            " of records",
        ),
        (
            "n_events_per_year",
            2.345,
            "2.3 events recorded by partner agencies a year on average, over up to 5 years"
            " of records",
        ),
        ("days_since_last_event", 730, "no events in the last 2 years"),
        ("days_since_last_event", 12, "the last event was 12 days ago"),
        ("trend_90d", -2, "2 fewer events in the last 90 days than in the 90 days before"),
        ("trend_90d", 1, "1 more event in the last 90 days than in the 90 days before"),
        ("age", 34, "aged 34"),
        ("hh_size", 4, "4 people in the household"),
        (
            "hh_domestic_abuse_with_child_90d",
            2,
            "2 police call-outs for domestic abuse involving other adults in the household"
            " in the last 90 days, with a child in the household",
        ),
        (
            "area_event_rate_365d",
            0.4234,
            "0.42 events a person in the home area in the last 12 months",
        ),
    ],
)
def test_describe(feature: str, value: float, words: str) -> None:
    assert describe(feature, value) == words


def test_every_feature_has_words() -> None:
    for name in feature_names():
        assert describe(name, 2)
    with pytest.raises(FeaturesError, match="no feature named"):
        describe("audit_sex", 1)
