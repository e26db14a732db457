"""An admin's management of accounts: joiners, movers and leavers, and ending sessions.

Every change is a line of the audit log with the admin who made it. A mover's and a
leaver's sessions end at once (what they may see has changed); a leaver can no longer
sign in, and their account is kept (the audit log names them) rather than deleted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.store import utc
from inbox.actions import Refused, audit
from inbox.tables import ROLES, SESSIONS, USERS
from inbox.users import User, add_user


def accounts(engine: Engine, now: dt.datetime) -> list[dict[str, Any]]:
    """Every account, with how many live sessions it has, joiners first by name."""
    live = (
        sa.select(SESSIONS.c.user_id, sa.func.count().label("sessions"))
        .where(SESSIONS.c.expires_at > utc(now))
        .group_by(SESSIONS.c.user_id)
        .subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                USERS.c.username,
                USERS.c.role,
                USERS.c.team,
                USERS.c.email,
                USERS.c.created_at,
                USERS.c.left_at,
                sa.func.coalesce(live.c.sessions, 0).label("sessions"),
            )
            .outerjoin(live, live.c.user_id == USERS.c.id)
            .order_by(USERS.c.left_at.is_not(None), USERS.c.username)
        ).all()
    return [dict(r._mapping) for r in rows]


def join(
    engine: Engine,
    admin: User,
    username: str,
    role: str,
    team: str,
    email: str,
    password: str,
    now: dt.datetime,
) -> None:
    """A joiner: a new account with a first password (shown once to the admin)."""
    try:
        add_user(
            engine,
            username,
            password,
            role,
            now,
            team=team.strip() or None,
            email=email.strip() or None,
            by=admin,
        )
    except ValueError as exc:
        raise Refused(422, f"Not added: {exc}.") from exc
    except sa.exc.IntegrityError as exc:
        raise Refused(422, f"Not added: there is already an account {username!r}.") from exc


def _account(conn: Connection, username: str) -> Any:
    row = conn.execute(sa.select(USERS).where(USERS.c.username == username.strip().lower())).first()
    if row is None:
        raise Refused(404, "There is no such account.")
    return row


def move(
    engine: Engine, admin: User, username: str, role: str, team: str, email: str, now: dt.datetime
) -> None:
    """A mover: a new role, team or email; their sessions end so the change takes hold."""
    if role not in ROLES:
        raise Refused(422, f"Choose a role from: {', '.join(ROLES)}.")
    with engine.begin() as conn:
        row = _account(conn, username)
        if row.left_at is not None:
            raise Refused(422, "That account has left: make a new one for a returner.")
        if row.id == admin.id and role != row.role:
            raise Refused(422, "Ask another admin to change your own role.")
        conn.execute(
            sa.update(USERS)
            .where(USERS.c.id == row.id)
            .values(role=role, team=team.strip() or None, email=email.strip().lower() or None)
        )
        ended = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.user_id == row.id)).rowcount
        audit(
            conn,
            admin,
            "user_moved",
            now,
            detail=f"{row.username}: {row.role} to {role}, team {team.strip() or '-'}; "
            f"{ended} session(s) ended",
        )


def leave(engine: Engine, admin: User, username: str, now: dt.datetime) -> None:
    """A leaver: cannot sign in from now, and every session of theirs ends."""
    with engine.begin() as conn:
        row = _account(conn, username)
        if row.id == admin.id:
            raise Refused(422, "Ask another admin to close your own account.")
        if row.left_at is not None:
            raise Refused(422, "That account has left already.")
        conn.execute(sa.update(USERS).where(USERS.c.id == row.id).values(left_at=utc(now)))
        ended = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.user_id == row.id)).rowcount
        audit(conn, admin, "user_left", now, detail=f"{row.username}; {ended} session(s) ended")


def revoke(engine: Engine, admin: User, username: str, now: dt.datetime) -> None:
    """End every session of an account (a lost laptop), leaving the account as it is."""
    with engine.begin() as conn:
        row = _account(conn, username)
        ended = conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.user_id == row.id)).rowcount
        audit(conn, admin, "sessions_revoked", now, detail=f"{row.username}; {ended} ended")
