"""Identifiers carry the check characters their schemes define."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from world.identifiers import (
    is_valid_nhs_number,
    is_valid_upn,
    nhs_numbers,
    ni_numbers,
    upn_check_letter,
    upns,
)


def test_known_nhs_number() -> None:
    # The NHS Data Dictionary's worked example: 943 476 5919.
    assert is_valid_nhs_number("9434765919")
    assert not is_valid_nhs_number("9434765918")


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_drawn_nhs_numbers_are_valid_and_distinct(seed: int) -> None:
    values = nhs_numbers(np.random.default_rng(seed), 200)
    assert len(set(values)) == 200
    assert all(is_valid_nhs_number(v) for v in values)


@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(0, 8), st.integers(1, 9))
def test_one_wrong_digit_is_always_caught(seed: int, place: int, shift: int) -> None:
    good = nhs_numbers(np.random.default_rng(seed), 1)[0]
    digit = (int(good[place]) + shift) % 10
    bad = good[:place] + str(digit) + good[place + 1 :]
    assert not is_valid_nhs_number(bad)


@given(st.text(max_size=12))
def test_nhs_validator_never_raises(text: str) -> None:
    assert is_valid_nhs_number(text) in (True, False)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_upns_check(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = upns(rng, 901, rng.integers(1000, 9999, 50), rng.integers(2005, 2026, 50))
    assert all(len(v) == 13 and is_valid_upn(v) for v in values)
    wrong = [("A" if v[0] != "A" else "B") + v[1:] for v in values]
    assert not any(is_valid_upn(v) for v in wrong)


def test_upn_check_letter_skips_i_o_s() -> None:
    letters = {upn_check_letter(f"901{n:09d}") for n in range(2000)}
    assert letters.isdisjoint({"I", "O", "S"})
    assert len(letters) == 23


def test_ni_numbers_follow_the_pattern() -> None:
    values = ni_numbers(np.random.default_rng(3), 5000)
    for v in values:
        assert v[0] not in "DFIQUV" and v[1] not in "DFIQUVO"
        assert v[2:8].isdigit() and v[8] in "ABCD"
        assert v[:2] not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
