"""The audit log is append-only in the store itself: neither the app nor anyone with a
connection can change or remove a line, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import NOW, fill
from sqlalchemy.engine import Engine

from alerts.store import open_store
from inbox.actions import acknowledge
from inbox.tables import AUDIT_LOG
from inbox.users import User, find_user


@pytest.fixture
def audited(store_url: str) -> Iterator[tuple[Engine, User]]:
    """A filled store whose audit log holds one line: mash_north's acknowledgement."""
    engine = open_store(store_url)
    try:
        fill(engine)
        user = find_user(engine, "mash_north")
        assert user is not None
        acknowledge(engine, user, "TEAMNORTH1", 1, NOW)
        yield engine, user
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AUDIT_LOG).values(actor="someone else"),
        sa.delete(AUDIT_LOG),
        sa.text("TRUNCATE inbox_audit_log"),
    ],
    ids=["update", "delete", "truncate"],
)
def test_a_line_of_the_audit_log_cannot_be_changed_or_removed(
    audited: tuple[Engine, User], statement: sa.Executable
) -> None:
    engine, user = audited
    if engine.dialect.name == "sqlite" and isinstance(statement, sa.TextClause):
        pytest.skip("SQLite has no TRUNCATE; DELETE is refused")
    with engine.connect() as conn:
        before = conn.execute(sa.select(AUDIT_LOG)).all()
    assert [r.action for r in before if r.action != "account_created"] == ["acknowledge"]
    refused = pytest.raises(sa.exc.DBAPIError, match="the audit log is append-only")
    with refused, engine.begin() as conn:
        conn.execute(statement)
    with engine.connect() as conn:
        assert conn.execute(sa.select(AUDIT_LOG)).all() == before
    # Appending still works after a refusal.
    acknowledge(engine, user, "TEAMNORTH2", 1, NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(AUDIT_LOG)).scalar() == (
            len(before) + 1
        )
