"""The alerts' tests' world: a small linked warehouse, scores set by each test, a real SMTP
server and a real HTTP webhook on loopback, and the test config that routes to them."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import sqlalchemy as sa
from servers import SmtpSink

from alerts.store import open_store
from world.config import WorldConfig

# Small enough to link in seconds; over the 1,000 records training asks for.
WORLD = WorldConfig(people=700, seed=5, nights=1)
NIGHT = WORLD.night_dates()[0]
NOW = dt.datetime.combine(NIGHT + dt.timedelta(days=1), dt.time(6, 0), tzinfo=dt.UTC)
NORTH = [f"JU{i}" for i in range(1, 8)]
SOUTH = [f"JU{i}" for i in range(8, 15)]
REASON = "3 police call-outs for domestic abuse in the last 90 days"

# Persons picked from the linked world by what the warehouse holds of them, in SQL of the
# test's own: each role routes one known way under the test config.
PICK = """
WITH p AS (SELECT * FROM persons WHERE valid_to IS NULL),
r AS (SELECT p.person_id, min(r.dob) AS dob, count(DISTINCT r.dob) AS dobs,
             count(DISTINCT split_part(upper(r.postcode), ' ', 1)) AS districts,
             min(split_part(upper(r.postcode), ' ', 1)) AS district
      FROM p JOIN person_records r USING (source, source_record_id)
      WHERE r.valid_to IS NULL GROUP BY 1),
i AS (SELECT p.person_id, list(DISTINCT i.source ORDER BY i.source) AS agencies,
             list(DISTINCT i.email) FILTER (WHERE i.source = 'police') AS police_emails,
             count(DISTINCT i.professional) FILTER (WHERE i.source = 'police') AS officers
      FROM p JOIN involvements i USING (source, source_record_id)
      WHERE i.valid_to IS NULL GROUP BY 1)
SELECT r.*, coalesce(i.agencies, []) AS agencies, i.police_emails, i.officers,
       date_diff('year', r.dob, $night) - CASE WHEN strftime(r.dob, '%m%d')
         > strftime($night, '%m%d') THEN 1 ELSE 0 END AS age
FROM r LEFT JOIN i USING (person_id)
"""


@dataclass(frozen=True)
class Picks:
    """Persons of the linked world, by how the test config routes them."""

    child_csc: str  # a child with a social worker (no email): to the csc team's webhook
    officer: str  # a police officer's email, the lead for both of police_pair
    police_pair: tuple[str, str]  # adults with that one officer: one digest to the officer
    quiet_north: str  # nobody involved, lives in a north district: north duty (webhook)
    quiet_south: str  # nobody involved, lives in a south district: south duty (email)
    quiet_more: tuple[str, ...]  # more of the north's quiet persons, for capacity


@dataclass(frozen=True)
class Linked:
    """The linked world's warehouse (copied for each test) and who is who in it."""

    warehouse: Path
    picks: Picks


def pick(warehouse: Path) -> Picks:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        people = con.sql(PICK, params={"night": NIGHT}).pl().to_dicts()
    finally:
        con.close()
    steady = [p for p in people if p["dobs"] == 1 and p["districts"] == 1]
    children = [p for p in steady if p["age"] < 16 and "childrens_social_care" in p["agencies"]]
    by_officer: dict[str, list[str]] = {}
    for p in steady:
        if p["age"] >= 21 and p["officers"] == 1 and len(p["police_emails"] or []) == 1:
            email_ = p["police_emails"][0]
            if email_ and email_.isascii():
                by_officer.setdefault(email_, []).append(p["person_id"])
    officer, pair = max(by_officer.items(), key=lambda kv: (len(kv[1]), kv[0]))
    quiet = [p for p in steady if not p["agencies"] and p["age"] >= 21]
    north = sorted(p["person_id"] for p in quiet if p["district"] in NORTH)
    south = sorted(p["person_id"] for p in quiet if p["district"] in SOUTH)
    return Picks(
        child_csc=sorted(c["person_id"] for c in children)[0],
        officer=officer,
        police_pair=(sorted(pair)[0], sorted(pair)[1]),
        quiet_north=north[0],
        quiet_south=south[0],
        quiet_more=tuple(north[1:6]),
    )


def write_scores(
    warehouse: Path, night: dt.date, marked: dict[str, dict[str, Any]], band: str = "low"
) -> None:
    """Tonight's `scores` as issue 5 writes them: every person, `band` unless `marked`.

    A marked person's entry may set score, band, change, previous_score and indicators
    (a list of rule names); reasons are always the same words.
    """
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            """CREATE TABLE IF NOT EXISTS scores (night DATE, person_id VARCHAR, score DOUBLE,
            band VARCHAR, model_version VARCHAR, reasons VARCHAR, indicators VARCHAR,
            previous_score DOUBLE, change VARCHAR)"""
        ).fetchall()
        con.execute("DELETE FROM scores WHERE night = ?", [night]).fetchall()
        people = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM persons WHERE valid_to IS NULL ORDER BY 1"
            ).fetchall()
        ]
        reasons = json.dumps([{"feature": "police_da_90d", "text": REASON, "contribution": 0.3}])
        rows = []
        for pid in people:
            m = marked.get(pid, {})
            rules = m.get("indicators", [])
            rows.append(
                {
                    "night": night,
                    "person_id": pid,
                    "score": float(m.get("score", 0.8 if pid in marked else 0.01)),
                    "band": m.get("band", "high" if pid in marked else band),
                    "model_version": "risk-test-1",
                    "reasons": reasons,
                    "indicators": json.dumps(
                        [{"rule": r, "text": f"indicator {r}"} for r in rules]
                    ),
                    "previous_score": m.get("previous_score"),
                    "change": m.get("change", "new"),
                }
            )
        frame = pl.DataFrame(rows, schema_overrides={"previous_score": pl.Float64})
        con.register("_scores", frame)
        con.execute("INSERT INTO scores BY NAME SELECT * FROM _scores").fetchall()
        con.unregister("_scores")
    finally:
        con.close()


@dataclass
class Hook:
    """One request the webhook took: path, JSON body, and the status it answered."""

    path: str
    body: dict[str, Any]
    status: int

    @property
    def text(self) -> str:
        return f"{self.body.get('title', '')}\n{self.body.get('message', '')}"


class WebhookServer:
    """A real HTTP server on 127.0.0.1; each path answers 200, 500, or too slowly (504)."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.modes: dict[str, str] = {}  # path -> ok | fail | slow
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = server.modes.get(self.path, "ok")
                status = {"fail": 500, "slow": 504}.get(mode, 200)
                server.hooks.append(Hook(self.path, body, status))
                if mode == "slow":
                    time.sleep(1.0)  # past the client's timeout: it gave up, nothing taken
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        """An Apprise json:// URL for a path of this server (connect 1 s, read 0.5 s)."""
        return f"json://127.0.0.1:{self.port}/{name}?cto=1&rto=0.5"

    def taken(self, name: str) -> list[Hook]:
        """Requests to a path that the server answered 200."""
        return [h for h in self.hooks if h.path.split("?")[0] == f"/{name}" and h.status == 200]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def base_config(smtp: SmtpSink, webhook: WebhookServer) -> dict[str, Any]:
    """The test config: teams on the webhook or the SMTP server, a small routing tree."""
    mail = f"mailto://127.0.0.1:{smtp.port}?from=alerts@joinedup.council.example"
    return {
        "inbox_url": "http://127.0.0.1:8000/alerts/{reference}",
        "agencies": [
            "childrens_social_care",
            "adult_social_care",
            "housing",
            "police",
            "education",
            "health",
            "revenues_benefits",
        ],
        "selection": {"cool_down_days": 14, "dedup_period_days": 28},
        "teams": {
            "csc_team": {
                "name": "Children's front door",
                "agency": "childrens_social_care",
                "targets": {"hook": webhook.url("csc_team")},
            },
            "police_team": {
                "name": "Public protection",
                "agency": "police",
                "targets": {"hook": webhook.url("police_team")},
            },
            "duty_north": {
                "name": "Duty team north",
                "districts": NORTH,
                "targets": {"hook": webhook.url("duty_north")},
            },
            "duty_south": {
                "name": "Duty team south",
                "districts": SOUTH,
                "targets": {"email": f"{mail}&to=duty-south@council.example"},
            },
            "duty_default": {
                "name": "Duty team, no known area",
                "targets": {"hook": webhook.url("duty_default")},
            },
            "managers": {
                "name": "Duty managers",
                "targets": {"email": f"{mail}&to=duty-manager@council.example"},
            },
        },
        "default_duty_team": "duty_default",
        "professionals": {
            "domains": ["police.example", "adults.council.example", "nhs-trust.example"],
            "targets": {"email": f"{mail}&to={{email}}"},
        },
        "route": {
            "receiver": "area_duty",
            "routes": [
                {
                    "name": "child_csc",
                    "matchers": ["age_group=child", "agency=childrens_social_care"],
                    "lead": "childrens_social_care",
                    "receiver": "csc_team",
                },
                {
                    "name": "police",
                    "matchers": ["agency=police"],
                    "lead": "police",
                    "receiver": "police_team",
                },
            ],
        },
        "escalation": {"after_hours": 24, "to": "managers"},
        "delivery": {"backoff_minutes": [5, 30], "workers": 4},
    }


ConfigMaker = Callable[..., Path]


def store_rows(store_url: str, table: sa.Table) -> list[dict[str, Any]]:
    """Every row of one of the store's tables."""
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(table))]
    finally:
        engine.dispose()
