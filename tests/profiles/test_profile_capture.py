"""``perftui profile``: a live py-spy recording, and the one-line errors when py-spy cannot."""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from perftui.profiles import capture
from perftui.store.results import first

PROGRAM = (
    "import time\n"
    "def spin(n):\n    return sum(i * i for i in range(n))\n"
    "end = time.time() + 1.0\n"
    "while time.time() < end:\n    spin(300000)\n    time.sleep(0.01)\n"
)


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    capture.add_arguments(parser)
    return parser.parse_args(list(argv))


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    return capture.run(args(*argv), err=err), err.getvalue()


def test_live_recording_is_ingested_with_how_it_was_recorded(tmp_path: Path) -> None:
    if shutil.which("py-spy") is None:
        pytest.skip("py-spy is not on PATH (pip install py-spy)")
    db, out = tmp_path / "p.duckdb", tmp_path / "live.txt"
    code, text = run(
        "--db", str(db), "-o", str(out), "--rate", "200", "--", sys.executable, "-c", PROGRAM
    )
    if code != 0 and "ptrace" in text:
        pytest.skip(f"py-spy may not trace here: {text.strip()}")
    assert code == 0, text
    assert out.exists() and "ingested as pyspy-raw" in text
    con = duckdb.connect(str(db), read_only=True)
    idle, rate, ms, samples, duration, command = first(
        con.execute(
            "SELECT recorded_with_idle, rate_hz, ms_per_weight, total_samples, duration_s, command"
            " FROM profiles"
        )
    )
    assert (idle, rate, ms) == (True, 200.0, 5.0)
    assert 0.9 < duration < 30
    assert samples >= 100  # --idle: the sleeps are sampled too (≈ 1 s × 200 Hz)
    assert "-c" in command
    functions = {r[0] for r in con.execute("SELECT function FROM functions").fetchall()}
    assert "spin" in functions


def test_neither_pid_nor_program() -> None:
    code, text = run("--db", "unused.duckdb")
    assert code == 2
    assert text.strip() == (
        "perftui: give either --pid N or the program to run: perftui profile -- python app.py"
    )


def test_no_such_process_is_one_line(tmp_path: Path) -> None:
    code, text = run(
        "--db", str(tmp_path / "p.duckdb"), "-o", str(tmp_path / "x.txt"), "--pid", "999999"
    )
    assert code == 2
    lines = [line for line in text.splitlines() if line.startswith("perftui:")]
    assert len(lines) == 1
    assert "no process 999999" in lines[0] or "py-spy is not installed" in lines[0]
    assert not (tmp_path / "p.duckdb").exists()


@pytest.mark.parametrize(
    ("messages", "pid", "expect"),
    [
        (
            [
                "Permission Denied: Try running again with elevated permissions by going "
                "'sudo env \"PATH=$PATH\" !!'"
            ],
            42,
            "ptrace is not permitted",
        ),
        (
            ["Error: Failed to get process executable name. Check that the process is running."],
            42,
            "no process 42: it is not running",
        ),
        (
            ["Error: Failed to find python version from target process"],
            42,
            "does not look like a Python program",
        ),
        (
            ["Error: Failed to create process 'nope': No such file or directory (os error 2)"],
            None,
            "cannot start nope: no such program",
        ),
        (["Error: something new"], None, "py-spy could not record nope: something new"),
    ],
)
def test_py_spy_errors_become_one_line_with_what_to_do(
    messages: list[str], pid: int | None, expect: str
) -> None:
    text = capture.explain(
        messages, pid, [] if pid else ["nope"], f"process {pid}" if pid else "nope"
    )
    assert expect in text and "\n" not in text
    if "ptrace" in expect:
        assert "sudo" in text and "CAP_SYS_PTRACE" in text


def test_py_spy_command_records_idle_by_default() -> None:
    if shutil.which("py-spy") is None:
        pytest.skip("py-spy is not on PATH (pip install py-spy)")
    cmd = capture.py_spy_command(args("--", "python", "app.py"), "out.txt")
    assert cmd[1:] == [
        "record",
        "--format",
        "raw",
        "--rate",
        "100",
        "-o",
        "out.txt",
        "--idle",
        "--",
        "python",
        "app.py",
    ]
    cmd = capture.py_spy_command(
        args("--no-idle", "--gil", "--threads", "--duration", "2.5", "--pid", "7"), "o"
    )
    assert "--idle" not in cmd
    assert cmd[-6:] == ["--gil", "--threads", "--duration", "3", "--pid", "7"]
