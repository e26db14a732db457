"""Disclosure control: nothing published breaks the rule, and no suppressed count can be
worked out again from what is shown, by an attacker solving the table's sums."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insight import SUPPRESSED, DisclosureRule, Protected, protect, recoverable

NO_ROUNDING = DisclosureRule(round_to=1)

# Tables of the shape reports make (a few areas by a few groups), with the small counts
# that matter: many 0 to 10, some large.
count = st.one_of(st.integers(0, 10), st.integers(0, 400))
tables = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda cols: st.lists(
            st.lists(count, min_size=cols, max_size=cols), min_size=rows, max_size=rows
        )
    )
)


def _truth(counts: list[list[int]]) -> dict[tuple[int, int], int]:
    rows, cols = len(counts), len(counts[0])
    full = {(r, c): counts[r][c] for r in range(rows) for c in range(cols)}
    for r in range(rows):
        full[(r, cols)] = sum(counts[r])
    for c in range(cols):
        full[(rows, c)] = sum(counts[r][c] for r in range(rows))
    full[(rows, cols)] = sum(map(sum, counts))
    return full


def _breaks_rule(published: Protected) -> list[int | str]:
    rule = published.rule
    return [
        v
        for v in published.values()
        if v != SUPPRESSED
        and (not isinstance(v, int) or 1 <= v <= rule.suppress_up_to or v % rule.round_to)
    ]


@settings(max_examples=150, deadline=None)
@given(tables)
def test_no_suppressed_count_can_be_worked_out_from_the_sums(counts: list[list[int]]) -> None:
    # Without rounding, suppression must hold on its own: each hidden value keeps at
    # least two possible values given every other value and every total.
    published = protect(counts, NO_ROUNDING)
    assert not _breaks_rule(published)
    truth = _truth(counts)
    for position, (low, high) in recoverable(published).items():
        assert low - 1e-6 <= truth[position] <= high + 1e-6
        assert high - low >= 1 - 1e-6, (counts, position, low, high)


@settings(max_examples=100, deadline=None)
@given(tables)
def test_the_default_rule_hides_one_to_seven_and_rounds_to_five(counts: list[list[int]]) -> None:
    published = protect(counts)
    assert not _breaks_rule(published)
    truth = _truth(counts)
    hidden = recoverable(published)
    for position, value in truth.items():
        if 1 <= value <= 7:
            assert position in hidden, position
            low, high = hidden[position]
            assert high - low >= 1 - 1e-6


def test_one_small_count_beside_its_totals_takes_a_second_with_it() -> None:
    # 3 alone suppressed would be 23 - 20 from its row: 20 goes too, and so on round.
    published = protect([[3, 20, 40], [12, 40, 55], [30, 30, 30]], NO_ROUNDING)
    assert published.cells[0][0] == SUPPRESSED
    assert sum(v == SUPPRESSED for v in published.cells[0]) >= 2
    assert sum(row[0] == SUPPRESSED for row in published.cells) >= 2
    low, high = recoverable(published)[(0, 0)]
    assert high - low >= 1


def test_zero_is_shown_and_large_counts_are_rounded() -> None:
    published = protect([[0, 123], [48, 1002]])
    assert published.cells == [[0, 125], [50, 1000]]
    assert published.row_totals == [125, 1050]
    assert published.total == 1175


@pytest.mark.parametrize("counts", [[[1, -2]], [[1, 2], [3]], []])
def test_a_table_that_is_not_counts_is_refused(counts: list[list[int]]) -> None:
    with pytest.raises(ValueError, match="rectangular table of non-negative integers"):
        protect(counts)
