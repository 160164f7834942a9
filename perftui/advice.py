"""Everything the advisor says about one store: query findings, profile findings, their links.

The report and the app both call ``advise`` so that they show the same findings and warnings.
"""

from __future__ import annotations

from perftui.profiles import link as profile_link
from perftui.profiles import rules as profile_rules
from perftui.rules import log_filter, registry
from perftui.rules.base import Finding, Workload


def advise(workload: Workload) -> tuple[list[Finding], list[str]]:
    """(findings most impactful first, warnings); n-plus-one findings linked to profile call
    sites where the store holds a matching profile."""
    query_findings = registry.run(workload)
    profile_findings = profile_rules.detect_all(workload.con)
    unlinked = profile_link.link(workload.con, query_findings, profile_findings)
    warnings = [
        *log_filter.filtering_warnings(workload),
        *profile_rules.warnings(workload.con),
        *unlinked,
    ]
    return registry.rank(query_findings + profile_findings), warnings
