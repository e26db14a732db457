"""Properties of reading a CSV file's structure: every record a writer wrote comes back whole
with the line it starts on, and a damaged line costs that line alone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.config import Source
from connectors.extract import RawTable, read_table

NIGHT = dt.date(2026, 11, 1)
COLUMNS = ["id", "name", "note"]
# Values as partners write them: delimiters, quotes and line breaks inside a value included.
VALUE = st.text(alphabet=st.sampled_from(list("abcXYZ é,;\"'\n\r 12")), min_size=0, max_size=12)
ROWS = st.lists(st.tuples(VALUE, VALUE), min_size=1, max_size=30)


def source(delimiter: str) -> Source:
    return Source.model_validate(
        {
            "agency": "partner",
            "kind": "csv",
            "location": "/unused",
            "delimiter": delimiter,
            "tables": [
                {
                    "name": "people",
                    "file": "people.csv",
                    "person_records": {"source_record_id": "id", "first_name": "name"},
                }
            ],
        }
    )


def write(rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def read(text: str, delimiter: str) -> RawTable:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "people.csv").write_bytes(text.encode("utf-8"))
        src = source(delimiter).model_copy(update={"location": tmp})
        return read_table("partner", src, src.tables[0], NIGHT)


def start_lines(rows: list[list[str]], delimiter: str) -> list[int]:
    """The line each record starts on, counting the line breaks its values hold."""
    lines, line = [], 2
    for row in rows:
        lines.append(line)
        line += write([row], delimiter).count("\n") - 1
    return lines


@settings(max_examples=150)
@given(ROWS, st.sampled_from([",", ";", "\t", "|"]))
def test_every_written_record_comes_back_with_its_line(
    pairs: list[tuple[str, str]], delimiter: str
) -> None:
    rows = [[f"R{i}", name, note] for i, (name, note) in enumerate(pairs)]
    raw = read(write(rows, delimiter), delimiter)
    assert raw.bad_lines == [] and raw.held == []
    got = raw.frame.select(COLUMNS).fill_null("").rows()
    # A value that is all line breaks may come back with \r\n as \n; compare without \r.
    assert [[v.replace("\r", "") for v in r] for r in got] == [
        [v.replace("\r", "") for v in r] for r in rows
    ]
    assert raw.frame["_row"].to_list() == start_lines(rows, delimiter)


@settings(max_examples=150)
@given(ROWS, st.data())
def test_a_short_or_unclosed_line_costs_that_line_alone(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    rows = [
        [f"R{i}", name.replace("\n", " ").replace("\r", " ").replace('"', ""), "n"]
        for i, (name, _) in enumerate(pairs)
    ]
    damaged = data.draw(st.integers(0, len(rows) - 1))
    kind = data.draw(st.sampled_from(["short", "unclosed"]))
    lines = write(rows, ",").split("\r\n")
    line = lines[damaged + 1]
    lines[damaged + 1] = line.rsplit(",", 1)[0] if kind == "short" else line.replace(",", ',"', 1)
    raw = read("\r\n".join(lines), ",")
    assert [b.row for b in raw.bad_lines] == [damaged + 2]
    assert raw.bad_lines[0].fields["id"] == f"R{damaged}"  # its record is known to be sent
    kept = raw.frame["id"].to_list()
    assert kept == [f"R{i}" for i in range(len(rows)) if i != damaged]
    assert raw.frame.height + len(raw.bad_lines) == len(rows)
