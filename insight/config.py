"""The insight config (`pipelines/config/insight.yaml`): the disclosure rule every aggregate
count passes, in the reports and in the inbox alike."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common.config import load_settings
from insight.disclosure import DisclosureRule


class InsightConfig(BaseModel):
    """What insight.yaml holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    disclosure: DisclosureRule = Field(
        default_factory=DisclosureRule, description="how small counts are hidden and rounded"
    )


def load_insight_config(path: Path | None) -> InsightConfig:
    """Read and check an insight config (None: the defaults, NHS Digital's rule).

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    return load_settings(path, InsightConfig)
