import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    # The analyst's risk notebook: the newest risk model's evaluation (discrimination,
    # calibration, what the flags are worth at the threshold and at capacity, disparities by
    # group), a threshold re-judged on the model's held-out persons, and what the flags'
    # reasons are. $JOINEDUP_RISK_MODEL picks another version (risk-v2).
    # Run it with `marimo edit notebooks/risk_review.py`, or headless with
    # `python notebooks/risk_review.py`. Only aggregates are shown or printed: no person,
    # and no group under 10 persons.
    import os

    import marimo as mo
    import polars as pl

    from pipelines.environment import models_dir, warehouse_path
    from risk_models.review import (
        RISK_ERRORS,
        calibration_chart,
        held_out,
        model_folder,
        reason_counts,
        reasons_chart,
        rejudge,
        saved_evaluation,
        sweep,
        sweep_chart,
    )

    return (
        RISK_ERRORS,
        calibration_chart,
        held_out,
        mo,
        model_folder,
        models_dir,
        os,
        pl,
        reason_counts,
        reasons_chart,
        rejudge,
        saved_evaluation,
        sweep,
        sweep_chart,
        warehouse_path,
    )


@app.cell
def _(RISK_ERRORS, model_folder, models_dir, os, saved_evaluation):
    try:
        folder = model_folder(models_dir(), os.environ.get("JOINEDUP_RISK_MODEL") or None)
        saved = saved_evaluation(folder)
    except RISK_ERRORS as _exc:
        raise SystemExit(str(_exc)) from _exc
    context = saved["context"]
    operating_threshold = float(context["operating threshold"])
    capacity = int(context["capacity a night"])
    return (capacity, context, folder, operating_threshold, saved)


@app.cell
def _(capacity, context, folder, mo, operating_threshold, pl, saved):
    def _figures(e):
        oracle = e["auc"] / e["oracle_auc"] if e.get("oracle_auc") else None
        return {
            "persons": e["persons"],
            "outcomes": e["outcomes"],
            "AUC": round(e["auc"], 3),
            "share of the oracle's AUC": round(oracle, 3) if oracle else None,
            "average precision": round(e["average_precision"], 3),
            "calibration error (ECE)": round(e["ece"], 4),
            f"precision at {operating_threshold}": round(e["threshold"]["precision"], 3),
            f"recall at {operating_threshold}": round(e["threshold"]["recall"], 3),
            f"precision, top {capacity:,}": round(e["capacity"]["precision"], 3),
            f"recall, top {capacity:,}": round(e["capacity"]["recall"], 3),
        }

    _views = {"held-out persons": _figures(saved)}
    if saved["truth"] is not None:
        _views["the world's truth"] = _figures(saved["truth"])
    # A row a figure, a column a basis it is judged on, each headed by its name.
    _names = list(next(iter(_views.values())))
    figures = pl.DataFrame(
        {"figure": _names}
        | {k: [None if f[n] is None else str(f[n]) for n in _names] for k, f in _views.items()},
        schema={"figure": pl.String} | dict.fromkeys(_views, pl.String),
    )
    headline = (
        f"{folder.name} ({saved['kind']}): held-out AUC {saved['auc']:.3f}, average precision "
        f"{saved['average_precision']:.3f}, ECE {saved['ece']:.4f}; at {operating_threshold}: "
        f"precision {saved['threshold']['precision']:.3f}, recall "
        f"{saved['threshold']['recall']:.3f}; top {capacity:,}: precision "
        f"{saved['capacity']['precision']:.3f}, recall {saved['capacity']['recall']:.3f}"
    )
    print(headline)
    if saved["truth"] is not None:
        _t = saved["truth"]
        print(
            f"against the world's truth: AUC {_t['auc']:.3f} "
            f"({_t['auc'] / _t['oracle_auc']:.1%} of the oracle's {_t['oracle_auc']:.3f}), "
            f"ECE {_t['ece']:.4f}"
        )
    mo.vstack(
        [
            mo.md(
                f"## Risk model {folder.name}, {saved['kind']}\n"
                f"Trained on {context['trained on']}; judged on {context['held-out persons']} "
                f"held-out persons; outcome: {context['outcome']}."
            ),
            mo.ui.table(figures, selection=None, pagination=False),
        ]
    )
    return (figures, headline)


@app.cell
def _(calibration_chart, mo, pl, saved):
    calibration = pl.DataFrame(saved["calibration"])
    print(
        f"calibration: {calibration.height} groups of persons; predicted "
        f"{calibration['predicted'].min():.4f} to {calibration['predicted'].max():.4f}, "
        f"observed {calibration['observed'].min():.4f} to {calibration['observed'].max():.4f}"
    )
    mo.vstack(
        [
            mo.md(
                f"### Calibration\nExpected calibration error {saved['ece']:.4f}: the mean gap "
                "between the predicted and the observed rate, over ten equal groups of persons."
            ),
            mo.hstack(
                [
                    mo.ui.altair_chart(
                        calibration_chart(saved["calibration"]), chart_selection=False
                    ),
                    mo.ui.table(calibration, selection=None, pagination=False),
                ]
            ),
        ]
    )
    return (calibration,)


@app.cell
def _(mo, operating_threshold, pl, saved):
    disparities = pl.DataFrame(saved["disparities"], infer_schema_length=None).with_columns(
        pl.col("persons").cast(pl.String)
    )
    _suppressed = int(disparities["suppressed"].sum())
    _warnings = saved.get("group_warnings", [])
    print(
        f"disparities at {operating_threshold}: {disparities.height} groups by "
        f"{', '.join(disparities['attribute'].unique(maintain_order=True))}; "
        f"{_suppressed} suppressed (under 10 persons); {len(_warnings)} group warning(s)"
    )
    for _w in _warnings:
        print(f"  {_w}")
    mo.vstack(
        [
            mo.md(
                f"### Each group at {operating_threshold}\nBase rate, selection rate, "
                "precision, recall, false-positive and false-negative rates, AUC and "
                "calibration error by group, each with its 95% interval (`*_low`, "
                "`*_high`); groups under 10 persons suppressed."
            ),
            mo.md("\n".join(f"- {_w}" for _w in _warnings) or "No group beyond its bounds."),
            mo.ui.table(disparities, selection=None, pagination=False),
        ]
    )
    return (disparities,)


@app.cell
def _(mo, operating_threshold):
    threshold = mo.ui.slider(
        0.01, 0.99, step=0.01, value=operating_threshold, label="threshold (probability)"
    )
    threshold
    return (threshold,)


@app.cell
def _(threshold):
    chosen = threshold.value
    return (chosen,)


@app.cell
def _(folder, held_out, saved, warehouse_path):
    # The persons the model was judged on in training, scored by it again (a few seconds).
    held = held_out(warehouse_path(), folder, saved["kind"])
    return (held,)


@app.cell
def _(capacity, chosen, held, mo, pl, rejudge, sweep, sweep_chart):
    rejudged = rejudge(held, chosen, capacity)
    _t = rejudged.threshold
    rejudged_line = (
        f"At {chosen}: {_t.flagged:,} of {rejudged.persons:,} held-out persons flagged, "
        f"{_t.true_flags:,} rightly; precision {_t.precision:.3f}, recall {_t.recall:.3f}"
    )
    print(rejudged_line)
    _grid = sorted({round(0.05 * _i, 2) for _i in range(1, 13)} | {chosen})
    curve = sweep(held, _grid)
    mo.vstack(
        [
            mo.md(f"### The threshold on the held-out persons\n{rejudged_line}"),
            mo.ui.altair_chart(sweep_chart(curve, chosen), chart_selection=False),
            mo.md("Disparities at this threshold"),
            mo.ui.table(
                pl.DataFrame(rejudged.disparities, infer_schema_length=None).with_columns(
                    pl.col("persons").cast(pl.String)
                ),
                selection=None,
                pagination=False,
            ),
        ]
    )
    return (curve, rejudged, rejudged_line)


@app.cell
def _(chosen, held, mo, reason_counts, reasons_chart):
    reasons = reason_counts(held, chosen)
    _shown = reasons.filter(reasons["as_first"].is_not_null()).head(5)
    print(
        f"top reasons of the flags at {chosen}: "
        + (
            "; ".join(f"{f} {n:,}" for f, n in _shown.select("feature", "as_first").iter_rows())
            or "none with 10 or more flags"
        )
    )
    mo.vstack(
        [
            mo.md(
                f"### Why they were flagged, at {chosen}\nHow often each feature is the first "
                "of a flag's reasons, and among its top three (counts under 10 suppressed)."
            ),
            mo.ui.altair_chart(reasons_chart(reasons), chart_selection=False),
            mo.ui.table(reasons, selection=None),
        ]
    )
    return (reasons,)


@app.cell
def _(chosen, mo, operating_threshold, os, rejudged_line):
    # The threshold chosen above, written to risk.yaml as a reviewed change: the diff shown
    # first; who, when, why and the old value in a comment; the old file kept in history/
    # (or `joinedup notebook threshold risk VALUE --why ...`).
    from pipelines.threshold_change import (
        RISK_KEY,
        ThresholdChangeError,
        change_threshold,
        preview_threshold,
    )
    from risk_models.features import RISK_CONFIG
    from risk_models.scoring import risk_settings

    risk_who = mo.ui.text(value=os.environ.get("USER", ""), label="who decides")
    risk_why = mo.ui.text(value=rejudged_line, label="why (the evidence)", full_width=True)
    risk_write = mo.ui.run_button(label=f"write threshold {chosen} to risk.yaml")
    mo.vstack(
        [
            mo.md(
                f"### The config change\n`risk.yaml` `model.threshold`: "
                f"{operating_threshold} -> {chosen}"
            ),
            mo.hstack([risk_who, risk_write], justify="start"),
            risk_why,
        ]
    )
    return (
        RISK_CONFIG,
        RISK_KEY,
        ThresholdChangeError,
        change_threshold,
        preview_threshold,
        risk_settings,
        risk_who,
        risk_why,
        risk_write,
    )


@app.cell
def _(
    RISK_CONFIG,
    RISK_KEY,
    ThresholdChangeError,
    change_threshold,
    chosen,
    mo,
    preview_threshold,
    risk_settings,
    risk_who,
    risk_why,
    risk_write,
):
    _who = risk_who.value or "analyst"
    try:
        if risk_write.value:
            _done = change_threshold(
                RISK_CONFIG, RISK_KEY, chosen, _who, risk_why.value, check=risk_settings
            )
            risk_written = f"written: {_done.key} {_done.old} -> {_done.new}; old file {_done.kept}"
            _diff = _done.diff
        else:
            risk_written = ""
            _diff = preview_threshold(RISK_CONFIG, RISK_KEY, chosen, _who, risk_why.value)
    except ThresholdChangeError as _exc:
        risk_written, _diff = str(_exc), ""
    if risk_write.value:
        print(risk_written)
    mo.vstack([mo.md(risk_written), mo.md(f"```diff\n{_diff}```") if _diff else mo.md("")])
    return (risk_written,)


if __name__ == "__main__":
    app.run()
