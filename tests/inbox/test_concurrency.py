"""Two people acting on one alert at once: one wins, the other is told, no write is lost
(on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa
from conftest import Inbox, csrf_of

from alerts.store import ALERTS
from inbox.tables import AUDIT_LOG, NOTES


def test_two_acknowledging_at_once_one_wins_the_other_is_told(both_inbox: Inbox) -> None:
    people = ["mash_north", "duty_manager"]
    clients = [both_inbox.client(p) for p in people]
    tokens = [csrf_of(c, "/alerts/TEAMNORTH1") for c in clients]  # both saw version 1
    start = threading.Barrier(len(clients))

    def act(i: int) -> httpx.Response:
        start.wait()
        return clients[i].post(
            "/alerts/TEAMNORTH1/acknowledge",
            data={"csrf": tokens[i], "version": "1"},
            follow_redirects=False,
        )

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(act, range(len(clients))))
    codes = sorted(a.status_code for a in answers)
    assert codes == [303, 409]
    loser = next(a for a in answers if a.status_code == 409)
    winner = people[[a.status_code for a in answers].index(303)]
    assert f"it is now acknowledged by {winner}" in loser.text
    assert "Nothing you sent was saved" in loser.text
    with both_inbox.engine.connect() as conn:
        row = conn.execute(sa.select(ALERTS).where(ALERTS.c.reference == "TEAMNORTH1")).one()
        acks = conn.execute(
            sa.select(AUDIT_LOG.c.actor).where(AUDIT_LOG.c.action == "acknowledge")
        ).all()
    assert (row.state, row.acknowledged_by, row.version) == ("acknowledged", winner, 2)
    assert [a.actor for a in acks] == [winner]


def test_a_stale_close_after_a_forward_is_refused_and_the_forward_kept(both_inbox: Inbox) -> None:
    north = both_inbox.client("mash_north")
    manager = both_inbox.client("duty_manager")
    seen_north = csrf_of(north, "/alerts/TEAMNORTH1")
    seen_manager = csrf_of(manager, "/alerts/TEAMNORTH1")
    forwarded = north.post(
        "/alerts/TEAMNORTH1/forward",
        data={
            "csrf": seen_north,
            "version": "1",
            "to": "pat.reid@police.example",
            "note": "For the PPU.",
        },
        follow_redirects=False,
    )
    assert forwarded.status_code == 303
    stale = manager.post(
        "/alerts/TEAMNORTH1/close",
        data={
            "csrf": seen_manager,
            "version": "1",
            "outcome": "no_further_action",
            "text": "closing",
        },
    )
    assert stale.status_code == 409
    with both_inbox.engine.connect() as conn:
        state = conn.execute(
            sa.select(ALERTS.c.state).where(ALERTS.c.reference == "TEAMNORTH1")
        ).scalar_one()
        notes = [t for (t,) in conn.execute(sa.select(NOTES.c.text))]
    assert state == "forwarded"
    assert notes == ["For the PPU."]
