"""Selection: which of tonight's scores become alerts, and which must not.

A person is a candidate tonight for each of these triggers:
- `new_high`: they entered one of the configured bands (or reached `min_score`) since
  their last score, or were scored for the first time in one;
- `rise`: issue 5 marked a rise (`change = 'rise'`) and tonight's band is a rise band;
- `step_down`: issue 5 marked a step-down, for review and closure (by default only for
  someone alerted in the last 180 days, since nobody else holds an alert to close);
- `indicator`: a rule-based indicator fired tonight that had not fired at their last score.

Each trigger, once routed, has a dedup key: (person, trigger, period, route). A key that
the store already holds is never alerted again, so a re-run, or an unchanged night, adds
nothing. A trigger alerted to the same route within the cool-down is not alerted again,
nor one that an active silence matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from alerts.config import Selection
from alerts.matchers import Labels, matches_all, parse_matcher
from alerts.store import ALERT_KEYS, ALERTS, SILENCES, utc

# Which trigger names an alert when one person has several tonight: the first here.
KIND_RANK = {"new_high": 0, "rise": 1, "indicator": 2, "step_down": 3}
PERIOD_EPOCH = dt.date(2000, 1, 3)  # a Monday: periods of a multiple of 7 days start on one

_INDICATORS = pl.List(pl.Struct({"rule": pl.String, "text": pl.String}))


def _rules(column: str) -> pl.Expr:
    return (
        pl.col(column)
        .fill_null("[]")
        .str.json_decode(_INDICATORS)
        .list.eval(pl.element().struct.field("rule"))
    )


def candidates(scores: pl.DataFrame, selection: Selection) -> pl.DataFrame:
    """One row per person and trigger tonight: person_id, kind, rule ('' unless an indicator).

    Args:
        scores: `people.tonight_scores`: tonight's scores with the band, score and
            indicators of each person's last score before tonight beside them.
        selection: the config's selection settings.
    """
    bands = list(selection.bands)
    entered = pl.col("band").is_in(bands) & (
        pl.col("previous_band").is_null() | ~pl.col("previous_band").is_in(bands)
    )
    if selection.min_score is not None:
        t = selection.min_score
        entered = entered | (
            (pl.col("score") >= t)
            & (pl.col("previous_score").is_null() | (pl.col("previous_score") < t))
        )
    parts = [
        scores.filter(entered).with_columns(pl.lit("new_high").alias("kind")),
        scores.filter(
            (pl.col("change") == "rise") & pl.col("band").is_in(list(selection.rise.bands))
        ).with_columns(pl.lit("rise").alias("kind")),
    ]
    if selection.step_down.enabled:
        parts.append(
            scores.filter(pl.col("change") == "step_down").with_columns(
                pl.lit("step_down").alias("kind")
            )
        )
    parts = [p.with_columns(pl.lit("").alias("rule")) for p in parts]
    if selection.indicators.enabled:
        fired = scores.filter(
            pl.col("indicators").is_not_null() & (pl.col("indicators") != "[]")
        ).with_columns(
            _rules("indicators").alias("_now"), _rules("previous_indicators").alias("_before")
        )
        new = (
            fired.with_columns(pl.col("_now").list.set_difference("_before").alias("rule"))
            .drop("_now", "_before")
            .explode("rule")
            .filter(pl.col("rule").is_not_null())
        )
        if selection.indicators.rules:
            new = new.filter(pl.col("rule").is_in(list(selection.indicators.rules)))
        parts.append(new.with_columns(pl.lit("indicator").alias("kind")))
    out = pl.concat([p.select(*scores.columns, "kind", "rule") for p in parts])
    return out.sort("person_id", pl.col("kind").replace_strict(KIND_RANK), "rule")


def period_start(night: dt.date, days: int) -> dt.date:
    """The first night of the dedup period a night falls in."""
    return PERIOD_EPOCH + dt.timedelta(days=(night - PERIOD_EPOCH).days // days * days)


def trigger_name(kind: str, rule: str) -> str:
    """`kind`, or `indicator:<rule>` for an indicator."""
    return f"{kind}:{rule}" if rule else kind


def dedup_key(person_id: str, trigger: str, period: dt.date, route: str) -> str:
    """The key that says this person was alerted for this, in this period, on this route."""
    key = f"{person_id}|{trigger}|{period.isoformat()}|{route}"
    if len(key) <= 255:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[:230]}#{digest}"


@dataclass(frozen=True)
class Silence:
    """An active silence."""

    id: int
    matchers: tuple[str, ...]
    author: str
    reason: str
    expires_at: dt.datetime

    def matches(self, labels: Labels) -> bool:
        """Whether the silence covers an alert with these labels."""
        return matches_all(tuple(parse_matcher(m) for m in self.matchers), labels)


def active_silences(conn: sa.Connection, now: dt.datetime) -> list[Silence]:
    """Silences in force at `now`."""
    when = utc(now)
    rows = conn.execute(
        sa.select(SILENCES).where(SILENCES.c.expires_at > when, SILENCES.c.created_at <= when)
    )
    return [
        Silence(r.id, tuple(json.loads(r.matchers)), r.author, r.reason, r.expires_at) for r in rows
    ]


def known_keys(conn: sa.Connection, keys: list[str]) -> set[str]:
    """Which of these dedup keys the store already holds."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        found |= {
            r[0]
            for r in conn.execute(
                sa.select(ALERT_KEYS.c.dedup_key).where(ALERT_KEYS.c.dedup_key.in_(chunk))
            )
        }
    return found


def recent_alerts(
    conn: sa.Connection, person_ids: list[str], since: dt.date, night: dt.date
) -> list[tuple[str, dt.date, str, str]]:
    """person_id, night, routing_rule and triggers of alerts on nights since..before `night`."""
    rows: list[tuple[str, dt.date, str, str]] = []
    for i in range(0, len(person_ids), 500):
        chunk = person_ids[i : i + 500]
        rows.extend(
            (r[0], r[1], r[2], r[3])
            for r in conn.execute(
                sa.select(
                    ALERTS.c.person_id,
                    ALERTS.c.night,
                    ALERTS.c.routing_rule,
                    ALERTS.c.triggers_json,
                ).where(
                    ALERTS.c.person_id.in_(chunk), ALERTS.c.night >= since, ALERTS.c.night < night
                )
            )
        )
    return rows


def cooling(
    conn: sa.Connection, person_ids: list[str], night: dt.date, days: int
) -> set[tuple[str, str, str]]:
    """(person, trigger, route) alerted within the cool-down before tonight."""
    if days <= 0:
        return set()
    out: set[tuple[str, str, str]] = set()
    for pid, _night, rule, triggers in recent_alerts(
        conn, person_ids, night - dt.timedelta(days=days), night
    ):
        for t in json.loads(triggers):
            out.add((pid, trigger_name(t["kind"], t.get("rule", "")), rule))
    return out


def alerted_since(
    conn: sa.Connection, person_ids: list[str], night: dt.date, days: int
) -> set[str]:
    """Persons with any alert in the `days` before tonight."""
    return {r[0] for r in recent_alerts(conn, person_ids, night - dt.timedelta(days=days), night)}
