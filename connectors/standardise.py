"""Turn a raw table into our contracts, row by row in meaning but vectorised in Polars.

A row goes through when every field it needs can be read: its ids are there, its dates
parse, its codes are in the mapping. Otherwise the whole row goes to quarantine with every
reason, naming the field and the partner's column. An identifier or postcode that fails
its check, a date of birth that does not parse, or a relationship code the map does not
know, is not a reason to lose the person: the field is left empty and the problem is
noted in `field_issues`, and the row goes through (unless the source marks the field
`required`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from connectors import normalise as nz
from connectors.config import DATE_FIELDS, RECORD_IDS, REQUIRED_FIELDS, FieldSpec, TableMapping
from connectors.extract import RawTable

NAMES = ("first_name", "middle_name", "last_name")
# Dates a person's record carries: one that does not parse is left empty with a note.
SLIPS = frozenset({"dob", "known_since"})
CHECKED = {
    "nhs_number": nz.nhs_number,
    "upn": nz.upn,
    "ni_number": nz.ni_number,
    "phone": nz.phone,
}
# Fields whose values are personal: a reason names the column, never the value.
PERSONAL = frozenset(
    {*NAMES, "dob", "address", "postcode", "nhs_number", "upn", "ni_number", "phone", "email"}
)
QUARANTINE_SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "file": pl.String,
        "row": pl.Int64,
        "reasons": pl.String,
        "raw": pl.String,
    }
)
ISSUE_SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "file": pl.String,
        "row": pl.Int64,
        "field": pl.String,
        "issue": pl.String,
    }
)


@dataclass
class Standardised:
    """What one raw table became."""

    contracts: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    field_issues: pl.DataFrame
    rows_in: int
    rows_staged: int
    # Per contract, the ids (source_record_id for involvements) of records whose rows were
    # quarantined: the partner sent them, so they are not taken for deleted.
    unread: dict[str, list[str]] = field(default_factory=dict)


def _text(spec: FieldSpec, night: dt.date) -> pl.Expr:
    if spec.value is not None:
        return pl.lit(spec.value.replace("{date}", night.isoformat()), pl.String)
    if spec.column is not None:
        return nz.blank_to_null(pl.col(spec.column))
    parts = [nz.blank_to_null(pl.col(c)) for c in spec.source_columns()]
    return nz.blank_to_null(pl.concat_str(parts, separator=", ", ignore_nulls=True))


def _name_part(text: pl.Expr, spec: FieldSpec) -> pl.Expr:
    """One part of a name held in one column, by the partner's layout."""
    if spec.layout == "last, first middle":
        last = text.str.split_exact(",", 1).struct.field("field_0")
        given = text.str.split_exact(",", 1).struct.field("field_1")
    elif spec.layout == "first middle last":
        words = text.str.strip_chars().str.split(" ")
        last = words.list.last()
        given = words.list.slice(0, words.list.len() - 1).list.join(" ")
    else:
        last, given = pl.lit(None, pl.String), text
    words = given.str.strip_chars().str.split(" ")
    chosen = {
        "last": last,
        "first": words.list.first(),
        "middle": words.list.slice(1).list.join(" "),
    }[spec.part or "first"]
    return nz.blank_to_null(chosen)


def _relationship(
    text: pl.Expr, spec: FieldSpec, origin: str
) -> tuple[pl.Expr, pl.Expr, pl.Expr | None]:
    """A relationship in our codes; one the partner leaves blank stays blank.

    A code the map does not know is no reason to lose the person: it is left empty and
    noted. The config allows only codes of the vocabulary (`RELATIONSHIPS`).
    """
    if spec.map is None:  # a constant, checked against the vocabulary with the config
        return text.alias("relationship"), pl.lit(None, pl.String), None
    given = text.fill_null("") if "" in spec.map else text
    # Unknown codes become the default, or null where there is none.
    mapped = given.replace_strict(spec.map, default=spec.default, return_dtype=pl.String)
    value = pl.when(given.is_not_null()).then(mapped)
    issue = None
    if spec.default is None:
        issue = pl.when(given.is_not_null() & ~given.is_in(list(spec.map))).then(
            pl.lit(f"relationship in column '{origin}' is not a code the map knows; left empty")
        )
    return value.alias("relationship"), pl.lit(None, pl.String), issue


def _field(name: str, spec: FieldSpec, night: dt.date) -> tuple[pl.Expr, pl.Expr, pl.Expr | None]:
    """Value, quarantine reason (null where none) and soft issue (None if it cannot have one)."""
    origin = spec.column or (", ".join(spec.columns) if spec.columns else "constant")
    text = _text(spec, night)
    reason: pl.Expr = pl.lit(None, pl.String)
    if spec.part:
        text = _name_part(text, spec)
    if name == "relationship":
        return _relationship(text, spec, origin)
    if spec.map is not None:
        if "" in spec.map:  # the map says what a blank means
            text = text.fill_null("")
        mapped = text.replace_strict(spec.map, default=spec.default, return_dtype=pl.String)
        if spec.default is None:
            known = ", ".join(repr(k) for k in list(spec.map)[:8])
            reason = pl.when(text.is_not_null() & ~text.is_in(list(spec.map))).then(
                pl.format(
                    f"field {name}: {{}} in column '{origin}' is not one of {known}",
                    text.str.slice(0, 40),
                )
            )
        text = mapped
    issue: pl.Expr | None = None
    value: pl.Expr
    if name in DATE_FIELDS:
        fmt = spec.format or "%Y-%m-%d"
        like = f"a date like {fmt}"
        if spec.age_on is not None:  # an age: the year it gives, as 1 January
            like = "an age in whole years"
            years = spec.age_on.year - text.str.strip_chars().cast(pl.Int32, strict=False)
            value = pl.when(years.is_between(1, spec.age_on.year)).then(pl.date(years, 1, 1))
        else:
            value = nz.parse_date(text, fmt, not_after=night if name in SLIPS else None)
        bad = (
            pl.lit(f"field {name}: its value in column '{origin}' is not {like}")
            if name in PERSONAL
            else pl.format(f"field {name}: {{}} in column '{origin}' is not {like}", text)
        )
        unparsed = text.is_not_null() & value.is_null()
        if name in SLIPS and not spec.required:
            # A birth date, or the date a record started, that does not parse or comes
            # after the extract is a slip, not a reason to lose the person: the field is
            # left empty and the slip noted.
            future = value > pl.lit(night)
            issue = (
                pl.when(unparsed)
                .then(pl.lit(f"{name} in column '{origin}' is not {like}; left empty"))
                .when(future)
                .then(pl.lit(f"{name} in column '{origin}' is after the extract; left empty"))
            )
            value = pl.when(~future).then(value)
        else:
            reason = pl.coalesce(reason, pl.when(unparsed).then(bad))
    elif name in NAMES or name == "town":
        value = nz.clean_name(text)
    elif name == "sex":
        value = nz.sex(text)
    elif name == "postcode":
        value = nz.postal_code(text, spec.country)
        whose = {"uk": "a UK postcode", "any": "a postal code"}.get(
            spec.country, f"a postal code of country '{spec.country}'"
        )
        issue = pl.when(text.is_not_null() & value.is_null()).then(
            pl.lit(
                f"postcode in column '{origin}' is not {whose}; left empty (set `country` "
                "on the field if the partner's codes are another country's)"
            )
        )
    elif name in CHECKED:
        value = CHECKED[name](text)
        issue = pl.when(text.is_not_null() & value.is_null()).then(
            pl.lit(f"{name} in column '{origin}' fails its check; left empty")
        )
    elif name == "severity":
        value = text.cast(pl.Int64, strict=False)
        reason = pl.coalesce(
            reason,
            pl.when(text.is_not_null() & value.is_null()).then(
                pl.format(f"field severity: {{}} in column '{origin}' is not a whole number", text)
            ),
        )
    elif name == "attributes":
        cols = spec.source_columns()
        value = pl.struct([pl.col(c) for c in cols]).struct.json_encode() if cols else text
    else:
        value = text
    return value.alias(name), reason, issue


def _skips(contract: str, fields: dict[str, FieldSpec], night: dt.date) -> pl.Expr:
    """Rows that have no row in this contract, and are no worse for it.

    A code the map sends to null (a council-tax account with no recovery stage) means the
    row has no event; an allocation with neither a name nor an email is no allocation.
    """
    skip: pl.Expr = pl.lit(False)
    for spec in fields.values():
        if spec.map and any(v is None for v in spec.map.values()):
            empty = [k for k, v in spec.map.items() if v is None]
            text = _text(spec, night)
            if "" in empty:
                text = text.fill_null("")
            skip = skip | text.is_in(empty).fill_null(False)
    if contract == "involvements":
        who = [_text(fields[f], night) for f in ("professional", "email") if f in fields]
        if who:
            skip = skip | pl.all_horizontal([w.is_null() for w in who])
    return skip


def standardise(raw: RawTable, table: TableMapping, night: dt.date) -> Standardised:
    """Map a raw table onto its contracts; quarantine rows that cannot be, with reasons."""
    frame = raw.frame
    computed: list[pl.Expr] = []  # every value, reason, issue and skip: worked out in one pass
    reasons: list[str] = []
    issues: list[str] = []
    outputs: dict[str, list[str]] = {}
    for contract, fields in table.mappings().items():
        skip = f"_skip.{contract}"
        computed.append(_skips(contract, fields, night).alias(skip))
        outputs[contract] = []
        for name, spec in fields.items():
            value, reason, issue = _field(name, spec, night)
            column = f"_{contract}.{name}"
            outputs[contract].append(column)
            computed += [value.alias(column), reason.alias(f"_why.{column}")]
            reasons.append(f"_why.{column}")
            if issue is not None:
                computed.append(issue.alias(f"_issue.{name}"))
                issues.append(name)
            if name in REQUIRED_FIELDS[contract] or spec.required:
                origin = spec.column or ", ".join(spec.source_columns()) or "constant"
                blank = f"field {name} ({contract}): column '{origin}' is blank" + (
                    "" if name in REQUIRED_FIELDS[contract] else "; this source requires it"
                )
                computed.append(
                    # Blank, not unreadable: a value that did not parse has its own reason.
                    pl.when(value.is_null() & reason.is_null() & ~pl.col(skip))
                    .then(pl.lit(blank))
                    .alias(f"_blank.{column}")
                )
                reasons.append(f"_blank.{column}")
    # Lazily, so Polars works out each shared sub-expression once.
    checked = (
        frame.lazy()
        .with_columns([e for e in computed if e.meta.output_name().startswith("_skip.")])
        .with_columns([e for e in computed if not e.meta.output_name().startswith("_skip.")])
        .with_columns(
            pl.concat_list(reasons)
            .list.drop_nulls()
            .list.unique(maintain_order=True)
            .alias("_reasons")
        )
        .collect()
    )
    bad_rows = checked.filter(pl.col("_reasons").list.len() > 0)
    good = checked.filter(pl.col("_reasons").list.len() == 0)
    quarantine = pl.concat(
        [
            bad_rows.select(
                pl.lit(table.name).alias("table"),
                pl.col("_file").alias("file"),
                pl.col("_row").alias("row"),
                pl.col("_reasons").list.join("; ").alias("reasons"),
                pl.struct(frame.drop("_file", "_row").columns).struct.json_encode().alias("raw"),
            ),
            pl.DataFrame(
                [(table.name, b.file, b.row, b.reason, b.text) for b in raw.bad_lines],
                schema=QUARANTINE_SCHEMA,
                orient="row",
            ),
        ]
    ).cast(QUARANTINE_SCHEMA)
    issue_frames = [
        good.filter(pl.col(f"_issue.{name}").is_not_null()).select(
            pl.lit(table.name).alias("table"),
            pl.col("_file").alias("file"),
            pl.col("_row").alias("row"),
            pl.lit(name).alias("field"),
            pl.col(f"_issue.{name}").alias("issue"),
        )
        for name in issues
    ]
    field_issues = (
        pl.concat(issue_frames).cast(ISSUE_SCHEMA)
        if issue_frames
        else pl.DataFrame(schema=ISSUE_SCHEMA)
    )
    unread = {
        contract: _unread_ids(fields[RECORD_IDS[contract]], bad_rows, raw, night)
        for contract, fields in table.mappings().items()
        if RECORD_IDS[contract] in fields
    }
    contracts: dict[str, pl.DataFrame] = {}
    for contract, columns in outputs.items():
        out = good.filter(~pl.col(f"_skip.{contract}")).select(
            *[pl.col(c).alias(c.split(".", 1)[1]) for c in columns],
            pl.lit(table.name).alias("table"),
            pl.col("_file").alias("file"),
            pl.col("_row").alias("row"),
        )
        # One row a record (or event, or allocation), even where an extract repeats it.
        names = [c.split(".", 1)[1] for c in columns]
        key = {"person_records": ["source_record_id"], "events": ["event_id"]}.get(contract, names)
        contracts[contract] = out.unique(subset=key, keep="first", maintain_order=True)
    return Standardised(
        contracts=contracts,
        quarantine=quarantine,
        field_issues=field_issues,
        rows_in=frame.height + len(raw.bad_lines),
        rows_staged=good.height,
        unread=unread,
    )


def _unread_ids(
    spec: FieldSpec, bad_rows: pl.DataFrame, raw: RawTable, night: dt.date
) -> list[str]:
    """The ids that quarantined rows and unsplittable lines still show, where they show one."""
    ids = bad_rows.select(_text(spec, night).alias("id"))["id"].drop_nulls().to_list()
    if spec.column is not None:
        ids += [b.fields[spec.column] for b in raw.bad_lines if b.fields.get(spec.column)]
    return sorted(set(ids))
