"""Read a partner's extract as it is: files, a SQL database or a REST API, into text frames.

Every value arrives as text (Excel dates as ISO text), with `_file` and `_row` saying
where it came from (`_row` is the data row's number in its file, 1 for the first row under
the header), so standardisation can name the file and row of anything it rejects.
A line that cannot be read at all (a ragged row, an unclosed quote) is kept aside as a
`BadLine` with its reason; a file that cannot be read at all raises `ExtractError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from connectors.config import Source, TableMapping


class ExtractError(Exception):
    """A table of a source could not be read; the message names source, file, row and field."""

    def __init__(self, source: str, where: str, message: str) -> None:
        super().__init__(f"{source}: {where}: {message}")
        self.source = source
        self.where = where


@dataclass(frozen=True)
class BadLine:
    """A line of a file that could not be split into the header's columns."""

    file: str
    row: int
    reason: str
    text: str


@dataclass
class RawTable:
    """One table as extracted: text columns plus `_file` and `_row`."""

    name: str
    frame: pl.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)
    content_hash: str = ""


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


def _decode(source_name: str, path: Path, data: bytes, encoding: str) -> str:
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
    return text.removeprefix("\ufeff")


def _csv_slow(path: Path, text: str, source: Source) -> tuple[pl.DataFrame, list[BadLine]]:
    """Split a malformed CSV record by record, keeping the lines that fit the header."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=source.delimiter,
        quotechar=source.quote,
        strict=True,
    )
    header: list[str] = []
    good: list[list[str]] = []
    rows: list[int] = []
    bad: list[BadLine] = []
    record = 0
    while True:
        start_line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # Nothing after this point can be split reliably: keep all of it, as text.
            rest = "\n".join(text.splitlines()[start_line - 1 :])
            reason = f"cannot split line {start_line} or anything after it: {exc}"
            bad.append(BadLine(path.name, record + 1, reason, rest))
            break
        if not header:
            header = values
            continue
        record += 1
        if len(values) != len(header):
            bad.append(
                BadLine(
                    path.name,
                    record,
                    f"line {start_line} has {len(values)} fields, the header has {len(header)}",
                    source.delimiter.join(values)[:200],
                )
            )
            continue
        good.append(values)
        rows.append(record)
    frame = (
        pl.DataFrame(good, schema=header, orient="row")
        if good
        else pl.DataFrame(schema=dict.fromkeys(header, pl.String))
    )
    return frame.with_columns(pl.Series("_row", rows, dtype=pl.Int64)), bad


def _read_csv(name: str, path: Path, source: Source) -> tuple[pl.DataFrame, list[BadLine], str]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = _decode(name, path, data, source.encoding)
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=source.delimiter,
            quote_char=source.quote,
            infer_schema=False,
        )
        frame = frame.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))
        bad: list[BadLine] = []
    except pl.exceptions.PolarsError:
        frame, bad = _csv_slow(path, text, source)
    return frame, bad, digest


def _read_xlsx(path: Path, sheet: str) -> pl.DataFrame:
    frame = pl.read_excel(path, sheet_name=sheet)
    text = frame.with_columns(
        pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"),
    ).with_columns(pl.all().cast(pl.String))
    return text.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))


def _file_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    frames: list[pl.DataFrame] = []
    bad: list[BadLine] = []
    digest = hashlib.sha256()
    for path in _files(name, source, table, night):
        if source.kind == "csv":
            frame, lines, file_hash = _read_csv(name, path, source)
            bad.extend(lines)
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
    return RawTable(table.name, pl.concat(frames, how="diagonal_relaxed"), bad, digest.hexdigest())


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
    last: Exception | None = None
    for attempt in range(source.retry.attempts):
        engine = sa.create_engine(url, connect_args=_connect_args(url, source))
        try:
            with engine.connect() as con:
                result = con.execute(sa.text(query))
                columns = list(result.keys())
                rows = result.fetchall()
            break
        except sa.exc.OperationalError as exc:
            last = exc
            time.sleep(source.retry.backoff_seconds * 2**attempt)
        except sa.exc.SQLAlchemyError as exc:
            raise ExtractError(
                name,
                where,
                f"query failed: {exc.__class__.__name__}: "
                f"{str(exc.orig) if hasattr(exc, 'orig') else exc}",
            ) from exc
        finally:
            engine.dispose()
    else:
        raise ExtractError(
            name,
            where,
            f"database unreachable after {source.retry.attempts} "
            f"tries: {str(getattr(last, 'orig', last)).strip()}",
        )
    frame = _text_frame(list(rows), columns)
    digest = _frame_hash(frame)
    frame = frame.with_row_index("_row", offset=1).with_columns(
        pl.col("_row").cast(pl.Int64), pl.lit(table.table or table.name).alias("_file")
    )
    return RawTable(table.name, frame, [], digest)


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


def _get_page(
    name: str,
    source: Source,
    client: httpx.Client,
    url: str,
    params: dict[str, str] | None,
    page: int,
) -> bytes:
    where = f"{url.split('?', maxsplit=1)[0]} page {page}"
    for attempt in range(source.retry.attempts):
        wait = source.retry.backoff_seconds * 2**attempt
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            problem = f"{exc.__class__.__name__}: {exc}"
        else:
            if response.status_code in (401, 403):
                raise ExtractError(
                    name,
                    where,
                    f"the API refused the token ({response.status_code}); "
                    "renew it in the environment variable the config names",
                )
            if response.status_code == 429:
                retry_after = response.headers.get("Retry-After", "")
                wait = max(wait, float(retry_after) if retry_after.isdigit() else wait)
                problem = "rate limited (429)"
            elif response.status_code >= 500:
                problem = f"server error {response.status_code}"
            elif response.status_code != 200:
                raise ExtractError(name, where, f"unexpected status {response.status_code}")
            else:
                return response.content
        if attempt + 1 < source.retry.attempts:
            time.sleep(wait)
    raise ExtractError(name, where, f"{problem} after {source.retry.attempts} tries")


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


def extract_table(name: str, source: Source, table: TableMapping, night: dt.date) -> RawTable:
    """Read one table of a source for a night."""
    if source.kind in ("csv", "xlsx", "parquet"):
        raw = _file_table(name, source, table, night)
    elif source.kind == "sql":
        raw = _sql_table(name, source, table, night)
    else:
        raw = _rest_table(name, source, table, night)
    missing = [c for c in table.source_columns() if c not in raw.frame.columns]
    if missing:
        files = ", ".join(sorted(set(raw.frame["_file"]))) if raw.frame.height else table.name
        raise ExtractError(
            name,
            files,
            f"missing column(s) {missing}; the mapping for table "
            f"{table.name} reads them; columns present: "
            f"{[c for c in raw.frame.columns if not c.startswith('_')]}",
        )
    return raw
