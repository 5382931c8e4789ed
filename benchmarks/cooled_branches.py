"""Probe: a wsd run's loss at the peak learning rate against a cooled-down branch of it, at every report.

    python benchmarks/cooled_branches.py DOMAIN N C_MAX [--lr 1e-2] [--ema-gamma 16.97] [--no-branches] > curve.jsonl

A wsd curve's points before its own cool-down are at the peak rate and its last point is cooled, so the frontier's
envelope compares unlike points (benchmarks/RESULTS.md, session 19). Hägele et al. (2024) read a scaling law from
one wsd run by branching a short cool-down off it at each point. This probe does that outside the package, on the
demo spec's data, shape and training settings (``search_spaces/demo/DOMAIN.yaml``): at each report point of the
run (the demo's 8 a decade), a copy of model and optimizer trains on the run's next batches for another
``cooldown / (1 - cooldown)`` of the steps so far, its rate falling linearly to the final fraction, so the
branch ends as a wsd run of that length would. A third reading costs no training: a power-function average of
the run's weights (Karras et al. 2024), whose width grows with the steps so far as a cool-down's does. All three
are evaluated on 128 held-out rows. One JSON line per report: ``N``, ``C``, ``main`` (the run), ``ema`` (the
average), ``C_cooled`` and ``cooled`` (the branch; none within the run's own cool-down).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scalesearch import compute
from scalesearch.data import load_split, make_domain, prepare
from scalesearch.data.batches import BatchSampler, fixed_batches
from scalesearch.job import model_for
from scalesearch.model import GPT
from scalesearch.schedules import lr_at
from scalesearch.spec import load_spec
from scalesearch.train import loss_sums, make_optimizer

DEMO = Path(__file__).resolve().parent.parent / "search_spaces" / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("domain", choices=sorted(p.stem for p in DEMO.glob("*.yaml")))
    parser.add_argument("n_params", type=float)
    parser.add_argument("c_max", type=float, help="the run's compute, C = 6 N tokens")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the spec's)")
    parser.add_argument("--ema-gamma", type=float, default=16.97,
                        help="power-function EMA of the weights (Karras et al. 2024), its width relative to the "
                             "steps so far: 16.97 is sigma_rel 0.05")
    parser.add_argument("--no-branches", action="store_true",
                        help="no cooled branches: the run and its weight average only, at the run's own cost")
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = load_spec(DEMO / f"{args.domain}.yaml")
    train = spec.train.model_copy(update={"lr": args.lr or spec.train.lr})
    domain = make_domain(spec.domain.name, **spec.domain.options)
    root = prepare(domain)
    cfg = model_for(spec, args.n_params)
    sampler = BatchSampler(load_split(root, "train"), train.batch_size, train.seed)
    heldout = fixed_batches(load_split(root, "heldout"), 64, 128)
    torch.manual_seed(train.seed)
    model = GPT(cfg)
    optimizer = make_optimizer(model, train)
    step_flops = compute.training_flops_per_token(cfg, "6N") * train.batch_size * cfg.n_ctx
    total = math.ceil(args.c_max / step_flops)
    reports = sorted({max(1, math.ceil(p / step_flops)) for p in compute.report_points(
        spec.budget.first_report_fraction * args.c_max, args.c_max, spec.budget.reports_per_decade)})

    def lr(step: int) -> float:
        return lr_at(step, total, train.lr, train.schedule, train.warmup_fraction, train.final_lr_fraction,
                     train.cooldown_fraction)

    def train_step(m: GPT, opt: torch.optim.Optimizer, step: int, rate: float) -> None:
        tokens, parts = sampler.batch(step)
        for group in opt.param_groups:
            group["lr"] = rate
        counted = (parts[:, 1:] > 0).flatten()
        losses = F.cross_entropy(m(tokens[:, :-1]).float().flatten(0, 1), tokens[:, 1:].flatten(), reduction="none")
        ((losses * counted).sum() / counted.sum().clamp(min=1)).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def heldout_loss(m: GPT) -> float:
        sums = np.zeros(2)
        for tokens, parts in heldout:
            s, c = loss_sums(m(tokens[:, :-1]), tokens[:, 1:], parts[:, 1:], len(domain.parts))
            sums += [s[1:].sum().item(), c[1:].sum().item()]
        return sums[0] / sums[1]

    ema = copy.deepcopy(model)
    ema_params, params = list(ema.parameters()), list(model.parameters())
    started, step = time.time(), 0
    decay_start = total - max(1, int(train.cooldown_fraction * total))
    for report in reports:
        while step < report:
            train_step(model, optimizer, step, lr(step))
            step += 1
            weight = 1 - (1 - 1 / step) ** (args.ema_gamma + 1)
            with torch.no_grad():
                for average, param in zip(ema_params, params):
                    average.lerp_(param, weight)
        row = {"N": cfg.n_params, "C": step * step_flops, "main": heldout_loss(model), "ema": heldout_loss(ema)}
        if step < decay_start and not args.no_branches:
            extra = max(1, round(train.cooldown_fraction / (1 - train.cooldown_fraction) * step))
            branch = copy.deepcopy(model)
            branch_optimizer = make_optimizer(branch, train)
            branch_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
            peak = lr(step)
            for j in range(extra):
                rate = peak * (1 - (1 - train.final_lr_fraction) * (j + 1) / extra)
                train_step(branch, branch_optimizer, step + j, rate)
            row.update({"C_cooled": (step + extra) * step_flops, "cooled": heldout_loss(branch)})
        print(json.dumps(row), flush=True)
    print(json.dumps({"N": cfg.n_params, "seconds": round(time.time() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
