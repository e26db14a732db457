import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    # The analyst's linkage notebook: the model's match weights, precision and recall
    # across thresholds against the labels, and the pairs nearest the threshold.
    # Run it with `marimo edit notebooks/linkage_tuning.py`, or headless with
    # `python notebooks/linkage_tuning.py`.
    import json
    import os
    from pathlib import Path

    import duckdb
    import marimo as mo
    import polars as pl

    from matching.evaluate import sweep
    from matching.report import match_weights
    from pipelines.environment import warehouse_path, world_dir
    from pipelines.linkage import latest_model, matching_config

    return (
        json,
        mo,
        os,
        Path,
        duckdb,
        pl,
        sweep,
        match_weights,
        warehouse_path,
        world_dir,
        latest_model,
        matching_config,
    )


@app.cell
def _(json, latest_model, match_weights, mo):
    model_path = latest_model()
    if model_path is None:
        raise SystemExit("no trained model: run `joinedup link train` first")
    artifact = json.loads(model_path.read_text())
    weights = match_weights(artifact["splink_model"])
    mo.vstack(
        [
            mo.md(
                f"## Model {model_path.name}: trained {artifact['trained_at']} on "
                f"{artifact['training_records']:,} records"
            ),
            mo.ui.table(weights.with_columns(weights["match_weight"].round(2))),
        ]
    )
    return (artifact, model_path, weights)


@app.cell
def _(duckdb, pl, warehouse_path):
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    pairs = con.sql("SELECT * FROM linkage_pairs").pl()
    records = con.sql(
        "SELECT source || ':' || source_record_id AS unique_id, source, source_record_id,"
        " first_name, last_name, dob, postcode FROM person_records WHERE valid_to IS NULL"
    ).pl()
    con.close()
    night = pairs["night"].max() if pairs.height else None
    return (pairs, records, night)


@app.cell
def _(Path, os, pl, records, world_dir):
    # Labels: an analyst's clerical labels are a CSV of unique_id pairs (not yet read here);
    # on a synthetic world, its truth says who every record is.
    truth_file = Path(os.environ.get("JOINEDUP_TRUTH", world_dir() / "truth" / "records.parquet"))
    truth = (
        records.select("unique_id", "source_record_id").join(
            pl.read_parquet(truth_file).select("source_record_id", "person_id"),
            on="source_record_id",
        )
        if truth_file.is_file()
        else None
    )
    return (truth,)


@app.cell
def _(matching_config, mo):
    threshold = mo.ui.slider(
        0.05,
        0.995,
        step=0.005,
        value=matching_config().threshold,
        label="threshold (match probability)",
    )
    threshold
    return (threshold,)


@app.cell
def _(mo, pairs, sweep, threshold, truth):
    grid = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999]
    chart_data = (
        sweep(pairs, truth, sorted({*grid, threshold.value})) if truth is not None else None
    )
    at = (
        chart_data.filter(chart_data["threshold"] == threshold.value).row(0, named=True)
        if chart_data is not None
        else None
    )
    summary = (
        f"At {threshold.value}: precision {at['precision']:.4f}, recall {at['recall']:.4f}, "
        f"F1 {at['f1']:.4f} ({at['predicted']:,} links)"
        if at
        else "no labels to judge by"
    )
    mo.vstack(
        [
            mo.md(f"### Pairs against the labels\n{summary}"),
            mo.ui.table(chart_data) if chart_data is not None else mo.md(""),
        ]
    )
    return (chart_data, summary)


@app.cell
def _(mo, pairs, pl, records, threshold):
    near = (
        pairs.with_columns((pl.col("match_probability") - threshold.value).abs().alias("gap"))
        .sort("gap")
        .head(50)
        .join(records.rename(lambda c: f"{c}_l"), on="unique_id_l")
        .join(records.rename(lambda c: f"{c}_r"), on="unique_id_r")
        .select(
            "match_probability",
            "first_name_l",
            "first_name_r",
            "last_name_l",
            "last_name_r",
            "dob_l",
            "dob_r",
            "postcode_l",
            "postcode_r",
            "unique_id_l",
            "unique_id_r",
        )
    )
    mo.vstack(
        [mo.md("### The 50 pairs nearest the threshold, for clerical review"), mo.ui.table(near)]
    )
    return (near,)


@app.cell
def _(mo, summary, threshold):
    change = f"threshold: {threshold.value}"
    print(summary)
    print(f"To use this threshold, set in pipelines/config/matching.yaml:\n  {change}")
    mo.md(f"### The config change\n`pipelines/config/matching.yaml`: `{change}`")
    return (change,)


if __name__ == "__main__":
    app.run()
