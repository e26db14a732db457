"""`joinedup sources check` tries a source's config on a sample without writing anything,
and a new partner is added by a file of its own in `sources.d/`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ingest_faults import EXAMPLE, HEADER, caseload_row
from worldfiles import SOURCES_FILE

from connectors.config import ConfigError, load_sources, source_names
from pipelines.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped sources file with the youth justice partner added in sources.d/."""
    folder = tmp_path / "config"
    (folder / "sources.d").mkdir(parents=True)
    shutil.copy(SOURCES_FILE, folder / "sources.yaml")
    shutil.copy(EXAMPLE, folder / "sources.d" / "youth_justice.yaml")
    monkeypatch.setenv("JOINEDUP_SOURCES", str(folder / "sources.yaml"))
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("YJS_DROP", str(tmp_path / "drop"))
    monkeypatch.setenv("JOINEDUP_WORLD", str(tmp_path / "world"))  # the shipped sources read it
    monkeypatch.setenv("JOINEDUP_POLICE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    return folder / "sources.yaml"


def sample(tmp_path: Path, lines: list[str], encoding: str = "cp1252") -> Path:
    path = tmp_path / "yjs_caseload_sample.csv"
    path.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding))
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        [
            "sources",
            "check",
            "--source",
            "youth_justice",
            "--file",
            str(path),
            "--night",
            "2026-11-01",
        ]
    )
    return code, capsys.readouterr().out


def test_a_partner_in_sources_d_is_loaded_beside_the_shipped_ones(config: Path) -> None:
    sources = load_sources(config)
    assert list(sources)[-1] == "youth_justice" and "health" in sources
    assert source_names(config)["youth_justice"] == "youth_justice"


def test_a_name_given_twice_is_refused_naming_both_files(config: Path) -> None:
    shutil.copy(EXAMPLE, config.parent / "sources.d" / "yjs_again.yaml")
    with pytest.raises(ConfigError) as err:
        load_sources(config)
    # Files are read in name order: the second to name it is refused.
    assert "youth_justice.yaml:4: source 'youth_justice' is already defined in" in str(err.value)
    assert str(config.parent / "sources.d" / "yjs_again.yaml") in str(err.value)


def test_a_sample_is_checked_and_nothing_is_written(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_date = caseload_row(3).replace(caseload_row(3).split(";")[3], "31.02.10")
    ragged = ";".join(caseload_row(4).split(";")[:6])
    path = sample(tmp_path, [caseload_row(1), caseload_row(2), bad_date, ragged, caseload_row(5)])
    code, out = check(path, capsys)
    assert code == 0, out
    assert "youth_justice (night 2026-11-01): would load; nothing was written" in out
    assert "columns the mapping reads: 11 of 11 found" in out
    assert "rows in 5: would be staged 4, quarantined 1" in out
    assert (
        "field left empty 1: dob in column 'D.O.B.' is not a date like %d.%m.%y; left empty"
        " (rows 4)" in out
    )
    assert "quarantined 1: row has 6 fields, the header has 11 (rows 5)" in out
    # Dates as parsed: a two-digit year read into the wrong century would show here.
    assert "person_records.dob: 2006-02-07 to 2006-07-05; 1 blank" in out
    assert "events.date: 2026-01-12 to 2026-02-25; 0 blank" in out
    assert not (tmp_path / "data").exists()


def test_a_sample_that_would_not_load_says_why(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(sample(tmp_path, [caseload_row(1)], encoding="utf-8"), capsys)
    assert code == 1
    assert "would NOT load cleanly" in out and "WOULD HOLD" in out
    assert "it looks like UTF-8" in out
    commas = sample(tmp_path, [caseload_row(1).replace(";", ",")])
    commas.write_bytes(commas.read_bytes().replace(b";", b","))
    code, out = check(commas, capsys)
    assert code == 1
    assert "MISSING: ['YJS Ref'" in out


def test_every_source_is_checked_against_its_night(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sources", "check", "--source", "youth_justice", "--night", "2026-11-01"]) == 1
    out = capsys.readouterr().out
    assert "cannot be read: youth_justice: " in out and "no file found" in out
    assert main(["sources", "check", "--file", "x.csv"]) == 2
    assert "--file needs --source" in capsys.readouterr().err
