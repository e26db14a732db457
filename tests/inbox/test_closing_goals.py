"""Closing an alert records the professional's goal and how it went, through the real form
and store: both or neither, each from its list, audited; and a store made before the two
columns existed gains them when it is opened, keeping its rows."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
from conftest import NOW, Inbox, csrf_of
from scoredalerts import add_alerts

from alerts.store import ALERTS, open_store
from inbox.tables import AUDIT_LOG, GOALS, OUTCOME_ROWS, PROGRESS


def _close(inbox: Inbox, **form: str) -> httpx.Response:
    client = inbox.client("mash_north")
    data = {"csrf": csrf_of(client, "/alerts"), "version": "1", "outcome": "support_offered"}
    return client.post("/alerts/TEAMNORTH1/close", data={**data, **form}, follow_redirects=False)


def _outcome_rows(inbox: Inbox) -> list[tuple[str, str | None, str | None]]:
    with inbox.engine.connect() as conn:
        query = sa.select(OUTCOME_ROWS.c.outcome, OUTCOME_ROWS.c.goal, OUTCOME_ROWS.c.progress)
        return [tuple(r) for r in conn.execute(query)]


def test_the_close_form_offers_each_goal_and_each_way_it_went(inbox: Inbox) -> None:
    page = inbox.client("mash_north").get("/alerts/TEAMNORTH1").text
    for key, words in (*GOALS.items(), *PROGRESS.items()):
        assert f'<option value="{key}">{words}</option>' in page
    assert '<select name="goal"><option value="">' in page


def test_closing_with_a_goal_and_how_it_went_stores_and_audits_both(inbox: Inbox) -> None:
    assert _close(inbox, goal="maintain", progress="held_steady").status_code == 303
    assert _outcome_rows(inbox) == [("support_offered", "maintain", "held_steady")]
    with inbox.engine.connect() as conn:
        detail = conn.execute(
            sa.select(AUDIT_LOG.c.detail).where(AUDIT_LOG.c.action == "close")
        ).scalar_one()
    assert detail == "outcome support_offered, goal maintain, held_steady"


def test_closing_without_a_goal_stores_neither(inbox: Inbox) -> None:
    assert _close(inbox, outcome="not_a_concern").status_code == 303
    assert _outcome_rows(inbox) == [("not_a_concern", None, None)]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"goal": "improve"}, "Record the goal and how it went together"),
        ({"progress": "improved"}, "Record the goal and how it went together"),
        ({"goal": "cure", "progress": "improved"}, "Choose the goal from the list."),
        ({"goal": "improve", "progress": "better"}, "Choose how it went from the list."),
    ],
)
def test_a_goal_or_a_way_it_went_alone_or_off_the_list_is_refused(
    inbox: Inbox, form: dict[str, str], message: str
) -> None:
    answer = _close(inbox, **form)
    assert answer.status_code == 422
    assert message in answer.text
    assert _outcome_rows(inbox) == []
    with inbox.engine.connect() as conn:
        state = conn.execute(
            sa.select(ALERTS.c.state).where(ALERTS.c.reference == "TEAMNORTH1")
        ).scalar_one()
    assert state == "delivered"


def test_a_store_made_before_goals_gains_the_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = open_store(url)
    alerted = pl.DataFrame(
        {
            "person_id": ["P00000001"],
            "band": ["high"],
            "score": [0.5],
            "model_version": ["risk-v1"],
            "reasons": ["[]"],
        }
    )
    add_alerts(engine, alerted, NOW.date(), NOW)
    with engine.begin() as conn:
        # The store as an older version made it: inbox_outcomes without the two columns.
        conn.execute(sa.text("ALTER TABLE inbox_outcomes DROP COLUMN goal"))
        conn.execute(sa.text("ALTER TABLE inbox_outcomes DROP COLUMN progress"))
        alert_id = conn.execute(sa.select(ALERTS.c.id)).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO inbox_outcomes (alert_id, outcome, by, at) "
                "VALUES (:a, 'support_offered', 'someone', :at)"
            ),
            {"a": alert_id, "at": NOW},
        )
    engine.dispose()
    names = {c["name"] for c in sa.inspect(sa.create_engine(url)).get_columns("inbox_outcomes")}
    assert "goal" not in names and "progress" not in names

    engine = open_store(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(OUTCOME_ROWS.c.outcome, OUTCOME_ROWS.c.goal, OUTCOME_ROWS.c.progress)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("support_offered", None, None)]
    # Opening it again finds nothing to add.
    open_store(url).dispose()
