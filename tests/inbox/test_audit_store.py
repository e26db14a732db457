"""The audit log is append-only in the store itself: neither the app nor anyone with a
connection can change or remove a line, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import NOW, fill

from alerts.store import open_store
from inbox.actions import acknowledge
from inbox.tables import AUDIT_LOG
from inbox.users import find_user


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AUDIT_LOG).values(actor="someone else"),
        sa.delete(AUDIT_LOG),
    ],
    ids=["update", "delete"],
)
def test_a_line_of_the_audit_log_cannot_be_changed_or_removed(
    store_url: str, statement: sa.Executable
) -> None:
    engine = open_store(store_url)
    try:
        fill(engine)
        user = find_user(engine, "mash_north")
        assert user is not None
        acknowledge(engine, user, "TEAMNORTH1", 1, NOW)
        with engine.connect() as conn:
            before = conn.execute(sa.select(AUDIT_LOG)).all()
        assert [r.action for r in before] == ["acknowledge"]
        refused = pytest.raises(sa.exc.DBAPIError, match="the audit log is append-only")
        with refused, engine.begin() as conn:
            conn.execute(statement)
        with engine.connect() as conn:
            assert conn.execute(sa.select(AUDIT_LOG)).all() == before
        # Appending still works after a refusal.
        acknowledge(engine, user, "TEAMNORTH2", 1, NOW)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(AUDIT_LOG)).scalar() == 2
    finally:
        engine.dispose()


def test_the_audit_log_cannot_be_truncated(store_url: str) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite has no TRUNCATE; DELETE is refused above")
    engine = open_store(store_url)
    try:
        fill(engine)
        user = find_user(engine, "mash_north")
        assert user is not None
        acknowledge(engine, user, "TEAMNORTH1", 1, NOW)
        refused = pytest.raises(sa.exc.DBAPIError, match="the audit log is append-only")
        with refused, engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE inbox_audit_log"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(AUDIT_LOG)).scalar() == 1
    finally:
        engine.dispose()
