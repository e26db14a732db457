"""The alerts asset in the nightly job: a night's digests sent after its scores, to a real
SMTP server; a night run again sends nothing; a night not scored warns; the checks read
the store and can fail. Retries and escalation run as a job of their own."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from nightlyjob import checks_of, materialized, run_nightly
from riskworld import N1, N2, RiskWorld, risk_world
from servers import SmtpSink, smtp_server

from alerts import add_silence, open_store, run_alerts
from alerts.store import ALERT_KEYS, ALERTS, DELIVERIES, DELIVERY_ALERTS
from pipelines.definitions import build
from pipelines.defs.alerts import FOLLOWUP, NOT_SCORED, SENT, STEP, sent_checks
from pipelines.defs.risk import SCORES
from pipelines.environment import alerts_file
from pipelines.nightly import run_night

pytestmark = pytest.mark.slow


@dataclass
class Nights:
    """The risk world's nights run through the nightly job, with what each run did."""

    root: Path
    instance: dg.DagsterInstance
    smtp: SmtpSink
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    mails: dict[str, int] = field(default_factory=dict)  # messages taken after each run
    lines: list[str] = field(default_factory=list)  # run_night's for night 2

    @property
    def store(self) -> str:
        return f"sqlite:///{self.root / 'store.sqlite'}"


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
def nights(
    rw: RiskWorld, smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nights]:
    """Night 1 before any risk model, then scored; again; night 2 through `run_night`."""
    root = rw.data(tmp_path_factory.mktemp("nightly_alerts"), risk_model=False)
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))
    patch.setenv("JOINEDUP_WORLD", str(rw.world))
    patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{smtp.port}")
    for name in ("JOINEDUP_WAREHOUSE", "JOINEDUP_STORE", "JOINEDUP_ALERTS"):
        patch.delenv(name, raising=False)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            done = Nights(root, instance, smtp)

            def run(name: str, night: dt.date) -> None:
                done.runs[name] = run_nightly(instance, night, [SCORES, SENT])
                done.mails[name] = len(smtp.mails)

            run("not scored", N1)
            shutil.copytree(rw.models / "risk-v1", root / "models" / "risk-v1")
            run("night 1", N1)
            run("night 1 again", N1)
            ok, done.lines = run_night(N2, ingest=False)
            assert ok, done.lines
            done.mails["night 2"] = len(smtp.mails)
            yield done
    finally:
        patch.undo()


def _sent(run: Any) -> dict[str, Any]:
    return materialized(run, STEP, SENT)


def _checks(run: Any) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    return checks_of(run, SENT)


def _select(store: str, query: Any) -> list[dict[str, Any]]:
    engine = open_store(store)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _execute(store: str, *statements: Any) -> None:
    engine = open_store(store)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()


def test_a_night_not_scored_says_so_and_warns(nights: Nights) -> None:
    run = nights.runs["not scored"]
    assert run.success
    meta = _sent(run)
    assert meta["status"] == meta["summary"] == NOT_SCORED
    assert meta["reason"].startswith("the warehouse has no scores table")
    assert "selected" not in meta
    # Checks that need a run are not evaluated, rather than passed unlooked.
    assert set(_checks(run)) == {"sent"}
    passed, severity, found = _checks(run)["sent"]
    assert (passed, severity, found["status"]) == (False, "WARN", NOT_SCORED)
    assert nights.mails["not scored"] == 0


def test_the_job_sends_the_nights_digests_after_its_scores(nights: Nights) -> None:
    run = nights.runs["night 1"]
    assert run.success
    order = [e.asset_key for e in run.get_asset_materialization_events()]
    assert order == [SCORES, SENT]
    meta = _sent(run)
    assert meta["status"] == "sent"
    assert meta["selected"] > 0 and meta["alerts_stored"] == meta["selected"]
    assert meta["messages_sent"] > 0 and meta["messages_failed"] == 0
    assert meta["summary"].startswith(f"{meta['selected']} alerts selected from ")
    # Every digest the store says was sent is a message the SMTP server took.
    sent = _select(
        nights.store,
        sa.select(DELIVERIES.c.recipient, DELIVERIES.c.subject).where(
            DELIVERIES.c.batch == f"digest:{N1}", DELIVERIES.c.status == "sent"
        ),
    )
    assert nights.mails["night 1"] == len(sent) == meta["messages_sent"]
    taken = nights.smtp.mails[: nights.mails["night 1"]]
    assert sorted(m.message["Subject"] for m in taken) == sorted(r["subject"] for r in sent)
    stored = _select(nights.store, sa.select(ALERTS.c.reference).where(ALERTS.c.night == N1))
    told = "\n".join(m.text for m in taken)
    in_digests = meta["selected"] - meta["held"]
    assert sum(r["reference"] in told for r in stored) == in_digests
    checks = _checks(nights.runs["night 1"])
    assert all(passed for passed, _, _ in checks.values()), checks
    reconciles = checks["sent_reconciles"][2]
    assert reconciles["sent"] == reconciles["expected_sent"] == in_digests
    assert reconciles["held"] == meta["held"] and reconciles["silenced"] == 0
    assert checks["no_duplicate_keys"][2]["alerts"] == len(stored)


def test_a_night_run_again_sends_nothing(nights: Nights) -> None:
    run = nights.runs["night 1 again"]
    assert run.success
    assert nights.mails["night 1 again"] == nights.mails["night 1"]  # no new message
    meta = _sent(run)
    assert meta["status"] == "sent"
    assert meta["triggers"] == _sent(nights.runs["night 1"])["triggers"]
    assert (meta["selected"], meta["alerts_stored"], meta["messages_sent"]) == (0, 0, 0)
    assert "0 messages sent" in meta["summary"]
    checks = _checks(run)
    assert all(passed for passed, _, _ in checks.values()), checks
    assert checks["sent_reconciles"][2]["stored"] == 0
    first = _checks(nights.runs["night 1"])["no_duplicate_keys"][2]["alerts"]
    assert checks["no_duplicate_keys"][2]["alerts"] == first


def test_run_night_reports_the_alerts(nights: Nights) -> None:
    assert [x.split()[0] for x in nights.lines] == ["persons", "scores", "alerts"]
    alerts = nights.lines[2]
    assert alerts.startswith(f"{'alerts':<24} ") and " alerts selected from " in alerts
    assert nights.mails["night 2"] > nights.mails["night 1 again"]
    sent = re.search(r"; (\d+) messages sent, 0 failed, 0 given up$", alerts)
    assert sent is not None, alerts
    assert int(sent.group(1)) == nights.mails["night 2"] - nights.mails["night 1 again"]


def test_without_the_mail_relay_the_step_fails_in_words(
    nights: Nights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOINEDUP_SMTP_URL")
    ok, lines = run_night(N2, ingest=False)
    assert not ok
    assert lines[1].startswith(f"{'scores':<24} already scored")
    assert lines[2].startswith(f"{'alerts':<24} FAILED  {alerts_file()}:")
    assert "environment variable JOINEDUP_SMTP_URL is not set" in lines[2]
    assert "Traceback" not in "\n".join(lines)


def _copy(nights: Nights, to: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    shutil.copytree(nights.root, to)
    monkeypatch.setenv("JOINEDUP_DATA", str(to))
    return f"sqlite:///{to / 'store.sqlite'}"


def test_a_key_held_for_another_alert_fails_the_check(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _copy(nights, tmp_path / "data", monkeypatch)
    first, second = _select(
        store, sa.select(ALERTS.c.id, ALERTS.c.dedup_key).order_by(ALERTS.c.id).limit(2)
    )
    _execute(
        store,
        sa.update(ALERT_KEYS)
        .where(ALERT_KEYS.c.dedup_key == first["dedup_key"])
        .values(alert_id=second["id"]),
    )
    before = len(nights.smtp.mails)
    run = run_nightly(nights.instance, N1, [SENT])
    assert len(nights.smtp.mails) == before  # the key is still held: nothing sent again
    passed, severity, found = _checks(run)["no_duplicate_keys"]
    assert (passed, severity) == (False, "ERROR")
    assert found["keys_held_for_another_alert"] == 1
    assert found["keys_shared_by_alerts"] == 0 and found["keys_not_held"] == 0


def test_sent_reconciles_counts_from_the_store(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silenced and held alerts are accounted for; an alert the store has in no digest
    fails the check."""
    monkeypatch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{nights.smtp.port}")
    config = yaml.safe_load(alerts_file().read_text())
    for team in config["teams"].values():
        team["capacity"] = 2
    small = tmp_path / "alerts.yaml"
    small.write_text(yaml.safe_dump(config))
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    now = dt.datetime.now(dt.UTC)
    engine = open_store(store)
    try:
        add_silence(
            engine, ["band=very_high"], now + dt.timedelta(days=1), "a.manager", "a test", now
        )
    finally:
        engine.dispose()
    report = run_alerts(nights.root / "warehouse.duckdb", N1, store, small, now)
    assert report.silenced > 0 and sum(report.held.values()) > 0
    checks = {c.check_name: c for c in sent_checks(store, report, now)}
    assert checks["sent_reconciles"].passed, checks["sent_reconciles"].metadata
    meta = {k: v.value for k, v in checks["sent_reconciles"].metadata.items()}
    assert meta["sent"] == report.selected - report.silenced - meta["held"] > 0
    assert meta["held"] == sum(report.held.values())
    # One alert of the run dropped from its digest: the store no longer reconciles.
    (told,) = _select(store, sa.select(DELIVERY_ALERTS.c.alert_id).limit(1))
    _execute(
        store, sa.delete(DELIVERY_ALERTS).where(DELIVERY_ALERTS.c.alert_id == told["alert_id"])
    )
    check = {c.check_name: c for c in sent_checks(store, report, now)}["sent_reconciles"]
    assert not check.passed
    assert check.metadata["sent"].value == meta["sent"] - 1


def test_the_followup_job_retries_then_escalates(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _copy(nights, tmp_path / "data", monkeypatch)
    day_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=25)
    (failed,) = _select(
        store,
        sa.select(DELIVERIES.c.id, DELIVERIES.c.recipient, DELIVERIES.c.subject)
        .where(DELIVERIES.c.status == "sent")
        .order_by(DELIVERIES.c.id)
        .limit(1),
    )
    _execute(
        store,
        sa.update(DELIVERIES)
        .where(DELIVERIES.c.id == failed["id"])
        .values(status="failed", last_error="a test", next_attempt_at=day_ago, sent_at=None),
        sa.update(ALERTS).where(ALERTS.c.night == N1).values(created_at=day_ago),
    )
    overdue = len(_select(store, sa.select(ALERTS.c.id).where(ALERTS.c.night == N1)))
    before = len(nights.smtp.mails)
    run = build().resolve_job_def(FOLLOWUP).execute_in_process(instance=nights.instance)
    assert run.success
    steps = [e.step_key for e in run.get_step_success_events()]
    assert steps == ["retry_failed_deliveries", "escalate_unacknowledged"]
    new = nights.smtp.mails[before:]
    assert new[0].message["Subject"] == failed["subject"]
    escalated = [m for m in new[1:] if "not acknowledged" in m.message["Subject"]]
    assert len(escalated) == 1 and escalated[0].recipients == ["duty-manager@council.example"]
    assert escalated[0].message["Subject"].startswith(f"joinedup: {overdue} alerts not ")
    meta = {
        e.step_key: {k: v.value for k, v in e.event_specific_data.metadata.items()}
        for e in run.all_events
        if e.event_type_value == "STEP_OUTPUT"
    }
    assert meta["retry_failed_deliveries"]["messages_sent"] == 1
    assert meta["escalate_unacknowledged"]["escalated"] == overdue
