import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    # The analyst's insight notebook: for a warehouse and a period, whom the system
    # reaches (each group's reach ratio with its 95% interval), the patterns of events
    # over time, and the outcomes of the alerts closed (goals met, distance travelled, the
    # check six months after closure). Everything comes from `insight.report.build_report`,
    # so every count is through the disclosure rule, as in `joinedup insight report`.
    # Run it with `marimo edit notebooks/insight_review.py`, or headless with
    # `python notebooks/insight_review.py` (the period: the year to the newest linked
    # night).
    # Only aggregates are shown or printed: no person, no name, no date of birth.
    import datetime as dt
    from pathlib import Path

    import duckdb
    import marimo as mo
    import polars as pl

    from insight.reach import ReachRow, ReachTable
    from insight.report import ReportError, build_report
    from insight.tables import as_frame
    from pipelines.environment import warehouse_path
    from risk_models.features import FeaturesError, newest_night

    return (
        FeaturesError,
        Path,
        ReachRow,
        ReachTable,
        ReportError,
        as_frame,
        build_report,
        dt,
        duckdb,
        mo,
        newest_night,
        pl,
        warehouse_path,
    )


@app.cell
def _(FeaturesError, duckdb, dt, mo, newest_night, warehouse_path):
    if not warehouse_path().is_file():
        raise SystemExit(
            f"no warehouse at {warehouse_path()}: load and link some nights first "
            "(joinedup run), or set JOINEDUP_WAREHOUSE"
        )
    _con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        _newest = newest_night(_con)
    except FeaturesError as _exc:
        raise SystemExit(str(_exc)) from _exc
    finally:
        _con.close()
    warehouse_box = mo.ui.text(value=str(warehouse_path()), label="warehouse", full_width=True)
    from_box = mo.ui.date(value=_newest - dt.timedelta(days=364), label="from")
    to_box = mo.ui.date(value=_newest, label="to")
    mo.vstack([warehouse_box, mo.hstack([from_box, to_box], justify="start")])
    return from_box, to_box, warehouse_box


@app.cell
def _(from_box, to_box, warehouse_box):
    warehouse = warehouse_box.value
    start = from_box.value
    end = to_box.value
    return end, start, warehouse


@app.cell
def _(Path, ReportError, build_report, end, mo, start, warehouse):
    try:
        report = build_report(Path(warehouse), start, end)
    except ReportError as _exc:
        raise SystemExit(str(_exc)) from _exc
    _rule = report["rule"]
    print(
        f"insight over {(end - start).days + 1} days: counts from 1 to "
        f"{_rule['suppress_up_to']} hidden, the rest rounded to {_rule['round_to']}"
    )
    mo.md(
        f"## Insight, {start} to {end}\nCounts from 1 to {_rule['suppress_up_to']} are shown "
        f"as `*`, with others hidden where they would give one away; the rest are rounded to "
        f"{_rule['round_to']}. Shares, ratios and rates are worked out from the counts as "
        "shown."
    )
    return (report,)


@app.cell
def _(ReachRow, ReachTable, mo, pl, report):
    reach_frames = {}
    _views = []
    for _kind, _tables in report["reach"].items():
        for _by, _table in _tables.items():
            _rows = [ReachRow(**r) for r in _table["rows"]]
            _found = ReachTable(_table["by"], _rows, _table["people"], _table["reached"])
            _frame = pl.DataFrame(
                [{k: str(v) for k, v in r.items()} for r in _table["rows"]],
                schema=dict.fromkeys(ReachRow.__dataclass_fields__, pl.String),
            )
            reach_frames[(_kind, _by)] = _frame
            _under = _found.under_reached()
            print(
                f"reach, people {_kind} by {_by}: {_frame.height} groups; reached less than "
                f"the rest: {', '.join(_under) or 'none'}"
            )
            _views += [
                mo.md(
                    f"### People {_kind}, by {_by}\nReached less than everyone else (the "
                    f"whole interval below 1): {', '.join(_under) or 'none'}."
                ),
                mo.ui.table(_frame, selection=None, pagination=False),
            ]
    mo.vstack([mo.md("## Reach"), *_views])
    return (reach_frames,)


@app.cell
def _(as_frame, mo, report):
    pattern_frames = {name: as_frame(t) for name, t in report["patterns"].items()}
    for _name, _frame in pattern_frames.items():
        print(f"patterns, {_name.replace('_', ' ')}: {_frame.height} rows")
    mo.vstack(
        [
            mo.md("## Patterns"),
            *(
                _part
                for _name, _frame in pattern_frames.items()
                for _part in (
                    mo.md(f"### {_name.replace('_', ' ')}"),
                    mo.ui.table(_frame, selection=None),
                )
            ),
        ]
    )
    return (pattern_frames,)


@app.cell
def _(as_frame, mo, pl, report):
    _outcomes = report["outcomes"]
    outcome_frames = {
        name: as_frame(table, "goal")
        for name, table in _outcomes.items()
        if isinstance(table, dict)
    }
    _met = _outcomes["success_by_goal"]
    rates = pl.DataFrame(
        {
            "goal": _met["rows"],
            "rate met": [str(v) for v in _met["rate"]],
            "95% interval": [
                "" if low is None else f"{low} to {high}"
                for low, high in zip(_met["low"], _met["high"], strict=True)
            ],
        }
    )
    print(
        f"outcomes: {_outcomes['by_goal_and_progress']['total']} alerts closed in the period; "
        "rate met by goal: "
        + "; ".join(f"{g} {r}" for g, r in zip(_met["rows"], _met["rate"], strict=True))
    )
    mo.vstack(
        [
            mo.md(
                "## Outcomes of the alerts closed in the period\nA goal is met: to improve, "
                "when it improved; to maintain, when it improved or held steady; to prevent, "
                "when it did not worsen and no serious event was recorded between the alert "
                "and closure. Distance travelled: the change in score from the alert's night "
                f"to closure, or to {_outcomes['follow_up_days']} days after it once they "
                "have passed."
            ),
            *(
                _part
                for _name, _frame in outcome_frames.items()
                for _part in (
                    mo.md(f"### {_name.replace('_', ' ')}"),
                    mo.ui.table(_frame, selection=None, pagination=False),
                )
            ),
            mo.md("### rate met, by goal"),
            mo.ui.table(rates, selection=None, pagination=False),
        ]
    )
    return outcome_frames, rates


if __name__ == "__main__":
    app.run()
