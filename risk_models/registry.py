"""The register of decisions about risk model versions: which one scores, and why.

Training makes a version (`risk-vN/`); a person decides whether it scores. Each decision
is a line of `risk-register.jsonl` in the models folder, appended and never rewritten: the
version, the action (`promote`, `retire`, `rollback`), the reason, who decided and when (in
UTC), and for a rollback the version rolled back from. The register says which version
scores, each night and for `joinedup risk score`:

- the version promoted most recently (by `promote`, or by `rollback` to it) that has not
  been retired, nor rolled back from, since;
- with no register, or no promotion in it, the newest trained version not retired: what
  scored before there was a register;
- when every promoted version has been retired since, none. The night is not scored and
  says so, rather than fall back on a model nobody vetted.

A rollback takes the version that scores out of service and promotes again the one
promoted before it, passing over any retired since: it never brings back a retired
version. Promoting a retired version again is allowed, as an explicit `promote` with its
own reason, and the command says when and why it was retired.

The order of the lines is the order of the decisions, whatever their clocks said. A line
that is not a decision stops everything that reads the register, naming the file and the
line: a register read wrongly would score with a model nobody chose.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError

from common import versions
from risk_models.night import RiskError, scoring_model
from risk_models.review import model_folder, saved_evaluation
from risk_models.training import PREFIX

REGISTER = "risk-register.jsonl"
NO_MODEL = "not scored: no trained risk model; run `joinedup risk train`"
ALL_RETIRED = (
    "not scored: every promoted risk model is retired; promote one with `joinedup risk promote`"
)
ALL_TRAINED_RETIRED = (
    "not scored: every trained risk model is retired; promote one with `joinedup risk promote`"
)

REASON = "--reason must not be empty: say why, in words kept in the register of risk models"

log = logging.getLogger(__name__)

Version = Annotated[str, StringConstraints(pattern=r"^risk-v[0-9]+$")]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Decision(BaseModel):
    """One line of the register: a person's decision about a version, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Version
    action: Literal["promote", "retire", "rollback"]
    reason: Words
    who: Words
    when: AwareDatetime
    rolled_back_from: Version | None = None

    def done(self, version: str) -> str:
        """What the decision did to `version`, and when: `promoted 2026-11-03 09:30 UTC`."""
        when = self.when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if self.action != "rollback":
            return f"{'promoted' if self.action == 'promote' else 'retired'} {when}"
        if version == self.version:
            return f"promoted again {when}, rolling back from {self.rolled_back_from}"
        return f"rolled back {when} to {self.version}"

    def about(self, version: str) -> str:
        """The decision in words as it concerns `version`, with who made it and why."""
        return f"{self.done(version)} by {self.who}: {self.reason}"


MEND = (
    "mend that line by hand (the register is written only by `joinedup risk promote`, "
    "`retire` and `rollback`)"
)


def decisions(models: Path) -> list[Decision]:
    """Every decision in the models folder's register, oldest first (none without one).

    Raises:
        RiskError: the register cannot be read, or a line of it is not a decision; the
            message names the file and the line.
    """
    file = models / REGISTER
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise RiskError(f"{file}: cannot read the register of risk models ({exc})") from exc
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            decision = Decision.model_validate_json(line)
        except ValidationError as exc:
            raise RiskError(f"{file}:{number}: {_wrong(exc)}; {MEND}") from exc
        if (decision.action == "rollback") != (decision.rolled_back_from is not None):
            raise RiskError(
                f"{file}:{number}: rolled_back_from is given with a rollback and only then; {MEND}"
            )
        found.append(decision)
    return found


def _wrong(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid" or not first["loc"]:
        return f"not a decision written as one JSON object ({first['msg']})"
    return f"{'.'.join(str(k) for k in first['loc'])}: {first['msg']}"


@dataclass(frozen=True)
class Standing:
    """What the register makes of the trained versions: which scores, and each one's state."""

    models: Path
    trained: tuple[str, ...]  # versions whose training finished (a model.json), oldest first
    decisions: tuple[Decision, ...]

    @property
    def promoted(self) -> list[str]:
        """Versions promoted and not retired (nor rolled back from) since, the most recently
        promoted last."""
        live: list[str] = []
        for d in self.decisions:
            live = [v for v in live if v not in (d.version, d.rolled_back_from)]
            if d.action != "retire":
                live.append(d.version)
        return live

    @property
    def retired(self) -> set[str]:
        """Versions whose last decision retired them or rolled back from them."""
        out: set[str] = set()
        for d in self.decisions:
            if d.action == "retire":
                out.add(d.version)
            else:
                out.discard(d.version)
                if d.rolled_back_from is not None:
                    out.add(d.rolled_back_from)
        return out

    @property
    def ever_promoted(self) -> bool:
        """Whether any version was ever promoted: the register, not the newest, decides."""
        return any(d.action != "retire" for d in self.decisions)

    @property
    def scoring(self) -> str | None:
        """The version that scores, if any (see the module's rules)."""
        if self.ever_promoted:
            live = self.promoted
            return live[-1] if live else None
        candidates = [v for v in self.trained if v not in self.retired]
        return candidates[-1] if candidates else None

    def folder(self) -> Path | None:
        """The folder of the version that scores, if any."""
        return None if self.scoring is None else self.models / self.scoring

    def state(self, version: str) -> str:
        """scoring, promoted earlier, retired or candidate."""
        if version == self.scoring:
            return "scoring"
        if version in self.promoted:
            return "promoted earlier"
        return "retired" if version in self.retired else "candidate"

    def last(self, version: str) -> Decision | None:
        """The last decision that concerned a version, if any."""
        about = [d for d in self.decisions if version in (d.version, d.rolled_back_from)]
        return about[-1] if about else None

    def status(self) -> str:
        """Which version scores and why, or why none does, in one sentence."""
        scoring = self.scoring
        if scoring is None:
            if self.ever_promoted:
                return ALL_RETIRED
            return ALL_TRAINED_RETIRED if self.trained else NO_MODEL
        if not self.ever_promoted:
            which = (
                "newest trained" if scoring == self.trained[-1] else "newest trained not retired"
            )
            return f"no version promoted: the {which}, {scoring}, scores"
        decided = self.last(scoring)
        assert decided is not None  # a promoted version has a decision
        return f"{scoring} scores: {decided.done(scoring)}"


def standing(models: Path) -> Standing:
    """The register of a models folder read against the versions trained there.

    Raises:
        RiskError: a line of the register is not a decision (naming the file and line).
    """
    trained = tuple(p.name for _, p in versions(models, PREFIX) if (p / "model.json").is_file())
    return Standing(models, trained, tuple(decisions(models)))


def scoring_folder(models: Path) -> Path | None:
    """The folder of the risk model that scores, as the register says; None if none does.

    Examples:
        >>> scoring_folder(Path("/nowhere")) is None
        True
    """
    return standing(models).folder()


def scoring_status(models: Path) -> str:
    """Which risk model scores and why, or why none does, in one sentence."""
    return standing(models).status()


def promote(models: Path, version: str, reason: str, who: str | None = None) -> Decision:
    """Record that a trained version scores from now on.

    Args:
        models: the models folder, holding `risk-vN/` and the register.
        version: the version to promote, e.g. `risk-v3`.
        reason: why, in words; kept in the register.
        who: who decided (default: the signed-in user).

    Raises:
        RiskError: no such version, its training did not finish, it reads another feature
            set than tonight's, it scores already as promoted, or no reason was given.
    """
    _usable(models, version)
    with _locked(models):
        now = standing(models)
        if now.promoted and now.promoted[-1] == version:
            raise RiskError(f"{now.status()}: nothing to promote")
        decision = _decision(version, "promote", reason, who)
        _append(models, decision)
    return decision


def retire(models: Path, version: str, reason: str, who: str | None = None) -> Decision:
    """Record that a version must not score: if it scores today, the version promoted before
    it scores next, or none does.

    Raises:
        RiskError: no such version, it is retired already, or no reason was given.
    """
    model_folder(models, version)
    with _locked(models):
        now = standing(models)
        if version in now.retired:
            raise RiskError(f"{version} is retired already; {now.status()}")
        decision = _decision(version, "retire", reason, who)
        _append(models, decision)
    return decision


def rollback(models: Path, reason: str, who: str | None = None) -> Decision:
    """Take the version that scores out of service and promote again the one promoted
    before it (passing over retired ones).

    Raises:
        RiskError: nothing to roll back to, the version rolled back to reads another
            feature set than tonight's, or no reason was given.
    """
    _words(reason, REASON)
    with _locked(models):
        now = standing(models)
        live = now.promoted
        if not now.ever_promoted:
            raise RiskError(
                "nothing to roll back to: no version has been promoted (the newest trained "
                "scores); promote one with `joinedup risk promote`"
            )
        if not live:
            raise RiskError(f"nothing to roll back to: {ALL_RETIRED.removeprefix('not scored: ')}")
        if len(live) < 2:
            raise RiskError(
                f"nothing to roll back to: {live[-1]} is the only promoted version not "
                "retired; promote another with `joinedup risk promote`"
            )
        back_to, current = live[-2], live[-1]
        _usable(models, back_to)
        decision = _decision(back_to, "rollback", reason, who, rolled_back_from=current)
        _append(models, decision)
    return decision


def _decision(
    version: str,
    action: Literal["promote", "retire", "rollback"],
    reason: str,
    who: str | None,
    rolled_back_from: str | None = None,
) -> Decision:
    return Decision(
        version=version,
        action=action,
        reason=_words(reason, REASON),
        who=_words(_who() if who is None else who, "--by must not be empty: name who decides"),
        when=dt.datetime.now(dt.UTC).replace(microsecond=0),
        rolled_back_from=rolled_back_from,
    )


def _words(text: str, refusal: str) -> str:
    if not text.strip():
        raise RiskError(refusal)
    return text.strip()


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:  # no login name, no USER, no entry in passwd
        raise RiskError(f"cannot tell who you are ({exc}): name who decides with --by") from exc


def _usable(models: Path, version: str) -> None:
    """Refuse a version that could not score tonight: not there, unfinished, or reading
    another feature set."""
    scoring_model(model_folder(models, version))


@contextmanager
def _locked(models: Path) -> Iterator[None]:
    """Hold the models folder so that two decisions are never recorded at once, each read
    against what the other wrote."""
    if not models.is_dir():
        raise RiskError(f"no trained risk model in {models}: run `joinedup risk train` first")
    fd = os.open(models, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # lets go of the lock


def _append(models: Path, decision: Decision) -> None:
    """Append one decision as one line, on disk before this returns; a new register is
    readable by its owner only."""
    file = models / REGISTER
    line = (json.dumps(decision.model_dump(mode="json", exclude_none=True)) + "\n").encode()
    new = not file.exists()
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if new:
            os.fchmod(fd, 0o600)  # whatever the umask
        if os.write(fd, line) != len(line):
            raise RiskError(f"{file}: the decision was not written whole; check the disk")
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:  # the new file's name is on disk too
        folder = os.open(models, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    moved = f" from {decision.rolled_back_from}" if decision.rolled_back_from else ""
    log.info("risk model register: %s %s%s", decision.action, decision.version, moved)


@dataclass(frozen=True)
class VersionLine:
    """A trained version as `joinedup risk models` lists it."""

    version: str
    trained_on: str  # the date its models were fitted, or "-"
    kind: str  # the kind that scores, or "-"
    auc: float | None  # held-out AUC from its saved evaluation
    state: str
    last: Decision | None


def version_lines(models: Path) -> list[VersionLine]:
    """Every version in the models folder, newest first, with its state and last decision.

    A folder whose training did not finish is listed as `incomplete`.
    """
    now = standing(models)
    lines = []
    for _, folder in reversed(versions(models, PREFIX)):
        version = folder.name
        if version not in now.trained:
            lines.append(VersionLine(version, "-", "-", None, "incomplete", now.last(version)))
            continue
        kind = _read(folder / "model.json", "scores_with")
        trained_on = _read(folder / kind / "model.json", "trained_at")[:10]
        try:
            auc: float | None = float(saved_evaluation(folder, kind)["auc"])
        except (RiskError, KeyError, TypeError, ValueError):
            auc = None  # no saved evaluation: listed without its AUC
        lines.append(
            VersionLine(version, trained_on, kind, auc, now.state(version), now.last(version))
        )
    return lines


def _read(about: Path, key: str) -> str:
    """A value of a model's JSON file, or "-" if it cannot be read."""
    try:
        return str(json.loads(about.read_text())[key])
    except (OSError, ValueError, KeyError, TypeError):
        return "-"
