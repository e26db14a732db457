"""The professional's journey through the real app and store: sign in, see my alerts,
acknowledge, forward to a partner colleague who then sees it, close with an outcome; the
audit log shows each step. The key steps run on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io

import sqlalchemy as sa
from conftest import CONFIG, NOW, PASSWORD, Inbox, csrf_of

from alerts.store import ALERTS
from inbox.actions import list_alerts, snooze
from inbox.tables import AUDIT_LOG, NOTES, OUTCOME_ROWS, SESSIONS
from inbox.users import find_user


def _alert(inbox: Inbox, reference: str) -> dict[str, object]:
    with inbox.engine.connect() as conn:
        return dict(
            conn.execute(sa.select(ALERTS).where(ALERTS.c.reference == reference)).one()._mapping
        )


def _actions(inbox: Inbox) -> list[tuple[str, str, str | None]]:
    with inbox.engine.connect() as conn:
        return [
            (r.actor, r.action, r.reference)
            for r in conn.execute(sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id))
        ]


def test_sign_in_with_a_wrong_password_is_refused_and_no_session_made(inbox: Inbox) -> None:
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    answer = client.post(
        "/signin",
        data={"username": "mash_north", "password": "wrong password", "csrf": token},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "do not match" in answer.text
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SESSIONS)).scalar_one() == 0


def test_session_cookie_is_httponly_and_lax(inbox: Inbox) -> None:
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    answer = client.post(
        "/signin",
        data={"username": "mash_north", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "joinedup_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_the_list_shows_my_teams_alerts_only_highest_first(both_inbox: Inbox) -> None:
    page = both_inbox.client("mash_north").get("/alerts")
    assert page.status_code == 200
    assert page.text.index("TEAMNORTH1") < page.text.index("TEAMNORTH2")  # 0.81 before 0.64
    assert "POLICEPAT1" not in page.text and "ADULTSOTH1" not in page.text
    mine = both_inbox.client("pat.reid@police.example").get("/alerts").text
    assert "POLICEPAT1" in mine and "TEAMNORTH1" not in mine


def test_the_list_filters_by_state(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    client.post(
        "/alerts/TEAMNORTH2/acknowledge",
        data={"csrf": csrf_of(client, "/alerts"), "version": "1"},
    )
    acknowledged = client.get("/alerts", params={"state": "acknowledged"}).text
    assert "TEAMNORTH2" in acknowledged and "TEAMNORTH1" not in acknowledged


def test_the_alert_page_shows_the_case_pack(inbox: Inbox) -> None:
    page = inbox.client("mash_north").get("/alerts/TEAMNORTH1")
    assert page.status_code == 200
    for words in (
        "4 events in the last 12 months",
        "Pat Reid (officer, PPU, police)",
        "missing episode",
        "ROSA",
    ):
        assert words in page.text
    assert ("mash_north", "view", "TEAMNORTH1") in _actions(inbox)


def test_someone_elses_alert_by_url_is_not_found_and_the_attempt_audited(both_inbox: Inbox) -> None:
    client = both_inbox.client("mash_north")
    theirs = client.get("/alerts/POLICEPAT1")
    missing = client.get("/alerts/NOSUCHONE1")
    assert theirs.status_code == missing.status_code == 404
    assert "CARA" not in theirs.text
    assert theirs.text.replace("POLICEPAT1", "X") == missing.text.replace("NOSUCHONE1", "X")
    assert ("mash_north", "view_refused", "POLICEPAT1") in _actions(both_inbox)


def test_journey_acknowledge_forward_colleague_sees_close_audited(both_inbox: Inbox) -> None:
    pat = both_inbox.client("pat.reid@police.example")
    token = csrf_of(pat, "/alerts/POLICEPAT1")
    answer = pat.post(
        "/alerts/POLICEPAT1/acknowledge",
        data={"csrf": token, "version": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    alert = _alert(both_inbox, "POLICEPAT1")
    assert (alert["state"], alert["acknowledged_by"], alert["version"]) == (
        "acknowledged",
        "pat.reid@police.example",
        2,
    )

    lee = both_inbox.client("lee.hart@adults.council.example")
    assert lee.get("/alerts/POLICEPAT1").status_code == 404  # not yet forwarded to Lee
    answer = pat.post(
        "/alerts/POLICEPAT1/forward",
        data={
            "csrf": token,
            "version": "2",
            "to": "Lee.Hart@adults.council.example",
            "note": "Known to adult services: please look at the household.",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "POLICEPAT1" in lee.get("/alerts").text
    page = lee.get("/alerts/POLICEPAT1")
    assert page.status_code == 200
    assert "CARA" in page.text and "missing episode" in page.text  # the same case pack
    assert "please look at the household" in page.text

    answer = lee.post(
        "/alerts/POLICEPAT1/close",
        data={
            "csrf": csrf_of(lee, "/alerts"),
            "version": "3",
            "outcome": "risk_held_steady",
            "text": "Visited; support in place.",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _alert(both_inbox, "POLICEPAT1")["state"] == "closed"
    with both_inbox.engine.connect() as conn:
        assert conn.execute(sa.select(OUTCOME_ROWS.c.outcome)).scalar_one() == "risk_held_steady"
    steps = [a for a in _actions(both_inbox) if a[2] == "POLICEPAT1"]
    assert [a[1] for a in steps if a[1] not in ("view", "view_refused")] == [
        "acknowledge",
        "forward",
        "close",
    ]
    assert ("lee.hart@adults.council.example", "view_refused", "POLICEPAT1") in steps

    manager = both_inbox.client("duty_manager")
    audit = manager.get("/audit")
    assert audit.status_code == 200
    for action in ("acknowledge", "forward", "close", "view_refused"):
        assert action in audit.text
    assert "Visited; support in place." not in audit.text  # never a note's text
    rows = list(csv.DictReader(io.StringIO(manager.get("/audit.csv").text)))
    assert {"acknowledge", "forward", "close"} <= {r["action"] for r in rows}
    forward = next(r for r in rows if r["action"] == "forward")
    assert forward["detail"] == "to lee.hart@adults.council.example"
    assert "please look" not in manager.get("/audit.csv").text


def test_snooze_with_a_reason_until_a_date(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    today = dt.datetime.now(dt.UTC).date()
    too_far = (today + dt.timedelta(days=29)).isoformat()  # alerts.yaml allows 28 days
    answer = client.post(
        "/alerts/TEAMNORTH1/snooze",
        data={
            "csrf": csrf_of(client, "/alerts"),
            "version": "1",
            "until": too_far,
            "reason": "Waiting for the strategy meeting.",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 422
    assert "at most 28 days: choose a date by " in answer.text
    until = (today + dt.timedelta(days=28)).isoformat()
    answer = client.post(
        "/alerts/TEAMNORTH1/snooze",
        data={
            "csrf": csrf_of(client, "/alerts"),
            "version": "1",
            "until": until,
            "reason": "Waiting for the strategy meeting.",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _alert(inbox, "TEAMNORTH1")["state"] == "snoozed"
    page = client.get("/alerts/TEAMNORTH1").text
    assert f'<span id="snoozed-until">{until}</span>' in page
    assert "Waiting for the strategy meeting." in page
    assert ("mash_north", "snooze", "TEAMNORTH1") in _actions(inbox)


YEARS = 100 * 366  # a bound no snooze in these tests reaches (the config's is tested above)


def test_a_snoozed_alert_wakes_on_its_day_at_the_top_of_the_list(both_inbox: Inbox) -> None:
    user = find_user(both_inbox.engine, "mash_north")
    assert user is not None
    # Snoozed on 3 November: the lower-scored one until the 5th, the other for years.
    snooze(both_inbox.engine, user, "TEAMNORTH2", 1, "2026-11-05", "School holiday", NOW, YEARS)
    snooze(both_inbox.engine, user, "TEAMNORTH1", 1, "2099-01-31", "Court date", NOW, YEARS)
    on_the_4th = list_alerts(both_inbox.engine, user, None, dt.date(2026, 11, 4))
    assert [(a["reference"], a["woke"]) for a in on_the_4th] == [
        ("TEAMNORTH1", None),
        ("TEAMNORTH2", None),
    ]
    on_the_5th = list_alerts(both_inbox.engine, user, "snoozed", dt.date(2026, 11, 5))
    assert [(a["reference"], a["woke"]) for a in on_the_5th] == [
        ("TEAMNORTH2", dt.date(2026, 11, 5)),
        ("TEAMNORTH1", None),
    ]
    # The page (today is after the 5th) shows it woken, first; nothing stored changed.
    page = both_inbox.client("mash_north").get("/alerts").text
    assert page.index("TEAMNORTH2") < page.index("TEAMNORTH1")
    assert "<strong>snooze ended 2026-11-05</strong>" in page
    assert _alert(both_inbox, "TEAMNORTH2")["state"] == "snoozed"


def test_a_snooze_given_again_for_fewer_days_wakes_on_the_new_day(both_inbox: Inbox) -> None:
    user = find_user(both_inbox.engine, "mash_north")
    assert user is not None
    snooze(both_inbox.engine, user, "TEAMNORTH1", 1, "2099-01-31", "Court date", NOW, YEARS)
    snooze(both_inbox.engine, user, "TEAMNORTH1", 2, "2026-11-05", "Court date moved", NOW, YEARS)
    on_the_5th = list_alerts(both_inbox.engine, user, "snoozed", dt.date(2026, 11, 5))
    assert [(a["reference"], a["woke"]) for a in on_the_5th] == [
        ("TEAMNORTH1", dt.date(2026, 11, 5))
    ]
    page = both_inbox.client("mash_north").get("/alerts/TEAMNORTH1").text
    assert '<span id="snoozed-until">2026-11-05</span>' in page


def test_snooze_into_the_past_is_refused(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    answer = client.post(
        "/alerts/TEAMNORTH1/snooze",
        data={
            "csrf": csrf_of(client, "/alerts"),
            "version": "1",
            "until": "2000-01-01",
            "reason": "x",
        },
    )
    assert answer.status_code == 422
    assert _alert(inbox, "TEAMNORTH1")["version"] == 1


def test_close_needs_an_outcome_from_the_list(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    answer = client.post(
        "/alerts/TEAMNORTH1/close",
        data={"csrf": csrf_of(client, "/alerts"), "version": "1", "outcome": "made_up"},
    )
    assert answer.status_code == 422
    assert _alert(inbox, "TEAMNORTH1")["state"] == "delivered"


def test_no_further_action_is_an_outcome(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    answer = client.post(
        "/alerts/TEAMNORTH1/close",
        data={"csrf": csrf_of(client, "/alerts"), "version": "1", "outcome": "no_further_action"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.select(OUTCOME_ROWS.c.outcome)).scalar_one() == "no_further_action"
        assert conn.execute(sa.select(sa.func.count()).select_from(NOTES)).scalar_one() == 0


def test_sign_out_ends_the_session(inbox: Inbox) -> None:
    client = inbox.client("mash_north")
    answer = client.post(
        "/signout", data={"csrf": csrf_of(client, "/alerts")}, follow_redirects=False
    )
    assert answer.status_code == 303
    again = client.get("/alerts", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/signin")
    assert ("mash_north", "sign_out", None) in _actions(inbox)


def test_sign_in_sends_back_only_to_a_path_here(inbox: Inbox) -> None:
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    answer = client.post(
        "/signin",
        data={
            "username": "mash_north",
            "password": PASSWORD,
            "csrf": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_snooze_that_ends_unacknowledged_escalates_once(both_inbox: Inbox) -> None:
    from alerts.config import load_config
    from alerts.escalate import escalate_due

    user = find_user(both_inbox.engine, "mash_north")
    assert user is not None
    config = load_config(CONFIG)  # escalation after 24 hours
    snooze(both_inbox.engine, user, "TEAMNORTH1", 1, "2026-11-10", "Court date", NOW, 28)

    def escalated(day: int, hour: int) -> dt.datetime | None:
        when = dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)
        escalate_due(both_inbox.engine, config, when)
        return _alert(both_inbox, "TEAMNORTH1")["escalated_at"]

    assert escalated(9, 6) is None  # snoozed: not escalated, though raised days ago
    assert escalated(10, 12) is None  # woke today: 24 hours to pick it up again
    first = escalated(11, 1)
    assert first == dt.datetime(2026, 11, 11, 1, 0)
    assert escalated(12, 6) == first  # once a snooze
    assert _alert(both_inbox, "TEAMNORTH1")["escalated_to"] == "duty_manager"
