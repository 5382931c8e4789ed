"""`scalesearch launch` submits a search spec to a real Ray head's Jobs API; the search (simulated trials through
real Tune, Optuna and the MLflow recorder) runs end to end as a Ray Job on the head and logs its parent run, a child
run per trial and its artifacts to a real `mlflow server`; `scalesearch jobs` follows it; a missing or wrong token is
refused with a clear cause. (Training one model through the same path: tests/test_ray_job.py trains it locally, and
test_launch_input.py checks the `scalesearch train` entrypoint a spec without a search section gets.)

The head has token authentication on and binds its dashboard to 127.0.0.1, as cluster/*.yaml do.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from local_ray import jobs_api_missing, start_head, start_mlflow_server, wait_for_mlflow

pytestmark = [pytest.mark.slow, pytest.mark.skipif(jobs_api_missing() is not None, reason=str(jobs_api_missing()))]

# A small simulated search: three trials, two at a time, each half a CPU of the head's two.
TRIALS = 3
SPEC = {"name": "launch-e2e",
        "budget": {"flops": 1e21, "reports_per_decade": 4, "first_report_fraction": 1e-4},
        "search": {"backend": "simulate", "n_params": [3e7, 3e9], "initial_sizes": TRIALS, "max_concurrent_trials": 2,
                   "refit_every": TRIALS, "bootstrap": 20, "stop": {"flops": 1e23, "max_trials": TRIALS}},
        "resources": {"cpus_per_worker": 0.5}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head with the Jobs API (2 CPUs) and an MLflow server on loopback, started side by side."""
    root = tmp_path_factory.mktemp("mlflow")
    server = start_mlflow_server(root)
    try:
        head = start_head(num_cpus=2, dashboard=True)
        try:
            wait_for_mlflow(server, root)
            yield head, server
        finally:
            head.stop()
    finally:
        server.stop()


def scalesearch(head, *args: str, cwd=None, **env: str) -> subprocess.CompletedProcess:
    """The CLI in its own process: Ray reads RAY_AUTH_MODE and the token once per process."""
    return subprocess.run([sys.executable, "-m", "scalesearch.cli", *args], env=head.client_env(**env), cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_a_launched_search_runs_as_a_ray_job_and_logs_to_the_mlflow_server(cluster, tmp_path):
    head, server = cluster
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    submitted = time.time()
    done = scalesearch(head, "launch", "spec.yaml", "--address", head.dashboard_url, "--tracking-uri", server.url,
                       "--follow", cwd=tmp_path)  # the working directory defaults to the current one
    finished = time.time()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    job_id = re.search(r"submitted (\S+):", done.stdout).group(1)
    assert f"job {job_id}: SUCCEEDED" in done.stdout
    assert f"search {SPEC['name']!r} ended" in done.stdout  # the job's own output, tailed while it ran

    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name(SPEC["name"])
    assert experiment is not None, "the job logged nothing to the MLflow server given by --tracking-uri"
    (parent,) = client.search_runs([experiment.experiment_id], filter_string="tags.`scalesearch.role` = 'search'")
    assert parent.info.status == "FINISHED" and parent.data.tags["scalesearch.status"] == "finished"
    assert "final_fit.json" in {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "search")}
    trials = client.search_runs([experiment.experiment_id],
                                filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(trials) == TRIALS
    for trial in trials:
        assert trial.info.status == "FINISHED" and trial.data.tags["scalesearch.role"] == "trial"
        assert trial.data.tags["scalesearch.node_id"]  # the head's node: it is the only one
        assert client.get_metric_history(trial.info.run_id, "heldout_loss")
    # At least one trial ran to the budget (the scheduler may stop the others early): its whole learning curve.
    full = [client.get_metric_history(t.info.run_id, "heldout_loss") for t in trials
            if t.data.tags["scalesearch.status"] == "finished"]
    assert full and all(len(losses) >= 8 and losses[-1].value < losses[0].value for losses in full)
    print(f"\nlaunch to the search's parent run {parent.info.start_time / 1000 - submitted:.1f} s; search "
          f"{(parent.info.end_time - parent.info.start_time) / 1000:.1f} s; launch --follow returned after "
          f"{finished - submitted:.1f} s")

    status = scalesearch(head, "jobs", "status", job_id, "--address", head.dashboard_url)
    assert status.returncode == 0 and f"{job_id}: SUCCEEDED" in status.stdout
    logs = scalesearch(head, "jobs", "logs", job_id, "--address", head.dashboard_url)
    assert logs.returncode == 0 and f"search {SPEC['name']!r} ended" in logs.stdout
    listed = scalesearch(head, "jobs", "list", "--address", head.dashboard_url)
    assert job_id in listed.stdout and "SUCCEEDED" in listed.stdout


def test_an_unknown_job_and_a_missing_or_wrong_token_are_named(cluster):
    head, _ = cluster
    unknown = scalesearch(head, "jobs", "status", "raysubmit_nosuchjob", "--address", head.dashboard_url)
    assert unknown.returncode == 2 and "no job 'raysubmit_nosuchjob'" in unknown.stderr

    no_token = scalesearch(head, "jobs", "list", "--address", head.dashboard_url, RAY_AUTH_MODE="disabled")
    assert no_token.returncode == 2 and "refused the request" in no_token.stderr
    assert "RAY_AUTH_MODE is currently 'disabled'" in no_token.stderr  # Ray's own hint at the fix
    wrong = scalesearch(head, "jobs", "list", "--address", head.dashboard_url, RAY_AUTH_TOKEN="0" * 64)
    assert wrong.returncode == 2 and "refused the request" in wrong.stderr and "incorrect" in wrong.stderr
