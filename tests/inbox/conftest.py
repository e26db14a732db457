"""Fixtures for the inbox's tests: a real store (SQLite, or PostgreSQL marked `postgres`)
holding a few alerts with case packs and a user of each kind, and the real app over it."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from alerts.store import ALERTS, CASE_PACKS, open_store
from inbox import auditchain
from inbox.app import create_app, engine_of
from inbox.tables import USERS

sys.path.insert(0, str(Path(__file__).parent))

CONFIG = Path(__file__).parents[2] / "pipelines" / "config" / "alerts.yaml"
SECRET = "a test secret of more than sixteen characters"
PASSWORD = "correct horse battery staple"
NOW = dt.datetime(2026, 11, 3, 7, 0)

# username: (role, email, team, agency)
USER_SPECS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "mash_north": ("professional", None, "mash_north", None),
    "pat.reid@police.example": ("professional", "pat.reid@police.example", None, "police"),
    "lee.hart@adults.council.example": (
        "professional",
        "lee.hart@adults.council.example",
        None,
        "adult_social_care",
    ),
    "duty_manager": ("duty_manager", None, "duty_manager", None),
    "analyst": ("analyst", None, None, None),
    "admin": ("admin", None, None, None),
    "manager": ("manager", None, None, None),
}

# How the directory names them where it is not their sign-in (the forward picker shows it).
DISPLAY_NAMES = {
    "pat.reid@police.example": "Pat Reid",
    "lee.hart@adults.council.example": "Lee Hart",
    "duty_manager": "Sam Okafor",
}

# reference: (routed_team, routed_to, recipient_kind, score, first name)
ALERT_SPECS = {
    "TEAMNORTH1": ("mash_north", "mash_north", "team", 0.81, "ALICE"),
    "TEAMNORTH2": ("mash_north", "mash_north", "team", 0.64, "BORIS"),
    "POLICEPAT1": (
        "police_public_protection",
        "pat.reid@police.example",
        "professional",
        0.9,
        "CARA",
    ),
    "ADULTSOTH1": (
        "asc_safeguarding",
        "someone.else@adults.council.example",
        "professional",
        0.7,
        "DEV",
    ),
}


def case_pack(first_name: str) -> dict[str, object]:
    """A case pack shaped as `alerts.casepack.build_case_packs` writes it."""
    return {
        "person": {"person_id": "p", "first_name": first_name, "last_name": "TESTER", "age": 14},
        "reasons": [
            {"feature": "events_12m", "text": "4 events in the last 12 months", "points": 0.3}
        ],
        "indicators": [],
        "agencies_involved": [
            {
                "agency": "police",
                "professionals": [
                    {
                        "professional": "Pat Reid",
                        "email": "pat.reid@police.example",
                        "team": "PPU",
                        "role": "officer",
                        "lead": True,
                    }
                ],
            }
        ],
        "known_to": ["police", "education"],
        "lead_professionals": [
            {
                "professional": "Pat Reid",
                "email": "pat.reid@police.example",
                "team": "PPU",
                "role": "officer",
                "agency": "police",
            }
        ],
        "recent_events": [
            {
                "date": "2026-10-01",
                "agency": "police",
                "type": "missing_episode",
                "what": "missing episode",
                "severity": "high",
            }
        ],
        "household": {
            "household_id": "h",
            "basis": "address",
            "relationship": "child",
            "members": [
                {
                    "person_id": "q",
                    "first_name": "ROSA",
                    "last_name": "TESTER",
                    "age": 40,
                    "relationship": "parent",
                    "known_to": ["housing"],
                }
            ],
        },
    }


def fill(engine: Engine) -> None:
    """Put the users and alerts in a new store (one argon2 hash, made once, for speed)."""
    hashed = _hash()
    with engine.begin() as conn:
        for username, (role, email, team, agency) in USER_SPECS.items():
            conn.execute(
                sa.insert(USERS).values(
                    username=username,
                    display_name=DISPLAY_NAMES.get(username, username),
                    password_hash=hashed,
                    role=role,
                    email=email,
                    team=team,
                    agency=agency,
                    created_at=NOW,
                )
            )
            auditchain.append(  # as add_user records an account's making
                conn,
                at=NOW,
                actor="-",
                role="-",
                action="account_created",
                reference=None,
                detail=f"{username} as {role}",
                client=None,
                session=None,
            )
        for ref, (team, to, kind, score, name) in ALERT_SPECS.items():
            alert_id = add_alert(conn, ref, team, to, kind, score)
            conn.execute(
                sa.insert(CASE_PACKS).values(
                    alert_id=alert_id,
                    person_id=f"person-{ref}",
                    night=NOW.date(),
                    json=json.dumps(case_pack(name)),
                    created_at=NOW,
                )
            )


def add_alert(
    conn: sa.Connection,
    reference: str,
    team: str,
    to: str,
    kind: str = "team",
    score: float = 0.7,
    state: str = "delivered",
) -> int:
    """Store one alert of tonight's, routed to `to` of `team`; returns its id."""
    alert_id = conn.execute(
        sa.insert(ALERTS).values(
            reference=reference,
            person_id=f"person-{reference}",
            night=NOW.date(),
            kind="new_high",
            triggers_json="[]",
            dedup_key=f"key-{reference}",
            band="high",
            score=score,
            model_version="risk-v1",
            reasons_json="[]",
            routed_team=team,
            routed_to=to,
            recipient_kind=kind,
            routing_rule="test",
            state=state,
            notify_night=NOW.date(),
            created_at=NOW,
            updated_at=NOW,
            version=1,
        )
    ).inserted_primary_key
    assert alert_id is not None
    return int(alert_id[0])


_HASHED: list[str] = []


def _hash() -> str:
    if not _HASHED:
        _HASHED.append(PasswordHasher().hash(PASSWORD))
    return _HASHED[0]


@dataclass
class Inbox:
    """The app over a filled store, and a way to get a signed-in client."""

    url: str
    engine: Engine
    client: Callable[[str], TestClient]


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Sign a client in through the real form."""
    token = csrf_of(client, "/signin")
    done = client.post(
        "/signin",
        data={"username": username, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return client


def serve(
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Path | None = None,
    filled: bool = False,
) -> Iterator[Inbox]:
    """The app over the store at `url`, filled with the test's users and alerts unless it
    is `filled` already, reading `warehouse` for its insight page if given."""
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    if not filled:
        store = open_store(url)
        fill(store)
        store.dispose()
    app = create_app(url, CONFIG, SECRET, warehouse=warehouse)
    clients: list[TestClient] = []

    def client(username: str) -> TestClient:
        c = TestClient(app, base_url="http://127.0.0.1:8000")
        clients.append(c)
        return sign_in(c, username) if username else c

    try:
        yield Inbox(url, engine_of(app), client)
    finally:
        for c in clients:
            c.close()
        engine_of(app).dispose()


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """The inbox over a filled SQLite store."""
    yield from serve(f"sqlite:///{tmp_path / 'store.sqlite'}", monkeypatch)


@pytest.fixture
def both_inbox(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """The inbox over a filled store, on SQLite and on PostgreSQL."""
    yield from serve(store_url, monkeypatch)
