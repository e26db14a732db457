"""`common/` is beneath every stage: it imports none of them, nor Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

import common

ABOVE = {"connectors", "matching", "risk_models", "alerts", "pipelines", "world", "inbox"}


def test_common_imports_no_stage_and_no_dagster() -> None:
    imported: set[str] = set()
    for path in Path(common.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert not imported & (ABOVE | {"dagster"})
    assert "yaml" in imported and "pydantic" in imported  # the walk saw the imports
