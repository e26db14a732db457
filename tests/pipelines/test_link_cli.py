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
    assert (
        "'--threshold': must be a probability above 0 and below 1, got 1.5"
        in capsys.readouterr().err
    )
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


def test_evaluate_refuses_labels_for_unknown_records(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    from matching.tables import TABLES_DDL

    Warehouse(data / "warehouse.duckdb").close()
    assert main(["link", "evaluate", "--labels", "x.csv"]) == 2
    assert "run `joinedup link run` first" in capsys.readouterr().err
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    con.execute(TABLES_DDL).fetchall()
    con.close()
    labels = tmp_path / "labels.csv"
    labels.write_text("unique_id_l,unique_id_r,label\nhealth:LP1,health:LP2,match\n")
    assert main(["link", "evaluate", "--labels", str(labels)]) == 2
    assert "1 row(s) name records the warehouse does not hold" in capsys.readouterr().err
