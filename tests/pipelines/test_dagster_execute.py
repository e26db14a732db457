"""The nightly job as Dagster's own command runs it, in a process of its own: every step
through the job's executor (a process a step), the night scored and its alerts sent to a
real SMTP server; the same night again sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from riskworld import N2, risk_world
from servers import smtp_server

from pipelines.defs.nights import add_nights
from pipelines.nightly import dagster_instance
from world.police_api import BackgroundServer

pytestmark = pytest.mark.slow


def _execute(env: dict[str, str], night: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "pipelines.definitions",
            "-j",
            "nightly",
            "--tags",
            json.dumps({"dagster/partition": night}),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_dagster_job_execute_scores_and_sends_a_night_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rw = risk_world(tmp_path_factory)
    data = rw.data(tmp_path_factory.mktemp("dagster_execute"))
    home = tmp_path_factory.mktemp("dagster_home")
    with dagster_instance(home) as instance:  # joinedup's dagster.yaml, and the night arrived
        add_nights(instance, [N2])
    with smtp_server() as smtp, BackgroundServer(rw.world, "tok") as api:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("JOINEDUP_")},
            "DAGSTER_HOME": str(home),
            "JOINEDUP_DATA": str(data),
            "JOINEDUP_WORLD": str(rw.world),
            "JOINEDUP_POLICE_URL": api.url,
            "JOINEDUP_POLICE_TOKEN": "tok",
            "JOINEDUP_SMTP_URL": f"mailto://127.0.0.1:{smtp.port}",
        }
        first = _execute(env, N2.isoformat())
        assert first.returncode == 0, first.stderr[-3000:]
        sent = len(smtp.mails)
        again = _execute(env, N2.isoformat())
        assert again.returncode == 0, again.stderr[-3000:]
        resent = len(smtp.mails) - sent
    log = first.stdout + first.stderr
    # Every step ran, one at a time, each in a process of its own, on the one warehouse.
    for step in ("ingest__police", "linkage__persons", "risk__scores", "alerts__sent"):
        assert step in log, step
    assert "Executing steps using multiprocess executor" in log
    assert "Conflicting lock" not in log + again.stdout + again.stderr
    assert sent > 0
    assert resent == 0
