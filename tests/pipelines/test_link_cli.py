"""`joinedup link`: bad requests stop with a clear message before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.warehouse import Warehouse
from pipelines.cli import main


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    return tmp_path


def test_no_warehouse(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", "run", "--all"]) == 2
    assert "no warehouse" in capsys.readouterr().err


def test_threshold_outside_zero_to_one(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Warehouse(data / "warehouse.duckdb").close()
    before = (data / "warehouse.duckdb").read_bytes()
    assert main(["link", "run", "--all", "--threshold", "1.5"]) == 2
    assert "--threshold must be between 0 and 1, got 1.5" in capsys.readouterr().err
    assert (data / "warehouse.duckdb").read_bytes() == before


def test_no_model_yet(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Warehouse(data / "warehouse.duckdb").close()
    assert main(["link", "run", "--night", "2026-11-01"]) == 2
    assert "no trained model: run `joinedup link train` first" in capsys.readouterr().err


def test_too_few_records_to_train(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Warehouse(data / "warehouse.duckdb").close()
    assert main(["link", "train"]) == 2
    assert "only 0 person records to train on" in capsys.readouterr().err
    assert not (data / "models").exists()
