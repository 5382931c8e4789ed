"""Read a search back from MLflow as the long table the fits take, and a table of one row per trial.

Experiment ``NAME`` holds one parent run per search, tagged ``scalesearch.role = search`` (searches of several
domains share an experiment to be compared in one report), and one child per trial (tag
``mlflow.parentRunId``, ``scalesearch.role = trial``; params ``n_params``, ``domain``, ``tokens_per_item`` as
JSON). Each child's ``loss_metric`` history (default ``heldout_loss``), logged with ``step = tokens``, becomes its
learning curve, with the ``compute`` metric (FLOPs as the param ``flops_count`` counts them, ``6N`` by default)
logged at the same step, or ``6 N tokens`` where there is none; the param ``warmup_tokens`` (0 where absent)
says where its warm-up ended, before which the frontier does not read it (fits/frontier.py). Failed and lost
trials (see search/recorder.py) are skipped; diverged ones stay (their curves do not fall, and the frontier leaves
them out and says so). The trial table holds each child's last value of every metric it logged (``eval/...``,
``heldout_loss/<part>``, ``train_loss``), for the multimodal and math checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from mlflow.tracking import MlflowClient

from scalesearch.fits.inputs import FitInputError, validate
from scalesearch.tracking import resolve_tracking_uri


@dataclass(frozen=True)
class SearchRecord:
    """A search as read from MLflow: the parent run, the learning curves, and one row of facts per trial."""

    parent_run_ids: list[str]  # newest first
    curves: pd.DataFrame  # run, run_id, n_params, domain, tokens, compute, flops_count, warmup_tokens, loss
    trials: pd.DataFrame  # run, run_id, n_params, domain, status, tokens_per_item, then every last metric value
    client: MlflowClient


def _tokens_per_item(params: dict[str, str], run: str) -> dict[str, float]:
    text = params.get("tokens_per_item")
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, (int, float)) for v in parsed.values()):
        raise FitInputError(f"run {run}: param tokens_per_item = {text!r} is not a JSON object of numbers "
                            '(e.g. {"image": 192})')
    return {str(k): float(v) for k, v in parsed.items()}


def read_search(experiment: str, tracking_uri: str | None = None, loss_metric: str = "heldout_loss") -> SearchRecord:
    """Every search (parent run) of ``experiment`` at ``tracking_uri`` (resolved as everywhere else)."""
    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise FitInputError(f"no MLflow experiment named {experiment!r} at {client.tracking_uri}")
    parents = [run.info.run_id for run in client.search_runs(
        [found.experiment_id], "tags.`scalesearch.role` = 'search'", order_by=["attributes.start_time DESC"])]
    if not parents:
        raise FitInputError(f"experiment {experiment!r} has no run tagged scalesearch.role = search")
    children = [child for parent in parents for child in client.search_runs(
        [found.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", max_results=50000)]
    curves, trials = [], []
    for child in children:
        tags, params = child.data.tags, child.data.params
        if tags.get("scalesearch.role") != "trial" or tags.get("scalesearch.status") in ("failed", "lost"):
            continue
        name = child.info.run_name or child.info.run_id
        if "n_params" not in params:
            raise FitInputError(f"trial run {name} ({child.info.run_id}) has no param n_params")
        n = float(params["n_params"])
        domain = params.get("domain", "all")
        history = sorted(client.get_metric_history(child.info.run_id, loss_metric), key=lambda m: m.step)
        flops = {m.step: m.value for m in client.get_metric_history(child.info.run_id, "compute")}
        count = params.get("flops_count", "6N")  # runs logged before budget.count counted 6N
        warmup = float(params.get("warmup_tokens", 0))  # simulated trials have no warm-up
        curves += [{"run": name, "run_id": child.info.run_id, "n_params": n, "domain": domain,
                    "tokens": float(m.step), "compute": flops.get(m.step, 6.0 * n * m.step), "flops_count": count,
                    "warmup_tokens": warmup, "loss": m.value} for m in history if m.step > 0]
        trials.append({"run": name, "run_id": child.info.run_id, "n_params": n, "domain": domain,
                       "status": tags.get("scalesearch.status"),
                       "tokens_per_item": _tokens_per_item(params, name), **child.data.metrics})
    if not curves:
        raise FitInputError(f"the searches of {experiment!r} have no trial with a {loss_metric!r} history yet")
    table = pd.DataFrame(curves)
    validate(table)
    return SearchRecord(parents, table, pd.DataFrame(trials), client)
