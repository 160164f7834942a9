"""memoize-candidate: a pure-looking function that recomputes the same results.

Sampling cannot count calls, but two shapes give it away: a function found many levels deep in
its own stack (naive recursion such as ``fib``, re-solving the same sub-problems), and a function
that holds a large share of samples in its own code with nothing but computation below it. The
candidate must look pure: no database, network or waiting below it in the profile and, when its
source is found, no I/O, globals, mutation of its arguments or randomness in its body.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from perftui.profiles.rules.common import (
    NET_MODULES,
    FrameRow,
    ProfileContext,
    db_driver,
    is_wait_leaf,
    library_of,
    pct,
    severity_for_share,
)
from perftui.profiles.source import FunctionSource
from perftui.rules.base import Finding

RULE_ID = "memoize-candidate"
MIN_RECURSION = 5  # frames of the function in one stack
MIN_RECURSIVE_SHARE = 0.05
MIN_DOMINANT_SHARE = 0.20
MIN_SELF_FRACTION = 0.5  # of the function's total, in its own code (recursion included)
MAX_IO_FRACTION = 0.05

# fmt: off
_IMPURE_CALLS = frozenset((
    "print", "open", "input", "write", "writelines", "send", "sendall", "recv", "execute",
    "executemany", "commit", "rollback", "sleep", "random", "randint", "choice", "shuffle",
    "uniform", "time", "time_ns", "monotonic", "perf_counter", "now", "today", "uuid4", "urandom",
    "getenv", "request", "urlopen", "post",
))
# fmt: on


def detect(ctx: ProfileContext) -> Iterator[Finding]:
    rows = ctx.con.execute(
        "SELECT func_id, function, file, first_line, self, total, max_recursion FROM functions"
        " WHERE profile_id = ? AND kind = 'application' AND total > 0 AND function <> '<module>'"
        " ORDER BY total DESC, func_id",
        [ctx.pid],
    ).fetchall()
    for func_id, function, file, first_line, self_w, total, depth in rows:
        share = ctx.share(total)
        recursive = depth >= MIN_RECURSION and share >= MIN_RECURSIVE_SHARE
        dominant = share >= MIN_DOMINANT_SHARE and self_w >= MIN_SELF_FRACTION * total
        if not (recursive or dominant):
            continue
        io = _io_weight(ctx, func_id)
        if io > MAX_IO_FRACTION * total:
            continue
        src = ctx.finder.function(file, function)
        impure = _impurities(src) if src is not None else []
        if impure:
            continue
        if dominant and not recursive and src is None:
            continue  # without recursion, only the source can say it is pure
        yield _finding(
            ctx, func_id, function, file, first_line, self_w, total, depth, recursive, src
        )


def _io_weight(ctx: ProfileContext, func_id: int) -> int:
    """Weight of stacks through the function that reach I/O or a wait below it."""
    fids = [f.frame_id for f in ctx.frames.values() if f.func_id == func_id]
    rows = ctx.con.execute(
        "SELECT frame_ids, weight FROM stacks WHERE profile_id = ?"
        " AND list_has_any(frame_ids, ?::INTEGER[])",
        [ctx.pid, fids],
    ).fetchall()
    mine = set(fids)
    io = 0
    for ids, weight in rows:
        first = next(i for i, f in enumerate(ids) if f in mine)
        below = [ctx.frames[f] for f in ids[first + 1 :]]
        if any(_is_io(f) for f in below) or (below and is_wait_leaf(below[-1])):
            io += weight
    return io


def _is_io(f: FrameRow) -> bool:
    return db_driver(f) is not None or library_of(f, NET_MODULES, {}) is not None


def _impurities(src: FunctionSource) -> list[str]:
    """Why the body does not look pure (empty: it does)."""
    why = []
    params = {a.arg for a in ast.walk(src.node.args) if isinstance(a, ast.arg)}
    for node in ast.walk(src.node):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            why.append("global/nonlocal state")
        elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            why.append("generator/coroutine")
        elif isinstance(node, ast.Call):
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else (node.func.id if isinstance(node.func, ast.Name) else None)
            )
            if name in _IMPURE_CALLS:
                why.append(f"calls {name}()")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)):
                    base = t.value
                    while isinstance(base, (ast.Attribute, ast.Subscript)):
                        base = base.value
                    if isinstance(base, ast.Name) and base.id in params | {"self", "cls"}:
                        why.append(f"mutates {base.id}")
    return why


def _finding(
    ctx: ProfileContext,
    func_id: int,
    function: str,
    file: str | None,
    first_line: int | None,
    self_w: int,
    total: int,
    depth: int,
    recursive: bool,
    src: FunctionSource | None,
) -> Finding:
    share = ctx.share(total)
    ms = ctx.ms(total)
    line = src.def_line if src is not None else first_line
    sampled = sorted(
        {f.line for f in ctx.frames.values() if f.func_id == func_id and f.line is not None}
    )
    callers = ctx.con.execute(
        "SELECT f.function, f.file, f.first_line, e.weight FROM call_edges e"
        " JOIN functions f ON f.func_id = e.caller_id"
        " WHERE e.profile_id = ? AND e.callee_id = ? AND e.caller_id <> e.callee_id"
        " ORDER BY e.weight DESC LIMIT 3",
        [ctx.pid, func_id],
    ).fetchall()
    if recursive:
        why = (
            f"`{function}` ({file}:{line}) calls itself up to {depth} levels deep in one stack "
            f"and holds {total:,} samples ({pct(share)}, ~{ms:,.0f} ms{ctx.timing_note()}): naive "
            "recursion recomputes the same sub-results again and again."
        )
    else:
        why = (
            f"`{function}` ({file}:{line}) holds {total:,} samples ({pct(share)}, ~{ms:,.0f} ms"
            f"{ctx.timing_note()}), {pct(self_w / total)} of them in its own code, with only "
            "computation below it: if it is called repeatedly with the same arguments, it "
            "recomputes the same results."
        )
    purity = (
        "its body has no I/O, globals or argument mutation"
        if src is not None
        else "its source was not found, so only the profile vouches for it"
    )
    detail = f"{why} Nothing below it waits on I/O; {purity}."
    if callers:
        c = callers[0]
        detail += f" Called from `{c[0]}` ({c[1]})."
    name = function.rsplit(".", 1)[-1]
    method = "." in function
    fix = (
        f"Memoise it: `@functools.cache` above `def {name}` (or `@functools.lru_cache("
        "maxsize=N)` to bound memory). Only when the result depends on the arguments alone, "
        "the arguments are hashable, and the set of distinct arguments is bounded."
    )
    if method:
        fix += (
            " On a method, `lru_cache` keeps every `self` alive: cache a module-level helper "
            "that takes the fields it needs, or use `functools.cached_property` for an "
            "argument-less method."
        )
    if recursive:
        fix += " Or rewrite it iteratively (bottom-up), which needs no cache at all."
    evidence = {
        **ctx.base_evidence(),
        "function": function,
        "file": file,
        "line": line,
        "line_is_def": src is not None,
        "sampled_lines": sampled,
        "source_path": str(src.path) if src is not None else None,
        "samples": total,
        "self_samples": self_w,
        "share": round(share, 4),
        "ms": round(ms, 1),
        "max_recursion": depth,
        "shape": "recursion" if recursive else "dominant",
        "callers": [{"function": c[0], "file": c[1], "samples": c[3]} for c in callers],
    }
    return Finding(
        rule=RULE_ID,
        severity=severity_for_share(share, 0.30, 0.10),
        title=(
            f"Memoise {function} ({file}:{line}): "
            + (f"recurses {depth} deep, " if recursive else "")
            + f"{pct(share)} of samples"
        ),
        detail=detail,
        fix=fix,
        impact_ms=ms,
        evidence=evidence,
    )
