"""The normalisers put partner values in canonical form, and refuse what cannot be."""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.normalise import (
    blank_to_null,
    clean_name,
    nhs_number,
    nhs_number_is_valid,
    ni_number,
    parse_date,
    phone,
    postal_code,
    postcode,
    postcode_is_valid,
    sex,
    upn,
)
from world.identifiers import is_valid_nhs_number, is_valid_upn, upn_check_letter

Normaliser = Callable[[pl.Expr], pl.Expr]


def run(f: Normaliser, values: list[str | None]) -> list[Any]:
    """Apply f to a one-column frame of text and return its values."""
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(f(pl.col("x"))).to_series().to_list()


def one(f: Normaliser, value: str | None) -> Any:
    return run(f, [value])[0]


def interleave(chars: str, gaps: list[str]) -> str:
    """Put gaps[i] after chars[i], for as many gaps as there are."""
    return "".join(c + (gaps[i] if i < len(gaps) else "") for i, c in enumerate(chars))


def random_case(text: str, flips: list[bool]) -> str:
    return "".join(c.lower() if i < len(flips) and flips[i] else c for i, c in enumerate(text))


ALL_NORMALISERS: list[Normaliser] = [
    blank_to_null,
    clean_name,
    postcode,
    postcode_is_valid,
    partial(parse_date, fmt="%d.%m.%y", not_after=datetime.date(2026, 11, 1)),
    partial(parse_date, fmt="%Y-%m-%d"),
    nhs_number,
    nhs_number_is_valid,
    ni_number,
    upn,
    phone,
    sex,
]
NORMALISER_IDS = [
    "blank_to_null",
    "clean_name",
    "postcode",
    "postcode_is_valid",
    "parse_date_two_digit",
    "parse_date_iso",
    "nhs_number",
    "nhs_number_is_valid",
    "ni_number",
    "upn",
    "phone",
    "sex",
]


@pytest.mark.parametrize("f", ALL_NORMALISERS, ids=NORMALISER_IDS)
def test_keeps_the_column_name_and_nulls(f: Normaliser) -> None:
    frame = pl.DataFrame({"dob": ["x", None, "  "]})
    out = frame.select(f(pl.col("dob")))
    assert out.columns == ["dob"]
    assert out["dob"].to_list()[1:] == [None, None]


@pytest.mark.parametrize("f", ALL_NORMALISERS, ids=NORMALISER_IDS)
def test_works_on_literals(f: Normaliser) -> None:
    assert pl.select(f(pl.lit("  "))).to_series().to_list() == [None]


# --- blank_to_null ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("   ", None), ("\t\n", None), (None, None), (" a b ", "a b"), ("x", "x")],
)
def test_blank_to_null(value: str | None, expected: str | None) -> None:
    assert one(blank_to_null, value) == expected


# --- clean_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Zoë", "ZOE"),
        ("Seán", "SEAN"),
        ("O'Brien", "OBRIEN"),
        ("O’Brien", "OBRIEN"),
        ("St. John", "ST JOHN"),
        ("Smith-Jones", "SMITH JONES"),
        ("Smith – Jones", "SMITH JONES"),
        ("Jones, Mary  Ann", "JONES MARY ANN"),
        ("  mary\t\tann  ", "MARY ANN"),
        ("Łukasz", "LUKASZ"),
        ("łódź", "LODZ"),
        ("Søren Ørsted", "SOREN ORSTED"),
        ("Straße", "STRASSE"),
        ("François Müller-Lüdenscheidt", "FRANCOIS MULLER LUDENSCHEIDT"),
        ("Ｗｉｄｅ", "WIDE"),
        ("", None),
        ("   ", None),
        (" - . ' , ", None),
        (None, None),
    ],
)
def test_clean_name_examples(value: str | None, expected: str | None) -> None:
    assert one(clean_name, value) == expected


APOSTROPHES = set("'‘’ʼ`")
# Latin names with the punctuation partners write in them; Python's and Polars' Unicode case
# tables agree here, which is not true of every script.
latin_names = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x24F, exclude_categories=["Cs", "Cc"]),
        st.sampled_from(list("'’ʼ`.-–—,  \t\u0301\u0308")),
    ),
    max_size=30,
)
# Control characters are left out because Python and Polars disagree on which are whitespace.
any_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=["Cs", "Cn", "Co", "Cc"]), st.sampled_from(" \t\n")
    ),
    max_size=30,
)


@given(st.lists(any_text, max_size=20))
def test_clean_name_is_idempotent_and_has_no_marks(values: list[str]) -> None:
    once = run(clean_name, list(values))
    twice = run(clean_name, once)
    assert twice == once
    for name in once:
        if name is None:
            continue
        assert name == name.strip() and "  " not in name
        assert not any(unicodedata.category(c).startswith("M") for c in name)
        assert not APOSTROPHES & set(name)
        assert "." not in name and "," not in name and "-" not in name


@given(st.lists(latin_names, max_size=20))
def test_clean_name_of_latin_names_is_upper_case(values: list[str]) -> None:
    for name in run(clean_name, list(values)):
        if name is not None:
            # A few letters (ĸ, ƾ) are lower case with no upper-case form; nothing can fold those.
            assert not any(c.islower() and c.upper() != c for c in name), name


# --- postcode --------------------------------------------------------------------------------

CANONICAL_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
letters = st.sampled_from(UPPER)
digits = st.sampled_from(DIGITS)
postcodes = st.builds(
    lambda area, district, sub, inward_digit, unit: f"{area}{district}{sub} {inward_digit}{unit}",
    st.text(alphabet=UPPER, min_size=1, max_size=2),
    digits,
    st.one_of(st.just(""), letters, digits),
    digits,
    st.text(alphabet=UPPER, min_size=2, max_size=2),
)
gaps = st.lists(st.sampled_from(["", "", "", " ", "  ", "\t", "\u00a0"]), max_size=8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ju34ab", "JU3 4AB"),
        ("SW1A1AA", "SW1A 1AA"),
        ("sw1a 1aa", "SW1A 1AA"),
        (" M1   1AE ", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("W1 1AA1", None),
        ("1AA 1AA", None),
        ("SW1A", None),
        ("SW1A 1A", None),
        ("ABC1 1AA", None),
        ("", None),
        (None, None),
    ],
)
def test_postcode_examples(value: str | None, expected: str | None) -> None:
    assert one(postcode, value) == expected
    assert one(postcode_is_valid, value) == (
        None if value is None or not value.strip() else expected is not None
    )


@given(postcodes, st.lists(st.booleans(), max_size=8), gaps, gaps)
def test_postcode_ignores_case_and_spacing(
    canonical: str, flips: list[bool], inner: list[str], outer: list[str]
) -> None:
    assert CANONICAL_POSTCODE.match(canonical)
    compact = canonical.replace(" ", "")
    messy = "".join(outer) + interleave(random_case(compact, flips), inner) + "".join(outer)
    assert run(postcode, [messy, canonical]) == [canonical, canonical]
    assert one(postcode_is_valid, messy) is True


@given(st.lists(st.one_of(any_text, st.text(alphabet=UPPER + DIGITS + " ", max_size=9))))
def test_postcode_junk_is_null_or_valid(values: list[str]) -> None:
    outs = run(postcode, list(values))
    valid = run(postcode_is_valid, list(values))
    for value, out, ok in zip(values, outs, valid, strict=True):
        assert out is None or CANONICAL_POSTCODE.match(out), out
        if value.strip():
            assert ok is (out is not None)
        else:
            assert ok is None and out is None


# --- parse_date ------------------------------------------------------------------------------

FOUR_DIGIT_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y", "%Y%m%d"]


@pytest.mark.parametrize(
    ("value", "fmt", "not_after", "expected"),
    [
        ("03/04/1992", "%d/%m/%Y", None, datetime.date(1992, 4, 3)),
        ("1992-04-03", "%Y-%m-%d", None, datetime.date(1992, 4, 3)),
        ("03-APR-1992", "%d-%b-%Y", None, datetime.date(1992, 4, 3)),
        ("03-Apr-1992", "%d-%b-%Y", None, datetime.date(1992, 4, 3)),
        ("19920403", "%Y%m%d", None, datetime.date(1992, 4, 3)),
        (" 19920403 ", "%Y%m%d", None, datetime.date(1992, 4, 3)),
        ("01.02.30", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(1930, 2, 1)),
        ("01.02.26", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(2026, 2, 1)),
        ("01.11.26", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(2026, 11, 1)),
        ("02.11.26", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(1926, 11, 2)),
        ("01.02.99", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(1999, 2, 1)),
        ("29.02.00", "%d.%m.%y", datetime.date(2026, 11, 1), datetime.date(2000, 2, 29)),
        # 1900 was not a leap year, so this birthday cannot have been in it.
        ("29.02.00", "%d.%m.%y", datetime.date(1950, 1, 1), None),
        ("01.02.75", "%d.%m.%y", datetime.date(2100, 1, 1), datetime.date(2075, 2, 1)),
        ("01.02.30", "%d.%m.%y", None, datetime.date(2030, 2, 1)),
        ("31/02/1992", "%d/%m/%Y", None, None),
        ("1992-04-03", "%d/%m/%Y", None, None),
        ("not a date", "%Y-%m-%d", None, None),
        ("   ", "%Y-%m-%d", None, None),
        ("", "%Y-%m-%d", None, None),
        (None, "%Y-%m-%d", None, None),
    ],
)
def test_parse_date_examples(
    value: str | None, fmt: str, not_after: datetime.date | None, expected: datetime.date | None
) -> None:
    assert one(partial(parse_date, fmt=fmt, not_after=not_after), value) == expected


@given(
    st.lists(st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)), max_size=20),
    st.sampled_from(FOUR_DIGIT_FORMATS),
    st.booleans(),
)
def test_parse_date_round_trips(dates: list[datetime.date], fmt: str, upper: bool) -> None:
    texts = [d.strftime(fmt).upper() if upper else d.strftime(fmt) for d in dates]
    assert run(partial(parse_date, fmt=fmt), list(texts)) == dates


@given(
    st.dates(datetime.date(1901, 1, 1), datetime.date(2199, 12, 31)),
    st.lists(st.integers(0, 36_524), max_size=20),
    st.sampled_from(["%d.%m.%y", "%d/%m/%y", "%y%m%d"]),
)
def test_parse_date_two_digit_years_round_trip_within_a_century(
    not_after: datetime.date, days_before: list[int], fmt: str
) -> None:
    dates = [not_after - datetime.timedelta(days=n) for n in days_before]
    oldest = (not_after.year - 100, not_after.month, not_after.day)
    dates = [d for d in dates if (d.year, d.month, d.day) > oldest]
    texts = [d.strftime(fmt) for d in dates]
    assert run(partial(parse_date, fmt=fmt, not_after=not_after), texts) == dates


@given(st.lists(any_text, max_size=20), st.sampled_from([*FOUR_DIGIT_FORMATS, "%d.%m.%y"]))
def test_parse_date_never_raises_on_junk(values: list[str], fmt: str) -> None:
    out = run(partial(parse_date, fmt=fmt, not_after=datetime.date(2026, 1, 1)), list(values))
    for value, parsed in zip(values, out, strict=True):
        assert parsed is None or isinstance(parsed, datetime.date)
        if not value.strip():
            assert parsed is None


# --- nhs_number ------------------------------------------------------------------------------


def nhs_check(nine: str) -> int:
    """Modulus-11 check digit computed here, independently of the code under test."""
    total = sum(int(c) * w for c, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return 0 if check == 11 else check


valid_nhs_numbers = (
    st.text(alphabet=DIGITS, min_size=9, max_size=9)
    .filter(lambda nine: nhs_check(nine) != 10)
    .map(lambda nine: nine + str(nhs_check(nine)))
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9434765919", "9434765919"),
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        (" 943 - 476 - 5919 ", "9434765919"),
        ("9434765918", None),
        ("943476591", None),
        ("94347659190", None),
        ("943476591X", None),
        ("", None),
        (None, None),
    ],
)
def test_nhs_number_examples(value: str | None, expected: str | None) -> None:
    assert one(nhs_number, value) == expected


def test_nhs_number_whose_check_would_be_ten_is_invalid() -> None:
    nine = next(f"{n:09d}" for n in range(10**9) if nhs_check(f"{n:09d}") == 10)
    assert run(nhs_number_is_valid, [nine + "0", nine + "1", "", " - "]) == [
        False,
        False,
        None,
        None,
    ]


@given(valid_nhs_numbers, st.lists(st.sampled_from(["", "", " ", "-", " - ", "  "]), max_size=10))
def test_nhs_number_accepts_spaced_valid_numbers(number: str, seps: list[str]) -> None:
    written = interleave(number, seps)
    assert one(nhs_number, written) == number
    assert one(nhs_number_is_valid, written) is True


@given(valid_nhs_numbers, st.integers(0, 9), st.integers(1, 9))
def test_nhs_number_rejects_any_single_digit_change(number: str, at: int, delta: int) -> None:
    changed = number[:at] + str((int(number[at]) + delta) % 10) + number[at + 1 :]
    assert one(nhs_number, changed) is None
    assert one(nhs_number_is_valid, changed) is False


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=DIGITS, min_size=10, max_size=10),
            valid_nhs_numbers,
            st.text(alphabet=DIGITS + "aX/", max_size=12).filter(lambda s: s != ""),
        ),
        max_size=30,
    )
)
def test_nhs_number_agrees_with_reference(values: list[str]) -> None:
    valid = run(nhs_number_is_valid, list(values))
    numbers = run(nhs_number, list(values))
    for value, ok, number in zip(values, valid, numbers, strict=True):
        assert ok is is_valid_nhs_number(value), value
        assert number == (value if ok else None)


# --- ni_number -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AB123456C", "AB123456C"),
        ("ab 12 34 56 c", "AB123456C"),
        (" JG 10 37 59 A ", "JG103759A"),
        ("AB123456E", None),
        ("AB12345C", None),
        ("AB1234567C", None),
        ("DA123456A", None),
        ("QA123456A", None),
        ("AO123456A", None),
        ("AD123456A", None),
        ("BG123456A", None),
        ("GB123456A", None),
        ("NK123456A", None),
        ("KN123456A", None),
        ("TN123456A", None),
        ("NT123456A", None),
        ("ZZ123456A", None),
        ("OA123456A", "OA123456A"),
        ("", None),
        (None, None),
    ],
)
def test_ni_number_examples(value: str | None, expected: str | None) -> None:
    assert one(ni_number, value) == expected


@given(
    st.text(alphabet=UPPER, min_size=2, max_size=2),
    st.text(alphabet=DIGITS, min_size=6, max_size=6),
    st.sampled_from("ABCDEFXZ"),
    st.lists(st.booleans(), max_size=9),
    st.lists(st.sampled_from(["", " ", "  "]), max_size=9),
)
def test_ni_number_follows_the_issued_pattern(
    prefix: str, number: str, suffix: str, flips: list[bool], seps: list[str]
) -> None:
    canonical = prefix + number + suffix
    written = interleave(random_case(canonical, flips), seps)
    ok = (
        prefix[0] not in "DFIQUV"
        and prefix[1] not in "DFIQUVO"
        and prefix not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
        and suffix in "ABCD"
    )
    assert one(ni_number, written) == (canonical if ok else None)


# --- upn -------------------------------------------------------------------------------------

UPN_TAIL = DIGITS + UPPER
upn_bodies = st.builds(
    lambda middle, last: middle + last,
    st.text(alphabet=DIGITS, min_size=11, max_size=11),
    st.sampled_from(DIGITS + "ABCDEFGHJKLMNPQRTUVWXYZ"),
)
valid_upns = upn_bodies.map(lambda body: upn_check_letter(body) + body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A123000120000", "A123000120000"),
        ("a123000120000", "A123000120000"),
        (" A123 0001 20000 ", "A123000120000"),
        ("B123000120000", None),
        ("A12300012000", None),
        ("A1230001200000", None),
        ("", None),
        (None, None),
    ],
)
def test_upn_examples(value: str | None, expected: str | None) -> None:
    assert is_valid_upn("A123000120000")
    assert one(upn, value) == expected


@given(
    st.lists(
        st.one_of(
            valid_upns,
            st.builds(lambda c, body: c + body, st.sampled_from(UPPER), upn_bodies),
            st.builds(
                lambda c, middle, last: c + middle + last,
                st.sampled_from(UPPER + DIGITS),
                st.text(alphabet=DIGITS + "A", min_size=10, max_size=12),
                st.sampled_from(UPN_TAIL),
            ),
        ),
        max_size=30,
    )
)
def test_upn_agrees_with_reference(values: list[str]) -> None:
    for value, out in zip(values, run(upn, list(values)), strict=True):
        assert out == (value if is_valid_upn(value) else None), value


@given(valid_upns, st.lists(st.booleans(), max_size=13), st.lists(st.sampled_from(["", " "])))
def test_upn_ignores_case_and_spaces(number: str, flips: list[bool], seps: list[str]) -> None:
    assert one(upn, interleave(random_case(number, flips), seps)) == number


# --- phone -----------------------------------------------------------------------------------

E164_UK = re.compile(r"^\+44[1-9][0-9]{8,9}$")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+44 20 7946 0018", "+442079460018"),
        ("020 7946 0018", "+442079460018"),
        ("0044 20 7946 0018", "+442079460018"),
        ("44 20 7946 0018", "+442079460018"),
        ("+44 (0)20 7946 0018", "+442079460018"),
        ("(020) 7946-0018", "+442079460018"),
        ("07700 900123", "+447700900123"),
        ("+447700900123", "+447700900123"),
        ("016977 3456", "+44169773456"),
        ("Tel: +44 7700 900123", "+447700900123"),
        ("+33 1 23 45 67 89", None),
        ("0033 1 23 45 67 89", None),
        ("2079460018", None),
        ("020 794 600", None),
        ("020 7946 00188", None),
        ("+44 0 0 7946 0018", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_examples(value: str | None, expected: str | None) -> None:
    assert one(phone, value) == expected


@given(
    st.builds(
        lambda first, rest: first + rest,
        st.sampled_from("123456789"),
        st.text(alphabet=DIGITS, min_size=9, max_size=9),
    ),
    st.lists(st.sampled_from(["", "", " ", "-", " "]), max_size=10),
)
def test_phone_same_number_in_every_form(national: str, seps: list[str]) -> None:
    spaced = interleave(national, seps)
    forms = [f"+44 {spaced}", f"0{spaced}", f"0044 {spaced}", f"44{spaced}", f"+44 (0){spaced}"]
    assert run(phone, forms) == ["+44" + national] * len(forms)


@given(st.lists(st.text(alphabet=DIGITS + "+ ()-x", max_size=18), max_size=30))
def test_phone_output_is_e164_or_null(values: list[str]) -> None:
    for out in run(phone, list(values)):
        assert out is None or E164_UK.match(out), out


# --- sex -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("M", "M"),
        ("m", "M"),
        ("Male", "M"),
        (" MALE ", "M"),
        ("1", "M"),
        ("F", "F"),
        ("f", "F"),
        ("female", "F"),
        ("2", "F"),
        ("U", "U"),
        ("Unknown", "U"),
        ("9", "U"),
        ("X", "U"),
        ("0", "U"),
        ("Not stated", "U"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_sex_examples(value: str | None, expected: str | None) -> None:
    assert one(sex, value) == expected


@given(st.lists(any_text, max_size=20))
def test_sex_is_m_f_u_or_null_for_blank(values: list[str]) -> None:
    for value, out in zip(values, run(sex, list(values)), strict=True):
        assert out in ({None} if not value.strip() else {"M", "F", "U"})


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [
        ("us", "98101", "98101"),
        ("us", "98101-1234", "98101"),
        ("us", " 981011234 ", "98101"),
        ("us", "9810", None),
        ("au", "4223", "4223"),
        ("au", "42230", None),
        ("ie", "d02 x285", "D02X285"),
        ("any", "sw1a 1aa", "SW1A1AA"),
        ("any", "75008", "75008"),
        ("uk", "ju34ab", "JU3 4AB"),
        ("uk", "4223", None),
        ("us", None, None),
    ],
)
def test_postal_codes_of_other_countries(
    country: str, raw: str | None, expected: str | None
) -> None:
    got = pl.DataFrame({"p": [raw]}, schema={"p": pl.String}).select(
        postal_code(pl.col("p"), country)
    )
    assert got.item() == expected
