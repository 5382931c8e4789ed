"""Data loading must never bound training: the loader's tokens/s against one training step's, side by side.

For each default domain (small sizes, prepared into a temporary cache) this times ``BatchSampler.batch`` and a
full training step (forward, cross-entropy, backward, AdamW) of the smallest models of Henighan's Table 5
shape family (``d_attn = d_model / 4``, ``d_ff = d_model``) on the CPU, and prints medians of several runs and
their ratio. Run: ``python benchmarks/data_loader.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from scalesearch.data import load_split, make_domain, prepare
from scalesearch.data.batches import BatchSampler
from scalesearch.model import GPT, ModelConfig

BATCH = 32
REPEATS = 5
DOMAINS = {"math": {"train_problems": 20_000}, "image": {"crops_per_photo": 500}, "text_image": {},
           "video": {"videos": 2000}}
SHAPES = {"N=1.2e4 (4 x 32)": (4, 32), "N=9.8e4 (8 x 64)": (8, 64)}


def median_seconds(run: Callable[[], None], calls: int) -> float:
    """Median over ``REPEATS`` of the mean time of ``calls`` calls."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def loader_seconds(sampler: BatchSampler) -> float:
    steps = iter(range(10**9))
    return median_seconds(lambda: sampler.batch(next(steps)), calls=200)


def train_step_seconds(config: ModelConfig, tokens: torch.Tensor, parts: torch.Tensor) -> float:
    """One step as the training job takes it: masked mean cross-entropy, backward, AdamW."""
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mask = (parts[:, 1:] > 0).reshape(-1).float()

    def train_step() -> None:
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none")
        ((loss * mask).sum() / mask.sum()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    train_step()  # warm-up
    return median_seconds(train_step, calls=2)


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} sequences")
    print(f"{'domain':<11} {'seq_len':>7} {'loader tok/s':>13} {'model':<17} {'train tok/s':>12} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as cache:
        for name, options in DOMAINS.items():
            domain = make_domain(name, **options)
            sampler = BatchSampler(load_split(prepare(domain, Path(cache)), "train"), BATCH, seed=0)
            loader_rate = BATCH * domain.seq_len / loader_seconds(sampler)
            for label, (n_layer, d_model) in SHAPES.items():
                config = ModelConfig(n_layer=n_layer, d_model=d_model, d_attn=d_model // 4, d_ff=d_model,
                                     n_head=2, n_ctx=domain.seq_len, vocab_size=domain.vocab_size)
                train_rate = BATCH * domain.seq_len / train_step_seconds(config, *sampler.batch(0))
                print(f"{name:<11} {domain.seq_len:>7} {loader_rate:>13.3g} {label:<17} {train_rate:>12.3g} "
                      f"{loader_rate / train_rate:>7.0f}x", flush=True)


if __name__ == "__main__":
    main()
