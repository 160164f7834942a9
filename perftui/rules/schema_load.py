"""Fill a ``SchemaInfo`` from a DDL file or from a live catalog (PostgreSQL, MySQL/MariaDB).

DDL is read with sqlglot in the given dialect: ``CREATE TABLE`` (columns, inline and table-level
PRIMARY KEY / UNIQUE, MySQL ``KEY``/``INDEX`` and InnoDB's implicit foreign-key indexes),
``CREATE [UNIQUE] INDEX … ON t [USING m] (columns / expressions)`` and ``ALTER TABLE … ADD
CONSTRAINT / ADD INDEX`` (pg_dump and mysqldump output). Live catalogs are read from
``pg_catalog`` (PostgreSQL) or ``information_schema`` (MySQL/MariaDB).

A DSN's password never leaves this module: every message and ``SchemaInfo.source`` go through
``redact_dsn``, and driver errors are scrubbed of it before they become one-line ``ValueError``s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from perftui.rules.schema_info import Index, SchemaInfo
from perftui.textsafe import redact_credentials

CONNECT_TIMEOUT_S = 5
PG_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
MYSQL_SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
_SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}


# --------------------------------------------------------------------------- DSN helpers


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (URL userinfo, ``password=`` parameters)."""
    return redact_credentials(str(dsn))


def dsn_kind(dsn: str) -> str | None:
    """``postgres`` or ``mysql`` for a DSN this module can read, else None."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else ""
    return _SCHEMES.get(scheme)


def dsn_password(dsn: str) -> str | None:
    """The password in a DSN (for scrubbing messages only; never shown)."""
    try:
        parts = urlsplit(dsn)
        if parts.password:
            return unquote(parts.password)
        for key, value in parse_qsl(parts.query):
            if key.lower() == "password" and value:
                return value
    except ValueError:
        pass
    m = re.search(r"(?i)\bpassword\s*=\s*'?([^'\s&]+)", dsn)
    return m.group(1) if m else None


def scrub(message: str, dsn: str) -> str:
    """One line of a driver's message with the DSN and its password redacted."""
    line = next((s.strip() for s in str(message).splitlines() if s.strip()), "")
    secret = dsn_password(dsn)
    line = line.replace(dsn, redact_dsn(dsn))
    if secret:
        line = line.replace(secret, "***")
    return redact_dsn(line)[:300]


# --------------------------------------------------------------------------- entry points


def load_schema(source: str, dialect: str = "postgres", **kwargs: Any) -> SchemaInfo:
    """A DSN (``postgresql://…``, ``mysql://…``, ``mariadb://…``) or a DDL file path."""
    if "://" in source:
        return load_dsn(source, **kwargs)
    return load_ddl_file(source, dialect)


def load_dsn(dsn: str, *, schemas: Sequence[str] | None = None) -> SchemaInfo:
    """Read tables, columns and indexes from a live catalog; ``schemas`` limits the schemas
    (PostgreSQL) or databases (MySQL) read (default: the DSN's database on MySQL, every
    non-system schema on PostgreSQL, the search path winning when a table name repeats)."""
    kind = dsn_kind(dsn)
    if kind == "postgres":
        return _load_postgres(dsn, schemas)
    if kind == "mysql":
        return _load_mysql(dsn, schemas)
    raise ValueError(
        f"{redact_dsn(dsn)}: not a supported DSN (use postgresql://, mysql:// or mariadb://)"
    )


def load_ddl_file(path: str | Path, dialect: str = "postgres") -> SchemaInfo:
    """Read a DDL file (``CREATE TABLE`` / ``CREATE INDEX`` / ``ALTER TABLE``)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read schema file ({exc.strerror or exc})") from None
    info = load_ddl(text, dialect)
    info.source = f"ddl:{path}"
    return info


def load_ddl(text: str, dialect: str = "postgres") -> SchemaInfo:
    """Parse DDL text; statements sqlglot cannot read (or that are not DDL) are skipped."""
    read = _sqlglot_dialect(dialect)
    info = SchemaInfo(source="ddl")
    for stmt in _statements(text, read):
        if isinstance(stmt, exp.Create):
            kind = (stmt.args.get("kind") or "").upper()
            if kind == "TABLE":
                _ddl_create_table(info, stmt, read)
            elif kind == "INDEX":
                _ddl_create_index(info, stmt, read)
        elif isinstance(stmt, exp.Alter):
            _ddl_alter_table(info, stmt, read)
    return info


# --------------------------------------------------------------------------- DDL parsing


def _sqlglot_dialect(dialect: str) -> str:
    d = (dialect or "postgres").lower()
    if d in ("postgres", "postgresql", "pg"):
        return "postgres"
    if d in ("mysql", "mariadb"):
        return "mysql"
    raise ValueError(f"unknown SQL dialect {dialect!r} (use postgres or mysql)")


def _statements(text: str, read: str) -> Iterator[exp.Expression]:
    """Each statement of ``text`` parsed on its own, so one unreadable statement (a psql
    meta-command, a vendor extension) does not lose the rest of the file."""
    # pg_dump's COPY … FROM stdin data blocks, then psql meta-commands (\connect, \restrict …).
    text = re.sub(r"(?ims)^COPY\b[^;]*?\bFROM\s+stdin[^;]*;.*?^\\\.[ \t]*$", "", text)
    text = re.sub(r"(?m)^\\.*$", "", text)
    text = re.sub(r"(?im)^\s*DELIMITER\s+.*$", "", text)
    dialect = sqlglot.Dialect.get_or_raise(read)
    try:
        tokens = dialect.tokenize(text)
    except TokenError:
        chunks = [c for c in text.split(";") if c.strip()]
    else:
        chunks, start = [], 0
        for tok in tokens:
            if tok.token_type == TokenType.SEMICOLON:
                chunks.append(text[start : tok.start])
                start = tok.end + 1
        chunks.append(text[start:])
    for chunk in chunks:
        if not chunk.strip():
            continue
        # Only DDL is interesting; skip COPY data, INSERTs, SETs and the like cheaply.
        if not re.match(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(CREATE|ALTER)\b", chunk, re.I | re.S):
            continue
        try:
            stmt = sqlglot.parse_one(chunk, read=read)
        except (ParseError, TokenError, RecursionError, ValueError):
            continue
        if stmt is not None:
            yield stmt


def _ident(node: exp.Expression | str | None) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, exp.Identifier):
        return node.this if node.quoted else node.this.lower()
    if isinstance(node, exp.Column):
        return _ident(node.this)
    return node.name


def _key_part(node: exp.Expression, read: str) -> str:
    """An index key as stored in ``Index.columns``: a column name, or an expression's SQL."""
    if isinstance(node, exp.Ordered):
        node = node.this
    if isinstance(node, exp.Opclass):
        node = node.this
    if isinstance(node, exp.ColumnPrefix):  # MySQL a(10): a prefix of column a
        return _ident(node.this)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.Column):
        node = node.this
    if isinstance(node, (exp.Column, exp.Identifier)):
        return _ident(node)
    return node.sql(read, normalize_functions="lower")


def _parts(nodes: Sequence[exp.Expression] | None, read: str) -> tuple[str, ...]:
    return tuple(_key_part(n, read) for n in nodes or [])


def _table_key(table: exp.Table) -> str:
    return _ident(table.this).lower()


def _ddl_create_table(info: SchemaInfo, stmt: exp.Create, read: str) -> None:
    schema = stmt.this
    if not isinstance(schema, exp.Schema) or not isinstance(schema.this, exp.Table):
        return  # CREATE TABLE … AS SELECT: no column list to read
    table = _table_key(schema.this)
    cols: list[str] = []
    fks: list[tuple[str, tuple[str, ...]]] = []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            name = _ident(item.this)
            cols.append(name)
            for cons in item.args.get("constraints") or []:
                kind = cons.args.get("kind")
                if isinstance(kind, exp.PrimaryKeyColumnConstraint):
                    info.add_index(_pk(table, (name,), read))
                elif isinstance(kind, exp.UniqueColumnConstraint):
                    info.add_index(Index(table, f"{table}_{name}_key", (name,), unique=True))
        else:
            fk = _table_constraint(info, table, item, None, read)
            if fk:
                fks.append(fk)
    info.columns[table] = cols
    if read == "mysql":  # InnoDB indexes every foreign key that no index leads with
        for name, fk_cols in fks:
            lead = [i.columns[: len(fk_cols)] for i in info.indexes_of(table)]
            if fk_cols not in lead:
                info.add_index(Index(table, name or f"{table}_{'_'.join(fk_cols)}_fk", fk_cols))


def _pk(table: str, cols: tuple[str, ...], read: str, name: str | None = None) -> Index:
    return Index(
        table,
        name or ("PRIMARY" if read == "mysql" else f"{table}_pkey"),
        cols,
        unique=True,
        primary=True,
    )


def _table_constraint(
    info: SchemaInfo, table: str, item: exp.Expression, name: str | None, read: str
) -> tuple[str, tuple[str, ...]] | None:
    """Record a table-level key; a FOREIGN KEY is returned (name, columns) instead."""
    if isinstance(item, exp.Constraint):
        found = None
        for sub in item.expressions:
            found = _table_constraint(info, table, sub, _ident(item.this), read) or found
        return found
    if isinstance(item, exp.PrimaryKey):
        info.add_index(_pk(table, _parts(item.expressions, read), read, name))
    elif isinstance(item, exp.UniqueColumnConstraint):
        target = item.this
        if isinstance(target, exp.Schema):
            cols = _parts(target.expressions, read)
            iname = name or _ident(target.this) or f"{table}_{'_'.join(cols)}_key"
            if cols:
                info.add_index(Index(table, iname, cols, unique=True))
    elif isinstance(item, exp.IndexColumnConstraint):
        cols = _parts(item.expressions, read)
        kind = (item.args.get("kind") or "").lower()
        method = kind if kind in ("fulltext", "spatial") else "btree"
        using = item.args.get("index_type")
        if isinstance(using, exp.Expression):
            method = using.name.lower() or method
        if cols:
            iname = name or _ident(item.this) or f"{table}_{'_'.join(cols)}_idx"
            info.add_index(Index(table, iname, cols, method=method))
    elif isinstance(item, exp.ForeignKey):
        return name or "", _parts(item.expressions, read)
    return None


def _ddl_create_index(info: SchemaInfo, stmt: exp.Create, read: str) -> None:
    index = stmt.this
    if not isinstance(index, exp.Index) or not isinstance(index.args.get("table"), exp.Table):
        return
    table = _table_key(index.args["table"])
    params = index.args.get("params")
    cols = _parts(params.args.get("columns") if params else None, read)
    if not cols:
        return
    using = params.args.get("using") if params else None
    where = params.args.get("where") if params else None
    info.add_index(
        Index(
            table,
            _ident(index.this) or f"{table}_{'_'.join(cols)}_idx",
            cols,
            unique=bool(stmt.args.get("unique")),
            method=using.name.lower() if isinstance(using, exp.Expression) else "btree",
            where=where.this.sql(read) if isinstance(where, exp.Where) else None,
        )
    )


def _ddl_alter_table(info: SchemaInfo, stmt: exp.Alter, read: str) -> None:
    if not isinstance(stmt.this, exp.Table):
        return
    table = _table_key(stmt.this)
    for action in stmt.args.get("actions") or []:
        if isinstance(action, exp.AddConstraint):
            for item in action.expressions:
                _table_constraint(info, table, item, None, read)


# --------------------------------------------------------------------------- PostgreSQL


_PG_COLUMNS = """
SELECT n.nspname, c.relname, a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname = ANY(%s)
ORDER BY n.nspname, c.relname, a.attnum
"""

_PG_ROWS = """
SELECT n.nspname, c.relname, c.reltuples::bigint
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY(%s)
"""

_PG_INDEXES = """
SELECT n.nspname, t.relname, i.relname, x.indisunique, x.indisprimary, am.amname,
       pg_catalog.pg_get_expr(x.indpred, x.indrelid, true),
       ARRAY(SELECT pg_catalog.pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k)
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = i.relam
WHERE x.indisvalid AND n.nspname = ANY(%s)
ORDER BY n.nspname, t.relname, i.relname
"""

_PG_SCHEMAS = """
SELECT nspname, array_position(current_schemas(false), nspname)
FROM pg_catalog.pg_namespace
WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_temp\\_%%'
  AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
"""


def pg_connect(dsn: str, **kwargs: Any) -> Any:
    """A psycopg connection, or a one-line ``ValueError`` that never shows the password."""
    try:
        import psycopg
    except ImportError:
        raise ValueError("psycopg is not installed: pip install 'psycopg[binary]'") from None
    try:
        return psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.Error as exc:
        raise ValueError(f"cannot connect to {redact_dsn(dsn)}: {scrub(str(exc), dsn)}") from None
    except Exception as exc:  # malformed DSNs raise ProgrammingError/ValueError variants
        raise ValueError(
            f"cannot connect to {redact_dsn(dsn)}: {scrub(str(exc), dsn) or type(exc).__name__}"
        ) from None


def _load_postgres(dsn: str, schemas: Sequence[str] | None) -> SchemaInfo:
    import psycopg

    conn = pg_connect(dsn, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(_PG_SCHEMAS, [list(PG_SYSTEM_SCHEMAS)])
            rank = {name: (pos if pos is not None else 10_000) for name, pos in cur.fetchall()}
            wanted = list(schemas) if schemas else sorted(rank, key=lambda s: (rank[s], s))
            cur.execute(_PG_COLUMNS, [wanted])
            col_rows = cur.fetchall()
            cur.execute(_PG_INDEXES, [wanted])
            idx_rows = cur.fetchall()
            cur.execute(_PG_ROWS, [wanted])
            count_rows = [
                (nsp, tbl, n) for nsp, tbl, n in cur.fetchall() if n is not None and n >= 0
            ]
    except psycopg.Error as exc:
        raise ValueError(
            f"{redact_dsn(dsn)}: cannot read the catalog: {scrub(str(exc), dsn)}"
        ) from None
    finally:
        conn.close()
    order = {s: i for i, s in enumerate(wanted)}
    return _assemble(
        col_rows,
        [
            (nsp, tbl, Index(tbl.lower(), name, tuple(keys), unique, method, pred, primary))
            for nsp, tbl, name, unique, primary, method, pred, keys in idx_rows
        ],
        order,
        f"postgres:{redact_dsn(dsn)}",
        count_rows,
    )


def _assemble(
    col_rows: Sequence[tuple[str, str, str]],
    idx_rows: Sequence[tuple[str, str, Index]],
    order: dict[str, int],
    source: str,
    count_rows: Sequence[tuple[str, str, int]] = (),
) -> SchemaInfo:
    """Build the SchemaInfo; a table name found in several schemas keeps the first schema's."""
    owner: dict[str, str] = {}
    for nsp, tbl, _col in col_rows:
        key = tbl.lower()
        if key not in owner or order.get(nsp, 1 << 30) < order.get(owner[key], 1 << 30):
            owner[key] = nsp
    info = SchemaInfo(source=source)
    for nsp, tbl, col in col_rows:
        if owner.get(tbl.lower()) == nsp:
            info.columns.setdefault(tbl.lower(), []).append(col)
    for nsp, tbl, index in idx_rows:
        if owner.get(tbl.lower(), nsp) == nsp:
            info.add_index(index)
    for nsp, tbl, n in count_rows:
        if owner.get(tbl.lower()) == nsp:
            info.rows[tbl.lower()] = int(n)
    return info


# --------------------------------------------------------------------------- MySQL / MariaDB


def _mysql_params(dsn: str) -> dict[str, Any]:
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{redact_dsn(dsn)}: malformed DSN ({scrub(str(exc), dsn)})") from None
    query = dict(parse_qsl(parts.query))
    params: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": port or 3306,
        "user": unquote(parts.username) if parts.username else query.get("user", "root"),
        "password": unquote(parts.password) if parts.password else query.get("password", ""),
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    database = unquote(parts.path.lstrip("/")) if parts.path else ""
    if database:
        params["database"] = database
    if "unix_socket" in query:
        params["unix_socket"] = query["unix_socket"]
    return params


def mysql_connect(dsn: str) -> Any:
    """A pymysql connection, or a one-line ``ValueError`` that never shows the password."""
    try:
        import pymysql
    except ImportError:
        raise ValueError("pymysql is not installed: pip install pymysql") from None
    params = _mysql_params(dsn)
    try:
        return pymysql.connect(**params)
    except pymysql.MySQLError as exc:
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise ValueError(f"cannot connect to {redact_dsn(dsn)}: {scrub(str(text), dsn)}") from None
    except Exception as exc:
        raise ValueError(
            f"cannot connect to {redact_dsn(dsn)}: {scrub(str(exc), dsn) or type(exc).__name__}"
        ) from None


def _load_mysql(dsn: str, schemas: Sequence[str] | None) -> SchemaInfo:
    import pymysql

    conn = mysql_connect(dsn)
    database = _mysql_params(dsn).get("database")
    try:
        with conn.cursor() as cur:
            if schemas:
                wanted = list(schemas)
            elif database:
                wanted = [database]
            else:
                cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                wanted = sorted(
                    r[0] for r in cur.fetchall() if r[0].lower() not in MYSQL_SYSTEM_SCHEMAS
                )
            marks = ", ".join(["%s"] * len(wanted)) or "NULL"
            cur.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
                f" WHERE TABLE_SCHEMA IN ({marks})"
                " ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
                wanted,
            )
            col_rows = [(r[0], r[1], r[2].lower()) for r in cur.fetchall()]
            # SELECT *: MySQL 8 has an EXPRESSION column (functional key parts), MariaDB not.
            cur.execute(
                f"SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN ({marks})"
                " ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                wanted,
            )
            names = [d[0].upper() for d in cur.description]
            stat_rows = [dict(zip(names, r, strict=False)) for r in cur.fetchall()]
            cur.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES"
                f" WHERE TABLE_SCHEMA IN ({marks}) AND TABLE_ROWS IS NOT NULL",
                wanted,
            )
            count_rows = [(r[0], r[1], int(r[2])) for r in cur.fetchall()]
    except pymysql.MySQLError as exc:
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise ValueError(
            f"{redact_dsn(dsn)}: cannot read the catalog: {scrub(str(text), dsn)}"
        ) from None
    finally:
        conn.close()
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in stat_rows:
        grouped.setdefault((row["TABLE_SCHEMA"], row["TABLE_NAME"], row["INDEX_NAME"]), []).append(
            row
        )
    idx_rows = []
    for (nsp, tbl, name), parts in grouped.items():
        keys = tuple(
            (p["COLUMN_NAME"] or "").lower() if p.get("COLUMN_NAME") else str(p.get("EXPRESSION"))
            for p in parts
        )
        method = str(parts[0].get("INDEX_TYPE") or "BTREE").lower()
        unique = str(parts[0].get("NON_UNIQUE")) in ("0", "False")
        idx_rows.append(
            (nsp, tbl, Index(tbl.lower(), name, keys, unique, method, None, name == "PRIMARY"))
        )
    order = {s: i for i, s in enumerate(wanted)}
    return _assemble(col_rows, idx_rows, order, f"mysql:{redact_dsn(dsn)}", count_rows)
