"""The analyst's risk notebook, run headless against a trained model: the model's figures,
a threshold re-judged on its held-out persons, the reasons of the flags; nothing personal
printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from notebookrun import assert_nothing_personal, run_in_process
from riskworld import RiskWorld, risk_world

from pipelines.cli import main
from risk_models.scoring import risk_settings

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "risk_review.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture
def data(rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    monkeypatch.delenv("JOINEDUP_RISK_MODEL", raising=False)
    return rw.data(tmp_path / "data")


def _headless(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The notebook as CI and an analyst's script run it."""
    return subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=300,
        check=False,
    )


def test_headless_prints_the_model_figures_and_nothing_personal(data: Path) -> None:
    done = _headless(os.environ)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((data / "models" / "risk-v1" / "boosted" / "evaluation.json").read_text())
    t = saved["threshold"]
    assert (
        f"risk-v1 (boosted): held-out AUC {saved['auc']:.3f}, average precision "
        f"{saved['average_precision']:.3f}, ECE {saved['ece']:.4f}; at 0.15: precision "
        f"{t['precision']:.3f}, recall {t['recall']:.3f}; "
        f"top {saved['context']['capacity a night']:,}: "
    ) in done.stdout
    assert "against the world's truth: AUC 0." in done.stdout
    assert "calibration: 10 groups of persons" in done.stdout
    assert re.search(r"disparities at 0\.15: \d+ groups by sex, ethnicity, age_band", done.stdout)
    # The slider starts at the operating threshold: the same persons and flags as training's.
    assert (
        f"At 0.15: {t['flagged']:,} of {saved['persons']:,} held-out persons flagged, "
        f"{t['true_flags']:,} rightly"
    ) in done.stdout
    assert "top reasons of the flags at 0.15: " in done.stdout

    # Nothing about a person: no ids, no dates, no names of anyone in the warehouse.
    assert_nothing_personal(done.stdout + done.stderr, data / "warehouse.duckdb")


def test_the_threshold_rejudges_the_held_out_persons(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, defs = run_in_process(NOTEBOOK, {"chosen": 0.1})
    printed = capsys.readouterr().out
    rejudged = defs["rejudged"]
    # The command judges the same held-out persons at the same threshold the same way.
    assert main(["risk", "evaluate", "--threshold", "0.1"]) == 0
    capacity = risk_settings().model.capacity  # the teams' in alerts.yaml
    folder = data / "models" / "risk-v1" / "boosted" / "reviews"
    review = folder / f"t0.1-c{capacity}" / "evaluation.json"
    cut = json.loads(review.read_text())["threshold"]
    assert (rejudged.threshold.flagged, rejudged.threshold.true_flags) == (
        cut["flagged"],
        cut["true_flags"],
    )
    assert (
        f"At 0.1: {cut['flagged']:,} of {rejudged.persons:,} held-out persons flagged, "
        f"{cut['true_flags']:,} rightly; precision {cut['precision']:.3f}"
    ) in printed
    curve = defs["curve"]
    assert 0.1 in curve["threshold"].to_list()
    assert curve["flagged"].is_sorted(descending=True)
    # The reasons are counted over those flags, and small counts are suppressed.
    reasons = defs["reasons"]
    counted = reasons["as_first"].drop_nulls()
    assert counted.len() and counted.min() >= 10
    assert counted.sum() <= cut["flagged"]
    assert f"top reasons of the flags at 0.1: {reasons['feature'][0]} " in printed
    # The model's figures read as a table with named headers, a row a figure.
    figures = defs["figures"]
    assert figures.columns == ["figure", "held-out persons", "the world's truth"]
    assert "average precision" in figures["figure"].to_list()
    assert not [c for c in figures.columns if c.startswith("column")]


def test_without_a_model_the_notebook_says_what_to_do(
    rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rw.data(tmp_path / "bare", risk_model=False)
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "bare"))
    monkeypatch.delenv("JOINEDUP_RISK_MODEL", raising=False)
    done = _headless(os.environ)
    assert done.returncode == 1
    assert "no trained risk model: run `joinedup risk train` first" in done.stderr
