"""Folded stacks: py-spy's ``--format raw`` and the ``a;b;c 12`` lines other profilers write.

One distinct stack per line, frames root first joined by ``;``, then a space and the sample
count. py-spy adds ``thread (9111): MainThread`` frames with ``--threads`` and
``process 123:"python app.py"`` frames with ``--subprocesses``; the command line inside a process
frame is written verbatim, so it may hold ``;`` and even newlines (``python -c "…"``): such a record
spans several physical lines and is joined back here. Frame text is parsed once per distinct
frame (``model.ProfileBuilder.by_text``), so the per-line cost is a split and a few dict hits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from perftui.ingest.records import Reject
from perftui.profiles.model import ProfileBuilder

MAX_RECORD_LINES = 64  # a process frame's command line may span lines; more is not a record
MAX_COUNT_DIGITS = 15  # a count beyond 10**15 samples is corrupt data, not a profile

_PROCESS_HEAD = re.compile(r'process \d+:"')


class FoldedError(ValueError):
    """Input that is not folded stacks at all."""


class FoldedParser:
    """Feed lines in batches, then ``finish()`` for the builder (stacks merged, frames
    classified)."""

    def __init__(self) -> None:
        self.builder = ProfileBuilder()
        self.lines = 0
        self.rejects: list[Reject] = []  # every line that is not part of a stack, with why
        self._carry: list[str] = []
        self._carry_start = 0

    def feed(self, lines: Iterable[str], first_line_no: int = 1) -> None:
        stacks = self.builder.stacks
        intern = self.builder.by_text.__getitem__
        line_no = first_line_no - 1
        for raw in lines:
            line_no += 1
            if self._carry:
                self._carry.append(raw)
                if len(self._carry) > MAX_RECORD_LINES:
                    self._reject_carry()
                    continue
                line = "\n".join(self._carry)
            else:
                line = raw
            line = line.rstrip()
            if not line:
                self.rejects.append(Reject(line_no, "blank line", raw))
                continue
            sp = line.rfind(" ")
            count = line[sp + 1 :]
            counted = _is_count(count)
            if line.startswith("process "):
                frames = _split_processes(line[:sp] if counted else line)
                if frames is None or not counted or sp < 0:
                    if not self._carry:
                        self._carry = [raw]
                        self._carry_start = line_no
                    continue
            elif sp < 0 or not counted:
                self.rejects.append(Reject(line_no, "no sample count at the end", raw))
                continue
            else:
                text = line[:sp]
                frames = text.split(";") if text else []
            self._carry = []
            key = tuple(map(intern, frames))
            weight = int(count)
            stacks[key] = stacks.get(key, 0) + weight
            self.lines += 1

    def _reject_carry(self) -> None:
        """A process frame whose command line never ended: each of its lines is a reject."""
        for i, raw in enumerate(self._carry):
            self.rejects.append(Reject(self._carry_start + i, "unterminated process frame", raw))
        self._carry = []

    def finish(self) -> ProfileBuilder:
        if self._carry:
            self._reject_carry()
        if not self.builder.stacks:
            first = next((r for r in self.rejects if r.reason != "blank line"), None)
            if first is not None:
                raise FoldedError(f"no folded stacks (line {first.line_no}: {first.raw[:80]!r})")
            raise FoldedError("no folded stacks")
        self.builder.total_samples = self.builder.total_weight
        return self.builder


def _is_count(text: str) -> bool:
    """A sample count: ASCII digits (``str.isdigit`` also takes ``²`` and other scripts' digits,
    which ``int`` refuses) that fit the store's 64-bit weights even when summed."""
    return 0 < len(text) <= MAX_COUNT_DIGITS and text.isascii() and text.isdigit()


def _split_processes(text: str) -> list[str] | None:
    """Frames of a stack that starts with process frames; None while a command line is open."""
    frames = []
    pos = 0
    while text.startswith("process ", pos):
        m = _PROCESS_HEAD.match(text, pos)
        if m is None:
            break
        end = text.find('";', m.end())
        if end < 0:
            if text.endswith('"') and len(text) > m.end():
                frames.append(text[pos:])
                return frames
            return None
        frames.append(text[pos : end + 1])
        pos = end + 2
    rest = text[pos:]
    if rest:
        frames.extend(rest.split(";"))
    return frames


def parse_lines(lines: Iterable[str]) -> ProfileBuilder:
    """Parse a whole folded file given as lines (tests, small inputs)."""
    parser = FoldedParser()
    parser.feed(lines)
    return parser.finish()
