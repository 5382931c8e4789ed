"""One training job: a model of one shape trained on one domain up to a compute budget, reporting on the way.

The job reports at log-spaced compute points (compute, not steps, is the time axis of every scaling decision)
and checkpoints at each report: model, optimizer, step (which is also the data position and, through the
pure-function schedule, the learning rate) and RNG state, so a resumed job reproduces the losses of one that
never stopped. The loop is written against a small ``Runtime`` (rank, device, report, checkpoint), so the same
code runs bare, in Ray Train workers with DDP (``job.py``), or inside a Ray Tune trial.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from scalesearch import compute
from scalesearch.data import load_split, make_domain, prepare
from scalesearch.data.batches import BatchSampler, fixed_batches
from scalesearch.model import GPT, ModelConfig
from scalesearch.schedules import lr_at
from scalesearch.spec import DomainSpec, TrainSpec

STATE_FILE = "state.pt"
HISTORY_FILE = "metrics.json"
DIVERGENCE_CHECK_STEPS = 100  # between reports, look for a non-finite loss this often


@dataclass(frozen=True)
class Job:
    """Everything one training run needs; plain data so it pickles to Ray workers."""

    model: ModelConfig
    train: TrainSpec
    domain: DomainSpec
    budget_flops: float
    flops_count: str = "6N"  # what budget_flops and the reported "compute" count (compute.training_flops_per_token)
    reports_per_decade: int = 5
    first_report_fraction: float = 1e-3
    tracking_uri: str | None = None
    run_id: str | None = None
    cache_dir: str | None = None
    resume_from: str | None = None  # a checkpoint directory written by this loop

    @property
    def tokens_per_step(self) -> int:
        return self.train.batch_size * self.model.n_ctx

    @property
    def flops_per_step(self) -> int:
        return compute.training_flops_per_token(self.model, self.flops_count) * self.tokens_per_step

    @property
    def total_steps(self) -> int:
        return max(1, math.ceil(self.budget_flops / self.flops_per_step))

    @property
    def warmup_tokens(self) -> int:
        """Tokens trained on when the learning-rate warm-up ends (``schedules.lr_at``'s warm-up steps)."""
        return int(self.train.warmup_fraction * self.total_steps) * self.tokens_per_step

    def report_steps(self) -> list[int]:
        """Steps after which to report: the first step whose cumulative compute reaches each report point."""
        points = compute.report_points(self.first_report_fraction * self.budget_flops, self.budget_flops,
                                       self.reports_per_decade)
        steps = {min(self.total_steps, max(1, math.ceil(c / self.flops_per_step))) for c in points}
        return sorted(steps | {self.total_steps})


@dataclass
class JobResult:
    status: str  # "finished" or "diverged"
    history: list[dict[str, float]] = field(default_factory=list)


class Runtime(Protocol):
    """Where the loop runs: a bare process, a Ray Train worker, a Tune trial."""

    rank: int
    world_size: int
    device: torch.device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module: ...

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None: ...

    def latest_checkpoint(self) -> Path | None: ...

    def stop_requested(self) -> bool: ...


class LocalRuntime:
    """One process, no Ray: keeps the checkpoint of every report in ``checkpoint_root``.

    Used by the bare-PyTorch baseline of the benchmarks and by tests that stop and resume a job.
    """

    rank, world_size = 0, 1

    def __init__(self, checkpoint_root: Path, device: str = "cpu"):
        self.device = torch.device(device)
        self.checkpoint_root = Path(checkpoint_root)
        self.reports: list[dict[str, float]] = []
        self.checkpoints: list[Path] = []

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        self.reports.append(metrics)
        if checkpoint_dir is not None:
            kept = self.checkpoint_root / f"checkpoint_{len(self.reports):05d}"
            shutil.copytree(checkpoint_dir, kept)
            self.checkpoints.append(kept)

    def latest_checkpoint(self) -> Path | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def stop_requested(self) -> bool:
        return False


def _all_reduce(t: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        dist.all_reduce(t)
    return t


def loss_sums(logits: torch.Tensor, targets: torch.Tensor, parts: torch.Tensor, n_parts: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-part sums of token losses and counts of targets, index 0 = not counted (float64 for exact sums)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    index = parts.flatten().long()
    sums = torch.zeros(n_parts + 1, dtype=torch.float64, device=logits.device).index_add_(0, index, losses.double())
    counts = torch.bincount(index, minlength=n_parts + 1).double()
    return sums, counts


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list, n_parts: int, runtime: Runtime) -> tuple[np.ndarray, np.ndarray]:
    """Loss sums and counts per part over the fixed held-out batches, shared out over ranks and summed."""
    model.eval()
    sums = torch.zeros(n_parts + 1, dtype=torch.float64, device=runtime.device)
    counts = torch.zeros_like(sums)
    for tokens, parts in batches[runtime.rank::runtime.world_size]:
        tokens, parts = tokens.to(runtime.device), parts.to(runtime.device)
        with _autocast(runtime.device):
            logits = model(tokens[:, :-1])
        s, c = loss_sums(logits, tokens[:, 1:], parts[:, 1:], n_parts)
        sums += s
        counts += c.to(sums.device)
    model.train()
    _all_reduce(sums, runtime.world_size)
    _all_reduce(counts, runtime.world_size)
    return sums.cpu().numpy(), counts.cpu().numpy()


def split_losses(prefix: str, sums: np.ndarray, counts: np.ndarray, parts: tuple[str, ...]) -> dict[str, float]:
    """``prefix``: the mean loss over every counted target; ``prefix/<part>``: each named part's mean, where it has
    counted targets (index 0 of ``sums`` and ``counts`` is the uncounted rest)."""
    losses = {prefix: float(sums[1:].sum() / max(counts[1:].sum(), 1))}
    losses.update({f"{prefix}/{name}": float(sums[i + 1] / counts[i + 1]) for i, name in enumerate(parts)
                   if counts[i + 1] > 0})
    return losses


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


def make_optimizer(model: torch.nn.Module, spec: TrainSpec) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on LayerNorm gains), as in GPT-2/nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.beta1, spec.beta2),
                             fused=torch.cuda.is_available() and next(model.parameters()).is_cuda)


def progress_line(metrics: dict[str, float], job: Job) -> str:
    done = metrics["compute"] / job.budget_flops
    return (f"N={job.model.n_params:.3g} step {metrics['step']:>6} | {done:6.1%} of {job.budget_flops:.2e} FLOPs | "
            f"train {metrics['train_loss']:.4f} held-out {metrics['heldout_loss']:.4f} | "
            f"{metrics['tokens_per_s']:,.0f} tok/s")


def train_job(job: Job, runtime: Runtime) -> JobResult:
    """Train ``job`` on ``runtime`` to its budget, reporting and checkpointing at its log-spaced compute points."""
    spec, cfg = job.train, job.model
    domain = make_domain(job.domain.name, **job.domain.options)
    root = prepare(domain, Path(job.cache_dir) if job.cache_dir else None)
    n_parts = len(domain.parts)
    sampler = BatchSampler(load_split(root, "train"), spec.batch_size, spec.seed, runtime.rank, runtime.world_size)
    heldout = fixed_batches(load_split(root, "heldout"), spec.eval_batch_size, spec.heldout_sequences)
    # Named eval splits (math's difficulties, text_image's captioned and uncaptioned images): at every report, and
    # the final ones once, at the last report.
    evals = {split: fixed_batches(load_split(root, split), spec.eval_batch_size, spec.heldout_sequences)
             for split in domain.eval_splits() + domain.final_eval_splits()}
    final_only = set(domain.final_eval_splits())

    torch.manual_seed(spec.seed)  # every rank builds the same initial model
    raw_model = GPT(cfg).to(runtime.device)
    optimizer = make_optimizer(raw_model, spec)
    step, history = 0, []
    checkpoint = runtime.latest_checkpoint() or (Path(job.resume_from) if job.resume_from else None)
    if checkpoint is not None:
        state = torch.load(checkpoint / STATE_FILE, map_location=runtime.device, weights_only=False)
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        step, history = state["step"], state["history"]
    model = runtime.wrap(torch.compile(raw_model) if spec.compile else raw_model)

    logger = None
    if runtime.rank == 0 and job.run_id:  # a search's trials log through the driver: no MLflow import there
        from scalesearch.tracking import MetricLogger
        logger = MetricLogger(job.tracking_uri, job.run_id)
    peak = compute.device_peak_flops(torch.cuda.get_device_name(runtime.device)) if runtime.device.type == "cuda" \
        else None
    per_token, per_token_6n = compute.training_flops_per_token(cfg, job.flops_count), compute.flops_per_token(cfg)
    per_token_full = compute.flops_per_token_full(cfg)
    pending_reports = [s for s in job.report_steps() if s > step]
    train_sum = torch.zeros(2, dtype=torch.float64, device=runtime.device)  # loss sum, targets since last report
    train_time, last_step, status = 0.0, step, "finished"

    while pending_reports:
        t0 = time.perf_counter()
        tokens, parts = (t.to(runtime.device) for t in sampler.batch(step))
        lr = lr_at(step, job.total_steps, spec.lr, spec.schedule, spec.warmup_fraction, spec.final_lr_fraction,
                   spec.cooldown_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        targets, counted = tokens[:, 1:], (parts[:, 1:] > 0).flatten()
        # Normalise by the global count of targets so that DDP's gradient average is the global token mean.
        global_count = _all_reduce(counted.sum().double(), runtime.world_size).clamp(min=1)
        with _autocast(runtime.device):
            logits = model(tokens[:, :-1])
        local_sum = (F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
                     * counted).sum()
        (local_sum * runtime.world_size / global_count).backward()
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        train_sum += torch.stack([local_sum.detach().double(), counted.sum().double()])
        step += 1
        train_time += time.perf_counter() - t0
        at_report = step == pending_reports[0]
        if not at_report and step % DIVERGENCE_CHECK_STEPS:
            continue

        # Every rank asks, and the sum decides, so that all ranks leave the loop at the same step.
        asked = torch.tensor([float(runtime.stop_requested())], dtype=torch.float64, device=runtime.device)
        loss_sum, count, stop = _all_reduce(torch.cat([train_sum, asked]), runtime.world_size).tolist()
        if stop > 0:
            status = "stopped"
            break
        if not math.isfinite(loss_sum):
            status = "diverged"
            runtime.report({"step": step, "tokens": step * job.tokens_per_step, "diverged": 1.0}, None)
            break  # no checkpoint: the last good one stays the latest
        if not at_report:
            continue
        pending_reports.pop(0)
        sums, counts = evaluate(model, heldout, n_parts, runtime)
        tokens_done = step * job.tokens_per_step
        metrics = {
            "n_params": cfg.n_params, "tokens": tokens_done, "step": step, "compute": per_token * tokens_done,
            "compute_pf_days": compute.pf_days(per_token * tokens_done), "compute_6n": per_token_6n * tokens_done,
            "compute_full": per_token_full * tokens_done,
            "train_loss": loss_sum / max(count, 1), **split_losses("heldout_loss", sums, counts, domain.parts),
            "lr": lr, "tokens_per_s": (step - last_step) * job.tokens_per_step / train_time,
            "warmup_tokens": job.warmup_tokens,  # before it, the frontier does not read the curve (fits/frontier.py)
        }
        for split, batches in evals.items():
            if split in final_only and pending_reports:
                continue
            metrics.update(split_losses(f"eval/{split}_loss", *evaluate(model, batches, n_parts, runtime),
                                        domain.parts))
        if peak:
            metrics["mfu"] = metrics["tokens_per_s"] * per_token_full / (peak * runtime.world_size)
        if not math.isfinite(metrics["heldout_loss"]):
            status = "diverged"
            runtime.report({**metrics, "diverged": 1.0}, None)
            break
        train_sum.zero_()
        train_time, last_step = 0.0, step
        history.append(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp)
            if runtime.rank == 0:
                torch.save({"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                            "step": step, "rng": _rng_state(), "history": history}, ckpt / STATE_FILE)
                (ckpt / HISTORY_FILE).write_text(json.dumps(history))
            if logger:
                logger.log(metrics, step=tokens_done)
            if runtime.rank == 0:
                print(progress_line(metrics, job), flush=True)
            runtime.report(metrics, ckpt if runtime.rank == 0 else None)

    if logger:
        logger.set_tags({"scalesearch.status": status})
        if not logger.flush():
            print(f"MLflow did not take {len(logger.pending)} points of run {job.run_id}; every checkpoint's "
                  f"{HISTORY_FILE} holds the full history")
    return JobResult(status=status, history=history)
