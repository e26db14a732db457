"""The register of risk model versions: which version scores, as promote, retire and
rollback decide on real trained versions; refusals write nothing; a bad line is named."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from riskworld import risk_world

from risk_models import (
    ALL_RETIRED,
    NO_MODEL,
    REGISTER,
    Decision,
    RiskError,
    Standing,
    promote,
    retire,
    rollback,
    scoring_folder,
    scoring_status,
    standing,
    train_risk,
    version_lines,
)

pytestmark = pytest.mark.slow

WHEN = dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Trained:
    """A warehouse and a models folder holding risk-v1, v2 and v3, all really trained."""

    warehouse: Path
    models: Path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The risk world's risk-v1, and risk-v2 and v3 trained again on its warehouse."""
    data = risk_world(tmp_path_factory).data(tmp_path_factory.mktemp("registry"))
    for _ in range(2):
        train_risk(data / "warehouse.duckdb", data / "models")
    return Trained(data / "warehouse.duckdb", data / "models")


@pytest.fixture
def models(trained: Trained, tmp_path: Path) -> Path:
    """A copy of the trained versions with no register, for one test's decisions."""
    return Path(shutil.copytree(trained.models, tmp_path / "models"))


def _register(models: Path) -> list[dict[str, str]]:
    file = models / REGISTER
    return [json.loads(x) for x in file.read_text().splitlines()] if file.exists() else []


def test_without_a_register_the_newest_trained_version_scores(models: Path) -> None:
    assert scoring_folder(models) == models / "risk-v3"
    assert scoring_status(models) == "no version promoted: the newest trained, risk-v3, scores"
    assert not (models / REGISTER).exists()
    assert scoring_folder(models.parent / "nothing here") is None
    assert scoring_status(models.parent / "nothing here") == NO_MODEL


def test_a_promoted_version_keeps_scoring_when_a_newer_one_is_trained(
    trained: Trained, models: Path
) -> None:
    promote(models, "risk-v2", "better calibrated than v1", "alice")
    assert scoring_folder(models) == models / "risk-v2"
    newer = train_risk(trained.warehouse, models).folder
    assert newer.name == "risk-v4"
    assert scoring_folder(models) == models / "risk-v2"
    assert scoring_status(models).startswith("risk-v2 scores: promoted ")
    assert standing(models).state("risk-v4") == "candidate"


def test_retiring_the_version_that_scores_hands_over_to_the_one_promoted_before(
    models: Path,
) -> None:
    promote(models, "risk-v1", "first reviewed", "alice")
    promote(models, "risk-v2", "second reviewed", "bob")
    retire(models, "risk-v2", "flags too many young people", "carol")
    assert scoring_folder(models) == models / "risk-v1"
    now = standing(models)
    assert [now.state(v) for v in ("risk-v1", "risk-v2", "risk-v3")] == [
        "scoring",
        "retired",
        "candidate",
    ]
    retire(models, "risk-v1", "superseded by nothing yet", "carol")
    # Nothing scores: not the newest trained, which nobody vetted.
    assert scoring_folder(models) is None
    assert scoring_status(models) == ALL_RETIRED


def test_rollback_promotes_again_the_version_before_passing_over_retired_ones(
    models: Path,
) -> None:
    for version in ("risk-v1", "risk-v2", "risk-v3"):
        promote(models, version, f"{version} reviewed", "alice")
    retire(models, "risk-v2", "its training data had a broken feed", "bob")
    decision = rollback(models, "risk-v3 flags twice as many as expected", "carol")
    assert (decision.version, decision.rolled_back_from) == ("risk-v1", "risk-v3")
    assert scoring_folder(models) == models / "risk-v1"
    now = standing(models)
    assert now.state("risk-v3") == "retired"  # a version rolled back from is out of service
    assert now.status().startswith("risk-v1 scores: promoted again ")
    assert now.status().endswith(", rolling back from risk-v3")
    last = now.last("risk-v3")
    assert last is not None and last.about("risk-v3").startswith("rolled back ")
    assert _register(models)[-1] | {"when": "-"} == {
        "version": "risk-v1",
        "action": "rollback",
        "reason": "risk-v3 flags twice as many as expected",
        "who": "carol",
        "when": "-",
        "rolled_back_from": "risk-v3",
    }
    with pytest.raises(RiskError, match="nothing to roll back to: risk-v1 is the only promoted"):
        rollback(models, "again", "carol")


def test_a_retired_version_may_be_promoted_again_with_its_reason(models: Path) -> None:
    promote(models, "risk-v1", "first reviewed", "alice")
    retire(models, "risk-v1", "a feed was broken", "bob")
    promote(models, "risk-v1", "the feed is mended and v1 re-judged", "bob")
    assert scoring_folder(models) == models / "risk-v1"
    assert [d["action"] for d in _register(models)] == ["promote", "retire", "promote"]


def _refusal(models: Path, request: str) -> None:
    """Make one refused request by name, on a register that promoted v1 then v2."""
    requests = {
        "an unknown version": lambda: promote(models, "risk-v9", "why not"),
        "not a version's name": lambda: promote(models, "../risk-v1", "why not"),
        "an empty reason": lambda: promote(models, "risk-v3", "   "),
        "nobody": lambda: retire(models, "risk-v1", "old", " "),
        "the one that scores": lambda: promote(models, "risk-v2", "again"),
        "retiring an unknown version": lambda: retire(models, "risk-v9", "gone"),
    }
    requests[request]()


@pytest.mark.parametrize(
    ("request_name", "expected"),
    [
        ("an unknown version", "no risk model 'risk-v9' in "),
        ("not a version's name", "no risk model '../risk-v1' in "),
        ("an empty reason", "--reason must not be empty: say why"),
        ("nobody", "--by must not be empty: name who decides"),
        ("the one that scores", "risk-v2 scores: promoted "),
        ("retiring an unknown version", "no risk model 'risk-v9'"),
    ],
)
def test_refused_requests_leave_the_register_as_it_was(
    models: Path, request_name: str, expected: str
) -> None:
    promote(models, "risk-v1", "first reviewed", "alice")
    promote(models, "risk-v2", "second reviewed", "alice")
    before = (models / REGISTER).read_bytes()
    with pytest.raises(RiskError, match=expected.replace("(", r"\(")):
        _refusal(models, request_name)
    assert (models / REGISTER).read_bytes() == before


def test_refused_without_a_register_none_is_made(models: Path) -> None:
    with pytest.raises(RiskError, match="nothing to roll back to: no version has been promoted"):
        rollback(models, "it misbehaves")
    about = models / "risk-v2" / "boosted" / "model.json"
    about.write_text(json.dumps({**json.loads(about.read_text()), "feature_set": "features-x"}))
    with pytest.raises(RiskError, match="trained on feature set 'features-x'"):
        promote(models, "risk-v2", "reviewed")
    (models / "risk-v1" / "model.json").unlink()  # as if its training had not finished
    with pytest.raises(RiskError, match=r"risk-v1 in .* is not a complete trained model"):
        promote(models, "risk-v1", "reviewed")
    assert not (models / REGISTER).exists()


def test_every_retired_leaves_nothing_to_roll_back_to(models: Path) -> None:
    promote(models, "risk-v1", "reviewed", "alice")
    retire(models, "risk-v1", "withdrawn", "alice")
    with pytest.raises(RiskError, match="every promoted risk model is retired"):
        rollback(models, "back", "alice")
    with pytest.raises(RiskError, match="risk-v1 is retired already"):
        retire(models, "risk-v1", "withdrawn again", "alice")


def test_each_decision_is_a_line_readable_by_its_owner_only_and_logged(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="risk_models.registry"):
        promote(models, "risk-v2", "  reviewed at the panel  ")
    mode = (models / REGISTER).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    (line,) = _register(models)
    assert line["reason"] == "reviewed at the panel"  # trimmed
    assert line["who"] == getpass.getuser()
    assert dt.datetime.fromisoformat(line["when"]).utcoffset() == dt.timedelta(0)
    assert "rolled_back_from" not in line
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "risk_models.registry"]
    assert logged == "risk model register: promote risk-v2"  # no reason, no name


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("not json", "not a decision written as one JSON object"),
        ("", "not a decision written as one JSON object"),
        ('{"version": "risk-v1", "action": "promote"}', "reason: Field required"),
        (
            '{"version": "risk-v1", "action": "demote", "reason": "r", "who": "a",'
            ' "when": "2026-11-03T09:30:00Z"}',
            "action: Input should be 'promote', 'retire' or 'rollback'",
        ),
        (
            '{"version": "risk-v1", "action": "promote", "reason": " ", "who": "a",'
            ' "when": "2026-11-03T09:30:00Z"}',
            "reason: String should have at least 1 character",
        ),
        (
            '{"version": "risk-v1", "action": "promote", "reason": "r", "who": "a",'
            ' "when": "2026-11-03T09:30:00"}',
            "when: Input should have timezone info",
        ),
        (
            '{"version": "risk-v1", "action": "rollback", "reason": "r", "who": "a",'
            ' "when": "2026-11-03T09:30:00Z"}',
            "rolled_back_from is given with a rollback and only then",
        ),
    ],
)
def test_a_line_that_is_not_a_decision_stops_with_the_file_and_line(
    models: Path, line: str, expected: str
) -> None:
    promote(models, "risk-v1", "reviewed", "alice")
    retire(models, "risk-v1", "withdrawn", "alice")
    with (models / REGISTER).open("a") as file:
        file.write(line + "\n")
    for reading in (scoring_folder, scoring_status, version_lines):
        with pytest.raises(RiskError) as refused:
            reading(models)
        message = str(refused.value)
        assert message.startswith(f"{models / REGISTER}:3: ")
        assert expected in message and "mend that line by hand" in message
    with pytest.raises(RiskError, match=":3: "):
        promote(models, "risk-v2", "reviewed", "alice")


def test_the_listing_gives_each_version_its_figures_state_and_last_decision(
    models: Path,
) -> None:
    promote(models, "risk-v1", "first reviewed", "alice")
    promote(models, "risk-v2", "second reviewed", "bob")
    (models / "risk-v5").mkdir()  # a training that did not finish
    lines = {line.version: line for line in version_lines(models)}
    assert list(lines) == ["risk-v5", "risk-v3", "risk-v2", "risk-v1"]
    assert [lines[v].state for v in lines] == [
        "incomplete",
        "candidate",
        "scoring",
        "promoted earlier",
    ]
    saved = json.loads((models / "risk-v2" / "boosted" / "evaluation.json").read_text())
    assert lines["risk-v2"].auc == pytest.approx(saved["auc"])
    assert lines["risk-v2"].kind == "boosted"
    assert dt.date.fromisoformat(lines["risk-v2"].trained_on)
    last = lines["risk-v1"].last
    assert last is not None and last.about("risk-v1").endswith(" by alice: first reviewed")
    assert lines["risk-v3"].last is None and lines["risk-v5"].auc is None


def _decision(version: str, action: str, back_from: str | None = None) -> Decision:
    return Decision.model_validate(
        {
            "version": version,
            "action": action,
            "reason": "r",
            "who": "w",
            "when": WHEN,
            "rolled_back_from": back_from,
        }
    )


@pytest.mark.parametrize(
    ("steps", "scores"),
    [
        ([], "risk-v3"),
        ([("risk-v3", "retire")], "risk-v2"),  # a retired candidate never scores
        ([("risk-v1", "promote")], "risk-v1"),
        ([("risk-v1", "promote"), ("risk-v2", "promote"), ("risk-v1", "promote")], "risk-v1"),
        ([("risk-v1", "promote"), ("risk-v2", "promote"), ("risk-v2", "retire")], "risk-v1"),
        ([("risk-v1", "promote"), ("risk-v1", "retire")], None),
        ([("risk-v1", "promote"), ("risk-v1", "retire"), ("risk-v1", "promote")], "risk-v1"),
        ([("risk-v1", "promote"), ("risk-v2", "promote"), ("risk-v1", "rollback")], "risk-v1"),
        (
            [
                ("risk-v1", "promote"),
                ("risk-v2", "promote"),
                ("risk-v1", "rollback"),
                ("risk-v1", "retire"),
            ],
            None,  # the version rolled back from does not come back
        ),
    ],
)
def test_which_version_scores_after_each_run_of_decisions(
    steps: list[tuple[str, str]], scores: str | None
) -> None:
    decisions: list[Decision] = []
    for version, action in steps:
        back_from = None
        if action == "rollback":
            back_from = Standing(Path("m"), (), tuple(decisions)).scoring
        decisions.append(_decision(version, action, back_from))
    now = Standing(Path("m"), ("risk-v1", "risk-v2", "risk-v3"), tuple(decisions))
    assert now.scoring == scores
