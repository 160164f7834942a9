"""import-time: a large share of samples spent importing modules.

Import machinery frames (``_find_and_load`` in ``<frozen importlib._bootstrap>``) mark the
samples; the first ``<module>`` frame below them names what was being imported, and the
application frame above them the ``import`` line that triggered it. Startup time matters for
command-line tools, tests and serverless handlers; a long-running server pays it once.
"""

from __future__ import annotations

from collections.abc import Iterator

from perftui.profiles.rules.common import (
    Hit,
    ProfileContext,
    group_weights,
    pct,
    severity_for_share,
)
from perftui.rules.base import Finding

RULE_ID = "import-time"
MIN_SHARE = 0.10
MIN_MS = 100.0


def _imported(h: Hit) -> str:
    """The module being imported: the first module-level frame below the import machinery."""
    for f in h.chain:
        if f.function == "<module>" and f.kind != "import":
            return f.module or f.file or "?"
    return "?"


def detect(ctx: ProfileContext) -> Iterator[Finding]:
    hits = ctx.first_hits(ctx.frame_ids(lambda f: f.kind == "import"), imports=True)
    if not hits:
        return
    weight = sum(h.weight for h in hits)
    share = ctx.share(weight)
    ms = ctx.ms(weight)
    if share < MIN_SHARE or ms < MIN_MS:
        return
    modules = group_weights(hits, _imported)[:5]
    sites = [
        {**f.where(), "samples": w, "statement": ctx.finder.line_text(f.file, f.line)}
        for f, w in group_weights([h for h in hits if h.site], lambda h: h.site)[:5]
    ]
    startup = sum(h.weight for h in hits if h.site is None)
    detail = (
        f"Imports hold {weight:,} samples ({pct(share)}, ~{ms:,.0f} ms{ctx.timing_note()}). "
        "Heaviest: " + ", ".join(f"{m} ({pct(ctx.share(w))})" for m, w in modules) + "."
    )
    if sites:
        s = sites[0]
        stmt = f" (`{s['statement']}`)" if s["statement"] else ""
        detail += f" Triggered mostly at {s['function']} ({s['file']}:{s['line']}){stmt}."
    if startup:
        detail += f" {pct(ctx.share(startup))} is interpreter startup (site, .pth files)."
    top = sites[0] if sites else {"function": None, "file": None, "line": None}
    evidence = {
        **ctx.base_evidence(),
        "function": top["function"],
        "file": top["file"],
        "line": top["line"],
        "samples": weight,
        "share": round(share, 4),
        "ms": round(ms, 1),
        "modules": [{"module": m, "samples": w} for m, w in modules],
        "import_sites": sites,
    }
    yield Finding(
        rule=RULE_ID,
        severity=severity_for_share(share, 1.01, 0.30),
        title=f"Imports take {pct(share)} of samples (~{ms:,.0f} ms)",
        detail=detail,
        fix=(
            "Import heavy modules where they are used (inside the function that needs them), "
            "or defer them with `importlib.util.LazyLoader`; drop imports nothing uses. Measure "
            "each module with `python -X importtime app.py 2> imports.txt` (tuna draws it). "
            "Worth it for CLIs, tests and serverless handlers; a long-running server pays it once."
        ),
        impact_ms=ms,
        evidence=evidence,
    )
