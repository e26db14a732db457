"""Try a source's config on a sample extract without writing anything: what a new partner's
data engineer runs before the first night.

`check_source` reads each table as a load would, then says what it found: the columns the
mapping reads that are there and missing, the columns it leaves unread, the lines that
cannot be split and the rows that would be quarantined (counted by reason, with the first
rows' line numbers), what would hold the load, and the range of every date it parsed, so
that a two-digit-year pivot or a day/month swap shows before the warehouse sees it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from connectors.config import DATE_FIELDS, Source, TableMapping
from connectors.extract import ExtractError, missing_columns, read_table
from connectors.standardise import standardise

# How many rows' line numbers a reason lists.
EXAMPLES = 5


class CheckError(ValueError):
    """The sample cannot be put in the source's place; the message says why."""


@dataclass
class TableCheck:
    """What one table of the sample gave."""

    table: str
    error: str | None = None
    columns_found: list[str] = field(default_factory=list)
    columns_missing: list[str] = field(default_factory=list)
    columns_unread: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_staged: int = 0
    quarantined: dict[str, list[int]] = field(default_factory=dict)  # reason -> rows
    field_issues: dict[str, list[int]] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    dates: dict[str, tuple[dt.date | None, dt.date | None, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether this table would load without failing or being held."""
        return self.error is None and not self.columns_missing and not self.held

    def lines(self) -> list[str]:
        """The table's findings, for a person to read."""
        out = [f"table {self.table}:"]
        if self.error:
            return [*out, f"  cannot be read: {self.error}"]
        found = len(self.columns_found)
        out.append(
            f"  columns the mapping reads: {found} of {found + len(self.columns_missing)} found"
        )
        if self.columns_missing:
            out.append(f"  MISSING: {self.columns_missing} (the load would fail)")
        if self.columns_unread:
            out.append(f"  in the file but not mapped: {self.columns_unread}")
        if self.columns_missing:
            return out
        quarantined = self.rows_in - self.rows_staged
        out.append(
            f"  rows in {self.rows_in:,}: would be staged {self.rows_staged:,}, "
            f"quarantined {quarantined:,}"
        )
        out += [f"  WOULD HOLD: {reason}" for reason in self.held]
        out += _counted("quarantined", self.quarantined)
        out += _counted("field left empty", self.field_issues)
        for name, (first, last, empty) in self.dates.items():
            span = f"{first} to {last}" if first else "none parsed"
            out.append(f"  {name}: {span}; {empty:,} blank")
        return out


@dataclass
class SourceCheck:
    """What a source's sample gave, table by table."""

    source: str
    night: dt.date
    tables: list[TableCheck]

    @property
    def ok(self) -> bool:
        """Whether every table would load without failing or being held."""
        return all(t.ok for t in self.tables)

    def lines(self) -> list[str]:
        """Every finding, for a person to read."""
        verdict = "would load" if self.ok else "would NOT load cleanly"
        head = f"{self.source} (night {self.night}): {verdict}; nothing was written"
        return [head, *(line for t in self.tables for line in t.lines())]


def _counted(what: str, reasons: dict[str, list[int]]) -> list[str]:
    out = []
    for reason, rows in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(str(r) for r in rows[:EXAMPLES])
        more = ", ..." if len(rows) > EXAMPLES else ""
        out.append(f"  {what} {len(rows):,}: {reason} (rows {shown}{more})")
    return out


def with_sample(source: Source, sample: Path, table: str | None = None) -> Source:
    """The source reading a sample file (or folder) in place of its nightly location.

    A folder replaces the location. A file replaces the file of the tables whose pattern
    matches its name, or of the one named, or of the only table.

    Raises:
        CheckError: the sample cannot stand for this source.
    """
    if source.kind == "rest":
        raise CheckError("a REST source is checked against its API: leave out --file")
    if not sample.exists():
        raise CheckError(f"{sample}: no such file or folder")
    if source.kind == "sql":
        return source.model_copy(update={"location": f"sqlite:///{sample.resolve()}"})
    if sample.is_dir():
        return source.model_copy(update={"location": str(sample.resolve())})
    names = [t.name for t in source.tables]
    if table is not None and table not in names:
        raise CheckError(f"no table {table!r}; this source's tables: {', '.join(names)}")
    chosen = [
        t.name
        for t in source.tables
        if (table is None and fnmatch.fnmatch(sample.name, t.file or "")) or t.name == table
    ]
    if not chosen and len(source.tables) == 1:
        chosen = names
    if not chosen:
        raise CheckError(
            f"{sample.name} matches none of the tables' files "
            f"({', '.join(f'{t.name}: {t.file}' for t in source.tables)}); name one with --table"
        )
    tables = [
        t.model_copy(update={"file": sample.name}) if t.name in chosen else t for t in source.tables
    ]
    if len(chosen) < len(tables) and source.kind != "xlsx":
        tables = [t for t in tables if t.name in chosen]  # the other tables have no sample
    return source.model_copy(update={"location": str(sample.resolve().parent), "tables": tables})


def check_table(name: str, source: Source, table: TableMapping, night: dt.date) -> TableCheck:
    """Read and standardise one table as a load would, keeping what it found."""
    found = TableCheck(table.name)
    try:
        raw = read_table(name, source, table, night)
    except ExtractError as exc:
        found.error = str(exc)
        return found
    columns = [c for c in raw.frame.columns if not c.startswith("_")]
    wanted = table.source_columns()
    found.columns_missing = missing_columns(raw, table)
    found.columns_found = [c for c in wanted if c in columns]
    found.columns_unread = [c for c in columns if c not in wanted]
    found.held = list(raw.held)
    if found.columns_missing:
        return found
    std = standardise(raw, table, night)
    found.rows_in, found.rows_staged = std.rows_in, std.rows_staged
    found.quarantined = _by_reason(
        std.quarantine.select("row", pl.col("reasons").str.split("; ").alias("reason"))
    )
    found.field_issues = _by_reason(std.field_issues.select("row", pl.col("issue").alias("reason")))
    for contract, frame in std.contracts.items():
        for column in frame.columns:
            if column in DATE_FIELDS and frame.schema[column] == pl.Date:
                key = f"{contract}.{column}"
                found.dates[key] = (
                    frame[column].min(),  # type: ignore[assignment]
                    frame[column].max(),  # type: ignore[assignment]
                    frame[column].null_count(),
                )
    return found


def _by_reason(frame: pl.DataFrame) -> dict[str, list[int]]:
    if frame.height == 0:
        return {}
    if frame.schema["reason"] == pl.List(pl.String):
        frame = frame.explode("reason")
    grouped = frame.group_by("reason").agg(pl.col("row").sort())
    return {r: list(rows) for r, rows in grouped.iter_rows()}


def check_source(name: str, source: Source, night: dt.date) -> SourceCheck:
    """Check every table of a source for a night, writing nothing."""
    return SourceCheck(name, night, [check_table(name, source, t, night) for t in source.tables])
