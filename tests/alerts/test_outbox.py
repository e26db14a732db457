"""Delivery as an outbox, with real processes and a real SMTP server on loopback: a pass
killed mid-delivery, and two passes at once, tell each recipient once.

The only message a recipient may get twice is the one the relay took while the pass died
before recording it; with one send in flight at a time that is at most one message.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alertworld import NIGHT, ConfigMaker, SmtpSink, store_rows, write_scores

from alerts.config import load_config
from alerts.deliver import DeliveryReport, plan_digests
from alerts.store import ALERTS, DELIVERED, DELIVERIES, PENDING, new_reference, open_store

RECIPIENTS = 51
JOINEDUP = str(Path(sys.executable).with_name("joinedup"))


def _address(i: int) -> str:
    return f"outbox{i:02d}@council.example"


def _config(make_config: ConfigMaker, smtp: SmtpSink, workers: int, lease_minutes: float) -> Path:
    """The test config with a team a recipient, each with its own mailbox on the relay."""

    def edit(cfg: dict[str, Any]) -> None:
        mail = f"mailto://127.0.0.1:{smtp.port}?from=alerts@joinedup.council.example"
        for i in range(RECIPIENTS):
            cfg["teams"][f"outbox{i:02d}"] = {
                "name": f"Outbox team {i}",
                "targets": {"email": f"{mail}&to={_address(i)}"},
            }
        cfg["delivery"] = {
            "backoff_minutes": [5, 30],
            "workers": workers,
            "lease_minutes": lease_minutes,
        }

    return make_config(edit)


def _seed(store_url: str) -> None:
    """One pending alert for each recipient tonight, as a run that selected them leaves."""
    engine = open_store(store_url)
    now = dt.datetime(2026, 11, 3, 6, 0)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(ALERTS),
                [
                    {
                        "reference": new_reference(),
                        "person_id": f"P-outbox-{i}",
                        "night": NIGHT,
                        "kind": "new_high",
                        "triggers_json": "[]",
                        "dedup_key": f"outbox|{i}",
                        "band": "high",
                        "score": 0.5,
                        "reasons_json": "[]",
                        "routed_team": f"outbox{i:02d}",
                        "routed_to": f"outbox{i:02d}",
                        "recipient_kind": "team",
                        "routing_rule": "test",
                        "state": PENDING,
                        "notify_night": NIGHT,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                    for i in range(RECIPIENTS)
                ],
            )
    finally:
        engine.dispose()


def _environment(warehouse: Path, store_url: str, config: Path) -> dict[str, str]:
    return os.environ | {
        "JOINEDUP_WAREHOUSE": str(warehouse),
        "JOINEDUP_STORE": store_url,
        "JOINEDUP_ALERTS": str(config),
    }


def _deliveries(store_url: str) -> list[dict[str, Any]]:
    return store_rows(store_url, DELIVERIES)


def _received(smtp: SmtpSink) -> Counter[str]:
    return Counter(r for m in smtp.mails for r in m.recipients)


def _wait(until: Any, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not until():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_a_run_killed_mid_delivery_then_retried_tells_each_recipient_once(
    warehouse: Path, store_url: str, make_config: ConfigMaker, smtp: SmtpSink
) -> None:
    config = _config(make_config, smtp, workers=1, lease_minutes=0.5)  # a 30 s lease
    write_scores(warehouse, NIGHT, {})  # nobody new tonight: the seeded alerts go out
    _seed(store_url)
    smtp.delay = 0.1
    env = _environment(warehouse, store_url, config)
    run = subprocess.Popen(
        [JOINEDUP, "alerts", "run", "--night", NIGHT.isoformat()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: len(smtp.mails) >= 24 or run.poll() is not None, 180, "24 messages")
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait(30)
    assert run.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    time.sleep(0.3)  # a message the relay was taking when the pass died lands now
    at_kill = _received(smtp)
    rows = _deliveries(store_url)
    assert len(rows) == RECIPIENTS
    status = Counter(r["status"] for r in rows)
    # The relay had taken 24; the last may have been taken but not yet recorded.
    assert status["sent"] >= 23 and status["sent"] + status["sending"] == RECIPIENTS
    # Every row recorded as sent was taken by the relay; at most the one in flight was
    # taken but not recorded.
    recorded = {r["recipient"] for r in rows if r["status"] == "sent"}
    taken = {a.split("@")[0] for a in at_kill}
    assert recorded <= taken and len(taken - recorded) <= 1

    # A retry while the dead pass's lease runs leaves its claims alone, and says so; one
    # after it takes them over. (On a machine so slow that the first retry starts after
    # the lease, that one takes them over.)
    lease_end = max(r["lease_until"] for r in rows if r["status"] == "sending")

    def retry() -> tuple[subprocess.CompletedProcess[str], dt.datetime]:
        done = subprocess.run(
            [JOINEDUP, "alerts", "retry"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done, dt.datetime.now(dt.UTC).replace(tzinfo=None)

    taker, finished = retry()
    if finished < lease_end:
        assert "messages: 0 sent" in taker.stdout
        assert f"{status['sending']} send(s) claimed by another pass" in taker.stdout
        assert _received(smtp) == at_kill
        _wait(lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) > lease_end, 60, "the lease")
        taker, _ = retry()
    assert f"{status['sending']} send(s) left claimed by a pass that stopped" in taker.stdout
    assert f"messages: {status['sending']} sent" in taker.stdout
    received = _received(smtp)
    assert set(received) == {_address(i) for i in range(RECIPIENTS)}
    twice = {a for a, n in received.items() if n > 1}
    assert max(received.values()) <= 2 and len(twice) <= 1
    assert {a.split("@")[0] for a in twice} <= taken - recorded  # only the one in flight
    after = _deliveries(store_url)
    assert Counter(r["status"] for r in after) == {"sent": RECIPIENTS}
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            states = Counter(r[0] for r in conn.execute(sa.select(ALERTS.c.state)))
    finally:
        engine.dispose()
    assert states == {DELIVERED: RECIPIENTS}
    # Nothing owed, and another pass sends nothing.
    last, _ = retry()
    assert "messages: 0 sent" in last.stdout and "owed:" not in last.stdout
    assert _received(smtp) == received


def test_two_retries_at_once_send_each_digest_once(
    warehouse: Path, store_url: str, make_config: ConfigMaker, smtp: SmtpSink
) -> None:
    config = _config(make_config, smtp, workers=4, lease_minutes=10)
    _seed(store_url)
    # A run that planned tonight's digests and died before sending any: all pending.
    engine = open_store(store_url)
    try:
        with engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            ids = plan_digests(conn, load_config(config), NIGHT, now, DeliveryReport())
    finally:
        engine.dispose()
    assert len(ids) == RECIPIENTS
    smtp.delay = 0.2
    env = _environment(warehouse, store_url, config)
    passes = [
        subprocess.Popen(
            [JOINEDUP, "alerts", "retry"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in passes]
    assert [p.returncode for p in passes] == [0, 0], [err for _, err in outputs]
    received = _received(smtp)
    assert received == Counter({_address(i): 1 for i in range(RECIPIENTS)})
    sent = [int(out.split("messages: ")[1].split(" sent")[0]) for out, _ in outputs]
    assert sum(sent) == RECIPIENTS
    assert Counter(r["status"] for r in _deliveries(store_url)) == {"sent": RECIPIENTS}


@pytest.fixture(autouse=True)
def _slow_relay_reset(smtp: SmtpSink) -> Any:
    yield
    smtp.delay = 0.0
