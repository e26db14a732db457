"""One loader for every config: a wrong file says which file, which line, which key, what was
expected and what was given, and an unknown key is met with the closest known one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from common.config import ConfigError, closest, key_path, load_settings, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Retry(_Strict):
    attempts: int = Field(4, ge=1)
    backoff_seconds: float = 0.5


class Table(_Strict):
    name: str
    kind: Literal["csv", "sql"] = "csv"


class Source(_Strict):
    location: str
    token: str | None = None
    retry: Retry = Retry()
    tables: list[Table] = []
    continue_: bool = Field(False, alias="continue")


class Linkage(_Strict):
    threshold: float = Field(0.9, gt=0, lt=1)
    rules: dict[str, Retry] = {}


class Settings(_Strict):
    sources: dict[Annotated[str, Field(pattern=r"^[a-z]+$")], Source] = {}
    linkage: Linkage = Linkage()


GOOD = """\
sources:
  police:
    location: https://api.example/v1
    token: ${JOINEDUP_TEST_TOKEN}
    retry:
      attempts: 3
    tables:
      - name: incidents
      - name: people
        kind: sql
linkage:
  threshold: 0.8
"""


def _load(path: Path, expand_env: bool = True) -> Settings:
    return load_settings(path, Settings, expand_env=expand_env)


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        _load(path)
    return str(err.value)


def test_a_good_file_loads_with_its_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_TEST_TOKEN", "s3cret")
    path = tmp_path / "settings.yaml"
    path.write_text(GOOD)
    found = _load(path)
    assert found.sources["police"].token == "s3cret"
    assert found.sources["police"].tables[1].kind == "sql"
    assert found.linkage.threshold == 0.8


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            ("  threshold: 0.8", "  treshold: 0.8"),
            ":12: linkage.treshold: unknown key; did you mean 'threshold'?",
        ),
        (
            ("      attempts: 3", "      atempts: 3"),
            ":6: sources.police.retry.atempts: unknown key; did you mean 'attempts'?",
        ),
        (
            ("        kind: sql", "        knd: sql"),
            ":10: sources.police.tables[1].knd: unknown key; did you mean 'kind'?",
        ),
        (
            ("    token:", "    Continue: true\n    token:"),
            ":4: sources.police.Continue: unknown key; did you mean 'continue'?",
        ),
        (
            ("    token:", "    colour: blue\n    token:"),
            ":4: sources.police.colour: unknown key; expected one of location, token, retry,",
        ),
        (
            ("  threshold: 0.8", "  threshold: 1.5"),
            ":12: linkage.threshold: Input should be less than 1 (got 1.5)",
        ),
        (
            ("  threshold: 0.8", "  threshold: [0.8, 0.9]"),
            ":12: linkage.threshold: Input should be a valid number (got [0.8, 0.9])",
        ),
        (
            ("        kind: sql", "        kind: ftp"),
            ":10: sources.police.tables[1].kind: Input should be 'csv' or 'sql' (got 'ftp')",
        ),
        (
            ("      attempts: 3", "      attempts: many"),
            ":6: sources.police.retry.attempts: Input should be a valid integer, unable to "
            "parse string as an integer (got 'many')",
        ),
        (
            ("      - name: incidents\n", "      - kind: csv\n"),
            ":8: sources.police.tables[0].name: missing: a value is required",
        ),
        (("  police:", "  Police:"), ":2: sources.Police (as a name): String should match"),
        (("    retry:\n      attempts: 3\n", "    retry:\n"), ":5: sources.police.retry: Input"),
    ],
)
def test_a_wrong_setting_names_file_line_key_expected_and_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], says: str
) -> None:
    monkeypatch.setenv("JOINEDUP_TEST_TOKEN", "s3cret")
    path = tmp_path / "settings.yaml"
    text = GOOD.replace(*change)
    assert text != GOOD
    path.write_text(text)
    message = _error(path)
    assert f"{path}{says}" in message, message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sources: [unclosed\n", ":2: not valid YAML: while parsing a flow sequence"),
        ("a: 1\n b: 2\n", ":2: not valid YAML: mapping values are not allowed here"),
        ("- 1\n- 2\n", ": expected a mapping of settings, not a list"),
        ("linkage: 3\n", ":1: linkage: Input should be a valid dictionary"),
        ("linkage: [1, 2]\n", ":1: linkage: Input should be a valid dictionary"),
    ],
)
def test_a_file_that_is_not_settings_is_named_with_its_line(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    assert f"{path}{says}" in _error(path)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert _error(missing) == f"{missing}: cannot read it: No such file or directory"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"linkage:\n  threshold: 0.5\n# caf\xe9\n")
    assert _error(latin) == f"{latin}:3: cannot read it: not UTF-8 text"


def test_an_empty_file_is_every_default(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("# nothing set\n")
    assert _load(path) == Settings()


def test_a_missing_variable_names_file_line_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOINEDUP_TEST_TOKEN", raising=False)
    path = tmp_path / "settings.yaml"
    path.write_text(GOOD)
    assert _error(path) == (
        f"{path}:4: sources.police.token: environment variable JOINEDUP_TEST_TOKEN is not set"
    )
    assert _load(path, expand_env=False).sources["police"].token == "${JOINEDUP_TEST_TOKEN}"


def test_a_wrong_value_from_the_environment_is_never_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_TEST_ATTEMPTS", "hunter2")
    path = tmp_path / "settings.yaml"
    path.write_text(
        "sources:\n  x:\n    location: x\n    retry: {attempts: '${JOINEDUP_TEST_ATTEMPTS}'}\n"
    )
    message = _error(path)
    assert "sources.x.retry.attempts: Input should be a valid integer" in message
    assert "(got a value from the environment)" in message and "hunter2" not in message


def test_a_password_in_a_url_is_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("linkage:\n  threshold: postgresql://me:pa55@host/db\n")
    message = _error(path)
    assert "(got 'postgresql://me:***@host/db')" in message and "pa55" not in message


def test_a_long_value_is_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f"linkage:\n  threshold: {'x' * 500}\n")
    given = _error(path).split("(got ", 1)[1]
    assert len(given) < 70 and given.endswith("…)")


def test_every_problem_is_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("linkage:\n  threshold: 2\n  rules:\n    a: {attempts: 0}\n")
    assert _error(path).splitlines() == [
        f"{path}:2: linkage.threshold: Input should be less than 1 (got 2)",
        f"{path}:4: linkage.rules.a.attempts: Input should be greater than or equal to 1 (got 0)",
    ]


def test_a_section_is_read_alone_and_named_in_keys(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text("other: {anything: '${NOT_SET_ANYWHERE}'}\nlinkage:\n  treshold: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, Linkage, section="linkage")
    assert str(err.value) == f"{path}:3: linkage.treshold: unknown key; did you mean 'threshold'?"
    path.write_text("other: 1\n")
    assert load_settings(path, Linkage, section="linkage") == Linkage()
    path.write_text("[1]\n")
    with pytest.raises(ConfigError, match="expected a mapping with a `linkage:` key, not a list"):
        load_settings(path, Linkage, section="linkage")


def test_overrides_win_and_are_not_given_the_file_s_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("linkage:\n  threshold: 0.5\n")
    found = load_settings(path, Settings, overrides={"linkage.threshold": "0.7"})
    assert found.linkage.threshold == 0.7
    assert load_settings(None, Linkage, overrides={"threshold": 0.6}).threshold == 0.6
    with pytest.raises(ConfigError) as err:
        load_settings(path, Settings, overrides={"linkage.threshold": "7"})
    assert str(err.value) == (
        f"{path}: linkage.threshold: Input should be less than 1 (got '7', given as an override)"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path, Settings, overrides={"linkage.threshold.x": "7"})
    assert (
        str(err.value)
        == "override linkage.threshold.x: linkage.threshold is the value 0.5, not a mapping"
    )


def test_line_numbers_follow_anchors_and_merges(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("base: &b {attempts: 1}\nlist:\n  - *b\n  - {<<: *b, backoff_seconds: 2}\n")
    file = read_yaml(path)
    assert file.data["list"][1] == {"attempts": 1, "backoff_seconds": 2}
    assert file.line(("list", 1, "backoff_seconds")) == 4
    assert file.line(("list", 0, "attempts")) == 1
    # An alias is where its anchor is: that is where to mend it.
    assert file.line(("list", 0, "nowhere", 3)) == 1
    assert file.where(()) == str(path)


@pytest.mark.parametrize(
    ("keys", "written"),
    [
        (("sources", "police", "tables", 0, "file"), "sources.police.tables[0].file"),
        (("sources", "Police", "[key]"), "sources.Police (as a name)"),
        (("overrides", "a.b@x.org", "email"), "overrides['a.b@x.org'].email"),
        ((), ""),
    ],
)
def test_key_paths_read_as_they_are_written(keys: tuple[str | int, ...], written: str) -> None:
    assert key_path(keys) == written


@pytest.mark.parametrize(
    ("word", "choices", "found"),
    [
        ("treshold", ["threshold", "capacity"], "threshold"),
        ("Threshold", ["threshold"], "threshold"),
        ("cooldown_days", ["cool_down_days", "dedup_period_days"], "cool_down_days"),
        ("colour", ["location", "token"], None),
    ],
)
def test_the_closest_key_is_a_likely_slip_or_none(
    word: str, choices: list[str], found: str | None
) -> None:
    assert closest(word, choices) == found
