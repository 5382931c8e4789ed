"""`scalesearch launch` submits a spec to a real Ray head's Jobs API; the job runs end to end on the head and logs
to a real `mlflow server`; `scalesearch jobs` follows it; a missing or wrong token is refused with a clear cause.

The head has token authentication on and binds its dashboard to 127.0.0.1, as cluster/*.yaml do.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from local_ray import jobs_api_missing, start_head, start_mlflow_server, wait_for_mlflow

pytestmark = [pytest.mark.slow, pytest.mark.skipif(jobs_api_missing() is not None, reason=str(jobs_api_missing()))]

# One small model, as tests/test_ray_job.py trains: a few seconds of CPU.
SPEC = {"name": "launch-e2e", "domain": {"name": "text", "options": {"seq_len": 32}},
        "model": {"family": "henighan", "n_params": 2e4, "aspect": 8},
        "train": {"batch_size": 8, "heldout_sequences": 32, "schedule": "cosine"},
        "budget": {"flops": 6 * 2.3e4 * 8 * 32 * 40, "reports_per_decade": 4},
        "resources": {"num_workers": 1}}


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


def test_a_launched_spec_runs_as_a_ray_job_and_logs_to_the_mlflow_server(cluster, tmp_path):
    head, server = cluster
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    done = scalesearch(head, "launch", "spec.yaml", "--address", head.dashboard_url, "--tracking-uri", server.url,
                       "--follow", cwd=tmp_path)  # the working directory defaults to the current one
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    job_id = re.search(r"submitted (\S+):", done.stdout).group(1)
    assert f"job {job_id}: SUCCEEDED" in done.stdout
    assert "held-out" in done.stdout  # the job's own progress lines, tailed while it ran

    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name(SPEC["name"])
    assert experiment is not None, "the job logged nothing to the MLflow server given by --tracking-uri"
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["scalesearch.status"] == "finished"
    losses = client.get_metric_history(run.info.run_id, "heldout_loss")
    assert len(losses) >= 8 and losses[-1].value < losses[0].value

    status = scalesearch(head, "jobs", "status", job_id, "--address", head.dashboard_url)
    assert status.returncode == 0 and f"{job_id}: SUCCEEDED" in status.stdout
    logs = scalesearch(head, "jobs", "logs", job_id, "--address", head.dashboard_url)
    assert logs.returncode == 0 and "held-out" in logs.stdout
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
