"""Tokens/s and MFU of the training job on one CUDA GPU (bf16 autocast, fused AdamW), eager against
``train.compile: true``, for GPT shapes from ~1e7 to ~3e8 non-embedding parameters at a context of 1024.

The figures are the job's own (``train_job`` in this process, the loop every backend runs): steady-state
``tokens_per_s`` over the training steps between the last two reports, and ``mfu`` = tokens/s x the full FLOPs per
token (attention and unembedding included, ``compute.flops_per_token_full``) over the device's dense bf16 peak.
Eager and compiled jobs of each size alternate, ``--repeats`` times, so that drift cancels; medians are printed.
Wall time adds the job's start-up (data, model build, compilation), its evaluations and its checkpoint writes.

    python benchmarks/gpu_training.py [--repeats 3] [--steps 120] [--json]

Needs a CUDA device; exits 2 without one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from scalesearch import compute
from scalesearch.shapes import shape_for_n_params
from scalesearch.spec import DomainSpec, TrainSpec
from scalesearch.train import Job, LocalRuntime, train_job

SIZES = (1e7, 8.5e7, 3e8)
N_CTX, VOCAB, BATCH = 1024, 256, 16


class ReportsOnly(LocalRuntime):
    """Keeps the reports, not the checkpoints: a 3e8 model's state with AdamW's is 3.6 GB a report."""

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        self.reports.append(metrics)


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def one_job(n_params: float, compiled: bool, steps: int) -> dict[str, float]:
    cfg = shape_for_n_params("gpt", n_params, aspect=64, n_ctx=N_CTX, vocab_size=VOCAB)
    train = TrainSpec(batch_size=BATCH, heldout_sequences=16, eval_batch_size=16, compile=compiled)
    job = Job(model=cfg, train=train, domain=DomainSpec(name="text", options={"seq_len": N_CTX}),
              budget_flops=steps * compute.flops_per_token(cfg) * BATCH * N_CTX, reports_per_decade=4,
              first_report_fraction=0.05)
    start = time.perf_counter()
    result = train_job(job, ReportsOnly(Path(tempfile.gettempdir()), device="cuda"))  # it writes nothing there
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    last = result.history[-1]
    return {"target": n_params, "n_params": cfg.n_params, "shape": f"{cfg.n_layer}x{cfg.d_model}",
            "compiled": compiled, "tokens_per_s": last["tokens_per_s"], "mfu": last["mfu"], "wall_s": wall,
            "heldout_loss": last["heldout_loss"], "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120, help="training steps of each job")
    parser.add_argument("--sizes", type=float, nargs="+", default=list(SIZES))
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark measures the GPU path", file=sys.stderr)
        return 2
    rows = []
    for repeat in range(args.repeats):
        for n in args.sizes:
            for compiled in (False, True):
                torch.cuda.reset_peak_memory_stats()
                rows.append({**one_job(n, compiled, args.steps), "repeat": repeat})
                print(json.dumps(rows[-1]), flush=True)
    summary = []
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, batch {BATCH} x {N_CTX} tokens, "
          f"{args.steps} steps a job, medians of {args.repeats}")
    print(f"{'N':>10} {'shape':>9} | {'eager tok/s':>12} {'MFU':>6} | {'compiled tok/s':>14} {'MFU':>6} | "
          f"{'ratio':>5} | {'wall eager/compiled s':>21} | {'peak GiB':>8}")
    for n in args.sizes:
        eager = [r for r in rows if r["target"] == n and not r["compiled"]]
        comp = [r for r in rows if r["target"] == n and r["compiled"]]
        line = {"n_params": eager[0]["n_params"], "shape": eager[0]["shape"],
                "eager_tokens_per_s": median(eager, "tokens_per_s"), "eager_mfu": median(eager, "mfu"),
                "compiled_tokens_per_s": median(comp, "tokens_per_s"), "compiled_mfu": median(comp, "mfu"),
                "eager_wall_s": median(eager, "wall_s"), "compiled_wall_s": median(comp, "wall_s"),
                "peak_mem_gib": max(r["peak_mem_gib"] for r in eager + comp)}
        line["compiled_over_eager"] = line["compiled_tokens_per_s"] / line["eager_tokens_per_s"]
        summary.append(line)
        print(f"{line['n_params']:>10.3g} {line['shape']:>9} | {line['eager_tokens_per_s']:>12,.0f} "
              f"{line['eager_mfu']:>6.1%} | {line['compiled_tokens_per_s']:>14,.0f} {line['compiled_mfu']:>6.1%} | "
              f"{line['compiled_over_eager']:>5.2f} | {line['eager_wall_s']:>9.1f} / {line['compiled_wall_s']:>9.1f} | "
              f"{line['peak_mem_gib']:>8.1f}")
    if args.json:
        print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows,
                          "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
