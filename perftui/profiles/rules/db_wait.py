"""db-wait: samples spent inside database drivers, and the application call sites above them.

With ``--idle`` py-spy samples a thread that waits for the server, so the share of samples under
a driver's execute is the share of wall time the program spent in round trips. The finding names
the application frame just above the driver (the line that issues the query) and its caller
(often the loop), which is what ``link`` matches against the query findings of the same run.
C drivers (psycopg2, mysqlclient, sqlite3) show no Python frames: there the application frame
itself is the leaf, and its source line (``cur.execute(…)``) says it is a database call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from perftui.profiles.rules.common import (
    HEAD_FRAMES,
    FrameRow,
    Hit,
    ProfileContext,
    called_from,
    callers,
    db_driver,
    group_weights,
    main_path,
    pct,
    severity_for_share,
)
from perftui.rules.base import Finding

RULE_ID = "db-wait"
MIN_SHARE = 0.05  # of all samples, per call site
MIN_MS = 1000.0  # or this much time, whatever the share
MAX_SITES = 5
C_DRIVER = "a C driver (psycopg2 / mysqlclient / sqlite3: no Python frames without --native)"
_DB_CALL = re.compile(
    r"\.(execute|executemany|executescript|fetchone|fetchall|fetchmany|"
    r"callproc|copy_expert|copy_from|copy_to|commit)\s*\("
)


def detect(ctx: ProfileContext) -> Iterator[Finding]:
    hits = ctx.first_hits(ctx.frame_ids(lambda f: db_driver(f) is not None))
    hits += _c_driver_hits(ctx)
    if not hits:
        return
    db_weight = sum(h.weight for h in hits)
    sites = group_weights(hits, lambda h: h.site.frame_id if h.site else None)
    for site_id, weight in sites[:MAX_SITES]:
        if site_id is None:
            continue
        if ctx.share(weight) < MIN_SHARE and ctx.ms(weight) < MIN_MS:
            continue
        mine = [h for h in hits if h.site is not None and h.site.frame_id == site_id]
        yield _finding(ctx, ctx.frames[site_id], weight, mine, db_weight)


def _c_driver_hits(ctx: ProfileContext) -> list[Hit]:
    """Application leaves whose source line calls a DB-API method (the driver is C code)."""
    checked: dict[int, bool] = {}
    out = []
    rows = ctx.con.execute(
        "SELECT weight, thread, frame_ids FROM stacks WHERE profile_id = ?"
        " AND frame_ids[-1] IN (SELECT frame_id FROM frames WHERE profile_id = ?"
        " AND kind = 'application')",
        [ctx.pid, ctx.pid],
    ).fetchall()
    for weight, thread, ids in rows:
        leaf = ctx.frames[ids[-1]]
        if leaf.frame_id not in checked:
            text = ctx.finder.line_text(leaf.file, leaf.line)
            checked[leaf.frame_id] = bool(text and _DB_CALL.search(text))
        if not checked[leaf.frame_id] or any(db_driver(ctx.frames[i]) for i in ids):
            continue
        caller = ctx.frames[ids[-2]] if len(ids) > 1 else None
        head = tuple(ctx.frames[i] for i in ids[:HEAD_FRAMES])
        out.append(
            Hit(
                weight=weight,
                thread=thread,
                hit=leaf,
                site=leaf,
                site_caller=caller,
                chain=(leaf,),
                head=head,
                main_thread=ctx.is_main_thread(thread, head),
            )
        )
    return out


def _driver_name(h: Hit) -> str:
    return db_driver(h.hit) or C_DRIVER


def _finding(
    ctx: ProfileContext, site: FrameRow, weight: int, hits: list[Hit], db_weight: int
) -> Finding:
    share = ctx.share(weight)
    driver = group_weights(hits, _driver_name)[0][0]
    path = main_path(hits)
    found_callers = callers(hits)
    sql = ctx.finder.sql_at(site.file, site.line, site.function)
    ms = ctx.ms(weight)
    caller_text = called_from(found_callers)
    detail = (
        f"{weight:,} of {ctx.profile.total_weight:,} samples ({pct(share)}, ~{ms:,.0f} ms"
        f"{ctx.timing_note()}) wait in {driver} below `{site.function}` "
        f"({site.file}:{site.line}){caller_text}. Into the driver: {' → '.join(path)}. "
        f"In all {pct(ctx.share(db_weight))} of the profile's samples are inside database "
        "drivers."
    )
    if sql:
        detail += f" The call site issues: `{' '.join(sql[0].split())[:160]}`."
    loop = f" (`{found_callers[0]['function']}` looks like the loop)" if found_callers else ""
    fix = (
        "Each sample here is the program waiting for a round trip. Read the query findings "
        "from the same run for this call site: an N+1 there means one query per item of a "
        f"loop{loop} — fetch all rows in one statement (`WHERE key = ANY(%s)` / `IN (…)`, or a "
        "JOIN with the parent query) or load them eagerly with the ORM (`selectinload`, "
        "`prefetch_related`); a slow query means its index or rewrite. Cache results that do "
        "not change, and run independent queries concurrently."
    )
    evidence = {
        **ctx.base_evidence(),
        **site.where(),
        "samples": weight,
        "share": round(share, 4),
        "ms": round(ms, 1),
        "driver": driver,
        "driver_path": path,
        "callers": found_callers,
        "db_samples": db_weight,
        "db_share": round(ctx.share(db_weight), 4),
    }
    if sql:
        evidence["sql"] = sql[:3]
    return Finding(
        rule=RULE_ID,
        severity=severity_for_share(share, 0.30, 0.10),
        title=f"{pct(share)} of samples wait on the database below {site.function} "
        f"({site.file}:{site.line})",
        detail=detail,
        fix=fix,
        impact_ms=ms,
        evidence=evidence,
    )
