"""Tokens per second of one training step of the demo's tiny models, by vocabulary size, side by side.

    python benchmarks/model_step.py [--widths 8 12 20 28] [--vocab 128 42] [--seq-len 256] [--batch 8]
                                    [--repeats 3] [--compile]

At the demo's widths (one layer, one head, d_model 8-28, N = 192-2352) the unembedding and attention outweigh the
N the compute axis counts, so the vocabulary moves the speed (math's 41-character alphabet, benchmarks/RESULTS.md).
One thread, as a demo trial has; random tokens; AdamW and gradient clipping as in ``train.train_job``. Each
figure is the median over ``--repeats`` timings of ``--steps`` steps, after 20 warm-up steps; every vocabulary is
timed in turn within each repeat, so a change of the machine's speed affects all of them alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from scalesearch.model import GPT
from scalesearch.shapes import get_family


def step_timer(d_model: int, vocab: int, seq_len: int, batch: int, compile: bool):
    """A function that runs ``n`` training steps of the henighan shape of width ``d_model`` and returns tokens/s."""
    cfg = get_family("henighan").shape(1, d_model, seq_len, vocab, 1)
    model = GPT(cfg)
    step_model = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, vocab, (batch, seq_len + 1))

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            logits = step_model(tokens[:, :-1])
            F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return n * batch * seq_len / (time.perf_counter() - start)

    run(20)
    return cfg.n_params, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 12, 20, 28])
    parser.add_argument("--vocab", type=int, nargs="+", default=[128, 42])
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile every model (compilation untimed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| d_model (N) | " + " | ".join(f"vocab {v} tok/s" for v in args.vocab)
          + " | " + " | ".join(f"{v} / {args.vocab[0]}" for v in args.vocab[1:]) + " |")
    print("|---" * (2 * len(args.vocab)) + "|")
    for width in args.widths:
        timers = [step_timer(width, v, args.seq_len, args.batch, args.compile) for v in args.vocab]
        runs = [[run(args.steps) for _, run in timers] for _ in range(args.repeats)]
        medians = [statistics.median(r[i] for r in runs) for i in range(len(args.vocab))]
        print(f"| {width} ({timers[0][0]}) | " + " | ".join(f"{m:.3g}" for m in medians) + " | "
              + " | ".join(f"{m / medians[0]:.2f}" for m in medians[1:]) + " |", flush=True)


if __name__ == "__main__":
    main()
