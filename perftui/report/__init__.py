"""One in-memory report model and its renderings (text, JSON, Markdown)."""
