"""The warehouse's contract tables in DuckDB, kept as history: each row knows the night it
became true and the night it stopped being true, so any night can be read back and a
night that changes nothing writes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from connectors.config import RECORD_IDS

# Value columns of each contract, in order; `key` identifies a row within a source.
CONTRACT_COLUMNS: dict[str, dict[str, str]] = {
    "person_records": {
        "source_record_id": "VARCHAR",
        "first_name": "VARCHAR",
        "middle_name": "VARCHAR",
        "last_name": "VARCHAR",
        "dob": "DATE",
        "sex": "VARCHAR",
        "address": "VARCHAR",
        "postcode": "VARCHAR",
        "uprn": "VARCHAR",
        "nhs_number": "VARCHAR",
        "upn": "VARCHAR",
        "ni_number": "VARCHAR",
        "phone": "VARCHAR",
        "email": "VARCHAR",
        "ethnicity": "VARCHAR",
        "household_ref": "VARCHAR",
        "relationship": "VARCHAR",
        "town": "VARCHAR",
        "known_since": "DATE",
    },
    "events": {
        "event_id": "VARCHAR",
        "source_record_id": "VARCHAR",
        "type": "VARCHAR",
        "date": "DATE",
        "severity": "BIGINT",
        "referral_source": "VARCHAR",
        "attributes": "VARCHAR",
    },
    "involvements": {
        "source_record_id": "VARCHAR",
        "professional": "VARCHAR",
        "email": "VARCHAR",
        "team": "VARCHAR",
        "role": "VARCHAR",
        "from_date": "DATE",
        "to_date": "DATE",
    },
}
KEYS = {"person_records": "source_record_id", "events": "event_id", "involvements": "record_key"}
# Columns that came after warehouses were first made: added to an older file when it is
# opened, and counted in a row's hash only when set, so a record that leaves them empty
# keeps the hash it had and is not taken for changed.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "person_records": ("household_ref", "relationship", "town", "known_since"),
    "events": ("referral_source",),
}

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS loads (
    load_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, night DATE NOT NULL,
    started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
    content_hash VARCHAR, rows_in BIGINT, rows_staged BIGINT, rows_quarantined BIGINT,
    new_records BIGINT, changed_records BIGINT, deleted_records BIGINT, error VARCHAR
);
CREATE TABLE IF NOT EXISTS quarantine (
    load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, "table" VARCHAR NOT NULL,
    file VARCHAR, "row" BIGINT, reasons VARCHAR NOT NULL, raw VARCHAR
);
CREATE TABLE IF NOT EXISTS field_issues (
    load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, "table" VARCHAR NOT NULL,
    file VARCHAR, "row" BIGINT, field VARCHAR NOT NULL, issue VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS load_releases (
    held_load_id VARCHAR NOT NULL, load_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
    night DATE NOT NULL, released_by VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    released_at TIMESTAMP NOT NULL, overrode VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, contract VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL, change VARCHAR NOT NULL
);
"""


def _contract_ddl(contract: str) -> str:
    cols = ",\n    ".join(f'"{c}" {t}' for c, t in CONTRACT_COLUMNS[contract].items())
    key = ",\n    record_key VARCHAR NOT NULL" if contract == "involvements" else ""
    return f"""
CREATE TABLE IF NOT EXISTS {contract} (
    source VARCHAR NOT NULL,
    {cols}{key},
    "table" VARCHAR, file VARCHAR, "row" BIGINT, row_hash VARCHAR NOT NULL,
    valid_from DATE NOT NULL, valid_to DATE, loaded_by VARCHAR NOT NULL, closed_by VARCHAR
);"""


class WarehouseBusy(Exception):
    """Another process has the warehouse open for writing; the message is one sentence."""


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect(path: Path, wait_seconds: float = 60.0) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file for writing, waiting while another process holds its lock.

    Raises:
        WarehouseBusy: the lock was still held after `wait_seconds`.
    """
    # Only the lock is waited out: any other error of the file is raised at once.
    waiting = Retrying(
        retry=retry_if_exception(_locked),
        stop=stop_after_delay(wait_seconds),
        wait=wait_fixed(0.25),
        reraise=True,
    )
    new = not path.exists()
    try:
        con = waiting(duckdb.connect, str(path))
        if new:
            path.chmod(0o600)  # personal data: its owner only, whatever the umask
        return con
    except duckdb.IOException as exc:
        if not _locked(exc):
            raise
        pid = re.search(r"PID (\d+)", str(exc))
        raise WarehouseBusy(
            f"the warehouse {path} is in use by another process"
            f"{f' (PID {pid.group(1)})' if pid else ''}, still after waiting "
            f"{wait_seconds:.0f} s: run this again when that one has finished"
        ) from None


class Warehouse:
    """One DuckDB file: raw snapshots, contract tables with history, quarantine and loads."""

    def __init__(self, path: Path, wait_seconds: float = 60.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = connect(path, wait_seconds)
        self.run(SCHEMA)
        for contract in CONTRACT_COLUMNS:
            self.run(_contract_ddl(contract))
        for contract, added in ADDED_COLUMNS.items():
            for col in added:
                kind = CONTRACT_COLUMNS[contract][col]
                self.run(f'ALTER TABLE {contract} ADD COLUMN IF NOT EXISTS "{col}" {kind}')

    def close(self) -> None:
        """Close the file."""
        self.con.close()

    def run(
        self, sql: str, params: list[Any] | dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run SQL and fetch every row (DuckDB 2 wants each result finished)."""
        rows: list[tuple[Any, ...]] = self.con.execute(sql, params).fetchall()
        return rows

    def frame(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a query into a Polars frame."""
        found: pl.DataFrame = self.con.sql(sql, params=params).pl()
        return found

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a load that fails leaves no trace but its failed `loads` row."""
        self.run("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.run("ROLLBACK")
            raise
        try:
            self.run("COMMIT")
        except BaseException:
            self.con.rollback()
            raise

    def last_load(
        self, source: str, statuses: tuple[str, ...] = ("complete", "unchanged")
    ) -> dict[str, Any] | None:
        """The newest load of a source in one of the statuses, as a dict."""
        marks = ", ".join("?" * len(statuses))
        found = self.frame(
            f"SELECT * FROM loads WHERE source = ? AND status IN ({marks})"
            " ORDER BY night DESC, finished_at DESC LIMIT 1",
            [source, *statuses],
        )
        return found.row(0, named=True) if found.height else None

    def night_load(self, source: str, night: dt.date) -> dict[str, Any] | None:
        """The load that holds a source's data for a night, if one does."""
        found = self.frame(
            "SELECT * FROM loads WHERE source = ? AND night = ? AND status IN"
            " ('complete', 'unchanged') ORDER BY finished_at DESC LIMIT 1",
            [source, night],
        )
        return found.row(0, named=True) if found.height else None

    def write_raw(
        self, source: str, table: str, frame: pl.DataFrame, load_id: str, extracted_at: dt.datetime
    ) -> None:
        """Append a raw snapshot: every column as text, with load id and a row hash."""
        name = f'raw."{source}__{table}"'
        values = [c for c in frame.columns if not c.startswith("_")]
        # Polars' row hash: fast, and stable for a given Polars version, which is all a raw
        # snapshot needs to spot identical rows within and between nearby loads.
        data = frame.select(pl.all().cast(pl.String)).with_columns(
            pl.concat_str([pl.col(c).fill_null("\x00") for c in values], separator="\x1f")
            .hash(seed=20_261_101)
            .cast(pl.String)
            .alias("_row_hash")
        )
        self.con.register("_raw", data)
        try:
            self.run(
                f"CREATE TABLE IF NOT EXISTS {name} (_load_id VARCHAR, _extracted_at TIMESTAMP, "
                "_row_hash VARCHAR)"
            )
            have = {
                r[0]
                for r in self.run(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw'"
                    " AND table_name = ?",
                    [f"{source}__{table}"],
                )
            }
            for col in data.columns:
                if col not in have:
                    self.run(f'ALTER TABLE {name} ADD COLUMN "{col}" VARCHAR')
            self.run(
                f"INSERT INTO {name} BY NAME SELECT *, ? AS _load_id, ? AS _extracted_at FROM _raw",
                [load_id, extracted_at],
            )
        finally:
            self.con.unregister("_raw")

    def merge(
        self,
        contract: str,
        source: str,
        snapshot: pl.DataFrame,
        load_id: str,
        night: dt.date,
        unread: list[str] | None = None,
    ) -> dict[str, int]:
        """Make the contract's current rows for a source equal the snapshot, keeping history.

        `unread` are ids (`source_record_id` for involvements) of records the partner sent
        in rows that were quarantined: their current rows stay as they are, not deleted.
        Returns how many records were new, changed and deleted.
        """
        cols = list(CONTRACT_COLUMNS[contract])
        # Fields a partner does not hold are empty, with the contract's own types.
        data = snapshot.select(
            pl.lit(source).alias("source"),
            *[pl.col(c) if c in snapshot.columns else pl.lit(None).alias(c) for c in cols],
            "table",
            "file",
            "row",
        )
        self.con.register("_snap", data)
        self.con.register("_unread", pl.DataFrame({"id": unread or []}, schema={"id": pl.String}))
        key = KEYS[contract]
        added = ADDED_COLUMNS.get(contract, ())
        # concat_ws skips nulls, so an added column that is empty leaves the hash as it was.
        digest = (
            "md5(concat_ws(chr(31), "
            + ", ".join(
                f"'{c}=' || \"{c}\"" if c in added else f'coalesce(CAST("{c}" AS VARCHAR), chr(0))'
                for c in cols
            )
            + "))"
        )
        try:
            record_key = f", {digest} AS record_key" if contract == "involvements" else ""
            self.run(
                f"CREATE OR REPLACE TEMP TABLE _new AS SELECT *{record_key}, {digest} AS row_hash"
                " FROM _snap"
            )
            kept_by = RECORD_IDS[contract]
            self.run(
                f"""CREATE OR REPLACE TEMP TABLE _cur AS SELECT "{key}" AS k, row_hash,
                         "{kept_by}" IN (SELECT id FROM _unread) AS unread
                         FROM {contract} WHERE source = ? AND valid_to IS NULL""",
                [source],
            )
            self.run(f"""CREATE OR REPLACE TEMP TABLE _diff AS
                SELECT coalesce(n."{key}", c.k) AS k,
                       CASE WHEN c.k IS NULL THEN 'new' WHEN n."{key}" IS NULL THEN 'deleted'
                            ELSE 'changed' END AS change
                FROM _new n FULL JOIN _cur c ON n."{key}" = c.k
                WHERE c.k IS NULL OR (n."{key}" IS NULL AND NOT c.unread)
                   OR n.row_hash <> c.row_hash""")
            self.run(
                f"""UPDATE {contract} SET valid_to = ?, closed_by = ?
                FROM _diff WHERE {contract}.source = ? AND {contract}.valid_to IS NULL
                  AND {contract}."{key}" = _diff.k AND _diff.change IN ('changed', 'deleted')""",
                [night, load_id, source],
            )
            self.run(
                f"""INSERT INTO {contract} BY NAME
                SELECT n.*, ? AS valid_from, ? AS loaded_by FROM _new n
                JOIN _diff d ON n."{key}" = d.k WHERE d.change IN ('new', 'changed')""",
                [night, load_id],
            )
            self.run(
                "INSERT INTO changes SELECT ?, ?, ?, k, change FROM _diff",
                [load_id, source, contract],
            )
            counts = dict(self.run("SELECT change, count(*) FROM _diff GROUP BY change"))
        finally:
            self.con.unregister("_snap")
            self.con.unregister("_unread")
        return {c: int(counts.get(c, 0)) for c in ("new", "changed", "deleted")}

    def undo(self, load_id: str) -> None:
        """Take back what a load wrote to the contract tables, to load its night again."""
        for contract in CONTRACT_COLUMNS:
            self.run(f"DELETE FROM {contract} WHERE loaded_by = ?", [load_id])
            self.run(
                f"UPDATE {contract} SET valid_to = NULL, closed_by = NULL WHERE closed_by = ?",
                [load_id],
            )
        for table in ("quarantine", "field_issues", "changes"):
            self.run(f"DELETE FROM {table} WHERE load_id = ?", [load_id])
        for (name,) in self.run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ):
            self.run(f'DELETE FROM raw."{name}" WHERE _load_id = ?', [load_id])
        self.run("UPDATE loads SET status = 'replaced' WHERE load_id = ?", [load_id])

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Append a frame to a table by column name."""
        self.con.register("_rows", frame)
        try:
            self.run(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        finally:
            self.con.unregister("_rows")
