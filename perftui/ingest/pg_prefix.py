"""PostgreSQL ``log_line_prefix``: compile one into a regex, or detect it from sample lines.

A stderr log line is ``<prefix><SEVERITY>:  <message>``. The prefix is user-configured, so the
parser compiles it into a single regex with named groups (``ts``, ``pid``, ``user``…) that also
matches the severity, which anchors the free-text fields. Detection tries the prefixes people
actually use and keeps the one that matches the most sample lines.

Timestamps (``%t``/``%m``, csvlog ``log_time``, jsonlog ``timestamp``) share one converter,
:func:`epoch`, cached per second since a log has few distinct seconds but many lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

# Prefixes seen in the wild (see detect_prefix for how ties are broken).
KNOWN_PREFIXES: tuple[str, ...] = (
    "%m [%p] %q%u@%d ",  # Debian / Ubuntu default
    "%m [%p] ",  # PostgreSQL's own default since 10
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",  # pgBadger's recommendation
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%m [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: [%l-1] ",
    "%t:%r:%u@%d:[%p]:",  # Amazon RDS
    "%m:%r:%u@%d:[%p]:",
    "%t [%p]: ",
    "%m [%p]: ",
    "%t [%p] ",
    "%t [%p-%l] %q%u@%d ",  # Debian before PostgreSQL 10
    "%m [%p-%l] %q%u@%d ",
    "%m [%p] %q[%a] %u@%d ",
    "%m [%p] %q%u@%d/%a ",
    "%m [%c] %q%u@%d ",
    "%m [%p] %c %q%u@%d ",
    "< %m > ",  # Red Hat / CentOS before PostgreSQL 10
    "< %t > ",
    "%m ",
    "%t ",
)

SEVERITIES = frozenset(
    (
        "DEBUG5",
        "DEBUG4",
        "DEBUG3",
        "DEBUG2",
        "DEBUG1",
        "DEBUG",
        "LOG",
        "INFO",
        "NOTICE",
        "WARNING",
        "ERROR",
        "FATAL",
        "PANIC",
        "DETAIL",
        "HINT",
        "QUERY",
        "CONTEXT",
        "STATEMENT",
        "LOCATION",
    )
)

_TZ = r"(?: (?:[A-Za-z][A-Za-z0-9_/+\-]*|[+\-]\d{2}(?::?\d{2})?))?"
_DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
# Strict timestamps tell %t from %m (detection); parsing accepts either, so a --prefix with the
# wrong one still works, and uses cheaper patterns (see _fast_timestamp).
_TS_STRICT = {"t": _DATE + _TZ, "m": _DATE + r"\.\d+" + _TZ, "s": _DATE + _TZ}
_TS_ANY = r"\d{4}-[\d\-]+ [\d:.]+(?: [A-Za-z+\-][^ \[\]():,]*)?"
_TS_CHARS = frozenset("0123456789-:.+ _/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_FREE_TEXT = ".*?"  # replaced by a faster equivalent when a literal follows (_until)

# escape -> (group name, pattern)
_ESCAPES: dict[str, tuple[str, str]] = {
    "a": ("app", _FREE_TEXT),
    "u": ("user", _FREE_TEXT),
    "d": ("db", _FREE_TEXT),
    "r": ("host", r"[^\s(]+"),  # then "(port)", see _field
    "h": ("host", _FREE_TEXT),
    "L": ("local", _FREE_TEXT),
    "b": ("btype", _FREE_TEXT),
    "p": ("pid", r"\d+"),
    "P": ("leader", r"\d*"),
    "t": ("ts", _TS_ANY),
    "m": ("ts", _TS_ANY),
    "n": ("epoch", r"\d+(?:\.\d+)?"),
    "s": ("start", _TS_ANY),
    "i": ("tag", _FREE_TEXT),
    "e": ("sqlstate", r"[0-9A-Z]{5}"),
    "c": ("sid", r"[0-9a-f]+\.[0-9a-f]+"),
    "l": ("line", r"\d+"),
    "v": ("vxid", r"(?:\d+/\d+)?"),
    "x": ("xid", r"\d+"),
    "Q": ("queryid", r"-?\d+"),
}
_UNKNOWN = r"\[unknown\]|"
_NULLABLE = {"user": _UNKNOWN, "db": _UNKNOWN, "app": _UNKNOWN, "host": ""}
# Prefix and severity must fit in a line's first PREFIX_WINDOW characters; matching only that
# much bounds the regex work on very long lines.
PREFIX_WINDOW = 2048
_SEVERITY = r"(?P<sev>[A-Z]+[1-5]?):  "
_TOKEN_RE = re.compile(r"%(-?\d+)?(.)|[^%]+|%$")


@dataclass(frozen=True, slots=True)
class Prefix:
    """A compiled ``log_line_prefix``: ``regex`` matches prefix + severity + ``":  "``."""

    text: str
    regex: re.Pattern[str]

    @property
    def session_group(self) -> str | None:
        """``sid`` (%c) when the prefix has it, else ``pid``: the key sessions are tracked by."""
        groups = self.regex.groupindex
        return "sid" if "sid" in groups else "pid" if "pid" in groups else None


def compile_prefix(prefix: str, *, strict: bool = False) -> Prefix:
    """Compile ``prefix``; ``%q`` makes the rest optional, as PostgreSQL drops it for
    non-session processes. ``strict`` tells ``%t`` from ``%m`` (used by detection)."""
    tokens = _tokens(prefix)
    parts: list[str] = []
    optional_from: int | None = None
    used: set[str] = set()
    for i, (padding, char, text) in enumerate(tokens):
        if char == "":
            parts.append(re.escape(text))
        elif char == "q":
            if optional_from is None:
                optional_from = len(parts)
        elif char in _ESCAPES:
            following = tokens[i + 1][2] if i + 1 < len(tokens) else ""
            parts.append(_field(char, padding, following, used, strict))
        # PostgreSQL prints nothing for unknown escapes; so do we.
    if optional_from is not None:
        parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
    return Prefix(prefix, re.compile("".join(parts) + _SEVERITY))


def _tokens(prefix: str) -> list[tuple[str | None, str, str]]:
    """(padding, escape char, literal text) per token; literals have char "" ("%%" is one)."""
    tokens: list[tuple[str | None, str, str]] = []
    for m in _TOKEN_RE.finditer(prefix):
        char = m.group(2)
        if m.group(0) == "%":  # a lone % at the end prints nothing
            continue
        if char is None or char == "%":
            literal = "%" if char == "%" else m.group(0)
            if tokens and tokens[-1][1] == "":
                tokens[-1] = (None, "", tokens[-1][2] + literal)
            else:
                tokens.append((None, "", literal))
        else:
            tokens.append((m.group(1), char, ""))
    return tokens


def _field(char: str, padding: str | None, following: str, used: set[str], strict: bool) -> str:
    """The regex of one escape; ``following`` is the literal right after it ("" if none).

    user, db, app and host capture None when PostgreSQL wrote ``[unknown]`` or nothing, so the
    parser needs no per-line test for it."""
    name, pattern = _ESCAPES[char]
    nullable = name in _NULLABLE
    if char in _TS_STRICT:
        pattern = _TS_STRICT[char] if strict else _fast_timestamp(following)
    elif pattern is _FREE_TEXT:
        if following and not padding:
            pattern = _until(following, nullable)
        elif nullable:
            pattern = ".+?"
    if name in used:  # a repeated escape is matched but not captured
        group = f"(?:{pattern})"
    else:
        group = f"(?P<{name}>{pattern})"
        used.add(name)
    if char == "r":
        group += r"(?:\(\d*\))?"
    if nullable:
        group = f"(?:{_NULLABLE[name]}{group})?"
    if padding:  # %-10u pads on the right, %10u on the left, with spaces
        return f" *{group} *"
    return group


def _until(following: str, nonempty: bool) -> str:
    """Text up to the literal that follows the field, in one greedy scan.

    When that literal is distinctive (``,client=``, ``] ``) the value may contain its first
    character, as with ``.*?``. A one-character literal (``@``, `` ``) cannot be told from the
    same character inside a value anyway, and allowing it would let two neighbouring fields
    backtrack against each other in quadratic time on long lines that do not match.
    """
    c = re.escape(following[0])
    head = f"[^{c}]{'+' if nonempty else '*'}"
    return head + f"(?:{c}[^{c}]*)*?" if len(following) > 1 else head


def _fast_timestamp(following: str) -> str:
    """Timestamp pattern for parsing: when the next literal has a character that cannot occur
    in a timestamp (``[`` of ``%m [%p]``), scan up to it; else the loose shape _TS_ANY."""
    stop = following.strip()[:1]
    if stop and stop not in _TS_CHARS:
        return r"\d[^" + re.escape(stop) + "]*"
    return _TS_ANY


def detect_prefix(sample: list[str]) -> tuple[Prefix | None, int]:
    """The known prefix matching the most non-continuation sample lines, and that count.

    Ties go to the prefix that captured more non-empty fields (so ``%q%u@%d`` wins over a bare
    ``[%p]`` only when lines really carry ``user@db``), then to the shorter one.
    """
    lines = [s.rstrip("\r") for s in sample if s and s[0] != "\t" and s.strip()]
    best: tuple[int, int, int] = (0, 0, 0)
    best_text: str | None = None
    for text in KNOWN_PREFIXES:
        regex = compile_prefix(text, strict=True).regex
        hits = fields = 0
        for line in lines:
            m = regex.match(line, 0, PREFIX_WINDOW)
            if m is not None and m.group("sev") in SEVERITIES:
                hits += 1
                fields += sum(1 for v in m.groups() if v)
        if hits and (hits, fields, -len(text)) > best:
            best, best_text = (hits, fields, -len(text)), text
    if best_text is None:
        return None, 0
    return compile_prefix(best_text), best[0]


def count_matches(prefix: Prefix, sample: list[str]) -> int:
    """How many non-continuation sample lines ``prefix`` matches."""
    match = prefix.regex.match
    return sum(
        1
        for s in sample
        if s
        and s[0] != "\t"
        and (m := match(s.rstrip("\r"), 0, PREFIX_WINDOW))
        and m.group("sev") in SEVERITIES
    )


# --- timestamps -------------------------------------------------------------------------------

# Abbreviations PostgreSQL prints for common log_timezone settings (hours east of UTC). Anything
# else that is not a numeric offset is read as UTC.
_TZ_HOURS: dict[str, float] = {
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": 1,
    "BST": 1,
    "IST": 1,
    "CET": 1,
    "CEST": 2,
    "MET": 1,
    "MEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "SAST": 2,
    "EAT": 3,
    "PKT": 5,
    "HKT": 8,
    "SGT": 8,
    "AWST": 8,
    "JST": 9,
    "KST": 9,
    "ACST": 9.5,
    "ACDT": 10.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "HST": -10,
    "AKST": -9,
    "AKDT": -8,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "AST": -4,
    "ADT": -3,
    "NST": -3.5,
    "NDT": -2.5,
    "BRT": -3,
    "ART": -3,
}
_SECOND_CACHE: dict[str, float] = {}
_CACHE_MAX = 100_000
_last: tuple[str, float | None] = ("", None)  # the previous call: lines often share a stamp


def epoch(text: str) -> float | None:
    """Epoch seconds (UTC) of ``2026-11-24 09:22:40[.123] [TZ]``; None when unreadable.

    Each distinct second (+ zone) is converted once; PostgreSQL's millisecond form then costs a
    slice and a float() per line.
    """
    global _last
    last = _last
    if text == last[0]:
        return last[1]
    value: float | None
    try:
        if text[19:20] == "." and text[23:24] in (" ", ""):  # %m: .123 then the zone
            base = _second(text[:19] + text[23:])
            value = None if base is None else base + float(text[19:23])
        elif text[19:20] in (" ", ""):  # %t: whole seconds
            value = _second(text)
        else:
            value = _epoch_other(text)
    except (ValueError, OverflowError):  # a damaged stamp ("09:31:06.", "+²²"): no time
        value = None
    _last = (text, value)
    return value


def _second(key: str) -> float | None:
    """Epoch of ``YYYY-MM-DD HH:MM:SS[ TZ]``, cached."""
    base = _SECOND_CACHE.get(key)
    if base is None:
        base = _base_seconds(key[:19], key[20:])
        if base is None:
            return None
        if len(_SECOND_CACHE) >= _CACHE_MAX:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[key] = base
    return base


def _epoch_other(text: str) -> float | None:
    """A fraction that is not PostgreSQL's 3 digits, or an attached zone (uncached, rare)."""
    frac = 0.0
    rest = text[19:]
    if rest[:1] == ".":
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac = float(rest[:end])
        rest = rest[end:]
    base = _base_seconds(text[:19], rest.strip())
    return None if base is None else base + frac


def _base_seconds(stamp: str, tz: str) -> float | None:
    try:
        dt = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp() - tz_offset(tz)


def tz_offset(tz: str) -> float:
    """Seconds east of UTC for a zone abbreviation or numeric offset (``+03``, ``-0330``)."""
    if not tz:
        return 0.0
    if tz[0] in "+-":
        digits = tz[1:].replace(":", "")
        if not digits.isdigit():
            return 0.0
        hours = int(digits[:2])
        minutes = int(digits[2:4]) if len(digits) >= 4 else 0
        sign = -1 if tz[0] == "-" else 1
        return sign * (hours * 3600 + minutes * 60)
    return _TZ_HOURS.get(tz.upper(), 0) * 3600.0
