"""The file follower: complete lines only, and every rotation case of ``tail -F``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from perftui.tail.follow import Ended, Follower, Lines, OpenedFile, Start
from tests.tail.helpers import FakeClock, append


class Recorder:
    """Follows one path from the start of every file and keeps what it saw."""

    def __init__(self, path: Path, clock: FakeClock, **kw: object) -> None:
        self.lines: list[tuple[int, int, str]] = []  # (generation, line number, text)
        self.ended: list[tuple[int, str]] = []
        self.opened: list[OpenedFile] = []
        self.follower = Follower(str(path), self._start, clock=clock, **kw)  # type: ignore[arg-type]

    def _start(self, f: OpenedFile) -> Start:
        self.opened.append(f)
        return Start(0, 1)

    def poll(self) -> None:
        for _ in range(10):  # until caught up (a rotation takes a second round)
            for ev in self.follower.poll():
                if isinstance(ev, Lines):
                    assert ev.end_offset - ev.start_offset == len(ev.raw)
                    for i, text in enumerate(ev.lines):
                        self.lines.append((ev.file.generation, ev.first_line_no + i, text))
                else:
                    assert isinstance(ev, Ended)
                    self.ended.append((ev.file.generation, ev.reason))
            if not self.follower.behind:
                return

    def texts(self) -> list[str]:
        return [t for _g, _n, t in self.lines]


def test_partial_line_waits_for_its_newline(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "first line\nsecond ha")
    r = Recorder(log, clock)
    r.poll()
    assert r.lines == [(1, 1, "first line")]
    append(log, "lf, still")
    r.poll()
    assert r.texts() == ["first line"]
    append(log, " going\nthird\n")
    r.poll()
    assert r.lines == [(1, 1, "first line"), (1, 2, "second half, still going"), (1, 3, "third")]


def test_split_utf8_character_and_crlf(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    data = "café\r\nnaïve\n".encode()
    r = Recorder(log, clock)
    for i in range(len(data)):
        append(log, data[i : i + 1])
        r.poll()
    assert r.texts() == ["café", "naïve"]


def test_file_that_does_not_exist_yet(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "later.log"
    r = Recorder(log, clock)
    r.poll()
    assert r.lines == [] and r.opened == []
    append(log, "")
    r.poll()
    assert r.opened == []  # nothing to identify the file by yet
    append(log, "hello\n")
    r.poll()
    assert r.lines == [(1, 1, "hello")]
    assert r.opened[0].existed_at_start is False


def test_rename_rotation_finishes_the_old_file_first(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "old 1\nold 2\n")
    r = Recorder(log, clock)
    r.poll()
    log.rename(tmp_path / "a.log.1")
    append(tmp_path / "a.log.1", "old 3\n")  # the writer has not reopened yet
    log.touch()  # logrotate's "create": an empty new file
    r.poll()
    append(tmp_path / "a.log.1", "old 4 no newline")
    r.poll()
    assert r.ended == []  # the new file is empty: the writer still writes to the old one
    append(log, "new 1\n")  # the writer reopened
    r.poll()
    assert r.texts() == ["old 1", "old 2", "old 3", "old 4 no newline", "new 1"]
    assert r.ended == [(1, "rotated")]
    assert [(g, n) for g, n, _t in r.lines] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1)]


def test_copy_truncate(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "one\ntwo\n")
    r = Recorder(log, clock)
    r.poll()
    shutil.copy(log, tmp_path / "a.log.1")
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, "three\n")
    r.poll()
    assert r.texts() == ["one", "two", "three"]
    assert r.ended == [(1, "truncated")]
    assert r.lines[-1] == (2, 1, "three")
    assert r.opened[1].ino == r.opened[0].ino  # same inode, new content


def test_copy_truncate_reads_what_it_missed_from_the_copy(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "one\ntwo\n")
    r = Recorder(log, clock)
    r.poll()
    append(log, "three\nfour, cut")  # written after the last look, before the rotation
    shutil.copy(log, tmp_path / "a.log.1")
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, "five\n")
    r.poll()
    assert r.texts() == ["one", "two", "three", "four, cut", "five"]
    assert r.ended == [(1, "truncated")]


def test_copy_truncate_ignores_a_copy_of_something_else(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "one\ntwo\n")
    r = Recorder(log, clock)
    r.poll()
    (tmp_path / "a.log.1").write_text("one\nTWO\nthree\n")  # same start, not our file
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, "x\n")
    r.poll()
    assert r.texts() == ["one", "two", "x"]


def test_truncate_and_rewrite_past_the_old_size(tmp_path: Path, clock: FakeClock) -> None:
    """Truncated and rewritten with more than was read before the next look: the changed
    first bytes give it away."""
    log = tmp_path / "a.log"
    append(log, "aaa\n")
    r = Recorder(log, clock)
    r.poll()
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, "bbbbbbbb\ncc\n")
    r.poll()
    assert r.texts() == ["aaa", "bbbbbbbb", "cc"]
    assert r.ended == [(1, "truncated")]


def test_delete_and_recreate(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "one\n")
    r = Recorder(log, clock)
    r.poll()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)  # a writer that keeps its descriptor
    log.unlink()
    os.write(fd, b"two\n")
    r.poll()
    assert r.texts() == ["one", "two"] and r.ended == []
    os.close(fd)
    append(log, "three\n")
    r.poll()
    assert r.texts() == ["one", "two", "three"]
    assert r.ended == [(1, "deleted")]
    assert [g for g, _n, _t in r.lines] == [1, 1, 2]


def test_deleted_file_is_let_go_after_the_grace_period(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "one\ntail without newline")
    r = Recorder(log, clock, grace_s=5.0)
    r.poll()
    log.unlink()
    clock.advance(4.0)
    r.poll()
    assert r.ended == []
    clock.advance(2.0)
    r.poll()
    assert r.ended == [(1, "deleted")]
    assert r.texts() == ["one", "tail without newline"]
    assert r.follower.current is None
    append(log, "back\n")
    r.poll()
    assert r.texts()[-1] == "back"


def test_reads_in_bounded_batches(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "".join(f"line {i}\n" for i in range(1000)))
    r = Recorder(log, clock, read_bytes=1000)
    first = r.follower.poll()
    assert r.follower.behind
    assert sum(len(ev.lines) for ev in first if isinstance(ev, Lines)) < 1000
    r.poll()
    r.poll()
    assert len(r.lines) + sum(len(ev.lines) for ev in first if isinstance(ev, Lines)) == 1000


def test_start_offset_and_line_start_before(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    append(log, "a\nbb\nccc")

    def start_at_end(f: OpenedFile) -> Start:
        return Start(f.line_start_before(f.initial_size), 1)

    seen: list[str] = []
    follower = Follower(str(log), start_at_end, clock=clock)
    follower.poll()
    append(log, "c\nd\n")
    for ev in follower.poll():
        if isinstance(ev, Lines):
            seen.extend(ev.lines)
    assert seen == ["cccc", "d"]
    follower.close()
