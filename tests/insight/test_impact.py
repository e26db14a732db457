"""`joinedup insight impact` on a linked, scored and alerted world, and the world's answer
to the alerts: every count it writes passes the disclosure rule, each estimate carries the
planted effect, and the world's future changes only where the planted effect says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from alertedworld import alerted_data, passes, report_counts
from riskworld import N1, N2, risk_world

from pipelines.cli import main
from world.followup import answer

pytestmark = pytest.mark.slow

COUNT_KEYS = {"persons", "alerted", "compared"}


@pytest.fixture(scope="module")
def alerted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data folder whose two nights are scored and alerted, and the world."""
    return alerted_data(tmp_path_factory), risk_world(tmp_path_factory).world


def _impact(data: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("JOINEDUP_DATA", str(data))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    monkeypatch.delenv("JOINEDUP_STORE", raising=False)
    return main(["insight", "impact", "--night", N1.isoformat(), *args])


def test_every_count_written_passes_the_rule_and_estimates_carry_the_truth(
    alerted: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, world = alerted
    out = data / "impact"
    assert _impact(data, "--world", str(world), "--out", str(out), monkeypatch=monkeypatch) == 0
    found = json.loads((out / "impact.json").read_text())
    found_counts = report_counts(found, COUNT_KEYS)
    assert len(found_counts) >= 6
    assert all(passes(c) for c in found_counts), found_counts
    assert found["did"] is not None and found["did"]["truth"] < 0  # the world plants 0.6
    shown = re.findall(r"class='count'>([^<]*)<", (out / "impact.html").read_text())
    assert len(shown) >= 6
    assert all(passes(c) for c in shown), shown


def test_without_a_world_the_outcome_must_have_happened(
    alerted: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = alerted
    assert _impact(data, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert "not known yet" in err and str(N2) in err


def test_the_world_changes_only_the_followed_up_and_only_as_planted(
    alerted: tuple[Path, Path],
) -> None:
    _, world = alerted
    some = pl.DataFrame({"truth_id": list(range(0, 4000, 3)), "alerted_on": N1})
    nobody = some.clear()
    untreated = answer(world, nobody, N1, 182)
    helped = answer(world, some, N1, 182, hazard_ratio=0.3)
    harmed = answer(world, some, N1, 182, hazard_ratio=3.0)
    assert answer(world, some, N1, 182, hazard_ratio=0.3).equals(helped)  # the same future
    same = answer(world, some, N1, 182, hazard_ratio=1.0)
    assert same["serious"].equals(untreated["serious"])
    followed = helped["followed_up_on"].is_not_null()
    assert int(followed.sum()) == some.height
    # Elsewhere nothing changes; where followed up, a lower hazard only takes events away.
    assert helped.filter(~followed)["serious"].equals(untreated.filter(~followed)["serious"])
    assert not (helped["serious"] & ~untreated["serious"]).any()
    assert not (untreated["serious"] & ~harmed["serious"]).any()
    assert (helped.filter(followed)["effect"] < 0).all()
    assert (harmed.filter(followed)["effect"] > 0).all()
    assert helped["serious"].sum() < untreated["serious"].sum() < harmed["serious"].sum()
