"""`joinedup link files` on extracts from abroad, as a new analyst maps them from headers.

The extracts are written here: a census-like file of people with dates of birth, US street
addresses (house number, street and apartment in columns of their own) and ZIP codes, and
a tax-like file of the same people with their address on one line ("12 Oak St Apt 4"), a
ZIP, no date of birth, and columns that have no contract field (state, age, PO box). Each
test runs the command and checks the evidence it used (in `model.json`, `summary.json`)
and what it printed.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipelines.cli import main

_FIRST = (
    "JAMES MARY ROBERT PATRICIA JOHN JENNIFER MICHAEL LINDA DAVID ELIZABETH WILLIAM BARBARA "
    "RICHARD SUSAN JOSEPH JESSICA THOMAS SARAH CHARLES KAREN CHRISTOPHER LISA DANIEL NANCY "
    "MATTHEW BETTY ANTHONY MARGARET MARK SANDRA DONALD ASHLEY STEVEN KIMBERLY PAUL EMILY"
)
_LAST = (
    "SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ "
    "LOPEZ GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON "
    "WHITE HARRIS SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT "
    "TORRES NGUYEN HILL FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL"
)
FIRST = _FIRST.split()
LAST = _LAST.split()
STREETS = ("oak st", "maple ave", "pine rd", "cedar ln", "elm st", "lake dr", "hill rd")
TOWNS = ("Springfield", "Riverton", "Lakeside", "Fairview")
NIGHT = dt.date(2026, 11, 1)


@dataclass(frozen=True)
class Person:
    """One person of the written world: who they are, and where they live."""

    id: int
    first: str
    last: str
    dob: dt.date
    number: int
    street: str
    unit: str | None
    zip: str
    town: str


def people(n: int = 360, seed: int = 3) -> list[Person]:
    """Households of one to three people at one address; about half of them in flats."""
    rng = random.Random(seed)
    out: list[Person] = []
    while len(out) < n:
        last = rng.choice(LAST)
        number = rng.randint(1, 9999)
        street = rng.choice(STREETS)
        unit = str(rng.randint(1, 40)) if rng.random() < 0.5 else None
        town = rng.choice(TOWNS)
        zip_ = f"{rng.randint(10000, 99999)}"
        for _ in range(rng.randint(1, 3)):
            dob = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 25_000))
            out.append(
                Person(len(out), rng.choice(FIRST), last, dob, number, street, unit, zip_, town)
            )
    return out[:n]


def census(folder: Path, persons: list[Person], dob_format: str = "%Y-%m-%d") -> Path:
    """The people with their dates of birth, address in parts, town and ZIP."""
    path = folder / "census.csv"
    pl.DataFrame(
        {
            "record_id": [f"c{p.id}" for p in persons],
            "first_name": [p.first.lower() for p in persons],
            "last_name": [p.last.lower() for p in persons],
            "date_of_birth": [p.dob.strftime(dob_format) for p in persons],
            "street_number": [str(p.number) for p in persons],
            "street_name": [p.street for p in persons],
            "unit_number": [f"apt {p.unit}" if p.unit else None for p in persons],
            "city": [p.town for p in persons],
            "state": ["WA" for _ in persons],
            "zipcode": [p.zip for p in persons],
        }
    ).write_csv(path)
    return path


def tax(folder: Path, persons: list[Person], rng: random.Random) -> Path:
    """The same people on tax forms: one address line, ZIP+4, an age, no date of birth;
    one in five with a slip in their first name (its last letter left off)."""
    path = folder / "tax.csv"
    pl.DataFrame(
        {
            "form_id": [f"t{p.id}" for p in persons],
            "first": [p.first.title()[: -1 if rng.random() < 0.2 else None] for p in persons],
            "surname": [p.last.title() for p in persons],
            "address": [
                f"{p.number} {p.street.title()}" + (f" Apt {p.unit}" if p.unit else "")
                for p in persons
            ],
            "city": [p.town for p in persons],
            "state": ["WA" for _ in persons],
            "zip": [f"{p.zip}-{rng.randint(1000, 9999)}" for p in persons],
            "age": [str(NIGHT.year - p.dob.year) for p in persons],
            "po_box": [None for _ in persons],
            "phone": ["555 0100" for _ in persons],
        }
    ).write_csv(path)
    return path


CENSUS = """
  census:
    kind: csv
    location: .
    tables:
      - name: people
        file: census.csv
        person_records:
          source_record_id: record_id
          first_name: first_name
          last_name: last_name
          dob: date_of_birth
          address: {columns: [street_number, street_name, unit_number]}
          town: city
          postcode: zipcode
"""
TAX = """
  tax:
    kind: csv
    location: .
    tables:
      - name: forms
        file: tax.csv
        person_records:
          source_record_id: form_id
          first_name: first
          last_name: surname
          address: address
          town: city
          postcode: zip
"""
LINKAGE = f"linkage: {{night: {NIGHT}, u_sample_pairs: 10000, seed: 1}}\n"


@dataclass
class Run:
    """What one run of the command printed and wrote."""

    status: int
    out: str
    err: str
    folder: Path

    def summary(self) -> dict[str, Any]:
        """summary.json."""
        return dict(json.loads((self.folder / "summary.json").read_text()))

    def model(self) -> dict[str, Any]:
        """The Splink settings in model.json."""
        return dict(json.loads((self.folder / "model.json").read_text())["splink_model"])

    def clusters(self) -> pl.DataFrame:
        """clusters.csv."""
        return pl.read_csv(self.folder / "clusters.csv", infer_schema=False)


def _run(folder: Path, config: str, capsys: pytest.CaptureFixture[str], *extra: str) -> Run:
    (folder / "link.yaml").write_text(config)
    out = folder / "out"
    status = main(
        ["link", "files", "--config", str(folder / "link.yaml"), "--out", str(out), *extra]
    )
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err, out)


def _linked(run: Run, left: str, right: str, ids: list[int]) -> float:
    """The share of the people `ids` whose two records are in one cluster."""
    cluster = dict(run.clusters().select("unique_id", "cluster_id").iter_rows())
    together = [cluster[f"{left}:{left[0]}{i}"] == cluster[f"{right}:{right[0]}{i}"] for i in ids]
    return sum(together) / len(ids)


@pytest.fixture
def us_files(tmp_path: Path) -> tuple[Path, list[Person]]:
    """A census and tax forms of the same 360 people, US addresses and ZIPs."""
    persons = people()
    census(tmp_path, persons)
    tax(tmp_path, persons, random.Random(5))
    return tmp_path, persons


def _address_levels(model: dict[str, Any]) -> list[str]:
    address = next(c for c in model["comparisons"] if c["output_column_name"] == "address")
    return [level["label_for_charts"] for level in address["comparison_levels"]]


def _rules(model: dict[str, Any]) -> list[str]:
    return [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]


@pytest.mark.parametrize(
    ("address", "line", "unit"),
    [
        ("12 Oak St Apt 4", "12 OAK ST", "4"),
        ("12, oak st, apt 4", "12 OAK ST", "4"),
        ("Flat 1, 14 Wren View", "14 WREN VIEW", "1"),
        ("FLAT 2 12 STATION ROAD, MILLBROOK", "12 STATION ROAD", "2"),
        ("5112, 145th st, unit d13", "5112 145TH ST", "D13"),
        ("5112, 145th st, aprt no 41 b", "5112 145TH ST", "41B"),
        ("10, oak ave, apartment # 40", "10 OAK AVE", "40"),
        ("33 Suite Street", "33 SUITE STREET", None),
        ("12 High Street, Town", "12 HIGH STREET", None),
    ],
)
def test_the_unit_is_read_apart_from_the_house_number_and_street(
    address: str, line: str, unit: str | None
) -> None:
    from matching.prepare import address_line
    from matching.prepare import unit as unit_of

    got = pl.select(address_line(pl.lit(address)).alias("l"), unit_of(pl.lit(address)).alias("u"))
    assert got.row(0) == (line, unit)


def test_us_addresses_link_on_house_number_street_and_unit(
    us_files: tuple[Path, list[Person]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, persons = us_files
    run = _run(folder, LINKAGE + "sources:" + CENSUS + TAX, capsys, "--postcode-rule", "us")
    assert run.status == 0, run.err
    model = run.model()
    # The address line's parts are evidence: one level for the same home, one for a
    # neighbour in another flat of the building, and a rule that brings the pairs together
    # whatever the first name.
    levels = _address_levels(model)
    assert "Same house number and street (and unit, where both name one)" in levels
    assert "Same building, another unit" in levels
    assert any("address_line" in r and "last_name" in r for r in _rules(model))
    # Half the people live in flats written "apt 4" in a column of its own on one side and
    # "Oak St Apt 4" on one line on the other; one in five tax forms has a slip in the
    # first name.
    assert _linked(run, "census", "tax", [p.id for p in persons]) >= 0.95
    assert (
        "address 'address': compared (address, read as house number, street and unit) "
        "and blocked on" in run.out
    )
    assert "postcode 'zip': compared (address, as postcode, sector and district)" in run.out
    assert run.summary()["postcode_rule"] == "us"


def test_zip_codes_under_the_uk_rule_are_named_with_their_rows_and_the_rule_to_use(
    us_files: tuple[Path, list[Person]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = us_files
    run = _run(folder, LINKAGE + "sources:" + CENSUS + TAX, capsys)
    assert run.status == 0, run.err
    assert (
        "tax: 360 of 360 postcodes in column 'zip' are not UK postcodes (tax.csv rows 2, 3, "
        "4, ...; shaped like 99999-9999): left empty, the records still link; 360 of them "
        "fit the 'us' rule: use --postcode-rule us" in run.out
    )
    assert "postcode 'zipcode': not used: no value in any record read" in run.out
    issues = pl.read_csv(run.folder / "field_issues.csv")
    assert issues.filter(pl.col("field") == "postcode").height == 720
    # Set in the config instead, the rule keeps every ZIP.
    config = LINKAGE.replace("seed: 1", "seed: 1, postcode_rule: us")
    again = _run(folder, config + "sources:" + CENSUS + TAX, capsys, "--force")
    assert again.status == 0, again.err
    assert "postcodes in column" not in again.out
    assert again.summary()["field_issues"] == 0


def test_every_mapped_field_is_used_or_named_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    persons = people()
    census(tmp_path, persons)
    tax(tmp_path, persons, random.Random(5))
    pl.read_csv(tmp_path / "census.csv", infer_schema=False).with_columns(
        pl.lit("40").alias("age")
    ).write_csv(tmp_path / "census.csv")
    extra_census = "          state: state\n          age: age\n"
    extra_tax = "          state: state\n          age: age\n          po_box: po_box\n"
    extra_tax += "          phone: phone\n"
    config = (
        LINKAGE.replace("seed: 1", "seed: 1, postcode_rule: us")
        + "sources:"
        + CENSUS
        + extra_census
        + TAX
        + extra_tax
    )
    run = _run(tmp_path, config, capsys)
    # No source says its agency: link files does not need one.
    assert "agency" not in config
    assert run.status == 0, run.err
    fields = run.summary()["fields"]
    assert fields["tax"]["age"] == (
        f"'age': read as a birth year (the age on {NIGHT}), compared as a date of birth "
        "known only to the year"
    )
    assert fields["census"]["age"].startswith("'age': not used: a date of birth is mapped too")
    assert fields["census"]["dob"] == "'date_of_birth': compared (date of birth) and blocked on"
    assert fields["tax"]["town"] == "'city': compared (town) and blocked on"
    for source in ("census", "tax"):
        assert fields[source]["state"].startswith("'state': not used: a state is shared")
    assert fields["tax"]["po_box"].startswith("'po_box': not used: a PO box is where post")
    assert fields["tax"]["phone"].startswith("'phone': not used: phone numbers")
    # Every field mapped is accounted for, on the terminal too.
    assert set(fields["tax"]) == {
        "source_record_id",
        "first_name",
        "last_name",
        "address",
        "town",
        "postcode",
        "state",
        "age",
        "po_box",
        "phone",
    }
    assert "  po_box 'po_box': not used: a PO box is where post is collected" in run.out
    # The age is evidence: the tax forms have a date-of-birth comparison to go on, a
    # birth year against the census's dates, and the pairs it brings link.
    model = run.model()
    assert "dob" in [c["output_column_name"] for c in model["comparisons"]]
    assert _linked(run, "census", "tax", [p.id for p in persons]) >= 0.95


def test_a_birth_date_that_does_not_parse_is_left_empty_and_its_record_links(
    us_files: tuple[Path, list[Person]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, persons = us_files
    frame = pl.read_csv(folder / "census.csv", infer_schema=False)
    bad = list(range(5, 365, 36))  # ten records, rows 7, 43, ... of the file
    slips = ["1980-02-31", "not known", "31/12/1980", "19800101", "1980-13-01"] * 2
    column = frame["date_of_birth"].to_list()
    for i, slip in zip(bad, slips, strict=True):
        column[i] = slip
    frame.with_columns(pl.Series("date_of_birth", column)).write_csv(folder / "census.csv")
    run = _run(folder, LINKAGE + "sources:" + CENSUS + TAX, capsys, "--postcode-rule", "us")
    assert run.status == 0, run.err
    assert run.summary()["quarantined"] == 0
    issues = pl.read_csv(run.folder / "field_issues.csv").filter(pl.col("field") == "dob")
    assert issues["row"].to_list() == [i + 2 for i in bad]  # as an editor numbers them
    assert set(issues["file"].str.split("/").list.last()) == {"census.csv"}
    assert issues["issue"].str.contains("is not a date like %Y-%m-%d; left empty").all()
    assert (
        "census: 10 of 360 birth dates in column 'date_of_birth' are not dates like %Y-%m-%d "
        "(census.csv rows 7, 43, 79, ...; shaped like 9999-99-99): left empty, the records "
        "still link" in run.out
    )
    assert not any(slip in run.out + run.err for slip in slips)
    assert _linked(run, "census", "tax", [persons[i].id for i in bad]) >= 0.9


def test_a_wrong_date_format_is_named_as_a_date_format_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    persons = people()
    census(tmp_path, persons, dob_format="%m/%d/%Y")
    tax(tmp_path, persons, random.Random(5))
    run = _run(tmp_path, LINKAGE + "sources:" + CENSUS + TAX, capsys)
    assert run.status == 2
    assert "date-format problem: census: 360 of 360 birth dates in column 'date_of_birth'" in (
        run.err
    )
    assert "are not dates like %Y-%m-%d (census.csv rows 2, 3, 4, ...; shaped like 99/99/9999)" in (
        run.err
    )
    assert (
        '360 of them read as %m/%d/%Y: set `dob: {column: date_of_birth, format: "%m/%d/%Y"}`'
        in (run.err)
    )
    assert "training" not in run.err and "saved model" not in run.err
    assert not any(p.dob.strftime("%m/%d/%Y") in run.err for p in persons)
    assert not run.folder.exists()


def test_one_to_one_links_each_record_to_at_most_one_of_the_other_source(
    us_files: tuple[Path, list[Person]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, persons = us_files
    forms = pl.read_csv(folder / "tax.csv", infer_schema=False)
    twice = forms.head(40).with_columns(pl.col("form_id") + "b")  # a second form each
    pl.concat([forms, twice]).write_csv(folder / "tax.csv")
    run = _run(
        folder, LINKAGE + "sources:" + CENSUS + TAX, capsys, "--postcode-rule", "us", "--one-to-one"
    )
    assert run.status == 0, run.err
    assert run.summary()["one_record_per_person"] == ["census", "tax"]
    clusters = run.clusters()
    per_source = clusters.group_by("cluster_id", "source").len()
    assert per_source["len"].max() == 1
    # The second forms scored over the threshold against their census record, and the
    # clustering kept one form of the two.
    pairs = pl.read_csv(run.folder / "pairs.csv", infer_schema=False)
    second = pl.col("unique_id_r").str.ends_with("b")
    refused = pairs.filter(second & (pl.col("refused_by_clustering") == "true"))
    assert refused.height >= 30
    assert _linked(run, "census", "tax", [p.id for p in persons[40:]]) >= 0.95
