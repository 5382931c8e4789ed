"""The committed demo report (reports/demo/) agrees with the MLflow store of the run that made it: the same runs
and the same fitted values when the report is computed again from the store."""

from __future__ import annotations

import json
from pathlib import Path

from scalesearch.report import verify_report

REPORT = Path(__file__).resolve().parents[1] / "reports" / "demo"


def test_the_committed_report_matches_its_mlflow_store():
    fits = json.loads((REPORT / "fits.json").read_text())
    assert set(fits["domains"]) == {"text", "image", "math"}
    assert verify_report(REPORT, f"sqlite:///{REPORT / 'mlflow.db'}") == []
