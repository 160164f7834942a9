"""The compiled parsers' number conversion gives exactly what ``float()`` gives."""

from __future__ import annotations

import struct

from hypothesis import example, given
from hypothesis import strategies as st

from tests.ingest.differential import compiled


def _convert(text: str) -> float | None:
    return compiled("perftui.ingest._columns", "plain_float_value")(text.encode("ascii"))


def _bits(value: float | None) -> bytes | None:
    return None if value is None else struct.pack("<d", value)


# Short numbers as logs write them, and 15-20 digit ones near the limit of what a double holds
# exactly (where converting digits past 2**53 and then dividing would round twice).
_DIGITS = st.text("0123456789", max_size=8) | st.text("0123456789", min_size=15, max_size=20)


@given(_DIGITS, st.none() | _DIGITS)
@example("0", "000123")  # Query_time: 0.000123
@example("9007199254740992", None)  # 2**53: exact
@example("9007199254740993", None)  # 2**53 + 1: not a double, float() rounds it
@example("900719925474099", "3")  # one digit short of 2**53 with a fraction
@example("0", "0000000000000000000001")  # 22 fraction digits: 10**22 is still exact
@example("0", "00000000000000000000001")  # 23: 10**23 is not, float() decides
@example("0", "1")
@example("", "5")  # ".5"
@example("5", "")  # "5."
@example("12345678901234567890", "12")  # more digits than a double holds
@example("0", "757882906889920185")  # converted, then divided: rounded twice, one bit off
@example("44667375401", "9253275")
def test_digits_convert_as_float_does(whole: str, fraction: str | None) -> None:
    text = whole if fraction is None else f"{whole}.{fraction}"
    got = _convert(text)
    if not any(c.isdigit() for c in text) or len(text) >= 64:
        assert got is None
    else:
        assert _bits(got) == _bits(float(text)), text


@given(st.text("0123456789.-+eE x", max_size=12))
def test_other_text_is_declined_or_exact(text: str) -> None:
    """Signs, exponents, spaces and second dots are left to ``float()`` (None here)."""
    got = _convert(text)
    plain = text.count(".") <= 1 and all(c.isdigit() or c == "." for c in text)
    if plain and any(c.isdigit() for c in text):
        assert _bits(got) == _bits(float(text))
    else:
        assert got is None
