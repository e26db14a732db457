"""The audit log's hash chain (issue 19): intact under concurrent writers on SQLite and
PostgreSQL, and every kind of tampering the triggers cannot stop is found and named."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import USER_SPECS, Inbox, csrf_of

from inbox.auditchain import verify
from inbox.tables import AUDIT_LOG
from pipelines.cli import main


def _work(inbox: Inbox) -> None:
    """Sign-ins, views and an acknowledgement: lines of the log."""
    client = inbox.client("mash_north")
    client.get("/alerts/TEAMNORTH1")
    client.post(
        "/alerts/TEAMNORTH1/acknowledge",
        data={"csrf": csrf_of(client, "/alerts/TEAMNORTH1"), "version": "1"},
    )
    inbox.client("duty_manager").get("/audit")


def test_the_chain_holds_under_concurrent_writers(both_inbox: Inbox) -> None:
    _work(both_inbox)
    clients = [both_inbox.client(name) for name in ("mash_north", "duty_manager")]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: clients[i % 2].get("/alerts/TEAMNORTH2"), range(40)))
    verdict = verify(both_inbox.engine)
    assert verdict.broken is None, verdict.words()
    with both_inbox.engine.connect() as conn:
        total, chained = conn.execute(
            sa.select(sa.func.count(), sa.func.count(AUDIT_LOG.c.hash))
        ).one()
        first = conn.execute(sa.select(sa.func.min(AUDIT_LOG.c.id))).scalar_one()
    assert verdict.lines == total == chained > 40
    assert verdict.chained_from == first
    assert "the chain intact from line" in verdict.words()


def _sqlite(inbox: Inbox, *statements: str) -> None:
    """Tamper as someone with the store's file would: triggers dropped first."""
    with inbox.engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER IF EXISTS inbox_audit_no_update"))
        conn.execute(sa.text("DROP TRIGGER IF EXISTS inbox_audit_no_delete"))
        for statement in statements:
            conn.execute(sa.text(statement))


def _line(inbox: Inbox, action: str) -> int:
    with inbox.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.min(AUDIT_LOG.c.id)).where(AUDIT_LOG.c.action == action)
            ).scalar_one()
        )


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ("UPDATE inbox_audit_log SET detail = 'nothing' WHERE id = {view}", "was changed"),
        ("UPDATE inbox_audit_log SET actor = 'someone' WHERE id = {view}", "was changed"),
        ("DELETE FROM inbox_audit_log WHERE id = {view}", "does not follow"),
        (
            "INSERT INTO inbox_audit_log (at, actor, role, action, detail, prev, hash) "
            "VALUES ('2026-11-03 08:00:00', 'x', 'admin', 'view', '', NULL, NULL)",
            "has no hash after the chain began",
        ),
        ("DELETE FROM inbox_audit_log", "lines were lost, or the log was dropped"),
    ],
)
def test_tampering_is_found_and_named(
    inbox: Inbox, tamper: str, found: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _work(inbox)
    assert verify(inbox.engine).broken is None
    view = _line(inbox, "view")
    _sqlite(inbox, tamper.format(view=view))
    verdict = verify(inbox.engine)
    assert verdict.broken is not None and found in verdict.broken
    if "{view}" in tamper and "DELETE" not in tamper:
        assert f"line {view} " in verdict.broken
    # The command says so and fails; the inbox will not start on it.
    monkeypatch.setenv("JOINEDUP_STORE", inbox.url)
    assert main(["inbox", "audit", "verify"]) == 1
    assert main(["inbox", "--port", "1"]) == 2


def test_a_dropped_log_made_again_empty_is_found(inbox: Inbox) -> None:
    _work(inbox)
    with inbox.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE inbox_audit_log"))
    from alerts.store import open_store

    open_store(inbox.url).dispose()  # the store makes the missing table again, empty
    verdict = verify(inbox.engine)
    assert verdict.broken is not None
    assert f"{len(USER_SPECS)} accounts but the log records the making of 0" in verdict.broken
