"""Running a notebook as the tests do, and what it prints must say nothing about a person."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb


def assert_nothing_personal(printed: str, warehouse: Path) -> None:
    """No person id, no date, and no name of anyone the warehouse holds, in `printed`."""
    assert not re.search(r"P\d{8}", printed)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", printed)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = {
            v.upper()
            for row in con.execute(
                "SELECT first_name, last_name FROM person_records WHERE valid_to IS NULL"
            ).fetchall()
            for v in row
            if v and len(v) >= 4
        }
    finally:
        con.close()
    assert len(names) > 100
    assert not names & set(re.findall(r"[A-Za-z'-]+", printed.upper()))


def run_in_process(
    notebook: Path, defs: dict[str, Any] | None = None
) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """A marimo notebook run in this process, `defs` given in place of the cells that
    define them: its outputs and its definitions."""
    spec = importlib.util.spec_from_file_location(f"{notebook.stem}_notebook", notebook)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs, found = module.app.run(defs=defs)
    return outputs, found
