"""Load a partner's extract for a night: extract, snapshot, standardise, detect changes.

Each source's load is one transaction: it ends complete, or it leaves nothing but a
failed row in `loads` with the reason. Other sources are not affected. A night whose
extract is byte-for-byte what was loaded before is recorded as unchanged without being
read again; loading the same night again with different content replaces that night.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from connectors.config import Source
from connectors.extract import ExtractError, RawTable, extract_table, resolve
from connectors.standardise import Standardised, standardise
from connectors.warehouse import Warehouse


@dataclass
class LoadReport:
    """What a source's load did, for the run's report and the asset checks."""

    source: str
    night: dt.date
    load_id: str
    status: str  # complete, unchanged, already loaded, failed
    rows_in: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    seconds: float = 0.0
    error: str | None = None
    tables: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        """Rows in = rows staged + rows quarantined."""
        return self.rows_in == self.rows_staged + self.rows_quarantined

    def line(self) -> str:
        """One line for the run's report."""
        if self.status == "failed":
            return f"{self.source:<24} FAILED  {self.error}"
        return (
            f"{self.source:<24} {self.status:<15} in {self.rows_in:>9,}  staged "
            f"{self.rows_staged:>9,}  quarantined {self.rows_quarantined:>6,}  new "
            f"{self.new:>7,}  changed {self.changed:>6,}  deleted {self.deleted:>6,}  "
            f"{self.seconds:6.2f} s"
        )


def _file_fingerprint(source: Source, night: dt.date) -> str | None:
    """A hash of the night's files, read without parsing them; None for servers and APIs.

    A SQLite database is a file too: it is fingerprinted the same way.
    """
    location = resolve(source.location, night)
    if source.kind == "sql":
        prefix = "sqlite:///"
        path = Path(location.removeprefix(prefix))
        if not location.startswith(prefix) or not path.is_file():
            return None
        return hashlib.sha256(hashlib.sha256(path.read_bytes()).hexdigest().encode()).hexdigest()
    if source.kind not in ("csv", "xlsx", "parquet"):
        return None
    folder = Path(location)
    digest = hashlib.sha256()
    for table in source.tables:
        assert table.file is not None
        paths = sorted(folder.glob(table.file))
        if not paths:
            return None  # let extraction report the missing file properly
        for path in paths:
            digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return digest.hexdigest()


def _record(
    wh: Warehouse, report: LoadReport, started: dt.datetime, content_hash: str | None
) -> None:
    wh.run(
        "INSERT INTO loads VALUES (?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.load_id,
            report.source,
            report.night,
            started,
            report.status,
            content_hash,
            report.rows_in,
            report.rows_staged,
            report.rows_quarantined,
            report.new,
            report.changed,
            report.deleted,
            report.error,
        ],
    )


def _unchanged(
    wh: Warehouse, report: LoadReport, last: dict[str, Any], started: dt.datetime, t0: float
) -> LoadReport:
    if last["night"] == report.night:
        report.status = "already loaded"
        report.load_id = str(last["load_id"])
    else:
        report.status = "unchanged"
        _record(wh, report, started, last["content_hash"])
    report.rows_in = int(last["rows_in"])
    report.rows_staged = int(last["rows_staged"])
    report.rows_quarantined = int(last["rows_quarantined"])
    report.seconds = time.perf_counter() - t0
    return report


def ingest_source(wh: Warehouse, name: str, source: Source, night: dt.date) -> LoadReport:
    """Load one source's extract for a night into the warehouse; never raises for bad input."""
    t0 = time.perf_counter()
    started = dt.datetime.now()
    report = LoadReport(name, night, f"{name}:{night.isoformat()}:{uuid.uuid4().hex[:8]}", "failed")
    last = wh.last_load(name)
    this = wh.night_load(name, night)  # this night, loaded before

    def refuse_older() -> LoadReport:
        assert last is not None
        report.error = (
            f"night {night} is older than the last night loaded, {last['night']}, and is not "
            "what was loaded for it then; nights load in order"
        )
        _record(wh, report, started, None)
        return report

    fingerprint = _file_fingerprint(source, night)
    if this and fingerprint and fingerprint == this["content_hash"]:
        return _unchanged(wh, report, this, started, t0)
    if last and last["night"] > night and fingerprint:
        return refuse_older()
    if last and fingerprint and fingerprint == last["content_hash"]:
        return _unchanged(wh, report, last, started, t0)
    try:
        raws = [extract_table(name, source, table, night) for table in source.tables]
    except ExtractError as exc:
        report.error = str(exc)
        report.seconds = time.perf_counter() - t0
        _record(wh, report, started, None)
        return report
    content_hash = (
        fingerprint or hashlib.sha256("".join(r.content_hash for r in raws).encode()).hexdigest()
    )
    if this and content_hash == this["content_hash"]:
        return _unchanged(wh, report, this, started, t0)
    if last and last["night"] > night:
        return refuse_older()
    if last and content_hash == last["content_hash"]:
        return _unchanged(wh, report, last, started, t0)
    try:
        results = [
            standardise(raw, table, night) for raw, table in zip(raws, source.tables, strict=True)
        ]
        with wh.transaction():
            if this:
                wh.undo(str(this["load_id"]))
            _write(wh, name, report, raws, results, night, started)
            if not report.reconciles:
                raise RuntimeError(
                    f"rows in {report.rows_in:,} != staged {report.rows_staged:,} + "
                    f"quarantined {report.rows_quarantined:,}"
                )
            report.status = "complete"
            report.seconds = time.perf_counter() - t0
            _record(wh, report, started, content_hash)
    except Exception as exc:  # the load is rolled back; say why and carry on with other sources
        report.status = "failed"
        report.error = f"{name}: could not write the load: {exc}"
        report.seconds = time.perf_counter() - t0
        _record(wh, report, started, None)
    return report


def _write(
    wh: Warehouse,
    name: str,
    report: LoadReport,
    raws: list[RawTable],
    results: list[Standardised],
    night: dt.date,
    started: dt.datetime,
) -> None:
    snapshots: dict[str, list[pl.DataFrame]] = {}
    for raw, std in zip(raws, results, strict=True):
        wh.write_raw(name, raw.name, raw.frame, report.load_id, started)
        meta = [pl.lit(report.load_id).alias("load_id"), pl.lit(name).alias("source")]
        if std.quarantine.height:
            wh.append("quarantine", std.quarantine.with_columns(*meta))
        if std.field_issues.height:
            wh.append("field_issues", std.field_issues.with_columns(*meta))
        for contract, frame in std.contracts.items():
            snapshots.setdefault(contract, []).append(frame)
        quarantined = std.quarantine.height
        report.tables[raw.name] = (std.rows_in, std.rows_staged, quarantined)
        report.rows_in += std.rows_in
        report.rows_staged += std.rows_staged
        report.rows_quarantined += quarantined
    keys = {"person_records": "source_record_id", "events": "event_id"}
    for contract, frames in snapshots.items():
        snapshot = pl.concat(frames, how="diagonal_relaxed")
        if contract in keys:
            snapshot = snapshot.unique(keys[contract], keep="first", maintain_order=True)
        counts = wh.merge(contract, name, snapshot, report.load_id, night)
        report.new += counts["new"]
        report.changed += counts["changed"]
        report.deleted += counts["deleted"]


def record_failure(wh: Warehouse, name: str, night: dt.date, error: str) -> LoadReport:
    """Record a load that could not even start (its config could not be read, say)."""
    report = LoadReport(name, night, f"{name}:{night.isoformat()}:{uuid.uuid4().hex[:8]}", "failed")
    report.error = error
    _record(wh, report, dt.datetime.now(), None)
    return report


def ingest_night(wh: Warehouse, sources: dict[str, Source], night: dt.date) -> list[LoadReport]:
    """Load every source for a night; one failing does not stop the others."""
    return [ingest_source(wh, name, source, night) for name, source in sources.items()]
