"""Benchmark: select, route, store and deliver 2,000 alerts to loopback targets.

Makes (or reuses) a linked warehouse of a world: the world, its first night loaded, a
linkage model trained and the night linked (none of this is timed). Writes that night's
`scores` with 2,000 persons newly in the high band, picked at random (seeded), and
everyone else low. A separate process serves an SMTP server (aiosmtpd) and an HTTP
webhook on loopback, as a mail relay and a partner's endpoint would be. The config is the
shipped `pipelines/config/alerts.yaml` with every team given a webhook beside its email,
and no capacities (so every alert goes out tonight).

Each run is a fresh process with a fresh operational store: it times `run_alerts` for the
night (select, route, case packs, store, and one digest per recipient to each target),
then the same night again (nothing to send). The sinks' counts are checked against what
the run says it sent.

    .venv/bin/python bench/alerts.py --dir /tmp/jbench-alerts --people 20000 --alerts 2000 \
        --runs 3 [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]

SINKS = """
import json, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from aiosmtpd.controller import Controller
smtp_port, http_port = int(sys.argv[1]), int(sys.argv[2])
counts = {"smtp": 0, "webhook": 0, "recipients": set()}
lock = threading.Lock()
class Sink:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            counts["smtp"] += 1
            counts["recipients"].update(envelope.rcpt_tos)
        return "250 OK"
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            counts["webhook"] += 1
        self.send_response(200); self.end_headers()
    def do_GET(self):
        with lock:
            body = json.dumps({"smtp": counts["smtp"], "webhook": counts["webhook"],
                               "mail_recipients": len(counts["recipients"])}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a):
        pass
Controller(Sink(), hostname="127.0.0.1", port=smtp_port).start()
ThreadingHTTPServer(("127.0.0.1", http_port), Hook).serve_forever()
"""

RUN_ONE = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from alerts import run_alerts
import apprise; apprise.Apprise.instantiate("json://127.0.0.1:9/x")  # Apprise loads its plugins
imports = time.perf_counter() - t0
warehouse, night = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
store, config = sys.argv[3], Path(sys.argv[4])
now = dt.datetime.combine(night + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
t1 = time.perf_counter()
first = run_alerts(warehouse, night, store, config, now)
t2 = time.perf_counter()
again = run_alerts(warehouse, night, store, config, now + dt.timedelta(minutes=5))
t3 = time.perf_counter()
print(json.dumps({
    "seconds": t2 - t1, "again_s": t3 - t2, "imports_s": imports,
    "stages": first.stages, "alerts": sum(first.created.values()),
    "to_professionals": first.to_professionals, "to_teams": first.to_teams,
    "sent": first.delivery.sent, "failed": first.delivery.failed + first.delivery.gave_up,
    "no_target": len(first.delivery.no_target), "case_packs": first.case_packs,
    "again_alerts": sum(again.created.values()), "again_sent": again.delivery.sent,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "lines": first.lines(),
}))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


LINK = """
import datetime as dt, os, sys
from pathlib import Path
from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
from matching import link_night, train_model
from pipelines.environment import models_dir
from world.police_api import BackgroundServer
world, night, warehouse = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
wh = Warehouse(warehouse)
with BackgroundServer(world, "bench") as api:
    os.environ.update({"JOINEDUP_POLICE_URL": api.url, "JOINEDUP_POLICE_TOKEN": "bench"})
    ingest_night(wh, load_sources(Path("pipelines/config/sources.yaml")), night)
wh.close()
print(link_night(warehouse, night, train_model(warehouse, models_dir()), 0.9).line())
"""


def _linked(folder: Path, people: int) -> tuple[Path, dt.date]:
    """A world of `people`, its first night loaded and linked: (warehouse, night)."""
    world = folder / "world"
    if not (world / "world.json").is_file():
        subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "world", "--people", str(people),
             "--nights", "1", "--seed", "7", "--out", str(world)],
            check=True, cwd=ROOT,
        )  # fmt: skip
    manifest = json.loads((world / "world.json").read_text())
    night = dt.date.fromisoformat(manifest["nights"][0]["date"])
    warehouse = folder / "warehouse.duckdb"
    done = folder / "linked.ok"
    if not done.is_file():
        warehouse.unlink(missing_ok=True)
        env = {**os.environ, "JOINEDUP_DATA": str(folder), "JOINEDUP_WORLD": str(world)}
        linked = subprocess.run(
            [sys.executable, "-c", LINK, str(world), night.isoformat(), str(warehouse)],
            check=True, cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        print(f"linked: {linked.stdout.strip().splitlines()[-1]}")
        done.write_text("ok")
    return warehouse, night


def _scores(warehouse: Path, night: dt.date, alerts: int, seed: int) -> int:
    """Tonight's scores: `alerts` persons newly high, the rest low. Returns persons scored."""
    con = duckdb.connect(str(warehouse))
    try:
        people = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM persons WHERE valid_to IS NULL ORDER BY 1"
            ).fetchall()
        ]
        high = set(random.Random(seed).sample(people, alerts))
        reasons = json.dumps(
            [{"feature": "police_da_90d", "text": "3 police call-outs for domestic abuse "
              "in the last 90 days", "contribution": 0.31}]
        )  # fmt: skip
        frame = pl.DataFrame(
            {
                "night": [night] * len(people),
                "person_id": people,
                "score": [0.7 if p in high else 0.02 for p in people],
                "band": ["high" if p in high else "low" for p in people],
                "model_version": ["bench"] * len(people),
                "reasons": [reasons if p in high else "[]" for p in people],
                "indicators": ["[]"] * len(people),
                "previous_score": pl.Series([None] * len(people), dtype=pl.Float64),
                "change": ["new"] * len(people),
            }
        )
        con.execute(
            """CREATE TABLE IF NOT EXISTS scores (night DATE, person_id VARCHAR, score DOUBLE,
            band VARCHAR, model_version VARCHAR, reasons VARCHAR, indicators VARCHAR,
            previous_score DOUBLE, change VARCHAR)"""
        ).fetchall()
        con.execute("DELETE FROM scores").fetchall()
        con.register("_scores", frame)
        con.execute("INSERT INTO scores BY NAME SELECT * FROM _scores").fetchall()
    finally:
        con.close()
    return len(people)


def _config(folder: Path, http_port: int) -> Path:
    """The shipped config, each team with a webhook beside its email, and no capacities."""
    cfg: dict[str, Any] = yaml.safe_load(
        (ROOT / "pipelines" / "config" / "alerts.yaml").read_text()
    )
    for tid, team in cfg["teams"].items():
        team.pop("capacity", None)
        team["targets"]["webhook"] = f"json://127.0.0.1:{http_port}/{tid}"
    path = folder / "alerts-bench.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@contextmanager
def _stores(use_postgres: bool) -> Iterator[Any]:
    """A maker of fresh, empty stores: SQLite files, or databases on a throwaway PostgreSQL."""
    if not use_postgres:
        with tempfile.TemporaryDirectory(prefix="jbench-store") as tmp:
            yield lambda i: f"sqlite:///{Path(tmp) / f'store{i}.sqlite'}"
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import sqlalchemy as sa
    from servers import postgres

    with postgres() as server:
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")

        def make(i: int) -> str:
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE bench{i}"))
            return server.rsplit("/", 1)[0] + f"/bench{i}"

        yield make
        admin.dispose()


def main() -> None:
    """Run the alerts benchmark several times and print medians."""
    p = argparse.ArgumentParser()
    p.add_argument("--dir", type=Path, default=Path("/tmp/jbench-alerts"))
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--alerts", type=int, default=2_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--postgres", action="store_true", help="the store on a throwaway PostgreSQL")
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    warehouse, night = _linked(args.dir, args.people)
    scored = _scores(warehouse, night, args.alerts, args.seed)
    smtp_port, http_port = _free_port(), _free_port()
    sinks = subprocess.Popen([sys.executable, "-c", SINKS, str(smtp_port), str(http_port)])
    config = _config(args.dir, http_port)
    env = {**os.environ, "JOINEDUP_SMTP_URL": f"mailto://127.0.0.1:{smtp_port}"}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; store: {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    print(f"warehouse: {scored:,} persons scored on {night}; {args.alerts:,} newly high")
    results: list[dict[str, Any]] = []
    try:
        _wait(http_port)
        with _stores(args.postgres) as new_store:
            for i in range(args.runs):
                before = httpx.get(f"http://127.0.0.1:{http_port}/count").json()
                done = subprocess.run(
                    [sys.executable, "-c", RUN_ONE, str(warehouse), night.isoformat(),
                     new_store(i), str(config)],
                    check=True, capture_output=True, text=True, env=env, cwd=ROOT,
                )  # fmt: skip
                r = json.loads(done.stdout.strip().splitlines()[-1])
                after = httpx.get(f"http://127.0.0.1:{http_port}/count").json()
                received = after["smtp"] - before["smtp"] + after["webhook"] - before["webhook"]
                assert received == r["sent"], (received, r["sent"])
                assert r["again_sent"] == 0 and r["again_alerts"] == 0
                results.append(r)
                stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
                print(
                    f"run {i + 1}: {r['alerts']:,} alerts ({r['to_professionals']:,} to lead "
                    f"professionals, {r['to_teams']:,} to teams) in {r['seconds']:.1f} s "
                    f"({stages}); {r['sent']} messages sent and received "
                    f"({after['smtp'] - before['smtp']} email, "
                    f"{after['webhook'] - before['webhook']} webhook), {r['failed']} failed; "
                    f"the night again {r['again_s']:.2f} s, sent {r['again_sent']}; "
                    f"imports {r['imports_s']:.1f} s; peak {r['peak_mb']:,.0f} MB"
                )
    finally:
        sinks.terminate()
        sinks.wait(timeout=10)
    print("\n".join(results[0]["lines"]))
    median = statistics.median(r["seconds"] for r in results)
    print(
        f"median of {args.runs}: {results[0]['alerts']:,} alerts selected, routed, stored and "
        f"delivered in {median:.1f} s (runs: "
        + ", ".join(f"{r['seconds']:.1f}" for r in results)
        + f"); the night again {statistics.median(r['again_s'] for r in results):.2f} s"
    )


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/count", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the loopback sinks did not start")


if __name__ == "__main__":
    main()
