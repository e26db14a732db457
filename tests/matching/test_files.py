"""`joinedup link files`: two extracts linked, and one deduplicated, by config alone.

The extracts are the test world's school roll and children's social care referrals,
copied out as an analyst would receive them (the referrals as parquet), linked by the
example config of docs/matching.md, and scored against the world's truth. Bad requests
stop with exit status 2, one message, and no files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from worldfiles import extract

from matching.evaluate import Scores, cluster_scores, pair_scores
from pipelines.cli import main

PUPILS = """
    agency: education
    kind: csv
    location: extracts
    tables:
      - name: pupils
        file: {file}
        person_records:
          source_record_id: PupilID
          first_name: LegalForename
          middle_name: MiddleNames
          last_name: LegalSurname
          dob: DOB
          sex: Sex
          upn: UPN
          address: AddressLine1
          postcode: Postcode
"""
# Fewer random pairs for u than the default: the same model, in a third of the time.
LINKAGE = "linkage: {{mode: {mode}, threshold: 0.9, night: {night}, u_sample_pairs: 200000}}\n"
DOCS = Path(__file__).parents[2] / "docs" / "matching.md"
PARTNERS = {"schools": "education", "social_care": "childrens_social_care"}


def _night(world: Path) -> str:
    return extract(world, 0, "education", "pupils.csv").parent.parent.name


def _config(folder: Path, world: Path, mode: str, sources: dict[str, str]) -> Path:
    body = "".join(f"  {name}:{text}" for name, text in sources.items())
    path = folder / f"{mode}.yaml"
    path.write_text(LINKAGE.format(mode=mode, night=_night(world)) + "sources:\n" + body)
    return path


def _truth(world: Path) -> pl.DataFrame:
    """unique_id (as the command writes it) and person_id of every record of both partners."""
    records = pl.read_parquet(world / "truth" / "records.parquet")
    return pl.concat(
        records.filter(pl.col("partner") == partner).select(
            pl.format("{}:{}", pl.lit(name), "source_record_id").alias("unique_id"), "person_id"
        )
        for name, partner in PARTNERS.items()
    ).unique("unique_id")


@dataclass
class Run:
    """A link-files run through the command, and what it wrote."""

    out: Path
    summary: dict[str, Any]
    pairs: pl.DataFrame
    clusters: pl.DataFrame


def _run(config: Path, out: Path, *extra: str) -> Run:
    assert main(["link", "files", "--config", str(config), "--out", str(out), *extra]) == 0
    return Run(
        out,
        json.loads((out / "summary.json").read_text()),
        pl.read_csv(out / "pairs.csv", infer_schema=False).with_columns(
            pl.col("match_probability").cast(pl.Float64),
            (pl.col("above_threshold") == "true").alias("above_threshold"),
            (pl.col("refused_by_clustering") == "true").alias("refused_by_clustering"),
        ),
        pl.read_csv(out / "clusters.csv", infer_schema=False),
    )


def _documented_config() -> str:
    """The example config of docs/matching.md, as an analyst would copy it."""
    section = DOCS.read_text().split("## Linking any extracts: `joinedup link files`", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def linked(world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The school roll linked to social care's referrals by the documented config."""
    folder = tmp_path_factory.mktemp("link")
    (folder / "extracts").mkdir()
    shutil.copy(extract(world, 0, "education", "pupils.csv"), folder / "extracts")
    referrals = pl.read_csv(
        extract(world, 0, "childrens_social_care", "referrals.csv"), infer_schema=False
    )
    referrals.write_parquet(folder / "extracts" / "referrals.parquet")
    assert f"night: {_night(world)}" in _documented_config()
    config = folder / "schools_and_care.yaml"
    config.write_text(
        _documented_config().replace("linkage:\n", "linkage:\n  u_sample_pairs: 200000\n", 1)
    )
    return _run(config, folder / "out"), config


def _cross_scores(run: Run, truth: pl.DataFrame) -> Scores:
    """Pairs at the threshold against every true pair of records from different sources."""
    known = run.clusters.select("unique_id", "source").join(truth, on="unique_id")
    true_pairs = (
        known.join(known, on="person_id", suffix="_r")
        .filter(pl.col("source") < pl.col("source_r"))
        .height
    )
    found = (
        run.pairs.filter("above_threshold")
        .join(truth.rename({"unique_id": "unique_id_l", "person_id": "l"}), on="unique_id_l")
        .join(truth.rename({"unique_id": "unique_id_r", "person_id": "r"}), on="unique_id_r")
    )
    return Scores(int((found["l"] == found["r"]).sum()), found.height, true_pairs)


def test_two_extracts_link_by_config_alone(linked: tuple[Run, Path], world: Path) -> None:
    run, _ = linked
    truth = _truth(world)
    scores = _cross_scores(run, truth)
    assert scores.actual > 150, scores.line()  # children known to both
    # Measured 0.975 and 0.990: the pairs lost to precision are brothers and sisters, whom
    # the conflict-aware clusters keep apart.
    assert scores.precision >= 0.95, scores.line()
    assert scores.recall >= 0.95, scores.line()
    clusters = cluster_scores(run.clusters, truth)
    assert clusters.precision >= 0.99, clusters.line()
    # Link mode scores pairs across the two extracts only.
    assert (run.pairs["source_l"] != run.pairs["source_r"]).all()
    # Rows reconcile: every row read is staged or quarantined.
    pupils = pl.read_csv(run.out.parent / "extracts" / "pupils.csv", infer_schema=False)
    counts: dict[str, dict[str, int]] = run.summary["sources"]
    assert counts["schools"] == {
        "rows_in": pupils.height,
        "rows_staged": pupils.height,
        "quarantined": 0,
        "records": pupils.height,
    }
    care = counts["social_care"]
    assert care["rows_in"] == care["rows_staged"] + care["quarantined"]
    assert care["records"] == run.clusters.filter(pl.col("source") == "social_care").height
    # Every record is in exactly one cluster; ids name source and record.
    assert run.clusters["unique_id"].n_unique() == run.clusters.height == run.summary["records"]
    first = run.pairs.row(0, named=True)
    assert first["unique_id_l"] == f"{first['source_l']}:{first['source_record_id_l']}"
    assert run.summary["pairs_above_threshold"] == run.pairs["above_threshold"].sum()
    kept = run.pairs.filter(pl.col("above_threshold") & ~pl.col("refused_by_clustering"))
    assert run.summary["pairs_linked"] == kept.height
    model = json.loads((run.out / "model.json").read_text())
    assert model["splink_model"]["link_type"] == "link_only"
    assert sorted(p.name for p in run.out.iterdir()) == sorted(
        [
            "clusters.csv",
            "field_issues.csv",
            "model.json",
            "pairs.csv",
            "quarantine.csv",
            "summary.json",
        ]
    )


def test_a_saved_model_links_without_training(
    linked: tuple[Run, Path], world: Path, tmp_path: Path
) -> None:
    first, config = linked
    again = _run(config, tmp_path / "out", "--model", str(first.out / "model.json"))
    assert again.summary["model"] == str(first.out / "model.json")
    assert again.summary["seconds"]["model"] < first.summary["seconds"]["model"]
    assert _cross_scores(again, _truth(world)).f1 == pytest.approx(
        _cross_scores(first, _truth(world)).f1, abs=0.01
    )


def test_a_handful_of_records_that_cannot_train_still_links_and_says_what_was_missing(
    linked: tuple[Run, Path], world: Path, tmp_path: Path
) -> None:
    first, _ = linked
    (tmp_path / "extracts").mkdir()
    pupils = pl.read_csv(extract(world, 0, "education", "pupils.csv"), infer_schema=False)
    # No two share a birth date, a name or an address: EM has no pair to learn from.
    few = pupils.unique("DOB", keep="first", maintain_order=True).head(12)
    copies = few.head(3).with_columns(pl.format("X{}", "PupilID").alias("PupilID"))
    pl.concat([few, copies]).write_csv(tmp_path / "extracts" / "few.csv")
    config = _config(tmp_path, world, "dedupe", {"schools": PUPILS.format(file="few.csv")})
    run = _run(config, tmp_path / "out")
    assert any("EM on pairs sharing dob: " in why for why in run.summary["em_sessions_skipped"])
    defaults = [f for f in run.summary["fallbacks"] if f["what"] == "m not trained"]
    assert defaults and "Splink's defaults" in defaults[0]["said"]
    assert "linkage.labels" in defaults[0]["do"] and "--model" in defaults[0]["do"]
    assert run.clusters.height == 15
    # Three pairs judged by an analyst: m from them, and the run scored against them.
    judged = pl.DataFrame(
        {
            "unique_id_l": [f"schools:{i}" for i in few["PupilID"].head(3)],
            "unique_id_r": [f"schools:X{i}" for i in few["PupilID"].head(3)],
            "label": ["match"] * 3,
        }
    )
    judged.write_csv(tmp_path / "judged.csv")
    config.write_text(config.read_text().replace("linkage: {", "linkage: {labels: judged.csv, "))
    labelled = _run(config, tmp_path / "labelled")
    assert any("from the labelled matches" in f["said"] for f in labelled.summary["fallbacks"])
    assert labelled.summary["labels"]["matches"] == 3
    assert labelled.summary["labels"]["blocking"][-1]["cumulative"] == 1.0
    linked_ids = labelled.pairs.filter("above_threshold").select("unique_id_l", "unique_id_r")
    assert sorted(linked_ids.rows()) == sorted(judged.select("unique_id_l", "unique_id_r").rows())
    assert labelled.summary["labels"]["clusters"]["f1"] == 1.0
    # And with a saved model instead, the same three pairs.
    saved = _run(config, tmp_path / "saved", "--model", str(first.out / "model.json"))
    kept = saved.pairs.filter("above_threshold").select("unique_id_l", "unique_id_r")
    assert sorted(kept.rows()) == sorted(judged.select("unique_id_l", "unique_id_r").rows())


def _planted(pupils: pl.DataFrame, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Copies of n pupils as a second registration would give them: no UPN, and one slip each.

    Returns the copies and their (copy id, original id) pairs.
    """
    chosen = pupils.sample(n, seed=5).with_row_index("k")
    moved = pupils.sample(n, seed=6)
    slip = pl.col("k") % 4
    day, month = pl.col("DOB").str.slice(8, 2), pl.col("DOB").str.slice(5, 2)
    copies = chosen.with_columns(
        pl.format("D{}", "PupilID").alias("PupilID"),
        pl.lit("").alias("UPN"),
        # a forename with two letters transposed
        pl.when(slip == 0)
        .then(
            pl.concat_str(
                pl.col("LegalForename").str.slice(0, 1),
                pl.col("LegalForename").str.slice(2, 1),
                pl.col("LegalForename").str.slice(1, 1),
                pl.col("LegalForename").str.slice(3),
            )
        )
        .otherwise(pl.col("LegalForename"))
        .alias("LegalForename"),
        # day and month swapped where the day could be a month
        pl.when((slip == 1) & (day.cast(pl.Int32) <= 12))
        .then(pl.format("{}-{}-{}", pl.col("DOB").str.slice(0, 4), day, month))
        .otherwise(pl.col("DOB"))
        .alias("DOB"),
        # moved house
        pl.when(slip == 2)
        .then(pl.Series(moved["AddressLine1"].to_list()))
        .otherwise(pl.col("AddressLine1"))
        .alias("AddressLine1"),
        pl.when(slip == 2)
        .then(pl.Series(moved["Postcode"].to_list()))
        .otherwise(pl.col("Postcode"))
        .alias("Postcode"),
        # a middle name given as its initial only
        pl.when(slip == 3)
        .then(pl.col("MiddleNames").str.slice(0, 1))
        .otherwise(pl.col("MiddleNames"))
        .alias("MiddleNames"),
    ).drop("k")
    return copies, copies.select(pl.col("PupilID").alias("copy"), chosen["PupilID"].alias("of"))


def test_one_extract_deduplicated_with_planted_copies_and_bad_rows(
    world: Path, tmp_path: Path
) -> None:
    pupils = pl.read_csv(extract(world, 0, "education", "pupils.csv"), infer_schema=False)
    copies, planted = _planted(pupils, 150)
    bad = pupils.head(2).with_columns(
        pl.Series("PupilID", ["", "B2"]), pl.Series("DOB", ["2012-01-01", "31/31/2012"])
    )
    (tmp_path / "extracts").mkdir()
    pl.concat([pupils, copies, bad]).write_csv(tmp_path / "extracts" / "roll.csv")
    config = _config(tmp_path, world, "dedupe", {"schools": PUPILS.format(file="roll.csv")})
    run = _run(config, tmp_path / "out")

    # The world's own duplicate registrations, and the copies planted here.
    truth = _truth(world).filter(pl.col("unique_id").str.starts_with("schools:"))
    truth = pl.concat(
        [
            truth,
            planted.join(
                truth.with_columns(pl.col("unique_id").str.slice(8).alias("of")), on="of"
            ).select(pl.format("schools:{}", "copy").alias("unique_id"), "person_id"),
        ]
    ).join(run.clusters.select("unique_id"), on="unique_id", how="semi")
    pairs = pair_scores(run.pairs, truth, 0.9)
    clusters = cluster_scores(run.clusters, truth)
    assert pairs.actual >= 150 + 20, pairs.line()
    assert pairs.precision >= 0.95, pairs.line()
    assert pairs.recall >= 0.90, pairs.line()
    assert clusters.precision >= 0.95 and clusters.recall >= 0.90, clusters.line()

    # The row with no id is kept aside with file, row and the field at fault; the row whose
    # birth date is no date goes on with the field empty and the slip noted.
    quarantine = pl.read_csv(run.out / "quarantine.csv", infer_schema=False)
    rows = pupils.height + copies.height
    assert quarantine.select("source", "file", "row").rows() == [  # lines, the header is 1
        ("schools", "roll.csv", str(rows + 2)),
    ]
    assert "field source_record_id" in quarantine["reasons"][0]
    noted = pl.read_csv(run.out / "field_issues.csv", infer_schema=False)
    assert noted.filter(pl.col("field") == "dob").select("row", "issue").rows() == [
        (str(rows + 3), "dob in column 'DOB' is not a date like %Y-%m-%d; left empty")
    ]
    assert run.summary["sources"] == {
        "schools": {
            "rows_in": rows + 2,
            "rows_staged": rows + 1,
            "quarantined": 1,
            "records": rows + 1,
        }
    }
    assert run.clusters.height == rows + 1
    # A school roll has no NHS numbers: that EM session is skipped, and said to be. With
    # names as varied as a town's, pairs sharing a full name are nearly all one pupil, and
    # EM on them may fail (an m of 0); it is named, and the model keeps its names (the
    # recall above needs them).
    skipped = run.summary["em_sessions_skipped"]
    assert skipped[0] == "EM on pairs sharing nhs_number: no nhs_number in these records"
    assert all(s.startswith("EM on pairs sharing first_name and last_name: ") for s in skipped[1:])
    model = json.loads((run.out / "model.json").read_text())["splink_model"]
    assert [c["output_column_name"] for c in model["comparisons"]][:2] == [
        "first_name",
        "last_name",
    ]


def _write_extract(folder: Path, world: Path) -> None:
    (folder / "extracts").mkdir(exist_ok=True)
    shutil.copy(extract(world, 0, "education", "pupils.csv"), folder / "extracts")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad kind", "sources.schools.kind: Input should be"),
        ("bad linkage key", "linkage.threshold: Input should be less than 1 (got 2)"),
        ("no config", "no such config file"),
        ("no extract", "sources.schools: schools: "),
        ("threshold", "'--threshold': must be a probability above 0 and below 1, got 1.5"),
        ("out not empty", "the folder is not empty"),
        ("model does not fit", "compares column(s) ['shoe_size']"),
        ("link one source", "linkage.mode: `link` scores pairs across sources"),
        ("truncated extract", "pupils.csv ends part-way through line"),
        ("one a person, unknown", "linkage.one_record_per_person: no source named nobody"),
    ],
)
def test_bad_requests_stop_with_one_message_and_write_nothing(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    _write_extract(tmp_path, world)
    pupils = PUPILS.format(file="pupils.csv")
    mode = "link" if case == "link one source" else "dedupe"
    config = _config(tmp_path, world, mode, {"schools": pupils})
    out = tmp_path / "out"
    extra: list[str] = []
    if case == "bad kind":
        config.write_text(config.read_text().replace("kind: csv", "kind: xls"))
    elif case == "bad linkage key":
        config.write_text(config.read_text().replace("threshold: 0.9", "threshold: 2"))
    elif case == "no config":
        config = tmp_path / "missing.yaml"
    elif case == "no extract":
        (tmp_path / "extracts" / "pupils.csv").unlink()
    elif case == "one a person, unknown":
        config.write_text(
            config.read_text().replace(
                "u_sample_pairs: 200000}",
                "u_sample_pairs: 200000, one_record_per_person: [nobody]}",
            )
        )
    elif case == "truncated extract":
        path = tmp_path / "extracts" / "pupils.csv"
        path.write_bytes(path.read_bytes()[:-20])
    elif case == "threshold":
        extra = ["--threshold", "1.5"]
    elif case == "out not empty":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "model does not fit":
        # Refused before any extract is read: the extract is not even there.
        (tmp_path / "extracts" / "pupils.csv").unlink()
        model = {
            "comparisons": [{"comparison_levels": [{"sql_condition": "shoe_size_l = shoe_size_r"}]}]
        }
        (tmp_path / "odd.json").write_text(json.dumps({"splink_model": model}))
        extra = ["--model", str(tmp_path / "odd.json")]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["link", "files", "--config", str(config), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("joinedup link files:") == 1 and "Traceback" not in err
    if case in (
        "bad kind",
        "bad linkage key",
        "no extract",
        "truncated extract",
        "one a person, unknown",
    ):
        assert str(config) in err  # the message names the file
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "out not empty":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    else:
        assert not out.exists()


def test_force_replaces_an_earlier_run(linked: tuple[Run, Path], tmp_path: Path) -> None:
    first, config = linked
    out = tmp_path / "out"
    shutil.copytree(first.out, out)
    (out / "notes.txt").write_text("mine")
    again = _run(config, out, "--force", "--model", str(first.out / "model.json"))
    assert again.summary["model"] == str(first.out / "model.json")
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


NAMES_ONLY = """
    agency: register
    kind: csv
    location: extracts
    tables:
      - name: people
        file: names.csv
        person_records:
          source_record_id: Ref
          first_name: LegalForename
          last_name: LegalSurname
"""


def test_where_the_prior_comes_from_is_said(
    linked: tuple[Run, Path], world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = linked
    assert first.summary["prior_from"].startswith("prior ")
    assert "estimated from the pairs these records link for sure" in first.summary["prior_from"]
    # Names alone on one side: no sure rule can link the two sources, so the prior is
    # estimated by EM over the scored pairs, and the analyst is told so, with what helps.
    _write_extract(tmp_path, world)
    pupils = pl.read_csv(extract(world, 0, "education", "pupils.csv"), infer_schema=False)
    pupils.head(40).select(
        pl.format("R{}", "PupilID").alias("Ref"), "LegalForename", "LegalSurname"
    ).write_csv(tmp_path / "extracts" / "names.csv")
    config = _config(
        tmp_path,
        world,
        "link",
        {"schools": PUPILS.format(file="pupils.csv"), "register": NAMES_ONLY},
    )
    run = _run(config, tmp_path / "out", "--model", str(first.out / "model.json"))
    out = capsys.readouterr().out
    assert run.summary["prior_method"] == "EM over scored pairs"
    assert "estimated by EM over the scored pairs" in out
    assert "no sure rule can link register with schools" in out
