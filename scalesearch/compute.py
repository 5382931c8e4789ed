"""Compute accounting: FLOPs per token, units, and the log-spaced compute points at which jobs report.

``C = 6 N E`` (Kaplan et al.: 2 FLOPs per multiply-add, x3 for forward and backward) is the x-axis of every
scaling law here by default. The fuller count adds attention over the context and the unembedding, which matter at
small scale: Porian et al. (2024) showed that leaving the last layer out moves the N_opt exponent from 0.71 to 0.84.
A spec picks which count its jobs' budgets, reports and the search's decisions use (``budget.count``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalesearch.model import ModelConfig

FLOPS_PER_PF_DAY = 1e15 * 86400  # 8.64e19

# Dense bf16 peak per device, FLOP/s, for MFU. Published spec-sheet figures (dense, no sparsity).
PEAK_BF16_FLOPS = {
    "H100": 989e12,  # SXM
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10G": 125e12,
}


@dataclass(frozen=True)
class ForwardFlops:
    """Forward-pass FLOPs per token, by where they are spent (Kaplan et al. 2020, Table 1)."""

    weights: int  # 2N: the attention and MLP matrices
    attention: int  # 2 n_layer n_ctx d_attn: QK^T and AV, averaged over a causal context
    unembedding: int  # 2 d_model vocab

    @property
    def total(self) -> int:
        return self.weights + self.attention + self.unembedding


def forward_flops_per_token(cfg: ModelConfig) -> ForwardFlops:
    return ForwardFlops(weights=2 * cfg.n_params, attention=2 * cfg.n_layer * cfg.n_ctx * cfg.d_attn,
                        unembedding=2 * cfg.d_model * cfg.vocab_size)


def flops_per_token(cfg: ModelConfig) -> int:
    """``6N``: training FLOPs per token as the scaling laws count them."""
    return 6 * cfg.n_params


def flops_per_token_full(cfg: ModelConfig) -> int:
    """Training FLOPs per token including attention over the context and the unembedding (3x forward)."""
    return 3 * forward_flops_per_token(cfg).total


def training_flops_per_token(cfg: ModelConfig, count: str = "6N") -> int:
    """Training FLOPs per token as ``count`` counts them: ``"6N"`` (the laws' convention) or ``"full"``."""
    if count == "6N":
        return flops_per_token(cfg)
    if count == "full":
        return flops_per_token_full(cfg)
    raise ValueError(f"unknown FLOP count {count!r}: '6N' or 'full'")


def pf_days(flops: float) -> float:
    return flops / FLOPS_PER_PF_DAY


def report_points(c_first: float, c_max: float, per_decade: int = 5) -> np.ndarray:
    """Compute values at which a job reports: log-spaced, ``per_decade`` a decade, ending exactly at ``c_max``."""
    if not 0 < c_first < c_max:
        raise ValueError(f"report points need 0 < first ({c_first:g}) < budget ({c_max:g})")
    decades = math.log10(c_max / c_first)
    return np.geomspace(c_first, c_max, max(2, math.ceil(decades * per_decade) + 1))


def device_peak_flops(device_name: str) -> float | None:
    """The dense bf16 peak of a CUDA device from its name, or None where it is not known (CPUs included)."""
    for key, peak in PEAK_BF16_FLOPS.items():
        if key in device_name:
            return peak
    return None
