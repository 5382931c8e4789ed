"""Data loading must never bound training: the loader's tokens/s against one training step's, side by side.

For each default domain (default options, smaller counts so preparation is quick), prepared into a temporary
cache, this times ``BatchSampler.batch`` (the loader's whole per-step work: row lookup, gather, widening to
int64) and one training step as the training job takes it (forward, masked cross-entropy, backward, gradient
clipping, AdamW) of the default small models of Henighan's shape family on the CPU, and prints medians of
several runs and their ratio, plus the one-off preparation time. Run: ``python benchmarks/data_loader.py``
(a few minutes on 2 cores).
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
from scalesearch.model import GPT
from scalesearch.shapes import shape_for_n_params
from scalesearch.spec import TrainSpec
from scalesearch.train import make_optimizer

BATCH = 32  # the default train.batch_size
REPEATS = 5
DOMAINS = {"text": {}, "math": {"train_problems": 20_000}, "image": {"crops_per_photo": 500},
           "text_image": {}, "video": {"videos": 2000}}
SIZES = (192, 1.2e4, 1e5)  # non-embedding N: the demo's smallest (the worst case), Henighan's smallest, 1e5


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


def train_step_seconds(model: GPT, tokens: torch.Tensor, parts: torch.Tensor) -> float:
    """One step as ``scalesearch.train.train_job`` takes it."""
    spec = TrainSpec()
    optimizer = make_optimizer(model, spec)
    counted = (parts[:, 1:] > 0).flatten()

    def train_step() -> None:
        logits = model(tokens[:, :-1])
        losses = F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), reduction="none")
        ((losses * counted).sum() / counted.sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    train_step()  # warm-up
    return median_seconds(train_step, calls=2)


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} sequences\n")
    print("| domain | seq_len | prepare (s) | loader tok/s | model N (layers x d_model) | train tok/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cache:
        for name, options in DOMAINS.items():
            domain = make_domain(name, **options)
            start = time.perf_counter()
            root = prepare(domain, Path(cache))
            prepare_s = time.perf_counter() - start
            sampler = BatchSampler(load_split(root, "train"), BATCH, seed=0)
            loader_rate = BATCH * domain.seq_len / loader_seconds(sampler)
            for n_params in SIZES:
                config = shape_for_n_params("henighan", n_params, 10, domain.seq_len, domain.vocab_size)
                step_s = train_step_seconds(GPT(config), *sampler.batch(0))
                train_rate = BATCH * domain.seq_len / step_s
                print(f"| {name} | {domain.seq_len} | {prepare_s:.1f} | {loader_rate:.3g} | {config.n_params:.2g} "
                      f"({config.n_layer} x {config.d_model}) | {train_rate:.3g} | {loader_rate / train_rate:,.0f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
