"""Log text is untrusted: make it safe for a terminal before anyone displays it.

Escape sequences (CSI, OSC, …) and other control characters are removed; Rich markup is never
interpreted because callers wrap the result in ``rich.text.Text`` (see ``safe_text``).
Credentials (a DSN's password in a profiled program's command line…) are masked by
``redact_credentials`` before such text is stored or shown.
"""

from __future__ import annotations

import re

from rich.text import Text

# ESC-introduced sequences (CSI / OSC / DCS …), then any remaining C0/C1 control except \t and \n.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC … BEL / ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]?"  # other 2-byte escapes / lone ESC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def clean(text: str | None, *, one_line: bool = False) -> str:
    """``text`` without terminal control sequences; newlines folded to spaces if ``one_line``."""
    if not text:
        return ""
    out = _ESCAPES.sub("", text)
    if one_line:
        out = " ".join(out.split())
    return out


def safe_text(text: str | None, style: str = "", *, one_line: bool = False) -> Text:
    """A Rich ``Text`` holding the cleaned string literally (``[bold]`` stays visible as such)."""
    return Text(clean(text, one_line=one_line), style=style)


# scheme://user:secret@host: the secret runs to the last '@' of the authority (passwords may hold
# '@'); password= / passwd= / pwd= values in query strings, libpq and ODBC strings, flags.
_URL_SECRET = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/?#@]*:)[^\s/?#]*@")
_KEY_SECRET = re.compile(
    r"(?i)(\b(?:password|passwd|pwd)\s*[=:]\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^&\s;'\"]*)"
)


def redact_credentials(text: str) -> str:
    """``text`` with URL passwords and ``password=…`` values replaced by ``***``.

    >>> redact_credentials('python app.py --dsn postgresql://app:s3@cret@db/shop password=x')
    'python app.py --dsn postgresql://app:***@db/shop password=***'
    """
    return _KEY_SECRET.sub(r"\1***", _URL_SECRET.sub(r"\1***@", text))
