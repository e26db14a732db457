"""Long steps say what they are doing on stderr, with the seconds, and results stay on stdout."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.progress import step


def test_a_step_is_a_line_when_it_starts_its_stages_and_a_line_with_its_seconds() -> None:
    out = io.StringIO()
    with step("training the linkage model", file=out) as training:
        training.note("u probabilities")
    lines = out.getvalue().splitlines()
    assert lines[0] == "training the linkage model …"
    assert re.fullmatch(r"  u probabilities \(at [0-9.]+ s\)", lines[1])
    assert re.fullmatch(r"training the linkage model: done in [0-9.]+ s", lines[2])


def test_a_step_that_raises_says_it_stopped() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError), step("scoring", file=out):
        raise ValueError("no model")
    assert re.fullmatch(r"scoring: stopped after [0-9.]+ s", out.getvalue().splitlines()[-1])


def test_on_a_terminal_the_spinner_goes_and_the_seconds_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the file as a terminal
    out = io.StringIO()
    with step("making a world", file=out) as making:
        making.note("population")
    shown = out.getvalue()
    assert "making a world: population" in shown  # the spinner's text while it ran
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.rsplit("\r", 1)[-1]).strip()
    assert re.fullmatch(r"making a world: done in [0-9.]+ s", last)


def test_world_says_each_stage_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "world"
    assert main(["world", "--people", "200", "--nights", "1", "--out", str(out)]) == 0
    shown = capsys.readouterr()
    stages = [line.split(" (at ")[0].strip() for line in shown.err.splitlines()[1:-1]]
    assert stages == ["population", "life and risk", "records", "extracts for 2026-11-01", "truth"]
    assert shown.err.splitlines()[-1].startswith(f"making a world of 200 people in {out}: done")
    assert shown.out.startswith("world: 200 people")  # the report, on stdout as before
