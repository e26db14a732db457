"""Load a partner's extract for a night: extract, snapshot, standardise, detect changes.

Each source's load is one transaction: it ends complete, or it leaves nothing but a
`failed` or `held` row in `loads` with the reason. A load is held, not merged, when its
file looks broken or it would change too much of what the partner had sent: a bad extract
never closes a partner's records. Other sources are not affected. A night whose extract
is byte-for-byte what was loaded before is recorded as `unchanged` (or `already loaded`,
for the same night) without being read again; loading the same night again with
different content replaces that night.
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
    status: str  # complete, unchanged, already loaded, held, failed
    rows_in: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    seconds: float = 0.0
    error: str | None = None
    tables: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # guard -> reason, in words
    released_by: str | None = None
    previous_rows_in: int | None = None

    @property
    def reconciles(self) -> bool:
        """Rows in = rows staged + rows quarantined."""
        return self.rows_in == self.rows_staged + self.rows_quarantined

    @property
    def ok(self) -> bool:
        """Whether the partner's records are as its extract says (nothing failed or held)."""
        return self.status not in ("failed", "held")

    def line(self) -> str:
        """One line for the run's report."""
        return load_line(
            self.source,
            self.status,
            self.error,
            (self.rows_in, self.rows_staged, self.rows_quarantined),
            (self.new, self.changed, self.deleted),
        ) + (f"  {self.seconds:6.2f} s" if self.ok else "")


def load_line(
    source: str,
    status: str,
    error: str | None,
    rows: tuple[int, int, int],
    changes: tuple[int, int, int],
) -> str:
    """A load in one line: its counts, or why it failed or was held."""
    if status == "failed":
        return f"{source:<24} FAILED  {error}"
    if status == "held":
        return f"{source:<24} HELD    {error}"
    rows_in, staged, quarantined = rows
    new, changed, deleted = changes
    return (
        f"{source:<24} {status:<15} in {rows_in:>9,}  staged {staged:>9,}  quarantined "
        f"{quarantined:>6,}  new {new:>7,}  changed {changed:>6,}  deleted {deleted:>6,}"
    )


def night_lines(wh: Warehouse, night: dt.date) -> list[str]:
    """The night's latest load of each source, one line each (`load_line`), from `loads`."""
    rows = wh.frame(
        "SELECT * FROM loads WHERE night = ? QUALIFY row_number() OVER"
        " (PARTITION BY source ORDER BY started_at DESC) = 1 ORDER BY source",
        [night],
    )
    return [
        load_line(
            r["source"],
            r["status"],
            r["error"],
            (r["rows_in"], r["rows_staged"], r["rows_quarantined"]),
            (r["new_records"], r["changed_records"], r["deleted_records"]),
        )
        for r in rows.iter_rows(named=True)
    ]


@dataclass(frozen=True)
class Release:
    """A person's decision to accept a held load: who, why, and which extract they saw."""

    held_load_id: str
    content_hash: str
    by: str
    reason: str


class ReleaseError(ValueError):
    """A held load cannot be released; the message says why and what to do."""


class _Held(Exception):
    """Raised inside a load's transaction so that a guard's hold rolls everything back."""


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
    """Record a load whose extract is what was loaded before: nothing is read or written."""
    report.status = "already loaded" if last["night"] == report.night else "unchanged"
    report.rows_in = int(last["rows_in"])
    report.rows_staged = int(last["rows_staged"])
    report.rows_quarantined = int(last["rows_quarantined"])
    report.seconds = time.perf_counter() - t0
    _record(wh, report, started, last["content_hash"])
    return report


def _current(wh: Warehouse, name: str) -> dict[str, int]:
    """How many person records and events of a source are current."""
    return {
        contract: int(
            wh.run(
                f"SELECT count(*) FROM {contract} WHERE source = ? AND valid_to IS NULL", [name]
            )[0][0]
        )
        for contract in ("person_records", "events")
    }


def _guards(
    source: Source,
    report: LoadReport,
    raws: list[RawTable],
    last: dict[str, Any] | None,
    before: dict[str, int],
    closed: dict[str, int],
) -> dict[str, str]:
    """Reasons, in words, to hold this load rather than merge it (empty: merge it)."""
    held: dict[str, str] = {}
    problems = [p for raw in raws for p in raw.held]
    if problems:
        held["file"] = "; ".join(problems)
    if last is not None and int(last["rows_in"]) > 0:
        was = int(last["rows_in"])
        change = abs(report.rows_in - was) / was
        if change > source.row_count_tolerance:
            held["row_count"] = (
                f"{report.rows_in:,} rows in against {was:,} at the last good load "
                f"({last['night']}), a change of {change:.1%}, beyond this source's "
                f"row_count_tolerance of {source.row_count_tolerance:.0%}"
            )
    over = [
        f"{closed[c]:,} of its {before[c]:,} current "
        f"{'person records' if c == 'person_records' else 'events'} "
        f"({closed[c] / before[c]:.1%})"
        for c in before
        if before[c] and closed.get(c, 0) / before[c] > source.max_close_share
    ]
    if over:
        held["closes"] = (
            f"it would close {' and '.join(over)}, more than this source's max_close_share "
            f"of {source.max_close_share:.0%}"
        )
    return held


def _hold_message(report: LoadReport) -> str:
    reasons = "; ".join(report.held.values())
    return (
        f"held, nothing merged: {reasons}. If the partner's extract is right, accept it with "
        f"`joinedup load release --source {report.source} --night {report.night} "
        "--reason ...`"
    )


def ingest_source(
    wh: Warehouse,
    name: str,
    source: Source,
    night: dt.date,
    release: Release | None = None,
) -> LoadReport:
    """Load one source's extract for a night into the warehouse; never raises for bad input.

    A load that a guard holds (rows in beyond the tolerance of the last good load, more
    of the partner's records closed than its share allows, a file that looks truncated or
    in another encoding) merges nothing: it is recorded as `held` with the reasons, and
    the partner's records stay as they were until the next good night, or until a person
    releases it (`release`, see `release_load`).
    """
    t0 = time.perf_counter()
    started = dt.datetime.now()
    report = LoadReport(name, night, f"{name}:{night.isoformat()}:{uuid.uuid4().hex[:8]}", "failed")
    last = wh.last_load(name)
    this = wh.night_load(name, night)  # this night, loaded before
    if last is not None:
        report.previous_rows_in = int(last["rows_in"])

    def refuse_older() -> LoadReport:
        assert last is not None
        report.error = (
            f"night {night} is older than the last night loaded, {last['night']}, and is not "
            "what was loaded for it then; nights load in order"
        )
        _record(wh, report, started, None)
        return report

    fingerprint = _file_fingerprint(source, night)
    if release is None:
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
    if release is not None and content_hash != release.content_hash:
        raise ReleaseError(
            f"{name}: the extract for night {night} has changed since it was held; "
            f"run the night again (joinedup run --night {night}) to judge the new extract"
        )
    if release is None:
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
            before = _current(wh, name)
            closed = _write(wh, name, report, raws, results, night, started)
            if not report.reconciles:
                raise RuntimeError(
                    f"rows in {report.rows_in:,} != staged {report.rows_staged:,} + "
                    f"quarantined {report.rows_quarantined:,}"
                )
            report.held = _guards(source, report, raws, last, before, closed)
            if report.held and release is None:
                raise _Held
            report.status = "complete"
            report.seconds = time.perf_counter() - t0
            _record(wh, report, started, content_hash)
            if release is not None:
                report.released_by = release.by
                wh.run(
                    "INSERT INTO load_releases VALUES (?, ?, ?, ?, ?, ?, now(), ?)",
                    [
                        release.held_load_id,
                        report.load_id,
                        name,
                        night,
                        release.by,
                        release.reason,
                        "; ".join(report.held.values()) or "no guard holds it now",
                    ],
                )
    except _Held:  # rolled back: the partner's records are as they were
        report.status = "held"
        report.new = report.changed = report.deleted = 0
        report.error = _hold_message(report)
        report.seconds = time.perf_counter() - t0
        _record(wh, report, started, content_hash)
    except Exception as exc:  # the load is rolled back; say why and carry on with other sources
        report.status = "failed"
        report.error = f"{name}: could not write the load: {exc}"
        report.seconds = time.perf_counter() - t0
        _record(wh, report, started, None)
    return report


def release_load(
    wh: Warehouse, name: str, source: Source, night: dt.date, by: str, reason: str
) -> LoadReport:
    """Accept a night's held load as a person decided, recording who released it and why.

    The extract is read again and must be the one that was held; the guards that held
    it are recorded with the release in `load_releases`.

    Raises:
        ReleaseError: the night's newest load is not held, or its extract has changed.
    """
    if not reason.strip():
        raise ReleaseError("give the reason for accepting the drop with --reason")
    newest = wh.frame(
        "SELECT * FROM loads WHERE source = ? AND night = ? AND status <> 'already loaded'"
        " ORDER BY started_at DESC LIMIT 1",
        [name, night],
    )
    if not newest.height or newest["status"][0] != "held":
        status = newest["status"][0] if newest.height else "never loaded"
        raise ReleaseError(
            f"{name}: night {night}'s newest load is {status}, not held: nothing to release"
        )
    held = newest.row(0, named=True)
    return ingest_source(
        wh, name, source, night, Release(str(held["load_id"]), held["content_hash"], by, reason)
    )


def _write(
    wh: Warehouse,
    name: str,
    report: LoadReport,
    raws: list[RawTable],
    results: list[Standardised],
    night: dt.date,
    started: dt.datetime,
) -> dict[str, int]:
    """Write a load's snapshot, quarantine and merges; return each contract's records closed."""
    snapshots: dict[str, list[pl.DataFrame]] = {}
    unread: dict[str, list[str]] = {}
    for raw, std in zip(raws, results, strict=True):
        wh.write_raw(name, raw.name, raw.frame, report.load_id, started)
        meta = [pl.lit(report.load_id).alias("load_id"), pl.lit(name).alias("source")]
        if std.quarantine.height:
            wh.append("quarantine", std.quarantine.with_columns(*meta))
        if std.field_issues.height:
            wh.append("field_issues", std.field_issues.with_columns(*meta))
        for contract, frame in std.contracts.items():
            snapshots.setdefault(contract, []).append(frame)
        for contract, ids in std.unread.items():
            unread.setdefault(contract, []).extend(ids)
        quarantined = std.quarantine.height
        report.tables[raw.name] = (std.rows_in, std.rows_staged, quarantined)
        report.rows_in += std.rows_in
        report.rows_staged += std.rows_staged
        report.rows_quarantined += quarantined
    keys = {"person_records": "source_record_id", "events": "event_id"}
    closed: dict[str, int] = {}
    for contract, frames in snapshots.items():
        snapshot = pl.concat(frames, how="diagonal_relaxed")
        if contract in keys:
            snapshot = snapshot.unique(keys[contract], keep="first", maintain_order=True)
        counts = wh.merge(contract, name, snapshot, report.load_id, night, unread.get(contract))
        report.new += counts["new"]
        report.changed += counts["changed"]
        report.deleted += counts["deleted"]
        closed[contract] = counts["deleted"]
    return closed


def record_failure(wh: Warehouse, name: str, night: dt.date, error: str) -> LoadReport:
    """Record a load that could not even start (its config could not be read, say)."""
    report = LoadReport(name, night, f"{name}:{night.isoformat()}:{uuid.uuid4().hex[:8]}", "failed")
    report.error = error
    _record(wh, report, dt.datetime.now(), None)
    return report


def ingest_night(wh: Warehouse, sources: dict[str, Source], night: dt.date) -> list[LoadReport]:
    """Load every source for a night; one failing does not stop the others."""
    return [ingest_source(wh, name, source, night) for name, source in sources.items()]
