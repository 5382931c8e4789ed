"""Tokens/s of a job run through Ray Train against the same model and batch in a bare PyTorch loop.

Three loops run side by side in one process tree, alternating, ``--repeats`` times (the bare loop before and
after the other two, averaged, so that the machine's drift over a repeat cancels); the figures are medians:
the bare loop (model, AdamW, forward, backward, step), the job's own loop (``train_job``) in this process without
Ray, and the job on Ray Train. The middle one splits the gap: bare -> in-process is what the training loop itself
adds (loss masks, divergence checks), in-process -> Ray Train what Ray adds. Throughput is the steady-state
``tokens_per_s`` the job reports (training steps only); Ray's start-up cost (controller and worker-group start,
data load, first step) is the wall time not spent in training steps. One Ray Train job runs first and is not
counted: Ray's dashboard and agents are still starting then, on the same cores.

    python benchmarks/ray_train_overhead.py [--repeats 5] [--json]

Ray forwards the workers' progress lines to this process's stdout; with ``--json`` the figures are the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

from scalesearch.data import load_split, make_domain, prepare
from scalesearch.data.batches import BatchSampler
from scalesearch.job import ensure_ray, model_for, run_job
from scalesearch.model import GPT
from scalesearch.spec import parse_spec
from scalesearch.train import Job, LocalRuntime, make_optimizer, train_job

SPEC = {"name": "bench-overhead", "domain": {"name": "text", "options": {"seq_len": 128}},
        "model": {"family": "henighan", "n_params": 1e5, "aspect": 10},
        "train": {"batch_size": 16, "heldout_sequences": 64},
        "budget": {"flops": 4e11, "reports_per_decade": 4},
        "resources": {"num_workers": 1, "cpus_per_worker": 2}}


def bare_loop_tokens_per_s(spec, cfg, steps: int = 150) -> float:
    """The plainest loop: model, AdamW, batches, forward, backward, step; no reports, no checkpoints."""
    torch.set_num_threads(int(spec.resources.cpus_per_worker))
    domain = make_domain(spec.domain.name, **spec.domain.options)
    sampler = BatchSampler(load_split(prepare(domain), "train"), spec.train.batch_size)
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = make_optimizer(model, spec.train)
    start = None
    for step in range(steps + 10):
        if step == 10:  # skip the warm-up steps (allocator, first-call overheads)
            start = time.perf_counter()
        tokens, _ = sampler.batch(step)
        loss = torch.nn.functional.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * spec.train.batch_size * cfg.n_ctx / (time.perf_counter() - start)


def in_process_tokens_per_s(spec, cfg, tmp: Path) -> float:
    """The job's own training loop in this process, no Ray and no MLflow: steady-state tokens/s as it reports."""
    torch.set_num_threads(int(spec.resources.cpus_per_worker))
    root = prepare(make_domain(spec.domain.name, **spec.domain.options))
    job = Job(model=cfg, train=spec.train, domain=spec.domain, budget_flops=spec.budget.flops,
              reports_per_decade=spec.budget.reports_per_decade,
              first_report_fraction=spec.budget.first_report_fraction, cache_dir=str(root.parent))
    runtime = LocalRuntime(Path(tempfile.mkdtemp(dir=tmp)))
    train_job(job, runtime)
    return statistics.median(r["tokens_per_s"] for r in runtime.reports[-4:])


def ray_train_job(spec, tmp: Path) -> dict[str, float]:
    """One job on Ray Train logged to MLflow: steady-state tokens/s, wall time and the time outside training."""
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    t0 = time.perf_counter()
    out = run_job(spec, tracking_uri=uri, storage_path=tmp / "runs")
    wall = time.perf_counter() - t0
    hist = MlflowClient(uri).get_metric_history(out.run_id, "tokens_per_s")
    steady = statistics.median(m.value for m in sorted(hist, key=lambda m: m.step)[-4:])
    return {"ray_tokens_per_s": steady, "job_wall_s": wall, "job_tokens": out.metrics["tokens"],
            "not_training_s": wall - out.metrics["tokens"] / steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = parse_spec(SPEC)
    cfg = model_for(spec)
    t0 = time.perf_counter()
    ensure_ray()
    ray_init_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = ray_train_job(spec, Path(tmp))
        for _ in range(args.repeats):
            before = bare_loop_tokens_per_s(spec, cfg)
            local = in_process_tokens_per_s(spec, cfg, Path(tmp))
            job = ray_train_job(spec, Path(tmp))
            after = bare_loop_tokens_per_s(spec, cfg)
            bare = (before + after) / 2  # the bare loop on either side: the machine's drift cancels
            rows.append({"bare_tokens_per_s": bare, "bare_drift": after / before, "in_process_tokens_per_s": local,
                         **job, "ratio": job["ray_tokens_per_s"] / bare, "loop_ratio": local / bare,
                         "ray_ratio": job["ray_tokens_per_s"] / local})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    med["ray_init_s"] = ray_init_s
    med["warm_up_job_wall_s"] = warm_up["job_wall_s"]
    if args.json:
        print(json.dumps({"median": med, "runs": rows}))
    else:
        for k, v in med.items():
            print(f"{k:>20}: {v:,.3f}")


if __name__ == "__main__":
    main()
