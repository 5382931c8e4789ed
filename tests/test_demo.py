"""The main job end to end at a tiny budget: real CPU training on Ray Train inside Ray Tune, a real SQLite MLflow
store, and the report of the fits issue.

At a two-hundredth of the demo's compute a trial, the curves may cross too rarely for N_opt(C) (three crossings)
or even too few sizes may reach the frontier's hull for L(C): the report must then say which and why, and give
every parameter it did fit with its CI. The committed full run (reports/demo/) has the fits, and
tests/test_committed_report.py checks them against its MLflow store."""

from __future__ import annotations

import json
import os
import signal

import pytest
from mlflow.tracking import MlflowClient

from scalesearch.demo import run_demo
from tests.search.test_search import _run_cli

pytestmark = pytest.mark.slow

DOMAINS = ["text", "image"]


def test_the_demo_searches_each_domain_and_reports_on_all_of_them(ray_local, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run_demo(DOMAINS, budget=0.005, tracking_uri=uri, out_dir=tmp_path / "reports", storage=tmp_path / "runs",
                   trials=4)
    printed = capsys.readouterr().out

    assert out == tmp_path / "reports" / "demo"
    fits = json.loads((out / "fits.json").read_text())
    assert set(fits["domains"]) == set(DOMAINS)
    for domain in DOMAINS:
        frontier, not_done = fits["domains"][domain]["frontier"], fits["domains"][domain]["not_done"]
        if "parameters" in frontier:  # L(C), and N_opt(C) where the curves crossed often enough
            for name, e in frontier["parameters"].items():
                assert e["ci_low"] <= e["ci_high"] and e["se"] > 0, (domain, name, e)
            assert "beta" in frontier["parameters"] or "crossing" in not_done["frontier"], not_done
        else:  # refused, and the report names what the data lack
            assert any(word in frontier["error"] for word in ("crossing", "hull", "interior")), frontier
    assert (out / "report.html").exists() and (out / "domain_text.png").exists()
    assert len(fits["run_ids"]) == 2 * 4

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(fits["experiment"])
    parents = client.search_runs([experiment.experiment_id], "tags.`scalesearch.role` = 'search'")
    assert sorted(p.data.params["domain"] for p in parents) == sorted(DOMAINS)
    for parent in parents:
        assert parent.data.tags["scalesearch.status"] == "finished"
        children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert len(children) == 4 and all(c.data.tags["scalesearch.role"] == "trial" for c in children)
        assert {c.info.status for c in children} == {"FINISHED"}
        assert {"report/fits.json", "report/report.html"} <= {
            f.path for f in client.list_artifacts(parent.info.run_id, "report")}
    # The headline: per-domain exponents with CIs, and where to look.
    assert all(f"{d}: alpha_C = " in printed or f"{d}: no frontier fit (" in printed for d in DOMAINS)
    assert f"mlflow ui --backend-store-uri {uri}" in printed


def test_a_killed_demo_leaves_its_domain_searches_interrupted_not_running_on(tmp_path, wait_for):
    """SIGKILL reaches the demo's process alone, not the domain searches it started: each must see it go and stop as
    on Ctrl-C (interrupted, resumable), its trials' curves kept in MLflow. Started as `&` or `nohup` start it, with
    SIGINT ignored, which its processes inherit."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = _run_cli(["demo", "--domains", "text", "--budget", "0.005"], tmp_path, stdout=out,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for(lambda: "text [1 trials" in log.read_text(), 300, "the text search's first reported trial")
        demo.kill()
        demo.wait()
        client = MlflowClient(uri)
        search = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                    "tags.`scalesearch.role` = 'search'")[0]
        stopped = wait_for(lambda: _stopped(client.get_run(search.info.run_id)), 180, "the search to stop")
        assert (stopped.data.tags["scalesearch.status"], stopped.info.status) == ("interrupted", "KILLED"), \
            log.read_text()[-3000:]
        assert "interrupted: search 'demo-text-" in log.read_text()  # and how to resume it
        trials = client.search_runs([search.info.experiment_id], f"tags.mlflow.parentRunId = '{search.info.run_id}'")
        assert trials and all(client.get_metric_history(t.info.run_id, "heldout_loss") for t in trials
                              if t.data.tags.get("scalesearch.status") == "finished")
    finally:
        try:
            os.killpg(demo.pid, signal.SIGKILL)  # whatever is left of the demo's session, Ray's processes included
        except ProcessLookupError:
            pass


def _stopped(run):
    """The run once its search has tagged how it ended and closed it (two writes to MLflow, in that order)."""
    ended = run.data.tags.get("scalesearch.status") not in (None, "running") and run.info.status != "RUNNING"
    return run if ended else None
