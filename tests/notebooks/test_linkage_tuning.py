"""The analyst's linkage notebook, run headless against a linked warehouse: judged by the
world's truth or by clerical labels, bad labels named and not used, and the analyst's
judgements saved to the labels file the next evaluation reads."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import polars as pl
import pytest
from servers import free_port

from matching import link_night, train_model
from pipelines.cli import main
from pipelines.environment import models_dir
from pipelines.nightly import run_night
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "linkage_tuning.py"
WORLD = WorldConfig(people=2_000, seed=5, nights=1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A small world ingested, trained on and linked: (world folder, warehouse file)."""
    root = tmp_path_factory.mktemp("notebook")
    world = generate(WORLD, root / "world").out
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))
    patch.setenv("JOINEDUP_WORLD", str(world))
    patch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    # The job's alerts step needs a mail relay named; nothing is scored, so none is sent.
    patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    try:
        with BackgroundServer(world, "tok") as server:
            patch.setenv("JOINEDUP_POLICE_URL", server.url)
            for night in WORLD.night_dates():
                ok, lines = run_night(night)
                assert ok, lines
        warehouse = root / "warehouse.duckdb"
        model = train_model(warehouse, models_dir())
        for night in WORLD.night_dates():
            link_night(warehouse, night, model, 0.9)
        yield world, warehouse
    finally:
        patch.undo()


@pytest.fixture
def env(linked: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The notebook's environment: the linked world, and no clerical labels yet."""
    world, warehouse = linked
    monkeypatch.setenv("JOINEDUP_DATA", str(warehouse.parent))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    monkeypatch.delenv("JOINEDUP_TRUTH", raising=False)
    monkeypatch.delenv("JOINEDUP_LABELS", raising=False)
    return dict(os.environ)


def _headless(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The notebook as CI and an analyst's script run it."""
    done = subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _run(defs: dict[str, Any] | None = None) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """The notebook run in this process: its outputs and its definitions."""
    spec = importlib.util.spec_from_file_location("linkage_tuning", NOTEBOOK)
    assert spec is not None and spec.loader is not None
    notebook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notebook)
    outputs, found = notebook.app.run(defs=defs)
    return outputs, found


def _pairs_and_truth(warehouse: Path, world: Path) -> pl.DataFrame:
    """Each scored pair, with whether the world says its two records are one person."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        pairs = con.sql(
            "SELECT unique_id_l, unique_id_r, match_probability FROM linkage_pairs"
        ).pl()
    finally:
        con.close()
    truth = pl.read_parquet(world / "truth" / "records.parquet").select(
        "source_record_id", "person_id"
    )

    def who(side: str) -> pl.Expr:
        return pl.col(f"unique_id_{side}").str.splitn(":", 2).struct.field("field_1")

    return (
        pairs.with_columns(who("l").alias("rec_l"), who("r").alias("rec_r"))
        .join(truth.rename({"source_record_id": "rec_l", "person_id": "person_l"}), on="rec_l")
        .join(truth.rename({"source_record_id": "rec_r", "person_id": "person_r"}), on="rec_r")
        .with_columns((pl.col("person_l") == pl.col("person_r")).alias("same"))
    )


def _personal_values(warehouse: Path, ids: list[str]) -> set[str]:
    """The names and dates of birth of these records, as the notebook would show them."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT first_name, middle_name, last_name, CAST(dob AS VARCHAR) FROM person_records"
            " WHERE valid_to IS NULL AND source || ':' || source_record_id IN"
            " (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
    finally:
        con.close()
    return {v for row in rows for v in row if v and len(v) >= 3}


def test_judged_by_the_truth_and_nothing_personal_printed(
    env: dict[str, str], linked: tuple[Path, Path]
) -> None:
    _, warehouse = linked
    done = _headless(env)
    labels_file = warehouse.parent / "clerical_labels.csv"
    assert f"clerical labels: none yet in {labels_file}" in done.stdout
    assert re.search(r"At 0\.9: precision 0\.\d{4}, recall 0\.\d{4}, F1 0\.\d{4} ", done.stdout)
    assert "against the world's truth" in done.stdout
    assert "set in pipelines/config/matching.yaml:\n  threshold: 0.9" in done.stdout
    # The pairs under review are shown on the page, never printed.
    _, defs = _run()
    queue = defs["queue"]
    assert queue.height == 20
    shown = _personal_values(warehouse, [*queue["unique_id_l"], *queue["unique_id_r"]])
    assert len(shown) > 20
    printed = set(re.findall(r"[\w-]+", (done.stdout + done.stderr).upper()))
    assert not shown & printed


def test_clerical_labels_judge_the_sweep(
    env: dict[str, str],
    linked: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world, warehouse = linked
    scored = _pairs_and_truth(warehouse, world)
    # An analyst's labels of pairs either side of the threshold, one unsure and one pair
    # labelled twice (the second, in the other order, is the one that counts).
    near = scored.sort((pl.col("match_probability") - 0.9).abs()).head(40)
    assert near["same"].any() and not near["same"].all()
    rows = [
        (left, right, "match" if same else "non-match")
        for left, right, same in near.select("unique_id_l", "unique_id_r", "same").iter_rows()
    ]
    first = rows[0]
    rows[0] = (first[0], first[1], "unsure")
    rows.append((rows[1][1], rows[1][0], "non-match" if rows[1][2] == "match" else "match"))
    labels = tmp_path / "clerical.csv"
    labels.write_text(
        "unique_id_l,unique_id_r,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
    )
    judged = {(min(a, b), max(a, b)): c for a, b, c in rows}
    decided = {k: c for k, c in judged.items() if c != "unsure"}
    probability = {
        (min(a, b), max(a, b)): p
        for a, b, p in near.select("unique_id_l", "unique_id_r", "match_probability").iter_rows()
    }
    linked_pairs = {k for k in decided if probability[k] >= 0.9}
    matches = {k for k, c in decided.items() if c == "match"}
    tp = len(linked_pairs & matches)
    precision = tp / len(linked_pairs) if linked_pairs else 1.0
    recall = tp / len(matches)

    monkeypatch.setenv("JOINEDUP_LABELS", str(labels))
    _run()
    printed = capsys.readouterr().out
    counts = {c: list(judged.values()).count(c) for c in ("match", "non-match", "unsure")}
    assert (
        f"clerical labels: {counts['match']} match, {counts['non-match']} non-match, "
        f"{counts['unsure']} unsure"
    ) in printed
    assert f"At 0.9: precision {precision:.4f}, recall {recall:.4f}, " in printed
    assert (
        f"({len(linked_pairs)} labelled pairs linked) against {len(decided)} clerical labels"
        in printed
    )


def test_labels_naming_unknown_records_are_named_and_not_used(
    env: dict[str, str],
    linked: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world, warehouse = linked
    pair = _pairs_and_truth(warehouse, world).row(0, named=True)
    labels = tmp_path / "clerical.csv"
    labels.write_text(
        "unique_id_l,unique_id_r,label\n"
        f"{pair['unique_id_l']},{pair['unique_id_r']},match\n"
        f"{pair['unique_id_l']},health:NOSUCH1,match\n"
    )
    monkeypatch.setenv("JOINEDUP_LABELS", str(labels))
    _, defs = _run()
    printed = capsys.readouterr().out
    assert (
        f"clerical labels not used: {labels}: 1 row(s) name records the warehouse does not "
        f"hold (row 3: {pair['unique_id_l']} / health:NOSUCH1)"
    ) in printed
    assert defs["clerical"] is None and "against the world's truth" in printed
    # Marks are not added to a file the notebook cannot read.
    before = labels.read_text()
    _, defs = _run(
        {
            "marked": pl.DataFrame(
                [(pair["unique_id_l"], pair["unique_id_r"], "match")],
                schema=["unique_id_l", "unique_id_r", "label"],
                orient="row",
            )
        }
    )
    assert defs["saved_note"] == f"labels not written: fix {labels} first (see above)"
    assert labels.read_text() == before


def test_the_analysts_marks_are_saved_for_the_next_evaluation(
    env: dict[str, str],
    linked: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, warehouse = linked
    labels = tmp_path / "clerical.csv"
    monkeypatch.setenv("JOINEDUP_LABELS", str(labels))
    outputs, defs = _run()
    queue = defs["queue"]
    # Unasked, the review shows no record; with its switch on (marimo's switch, here as
    # its value), each record of a pair beside the other.
    review = next(o.text for o in outputs if o is not None and "Clerical review" in o.text)
    shown = _personal_values(warehouse, [queue["unique_id_l"][0], queue["unique_id_r"][0]])
    assert len(shown) > 0
    assert not any([v in review for v in shown])  # a list: a failure shows no value
    outputs, _ = _run({"show_records": SimpleNamespace(value=True), "sample": defs["sample"]})
    review = next(o.text for o in outputs if o is not None and "Clerical review" in o.text)
    assert all([v in review for v in shown])
    assert defs["marked"].height == 0 and not labels.exists()  # nothing until saved

    # The analyst marks three pairs and saves: marimo's button, here as its result.
    marks = {"0": "match", "1": "non-match", "3": "unsure"}
    marked = pl.DataFrame(
        [
            (queue["unique_id_l"][int(i)], queue["unique_id_r"][int(i)], label)
            for i, label in marks.items()
        ],
        schema=["unique_id_l", "unique_id_r", "label"],
        orient="row",
    )
    _, defs = _run({"marked": marked})
    assert defs["saved_note"] == f"3 clerical label(s) written to {labels}"
    saved = pl.read_csv(labels)
    assert saved.columns == ["unique_id_l", "unique_id_r", "label", "reviewer", "reviewed_at"]
    assert saved.select("unique_id_l", "unique_id_r", "label").rows() == marked.rows()

    # Next time the marked pairs have left the queue, and their labels judge the sweep.
    capsys.readouterr()
    _, defs = _run()
    assert "clerical labels: 1 match, 1 non-match, 1 unsure" in capsys.readouterr().out
    left = set(defs["queue"].select("unique_id_l", "unique_id_r").iter_rows())
    assert not left & set(marked.select("unique_id_l", "unique_id_r").iter_rows())
    assert set(queue.select("unique_id_l", "unique_id_r").rows()[2:3]) <= left
    assert "against 2 clerical labels" in defs["summary"]

    # Marking a pair again replaces its label rather than adding a row.
    again = marked.head(1).with_columns(pl.lit("non-match").alias("label"))
    _run({"marked": again})
    resaved = pl.read_csv(labels)
    assert resaved.height == 3
    assert resaved.filter(pl.col("unique_id_l") == again["unique_id_l"][0])["label"].to_list() == [
        "non-match"
    ]

    # The command reads the same file.
    capsys.readouterr()
    assert main(["link", "evaluate", "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "2 labelled pairs" in out
    assert "links kept at night" in out and "persons (clusters) of night" in out
