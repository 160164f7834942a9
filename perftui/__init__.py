"""perftui: slow-query logs and Python profiles in one DuckDB file, with what to fix."""

__version__ = "0.1.0"
