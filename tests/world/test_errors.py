"""The error model's edits are the kinds of slip real records show, and only those."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from world.errors import plain, postcode_typo, surname_part, transpose, typo

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÀéëöñ'-", min_size=2, max_size=20).map(
    str.capitalize
)
unit = st.floats(min_value=0, max_value=0.999)


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@given(names, unit, unit)
def test_typo_is_one_edit(name: str, u: float, v: float) -> None:
    assert _edit_distance(name.lower(), typo(name, u, v).lower()) <= 1


@given(names, unit)
def test_transposition_keeps_the_letters(name: str, u: float) -> None:
    out = transpose(name, u)
    assert Counter(out) == Counter(name)
    if len(name) >= 3:
        assert out[0] == name[0]


@given(names)
def test_plain_is_ascii_and_idempotent(name: str) -> None:
    out = plain(name)
    assert "'" not in out
    assert plain(out) == out
    assert all(ord(c) < 128 for c in out if c not in "-")


def test_plain_examples() -> None:
    assert plain("O'Brien") == "OBrien"
    assert plain("Zoë") == "Zoe"
    assert plain("Łukasz") == "Lukasz"


@given(st.from_regex(r"JU[1-9] [0-9][A-Z]{2}", fullmatch=True), unit, unit)
def test_postcode_typo_changes_one_character(postcode: str, u: float, v: float) -> None:
    out = postcode_typo(postcode, u, v)
    assert len(out) == len(postcode)
    assert sum(a != b for a, b in zip(out, postcode, strict=True)) == 1


def test_surname_part() -> None:
    assert surname_part("Smith-Jones", 0.1) == "Smith"
    assert surname_part("Smith-Jones", 0.5) == "Jones"
    assert surname_part("Smith-Jones", 0.9) == "Smith Jones"
    assert surname_part("Smith Jones", 0.9) == "Smith-Jones"
