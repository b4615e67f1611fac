"""Measuring detection: play a scenario with ground truth through the broker and the gateway, and
score the anomalies against what was injected (`gridtwin evaluate`)."""

from gridtwin.evaluation.run import RunResult, run_in_process, run_through_gateway
from gridtwin.evaluation.scoring import acceptance, score

__all__ = ["RunResult", "acceptance", "run_in_process", "run_through_gateway", "score"]
