"""Versioned artifacts: v10 comes after v9, and a name that is no version is passed over."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.versions import latest, next_path, version_number, versions


@pytest.mark.parametrize(
    ("name", "prefix", "suffix", "number"),
    [
        ("linkage-v3.json", "linkage", ".json", 3),
        ("linkage-v10.json", "linkage", ".json", 10),
        ("linkage-v007.json", "linkage", ".json", 7),
        ("risk-v2", "risk", "", 2),
        ("linkage-v3.json.bak", "linkage", ".json", None),
        ("linkage-v3", "linkage", ".json", None),
        ("linkage-vX.json", "linkage", ".json", None),
        ("linkage-v.json", "linkage", ".json", None),
        ("linkage-v-1.json", "linkage", ".json", None),
        ("old-linkage-v3.json", "linkage", ".json", None),
        ("risk-v2.md", "risk", "", None),
        ("risk-v٣", "risk", "", None),  # an Arabic-Indic three is a digit, not a version
        ("a.b-v1.txt", "a.b", ".txt", 1),
        ("axb-v1.txt", "a.b", ".txt", None),
    ],
)
def test_version_numbers_parse_or_are_none(
    name: str, prefix: str, suffix: str, number: int | None
) -> None:
    assert version_number(name, prefix, suffix) == number


not_versions = st.from_regex(r"(old-)?linkage-v[0-9a-z.]{0,6}(\.json)?(\.bak)?", fullmatch=True)


@given(
    st.sets(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12),
    st.lists(not_versions.filter(lambda n: version_number(n, "linkage", ".json") is None)),
)
def test_the_latest_is_the_highest_number_whatever_else_is_there(
    numbers: set[int], others: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        for name in [*(f"linkage-v{n}.json" for n in numbers), *others]:
            (here / name).touch()
        assert latest(here, "linkage", ".json") == here / f"linkage-v{max(numbers)}.json"
        assert next_path(here, "linkage", ".json") == here / f"linkage-v{max(numbers) + 1}.json"
        assert [n for n, _ in versions(here, "linkage", ".json")] == sorted(numbers)


def test_the_latest_file_and_the_next_one(tmp_path: Path) -> None:
    for name in ("linkage-v9.json", "linkage-v10.json", "linkage-v2.json", "linkage-v11.json.tmp"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "notes.md").write_text("")
    (tmp_path / "risk-v4").mkdir()
    assert latest(tmp_path, "linkage", ".json") == tmp_path / "linkage-v10.json"
    assert next_path(tmp_path, "linkage", ".json") == tmp_path / "linkage-v11.json"
    assert [n for n, _ in versions(tmp_path, "linkage", ".json")] == [2, 9, 10]


def test_the_latest_folder_and_the_next_one(tmp_path: Path) -> None:
    for name in ("risk-v1", "risk-v2", "risk-v12", "risk-vnext"):
        (tmp_path / name).mkdir()
    (tmp_path / "risk-v2" / "risk-v99").mkdir()  # inside a version: not one of the folder's
    assert latest(tmp_path, "risk") == tmp_path / "risk-v12"
    assert next_path(tmp_path, "risk") == tmp_path / "risk-v13"
    assert not next_path(tmp_path, "risk").exists()


def test_no_folder_or_no_version_starts_at_one(tmp_path: Path) -> None:
    assert latest(tmp_path / "models", "risk") is None
    assert versions(tmp_path / "models", "risk") == []
    assert next_path(tmp_path / "models", "risk") == tmp_path / "models" / "risk-v1"
    (tmp_path / "linkage-v3.json.old").write_text("")
    assert latest(tmp_path, "linkage", ".json") is None
    assert next_path(tmp_path, "linkage", ".json") == tmp_path / "linkage-v1.json"
