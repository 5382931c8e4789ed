"""Tokens/s of a job run through Ray Train against the same model and batch in a bare PyTorch loop.

Both run side by side in one process tree, alternating, ``--repeats`` times; the figures are medians. Ray's
throughput is the steady-state ``tokens_per_s`` the job reports (training steps only); its start-up cost (Ray
init, controller and worker-group start, data load, first step) is the wall time not spent in training steps.

    python benchmarks/ray_train_overhead.py [--repeats 3] [--json]

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
from scalesearch.train import make_optimizer

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = parse_spec(SPEC)
    cfg = model_for(spec)
    t0 = time.perf_counter()
    ensure_ray()
    ray_init_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            bare = bare_loop_tokens_per_s(spec, cfg)
            t0 = time.perf_counter()
            out = run_job(spec, tracking_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}", storage_path=Path(tmp) / "runs")
            wall = time.perf_counter() - t0
            hist = MlflowClient(f"sqlite:///{Path(tmp) / 'mlflow.db'}").get_metric_history(out.run_id, "tokens_per_s")
            steady = statistics.median(m.value for m in sorted(hist, key=lambda m: m.step)[-4:])
            tokens = out.metrics["tokens"]
            rows.append({"bare_tokens_per_s": bare, "ray_tokens_per_s": steady, "ratio": steady / bare,
                         "job_wall_s": wall, "job_tokens": tokens, "not_training_s": wall - tokens / steady})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    med["ray_init_s"] = ray_init_s
    if args.json:
        print(json.dumps({"median": med, "runs": rows}))
    else:
        for k, v in med.items():
            print(f"{k:>20}: {v:,.3f}")


if __name__ == "__main__":
    main()
