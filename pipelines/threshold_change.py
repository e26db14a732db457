"""A threshold the analyst chose, written to matching.yaml or risk.yaml as a reviewed change.

Never a hand edit: the one line that sets the key is rewritten, with a comment above it
saying who changed it, when, why and from what; every other line (the comments that
explain the settings) is kept as it was. The diff is returned for review, and the file
as it was is kept beside it in `history/` under a name that sorts by time. The new file
is read back through the same loader the pipeline uses (`check`); a file it refuses is
put back as it was.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MATCHING_KEY = ("threshold",)
RISK_KEY = ("model", "threshold")


class ThresholdChangeError(ValueError):
    """The change could not be made; the file is as it was. The message says why."""


@dataclass(frozen=True)
class ThresholdChange:
    """A change written: the file, the old and new values, the diff and the copy kept."""

    path: Path
    key: str
    old: float
    new: float
    diff: str
    kept: Path


@dataclass(frozen=True)
class _Rewrite:
    old: float
    when: dt.datetime
    before: list[str]
    after: list[str]


def preview_threshold(path: Path, key: tuple[str, ...], value: float, who: str, why: str) -> str:
    """The diff `change_threshold` would make, for review before it is written."""
    done = _rewrite(path, key, value, who, why, None)
    return "".join(difflib.unified_diff(done.before, done.after, str(path), str(path), n=2))


def change_threshold(
    path: Path,
    key: tuple[str, ...],
    value: float,
    who: str,
    why: str,
    *,
    check: Callable[[Path], Any] | None = None,
    now: dt.datetime | None = None,
) -> ThresholdChange:
    """Set `key` (a path of mapping keys, such as `("model", "threshold")`) to `value` in
    the YAML file `path`, recording who, when, why and the old value.

    Args:
        path: matching.yaml or risk.yaml.
        key: where the threshold is: `MATCHING_KEY` or `RISK_KEY`.
        value: the new threshold, a probability strictly between 0 and 1.
        who: the analyst making the change.
        why: the reason, in a sentence (the evidence: labels, precision, recall).
        check: the pipeline's loader for this file; it must accept the new file.
        now: when (UTC now if not given).

    Raises:
        ThresholdChangeError: no reason or name given, a value outside (0, 1) or the
            same as now, the key not set on a line of its own, or the new file refused
            by `check`; the file is then as it was.
    """
    done = _rewrite(path, key, value, who, why, now)
    history = path.parent / "history"
    history.mkdir(exist_ok=True)
    kept = history / f"{path.stem}.{done.when:%Y%m%dT%H%M%S}Z{path.suffix}"
    shutil.copy2(path, kept)
    _replace(path, "".join(done.after))
    if check is not None:
        try:
            check(path)
        except Exception as exc:
            _replace(path, "".join(done.before))
            raise ThresholdChangeError(
                f"{path}: the new file was refused, so put back: {exc}"
            ) from exc
    diff = "".join(difflib.unified_diff(done.before, done.after, str(kept), str(path), n=2))
    return ThresholdChange(
        path=path, key=".".join(key), old=done.old, new=value, diff=diff, kept=kept
    )


def _rewrite(
    path: Path,
    key: tuple[str, ...],
    value: float,
    who: str,
    why: str,
    now: dt.datetime | None,
) -> _Rewrite:
    """The file's lines before and after the change, checked to change that value only."""
    name = ".".join(key)
    if not 0 < value < 1:
        raise ThresholdChangeError(f"{path}: {name} must be between 0 and 1, not {value}")
    if not who.strip() or not why.strip():
        raise ThresholdChangeError(f"{path}: say who changes {name} and why; nothing written")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = _line_of(lines, key, path)
    match = re.match(r"^(\s*)[\w-]+:\s*([0-9.]+)", lines[at])
    assert match is not None  # _line_of found it by the same pattern
    indent, old = match.group(1), float(match.group(2))
    if old == value:
        raise ThresholdChangeError(f"{path}: {name} is already {value}; nothing written")
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    note = (
        f"{indent}# {when:%Y-%m-%d %H:%M} UTC, {' '.join(who.split())}: {key[-1]} {old} -> "
        f"{value}. {' '.join(why.split())}\n"
    )
    after = [*lines[:at], note, f"{indent}{key[-1]}: {value}\n", *lines[at + 1 :]]
    # The edit changed that one value and nothing else a loader reads.
    expected, got = yaml.safe_load(text), yaml.safe_load("".join(after))
    _set(expected, key, value)
    if expected != got:
        raise ThresholdChangeError(f"{path}: rewriting {name} would change more than it")
    return _Rewrite(old=old, when=when, before=lines, after=after)


def _line_of(lines: list[str], key: tuple[str, ...], path: Path) -> int:
    """The index of the line that sets `key`, found by the nesting of its parents."""
    depth, indent = 0, -1
    for i, line in enumerate(lines):
        found = re.match(r"^(\s*)([\w-]+):", line)
        if not found or line.lstrip().startswith("#"):
            continue
        here = len(found.group(1))
        if depth and here <= indent:
            break  # left the parent's block without finding the key
        if (here == 0 if depth == 0 else here > indent) and found.group(2) == key[depth]:
            if depth == len(key) - 1:
                if re.match(r"^\s*[\w-]+:\s*[0-9.]+\s*(#.*)?$", line):
                    return i
                break
            depth, indent = depth + 1, here
    raise ThresholdChangeError(
        f"{path}: no line setting {'.'.join(key)} to a number; set it once by hand, then "
        "change it here"
    )


def _set(data: Any, key: tuple[str, ...], value: float) -> None:
    for part in key[:-1]:
        data = data[part]
    data[key[-1]] = value


def _replace(path: Path, text: str) -> None:
    """Write `text` over `path` whole, so a failed write leaves the old file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
