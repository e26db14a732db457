"""`${NAME}` expansion: what the environment holds goes in, and nothing else changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.config import ConfigError, expand_env, key_path

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
values = st.text(max_size=20)
no_dollar = st.text(max_size=30).filter(lambda t: "$" not in t)
# Literal text: a dollar in it is written `$$`.
literals = st.text(max_size=15)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
plain_yaml = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | no_dollar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@given(plain_yaml, st.dictionaries(names, values))
def test_settings_without_a_dollar_are_unchanged(data: Any, env: dict[str, str]) -> None:
    assert expand_env(data, environ=env) == data


@given(
    st.lists(st.one_of(literals.map(lambda t: ("text", t)), names.map(lambda n: ("var", n)))),
    st.dictionaries(names, values),
    values,
)
def test_variables_go_in_and_escaped_dollars_come_out(
    parts: list[tuple[str, str]], env: dict[str, str], fallback: str
) -> None:
    env = {**{n: fallback for kind, n in parts if kind == "var"}, **env}
    written = "".join(t.replace("$", "$$") if kind == "text" else f"${{{t}}}" for kind, t in parts)
    meant = "".join(t if kind == "text" else env[t] for kind, t in parts)
    assert expand_env({"key": [written]}, environ=env) == {"key": [meant]}


@given(st.from_regex(r"([^$]|\$[^${])*", fullmatch=True))
def test_a_dollar_before_anything_else_is_kept_as_written(text: str) -> None:
    assert expand_env(text, environ={"HOME": "/h"}) == text


@given(st.lists(keys, min_size=1, max_size=4), names, no_dollar)
def test_a_missing_variable_names_the_key_and_the_variable(
    path: list[str], name: str, before: str
) -> None:
    data: Any = f"{before}${{{name}}}"
    for key in reversed(path):
        data = {key: data}
    with pytest.raises(ConfigError) as err:
        expand_env(data, environ={})
    assert str(err.value) == f"{key_path(tuple(path))}: environment variable {name} is not set"


def test_each_missing_variable_is_said_once_with_how_many_keys_need_it() -> None:
    data = {"a": ["${ONE}", "x ${ONE}"], "b": {"c": "${TWO}"}, "d": "${ONE}"}
    with pytest.raises(ConfigError) as err:
        expand_env(data, environ={})
    assert str(err.value).splitlines() == [
        "a[0]: environment variable ONE is not set (also needed by 2 more)",
        "b.c: environment variable TWO is not set",
    ]


def test_keys_are_not_expanded() -> None:
    assert expand_env({"${A}": "${A}"}, environ={"A": "x"}) == {"${A}": "x"}


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("cost $5", "cost $5"),
        ("$HOME", "$HOME"),
        ("${1}", "${1}"),
        ("${", "${"),
        ("ends in $", "ends in $"),
        ("a$$b", "a$b"),
        ("$${HOME}", "${HOME}"),
        ("$$$${HOME}", "$${HOME}"),
        ("$$${HOME}", "$/h"),
        ("${HOME}${HOME}", "/h/h"),
    ],
)
def test_dollars_read_as_documented(written: str, meant: str) -> None:
    assert expand_env(written, environ={"HOME": "/h"}) == meant
