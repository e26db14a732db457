"""Sources as configuration: one entry a partner, validated before anything is read.

A partner's extract is taken in by writing YAML, not Python: where its files (or database,
or API) are, how they are encoded, and how their columns map onto our contracts
(`person_records`, `events`, `involvements`), with value mappings and date formats.
`load_sources` reads the file, puts `${VARIABLE}` secrets in from the environment, and
stops with the file, the key and what was expected if anything is wrong.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Re-exported: one error for every config.
from common.config import ConfigError as ConfigError  # noqa: PLC0414
from common.config import ConfigFile, closest, expand_env, read_yaml, validate

CONTRACTS = ("person_records", "events", "involvements")

# The fields each contract has, and those a row cannot do without.
CONTRACT_FIELDS: dict[str, tuple[str, ...]] = {
    "person_records": (
        "source_record_id",
        "first_name",
        "middle_name",
        "last_name",
        "dob",
        "sex",
        "address",
        "town",
        "postcode",
        "uprn",
        "nhs_number",
        "upn",
        "ni_number",
        "phone",
        "email",
        "ethnicity",
        "household_ref",
        "relationship",
        "known_since",
    ),
    "events": (
        "event_id",
        "source_record_id",
        "type",
        "date",
        "severity",
        "referral_source",
        "attributes",
    ),
    "involvements": (
        "source_record_id",
        "professional",
        "email",
        "team",
        "role",
        "from_date",
        "to_date",
    ),
}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "person_records": ("source_record_id",),
    "events": ("event_id", "source_record_id", "type", "date"),
    "involvements": ("source_record_id", "role"),
}
# The field that names the record a row stands for: a quarantined row with a readable one
# is known to have been sent. An involvement has no id of its own, only its person's.
RECORD_IDS: dict[str, str] = {
    "person_records": "source_record_id",
    "events": "event_id",
    "involvements": "source_record_id",
}
DATE_FIELDS = frozenset({"dob", "known_since", "date", "from_date", "to_date"})
# A person's place in a tenancy or family, as the partner that holds `household_ref` states
# it. A partner's codes map onto these; what a partner does not say stays blank.
RELATIONSHIPS = (
    "lead_tenant",  # the tenancy's lead (first-named) tenant
    "joint_tenant",  # a tenant named on the tenancy beside the lead
    "partner",  # the lead's partner or spouse
    "child",  # a child of the household
    "parent_carer",  # a parent or carer of a child in the family
    "other_adult",  # an adult member who is none of the above
    "household_member",  # a member the partner says no more about
)
NAME_LAYOUTS = ("first middle", "last, first middle", "first middle last")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """How one contract field is read from a partner's columns.

    Exactly one of `column`, `columns` or `value` says where the value comes from.
    """

    column: str | None = None
    columns: list[str] | None = Field(None, description="joined with ', ', blanks left out")
    value: str | None = Field(None, description="a constant, for fields the extract implies")
    format: str | None = Field(None, description="strftime format of a date, e.g. %d/%m/%Y")
    map: dict[str, str | None] | None = Field(
        None, description="partner code to our code; the key '' says what a blank means"
    )
    default: str | None = Field(None, description="for codes not in the map; unset: quarantine")
    required: bool = Field(False, description="a row with this field blank is quarantined")
    country: Literal["uk", "us", "au", "ie", "any"] = Field(
        "uk", description="postcode: whose postal codes the column holds (any: any code)"
    )
    age_on: datetime.date | None = Field(
        None,
        description="dob: the column holds an age in whole years on this date; the birth "
        "year it gives is kept as 1 January of that year",
    )
    part: Literal["first", "middle", "last"] | None = None
    layout: Literal["first middle", "last, first middle", "first middle last"] = "first middle"

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        given = [k for k in ("column", "columns", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of column, columns or value (got {given or 'none'})"
            )
        return self

    def source_columns(self) -> list[str]:
        """The partner's columns this field reads."""
        if self.column is not None:
            return [self.column]
        return list(self.columns or [])


def _check_relationship(spec: FieldSpec) -> None:
    """A relationship is a code of RELATIONSHIPS: a partner's own words must be mapped."""
    known = ", ".join(RELATIONSHIPS)
    codes: list[str | None]
    if spec.value is not None:
        codes = [spec.value]
    elif spec.map is None:
        raise ValueError(
            f"person_records: relationship needs a map from the partner's codes to ours ({known})"
        )
    else:
        codes = [*spec.map.values(), *([spec.default] if spec.default is not None else [])]
    wrong = [c for c in codes if c not in RELATIONSHIPS]
    if wrong:
        raise ValueError(f"person_records: relationship maps to {wrong}; use one of {known}")


def _as_spec(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


class TableMapping(_Strict):
    """One table of a partner's extract (a file, a sheet, a query, an endpoint) and its mapping."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    file: str | None = Field(None, description="file name or glob inside the source's folder")
    sheet: str | None = Field(None, description="worksheet, for xlsx")
    table: str | None = Field(None, description="table name, for sql")
    query: str | None = Field(None, description="a SELECT, for sql")
    endpoint: str | None = Field(None, description="path under the API's base URL, for rest")
    params: dict[str, str] = Field(default_factory=dict, description="query parameters, for rest")
    items: str = Field("items", description="field of a page holding the records, for rest")
    next: str = Field("next", description="field of a page holding the next page's URL")
    explode: str | None = Field(None, description="a list field: one row for each element")
    person_records: dict[str, FieldSpec] | None = None
    events: dict[str, FieldSpec] | None = None
    involvements: dict[str, FieldSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `first_name: Forename` is short for `first_name: {column: Forename}`.
        if isinstance(data, dict):
            for contract in CONTRACTS:
                if isinstance(data.get(contract), dict):
                    data = {**data, contract: {k: _as_spec(v) for k, v in data[contract].items()}}
        return data

    @model_validator(mode="after")
    def _fields_known(self) -> TableMapping:
        mapped = [c for c in CONTRACTS if getattr(self, c)]
        if not mapped:
            raise ValueError("map the table onto at least one of " + ", ".join(CONTRACTS))
        for contract in mapped:
            fields: dict[str, FieldSpec] = getattr(self, contract)
            unknown = sorted(set(fields) - set(CONTRACT_FIELDS[contract]))
            if unknown:
                near = [n for u in unknown if (n := closest(u, CONTRACT_FIELDS[contract]))]
                meant = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
                raise ValueError(
                    f"{contract}: unknown fields {unknown}{meant}; "
                    f"known: {', '.join(CONTRACT_FIELDS[contract])}"
                )
            missing = [f for f in REQUIRED_FIELDS[contract] if f not in fields]
            if missing:
                raise ValueError(f"{contract}: required fields not mapped: {missing}")
        if self.person_records and "relationship" in self.person_records:
            _check_relationship(self.person_records["relationship"])
        for contract in mapped:
            for field_name, spec in getattr(self, contract).items():
                if spec.country != "uk" and field_name != "postcode":
                    raise ValueError(f"{contract}: {field_name}: `country` is for postcode only")
                if spec.age_on is not None and (field_name != "dob" or spec.format):
                    raise ValueError(
                        f"{contract}: {field_name}: `age_on` is for dob only, without `format`"
                    )
        return self

    def mappings(self) -> dict[str, dict[str, FieldSpec]]:
        """The contracts this table feeds, with their field specs."""
        return {c: getattr(self, c) for c in CONTRACTS if getattr(self, c)}

    def source_columns(self) -> list[str]:
        """Every partner column the mapping reads: the extract must have them all."""
        cols: list[str] = []
        for fields in self.mappings().values():
            for spec in fields.values():
                cols.extend(c for c in spec.source_columns() if c not in cols)
        return cols


class Retry(_Strict):
    """How a flaky database or API is retried."""

    attempts: int = Field(4, ge=1, le=20)
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="doubles after each try")
    timeout_seconds: float = Field(30, gt=0, le=600)


class Source(_Strict):
    """One partner system and how to take its extract."""

    agency: str
    kind: Literal["csv", "xlsx", "parquet", "sql", "rest"]
    location: str = Field(
        description="folder (files), database URL (sql) or base URL (rest); "
        "{date} is the night, ${VAR} comes from the environment"
    )
    encoding: str = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    token: str | None = Field(None, description="bearer token, for rest: use ${VARIABLE}")
    retry: Retry = Retry()
    row_count_tolerance: float = Field(
        0.2,
        ge=0,
        le=10,
        description="hold a load whose rows in differ from the last good load's by more than "
        "this share",
    )
    max_close_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="hold a load that would close more than this share of the partner's "
        "current person records or events",
    )
    ends_with_newline: bool = Field(
        True,
        description="csv: the partner's files end with a line break, so one that does not "
        "is taken for truncated and held",
    )
    tables: list[TableMapping] = Field(min_length=1)

    @model_validator(mode="after")
    def _kind_fits(self) -> Source:
        for t in self.tables:
            where = {
                "csv": t.file,
                "parquet": t.file,
                "xlsx": t.file,
                "sql": t.table or t.query,
                "rest": t.endpoint,
            }[self.kind]
            if not where:
                need = {
                    "csv": "file",
                    "parquet": "file",
                    "xlsx": "file",
                    "sql": "table or query",
                    "rest": "endpoint",
                }[self.kind]
                raise ValueError(f"table {t.name}: a {self.kind} source needs `{need}`")
            if self.kind == "xlsx" and not t.sheet:
                raise ValueError(f"table {t.name}: an xlsx table needs `sheet`")
        try:
            "".encode(self.encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {self.encoding!r}") from exc
        return self


class SourcesFile(_Strict):
    """The whole sources file."""

    sources: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Source]


def source_files(path: Path) -> list[Path]:
    """The sources file and, after it, each file in the `sources.d/` folder beside it.

    A new partner is added by a file of its own in `sources.d/`, not by editing the
    shipped file.
    """
    return [path, *sorted((path.parent / "sources.d").glob("*.y*ml"))]


def _read_entries(path: Path) -> dict[Path, ConfigFile]:
    """Each sources file as read, refusing a name given in two files."""
    entries: dict[Path, ConfigFile] = {}
    seen: dict[str, Path] = {}
    for file in source_files(path):
        doc = read_yaml(file)
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("sources"), dict):
            raise ConfigError(f"{file}: expected a top-level `sources:` mapping of partner names")
        for name in doc.data["sources"]:
            if name in seen:
                raise ConfigError(
                    f"{doc.where(('sources', name))}: source {name!r} is already defined in "
                    f"{seen[name]}; give the new partner a name of its own"
                )
            seen[name] = file
        entries[file] = doc
    return entries


def sources_in(file: ConfigFile, only: Collection[str] | None = None) -> dict[str, Source]:
    """The sources of one file as read (`read_yaml`), validated, secrets from the environment.

    Args:
        file: a file with a top-level `sources:` mapping (any other top-level key is refused).
        only: names of the sources to keep (all if None); secrets of the others are not needed.

    Raises:
        ConfigError: naming the file, the line, the key and what was expected.
    """
    sources = file.data["sources"]
    kept = {k: v for k, v in sources.items() if only is None or k in only}
    if not kept:
        return {}
    expanded = expand_env({**file.data, "sources": kept}, origin=file)
    return validate(SourcesFile, expanded, origin=file).sources


def load_sources(path: Path, only: list[str] | None = None) -> dict[str, Source]:
    """Read and validate a sources file and its `sources.d/`; secrets come from the environment.

    Args:
        path: the YAML file.
        only: names of the sources to keep (all if None); secrets of the others are not needed.

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    entries = _read_entries(path)
    known = [n for doc in entries.values() for n in doc.data["sources"]]
    if only is not None:
        unknown = sorted(set(only) - set(known))
        if unknown:
            raise ConfigError(
                f"{path}: no source named {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
    found: dict[str, Source] = {}
    for doc in entries.values():
        found.update(sources_in(doc, only))
    return {n: found[n] for n in known if n in found}


def source_names(path: Path) -> dict[str, str]:
    """Each source's name and agency, read without secrets: for building the pipeline's graph."""
    try:
        entries = _read_entries(path)
        return {
            name: str(entry.get("agency", name))
            for doc in entries.values()
            for name, entry in doc.data["sources"].items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot list its sources: {exc}") from exc
