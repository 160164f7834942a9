"""Number and text formatting shared by the screens, so every screen writes times the same way."""

from __future__ import annotations

import datetime as dt

from rich.text import Text

from perftui.textsafe import clean

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def ms(value: float | None) -> str:
    """A duration in the unit a person reads fastest (µs, ms, s, min, h)."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    if value < 1000:
        return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 120:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def count(value: int | float | None) -> str:
    """A count with thousands separators, shortened above a million to keep columns narrow."""
    if value is None:
        return "–"
    value = int(value)
    if abs(value) >= 10_000_000:
        return f"{value / 1_000_000:.1f}M"
    return f"{value:,}"


def share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "–"


def when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def span(first: dt.datetime | None, last: dt.datetime | None) -> str:
    """How long a time range lasts, e.g. ``25 s`` or ``3.2 h``."""
    if first is None or last is None:
        return "–"
    return ms((last - first).total_seconds() * 1000)


def one_line(text: str | None, width: int | None = None) -> Text:
    """Untrusted text as a literal one-line ``Text``, cut to ``width`` with an ellipsis."""
    plain = clean(text, one_line=True)
    if width is not None and len(plain) > width:
        plain = plain[: max(width - 1, 0)] + "…"
    return Text(plain)


def severity(name: str) -> Text:
    return Text(f"{name:<8}", style=SEVERITY_STYLE.get(name, ""))


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of block characters, with eighths so small values still show."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(8 * width * value / top))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])
