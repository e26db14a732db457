"""`joinedup alerts`: the night's alerts from the command line, once, with clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from alertworld import NIGHT, ConfigMaker, Linked, SmtpSink, WebhookServer, write_scores

from pipelines.cli import main


@pytest.fixture
def environment(
    warehouse: Path, make_config: ConfigMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("JOINEDUP_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("JOINEDUP_STORE", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("JOINEDUP_ALERTS", str(make_config()))
    return warehouse


def test_a_night_is_alerted_once(
    environment: Path,
    linked: Linked,
    smtp: SmtpSink,
    webhook: WebhookServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    officer = linked.picks.police_pair[0]
    write_scores(environment, NIGHT, {officer: {"band": "very_high", "score": 0.5}})
    assert main(["alerts", "run", "--night", NIGHT.isoformat()]) == 0
    first = capsys.readouterr().out
    assert "messages: 1 sent, 0 failed" in first
    assert len(smtp.mails) + len(webhook.hooks) == 1
    assert main(["alerts", "run", "--night", NIGHT.isoformat()]) == 0
    again = capsys.readouterr().out
    assert "messages: 0 sent" in again
    # The one trigger is counted once as not alerted, however many recipients it routes to.
    assert "not alerted: 1 already alerted (dedup key in the store)" in again
    assert len(smtp.mails) + len(webhook.hooks) == 1
    assert main(["alerts", "retry"]) == 0
    assert main(["alerts", "escalate"]) == 0


def test_refusals_name_what_is_wrong(
    environment: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["alerts", "run"]) == 2
    assert "--night" in capsys.readouterr().err
    assert main(["alerts", "run", "--night", "03/11/2026"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    # No scores for the night: nothing selected, nothing sent.
    assert main(["alerts", "run", "--night", NIGHT.isoformat()]) == 2
    assert "scores" in capsys.readouterr().err
    broken = tmp_path / "alerts.yaml"
    broken.write_text("route: {receiver: nobody}\n")
    monkeypatch.setenv("JOINEDUP_ALERTS", str(broken))
    write_scores(environment, NIGHT, {})
    assert main(["alerts", "run", "--night", NIGHT.isoformat()]) == 2
    assert str(broken) in capsys.readouterr().err
