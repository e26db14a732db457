"""The threshold chosen in a notebook written back to matching.yaml and risk.yaml as a
reviewed change: one line rewritten under a comment of who, when, why and the old value,
the diff shown, the old file kept, every other line as it was."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from matching import matching_config
from pipelines.cli import main
from pipelines.environment import PACKAGE
from pipelines.threshold_change import (
    MATCHING_KEY,
    RISK_KEY,
    ThresholdChangeError,
    change_threshold,
    preview_threshold,
)
from risk_models.scoring import risk_settings

CONFIG = PACKAGE / "config"
NOW = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the shipped matching.yaml and risk.yaml, to change."""
    for name in ("matching.yaml", "risk.yaml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    return tmp_path


def test_the_risk_threshold_changes_alone_with_who_when_why_and_the_old_value(
    config: Path,
) -> None:
    path = config / "risk.yaml"
    before = path.read_text()
    done = change_threshold(
        path,
        RISK_KEY,
        0.2,
        "A. Analyst",
        "precision 0.41 at 0.2 on 1,200 held out",
        check=risk_settings,
        now=NOW,
    )
    assert (done.key, done.old, done.new) == ("model.threshold", 0.15, 0.2)
    assert risk_settings(path).model.threshold == 0.2
    # Only the one value changed for any reader of the file; the old file is kept.
    old, new = yaml.safe_load(before), yaml.safe_load(path.read_text())
    old["model"]["threshold"] = 0.2
    assert old == new
    assert done.kept == config / "history" / "risk.20261204T093000Z.yaml"
    assert done.kept.read_text() == before
    added = [
        line
        for line in done.diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    removed = [
        line
        for line in done.diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    assert removed == ["-  threshold: 0.15"]
    assert added == [
        "+  # 2026-12-04 09:30 UTC, A. Analyst: threshold 0.15 -> 0.2. precision 0.41 at 0.2 "
        "on 1,200 held out",
        "+  threshold: 0.2",
    ]
    # Another change keeps the history of both.
    change_threshold(
        path, RISK_KEY, 0.25, "B", "capacity", check=risk_settings, now=NOW + dt.timedelta(days=1)
    )
    assert risk_settings(path).model.threshold == 0.25
    assert len(list((config / "history").iterdir())) == 2
    assert path.read_text().count("# 2026-12-0") == 2


def test_a_change_the_loader_refuses_is_put_back(config: Path) -> None:
    path = config / "matching.yaml"
    before = path.read_text()

    def refuse(_: Path) -> None:
        raise ValueError("threshold must be at least 0.5")

    with pytest.raises(ThresholdChangeError, match="refused, so put back"):
        change_threshold(path, MATCHING_KEY, 0.3, "A", "why", check=refuse)
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("value", "who", "why", "message"),
    [
        (1.5, "A", "why", "must be between 0 and 1"),
        (0.8, "", "why", "say who changes threshold and why"),
        (0.8, "A", " ", "say who changes threshold and why"),
        (0.9, "A", "why", "already 0.9"),
    ],
)
def test_bad_changes_write_nothing(
    config: Path, value: float, who: str, why: str, message: str
) -> None:
    path = config / "matching.yaml"
    before = path.read_text()
    with pytest.raises(ThresholdChangeError, match=message):
        change_threshold(path, MATCHING_KEY, value, who, why)
    assert path.read_text() == before
    assert not (config / "history").exists()


def test_a_key_not_on_a_line_of_its_own_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("model: {kind: boosted, threshold: 0.15}\n")
    with pytest.raises(ThresholdChangeError, match=r"no line setting model\.threshold"):
        change_threshold(path, RISK_KEY, 0.2, "A", "why")


def test_the_command_shows_the_diff_then_writes(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config / "matching.yaml"
    monkeypatch.setenv("JOINEDUP_MATCHING", str(path))
    preview = preview_threshold(path, MATCHING_KEY, 0.85, "A", "F1 best at 0.85")
    assert "-threshold: 0.9\n+# " in preview and "+threshold: 0.85\n" in preview
    assert matching_config(path).threshold == 0.9  # a preview writes nothing
    # Asked, and refused: nothing written.
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    assert main(["notebook", "threshold", "linkage", "0.85", "--why", "F1", "--by", "A"]) == 1
    assert matching_config(path).threshold == 0.9
    capsys.readouterr()
    assert (
        main(["notebook", "threshold", "linkage", "0.85", "--why", "F1", "--by", "A", "--yes"]) == 0
    )
    out = capsys.readouterr().out
    assert "+threshold: 0.85" in out and "threshold 0.9 -> 0.85; the old file kept as" in out
    assert matching_config(path).threshold == 0.85
