"""The main job end to end at a tiny budget: real CPU training on Ray Train inside Ray Tune, a real SQLite MLflow
store, and the report of the fits issue."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from scalesearch.demo import run_demo

pytestmark = pytest.mark.slow

DOMAINS = ["text", "image"]


def test_the_demo_searches_each_domain_and_reports_fits_with_cis(ray_local, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run_demo(DOMAINS, budget=0.05, tracking_uri=uri, out_dir=tmp_path / "reports", storage=tmp_path / "runs")
    printed = capsys.readouterr().out

    assert out == tmp_path / "reports" / "demo"
    fits = json.loads((out / "fits.json").read_text())
    assert set(fits["domains"]) == set(DOMAINS)
    for domain in DOMAINS:
        beta = fits["domains"][domain]["frontier"]["parameters"]["beta"]
        assert beta["ci_low"] < beta["ci_high"] and beta["se"] > 0, (domain, beta)
    assert (out / "report.html").exists() and (out / "domain_text.png").exists()

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(fits["experiment"])
    parents = client.search_runs([experiment.experiment_id], "tags.`scalesearch.role` = 'search'")
    assert sorted(p.data.params["domain"] for p in parents) == sorted(DOMAINS)
    for parent in parents:
        assert parent.data.tags["scalesearch.status"] == "finished"
        children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert len(children) >= 3 and all(c.data.tags["scalesearch.role"] == "trial" for c in children)
        assert {"report/fits.json", "report/report.html"} <= {
            f.path for f in client.list_artifacts(parent.info.run_id, "report")}
    # The headline: per-domain exponents with CIs, and where to look.
    assert all(f"{d}: alpha_C = " in printed for d in DOMAINS)
    assert f"mlflow ui --backend-store-uri {uri}" in printed
