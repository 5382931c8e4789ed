"""Coverage of the frontier fit's 95% bootstrap intervals on learning curves from a known law.

Run: python benchmarks/fits_coverage.py [--seeds 200] [--resamples 100] [--noise 0.003] [--run-noise 0.0]
                                        [--scheme simulate|pairs] [--jobs 2]
For each seed: Chinchilla-law curves for 11 sizes (1e6..1e9, a factor 2 apart, 10 report points a decade from
1e14 to 1e20 FLOPs) with log-normal noise per point (--noise) and per run (--run-noise), the frontier fit and
its bootstrap; counts how often each interval contains the closed-form truth (synthetic.py). ``simulate`` is the
library's bootstrap (curve_bootstrap.py); ``pairs`` resamples runs with replacement, the scheme it replaced.
"""

import argparse
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from scalesearch.fits.bootstrap import bootstrap_runs
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.synthetic import KnownLaw

LAW = KnownLaw.from_chinchilla()
TRUTH = {"L_inf": LAW.E, "C0": LAW.c0, "alpha_C": LAW.alpha_c, "C_n": LAW.c_n, "beta": LAW.beta_opt}


def one_seed(seed: int, resamples: int, noise: float, run_noise: float, scheme: str) -> dict:
    curves = LAW.curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10, noise=noise,
                        rng=np.random.default_rng(seed), c_min=1e14, run_noise=run_noise)
    fit = FrontierFit().fit(curves)
    if scheme == "simulate":
        result = bootstrap_frontier(fit, resamples, seed=seed)
    else:
        result = bootstrap_runs(curves, lambda t: FrontierFit().fit(t, init=fit.params_).params_, resamples, seed)
    row = {"failed": result.n_failed, "run_sd": (result.noise or {}).get("run_sd_log_loss", np.nan)}
    for name, estimate in result.estimates().items():
        row |= {name: estimate.value, f"{name}_se": estimate.se, f"{name}_covered": estimate.contains(TRUTH[name])}
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.003)
    parser.add_argument("--run-noise", type=float, default=0.0)
    parser.add_argument("--scheme", choices=("simulate", "pairs"), default="simulate")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = pd.DataFrame(Parallel(n_jobs=args.jobs)(
        delayed(one_seed)(s, args.resamples, args.noise, args.run_noise, args.scheme) for s in range(args.seeds)))
    seconds = time.perf_counter() - start
    print(f"{args.seeds} seeds x {args.resamples} resamples, scheme {args.scheme}, noise {args.noise} per point, "
          f"{args.run_noise} per run: {seconds:.0f} s ({args.jobs} jobs); failed refits "
          f"{rows['failed'].sum()} of {args.seeds * args.resamples}; mean run_sd found {rows['run_sd'].mean():.4f}")
    for name, truth in TRUTH.items():
        covered = rows[f"{name}_covered"].mean()
        half_width = 1.96 * np.sqrt(covered * (1 - covered) / len(rows))
        print(f"{name:8s} coverage {covered:.3f} (+-{half_width:.3f})  truth {truth:.4g}  mean estimate "
              f"{rows[name].mean():.4g}  sd {rows[name].std():.3g}  mean bootstrap se {rows[f'{name}_se'].mean():.3g}")


if __name__ == "__main__":
    main()
