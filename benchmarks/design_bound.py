"""How often a reading of the frontier can be accurate at a compute, whatever the search (issue 5's goal).

    python benchmarks/design_bound.py [--scan-seeds 40] [--seeds 200] [--jobs 2] [--json]

Issue 5 asks scalesearch to be accurate (``beta`` within 0.03 and ``alpha_C`` within 0.02 of the truth) from
half the oracle IsoFLOP's compute or less, median over seeds (benchmarks/search_efficiency.py). A search can
be no more accurate than the best set of learning curves it could have made with that compute, read the same
way. Here an **oracle** makes them: it knows the truth's ``N_opt(C)``, trains every size at its optimal
learning rate (no search for it), and stops every run the moment it is ``margin`` behind the next larger size
on the truth's noise-free curves (a real scheduler must wait for noisy curves to say so). The best of many
such designs at a compute bounds from above the share of seeds on which a search with the same reading is
accurate there; its median is at most a compute where that share reaches one half.

Readings, none of them knowing the form of ``L(N, D)``:

- **the frontier fit** (``fit_law(..., "frontier")``: L(C) from the hull of the envelope, N_opt(C) from the
  crossings), what the search and the report read;
- **IsoFLOP slices**: Chinchilla's approach 2 on the learning curves. At each compute of a grid (8 a decade,
  from where a second run starts to where the second-to-last ends) a parabola in log N through the losses of
  the ``width`` sizes about the lowest there (3 or 5), its vertex where the lowest is not at an end of the
  sizes; ``beta`` and ``alpha_C`` from those minima as IsoFLOP's (search_efficiency.py).

Designs: sizes ``3e7 * r^k`` (3e7 is the benchmark's lower limit on N, ``N_opt`` at 1.5e17 FLOPs) up to
``n_top``; each run ends at ``c_top`` or where it is ``margin`` behind the next larger size; the largest runs
to ``c_top``. Scanned: ``r`` in {1.3, 1.41, 1.58, 1.73, 2}, ``c_top`` 6 a decade from 3e18 to 1e20, ``n_top``
every size from ``N_opt(c_top)`` to ``r^2`` times it (a larger one only costs), ``margin`` 0.25% to 2%; only
designs up to IsoFLOP's median compute are read. Curves as the simulator's: Chinchilla's law (Besiroglu et
al.), 0.3% noise per report and 0.2% per run, 8 reports a decade from 1e17. The designs are read on
``--scan-seeds`` seeds; the best one at each compute is then read again on ``--seeds`` other seeds, so that
its share is not the luck of the scan's seeds.

Beside it, the oracle IsoFLOP of search_efficiency.py on as many seeds: the share accurate at each of its
designs, and where its median lies.
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pandas as pd

from estimator_form import TRUTHS, frontier, runs, stops, summary
from search_efficiency import (ISOFLOP_BUDGETS, accurate_from, errors, isoflop_design, isoflop_estimates,
                               isoflop_minimum)

TRUTH = TRUTHS["chinchilla"]  # the simulator's law, as search_efficiency.py's default truth
N_LOW, N_HIGH = 3e7, 1.5e9
RATIOS = (1.3, 1.41, 1.58, 1.73, 2.0)
C_TOPS = 3e18 * 10.0 ** (np.arange(10) / 6)  # 3e18 .. 1e20
MARGINS = (0.0025, 0.005, 0.01, 0.02)
EPS = 1e-9
SAME = 1 + EPS
SLICES_PER_DECADE = 8
CONFIRM_SEEDS = 10_000  # the best designs are read again from this seed on
# a design whose every fit failed has no spread of errors: NaN, said in its row, not as a warning per design
warnings.filterwarnings("ignore", "Mean of empty slice|Degrees of freedom", RuntimeWarning)


def designs(budget: float) -> list[dict]:
    """Every design of the scan whose compute is at most ``budget``."""
    found = []
    for r, c_top, margin in itertools.product(RATIOS, C_TOPS, MARGINS):
        n_opt = float(TRUTH.n_opt(c_top))
        for k in range(3, int(np.log(N_HIGH / N_LOW) / np.log(r)) + 2):
            sizes = N_LOW * r ** np.arange(k)
            if not n_opt <= sizes[-1] * SAME <= n_opt * r * r:
                continue
            last = stops(TRUTH, sizes, [float(c_top)] * k, True, margin)
            if sum(last) <= budget:
                found.append({"ratio": r, "n_top": float(sizes[-1]), "c_top": float(c_top), "margin": margin,
                              "compute": float(sum(last)), "sizes": sizes, "ends": last})
    return found


def slice_estimates(table: pd.DataFrame, width: int) -> dict | None:
    """beta and alpha_C from IsoFLOP slices of the learning curves (module docstring); None without 4
    minima."""
    curves = [(g["n_params"].iloc[0], np.log(g["compute"].to_numpy()), g["loss"].to_numpy())
              for _, g in table.sort_values("compute").groupby("run")]
    curves.sort(key=lambda curve: curve[0])
    starts, ends = sorted(c[1][0] for c in curves), sorted(c[1][-1] for c in curves)
    minima = []
    for log_c in np.arange(starts[1], ends[-2] + EPS, np.log(10) / SLICES_PER_DECADE):
        there = [(n, np.interp(log_c, x, y)) for n, x, y in curves if x[0] - EPS <= log_c <= x[-1] + EPS]
        if len(there) < width:
            continue
        lowest = int(np.argmin([loss for _, loss in there]))
        if lowest in (0, len(there) - 1):  # the minimum is not bracketed by the sizes there
            continue
        first = min(max(lowest - width // 2, 0), len(there) - width)
        sizes, losses = zip(*there[first:first + width])
        found = isoflop_minimum(np.array(sizes), list(losses))
        if found:
            minima.append((float(np.exp(log_c)), *found))
    return isoflop_estimates(minima)


READINGS = {"frontier fit": frontier, "IsoFLOP slices of 3 sizes": partial(slice_estimates, width=3),
            "IsoFLOP slices of 5 sizes": partial(slice_estimates, width=5)}


def share_accurate(design: dict, seeds: range, reading: str) -> dict:
    """The design's share of ``seeds`` on which ``reading`` is accurate (``estimator_form.summary``)."""
    found = [READINGS[reading](runs(TRUTH, design["sizes"], design["ends"], seed)) for seed in seeds]
    row = summary(TRUTH, found)
    return {**design, "accurate": row["accurate"],
            "beta_sd": row["beta_sd"], "alpha_C_sd": row["alpha_C_sd"]}


def isoflop_shares(seeds: int) -> list[dict]:
    """Per IsoFLOP design (its first k budgets): compute, the share accurate there, and the share accurate
    from there on (search_efficiency.py's figure)."""
    ladder = [ISOFLOP_BUDGETS[:k] for k in range(1, len(ISOFLOP_BUDGETS) + 1)]
    per_seed = [[isoflop_design(seed, budgets)[:2] for budgets in ladder] for seed in range(seeds)]
    from_here = [accurate_from([(c, lambda m=m: isoflop_estimates(m)) for c, m in designs_])["compute"]
                 for designs_ in per_seed]
    rows = []
    for k in range(len(ladder)):
        compute = per_seed[0][k][0]
        at = np.mean([errors(isoflop_estimates(designs_[k][1]))["accurate"] for designs_ in per_seed])
        rows.append({"budgets": k + 1, "compute": compute, "accurate_at": float(at),
                     "accurate_from_here": float(np.mean([f <= compute * SAME for f in from_here]))})
    return rows


def best_designs(reading: str, scan: list[dict], budgets: list[float], scan_seeds: int, seeds: int,
                 jobs: int) -> dict[str, dict | None]:
    """Per budget, the design of ``scan`` that ``reading`` finds accurate on most of ``scan_seeds`` seeds with
    at most that compute, and its share read again on ``seeds`` others."""
    fresh = range(CONFIRM_SEEDS, CONFIRM_SEEDS + seeds)
    with ProcessPoolExecutor(jobs) as pool:
        read = list(pool.map(partial(share_accurate, seeds=range(scan_seeds), reading=reading), scan,
                             chunksize=4))
        best = {b: max((row for row in read if row["compute"] <= b), key=lambda row: row["accurate"],
                       default=None) for b in budgets}
        chosen = [row for row in best.values() if row is not None]
        again = pool.map(partial(share_accurate, seeds=fresh, reading=reading), chosen)
        confirmed = {id(row): new for row, new in zip(chosen, again)}
    return {f"{b:.3g}": None if row is None else {
        **{k: v for k, v in confirmed[id(row)].items() if k not in ("sizes", "ends")},
        "accurate_on_scan": row["accurate"], "designs": int(sum(r["compute"] <= b for r in read))}
        for b, row in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan-seeds", type=int, default=40, help="seeds each design of the scan is read on")
    parser.add_argument("--seeds", type=int, default=200,
                        help="seeds the best designs (others than the scan's) and IsoFLOP are read on")
    parser.add_argument("--jobs", type=int, default=2, help="processes reading the designs")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON line")
    args = parser.parse_args()

    iso = isoflop_shares(args.seeds)
    median = next(row["compute"] for row in iso if row["accurate_from_here"] >= 0.5)
    budgets = sorted({median / 4, median / 2, *(row["compute"] for row in iso if row["compute"] <= median)})
    if not args.json:
        print(f"oracle IsoFLOP, {args.seeds} seeds (median compute accurate and staying so: {median:.3g}):")
        for row in iso:
            print(f"  {row['budgets']:2d} budgets, {row['compute']:.3g} FLOPs: accurate on "
                  f"{row['accurate_at']:.0%}, from here on {row['accurate_from_here']:.0%}")
    scan, best = designs(max(budgets)), {}
    for reading in READINGS:
        best[reading] = best_designs(reading, scan, budgets, args.scan_seeds, args.seeds, args.jobs)
        if not args.json:
            show(reading, best[reading], median, args)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "scan_seeds": args.scan_seeds, "isoflop": iso,
                          "isoflop_median": median, "best_design_up_to": best}))


def show(reading: str, best: dict[str, dict | None], median: float, args: argparse.Namespace) -> None:
    print(f"oracle learning-curve designs read by the {reading}, the best of the scan up to each compute:",
          flush=True)
    for b, row in best.items():
        print(f"  up to {b} FLOPs ({float(b) / median:.2f}x IsoFLOP's median): " + (
            "no design" if row is None else
            f"accurate on {row['accurate']:.0%} of {args.seeds} seeds ({row['accurate_on_scan']:.0%} of the "
            f"scan's {args.scan_seeds}, best of {row['designs']}): r {row['ratio']}, sizes to "
            f"{row['n_top']:.3g}, runs to {row['c_top']:.3g}, margin {row['margin']:.2%}, "
            f"{row['compute']:.3g} FLOPs; sd beta {row['beta_sd']:.3f}, alpha_C {row['alpha_C_sd']:.3f}"))


if __name__ == "__main__":
    main()
