"""What one trial of a search runs: a real training job on Ray Train, or the simulator.

Both report the same metrics at the same log-spaced compute points (``compute.report_points``), so the
scheduler, searcher and recorder do not know which backend ran. Trials never talk to MLflow: the driver's
recorder logs their reports, which keeps one writer per store and makes resumed trials easy to de-duplicate.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
from ray import tune
from ray.tune.execution.placement_groups import PlacementGroupFactory

from scalesearch import compute
from scalesearch.job import make_trainer, model_for
from scalesearch.search.state import CONTINUES, CONTINUES_AFTER
from scalesearch.search.stops import StopRequest
from scalesearch.spec import Spec
from scalesearch.train import Job

TUNED_TRAIN_FIELDS = ("lr", "warmup_fraction", "batch_size", "beta2")
SIM_STATE = "simulated.json"


def job_for_trial(spec: Spec, config: dict, cache_dir: str | None = None) -> Job:
    """The training job of a trial: the spec's train section with the trial's hyperparameters, at its N."""
    overrides = {k: (int(v) if k == "batch_size" else v) for k, v in config.items() if k in TUNED_TRAIN_FIELDS}
    return Job(model=model_for(spec, config["n_params"]), train=spec.train.model_copy(update=overrides),
               domain=spec.domain, budget_flops=spec.budget.flops, flops_count=spec.budget.count,
               reports_per_decade=spec.budget.reports_per_decade,
               first_report_fraction=spec.budget.first_report_fraction, cache_dir=cache_dir)


def training_trial(config: dict, spec: Spec, storage_path: str, cache_dir: str | None) -> None:
    """Train the trial's model with Ray Train V2; ``TuneReportCallback`` forwards each report to Tune.

    The Ray Train run is named after the trial, so a trial restarted after the driver died resumes from its run's
    latest checkpoint; a trial that continues another (a compute ladder's next level) is named after that one, so
    it resumes from where that one stopped. The scheduler stops it by request (search/stops.py), not by killing it.
    """
    job = job_for_trial(spec, config, cache_dir)
    resources = spec.resources.for_n_params(job.model.n_params)
    trial_id = tune.get_context().get_trial_id()
    trainer = make_trainer(job, resources, name=f"trial-{config.get(CONTINUES, trial_id)}",
                           storage_path=storage_path, in_tune=True, stop_requested=StopRequest(spec.name, trial_id))
    trainer.fit()


def simulated_curve(spec: Spec, config: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute points, tokens and held-out losses a simulated trial of ``config`` reports: a fixed function of
    the config (a continuation's keys aside: it extends the same curve), the spec's budget and truth, and
    ``search.seed`` (benchmarks evaluate designs with it directly)."""
    from scalesearch.search.simulator import SimulatedLaw  # its truth imports the fits library: not for training

    law, budget = SimulatedLaw(spec.simulate), spec.budget
    n = float(config["n_params"])
    points = compute.report_points(budget.first_report_fraction * budget.flops, budget.flops,
                                   budget.reports_per_decade)
    tokens = np.array(points) / (6.0 * n)
    own = sorted(set(config) - {CONTINUES, CONTINUES_AFTER})
    seed = json.dumps({k: config[k] for k in own}) + f"/{spec.search.seed}"
    return points, tokens, law.curve(n, config.get("lr", spec.train.lr), tokens, seed)


def simulated_trial(config: dict, spec: Spec) -> None:
    """Report the simulator's curve for the trial's N and learning rate at the job's report points.

    A slow simulation (``seconds_per_report``) stands in for training and checkpoints at each report like a
    real job, so a resumed trial continues where it was; a fast one is cheaper to repeat (its curve is a fixed
    function of its config) than to checkpoint, and Tune snapshots the experiment at every trial checkpoint.
    A continuation reports from after the compute its trial reached.
    """
    n = float(config["n_params"])
    points, tokens, losses = simulated_curve(spec, config)
    start = int(np.searchsorted(points, config.get(CONTINUES_AFTER, 0.0) * (1 + 1e-9), side="right"))
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            start = max(start, json.loads((Path(path) / SIM_STATE).read_text())["reports"])
    for i in range(start, len(points)):
        if spec.simulate.seconds_per_report:
            time.sleep(spec.simulate.seconds_per_report)
        metrics = {"n_params": n, "compute": float(points[i]), "tokens": int(tokens[i]),
                   "compute_pf_days": compute.pf_days(points[i]), "heldout_loss": float(losses[i]),
                   "node_id": ray.get_runtime_context().get_node_id()}  # where it ran: the recorder tags it
        if not spec.simulate.seconds_per_report:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / SIM_STATE).write_text(json.dumps({"reports": i + 1}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def trial_resources(spec: Spec, config: dict) -> PlacementGroupFactory:
    """Resources of a trial, from the spec's rules for its N (so an autoscaler starts the right node type).

    A training trial's own process only waits on its Ray Train workers, which ask for their resources
    themselves; it takes a sliver of a CPU (0 is refused, DESIGN §7). A simulated trial asks for what a real one
    of its size would, so the autoscaling tests exercise the same requests.
    """
    if spec.search.backend == "ray_train":
        return PlacementGroupFactory([{"CPU": 0.01}])
    r = spec.resources.for_n_params(float(config["n_params"]))
    workers = max(1, r.num_workers)
    bundle = {"CPU": r.cpus_per_worker * workers, **({"GPU": float(workers)} if r.use_gpu else {})}
    return PlacementGroupFactory([bundle])


def gpus_of(spec: Spec, n_params: float) -> int:
    r = spec.resources.for_n_params(n_params)
    return max(1, r.num_workers) if r.use_gpu else 0


def make_trainable(spec: Spec, storage_path: str, cache_dir: str | None):
    """The Tune trainable of the spec's backend, with its per-trial resources."""
    if spec.search.backend == "simulate":
        fn = tune.with_parameters(simulated_trial, spec=spec)
    else:
        fn = tune.with_parameters(training_trial, spec=spec, storage_path=storage_path, cache_dir=cache_dir)
    return tune.with_resources(fn, lambda config: trial_resources(spec, config))
