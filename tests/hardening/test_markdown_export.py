"""The Markdown report renders log text as text: a crafted log line cannot add a link, an image,
raw HTML, emphasis, a heading or a table cell to the report someone pastes into a ticket.

Checked on the HTML a real CommonMark + GFM parser (markdown-it, which Rich depends on) makes of
the report, and on the table rows of the Markdown source itself.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from perftui.report import model, render_markdown
from perftui.rules.base import Finding
from perftui.store import queries
from tests.hardening.checks import run_cli

LINK = "[click](http://evil.example/a)"
IMAGE = "![px](http://evil.example/p.png)"
HTML = "<img src=x onerror=alert(1)><b>b</b><script>x</script>"
EMPHASIS = "*em* _em_ __strong__ ~~del~~ `code`"
BARE = "http://evil.example/bare www.evil.example"
HOSTILE = f"{LINK}{IMAGE}{HTML}|{EMPHASIS}|{BARE}"
# A quoted identifier keeps all of it through the fingerprint ('"' is the only character it
# cannot hold); a second table starts with '#'.
TABLE = f'"t{HOSTILE}"'
HASH_TABLE = '"# not a heading"'
FILE_NAME = "log[a](evil.example)<b>x|y*z*"  # a file name cannot hold '/'

# Tags the report itself writes; anything else in the HTML came from the data.
OWN_TAGS = {
    "h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "ul",
    "li", "strong",
}  # fmt: skip
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")


def markdown_parser() -> MarkdownIt:
    """GFM as GitHub renders it (tables, strikethrough, bare-URL links when linkify is there)."""
    try:
        import linkify_it  # noqa: F401
    except ImportError:
        return MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return MarkdownIt("gfm-like")


def jsonlog() -> bytes:
    """A PostgreSQL jsonlog whose user, database and identifiers are hostile Markdown, shaped
    so that rules quoting fingerprints and tables in their titles fire."""
    lines: list[str] = []

    def record(pid: int, message: str) -> None:
        n = len(lines)
        lines.append(
            json.dumps(
                {
                    "timestamp": f"2026-11-24 09:31:{n // 1000:02d}.{n % 1000:03d} UTC",
                    "user": "app" + HOSTILE,
                    "dbname": "shop" + HOSTILE,
                    "pid": pid,
                    "session_id": f"s{pid}",
                    "error_severity": "LOG",
                    "message": message,
                    "application_name": "web" + HOSTILE,
                    "backend_type": "client backend",
                }
            )
        )

    for pid in (100, 101, 102):
        record(pid, "connection authorized: user=app database=shop")
        record(pid, f"duration: 5.0 ms  statement: SELECT * FROM {TABLE} WHERE a = 1")
        for i in range(8):  # N+1 after the statement above
            record(pid, f"duration: 9.0 ms  statement: SELECT id FROM {TABLE} WHERE b = {i}")
        for _ in range(25):  # a cache candidate
            record(pid, f"duration: 2.0 ms  statement: SELECT * FROM {HASH_TABLE} WHERE k = 'x'")
        record(pid, f"duration: 30.0 ms  statement: SELECT c FROM {TABLE} WHERE c LIKE '%x%'")
    return ("\n".join(lines) + "\n").encode()


def table_rows_are_whole(markdown: str) -> list[str]:
    """Table lines whose cell count differs from their table's header (a pipe from the data
    would add a cell); an escaped character is skipped, as a Markdown parser does."""
    broken: list[str] = []
    header = 0
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = 0
            continue
        cells = _unescaped_pipes(line)
        if not header:
            header = cells
        elif cells != header:
            broken.append(line)
    return broken


def _unescaped_pipes(line: str) -> int:
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        count += line[i] == "|"
        i += 1
    return count


def assert_inert(markdown: str) -> str:
    """The HTML of ``markdown`` holds only the report's own tags and no data-made table cell;
    returns the HTML's text for checks that the data did arrive, literally."""
    rendered = markdown_parser().render(markdown)
    tags = {m.group(2).lower() for m in TAG.finditer(rendered)}
    assert tags <= OWN_TAGS, sorted(tags - OWN_TAGS)
    strong = re.findall(r"<strong>(.*?)</strong>", rendered)
    assert set(strong) <= {"no"}, strong  # the report's own "**no**" (does not reconcile)
    assert not table_rows_are_whole(markdown), table_rows_are_whole(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.fixture(scope="module")
def cli_markdown(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("md")
    log = folder / f"{FILE_NAME}.json"
    log.write_bytes(jsonlog())
    code, out, err = run_cli("analyze", str(log), "--db", str(folder / "s.duckdb"),
                             "--format", "markdown")  # fmt: skip
    assert code == 0, err
    return out


def test_cli_markdown_has_no_live_link_image_html_or_extra_cell(cli_markdown: str) -> None:
    text = assert_inert(cli_markdown)
    assert LINK in text and IMAGE in text and "<script>x</script>" in text  # shown, as text
    assert FILE_NAME in text
    assert "# not a heading" in text


def test_cli_markdown_findings_quote_the_hostile_names(cli_markdown: str) -> None:
    """The findings section is exercised: titles and table cells carry the hostile table."""
    assert "## Findings" in cli_markdown
    findings = cli_markdown.split("## Findings", 1)[1].split("## Query classes", 1)[0]
    assert "evil.example" in findings


def test_rendered_report_escapes_titles_details_tables_and_warnings() -> None:
    """Every Markdown context through ``render`` directly, with block syntax at line starts."""
    detail = "\n".join(
        ["# heading", "> quote", "- item", "1. first", "---", "    indented", "<div>x</div>",
         "```", f"[ref]: http://evil.example {LINK}"]
    )  # fmt: skip
    finding = Finding(
        rule="select-star",
        severity="low",
        title=f"SELECT * from {HOSTILE}",
        detail=detail,
        fix=f"SELECT a FROM {TABLE} -- ```` ~~~\n```\n{HTML}",
        impact_ms=1.0,
        query_class_ids=["0123456789ABCDEF", f"X`|{LINK}"],
    )
    stats = queries.ClassStats(
        "0123456789ABCDEF", f"SELECT * FROM {TABLE}", "postgres", 1, 1.0,
        *[None] * 11, None, None, {}, {}, {}, [0] * 8, None, tables=[TABLE, HASH_TABLE],
    )  # fmt: skip
    source = queries.SourceSummary(1, FILE_NAME, "postgres-json", "postgres", 3, 1, 2, 1, {},
                                   False, None)  # fmt: skip
    report = model.Report(
        generated_at=dt.datetime(2026, 1, 1),
        window=queries.Window(),
        totals=queries.Totals(1, 1, 1, 1.0, None, None),
        sources=[source],
        classes=[stats],
        classes_total=1,
        findings=[finding],
        warnings=[f"# {HOSTILE}", f"> {LINK}", f"1. {IMAGE}"],
    )
    markdown = render_markdown.render(report)
    text = assert_inert(markdown)
    for line in ("# heading", "> quote", "- item", "1. first", "<div>x</div>", "[ref]:"):
        assert line in text
    assert f"SELECT a FROM {TABLE} -- ```` ~~~\n```\n{HTML}" in text  # the fix, whole in its block


@pytest.mark.parametrize(
    "value",
    [LINK, IMAGE, HTML, EMPHASIS, BARE, "# h", "> q", "- i", "+ i", "1) x", "===", "a\\|b",
     "&lt;b&gt; &#60;i&#62;", "x\\", "[a]\n[a]: http://evil.example", "<http://evil.example>"],
)  # fmt: skip
def test_escape_renders_as_the_same_text(value: str) -> None:
    for one_line in (True, False):
        out = render_markdown.escape(value, one_line=one_line)
        rendered = markdown_parser().render(out)
        assert not set(m.group(2) for m in TAG.finditer(rendered)) - {"p"}, rendered
        text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
        assert text == (" ".join(value.split()) if one_line else value), (out, rendered)


def test_code_span_only_for_plain_ids() -> None:
    assert render_markdown.code_span("0123456789ABCDEF") == "`0123456789ABCDEF`"
    assert render_markdown.code_span("a`b|c") == render_markdown.escape("a`b|c")


def test_markdown_source_file_name_is_escaped(tmp_path: Path) -> None:
    """The sources table row of a file whose name holds a pipe keeps its six cells."""
    log = tmp_path / "a|b|c.json"
    log.write_bytes(jsonlog())
    code, out, err = run_cli("analyze", str(log), "--db", str(tmp_path / "s.duckdb"),
                             "--format", "markdown")  # fmt: skip
    assert code == 0, err
    assert not table_rows_are_whole(out)


def test_compare_markdown_is_inert(tmp_path: Path) -> None:
    """``perftui compare`` lists the findings that went away by title: escaped the same way."""
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_bytes(jsonlog())
    after.write_bytes(jsonlog().splitlines(keepends=True)[0])
    code, out, err = run_cli("compare", str(before), str(after), "--format", "markdown")
    assert code == 0, err
    text = assert_inert(out)
    assert "## Findings gone" in out and "evil.example" in text


@pytest.mark.parametrize("literals", [False, True])
def test_markdown_has_who_rows_and_evidence_and_literals_only_when_asked(
    tmp_path: Path, literals: bool
) -> None:
    """What pt-query-digest shows per class (users, databases, hosts, rows, lock) and each
    finding's evidence, as in the JSON report: its literal-bearing keys only with
    --show-literals."""
    from tests.conftest import sample

    args = ["--show-literals"] if literals else []
    code, out, err = run_cli("analyze", str(sample("mariadb-slow.log")), "--db",
                             str(tmp_path / "s.duckdb"), "--format", "markdown", *args)  # fmt: skip
    assert code == 0, err
    text = assert_inert(out)
    assert "users: root (" in text and "databases: shop (" in text
    assert "rows examined " in text and "lock " in text
    cache = out.split("Cache candidate:", 2)[2].split("### Finding", 1)[0]
    assert "- repeats: " in cache and "- max_in_window: " in cache
    assert ("- statement: " in cache) is literals
    assert ("'currency'" in out) is literals
