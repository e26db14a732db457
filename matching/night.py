"""A night's linkage: the records held on a night, linked into persons and households.

Each night's persons are kept in the warehouse with history (`matching.tables`): a
record's person id is valid from a night until a night, and `person_history` says which
persons were new, merged or split. Households are kept the same way.

One rule decides what linking a night does (`plan_night`), for the nightly job and the
command line alike:

- **Already linked**: the night was linked by this model at this threshold and nothing
  has loaded for it since; or a later night is linked already (older nights are never
  linked again over newer ones). Nothing is written.
- **Incremental**, when asked for and safe: the calendar night before was the last night
  linked, by this model at this threshold, and nothing loaded for it (or earlier) after
  it was linked. Only new and changed records are scored and only the persons they touch
  are clustered again: about a fifth of a full night's time at council size, with a full
  night's person ids.
- **Full** otherwise: every record is scored and clustered. A night linked again is
  linked in full, replacing what it wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import duckdb
import polars as pl

from connectors import Warehouse
from matching.cluster import recluster_changes, to_recluster, vetoes
from matching.households import HOUSEHOLD_COLUMNS, households, rehouse
from matching.link import Linked, link, score_new
from matching.persons import Assignment, assign
from matching.prepare import prepare
from matching.tables import UNREAD, create_tables, records_as_of

ALREADY: Final = "already linked"
Mode = Literal["already linked", "full", "incremental"]

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


class NightsOutOfOrder(ValueError):
    """A night older than the newest night linked, and never linked itself."""


@dataclass(frozen=True)
class Plan:
    """What linking a night will do, and why."""

    mode: Mode
    since: dt.date | None = None  # incremental: the night linked last
    run: dict[str, Any] | None = None  # already linked: the run that did it


def _run_for(wh: Warehouse, night: dt.date) -> dict[str, Any] | None:
    runs = wh.frame(
        "SELECT * FROM linkage_runs WHERE night = ? ORDER BY finished_at DESC LIMIT 1", [night]
    )
    return runs.row(0, named=True) if runs.height else None


def _loaded_since(wh: Warehouse, last_night: dt.date, since: dt.datetime) -> bool:
    """Whether a load changed any night up to `last_night` after `since`."""
    return bool(
        wh.run(
            "SELECT count(*) FROM loads WHERE night <= ? AND status = 'complete'"
            " AND finished_at > ?",
            [last_night, since],
        )[0][0]
    )


def plan_night(
    wh: Warehouse,
    night: dt.date,
    model: str,
    threshold: float,
    incremental: bool = True,
    again: bool = False,
) -> Plan:
    """Decide how to link a night with a model (its file name) at a threshold.

    With `again`, the newest night linked is linked again in full even when nothing has
    changed (an analyst's request, after a change of code, say).

    Raises:
        NightsOutOfOrder: a later night is linked and this one never was.
    """
    create_tables(wh.con)
    run = _run_for(wh, night)
    newest = wh.run("SELECT max(night) FROM linkage_runs")[0][0]
    if newest is not None and newest > night:
        if run is not None:
            return Plan(ALREADY, run=run)
        raise NightsOutOfOrder(
            f"night {night} is older than the last night linked, {newest}; nights link in order"
        )
    if run is not None:
        same = run["model"] == model and run["threshold"] == threshold
        if same and not again and not _loaded_since(wh, night, run["finished_at"]):
            return Plan(ALREADY, run=run)
        return Plan("full")  # a night linked again is linked in full
    if not incremental:
        return Plan("full")
    last = wh.run("SELECT max(night) FROM linkage_runs WHERE night < ?", [night])[0][0]
    if last != night - dt.timedelta(days=1):
        return Plan("full")
    before = _run_for(wh, last)
    if before is None or before["model"] != model or before["threshold"] != threshold:
        return Plan("full")
    if _loaded_since(wh, last, before["finished_at"]):
        return Plan("full")
    return Plan("incremental", since=last)


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
            f"SELECT * EXCLUDE ({UNREAD}), source || ':' || source_record_id AS unique_id"
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
    """What a night's linkage did (or, already linked, what the run that linked it did)."""

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
    model: str = ""
    threshold: float = 0.0
    mode: Mode = "full"

    def line(self) -> str:
        """One line for the run's report."""
        if self.status != "linked":
            return f"{self.status}: {self.records:,} records -> {self.persons:,} persons"
        return (
            f"{self.records:,} records -> {self.persons:,} persons ({self.pairs:,} pairs "
            f"scored); {self.new:,} new persons, {self.merges} merges, {self.splits} splits; "
            f"{self.households:,} households; {self.seconds:.1f} s"
        )


def report_of_run(wh: Warehouse, night: dt.date, run: dict[str, Any]) -> LinkReport:
    """What an earlier run did for a night, from the warehouse, marked already linked."""
    changes = dict(
        wh.run("SELECT change, count(*) FROM person_history WHERE night = ? GROUP BY 1", [night])
    )
    homes = wh.run(
        "SELECT count(DISTINCT household_id) FROM households"
        " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        [night, night],
    )
    return LinkReport(
        night=night,
        records=int(run["records"]),
        persons=int(run["persons"]),
        pairs=int(run["pairs"]),
        new=changes.get("new", 0),
        merges=changes.get("merge", 0),
        splits=changes.get("split", 0),
        seconds=0.0,
        status=ALREADY,
        households=int(homes[0][0]),
        model=str(run["model"]),
        threshold=float(run["threshold"]),
        mode=ALREADY,
    )


def link_night(
    warehouse: Warehouse | Path,
    night: dt.date,
    model_path: Path,
    threshold: float,
    incremental: bool = True,
    max_pairs_per_rule: int = 50_000_000,
    again: bool = False,
) -> LinkReport:
    """Link the records held on a night and give each a stable person id in the warehouse.

    What it does (already linked, incremental or full) is `plan_night`'s decision; with
    `incremental` False a night that would link incrementally is linked in full; with
    `again`, the newest night is linked again even if nothing changed. Given a
    path, the warehouse is opened (waiting for another process's lock) and closed after.

    Raises:
        NightsOutOfOrder: a later night is linked and this one never was.
        ModelMismatch: the model does not fit these records' columns.
    """
    if isinstance(warehouse, Path):
        wh = Warehouse(warehouse)
        try:
            return link_night(
                wh, night, model_path, threshold, incremental, max_pairs_per_rule, again
            )
        finally:
            wh.close()
    wh = warehouse
    plan = plan_night(wh, night, model_path.name, threshold, incremental, again)
    if plan.run is not None:
        return report_of_run(wh, night, plan.run)
    artifact = json.loads(model_path.read_text())
    t0 = time.perf_counter()
    con = wh.con
    with wh.transaction():
        # Running a night again replaces what that night wrote.
        con.execute("DELETE FROM persons WHERE valid_from = ?", [night]).fetchall()
        con.execute("UPDATE persons SET valid_to = NULL WHERE valid_to = ?", [night]).fetchall()
        con.execute("DELETE FROM person_history WHERE night = ?", [night]).fetchall()
        con.execute("DELETE FROM households WHERE valid_from = ?", [night]).fetchall()
        con.execute("UPDATE households SET valid_to = NULL WHERE valid_to = ?", [night]).fetchall()
        previous = con.sql("SELECT unique_id, person_id FROM persons WHERE valid_to IS NULL").pl()
        records = records_as_of(con, night)
        changes: _Changes | None = None
        if plan.since is not None:
            linked, changes = _link_changes(
                con, records, previous, artifact["splink_model"], plan.since, night, threshold
            )
        else:
            linked = link(
                records, artifact["splink_model"], threshold, max_pairs_per_rule=max_pairs_per_rule
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
        _write_pairs(con, night, linked, changes, result, threshold)
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
        model=model_path.name,
        threshold=threshold,
        mode=plan.mode,
    )


def _write_pairs(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    linked: Linked,
    changes: _Changes | None,
    result: Assignment,
    threshold: float,
) -> None:
    """Every current pair, with the night it was scored, for the analyst's review of the
    threshold and the next incremental night."""
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
