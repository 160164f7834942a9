"""speedscope JSON (https://www.speedscope.app/file-format-schema.json): sampled and evented.

py-spy writes one ``sampled`` profile per thread, samples in time order with a weight in seconds
each; other tools (pyinstrument, Austin, rbspy, the browser) write ``evented`` profiles of open
and close events. Both become one perftui profile: identical stacks merged, and one thread frame
at the root of each stack when the file holds several profiles, so threads stay apart as they do
in py-spy's ``--threads`` raw output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from perftui.profiles.model import ProfileBuilder

MS_PER_UNIT = {"nanoseconds": 1e-6, "microseconds": 1e-3, "milliseconds": 1.0, "seconds": 1000.0}

_PYSPY_THREAD = re.compile(r'^Thread (\w+) "(.*)"$', re.DOTALL)


class SpeedscopeError(ValueError):
    """Not a speedscope file, or one that breaks the format's rules."""


def parse_bytes(data: bytes) -> ProfileBuilder:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpeedscopeError(f"not valid JSON: {str(exc).splitlines()[0]}") from None
    return parse_document(doc)


def parse_document(doc: Any) -> ProfileBuilder:
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
        raise SpeedscopeError("not a speedscope file (no 'profiles' list)")
    shared = doc.get("shared") or {}
    frames = shared.get("frames") if isinstance(shared, dict) else None
    if not isinstance(frames, list):
        raise SpeedscopeError("not a speedscope file (no 'shared.frames' list)")
    profiles = [p for p in doc["profiles"] if isinstance(p, dict)]
    if not profiles:
        raise SpeedscopeError("speedscope file without profiles")
    units = {p.get("unit", "none") for p in profiles}
    timed = units <= MS_PER_UNIT.keys()
    if not timed and len(units) > 1:
        raise SpeedscopeError(f"profiles with different units: {', '.join(sorted(units))}")

    builder = ProfileBuilder(name=doc.get("name") if isinstance(doc.get("name"), str) else None)
    local = [_frame(builder, i, f) for i, f in enumerate(frames)]
    # One weight per sample everywhere (py-spy: the sampling interval): keep sample counts.
    weights = {w for p in profiles if p.get("type") == "sampled" for w in p.get("weights") or ()}
    evented = any(p.get("type") == "evented" for p in profiles)
    if timed and not evented and len(weights) == 1:
        (w,) = weights
        unit = next(iter(units))
        builder.weight_unit = "samples"
        builder.ms_per_weight = w * MS_PER_UNIT[unit] if w > 0 else None
        scale: dict[str, float] | None = None
    elif timed:
        builder.weight_unit = "us"
        builder.ms_per_weight = 0.001
        scale = {u: MS_PER_UNIT[u] * 1000.0 for u in units}
    else:
        builder.weight_unit = "bytes" if units == {"bytes"} else "samples"
        scale = None
    duration = 0.0
    several = len(profiles) > 1
    for p in profiles:
        root = (_thread_frame(builder, p.get("name")),) if several else ()
        factor = None if scale is None else scale[p.get("unit", "none")]
        kind = p.get("type")
        if kind == "sampled":
            _sampled(builder, p, local, root, factor)
        elif kind == "evented":
            _evented(builder, p, local, root, factor if factor is not None else 1.0)
        else:
            raise SpeedscopeError(f"profile {p.get('name')!r}: unknown type {kind!r}")
        if timed and kind == "evented":
            # Only an evented profile's span is wall time: py-spy's sampled endValue is the
            # sum of its sample weights, so it shrinks when idle samples are left out.
            span = _number(p.get("endValue")) - _number(p.get("startValue"))
            duration = max(duration, span * MS_PER_UNIT[p.get("unit", "none")] / 1000.0)
    if not builder.stacks:
        raise SpeedscopeError("speedscope file without samples")
    builder.duration_s = duration or None
    return builder


def _frame(builder: ProfileBuilder, index: int, f: Any) -> int:
    if not isinstance(f, dict) or not isinstance(f.get("name"), str):
        raise SpeedscopeError(f"shared.frames[{index}] has no name")
    file = f.get("file") if isinstance(f.get("file"), str) and f.get("file") else None
    line = f.get("line") if isinstance(f.get("line"), int) else None
    return builder.frame_id(f["name"], file, line)


def _thread_frame(builder: ProfileBuilder, name: Any) -> int:
    """py-spy's ``Thread 9111 "MainThread"`` becomes its raw format's
    ``thread (9111): MainThread``."""
    text = name if isinstance(name, str) and name else "thread"
    m = _PYSPY_THREAD.match(text)
    if m:
        text = f"thread ({m.group(1)})" + (f": {m.group(2)}" if m.group(2) else "")
    return builder.thread_frame(text)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _sampled(
    builder: ProfileBuilder,
    p: dict,
    local: list[int],
    root: tuple[int, ...],
    factor: float | None,
) -> None:
    samples, weights = p.get("samples"), p.get("weights")
    if not isinstance(samples, list):
        raise SpeedscopeError(f"profile {p.get('name')!r}: 'samples' is not a list")
    if not isinstance(weights, list) or len(weights) != len(samples):
        weights = [1] * len(samples)
    stacks = builder.stacks
    at = local.__getitem__
    # Sample counts when every weight is the sampling interval; else scaled (µs) or as written.
    one_each = factor is None and builder.ms_per_weight is not None
    try:
        for sample, w in zip(samples, weights, strict=True):
            key = root + tuple(map(at, sample))
            if one_each:
                weight = 1
            elif factor is not None:
                weight = round(w * factor)
            else:
                weight = round(w)
            stacks[key] = stacks.get(key, 0) + weight
    except (IndexError, TypeError):
        raise SpeedscopeError(
            f"profile {p.get('name')!r}: a sample refers to a frame that does not exist"
        ) from None
    builder.total_samples += len(samples)


def _evented(
    builder: ProfileBuilder, p: dict, local: list[int], root: tuple[int, ...], factor: float
) -> None:
    events = p.get("events")
    if not isinstance(events, list):
        raise SpeedscopeError(f"profile {p.get('name')!r}: 'events' is not a list")
    stacks = builder.stacks
    open_frames: list[int] = []
    last = _number(p.get("startValue"))
    for ev in events:
        try:
            at, frame, kind = float(ev["at"]), local[ev["frame"]], ev["type"]
        except (KeyError, IndexError, TypeError, ValueError):
            raise SpeedscopeError(
                f"profile {p.get('name')!r}: malformed event {ev!r:.80}"
            ) from None
        if open_frames and at > last:
            key = root + tuple(open_frames)
            stacks[key] = stacks.get(key, 0) + round((at - last) * factor)
        last = max(last, at)
        if kind == "O":
            open_frames.append(frame)
            builder.total_samples += 1
        elif kind == "C":
            # Close the innermost matching frame; tolerate writers that close out of order.
            for i in range(len(open_frames) - 1, -1, -1):
                if open_frames[i] == frame:
                    del open_frames[i:]
                    break
        else:
            raise SpeedscopeError(f"profile {p.get('name')!r}: unknown event type {kind!r}")
