"""The insight report for a period: whom the system reaches, and the patterns over time.

Read from the warehouse, as linked on the period's last night:
- **Reach**, by sex, ethnicity, age band and area (the postcode district): of the
  people linked, those *served* (with an event recorded in the period) and those
  *flagged* (scored high or very high on a night of the period), as reach tables
  (`insight.reach`).
- **Patterns**: events recorded in the period by month and type, by month and the
  agency that recorded them, and by month and area (the person's postcode district);
  referrals by month and who made them (events that carry a `referral_source`: only
  children's social care's extract says).
- **Alerts**, given the operational store: alerts by month and the team charged with
  them, and closures by team and outcome (`insight.alerted`).

Every count passes the disclosure rule before it is written; the report is JSON (for
other tools) and HTML (for people), and each count in the HTML is a `td.count`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from sqlalchemy.engine import Engine

from insight.alerted import alert_tables
from insight.charts import reach_chart, totals_chart
from insight.disclosure import DisclosureRule
from insight.outcomes import closed_alerts, outcomes_section
from insight.reach import ReachTable, reach
from insight.tables import crosstab

AGE_BANDS = ((0, "0-17"), (18, "18-24"), (25, "25-44"), (45, "45-64"), (65, "65+"))
GROUPINGS = ("sex", "ethnicity", "age_band", "area")

PEOPLE = """
WITH linked AS (
    SELECT person_id, unique_id FROM persons
    WHERE valid_from <= $end AND (valid_to IS NULL OR valid_to > $end)
), held AS (
    SELECT source || ':' || source_record_id AS unique_id, sex, ethnicity, dob, postcode
    FROM person_records WHERE valid_from <= $end AND (valid_to IS NULL OR valid_to > $end)
)
SELECT l.person_id, h.sex, h.ethnicity, h.dob,
    nullif(split_part(upper(trim(h.postcode)), ' ', 1), '') AS area
FROM linked l JOIN held h USING (unique_id)
"""  # a row a record: `_people` makes one a person

EVENTS = """
WITH linked AS (
    SELECT person_id, unique_id FROM persons
    WHERE valid_from <= $end AND (valid_to IS NULL OR valid_to > $end)
)
SELECT l.person_id, e.source AS agency, e.type, strftime(e.date, '%Y-%m') AS month,
    e.referral_source
FROM events e JOIN linked l ON l.unique_id = e.source || ':' || e.source_record_id
WHERE e.valid_to IS NULL AND e.date BETWEEN $start AND $end
"""

FLAGGED = """
SELECT DISTINCT person_id FROM scores
WHERE night BETWEEN $start AND $end AND band IN ('high', 'very_high')
"""


def linked_through(warehouse: Path) -> dt.date | None:
    """The newest night the warehouse is linked as of (None: none yet)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        newest: dt.date | None = con.sql("SELECT max(valid_from) FROM persons").fetchall()[0][0]
        return newest
    except duckdb.CatalogException:
        return None
    finally:
        con.close()


class ReportError(ValueError):
    """The warehouse cannot give the report: nothing linked, or a period that is wrong."""


def _age_band(dob: pl.Expr, on: dt.date) -> pl.Expr:
    years = (pl.lit(on) - dob).dt.total_days() // 365.25
    band = pl.lit("unknown")
    for low, name in AGE_BANDS:  # the highest band checked first, outermost
        band = pl.when(years >= low).then(pl.lit(name)).otherwise(band)
    return pl.when(dob.is_null()).then(pl.lit("unknown")).otherwise(band)


def _most_common(column: str) -> pl.Expr:
    """The value a person's records give most often; on a tie the first in sort order, so
    the same warehouse always gives the same report. Null where no record gives one."""
    return pl.col(column).drop_nulls().mode().sort().first().alias(column)


def _people(records: pl.DataFrame) -> pl.DataFrame:
    """One row a person from their records: sex, ethnicity group and area each the most
    common their records give, and the earliest date of birth."""
    return (
        records.with_columns(_ethnic_group(pl.col("ethnicity")))
        .group_by("person_id")
        .agg(
            _most_common("sex"),
            _most_common("ethnicity"),
            pl.col("dob").min(),
            _most_common("area"),
        )
    )


def _ethnic_group(code: pl.Expr) -> pl.Expr:
    """Each partner's ethnicity code as one set of groups (risk.yaml's audit mapping);
    a code no group lists is kept as it is, so nothing is hidden by the mapping."""
    from risk_models.features import features_config

    groups = features_config().audit.ethnicity
    return code.replace({c: g for g, codes in groups.items() for c in codes}).alias("ethnicity")


def build_report(
    warehouse: Path,
    start: dt.date,
    end: dt.date,
    rule: DisclosureRule | None = None,
    store: Engine | None = None,
) -> dict[str, Any]:
    """The period's report as plain values, every count disclosure-controlled.

    Args:
        warehouse: the DuckDB warehouse, linked as of `end`.
        start: the period's first day.
        end: the period's last day.
        rule: the disclosure rule (NHS Digital's if None).
        store: the operational store; with it, the period's alerts by month and team and
            its closures by team and outcome (`insight.alerted`).

    Raises:
        ReportError: the period ends before it starts, or no night is linked.
    """
    rule = rule or DisclosureRule()
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        params = {"start": start, "end": end}
        try:
            people = _people(con.sql(PEOPLE, params={"end": end}).pl())
            events = con.sql(EVENTS, params=params).pl()
        except duckdb.CatalogException as exc:
            raise ReportError(
                f"{warehouse}: nothing linked yet; link some nights first ({exc})"
            ) from exc
        except duckdb.BinderException as exc:  # events without referral_source
            raise ReportError(
                f"{warehouse} was last loaded by an older joinedup: load a night, which "
                f"brings its tables up to date, then ask again ({exc})"
            ) from exc
        try:
            flagged = con.sql(FLAGGED, params=params).pl()["person_id"]
        except duckdb.CatalogException:  # no night scored yet
            flagged = pl.Series("person_id", [], dtype=pl.String)
        closed = closed_alerts(con, start, end)
    finally:
        con.close()
    if people.is_empty():
        raise ReportError(f"no persons linked as of {end}: link the period's nights first")
    people = people.with_columns(_age_band(pl.col("dob"), end).alias("age_band"))
    served = events["person_id"].unique()
    reach_tables: dict[str, dict[str, ReachTable]] = {
        "served": {by: reach(people, served, by, rule) for by in GROUPINGS},
        "flagged": {by: reach(people, flagged, by, rule) for by in GROUPINGS},
    }
    areas = events.join(people.select("person_id", "area"), on="person_id", how="left")
    referrals = events.filter(pl.col("referral_source").is_not_null())
    found: dict[str, Any] = {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "rule": rule.model_dump(),
        "reach": {
            kind: {by: asdict(table) for by, table in tables.items()}
            for kind, tables in reach_tables.items()
        },
        "patterns": {
            "events_by_month_and_type": crosstab(events, "month", "type", rule),
            "events_by_month_and_agency": crosstab(events, "month", "agency", rule),
            "events_by_month_and_area": crosstab(
                areas.with_columns(pl.col("area").fill_null("unknown")), "month", "area", rule
            ),
            "referrals_by_month_and_source": crosstab(referrals, "month", "referral_source", rule),
        },
        "outcomes": outcomes_section(closed, rule),
    }
    if store is not None:
        found["alerts"] = alert_tables(store, start, end, rule)
    return found


def _cell(value: object, count: bool) -> str:
    kind = ' class="count"' if count else ""
    return f"<td{kind}>{html.escape(str(value))}</td>"


def _reach_html(title: str, table: dict[str, Any]) -> str:
    head = (
        "<tr><th>group</th><th>people</th><th>reached</th><th>share of people</th>"
        "<th>share of reached</th><th>reach ratio</th><th>95% interval</th></tr>"
    )
    body = "".join(
        "<tr><th>"
        + html.escape(str(r["group"]))
        + "</th>"
        + _cell(r["people"], True)
        + _cell(r["reached"], True)
        + _cell(r["share_of_people"], False)
        + _cell(r["share_of_reached"], False)
        + _cell(r["ratio"], False)
        + _cell(f"{r['low']} to {r['high']}", False)
        + "</tr>"
        for r in table["rows"]
    )
    total = (
        "<tr><th>all</th>"
        + _cell(table["people"], True)
        + _cell(table["reached"], True)
        + "<td></td>" * 4
        + "</tr>"
    )
    return f"<h3>{html.escape(title)}</h3><table>{head}{body}{total}</table>"


def _crosstab_html(title: str, table: dict[str, Any]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in table["columns"])
    head += "<th>all</th></tr>"
    body = "".join(
        f"<tr><th>{html.escape(str(label))}</th>"
        + "".join(_cell(v, True) for v in cells)
        + _cell(total, True)
        + "</tr>"
        for label, cells, total in zip(
            table["rows"], table["cells"], table["row_totals"], strict=True
        )
    )
    if table["rows"]:
        body += (
            "<tr><th>all</th>"
            + "".join(_cell(v, True) for v in table["column_totals"])
            + _cell(table["total"], True)
            + "</tr>"
        )
    return f"<h3>{html.escape(title)}</h3><table>{head}{body}</table>"


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write `insight.json` and `insight.html` into a folder; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_html = out / "insight.json", out / "insight.html"
    as_json.write_text(json.dumps(report, indent=1))
    period = report["period"]
    rule = report["rule"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>joinedup insight</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>",
        f"<h1>Insight, {period['from']} to {period['to']}</h1>",
        f"<p>Counts from 1 to {rule['suppress_up_to']} are shown as *, with others hidden "
        f"where they would give one away; the rest are rounded to {rule['round_to']}. "
        "Shares and ratios are worked out from the counts as shown.</p>",
    ]
    for kind, tables in report["reach"].items():
        parts.append(f"<h2>Reach: people {html.escape(kind)}</h2>")
        for by, table in tables.items():
            parts.append(_reach_html(f"by {by}", table))
            parts.append(f"<figure>{reach_chart(table)}</figure>")
    parts.append("<h2>Patterns</h2>")
    monthly = report["patterns"]["events_by_month_and_type"]
    parts.append(f"<figure>{totals_chart(monthly, 'events recorded a month')}</figure>")
    parts += [_crosstab_html(name, table) for name, table in report["patterns"].items()]
    if "alerts" in report:
        parts.append("<h2>Alerts: the team charged, and what came of them</h2>")
        parts += [_crosstab_html(name, table) for name, table in report["alerts"].items()]
    parts.append(_outcomes_html(report["outcomes"]))
    as_html.write_text("\n".join(parts), encoding="utf-8")
    return [as_json, as_html]


def _outcomes_html(section: dict[str, Any]) -> str:
    """The outcomes of the alerts closed in the period (`insight.outcomes`)."""
    met = section["success_by_goal"]
    head = (
        "<tr><th>goal</th>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in met["columns"])
        + "<th>all</th><th>rate met</th><th>95% interval</th></tr>"
    )
    body = "".join(
        f"<tr><th>{html.escape(goal)}</th>"
        + "".join(_cell(v, True) for v in cells)
        + _cell(total, True)
        + _cell("" if rate is None else rate, False)
        + _cell("" if low is None else f"{low} to {high}", False)
        + "</tr>"
        for goal, cells, total, rate, low, high in zip(
            met["rows"],
            met["cells"],
            met["row_totals"],
            met["rate"],
            met["low"],
            met["high"],
            strict=True,
        )
    )
    body += (
        "<tr><th>all</th>"
        + "".join(_cell(v, True) for v in met["column_totals"])
        + _cell(met["total"], True)
        + "<td></td><td></td></tr>"
    )
    trajectory = section["trajectory_by_goal"]
    medians = "".join(
        f"<tr><th>{html.escape(goal)}</th>{_cell('' if m is None else m, False)}</tr>"
        for goal, m in zip(trajectory["rows"], trajectory["median_change"], strict=True)
    )
    return "\n".join(
        [
            "<h2>Outcomes of the alerts closed in the period</h2>",
            "<p>The goal the professional set and how it went, recorded at closure. A goal "
            "is met: to improve, when it improved; to maintain, when it improved or held "
            "steady; to prevent, when it did not worsen and no serious event was recorded "
            "between the alert and closure.</p>",
            _crosstab_html(
                "closed alerts by goal and how it went", section["by_goal_and_progress"]
            ),
            f"<h3>goals met</h3><table>{head}{body}</table>",
            "<p>Distance travelled: the change in the person's score from the alert's night "
            "to the latest night scored up to closure, or up to six months after it once "
            "they have passed (below zero: the risk fell).</p>",
            _crosstab_html("distance travelled by goal", trajectory),
            f"<h3>median change in score</h3><table>{medians}</table>",
            f"<p>{section['follow_up_days']} days after closure: a serious event recorded, "
            "else scored high or very high, else clear; not yet due while the period has "
            "not passed.</p>",
            _crosstab_html("six months after closure, by goal", section["follow_up_by_goal"]),
        ]
    )
