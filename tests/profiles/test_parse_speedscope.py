"""speedscope JSON: py-spy's sampled profiles and other tools' evented ones."""

from __future__ import annotations

import json

import pytest

from perftui.profiles.parse_speedscope import SpeedscopeError, parse_bytes
from tests.profiles.conftest import SPEEDSCOPE

FRAMES = [
    {"name": "<module>", "file": "/srv/app.py", "line": 3},
    {"name": "handler", "file": "/srv/app.py", "line": 10},
    {"name": "dumps", "file": "/usr/lib/python3.11/json/__init__.py", "line": 231},
]


def doc(*profiles: dict) -> bytes:
    return json.dumps(
        {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": FRAMES},
            "profiles": list(profiles),
        }
    ).encode()


def test_sampled_profile_with_interval_weights_becomes_sample_counts() -> None:
    b = parse_bytes(
        doc(
            {
                "type": "sampled",
                "name": 'Thread 7 "MainThread"',
                "unit": "seconds",
                "startValue": 0,
                "endValue": 0.04,
                "samples": [[0, 1], [0, 1, 2], [0, 1], [0]],
                "weights": [0.01, 0.01, 0.01, 0.01],
            }
        )
    )
    assert b.weight_unit == "samples"
    assert b.ms_per_weight == pytest.approx(10.0)
    assert b.total_weight == 4 and b.total_samples == 4
    assert b.duration_s is None  # py-spy's endValue is the sum of the weights, not wall time
    by_names = {tuple(b.frames[i].function for i in k): w for k, w in b.stacks.items()}
    assert by_names == {
        ("<module>", "handler"): 2,
        ("<module>", "handler", "dumps"): 1,
        ("<module>",): 1,
    }
    assert b.frames[2].kind == "stdlib"


def test_several_profiles_become_thread_frames() -> None:
    p = {
        "type": "sampled",
        "unit": "none",
        "startValue": 0,
        "endValue": 2,
        "samples": [[0, 1]],
        "weights": [3],
    }
    b = parse_bytes(doc({**p, "name": 'Thread 7 "MainThread"'}, {**p, "name": 'Thread 8 ""'}))
    threads = sorted(f.function for f in b.frames if f.kind == "thread")
    assert threads == ["thread (7): MainThread", "thread (8)"]
    assert b.total_weight == 6
    assert b.ms_per_weight is None  # unit "none": counts without a known interval


def test_evented_profile_weights_are_microseconds() -> None:
    events = [
        {"type": "O", "frame": 0, "at": 0.0},
        {"type": "O", "frame": 1, "at": 1.0},
        {"type": "O", "frame": 2, "at": 3.0},
        {"type": "C", "frame": 2, "at": 3.5},
        {"type": "C", "frame": 1, "at": 4.0},
        {"type": "C", "frame": 0, "at": 10.0},
    ]
    b = parse_bytes(
        doc(
            {
                "type": "evented",
                "name": "main",
                "unit": "milliseconds",
                "startValue": 0,
                "endValue": 10,
                "events": events,
            }
        )
    )
    assert b.weight_unit == "us"
    by_names = {tuple(b.frames[i].function for i in k): w for k, w in b.stacks.items()}
    assert by_names == {
        ("<module>",): 1000 + 6000,
        ("<module>", "handler"): 2000 + 500,
        ("<module>", "handler", "dumps"): 500,
    }
    assert b.total_weight == 10_000
    assert b.duration_s == pytest.approx(0.01)


def test_real_pyspy_speedscope_file() -> None:
    b = parse_bytes(SPEEDSCOPE.read_bytes())
    raw = json.loads(SPEEDSCOPE.read_text())
    assert raw["exporter"].startswith("py-spy")
    assert b.total_samples == sum(len(p["samples"]) for p in raw["profiles"])
    assert b.ms_per_weight == pytest.approx(10.0)  # py-spy's 100 Hz, from the weights
    assert any(f.function == "fib" and f.kind == "application" for f in b.frames)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"profiles": []}', "no 'shared.frames'"),
        (b'{"shared": {"frames": []}, "profiles": []}', "without profiles"),
        (
            json.dumps(
                {
                    "shared": {"frames": FRAMES},
                    "profiles": [
                        {"type": "sampled", "unit": "none", "samples": [[7]], "weights": [1]}
                    ],
                }
            ).encode(),
            "refers to a frame that does not exist",
        ),
    ],
)
def test_bad_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(SpeedscopeError, match=message):
        parse_bytes(data)
