"""serialization-hotspot: json, pickle or compression holding a large share of the samples.

Encoding, decoding and compressing are pure CPU and often repeated for the same data (the same
response encoded per request, a cache value pickled on every write). Imports of these modules
do not count (``import-time`` reports those).
"""

from __future__ import annotations

from collections.abc import Iterator

from perftui.profiles.rules.common import (
    SERIALIZATION_MODULES,
    SERIALIZATION_NATIVE,
    FrameRow,
    Hit,
    ProfileContext,
    group_weights,
    library_of,
    pct,
    severity_for_share,
)
from perftui.rules.base import Finding

RULE_ID = "serialization-hotspot"
MIN_SHARE = 0.10

FIXES = {
    "json": "a faster encoder (`orjson.dumps` / `msgspec.json.encode`, several times faster "
    "than the stdlib), or encode once and cache the bytes when the same object is sent again",
    "pickle": "`pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)`, pickle less (only the "
    "fields needed), or cache the pickled bytes",
    "gzip": "a lower level (`gzip.compress(data, compresslevel=5)`: the default 9 is slow for "
    "little gain), zstandard, or compress once and cache",
    "zlib": "a lower level (`zlib.compress(data, 1..6)`), zstandard, or compress once and cache",
    "bz2": "zstandard or gzip at a low level instead (bz2 is the slowest common codec)",
    "lzma": "zstandard instead, or a lower preset",
    "zstandard": "a lower level, or compress once and cache",
    "yaml": "`yaml.load(f, Loader=yaml.CSafeLoader)` (the C loader), or JSON for data",
    "msgpack": "cache the packed bytes when the same object is packed again",
}


def _library(f: FrameRow) -> str | None:
    return library_of(f, SERIALIZATION_MODULES, SERIALIZATION_NATIVE)


def detect(ctx: ProfileContext) -> Iterator[Finding]:
    hits = [
        h
        for h in ctx.first_hits(ctx.frame_ids(lambda f: _library(f) is not None))
        if h.hit.function != "<module>"
    ]
    for library, weight in group_weights(hits, lambda h: _library(h.hit)):
        share = ctx.share(weight)
        if share < MIN_SHARE:
            continue
        mine = [h for h in hits if _library(h.hit) == library]
        yield _finding(ctx, library, weight, share, mine)


def _finding(
    ctx: ProfileContext, library: str, weight: int, share: float, hits: list[Hit]
) -> Finding:
    ms = ctx.ms(weight)
    sites = [
        {**f.where(), "samples": w}
        for f, w in group_weights([h for h in hits if h.site], lambda h: h.site)[:3]
    ]
    funcs = group_weights(hits, lambda h: h.hit.function)[:3]
    where = ""
    if sites:
        s = sites[0]
        where = f" Most of it under `{s['function']}` ({s['file']}:{s['line']})."
    detail = (
        f"{library} holds {weight:,} samples ({pct(share)}, ~{ms:,.0f} ms{ctx.timing_note()}), "
        f"entered through {', '.join(f'`{name}`' for name, _w in funcs)}.{where}"
    )
    top = sites[0] if sites else {"function": None, "file": None, "line": None}
    evidence = {
        **ctx.base_evidence(),
        "function": top["function"],
        "file": top["file"],
        "line": top["line"],
        "library": library,
        "samples": weight,
        "share": round(share, 4),
        "ms": round(ms, 1),
        "call_sites": sites,
        "entry_functions": [name for name, _w in funcs],
    }
    return Finding(
        rule=RULE_ID,
        severity=severity_for_share(share, 0.40, 0.20),
        title=f"{library} takes {pct(share)} of samples"
        + (f" (mostly below {top['function']}, {top['file']}:{top['line']})" if sites else ""),
        detail=detail,
        fix=f"Use {FIXES.get(library, 'a faster library, or cache the encoded result')}.",
        impact_ms=ms,
        evidence=evidence,
    )
