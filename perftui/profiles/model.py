"""The stack model every profile parser fills: interned frames, merged stacks, the flame tree.

Parsers only split text; this module decides what a frame is (function, file, line, module and
kind) and merges identical stacks, so a py-spy raw file and a speedscope file of the same run end
up in the same shape. The flame tree is built once, here, from the lexicographically sorted stacks:
consecutive stacks share their common prefix, so each node is created exactly once, in
depth-first pre-order, without a per-frame dictionary walk.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from array import array
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate, chain
from operator import sub

from perftui.textsafe import redact_credentials

KINDS = ("application", "library", "stdlib", "native", "thread", "process", "import")

# Libraries whose frames py-spy shortens to "package/module.py": recognised even when they are
# not installed where the profile is read.
# fmt: off
KNOWN_LIBRARIES = frozenset((
    "aiohttp", "anyio", "asyncpg", "boto3", "botocore", "celery", "certifi", "charset_normalizer",
    "click", "django", "duckdb", "fastapi", "flask", "gevent", "grpc", "gunicorn", "h11", "h2",
    "httpcore", "httpx", "idna", "jinja2", "kombu", "lxml", "MySQLdb", "numpy", "orjson",
    "pandas", "psycopg", "psycopg2", "psycopg_binary", "psycopg_pool", "pyarrow", "pydantic",
    "pydantic_core", "pymongo", "pymysql", "pytest", "redis", "requests", "rich", "simplejson",
    "sqlalchemy", "sqlglot", "starlette", "textual", "tornado", "twisted", "ujson", "urllib3",
    "uvicorn", "uvloop", "werkzeug", "yaml", "zmq",
))
# fmt: on

_FRAME_RE = re.compile(r"^(.*) \(([^()]*?)(?::(\d+))?\)$", re.DOTALL)
_AUSTIN_RE = re.compile(r"^(.+\.pyx?):([^:]+):(\d+)$")
_THREAD_RE = re.compile(r"^thread \(([^()]*)\)(?:: .*)?$", re.DOTALL)
_PROCESS_RE = re.compile(r'^process \d+:".*"$', re.DOTALL)
_PY_VERSION_DIR = re.compile(r"/lib(?:64)?/python\d+(?:\.\d+)?t?/")
_PY_SUFFIXES = (".py", ".pyx", ".pyw", ".pyi")
_IMPORT_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    file: str | None
    line: int | None
    kind: str
    module: str | None


def parse_frame_text(text: str) -> tuple[str, str | None, int | None]:
    """``function (file:line)`` (py-spy), ``file.py:function:line`` (Austin) or a bare name."""
    m = _FRAME_RE.match(text)
    if m:
        return m.group(1), m.group(2) or None, _line_no(m.group(3))
    m = _AUSTIN_RE.match(text)
    if m:
        return m.group(2), m.group(1), _line_no(m.group(3))
    return text, None, None


def _line_no(digits: str | None) -> int | None:
    """A line number the store's INTEGER column holds; a corrupt one (``:99999999999``) is
    unknown rather than a failed ingest."""
    return int(digits) if digits and len(digits) <= 9 else None


def frame_from_text(text: str) -> Frame:
    """One folded-stack frame, classified."""
    if text.startswith("thread (") and _THREAD_RE.match(text):
        return Frame(text, None, None, "thread", None)
    if text.startswith("process ") and _PROCESS_RE.match(text):
        # A command line: ``--dsn postgresql://app:secret@db/…`` must not reach the store.
        return Frame(redact_credentials(text), None, None, "process", None)
    function, file, line = parse_frame_text(text)
    kind, module = classify(function, file)
    return Frame(function, file, line, kind, module)


@cache
def classify(function: str, file: str | None) -> tuple[str, str | None]:
    """(kind, dotted module) of a frame; see ``KINDS``.

    py-spy shortens paths on sys.path to ``package/module.py``, so a relative path is judged by
    its top-level package: a stdlib module name means stdlib, a known or installed distribution
    means library, anything else is the application.
    """
    if file is None:
        if function.startswith("0x"):
            return "native", None
        return "application", None
    if file in _IMPORT_FILES or file.endswith(
        ("importlib/_bootstrap.py", "importlib/_bootstrap_external.py")
    ):
        return "import", file.strip("<>").removeprefix("frozen ")
    if file.startswith("<frozen "):
        return "stdlib", file[8:-1]
    if file.startswith("<"):
        return "application", None
    if not file.endswith(_PY_SUFFIXES):
        return "native", None
    path = file.replace("\\", "/")
    if path.startswith("/") or (len(path) > 2 and path[1] == ":"):
        return _classify_absolute(path)
    module = _module_of(path)
    top = module.split(".", 1)[0]
    if top in sys.stdlib_module_names:
        return "stdlib", module
    if top in KNOWN_LIBRARIES or top in _installed_packages():
        return "library", module
    return "application", module


def _classify_absolute(path: str) -> tuple[str, str | None]:
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return "library", _module_of(path.rsplit(marker, 1)[1])
    for stdlib in _stdlib_dirs():
        if path.startswith(stdlib):
            return "stdlib", _module_of(path[len(stdlib) :])
    m = _PY_VERSION_DIR.search(path)
    if m:
        return "stdlib", _module_of(path[m.end() :])
    return "application", _module_of(path.rsplit("/", 1)[-1])


@cache
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({paths[k].rstrip("/") + "/" for k in ("stdlib", "platstdlib") if k in paths})


@cache
def _installed_packages() -> frozenset[str]:
    """Top-level packages of the installed, non-editable distributions (editable ones are
    usually the application being profiled)."""
    import importlib.metadata as md

    names: set[str] = set()
    try:
        for top, dists in md.packages_distributions().items():
            if not all(_editable(d) for d in dists):
                names.add(top)
    except Exception:  # broken metadata must not break profile loading
        return frozenset()
    return frozenset(names)


@cache
def _editable(dist: str) -> bool:
    import importlib.metadata as md
    import json

    try:
        info = json.loads(md.distribution(dist).read_text("direct_url.json") or "{}")
    except Exception:
        return False
    return bool(info.get("dir_info", {}).get("editable"))


def _module_of(path: str) -> str:
    path = path.lstrip("/")
    for suffix in _PY_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    module = path.replace("/", ".")
    return module.removesuffix(".__init__")


FunctionMeta = tuple[str, str | None, str | None, str, int | None]  # name, file, module, kind, line


class _Interner(dict):
    """frame text -> local frame id; a miss parses and classifies the frame once."""

    __slots__ = ("builder",)

    def __init__(self, builder: ProfileBuilder) -> None:
        super().__init__()
        self.builder = builder

    def __missing__(self, text: str) -> int:
        fid = self[text] = self.builder.add_frame(frame_from_text(text))
        return fid


@dataclass
class FlameTree:
    """Nodes in depth-first pre-order; index 0 is the synthetic root. Machine-integer arrays
    (not lists of ints) so they reach Arrow without a copy and cost 8 bytes a node."""

    parent: array  # -1 for the root
    depth: array
    frame: array  # -1 for the root
    self_w: array
    total: array
    last: array  # last node of the subtree: the subtree is node .. last
    heavy: array  # the child with the largest total (ties: the first), -1 for leaves


@dataclass
class ProfileBuilder:
    """What a parser produces: distinct frames and distinct stacks with summed weights."""

    weight_unit: str = "samples"  # samples | us
    ms_per_weight: float | None = None
    duration_s: float | None = None
    total_samples: int = 0  # number of samples (differs from the weight sum for µs weights)
    name: str | None = None
    lines_read: int = 0  # input lines (folded formats); 0 for speedscope JSON
    frames: list[Frame] = field(default_factory=list)
    stacks: dict[tuple[int, ...], int] = field(default_factory=dict)
    _by_frame: dict[Frame, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_text = _Interner(self)

    def add_frame(self, frame: Frame) -> int:
        fid = self._by_frame.get(frame)
        if fid is None:
            fid = self._by_frame[frame] = len(self.frames)
            self.frames.append(frame)
        return fid

    def frame_id(self, function: str, file: str | None, line: int | None) -> int:
        kind, module = classify(function, file)
        return self.add_frame(Frame(function, file, line, kind, module))

    def thread_frame(self, text: str) -> int:
        return self.add_frame(Frame(text, None, None, "thread", None))

    def add_stack(self, stack: tuple[int, ...], weight: int) -> None:
        self.stacks[stack] = self.stacks.get(stack, 0) + weight

    @property
    def total_weight(self) -> int:
        return sum(self.stacks.values())

    def functions(self) -> tuple[list[int], list[FunctionMeta]]:
        """Per frame its function index, and the functions: (function, file, module, kind,
        smallest line). A function is its name and file; py-spy gives each sampled line its own
        frame."""
        index: dict[tuple[str, str | None], int] = {}
        funcs: list[list] = []
        of_frame = []
        for f in self.frames:
            key = (f.function, f.file)
            i = index.get(key)
            if i is None:
                i = index[key] = len(funcs)
                funcs.append([f.function, f.file, f.module, f.kind, f.line])
            elif f.line is not None and (funcs[i][4] is None or f.line < funcs[i][4]):
                funcs[i][4] = f.line
            of_frame.append(i)
        return of_frame, [tuple(f) for f in funcs]

    def sorted_stacks(self) -> list[tuple[tuple[int, ...], int]]:
        return sorted(self.stacks.items())

    @staticmethod
    def flame_tree(stacks: list[tuple[tuple[int, ...], int]]) -> tuple[FlameTree, array]:
        """The merged call tree of lexicographically sorted stacks, and each stack's leaf node.

        A node's subtree ends where the walk leaves it (when a later stack no longer shares
        it), and its total is a difference of running sums of self weights over that range, so
        no per-node bottom-up pass is needed.
        """
        parent, depth, frame = array("q", [-1]), array("i", [0]), array("i", [-1])
        self_w = array("q", [0])
        last = array("q", [0])
        path = [0]  # node ids from the root along the previous stack
        prev: tuple[int, ...] = ()
        leaves = array("q")
        for stack, weight in stacks:
            k = 0
            limit = min(len(stack), len(prev))
            while k < limit and stack[k] == prev[k]:
                k += 1
            if len(path) > k + 1:
                end = len(frame) - 1
                for closed in path[k + 1 :]:
                    last[closed] = end
                del path[k + 1 :]
            up = path[-1]
            new = len(stack) - k
            if new:
                # The new nodes of this stack form a chain with consecutive ids: bulk extends.
                start = len(frame)
                parent.append(up)
                parent.extend(range(start, start + new - 1))
                depth.extend(range(k + 1, len(stack) + 1))
                frame.extend(stack[k:])
                self_w.frombytes(bytes(8 * new))
                last.extend(range(start, start + new))
                path.extend(range(start, start + new))
                up = start + new - 1
            self_w[up] += weight
            leaves.append(up)
            prev = stack
        end = len(frame) - 1
        for open_node in path:
            last[open_node] = end
        running = list(accumulate(self_w))
        total = array("q", map(sub, map(running.__getitem__, last), chain((0,), running)))
        heavy = array("q", [-1]) * len(frame)
        best = array("q", [-1]) * len(frame)
        for node in range(1, len(frame)):
            up = parent[node]
            if total[node] > best[up]:
                best[up] = total[node]
                heavy[up] = node
        return FlameTree(parent, depth, frame, self_w, total, last, heavy), leaves
