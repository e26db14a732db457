"""The analyst's settings for linkage (`pipelines/config/matching.yaml` in the product)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class MatchingConfig(BaseModel):
    """The analyst's settings for linkage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.9, gt=0.0, lt=1.0, description="match probability to link at")
    max_pairs_per_rule: int = Field(
        50_000_000, gt=0, description="refuse a blocking rule estimated to make more pairs"
    )


def matching_config(path: Path) -> MatchingConfig:
    """Read the matching settings; errors name the file and the key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return MatchingConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read matching settings: {exc}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {where}") from exc
