"""Read a search back from MLflow (layout in notes/contract.md) as the long table the fits take.

Experiment ``NAME`` holds one parent run tagged ``scalesearch.role = search`` and one child per trial
(``mlflow.parentRunId``). Each child's ``heldout_loss`` history, logged with ``step = tokens``, becomes its
learning curve; ``compute = 6 N tokens``. Failed trials are skipped; diverged ones stay (their curves do not fall,
and the frontier leaves them out and says so).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from scalesearch.fits.inputs import FitInputError, validate


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


@dataclass(frozen=True)
class SearchRecord:
    """A search as read from MLflow: the parent run, the learning curves, and one row of facts per trial."""

    parent_run_id: str
    curves: pd.DataFrame  # run, run_id, n_params, domain, tokens, compute, loss
    trials: pd.DataFrame  # run, run_id, n_params, domain, status, tokens_per_item, eval/* (last values)
    client: MlflowClient


def read_search(experiment: str, tracking_uri: str | None = None, loss_metric: str = "heldout_loss") -> SearchRecord:
    client = MlflowClient(tracking_uri or default_tracking_uri())
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise FitInputError(f"no MLflow experiment named {experiment!r} at {client.tracking_uri}")
    parents = client.search_runs([found.experiment_id], "tags.`scalesearch.role` = 'search'",
                                 order_by=["attributes.start_time DESC"])
    if not parents:
        raise FitInputError(f"experiment {experiment!r} has no run tagged scalesearch.role = search")
    parent = parents[0].info.run_id
    children = client.search_runs([found.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'",
                                  max_results=10000)
    curves, trials = [], []
    for child in children:
        tags, params = child.data.tags, child.data.params
        if tags.get("scalesearch.role") != "trial" or tags.get("scalesearch.status") == "failed":
            continue
        name = child.info.run_name or child.info.run_id
        n = float(params["n_params"])
        history = sorted(client.get_metric_history(child.info.run_id, loss_metric), key=lambda m: m.step)
        curves += [{"run": name, "run_id": child.info.run_id, "n_params": n, "domain": params.get("domain", "all"),
                    "tokens": float(m.step), "compute": 6.0 * n * m.step, "loss": m.value}
                   for m in history if m.step > 0]
        evals = {k: v for k, v in child.data.metrics.items() if k.startswith(("eval/", loss_metric))}
        trials.append({"run": name, "run_id": child.info.run_id, "n_params": n,
                       "domain": params.get("domain", "all"), "status": tags.get("scalesearch.status"),
                       "tokens_per_item": json.loads(params.get("tokens_per_item") or "{}"), **evals})
    if not curves:
        raise FitInputError(f"the search {experiment!r} (parent {parent}) has no trial with a {loss_metric!r} "
                            "history yet")
    table = pd.DataFrame(curves)
    validate(table)
    return SearchRecord(parent, table, pd.DataFrame(trials), client)
