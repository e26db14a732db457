"""Versioned artifacts: a trained model kept in a folder as `<prefix>-v<N><suffix>`.

A version is a file (`linkage-v3.json`: prefix `linkage`, suffix `.json`) or a folder
(`risk-v2/`: prefix `risk`, no suffix). Versions count up from 1 and sort as numbers, so
`v10` comes after `v9`; a name that does not parse (`linkage-v3.json.bak`, `risk-vX`,
`notes.md`) is no version and is passed over.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["latest", "next_path", "version_number", "versions"]


def version_number(name: str, prefix: str, suffix: str = "") -> int | None:
    """The N of a name `<prefix>-v<N><suffix>`; None for a name that is not one.

    Examples:
        >>> version_number("linkage-v10.json", "linkage", ".json")
        10
        >>> version_number("linkage-v10.json.bak", "linkage", ".json") is None
        True
    """
    found = re.fullmatch(rf"{re.escape(prefix)}-v([0-9]+){re.escape(suffix)}", name)
    return int(found.group(1)) if found else None


def versions(folder: Path, prefix: str, suffix: str = "") -> list[tuple[int, Path]]:
    """Every version in a folder with its number, oldest first (none if there is no folder)."""
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        number = version_number(entry.name, prefix, suffix)
        if number is not None:
            found.append((number, entry))
    return sorted(found)


def latest(folder: Path, prefix: str, suffix: str = "") -> Path | None:
    """The newest version in a folder (the highest N), or None if there is none."""
    found = versions(folder, prefix, suffix)
    return found[-1][1] if found else None


def next_path(folder: Path, prefix: str, suffix: str = "") -> Path:
    """Where the next version goes: one above the newest, or v1. Nothing is created.

    Examples:
        >>> next_path(Path("/nowhere"), "risk")
        PosixPath('/nowhere/risk-v1')
    """
    found = versions(folder, prefix, suffix)
    return folder / f"{prefix}-v{found[-1][0] + 1 if found else 1}{suffix}"
