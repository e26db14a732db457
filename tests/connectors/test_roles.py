"""Columns a partner abroad or a survey holds: a town apart, a birth year, an age."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.config import ConfigError, load_sources
from matching.files import load_link_config, read_extracts

CONFIG = """
linkage: {{mode: dedupe, night: 2020-06-30}}
sources:
  survey:
    agency: survey
    kind: csv
    location: .
    tables:
      - name: people
        file: people.csv
        person_records:
          source_record_id: id
          first_name: first
          last_name: last
          town: suburb
          dob: {dob}
"""
ROWS = "id,first,last,suburb,born,age\n1,Ann,Lee,  north  ryde ,1987,32\n2,Bo,Shaw,Dapto,,x\n"


def _records(tmp_path: Path, dob: str) -> tuple[dict[str, object], ...]:
    (tmp_path / "people.csv").write_text(ROWS)
    (tmp_path / "link.yaml").write_text(CONFIG.format(dob=dob))
    extracts = read_extracts(load_link_config(tmp_path / "link.yaml"))
    issues = tuple(extracts.field_issues.iter_rows(named=True))
    records = extracts.records.sort("source_record_id").select("town", "dob").rows(named=True)
    return (*records, *issues)


def test_a_town_is_kept_apart_and_cleaned_like_a_name(tmp_path: Path) -> None:
    first, second, *_ = _records(tmp_path, "{column: born, format: '%Y'}")
    assert (first["town"], second["town"]) == ("NORTH RYDE", "DAPTO")


def test_a_birth_year_is_the_first_of_january_of_that_year(tmp_path: Path) -> None:
    first, second, *issues = _records(tmp_path, "{column: born, format: '%Y'}")
    assert first["dob"] == dt.date(1987, 1, 1) and second["dob"] is None
    assert not issues  # a blank year is no slip


def test_an_age_gives_the_year_of_birth_and_a_bad_one_is_noted(tmp_path: Path) -> None:
    first, second, *issues = _records(tmp_path, "{column: age, age_on: 2020-04-01}")
    assert first["dob"] == dt.date(1988, 1, 1) and second["dob"] is None
    assert [i["issue"] for i in issues] == [
        "dob in column 'age' is not an age in whole years; left empty"
    ]


def test_age_on_belongs_to_a_date_of_birth_alone(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        ("sources:\n" + CONFIG.split("sources:\n", 1)[1]).format(
            dob="{column: age, age_on: 2020-04-01, format: '%Y'}"
        )
    )
    with pytest.raises(ConfigError, match="`age_on` is for dob only, without `format`"):
        load_sources(tmp_path / "sources.yaml")
