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


def test_a_report_on_the_committed_store_is_written_and_says_why_it_is_not_logged(tmp_path, capsys):
    """The committed store keeps its artifacts for an MLflow server (mlflow-artifacts:), which a sqlite:// URI
    cannot reach: the report is still written, and the exit code and message say what to do."""
    from scalesearch.cli import main
    from scalesearch.fits.commands import EXIT_NOT_LOGGED

    fits = json.loads((REPORT / "fits.json").read_text())
    code = main(["report", "--tracking-uri", f"sqlite:///{REPORT / 'mlflow.db'}", "--experiment",
                 fits["experiment"], "--out", str(tmp_path), "--bootstrap", "20"])
    assert code == EXIT_NOT_LOGGED
    assert "mlflow server --backend-store-uri" in capsys.readouterr().err
    assert (tmp_path / fits["experiment"] / "report.html").exists()
