"""GPU paths (bf16 autocast, fused AdamW, MFU); skipped cleanly on machines without CUDA, such as CI."""

from __future__ import annotations

import pytest
import torch

from scalesearch.shapes import shape_for_n_params
from scalesearch.spec import DomainSpec, TrainSpec
from scalesearch.train import Job, LocalRuntime, train_job

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_bf16_job_on_cuda_learns_and_reports_mfu(tmp_path):
    cfg = shape_for_n_params("gpt", 1e6, aspect=32, n_ctx=128, vocab_size=256)
    job = Job(model=cfg, train=TrainSpec(batch_size=32, heldout_sequences=64),
              domain=DomainSpec(name="text", options={"seq_len": 128}), budget_flops=6 * cfg.n_params * 32 * 128 * 200)
    result = train_job(job, LocalRuntime(tmp_path, device="cuda"))
    assert result.status == "finished"
    assert result.history[-1]["heldout_loss"] < result.history[0]["heldout_loss"] - 1.0
    name = torch.cuda.get_device_name()
    if any(k in name for k in ("H100", "H200", "A100")):
        assert 0 < result.history[-1]["mfu"] < 1
