"""Link the log's ``n-plus-one`` findings to the profile call sites that issue those queries.

A ``db-wait`` finding names the application frame just above the driver's execute; its source
line shows the SQL it sends (py-spy does not record arguments, so the SQL is read from the file
the frame names, when it can be found). A link is made when that SQL has the same fingerprint as
the N+1's repeated statement, or else reads the same tables; when both the profile's recording
time and the log's timestamps are known, the two must overlap. When nothing matches, or two call
sites match equally, the N+1 gets a link entry saying so instead of a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import duckdb

from perftui.fingerprint import fingerprint_one
from perftui.profiles import queries
from perftui.profiles.rules.common import ProfileContext
from perftui.profiles.source import tables_in
from perftui.rules.base import Finding
from perftui.store.results import first

TIME_SLACK = dt.timedelta(seconds=2)
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\?|(?<![:\w]):\w+|\$\d+")
_STRENGTH = {"sql-text": 3, "tables": 2, "time-window": 1}


@dataclass
class _Site:
    finding: Finding
    profile: queries.Profile
    sql: list[str]
    fingerprints: set[str]
    tables: set[str]

    @property
    def label(self) -> str:
        e = self.finding.evidence
        return f"{e.get('function')} ({e.get('file')}:{e.get('line')})"


def link(
    con: duckdb.DuckDBPyConnection,
    query_findings: list[Finding],
    profile_findings: list[Finding],
) -> list[str]:
    """Add ``links`` to matching n-plus-one and db-wait findings (in place); returns one line
    per n-plus-one finding that could not be linked, saying why."""
    n_plus_ones = [f for f in query_findings if f.rule == "n-plus-one"]
    profiles = {p.profile_id: p for p in queries.profiles(con)}
    if not n_plus_ones or not profiles:
        return []
    sites = [_site(con, f, profiles) for f in profile_findings if f.rule == "db-wait"]
    sites = [s for s in sites if s is not None]
    notes = []
    for q in n_plus_ones:
        reason = _link_one(con, q, sites, profiles)
        if reason is not None:
            q.links.append(
                {
                    "kind": "profile-call-site",
                    "rule": "db-wait",
                    "profile_id": None,
                    "match": None,
                    "reason": reason,
                }
            )
            rep = q.evidence.get("repeated_class_id")
            notes.append(f"n-plus-one {rep}: not linked to a profile call site: {reason}")
    return notes


def _site(
    con: duckdb.DuckDBPyConnection, f: Finding, profiles: dict[int, queries.Profile]
) -> _Site | None:
    profile = profiles.get(f.evidence.get("profile_id"))
    if profile is None:
        return None
    sql = list(f.evidence.get("sql") or [])
    if not sql:
        ctx = ProfileContext(con, profile)
        sql = ctx.finder.sql_at(
            f.evidence.get("file"), f.evidence.get("line"), f.evidence.get("function")
        )
    tables = set().union(*(tables_in(s) for s in sql)) if sql else set()
    return _Site(f, profile, sql, set(), tables)


def _fingerprints(site: _Site, dialect: str) -> set[str]:
    if not site.fingerprints and site.sql:
        site.fingerprints = {fingerprint_one(_PLACEHOLDER.sub("0", s), dialect) for s in site.sql}
    return site.fingerprints


def _link_one(
    con: duckdb.DuckDBPyConnection,
    q: Finding,
    sites: list[_Site],
    profiles: dict[int, queries.Profile],
) -> str | None:
    """Link ``q`` to its best call site per profile; the reason when there is none."""
    rep = q.evidence.get("repeated_class_id")
    row = first(
        con.execute(
            "SELECT c.fingerprint, c.dialect, coalesce(c.tables, []),"
            " (SELECT min(ts) FROM entries e WHERE e.class_id = c.class_id),"
            " (SELECT max(ts) FROM entries e WHERE e.class_id = c.class_id)"
            " FROM query_classes c WHERE c.class_id = ?",
            [rep],
        )
    )
    if row is None:
        return f"class {rep} is not in the store"
    fingerprint, dialect, class_tables, first_ts, last_ts = row
    tables = {t.rsplit(".", 1)[-1].lower() for t in (class_tables or q.tables)}
    if not sites:
        return (
            f"no profile ({_names(profiles)}) shows a call site waiting on the database "
            "(db-wait found nothing)"
        )
    by_profile: dict[int, list[tuple[int, _Site, str, str]]] = {}
    rejected: list[str] = []
    for site in sites:
        match, why = _match(site, fingerprint, dialect, tables, first_ts, last_ts)
        if match is None:
            rejected.append(f"{site.label} in profile {site.profile.profile_id}: {why}")
            continue
        by_profile.setdefault(site.profile.profile_id, []).append(
            (_STRENGTH[match], site, match, why)
        )
    linked = False
    for pid, candidates in sorted(by_profile.items()):
        best = max(c[0] for c in candidates)
        top = [c for c in candidates if c[0] == best]
        if len(top) > 1 and best < _STRENGTH["sql-text"]:
            rejected.append(
                f"profile {pid}: {len(top)} call sites match equally "
                f"({', '.join(c[1].label for c in top)}), not guessing"
            )
            continue
        for _strength, site, match, why in top:
            _add_links(q, site, rep, fingerprint, match, why)
            linked = True
    if linked:
        return None
    return "; ".join(rejected) if rejected else "no call site matched"


def _match(
    site: _Site,
    fingerprint: str,
    dialect: str,
    tables: set[str],
    first_ts: dt.datetime | None,
    last_ts: dt.datetime | None,
) -> tuple[str | None, str]:
    """(match kind or None, the reason in words)."""
    p = site.profile
    timed = None not in (p.started_at, p.ended_at, first_ts, last_ts)
    if timed and (last_ts < p.started_at - TIME_SLACK or first_ts > p.ended_at + TIME_SLACK):
        return None, "recorded at another time than the queries ran"
    when = (
        "during the recording"
        if timed
        else "recording time unknown (a profile file), so matched by SQL alone"
    )
    if site.sql:
        shown = " ".join(site.sql[0].split())[:120]
        if fingerprint in _fingerprints(site, dialect):
            return "sql-text", f"issues `{shown}`, the N+1's repeated statement; {when}"
        if tables and tables <= site.tables:
            return "tables", (
                f"issues `{shown}` on {', '.join(sorted(tables))} (same tables, other SQL); {when}"
            )
        return None, f"issues other SQL (`{shown}`)"
    if timed:
        return (
            "time-window",
            "its SQL is not visible, but it waited on the database while the N+1 ran",
        )
    return None, "its SQL is not visible (source file not found) and the recording time is unknown"


def _add_links(q: Finding, site: _Site, rep: str, fingerprint: str, match: str, why: str) -> None:
    f = site.finding
    e = f.evidence
    callers = e.get("callers") or []
    loop = (
        f", called from {callers[0]['function']} ({callers[0]['file']}:{callers[0]['line']}),"
        if callers
        else ""
    )
    q.links.append(
        {
            "kind": "profile-call-site",
            "rule": "db-wait",
            "profile_id": site.profile.profile_id,
            "function": e.get("function"),
            "file": e.get("file"),
            "line": e.get("line"),
            "samples": e.get("samples"),
            "share": e.get("share"),
            "match": match,
            "reason": f"{site.label}{loop} {why}; {e.get('share', 0):.0%} of profile "
            f"{site.profile.profile_id}'s samples wait there",
        }
    )
    f.links.append(
        {
            "kind": "query-finding",
            "rule": "n-plus-one",
            "class_id": rep,
            "query_class_ids": list(q.query_class_ids),
            "repeated_class_id": rep,
            "match": match,
            "reason": f"this call site runs class {rep} (`{fingerprint[:80]}`), which the log "
            f"shows once per row of class {q.evidence.get('source_class_id')} "
            f"({q.evidence.get('executions')} executions); {why}",
        }
    )


def _names(profiles: dict[int, queries.Profile]) -> str:
    return ", ".join(f"{pid} {p.name or p.path}" for pid, p in sorted(profiles.items()))
