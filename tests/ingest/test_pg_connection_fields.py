"""The compiled readers of connection lines against the regexes they stand in for.

``authorized_fields`` / ``disconnected_fields`` (``_postgres_stderr_fast.pyx``) read
``connection authorized`` and ``disconnection`` messages without ``_AUTHORIZED`` /
``_DISCONNECTED``; where they answer, the answer must be what the regex (and the Python
``Folder``'s arithmetic) gives, and they must decline every text the regex does not match.
Messages are built from the parts real servers write, then mutated.
"""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perftui.ingest.postgres_stderr import _AUTHORIZED, _DISCONNECTED
from tests.ingest.differential import compiled

FAST = "perftui.ingest._postgres_stderr_fast"

# Characters that matter to the regexes: spaces and other \s, newline (for `.` and `$`), the
# markers' letters, digits (ASCII and not), dots, colons, '=' and non-ASCII text.
ALPHABET = list(" =:.()\t\n\x1c\x0b\x7fab0129SLGenabled\u0661\u00e9\u3000")
WORDS = st.text(ALPHABET, max_size=8) | st.sampled_from(
    ["", "bob", "shop", "[local]", "psql", "pgAdmin 4 - DB:shop", "x y", "TLSv1.3"]
)
TAILS = st.sampled_from(
    [
        "",
        " SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
        " GSS (authenticated=yes, encrypted=yes, principal=bob@EXAMPLE)",
        " SSL enabled (",
        " GSS (",
        " SSL enabled",
        " trailing",
    ]
)


@st.composite
def authorized(draw: st.DrawFn) -> str:
    text = "connection authorized: user=" + draw(WORDS)
    if draw(st.booleans()):
        text += " database=" + draw(WORDS)
    if draw(st.booleans()):
        text += " application_name=" + draw(WORDS) + draw(TAILS) + draw(WORDS)
    text += draw(TAILS)
    return _mutate(draw, text)


@st.composite
def disconnected(draw: st.DrawFn) -> str:
    digits = st.text("0123456789", min_size=0, max_size=20) | st.sampled_from(["0", "00", "26"])
    seconds = st.text("0123456789.", min_size=0, max_size=22) | st.sampled_from(
        ["01.5", "07.250", "59.999", "0.012", "1.", ".5", "1.2.3"]
    )
    text = f"disconnection: session time: {draw(digits)}:{draw(digits)}:{draw(seconds)}"
    for key in ("user", "database", "host", "port"):
        if draw(st.booleans()):
            text += f" {key}=" + draw(WORDS)
    text += draw(st.sampled_from(["", " ", " extra", "\n", "x"]))
    return _mutate(draw, text)


def _mutate(draw: st.DrawFn, text: str) -> str:
    """Maybe insert, drop or replace one character."""
    choice = draw(st.integers(0, 3))
    if choice == 0 or not text:
        return text
    at = draw(st.integers(0, len(text) - 1))
    ch = draw(st.sampled_from(ALPHABET))
    if choice == 1:
        return text[:at] + ch + text[at:]
    if choice == 2:
        return text[:at] + text[at + 1 :]
    return text[:at] + ch + text[at + 1 :]


def _expected_authorized(msg: str) -> tuple | None:
    m = _AUTHORIZED.match(msg)
    if m is None:
        return None
    return (m.group("user") or None, m.group("db") or None, m.group("app") or None)


def _expected_disconnected(msg: str) -> tuple | None:
    m = _DISCONNECTED.match(msg)
    if m is None:
        return None
    try:  # as Folder._disconnection computes it
        ms = (int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"])) * 1000.0
    except ValueError:
        return ("raises",)
    return (ms, m["user"] or None, m["db"] or None, m["host"] or None)


SETTINGS = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(authorized())
@example("connection authorized: user=bob database=shop application_name=psql")
@example("connection authorized: user=bob database=shop application_name=a SSL enabled (x")
@example("connection authorized: user=bob database=shop application_name=a GSS (x SSL enabled (")
@example("connection authorized: user= database= application_name=")
@example("connection authorized: user=bob SSL enabled (protocol=TLSv1.3)")
@example("connection authorized: user=bob extra")
@example("connection authorized: user=bob\n")
def test_authorized_fields_are_the_regexs(msg: str) -> None:
    fields = _module().authorized_fields(msg)
    expected = _expected_authorized(msg)
    if fields is None:  # declined: the regex decides; it must be a text the C reader skips
        assert expected is None or not _plain(msg)
    else:
        assert fields == expected


@SETTINGS
@given(disconnected())
@example("disconnection: session time: 0:00:01.5 user=bob database=shop host=[local] port=5")
@example("disconnection: session time: 26:03:07.250 user=carol database=shop host=[local]")
@example("disconnection: session time: 999999999999999:59:59.999 user=")
@example("disconnection: session time: 1:2:3 user=a database= host=h")
@example("disconnection: session time: 0:00:00.000 port=5 user=a")
@example("disconnection: session time: 0:00:1. user=a")
def test_disconnected_fields_are_the_regexs(msg: str) -> None:
    fields = _module().disconnected_fields(msg)
    expected = _expected_disconnected(msg)
    if fields is None:
        assert expected is None or expected == ("raises",) or not _plain(msg) or _long(msg)
    else:
        assert fields == expected


def _module():
    """The compiled module (skips, or fails under PERFTUI_REQUIRE_NATIVE=1, when not built)."""
    return sys.modules[compiled(FAST, "FastPostgresStderrParser").__module__]


def _plain(msg: str) -> bool:
    return msg.isascii() and all(32 <= ord(c) < 127 for c in msg)


def _long(msg: str) -> bool:
    """Hours or minutes of more than 15 digits, or seconds float() reads past the fast path:
    declined on purpose."""
    m = _DISCONNECTED.match(msg)
    assert m is not None
    return len(m["h"]) > 15 or len(m["m"]) > 15 or len(m["s"]) >= 64
