"""The ordered list of advisor rules. Adding a rule is adding a module and a line here."""

from __future__ import annotations

import importlib
from types import ModuleType

from perftui.rules.base import Finding, Workload, severity_rank

# Module names under perftui.rules, in report order; each has RULE_ID and detect(workload).
RULE_MODULES: tuple[str, ...] = (
    "missing_index",
    "select_star",
    "or_to_in",
    "function_on_column",
    "leading_wildcard",
    "n_plus_one",
    "row_by_row_write",
    "deep_offset",
    "unbounded_result",
    "cache_candidate",
    "connection_churn",
)


def rules() -> list[ModuleType]:
    return [importlib.import_module(f"perftui.rules.{name}") for name in RULE_MODULES]


def rule_ids() -> list[str]:
    return [m.RULE_ID for m in rules()]


def run(workload: Workload, only: set[str] | None = None) -> list[Finding]:
    """Every rule's findings, most impactful first (severity, then time)."""
    found: list[Finding] = []
    for module in rules():
        if only is not None and module.RULE_ID not in only:
            continue
        found.extend(module.detect(workload))
    return rank(found)


def rank(findings: list[Finding]) -> list[Finding]:
    """Most impactful first: severity, then time, then rule id (stable across runs)."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), -f.impact_ms, f.rule))
