"""What stops an alert, on the linked world and a real store: silences (with an expiry, an
author and a reason), the cool-down, step-downs for people never alerted; and what merges
several triggers for one person into one alert."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from alertworld import NIGHT, NOW, ConfigMaker, Linked, SmtpSink, WebhookServer, write_scores

from alerts import WarehouseError, add_silence, run_alerts
from alerts.store import ALERTS, open_store

DAY = dt.timedelta(days=1)


def _alerts(store_url: str) -> list[dict[str, Any]]:
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(ALERTS).order_by(ALERTS.c.id))]
    finally:
        engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def test_a_silence_stops_matching_alerts_until_it_expires(
    linked: Linked, warehouse: Path, store: str, make_config: ConfigMaker
) -> None:
    p = linked.picks
    config = make_config()
    engine = open_store(store)
    add_silence(
        engine,
        [f"person_id={p.quiet_north}", "kind=~new_high|rise"],
        NOW + 2 * DAY,
        "duty.manager@council.example",
        "family moved away; case held by the receiving council",
        NOW - DAY,
    )
    with pytest.raises(ValueError, match="expire in the future"):
        add_silence(engine, ["area=JU1"], NOW - DAY, "a@b.example", "why", NOW)
    with pytest.raises(ValueError, match="an author and a reason"):
        add_silence(engine, ["area=JU1"], NOW + DAY, "a@b.example", " ", NOW)
    with pytest.raises(ValueError, match="at least one matcher"):
        add_silence(engine, [], NOW + DAY, "a@b.example", "why", NOW)
    with pytest.raises(ValueError, match="no label"):
        add_silence(engine, ["name=Smith"], NOW + DAY, "a@b.example", "why", NOW)
    engine.dispose()
    marked = {p.quiet_north: {"band": "high"}, p.quiet_south: {"band": "high"}}
    write_scores(warehouse, NIGHT, marked)
    report = run_alerts(warehouse, NIGHT, store, config, NOW)
    assert report.suppressed["silenced"] == 1
    # Counted in alerts too: two selected, the silenced one never stored.
    assert (report.selected, report.silenced, sum(report.created.values())) == (2, 1, 1)
    assert [a["person_id"] for a in _alerts(store)] == [p.quiet_south]
    # Two nights on, the silence has expired: a new entry into the band alerts again.
    write_scores(warehouse, NIGHT + DAY, {}, band="low")
    write_scores(warehouse, NIGHT + 3 * DAY, marked)
    later = run_alerts(warehouse, NIGHT + 3 * DAY, store, config, NOW + 3 * DAY)
    assert not later.suppressed["silenced"]
    assert [a["person_id"] for a in _alerts(store)][-1] == p.quiet_north


def test_the_cool_down_stops_a_second_alert_of_a_kind_for_a_person(
    linked: Linked, warehouse: Path, store: str, make_config: ConfigMaker
) -> None:
    who = linked.picks.quiet_north
    # A period of one night, so that only the cool-down can stop the second alert.
    short = make_config(lambda c: c["selection"].update(dedup_period_days=1, cool_down_days=14))
    for n in (0, 2, 4):
        write_scores(warehouse, NIGHT + n * DAY, {who: {"band": "high"}})
        write_scores(warehouse, NIGHT + (n + 1) * DAY, {}, band="low")
    first = run_alerts(warehouse, NIGHT, store, short, NOW)
    assert sum(first.created.values()) == 1
    again = run_alerts(warehouse, NIGHT + 2 * DAY, store, short, NOW + 2 * DAY)
    assert again.suppressed["in cool-down"] == 1 and not again.created
    none = make_config(
        lambda c: c["selection"].update(dedup_period_days=1, cool_down_days=0), name="none"
    )
    after = run_alerts(warehouse, NIGHT + 4 * DAY, store, none, NOW + 4 * DAY)
    assert after.created == {"new_high": 1}
    assert [a["night"] for a in _alerts(store)] == [NIGHT, NIGHT + 4 * DAY]


def test_a_step_down_alerts_only_someone_alerted_lately_and_goes_where_they_went(
    linked: Linked, warehouse: Path, store: str, make_config: ConfigMaker
) -> None:
    p = linked.picks
    config = make_config()
    write_scores(warehouse, NIGHT, {p.police_pair[0]: {"band": "very_high", "score": 0.9}})
    run_alerts(warehouse, NIGHT, store, config, NOW)
    down = {"band": "low", "score": 0.1, "change": "step_down", "previous_score": 0.9}
    write_scores(warehouse, NIGHT + DAY, {p.police_pair[0]: down, p.quiet_north: down})
    report = run_alerts(warehouse, NIGHT + DAY, store, config, NOW + DAY)
    assert report.suppressed["step-down for someone not alerted lately"] == 1
    first, second = _alerts(store)
    assert (second["person_id"], second["kind"]) == (p.police_pair[0], "step_down")
    assert second["routed_to"] == first["routed_to"] == p.officer
    # What the inbox words the trigger and the score from: the last score before the night.
    assert first["previous_band"] is None and first["previous_night"] is None
    assert (second["previous_band"], second["previous_score"]) == ("very_high", 0.9)
    assert second["previous_night"] == NIGHT
    assert 0 <= second["share_below"] < 1 and first["share_below"] is not None


def test_several_triggers_for_one_person_make_one_alert(
    linked: Linked, warehouse: Path, store: str, make_config: ConfigMaker, smtp: SmtpSink
) -> None:
    p = linked.picks
    config = make_config()
    tonight = {
        p.quiet_south: {"band": "high", "change": "rise", "indicators": ["three_agencies"]},
    }
    write_scores(warehouse, NIGHT, tonight)
    report = run_alerts(warehouse, NIGHT, store, config, NOW)
    assert report.candidates == {"new_high": 1, "rise": 1, "indicator": 1}
    (alert,) = _alerts(store)
    assert alert["kind"] == "new_high"
    assert json.loads(alert["triggers_json"]) == [
        {"kind": "new_high", "rule": ""},
        {"kind": "rise", "rule": ""},
        {"kind": "indicator", "rule": "three_agencies"},
    ]
    (mail,) = smtp.mails
    assert mail.text.count("/alerts/") == 1
    # Every trigger's key is held, not only the alert's: the night run again with fewer
    # triggers adds nothing.
    write_scores(warehouse, NIGHT, {p.quiet_south: {"band": "high", "change": "rise"}})
    assert not run_alerts(warehouse, NIGHT, store, config, NOW).created


def test_without_scores_for_the_night_nothing_is_selected_or_sent(
    linked: Linked,
    warehouse: Path,
    store: str,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
) -> None:
    with pytest.raises(WarehouseError, match="no scores table"):
        run_alerts(warehouse, NIGHT, store, make_config(), NOW)
    write_scores(warehouse, NIGHT, {linked.picks.quiet_north: {"band": "high"}})
    with pytest.raises(WarehouseError, match=f"no scores for {NIGHT + DAY}"):
        run_alerts(warehouse, NIGHT + DAY, store, make_config(), NOW)
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM scores").fetchall()[0][0] > 0
    con.close()
    assert not smtp.mails and not webhook.hooks
