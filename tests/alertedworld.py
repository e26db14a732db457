"""The risk world scored on both nights, its alerts run into a store of its own, and half of
them closed with each outcome in turn: what the insight report and the managers' page read.
Also the check every published count must pass."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from riskworld import N1, N2, risk_world
from servers import smtp_server

from alerts.store import ALERTS, open_store
from inbox import actions
from inbox.tables import DUTY_MANAGER, OUTCOMES
from inbox.users import add_user, find_user
from pipelines.cli import main
from risk_models import latest_risk_model, score_night


def _close_half(store: Path) -> None:
    """A duty manager closes every other alert, each outcome in turn."""
    engine = open_store(f"sqlite:///{store}")
    try:
        now = dt.datetime.combine(N2, dt.time(9, 0))
        add_user(engine, "closer", "a long password", DUTY_MANAGER, now)
        closer = find_user(engine, "closer")
        assert closer is not None
        with engine.connect() as conn:
            alerts = conn.execute(sa.select(ALERTS.c.reference, ALERTS.c.version)).all()
        outcomes = list(OUTCOMES)
        for i, (reference, version) in enumerate(alerts[::2]):
            outcome = outcomes[i % len(outcomes)]
            actions.close(engine, closer, reference, version, outcome, "", now)
    finally:
        engine.dispose()


def alerted_data(factory: pytest.TempPathFactory) -> Path:
    """A data folder (for JOINEDUP_DATA): warehouse.duckdb scored, store.sqlite alerted."""
    data = risk_world(factory).data(factory.mktemp("alerted"))
    with pytest.MonkeyPatch.context() as patch, smtp_server() as smtp:
        patch.setenv("JOINEDUP_DATA", str(data))
        patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
        patch.delenv("JOINEDUP_STORE", raising=False)
        patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{smtp.port}")
        for night in (N1, N2):
            score_night(data / "warehouse.duckdb", night, latest_risk_model(data / "models"))
        nights = [a for night in (N1, N2) for a in ("--night", night.isoformat())]
        assert main(["alerts", "run", *nights]) == 0
    _close_half(data / "store.sqlite")
    return data


def passes(value: Any) -> bool:
    """Whether a published count passes NHS Digital's rule: hidden, 0, or >= 8 and a
    multiple of 5."""
    if value == "*":
        return True
    number = int(value)
    return str(number) == str(value).strip() and not 1 <= number <= 7 and number % 5 == 0


COUNT_KEYS = {"people", "reached", "cells", "row_totals", "column_totals", "total"}


def report_counts(value: Any, keys: set[str] = COUNT_KEYS, key: str = "") -> list[Any]:
    """Every value held under a count's key, anywhere in an insight report."""
    if isinstance(value, dict):
        return [c for k, v in value.items() for c in report_counts(v, keys, k)]
    if isinstance(value, list):
        return [c for v in value for c in report_counts(v, keys, key)]
    return [value] if key in keys else []
