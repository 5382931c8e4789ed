"""MLflow: where runs go, and logging that is fast (batched) and loses nothing when the store misbehaves.

One ``log_metric`` call at a time manages 90-250 points/s; ``MlflowClient.log_batch`` 7,000-10,000 (DESIGN §7),
so a job sends each report as one batch. If the store fails mid-job the points stay queued and go with the next
report; every checkpoint also holds the job's whole metric history (``metrics.json``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call


class TrackingError(RuntimeError):
    """The tracking location cannot be used; the message says which and what to do."""


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The explicit URI, else ``$MLFLOW_TRACKING_URI``, else a SQLite store ``./mlflow.db`` (absolute)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    return uri or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def default_artifact_root(tracking_uri: str) -> str | None:
    """Absolute artifact root for local stores: MLflow's relative default would land in each Ray worker's cwd."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def export_store(tracking_uri: str, dest: str | Path) -> Path:
    """Copy a SQLite store and its local artifacts into ``dest`` so that the copy opens on any machine:
    ``mlflow ui --backend-store-uri sqlite:///DEST/mlflow.db --artifacts-destination DEST/mlartifacts``.

    A local store records its artifacts by absolute ``file://`` URI (``default_artifact_root``), which names a
    folder on the machine that ran the search. In the copy those URIs become ``mlflow-artifacts:/...``, which a
    tracking server resolves against its ``--artifacts-destination``. MLflow has no API to move a run's artifact
    location, so the copy's two columns that hold it are rewritten in SQL; the original store is left as it is."""
    if not tracking_uri.startswith("sqlite:///"):
        raise TrackingError(f"only a local SQLite store can be exported, not {tracking_uri}")
    source = Path(tracking_uri.removeprefix("sqlite:///"))
    if not source.is_file():
        raise TrackingError(f"MLflow store {source} does not exist")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = default_artifact_root(tracking_uri)
    if Path(root.removeprefix("file://")).is_dir():
        shutil.copytree(root.removeprefix("file://"), dest / "mlartifacts", dirs_exist_ok=True)
    copy = dest / "mlflow.db"
    src, out = sqlite3.connect(source), sqlite3.connect(copy)
    try:
        src.backup(out)  # consistent even while another process writes
        with out:
            for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
                out.execute(f"UPDATE {table} SET {column} = 'mlflow-artifacts:' || substr({column}, ?) "
                            f"WHERE {column} LIKE ? || '%'", (len(root) + 1, root))
    finally:
        src.close()
        out.close()
    return copy


def check_tracking(uri: str) -> None:
    """Fail fast, before any training, when the store cannot be written or the server cannot be reached."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        parent = db.parent
        if not parent.is_dir():
            raise TrackingError(f"MLflow store {uri}: directory {parent} does not exist; create it or pass another "
                                "--tracking-uri")
        if not os.access(parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise TrackingError(f"MLflow store {uri}: {db} is not writable; fix its permissions or pass another "
                                "--tracking-uri")
    elif uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except (urllib.error.URLError, OSError) as err:
            raise TrackingError(f"MLflow server {uri} does not answer ({err}); start it (`mlflow server ...`) "
                                "or pass another --tracking-uri") from None


def experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=default_artifact_root(client.tracking_uri))


def start_run(client: MlflowClient, experiment: str, run_name: str, params: dict, tags: dict,
              parent_run_id: str | None = None) -> str:
    """Create a run with its params and tags in one batch; nested under ``parent_run_id`` when given."""
    tags = dict(tags)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id(client, experiment), run_name=run_name,
                            tags={k: str(v) for k, v in tags.items()})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run.info.run_id


class MetricLogger:
    """Queues points and sends them with ``log_batch``; on failure keeps them for the next flush."""

    def __init__(self, tracking_uri: str, run_id: str):
        self.client, self.run_id = MlflowClient(tracking_uri), run_id
        self.pending: list[Metric] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.pending += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        self.flush()

    def set_tags(self, tags: dict[str, object]) -> None:
        try:
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        except Exception as err:  # noqa: BLE001 - the store's failure must not end the training
            log.warning("MLflow: could not set tags %s on run %s (%s)", sorted(tags), self.run_id, err)

    def flush(self) -> bool:
        try:
            while self.pending:
                self.client.log_batch(self.run_id, metrics=self.pending[:MAX_BATCH])
                del self.pending[:MAX_BATCH]
        except Exception as err:  # noqa: BLE001 - keep the points; training goes on
            log.warning("MLflow: %d points not sent yet to run %s (%s); will retry", len(self.pending),
                        self.run_id, err)
            return False
        return True
