"""The training loop without Ray: resume reproduces an uninterrupted job, divergence keeps the last good state."""

from __future__ import annotations

import math

import pytest
import torch

from scalesearch.shapes import shape_for_n_params
from scalesearch.spec import DomainSpec, TrainSpec
from scalesearch.train import STATE_FILE, Job, LocalRuntime, train_job

TEXT = DomainSpec(name="text", options={"seq_len": 32})


def small_job(**train) -> Job:
    cfg = shape_for_n_params("henighan", 2e4, aspect=8, n_ctx=32, vocab_size=256)
    return Job(model=cfg, train=TrainSpec(batch_size=8, heldout_sequences=32, **train), domain=TEXT,
               budget_flops=6 * cfg.n_params * 8 * 32 * 60)  # 60 steps


class StopAfter(LocalRuntime):
    """A runtime whose process 'dies' right after its k-th checkpoint is written."""

    def __init__(self, root, k):
        super().__init__(root)
        self.k = k

    def report(self, metrics, checkpoint_dir):
        super().report(metrics, checkpoint_dir)
        if len(self.reports) == self.k:
            raise KeyboardInterrupt


def test_reports_are_log_spaced_in_compute(tmp_path):
    job = small_job()
    result = train_job(job, LocalRuntime(tmp_path))
    compute = [m["compute"] for m in result.history]
    assert result.status == "finished"
    assert compute[-1] >= job.budget_flops and compute == sorted(compute)
    decades = math.log10(compute[-1] / compute[0])
    assert len(compute) >= 4 * decades  # at least 4 reports a decade
    assert all(m["compute"] == 6 * job.model.n_params * m["tokens"] for m in result.history)
    assert result.history[-1]["heldout_loss"] < result.history[0]["heldout_loss"] - 1.0  # it learns


def test_a_full_count_budget_reports_and_stops_on_the_full_flops(tmp_path):
    """budget.count full: the job's budget, report points and "compute" count attention and the unembedding too,
    so a model whose unembedding outweighs 6N trains on fewer tokens for the same budget."""
    cfg = shape_for_n_params("henighan", 192, aspect=8, n_ctx=32, vocab_size=256, n_head=1, n_layer=1)
    # Independently: per token, forward 2N (weights) + 2 n_layer n_ctx d_attn (attention) + 2 d_model vocab, x3.
    full_per_token = 3 * (2 * cfg.n_params + 2 * cfg.n_layer * 32 * cfg.d_attn + 2 * cfg.d_model * 256)
    assert full_per_token > 5 * 6 * cfg.n_params  # the unembedding dominates at this size
    budget = full_per_token * 8 * 32 * 40  # 40 steps of 8 x 32 tokens
    job = Job(model=cfg, train=TrainSpec(batch_size=8, heldout_sequences=8), domain=TEXT, budget_flops=budget,
              flops_count="full")
    history = train_job(job, LocalRuntime(tmp_path)).history
    assert history[-1]["step"] == 40 and history[-1]["compute"] == budget
    assert all(m["compute"] == m["compute_full"] == full_per_token * m["tokens"] for m in history)
    assert all(m["compute_6n"] == 6 * cfg.n_params * m["tokens"] for m in history)
    six_n = Job(**{**job.__dict__, "flops_count": "6N"})
    assert six_n.total_steps == math.ceil(budget / (6 * cfg.n_params * 8 * 32)) > 5 * 40


def test_resumed_job_reproduces_the_uninterrupted_losses(tmp_path):
    job = small_job(schedule="cosine")
    full = train_job(job, LocalRuntime(tmp_path / "full")).history
    crashed = StopAfter(tmp_path / "crashed", k=5)
    with pytest.raises(KeyboardInterrupt):
        train_job(job, crashed)
    resumed_job = Job(**{**job.__dict__, "resume_from": str(crashed.checkpoints[-1])})
    resumed = train_job(resumed_job, LocalRuntime(tmp_path / "resumed")).history
    assert len(resumed) == len(full)
    for a, b in zip(full, resumed):
        assert a["step"] == b["step"]
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-6)
        assert b["heldout_loss"] == pytest.approx(a["heldout_loss"], abs=1e-6)


def test_a_diverging_job_stops_and_keeps_its_last_good_checkpoint(tmp_path):
    runtime = LocalRuntime(tmp_path)
    result = train_job(small_job(lr=1e4, grad_clip=0.0, warmup_fraction=0.0), runtime)
    assert result.status == "diverged"
    assert runtime.reports[-1]["diverged"] == 1.0
    if runtime.checkpoints:  # whatever was saved before is finite
        state = torch.load(runtime.checkpoints[-1] / STATE_FILE, weights_only=False)
        assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_math_eval_splits_are_logged_at_every_report_and_the_sweep_at_the_last(tmp_path):
    cfg = shape_for_n_params("henighan", 2e4, aspect=8, n_ctx=256, vocab_size=256)
    domain = DomainSpec(name="math", options={"seq_len": 256, "train_problems": 2000, "heldout_problems": 200,
                                              "eval_problems": 40})
    job = Job(model=cfg, train=TrainSpec(batch_size=8, heldout_sequences=16), domain=domain,
              budget_flops=6 * cfg.n_params * 8 * 256 * 20)
    history = train_job(job, LocalRuntime(tmp_path)).history
    for report in history:
        # Answer tokens only: a loss per answer character, finite, on splits the model never trained on.
        assert math.isfinite(report["eval/interpolate_loss"]) and math.isfinite(report["eval/extrapolate_loss"])
        assert report["eval/extrapolate_loss"] != report["heldout_loss"]
    sweep = {k for k in history[-1] if k.startswith("eval/sweep_s")}
    assert {f"eval/sweep_s{s:02d}_loss" for s in range(1, 20)} <= sweep
    assert not any(k.startswith("eval/sweep_s") for report in history[:-1] for k in report)


class StopAsked(LocalRuntime):
    """A runtime whose driver asks the job to stop once it has made ``k`` reports (search/stops.py)."""

    def __init__(self, root, k):
        super().__init__(root)
        self.k = k

    def stop_requested(self):
        return len(self.reports) >= self.k


def test_a_job_asked_to_stop_ends_as_stopped_at_its_next_check(tmp_path):
    job = small_job()
    full = train_job(job, LocalRuntime(tmp_path / "full")).history
    result = train_job(job, StopAsked(tmp_path / "stopped", k=3))
    assert result.status == "stopped"
    assert len(result.history) == 3 < len(full)  # it ends at its next check, without another report
    assert [m["heldout_loss"] for m in result.history] == [m["heldout_loss"] for m in full[:3]]
