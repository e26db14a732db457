"""Sign-in throttling: too many failed sign-ins for one account, or from one address, and
the inbox stops checking passwords for a while.

The attempts are kept in the store (`inbox_sign_ins`), so every worker serving the inbox,
and every restart, sees the same counts. A success clears an account's failures; an
address's failures only age out, so one address guessing across many accounts is slowed
too. While an account is held, even the right password is refused: a guesser learns
nothing from the answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import utc
from inbox.tables import SIGN_INS


@dataclass(frozen=True)
class Limits:
    """How many failures are allowed within how long, for an account and for an address."""

    per_account: int = 5
    per_client: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


def held_until(
    engine: Engine, username: str, client: str, now: dt.datetime, limits: Limits = Limits()
) -> dt.datetime | None:
    """When sign-ins for this account from this address may be tried again, or None now.

    An account is held once it has `per_account` failures within the window since its last
    success; an address, once `per_client` failures within the window. The hold lasts
    until the oldest of those failures leaves the window.
    """
    name = _name(username)
    since = utc(now) - limits.window
    with engine.connect() as conn:
        last_success = conn.execute(
            sa.select(sa.func.max(SIGN_INS.c.at)).where(
                SIGN_INS.c.username == name, SIGN_INS.c.succeeded
            )
        ).scalar()
        start = max(since, last_success) if last_success is not None else since
        holds = [
            _held(conn, SIGN_INS.c.username == name, start, limits.per_account),
            _held(conn, SIGN_INS.c.client == client[:64], since, limits.per_client),
        ]
    found = [h + limits.window for h in holds if h is not None]
    return max(found) if found else None


def _held(
    conn: sa.Connection, who: sa.ColumnElement[bool], start: dt.datetime, allowed: int
) -> dt.datetime | None:
    """The oldest of the newest `allowed` failures after start, if there are that many."""
    failures = (
        sa.select(SIGN_INS.c.at)
        .where(who, ~SIGN_INS.c.succeeded, SIGN_INS.c.at > start)
        .order_by(SIGN_INS.c.at.desc())
        .limit(allowed)
        .subquery()
    )
    count, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(failures.c.at)).select_from(failures)
    ).one()
    return oldest if count >= allowed else None


def record(engine: Engine, username: str, client: str, succeeded: bool, now: dt.datetime) -> None:
    """Keep one sign-in attempt."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SIGN_INS).values(
                username=_name(username), client=client[:64], succeeded=succeeded, at=utc(now)
            )
        )


def _name(username: str) -> str:
    return username.strip().lower()[:320]
