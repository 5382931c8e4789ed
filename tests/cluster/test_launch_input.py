"""`scalesearch launch` builds its Ray Job from a locally validated spec, and bad input is named before any
network call (no cluster needed here; tests/cluster/test_launch.py submits to a real head)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from local_ray import free_port
from scalesearch import launch
from scalesearch.cli import EXIT_BAD_INPUT, main

SPEC = {"name": "Launch Test", "domain": {"name": "text", "options": {"seq_len": 32}},
        "model": {"family": "henighan", "n_params": 2e4}, "resources": {"num_workers": 1}}


def write_spec(folder: Path, data: dict = SPEC, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_job_runs_the_spec_from_the_uploaded_directory_and_logs_to_the_tracking_server(tmp_path):
    spec = write_spec(tmp_path / "work" / "specs")
    plan = launch.plan_submission(spec, tmp_path / "work", "http://mlflow.internal:5000",
                                  pip=["torch==2.13.0", "scalesearch @ git+https://example.org/s.git@abc"])
    assert shlex.split(plan.entrypoint) == ["python", "-m", "scalesearch.cli", "train", "specs/spec.yaml"]
    env = plan.runtime_env
    assert env["working_dir"] == str((tmp_path / "work").resolve())
    assert env["env_vars"] == {"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}
    assert env["pip"] == ["torch==2.13.0", "scalesearch @ git+https://example.org/s.git@abc"]
    assert {"mlflow.db", "mlruns", "runs", ".git"} <= set(env["excludes"])
    assert plan.submission_id.startswith("scalesearch-launch-test-")
    assert plan.metadata == {"scalesearch.spec": "specs/spec.yaml", "scalesearch.name": "Launch Test"}
    assert "pip" not in launch.plan_submission(spec, tmp_path / "work", "http://m:5000").runtime_env
    search = write_spec(tmp_path / "work", {**SPEC, "search": {"n_params": [1e4, 1e5]}}, "search.yaml")
    assert shlex.split(launch.plan_submission(search, tmp_path / "work", "http://m:5000").entrypoint)[3:] == [
        "run", "search.yaml"]
    shared = launch.plan_submission(search, tmp_path / "work", "http://m:5000", storage="/mnt/shared/runs")
    assert shlex.split(shared.entrypoint)[3:] == ["run", "search.yaml", "--storage", "/mnt/shared/runs"]


def test_the_tracking_uri_comes_from_the_spec_or_the_environment_and_must_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    plain = write_spec(tmp_path)
    with pytest.raises(launch.LaunchError, match="no MLflow tracking URI"):
        launch.plan_submission(plain, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://from-env:5000")
    assert launch.plan_submission(plain, tmp_path).runtime_env["env_vars"]["MLFLOW_TRACKING_URI"] == \
        "http://from-env:5000"
    tracked = write_spec(tmp_path, {**SPEC, "tracking": {"uri": "http://from-spec:5000"}}, "tracked.yaml")
    assert launch.plan_submission(tracked, tmp_path).runtime_env["env_vars"]["MLFLOW_TRACKING_URI"] == \
        "http://from-spec:5000"
    with pytest.raises(launch.LaunchError, match="tracking.uri is 'http://from-spec:5000' but --tracking-uri"):
        launch.plan_submission(tracked, tmp_path, "http://other:5000")


def test_a_spec_outside_the_working_directory_is_refused(tmp_path):
    spec = write_spec(tmp_path / "elsewhere")
    (tmp_path / "work").mkdir()
    with pytest.raises(launch.LaunchError, match="must lie inside the working directory"):
        launch.plan_submission(spec, tmp_path / "work", "http://m:5000")


def closed_address() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there once the probe socket is closed


@pytest.mark.parametrize("args, message", [
    (["launch", "{bad}", "--address", "{closed}", "--tracking-uri", "http://m:5000", "--working-dir", "{tmp}"],
     "train.lr: Input should be greater than 0"),  # the spec is checked before the address
    (["launch", "{good}", "--address", "{closed}", "--tracking-uri", "http://m:5000", "--working-dir", "{tmp}"],
     "cannot reach the Ray Jobs API at http://127.0.0.1:"),
    (["launch", "{good}", "--address", "ray://127.0.0.1:10001", "--tracking-uri", "http://m:5000",
      "--working-dir", "{tmp}"], "expected the dashboard's HTTP address"),
    (["jobs", "status", "raysubmit_x", "--address", "{closed}"], "cannot reach the Ray Jobs API"),
])
def test_bad_input_exits_2_naming_the_cause(tmp_path, capsys, args, message):
    good = write_spec(tmp_path)
    bad = write_spec(tmp_path, {**SPEC, "train": {"lr": -1}}, "bad.yaml")
    values = {"good": str(good), "bad": str(bad), "closed": closed_address(), "tmp": str(tmp_path)}
    assert main([a.format(**values) for a in args]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err
    if "{bad}" in args:
        assert str(bad) in err
