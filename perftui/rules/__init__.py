"""The advisor: one module per rule id, a registry, and the memoised sqlglot parse they share."""
