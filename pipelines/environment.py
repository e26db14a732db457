"""Where joinedup keeps its data on this machine: read from the environment in one place."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The folder for the warehouse and the demo world: $JOINEDUP_DATA, else ./data."""
    return Path(os.environ.get("JOINEDUP_DATA", "data")).resolve()


def police_token() -> str | None:
    """The bearer token for the police partner's API, if one is set."""
    return os.environ.get("JOINEDUP_POLICE_TOKEN")
