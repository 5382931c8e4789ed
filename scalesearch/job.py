"""Launching one training job on Ray Train V2 (``TorchTrainer``, DDP over workers) with an MLflow run.

The driver resolves the shape, prepares the data once, opens the MLflow run and hands workers a plain ``Job``;
rank 0 logs metrics to that run. Inside a Ray Tune trial the same trainer is used with ``TuneReportCallback``
(the Train V2 + Tune pattern), so every report reaches Tune as well (``ReportTakenCallback``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import ray
import ray.train
import ray.train.torch
import torch
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from scalesearch import compute
from scalesearch.data import make_domain, prepare
from scalesearch.model import ModelConfig
from scalesearch.shapes import get_family, shape_for_n_params
from scalesearch.spec import Spec, WorkerResources
from scalesearch.train import STATE_FILE, Job, train_job

# Ray Train's controller polls workers every 2 s by default; at laptop scale that is most of a short job's
# overhead (DESIGN §7: 21 s -> 12 s for a trivial job at 0.1 s). Its print patch tees each worker print into a
# log record as well, which shows every progress line twice. A variable already set in the environment wins.
RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1", "RAY_TRAIN_V2_ENABLED": "1",
           "RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}
# A Ray instance started here runs on this machine alone, which no cloud reclaims: Train V2's preemption
# watcher (one more actor process a job, polling the node's drain state) has nothing to watch.
LOCAL_RAY_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


class RayTrainRuntime:
    """The training loop's view of a Ray Train worker: rank, device, ``ray.train.report`` with checkpoints."""

    def __init__(self, stop_requested: Callable[[], bool] | None = None) -> None:
        self._stop_requested = stop_requested
        ctx = ray.train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device() if torch.cuda.is_available() else torch.device("cpu")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world_size > 1:
            return ray.train.torch.prepare_model(model)  # moves to the device and wraps in DDP
        return model.to(self.device)

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    def latest_checkpoint(self) -> Path | None:
        checkpoint = ray.train.get_checkpoint()  # set when Ray restarts a failed worker group
        return Path(checkpoint.to_directory()) if checkpoint else None

    def stop_requested(self) -> bool:
        return bool(self._stop_requested and self._stop_requested())


def ray_train_loop(config: dict) -> None:
    """The per-worker entry point Ray Train calls."""
    train_job(config["job"], RayTrainRuntime(config.get("stop_requested")))


def on_cluster(address: str | None = None) -> bool:
    """Whether Ray is a cluster's (``address`` or a non-empty ``$RAY_ADDRESS``), not a local instance started here."""
    return bool(address or os.environ.get("RAY_ADDRESS"))


def ensure_ray(address: str | None = None, worker_output: bool = True) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), else start a local instance on this machine's CPUs.

    ``worker_output=False`` keeps workers' prints in their log files (a search prints its own progress).
    """
    if not ray.is_initialized():
        wanted = {**RAY_ENV, **({} if on_cluster(address) else LOCAL_RAY_ENV)}
        env = {name: os.environ.get(name, value) for name, value in wanted.items()}
        os.environ.update(env)
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=worker_output)


def model_for(spec: Spec, n_params: float | None = None) -> ModelConfig:
    """The job's shape: explicit depth and width, or the family's shape nearest the target N."""
    domain = make_domain(spec.domain.name, **spec.domain.options)
    m = spec.model
    if m.d_model is not None and n_params is None:
        return get_family(m.family).shape(m.n_layer, m.d_model, domain.seq_len, domain.vocab_size, m.n_head)
    target = n_params or m.n_params
    if target is None:
        raise ValueError("no model size: give --n-params, or model.n_params (or n_layer and d_model) in the spec")
    return shape_for_n_params(m.family, target, m.aspect, domain.seq_len, domain.vocab_size, m.n_head,
                              None if m.d_model is not None else m.n_layer)


def job_params(job: Job, fingerprint: str, tokens_per_item: dict[str, int]) -> dict[str, object]:
    """MLflow params of a job run (names fixed by the contract the fits and reports read)."""
    cfg = job.model
    return {
        **asdict(cfg), "n_params": cfg.n_params, "n_params_total": cfg.n_params_total,
        "flops_per_token": compute.flops_per_token(cfg), "flops_per_token_full": compute.flops_per_token_full(cfg),
        "domain": job.domain.name, "domain_options": json.dumps(job.domain.options, sort_keys=True),
        "data_fingerprint": fingerprint, "tokens_per_item": json.dumps(tokens_per_item),
        "budget_flops": job.budget_flops, "flops_count": job.flops_count,
        "warmup_tokens": job.warmup_tokens,
        **job.train.model_dump(),
    }


def make_trainer(job: Job, resources: WorkerResources, name: str, storage_path: str | Path,
                 in_tune: bool = False, stop_requested: Callable[[], bool] | None = None) -> TorchTrainer:
    """A Ray Train V2 trainer for ``job``; inside a Tune trial its reports also reach Tune, and
    ``stop_requested`` (asked at each report) lets the search end it early."""
    return TorchTrainer(
        ray_train_loop, train_loop_config={"job": job, "stop_requested": stop_requested},
        scaling_config=ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu,
                                     resources_per_worker={"CPU": resources.cpus_per_worker}),
        run_config=RunConfig(name=name, storage_path=str(storage_path), failure_config=FailureConfig(max_failures=2),
                             checkpoint_config=CheckpointConfig(num_to_keep=2),
                             callbacks=[ReportTakenCallback()] if in_tune else None,
                             logging_config=LoggingConfig(log_level="WARNING")),  # our progress line, not Ray's
    )


class ReportTakenCallback(TuneReportCallback):
    """``TuneReportCallback`` that returns once the Tune trial has taken the report from its one-slot queue, so
    that a run never ends with a report still in it.

    Why: in Ray 2.60 such a run deadlocks its trial. When ``fit()`` returns, the trial's function thread posts
    its closing result into the session's one-slot result queue; the trial's main thread, taking the pending
    report next (``_TrainSession._get_result_from_queues``), posts it into the same full queue and blocks for
    good. A search hits this when it stops a trial on a report (search/stops.py: the run ends right after it)
    while the driver is still busy deciding: it hung the demo test once (2026-12-05), and tests/test_ray_job.py
    provokes it (the trial hangs without this callback). The wait is as long as Tune takes to ask for the
    trial's next result, which the next report's put into the same one-slot queue waits for anyway. A trial that
    Tune itself stops does not wait on it: Tune ends the trial's actor."""

    def after_report(self, run_context, metrics, checkpoint) -> None:
        super().after_report(run_context, metrics, checkpoint)
        while not self._training_actor_item_queue.empty():
            time.sleep(0.01)


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    status: str
    metrics: dict[str, float]
    checkpoint: str | None


def run_job(spec: Spec, n_params: float | None = None, tracking_uri: str | None = None,
            storage_path: str | Path | None = None, ray_address: str | None = None) -> JobOutcome:
    """Train one model as ``spec`` says, on Ray Train, logged to an MLflow run; returns its final state."""
    # MLflow is imported here, by the driver: Train's controller and workers import this module for
    # ``ray_train_loop``, and a search's trials for ``make_trainer``; MLflow would add ~0.7 s to each one's start.
    from mlflow.tracking import MlflowClient

    from scalesearch.tracking import check_tracking, resolve_tracking_uri, start_run

    cfg = model_for(spec, n_params)
    domain = make_domain(spec.domain.name, **spec.domain.options)
    uri = resolve_tracking_uri(tracking_uri or spec.tracking.uri)
    check_tracking(uri)
    root = prepare(domain)
    job = Job(model=cfg, train=spec.train, domain=spec.domain, budget_flops=spec.budget.flops,
              flops_count=spec.budget.count, reports_per_decade=spec.budget.reports_per_decade,
              first_report_fraction=spec.budget.first_report_fraction, tracking_uri=uri, cache_dir=str(root.parent))
    client = MlflowClient(uri)
    run_id = start_run(client, spec.experiment, run_name=f"{domain.name}-N{cfg.n_params:.2g}",
                       params=job_params(job, domain.fingerprint(), domain.tokens_per_item),
                       tags={"scalesearch.role": "job", "scalesearch.status": "running"})
    job = Job(**{**job.__dict__, "run_id": run_id})
    storage = Path(storage_path or Path.cwd() / "runs").resolve()
    client.set_tag(run_id, "scalesearch.checkpoint_root", str(storage / run_id))

    ensure_ray(ray_address)
    trainer = make_trainer(job, spec.resources.for_n_params(cfg.n_params), name=run_id, storage_path=storage)
    try:
        result = trainer.fit()
    except Exception:
        client.set_tag(run_id, "scalesearch.status", "failed")
        raise
    status = "diverged" if result.metrics and result.metrics.get("diverged") else "finished"
    checkpoint = result.checkpoint.path if result.checkpoint else None
    client.set_tag(run_id, "scalesearch.status", status)
    if checkpoint:
        client.set_tag(run_id, "scalesearch.checkpoint", str(Path(checkpoint) / STATE_FILE))
    return JobOutcome(run_id=run_id, status=status, metrics=dict(result.metrics or {}), checkpoint=checkpoint)
