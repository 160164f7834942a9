"""Reading log files: compression, standard input, identity, resume offsets and line batches.

This layer knows bytes and lines, nothing about SQL. Lines come out in batches of a few MB so
memory stays flat whatever the file size; invalid UTF-8 is replaced (U+FFFD), NUL bytes too, and
CRLF line ends fold to LF.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

HEAD_BYTES = 64 * 1024
BATCH_BYTES = 4 * 1024 * 1024

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_ZSTD = b"\x28\xb5\x2f\xfd"


class SourceError(Exception):
    """A source that cannot be read (missing, a directory, permission, corrupt compression)."""


@dataclass(slots=True)
class OpenSource:
    """An opened input: a binary stream of the (decompressed) log plus what identifies it."""

    path: str
    stream: BinaryIO
    head: bytes  # the first HEAD_BYTES decompressed bytes (already read; replayed by batches)
    inode: int | None
    size: int | None  # on-disk size of a plain file; None for stdin and compressed files
    compressed: str | None

    @property
    def head_sha1(self) -> str:
        return hashlib.sha1(self.head).hexdigest()

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()


def _decompressor(raw: BinaryIO, magic: bytes) -> tuple[BinaryIO, str | None]:
    if magic.startswith(_GZIP):
        return gzip.GzipFile(fileobj=raw), "gzip"
    if magic.startswith(_BZIP2):
        return bz2.BZ2File(raw), "bzip2"
    if magic.startswith(_ZSTD):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw), "zstd"  # type: ignore[return-value]
    return raw, None


def open_source(path: str) -> OpenSource:
    """Open ``path`` (``-`` = standard input), transparently decompressing gzip/bzip2/zstd."""
    try:
        if path == "-":
            raw: BinaryIO = sys.stdin.buffer
            inode = size = None
        else:
            if os.path.isdir(path):
                raise SourceError(f"{path}: is a directory")
            raw = open(path, "rb")  # noqa: SIM115 - closed by OpenSource.close
            st = os.fstat(raw.fileno())
            inode, size = st.st_ino, st.st_size
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
        magic = buffered.peek(4)[:4]
        stream, compressed = _decompressor(buffered, magic)
        head = _read_exact(stream, HEAD_BYTES)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from None
    return OpenSource(path, stream, head, inode, None if compressed else size, compressed)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        block = stream.read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    return b"".join(parts)


def head_sha1_of(path: str, nbytes: int) -> str | None:
    """Checksum of the first ``nbytes`` decompressed bytes of ``path`` (None if unreadable)."""
    try:
        src = open_source(path)
    except SourceError:
        return None
    try:
        data = src.head[:nbytes]
        if len(data) < nbytes:
            data += _read_exact(src.stream, nbytes - len(data))
        return hashlib.sha1(data).hexdigest()
    finally:
        src.close()


def sample_lines(head: bytes, limit: int = 400) -> list[str]:
    """The first complete lines of the head, decoded, for format detection."""
    text = head.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")
    if len(head) >= HEAD_BYTES and len(lines) > 1:
        lines.pop()  # the last one is probably cut
    return lines[:limit]


@dataclass(slots=True)
class ByteBatch:
    """Whole lines of the log as bytes: ``data[start:end]`` of each piece, in order. Every line
    ends with ``\\n`` except the log's unterminated last line. Lines are not counted here (the
    reader of the pieces counts them as it goes: ``bytes.count`` is a byte-at-a-time loop)."""

    pieces: list[tuple[bytes, int, int]]  # data, start, end
    end_offset: int  # decompressed byte offset just after the last line of this batch


@dataclass(slots=True)
class LineBatch:
    lines: list[str]
    first_line_no: int
    end_offset: int  # decompressed byte offset just after the last line of this batch


def byte_batches(
    src: OpenSource, start_offset: int = 0, batch_bytes: int = BATCH_BYTES
) -> Iterator[ByteBatch]:
    """Yield the lines after ``start_offset`` in batches of bytes; the final unterminated line
    counts too. A block read is handed on as is (a piece is a range of it): only the line cut
    by the previous block's end is copied, joined to its rest."""
    stream = src.stream
    pending = src.head
    offset = 0
    # Skip what an earlier ingest consumed: from the head first, then from the stream.
    if start_offset:
        if start_offset <= len(pending):
            pending = pending[start_offset:]
        else:
            to_skip = start_offset - len(pending)
            pending = b""
            if (
                src.compressed is None
                and hasattr(stream, "seek")
                and stream is not sys.stdin.buffer
            ):
                stream.seek(start_offset)
            else:
                while to_skip > 0:
                    block = stream.read(min(to_skip, batch_bytes))
                    if not block:
                        break
                    to_skip -= len(block)
        offset = start_offset
    carry = b""
    while True:
        block = pending if pending else stream.read(batch_bytes)
        pending = b""
        if not block:
            break
        cut = block.rfind(b"\n")
        if cut < 0:
            carry += block
            continue
        pieces: list[tuple[bytes, int, int]] = []
        first = 0
        if carry:
            first = block.find(b"\n") + 1
            joined = carry + block[:first]
            pieces.append((joined, 0, len(joined)))
        if first <= cut:
            pieces.append((block, first, cut + 1))
        offset += len(carry) + cut + 1
        carry = block[cut + 1 :]
        yield ByteBatch(pieces, offset)
    if carry:
        offset += len(carry)
        yield ByteBatch([(carry, 0, len(carry))], offset)


def line_batches(
    src: OpenSource, start_offset: int = 0, first_line_no: int = 1, batch_bytes: int = BATCH_BYTES
) -> Iterator[LineBatch]:
    """``byte_batches`` decoded into lines (see the module docstring)."""
    line_no = first_line_no
    for batch in byte_batches(src, start_offset, batch_bytes):
        lines: list[str] = []
        for data, start, end in batch.pieces:
            # Decoded from a view: no copy of the block. Lines end at b"\n", so no UTF-8
            # character spans two decoded pieces.
            part = _decode(memoryview(data)[start:end]).split("\n")
            if data[end - 1 : end] == b"\n":
                part.pop()  # empty string after the final \n
            lines += part
        yield LineBatch(lines, line_no, batch.end_offset)
        line_no += len(lines)


def _decode(data: bytes | memoryview) -> str:
    text = str(data, "utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text
