"""What the advisor knows about the database's tables, columns and indexes.

Filled from a DDL file (``--schema``) or a live catalog (``--dsn``); empty when neither is given,
in which case rules fall back to what the log itself shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Index:
    table: str
    name: str
    columns: tuple[str, ...]  # in index order; expressions as their SQL text
    unique: bool = False
    method: str = "btree"
    where: str | None = None  # predicate of a partial index (SQL text); None for a full index
    primary: bool = False  # the table's primary key


@dataclass(slots=True)
class SchemaInfo:
    """Tables (lower-case, unqualified name) -> ordered columns, and their indexes."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    indexes: dict[str, list[Index]] = field(default_factory=dict)
    source: str | None = None  # where it came from, for the report (never includes a password)
    rows: dict[str, int] = field(default_factory=dict)  # estimated row counts (live catalogs)

    @property
    def known(self) -> bool:
        return bool(self.columns or self.indexes)

    def table_key(self, table: str) -> str:
        return table.split(".")[-1].strip('"`').lower()

    def columns_of(self, table: str) -> list[str] | None:
        return self.columns.get(self.table_key(table))

    def indexes_of(self, table: str) -> list[Index]:
        return self.indexes.get(self.table_key(table), [])

    def rows_of(self, table: str) -> int | None:
        """The catalog's estimate of the table's rows, when a live catalog was read."""
        return self.rows.get(self.table_key(table))

    def primary_key(self, table: str) -> Index | None:
        """The table's primary key, when known."""
        return next((i for i in self.indexes_of(table) if i.primary), None)

    def add_index(self, index: Index) -> None:
        """Record an index; one of the same name on the same table replaces it."""
        known = self.indexes.setdefault(self.table_key(index.table), [])
        for i, old in enumerate(known):
            if old.name.lower() == index.name.lower():
                known[i] = index
                return
        known.append(index)

    def served_by_prefix(self, table: str, columns: tuple[str, ...]) -> Index | None:
        """An existing index whose leading columns are exactly ``columns`` (any order of the
        equality set is acceptable only when the caller passes it so)."""
        want = tuple(c.lower() for c in columns)
        for idx in self.indexes_of(table):
            lead = tuple(c.lower() for c in idx.columns[: len(want)])
            if lead == want:
                return idx
        return None
