"""Risk: every linked person scored each night, as a Dagster asset.

`risk/scores` depends on `linkage/persons`, so it runs after the night's persons are
linked, and calls `score_night` for the partition's night with the risk model the models
folder's register says scores (`risk_models.registry`: the version promoted last and not
retired since; the newest trained while none was ever promoted), the kind its `model.json`
names. Training is never part of the nightly run: it is the analyst's `joinedup risk
train`, and promoting a version is a person's decision (`joinedup risk promote`). (No
`from __future__ import annotations` here: Dagster reads the asset function's annotations
at run time.)

What it does in each case, so that the nightly run always says where scores stand:

- **No trained risk model yet.** The asset still materialises, with the status
  "not scored: no trained risk model; run `joinedup risk train`", and the `scored` check
  warns. Nothing else is failed for it, and no check pretends the scores were checked.
- **Every promoted version retired since.** The same, with the status "not scored: every
  promoted risk model is retired; promote one with `joinedup risk promote`": the night is
  not scored with a version nobody vetted.
- **The night's persons are not linked** (no linkage model yet): the same, with its own
  status.
- **The night was scored already**, by the same model, and its persons have not been
  linked again since: "already scored", nothing written. A night older than the newest
  night scored is never scored again over it (the nights after it compare with it).
- **A model that cannot score tonight** (trained on another feature set, or tonight's
  features lack one it reads), or a register with a line that is not a decision: the step
  fails with the reason, before a row is written, so the night's earlier scores (if any)
  stay as they were.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from connectors.warehouse import Warehouse
from pipelines.defs.ingest import WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.linkage import PERSONS
from pipelines.environment import models_dir
from risk_models import (
    FeaturesError,
    RiskError,
    RiskModelError,
    ScoreReport,
    drift,
    linked_nights,
    score_night,
    scoring_model,
    standing,
)
from risk_models.scoring import risk_settings

GROUP = "risk"
SCORES = dg.AssetKey([GROUP, "scores"])
STEP = "risk__scores"
NOT_LINKED = "not scored: the night's persons are not linked"
# Tonight's count of very_high persons may differ from what last night's share of them
# predicts by this fraction, or by this many persons, before the check warns. Nights move
# a few persons between bands; a new model, new settings or a broken feed move many.
VERY_HIGH_TOLERANCE = 0.25
VERY_HIGH_SLACK = 10

ONE_SCORE_PER_PERSON = """
WITH current AS (
    SELECT DISTINCT person_id FROM persons
    WHERE valid_from <= $night AND (valid_to IS NULL OR valid_to > $night)
), tonight AS (
    SELECT person_id, count(*) AS n FROM scores WHERE night = $night GROUP BY person_id
)
SELECT
    (SELECT count(*) FROM current) AS persons,
    (SELECT count(*) FROM current ANTI JOIN tonight USING (person_id)) AS without_score,
    (SELECT count(*) FROM tonight WHERE n > 1) AS with_several_scores,
    (SELECT count(*) FROM tonight ANTI JOIN current USING (person_id)) AS scores_for_absent_persons
"""

BANDS_OF = """
SELECT count(*) AS persons, count(*) FILTER (WHERE band = 'very_high') AS very_high
FROM scores WHERE night = ?
"""


@dataclass
class Outcome:
    """What the scores step did for a night: its status, and the scoring's report if any."""

    status: str
    report: ScoreReport | None = None
    chosen: str = ""  # which version the register says scores, and why

    def metadata(self, night: dt.date) -> dict[str, Any]:
        """The materialisation's metadata: status, model, and the night's figures."""
        meta: dict[str, Any] = {"night": str(night), "status": self.status}
        if self.chosen:
            meta["model_chosen"] = self.chosen
        summary = self.status
        if self.report is not None:
            r = self.report
            summary = r.line() if r.status == "scored" else f"{r.status}: {r.line()}"
            meta |= {
                "model_version": r.model_version,
                "persons": r.persons,
                **{band: r.bands.get(band, 0) for band in ("very_high", "high", "medium", "low")},
                "rises": r.changes.get("rise", 0),
                "step_downs": r.changes.get("step_down", 0),
                "with_indicator": r.indicators,
                "seconds": round(r.seconds, 2),
            }
        return meta | {"summary": summary}


def score_persons(warehouse: WarehouseResource, night: dt.date) -> Outcome:
    """Score a night as the nightly job does, or say why it was not scored."""
    chosen = standing(models_dir())  # refused here if a line of the register is not a decision
    folder = chosen.folder()
    with warehouse.open() as wh:
        try:
            linked = night in linked_nights(wh.con)
        except FeaturesError:  # no night was ever linked: no households table yet
            linked = False
    if not linked:
        return Outcome(NOT_LINKED)
    if folder is None:
        return Outcome(chosen.status())
    model = scoring_model(folder)  # refused here if it reads another feature set
    report = score_night(Path(warehouse.path), night, folder, model=model)
    return Outcome(report.status, report, chosen.status())


def _checks() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "scored",
            asset=SCORES,
            description="the night's persons were scored by a trained model (a warning if not)",
        ),
        dg.AssetCheckSpec(
            "one_score_per_person",
            asset=SCORES,
            description="every person linked on the night has exactly one score, and no "
            "score is held for a person who is gone",
        ),
        dg.AssetCheckSpec(
            "drift_since_training",
            asset=SCORES,
            description="tonight's scores and features have not moved from those the model "
            "was judged on beyond risk.yaml's `drift:` bounds (population stability index; "
            "a warning)",
        ),
        dg.AssetCheckSpec(
            "very_high_share_stable",
            asset=SCORES,
            description="tonight's very_high persons are within "
            f"{VERY_HIGH_TOLERANCE:.0%} (or {VERY_HIGH_SLACK} persons) of what last "
            "night's share predicts (a warning)",
        ),
    ]


def scored_checks(wh: Warehouse, night: dt.date) -> list[dg.AssetCheckResult]:
    """The checks of a scored night, read from the warehouse."""
    one = wh.frame(ONE_SCORE_PER_PERSON, {"night": night}).row(0, named=True)
    previous = wh.run("SELECT max(night) FROM scores WHERE night < ?", [night])[0][0]
    tonight = wh.frame(BANDS_OF, [night]).row(0, named=True)
    share_meta: dict[str, Any] = {
        "very_high": tonight["very_high"],
        "share": round(tonight["very_high"] / tonight["persons"], 5) if tonight["persons"] else 0,
        "previous_night": "none: first night scored",
    }
    share_ok = True
    if previous is not None:
        before = wh.frame(BANDS_OF, [previous]).row(0, named=True)
        share = before["very_high"] / before["persons"] if before["persons"] else 0.0
        expected = share * tonight["persons"]
        share_ok = abs(tonight["very_high"] - expected) <= max(
            VERY_HIGH_TOLERANCE * expected, VERY_HIGH_SLACK
        )
        share_meta |= {
            "previous_night": str(previous),
            "previous_very_high": before["very_high"],
            "previous_share": round(share, 5),
            "tolerance": VERY_HIGH_TOLERANCE,
        }
    bounds = risk_settings().drift
    moved = wh.frame(
        "SELECT name, psi, model_version, reference_date FROM risk_drift WHERE night = ?"
        " ORDER BY psi DESC",
        [night],
    )
    if moved.height:
        score = moved.filter(pl.col("name") == drift.SCORE)["psi"]
        features = moved.filter(pl.col("name") != drift.SCORE)
        over = features.filter(pl.col("psi") > bounds.feature_psi)
        score_psi = float(score[0]) if score.len() else 0.0
        drift_ok = score_psi <= bounds.score_psi and over.height == 0
        drift_meta: dict[str, Any] = {
            "model_version": moved["model_version"][0],
            "reference_date": str(moved["reference_date"][0]),
            "score_psi": round(score_psi, 4),
            "score_bound": bounds.score_psi,
            "feature_bound": bounds.feature_psi,
            "features_over_bound": over.height,
            "largest": ", ".join(
                f"{n} {p:.3f}" for n, p in features.head(5).select("name", "psi").iter_rows()
            ),
        }
    else:
        drift_ok = False
        drift_meta = {
            "reason": "no reference to compare with: the model was trained before drift was "
            "recorded; retrain with `joinedup risk train`"
        }
    return [
        dg.AssetCheckResult(
            check_name="drift_since_training",
            passed=drift_ok,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=drift_meta,
        ),
        dg.AssetCheckResult(
            check_name="one_score_per_person",
            passed=not (
                one["without_score"]
                or one["with_several_scores"]
                or one["scores_for_absent_persons"]
            ),
            metadata=one,
        ),
        dg.AssetCheckResult(
            check_name="very_high_share_stable",
            passed=share_ok,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=share_meta,
        ),
    ]


def scores_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset that scores every person linked on a night."""

    # A multi-asset so that the checks that need scores can be left unevaluated on a night
    # that was not scored, instead of passing without looking.
    @dg.multi_asset(
        name=STEP,
        specs=[
            dg.AssetSpec(
                SCORES,
                deps=[PERSONS],
                group_name=GROUP,
                kinds={"duckdb", "scikitlearn"},
                description="Every person linked on the night, scored by the risk model "
                "the register says scores (promoted, not retired since): probability, band, "
                "the reasons in words, rule-based indicators, and the change since the "
                "person's last score.",
            )
        ],
        check_specs=_checks(),
        partitions_def=partitions,
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _scores(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        night = dt.date.fromisoformat(context.partition_key)
        try:
            outcome = score_persons(warehouse, night)
        except (RiskError, FeaturesError, RiskModelError) as exc:  # nothing written
            raise dg.Failure(description=str(exc)) from exc
        meta = outcome.metadata(night)
        checks = [
            dg.AssetCheckResult(
                check_name="scored",
                passed=outcome.report is not None,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"status": outcome.status},
            )
        ]
        if outcome.report is not None:
            with warehouse.open() as wh:
                checks += scored_checks(wh, night)
        context.log.info(f"scores: {meta['summary']}")
        yield dg.MaterializeResult(asset_key=SCORES, metadata=meta, check_results=checks)

    return _scores
