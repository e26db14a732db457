"""Read a partner's extract as it is: files, a SQL database or a REST API, into text frames.

Every value arrives as text (Excel dates as ISO text), with `_file` and `_row` saying
where it came from, so standardisation can name the file and row of anything it rejects:
`_row` is the line a record starts on as an editor numbers it (CSV, header on line 1), the
row Excel shows (xlsx), or the record's place in a table, query or API answer (1 first).
A line that cannot be read at all (a ragged row, an unclosed quote) is kept aside as a
`BadLine` with its reason. A file that cannot be read at all (empty, not in its encoding)
raises `ExtractError`; one that reads but looks broken (truncated, in another encoding than
declared) carries reasons to hold the load in `RawTable.held`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from connectors.config import Source, TableMapping


class ExtractError(Exception):
    """A table of a source could not be read; the message names source, file, row and field."""

    def __init__(self, source: str, where: str, message: str) -> None:
        super().__init__(f"{source}: {where}: {message}")
        self.source = source
        self.where = where


@dataclass(frozen=True)
class BadLine:
    """A line of a file that could not be split into the header's columns.

    `fields` is the line split as leniently as it can be: where it reaches the column of
    a record's id, that record is known to have been sent, and is not taken for deleted.
    """

    file: str
    row: int
    reason: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)


def _bad_line(
    file: str, row: int, reason: str, text: str, header: list[str], source: Source
) -> BadLine:
    values = next(
        csv.reader([text], delimiter=source.delimiter, quotechar=source.quote, strict=False), []
    )
    return BadLine(file, row, reason, text, dict(zip(header, values, strict=False)))


@dataclass
class RawTable:
    """One table as extracted: text columns plus `_file` and `_row`."""

    name: str
    frame: pl.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)
    content_hash: str = ""
    held: list[str] = field(default_factory=list)  # reasons to hold the load, in words


def resolve(template: str, night: dt.date) -> str:
    """Put the night's date into a location."""
    return template.replace("{date}", night.isoformat())


def _files(source_name: str, source: Source, table: TableMapping, night: dt.date) -> list[Path]:
    folder = Path(resolve(source.location, night))
    assert table.file is not None
    found = sorted(folder.glob(table.file))
    if not found:
        raise ExtractError(
            source_name, f"{folder / table.file}", "no file found (has tonight's extract arrived?)"
        )
    return found


def _single_byte(encoding: str) -> bool:
    """Whether a codec reads every byte as one character (cp1252, latin-1...), not UTF-8."""
    return len(b"\xc3\xa9".decode(encoding, errors="replace")) == 2


def _empty(data: bytes) -> bool:
    """Whether bytes hold nothing but white space and a byte-order mark."""
    blank = b" \t\r\n\x00"
    return not data.strip(blank).removeprefix(b"\xef\xbb\xbf").strip(blank)


def _decode(source_name: str, path: Path, data: bytes, encoding: str) -> tuple[str, list[str]]:
    """The file's text, strictly decoded, and any reason to hold it (it looks like UTF-8)."""
    if _empty(data[:4096]) and _empty(data):
        raise ExtractError(source_name, path.name, "the file is empty")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExtractError(
            source_name,
            f"{path.name} line {line}",
            f"bytes {data[exc.start : exc.end]!r} are not valid {encoding}; "
            "set `encoding` for this source to the one the partner uses",
        ) from exc
    held = []
    if _single_byte(encoding) and not data.isascii():
        try:
            as_utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:  # bytes that are valid UTF-8 by chance in cp1252 text are vanishingly rare
            wide = sum(1 for c in as_utf8 if ord(c) > 127)
            first = next(i for i, c in enumerate(as_utf8) if ord(c) > 127)
            line = as_utf8[:first].count("\n") + 1
            held.append(
                f"{path.name} is declared {encoding} but reads as UTF-8 ({wide:,} multi-byte "
                f"characters, the first on line {line}): it looks like UTF-8; set `encoding: "
                "utf-8` for this source if the partner changed, then load the night again"
            )
    return text.removeprefix("\ufeff"), held


class _Feed:
    """Lines handed to a csv reader one at a time, counting how many it took."""

    def __init__(self, lines: list[str], pos: int) -> None:
        self.lines, self.pos = lines, pos

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1] + "\n"


def _csv_slow(
    path: Path, lines: list[str], header: list[str], source: Source
) -> tuple[pl.DataFrame, list[BadLine]]:
    """Split a file record by record with the csv module, keeping aside what does not fit.

    A record that spans lines yet cannot be read (an unclosed quote swallows what follows)
    costs only its first line: that line is kept as text and reading goes on from the next.
    """

    def reader_from(pos: int) -> tuple[_Feed, Iterator[list[str]]]:
        feed = _Feed(lines, pos)
        return feed, csv.reader(
            feed, delimiter=source.delimiter, quotechar=source.quote, strict=True
        )

    good: list[list[str]] = []
    rows: list[int] = []
    bad: list[BadLine] = []
    feed, reader = reader_from(1)
    while True:
        first = feed.pos
        problem = None
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            values, problem = [], f"cannot be split into fields: {exc}"
        line = first + 1  # as an editor numbers it: the header is line 1
        if problem is None and not values:
            continue  # a blank line holds no record
        if problem is None and len(values) == len(header):
            good.append(values)
            rows.append(line)
            continue
        spans = feed.pos - first > 1
        if spans and problem is None:
            problem = (
                f"the record starting on line {line} runs to line {feed.pos} and has "
                f"{len(values)} fields, the header has {len(header)}; line {line} kept as "
                f"text, and reading goes on from line {line + 1}"
            )
        elif spans or "end of data" in (problem or ""):
            problem = (
                f"line {line} opens a quote that is not closed on it, and the record it starts "
                f"cannot be read; kept as text, and reading goes on from line {line + 1}"
            )
        elif problem is None:
            problem = f"row has {len(values)} fields, the header has {len(header)}"
        else:
            problem = f"line {line} {problem}"
        bad.append(_bad_line(path.name, line, problem, lines[first], header, source))
        if spans or problem.startswith(f"line {line} "):
            feed, reader = reader_from(first + 1)
    frame = (
        pl.DataFrame(good, schema=header, orient="row")
        if good
        else pl.DataFrame(schema=dict.fromkeys(header, pl.String))
    )
    return frame.with_columns(pl.Series("_row", rows, dtype=pl.Int64)), bad


def _read_csv(
    name: str, path: Path, source: Source
) -> tuple[pl.DataFrame, list[BadLine], list[str], str]:
    """A CSV file's rows, its lines that do not fit the header, reasons to hold it, its hash.

    Polars reads the values fast, but pads a short row with empty fields, which would pass
    a ragged row off as a record with blanks: so its result is kept only where the file is
    checked to be regular (`_rows_if_regular`), and read record by record otherwise.
    `_row` is the line a record starts on, as an editor numbers it (the header is line 1).
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text, held = _decode(name, path, data, source.encoding)
    if not text.endswith("\n") and source.ends_with_newline:
        held.append(
            f"{path.name} ends part-way through line {text.count(chr(10)) + 1:,} (no line "
            "break after the last record): it looks truncated; ask the partner to send the "
            "whole file"
        )
    first = text[: text.find("\n")].removesuffix("\r") if "\n" in text else text
    header = next(csv.reader([first], delimiter=source.delimiter, quotechar=source.quote))
    values = _polars_values(text, source)
    if values is not None:
        rows = _rows_if_regular(text, values, header, source)
        if rows is not None:
            return values.with_columns(rows), [], held, digest
    # Irregular (a ragged row, an unclosed quote, a blank line): record by record.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    frame, bad = _csv_slow(path, lines[:-1] if text.endswith("\n") else lines, header, source)
    return frame, bad, held, digest


def _rows_if_regular(
    text: str, values: pl.DataFrame, header: list[str], source: Source
) -> pl.Series | None:
    """Each record's first line, if the file is checked in bulk to be one record a line.

    Polars refuses a line with too many fields but pads one with too few. So once Polars
    has read the file, it is regular exactly when the delimiters outside quoted values
    number one fewer than the header's fields on every line, and the line breaks are one
    a record plus those inside quoted values: two counts over the whole text, cheaper by
    far than a look at each line. None: look at each line.
    """
    sep, n = source.delimiter, values.height
    if len(values.columns) != len(header):
        return None
    line_breaks = text.count("\n") + (0 if text.endswith("\n") else 1)
    separators = text.count(sep)
    inside = pl.lit(0, pl.Int64)
    if source.quote in text:  # quoted values may hold delimiters and line breaks
        if line_breaks != n + 1:  # some record spans lines (or a line is blank)
            inside = pl.sum_horizontal(
                pl.all().str.count_matches("\n", literal=True).fill_null(0).cast(pl.Int64)
            )
        separators -= int(
            values.select(
                pl.sum_horizontal(pl.all().str.count_matches(sep, literal=True).fill_null(0))
            )
            .to_series()
            .sum()
        ) + sum(h.count(sep) for h in header)
    breaks = values.select(inside.alias("breaks")).to_series()
    if separators != (len(header) - 1) * (n + 1) or line_breaks != n + 1 + int(breaks.sum()):
        return None
    # A record starts on the line after the one the record before it ended on.
    before = breaks.cum_sum().shift(1, fill_value=0)
    return (pl.int_range(2, n + 2, dtype=pl.Int64, eager=True) + before).alias("_row")


def _polars_values(body: str, source: Source) -> pl.DataFrame | None:
    """The file's values as text, read fast by Polars; None where Polars cannot split it."""
    try:
        return pl.read_csv(
            io.BytesIO(body.encode("utf-8")),
            separator=source.delimiter,
            quote_char=source.quote,
            infer_schema=False,
        )
    except pl.exceptions.PolarsError:
        return None


def _read_xlsx(path: Path, sheet: str) -> pl.DataFrame:
    frame = pl.read_excel(path, sheet_name=sheet)
    text = frame.with_columns(
        pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"),
    ).with_columns(pl.all().cast(pl.String))
    # Excel shows the header on row 1: the first record is row 2.
    return text.with_row_index("_row", offset=2).with_columns(pl.col("_row").cast(pl.Int64))


def _file_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    frames: list[pl.DataFrame] = []
    bad: list[BadLine] = []
    held: list[str] = []
    digest = hashlib.sha256()
    for path in _files(name, source, table, night):
        if source.kind == "csv":
            frame, lines, problems, file_hash = _read_csv(name, path, source)
            bad.extend(lines)
            held.extend(problems)
        else:
            file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
            try:
                if source.kind == "xlsx":
                    assert table.sheet is not None
                    frame = _read_xlsx(path, table.sheet)
                else:
                    frame = pl.read_parquet(path).cast(pl.String).with_row_index("_row", offset=1)
                    frame = frame.with_columns(pl.col("_row").cast(pl.Int64))
            except Exception as exc:  # the reader's own error, reported with the file
                raise ExtractError(name, path.name, f"cannot read as {source.kind}: {exc}") from exc
        digest.update(file_hash.encode())
        frames.append(frame.with_columns(pl.lit(path.name).alias("_file")))
    frame = pl.concat(frames, how="diagonal_relaxed")
    return RawTable(table.name, frame, bad, digest.hexdigest(), held)


def _redact(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"


def _sql_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    import sqlalchemy as sa

    url = resolve(source.location, night)
    query = table.query or f'SELECT * FROM "{table.table}"'
    where = f"{_redact(url)} ({table.table or 'query'})"
    url = _read_only(name, url, where)

    def fetch() -> tuple[list[str], list[Any]]:
        engine = sa.create_engine(url, connect_args=_connect_args(url, source))
        try:
            with engine.connect() as con:
                result = con.execute(sa.text(query))
                return list(result.keys()), list(result.fetchall())
        finally:
            engine.dispose()

    # A database that cannot be reached is tried again; a query it refuses is not.
    retrying = Retrying(
        retry=retry_if_exception_type(sa.exc.OperationalError),
        stop=stop_after_attempt(source.retry.attempts),
        wait=wait_exponential(multiplier=source.retry.backoff_seconds),
        reraise=True,
    )
    try:
        columns, rows = retrying(fetch)
    except sa.exc.OperationalError as exc:
        raise ExtractError(
            name,
            where,
            f"database unreachable after {source.retry.attempts} "
            f"tries: {str(getattr(exc, 'orig', exc)).strip()}",
        ) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise ExtractError(
            name,
            where,
            f"query failed: {exc.__class__.__name__}: "
            f"{str(exc.orig) if hasattr(exc, 'orig') else exc}",
        ) from exc
    frame = _text_frame(rows, columns)
    digest = _frame_hash(frame)
    frame = frame.with_row_index("_row", offset=1).with_columns(
        pl.col("_row").cast(pl.Int64), pl.lit(table.table or table.name).alias("_file")
    )
    return RawTable(table.name, frame, [], digest)


def _read_only(name: str, url: str, where: str) -> str:
    """A SQLite URL opened read-only, so a missing file is an error, never a new empty file."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = Path(url.removeprefix(prefix).split("?", 1)[0])
    if not path.is_file():
        raise ExtractError(name, where, "no database file there (has tonight's extract arrived?)")
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def _text_frame(rows: list[Any], columns: list[str]) -> pl.DataFrame:
    """Database rows as text columns: typed by Polars where it can, one by one where not."""
    try:
        typed = pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
        return typed.with_columns(pl.all().cast(pl.String))
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # SQLite lets a column hold text in one row and a number in the next.
        pass
    return pl.DataFrame(
        [[None if v is None else str(v) for v in r] for r in rows],
        schema=dict.fromkeys(columns, pl.String),
        orient="row",
    )


def _connect_args(url: str, source: Source) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"timeout": source.retry.timeout_seconds}
    if url.startswith("postgresql"):
        return {"connect_timeout": max(1, int(source.retry.timeout_seconds))}
    return {}


def _pages(
    name: str, source: Source, table: TableMapping, night: dt.date
) -> Iterator[pl.DataFrame]:
    """Each page's records as a frame of (possibly nested) columns, following `next` links."""
    base = resolve(source.location, night).rstrip("/")
    headers = {"Authorization": f"Bearer {source.token}"} if source.token else {}
    params = {k: resolve(v, night) for k, v in table.params.items()}
    url: str | None = f"{base}/{table.endpoint.lstrip('/')}" if table.endpoint else base
    page = 0
    with httpx.Client(headers=headers, timeout=source.retry.timeout_seconds) as client:
        while url:
            page += 1
            content = _get_page(name, source, client, url, params if page == 1 else None, page)
            where = f"{url.split('?', maxsplit=1)[0]} page {page}"
            try:  # Polars reads the JSON natively: much faster than dicts for big pages
                body = pl.read_json(io.BytesIO(content), infer_schema_length=None)
            except pl.exceptions.PolarsError as exc:
                raise ExtractError(name, where, f"not JSON of the expected shape: {exc}") from exc
            if table.items not in body.columns or not isinstance(body.schema[table.items], pl.List):
                raise ExtractError(name, where, f"the answer has no list `{table.items}`")
            items = body.select(pl.col(table.items).explode())
            items = items.filter(pl.col(table.items).is_not_null())
            if isinstance(items.schema[table.items], pl.Struct):
                yield items.unnest(table.items)
            nxt = body[table.next][0] if table.next in body.columns else None
            url = str(nxt) if nxt else None


class _TryAgain(Exception):
    """A page the API may give on another try: a dropped connection, a 5xx, a 429."""

    def __init__(self, problem: str, after: float = 0.0) -> None:
        super().__init__(problem)
        self.problem = problem
        self.after = after  # seconds the API asked us to wait (Retry-After)


def _backoff(seconds: float) -> Callable[[RetryCallState], float]:
    """Doubling waits from `seconds`, or longer when the API says when to come back."""
    doubling = wait_exponential(multiplier=seconds)

    def wait(state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome else None
        asked = failed.after if isinstance(failed, _TryAgain) else 0.0
        return max(doubling(state), asked)

    return wait


def _get_page(
    name: str,
    source: Source,
    client: httpx.Client,
    url: str,
    params: dict[str, str] | None,
    page: int,
) -> bytes:
    where = f"{url.split('?', maxsplit=1)[0]} page {page}"

    def get() -> bytes:
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            raise _TryAgain(f"{exc.__class__.__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            raise ExtractError(
                name,
                where,
                f"the API refused the token ({response.status_code}); "
                "renew it in the environment variable the config names",
            )
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            raise _TryAgain(
                "rate limited (429)", float(retry_after) if retry_after.isdigit() else 0
            )
        if response.status_code >= 500:
            raise _TryAgain(f"server error {response.status_code}")
        if response.status_code != 200:
            raise ExtractError(name, where, f"unexpected status {response.status_code}")
        return response.content

    retrying = Retrying(
        retry=retry_if_exception_type(_TryAgain),
        stop=stop_after_attempt(source.retry.attempts),
        wait=_backoff(source.retry.backoff_seconds),
        reraise=True,
    )
    try:
        return retrying(get)
    except _TryAgain as exc:
        raise ExtractError(
            name, where, f"{exc.problem} after {source.retry.attempts} tries"
        ) from exc


def _rest_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    pages = list(_pages(name, source, table, night))
    if pages:
        frame = pl.concat(pages, how="diagonal_relaxed")
        if table.explode:
            frame = frame.explode(table.explode)
        # Nested objects become `parent.child` columns, however deep.
        while structs := [c for c, t in frame.schema.items() if isinstance(t, pl.Struct)]:
            frame = frame.unnest(structs, separator=".")
        lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
        frame = frame.drop(lists).select(pl.all().cast(pl.String))
        frame = frame.select(sorted(frame.columns))
    else:
        # An empty night has no keys to go by: it has every column the mapping reads.
        frame = pl.DataFrame(schema=dict.fromkeys(sorted(table.source_columns()), pl.String))
    frame = frame.with_row_index("_row", offset=1).with_columns(
        pl.col("_row").cast(pl.Int64), pl.lit(table.endpoint).alias("_file")
    )
    return RawTable(table.name, frame, [], _frame_hash(frame))


def _frame_hash(frame: pl.DataFrame) -> str:
    """A fingerprint of a frame's values (not of the page links or the order of keys)."""
    values = frame.select(sorted(c for c in frame.columns if not c.startswith("_")))
    return hashlib.sha256(values.hash_rows(seed=7).to_numpy().tobytes()).hexdigest()


def read_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    """Read one table of a source for a night, whatever columns it has."""
    if source.kind in ("csv", "xlsx", "parquet"):
        return _file_table(name, source, table, night)
    if source.kind == "sql":
        return _sql_table(name, source, table, night)
    return _rest_table(name, source, table, night)


def missing_columns(raw: RawTable, table: TableMapping) -> list[str]:
    """The columns the mapping reads that the extract does not have."""
    return [c for c in table.source_columns() if c not in raw.frame.columns]


def extract_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    """Read one table of a source for a night; every column the mapping reads must be there."""
    raw = read_table(name, source, table, night)
    missing = missing_columns(raw, table)
    if missing:
        files = ", ".join(sorted(set(raw.frame["_file"]))) if raw.frame.height else table.name
        present = [c for c in raw.frame.columns if not c.startswith("_")]
        others = [d for d in (",", ";", "\t", "|") if len(present) == 1 and d in present[0]]
        if source.kind == "csv" and others:
            raise ExtractError(
                name,
                files,
                f"the header reads as one column holding {others[0]!r}: the file looks "
                f"delimited by {others[0]!r} where the source says {source.delimiter!r}; "
                f"missing column(s) {missing}",
            )
        raise ExtractError(
            name,
            files,
            f"missing column(s) {missing}; the mapping for table "
            f"{table.name} reads them; columns present: "
            f"{[c for c in raw.frame.columns if not c.startswith('_')]}",
        )
    return raw
