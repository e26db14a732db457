"""The linkage models: comparisons and blocking rules for persons, and for households.

Each comparison is one piece of evidence, and evidence that is not independent is one
comparison: a shared property reference and a shared postcode are one `address`
comparison (with the house number, street and unit of the address line, where no UPRN
says the property), so a family at one address is not counted as matching twice. Names carry
levels for nicknames (by name group), first and last name swapped, and surname parts (a
double-barrelled surname kept as one part). Dates of birth carry a day/month swap and a
one-character slip. National identifiers are strong where both records have one, and
neutral where either is blank. Every level is symmetric: a pair scores the same whichever
record is on the left, so a record scored against last night's records incrementally
scores as it would in a full run. A town given apart from the address (partners abroad)
is a comparison of its own. Comparisons and rules stand on the columns present
(`EVIDENCE`, `RULES`): a file without a column gets no comparison or rule on it.

The household model (`household_settings`) compares the place and the surname only; its
records at one dwelling are one household by rule (`DWELLING_RULES`).
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule

NULL_DOB = "dob_l IS NULL OR dob_r IS NULL"
SAME_LINE = (
    "address_line_l = address_line_r"
    " AND (postcode_l = postcode_r OR postcode_l IS NULL OR postcode_r IS NULL)"
)


def _surname_agrees() -> list[Any]:
    """A surname's first levels, for persons and households alike: blank, same, one slip."""
    return [
        cll.NullLevel("last_name"),
        cll.ExactMatchLevel("last_name").configure(tf_adjustment_column="last_name"),
        cll.DamerauLevenshteinLevel("last_name", 1).configure(
            label_for_charts="One slip of the keyboard"
        ),
    ]


def address() -> Any:
    """Where the records say the person lives: one piece of evidence, however many columns."""
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.CustomLevel(
                "(uprn_l IS NULL OR uprn_r IS NULL) AND (postcode_l IS NULL OR postcode_r IS NULL)"
                " AND (address_line_l IS NULL OR address_line_r IS NULL)",
                "No address on one side",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("uprn").configure(label_for_charts="Same property"),
            # A property named by its house number and street where no UPRN says it: for
            # partners without UPRNs, and for addresses abroad whose codes say little.
            cll.CustomLevel(
                f"{SAME_LINE} AND (unit_l = unit_r OR unit_l IS NULL OR unit_r IS NULL)",
                "Same house number and street (and unit, where both name one)",
            ),
            # Another flat of one block: neighbours, not one home.
            cll.CustomLevel(f"{SAME_LINE} AND unit_l <> unit_r", "Same building, another unit"),
            # A slip in the street's name ("Faucett Dtreet"), at the same house number.
            cll.CustomLevel(
                "house_number_l = house_number_r"
                " AND jaro_winkler_similarity(street_l, street_r) >= 0.9",
                "Same house number, street close in spelling",
            ),
            cll.CustomLevel(
                "street_l = street_r AND (house_number_l IS NULL OR house_number_r IS NULL)"
                " AND (postcode_l = postcode_r OR postcode_l IS NULL OR postcode_r IS NULL)",
                "Same street, a house number missing",
            ),
            cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
            cll.DamerauLevenshteinLevel("postcode", 1).configure(
                label_for_charts="Postcode one character out", m_probability=0.02
            ),
            cll.ExactMatchLevel("postcode_sector"),
            cll.ExactMatchLevel("postcode_district"),
            cll.ElseLevel(),
        ],
    )


def town() -> Any:
    """A town, suburb or city named apart from the address: weak alone, telling beside a
    street, and all the evidence of place some partners abroad have."""
    return cl.CustomComparison(
        output_column_name="town",
        comparison_levels=[
            cll.NullLevel("town"),
            cll.ExactMatchLevel("town").configure(tf_adjustment_column="town"),
            cll.JaroWinklerLevel("town", 0.9).configure(label_for_charts="Close in spelling"),
            cll.ElseLevel(),
        ],
    )


def comparisons() -> list[Any]:
    """The comparisons, most telling first."""
    first = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            cll.ExactMatchLevel("first_name_group").configure(
                label_for_charts="Same name group (nickname or spelling)"
            ),
            cll.DamerauLevenshteinLevel("first_name", 1).configure(
                label_for_charts="One slip of the keyboard"
            ),
            cll.JaroWinklerLevel("first_name", 0.92),
            # Either way round, so a pair scores the same whichever record is on the left.
            cll.CustomLevel(
                '"first_name_l" = "last_name_r" OR "first_name_r" = "last_name_l"',
                "First name is the other's surname (names swapped)",
            ),
            cll.JaroWinklerLevel("first_name", 0.80),
            cll.ElseLevel(),
        ],
    )
    last = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            *_surname_agrees(),
            cll.JaroWinklerLevel("last_name", 0.92),
            cll.ArrayIntersectLevel("surname_parts", 1).configure(
                label_for_charts="Share a part of a double-barrelled surname"
            ),
            cll.ColumnsReversedLevel("last_name", "first_name", symmetrical=True).configure(
                label_for_charts="First and last names swapped"
            ),
            cll.JaroWinklerLevel("last_name", 0.80),
            cll.CustomLevel(
                "first_name_l = first_name_r AND dob_l = dob_r",
                "New surname, same first name and date of birth",
            ).configure(m_probability=0.01),  # too rare for EM to see; set from the world's rates
            cll.ElseLevel(),
        ],
    )
    middle = cl.CustomComparison(
        output_column_name="middle_name",
        comparison_levels=[
            cll.NullLevel("middle_name"),
            cll.ExactMatchLevel("middle_name"),
            cll.CustomLevel(
                "substr(middle_name_l, 1, 1) = substr(middle_name_r, 1, 1)", "Same initial"
            ),
            cll.ElseLevel(),
        ],
    )
    dob = cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.CustomLevel(NULL_DOB, "Date of birth missing").configure(is_null_level=True),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "substr(dob_l, 1, 4) = substr(dob_r, 1, 4)"
                " AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2)"
                " AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)",
                "Day and month swapped",
            ),
            cll.DamerauLevenshteinLevel("dob", 1).configure(
                label_for_charts="One character different"
            ),
            cll.CustomLevel(
                "substr(dob_l, 1, 4) = substr(dob_r, 1, 4)"
                " AND (substr(dob_l, 6, 5) = '01-01' OR substr(dob_r, 6, 5) = '01-01')",
                "Same year, one known only to the year",
            ),
            cll.AbsoluteDateDifferenceLevel(
                "dob", input_is_string=True, threshold=1, metric="year"
            ),
            cll.ElseLevel(),
        ],
    )
    return [
        first,
        last,
        middle,
        dob,
        cl.ExactMatch("sex"),
        address(),
        town(),
        cl.ExactMatch("nhs_number"),
        cl.ExactMatch("upn"),
        cl.ExactMatch("ni_number"),
    ]


# The columns a comparison stands on, by its name: with none of them in the records, the
# comparison is left out. Names are always there.
EVIDENCE = {
    "middle_name": ("middle_name",),
    "dob": ("dob",),
    "sex": ("sex",),
    "address": ("uprn", "postcode", "address_line"),
    "town": ("town",),
    "nhs_number": ("nhs_number",),
    "upn": ("upn",),
    "ni_number": ("ni_number",),
}
# Each blocking rule with the columns it needs: a rule on a column the records lack
# brings no pair together, and is left out.
RULES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("nhs_number",), block_on("nhs_number")),
    (("upn",), block_on("upn")),
    (("ni_number",), block_on("ni_number")),
    (("dob",), block_on("dob", "substr(first_name, 1, 1)")),
    (("dob",), block_on("dob", "substr(last_name, 1, 2)")),
    (("dob",), block_on("first_name_group", "last_name", "substr(dob, 1, 4)")),
    (("postcode",), block_on("first_name_group", "last_name", "postcode_district")),
    (("postcode",), block_on("first_name", "postcode")),
    ((), block_on("last_name", "first_name")),
    (("postcode",), block_on("last_name", "postcode")),
    (("uprn",), block_on("uprn", "substr(first_name, 1, 1)")),
    (("uprn",), block_on("uprn", "substr(last_name, 1, 1)")),
    (("address_line",), block_on("address_line", "substr(first_name, 1, 1)")),
    # As for the property: a first name replaced or shortened ("Bill", "W") still meets
    # its surname at one house number and street.
    (("address_line",), block_on("address_line", "substr(last_name, 1, 1)")),
    (("postcode",), block_on("first_name_group", "postcode_sector", "substr(last_name, 1, 1)")),
    # Any two pieces of evidence that do not hang together bring a pair together: a date of
    # birth with a place, and a name with a town where a partner names the town.
    (("dob", "postcode"), block_on("dob", "postcode")),
    (("dob", "town"), block_on("dob", "town")),
    (("town",), block_on("first_name", "town")),
    (("town",), block_on("last_name", "town")),
    # Forenames and surname swapped (a form filled in the wrong way round): whole, or
    # one of them with a slip, at one postcode.
    ((), CustomRule("l.first_name = r.last_name AND l.last_name = r.first_name")),
    (("postcode",), CustomRule("l.first_name = r.last_name AND l.postcode = r.postcode")),
    (("postcode",), CustomRule("l.last_name = r.first_name AND l.postcode = r.postcode")),
)


def blocking_rules(present: frozenset[str] | None = None) -> list[Any]:
    """Pairs scored: every rule's pairs, once. None leans on address alone.

    Args:
        present: the columns the records have values in; None: every column.
    """
    return [rule for needs, rule in RULES if present is None or set(needs) <= present]


def absent(present: frozenset[str] | None) -> list[str]:
    """The comparisons left out for want of their columns, by name."""
    if present is None:
        return []
    return [name for name, columns in EVIDENCE.items() if not set(columns) & present]


def household_comparisons() -> list[Any]:
    """What says two records are of one household: the place, and a family's surname.

    Names and dates of birth that say which member a record is are no evidence here:
    a mother's and her son's records are of one household.
    """
    surname = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            *_surname_agrees(),
            cll.ArrayIntersectLevel("surname_parts", 1).configure(
                label_for_charts="Share a part of a double-barrelled surname"
            ),
            cll.JaroWinklerLevel("last_name", 0.88),
            cll.ElseLevel(),
        ],
    )
    return [address(), town(), surname]


HOUSEHOLD_RULES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("uprn",), block_on("uprn")),
    (("address_line",), block_on("address_line")),
    (("postcode",), block_on("postcode", "last_name")),
    (("postcode",), block_on("postcode", "house_number")),
    (("town",), block_on("town", "house_number", "substr(last_name, 1, 1)")),
)


# Records at one dwelling are of one household, whatever their surnames (as the nightly
# households have it: matching/households.py): the same property, or the same numbers
# (flat and house) and street where neither the postcode nor the town says otherwise.
DWELLING_RULES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("uprn",), block_on("uprn")),
    (
        ("dwelling",),
        CustomRule(
            "l.dwelling = r.dwelling"
            " AND (l.postcode = r.postcode OR l.postcode IS NULL OR r.postcode IS NULL)"
            " AND (l.town = r.town OR l.town IS NULL OR r.town IS NULL)"
        ),
    ),
)


def household_settings(present: frozenset[str] | None = None) -> SettingsCreator:
    """An untrained model of households: records of people who live together, together.

    Args:
        present: as for `settings`.
    """
    return _untrained(household_comparisons(), HOUSEHOLD_RULES, present, 1 / 10_000)


def settings(present: frozenset[str] | None = None) -> SettingsCreator:
    """An untrained model: dedupe across the concatenation of every source's records.

    Args:
        present: the columns the records have values in. A comparison with none of its
            columns there, and a blocking rule on a column not there, are left out, so
            no EM session or level is spent on evidence the records cannot give. None:
            every comparison and rule (the council's partners hold every column).
    """
    return _untrained(comparisons(), RULES, present, 1 / 50_000)


def _untrained(
    evidence: list[Any],
    rules: tuple[tuple[tuple[str, ...], Any], ...],
    present: frozenset[str] | None,
    prior: float,
) -> SettingsCreator:
    """Dedupe settings with the comparisons and rules the present columns can give."""
    left_out = set(absent(present))
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[c for c in evidence if c.create_output_column_name() not in left_out],
        blocking_rules_to_generate_predictions=[
            rule for needs, rule in rules if present is None or set(needs) <= present
        ],
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source"],
        probability_two_random_records_match=prior,
    )
