"""The alert page and list as a duty professional reads them (issue 21): which trigger
fired and from what, what the score means, what "held" means, and forwarding by choosing
a colleague from the directory. Every assertion is on the rendered page."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import NOW, Inbox, add_alert, case_pack, csrf_of, fill, serve

from alerts.store import ALERTS, CASE_PACKS, open_store
from inbox.tables import FORWARDS, USERS
from inbox.wording import share_words

NIGHT = NOW.date()
BEFORE = dt.date(2026, 10, 27)


def _set(inbox: Inbox, reference: str, **values: object) -> None:
    with inbox.engine.begin() as conn:
        conn.execute(sa.update(ALERTS).where(ALERTS.c.reference == reference).values(**values))


def _text(page: str) -> str:
    """The page's text as a person reads it: tags dropped, entities read, spaces joined."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_a_new_high_band_says_from_what_and_since_when(inbox: Inbox) -> None:
    _set(
        inbox,
        "TEAMNORTH1",
        triggers_json=json.dumps([{"kind": "new_high", "rule": ""}]),
        previous_band="medium",
        previous_score=0.12,
        previous_night=BEFORE,
        share_below=0.9734,
    )
    page = _text(inbox.client("mash_north").get("/alerts/TEAMNORTH1").text)
    assert "New: risk rose from medium to high since 27 Oct 2026 (score 0.12 to 0.81)." in page
    # What the score means: its band, its place in the night, the chance it stands for.
    assert "Band high, score 0.81 on a scale of 0 to 1." in page
    assert "Scored higher than 97% of the people scored on 3 Nov 2026." in page
    assert (
        "Of people given a score like this, about 81 in 100 had a serious event (a child "
        "protection plan, safeguarding enquiry or serious incident) within 182 days (about "
        "6 months), when the model was checked against past records." in page
    )


def test_a_step_down_says_risk_fell_and_from_what(inbox: Inbox) -> None:
    _set(
        inbox,
        "TEAMNORTH2",
        kind="step_down",
        triggers_json=json.dumps([{"kind": "step_down", "rule": ""}]),
        band="medium",
        score=0.08,
        previous_band="very_high",
        previous_score=0.41,
        previous_night=BEFORE,
        share_below=0.62,
    )
    page = _text(inbox.client("mash_north").get("/alerts/TEAMNORTH2").text)
    assert (
        "Step-down: risk fell from very high to medium since 27 Oct 2026 (score 0.41 to 0.08)."
        in page
    )
    assert "close the alert if the concern has passed" in page
    assert "about 8 in 100" in page
    assert "risk rose" not in page
    listed = _text(inbox.client("mash_north").get("/alerts").text)
    assert "TEAMNORTH2 2026-11-03 medium 0.08 Step-down: very high to medium" in listed
    assert "TEAMNORTH1 2026-11-03 high 0.81 New MASH duty team" in listed  # nothing recorded


def test_every_trigger_of_an_alert_is_worded_an_indicator_by_its_sentence(inbox: Inbox) -> None:
    _set(
        inbox,
        "POLICEPAT1",
        band="very_high",
        triggers_json=json.dumps(
            [{"kind": "rise", "rule": ""}, {"kind": "indicator", "rule": "missing_repeat"}]
        ),
        previous_band="high",
        previous_score=0.22,
        previous_night=BEFORE,
        share_below=0.9987,
    )
    pack = case_pack("CARA")
    pack["indicators"] = [{"rule": "missing_repeat", "text": "3 missing episodes in 90 days"}]
    with inbox.engine.begin() as conn:
        conn.execute(
            sa.update(CASE_PACKS)
            .where(CASE_PACKS.c.person_id == "person-POLICEPAT1")
            .values(json=json.dumps(pack))
        )
    page = _text(inbox.client("pat.reid@police.example").get("/alerts/POLICEPAT1").text)
    assert "Rise: risk rose from high to very high since 27 Oct 2026 (score 0.22 to 0.90)." in page
    assert (
        "Indicator: 3 missing episodes in 90 days. A rule beside the model fired, which had "
        "not at the last score since 27 Oct 2026." in page
    )
    assert "Scored higher than 99.8% of the people scored on 3 Nov 2026." in page


def test_an_alert_stored_before_its_history_was_recorded_says_only_what_is_known(
    inbox: Inbox,
) -> None:
    page = _text(inbox.client("duty_manager").get("/alerts/ADULTSOTH1").text)
    assert "New: risk is now high (what it was before is not recorded on this alert)." in page
    assert "Scored higher than" not in page
    assert "about 70 in 100" in page


def test_a_store_made_before_the_history_columns_gains_them_and_its_alerts_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = open_store(url)
    fill(store)
    with store.begin() as conn:  # as a store made before issue 21 was
        for column in ("previous_band", "previous_score", "previous_night", "share_below"):
            conn.execute(sa.text(f"ALTER TABLE alerts DROP COLUMN {column}"))
    store.dispose()
    served = serve(url, monkeypatch, filled=True)
    inbox = next(served)
    try:
        page = _text(inbox.client("mash_north").get("/alerts/TEAMNORTH1").text)
        assert "New: risk is now high (what it was before is not recorded" in page
        with inbox.engine.connect() as conn:
            assert conn.execute(sa.select(ALERTS.c.previous_band)).scalars().all() == [None] * 4
    finally:
        served.close()


def test_a_first_score_says_so() -> None:
    from inbox.wording import trigger_line

    alert = {"band": "high", "score": 0.2, "night": NIGHT, "share_below": 0.9}
    assert trigger_line("new_high", "", alert, {}) == (
        "New: scored for the first time on 3 Nov 2026, at high risk."
    )


def test_shares_are_never_overstated() -> None:
    assert [share_words(s) for s in (0.0, 0.5, 0.979, 0.99, 0.9999)] == [
        "0%",
        "50%",
        "97%",
        "99.0%",
        "99.9%",
    ]


def test_held_is_explained_in_the_list_and_on_the_page(inbox: Inbox) -> None:
    with inbox.engine.begin() as conn:
        add_alert(conn, "HELDNORTH1", "mash_north", "mash_north", state="held")
    client = inbox.client("mash_north")
    listed = _text(client.get("/alerts").text)
    assert "held (not sent yet: over the team's capacity)" in listed
    assert (
        "held not sent yet. More alerts came to this team that night than it takes in a "
        "night, so no message has told anyone of this one;" in listed
    )
    page = _text(client.get("/alerts/HELDNORTH1").text)
    assert "Held: not sent yet. More alerts came to this team that night" in page
    assert "It can be acted on here now." in page


def _options(page: str) -> dict[str, str]:
    """The forward picker's choices: value -> what it reads."""
    picker = re.search(r'<select name="to" required>(.*?)</select>', page, re.S)
    assert picker is not None, "no colleague picker on the page"
    return {
        v: " ".join(html.unescape(t).split())
        for v, t in re.findall(r'<option value="([^"]*)">(.*?)</option>', picker.group(1), re.S)
    }


def test_forward_is_to_a_colleague_chosen_from_the_directory(inbox: Inbox) -> None:
    with inbox.engine.begin() as conn:  # a leaver is not offered
        conn.execute(
            sa.update(USERS)
            .where(USERS.c.username == "lee.hart@adults.council.example")
            .values(left_at=NOW)
        )
    client = inbox.client("mash_north")
    options = _options(client.get("/alerts/TEAMNORTH1").text)
    # Professionals and duty managers still here, never an analyst, admin, manager, a
    # leaver or oneself; each by name, team and agency.
    assert options == {
        "": "Choose a colleague",
        "duty_manager": "Sam Okafor (Safeguarding duty manager)",
        "pat.reid@police.example": "Pat Reid (police)",
    }
    answer = client.post(
        "/alerts/TEAMNORTH1/forward",
        data={
            "csrf": csrf_of(client, "/alerts"),
            "version": "1",
            "to": "pat.reid@police.example",
            "note": "yours",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.select(FORWARDS.c.to_user)).scalars().all() == [
            "pat.reid@police.example"
        ]
    page = _text(client.get("/alerts/TEAMNORTH1").text)
    assert "Forwarded by mash_north to pat.reid@police.example" in page


def test_a_choice_off_the_directory_is_still_refused_and_nothing_stored(inbox: Inbox) -> None:
    with inbox.engine.begin() as conn:  # a leaver is refused too, not only left off the list
        conn.execute(
            sa.update(USERS)
            .where(USERS.c.username == "lee.hart@adults.council.example")
            .values(left_at=NOW)
        )
    client = inbox.client("mash_north")
    token = csrf_of(client, "/alerts")
    for to in (
        "admin",
        "analyst",
        "manager",
        "mash_north",
        "nobody@police.example",
        "lee.hart@adults.council.example",
    ):
        answer = client.post(
            "/alerts/TEAMNORTH1/forward",
            data={"csrf": token, "version": "1", "to": to, "note": "n"},
        )
        assert answer.status_code == 422, to
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(FORWARDS)).scalar() == 0
