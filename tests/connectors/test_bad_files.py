"""A bad partner file never closes the partner's records: each fault in `ingest_faults.FAULTS` is
loaded between two good nights, and the damaged night is held, failed or loaded around its
bad lines, with a sentence a person can act on, and the next good night loads normally."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from ingest_faults import (
    FAULTS,
    HEADER,
    NIGHTS,
    Fault,
    caseload_row,
    current_ids,
    expected_ids,
    night_text,
    run_fault,
    youth_justice,
)

from connectors.config import Source
from connectors.ingest import ReleaseError, ingest_source, release_load
from connectors.warehouse import Warehouse, WarehouseBusy


@pytest.mark.parametrize("fault", FAULTS, ids=[f.case for f in FAULTS])
def test_a_bad_file_loses_nothing(fault: Fault, tmp_path: Path) -> None:
    result = run_fault(fault, tmp_path)
    assert result.status == fault.expect, result.message
    assert fault.words in result.message
    assert result.lost == 0
    assert result.recovered
    if fault.expect == "complete":
        assert result.quarantined == 1  # the bad line alone; the other 299 rows load


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """A drop folder with night 1's good file and night 2's header alone."""
    folder = tmp_path / "drop"
    send(folder, NIGHTS[0], night_text(1).encode("cp1252"))
    send(folder, NIGHTS[1], (HEADER + "\r\n").encode("cp1252"))
    return folder


def send(drop: Path, night: dt.date, data: bytes) -> Path:
    folder = drop / night.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"yjs_caseload_{night:%Y%m%d}.csv"
    path.write_bytes(data)
    return path


def test_a_release_merges_the_held_extract_and_records_who_and_why(
    drop: Path, tmp_path: Path
) -> None:
    source = youth_justice(drop)
    with closing(Warehouse(tmp_path / "wh.duckdb")) as wh:
        ingest_source(wh, "youth_justice", source, NIGHTS[0])
        held = ingest_source(wh, "youth_justice", source, NIGHTS[1])
        assert held.status == "held" and set(held.held) == {"row_count", "closes"}
        assert current_ids(wh) == expected_ids(1)
        # Running the night again holds it again: a guard is not worn down by retries.
        assert ingest_source(wh, "youth_justice", source, NIGHTS[1]).status == "held"
        released = release_load(wh, "youth_justice", source, NIGHTS[1], "j.bloggs", "service ended")
        assert released.status == "complete" and released.deleted == 300 + 300 + 300
        assert current_ids(wh) == set()
        audit = wh.run("SELECT held_load_id, released_by, reason, overrode FROM load_releases")
        assert len(audit) == 1
        assert audit[0][1:3] == ("j.bloggs", "service ended")
        assert "would close 300 of its 300 current person records" in audit[0][3]
        with pytest.raises(ReleaseError, match="not held: nothing to release"):
            release_load(wh, "youth_justice", source, NIGHTS[1], "j.bloggs", "again")


def test_a_release_refuses_an_extract_changed_since_it_was_held(drop: Path, tmp_path: Path) -> None:
    source = youth_justice(drop)
    with closing(Warehouse(tmp_path / "wh.duckdb")) as wh:
        ingest_source(wh, "youth_justice", source, NIGHTS[0])
        assert ingest_source(wh, "youth_justice", source, NIGHTS[1]).status == "held"
        send(drop, NIGHTS[1], (HEADER + "\r\n" + caseload_row(1) + "\r\n").encode("cp1252"))
        with pytest.raises(ReleaseError, match="has changed since it was held"):
            release_load(wh, "youth_justice", source, NIGHTS[1], "j.bloggs", "ok")
        with pytest.raises(ReleaseError, match="give the reason"):
            release_load(wh, "youth_justice", source, NIGHTS[1], "j.bloggs", " ")
        assert current_ids(wh) == expected_ids(1)
        assert not wh.run("SELECT * FROM load_releases")


def test_every_status_records_its_counts(drop: Path, tmp_path: Path) -> None:
    source = youth_justice(drop)
    send(drop, NIGHTS[1], night_text(1).encode("cp1252"))  # the same as night 1
    with closing(Warehouse(tmp_path / "wh.duckdb")) as wh:
        reports = [
            ingest_source(wh, "youth_justice", source, NIGHTS[0]),
            ingest_source(wh, "youth_justice", source, NIGHTS[1]),
            ingest_source(wh, "youth_justice", source, NIGHTS[1]),
        ]
        recorded = wh.run("SELECT status, rows_in, rows_staged FROM loads ORDER BY started_at")
    assert [r.status for r in reports] == ["complete", "unchanged", "already loaded"]
    assert recorded == [
        ("complete", 300, 300),
        ("unchanged", 300, 300),
        ("already loaded", 300, 300),
    ]
    assert "already loaded" in reports[2].line() and "300" in reports[2].line()


@contextmanager
def locked(path: Path, seconds: float) -> Iterator[None]:
    """Another process holding the warehouse's lock for some seconds."""
    Warehouse(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_second_process_waits_then_fails_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    with locked(path, 2):
        with pytest.raises(WarehouseBusy) as busy:
            Warehouse(path, wait_seconds=0.3)
        message = str(busy.value)
        assert message.startswith(f"the warehouse {path} is in use by another process (PID ")
        assert "\n" not in message and "Conflicting lock" not in message
        # Waiting long enough is enough: the lock is let go after two seconds.
        Warehouse(path, wait_seconds=30).close()


def test_joinedup_run_on_a_busy_warehouse_says_so_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "JOINEDUP_DATA": str(tmp_path), "JOINEDUP_WAREHOUSE_WAIT": "0.5"}
    env["JOINEDUP_WORLD"] = str(tmp_path / "world")
    (tmp_path / "world" / "extracts" / "2026-11-01").mkdir(parents=True)  # a night that came
    with locked(tmp_path / "warehouse.duckdb", 60):
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "--night", "2026-11-01"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("joinedup run: the warehouse")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_missing_sqlite_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    night_folder = tmp_path / "drop" / NIGHTS[0].isoformat()
    night_folder.mkdir(parents=True)
    source = Source.model_validate(
        {
            "agency": "housing",
            "kind": "sql",
            "location": f"sqlite:///{tmp_path}/drop/{{date}}/housing.sqlite",
            "tables": [
                {
                    "name": "people",
                    "table": "person",
                    "person_records": {"source_record_id": "person_ref"},
                }
            ],
        }
    )
    with closing(Warehouse(tmp_path / "wh.duckdb")) as wh:
        report = ingest_source(wh, "housing", source, NIGHTS[0])
    assert report.status == "failed"
    assert "no database file there (has tonight's extract arrived?)" in (report.error or "")
    assert list(night_folder.iterdir()) == []
