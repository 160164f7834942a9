"""blocking-io: the main thread waiting on the network, one request after another.

A synchronous HTTP/socket call on the main thread blocks everything behind it; several of them
in a row add up their latencies. With ``--idle`` these waits are samples under ``socket``,
``ssl``, ``http.client``, ``urllib3``, ``requests``, ``httpx``…; stacks that are database waits
(a driver above the socket) belong to ``db-wait``, and asyncio's event loop waiting for events
is not blocking.
"""

from __future__ import annotations

from collections.abc import Iterator

from perftui.profiles.rules.common import (
    NET_MODULES,
    FrameRow,
    Hit,
    ProfileContext,
    called_from,
    callers,
    db_driver,
    group_weights,
    library_of,
    main_path,
    pct,
    severity_for_share,
)
from perftui.rules.base import Finding

RULE_ID = "blocking-io"
MIN_SHARE = 0.10  # of the main thread's samples, per call site
MIN_MS = 1000.0
MAX_SITES = 5


def _net(f: FrameRow) -> str | None:
    return library_of(f, NET_MODULES, {}) if db_driver(f) is None else None


def detect(ctx: ProfileContext) -> Iterator[Finding]:
    # A socket under a database driver is db-wait's; under asyncio the loop is not blocked.
    not_under = ctx.frame_ids(
        lambda f: db_driver(f) is not None or (f.module or "").startswith("asyncio")
    )
    hits = [
        h
        for h in ctx.first_hits(ctx.frame_ids(lambda f: _net(f) is not None), not_under=not_under)
        if h.main_thread
    ]

    if not hits:
        return
    main_weight = ctx.main_weight
    sites = group_weights(hits, lambda h: h.site.frame_id if h.site else None)
    for site_id, weight in sites[:MAX_SITES]:
        if site_id is None:
            continue
        share = weight / main_weight if main_weight else 0.0
        if share < MIN_SHARE and ctx.ms(weight) < MIN_MS:
            continue
        mine = [h for h in hits if h.site is not None and h.site.frame_id == site_id]
        yield _finding(ctx, ctx.frames[site_id], weight, share, mine)


def _finding(
    ctx: ProfileContext, site: FrameRow, weight: int, share: float, hits: list[Hit]
) -> Finding:
    ms = ctx.ms(weight)
    client = group_weights(hits, lambda h: _net(h.hit) or "socket")[0][0]
    path = main_path(hits)
    found_callers = callers(hits)
    caller_text = called_from(found_callers)
    detail = (
        f"The main thread waits on the network in {client} below `{site.function}` "
        f"({site.file}:{site.line}){caller_text}: {weight:,} samples, {pct(share)} of the main "
        f"thread's (~{ms:,.0f} ms{ctx.timing_note()}). Into the client: {' → '.join(path)}. "
        "While it waits, nothing else on that thread runs, and calls made one after another "
        "add up their latencies."
    )
    fix = (
        "Overlap the waits instead of queueing them:\n"
        "    from concurrent.futures import ThreadPoolExecutor\n"
        "    with ThreadPoolExecutor(max_workers=8) as pool:\n"
        "        results = list(pool.map(fetch, urls))\n"
        "or with asyncio:\n"
        "    async with httpx.AsyncClient(timeout=10) as client:\n"
        "        results = await asyncio.gather(*(client.get(u) for u in urls))\n"
        "Reuse one `requests.Session` / `httpx.Client` so connections stay open, set timeouts, "
        "and cache responses that do not change."
    )
    evidence = {
        **ctx.base_evidence(),
        **site.where(),
        "samples": weight,
        "share_of_main_thread": round(share, 4),
        "ms": round(ms, 1),
        "client": client,
        "client_path": path,
        "callers": found_callers,
    }
    return Finding(
        rule=RULE_ID,
        severity=severity_for_share(share, 0.50, 0.20),
        title=f"Main thread blocks on {client} below {site.function} ({site.file}:{site.line}): "
        f"{pct(share)} of its samples",
        detail=detail,
        fix=fix,
        impact_ms=ms,
        evidence=evidence,
    )
