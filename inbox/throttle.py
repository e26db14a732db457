"""Sign-in throttling: password guessing is slowed, decided atomically in the store, and
nobody can lock an account's owner out.

The attempts are kept in the store (`inbox_sign_ins`), so every worker serving the inbox,
and every restart, sees the same counts. An attempt is **recorded before its password is
checked**, as a failure, in the same transaction as the count that lets it through (under
a per-account lock on PostgreSQL; SQLite writes one transaction at a time), and turned
into a success only if the password was right: of twenty guesses sent at once, only as
many are checked as the limits allow, and the rest are refused unread.

Three limits, each over `window` (15 minutes):
- **one address on one account**: `per_pair` failures hold that address's sign-ins to
  that account until the oldest of them leaves the window; the account's owner, from
  their own address, is not held by someone else's guessing;
- **one address on any account**: `per_client` failures hold that address (failures
  settled, not attempts still being checked: an office of people behind one address
  signing in at nine is not a guesser);
- **one account from any address**: `per_account` failures slow the account to one
  attempt every `slow_interval` (a minute), so guessing spread over many addresses is
  slowed without locking the owner out for long.

A success clears the pair's and the account's failures; an admin's unlock
(`joinedup inbox unlock USER`) clears the account's failures from every address. While
held, even the right password is refused: a guesser learns nothing from the answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import utc
from inbox.tables import SIGN_INS

UNLOCKED = "admin-unlock"  # the client of the row an admin's unlock leaves


@dataclass(frozen=True)
class Limits:
    """How many failures are allowed within how long, and how slow a guessed account goes."""

    per_pair: int = 5
    per_client: int = 20
    per_account: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    slow_interval: dt.timedelta = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Attempt:
    """A sign-in let through to its password check: the row that records it."""

    id: int


def begin(
    engine: Engine, username: str, client: str, now: dt.datetime, limits: Limits = Limits()
) -> Attempt | dt.datetime:
    """Record an attempt and let it through, or say until when it is held (keeping nothing).

    The record comes first, in the transaction that counts: on SQLite its INSERT takes the
    store's one write lock, on PostgreSQL a per-account advisory lock is taken before it,
    so attempts made at once are counted one after another, each seeing the ones before.
    """
    name = _name(username)
    when = utc(now)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
        key = conn.execute(
            sa.insert(SIGN_INS).values(
                username=name, client=client[:64], succeeded=False, at=when, pending=True
            )
        ).inserted_primary_key
        assert key is not None
        until = _until(conn, name, client, when, limits, SIGN_INS.c.id != key[0])
        if until is not None:  # held attempts are not counted
            conn.execute(sa.delete(SIGN_INS).where(SIGN_INS.c.id == key[0]))
            return until
    return Attempt(int(key[0]))


def succeeded(engine: Engine, attempt: Attempt) -> None:
    """The password was right: the attempt counts as a success, clearing the failures."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(SIGN_INS)
            .where(SIGN_INS.c.id == attempt.id)
            .values(succeeded=True, pending=False)
        )


def failed(engine: Engine, attempt: Attempt) -> None:
    """The password was wrong: the attempt stays a failure, now settled."""
    with engine.begin() as conn:
        conn.execute(sa.update(SIGN_INS).where(SIGN_INS.c.id == attempt.id).values(pending=False))


def abandon(engine: Engine, attempt: Attempt) -> None:
    """The password could not be checked (the server was busy): the attempt is not counted."""
    with engine.begin() as conn:
        conn.execute(sa.delete(SIGN_INS).where(SIGN_INS.c.id == attempt.id))


def unlock(engine: Engine, username: str, now: dt.datetime) -> None:
    """An admin clears an account's failures from every address."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SIGN_INS).values(
                username=_name(username), client=UNLOCKED, succeeded=True, at=utc(now)
            )
        )


def _until(
    conn: sa.Connection,
    name: str,
    client: str,
    when: dt.datetime,
    limits: Limits,
    counted: sa.ColumnElement[bool],
) -> dt.datetime | None:
    """The latest hold of the three limits on this account and address, or None."""
    since = when - limits.window
    account = sa.and_(SIGN_INS.c.username == name, counted)
    pair = sa.and_(account, SIGN_INS.c.client == client[:64])
    cleared = _last_success(conn, account)
    pair_cleared = max(cleared or since, _last_success(conn, pair) or since, since)
    holds = [
        _held(conn, pair, pair_cleared, limits.per_pair, limits.window),
        _held(  # settled failures only: many people sign in at once behind one address
            conn,
            sa.and_(SIGN_INS.c.client == client[:64], counted, SIGN_INS.c.pending.is_not(True)),
            since,
            limits.per_client,
            limits.window,
        ),
    ]
    newest = _slowed(conn, account, max(cleared or since, since), limits)
    if newest is not None:
        holds.append(newest + limits.slow_interval)
    return max((h for h in holds if h is not None and h > when), default=None)


def _last_success(conn: sa.Connection, who: sa.ColumnElement[bool]) -> dt.datetime | None:
    found: dt.datetime | None = conn.execute(
        sa.select(sa.func.max(SIGN_INS.c.at)).where(who, SIGN_INS.c.succeeded)
    ).scalar()
    return found


def _held(
    conn: sa.Connection,
    who: sa.ColumnElement[bool],
    start: dt.datetime,
    allowed: int,
    window: dt.timedelta,
) -> dt.datetime | None:
    """When the oldest of the newest `allowed` failures after start leaves the window."""
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
    return oldest + window if count >= allowed else None


def _slowed(
    conn: sa.Connection, account: sa.ColumnElement[bool], start: dt.datetime, limits: Limits
) -> dt.datetime | None:
    """The newest failure on the account, if it has `per_account` of them since start."""
    count, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.max(SIGN_INS.c.at)).where(
            account, ~SIGN_INS.c.succeeded, SIGN_INS.c.at > start
        )
    ).one()
    return newest if count >= limits.per_account else None


def _name(username: str) -> str:
    return username.strip().lower()[:320]
