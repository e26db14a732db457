"""What every stage shares: settings read from YAML, and versioned artifacts.

The public face; the parts live in their modules: `config` (one loader: YAML, the
environment's `${VARIABLES}`, pydantic, errors naming file, line and key) and `versions`
(`<prefix>-v<N>` files and folders). It imports no stage package, nor Dagster, so every
stage may import it.
"""

from common.config import (
    ConfigError,
    ConfigFile,
    Keys,
    UnsetVariables,
    closest,
    expand_env,
    key_path,
    load_settings,
    read_yaml,
    validate,
)
from common.versions import latest, next_path, version_number, versions

__all__ = [
    "ConfigError",
    "ConfigFile",
    "Keys",
    "UnsetVariables",
    "closest",
    "expand_env",
    "key_path",
    "latest",
    "load_settings",
    "next_path",
    "read_yaml",
    "validate",
    "version_number",
    "versions",
]
