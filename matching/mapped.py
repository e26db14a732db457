"""What `link files` makes of each field an analyst maps, and of the values that failed.

An analyst maps an extract's headers onto fields. Each mapped field is either used
(compared, blocked on, or read as something else) or named as unused with the reason,
on the terminal and in `summary.json`. Fields beyond the connectors' contract that
analysts map (an age, a state or county, a PO box) are taken in here, before the
connectors validate the sources: an age stands for a birth year where no date of birth
is mapped; the others are set aside and named.

A postcode that fails its rule, or a date of birth that does not parse, is left empty for
that record and noted in `field_issues.csv` (file, row, field, reason), and the record
still links. The terminal gets the count and the first rows, with the rule or format that
fits the failing values, if one does. Where more than half of a column's birth dates fail,
the format is wrong, not the dates: the run stops before any training and says so.

Values are never printed: a failing value is shown by its shape (`99/99/9999`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from connectors import normalise as nz

POSTCODE_RULES = ("uk", "us", "au", "ie", "any")
RULE_NAMES = {
    "uk": "UK postcodes",
    "us": "US ZIP codes",
    "au": "Australian postcodes",
    "ie": "Eircodes",
    "any": "postal codes of any country",
}
# Formats tried on birth dates that fail the one given, most common layouts first.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y%m%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d %B %Y",
)
# A column whose birth dates fail more often than this has the wrong format.
WRONG_FORMAT_SHARE = 0.5
EXAMPLE_ROWS = 3

# Fields beyond the contract, by the names analysts give them, and why each is set aside
# (an age is read as a birth year where it can be: `take_beyond_contract`).
SET_ASIDE = {
    "state": "a state is shared by too many people to tell two apart, and the town and "
    "postcode already place a record; not compared",
    "county": "a county is shared by too many people to tell two apart, and the town and "
    "postcode already place a record; not compared",
    "region": "a region is shared by too many people to tell two apart, and the town and "
    "postcode already place a record; not compared",
    "po_box": "a PO box is where post is collected, not where the person lives; not "
    "compared (map it as `address` only where a partner gives nothing else)",
}
BEYOND_CONTRACT = ("age", *SET_ASIDE)

# How each contract field is used: the comparison it feeds, the prepared columns a
# blocking rule on it reads, and what is done with it.
USES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "first_name": ("first_name", ("first_name", "first_name_group"), "first name"),
    "middle_name": ("middle_name", (), "middle name or initial"),
    "last_name": ("last_name", ("last_name",), "surname"),
    "dob": ("dob", ("dob",), "date of birth"),
    "sex": ("sex", (), "sex"),
    "address": (
        "address",
        ("address_line", "house_number", "street"),
        "address, read as house number, street and unit",
    ),
    "town": ("town", ("town",), "town"),
    "postcode": (
        "address",
        ("postcode", "postcode_sector", "postcode_district"),
        "address, as postcode, sector and district",
    ),
    "uprn": ("address", ("uprn",), "address, as the property"),
    "nhs_number": ("nhs_number", ("nhs_number",), "NHS number"),
    "upn": ("upn", ("upn",), "UPN"),
    "ni_number": ("ni_number", ("ni_number",), "NI number"),
}
UNUSED = {
    "phone": "phone numbers are shared in households and change often; not compared",
    "email": "email addresses are not compared",
    "ethnicity": "not evidence of who a record is; not compared",
    "household_ref": "read by the nightly households only, not by link files",
    "relationship": "read by the nightly households only, not by link files",
    "known_since": "when a partner first knew the person: not evidence of who it is",
}


@dataclass(frozen=True)
class Aside:
    """A mapped field that goes nowhere, or goes somewhere else than its name says."""

    source: str
    field: str
    columns: str
    why: str


def _columns(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if "column" in spec:
            return str(spec["column"])
        if "columns" in spec:
            return ", ".join(map(str, spec["columns"]))
    return "a constant"


def take_beyond_contract(
    sources: dict[str, Any], night: dt.date, postcode_rule: str | None
) -> tuple[dict[str, Any], list[Aside]]:
    """The `sources:` block as the connectors take it, and the fields taken out of it.

    Each source's `agency` defaults to its name (link files does not read it); postcode
    fields without a `country` take `postcode_rule` (None: the connectors' UK default); an
    `age` mapped where no `dob` is becomes `dob` with `age_on` (its age on `night`, unless
    given); an age beside a `dob`, a state, county, region or PO box is taken out and
    named.
    """
    asides: list[Aside] = []
    out: dict[str, Any] = {}
    for name, entry in sources.items():
        if not isinstance(entry, dict):
            out[name] = entry
            continue
        given = {"agency": name, **entry}
        tables = given.get("tables")
        if isinstance(tables, list):
            given["tables"] = [
                _table(name, t, night, postcode_rule, asides) if isinstance(t, dict) else t
                for t in tables
            ]
        out[name] = given
    return out, asides


def _table(
    source: str,
    table: dict[str, Any],
    night: dt.date,
    postcode_rule: str | None,
    asides: list[Aside],
) -> dict[str, Any]:
    people = table.get("person_records")
    if not isinstance(people, dict):
        return table
    people = dict(people)
    for field in [f for f in BEYOND_CONTRACT if f in people]:
        spec = people.pop(field)
        if field == "age" and "dob" not in people:
            age = {"column": spec} if isinstance(spec, str) else dict(spec)
            age.setdefault("age_on", night)
            people["dob"] = age
            asides.append(
                Aside(
                    source,
                    "age",
                    _columns(spec),
                    f"read as a birth year (the age on {age['age_on']}), compared as a "
                    "date of birth known only to the year",
                )
            )
        elif field == "age":
            asides.append(
                Aside(
                    source,
                    "age",
                    _columns(spec),
                    "a date of birth is mapped too, and says more; an age stands for a "
                    "birth year only where no dob is mapped; not compared",
                )
            )
        else:
            asides.append(Aside(source, field, _columns(spec), SET_ASIDE[field]))
    postcode = people.get("postcode")
    if postcode_rule is not None and postcode is not None:
        spec = {"column": postcode} if isinstance(postcode, str) else dict(postcode)
        spec.setdefault("country", postcode_rule)
        people["postcode"] = spec
    return {**table, "person_records": people}


def _shape(value: pl.Expr) -> pl.Expr:
    """A value with its digits as 9 and letters as A: its layout, never itself."""
    return value.str.replace_all(r"[0-9]", "9").str.replace_all(r"\p{L}", "A")


def _text(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    parts = [nz.blank_to_null(pl.col(c).cast(pl.String)) for c in columns]
    return nz.blank_to_null(pl.concat_str(parts, separator=", ", ignore_nulls=True))


@dataclass(frozen=True)
class Failed:
    """The values of one mapped column that failed their rule or format, left empty."""

    source: str
    field: str
    file: str
    columns: str
    failed: int
    given: int
    rows: tuple[int, ...]
    shape: str
    tried: str
    fits: str | None  # the rule or format most of them fit, if any does
    fit_count: int

    @property
    def wrong_format(self) -> bool:
        """Most of the column fails: the format, not the dates."""
        return self.field == "dob" and self.failed > WRONG_FORMAT_SHARE * self.given

    def where(self) -> str:
        """The file and the first failing rows."""
        rows = ", ".join(str(r) for r in self.rows)
        more = ", ..." if self.failed > len(self.rows) else ""
        return f"{self.file} row{'s' if len(self.rows) > 1 else ''} {rows}{more}"

    def line(self) -> str:
        """For the terminal: count, rows, shape, what was tried, and what to do."""
        if self.field == "postcode":
            head = (
                f"{self.source}: {self.failed:,} of {self.given:,} postcodes in column "
                f"'{self.columns}' are not {RULE_NAMES[self.tried]} ({self.where()}; "
                f"shaped like {self.shape}): left empty, the records still link"
            )
            if self.fits is not None:
                return (
                    f"{head}; {self.fit_count:,} of them fit the '{self.fits}' rule: use "
                    f"--postcode-rule {self.fits} (or linkage.postcode_rule, or `country:` on "
                    "the field)"
                )
            return f"{head}; check the column holds postcodes (--postcode-rule any keeps any code)"
        head = (
            f"{self.source}: {self.failed:,} of {self.given:,} birth dates in column "
            f"'{self.columns}' are not dates like {self.tried} ({self.where()}; shaped like "
            f"{self.shape})"
        )
        if self.wrong_format:
            fix = (
                f"; {self.fit_count:,} of them read as {self.fits}: set `dob: {{column: "
                f'{self.columns}, format: "{self.fits}"}}`'
                if self.fits
                else "; give the column's format as `dob: {column: ..., format: ...}`"
            )
            return f"date-format problem: {head}{fix}. Nothing was linked or written"
        return f"{head}: left empty, the records still link (each in field_issues.csv)"


def failed_values(
    source: str,
    raw: pl.DataFrame,
    people: dict[str, Any],
    issues: pl.DataFrame,
    rule: str,
    date_format: str,
) -> list[Failed]:
    """The postcodes and birth dates of one table that failed, with what they fit instead.

    Args:
        source: the source's name.
        raw: the table as read, with `_file` and `_row`.
        people: its `person_records` field specs (`connectors.FieldSpec`).
        issues: its field issues (`row`, `field`, `issue`).
        rule: the postcode field's rule.
        date_format: the dob field's format.
    """
    found = []
    for field, tried in (("postcode", rule), ("dob", date_format)):
        spec = people.get(field)
        if spec is None or spec.value is not None or spec.age_on is not None:
            continue
        bad_rows = issues.filter(
            (pl.col("field") == field) & pl.col("issue").str.contains(" is not ")
        ).select("file", "row")
        if bad_rows.is_empty():
            continue
        columns = spec.source_columns()
        text = raw.select("_file", "_row", _text(raw, columns).alias("v"))
        given = text["v"].count()
        bad = text.join(bad_rows, left_on=["_file", "_row"], right_on=["file", "row"])
        if field == "postcode":
            tries = {r: nz.postal_code(pl.col("v"), r) for r in POSTCODE_RULES if r != tried}
        else:
            formats = [f for f in DATE_FORMATS if f != tried]
            tries = {f: nz.parse_date(pl.col("v"), f) for f in formats}
        counts = bad.select(*(e.is_not_null().sum().alias(k) for k, e in tries.items())).row(
            0, named=True
        )
        best = max(counts, key=lambda k: counts[k], default=None)
        # 'any' fits nearly anything: offered only where no country's rule fits.
        fits = best if best is not None and counts[best] > bad.height / 2 else None
        first = bad.sort("_row").head(EXAMPLE_ROWS)
        found.append(
            Failed(
                source=source,
                field=field,
                file=str(first["_file"][0]),
                columns=", ".join(columns),
                failed=bad.height,
                given=given,
                rows=tuple(first["_row"].to_list()),
                shape=str(first.select(_shape(pl.col("v")))["v"][0]),
                tried=tried,
                fits=fits,
                fit_count=counts[fits] if fits else 0,
            )
        )
    return found


def field_uses(
    mapped: dict[str, dict[str, str]],
    asides: list[Aside],
    records: pl.DataFrame,
    model: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Each source's mapped fields, each with how it was used or why it was not.

    Args:
        mapped: source to field to the columns it reads.
        asides: fields taken out before the connectors read the sources.
        records: the standardised records, with `source`.
        model: the model the run linked with.
    """
    compared = {c["output_column_name"] for c in model["comparisons"]}
    rules = " ".join(
        r["blocking_rule"] if isinstance(r, dict) else str(r)
        for r in model.get("blocking_rules_to_generate_predictions", [])
    )
    out: dict[str, dict[str, str]] = {}
    for source, fields in mapped.items():
        mine = records.filter(pl.col("source") == source)
        uses: dict[str, str] = {}
        for field, columns in fields.items():
            where = f"'{columns}'"
            if field == "source_record_id":
                uses[field] = f"{where}: the record's id"
                continue
            if field in UNUSED:
                uses[field] = f"{where}: not used: {UNUSED[field]}"
                continue
            if field not in USES:
                continue
            comparison, blocked, what = USES[field]
            if field in mine.columns and mine[field].null_count() == mine.height:
                uses[field] = (
                    f"{where}: not used: no value in any record read (see field_issues.csv)"
                )
            elif comparison not in compared:
                uses[field] = (
                    f"{where}: not used: the model has no {comparison} comparison (no other "
                    "record has one, or the saved model lacks it)"
                )
            else:
                how = f"{where}: compared ({what})"
                if any(f"{c}" in rules for c in blocked):
                    how += " and blocked on"
                uses[field] = how
        for aside in asides:
            if aside.source == source:
                if aside.why.startswith("read as"):  # the age is the dob: one line for it
                    uses.pop("dob", None)
                uses[aside.field] = f"'{aside.columns}': " + (
                    aside.why if aside.why.startswith("read as") else f"not used: {aside.why}"
                )
        out[source] = uses
    return out


def use_lines(uses: dict[str, dict[str, str]]) -> list[str]:
    """Each source's fields, used and unused, a line each for the terminal."""
    lines = []
    for source, fields in uses.items():
        lines.append(f"{source}: fields mapped:")
        lines += [f"  {field} {how}" for field, how in fields.items()]
    return lines
