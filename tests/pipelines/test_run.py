"""`joinedup run` runs the nightly job in this process, on Dagster's code path."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.warehouse import Warehouse
from pipelines.cli import main
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer


def test_run_loads_each_night_and_says_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = generate(WorldConfig(people=1_200, seed=8, nights=2), tmp_path / "world").out
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    with BackgroundServer(world, "tok") as server:
        monkeypatch.setenv("JOINEDUP_POLICE_URL", server.url)
        assert main(["run", "--all"]) == 0
        out = capsys.readouterr().out
        assert "night 2026-11-01: complete" in out and "night 2026-11-02: complete" in out
        assert "FAILED" not in out
        # Again: nothing new, nothing failed, nothing written twice.
        assert main(["run", "--night", "2026-11-01", "--night", "2026-11-02"]) == 0
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    try:
        statuses = wh.run("SELECT status, count(*) FROM loads GROUP BY status ORDER BY 1")
    finally:
        wh.close()
    assert dict(statuses).get("failed") is None
    assert sum(n for _, n in statuses) == 14


def test_run_without_the_police_api_fails_that_source_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = generate(WorldConfig(people=800, seed=2, nights=1), tmp_path / "world").out
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.delenv("JOINEDUP_POLICE_URL", raising=False)
    monkeypatch.delenv("JOINEDUP_POLICE_TOKEN", raising=False)
    assert main(["run", "--night", "2026-11-01"]) == 1
    out = capsys.readouterr().out
    assert "night 2026-11-01: finished with failures" in out
    assert "environment variable JOINEDUP_POLICE_URL is not set" in out
    assert out.count(" complete ") == 6


def test_run_needs_a_night(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "--night" in capsys.readouterr().err
    assert main(["run", "--night", "2026-13-01"]) == 2
