"""Profile rules: one module per rule id, run over every stored profile.

Each module has ``RULE_ID`` and ``detect(ctx: ProfileContext) -> Iterable[Finding]``; findings
use the query advisor's ``Finding`` shape, with ``evidence`` holding ``profile_id``, ``function``,
``file`` and ``line``. ``warnings`` says when a profile cannot show waits (recorded without
``--idle``), which every rule about waiting depends on.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import duckdb

from perftui.profiles import queries
from perftui.profiles.rules.common import (
    DEFAULT_INTERVAL_MS,
    NET_MODULES,
    ProfileContext,
    db_driver,
    is_wait_leaf,
    library_of,
)
from perftui.rules.base import Finding
from perftui.rules.registry import rank

# Module names under perftui.profiles.rules, in report order.
RULE_MODULES: tuple[str, ...] = (
    "db_wait",
    "blocking_io",
    "memoize_candidate",
    "serialization_hotspot",
    "import_time",
)

IDLE_RATIO = 0.5  # fewer samples per thread than this share of duration × rate: waits dropped
MIN_SAMPLES_FOR_GUESS = 50


def rules() -> list[ModuleType]:
    return [importlib.import_module(f"perftui.profiles.rules.{name}") for name in RULE_MODULES]


def rule_ids() -> list[str]:
    return [m.RULE_ID for m in rules()]


def contexts(con: duckdb.DuckDBPyConnection) -> list[ProfileContext]:
    return [ProfileContext(con, p) for p in queries.profiles(con)]


def detect_all(con: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> list[Finding]:
    """Every profile rule's findings over every stored profile, most impactful first."""
    found: list[Finding] = []
    for ctx in contexts(con):
        for module in rules():
            if only is None or module.RULE_ID in only:
                found.extend(module.detect(ctx))
    return rank(found)


def warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per profile whose waits are probably missing (recorded without --idle)."""
    out = []
    for ctx in contexts(con):
        why = _without_idle(ctx)
        if why:
            name = ctx.profile.name or ctx.profile.path or "?"
            out.append(
                f"profile {ctx.pid} ({name}): {why}; database and network waits are missing "
                "from it, so db-wait and blocking-io cannot see them. Record again with "
                "`perftui profile` (idle samples on by default) or `py-spy record --idle`."
            )
    return out


def _without_idle(ctx: ProfileContext) -> str | None:
    p = ctx.profile
    if p.recorded_with_idle is True:
        return None
    if p.recorded_with_idle is False:
        return "recorded without --idle"
    if p.weight_unit != "samples":
        return None
    if p.duration_s and p.duration_s > 0:
        interval = p.ms_per_weight or DEFAULT_INTERVAL_MS
        expected = p.duration_s * 1000.0 / interval * max(p.threads, 1)
        if expected >= MIN_SAMPLES_FOR_GUESS and p.total_samples < IDLE_RATIO * expected:
            return (
                f"only {p.total_samples:,} samples for {p.duration_s:.1f} s "
                f"(~{expected:,.0f} expected at {1000 / interval:.0f} Hz): it looks recorded "
                "without --idle"
            )
        return None
    if p.total_weight < MIN_SAMPLES_FOR_GUESS:
        return None
    # Without a duration: code that talks to a database or the network but never waits.
    talks = waits = 0
    rows = ctx.con.execute(
        "SELECT frame_ids, weight FROM stacks WHERE profile_id = ?", [ctx.pid]
    ).fetchall()
    frames = ctx.frames
    io_frames = {fid for fid, f in frames.items() if db_driver(f) or library_of(f, NET_MODULES, {})}
    for ids, weight in rows:
        if ids and is_wait_leaf(frames[ids[-1]]):
            waits += weight
        if io_frames.intersection(ids):
            talks += weight
    if talks and not waits:
        return (
            f"{talks:,} samples pass through database or network code but none waits in it: "
            "it looks recorded without --idle"
        )
    return None
