"""Cases and their closed loop: the workflow (statuses, actions, effects), the case book that
opens cases from anomalies and field reports and moves them with people and deadlines, the
deadlines of each level, who answers for a cell, the auto-dispatch rules, and the governance
figures computed from the cases.
"""

from __future__ import annotations

from twin.cases.autodispatch import DEFAULT_RULES, DispatchRule, Match, find_matches, rules_from_config
from twin.cases.book import AUTO_DISPATCH_ACTOR, ESCALATION_ACTOR, CaseBook
from twin.cases.deadlines import DEFAULT_LIMITS, Limits, TimeLimits, parse_duration
from twin.cases.figures import CSV_COLUMNS, GROUPS, KpiCounts, figures, to_csv
from twin.cases.reports import (
    MAX_NOTE,
    REPORT_ACTOR,
    REPORT_FIELDS,
    REPORT_POINTS,
    Report,
    ReportError,
    ReportView,
    file_report,
    parse_report,
    settle,
)
from twin.cases.responsibility import Responsibility
from twin.cases.workflow import (
    CANCEL_REASONS,
    SYSTEM_ACTOR,
    TRANSITIONS,
    Action,
    Case,
    CaseQuery,
    Status,
    Tier,
    allowed_actions,
    new_case,
    transition,
)

__all__ = ["CANCEL_REASONS", "SYSTEM_ACTOR", "TRANSITIONS", "Action", "Case", "CaseQuery", "Status", "Tier",
           "allowed_actions", "new_case", "transition", "AUTO_DISPATCH_ACTOR", "ESCALATION_ACTOR", "CaseBook",
           "DEFAULT_LIMITS", "Limits", "TimeLimits", "parse_duration", "DEFAULT_RULES", "DispatchRule", "Match",
           "find_matches", "rules_from_config", "Responsibility", "CSV_COLUMNS", "GROUPS", "KpiCounts", "figures",
           "to_csv", "MAX_NOTE", "REPORT_ACTOR", "REPORT_FIELDS", "REPORT_POINTS", "Report", "ReportError",
           "ReportView", "file_report", "parse_report", "settle"]
