"""Server-side sessions: a random id in an HttpOnly cookie, its HMAC in the store with an
expiry and a per-session CSRF token. A session ends after `LIFETIME`, or after `IDLE`
without a request (a screen left signed in on a shared desk)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import utc
from inbox.tables import SESSIONS, USERS
from inbox.users import User

LIFETIME = dt.timedelta(hours=8)
IDLE = dt.timedelta(minutes=30)
TOUCH = dt.timedelta(minutes=1)  # how stale `seen_at` may be before a request updates it


@dataclass(frozen=True)
class Session:
    """A live session: whose it is and the token every form must carry back."""

    user: User
    csrf: str


def _key(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def start_session(engine: Engine, secret: str, user: User, now: dt.datetime) -> str:
    """Open a session for `user`; returns the cookie's value."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SESSIONS).values(
                key=_key(secret, token),
                user_id=user.id,
                csrf=secrets.token_urlsafe(32),
                created_at=utc(now),
                expires_at=utc(now + LIFETIME),
            )
        )
    return token


def find_session(
    engine: Engine, secret: str, token: str | None, now: dt.datetime
) -> Session | None:
    """The live session a cookie names, or None (no cookie, unknown, or expired)."""
    if not token:
        return None
    when = utc(now)
    key = _key(secret, token)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(USERS, SESSIONS.c.csrf, SESSIONS.c.created_at.label("opened"))
            .add_columns(SESSIONS.c.seen_at)
            .join(SESSIONS, SESSIONS.c.user_id == USERS.c.id)
            .where(SESSIONS.c.key == key, SESSIONS.c.expires_at > when, USERS.c.left_at.is_(None))
        ).first()
    if row is None:
        return None
    last = row.seen_at or row.opened
    if when - last >= IDLE:
        return None  # left unattended: sign in again
    if when - last >= TOUCH:  # at most one write a session a minute
        with engine.begin() as conn:
            conn.execute(sa.update(SESSIONS).where(SESSIONS.c.key == key).values(seen_at=when))
    return Session(User.from_row(row), row.csrf)


def end_session(engine: Engine, secret: str, token: str, now: dt.datetime) -> None:
    """Sign out: forget this session, and any expired ones."""
    with engine.begin() as conn:
        conn.execute(
            sa.delete(SESSIONS).where(
                sa.or_(SESSIONS.c.key == _key(secret, token), SESSIONS.c.expires_at <= utc(now))
            )
        )


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a form's CSRF token is the session's (compared in constant time)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
