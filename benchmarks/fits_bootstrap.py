"""Time a 1,000-resample bootstrap (over runs) of the Chinchilla fit on Besiroglu et al.'s 240 points.

Run: python benchmarks/fits_bootstrap.py [--repeats 3] [--jobs 2]
Each resample is one L-BFGS-B run warm-started from the full-data optimum (not the 4,500-point grid).
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import bootstrap_runs
from scalesearch.fits.chinchilla import ChinchillaLaw
from scalesearch.fits.laws import fit_estimator

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    raw = pd.read_csv(REFERENCE / "chinchilla_epoch_extracted.csv").sort_values("loss").iloc[:-5]
    table = pd.DataFrame({"run": np.arange(len(raw)).astype(str), "n_params": raw["Model Size"].to_numpy(),
                          "loss": raw["loss"].to_numpy()})
    table["tokens"] = raw["Training FLOP"].to_numpy() / (6 * table["n_params"])
    start = time.perf_counter()
    full = ChinchillaLaw().fit(table["n_params"], table["tokens"], table["loss"])
    grid_seconds = time.perf_counter() - start

    def statistic(sample: pd.DataFrame) -> dict[str, float]:
        return fit_estimator("chinchilla", sample, init=full.params_).params_

    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        result = bootstrap_runs(table, statistic, args.resamples, seed=repeat, n_jobs=args.jobs)
        times.append(time.perf_counter() - start)
    se = result.samples.std()
    print(f"full grid fit (256 screened starts): {grid_seconds:.2f} s")
    print(f"bootstrap {args.resamples} resamples, {args.jobs} jobs: median {statistics.median(times):.2f} s "
          f"over {args.repeats} runs {[round(t, 2) for t in times]}; failed {result.n_failed}")
    print("bootstrap SEs: " + ", ".join(f"{k}={se[k]:.4g}" for k in ("E", "A", "B", "alpha", "beta", "a")))


if __name__ == "__main__":
    main()
