"""Query fingerprints, computed vectorised inside DuckDB (RE2), never with sqlglot.

The steps follow pt-query-digest's ``QueryRewriter::fingerprint`` run with
``--preserve-embedded-numbers`` (so ``users_2009`` stays), so MySQL logs group into the same
classes pt-query-digest reports; PostgreSQL adds ``$n`` placeholders, dollar quoting and keeps
``"quoted identifiers"``. The two steps RE2 cannot express (they need back-references) run in
Python on the few *distinct* fingerprints that need them.

>>> fingerprint_one("SELECT * FROM t WHERE a IN (1, 2,3) AND b = 'x' LIMIT 5, 10")
'select * from t where a in(?+) and b = ? limit ?'
"""

from __future__ import annotations

import hashlib
import re

import duckdb

from perftui.store.results import first


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _re(expr: str, pattern: str, repl: str, flags: str = "g") -> str:
    return f"regexp_replace({expr}, {_lit(pattern)}, {_lit(repl)}, {_lit(flags)})"


def fingerprint_sql(q: str, dialect: str) -> str:
    """A DuckDB SQL expression giving the fingerprint of column ``q``.

    ``dialect`` ('mysql' or 'postgres') is fixed per source, so it selects steps here rather than
    in SQL, keeping the expression linear in size.
    """
    x = q
    # Multi-row INSERT/REPLACE: keep the first tuple only, before anything else (pt step 2).
    x = _re(
        x,
        r"(?is)^(\s*(?:INSERT|REPLACE)(?:\s+IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\(.*$",
        r"\1",
        "",
    )
    x = literals_sql(x, dialect)
    # Whitespace folds, case folds. Written as "a run of 2+, or one that is not a space" rather
    # than \s+ (RE2's \s is [\t\n\f\r ]): the same result, but \s+ also matches and rewrites
    # every single space. The 65 k distinct statements of a 100 MB PostgreSQL log fingerprinted
    # in 0.85 s with \s+ and in 0.50 s with this.
    x = "lower(trim(" + _re(x, r"[\t\n\f\r ]{2,}|[\t\n\f\r]", " ") + "))"
    x = _re(x, r"\bnull\b", "?")
    x = _re(x, r"\b(in|values?)(?:[\s,]*\([\s?,]*\))+", r"\1(?+)")
    x = _re(x, r"\blimit \?(?:, ?\?| offset \?)?", "limit ?", "")
    special = (
        f"CASE WHEN regexp_matches({q}, '^SELECT /\\*!40001 SQL_NO_CACHE \\*/ \\* FROM `') "
        "THEN 'mysqldump' "
        f"WHEN contains({q}, '/*') AND regexp_matches({q}, '/\\*\\w+\\.\\w+:[0-9]/[0-9]\\*/') "
        "THEN 'percona-toolkit' "
        f"WHEN starts_with({q}, 'administrator command: ') THEN {q} "
        f"WHEN regexp_matches({q}, '(?i)^\\s*call\\s+\\S+\\(') "
        f"THEN lower(regexp_extract({q}, '(?i)^\\s*(call\\s+[^(\\s]+)', 1)) "
        f"WHEN regexp_matches({q}, '(?i)^\\s*use\\s+\\S+\\s*;?\\s*$') THEN 'use ?' "
        f"ELSE {x} END"
    )
    return special


def literals_sql(q: str, dialect: str) -> str:
    """A DuckDB SQL expression: column ``q`` without comments and with every literal as ``?``.

    The fingerprint's literal step, case and layout kept: what the Parquet export writes
    instead of a statement when literals are not wanted.
    """
    is_pg = dialect == "postgres"
    # Comments: /* */ except /*!version*/; -- to end of line (and # on MySQL).
    x = _re(q, r"(?s)/\*[^!].*?\*/", "")
    x = _re(x, r"(?m)--[^'\"\n]*$" if is_pg else r"(?m)(?:--|#)[^'\"\n]*$", "")
    # Literals in one pass (leftmost match wins, so a string swallows the digits inside it):
    # strings (MySQL: "..." too; PostgreSQL: "..." is an identifier, $tag$...$tag$ a string),
    # true/false, $n placeholders, and numbers that do not sit inside an identifier.
    x = _re(x, r"""\\["']""", "")
    quoted = r"\$([A-Za-z_]*)\$.*?\$[A-Za-z_]*\$" if is_pg else r'".*?"'
    x = _re(x, rf"(?s){quoted}|'.*?'|(?i:\bfalse\b|\btrue\b)|\$[0-9]+|\b[0-9+-][0-9a-f.xb+-]*", "?")
    return _re(x, r"[xb.+-]\?", "?")


# --- the post-steps RE2 cannot do, applied to distinct fingerprints only -----------------------

_UNION_RE = re.compile(r"\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+")
_ORDER_BY_RE = re.compile(r"\border by ", re.I)
_ASC_RE = re.compile(r"(.+?)\s+asc\b", re.I)


# Text a fingerprint contains when post_process may change it (the writer filters on these too).
POST_MARKERS = (" union ", " asc")


def needs_post(fp: str) -> bool:
    return any(marker in fp for marker in POST_MARKERS)


def post_process(fp: str) -> str:
    """pt-query-digest's repeated-UNION collapse and ORDER BY … ASC removal."""
    if " union " in fp:
        fp = _UNION_RE.sub(lambda m: f"{m.group(1)} /*repeat{m.group(2)}*/", fp)
    m = _ORDER_BY_RE.search(fp)
    if m and " asc" in fp[m.end() :]:
        head, tail = fp[: m.end()], fp[m.end() :]
        fp = head + _ASC_RE.sub(r"\1", tail)
    return fp


def class_id_sql(fp: str, dialect: str) -> str:
    """Class id: md5 of dialect + fingerprint, first 16 hex digits upper-cased.

    The dialect is part of the identity: the same text from a PostgreSQL and a MySQL log is two
    classes (their fixes are written in different SQL dialects).
    """
    prefix = "'" + dialect.replace("'", "") + " ' || "
    return f"upper(substr(md5({prefix}{fp}), 1, 16))"


def class_id(fp: str, dialect: str) -> str:
    """``class_id_sql`` in Python, for the few fingerprints finished in Python."""
    text = dialect.replace("'", "") + " " + fp
    return hashlib.md5(text.encode()).hexdigest()[:16].upper()


def attributes_sql(q: str = "query") -> dict[str, str]:
    """Per-entry values the fingerprint hides but the advisor needs (OFFSET, LIMIT, list sizes)."""

    def num(expr: str) -> str:
        return f"TRY_CAST(NULLIF({expr}, '') AS BIGINT)"

    return {
        "limit_value": "coalesce("
        + num(f"regexp_extract({q}, '(?i)\\blimit\\s+\\d+\\s*,\\s*(\\d+)', 1)")
        + ", "
        + num(f"regexp_extract({q}, '(?i)\\blimit\\s+(\\d+)', 1)")
        + ")",
        "offset_value": "coalesce("
        + num(f"regexp_extract({q}, '(?i)\\boffset\\s+(\\d+)', 1)")
        + ", "
        + num(f"regexp_extract({q}, '(?i)\\blimit\\s+(\\d+)\\s*,', 1)")
        + ")",
        "in_list_len": (
            f"CASE WHEN regexp_matches({q}, '(?i)\\bin\\s*\\(\\s*[^()\\s]') "
            f"AND NOT regexp_matches({q}, '(?i)\\bin\\s*\\(\\s*select\\b') "
            f"THEN length(regexp_extract({q}, '(?i)\\bin\\s*\\(([^()]*)\\)', 1)) - "
            f"length(replace(regexp_extract({q}, '(?i)\\bin\\s*\\(([^()]*)\\)', 1), ',', '')) + 1 "
            "END"
        ),
        "values_rows": (
            f"CASE WHEN regexp_matches({q}, '(?is)^\\s*(insert|replace)\\b.*\\bvalues?\\s*\\(') "
            f"THEN len(regexp_extract_all({q}, '\\)\\s*,\\s*\\(')) + 1 END"
        ),
    }


_con: duckdb.DuckDBPyConnection | None = None


def fingerprint_one(query: str, dialect: str = "mysql") -> str:
    """Fingerprint one statement (tests, the CLI's ``compare``); bulk work uses the SQL form."""
    global _con
    if _con is None:
        _con = duckdb.connect()
    row = first(_con.execute(f"SELECT {fingerprint_sql('$q', dialect)}", {"q": query}))
    fp = row[0]
    return post_process(fp) if needs_post(fp) else fp
