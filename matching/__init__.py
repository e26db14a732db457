"""Matching: link partner records into persons and households with Splink.

The public face; the parts live in their modules: `prepare` (records to compare),
`model` (the comparisons), `link` (training, scoring, clustering), `cluster`,
`persons` (stable ids), `households`, `night` (a night's linkage in the warehouse),
`tables` (the tables it owns), `versions` (trained models), `files` (`link files`),
`evaluate` and `review` (against labels), `settings`.
"""

from matching.night import (
    LinkReport,
    NightsOutOfOrder,
    Plan,
    changed_records,
    link_night,
    plan_night,
    report_of_run,
)
from matching.settings import MatchingConfig, matching_config
from matching.tables import create_tables, records_as_of
from matching.versions import latest_model, model_version, train_model

__all__ = [
    "LinkReport",
    "MatchingConfig",
    "NightsOutOfOrder",
    "Plan",
    "changed_records",
    "create_tables",
    "latest_model",
    "link_night",
    "matching_config",
    "model_version",
    "plan_night",
    "records_as_of",
    "report_of_run",
    "train_model",
]
