"""A night's alerts end to end, on a linked world, a real SMTP server and a real webhook:
the right recipient hears once, hears nothing personal, and never hears twice."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from alertworld import (
    NIGHT,
    NOW,
    REASON,
    ConfigMaker,
    Linked,
    SmtpSink,
    WebhookServer,
    store_rows,
    write_scores,
)

from alerts import acknowledge, escalate, retry_failed, run_alerts
from alerts.store import ALERTS, CASE_PACKS, DELIVERIES, open_store
from common.ranking import pseudonym

NIGHT2 = NIGHT + dt.timedelta(days=1)


def _alerts(store_url: str) -> dict[str, dict[str, Any]]:
    """The stored alerts by person_id (one each in these tests)."""
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(ALERTS))]
    finally:
        engine.dispose()
    return {r["person_id"]: r for r in rows}


_rows = store_rows


def _refs(text: str) -> set[str]:
    return set(re.findall(r"/alerts/([0-9A-Z]{10})\b", text))


def _personal(warehouse: Path, person_ids: list[str]) -> set[str]:
    """Every name, date of birth (as partners write it), address, postcode and id of them."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT r.first_name, r.middle_name, r.last_name, r.dob, r.address, r.postcode,
                      r.nhs_number, r.upn, r.ni_number, r.source_record_id, p.person_id
               FROM persons p JOIN person_records r USING (source, source_record_id)
               WHERE p.valid_to IS NULL AND p.person_id IN (SELECT unnest(?))""",
            [person_ids],
        ).fetchall()
    finally:
        con.close()
    found: set[str] = {REASON}
    for first, middle, last, dob, address, postcode, *ids in rows:
        found |= {v for v in (first, middle, last, address, postcode, *ids) if v}
        if dob is not None:
            found |= {
                dob.isoformat(),
                dob.strftime("%d/%m/%Y"),
                dob.strftime("%Y%m%d"),
                dob.strftime("%d-%b-%Y"),
                dob.strftime("%d %B %Y"),
            }
    assert len(found) > 5 * len(person_ids)
    return found


def _assert_nothing_personal(texts: list[str], personal: set[str]) -> None:
    assert texts
    for text in texts:
        for value in personal:
            assert not re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", text, re.IGNORECASE), (
                "a message carries personal data"
            )


def _marked(linked: Linked) -> dict[str, dict[str, Any]]:
    p = linked.picks
    return {
        pid: {"band": "high", "score": 0.7, "change": "new"}
        for pid in (p.child_csc, *p.police_pair, p.quiet_north, p.quiet_south)
    }


def test_each_recipient_gets_one_digest_that_carries_references_only(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
) -> None:
    p = linked.picks
    write_scores(warehouse, NIGHT, _marked(linked))
    report = run_alerts(warehouse, NIGHT, store_url, make_config(), NOW)
    alerts = _alerts(store_url)
    assert set(alerts) == set(_marked(linked))
    where = {
        pid: (a["routed_to"], a["routing_rule"], a["routed_team"]) for pid, a in alerts.items()
    }
    assert where == {
        p.child_csc: ("csc_team", "child_csc", "csc_team"),  # a social worker has no email
        p.police_pair[0]: (p.officer, "police", "police_team"),
        p.police_pair[1]: (p.officer, "police", "police_team"),
        p.quiet_north: ("duty_north", "default", "duty_north"),
        p.quiet_south: ("duty_south", "default", "duty_south"),
    }
    assert {a["state"] for a in alerts.values()} == {"delivered"}
    assert {a["kind"] for a in alerts.values()} == {"new_high"}
    ref = {pid: a["reference"] for pid, a in alerts.items()}
    assert all(re.fullmatch(r"[0-9A-Z]{10}", r) for r in ref.values())

    # Exactly one message per recipient, holding exactly that recipient's references.
    assert len(smtp.mails) == 2
    (officer,) = smtp.to(p.officer)
    assert _refs(officer.text) == {ref[p.police_pair[0]], ref[p.police_pair[1]]}
    (south,) = smtp.to("duty-south@council.example")
    assert _refs(south.text) == {ref[p.quiet_south]}
    assert sorted(h.path.split("?")[0] for h in webhook.hooks) == ["/csc_team", "/duty_north"]
    (csc,) = webhook.taken("csc_team")
    assert _refs(csc.text) == {ref[p.child_csc]}
    (north,) = webhook.taken("duty_north")
    assert _refs(north.text) == {ref[p.quiet_north]}
    assert f"http://127.0.0.1:8000/alerts/{ref[p.child_csc]}" in csc.text

    # Nothing personal: no name, date of birth, address, id or reason of anyone alerted.
    texts = [m.text for m in smtp.mails] + [h.text for h in webhook.hooks]
    _assert_nothing_personal(texts, _personal(warehouse, list(alerts)))

    # Each target's result is recorded; a case pack for each alerted person, and no one else.
    deliveries = _rows(store_url, DELIVERIES)
    assert len(deliveries) == 4 and {d["status"] for d in deliveries} == {"sent"}
    assert all(d["attempts"] == 1 and d["sent_at"] is not None for d in deliveries)
    packs = _rows(store_url, CASE_PACKS)
    assert sorted(c["person_id"] for c in packs) == sorted(alerts)
    assert report.case_packs == 5 and sum(report.created.values()) == 5
    assert report.to_professionals == 2 and report.to_teams == 3
    assert "messages: 4 sent, 0 failed (to retry), 0 given up" in "\n".join(report.lines())


def test_a_rerun_and_an_unchanged_night_send_nothing(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
) -> None:
    config = make_config()
    marked = _marked(linked)
    write_scores(warehouse, NIGHT, marked)
    run_alerts(warehouse, NIGHT, store_url, config, NOW)
    sent = (len(smtp.mails), len(webhook.hooks))
    assert sent == (2, 2)
    again = run_alerts(warehouse, NIGHT, store_url, config, NOW + dt.timedelta(hours=1))
    assert sum(again.created.values()) == 0 and again.delivery.sent == 0
    assert again.suppressed["already alerted (dedup key in the store)"] == 5
    # The next night: the same people, still high, nothing new about them.
    steady = {pid: m | {"change": "steady", "previous_score": 0.7} for pid, m in marked.items()}
    write_scores(warehouse, NIGHT2, steady)
    next_night = run_alerts(warehouse, NIGHT2, store_url, config, NOW + dt.timedelta(days=1))
    assert sum(next_night.candidates.values()) == 0
    assert (len(smtp.mails), len(webhook.hooks)) == sent
    assert len(_alerts(store_url)) == 5
    assert len(_rows(store_url, DELIVERIES)) == 4


def test_a_partner_target_never_receives_an_alert_not_routed_to_it(
    linked: Linked,
    warehouse: Path,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    con = duckdb.connect(str(warehouse), read_only=True)
    people = [r[0] for r in con.execute("SELECT DISTINCT person_id FROM persons").fetchall()]
    con.close()
    marked = {pid: {"band": "very_high", "indicators": ["many_agencies"]} for pid in people[::6]}
    write_scores(warehouse, NIGHT, marked)
    run_alerts(warehouse, NIGHT, store_url, make_config(), NOW)
    alerts = _alerts(store_url)
    assert len(alerts) == len(marked) > 50
    routed: dict[str, set[str]] = {}
    for a in alerts.values():
        routed.setdefault(a["routed_to"], set()).add(a["reference"])
    got: dict[str, set[str]] = {}
    seen: list[str] = []
    for mail in smtp.mails:
        (to,) = mail.recipients
        to = {"duty-south@council.example": "duty_south"}.get(to, to)
        got.setdefault(to, set()).update(_refs(mail.text))
        seen += sorted(_refs(mail.text))
    for hook in webhook.hooks:
        got.setdefault(hook.path.split("?")[0].strip("/"), set()).update(_refs(hook.text))
        seen += sorted(_refs(hook.text))
    # Each recipient received exactly the references routed to it, each reference once.
    assert got == routed
    assert len(seen) == len(set(seen)) == len(alerts)
    assert len(smtp.mails) + len(webhook.hooks) == len(routed)


def test_a_dead_webhook_is_retried_with_backoff_reported_then_delivered_once(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    webhook: WebhookServer,
) -> None:
    p = linked.picks
    config = make_config()
    webhook.modes["/duty_north"] = "fail"  # the server answers 500
    write_scores(warehouse, NIGHT, {p.quiet_north: {"band": "high"}})
    report = run_alerts(warehouse, NIGHT, store_url, config, NOW)
    assert (report.delivery.sent, report.delivery.failed) == (0, 1)
    lines = "\n".join(report.lines())
    assert "0 sent, 1 failed (to retry)" in lines and "error=500" in lines
    (row,) = _rows(store_url, DELIVERIES)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["next_attempt_at"] == NOW.replace(tzinfo=None) + dt.timedelta(minutes=5)
    assert _alerts(store_url)[p.quiet_north]["state"] == "pending"  # kept, visible

    early = retry_failed(store_url, config, NOW + dt.timedelta(minutes=4))
    assert (early.sent, early.failed) == (0, 0)
    second = retry_failed(store_url, config, NOW + dt.timedelta(minutes=6))
    assert second.failed == 1 and second.owed_retrying == 1
    (row,) = _rows(store_url, DELIVERIES)
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == NOW.replace(tzinfo=None) + dt.timedelta(minutes=36)

    webhook.modes.clear()  # the partner's server is back
    third = retry_failed(store_url, config, NOW + dt.timedelta(minutes=40))
    assert third.sent == 1 and third.owed_retrying == 0 and third.owed_alerts == 0
    (row,) = _rows(store_url, DELIVERIES)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("sent", 3, None)
    assert _alerts(store_url)[p.quiet_north]["state"] == "delivered"
    assert len(webhook.taken("duty_north")) == 1
    assert len([h for h in webhook.hooks if h.status == 500]) == 2
    assert retry_failed(store_url, config, NOW + dt.timedelta(days=1)).sent == 0


@pytest.mark.parametrize("dead", ["closed port", "timeout"])
def test_a_target_that_refuses_or_times_out_is_given_up_and_reported_never_dropped(
    dead: str,
    linked: Linked,
    warehouse: Path,
    make_config: ConfigMaker,
    webhook: WebhookServer,
    smtp: SmtpSink,
    tmp_path: Path,
) -> None:
    from servers import free_port

    p = linked.picks
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"

    def edit(cfg: dict[str, Any]) -> None:
        if dead == "closed port":
            url = f"mailto://127.0.0.1:{free_port()}?from=a@council.example&to={{email}}&cto=1"
            cfg["professionals"]["targets"] = {"email": url}
        else:
            webhook.modes["/duty_north"] = "slow"

    config = make_config(edit)
    person = p.police_pair[0] if dead == "closed port" else p.quiet_north
    write_scores(warehouse, NIGHT, {person: {"band": "high"}})
    report = run_alerts(warehouse, NIGHT, store_url, config, NOW)
    assert report.delivery.failed == 1 and report.delivery.sent == 0
    later = [retry_failed(store_url, config, NOW + dt.timedelta(hours=h)) for h in (1, 2)]
    assert later[0].failed == 1 and later[1].gave_up == 1
    assert (later[1].owed_retrying, later[1].owed_given_up, later[1].owed_alerts) == (0, 1, 1)
    assert "1 given up; 1 alerts still pending" in "\n".join(later[1].lines())
    (row,) = _rows(store_url, DELIVERIES)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 3, None)
    assert row["last_error"]
    assert _alerts(store_url)[person]["state"] == "pending"
    # Given up means no more tries, but the alert is not lost: it escalates.
    assert retry_failed(store_url, config, NOW + dt.timedelta(days=2)).failed == 0
    escalated = escalate(store_url, config, NOW + dt.timedelta(hours=25))
    assert escalated.escalated["managers"] == 1
    assert len(smtp.to("duty-manager@council.example")) == 1
    assert not webhook.taken("duty_default") and not webhook.taken("police_team")


def test_a_recipient_with_no_target_is_reported_and_the_alert_waits_for_one(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
) -> None:
    p = linked.picks
    bare = make_config(lambda c: c["teams"]["duty_north"].update(targets={}), name="bare")
    write_scores(warehouse, NIGHT, {p.quiet_north: {"band": "high"}})
    report = run_alerts(warehouse, NIGHT, store_url, bare, NOW)
    assert report.delivery.no_target == ["duty_north"]
    assert "no target for 1 recipient(s): duty_north" in "\n".join(report.lines())
    assert not smtp.mails and not webhook.hooks  # nobody else told instead
    (row,) = _rows(store_url, DELIVERIES)
    assert (row["target_tag"], row["status"]) == ("-", "failed")
    assert "duty_north has no target" in row["last_error"]
    assert _alerts(store_url)[p.quiet_north]["state"] == "pending"
    # The team gets a target; the next retry sends it there.
    fixed = retry_failed(store_url, make_config(), NOW + dt.timedelta(minutes=6))
    assert fixed.sent == 1
    assert {r["status"] for r in _rows(store_url, DELIVERIES)} == {"superseded", "sent"}
    (north,) = webhook.taken("duty_north")
    assert _refs(north.text) == {_alerts(store_url)[p.quiet_north]["reference"]}
    assert _alerts(store_url)[p.quiet_north]["state"] == "delivered"


def test_an_unacknowledged_alert_escalates_to_the_duty_manager_once(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    smtp: SmtpSink,
) -> None:
    p = linked.picks
    config = make_config()
    write_scores(warehouse, NIGHT, _marked(linked))
    run_alerts(warehouse, NIGHT, store_url, config, NOW)
    alerts = _alerts(store_url)
    mine = alerts[p.police_pair[0]]
    engine = open_store(store_url)
    assert acknowledge(engine, mine["reference"], p.officer, NOW + dt.timedelta(hours=2), 2)
    engine.dispose()
    assert escalate(store_url, config, NOW + dt.timedelta(hours=23)).escalated.total() == 0
    assert not smtp.to("duty-manager@council.example")
    report = escalate(store_url, config, NOW + dt.timedelta(hours=25))
    assert report.escalated == {"managers": 4}
    (mail,) = smtp.to("duty-manager@council.example")
    assert _refs(mail.text) == {
        a["reference"] for pid, a in alerts.items() if pid != mine["person_id"]
    }
    _assert_nothing_personal([mail.text], _personal(warehouse, list(alerts)))
    after = _alerts(store_url)
    assert after[mine["person_id"]]["escalated_at"] is None
    assert {a["escalated_to"] for pid, a in after.items() if pid != mine["person_id"]} == {
        "managers"
    }
    again = escalate(store_url, config, NOW + dt.timedelta(hours=48))
    assert again.escalated.total() == 0
    assert len(smtp.to("duty-manager@council.example")) == 1


def test_acknowledging_is_compare_and_set_one_of_two_wins(
    linked: Linked, warehouse: Path, store_url: str, make_config: ConfigMaker
) -> None:
    write_scores(warehouse, NIGHT, {linked.picks.quiet_north: {"band": "high"}})
    run_alerts(warehouse, NIGHT, store_url, make_config(), NOW)
    alert = _alerts(store_url)[linked.picks.quiet_north]
    engine = open_store(store_url)
    try:
        first = acknowledge(engine, alert["reference"], "a@x.example", NOW, alert["version"])
        second = acknowledge(engine, alert["reference"], "b@x.example", NOW, alert["version"])
    finally:
        engine.dispose()
    assert (first, second) == (True, False)
    after = _alerts(store_url)[linked.picks.quiet_north]
    assert (after["state"], after["acknowledged_by"]) == ("acknowledged", "a@x.example")
    assert after["version"] == alert["version"] + 1


def _two_a_night(linked: Linked, make_config: ConfigMaker) -> tuple[Path, list[str]]:
    """A config where duty_north takes two alerts a night, and four persons it routes."""
    p = linked.picks
    config = make_config(lambda c: c["teams"]["duty_north"].update(capacity=2))
    return config, [p.quiet_north, *p.quiet_more[:3]]


def test_a_team_over_capacity_holds_the_rest_for_the_next_night(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    webhook: WebhookServer,
) -> None:
    config, people = _two_a_night(linked, make_config)
    scores = dict(zip(people, (0.9, 0.8, 0.7, 0.6), strict=True))
    write_scores(warehouse, NIGHT, {pid: {"band": "high", "score": s} for pid, s in scores.items()})
    report = run_alerts(warehouse, NIGHT, store_url, config, NOW)
    assert report.held == {"duty_north": 2}
    alerts = _alerts(store_url)
    assert {pid: alerts[pid]["state"] for pid in people} == dict(
        zip(people, ("delivered", "delivered", "held", "held"), strict=True)
    )
    (first,) = webhook.taken("duty_north")
    assert _refs(first.text) == {alerts[pid]["reference"] for pid in people[:2]}
    steady = {pid: {"band": "high", "score": s, "change": "steady"} for pid, s in scores.items()}
    write_scores(warehouse, NIGHT2, steady)
    nxt = run_alerts(warehouse, NIGHT2, store_url, config, NOW + dt.timedelta(days=1))
    assert nxt.released == 2 and not nxt.held
    second = webhook.taken("duty_north")[1]
    assert _refs(second.text) == {alerts[pid]["reference"] for pid in people[2:]}
    assert {a["state"] for a in _alerts(store_url).values()} == {"delivered"}


def test_ties_at_a_teams_capacity_go_by_the_stated_rule(
    linked: Linked,
    warehouse: Path,
    store_url: str,
    make_config: ConfigMaker,
    webhook: WebhookServer,
) -> None:
    config, people = _two_a_night(linked, make_config)
    write_scores(warehouse, NIGHT, {pid: {"band": "high", "score": 0.4} for pid in people})
    report = run_alerts(warehouse, NIGHT, store_url, config, NOW)
    assert report.held == {"duty_north": 2}
    # Four alerts of one kind on one score: the two whose person ids hash lowest go out.
    first = set(sorted(people, key=pseudonym)[:2])
    alerts = _alerts(store_url)
    assert {pid for pid in people if alerts[pid]["state"] == "delivered"} == first


def test_case_pack_holds_the_minimum_to_act(
    linked: Linked, warehouse: Path, make_config: ConfigMaker, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    child = linked.picks.child_csc
    write_scores(warehouse, NIGHT, {child: {"band": "high"}})
    run_alerts(warehouse, NIGHT, store_url, make_config(), NOW)
    (row,) = _rows(store_url, CASE_PACKS)
    pack = json.loads(row["json"])
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute(
            """SELECT DISTINCT r.last_name FROM persons p JOIN person_records r
               USING (source, source_record_id) WHERE p.person_id = ? AND r.valid_to IS NULL""",
            [child],
        ).fetchall()
        households = con.execute(
            "SELECT household_id FROM households WHERE person_id = ?", [child]
        ).fetchall()
    finally:
        con.close()
    assert pack["person"]["person_id"] == child
    assert pack["person"]["last_name"] in {n[0] for n in names}
    assert pack["person"]["age"] < 16
    assert pack["reasons"][0]["text"] == REASON
    assert "childrens_social_care" in [a["agency"] for a in pack["agencies_involved"]]
    csc = [lp for lp in pack["lead_professionals"] if lp["agency"] == "childrens_social_care"]
    assert len(csc) == 1 and csc[0]["professional"]
    assert pack["alert"]["routed_to"] == "csc_team"
    assert pack["alert"]["lead_professional"]["agency"] == "childrens_social_care"
    assert pack["household"]["household_id"] == households[0][0]
    for member in pack["household"]["members"]:
        assert set(member) == {
            "person_id",
            "first_name",
            "last_name",
            "age",
            "relationship",
            "known_to",
        }
    for event in pack["recent_events"]:
        assert set(event) == {"date", "agency", "type", "what", "severity"}
        assert dt.date.fromisoformat(event["date"]) <= NIGHT
