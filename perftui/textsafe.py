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


# A quoted value: shell quotes, or an ODBC brace value ("}}" is an escaped brace).
_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\{(?:[^}]|\}\})*\}"""
# One command-line argument: quoted parts and bare parts up to whitespace; an unmatched quote
# inside it is part of it (py-spy prints command lines unquoted, so a password may hold one), one
# at its end is left (it closes the string the command line sits in).
_ARG = rf"""(?:{_QUOTED}|[^\s'"]|['"](?=\S))+"""
# scheme://user:secret@host (``_mask_url_words``): where a URL starts, and its word.
_URL_START = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://")
_WORD = re.compile(r"\S*")
# name=value / name: value where the name ends in password, passwd or pwd: libpq and ODBC strings,
# URL query strings, --password=…, environment assignments (PGPASSWORD=…, MYSQL_PWD=…), JSON.
_KEY_SECRET = re.compile(
    rf"(?i)(\b\w*?(?:password|passwd|pwd)[\"']?\s*[=:]\s*)({_QUOTED}|[^&\s;'\"]*)"
)
# --password VALUE / --db-password VALUE: a separate argument (not one that is itself a flag).
_FLAG_SECRET = re.compile(rf"(?i)(--[\w-]*?(?:password|passwd|pwd)\s+)(?!-){_ARG}")
# The MySQL / MariaDB clients (mysql, mysqldump, mariadb-dump, mysqladmin …) take the password
# attached to -p ("-pSECRET"); elsewhere -p5432 is a port, so it is masked only on such a line.
_MYSQL_CLIENT = re.compile(r"(?i)(?:^|[\s/\\\"'])(?:mysql|mariadb)[\w-]*(?:\.exe)?(?=[\s\"']|$)")
_MYSQL_P = re.compile(rf"""(?<![^\s"'])(-p){_ARG}""")


def _mask_url_words(text: str) -> str:
    """``scheme://user:secret@…`` for mysql://, postgresql://, mysql+pymysql:// and any other
    scheme: the secret runs to the last '@' of the whitespace-separated word, as passwords may
    hold '@', and raw '/', '?' or '#' (RFC 3986 wants them percent-encoded; people type them
    anyway). Ambiguous text is masked too ("host:8443/users/@me"
    reads like the password "8443/users/"): a hidden path costs less than a shown password.
    String scans, no regex backtracking: a regex form of this was cubic in the word's length
    (a 6 KB command line took 5.7 s)."""
    out: list[str] = []
    pos = end = at = 0
    for m in _URL_START.finditer(text):
        start = m.end()
        if m.start() < pos:
            continue
        if start >= end:  # a new word: its end and last '@' once, not per URL in it
            end = _WORD.match(text, start).end()
            at = text.rfind("@", start, end)
        colon = text.find(":", start, end)  # stops at the next URL's "://" at the latest
        if 0 <= colon < at and not any(c in text[start:colon] for c in "/?#@"):
            out.append(text[pos : colon + 1] + "***")
            pos = at
    return "".join(out) + text[pos:] if out else text


def redact_credentials(text: str) -> str:
    """``text`` with passwords replaced by ``***``: in URLs, ``password=…``-style pairs and
    variables, ``--password …`` arguments and, on a MySQL client's command line, ``-p…``.

    ``-p`` with a separate argument is left alone (to the mysql client it means "prompt", and the
    next word is the database; to psql, ssh … it is a port), as is ``-p5432`` for other programs.

    >>> redact_credentials('python app.py --dsn postgresql://app:s3@cret@db/shop password=x')
    'python app.py --dsn postgresql://app:***@db/shop password=***'
    >>> redact_credentials('PGPASSWORD=x psql -p 5432 -U app; mysqldump -uroot -pS3cret shop')
    'PGPASSWORD=*** psql -p 5432 -U app; mysqldump -uroot -p*** shop'
    """
    out = _mask_url_words(text)
    out = _KEY_SECRET.sub(r"\1***", out)
    out = _FLAG_SECRET.sub(r"\1***", out)
    if _MYSQL_CLIENT.search(out):
        out = _MYSQL_P.sub(r"\1***", out)
    return out
