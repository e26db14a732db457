"""Settings from YAML: one loader for every stage's configuration.

`load_settings` reads a YAML file, puts `${VARIABLE}` values in from the environment and
validates the result with a pydantic model. Anything wrong stops with a `ConfigError` whose
every line names the file, the line, the key and what was expected, for example::

    pipelines/config/alerts.yaml:41: selection.cooldown_days: unknown key; did you mean
    'cool_down_days'?

Its steps are public too (`read_yaml`, `expand_env`, `validate`), for a caller with more to
do between them: the connectors read several files and need the secrets of some sources only.

In a value, `${NAME}` is the environment variable NAME and `$$` is a dollar sign; a `$`
before anything else is kept as written.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

__all__ = [
    "ConfigError",
    "ConfigFile",
    "Keys",
    "closest",
    "expand_env",
    "key_path",
    "load_settings",
    "read_yaml",
    "validate",
]

Keys = tuple[str | int, ...]
"""Where a value is in a file: mapping keys and list positions from the top."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_URL_SECRET = re.compile(r"(://[^/@\s:]*:)[^/@\s]*@")
_SHOWN = 60  # characters of a wrong value that a message quotes


class ConfigError(ValueError):
    """Settings that cannot be used: each line names the file, the key and what was expected."""


class UnsetVariables(ConfigError):
    """Settings that need environment variables that are not set.

    `variables` maps each such variable to the first place that needs it, as a message
    names it (`path:line: key`), for a caller that says what to set in its own words.
    """

    def __init__(self, message: str, variables: Mapping[str, str]) -> None:
        super().__init__(message)
        self.variables = dict(variables)


@dataclass(frozen=True)
class ConfigFile:
    """A YAML file as read: where it is, what it holds, and the line of each key in it."""

    path: Path
    data: Any
    lines: Mapping[Keys, int] = field(default_factory=dict, repr=False)

    def line(self, keys: Keys) -> int | None:
        """The line a key is on, else the nearest enclosing key's (None: not in the file)."""
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            keys = keys[:-1]
        return None

    def where(self, keys: Keys = ()) -> str:
        """`path:line` of a key, for the start of a message (the path alone if no line)."""
        line = self.line(keys)
        return f"{self.path}:{line}" if line else str(self.path)


_BRACED = r"""
\$(?:
    (?P<escaped>\$) |
    \{(?P<braced>[_a-z][_a-z0-9]*)\} |
    (?P<named>(?!)) |
    (?P<invalid>(?!))
)
"""


class _Braced(Template):
    """`${NAME}` and `$$` only: a `$` before anything else is left as written."""

    # A string, compiled by Template itself (typeshed knows only the compiled form).
    pattern = _BRACED  # type: ignore[assignment]


class _FromEnvironment(str):
    """A value with an environment variable put in: never quoted in a message."""

    __slots__ = ()


def key_path(keys: Keys) -> str:
    """Keys as a person writes them: `sources.police.tables[0].file`.

    A key that is not a plain name is quoted (`overrides['a.b@x.org']`); pydantic's
    `[key]` (the fault is in a mapping's key itself) reads `(as a name)`.
    """
    out = ""
    for part in keys:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (as a name)"
        elif _PLAIN_KEY.match(part):
            out += ("." if out else "") + part
        else:
            out += f"[{part!r}]"
    return out


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like `word` (case aside), if any is close enough to be a slip."""
    by_lower = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def _kind(value: Any) -> str:
    kinds = {dict: "a mapping", list: "a list", type(None): "nothing"}
    return kinds.get(type(value), f"the value {_shown(value) or type(value).__name__}")


def _scalar(value: Any) -> str | None:
    if isinstance(value, _FromEnvironment):
        return None
    if isinstance(value, str):
        return repr(_URL_SECRET.sub(r"\1***@", value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, int | float):
        return repr(value)
    return None


def _shown(value: Any) -> str | None:
    """A wrong value as a message quotes it: short, with no secret in it (None: not quoted).

    A mapping is not quoted, nor a list of anything but plain values, nor a value with an
    environment variable in it; a password in a URL is starred out.
    """
    if isinstance(value, _FromEnvironment):
        return "a value from the environment"
    if value is None:
        return "nothing"
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        text = None if None in items else f"[{', '.join(i for i in items if i)}]"
    else:
        text = _scalar(value)
    if text is None or len(text) <= _SHOWN:
        return text
    return text[: _SHOWN - 1] + "…"


def _lines(node: yaml.Node, keys: Keys, out: dict[Keys, int], path: frozenset[int]) -> None:
    if id(node) in path:  # an alias of an enclosing node: a recursive structure
        return
    inside = path | {id(node)}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                at = (*keys, str(key_node.value))
                out.setdefault(at, key_node.start_mark.line + 1)
                _lines(value_node, at, out, inside)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            at = (*keys, i)
            out.setdefault(at, item.start_mark.line + 1)
            _lines(item, at, out, inside)


def read_yaml(path: Path) -> ConfigFile:
    """Read a YAML file, keeping the line each key is on.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, or is not valid YAML; the
            message names the file and, where there is one, the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: cannot read it: not UTF-8 text") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    lines: dict[Keys, int] = {}
    if node is not None:
        _lines(node, (), lines, frozenset())
    return ConfigFile(path, data, lines)


def _origin(origin: ConfigFile | Path | None, keys: Keys) -> str:
    if isinstance(origin, ConfigFile):
        return origin.where(keys) + ": "
    return f"{origin}: " if origin is not None else ""


def _expand(value: Any, keys: Keys, env: Mapping[str, str], missing: dict[str, list[Keys]]) -> Any:
    if isinstance(value, str):
        template = _Braced(value)
        names = template.get_identifiers()
        unset = [n for n in names if n not in env]
        for name in unset:
            missing.setdefault(name, []).append(keys)
        if unset:
            return value
        found = template.substitute(env)
        return _FromEnvironment(found) if names else found
    if isinstance(value, dict):
        return {k: _expand(v, (*keys, k), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*keys, i), env, missing) for i, v in enumerate(value)]
    return value


def expand_env(
    value: T,
    *,
    origin: ConfigFile | Path | None = None,
    at: Keys = (),
    environ: Mapping[str, str] | None = None,
) -> T:
    """Put environment variables into every string of a YAML value: `${NAME}`; `$$` is `$`.

    Keys are left as they are, and so is a `$` before anything but `{` or `$`.

    Args:
        value: what `read_yaml` read, or a part of it.
        origin: the file it came from, named in messages.
        at: where `value` is in that file (the keys above it).
        environ: the variables (`os.environ` if None).

    Raises:
        ConfigError: a variable is not set; one line a variable, naming the first key
            that needs it and how many more do.

    Examples:
        >>> expand_env({"url": "${HOST}/x", "cost": "$$5"}, environ={"HOST": "h"})
        {'url': 'h/x', 'cost': '$5'}
    """
    missing: dict[str, list[Keys]] = {}
    expanded = _expand(value, at, os.environ if environ is None else environ, missing)
    if missing:
        problems = []
        first = {
            name: f"{_origin(origin, needed[0])}{key_path(needed[0])}"
            for name, needed in missing.items()
        }
        for name, needed in missing.items():
            more = f" (also needed by {len(needed) - 1} more)" if len(needed) > 1 else ""
            problems.append(f"{first[name]}: environment variable {name} is not set{more}")
        raise UnsetVariables("\n".join(problems), first)
    found: T = expanded
    return found


def _choices(annotation: Any) -> list[Any]:
    """The types a value of this annotation may be, Annotated and Optional unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _choices(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [c for a in get_args(annotation) if a is not type(None) for c in _choices(a)]
    return [annotation]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and get_origin(kind) is None and issubclass(kind, BaseModel)


def _models_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[type[BaseModel]]:
    """The models that the value at `loc` (inside a `model`) may be validated by."""
    kinds: list[Any] = [model]
    for part in loc:
        inner: list[Any] = []
        for kind in kinds:
            args = get_args(kind)
            if _is_model(kind):
                for name, info in kind.model_fields.items():
                    if part in (name, info.alias):
                        inner += _choices(info.annotation)
            elif get_origin(kind) in (dict, Mapping) and len(args) == 2:
                inner += _choices(args[1])
            elif get_origin(kind) in (list, tuple, Sequence) and args and isinstance(part, int):
                inner += _choices(args[0])
        kinds = inner
    return [k for k in kinds if _is_model(k)]


def _unknown(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    allowed = list(
        dict.fromkeys(
            info.alias or name
            for parent in _models_at(model, loc[:-1])
            for name, info in parent.model_fields.items()
        )
    )
    if not allowed:
        return "unknown key"
    near = closest(str(loc[-1]), allowed)
    if near is not None:
        return f"unknown key; did you mean {near!r}?"
    return f"unknown key; expected one of {', '.join(allowed)}"


def _problem(
    error: Mapping[str, Any],
    model: type[BaseModel],
    origin: ConfigFile | Path | None,
    at: Keys,
    overridden: Sequence[Keys],
) -> str:
    loc: Keys = tuple(error["loc"])
    keys = (*at, *loc)
    given = any(keys[: len(o)] == o for o in overridden)
    if error["type"] == "extra_forbidden":
        said = _unknown(model, loc)
    elif error["type"] == "missing":
        said = "missing: a value is required"
    else:
        said = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        shown = _shown(error.get("input"))
        if shown is not None:
            said += f" (got {shown}{', given as an override' if given else ''})"
    if given and isinstance(origin, ConfigFile):
        origin = origin.path  # the file's line for the key would point at the wrong value
    return f"{_origin(origin, keys)}{key_path(keys) or 'the settings'}: {said}"


def _validated(
    model: type[M],
    data: Any,
    origin: ConfigFile | Path | None,
    at: Keys,
    overridden: Sequence[Keys],
) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(e, model, origin, at, overridden) for e in exc.errors()]
        raise ConfigError("\n".join(problems)) from exc


def validate(
    model: type[M], data: Any, *, origin: ConfigFile | Path | None = None, at: Keys = ()
) -> M:
    """Validate settings with a pydantic model; its errors become one `ConfigError`.

    Args:
        model: the settings' model; with `extra="forbid"` an unknown key is named with the
            closest known key at its level ("did you mean 'threshold'?").
        data: the settings, as read (and expanded).
        origin: the file they came from: its path and the line of each key go in messages.
        at: where `data` is in that file (the keys above it, e.g. `("features",)`).

    Raises:
        ConfigError: one line a problem: `file:line: key: what was expected (got what)`.
    """
    return _validated(model, data, origin, at, ())


def _set(data: dict[str, Any], dotted: str, value: Any) -> Keys:
    keys = tuple(dotted.split("."))
    target = data
    for i, key in enumerate(keys[:-1]):
        inner = target.setdefault(key, {})
        if not isinstance(inner, dict):
            raise ConfigError(
                f"override {dotted}: {key_path(keys[: i + 1])} is {_kind(inner)}, not a mapping"
            )
        target = inner
    target[keys[-1]] = value
    return keys


def load_settings(
    path: Path | None,
    model: type[M],
    *,
    section: str | None = None,
    expand_env: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """Read settings from a YAML file, put in the environment's values, and validate them.

    Args:
        path: the YAML file; an empty file is an empty mapping (every setting its default).
            None: no file, the model's defaults and the overrides only.
        model: the pydantic model of the settings (or of the section).
        section: read only this top-level key's mapping (absent: every setting its default).
        expand_env: put `${NAME}` environment variables in (`$$` is a dollar sign).
        overrides: values by dotted key (`errors.typo`), put in after the file is read and
            expanded, in order: a later one wins.

    Returns:
        The validated settings.

    Raises:
        ConfigError: the file cannot be read or parsed, a variable is not set, or a setting
            is wrong; every line names the file, the line, the key and what was expected.

    Examples:
        >>> class Matching(BaseModel):
        ...     threshold: float = 0.9
        >>> load_settings(None, Matching, overrides={"threshold": "0.8"})
        Matching(threshold=0.8)
    """
    file = read_yaml(path) if path is not None else None
    at: Keys = (section,) if section is not None else ()
    data: Any = {} if file is None or file.data is None else file.data
    if section is not None:
        if not isinstance(data, dict):
            raise ConfigError(
                f"{_origin(file, ())}expected a mapping with a `{section}:` key, not {_kind(data)}"
            )
        data = data.get(section, {})
    if not isinstance(data, dict):
        where = f"{key_path(at)}: " if at else ""
        raise ConfigError(
            f"{_origin(file, at)}{where}expected a mapping of settings, not {_kind(data)}"
        )
    if expand_env:
        data = _expand_env(data, origin=file, at=at)
    overridden: list[Keys] = []
    if overrides:
        data = copy.deepcopy(data)
        for dotted, value in overrides.items():
            overridden.append((*at, *_set(data, dotted, value)))
    return _validated(model, data, file, at, overridden)


_expand_env = expand_env  # `load_settings` has an argument of this name
