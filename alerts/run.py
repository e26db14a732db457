"""A night's alerts, end to end: select, route, hold over capacity, store with case packs,
and send each recipient their digest. Then retries and escalation, on their own clock.

Running a night again adds nothing and sends nothing: every trigger's dedup key is in the
store, and every stored alert is in a digest already.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.casepack import build_case_packs
from alerts.config import AlertsConfig, load_config
from alerts.deliver import DeliveryReport, owed, plan_digests, retry_due, send
from alerts.escalate import EscalationReport, escalate_due
from alerts.matchers import Labels
from alerts.people import involvements, leads, person_facts, tonight_scores
from alerts.route import PROFESSIONAL, Destination, Router
from alerts.select import (
    KIND_RANK,
    active_silences,
    alerted_since,
    candidates,
    cooling,
    dedup_key,
    known_keys,
    period_start,
    trigger_name,
)
from alerts.store import (
    ALERT_KEYS,
    ALERT_RUNS,
    ALERTS,
    CASE_PACKS,
    HELD,
    PENDING,
    new_reference,
    open_store,
    utc,
)
from common.ranking import pseudonym

NOT_RECENTLY_ALERTED = "step-down for someone not alerted lately"
SILENCED = "silenced"
ALREADY = "already alerted (dedup key in the store)"
COOLING = "in cool-down"


@dataclass
class AlertsReport:
    """What a night's alert run did. Counts, team ids and route names only."""

    night: dt.date
    scored: int = 0
    candidates: Counter[str] = field(default_factory=Counter)  # trigger kind -> persons
    suppressed: Counter[str] = field(default_factory=Counter)  # why not -> triggers
    # Alerts (one a person and recipient) that tonight's triggers make once routed and
    # merged, leaving out those already alerted or in cool-down: before silences and
    # capacity. Of those, `silenced` had every trigger silenced, so none was stored.
    selected: int = 0
    silenced: int = 0
    created: Counter[str] = field(default_factory=Counter)  # alert kind -> alerts
    to_professionals: int = 0
    to_teams: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)  # team -> held over capacity
    released: int = 0  # held on an earlier night, in tonight's digests
    case_packs: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # stage -> seconds

    def line(self) -> str:
        """The report in one line: what was selected, silenced and held, and what was sent."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.created.items()))
        fired = ", ".join(f"{k} {n}" for k, n in sorted(self.candidates.items()))
        left = ", ".join(f"{n} {why}" for why, n in sorted(self.suppressed.items()))
        d = self.delivery
        return (
            f"{self.selected} alerts selected from {sum(self.candidates.values())} triggers"
            + (f" ({fired})" if fired else "")
            + (f", not alerted: {left}" if left else "")
            + "; one alert a person and recipient, however many triggers they have; "
            f"{self.silenced} silenced; {sum(self.created.values())} stored"
            + (f" (by the alert's kind: {kinds})" if kinds else "")
            + f", {sum(self.held.values())} held over capacity; {self.released} released "
            f"from hold; {d.sent} messages sent, {d.failed} failed, {d.gave_up} given up"
        )

    def lines(self) -> list[str]:
        """The report, a line each, for the command line and the run's log."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.candidates.items()))
        made = sum(self.created.values())
        out = [
            f"alerts for {self.night}: {self.scored:,} persons scored; "
            f"{sum(self.candidates.values())} triggers ({kinds or 'none'})",
        ]
        if self.suppressed:
            out.append(
                "  not alerted: "
                + ", ".join(f"{n} {why}" for why, n in sorted(self.suppressed.items()))
            )
        out.append(
            f"  alerted: {made} ("
            + (", ".join(f"{k} {n}" for k, n in sorted(self.created.items())) or "none")
            + f"); {self.to_professionals} to lead professionals, {self.to_teams} to teams"
        )
        if self.silenced:
            out.append(f"  silenced: {self.silenced} of {self.selected} alerts selected")
        if self.by_rule:
            out.append(
                "  by route: " + ", ".join(f"{r} {n}" for r, n in sorted(self.by_rule.items()))
            )
        if self.held or self.released:
            out.append(
                f"  held over capacity: {sum(self.held.values())} ("
                + ", ".join(f"{t} {n}" for t, n in sorted(self.held.items()))
                + f"); released from hold: {self.released}"
            )
        out.append(f"  case packs written: {self.case_packs}")
        out += [f"  {line}" for line in self.delivery.lines()]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in self.stages.items())
        out.append(f"  {self.seconds:.1f} s" + (f" ({stages})" if stages else ""))
        return out


@dataclass
class _Planned:
    """One alert to write: a person, a recipient, and every trigger it answers for."""

    person_id: str
    dest: Destination
    score: dict[str, Any]
    triggers: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, rule, key)

    @property
    def kind(self) -> str:
        return min(self.triggers, key=lambda t: KIND_RANK[t[0]])[0]

    @property
    def rank(self) -> tuple[int, float]:
        return KIND_RANK[self.kind], -float(self.score["score"])

    @property
    def tie_break(self) -> int:
        return pseudonym(self.person_id)


def _labels(row: dict[str, Any], facts: dict[str, Any]) -> Labels:
    return {
        "kind": row["kind"],
        "band": row["band"],
        "rule": row["rule"],
        "agency": frozenset(facts["agencies"]),
        "known_to": frozenset(facts["known_to"]),
        "area": facts["district"] or "",
        "age_band": facts["age_band"],
        "age_group": facts["age_group"],
        "person_id": row["person_id"],
    }


def _plan(
    engine: Engine,
    config: AlertsConfig,
    night: dt.date,
    now: dt.datetime,
    triggers: pl.DataFrame,
    facts: pl.DataFrame,
    person_leads: dict[str, dict[str, dict[str, Any]]],
    report: AlertsReport,
) -> list[_Planned]:
    """Route each trigger, drop those the store or a silence rules out, and merge the rest
    into one alert per person and recipient (counting the alerts selected and silenced)."""
    router = Router(config)
    sel = config.selection
    period = period_start(night, sel.dedup_period_days)
    ids = triggers["person_id"].unique().sort().to_list()
    stepping = triggers.filter(pl.col("kind") == "step_down")["person_id"].unique().to_list()
    with engine.connect() as conn:
        silences = active_silences(conn, now)
        cooled = cooling(conn, ids, night, sel.cool_down_days)
        days = sel.step_down.only_if_alerted_within_days
        recent = alerted_since(conn, stepping, night, days) if days else set(stepping)
        routed: list[tuple[dict[str, Any], Destination, str, bool]] = []
        by_person = {r["person_id"]: r for r in facts.iter_rows(named=True)}
        for n, row in enumerate(triggers.iter_rows(named=True)):
            row["_trigger"] = n  # which trigger a route came from, to count triggers once
            pid = row["person_id"]
            if row["kind"] == "step_down" and pid not in recent:
                report.suppressed[NOT_RECENTLY_ALERTED] += 1
                continue
            labels = _labels(row, by_person[pid])
            silenced = any(s.matches(labels) for s in silences)
            if silenced:
                report.suppressed[SILENCED] += 1
            # A silenced trigger is routed too, only to count the alerts silences stop.
            for dest in router.route(labels, by_person[pid]["district"], person_leads.get(pid, {})):
                trig = trigger_name(row["kind"], row["rule"])
                routed.append((row, dest, dedup_key(pid, trig, period, dest.rule), silenced))
        known = known_keys(conn, [key for _, _, key, _ in routed])
    planned: dict[tuple[str, str], _Planned] = {}
    silenced_alerts: set[tuple[str, str]] = set()
    # A trigger routed to several recipients is counted as not alerted only when none of
    # its routes goes on, and then once, by its first route's reason.
    held_back: dict[int, str] = {}
    going: set[int] = set()
    for row, dest, key, silenced in routed:
        pid = row["person_id"]
        if key in known or (pid, trigger_name(row["kind"], row["rule"]), dest.rule) in cooled:
            if not silenced:  # a silenced trigger is counted once, as silenced
                held_back.setdefault(row["_trigger"], ALREADY if key in known else COOLING)
            continue
        going.add(row["_trigger"])
        if silenced:
            silenced_alerts.add((pid, dest.recipient))
            continue
        plan = planned.setdefault((pid, dest.recipient), _Planned(pid, dest, row))
        plan.triggers.append((row["kind"], row["rule"], key))
    for n, why in held_back.items():
        if n not in going:
            report.suppressed[why] += 1
    report.selected += len(planned.keys() | silenced_alerts)
    report.silenced += len(silenced_alerts - planned.keys())
    for plan in planned.values():
        # The alert is named, and routed, by its strongest trigger.
        first = min(plan.triggers, key=lambda t: KIND_RANK[t[0]])
        plan.triggers.sort(key=lambda t: (t != first, KIND_RANK[t[0]], t[1]))
    return list(planned.values())


def _capacity(
    conn: sa.Connection,
    config: AlertsConfig,
    night: dt.date,
    plans: list[_Planned],
    report: AlertsReport,
) -> tuple[set[int], list[int]]:
    """Which new alerts (by index) go out tonight, and which held ones are released.

    Each team takes at most `capacity` alerts a night, strongest first: new high risks
    before rises, indicators and step-downs, then by score; an alert held on an earlier
    night competes with tonight's, and goes first among equals. Alerts still tied go by
    `common.ranking.pseudonym` of the person id (the store keeps no raw score), never by
    the order the triggers happened to arrive in.
    """
    used: dict[str, int] = {
        r[0]: int(r[1])
        for r in conn.execute(
            sa.select(ALERTS.c.routed_team, sa.func.count())
            .where(ALERTS.c.notify_night == night)
            .group_by(ALERTS.c.routed_team)
        )
    }
    held_rows = conn.execute(
        sa.select(
            ALERTS.c.id,
            ALERTS.c.routed_team,
            ALERTS.c.kind,
            ALERTS.c.score,
            ALERTS.c.night,
            ALERTS.c.person_id,
        ).where(ALERTS.c.state == HELD)
    ).all()
    pools: dict[str, list[tuple[tuple[int, float, dt.date, int], str, int]]] = {}
    for r in held_rows:
        pools.setdefault(r.routed_team, []).append(
            ((KIND_RANK[r.kind], -r.score, r.night, pseudonym(r.person_id)), "held", r.id)
        )
    for i, plan in enumerate(plans):
        pools.setdefault(plan.dest.team, []).append(((*plan.rank, night, plan.tie_break), "new", i))
    go: set[int] = set()
    released: list[int] = []
    for team, pool in pools.items():
        cap = config.teams[team].capacity if team in config.teams else None
        free = len(pool) if cap is None else max(0, cap - int(used.get(team, 0)))
        for n, (_, origin, key) in enumerate(sorted(pool)):
            if n < free:
                (go.add if origin == "new" else released.append)(key)
            elif origin == "new":
                report.held[team] += 1
    return go, released


def _lap(report: AlertsReport, stage: str, since: float) -> float:
    now = time.perf_counter()
    report.stages[stage] = now - since
    return now


def run_alerts(
    warehouse: Path, night: dt.date, store_url: str, config_path: Path, now: dt.datetime
) -> AlertsReport:
    """Select, route, store and deliver a night's alerts; safe to run again for the night.

    Args:
        warehouse: the DuckDB warehouse holding tonight's `scores` and the linked persons.
        night: the night scored.
        store_url: the operational store (`sqlite:///...` or `postgresql+psycopg://...`).
        config_path: the alerts config (`pipelines/config/alerts.yaml`).
        now: the time of the run (times in the store are UTC).

    Returns:
        What was selected, suppressed, held, stored and sent; `.lines()` for a report.

    Raises:
        ConfigError: the config is wrong; nothing was selected or sent.
        WarehouseError: no scores for the night; nothing was selected or sent.

    Examples:
        >>> report = run_alerts(
        ...     Path("data/warehouse.duckdb"), dt.date(2026, 11, 3),
        ...     "sqlite:///data/store.sqlite", Path("pipelines/config/alerts.yaml"),
        ...     dt.datetime.now(dt.UTC),
        ... )  # doctest: +SKIP
        >>> print("\\n".join(report.lines()))  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    config = load_config(config_path)
    report = AlertsReport(night)
    when = utc(now)
    con = duckdb.connect(str(warehouse))
    engine: Engine | None = None
    try:
        scores = tonight_scores(con, night)
        report.scored = scores.height
        triggers = candidates(scores, config.selection)
        report.candidates.update(triggers["kind"].to_list())
        ids = triggers["person_id"].unique().sort().to_list()
        facts = person_facts(con, night, ids)
        involved = involvements(con, night, ids)
        lap = _lap(report, "select", t0)
        engine = open_store(store_url)
        plans = _plan(engine, config, night, now, triggers, facts, leads(involved), report)
        lap = _lap(report, "route", lap)
        alerted = list({p.person_id for p in plans})
        packs = build_case_packs(
            con,
            night,
            scores.filter(pl.col("person_id").is_in(alerted)),
            involved.filter(pl.col("person_id").is_in(alerted)),
            config.case_pack,
        )
        lap = _lap(report, "case packs", lap)
    except BaseException:
        if engine is not None:
            engine.dispose()
        raise
    finally:
        con.close()
    try:
        with engine.begin() as conn:
            go, released = _capacity(conn, config, night, plans, report)
            _write(conn, night, when, plans, go, packs, report)
            for i in range(0, len(released), 500):
                conn.execute(
                    sa.update(ALERTS)
                    .where(ALERTS.c.id.in_(released[i : i + 500]), ALERTS.c.state == HELD)
                    .values(
                        state=PENDING,
                        notify_night=night,
                        updated_at=when,
                        version=ALERTS.c.version + 1,
                    )
                )
            report.released = len(released)
        with engine.begin() as conn:
            to_send = plan_digests(conn, config, night, now, report.delivery)
        lap = _lap(report, "store", lap)
        report.delivery.add(send(engine, config, to_send, now))
        owed(engine, report.delivery)
        _lap(report, "deliver", lap)
        report.seconds = time.perf_counter() - t0
        with engine.begin() as conn:
            conn.execute(
                sa.insert(ALERT_RUNS).values(
                    night=night,
                    started_at=when,
                    finished_at=utc(dt.datetime.now(dt.UTC)),
                    summary_json=json.dumps(report.lines()),
                )
            )
    finally:
        engine.dispose()
    return report


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _write(
    conn: sa.Connection,
    night: dt.date,
    when: dt.datetime,
    plans: list[_Planned],
    go: set[int],
    packs: dict[str, dict[str, Any]],
    report: AlertsReport,
) -> None:
    """Insert the alerts, every dedup key they answer for, and their case packs."""
    if not plans:
        return
    rows = []
    for i, plan in enumerate(plans):
        s = plan.score
        rows.append(
            {
                "reference": new_reference(),
                "person_id": plan.person_id,
                "night": night,
                "kind": plan.kind,
                "triggers_json": json.dumps([{"kind": k, "rule": r} for k, r, _ in plan.triggers]),
                "dedup_key": plan.triggers[0][2],
                "band": s["band"],
                "score": float(s["score"]),
                "model_version": s["model_version"],
                "reasons_json": s["reasons"] or "[]",
                "routed_team": plan.dest.team,
                "routed_to": plan.dest.recipient,
                "recipient_kind": plan.dest.recipient_kind,
                "routing_rule": plan.dest.rule,
                "state": PENDING if i in go else HELD,
                "notify_night": night if i in go else None,
                "created_at": when,
                "updated_at": when,
                "version": 1,
                "previous_band": s.get("previous_band"),
                "previous_score": _float_or_none(s.get("previous_score")),
                "previous_night": s.get("previous_night"),
                "share_below": _float_or_none(s.get("share_below")),
            }
        )
        report.created[plan.kind] += 1
        report.by_rule[plan.dest.rule] += 1
        if plan.dest.recipient_kind == PROFESSIONAL:
            report.to_professionals += 1
        else:
            report.to_teams += 1
    conn.execute(sa.insert(ALERTS), rows)
    refs = [r["reference"] for r in rows]
    id_of: dict[str, int] = {}
    for i in range(0, len(refs), 500):
        id_of |= dict(
            conn.execute(
                sa.select(ALERTS.c.reference, ALERTS.c.id).where(
                    ALERTS.c.reference.in_(refs[i : i + 500])
                )
            ).all()
        )
    conn.execute(
        sa.insert(ALERT_KEYS),
        [
            {"dedup_key": key, "alert_id": id_of[row["reference"]]}
            for plan, row in zip(plans, rows, strict=True)
            for _, _, key in plan.triggers
        ],
    )
    pack_rows = []
    for plan, row in zip(plans, rows, strict=True):
        pack = dict(packs[plan.person_id])
        pack["alert"] = {
            "reference": row["reference"],
            "kind": plan.kind,
            "triggers": json.loads(row["triggers_json"]),
            "routed_to": plan.dest.recipient,
            "recipient_kind": plan.dest.recipient_kind,
            "routed_team": plan.dest.team,
            "routing_rule": plan.dest.rule,
            "lead_professional": plan.dest.lead,
        }
        pack_rows.append(
            {
                "alert_id": id_of[row["reference"]],
                "person_id": plan.person_id,
                "night": night,
                "json": json.dumps(pack, default=str),
                "created_at": when,
            }
        )
    conn.execute(sa.insert(CASE_PACKS), pack_rows)
    report.case_packs = len(pack_rows)


def retry_failed(store_url: str, config_path: Path, now: dt.datetime) -> DeliveryReport:
    """Send again every failed delivery that is due by `now`; report what is still owed.

    Raises:
        ConfigError: the config is wrong; nothing was sent.
    """
    config = load_config(config_path)
    engine = open_store(store_url)
    try:
        return retry_due(engine, config, now)
    finally:
        engine.dispose()


def escalate(store_url: str, config_path: Path, now: dt.datetime) -> EscalationReport:
    """Tell the duty managers of every alert not acknowledged in time (once each).

    Raises:
        ConfigError: the config is wrong; nothing was sent.
    """
    config = load_config(config_path)
    engine = open_store(store_url)
    try:
        return escalate_due(engine, config, now)
    finally:
        engine.dispose()
