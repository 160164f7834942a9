"""Command palette provider: jump to a query class, finding, table or function by fuzzy name.

Candidates come from DuckDB already narrowed to those containing the typed characters in order
(a parameterised ``LIKE``), so the fuzzy scoring only ever sees a few dozen strings, whatever
the size of the store. Prompts are Rich ``Text``: the palette would read strings as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.fuzzy import Matcher

from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui import format as fmt

KINDS = ("class", "finding", "table", "function")


class PerftuiProvider(Provider):
    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(cursor, *args)`` in a thread worker; None when the store is not ready."""
        app: Any = self.app
        store = app.store
        if store is None or app.class_count is None:
            return None

        def work() -> Any:
            try:
                with store.cursor() as cur:
                    return fn(cur, *args)
            except data.StoreClosed:
                return None

        worker = app.run_worker(work, thread=True, group="palette", exit_on_error=False)
        await worker.wait()
        return worker.result

    async def discover(self) -> Hits:
        app: Any = self.app
        if app.analysis is not None:
            for i, f in enumerate(app.analysis.findings[:5]):
                text = clean(f"Finding: {f.title}", one_line=True)
                yield DiscoveryHit(
                    Text(text),
                    partial(app.open_finding, i),
                    text=text,
                    help=f"{f.severity} · {f.rule} · {fmt.ms(f.impact_ms)}",
                )

    async def search(self, query: str) -> Hits:
        app: Any = self.app
        matcher = self.matcher(query)
        kind, _, rest = query.strip().partition(" ")
        kind = kind.lower()
        if kind in KINDS and rest.strip():
            # "table orders": only tables, and the database narrows on "orders" alone.
            only, query = kind, rest.strip()
        else:
            only = None
        if only in (None, "class"):
            classes = await self._in_worker(data.search_classes, query) or []
        else:
            classes = []
        for c in classes:
            label = f"Class {c.class_id}: {c.fingerprint}"
            help_ = f"query class · {fmt.ms(c.total_ms)} in total"
            if hit := _hit(matcher, label, partial(app.open_class, c.class_id), help_, 200):
                yield hit
        if app.analysis is not None and only in (None, "finding"):
            for i, f in enumerate(app.analysis.findings):
                label = f"Finding: {f.rule}: {f.title}"
                help_ = f"{f.severity} · impact {fmt.ms(f.impact_ms)}"
                if hit := _hit(matcher, label, partial(app.open_finding, i), help_):
                    yield hit
        tables = await self._in_worker(data.search_tables, query) if only in (None, "table") else []
        for table in tables or []:
            action = partial(app.show_queries, f"table:{table}")
            if hit := _hit(matcher, f"Table {table}", action, "query classes that use this table"):
                yield hit
        functions = (
            await self._in_worker(data.search_functions, query)
            if only in (None, "function")
            else []
        )
        for fn in functions or []:
            label = f"Function {fn.function} ({fn.file}:{fn.line})"
            action = partial(app.open_function, fn.function, fn.file, fn.line)
            if hit := _hit(matcher, label, action, "profiled function"):
                yield hit


def _hit(
    matcher: Matcher, label: str, action: Callable[[], Any], help_: str, width: int | None = None
) -> Hit | None:
    """The hit for ``label`` when it matches: log text in it is cleaned to one line (cut to
    ``width``) and highlighted literally, never read as markup."""
    text = clean(label, one_line=True)[:width]
    score = matcher.match(text)
    if score <= 0:
        return None
    return Hit(score, literal_highlight(matcher, text), action, text=text, help=help_)


def literal_highlight(matcher: Matcher, text: str) -> Text:
    """``text`` with the fuzzy match marked, as a Rich ``Text``: the palette reads a plain string
    (and ``Matcher.highlight``'s result) as markup, and log text must never be markup."""
    out = Text(text)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            out.stylize("bold underline", offset, offset + 1)
    return out
