"""A spec may list the sizes a search tries first (``search.initial_sizes: [N, ...]``): the searcher starts with
exactly those, largest first, before Optuna samples."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from scalesearch.search.run import run_search
from scalesearch.spec import parse_spec

LISTED = [4e7, 9e7, 6e8, 2e9]


def test_listed_initial_sizes_are_the_first_trials_largest_first(tmp_path, ray_local):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = parse_spec({
        "name": "listed-sizes",
        "budget": {"flops": 1e20, "reports_per_decade": 4, "first_report_fraction": 1e-3},
        "search": {"backend": "simulate", "n_params": [3e7, 3e9], "initial_sizes": LISTED,
                   "hyperparameters": {"lr": {"low": 3e-4, "high": 1e-2}}, "max_concurrent_trials": 1,
                   "bootstrap": 10, "stop": {"flops": 1e23, "max_trials": len(LISTED) + 1}},
        "resources": {"cpus_per_worker": 0.5},
    })
    outcome = run_search(spec, tracking_uri=uri, storage=tmp_path / "runs")

    client = MlflowClient(uri)
    experiment = client.get_run(outcome.parent_run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'",
                              order_by=["attributes.start_time ASC"])
    sizes = [float(r.data.params["n_params"]) for r in runs]
    assert sizes[:len(LISTED)] == sorted(LISTED, reverse=True)
    assert len(sizes) == len(LISTED) + 1 and 3e7 <= sizes[-1] <= 3e9  # then Optuna's, inside the range
