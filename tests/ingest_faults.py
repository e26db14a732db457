"""Bad partner files, made one at a time from a good night of a partner we have never seen.

The partner is the Youth Justice Service of `docs/examples/youth_justice.yaml`: a caseload
export in Windows-1252 with semicolons and dd.mm.yy dates. Night 1 is a good file; night 2
is the same caseload, damaged by one fault; night 3 is a good file with a few records
added, changed and dropped. `run_fault` loads the three nights into a new warehouse and
says what the damaged night was marked, in what words, whether night 3 loaded as its file
says, and how many of the partner's records the damaged night lost.

`tests/connectors/test_bad_files.py` asserts on every fault; `bench/ingest_faults.py`
prints the matrix for `docs/connectors.md`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from connectors.config import Source, load_sources
from connectors.ingest import ingest_source
from connectors.warehouse import Warehouse

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "youth_justice.yaml"
NIGHTS = (dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3))
HEADER = (
    "YJS Ref;Given Name;Family Name;D.O.B.;Gender;Post Code;Order Ref;Order Type;Order Start;"
    "Offence Category;Case Worker"
)
GIVEN = ("Zoë", "Seán", "Kai", "Amara", "Jamal", "Chloé", "Oliver", "Priya", "Renée", "Ruby")
FAMILY = ("O'Brien", "Murphy-Jones", "Smith", "Okafor", "Nowak", "Patel", "Brown", "Müller")
ORDERS = ("Referral Order", "Youth Rehabilitation Order", "Out of court disposal")
PEOPLE = 300


def caseload_row(i: int, surname: str | None = None) -> str:
    """One young person's row: made from the number alone, so every night agrees."""
    family = FAMILY[i % len(FAMILY)] if surname is None else surname
    born = dt.date(2006, 1, 1) + dt.timedelta(days=(i * 37) % 3000)
    start = dt.date(2026, 1, 1) + dt.timedelta(days=(i * 11) % 290)
    return ";".join(
        [
            f"YJ{i:04d}",
            GIVEN[i % len(GIVEN)],
            family,
            born.strftime("%d.%m.%y"),
            ("Male", "Female", "Not known")[i % 3],
            f"JU{i % 9 + 1} {i % 10}AB",
            f"ORD-{i}",
            ORDERS[i % 3],
            start.strftime("%d.%m.%y"),
            "Theft" if i % 2 else "Criminal damage",
            "Sam Patel" if i % 2 else "Ann Lee",
        ]
    )


def night_text(night: int) -> str:
    """A good night's file, as text: night 3 drops two people, adds three, renames one."""
    ids = list(range(1, PEOPLE + 1))
    if night == 3:
        ids = [i for i in ids if i not in (5, 6)] + [PEOPLE + 1, PEOPLE + 2, PEOPLE + 3]
    rows = [caseload_row(i, "Renamed" if night == 3 and i == 7 else None) for i in ids]
    return "\r\n".join([HEADER, *rows]) + "\r\n"


def expected_ids(night: int) -> set[str]:
    """The records a good night's file holds."""
    return {line.split(";")[0] for line in night_text(night).splitlines()[1:]}


def _cp1252(text: str) -> bytes:
    return text.encode("cp1252")


def _replace_line(number: int, new: str) -> Callable[[str], bytes]:
    """Damage one line (numbered as an editor shows it) of the good text."""

    def damage(text: str) -> bytes:
        lines = text.split("\r\n")
        lines[number - 1] = new
        return _cp1252("\r\n".join(lines))

    return damage


@dataclass(frozen=True)
class Fault:
    """One way a partner's file arrives broken, and what a load must make of it."""

    case: str
    damage: Callable[[str], bytes]  # the good night's text -> the bytes sent instead
    expect: str  # the status the damaged night must be given
    words: str  # what the message must say


def _truncated(text: str) -> bytes:
    data = _cp1252(text)
    cut = int(len(data) * 0.6)
    while data[cut - 1 : cut] in (b"\n", b"\r", b";"):
        cut += 1  # end inside a field, as a copy cut short does
    return data[:cut]


def _unclosed_quote(text: str) -> bytes:
    """A quote opened before line 41's given name and never closed."""
    lines = text.split("\r\n")
    lines[40] = lines[40].replace(";", ';"', 1)
    return _cp1252("\r\n".join(lines))


def _nameless(i: int) -> str:
    """Person i's row with the given and family names left blank."""
    fields = caseload_row(i).split(";")
    fields[1] = fields[2] = ""
    return ";".join(fields)


def _half(text: str) -> bytes:
    return _cp1252("\r\n".join(text.split("\r\n")[: PEOPLE // 2 + 1]) + "\r\n")


def _twice(text: str) -> bytes:
    return _cp1252(text + "\r\n".join(text.split("\r\n")[1:]))


FAULTS: tuple[Fault, ...] = (
    Fault("an empty file (0 bytes)", lambda text: b"", "failed", "the file is empty"),
    Fault(
        "the header and no rows",
        lambda text: _cp1252(text.split("\r\n")[0] + "\r\n"),
        "held",
        "it would close 300 of its 300 current person records",
    ),
    Fault("a file cut short mid-row", _truncated, "held", "it looks truncated"),
    Fault(
        "half the rows, complete lines",
        _half,
        "held",
        "a change of 50.0%, beyond this source's row_count_tolerance",
    ),
    Fault("the extract sent twice in one file", _twice, "held", "600 rows in against 300"),
    Fault(
        "a UTF-8 file where Windows-1252 is configured",
        lambda text: text.encode("utf-8"),
        "held",
        "it looks like UTF-8",
    ),
    Fault(
        "commas where semicolons are configured",
        lambda text: _cp1252(text.replace(";", ",")),
        "failed",
        "missing column(s)",
    ),
    Fault(
        "one unclosed quote",
        _unclosed_quote,
        "complete",
        "line 41 opens a quote that is not closed",
    ),
    Fault(
        "a row with too few fields",
        _replace_line(12, ";".join(caseload_row(11).split(";")[:6])),
        "complete",
        "row has 6 fields, the header has 11",
    ),
    Fault(
        "a row with too many fields",
        _replace_line(13, caseload_row(12) + ";extra"),
        "complete",
        "row has 12 fields, the header has 11",
    ),
    Fault(
        "a record with no name at all",
        _replace_line(14, _nameless(13)),
        "complete",
        "field last_name (person_records): column 'Family Name' is blank; this source requires it",
    ),
)


@dataclass(frozen=True)
class FaultResult:
    """What loading a damaged night did."""

    case: str
    status: str
    message: str
    lost: int  # records the damaged night closed or altered: the partner's are unchanged
    recovered: bool  # night 3 loaded complete, and the current records are its file's
    quarantined: int


def youth_justice(drop: Path) -> Source:
    """The example partner, reading its files from a drop folder."""
    os.environ["YJS_DROP"] = str(drop)
    try:
        return load_sources(EXAMPLE)["youth_justice"]
    finally:
        del os.environ["YJS_DROP"]


def _send(drop: Path, night: dt.date, data: bytes) -> None:
    folder = drop / night.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"yjs_caseload_{night:%Y%m%d}.csv").write_bytes(data)


def current_ids(wh: Warehouse) -> set[str]:
    """The partner's current person records."""
    rows = wh.run("SELECT source_record_id FROM person_records WHERE valid_to IS NULL")
    return {r[0] for r in rows}


def run_fault(fault: Fault, folder: Path) -> FaultResult:
    """Load a good night, the damaged night and a good night, and say what happened."""
    drop = folder / "drop"
    _send(drop, NIGHTS[0], _cp1252(night_text(1)))
    _send(drop, NIGHTS[1], fault.damage(night_text(2)))
    _send(drop, NIGHTS[2], _cp1252(night_text(3)))
    source = youth_justice(drop)
    wh = Warehouse(folder / "wh.duckdb")
    try:
        first = ingest_source(wh, "youth_justice", source, NIGHTS[0])
        assert first.status == "complete", first.line()
        before = current_ids(wh)
        damaged = ingest_source(wh, "youth_justice", source, NIGHTS[1])
        # Night 2 meant to send night 1 again: any record it closed or wrote anew is lost.
        altered = wh.run(
            "SELECT source_record_id FROM person_records WHERE loaded_by = ?", [damaged.load_id]
        )
        lost = len((before - current_ids(wh)) | {r[0] for r in altered})
        reasons = wh.run("SELECT reasons FROM quarantine WHERE load_id = ?", [damaged.load_id])
        message = damaged.error or "; ".join(r[0] for r in reasons)
        after = ingest_source(wh, "youth_justice", source, NIGHTS[2])
        renamed = wh.run(
            "SELECT last_name FROM person_records WHERE source_record_id = 'YJ0007'"
            " AND valid_to IS NULL"
        )
        recovered = (
            after.status == "complete"
            and current_ids(wh) == expected_ids(3)
            and renamed == [("RENAMED",)]
        )
        return FaultResult(
            fault.case, damaged.status, message, lost, recovered, damaged.rows_quarantined
        )
    finally:
        wh.close()
