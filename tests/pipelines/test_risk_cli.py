"""`joinedup risk`: train, evaluate, score and backtest on a small linked world, and choose
the version that scores; bad input stops with one message, exit 2, before anything is
written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from riskworld import N1, N2, RiskWorld, risk_world

from pipelines.cli import main
from risk_models import ALL_RETIRED, REGISTER

pytestmark = pytest.mark.slow

OUTCOME_TYPES = ("child_protection_plan", "safeguarding_enquiry", "serious_incident")


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture
def data(rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder of the test's own, with the warehouse and the trained models."""
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    return rw.data(tmp_path / "data")


def _sql(warehouse: Path, query: str, params: list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found: pl.DataFrame = con.sql(query, params=params).pl()
    finally:
        con.close()
    return found


def _scores(warehouse: Path) -> pl.DataFrame:
    return _sql(warehouse, "SELECT * FROM scores ORDER BY night, person_id")


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must be refused; return its one message."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    prefix = f"joinedup risk {argv[1]}: "
    messages = [x for x in captured.err.splitlines() if x.startswith(prefix)]
    assert len(messages) == 1, captured.err
    # `risk train` brings closed alerts' outcomes back first, a step of its own.
    out = [x for x in captured.out.splitlines() if not x.startswith("outcomes: ")]
    assert "Traceback" not in captured.err and not out
    return messages[0].removeprefix(prefix)


def test_train_prints_the_figures_and_where_the_reports_are(
    rw: RiskWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = rw.data(tmp_path / "data", risk_model=False)
    monkeypatch.setenv("JOINEDUP_DATA", str(data))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    assert main(["risk", "train", "--world", str(rw.world)]) == 0
    out = capsys.readouterr().out
    first, second = out.splitlines()[:2]
    assert first.startswith("outcomes: no operational store at sqlite:///")
    assert second.startswith("risk-v1: learned at ")
    for kind in ("logistic", "boosted"):
        (line,) = [x for x in out.splitlines() if x.startswith(f"  {kind}: held-out AUC 0.")]
        assert "against the world's truth: AUC 0." in line and "of the oracle's" in line
        for report in (f"{kind}/evaluation.html", f"{kind}/truth/evaluation.html"):
            path = data / "models" / "risk-v1" / report
            assert f"  report: {path}\n" in out and path.is_file()
    assert json.loads((data / "models" / "risk-v1" / "model.json").read_text()) == {
        "version": "risk-v1",
        "scores_with": "boosted",
    }
    assert out.splitlines()[-1] == (
        "no version promoted: the newest trained, risk-v1, scores; "
        "`joinedup risk promote` chooses the version that scores"
    )


def test_score_every_night_then_one_again(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = data / "warehouse.duckdb"
    assert main(["risk", "score", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [x.split(":")[0] for x in out] == [f"night {N1}", f"night {N2}"]
    assert all("persons scored with risk-v1/boosted" in x for x in out)
    first = _scores(warehouse)
    persons = _sql(
        warehouse,
        "SELECT count(DISTINCT person_id) AS n FROM persons WHERE valid_from <= ?"
        " AND (valid_to IS NULL OR valid_to > ?)",
        [N2, N2],
    )["n"][0]
    tonight = first.filter(pl.col("night") == N2)
    assert tonight.height == persons == tonight["person_id"].n_unique()
    assert set(first.filter(pl.col("night") == N1)["change"]) == {"new"}
    assert "steady" in set(tonight["change"])
    # Scoring a night again replaces its rows with the same ones: nothing twice.
    assert main(["risk", "score", "--night", str(N2)]) == 0
    assert _scores(warehouse).equals(first)


def test_evaluate_at_another_threshold_on_the_same_held_out_persons(
    rw: RiskWorld, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["risk", "evaluate", "--threshold", "0.3", "--capacity", "50", "--world", str(rw.world)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"risk-v1/boosted re-judged on its held-out persons as at [\d-]+, as linked on " + str(N2),
        out,
    )
    folder = data / "models" / "risk-v1" / "boosted"
    review = folder / "reviews" / "t0.3-c50"
    assert f"  wrote {review / 'evaluation.html'}" in out
    again = json.loads((review / "evaluation.json").read_text())
    trained = json.loads((folder / "evaluation.json").read_text())
    # The same persons and the same scores as when the model was judged in training...
    for key in ("persons", "outcomes", "auc", "average_precision", "ece"):
        assert again[key] == pytest.approx(trained[key]), key
    # ...cut elsewhere.
    assert again["threshold"]["cut"] == "probability >= 0.3"
    assert again["capacity"]["flagged"] == 50
    assert again["threshold"]["flagged"] <= trained["threshold"]["flagged"]
    assert again["context"]["operating threshold"] == 0.3
    # The card names when the model was trained and how far the nights have moved since.
    assert again["context"]["trained"].startswith("20")
    drifted = again["context"]["drift since"]
    assert drifted.startswith("night ") or drifted.startswith("not measured: ")
    # Each group with its intervals, and the check on them in words.
    women = next(d for d in again["disparities"] if d["group"] == "F")
    assert women["auc_low"] <= women["auc"] <= women["auc_high"]
    assert women["ece_low"] <= women["ece_high"]
    assert re.search(r"(\d+ group warning\(s\):|each group of 500 or more persons within)", out)
    truth = json.loads((review / "truth" / "evaluation.json").read_text())
    assert truth["oracle_auc"] == pytest.approx(
        json.loads((folder / "truth" / "evaluation.json").read_text())["oracle_auc"]
    )
    assert f"AUC {truth['auc'] / truth['oracle_auc']:.1%} of the oracle's" in out


def test_backtest_refuses_dates_the_model_was_trained_or_calibrated_on(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped model was calibrated on the outcomes up to the newest night, so no date
    # this warehouse can replay is out of sample (tests/risk_models/test_backtest.py
    # replays a model trained earlier).
    argv = ["risk", "backtest", "--from", "2026-04-01", "--to", "2026-05-01", "--every", "14"]
    message = _refused(capsys, argv)
    assert "not out of sample" in message
    assert f"the first as-of date out of sample is {N2}" in message
    assert "no as-of date can be replayed on this warehouse yet" in message
    assert not (data / "models" / "risk-v1" / "backtest.json").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--from", "2024-01-01", "--to", "2026-04-01"], "the features' longest window would"),
        (["--from", "2026-05-01", "--to", "2026-06-01"], "horizon runs past the newest linked"),
        (
            ["--from", "2026-04-01", "--to", "2026-05-01", "--threshold", "0"],
            "'--threshold': must be a probability",
        ),
        (["--from", "2026-05-01", "--to", "2026-04-01"], "ends (2026-04-01) before it starts"),
    ],
)
def test_backtest_refuses_what_it_cannot_replay(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    message = _refused(capsys, ["risk", "backtest", *argv])
    assert expected in message
    if "horizon" in message or "window" in message:
        assert "can be replayed" in message
    assert not (data / "models" / "risk-v1" / "backtest.json").exists()


def test_too_few_outcomes_to_train_on(
    rw: RiskWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = rw.data(tmp_path / "data", risk_model=False)
    monkeypatch.setenv("JOINEDUP_DATA", str(data))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:
        # Most serious events were never recorded: too few outcomes to learn from.
        con.execute(
            "DELETE FROM events WHERE type IN (SELECT unnest(?::VARCHAR[]))"
            " AND hash(source_record_id) % 5 <> 0",
            [list(OUTCOME_TYPES)],
        ).fetchall()
    finally:
        con.close()
    message = _refused(capsys, ["risk", "train"])
    assert "serious outcome(s) among the" in message and "at least 50 are needed" in message
    assert not list((data / "models").glob("risk-v*"))


def test_a_feature_missing_from_tonights_data_leaves_last_nights_scores(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = data / "warehouse.duckdb"
    assert main(["risk", "score", "--night", str(N1)]) == 0
    capsys.readouterr()
    before = _scores(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("ALTER TABLE events DROP COLUMN severity").fetchall()
    finally:
        con.close()
    message = _refused(capsys, ["risk", "score", "--night", str(N2)])
    assert "the warehouse lacks events.severity" in message
    assert _scores(warehouse).equals(before)
    assert _sql(warehouse, "SELECT count(*) AS n FROM risk_runs")["n"][0] == 1


def test_a_model_from_another_feature_set_is_refused(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = data / "warehouse.duckdb"
    assert main(["risk", "score", "--night", str(N1)]) == 0
    capsys.readouterr()
    before = _scores(warehouse)
    about = data / "models" / "risk-v1" / "boosted" / "model.json"
    artifact = json.loads(about.read_text())
    about.write_text(json.dumps({**artifact, "feature_set": "features-0123456789ab"}))
    for argv in (
        ["risk", "score", "--night", str(N2)],
        ["risk", "score", "--all"],
        ["risk", "backtest", "--from", "2026-04-01", "--to", "2026-04-01"],
        ["risk", "evaluate", "--threshold", "0.2"],
        ["risk", "promote", "--model", "risk-v1", "--reason", "reviewed"],
    ):
        message = _refused(capsys, argv)
        assert "trained on feature set 'features-0123456789ab'" in message
        assert "retrain with `joinedup risk train`" in message
    assert _scores(warehouse).equals(before)
    assert not (data / "models" / "risk-v1" / "backtest.json").exists()
    assert not (data / "models" / "risk-v1" / "boosted" / "reviews").exists()
    assert not (data / "models" / REGISTER).exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["evaluate", "--threshold", "1.5"],
            "'--threshold': must be a probability above 0 and below 1",
        ),
        (["evaluate", "--capacity", "0"], "capacity must be a number of persons above 0"),
        (["evaluate", "--model", "risk-v7"], "no risk model 'risk-v7'"),
        (["train", "--threshold", "0.2"], "No such option '--threshold'"),
        (["score", "--night", "2027-01-01"], "night 2027-01-01 not linked"),
        (["score"], "name a night with --night YYYY-MM-DD, or --all"),
        (["evaluate", "--world", "/nonexistent"], "not a world folder"),
        (["promote", "--model", "risk-v7", "--reason", "reviewed"], "no risk model 'risk-v7'"),
        (["promote", "--model", "risk-v1", "--reason", " "], "--reason must not be empty"),
        (["promote", "--model", "risk-v1"], "Missing option '--reason'"),
        (["promote", "--model", "risk-v1", "--reason", "ok", "--by", ""], "--by must not be"),
        (["retire", "--model", "risk-v7", "--reason", "old"], "no risk model 'risk-v7'"),
        (["rollback", "--reason", "bad"], "nothing to roll back to: no version has been promoted"),
    ],
)
def test_bad_requests_stop_before_anything_is_written(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    models = sorted(p.relative_to(data) for p in (data / "models").rglob("*"))
    assert expected in _refused(capsys, ["risk", *argv])
    assert sorted(p.relative_to(data) for p in (data / "models").rglob("*")) == models
    assert "scores" not in set(_sql(data / "warehouse.duckdb", "SHOW TABLES")["name"])


def test_promote_retire_roll_back_and_list_the_versions(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = data / "warehouse.duckdb"
    assert main(["risk", "train"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("no version promoted: the newest trained, risk-v2, scores;")
    )
    assert main(["risk", "promote", "--model", "risk-v1", "--reason", "panel", "--by", "al"]) == 0
    assert capsys.readouterr().out == (
        "risk-v1 promoted by al: it scores from the next scoring run, in place of risk-v2\n"
    )
    # The register, not the newest trained, says which version scores.
    assert main(["risk", "score", "--night", str(N2)]) == 0
    assert "persons scored with risk-v1/boosted" in capsys.readouterr().out
    assert main(["risk", "promote", "--model", "risk-v2", "--reason", "newer", "--by", "bo"]) == 0
    capsys.readouterr()
    assert main(["risk", "models"]) == 0
    status, head, *rows = capsys.readouterr().out.splitlines()
    assert status.startswith("risk-v2 scores: promoted ")
    assert head.startswith("version    trained     kind     held-out AUC  status ")
    assert [r.split()[0] for r in rows] == ["risk-v2", "risk-v1"]
    auc = json.loads((data / "models" / "risk-v1" / "boosted" / "evaluation.json").read_text())
    assert rows[1].split()[2:4] == ["boosted", f"{auc['auc']:.3f}"]
    assert rows[0].split()[4] == "scoring" and " promoted earlier " in rows[1]
    assert rows[1].endswith(" by al: panel") and rows[0].endswith(" by bo: newer")
    assert main(["risk", "rollback", "--reason", "v2 flags too many", "--by", "cy"]) == 0
    assert capsys.readouterr().out.startswith(
        "rolled back from risk-v2 to risk-v1 by cy: risk-v1 scores from the next scoring run, "
        "and risk-v2 is retired"
    )
    assert (
        main(["risk", "retire", "--model", "risk-v1", "--reason", "withdrawn", "--by", "cy"]) == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "risk-v1 retired by cy; it scored until now",
        f"from the next scoring run: {ALL_RETIRED}",
    ]
    before = _scores(warehouse)
    assert _refused(capsys, ["risk", "score", "--night", str(N2)]) == ALL_RETIRED
    assert _scores(warehouse).equals(before)
    assert main(["risk", "promote", "--model", "risk-v2", "--reason", "mended", "--by", "cy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "risk-v2 promoted by cy: it scores from the next scoring run"
    assert out[1].startswith("  promoted again: it was rolled back ")
    assert out[1].endswith(" to risk-v1 by cy: v2 flags too many")
    actions = [
        json.loads(x)["action"] for x in (data / "models" / REGISTER).read_text().splitlines()
    ]
    assert actions == ["promote", "promote", "rollback", "retire", "promote"]
