"""Linkage in the pipeline: train the model (on request), and link a night into persons.

The model is an artifact: `linkage-vN.json` under the models folder, with when and on
what it was trained. Each night's persons are kept in the warehouse with history, like
the contracts: `persons` (record to person, valid from a night until a night) and
`person_history` (new persons, merges and splits).

Households are kept the same way: a person's row is valid from the night it was first
made until the night it changed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matching.cluster import recluster_changes, to_recluster, vetoes
from matching.households import HOUSEHOLD_COLUMNS, households, rehouse
from matching.link import Linked, link, score_new, train
from matching.persons import Assignment, assign
from matching.prepare import prepare
from pipelines.environment import PACKAGE, data_dir

PERSONS_DDL = """
CREATE TABLE IF NOT EXISTS persons (
    unique_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_record_id VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL, valid_from DATE NOT NULL, valid_to DATE
);
CREATE TABLE IF NOT EXISTS person_history (
    night DATE NOT NULL, change VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
    other_id VARCHAR, records BIGINT
);
CREATE TABLE IF NOT EXISTS households (
    person_id VARCHAR NOT NULL, household_id VARCHAR NOT NULL, basis VARCHAR NOT NULL,
    address_key VARCHAR NOT NULL, relationship VARCHAR, valid_from DATE NOT NULL, valid_to DATE
);
CREATE TABLE IF NOT EXISTS linkage_pairs (
    night DATE NOT NULL, unique_id_l VARCHAR NOT NULL, unique_id_r VARCHAR NOT NULL,
    match_probability DOUBLE NOT NULL, match_weight DOUBLE NOT NULL
);
ALTER TABLE linkage_pairs ADD COLUMN IF NOT EXISTS refused_by_clustering BOOLEAN;
CREATE TABLE IF NOT EXISTS linkage_runs (
    night DATE NOT NULL, model VARCHAR NOT NULL, threshold DOUBLE NOT NULL,
    records BIGINT, persons BIGINT, pairs BIGINT, seconds DOUBLE, finished_at TIMESTAMP
);
"""

# Households were once written whole every night (a `night` column): each night's row
# becomes valid from its night until the next night linked.
HOUSEHOLDS_BY_NIGHT = """
ALTER TABLE households ADD COLUMN IF NOT EXISTS relationship VARCHAR;
CREATE TABLE households_by_validity AS
SELECT h.person_id, h.household_id, h.basis, h.address_key, h.relationship,
       h.night AS valid_from, min(n.night) AS valid_to
FROM households h LEFT JOIN (SELECT DISTINCT night FROM households) n ON n.night > h.night
GROUP BY ALL;
DROP TABLE households;
ALTER TABLE households_by_validity RENAME TO households;
"""


# Pairs to mark (new tonight, or of a record whose person changed), their records' persons
# tonight, and the mark: a smaller join than every pair against every person.
MARK_REFUSED = (
    """
    CREATE OR REPLACE TEMP TABLE _touched AS
    SELECT unique_id_l, unique_id_r, match_probability FROM linkage_pairs
    WHERE refused_by_clustering IS NULL
       OR unique_id_l IN (SELECT unique_id FROM _moved)
       OR unique_id_r IN (SELECT unique_id FROM _moved)
    """,
    """
    CREATE OR REPLACE TEMP TABLE _who AS
    SELECT unique_id, person_id FROM _tonight
    WHERE unique_id IN (SELECT unique_id_l FROM _touched UNION ALL SELECT unique_id_r FROM _touched)
    """,
    """
    UPDATE linkage_pairs
    SET refused_by_clustering = t.match_probability >= $threshold AND l.person_id <> r.person_id
    FROM _touched AS t, _who AS l, _who AS r
    WHERE t.unique_id_l = linkage_pairs.unique_id_l AND t.unique_id_r = linkage_pairs.unique_id_r
      AND l.unique_id = t.unique_id_l AND r.unique_id = t.unique_id_r
    """,
)


class MatchingConfig(BaseModel):
    """The analyst's settings for linkage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.9, gt=0.0, lt=1.0, description="match probability to link at")
    max_pairs_per_rule: int = Field(
        50_000_000, gt=0, description="refuse a blocking rule estimated to make more pairs"
    )


def matching_config(path: Path | None = None) -> MatchingConfig:
    """Read `pipelines/config/matching.yaml` (or another file); errors name file and key."""
    path = path or PACKAGE / "config" / "matching.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return MatchingConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read matching settings: {exc}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {where}") from exc


def models_dir() -> Path:
    """Where trained linkage models are kept."""
    return data_dir() / "models"


def latest_model() -> Path | None:
    """The newest trained model, if any."""
    found = sorted(models_dir().glob("linkage-v*.json"), key=lambda p: int(p.stem.split("-v")[1]))
    return found[-1] if found else None


# Linkage and households read every column but these.
_UNREAD = 'phone, email, ethnicity, "table", file, "row", row_hash, loaded_by, closed_by, valid_to'


def _current_records(con: duckdb.DuckDBPyConnection, night: dt.date | None) -> pl.DataFrame:
    if night is None:
        current: pl.DataFrame = con.sql(
            f"SELECT * EXCLUDE ({_UNREAD}) FROM person_records WHERE valid_to IS NULL"
        ).pl()
        return current
    found: pl.DataFrame = con.sql(
        f"SELECT * EXCLUDE ({_UNREAD}) FROM person_records"
        " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        params=[night, night],
    ).pl()
    return found


def train_model(warehouse: Path, seed: int = 1) -> Path:
    """Train on the warehouse's current person records; save and return the new version."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        records = _current_records(con, None)
    finally:
        con.close()
    if records.height < 1000:
        raise ValueError(
            f"only {records.height} person records to train on; load some nights first"
        )
    t0 = time.perf_counter()
    trained = train(records, seed=seed)
    if not trained.sessions:
        raise ValueError(
            f"no EM session could learn from these {records.height:,} records ("
            + "; ".join(trained.skipped)
            + "); load more nights, or keep linking with the model you have"
        )
    previous = latest_model()
    version = int(previous.stem.split("-v")[1]) + 1 if previous else 1
    path = models_dir() / f"linkage-v{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact: dict[str, Any] = {
        "version": version,
        "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        "training_records": records.height,
        "training_records_by_source": dict(records["source"].value_counts().iter_rows()),
        "seconds": round(time.perf_counter() - t0, 1),
        "skipped_em_sessions": trained.skipped,
        "default_m_comparisons": trained.defaulted,
        "splink_model": trained.model,
    }
    path.write_text(json.dumps(artifact, indent=1, default=str))
    return path


def changed_records(
    con: duckdb.DuckDBPyConnection, night: dt.date, since: dt.date | None = None
) -> set[str]:
    """Unique ids of the person records that the night's loads added or changed.

    With `since`, the loads of every night after it up to this one.
    """
    return {
        r[0]
        for r in con.execute(
            "SELECT c.source || ':' || c.record_key FROM changes c JOIN loads l USING (load_id)"
            " WHERE l.night <= ? AND l.night > ? AND c.contract = 'person_records'"
            " AND c.change IN ('new', 'changed')",
            [night, since or night - dt.timedelta(days=1)],
        ).fetchall()
    }


@dataclass
class _Changes:
    """An incremental night: what was scored, and the records whose pairs it replaces."""

    pairs: pl.DataFrame  # the pairs scored tonight
    replaced: pl.DataFrame  # unique_id: changed or gone records, whose old pairs go
    since: dt.date  # the night linked last


def _link_changes(
    con: duckdb.DuckDBPyConnection,
    records: pl.DataFrame,
    prior_persons: pl.DataFrame,
    model: dict[str, Any],
    since: dt.date,
    night: dt.date,
    threshold: float,
) -> tuple[Linked, _Changes]:
    t0 = time.perf_counter()
    changed = changed_records(con, night, since)
    prepared = prepare(records)
    gone = prior_persons.join(prepared.select("unique_id"), on="unique_id", how="anti")
    replaced = pl.concat(
        [
            pl.DataFrame({"unique_id": list(changed)}, schema={"unique_id": pl.String}),
            gone.select("unique_id"),
        ]
    ).unique()
    new_pairs = score_new(prepared, model, changed)
    t1 = time.perf_counter()
    # Only links at the threshold can cluster: among the records to cluster again, last
    # night's (less those of replaced records) and tonight's.
    new_links = new_pairs.filter(pl.col("match_probability") >= threshold)
    redo = to_recluster(prior_persons, gone, new_links, changed)
    con.register("_replaced", replaced)
    con.register("_redo", redo)
    kept_links = con.sql(
        "SELECT unique_id_l, unique_id_r, match_probability, match_weight FROM linkage_pairs"
        " WHERE match_probability >= ?"
        " AND unique_id_l IN (SELECT unique_id FROM _redo)"
        " AND unique_id_r IN (SELECT unique_id FROM _redo)"
        " AND unique_id_l NOT IN (SELECT unique_id FROM _replaced)"
        " AND unique_id_r NOT IN (SELECT unique_id FROM _replaced)",
        params=[threshold],
    ).pl()
    con.unregister("_redo")
    con.unregister("_replaced")
    links = pl.concat([kept_links, new_links])
    clusters = recluster_changes(
        prepared, links, prior_persons, redo, threshold, veto=vetoes(model)
    ).join(prepared.select("unique_id", "source", "source_record_id"), on="unique_id")
    linked = Linked(new_pairs, clusters, {"predict": t1 - t0, "cluster": time.perf_counter() - t1})
    return linked, _Changes(new_pairs, replaced, since)


def _assign_changes(clusters: pl.DataFrame, previous: pl.DataFrame, next_number: int) -> Assignment:
    """Ids for an incremental night: untouched persons keep theirs; the rest are assigned."""
    untouched = pl.col("cluster_id").str.starts_with("kept:")
    kept = clusters.filter(untouched).select(
        "unique_id", pl.col("cluster_id").str.strip_prefix("kept:").alias("person_id")
    )
    redone = clusters.filter(~untouched)
    result = assign(redone, previous.join(redone, on="unique_id", how="semi"), next_number)
    return Assignment(pl.concat([kept, result.persons]), result.history, result.next_number)


def _households(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    records: pl.DataFrame,
    persons: pl.DataFrame,
    previous: pl.DataFrame,
    moved: pl.DataFrame,
    ended: pl.DataFrame,
    changes: _Changes | None,
) -> int:
    """Write tonight's households: rows that differ from the current ones replace them.

    A full night places everyone; an incremental one (`rehouse`) only the persons its
    changes reach. Returns how many households there are tonight.
    """
    current = con.sql(
        f"SELECT {', '.join(HOUSEHOLD_COLUMNS)} FROM households WHERE valid_to IS NULL"
    ).pl()
    if changes is None:
        homes = households(persons, records)
        current_there = current
    else:
        replaced = changes.replaced["unique_id"]
        touched = pl.concat(
            [
                moved.select("unique_id", "person_id"),
                ended.select("unique_id", "person_id"),
                persons.filter(pl.col("unique_id").is_in(replaced.implode())),
                previous.filter(pl.col("unique_id").is_in(replaced.implode())),
            ]
        ).unique()
        con.register("_touched_records", touched.select("unique_id").unique())
        before = con.sql(
            f"SELECT * EXCLUDE ({_UNREAD}), source || ':' || source_record_id AS unique_id"
            " FROM person_records WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
            " AND source || ':' || source_record_id IN (SELECT unique_id FROM _touched_records)",
            params=[changes.since, changes.since],
        ).pl()
        rehoused = rehouse(persons, records, current, touched, before)
        homes = rehoused.rows
        current_there = current.join(rehoused.redone, on="person_id", how="semi")
    gone = current_there.join(homes, on=HOUSEHOLD_COLUMNS, how="anti", nulls_equal=True)
    came = homes.join(current_there, on=HOUSEHOLD_COLUMNS, how="anti", nulls_equal=True)
    con.register("_homes_gone", gone.select("person_id"))
    con.execute(
        "UPDATE households SET valid_to = ? WHERE valid_to IS NULL"
        " AND person_id IN (SELECT person_id FROM _homes_gone)",
        [night],
    ).fetchall()
    con.register("_homes_came", came)
    con.execute(
        "INSERT INTO households BY NAME SELECT *, ? AS valid_from FROM _homes_came", [night]
    ).fetchall()
    count = con.execute(
        "SELECT count(DISTINCT household_id) FROM households WHERE valid_to IS NULL"
    ).fetchall()
    return int(count[0][0])


@dataclass
class LinkReport:
    """What a night's linkage did."""

    night: dt.date
    records: int
    persons: int
    pairs: int
    new: int
    merges: int
    splits: int
    seconds: float
    status: str = "linked"
    households: int = 0

    def line(self) -> str:
        """One line for the run's report."""
        if self.status != "linked":
            return f"{self.status}: {self.records:,} records -> {self.persons:,} persons"
        return (
            f"{self.records:,} records -> {self.persons:,} persons ({self.pairs:,} pairs "
            f"scored); {self.new:,} new persons, {self.merges} merges, {self.splits} splits; "
            f"{self.households:,} households; {self.seconds:.1f} s"
        )


def link_night(
    warehouse: Path, night: dt.date, model_path: Path, threshold: float, incremental: bool = False
) -> LinkReport:
    """Link the records as of a night and give each a stable person id in the warehouse.

    With `incremental`, and last night linked, only new and changed records are scored and
    only the persons they touch are re-clustered; otherwise every record is. The newest
    night linked again is linked in full, replacing what it wrote.
    """
    artifact = json.loads(model_path.read_text())
    t0 = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    in_transaction = False
    try:
        layout = con.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'households' AND column_name = 'night'"
        ).fetchall()
        if layout:
            con.execute(HOUSEHOLDS_BY_NIGHT).fetchall()
        con.execute(PERSONS_DDL).fetchall()
        done = con.execute(
            "SELECT records, persons, pairs FROM linkage_runs WHERE night = ? AND model = ?"
            " AND threshold = ? ORDER BY finished_at DESC LIMIT 1",
            [night, model_path.name, threshold],
        ).fetchall()
        later = con.execute("SELECT max(night) FROM linkage_runs WHERE night > ?", [night])
        newest = later.fetchall()[0][0]
        again = bool(done) and newest is None
        if again:
            pass  # the newest night, linked again in full: replaced below, with the same result
        elif done:
            r, p, n = done[0]
            return LinkReport(night, r, p, n, 0, 0, 0, 0.0, status="already linked")
        elif newest is not None:
            raise ValueError(
                f"night {night} is older than the last night linked, {newest}; nights link in order"
            )
        con.execute("BEGIN TRANSACTION").fetchall()
        in_transaction = True
        # Running a night again replaces what that night wrote.
        con.execute("DELETE FROM persons WHERE valid_from = ?", [night]).fetchall()
        con.execute("UPDATE persons SET valid_to = NULL WHERE valid_to = ?", [night]).fetchall()
        con.execute("DELETE FROM person_history WHERE night = ?", [night]).fetchall()
        con.execute("DELETE FROM households WHERE valid_from = ?", [night]).fetchall()
        con.execute("UPDATE households SET valid_to = NULL WHERE valid_to = ?", [night]).fetchall()
        previous = con.sql("SELECT unique_id, person_id FROM persons WHERE valid_to IS NULL").pl()
        records = _current_records(con, night)
        # Incremental only from a night this model linked at this threshold: tonight's
        # changes are then every load since, skipped nights included.
        last = con.execute(
            "SELECT night, model, threshold FROM linkage_runs WHERE night < ?"
            " ORDER BY night DESC, finished_at DESC LIMIT 1",
            [night],
        ).fetchall()
        changes: _Changes | None = None
        if incremental and not again and last and last[0][1:] == (model_path.name, threshold):
            linked, changes = _link_changes(
                con, records, previous, artifact["splink_model"], last[0][0], night, threshold
            )
        else:
            linked = link(
                records,
                artifact["splink_model"],
                threshold,
                max_pairs_per_rule=matching_config().max_pairs_per_rule,
            )
        numbers = con.execute(
            "SELECT max(CAST(substr(person_id, 2) AS BIGINT)) FROM persons"
        ).fetchall()[0][0]
        if changes is None:
            result = assign(linked.clusters, previous, (numbers or 0) + 1)
        else:
            result = _assign_changes(linked.clusters, previous, (numbers or 0) + 1)
        # Only records whose person changed (or that came or went) are written.
        moved = result.persons.join(previous, on=["unique_id", "person_id"], how="anti").join(
            linked.clusters.select("unique_id", "source", "source_record_id"), on="unique_id"
        )
        ended = previous.join(result.persons, on=["unique_id", "person_id"], how="anti")
        con.register("_ended", ended.select("unique_id"))
        con.execute(
            "UPDATE persons SET valid_to = ? WHERE valid_to IS NULL"
            " AND unique_id IN (SELECT unique_id FROM _ended)",
            [night],
        ).fetchall()
        con.register("_moved", moved)
        con.execute(
            "INSERT INTO persons SELECT unique_id, source, source_record_id, person_id, ?, NULL"
            " FROM _moved",
            [night],
        ).fetchall()
        records = records.with_columns(
            pl.concat_str(["source", "source_record_id"], separator=":").alias("unique_id")
        )
        homes = _households(con, night, records, result.persons, previous, moved, ended, changes)
        # Every current pair, with the night it was scored, for the analyst's review of the
        # threshold and the next incremental night.
        if changes is None:
            con.execute("DELETE FROM linkage_pairs").fetchall()
        else:
            con.register("_replaced", changes.replaced)
            con.execute(
                "DELETE FROM linkage_pairs WHERE unique_id_l IN (SELECT unique_id FROM _replaced)"
                " OR unique_id_r IN (SELECT unique_id FROM _replaced)"
            ).fetchall()
        # A link at the threshold whose records are two persons tonight was refused by the
        # clustering. A full night's pairs come marked (`link`). An incremental night marks
        # the pairs it scored, and again earlier pairs of records whose person changed: for
        # the rest, nothing that decides it has moved.
        con.register("_pairs", linked.pairs)
        refused = "refused_by_clustering" if changes is None else "NULL"
        con.execute(
            "INSERT INTO linkage_pairs (night, unique_id_l, unique_id_r, match_probability,"
            " match_weight, refused_by_clustering) SELECT ?, unique_id_l, unique_id_r,"
            f" match_probability, match_weight, {refused} FROM _pairs",
            [night],
        ).fetchall()
        if changes is not None:
            con.register("_tonight", result.persons.select("unique_id", "person_id"))
            *staging, mark = MARK_REFUSED
            for statement in staging:
                con.execute(statement).fetchall()
            con.execute(mark, {"threshold": threshold}).fetchall()
        con.register("_history", result.history)
        con.execute("INSERT INTO person_history SELECT ?, * FROM _history", [night]).fetchall()
        seconds = time.perf_counter() - t0
        persons = result.persons["person_id"].n_unique()
        con.execute(
            "INSERT INTO linkage_runs VALUES (?, ?, ?, ?, ?, ?, ?, now())",
            [
                night,
                model_path.name,
                threshold,
                records.height,
                persons,
                linked.pairs.height,
                seconds,
            ],
        ).fetchall()
        con.execute("COMMIT").fetchall()
    except BaseException:
        if in_transaction:
            con.rollback()
        raise
    finally:
        con.close()
    kinds = result.history["change"].value_counts()
    count = dict(kinds.iter_rows()) if kinds.height else {}
    return LinkReport(
        night,
        records.height,
        persons,
        linked.pairs.height,
        count.get("new", 0),
        count.get("merge", 0),
        count.get("split", 0),
        seconds,
        households=homes,
    )
