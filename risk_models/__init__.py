"""Risk models: features, scores and their reasons, per person per night.

The public face; the parts live in their modules: `features` (what a person's records
say as of a date), `outcomes` (what happened after), `model` (the two kinds of model),
`training` (learn, calibrate, judge and save a version), `registry` (the decisions that
promote, retire and roll back versions, and so which one scores), `night` (a night's
scores in the warehouse), `review` (judge a saved model again, backtest it), `labels`
(outcomes professionals recorded), `scoring` (bands, indicators, settings), `report`
(model card).
"""

from risk_models.features import FeaturesError, linked_nights
from risk_models.labels import ALERT_OUTCOMES_DDL, LabelsConfig, labels_config
from risk_models.model import RiskModelError
from risk_models.night import (
    SCORES_DDL,
    RiskError,
    ScoreReport,
    already_scored,
    model_version,
    nights_to_score,
    report_of_run,
    score_night,
    scoring_model,
)
from risk_models.registry import (
    ALL_RETIRED,
    NO_MODEL,
    REGISTER,
    Decision,
    Standing,
    VersionLine,
    promote,
    retire,
    rollback,
    scoring_folder,
    scoring_status,
    standing,
    version_lines,
)
from risk_models.review import (
    RISK_ERRORS,
    backtest_risk,
    evaluate_risk,
    held_out,
    model_folder,
    saved_evaluation,
)
from risk_models.scoring import BANDS, risk_settings
from risk_models.training import TrainReport, latest_risk_model, train_risk

__all__ = [
    "ALERT_OUTCOMES_DDL",
    "ALL_RETIRED",
    "BANDS",
    "NO_MODEL",
    "REGISTER",
    "RISK_ERRORS",
    "SCORES_DDL",
    "Decision",
    "FeaturesError",
    "LabelsConfig",
    "RiskError",
    "RiskModelError",
    "ScoreReport",
    "Standing",
    "TrainReport",
    "VersionLine",
    "already_scored",
    "backtest_risk",
    "evaluate_risk",
    "held_out",
    "labels_config",
    "latest_risk_model",
    "linked_nights",
    "model_folder",
    "model_version",
    "nights_to_score",
    "promote",
    "report_of_run",
    "retire",
    "risk_settings",
    "rollback",
    "saved_evaluation",
    "score_night",
    "scoring_folder",
    "scoring_model",
    "scoring_status",
    "standing",
    "train_risk",
    "version_lines",
]
