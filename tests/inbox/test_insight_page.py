"""The managers' insight page and the summary: every count on them, and in the export,
passes the disclosure rule; no hidden count can be worked out from what is shown; no
person is named, dated or identified; each view is audited."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from alertedworld import alerted_data, passes, report_counts
from conftest import Inbox, add_alert, fill, serve
from riskworld import N1, N2

from alerts.store import ALERTS, open_store
from inbox.tables import AUDIT_LOG
from insight import SUPPRESSED, DisclosureRule, Protected, recoverable

COUNT = re.compile(r'<td class="count">([^<]*)</td>')
ROW = re.compile(r"<tr><th>[^<]*</th>((?:<td class=\"count\">[^<]*</td>)+)</tr>")

# Alerts to plant by team and state: small counts beside large ones, so some are hidden.
PLANTED = {
    ("mash_north", "delivered"): 23,
    ("mash_north", "closed"): 3,
    ("mash_brookfield", "delivered"): 14,
    ("mash_brookfield", "closed"): 9,
    ("csc_front_door", "acknowledged"): 6,
    ("csc_front_door", "closed"): 31,
}


def _published(page: str, rule: DisclosureRule) -> Protected:
    """The summary's table as the page shows it: cells, row totals, column totals, total."""
    rows = [COUNT.findall(r) for r in ROW.findall(page)]
    shown = [[v if v == SUPPRESSED else int(v) for v in r] for r in rows]
    *body, totals = shown
    return Protected(
        cells=[r[:-1] for r in body],
        row_totals=[r[-1] for r in body],
        column_totals=totals[:-1],
        total=totals[-1],
        rule=rule,
    )


def _audited(engine: sa.Engine, action: str) -> list[sa.Row[tuple[str, str, str]]]:
    query = sa.select(AUDIT_LOG.c.actor, AUDIT_LOG.c.role, AUDIT_LOG.c.detail).where(
        AUDIT_LOG.c.action == action
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


def test_the_summary_passes_the_rule_and_gives_no_hidden_count_away(inbox: Inbox) -> None:
    with inbox.engine.begin() as conn:
        for (team, state), n in PLANTED.items():
            for i in range(n):
                add_alert(conn, f"{team[:6]}{state[:3]}{i}", team, team, state=state)
    page = inbox.client("manager").get("/summary").text
    counts = COUNT.findall(page)
    assert len(counts) == (5 + 1) * (3 + 1)  # 5 teams and 3 states, the fixture's included
    assert [c for c in counts if not passes(c)] == []
    published = _published(page, DisclosureRule())
    assert SUPPRESSED in published.values()
    ranges = recoverable(published)
    assert ranges and all(high - low >= 1 for low, high in ranges.values())
    assert [(a, r) for a, r, _ in _audited(inbox.engine, "view_summary")] == [
        ("manager", "manager")
    ]


@pytest.fixture(scope="module")
def alerted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return alerted_data(tmp_path_factory)


@pytest.fixture(scope="module")
def with_users(alerted: Path) -> str:
    """The alerted world's store with the test's users (and four alerts of their own)."""
    url = f"sqlite:///{alerted / 'store.sqlite'}"
    store = open_store(url)
    with store.connect() as conn:
        alerts = conn.execute(sa.select(sa.func.count()).select_from(ALERTS)).scalar_one()
    assert alerts >= 30, "the alerted world has too few alerts to test the page on"
    fill(store)
    store.dispose()
    return url


@pytest.fixture
def managers(with_users: str, alerted: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """The inbox over the alerted world's store, with its warehouse."""
    yield from serve(with_users, monkeypatch, alerted / "warehouse.duckdb", filled=True)


def _people(warehouse: Path) -> tuple[set[str], set[str], set[str]]:
    """Every alerted person's ids, names and dates of birth, as the warehouse holds them."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.sql(
            """SELECT DISTINCT p.person_id, r.first_name, r.last_name, CAST(r.dob AS VARCHAR)
            FROM scores s JOIN persons p USING (person_id)
            JOIN person_records r ON r.source || ':' || r.source_record_id = p.unique_id
            WHERE s.band IN ('high', 'very_high')"""
        ).fetchall()
    finally:
        con.close()
    ids = {r[0] for r in rows}
    names = {n for r in rows for n in r[1:3] if n and len(n) > 3}
    return ids, names, {r[3] for r in rows if r[3]}


@pytest.mark.slow
def test_the_managers_page_shows_the_periods_insight_every_count_controlled(
    managers: Inbox, alerted: Path
) -> None:
    client = managers.client("manager")
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/insight"
    answer = client.get(f"/insight?start=2025-06-01&end={N2.isoformat()}")
    assert answer.status_code == 200, answer.text[:500]
    page = answer.text
    for heading in (
        "Alerts by month and team",
        "Alerts closed, by team and outcome",
        "Events by month and area",
        "Referrals by month and source",
        "Reach: people flagged",
    ):
        assert heading in page
    assert "MASH duty team" in page and "Support offered" in page  # teams and outcomes in words
    assert "Outcomes of the alerts closed in the period" in page
    counts = COUNT.findall(page)
    assert len(counts) > 200
    assert [c for c in counts if not passes(c)] == []
    ids, names, dobs = _people(alerted / "warehouse.duckdb")
    assert len(ids) > 30 and names and dobs
    without_token = re.sub(r'value="[^"]*"', "", page)
    assert [i for i in ids if i in without_token] == []
    assert [n for n in names if re.search(rf"\b{re.escape(n)}\b", without_token)] == []
    assert [d for d in dobs if d in without_token] == []
    assert _audited(managers.engine, "view_insight")[-1] == (
        "manager",
        "manager",
        f"2025-06-01 to {N2.isoformat()}",
    )


@pytest.mark.slow
def test_the_export_passes_the_rule_and_is_audited(managers: Inbox) -> None:
    answer = managers.client("analyst").get("/insight.json")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    report = json.loads(answer.text)
    # No period asked for: the year to the newest night linked.
    assert report["period"]["to"] == N2.isoformat() and report["period"]["from"] < N1.isoformat()
    counts = report_counts(report)
    assert len(counts) > 200 and [c for c in counts if not passes(c)] == []
    assert report["alerts"]["alerts_by_month_and_team"]["rows"]
    assert _audited(managers.engine, "export_insight")[-1][:2] == ("analyst", "analyst")


@pytest.mark.slow
def test_a_period_that_is_not_one_is_refused(managers: Inbox) -> None:
    client = managers.client("manager")
    assert client.get("/insight?start=yesterday").status_code == 422
    later = client.get(f"/insight?start={N2.isoformat()}&end={N1.isoformat()}")
    assert later.status_code == 422 and "before --from" in later.text
