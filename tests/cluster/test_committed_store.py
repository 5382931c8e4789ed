"""The committed demo's MLflow store (reports/demo/mlflow.db and mlartifacts/, written by `scalesearch demo
--with-store`) opens on any machine in a real `mlflow server`: every search's parent run serves its report and
its live and final fits as artifacts, from the copy in the repository, not from the machine that ran it."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest
from local_ray import REPO, start_mlflow_server, wait_for_mlflow
from mlflow.tracking import MlflowClient

from scalesearch.search.recorder import REFITS_FILE
from scalesearch.tracking import TrackingError, experiment_id, export_store

REPORT = REPO / "reports" / "demo"


def test_the_committed_store_serves_each_search_s_report_and_fits(tmp_path):
    shutil.copy(REPORT / "mlflow.db", tmp_path / "mlflow.db")  # a server may migrate the schema of its store
    (tmp_path / "artifacts").symlink_to(REPORT / "mlartifacts")
    server = start_mlflow_server(tmp_path)
    try:
        wait_for_mlflow(server, tmp_path)
        client = MlflowClient(server.url)
        fits = json.loads((REPORT / "fits.json").read_text())
        experiment = client.get_experiment_by_name(fits["experiment"])
        parents = client.search_runs([experiment.experiment_id], "tags.`scalesearch.role` = 'search'")
        assert sorted(p.data.params["domain"] for p in parents) == sorted(fits["domains"])
        for parent in parents:
            run_id = parent.info.run_id
            served = {f.path for folder in ("report", "search") for f in client.list_artifacts(run_id, folder)}
            assert {"report/fits.json", "report/report.html", REFITS_FILE, "search/final_fit.json"} <= served
            logged = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report/fits.json",
                                                         dst_path=str(tmp_path / run_id), tracking_uri=server.url)
            assert json.loads(open(logged).read())["run_ids"] == fits["run_ids"]
    finally:
        server.stop()


def test_an_exported_store_points_its_artifacts_at_the_server_and_leaves_the_original_as_it_was(tmp_path):
    uri = f"sqlite:///{tmp_path / 'work' / 'mlflow.db'}"
    (tmp_path / "work").mkdir()
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id(client, "e")).info.run_id
    client.log_dict(run_id, {"a": 1}, "search/final_fit.json")
    original = client.get_run(run_id).info.artifact_uri

    copy = export_store(uri, tmp_path / "export")
    assert client.get_run(run_id).info.artifact_uri == original and original.startswith("file://")
    exported = MlflowClient(f"sqlite:///{copy}").get_run(run_id).info.artifact_uri
    assert exported == f"mlflow-artifacts:/{run_id}/artifacts"
    assert json.loads((tmp_path / "export" / "mlartifacts" / run_id / "artifacts" / "search" / "final_fit.json")
                      .read_text()) == {"a": 1}
    with pytest.raises(TrackingError, match="only a local SQLite store"):
        export_store("http://127.0.0.1:5000", tmp_path / "x")
