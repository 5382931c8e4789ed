"""Coverage of beta's interval where the frontier is fragile: resamples that lost L(C) but kept N_opt(C).

    python benchmarks/fragile_coverage.py [--truth "Math (Extrapolate)"] [--sizes 7] [--smallest 3e4]
                                          [--seeds 400] [--resamples 100] [--jobs 2]

Each law of a frontier fit counts its own failed bootstrap refits (``FrontierFit.refit``), so a fit whose
resamples often lose L(C) (too few interior sizes left on the hull) still gets a beta interval from its
crossings; before, those resamples failed whole and beta had none. Are those intervals as good as the others?
Curves from a Henighan Table 1 row (``KnownLaw.from_henighan_row``), ``--sizes`` log-spaced from ``--smallest`` to
1e8, 6 reports a decade over 1e13..1e17 FLOPs, 0.3% noise per report; per seed the frontier fit and its bootstrap
(curve_bootstrap.py). Seeds are split by whether more than 2.5% of their resamples lost L(C) or failed ("gained":
their beta interval exists only by the per-law rule), and beta's coverage of the truth is given for each group.
Figures in benchmarks/RESULTS.md (session 21).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from fits_coverage import TABLE1
from scalesearch.fits.bootstrap import FIT_FAILURES
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.synthetic import KnownLaw


def one_seed(law: KnownLaw, sizes: np.ndarray, seed: int, resamples: int) -> dict | None:
    curves = law.curves(sizes, c_max=1e17, points_per_decade=6, noise=0.003, rng=np.random.default_rng(seed),
                        c_min=1e13)
    warnings.filterwarnings("ignore")
    try:
        result = bootstrap_frontier(FrontierFit().fit(curves), resamples, seed=seed)
    except FIT_FAILURES:
        return None  # the library refused the fit: no interval to judge
    samples, beta = result.samples, result.estimates()["beta"]
    lost = int((samples["alpha_C"].isna() & samples["beta"].notna()).sum()) + result.n_failed
    return {"seed": seed, "gained": lost > 0.025 * resamples, "low": beta.ci_low, "high": beta.ci_high,
            "error": abs(beta.value - law.beta_opt)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", default="Math (Extrapolate)", help="a domain of Henighan's Table 1")
    parser.add_argument("--sizes", type=int, default=7)
    parser.add_argument("--smallest", type=float, default=3e4)
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    table = pd.read_csv(TABLE1).set_index("domain")
    law = KnownLaw.from_henighan_row(table.loc[args.truth])
    sizes = np.geomspace(args.smallest, 1e8, args.sizes)
    rows = Parallel(n_jobs=args.jobs)(delayed(one_seed)(law, sizes, seed, args.resamples)
                                      for seed in range(args.seeds))
    found = pd.DataFrame([r for r in rows if r is not None])
    found = found[np.isfinite(found["low"])]
    found["covers"] = (found["low"] <= law.beta_opt) & (law.beta_opt <= found["high"])
    print(f"{args.truth}: truth beta {law.beta_opt:.4f}; {args.sizes} sizes from {args.smallest:.3g}; "
          f"{len(found)} of {args.seeds} seeds with a beta interval")
    for name, part in (("gained by the per-law rule", found[found["gained"]]),
                       ("the others", found[~found["gained"]])):
        print(f"  {name}: {len(part)} seeds, coverage {part['covers'].mean():.3f}, mean |error| "
              f"{part['error'].mean():.4f}, mean width {(part['high'] - part['low']).mean():.4f}")


if __name__ == "__main__":
    main()
