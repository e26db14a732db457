import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    # The analyst's linkage notebook: the model's match weights, precision and recall
    # across thresholds against labels (clerical or the world's truth), and clerical review
    # of the pairs nearest the threshold, written back to the labels file.
    # Run it with `marimo edit notebooks/linkage_tuning.py`, or headless with
    # `python notebooks/linkage_tuning.py`. Names and dates of birth are shown on the page
    # for review, never printed. With JOINEDUP_LINK_RUN set to a `joinedup link files`
    # out folder, it reads that run (its model, pairs, clusters and labels) instead of the
    # warehouse.
    import json
    import os
    from pathlib import Path

    import duckdb
    import marimo as mo
    import polars as pl

    from matching import latest_model, matching_config
    from matching.evaluate import LabelsError, label_sweep, read_labels, read_run, sweep
    from matching.report import match_weights
    from matching.review import (
        JUDGEMENTS,
        marked_pairs,
        records_of_run,
        review_queue,
        side_by_side,
        threshold_chart,
        write_labels,
    )
    from pipelines.environment import (
        data_dir,
        matching_file,
        models_dir,
        warehouse_path,
        world_dir,
    )

    link_run = (
        Path(os.environ["JOINEDUP_LINK_RUN"]) if os.environ.get("JOINEDUP_LINK_RUN") else None
    )
    run_summary, run_pairs, run_clusters = read_run(link_run) if link_run else (None, None, None)
    return (
        JUDGEMENTS,
        LabelsError,
        Path,
        link_run,
        records_of_run,
        run_clusters,
        run_pairs,
        run_summary,
        data_dir,
        duckdb,
        json,
        label_sweep,
        latest_model,
        marked_pairs,
        match_weights,
        matching_config,
        matching_file,
        mo,
        models_dir,
        os,
        pl,
        read_labels,
        review_queue,
        side_by_side,
        sweep,
        threshold_chart,
        warehouse_path,
        world_dir,
        write_labels,
    )


@app.cell
def _(json, latest_model, link_run, match_weights, mo, models_dir):
    model_path = link_run / "model.json" if link_run else latest_model(models_dir())
    if model_path is None:
        raise SystemExit("no trained model: run `joinedup link train` first")
    artifact = json.loads(model_path.read_text())
    weights = match_weights(artifact["splink_model"])
    _trained = (
        f"trained {artifact['trained_at']} on {artifact['training_records']:,} records"
        if artifact.get("trained_at")
        else f"from {artifact.get('from')}"
    )
    mo.vstack(
        [
            mo.md(f"## Model {model_path}: {_trained}"),
            mo.ui.table(weights.with_columns(weights["match_weight"].round(2))),
        ]
    )
    return (artifact, model_path, weights)


@app.cell
def _(artifact, mo):
    # Splink's own charts, drawn from the model alone (no record): each comparison level's
    # match weight, and its m and u (how often matches and non-matches reach it).
    from matching.charts import model_charts

    splink_charts = model_charts(artifact["splink_model"])
    mo.vstack(
        [
            mo.md("### Splink's charts of the model"),
            *(
                mo.vstack([mo.md(f"#### {_name}"), _chart])
                for _name, _chart in splink_charts.items()
            ),
        ]
    )
    return (splink_charts,)


@app.cell
def _(duckdb, link_run, records_of_run, run_clusters, run_pairs, warehouse_path):
    if link_run:
        # A `link files` run: its pairs carry both records' compared values.
        pairs = run_pairs
        records = records_of_run(run_pairs).join(
            run_clusters.select("unique_id"), on="unique_id", how="right"
        )
        night = None
    else:
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        pairs = con.sql("SELECT * FROM linkage_pairs").pl()
        records = con.sql(
            "SELECT source || ':' || source_record_id AS unique_id, source, source_record_id,"
            " first_name, middle_name, last_name, dob, sex, address, postcode, uprn,"
            " nhs_number, upn, ni_number FROM person_records WHERE valid_to IS NULL"
        ).pl()
        con.close()
        night = pairs["night"].max() if pairs.height else None
    return (pairs, records, night)


@app.cell
def _(data_dir, link_run, mo, os, run_summary):
    # Clerical labels: a CSV of unique_id pairs judged match, non-match or unsure, from
    # $JOINEDUP_LABELS or the path typed here (a run's own linkage.labels, or beside its
    # folder). The review below adds to the same file.
    _default = (
        (run_summary.get("labels_file") or str(link_run.parent / f"{link_run.name}-labels.csv"))
        if link_run
        else str(data_dir() / "clerical_labels.csv")
    )
    labels_path = mo.ui.text(
        value=os.environ.get("JOINEDUP_LABELS", _default),
        label="clerical labels (CSV)",
        full_width=True,
    )
    get_saved, set_saved = mo.state(0)
    labels_path
    return (get_saved, labels_path, set_saved)


@app.cell
def _(JUDGEMENTS, LabelsError, Path, get_saved, labels_path, mo, read_labels, records):
    get_saved()  # read again after the review below writes labels
    labels_file = Path(labels_path.value)
    clerical = None
    labels_ok = True
    if labels_file.is_file():
        try:
            clerical = read_labels(str(labels_file), set(records["unique_id"]), keep_unsure=True)
            _counts = dict(clerical["label"].value_counts().iter_rows())
            labels_note = "clerical labels: " + ", ".join(
                f"{_counts.get(_label, 0):,} {_label}" for _label in JUDGEMENTS
            )
        except LabelsError as _exc:
            labels_ok = False
            labels_note = f"clerical labels not used: {_exc}"
    else:
        labels_note = f"clerical labels: none yet in {labels_file}"
    print(labels_note)
    _kind = "success" if clerical is not None else "warn" if labels_ok else "danger"
    mo.callout(mo.md(labels_note), kind=_kind)
    return (clerical, labels_file, labels_ok)


@app.cell
def _(Path, link_run, os, pl, records, world_dir):
    # On a synthetic world, its truth says who every record is (a run's, only if named).
    truth_file = Path(
        os.environ.get("JOINEDUP_TRUTH")
        or ("" if link_run else world_dir() / "truth" / "records.parquet")
    )
    truth = (
        records.select("unique_id", "source_record_id").join(
            pl.read_parquet(truth_file).select("source_record_id", "person_id"),
            on="source_record_id",
        )
        if str(truth_file) and truth_file.is_file()
        else None
    )
    return (truth,)


@app.cell
def _(matching_config, matching_file, mo, run_summary):
    threshold = mo.ui.slider(
        0.05,
        0.995,
        step=0.005,
        value=run_summary["threshold"]
        if run_summary
        else matching_config(matching_file()).threshold,
        label="threshold (match probability)",
    )
    threshold
    return (threshold,)


@app.cell
def _(clerical, mo, truth):
    _bases = []
    if clerical is not None and (clerical["label"] != "unsure").any():
        _bases.append("clerical labels")
    if truth is not None:
        _bases.append("the world's truth")
    judge_by = mo.ui.radio(
        _bases, value=_bases[0] if _bases else None, inline=True, label="judge by"
    )
    judge_by
    return (judge_by,)


@app.cell
def _(clerical, judge_by, label_sweep, mo, pairs, sweep, threshold, threshold_chart, truth):
    grid = sorted(
        {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995}
        | {0.999, threshold.value}
    )
    if judge_by.value == "clerical labels":
        chart_data = label_sweep(pairs, clerical, grid)
        basis = f"{(clerical['label'] != 'unsure').sum():,} clerical labels"
        _linked = "labelled pairs linked"
    elif judge_by.value == "the world's truth":
        chart_data = sweep(pairs, truth, grid)
        basis, _linked = "the world's truth", "links"
    else:
        chart_data, basis, _linked = None, "no labels", ""
    at = (
        chart_data.filter(chart_data["threshold"] == threshold.value).row(0, named=True)
        if chart_data is not None
        else None
    )
    summary = (
        f"At {threshold.value}: precision {at['precision']:.4f}, recall {at['recall']:.4f}, "
        f"F1 {at['f1']:.4f} ({at['predicted']:,} {_linked}) against {basis}"
        if at
        else "no labels to judge by"
    )
    mo.vstack(
        [
            mo.md(f"### Pairs against the labels\n{summary}"),
            mo.ui.altair_chart(threshold_chart(chart_data, threshold.value), chart_selection=False)
            if chart_data is not None
            else mo.md(""),
            mo.ui.table(chart_data, selection=None) if chart_data is not None else mo.md(""),
        ]
    )
    return (basis, chart_data, summary)


@app.cell
def _(mo):
    # Off until the analyst turns it on, so that a run nobody watches (a script, an export,
    # which marimo runs as an edit session) shows no person; in `marimo edit`, pyproject's
    # [tool.marimo] keeps no session file of what it shows.
    show_records = mo.ui.switch(label="show the records of each pair (names, birth dates)")
    # Pairs near the threshold only leave the labelled curve flat elsewhere: a stratified
    # or random sample judges precision and recall over the whole range of scores.
    sample = mo.ui.radio(
        {
            "nearest the threshold": "nearest",
            "stratified over the scores": "stratified",
            "at random": "random",
        },
        value="stratified over the scores",
        inline=True,
        label="pairs to review",
    )
    mo.vstack([sample, show_records])
    return (sample, show_records)


@app.cell
def _(
    JUDGEMENTS,
    clerical,
    mo,
    pairs,
    records,
    review_queue,
    sample,
    show_records,
    side_by_side,
    threshold,
):
    # The pairs nearest the threshold that nobody has judged yet, each record beside the
    # other: the analyst marks each match, non-match or unsure, then saves.
    queue = review_queue(pairs, threshold.value, clerical, size=20, sample=sample.value)
    marks = mo.ui.dictionary(
        {str(_i): mo.ui.radio(list(JUDGEMENTS), inline=True) for _i in range(queue.height)}
    )
    _personal = show_records.value
    mo.vstack(
        [
            mo.md(
                f"### Clerical review: {queue.height} unjudged pairs, "
                + (
                    f"nearest {threshold.value}"
                    if sample.value == "nearest"
                    else f"sampled {sample.value} over the scores (highest first)"
                )
            ),
            mo.md("")
            if _personal
            else mo.callout(
                mo.md(
                    "The records of each pair are shown only when the switch above is on, "
                    "in `marimo edit notebooks/linkage_tuning.py`."
                ),
                kind="info",
            ),
            *(
                mo.vstack(
                    [
                        mo.md(f"**Pair {_i + 1}**: match probability {_p:.4f}"),
                        mo.ui.table(
                            side_by_side(records, _l, _r),
                            selection=None,
                            pagination=False,
                            show_download=False,
                            show_column_summaries=False,
                        )
                        if _personal
                        else mo.md(""),
                        marks[str(_i)],
                    ]
                )
                for _i, (_l, _r, _p) in enumerate(
                    queue.select("unique_id_l", "unique_id_r", "match_probability").iter_rows()
                )
            ),
        ]
    )
    return (marks, queue)


@app.cell
def _(artifact, link_run, mo, queue, records, show_records):
    # Splink's waterfall for the pairs above: how each comparison adds to a pair's weight,
    # scored again with the model over the same records. Values only with the switch on.
    from matching.charts import pair_waterfall

    if link_run:
        _shown = mo.md(
            "The waterfall scores pairs again from the warehouse's records; for a run, "
            "`pairs.csv` gives each comparison's weight beside the ids."
        )
    elif queue.height == 0:
        _shown = mo.md("")
    else:
        _shown = mo.vstack(
            [
                mo.md("### How each comparison adds up, pair by pair (Splink's waterfall)"),
                pair_waterfall(
                    artifact["splink_model"],
                    records,
                    list(queue.select("unique_id_l", "unique_id_r").iter_rows()),
                    with_values=show_records.value,
                ),
            ]
        )
    _shown


@app.cell
def _(mo, os):
    reviewer = mo.ui.text(value=os.environ.get("USER", ""), label="reviewer")
    save = mo.ui.run_button(label="save the marked pairs to the labels file")
    mo.hstack([reviewer, save], justify="start")
    return (reviewer, save)


@app.cell
def _(marked_pairs, marks, queue, save):
    # Only the button writes: a half-marked page is not saved as the analyst clicks.
    marked = marked_pairs(queue, marks.value if save.value else {})
    return (marked,)


@app.cell
def _(LabelsError, labels_file, labels_ok, marked, mo, reviewer, set_saved, write_labels):
    saved_note = ""
    if marked.height and not labels_ok:
        saved_note = f"labels not written: fix {labels_file} first (see above)"
    elif marked.height:
        try:
            _written = write_labels(labels_file, marked, reviewer.value or "analyst")
            saved_note = f"{_written:,} clerical label(s) written to {labels_file}"
            set_saved(lambda _n: _n + 1)
        except LabelsError as _exc:
            saved_note = f"labels not written: {_exc}"
    if saved_note:
        print(saved_note)
    mo.md(saved_note)
    return (saved_note,)


@app.cell
def _(Path, matching_file, mo, run_summary, summary, threshold):
    from pipelines.threshold_change import (
        MATCHING_KEY,
        ThresholdChangeError,
        change_threshold,
        preview_threshold,
    )

    change = f"threshold: {threshold.value}"
    config_path = Path(run_summary["config"]) if run_summary else matching_file()
    config_key = ("linkage", "threshold") if run_summary else MATCHING_KEY
    _where = f"{config_path} (under linkage:)" if run_summary else "pipelines/config/matching.yaml"
    print(summary)
    print(f"To use this threshold, set in {_where}:\n  {change}")
    why = mo.ui.text(value=summary, label="why (the evidence)", full_width=True)
    write = mo.ui.run_button(label=f"write threshold {threshold.value} to {config_path.name}")
    mo.vstack(
        [
            mo.md(
                f"### The config change\n`{_where}`: `{change}`. Written with who, when, why "
                "and the old value in a comment, the old file kept in `history/` beside it "
                "(or `joinedup notebook threshold linkage VALUE --why ...`)."
            ),
            why,
            write,
        ]
    )
    return (
        ThresholdChangeError,
        change,
        change_threshold,
        config_key,
        config_path,
        preview_threshold,
        why,
        write,
    )


@app.cell
def _(
    ThresholdChangeError,
    change_threshold,
    config_key,
    config_path,
    matching_config,
    mo,
    preview_threshold,
    reviewer,
    run_summary,
    threshold,
    why,
    write,
):
    # The diff is shown before anything is written; only the button writes.
    _who = reviewer.value or "analyst"
    try:
        if write.value:
            _done = change_threshold(
                config_path,
                config_key,
                threshold.value,
                _who,
                why.value,
                check=None if run_summary else matching_config,
            )
            written_note = f"written: {_done.key} {_done.old} -> {_done.new}; old file {_done.kept}"
            _diff = _done.diff
        else:
            written_note = ""
            _diff = preview_threshold(config_path, config_key, threshold.value, _who, why.value)
    except ThresholdChangeError as _exc:
        written_note, _diff = str(_exc), ""
    if write.value:
        print(written_note)
    mo.vstack([mo.md(written_note), mo.md(f"```diff\n{_diff}```") if _diff else mo.md("")])
    return (written_note,)


if __name__ == "__main__":
    app.run()
