"""Profile tables in the perftui store, next to the log tables.

Every distinct stack is stored once (``stacks``), and the flame tree is materialised at ingest
(``flame_nodes``, numbered in depth-first pre-order): a node's subtree is the id range
``node_id .. last_id``, so "children of X" prunes to that range instead of walking stacks, and
each view query reads a few rows. ``functions`` and ``call_edges`` hold the per-function
aggregates the top-functions table and the sandwich view read. Ids are global (unique over all
profiles) so a frame or node id alone names it.
"""

from __future__ import annotations

import duckdb

PROFILE_FORMATS = ("pyspy-raw", "folded", "speedscope")

DDL = """
CREATE TABLE IF NOT EXISTS profiles (
    profile_id    INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL,      -- sources.source_id (format pyspy-raw/folded/speedscope)
    format        VARCHAR NOT NULL,
    name          VARCHAR,               -- file name, or the speedscope profile name
    recorded_with_idle BOOLEAN,          -- NULL: not known (a file; see rules.warnings)
    rate_hz       DOUBLE,                -- sampling rate when known
    ms_per_weight DOUBLE,                -- what one unit of weight is worth in ms (NULL: unknown)
    weight_unit   VARCHAR NOT NULL,      -- samples | us
    started_at    TIMESTAMP,             -- UTC wall clock of the recording, when known
    ended_at      TIMESTAMP,
    duration_s    DOUBLE,
    total_weight  BIGINT NOT NULL,       -- all samples (or µs) of the profile
    total_samples BIGINT NOT NULL,       -- number of samples (= total_weight for sample counts)
    distinct_stacks INTEGER NOT NULL,
    threads       INTEGER NOT NULL,      -- distinct thread frames (0: recorded without --threads)
    processes     INTEGER NOT NULL,      -- distinct process frames (--subprocesses)
    root_node_id  BIGINT NOT NULL,       -- flame_nodes row of the synthetic root ("all")
    command       VARCHAR,               -- the profiled command line, when perftui ran it
    ingested_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS frames (
    frame_id      INTEGER PRIMARY KEY,
    profile_id    INTEGER NOT NULL,
    func_id       INTEGER NOT NULL,      -- functions.func_id: same function and file, any line
    function      VARCHAR NOT NULL,
    file          VARCHAR,
    line          INTEGER,
    module        VARCHAR,               -- dotted module derived from the file, when it has one
    kind          VARCHAR NOT NULL       -- application|library|stdlib|native|thread|process|import
);

CREATE TABLE IF NOT EXISTS stacks (
    stack_id      BIGINT NOT NULL,
    profile_id    INTEGER NOT NULL,
    thread        VARCHAR,               -- the thread frame's text (NULL without --threads)
    process       VARCHAR,               -- the innermost process frame's text (--subprocesses)
    frame_ids     INTEGER[] NOT NULL,    -- root first; thread/process frames included
    weight        BIGINT NOT NULL,
    leaf_node_id  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS flame_nodes (
    node_id       BIGINT NOT NULL,       -- depth-first pre-order within the profile
    profile_id    INTEGER NOT NULL,
    parent_id     BIGINT,                -- NULL for the root
    last_id       BIGINT NOT NULL,       -- the subtree is node_id .. last_id
    depth         INTEGER NOT NULL,      -- 0 for the root
    frame_id      INTEGER,               -- NULL for the root
    total         BIGINT NOT NULL,
    self          BIGINT NOT NULL,
    heavy_child   BIGINT                 -- the child with the largest total (hottest path)
);

CREATE TABLE IF NOT EXISTS functions (
    func_id       INTEGER NOT NULL,
    profile_id    INTEGER NOT NULL,
    function      VARCHAR NOT NULL,
    file          VARCHAR,
    module        VARCHAR,
    kind          VARCHAR NOT NULL,
    first_line    INTEGER,               -- smallest sampled line
    self          BIGINT NOT NULL,
    total         BIGINT NOT NULL,       -- counted once per stack (recursion is not double-counted)
    max_recursion INTEGER NOT NULL       -- most frames of this function in one stack
);

CREATE TABLE IF NOT EXISTS call_edges (
    profile_id    INTEGER NOT NULL,
    caller_id     INTEGER,               -- functions.func_id; NULL: the function is a root frame
    callee_id     INTEGER NOT NULL,
    weight        BIGINT NOT NULL        -- counted once per stack
);
"""

PROFILE_TABLES = ("call_edges", "functions", "flame_nodes", "stacks", "frames", "profiles")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the profile tables when missing (idempotent; safe on every open)."""
    con.execute(DDL)


def forget_profiles(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    """Remove every profile row of one source (re-ingest, or an interrupted ingest)."""
    ids = [
        r[0]
        for r in con.execute(
            "SELECT profile_id FROM profiles WHERE source_id = ?", [source_id]
        ).fetchall()
    ]
    for table in PROFILE_TABLES:
        for pid in ids:
            con.execute(f"DELETE FROM {table} WHERE profile_id = ?", [pid])
