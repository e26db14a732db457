"""The operational store: alerts, their case packs, deliveries and silences.

Many people write it at once (the nightly run, the inbox), so it is a transactional
database reached through SQLAlchemy Core: SQLite by default, PostgreSQL (psycopg 3) in
production, one code path for both. Tables are created idempotently when the store is
opened. The inbox (issue 7) adds its own tables (users, audit log, notes, forwards) to
`METADATA`, and changes an alert's state by compare-and-set on `alerts.version`.

Times are stored as naive UTC. Nothing here holds a target's secrets: a delivery keeps
the target's name and its URL as Apprise prints it with secrets hidden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.matchers import parse_matcher

METADATA = sa.MetaData()

# An alert's states. The run writes held, pending and delivered; the inbox the rest.
HELD = "held"  # over its team's capacity tonight: carried to a later night, still visible
PENDING = "pending"  # to be told, or telling failed: visible, retried, escalated
DELIVERED = "delivered"  # at least one of the recipient's targets took the digest
OPEN_STATES = (HELD, PENDING, DELIVERED)  # nobody has acknowledged it yet
STATES = (*OPEN_STATES, "acknowledged", "forwarded", "snoozed", "closed")

ALERTS = sa.Table(
    "alerts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("night", sa.Date, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("triggers_json", sa.Text, nullable=False),
    sa.Column("dedup_key", sa.String(255), nullable=False, unique=True),
    sa.Column("band", sa.String(16), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("reasons_json", sa.Text, nullable=False),
    sa.Column("routed_team", sa.String(64), nullable=False),
    sa.Column("routed_to", sa.String(320), nullable=False, index=True),
    sa.Column("recipient_kind", sa.String(16), nullable=False),  # professional | team
    sa.Column("routing_rule", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("notify_night", sa.Date),  # the night whose digest carries it; NULL while held
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("acknowledged_at", sa.DateTime),
    sa.Column("acknowledged_by", sa.String(320)),
    sa.Column("escalated_at", sa.DateTime),
    sa.Column("escalated_to", sa.String(64)),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    # What the inbox says of the trigger and the score (issue 21); NULL on alerts stored
    # before then, and the previous ones for a person scored for the first time.
    sa.Column("previous_band", sa.String(16)),  # the person's last band before this night
    sa.Column("previous_score", sa.Float),
    sa.Column("previous_night", sa.Date),  # the night of that last score
    sa.Column("share_below", sa.Float),  # share of the night's persons scored lower (0-1)
    sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="alert_state"),
)

# Every dedup key an alert answers for: its own and those of the triggers merged into it.
ALERT_KEYS = sa.Table(
    "alert_keys",
    METADATA,
    sa.Column("dedup_key", sa.String(255), primary_key=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
)

CASE_PACKS = sa.Table(
    "case_packs",
    METADATA,
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("night", sa.Date, nullable=False),
    sa.Column("json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

DELIVERIES = sa.Table(
    "deliveries",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.String(64), nullable=False),  # digest:<night> | escalation:<time>
    sa.Column("purpose", sa.String(16), nullable=False),  # digest | escalation
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("target_tag", sa.String(64), nullable=False),  # the target's name, or '-'
    sa.Column("target_url", sa.String(1000)),  # as Apprise prints it, secrets hidden
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # pending (to send), sending (claimed by one pass until lease_until), sent, failed,
    # superseded
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.DateTime),  # NULL once sent, or given up
    sa.Column("sent_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("claimed_by", sa.String(32)),  # the pass sending it (a random token)
    sa.Column("lease_until", sa.DateTime),  # ... which may take it over after this
    sa.UniqueConstraint("batch", "recipient", "target_tag", name="one_message_per_target"),
)

DELIVERY_ALERTS = sa.Table(
    "delivery_alerts",
    METADATA,
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), primary_key=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True, index=True),
)

SILENCES = sa.Table(
    "silences",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.Text, nullable=False),  # JSON list of matcher strings
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("author", sa.String(320), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

ALERT_RUNS = sa.Table(
    "alert_runs",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("night", sa.Date, nullable=False, index=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("summary_json", sa.Text, nullable=False),
)

# Crockford's base 32: no I, L, O or U to misread; 10 characters are 50 random bits.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A short reference for an alert that cannot be guessed from another one."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def utc(moment: dt.datetime) -> dt.datetime:
    """A time as the store keeps it: naive UTC (a naive time is taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def store_url(data: Path) -> str:
    """The operational store's URL: $JOINEDUP_STORE, else SQLite in the data folder."""
    return os.environ.get("JOINEDUP_STORE") or f"sqlite:///{data / 'store.sqlite'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    # WAL lets the inbox read while the nightly run writes; a writer waits its turn.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
    # The audit log's hash chain is computed in its INSERT (inbox.auditchain).
    dbapi_connection.create_function(
        "sha256_hex",
        1,
        lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest(),
        deterministic=True,
    )


def open_store(url: str) -> Engine:
    """Connect to the store and create any table it lacks (safe to call every run).

    Args:
        url: a SQLAlchemy URL: `sqlite:///path` or `postgresql+psycopg://user@host/db`.
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Made empty for its owner only, whatever the umask: SQLite makes a store of an
        # empty file, and its -wal and -shm files with the same permissions.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = sa.create_engine(parsed)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    METADATA.create_all(engine, checkfirst=True)
    _add_new_columns(engine)
    return engine


class StoreError(ValueError):
    """A store that cannot be brought up to date without someone deciding how."""


def _add_new_columns(engine: Engine) -> None:
    """Add to a store made by an older version the columns its tables have gained since.

    `create_all` makes missing tables but leaves a table it finds as it is. A column that
    came later must allow NULL (the rows already stored have no value for it); one that
    does not is refused, naming the table and the column, rather than guessed at.
    """
    found = sa.inspect(engine).get_multi_columns()
    have = {table: {c["name"] for c in columns} for (_, table), columns in found.items()}
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        for table in METADATA.sorted_tables:
            for column in table.columns:
                if column.name in have[table.name]:
                    continue
                if not column.nullable:
                    raise StoreError(
                        f"the store's table {table.name} has no column {column.name}, which "
                        "may not be empty, so it cannot be added to the rows there: upgrade "
                        "the store by hand, or start a new one"
                    )
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(
                    sa.text(
                        f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"
                    )
                )


def acknowledge(engine: Engine, reference: str, by: str, now: dt.datetime, version: int) -> bool:
    """Acknowledge an open alert if it is still at `version`; False if someone else got there.

    This is the compare-and-set the inbox uses for every change of state: the update
    only applies to the version the person saw, and bumps it.
    """
    when = utc(now)
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(ALERTS)
            .where(
                ALERTS.c.reference == reference,
                ALERTS.c.version == version,
                ALERTS.c.state.in_(OPEN_STATES),
            )
            .values(
                state="acknowledged",
                acknowledged_at=when,
                acknowledged_by=by,
                updated_at=when,
                version=ALERTS.c.version + 1,
            )
        )
        return done.rowcount == 1


def add_silence(
    engine: Engine,
    matchers: list[str],
    expires_at: dt.datetime,
    author: str,
    reason: str,
    now: dt.datetime,
) -> int:
    """Silence alerts whose labels match every matcher until `expires_at`; returns its id.

    Raises:
        ValueError: a matcher that does not parse, no matchers, an expiry not in the
            future, or no author or reason.
    """
    if not matchers:
        raise ValueError("a silence needs at least one matcher (it would silence everything)")
    for text in matchers:
        parse_matcher(text)
    if utc(expires_at) <= utc(now):
        raise ValueError(f"a silence must expire in the future, not {expires_at:%Y-%m-%d %H:%M}")
    if not author.strip() or not reason.strip():
        raise ValueError("a silence needs an author and a reason")
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(SILENCES).values(
                matchers=json.dumps(matchers),
                expires_at=utc(expires_at),
                author=author.strip(),
                reason=reason.strip(),
                created_at=utc(now),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def stored_alerts(engine: Engine, night: dt.date | None = None) -> list[dict[str, Any]]:
    """The stored alerts (of a night, or all), each as a dict, oldest first."""
    query = sa.select(ALERTS).order_by(ALERTS.c.id)
    if night is not None:
        query = query.where(ALERTS.c.night == night)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
