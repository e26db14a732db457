"""The analyst's settings for linkage (`pipelines/config/matching.yaml` in the product)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common import load_settings


class MatchingConfig(BaseModel):
    """The analyst's settings for linkage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.9, gt=0.0, lt=1.0, description="match probability to link at")
    max_pairs_per_rule: int = Field(
        50_000_000, gt=0, description="refuse a blocking rule estimated to make more pairs"
    )


def matching_config(path: Path) -> MatchingConfig:
    """Read the matching settings.

    Raises:
        common.ConfigError: a ValueError naming the file, line and key.
    """
    return load_settings(path, MatchingConfig, expand_env=False)
