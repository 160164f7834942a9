"""Reading bytes into line batches: compression, odd bytes, offsets, the last unterminated line."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from perftui.ingest import sources
from perftui.ingest.sources import SourceError, line_batches, open_source

TEXT = b"".join(b"line %d\n" % i for i in range(50000))


def _all_lines(path: Path, **kw) -> list[str]:
    src = open_source(str(path))
    try:
        return [line for b in line_batches(src, **kw) for line in b.lines]
    finally:
        src.close()


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, zstandard.ZstdCompressor().compress],
    ids=["plain", "gzip", "bzip2", "zstd"],
)
def test_compressed_files_read_like_plain_ones(tmp_path: Path, compress) -> None:
    path = tmp_path / "log"
    path.write_bytes(compress(TEXT))
    lines = _all_lines(path, batch_bytes=1000)
    assert len(lines) == 50000
    assert lines[0] == "line 0" and lines[-1] == "line 49999"


def test_crlf_invalid_utf8_nul_and_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\r\nb\xff\xfe\nc\x00d\nlast without newline")
    assert _all_lines(path) == ["a", "b\ufffd\ufffd", "c\ufffdd", "last without newline"]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.lists(
            st.sampled_from(
                [
                    b"a",
                    b"\xc3\xa9",
                    b"\xe2\x82\xac",
                    b"\xf0\x9f\x98\x80",
                    b"\r",
                    b"\xff",
                    b"\xe2\x82",
                    b"\x00",
                    b" ",
                ]
            ),
            max_size=8,
        ).map(b"".join),
        max_size=12,
    ),
    last=st.booleans(),
    head_bytes=st.integers(1, 9),
    batch_bytes=st.integers(1, 17),
)
def test_any_batch_size_gives_the_lines_of_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    last: bool,
    head_bytes: int,
    batch_bytes: int,
) -> None:
    """Blocks end anywhere (inside a UTF-8 character, between \\r and \\n, inside an invalid
    sequence); the lines and the end offset must be those of the file read whole."""
    data = b"\n".join(lines) + (b"\n" if lines and not last else b"")
    path = tmp_path_factory.mktemp("blocks") / "log"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "HEAD_BYTES", head_bytes)  # the head is the first block
        src = open_source(str(path))
    try:
        batches = list(line_batches(src, batch_bytes=batch_bytes))
    finally:
        src.close()
    whole = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\x00", "\ufffd")
    expected = whole.split("\n")
    if whole.endswith("\n") or not whole:
        expected.pop()
    assert [line for b in batches for line in b.lines] == expected
    assert (batches[-1].end_offset if batches else 0) == len(data)


def test_resume_offset_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(TEXT)
    src = open_source(str(path))
    batches = list(line_batches(src, batch_bytes=4096))
    src.close()
    mid = batches[len(batches) // 2]
    src = open_source(str(path))
    rest = list(
        line_batches(
            src, start_offset=mid.end_offset, first_line_no=mid.first_line_no + len(mid.lines)
        )
    )
    src.close()
    first = rest[0]
    assert first.first_line_no == mid.first_line_no + len(mid.lines)
    assert first.lines[0] == f"line {first.first_line_no - 1}"
    assert rest[-1].end_offset == len(TEXT)


def test_one_huge_line_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"x" * (10 * 1024 * 1024) + b"\nshort\n")
    lines = _all_lines(path, batch_bytes=1 << 20)
    assert [len(x) for x in lines] == [10 * 1024 * 1024, 5]


def test_missing_file_and_directory_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "nope.log"))
    with pytest.raises(SourceError, match="is a directory"):
        open_source(str(tmp_path))
