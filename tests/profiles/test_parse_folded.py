"""Folded stacks: py-spy's raw variants and plain folded lines, parsed and classified."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perftui.profiles.model import ProfileBuilder, classify
from perftui.profiles.parse_folded import FoldedError, parse_lines

THREADS = (
    "thread (9111): MainThread;<module> (app.py:41);main (app.py:35);work (app.py:20) 30\n"
    "thread (9111);<module> (app.py:41) 2\n"
    "thread (9120): worker;Thread._bootstrap (threading.py:1002);"
    "Thread.run (threading.py:982);loop (app.py:9) 8\n"
)

SUBPROCESSES = (
    'process 100:"python app.py";thread (100): MainThread;<module> (app.py:3) 5\n'
    'process 100:"python app.py";process 101:"/usr/bin/python -c s=0\n'
    'for i in range(9): s+=i; print(s)";thread (101);<module> (<string>:2) 7\n'
)

NATIVE = (
    "0x7f6c7024524a (libc.so.6);<module> (app.py:9);Popen.wait (subprocess.py:1264);"
    "os_waitpid (libpython3.11.so.1.0);0x7f6c70327000 (libc.so.6) 12\n"
)


def frames_of(b: ProfileBuilder) -> dict[str, str]:
    return {f.function: f.kind for f in b.frames}


def test_plain_folded_stacks_merge_and_sum() -> None:
    b = parse_lines(["a;b;c 12", "a;b 3", "a;b;c 5", "x 1"])
    assert b.total_weight == 21
    assert len(b.stacks) == 3  # the repeated a;b;c is one stack
    assert [f.function for f in b.frames] == ["a", "b", "c", "x"]
    assert all(f.file is None and f.line is None for f in b.frames)


def test_pyspy_frames_have_function_file_line() -> None:
    b = parse_lines(
        [
            "<module> (app.py:41);posts_for (app.py:14);"
            "Connection.wait (psycopg/connection.py:495) 786"
        ]
    )
    wait = b.frames[2]
    assert (wait.function, wait.file, wait.line) == (
        "Connection.wait",
        "psycopg/connection.py",
        495,
    )
    assert (wait.kind, wait.module) == ("library", "psycopg.connection")
    assert b.frames[0].kind == "application"


def test_thread_frames_are_kept_as_threads() -> None:
    b = parse_lines(THREADS.splitlines())
    kinds = frames_of(b)
    assert kinds["thread (9111): MainThread"] == "thread"
    assert kinds["thread (9111)"] == "thread"
    assert kinds["thread (9120): worker"] == "thread"
    assert kinds["Thread._bootstrap"] == "stdlib"
    assert b.total_weight == 40


def test_process_frames_may_hold_semicolons_and_newlines() -> None:
    b = parse_lines(SUBPROCESSES.splitlines())
    assert b.total_weight == 12
    procs = [f.function for f in b.frames if f.kind == "process"]
    assert procs == [
        'process 100:"python app.py"',
        'process 101:"/usr/bin/python -c s=0\nfor i in range(9): s+=i; print(s)"',
    ]
    assert {f.function for f in b.frames if f.kind == "thread"} == {
        "thread (100): MainThread",
        "thread (101)",
    }


def test_native_frames() -> None:
    b = parse_lines(NATIVE.splitlines())
    kinds = {(f.function, f.file): f.kind for f in b.frames}
    assert kinds[("0x7f6c7024524a", "libc.so.6")] == "native"
    assert kinds[("os_waitpid", "libpython3.11.so.1.0")] == "native"
    assert kinds[("Popen.wait", "subprocess.py")] == "stdlib"


def test_idle_line_without_frames_counts_at_the_root() -> None:
    b = parse_lines(["a;b 3", " 5"])
    assert b.stacks[()] == 5
    assert b.total_weight == 8


def test_bad_lines_are_rejected_and_counted() -> None:
    from perftui.profiles.parse_folded import FoldedParser

    p = FoldedParser()
    p.feed(["a;b 3", "this is not a stack", "", "a;c x"])
    b = p.finish()
    assert b.total_weight == 3
    assert [(r.line_no, r.reason, r.raw) for r in p.rejects] == [
        (2, "no sample count at the end", "this is not a stack"),
        (3, "blank line", ""),
        (4, "no sample count at the end", "a;c x"),
    ]


def test_a_process_frame_that_never_ends_rejects_each_of_its_lines() -> None:
    from perftui.profiles.parse_folded import MAX_RECORD_LINES, FoldedParser

    p = FoldedParser()
    p.feed(["a;b 3", 'process 1:"python -c x'] + ["more"] * MAX_RECORD_LINES + ["a;b 1"])
    p.finish()
    assert [r.line_no for r in p.rejects] == list(range(2, MAX_RECORD_LINES + 3))
    assert {r.reason for r in p.rejects} == {"unterminated process frame"}
    assert p.builder.total_weight == 4


def test_no_stacks_at_all_is_an_error_that_quotes_the_line() -> None:
    with pytest.raises(FoldedError, match="line 1: 'hello world'"):
        parse_lines(["hello world"])


@pytest.mark.parametrize(
    ("function", "file", "kind"),
    [
        ("dumps", "json/__init__.py", "stdlib"),
        ("Cursor.execute", "psycopg/cursor.py", "library"),
        ("get", "requests/api.py", "library"),
        ("main", "app.py", "application"),
        ("view", "shop/views.py", "application"),
        ("_find_and_load", "<frozen importlib._bootstrap>", "import"),
        ("getpath", "<frozen getpath>", "stdlib"),
        ("x", "/usr/lib/python3/dist-packages/requests/models.py", "library"),
        ("x", "/opt/venv/lib/python3.12/site-packages/flask/app.py", "library"),
        ("x", "/usr/lib/python3.12/json/decoder.py", "stdlib"),
        ("x", "/home/me/project/app.py", "application"),
        ("PyEval_EvalFrameDefault", "ceval.c", "native"),
    ],
)
def test_classification(function: str, file: str, kind: str) -> None:
    assert classify(function, file)[0] == kind


frame = st.sampled_from(["a (app.py:1)", "b (app.py:2)", "c (lib/x.py:3)", "d", "e (json/x.py:9)"])
stacks = st.lists(
    st.tuples(st.lists(frame, min_size=0, max_size=8), st.integers(1, 1000)), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(stacks)
def test_flame_tree_accounts_for_every_sample(data: list[tuple[list[str], int]]) -> None:
    """Whatever the stacks: totals add up, and each node's total is its self plus its
    children's totals, over the pre-order subtree ranges."""
    lines = [f"{';'.join(fr)} {w}" for fr, w in data]
    if not data:
        return
    b = parse_lines(lines)
    assert b.total_weight == sum(w for _fr, w in data)
    tree, leaves = ProfileBuilder.flame_tree(b.sorted_stacks())
    n = len(tree.frame)
    assert tree.total[0] == b.total_weight
    child_sum = [0] * n
    for node in range(1, n):
        child_sum[tree.parent[node]] += tree.total[node]
        assert tree.parent[node] < node <= tree.last[tree.parent[node]]
    for node in range(n):
        assert tree.total[node] == tree.self_w[node] + child_sum[node]
        if tree.heavy[node] >= 0:
            assert tree.parent[tree.heavy[node]] == node
    assert len(leaves) == len(b.stacks)
