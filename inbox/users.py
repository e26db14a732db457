"""Inbox users: argon2 password hashes, sign-in checks, and the demo's seeded users."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from alerts.config import AlertsConfig, load_config
from alerts.store import ALERTS, open_store, utc
from inbox import auditchain
from inbox.tables import ADMIN, ANALYST, DUTY_MANAGER, MANAGER, PROFESSIONAL, ROLES, USERS

_HASHER = PasswordHasher()
# Checked against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY = _HASHER.hash("not a password anyone has")
# Each check holds argon2's 64 MiB for a fraction of a second: at most this many at once,
# so a burst of sign-ins, real or not, cannot take the server's memory.
HASHES_AT_ONCE = 2
HASH_WAIT_SECONDS = 10.0
_HASHING = threading.BoundedSemaphore(HASHES_AT_ONCE)


class Busy(RuntimeError):
    """Every password check is taken and none came free in time: try again shortly."""


@dataclass(frozen=True)
class User:
    """A signed-in person: who they are and what alerts reach them."""

    id: int
    username: str
    display_name: str
    role: str
    email: str | None
    team: str | None
    agency: str | None

    @classmethod
    def from_row(cls, row: Any) -> User:
        """A user from an `inbox_users` row."""
        m = row._mapping
        return cls(
            m["id"], m["username"], m["display_name"], m["role"], m["email"], m["team"], m["agency"]
        )


def add_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    now: dt.datetime,
    *,
    display_name: str | None = None,
    email: str | None = None,
    team: str | None = None,
    agency: str | None = None,
    by: User | None = None,
) -> int:
    """Add a user with an argon2 hash of their password; returns their id.

    Its making is a line of the audit log, by `by` (an admin) or by "-" (the command line
    or the demo).

    Raises:
        ValueError: an unknown role, an empty username or a password under 8 characters.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not username.strip():
        raise ValueError("a user needs a username")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    with engine.begin() as conn:
        key = conn.execute(
            sa.insert(USERS).values(
                username=username.strip().lower(),
                display_name=display_name or username,
                password_hash=_HASHER.hash(password),
                role=role,
                email=email.lower() if email else None,
                team=team,
                agency=agency,
                created_at=utc(now),
            )
        ).inserted_primary_key
        auditchain.append(
            conn,
            at=utc(now),
            actor=by.username if by else "-",
            role=by.role if by else "-",
            action="account_created",
            reference=None,
            detail=f"{username.strip().lower()[:300]} as {role}",
            client=None,
            session=None,
        )
    assert key is not None
    return int(key[0])


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user if the password is theirs, else None (the same time either way)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(USERS).where(USERS.c.username == username.strip().lower())
        ).first()
    if not _HASHING.acquire(timeout=HASH_WAIT_SECONDS):
        raise Busy("too many sign-ins are being checked at once")
    try:
        _HASHER.verify(row.password_hash if row is not None else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    finally:
        _HASHING.release()
    if row is None or row.left_at is not None:
        return None  # a leaver's password no longer opens anything
    return User.from_row(row)


def count_users(store_url: str) -> int:
    """How many accounts the store holds."""
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar_one())
    finally:
        engine.dispose()


def find_user(engine: Engine, username: str) -> User | None:
    """A user by username, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(USERS).where(USERS.c.username == username.strip().lower())
        ).first()
    return User.from_row(row) if row is not None else None


def seed_demo_users(
    engine: Engine, config: AlertsConfig, now: dt.datetime, professionals: int = 5
) -> list[tuple[str, str, str]]:
    """Create demo users if there are none; returns (username, password, role) once.

    One user for each team with alerts, for the duty manager's team, and for the
    `professionals` work emails with the most alerts routed to them; an analyst, a
    manager and an admin. Passwords are random and shown only here.
    """
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar_one():
            return []
        teams = [
            t
            for (t,) in conn.execute(
                sa.select(ALERTS.c.routed_team).distinct().order_by(ALERTS.c.routed_team)
            )
        ]
        emails = [
            e
            for e, _ in conn.execute(
                sa.select(ALERTS.c.routed_to, sa.func.count().label("n"))
                .where(ALERTS.c.recipient_kind == "professional")
                .group_by(ALERTS.c.routed_to)
                .order_by(sa.desc("n"), ALERTS.c.routed_to)
                .limit(professionals)
            )
        ]
    made: list[tuple[str, str, str]] = []

    def make(username: str, role: str, **kw: Any) -> None:
        password = secrets.token_urlsafe(12)
        add_user(engine, username, password, role, now, **kw)
        made.append((username, password, role))

    for team in teams:
        if team in config.teams and team != config.escalation.to:
            t = config.teams[team]
            make(team, PROFESSIONAL, display_name=t.name, team=team, agency=t.agency)
    for email in emails:
        make(email, PROFESSIONAL, email=email)
    duty = config.escalation.to
    make(duty, DUTY_MANAGER, display_name=config.teams[duty].name, team=duty)
    make("analyst", ANALYST, display_name="Analyst")
    make("manager", MANAGER, display_name="Manager")
    make("admin", ADMIN, display_name="Administrator")
    return made


def seed_demo_store(
    store_url: str, config_path: Path, now: dt.datetime
) -> list[tuple[str, str, str]]:
    """Open the store (making the inbox's tables) and seed demo users if it has none."""
    engine = open_store(store_url)
    try:
        return seed_demo_users(engine, load_config(config_path), now)
    finally:
        engine.dispose()


def sign_in_lines(made: list[tuple[str, str, str]]) -> list[str]:
    """The demo users' sign-ins as lines to print once (staff accounts, no citizen's data)."""
    if not made:
        return ["  users already exist: their sign-ins were printed when they were made"]
    return [f"  {username:<40} {password:<20} {role}" for username, password, role in made]
