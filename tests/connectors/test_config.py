"""A sources file that is wrong stops with the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import ConfigError, load_sources

GOOD = """
sources:
  partner:
    agency: partner
    kind: csv
    location: /tmp/{date}
    tables:
      - name: people
        file: people.csv
        person_records:
          source_record_id: ID
          first_name: First
          dob: {column: Born, format: "%d/%m/%Y"}
"""


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    load_sources(path)


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD)
    source = load_sources(path)["partner"]
    assert source.tables[0].source_columns() == ["ID", "First", "Born"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("first_name: First", "first_nam: First"),
            "sources.partner.tables[0]: person_records: unknown fields ['first_nam'] "
            "(did you mean 'first_name'?)",
        ),
        (("kind: csv", "kind: ftp"), "sources.partner.kind: Input should be 'csv', 'xlsx'"),
        (
            ("          source_record_id: ID\n", ""),
            "person_records: required fields not mapped: ['source_record_id']",
        ),
        (
            ("dob: {column: Born,", "dob: {value: x, column: Born,"),
            "give exactly one of column, columns or value",
        ),
        (("kind: csv", "kind: xlsx"), "table people: an xlsx table needs `sheet`"),
        (
            ("agency: partner", "agency: partner\n    encoding: klingon"),
            "unknown encoding 'klingon'",
        ),
        (
            ("agency: partner", "agency: partner\n    colour: blue"),
            "sources.partner.colour: unknown key; expected one of agency, kind, location",
        ),
        (
            ("location: /tmp/{date}", "location: ${NOT_SET_ANYWHERE}/{date}"),
            "sources.partner.location: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (("  partner:", "  Partner:"), "sources.Partner (as a name): String should match pattern"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert str(tmp_path / "sources.yaml") in str(err.value)
    assert message in str(err.value)


def test_not_yaml_and_no_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        _load(tmp_path, "sources: [unclosed")
    with pytest.raises(ConfigError, match="expected a top-level `sources:` mapping"):
        _load(tmp_path, "partners: {}")
    with pytest.raises(ConfigError, match="cannot read it"):
        load_sources(tmp_path / "missing.yaml")


def test_only_some_sources_need_their_secrets(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        GOOD
        + GOOD.replace("sources:\n", "")
        .replace("partner:", "other:")
        .replace("location: /tmp/{date}", "location: ${NOT_SET_ANYWHERE}")
    )
    assert list(load_sources(path, only=["partner"])) == ["partner"]
    with pytest.raises(ConfigError, match="no source named nobody"):
        load_sources(path, only=["nobody"])
