"""Bad input refused with the right status and nothing stored: a forged or missing CSRF
token, an expired session, a forward to an unknown user, an oversized note; and a note
with a script in it is shown inert."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from conftest import Inbox, csrf_of

from alerts.store import ALERTS
from inbox.tables import AUDIT_LOG, FORWARDS, NOTE_MAX, NOTES, OUTCOME_ROWS, SESSIONS, SNOOZES

# Each POST route with a form that would succeed given the right token.
# A snooze end the config allows (alerts.yaml: at most 28 days ahead).
SOON = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)).isoformat()

POSTS = {
    "/alerts/TEAMNORTH1/acknowledge": {"version": "1"},
    "/alerts/TEAMNORTH1/forward": {"version": "1", "to": "duty_manager", "note": "n"},
    "/alerts/TEAMNORTH1/notes": {"text": "a note"},
    "/alerts/TEAMNORTH1/snooze": {"version": "1", "until": SOON, "reason": "r"},
    "/alerts/TEAMNORTH1/close": {"version": "1", "outcome": "no_further_action", "text": "t"},
    "/signout": {},
}


def _stored(inbox: Inbox) -> tuple[object, ...]:
    """Everything an action could write: the alert's state and version, and row counts."""
    with inbox.engine.connect() as conn:
        alert = conn.execute(
            sa.select(ALERTS.c.state, ALERTS.c.version).where(ALERTS.c.reference == "TEAMNORTH1")
        ).one()
        counts = tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (NOTES, FORWARDS, SNOOZES, OUTCOME_ROWS, SESSIONS)
        )
        actions = [a for (a,) in conn.execute(sa.select(AUDIT_LOG.c.action))]
    # A refusal writes its own audit line (checked by _refusals_audited), and nothing else.
    kept = [a for a in actions if a != "view" and not a.startswith(("refused_", "sign_in_"))]
    return (alert.state, alert.version, counts, kept)


def _refusals_audited(inbox: Inbox) -> list[tuple[str, str, str | None]]:
    """The refusals in the audit log: (action, detail, client)."""
    with inbox.engine.connect() as conn:
        rows = conn.execute(
            sa.select(AUDIT_LOG.c.action, AUDIT_LOG.c.detail, AUDIT_LOG.c.client).order_by(
                AUDIT_LOG.c.id
            )
        ).all()
    return [(a, d, c) for a, d, c in rows if a.startswith(("refused_", "sign_in_"))]


@pytest.mark.parametrize("path", list(POSTS))
@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
def test_a_post_without_the_sessions_csrf_token_is_refused(
    inbox: Inbox, path: str, token: str
) -> None:
    client = inbox.client("mash_north")
    other = inbox.client("duty_manager")
    before = _stored(inbox)
    form = dict(POSTS[path])
    if token == "forged":
        form["csrf"] = "x" * 43
    elif token == "another session's":
        form["csrf"] = csrf_of(other, "/alerts")
    answer = client.post(path, data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert "Nothing was saved" in answer.text
    assert _stored(inbox) == before
    assert _refusals_audited(inbox)[-1] == ("refused_csrf", f"POST {path}", "testclient")
    # and the same form with the right token goes through
    form["csrf"] = csrf_of(client, "/alerts")
    assert client.post(path, data=form, follow_redirects=False).status_code == 303


def test_sign_in_without_its_form_token_is_refused(inbox: Inbox) -> None:
    client = inbox.client("")
    csrf_of(client, "/signin")  # sets the sign-in cookie
    answer = client.post(
        "/signin", data={"username": "mash_north", "password": "x", "csrf": "forged"}
    )
    assert answer.status_code == 403


def test_an_expired_session_signs_in_again_and_stores_nothing(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    token = csrf_of(client, "/alerts")
    with inbox.engine.begin() as conn:
        conn.execute(sa.update(SESSIONS).values(expires_at=SESSIONS.c.created_at))
    page = client.get("/alerts/TEAMNORTH1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/alerts/TEAMNORTH1"
    before = _stored(inbox)
    answer = client.post(
        "/alerts/TEAMNORTH1/acknowledge",
        data={"csrf": token, "version": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert _stored(inbox) == before


@pytest.mark.parametrize("to", ["nobody@police.example", "analyst", "mash_north", ""])
def test_forward_to_an_unknown_user_is_refused(inbox: Inbox, to: str) -> None:
    client = inbox.client("mash_north")
    before = _stored(inbox)
    answer = client.post(
        "/alerts/TEAMNORTH1/forward",
        data={"csrf": csrf_of(client, "/alerts"), "version": "1", "to": to, "note": "hello"},
    )
    assert answer.status_code == 422
    assert _stored(inbox) == before


def test_an_oversized_note_is_refused(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    token = csrf_of(client, "/alerts")
    before = _stored(inbox)
    answer = client.post(
        "/alerts/TEAMNORTH1/notes", data={"csrf": token, "text": "x" * (NOTE_MAX + 1)}
    )
    assert answer.status_code == 413
    assert f"at most {NOTE_MAX}" in answer.text
    answer = client.post(
        "/alerts/TEAMNORTH1/forward",
        data={"csrf": token, "version": "1", "to": "duty_manager", "note": "x" * (NOTE_MAX + 1)},
    )
    assert answer.status_code == 413
    assert _stored(inbox) == before
    ok = client.post(
        "/alerts/TEAMNORTH1/notes",
        data={"csrf": token, "text": "x" * NOTE_MAX},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_an_empty_note_is_refused(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    before = _stored(inbox)
    answer = client.post(
        "/alerts/TEAMNORTH1/notes", data={"csrf": csrf_of(client, "/alerts"), "text": "   "}
    )
    assert answer.status_code == 422
    assert _stored(inbox) == before


def test_a_note_with_a_script_is_shown_inert(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    client.post("/alerts/TEAMNORTH1/notes", data={"csrf": csrf_of(client, "/alerts"), "text": evil})
    page = client.get("/alerts/TEAMNORTH1").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.select(NOTES.c.text)).scalar_one() == evil  # kept as written
        details = [d for (d,) in conn.execute(sa.select(AUDIT_LOG.c.detail))]
    assert not any("script" in d for d in details)  # the log never holds a note's text


def test_acting_on_someone_elses_alert_is_not_found(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    answer = client.post(
        "/alerts/POLICEPAT1/acknowledge",
        data={"csrf": csrf_of(client, "/alerts"), "version": "1"},
    )
    assert answer.status_code == 404
    with inbox.engine.connect() as conn:
        state = conn.execute(
            sa.select(ALERTS.c.state).where(ALERTS.c.reference == "POLICEPAT1")
        ).scalar_one()
    assert state == "delivered"


def test_refusals_and_failed_sign_ins_are_audited_with_session_and_address(
    inbox: Inbox,
) -> None:
    guest = inbox.client("")
    token = csrf_of(guest, "/signin")
    answer = guest.post(
        "/signin",
        data={"username": "Mash_North ", "password": "wrong", "csrf": token},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    professional = inbox.client("mash_north")
    assert professional.get("/audit").status_code == 403
    with inbox.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                AUDIT_LOG.c.actor,
                AUDIT_LOG.c.action,
                AUDIT_LOG.c.detail,
                AUDIT_LOG.c.client,
                AUDIT_LOG.c.session,
            ).order_by(AUDIT_LOG.c.id)
        ).all()
    failed = [r for r in rows if r.action == "sign_in_failed"]
    assert [(r.actor, r.client, r.session) for r in failed] == [("mash_north", "testclient", None)]
    page = [r for r in rows if r.action == "refused_page"]
    assert [(r.actor, r.detail, r.client) for r in page] == [
        ("mash_north", "GET /audit", "testclient")
    ]
    signed_in = [r for r in rows if r.action == "sign_in"]
    assert page[0].session and len(page[0].session) == 16  # a hash of the cookie, not it
    assert page[0].session not in professional.cookies.get("joinedup_session", "")
    # The duty manager's look at the audit log is itself a line of it.
    manager = inbox.client("duty_manager")
    assert manager.get("/audit").status_code == 200
    assert manager.get("/audit.csv").status_code == 200
    with inbox.engine.connect() as conn:
        mine = conn.execute(
            sa.select(AUDIT_LOG.c.action).where(AUDIT_LOG.c.actor == "duty_manager")
        ).all()
    assert [a for (a,) in mine][-2:] == ["view_audit", "export_audit"]
    assert signed_in
