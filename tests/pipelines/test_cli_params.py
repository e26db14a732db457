"""The `joinedup` command's shared parts: nights parsed once, --night or --all chosen in
one place, usage errors as one line, and help that loads none of the heavy stages."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pipelines.cli import main
from pipelines.cli.params import NIGHT, PROBABILITY, Nights, UsageError, choose_nights

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "night"),
    [
        ("2026-11-01", dt.date(2026, 11, 1)),
        (" 2024-02-29 ", dt.date(2024, 2, 29)),
        (dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
        (dt.datetime(2026, 1, 2, 23, 59), dt.date(2026, 1, 2)),
    ],
)
def test_a_night_is_a_date(given: object, night: dt.date) -> None:
    assert NIGHT.convert(given, None, None) == night


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("03/11/2026", "'03/11/2026' is not a date: expected YYYY-MM-DD"),
        ("20261101", "'20261101' is not a date: expected YYYY-MM-DD"),
        ("2026-11", "'2026-11' is not a date: expected YYYY-MM-DD"),
        ("2026-W44-1", "'2026-W44-1' is not a date: expected YYYY-MM-DD"),
        ("2026-11-01T00:00", "'2026-11-01T00:00' is not a date: expected YYYY-MM-DD"),
        ("2026-13-01", "'2026-13-01' is not a date (month must be in 1..12): expected"),
        ("2025-02-29", "'2025-02-29' is not a date (day is out of range for month)"),
        ("", "'' is not a date: expected YYYY-MM-DD"),
    ],
)
def test_anything_else_is_refused_with_the_form_expected(given: str, why: str) -> None:
    with pytest.raises(click.BadParameter) as refused:
        NIGHT.convert(given, None, None)
    assert why in refused.value.format_message()


@pytest.mark.parametrize(
    ("argv", "command", "option"),
    [
        (["run", "--night"], "run", "--night"),
        (["link", "run", "--night"], "link run", "--night"),
        (["risk", "score", "--night"], "risk score", "--night"),
        (["alerts", "run", "--night"], "alerts run", "--night"),
        (["sources", "check", "--night"], "sources check", "--night"),
        (["load", "release", "--night"], "load release", "--night"),
        (["world", "--out", "w", "--first-night"], "world", "--first-night"),
        (["risk", "backtest", "--to", "2026-05-01", "--from"], "risk backtest", "--from"),
    ],
)
def test_a_bad_night_names_the_command_and_the_option(
    argv: list[str],
    command: str,
    option: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    assert main([*argv, "1/11/2026"]) == 2
    assert capsys.readouterr().err == (
        f"joinedup {command}: Invalid value for '{option}': '1/11/2026' is not a date: "
        "expected YYYY-MM-DD, e.g. 2026-11-01\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("named", "every", "chosen"),
    [
        (
            (dt.date(2026, 11, 2), dt.date(2026, 11, 1)),
            False,
            [dt.date(2026, 11, 2), dt.date(2026, 11, 1)],
        ),
        ((), True, [dt.date(2026, 1, 1)]),
    ],
)
def test_nights_named_or_every_one(
    named: tuple[dt.date, ...], every: bool, chosen: list[dt.date]
) -> None:
    assert choose_nights(named, every).resolve(lambda: [dt.date(2026, 1, 1)]) == chosen


@pytest.mark.parametrize(
    ("named", "every", "message"),
    [
        ((dt.date(2026, 11, 1),), True, "--night and --all: give one or the other, not both"),
        ((), False, "name a night with --night YYYY-MM-DD, or --all"),
    ],
)
def test_night_and_all_exclude_each_other(
    named: tuple[dt.date, ...], every: bool, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        choose_nights(named, every)


@pytest.mark.parametrize("command", [["run"], ["link", "run"], ["risk", "score"]])
@pytest.mark.parametrize(
    ("nights", "message"),
    [
        (["--all", "--night", "2026-11-01"], "--night and --all: give one or the other, not both"),
        (["--night", "2026-11-01", "--all"], "--night and --all: give one or the other, not both"),
        ([], "name a night with --night YYYY-MM-DD, or --all"),
    ],
)
def test_each_command_of_nights_takes_one_or_the_other(
    command: list[str],
    nights: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    assert main([*command, *nights]) == 2
    assert capsys.readouterr().err == f"joinedup {' '.join(command)}: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_nights_remember_what_was_asked() -> None:
    assert choose_nights((dt.date(2026, 11, 1),), False) == Nights((dt.date(2026, 11, 1),), False)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("1.5", "must be a probability above 0 and below 1, got 1.5"),
        ("0", "must be a probability above 0 and below 1, got 0"),
        ("1", "must be a probability above 0 and below 1, got 1"),
        ("high", "'high' is not a number: expected a probability, e.g. 0.9"),
    ],
)
def test_a_threshold_is_a_probability(given: str, why: str) -> None:
    assert PROBABILITY.convert("0.25", None, None) == 0.25
    with pytest.raises(click.BadParameter) as refused:
        PROBABILITY.convert(given, None, None)
    assert why in refused.value.format_message()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "joinedup: name a command: world, police-api, run, load, sources, link, risk,"),
        (["link"], "joinedup link: name a command: train, run, evaluate, files (see joinedup"),
        (["risk", "train", "--threshold", "0.2"], "joinedup risk train: No such option"),
        (["link", "files", "--out", "x"], "joinedup link files: Missing option '--config'"),
        (["risk", "evaluate", "--kind", "forest"], "joinedup risk evaluate: Invalid value for"),
        (["lnk"], "joinedup: No such command 'lnk'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_command(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("world", "police-api", "run", "load", "sources", "link", "risk", "alerts"):
        assert f"\n  {command} " in out
    assert main(["link", "run", "-h"]) == 0
    out = capsys.readouterr().out
    for option in ("--night YYYY-MM-DD", "--all", "--threshold P", "--full", "--again"):
        assert option in out
    assert "--incremental" not in out


# What `import pipelines.cli` and any command's --help must not load: the stages and the
# libraries they stand on (Dagster alone took 6 to 8 s to import here).
HEAVY = (
    *("dagster", "sklearn", "splink", "duckdb", "polars", "numpy", "scipy", "statsmodels"),
    *("pydantic", "fastapi", "uvicorn", "sqlalchemy", "apprise", "marimo", "rich"),
    *("common", "connectors", "matching", "risk_models", "alerts", "insight", "inbox"),
    "world",
)

LOADED = """
import json, sys
import click
from pipelines.cli import joinedup, main
after_import = sorted(sys.modules)
def walk(command, path):
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, [*path, name])
helps = [[*path, "--help"] for path in walk(joinedup, [])]
codes = [main(argv) for argv in helps]
print(json.dumps({"import": after_import, "helps": helps, "codes": codes,
                  "after": sorted(sys.modules)}))
"""


def test_import_and_every_help_load_none_of_the_stages() -> None:
    console = Path(sys.executable).parent / "joinedup"
    command = [str(console)] if console.is_file() else [sys.executable, "-m", "pipelines.cli"]
    shown = subprocess.run(
        [*command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "link" in shown.stdout and "risk" in shown.stdout
    # One process imports the command, then asks every command and subcommand for help.
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(loaded.stdout.splitlines()[-1])
    assert ["link", "files", "--help"] in found["helps"] and len(found["helps"]) > 30
    assert set(found["codes"]) == {0}
    for when in ("import", "after"):
        heavy = [m for m in found[when] if m.split(".")[0] in HEAVY]
        assert not heavy, f"{when}: {heavy[:10]}"
