"""The app for real, in a real terminal (tmux, 80×24): start-up, first paint, keys, clean exit.

The pilot hides what a terminal shows: the driver, the alternate screen, the size, what escape
sequences reach the terminal. Each test runs its own tmux server (``-L``) and kills only it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import sample

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.name, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        env = f"cd {shlex.quote(str(ROOT))} && TERM=xterm-256color"
        self.run(
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(width),
            "-y",
            str(height),
            f"{env} {command}; echo EXIT=$?; sleep 30",
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"timed out; the screen shows:\n{text}")

    def kill(self) -> None:
        self.run("kill-server")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"perftui-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield t
    finally:
        t.kill()


def _open_command(db: Path, files: list[Path]) -> str:
    """``perftui open`` once the CLI has it; until then the app's module entry point."""
    helptext = subprocess.run(
        [sys.executable, "-m", "perftui.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    if " open " in helptext:
        args = [*map(str, files), "--db", str(db)]
        return f"{shlex.quote(sys.executable)} -m perftui.cli open {shlex.join(args)}"
    from tests.tui.conftest import build_store

    build_store(db, extra=tuple(files))
    return f"{shlex.quote(sys.executable)} -m perftui.tui {shlex.quote(str(db))}"


def test_open_paints_first_screen_and_q_exits(tmux: Tmux, tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    command = _open_command(db, [sample("postgresql.log"), sample("mariadb-slow.log")])
    start = time.monotonic()
    tmux.start(command)
    screen = tmux.wait_for(lambda s: "queries in" in s and "Findings" in s)
    first_paint = time.monotonic() - start
    screen = tmux.wait_for(lambda s: "1-5 Views" in s)
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "perftui" in lines[0]
    assert "1-5 Views" in screen and "q Quit" in screen
    # Findings arrive from the advisor's child process, then the Queries view answers keys.
    tmux.wait_for(lambda s: "lists them" in s)
    tmux.keys("2")
    tmux.wait_for(lambda s: "sorted by total time" in s)
    tmux.keys("q")
    after = tmux.wait_for(lambda s: "EXIT=" in s, timeout=15)
    assert "EXIT=0" in after
    assert "Traceback" not in after
    # The alternate screen is gone: nothing of the app is left on the terminal.
    assert "1-5 Views" not in after
    print(f"first paint under tmux: {first_paint:.2f} s (including Python start-up)")


def test_hostile_log_never_reaches_the_terminal(tmux: Tmux, tmp_path: Path) -> None:
    from tests.tui.conftest import HOSTILE_LOG, build_store

    log = tmp_path / "hostile-slow.log"
    log.write_text(HOSTILE_LOG, encoding="utf-8")
    db = build_store(tmp_path / "h.duckdb", extra=(log,))
    tmux.start(f"{shlex.quote(sys.executable)} -m perftui.tui {shlex.quote(str(db))}", 100, 30)
    tmux.wait_for(lambda s: "queries in" in s)
    tmux.keys("2")
    tmux.wait_for(lambda s: "sorted by total time" in s and "[bold]x[/bold]" in s)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "Query class" in s and "latency" in s)
    tmux.keys("l")
    tmux.keys("End")  # the samples are below the statistics
    screen = tmux.wait_for(lambda s: "[link=https://evil.example]click[/link]" in s)
    assert "`[bold]x[/bold]`" in screen
    # The OSC title sequence in the log did not retitle the terminal, the CSI 2J did not clear.
    assert "pwned" not in tmux.run("display-message", "-p", "-t", "t", "#{pane_title}")
    tmux.keys("Home")
    assert "Query class" in tmux.wait_for(lambda s: "Query class" in s)
    tmux.keys("q")
    assert "EXIT=0" in tmux.wait_for(lambda s: "EXIT=" in s, timeout=15)
